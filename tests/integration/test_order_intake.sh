#!/usr/bin/env bash
# Intake (F1–F4) through its three doors against the real order service:
# the bus (ext/intake.order via the conveyor CLI, as an outside system),
# POST /v1/orders (Idempotency-Key) and the form webhook (Tilda). A repeat
# over each door gives the first answer and makes no second order; a key
# reused with another body is refused (409); every rejection reason is
# reported at once and the rejected submission is kept and listable;
# customers are matched by E.164 phone or lower-cased email; no door takes
# more than INTAKE_ITEMS_MAX items; a bus publisher files orders under its
# own source (the envelope's stream) only.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/kit/kit.sh"
source "$(dirname "$0")/order/order.sh"

kit_dbs
order_dbs
kit_start_busd
order_start order1 1
order_sources
manager=$(order_staff anna "Anna Smirnova" manager '["moscow"]' 100)
order_shift "$manager" true

# --- HTTP: accepted, repeated, reused ----------------------------------------
body=$(order_body "Ivan Petrov" "8 (912) 345-67-89" Moscow MUG-1 2)
out=$(order_submit A-1 "$body")
it_assert_eq 201 "$(http_code "$out")" "first POST /v1/orders ($out)"
order_id=$(http_body "$out" | jq -r .order_id)
number=$(http_body "$out" | jq -r .number)
it_assert_eq "No. $number – Ivan Petrov" "$(http_body "$out" | jq -r .title)" "the order's title"
it_assert_eq "$manager" "$(http_body "$out" | jq -r .manager_id)" "assigned at once"

out=$(order_submit A-1 "$body")
it_assert_eq 200 "$(http_code "$out")" "the same key and body again ($out)"
it_assert_eq "$order_id" "$(http_body "$out" | jq -r .order_id)" "a repeat answers the first order"
it_assert_eq 1 "$(order_sql "SELECT count(*) FROM orders.orders WHERE external_id = 'A-1'")" \
    "orders for one key"

out=$(order_submit A-1 "$(order_body "Ivan Petrov" "+79123456789" Moscow MUG-1 3)")
it_assert_eq 409 "$(http_code "$out")" "the same key with another body ($out)"
it_assert_eq idempotency_key_reused "$(http_body "$out" | jq -r .code)" "the 409's code"
it_assert_eq "$order_id" "$(http_body "$out" | jq -r .order_id)" "the 409 names the first order"

out=$(order_call POST /v1/orders "$body" "X-Api-Key: $ORDER_SITE_KEY")
it_assert_eq 400 "$(http_code "$out")" "no Idempotency-Key"
out=$(order_call POST /v1/orders "$body" "X-Api-Key: not-a-key" "Idempotency-Key: A-9")
it_assert_eq 401 "$(http_code "$out")" "an unknown API key"
out=$(order_call POST /v1/orders "$body" "Idempotency-Key: A-9")
it_assert_eq 401 "$(http_code "$out")" "no credentials at all"
out=$(order_call POST /v1/orders "not json" "X-Api-Key: $ORDER_SITE_KEY" "Idempotency-Key: A-9")
it_assert_eq 400 "$(http_code "$out")" "a body that is not JSON"

# --- every rejection reason, at once --------------------------------------------
bad='{"channel":"fax","discount_bp":20000,"currency":"USD","customer":{"phone":"12"},
      "delivery":{"method":"teleport"},"items":[{"quantity":0},{"sku":"has space","quantity":"2"}]}'
out=$(order_submit B-1 "$bad")
it_assert_eq 422 "$(http_code "$out")" "a submission breaking many rules ($out)"
reasons=$(http_body "$out" | jq -r '[.errors[] | .field + ":" + .code] | sort | join(" ")')
it_assert_eq "channel:invalid currency:unsupported customer.name:required customer.phone:invalid delivery.method:invalid discount_bp:out_of_range items[0].quantity:not_positive items[0].sku:required items[1].quantity:not_an_integer items[1].quantity:not_positive items[1].sku:invalid" \
    "$reasons" "every reason of the rejection"
