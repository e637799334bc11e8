#!/usr/bin/env bash
# demo/inventory.sh — the inventory service's demo data for `make up` /
# `make run` (run by scripts/stack.sh once every service answers /readyz):
# the demo catalogue (deploy/demo/catalogue.csv: kitchenware, electronics
# accessories, home goods and children's goods with prices, VAT, weights,
# stock, low-stock thresholds and buyers; some sold out, some low),
# imported through POST /v1/imports as a MoySklad-style CSV, and the
# supplies expected for what is sold out or low. Idempotent: a catalogue
# that is already there is left alone. Prints how to look at it.
#
# Environment from stack.sh: STACK, BIN, HTTP_PORT, AUTH_JWT_KEYS; from the
# compose stack's demo (deploy/docker/demo.sh) also DEMO_URL, DEMO_PUBLIC_URL
# and DEMO_CURL, as for demo/order.sh.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
url=${DEMO_URL:-http://127.0.0.1:$HTTP_PORT}
public_url=${DEMO_PUBLIC_URL:-$url}
try_curl=${DEMO_CURL:-curl -s}
token=$("$BIN/conveyor" token --sub demo-admin --name "Demo Admin" --roles admin --ttl-seconds 86400) ||
    { echo "demo: could not mint a token" >&2; exit 1; }

get() {
    curl -sS --max-time 10 -H "Authorization: Bearer $token" "$url$1"
}

# post PATH TYPE BODY: prints the HTTP status; the answer goes to $STACK/demo-inventory.out
post() {
    curl -sS -o "$STACK/demo-inventory.out" -w '%{http_code}' --max-time 60 -X POST \
        -H "Authorization: Bearer $token" -H "Content-Type: $2" --data-binary "$3" "$url$1"
}

loaded=$(get '/v1/products?limit=1' | jq '.items | length') ||
    { echo "demo: the inventory service does not answer" >&2; exit 1; }
if [ "$loaded" = 0 ]; then
    code=$(post /v1/imports text/csv "@$top/deploy/demo/catalogue.csv")
    [ "$code" = 200 ] || {
        echo "demo: the catalogue import failed (HTTP $code): $(head -c 600 "$STACK/demo-inventory.out")" >&2
        exit 1
    }
    supply() { # supplier days lines
        local body code
        body="{\"expected_date\":\"$(date -d "+$2 days" +%F)\",\"supplier\":\"$1\",\"lines\":$3}"
        code=$(post /v1/supplies application/json "$body")
        [ "$code" = 201 ] || { echo "demo: could not record a supply (HTTP $code)" >&2; return 1; }
    }
    supply "ООО «Посуда Оптом»" 3 \
        '[{"sku":"KT-1006","quantity":10},{"sku":"KT-1015","quantity":4},{"sku":"KT-1003","quantity":12}]' &&
        supply "ТехноИмпорт" 5 \
            '[{"sku":"EL-2006","quantity":30},{"sku":"EL-2018","quantity":40},{"sku":"EL-2014","quantity":50},{"sku":"EL-2005","quantity":25}]' &&
        supply "Детский мир — опт" 7 \
            '[{"sku":"KD-4006","quantity":15},{"sku":"KD-4003","quantity":10},{"sku":"HM-3010","quantity":12}]' ||
        exit 1
fi

all=$(get '/v1/products?limit=500')
count=$(jq '.items | length' <<<"$all")
sold_out=$(jq '[.items[] | select(.on_hand == 0)] | length' <<<"$all")
low=$(jq '[.items[] | select(.low)] | length' <<<"$all")
expected=$(get '/v1/supplies?status=expected&limit=100' | jq '.items | length')

cat <<TXT

inventory demo ($public_url): $count products, $sold_out sold out, $low below their
  low-stock threshold, $expected supplies expected (deploy/demo/catalogue.csv)
  try (TOKEN as printed by the order demo, or: export TOKEN=\$($BIN/conveyor token --sub me --roles admin)):
    $try_curl -H "Authorization: Bearer \$TOKEN" '$public_url/v1/products?low=true'
    $try_curl -H "Authorization: Bearer \$TOKEN" '$public_url/v1/products/KT-1001'
    $try_curl -H "Authorization: Bearer \$TOKEN" '$public_url/v1/supplies?status=expected'
    $try_curl -H "Authorization: Bearer \$TOKEN" '$public_url/v1/reconciliation'
TXT
