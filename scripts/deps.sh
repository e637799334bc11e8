#!/usr/bin/env bash
# deps.sh — install the Debian packages conveyor needs, and only those missing.
#
# `make deps` (and every target that builds) runs this first, so a bare
# Debian bookworm machine gets from clone to `make test` with one command.
# When everything is present it prints nothing and changes nothing. As root
# it runs apt-get itself; otherwise it uses sudo when available, or says
# exactly what to install.
#
#   scripts/deps.sh           what build, test and bench need
#   scripts/deps.sh --peers   also what `make bench-peers` needs: RabbitMQ
#                             and NATS (the servers and their C clients) and
#                             e2fsprogs (the synced JetStream store's ext4)
set -euo pipefail

PACKAGES=(
    build-essential pkg-config git curl jq ca-certificates procps iproute2
    libzmq3-dev libczmq-dev libsodium-dev
    libprotobuf-c-dev protobuf-c-compiler
    libpq-dev postgresql-15 postgresql-client-15
    libhiredis-dev redis-server redis-tools
    libmicrohttpd-dev libjansson-dev libjwt-dev
    libcurl4-openssl-dev libssl-dev
    # the notification service's templates: Mustache (header-only C++; Debian
    # has no C implementation), behind services/notification/render.h
    libkainjow-mustache-dev
    # documents as PDF (common/pdf.c): libharu, the DejaVu fonts it embeds
    # (Cyrillic), and poppler's pdftotext and zbar's zbarimg that the tests
    # read the documents and their barcodes back with
    libhpdf-dev fonts-dejavu-core poppler-utils zbar-tools
    libcmocka-dev
    cppcheck clang-format
    # `docker-compose config` needs no engine: make test proves with it that
    # docker-compose.yml refuses to start without secrets (28 MB with python3)
    docker-compose
    clang libclang-rt-14-dev  # make fuzz: libFuzzer and the sanitizers
)

case "${1:-}" in
--peers)
    PACKAGES=(rabbitmq-server nats-server librabbitmq-dev libnats-dev e2fsprogs util-linux)
    ;;
'')
    ;;
*)
    echo "deps: unknown option '$1' (only --peers)" >&2
    exit 2
    ;;
esac

missing=()
for pkg in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}" >&2
if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
else
    echo "deps: not root and no sudo; install as root: apt-get install ${missing[*]}" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# A fresh machine has no package lists; an old list may name versions the
# mirror no longer has. Update once, then install.
"${SUDO[@]}" apt-get update -qq
# The postgresql and rabbitmq-server packages would start a system service;
# conveyor runs its own under .run/ and never touches the system's.
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee /usr/sbin/policy-rc.d >/dev/null
    "${SUDO[@]}" chmod +x /usr/sbin/policy-rc.d
    trap '"${SUDO[@]}" rm -f /usr/sbin/policy-rc.d' EXIT
fi
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