rejection_id=$(http_body "$out" | jq -r .rejection_id)
for case in \
    'customer.phone:required|{"customer":{"name":"A"},"delivery":{"method":"self_pickup"},"items":[{"sku":"S","quantity":1}]}' \
    'delivery.address:required|{"customer":{"name":"A","email":"a@b.ru"},"delivery":{"method":"courier"},"items":[{"sku":"S","quantity":1}]}' \
    'delivery.pickup_point_id:required|{"customer":{"name":"A","email":"a@b.ru"},"delivery":{"method":"pickup_point"},"items":[{"sku":"S","quantity":1}]}' \
    'delivery.address.postal_code:required|{"customer":{"name":"A","email":"a@b.ru"},"delivery":{"method":"post","address":{"city":"Kazan","line1":"Baumana 1"}},"items":[{"sku":"S","quantity":1}]}' \
    'customer.email:invalid|{"customer":{"name":"A","email":"not-an-address"},"delivery":{"method":"self_pickup"},"items":[{"sku":"S","quantity":1}]}' \
    'items:required|{"customer":{"name":"A","email":"a@b.ru"},"delivery":{"method":"self_pickup"},"items":[]}' \
    'delivery.method:required|{"customer":{"name":"A","email":"a@b.ru"},"items":[{"sku":"S","quantity":1}]}'; do
    want=${case%%|*}
    n=$((${n:-0} + 1))
    out=$(order_submit "C-$n" "${case#*|}")
    it_assert_eq 422 "$(http_code "$out")" "rejection $want"
    it_assert_eq "$want" "$(http_body "$out" | jq -r '[.errors[] | .field + ":" + .code] | join(" ")')" \
        "the one reason of rejection $want"
done
# a repeated rejected body is counted, not stored again; a fixed one is accepted
order_submit B-1 "$bad" >/dev/null
it_assert_eq "1 1" "$(order_sql "SELECT count(*) || ' ' || max(repeats) FROM orders.rejections WHERE external_id = 'B-1'")" \
    "rows and repeats of a rejected body sent twice"
out=$(order_submit B-1 "$(order_body "Olga" "+7 (916) 000-11-22" Kazan TEA-1 1)")
it_assert_eq 201 "$(http_code "$out")" "the rejected key, fixed, is accepted ($out)"
out=$(order_admin GET "/v1/rejections?source=site-main&limit=100")
it_assert_eq 200 "$(http_code "$out")" "listing rejections"
it_assert_eq 1 "$(http_body "$out" | jq --arg id "$rejection_id" '[.items[] | select(.id == $id)] | length')" \
    "the first rejection is listed"
it_assert_eq fax "$(http_body "$out" | jq -r --arg id "$rejection_id" '.items[] | select(.id == $id) | .submission.channel')" \
    "the rejected submission is kept as sent"

# --- customers ------------------------------------------------------------------
order_submit D-1 "$(order_body "Ivan P." "+7 912 345 67 89" Moscow MUG-1 1)" >/dev/null
order_submit D-2 '{"customer":{"name":"Ivan","email":"Ivan@Example.RU"},"delivery":{"method":"self_pickup"},"items":[{"sku":"MUG-1","quantity":1}]}' >/dev/null
order_submit D-3 '{"customer":{"name":"Ivan","email":"ivan@example.ru"},"delivery":{"method":"self_pickup"},"items":[{"sku":"MUG-1","quantity":1}]}' >/dev/null
it_assert_eq 2 "$(order_sql "SELECT order_count FROM orders.customers WHERE phone = '+79123456789'")" \
    "orders of the customer found by phone written two ways"
it_assert_eq 2 "$(order_sql "SELECT order_count FROM orders.customers WHERE email = 'ivan@example.ru'")" \
    "orders of the customer found by email in two cases"

