#!/usr/bin/env bash
# How far each intake source is trusted, at every door, against the real
# order service: a discount is gated per source like prices (an admin
# sets max_discount_bp; above it the order is rejected with its reason,
# over HTTP, the form, the bus and for staff alike); a bus publisher is
# trusted as its registered source is (its prices stand only when the
# source may set them); staff file under the call centre's source, and
# under another only as admins or with an admin's grant.
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
as_anna=$(it_token manager "$manager")

reasons() { http_body "$1" | jq -r '[.errors[]? | .field + ":" + .code] | join(" ")'; }
with_discount() { # BP [NAME PHONE]: a valid order with that discount
    jq -c --argjson bp "$1" '.discount_bp = $bp' <<<"$(order_body "${2:-Disco}" "${3:-+79005550201}" Moscow MUG-1 1)"
}
bus() { # SOURCE JSONL: publishes on the bus as SOURCE, prints the answers
    BUS_PUB_ENDPOINT=$KIT_BUS_IN BUS_SUB_ENDPOINT=$KIT_BUS_OUT BUS_CERT=$(it_key source "$1") \
        "$IT_BIN/conveyor" intake --source "$1" <<<"$2" || it_fail "no answer on the bus for $1"
}

# --- HTTP: site-main may give up to 20 % -----------------------------------------------
out=$(order_submit D-1 "$(with_discount 2000)")
it_assert_eq 201 "$(http_code "$out")" "the largest discount site-main may give ($out)"
out=$(order_submit D-2 "$(with_discount 2001)")
it_assert_eq "422 discount_bp:not_allowed" "$(http_code "$out") $(reasons "$out")" \
    "a little more than site-main may give"
it_assert_eq "this source may give at most 20.00 % (2000 basis points), not 20.01 %" \
    "$(http_body "$out" | jq -r '.errors[0].message')" "the reason says how far the source may go"
out=$(order_submit D-3 "$(with_discount 10000)")
it_assert_eq "422 discount_bp:not_allowed" "$(http_code "$out") $(reasons "$out")" \
    "a 100 % discount from site-main"

# --- the form: tilda-landing gives no discount ---------------------------------------------
form() {
    local raw
    raw=$(curl -sS -w '\n%{http_code}' --max-time 10 -H "X-Api-Key: $ORDER_FORM_KEY" \
        -H 'Content-Type: application/x-www-form-urlencoded' --data-binary "$1" \
        "$(order_url 1)/v1/intake/form")
    echo "$(tail -n1 <<<"$raw") $(sed '$d' <<<"$raw")"
}
cart='Name=Form&Phone=%2B79005550202&Delivery=self_pickup&payment%5Bproducts%5D%5B0%5D%5Bsku%5D=MUG-1&payment%5Bproducts%5D%5B0%5D%5Bquantity%5D=1&payment%5Bproducts%5D%5B0%5D%5Bprice%5D=1000'
out=$(form "$cart&tranid=F-1&payment%5Bdiscount%5D=1000")
it_assert_eq "422 discount_bp:not_allowed" "$(http_code "$out") $(reasons "$out")" \
    "all of a form's cart as a discount"
out=$(form "$cart&tranid=F-2")
it_assert_eq 201 "$(http_code "$out")" "the form without a discount ($out)"

# --- the bus: an unregistered publisher gives none; a registered one its own ---------------
line() { # EXTERNAL_ID BP [PRICE]
    jq -c --arg id "$1" --argjson bp "$2" --argjson price "${3:-null}" \
        '{external_id: $id, discount_bp: $bp, customer: {name: "Bus", phone: "+79005550203"},
          delivery: {method: "self_pickup"}, items: [{sku: "MUG-1", quantity: 1} + (if $price then {price_minor: $price} else {} end)]}' <<<'{}'
}
answer=$(bus erp "$(line B-1 500)")
it_assert_eq "rejected discount_bp:not_allowed" \
    "$(jq -r '.status + " " + ([.reasons[]? | .field + ":" + .code] | join(" "))' <<<"$answer")" \
    "a discount from a publisher no admin registered"
answer=$(bus erp "$(line B-2 0 4200)")
it_assert_eq accepted "$(jq -r .status <<<"$answer")" "the unregistered publisher without a discount"
it_assert_eq f "$(order_sql "SELECT sender_prices FROM orders.orders WHERE source = 'erp' AND external_id = 'B-2'")" \
    "an unregistered publisher's prices do not stand"
out=$(order_admin POST /v1/sources '{"source":"erp","max_discount_bp":500,"may_set_prices":true}')
it_assert_eq "201 500" "$(http_code "$out") $(http_body "$out" | jq -r .max_discount_bp)" \
    "an admin registers the ERP and how far it is trusted"
