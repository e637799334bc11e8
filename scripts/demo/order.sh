#!/usr/bin/env bash
# demo/order.sh — the order service's demo data for `make up` / `make run`
# (run by scripts/stack.sh once every service answers /readyz): staff with
# passwords — an admin, three managers on shift covering different regions,
# a warehouse keeper and a courier — and two intake sources with their API
# keys. Idempotent: what exists is left alone. Prints how to try the API.
#
# Environment from stack.sh: STACK, BIN, HTTP_PORT, AUTH_JWT_KEYS. The
# compose stack's demo (deploy/docker/demo.sh) also sets DEMO_URL (where to
# load, instead of http://127.0.0.1:$HTTP_PORT), DEMO_PUBLIC_URL (what to
# print) and DEMO_CURL (the curl to print, e.g. with --cacert).
set -uo pipefail
url=${DEMO_URL:-http://127.0.0.1:$HTTP_PORT}
public_url=${DEMO_PUBLIC_URL:-$url}
try_curl=${DEMO_CURL:-curl -s}
token=$("$BIN/conveyor" token --sub demo-admin --name "Demo Admin" --roles admin --ttl-seconds 86400)

call() {
    curl -sS -o /dev/null -w '%{http_code}' --max-time 10 -X "$1" -H "Authorization: Bearer $token" \
        -H 'Content-Type: application/json' --data-binary "$3" "$url$2"
}

staff() { # login name role regions capacity
    local code
    code=$(call POST /v1/staff "{\"login\":\"$1\",\"name\":\"$2\",\"role\":\"$3\",\"regions\":$4,\"capacity\":$5,\"password\":\"demo-$1\"}")
    case $code in
    201 | 409) ;;
    *) echo "demo: could not create $1 (HTTP $code)" >&2; return 1 ;;
    esac
}

staff admin "Алексей Админов" admin '[]' 0 &&
    staff anna "Анна Смирнова" manager '["moscow","московская область"]' 50 &&
    staff boris "Борис Петров" manager '["санкт-петербург","saint petersburg"]' 50 &&
    staff vera "Вера Иванова" manager '[]' 50 &&
    staff sklad "Склад Кладовщиков" warehouse '[]' 0 &&
    staff kurier "Курьер Быстров" courier '[]' 0 || exit 1

ids=$(curl -sS --max-time 10 -H "Authorization: Bearer $token" "$url/v1/staff" |
    jq -r '.items[] | select(.role == "manager") | .id')
for id in $ids; do
    [ "$(call POST "/v1/staff/$id/shift" '{"on_shift":true}')" = 200 ] ||
        { echo "demo: could not start a shift" >&2; exit 1; }
done
call POST /v1/sources '{"source":"site-main","api_key":"demo-site-main-key-2026-conveyor","default_channel":"website"}' >/dev/null
call POST /v1/sources '{"source":"tilda-landing","api_key":"demo-tilda-landing-key-2026-conv","default_channel":"landing","may_set_prices":true}' >/dev/null

cat <<TXT

order service demo ($public_url):
  staff (login / password): admin / demo-admin, anna / demo-anna (Moscow), boris / demo-boris
    (St Petersburg), vera / demo-vera (everywhere else), sklad / demo-sklad (warehouse),
    kurier / demo-kurier (courier); managers are on shift
  an admin token for 24 h:
    export TOKEN=$token
  try:
    $try_curl -H "Authorization: Bearer \$TOKEN" $public_url/v1/statuses
    $try_curl -H 'X-Api-Key: demo-site-main-key-2026-conveyor' -H 'Idempotency-Key: demo-1' \\
      -H 'Content-Type: application/json' $public_url/v1/orders -d '{"customer":{"name":"Иван Петров",
      "phone":"+7 912 345-67-89"},"delivery":{"method":"courier","address":{"region":"Moscow",
      "city":"Москва","line1":"Тверская 1"}},"items":[{"sku":"KT-1001","quantity":1}]}'
TXT