# --- the form webhook (Tilda) ---------------------------------------------------------
form_url="$(order_url 1)/v1/intake/form"
form() { # BODY [URL_SUFFIX [HEADER...]]: POSTs the form with the tilda-landing key
    local raw body=$1 suffix=${2:-}
    shift 2 2>/dev/null || shift $#
    local headers=(-H "X-Api-Key: $ORDER_FORM_KEY")
    [ $# -gt 0 ] && headers=()
    local h
    for h in "$@"; do headers+=(-H "$h"); done
    raw=$(curl -sS -w '\n%{http_code}' --max-time 10 "${headers[@]}" \
        -H 'Content-Type: application/x-www-form-urlencoded' --data-binary "$body" "$form_url$suffix")
    echo "$(tail -n1 <<<"$raw") $(sed '$d' <<<"$raw")"
}
out=$(form "test=test")
it_assert_eq 200 "$(http_code "$out")" "the connection check test=test"
# the caller is known before the body is read: a broken body without a key is a 401
out=$(form "test=test" "" "X-Trace: none")
it_assert_eq "401 unauthenticated" "$(http_code "$out") $(http_body "$out" | jq -r .code)" \
    "the connection check without the key"
out=$(form "Name=%zz&tranid=1" "" "X-Api-Key: not-a-key")
it_assert_eq "401 bad_api_key" "$(http_code "$out") $(http_body "$out" | jq -r .code)" \
    "a malformed body with a wrong key: refused for the key, not parsed"
# INTAKE_FORM_MAX_BYTES (256 KiB by default): refused before it is read
{ printf 'tranid=1&comment='; head -c 300000 /dev/zero | tr '\0' x; } >"$IT_RUN/big-form"
out=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 -H "X-Api-Key: $ORDER_FORM_KEY" \
    -H 'Content-Type: application/x-www-form-urlencoded' --data-binary @"$IT_RUN/big-form" "$form_url")
it_assert_eq 413 "$out" "a form body over the form's own limit"
tilda='Name=%D0%9C%D0%B0%D1%80%D0%B8%D1%8F&Phone=%2B7+999+123-45-67&Email=&Address=%D0%9C%D0%BE%D1%81%D0%BA%D0%B2%D0%B0%2C+%D0%A2%D0%B2%D0%B5%D1%80%D1%81%D0%BA%D0%B0%D1%8F+1&Region=Moscow&tranid=9263843%3A1234567&formid=form123&utm_source=yandex&payment%5Bproducts%5D%5B0%5D%5Bname%5D=Mug&payment%5Bproducts%5D%5B0%5D%5Bquantity%5D=2&payment%5Bproducts%5D%5B0%5D%5Bprice%5D=1990.50&payment%5Bproducts%5D%5B0%5D%5Bsku%5D=MUG-1'
out=$(form "$tilda")
it_assert_eq 201 "$(http_code "$out")" "a Tilda order ($out)"
form_order=$(http_body "$out" | jq -r .order_id)
out=$(form "$tilda")
it_assert_eq 200 "$(http_code "$out")" "Tilda's retry of the same tranid"
it_assert_eq "$form_order" "$(http_body "$out" | jq -r .order_id)" "the retry answers the first order"
it_assert_eq "landing tilda-landing 199050 yandex" \
    "$(order_sql "SELECT o.channel || ' ' || o.source || ' ' || l.sender_price_minor || ' ' || (o.attributes->>'utm_source')
                  FROM orders.orders o JOIN orders.order_lines l ON l.order_id = o.id WHERE o.id = '$form_order'")" \
    "the form order's channel, source, price in kopecks and utm tag"
out=$(form "Name=Nobody&tranid=77&payment%5Bproducts%5D%5B0%5D%5Bname%5D=Mug&payment%5Bproducts%5D%5B0%5D%5Bquantity%5D=1&payment%5Bproducts%5D%5B0%5D%5Bsku%5D=MUG-1")
it_assert_eq 422 "$(http_code "$out")" "a form without phone and email"
it_assert_eq 1 "$(order_sql "SELECT count(*) FROM orders.rejections WHERE source = 'tilda-landing' AND door = 'form'")" \
    "the rejected form is kept"
