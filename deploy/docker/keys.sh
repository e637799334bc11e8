#!/bin/sh
# conveyor-keys — the bus keys of the compose stack (DESIGN.md "Bus keys"),
# kept in the `buskeys` volume mounted at /keys:
#   /keys/trusted/   the public certificates busd and the replay servers trust
#   /keys/secret/    busd's pair and each service's (mode 600, uid 10001)
#
#   conveyor-keys                 (the one-shot `keys` service) makes every
#                                 key that is missing: busd's, one per running
#                                 service of the table of services
#                                 (deploy/services.tsv, in the image under
#                                 /opt/conveyor/deploy/), the operator "ops"
#   conveyor-keys source NAME     issues an outside source's key and prints its
#                                 secret certificate (hand it to the integrator;
#                                 it is not kept here) and how to connect:
#       docker-compose run --rm keys conveyor-keys source shop > shop.key_secret
#   conveyor-keys revoke NAME     busd refuses the key within a second
#
# Keys are made at the first start, never built into the image.
set -eu
. /opt/conveyor/deploy/services.sh
KEYS=${KEYS_DIR:-/keys}
mkdir -p "$KEYS/trusted" "$KEYS/secret"
chmod 700 "$KEYS/secret"

case ${1:-} in
"")
    [ -f "$KEYS/secret/busd.key_secret" ] ||
        conveyor key server busd --secret-dir "$KEYS/secret" >/dev/null
    rows=$(services_rows running) || {
        echo "conveyor-keys: $SERVICES_TABLE is not a table of services" >&2
        exit 1
    }
    for name in $(echo "$rows" | cut -d' ' -f1); do
        [ -f "$KEYS/secret/$name.key_secret" ] ||
            conveyor key new --service "$name" --dir "$KEYS/trusted" --secret-dir "$KEYS/secret" >/dev/null
    done
    [ -f "$KEYS/secret/ops.key_secret" ] ||
        conveyor key new --operator ops --dir "$KEYS/trusted" --secret-dir "$KEYS/secret" >/dev/null
    echo "conveyor-keys: $(ls "$KEYS/trusted" | wc -l) trusted keys in $KEYS/trusted"
    ;;
source)
    name=${2:?usage: conveyor-keys source NAME}
    out=$(mktemp -d)
    BUS_SERVER_KEY="$KEYS/secret/busd.key" conveyor key new --source "$name" \
        --dir "$KEYS/trusted" --secret-dir "$out" >&2
    cat "$out/$name.key_secret"
    rm -rf "$out"
    ;;
revoke)
    conveyor key revoke "${2:?usage: conveyor-keys revoke NAME}" --dir "$KEYS/trusted"
    ;;
*)
    echo "usage: conveyor-keys [source NAME | revoke NAME]" >&2
    exit 2
    ;;
esac
