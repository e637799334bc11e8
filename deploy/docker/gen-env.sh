#!/usr/bin/env bash
# gen-env.sh — prints deploy/docker/env.example with every empty value (the
# secrets) filled with a fresh random one: the compose stack's .env.
#
#   (umask 077; deploy/docker/gen-env.sh > .env)
#
# Passwords are 32 letters and digits (safe in URLs); AUTH_JWT_KEYS gets one
# key, k1, with a 64-character secret; NOTIFY_TELEGRAM_TOKEN looks like a
# bot's (4242:<35 characters>). Settings keep the example's values.
set -euo pipefail
example="$(cd "$(dirname "$0")" && pwd)/env.example"

random() { # LENGTH: letters and digits from the kernel's random source
    local out=""
    while [ ${#out} -lt "$1" ]; do
        out+=$(head -c 64 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
    done
    echo "${out:0:$1}"
}

echo "# made by deploy/docker/gen-env.sh on $(date -u +%F): keep it secret, never commit it"
while IFS= read -r line; do
    case $line in
    AUTH_JWT_KEYS=) echo "AUTH_JWT_KEYS=k1:$(random 64)" ;;
    NOTIFY_TELEGRAM_TOKEN=) echo "NOTIFY_TELEGRAM_TOKEN=4242:$(random 35)" ;;
    [A-Z]*=) echo "$line$(random 32)" ;;
    *) echo "$line" ;;
    esac
done <"$example"