out=$(form 'Name=%C0%ED%ED%E0&tranid=1')
it_assert_eq 400 "$(http_code "$out")" "a form that is not UTF-8"
# the key only in a header: never in the URL (access logs), never in the form
out=$(form "$tilda" "?api_key=$ORDER_FORM_KEY" "X-Trace: none")
it_assert_eq "401 api_key_in_url" "$(http_code "$out") $(http_body "$out" | jq -r .code)" \
    "a key in the query string is refused"
out=$(form "$tilda" "?api_key=$ORDER_FORM_KEY")
it_assert_eq "401 api_key_in_url" "$(http_code "$out") $(http_body "$out" | jq -r .code)" \
    "a key in the query string is refused even beside a good header"
out=$(form "api_key=$ORDER_FORM_KEY&$tilda" "" "X-Trace: none")
it_assert_eq "401 unauthenticated" "$(http_code "$out") $(http_body "$out" | jq -r .code)" \
    "a key in the form's fields is not read"
out=$(order_call POST "/v1/orders?api_key=$ORDER_SITE_KEY" "$body" "Idempotency-Key: A-8")
it_assert_eq "401 api_key_in_url" "$(http_code "$out") $(http_body "$out" | jq -r .code)" \
    "a key in the query string of POST /v1/orders"

# --- the bus ----------------------------------------------------------------------
cat >"$IT_RUN/bus-orders.jsonl" <<'JSON'
{"external_id":"E-1","customer":{"name":"Petr","phone":"+79001112233"},"delivery":{"method":"courier","address":{"region":"Moscow","city":"Moscow","line1":"Arbat 1"}},"items":[{"sku":"MUG-1","quantity":1}]}
{"external_id":"E-2","customer":{"name":"Sveta","email":"sveta@example.ru"},"delivery":{"method":"self_pickup"},"items":[{"sku":"TEA-1","quantity":3}]}
{"external_id":"E-3","customer":{"name":"Bad"},"delivery":{"method":"courier"},"items":[]}
JSON
answers=$(BUS_PUB_ENDPOINT=$KIT_BUS_IN BUS_SUB_ENDPOINT=$KIT_BUS_OUT BUS_CERT=$(it_key source erp) \
    "$IT_BIN/conveyor" intake --source erp <"$IT_RUN/bus-orders.jsonl") || it_fail "the bus intake got no answer for some orders"
it_assert_eq "E-1:accepted E-2:accepted E-3:rejected" \
    "$(jq -rs 'sort_by(.external_id) | map(.external_id + ":" + .status) | join(" ")' <<<"$answers")" \
    "the answers on the bus"
it_assert_eq "customer.phone:required delivery.address:required items:required" \
    "$(jq -r 'select(.external_id == "E-3") | [.reasons[] | .field + ":" + .code] | join(" ")' <<<"$answers")" \
    "every reason of the rejection on the bus"
first=$(jq -r 'select(.external_id == "E-1") | .order_id' <<<"$answers")
# the outside system did not hear us and publishes everything again
again=$(BUS_PUB_ENDPOINT=$KIT_BUS_IN BUS_SUB_ENDPOINT=$KIT_BUS_OUT BUS_CERT=$(it_key source erp) \
    "$IT_BIN/conveyor" intake --source erp <"$IT_RUN/bus-orders.jsonl") || it_fail "no answer to the repeated bus intake"
it_assert_eq "$first" "$(jq -r 'select(.external_id == "E-1") | .order_id' <<<"$again")" \
    "a repeat on the bus answers the first order"
it_assert_eq 2 "$(order_sql "SELECT count(*) FROM orders.orders WHERE source = 'erp'")" \
    "orders made by the bus intake sent twice"