answer=$(bus erp "$(line B-3 500 4200)")
it_assert_eq accepted "$(jq -r .status <<<"$answer")" "the registered ERP's own discount"
it_assert_eq "true 500" "$(order_sql "SELECT sender_prices || ' ' || discount_bp FROM orders.orders WHERE source = 'erp' AND external_id = 'B-3'")" \
    "the registered ERP's prices stand and its discount is kept"
answer=$(bus erp "$(line B-4 501)")
it_assert_eq rejected "$(jq -r .status <<<"$answer")" "more than the ERP may give"
out=$(order_admin POST /v1/sources '{"source":"bad","max_discount_bp":10001}')
it_assert_eq 422 "$(http_code "$out")" "max_discount_bp past 100 %"

# --- staff: as far as the source they file under --------------------------------------------
staff_submit() { # KEY BODY TOKEN
    order_call POST /v1/orders "$2" "Authorization: Bearer $3" "Idempotency-Key: $1"
}
out=$(staff_submit C-1 "$(with_discount 500 Phone +79005550204)" "$as_anna")
it_assert_eq "422 discount_bp:not_allowed" "$(http_code "$out") $(reasons "$out")" \
    "a call-centre discount before an admin allows one"
out=$(order_admin POST /v1/sources '{"source":"callcenter","default_channel":"phone","max_discount_bp":1000}')
it_assert_eq 201 "$(http_code "$out")" "an admin lets the call centre give up to 10 %"
out=$(staff_submit C-2 "$(with_discount 500 Phone +79005550204)" "$as_anna")
it_assert_eq "201 callcenter" "$(http_code "$out") $(http_body "$out" | jq -r .source)" \
    "a call-centre discount within what it may give"

# --- staff name a source only where they may -------------------------------------------------
# (filing under site-main would take site-main's idempotency keys: its real order A-77 would
# then be answered with the call centre's)
out=$(staff_submit A-77 "$(jq -c '.source = "site-main"' <<<"$(order_body "Squat" "+79005550205" Moscow MUG-1 1)")" "$as_anna")
it_assert_eq "403 source_not_allowed" "$(http_code "$out") $(http_body "$out" | jq -r .code)" \
    "a manager naming a source without a grant"
it_assert_eq "0 0" "$(order_sql "SELECT (SELECT count(*) FROM orders.orders WHERE source = 'site-main' AND external_id = 'A-77') || ' ' || (SELECT count(*) FROM orders.rejections WHERE external_id = 'A-77')")" \
    "nothing filed or kept under the name"
out=$(order_submit A-77 "$(order_body "Real" "+79005550206" Moscow MUG-1 1)")
it_assert_eq 201 "$(http_code "$out")" "site-main's own order with that key is its own"
out=$(order_admin PATCH "/v1/staff/$manager" '{"intake_sources":["site-main"]}')
it_assert_eq '200 ["site-main"]' "$(http_code "$out") $(http_body "$out" | jq -c .intake_sources)" \
    "an admin grants the manager site-main"
out=$(staff_submit S-1 "$(jq -c '.source = "site-main"' <<<"$(order_body "Granted" "+79005550207" Moscow MUG-1 1)")" "$as_anna")
it_assert_eq "201 site-main" "$(http_code "$out") $(http_body "$out" | jq -r .source)" \
    "the granted source"
out=$(staff_submit S-2 "$(jq -c '.source = "tilda-landing"' <<<"$(order_body "Other" "+79005550208" Moscow MUG-1 1)")" "$as_anna")
it_assert_eq "403 source_not_allowed" "$(http_code "$out") $(http_body "$out" | jq -r .code)" \
    "a source the grant does not name"
out=$(staff_submit S-3 "$(jq -c '.source = "callcenter"' <<<"$(order_body "Own" "+79005550209" Moscow MUG-1 1)")" "$as_anna")
it_assert_eq "201 callcenter" "$(http_code "$out") $(http_body "$out" | jq -r .source)" \
    "the call centre's own name needs no grant"
out=$(staff_submit S-4 "$(jq -c '.source = "tilda-landing"' <<<"$(order_body "Admin" "+79005550210" Moscow MUG-1 1)")" "$(it_token admin)")
it_assert_eq "201 tilda-landing" "$(http_code "$out") $(http_body "$out" | jq -r .source)" \
    "an admin names any source"
order_admin PATCH "/v1/staff/$manager" '{"intake_sources":[]}' >/dev/null
out=$(staff_submit S-5 "$(jq -c '.source = "site-main"' <<<"$(order_body "Revoked" "+79005550211" Moscow MUG-1 1)")" "$as_anna")
it_assert_eq 403 "$(http_code "$out")" "a revoked grant holds at once, whatever the token says"
out=$(order_admin PATCH "/v1/staff/$manager" '{"intake_sources":"site-main"}')
it_assert_eq 422 "$(http_code "$out")" "intake_sources is an array"
it_log "sources: discounts gated per source at every door; staff file under a source only where they may"