# --- on the bus a publisher files under its own source only ---------------------------
# (the envelope's stream is the publisher, which the bus authenticates)
intakepub() { # PUBLISHER (whose key it uses) PAYLOAD_SOURCE EXTERNAL_ID
    BUS_PUB_ENDPOINT=$KIT_BUS_IN BUS_CERT=$(it_key source "$1") "$IT_BIN/intakepub" "$@" >/dev/null ||
        it_fail "intakepub $*"
}
rejection_reasons() { # SOURCE EXTERNAL_ID
    order_sql "SELECT string_agg(r->>'field' || ':' || (r->>'code'), ' ') FROM orders.rejections, jsonb_array_elements(reasons) r WHERE source = '$1' AND external_id = '$2'"
}
has_reasons() { [ -n "$(rejection_reasons "$1" "$2")" ]; }
order_of() { order_sql "SELECT count(*) FROM orders.orders WHERE source = '$1' AND external_id = '$2'"; }
has_order() { [ "$(order_of "$1" "$2")" = 1 ]; }
intakepub erp site-main S-1
it_wait_until 20 "the forged source refused" has_reasons erp S-1
it_assert_eq "source:mismatch" "$(rejection_reasons erp S-1)" \
    "a payload naming another source than its publisher"
it_assert_eq 0 "$(order_of site-main S-1)" "nothing filed under the other source's name"
intakepub erp "" S-2
it_wait_until 20 "an empty payload source is the publisher's" has_order erp S-2
intakepub erp erp S-3
it_wait_until 20 "the publisher's own name" has_order erp S-3

# --- INTAKE_ITEMS_MAX (200) at every door ---------------------------------------------
items201=$(jq -nc '[range(201) | {sku: "MUG-1", quantity: 1}]')
out=$(order_submit L-1 "$(jq -c --argjson items "$items201" '.items = $items' <<<"$(order_body "Many" "+79005550101" Moscow MUG-1 1)")")
it_assert_eq "422 items:too_many" \
    "$(http_code "$out") $(http_body "$out" | jq -r '[.errors[] | .field + ":" + .code] | join(" ")')" \
    "201 items over HTTP"
cart=$(for i in $(seq 0 200); do printf '&payment%%5Bproducts%%5D%%5B%d%%5D%%5Bsku%%5D=MUG-1&payment%%5Bproducts%%5D%%5B%d%%5D%%5Bquantity%%5D=1' "$i" "$i"; done)
out=$(form "Name=Many&Phone=%2B79005550102&Delivery=self_pickup&tranid=L-2$cart")
it_assert_eq "422 items:too_many" \
    "$(http_code "$out") $(http_body "$out" | jq -r '[.errors[] | .field + ":" + .code] | join(" ")')" \
    "201 cart lines over the form"
jq -c --argjson items "$items201" '{external_id: "L-3", customer: {name: "Many", phone: "+79005550103"},
    delivery: {method: "self_pickup"}, items: $items}' <<<'{}' >"$IT_RUN/bus-many.jsonl"
answers=$(BUS_PUB_ENDPOINT=$KIT_BUS_IN BUS_SUB_ENDPOINT=$KIT_BUS_OUT BUS_CERT=$(it_key source erp) \
    "$IT_BIN/conveyor" intake --source erp <"$IT_RUN/bus-many.jsonl") || it_fail "no answer on the bus for 201 items"
it_assert_eq "rejected items:too_many" \
    "$(jq -r '.status + " " + ([.reasons[] | .field + ":" + .code] | join(" "))' <<<"$answers")" \
    "201 items over the bus"
it_assert_eq 201 \
    "$(order_sql "SELECT submission->>'items_sent' FROM orders.rejections WHERE source = 'erp' AND external_id = 'L-3'")" \
    "the refused submission says how many items came"
it_assert_eq 0 "$(order_sql "SELECT count(*) FROM orders.dead_letters")" "dead letters"
order_assert_references
it_log "intake over the bus, HTTP and the form: repeats are no-ops, rejections kept and listable"
