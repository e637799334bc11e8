#!/usr/bin/env bash
# Claims (F30, issue 14 item 3) on the real order and inventory services,
# factfeed standing in for payment and shipping: an order of two lamps and
# two shades are paid, shipped and delivered. A claim for an undelivered order
# is refused (409); bad lines, type, reason and base64 are refused with
# every reason (422); attachments past their bounds are refused (413, each
# and together). A refund claim for one lamp is created under_review and
# named "Refund DD.MM.YYYY" in the store's zone, its attachment downloads
# byte for byte; a warehouse keeper may not decide (403); a manager asks
# for clarification, then approves: refund.requested goes out once, in
# the decision's transaction, with the claim id and the lamp's price; the
# claim is completed; claim.created, claim.decided (twice) and
# claim.completed are on the bus. An exchange of a shade files a free
# replacement order that is reserved and, once confirmed, goes to
# prepare_for_delivery with no payment (order.ready_to_ship). A repair goes
# approved -> in_repair -> completed and cannot skip in_repair. A rejected
# claim frees its units. Lists, history and the report count them.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/kit/kit.sh"
source "$(dirname "$0")/kit/inventory.sh"
source "$(dirname "$0")/order/order.sh"

kit_dbs
order_dbs
inv_dbs
PAY_ENV=$(it_service_db paymentfeed)
SHIP_ENV=$(it_service_db shippingfeed)
kit_start_busd
INV_FEED_REPLAY=tcp://127.0.0.1:25561

feed_start() {
    it_start "$1" bash -c "$3
        exec env FEED_STREAM=$2 BUS_PUB_ENDPOINT=$KIT_BUS_IN BUS_SUB_ENDPOINT=$KIT_BUS_OUT \
        HTTP_ADDR=127.0.0.1:$4 REPLAY_ADDR=tcp://127.0.0.1:$5 REDIS_URL=$TEST_REDIS_URL \
        BUS_CERT=$(it_key service "$2") \"$IT_BIN/factfeed\""
    it_wait_until 30 "$1 ready" kit_http_ok "$4" /readyz
}
feed_start payfeed payment "$PAY_ENV" 28125 25625
feed_start shipfeed shipping "$SHIP_ENV" 28126 25626
order_start order1 1 \
    REPLAY_PEERS=inventory=tcp://127.0.0.1:25631,payment=tcp://127.0.0.1:25625,shipping=tcp://127.0.0.1:25626 \
    JOB_POLL=100ms STORE_TZ=Europe/Moscow
inv_start_ready inv 1
order_sources
boris=$(order_staff boris "Boris Petrov" manager '[]' 100)
order_shift "$boris" true
sklad=$(order_staff sklad "Sklad Keeper" warehouse '[]' 0)
as_boris=$(it_token manager "$boris")
as_sklad=$(it_token warehouse "$sklad")

inv_api_ok POST /v1/imports '{"products": [
  {"sku": "LAMP", "name": "Desk lamp", "price_minor": 250000, "vat_rate_bp": 2000, "weight_g": 900, "on_hand": 20},
  {"sku": "SHADE", "name": "Lamp shade", "price_minor": 40000, "vat_rate_bp": 2000, "weight_g": 200, "on_hand": 20}]}' >/dev/null

publish() {
    local out
    out=$(it_http POST "http://127.0.0.1:$1/v1/publish" "{\"events\":[{\"type\":\"$2\",\"payload\":$3}]}")
    [ "$(http_code "$out")" = 201 ] || it_fail "publishing $2: $out"
}
pay() { publish 28125 "$@"; }
ship() { publish 28126 "$@"; }
as() { # TOKEN METHOD PATH [BODY]: "<status> <body>"
    order_call "$2" "$3" "${4:-}" "Authorization: Bearer $1"
}
code_of() { jq -r .code <<<"$(http_body "$1")"; }
# post_file TOKEN PATH FILE: a body too large for a command-line argument
post_file() {
    local out
    out=$(curl -sS -X POST -w '\n%{http_code}' --max-time 20 -H 'Content-Type: application/json' \
        -H "Authorization: Bearer $1" --data-binary "@$3" "$(order_url)$2") || return 1
    echo "$(tail -n1 <<<"$out") $(sed '$d' <<<"$out")"
}
outbox_count() { # TYPE ORDER
    order_sql "SELECT count(*) FROM orders.outbox WHERE type = '$1' AND correlation_id = '$2'"
}
new_order() { # KEY: an order of 2 lamps and 2 shades, its stock held; prints its id
    local out o
    out=$(order_submit "$1" '{"customer":{"name":"Claim Customer","email":"claim@example.ru"},"delivery":{"method":"post",
      "address":{"region":"Kamchatka","city":"Petropavlovsk","line1":"Lenina 1","postal_code":"683000"}},
      "items":[{"sku":"LAMP","quantity":2},{"sku":"SHADE","quantity":2}]}')
    [ "$(http_code "$out")" = 201 ] || it_fail "submitting $1: $out"
    o=$(http_body "$out" | jq -r .order_id)
    it_wait_until 20 "stock reserved for $1" order_has_stock "$o" reserved
    echo "$o"
}
deliver() { # ORDER N
    out=$(order_move "$1" confirmed "$as_boris")
    [ "$(http_body "$out" | jq -r .status)" = awaiting_payment ] || it_fail "confirming: $out"
    pay payment.succeeded "{\"order_id\":\"$1\",\"payment_id\":\"p-$2\",\"amount_minor\":1,\"paid_minor\":999999,\"due_minor\":0}"
    it_wait_until 20 "paid" order_has_status "$1" prepare_for_delivery
    order_move "$1" assembled "$as_sklad" >/dev/null
    ship shipment.handed_over "{\"order_id\":\"$1\",\"shipment_id\":\"cdek-$2\"}"
    it_wait_until 20 "handed over" order_has_status "$1" handed_to_carrier
    ship shipment.delivered "{\"order_id\":\"$1\",\"shipment_id\":\"cdek-$2\"}"
    it_wait_until 20 "delivered" order_has_status "$1" delivered
}

o1=$(new_order C-1)

# --- not delivered yet: refused ----------------------------------------------------------
out=$(as "$as_boris" POST "/v1/orders/$o1/claims" '{"type":"refund","reason":"defect","lines":[{"line_no":1,"quantity":1}]}')
it_assert_eq "409 not_delivered" "$(http_code "$out") $(code_of "$out")" "a claim before delivery: ${out:0:300}"
deliver "$o1" 1
lamp_total=$(order_sql "SELECT total_minor FROM orders.order_lines WHERE order_id = '$o1' AND line_no = 1")
[ "$lamp_total" -gt 0 ] || it_fail "the lamps have no total: $lamp_total"

# --- every mistake at once ------------------------------------------------------------------
out=$(as "$as_boris" POST "/v1/orders/$o1/claims" '{"type":"swap","reason":"bored","lines":[{"line_no":9,"quantity":1},{"line_no":1,"quantity":3}]}')
it_assert_eq 422 "$(http_code "$out")" "a bad claim: ${out:0:400}"
it_assert_eq "lines[0].line_no lines[1].quantity reason type" \
    "$(http_body "$out" | jq -r '[.errors[].field] | sort | join(" ")')" "every reason at once"
out=$(as "$as_boris" POST "/v1/orders/$o1/claims" '{"type":"refund","reason":"defect","lines":[{"line_no":1,"quantity":1}],
  "attachments":[{"filename":"a.jpg","content_type":"image/jpeg","data":"not base64!"}]}')
it_assert_eq "422 attachments[0].data" "$(http_code "$out") $(http_body "$out" | jq -r '.errors[0].field')" "bad base64: ${out:0:300}"

# --- attachments past their bounds: 413, nothing filed ------------------------------------------
tmp=$IT_RUN/claims # removed with the test's run directory
mkdir -p "$tmp"
big() { head -c "$1" /dev/urandom | base64 -w0; }
printf '{"type":"refund","reason":"defect","lines":[{"line_no":1,"quantity":1}],"attachments":[{"filename":"big.jpg","data":"%s"}]}' \
    "$(big 300000)" >"$tmp/one.json"
out=$(post_file "$as_boris" "/v1/orders/$o1/claims" "$tmp/one.json")
it_assert_eq "413 attachment_too_large" "$(http_code "$out") $(code_of "$out")" "one attachment of 300 kB: ${out:0:300}"
{
    printf '{"type":"refund","reason":"defect","lines":[{"line_no":1,"quantity":1}],"attachments":['
    printf '{"filename":"a.jpg","data":"%s"},' "$(big 230000)"
    printf '{"filename":"b.jpg","data":"%s"},' "$(big 230000)"
    printf '{"filename":"c.jpg","data":"%s"}]}' "$(big 230000)"
} >"$tmp/three.json"
out=$(post_file "$as_boris" "/v1/orders/$o1/claims" "$tmp/three.json")
it_assert_eq "413 attachments_too_large" "$(http_code "$out") $(code_of "$out")" "three of 230 kB: ${out:0:300}"
it_assert_eq 0 "$(order_sql "SELECT count(*) FROM orders.claims")" "nothing filed by refused claims"

# --- a refund claim with a photo ------------------------------------------------------------------
head -c 5000 /dev/urandom >"$tmp/photo.bin"
photo=$(base64 -w0 <"$tmp/photo.bin")
out=$(as "$as_sklad" POST "/v1/orders/$o1/claims" "{\"type\":\"refund\",\"reason\":\"defect\",\"comment\":\"flickers\",
  \"lines\":[{\"line_no\":1,\"quantity\":1}],\"attachments\":[{\"filename\":\"photo.jpg\",\"content_type\":\"image/jpeg\",\"data\":\"$photo\"}]}")
it_assert_eq 201 "$(http_code "$out")" "the refund claim: ${out:0:300}"
c1=$(http_body "$out" | jq -r .id)
today=$(TZ=Europe/Moscow date -d "@$(( $(order_sql "SELECT (extract(epoch FROM created_at))::bigint FROM orders.claims WHERE id = '$c1'") ))" +%d.%m.%Y)
it_assert_eq "Refund $today under_review $((lamp_total / 2))" \
    "$(http_body "$out" | jq -r '"\(.name) \(.status) \(.amount_minor)"')" "named, under review, half the lamps' total"
att=$(http_body "$out" | jq -r '.attachments[0].id')
curl -sS -o "$tmp/back.bin" -H "Authorization: Bearer $as_boris" "$(order_url)/v1/claims/$c1/attachments/$att"
cmp -s "$tmp/photo.bin" "$tmp/back.bin" || it_fail "the attachment did not come back byte for byte"
out=$(as "$as_boris" GET "/v1/claims/$c1/attachments/$(cat /proc/sys/kernel/random/uuid)")
it_assert_eq 404 "$(http_code "$out")" "an attachment of no claim"

# --- decisions by role ----------------------------------------------------------------------------
out=$(as "$as_sklad" POST "/v1/claims/$c1/decision" '{"decision":"approved"}')
it_assert_eq "403 role_not_allowed" "$(http_code "$out") $(code_of "$out")" "a warehouse keeper decides: ${out:0:300}"
out=$(as "$as_boris" POST "/v1/claims/$c1/complete" '{}')
it_assert_eq "409 move_not_allowed" "$(http_code "$out") $(code_of "$out")" "completing before a decision: ${out:0:300}"
out=$(as "$as_boris" POST "/v1/claims/$c1/decision" '{"decision":"needs_clarification","comment":"which lamp?"}')
it_assert_eq "200 needs_clarification" "$(http_code "$out") $(http_body "$out" | jq -r .status)" "clarification: ${out:0:300}"
it_assert_eq 0 "$(outbox_count refund.requested "$o1")" "no refund before approval"
out=$(as "$as_boris" POST "/v1/claims/$c1/decision" '{"decision":"approved","comment":"refund it"}')
it_assert_eq "200 approved" "$(http_code "$out") $(http_body "$out" | jq -r .status)" "approval: ${out:0:300}"
req=$(http_body "$out" | jq -r .refund_request_id)
[ "${#req}" = 36 ] || it_fail "the approved refund has no request id: $out"
it_assert_eq 1 "$(outbox_count refund.requested "$o1")" "one refund.requested with the approval"
out=$(as "$as_boris" POST "/v1/claims/$c1/decision" '{"decision":"approved"}')
it_assert_eq "409 move_not_allowed" "$(http_code "$out") $(code_of "$out")" "approved twice: ${out:0:300}"
it_assert_eq 1 "$(outbox_count refund.requested "$o1")" "still one refund.requested"
out=$(as "$as_boris" POST "/v1/claims/$c1/complete" '{"comment":"money back"}')
it_assert_eq "200 completed" "$(http_code "$out") $(http_body "$out" | jq -r .status)" "completion: ${out:0:300}"
it_assert_eq "under_review needs_clarification approved completed" \
    "$(http_body "$out" | jq -r '[.history[].to] | join(" ")')" "the claim's history"
it_assert_eq "1 2 1" "$(outbox_count claim.created "$o1") $(outbox_count claim.decided "$o1") $(outbox_count claim.completed "$o1")" \
    "claim events on the bus"
it_assert_eq 4 "$(order_sql "SELECT count(*) FROM orders.order_history WHERE order_id = '$o1' AND kind = 'claim'")" \
    "the claim's moves in the order's history"

# --- an exchange: a free replacement order through the ordinary funnel ---------------------------------
out=$(as "$as_boris" POST "/v1/orders/$o1/claims" '{"type":"exchange","reason":"wrong_item","lines":[{"line_no":2,"quantity":1}]}')
it_assert_eq 201 "$(http_code "$out")" "the exchange claim: ${out:0:300}"
c2=$(http_body "$out" | jq -r .id)
it_assert_eq "Exchange $today" "$(http_body "$out" | jq -r .name)" "the exchange's name"
out=$(as "$as_boris" POST "/v1/claims/$c2/decision" '{"decision":"approved"}')
it_assert_eq 200 "$(http_code "$out")" "the exchange approved: ${out:0:300}"
o2=$(http_body "$out" | jq -r .replacement_order_id)
[ "${#o2}" = 36 ] || it_fail "no replacement order: $out"
it_assert_eq "claims SHADE 1 $c2" \
    "$(order_sql "SELECT o.source || ' ' || l.sku || ' ' || l.quantity || ' ' || o.external_id FROM orders.orders o JOIN orders.order_lines l ON l.order_id = o.id WHERE o.id = '$o2'")" \
    "the replacement holds the shade, filed for the claim"
it_wait_until 20 "stock reserved for the replacement" order_has_stock "$o2" reserved
out=$(order_move "$o2" confirmed "$as_boris")
it_assert_eq "prepare_for_delivery" "$(http_body "$out" | jq -r .status)" "the free replacement needs no payment: ${out:0:300}"
it_assert_eq "none 0" "$(order_sql "SELECT payment_terms || ' ' || total_minor FROM orders.orders WHERE id = '$o2'")" \
    "no charge, delivery included"
it_assert_eq 1 "$(outbox_count order.ready_to_ship "$o2")" "the replacement goes to shipping"
it_assert_eq 0 "$(outbox_count refund.requested "$o2")" "an exchange refunds nothing"

# --- a repair: approved -> in_repair -> completed -------------------------------------------------------
out=$(as "$as_boris" POST "/v1/orders/$o1/claims" '{"type":"repair","reason":"defect","lines":[{"line_no":1,"quantity":1}]}')
c3=$(http_body "$out" | jq -r .id)
as "$as_boris" POST "/v1/claims/$c3/decision" '{"decision":"approved"}' >/dev/null
out=$(as "$as_boris" POST "/v1/claims/$c3/complete" '{}')
it_assert_eq "409 move_not_allowed" "$(http_code "$out") $(code_of "$out")" "a repair completed before it was repaired"
out=$(as "$as_sklad" POST "/v1/claims/$c3/status" '{"to":"in_repair"}')
it_assert_eq "200 in_repair" "$(http_code "$out") $(http_body "$out" | jq -r .status)" "in repair: ${out:0:300}"
out=$(as "$as_sklad" POST "/v1/claims/$c3/complete" '{"comment":"fixed"}')
it_assert_eq "200 completed" "$(http_code "$out") $(http_body "$out" | jq -r .status)" "repaired: ${out:0:300}"

# --- every lamp claimed: one more is refused until a claim is rejected ------------------------------------
out=$(as "$as_boris" POST "/v1/orders/$o1/claims" '{"type":"refund","reason":"other","lines":[{"line_no":1,"quantity":1}]}')
it_assert_eq "422 exceeds_ordered" "$(http_code "$out") $(http_body "$out" | jq -r '.errors[0].code')" "a third lamp: ${out:0:300}"
out=$(as "$as_boris" POST "/v1/orders/$o1/claims" '{"type":"refund","reason":"changed_mind","lines":[{"line_no":2,"quantity":1}]}')
c4=$(http_body "$out" | jq -r .id)
out=$(as "$as_boris" POST "/v1/claims/$c4/decision" '{"decision":"rejected","comment":"used"}')
it_assert_eq "200 rejected" "$(http_code "$out") $(http_body "$out" | jq -r .status)" "rejected: ${out:0:300}"
out=$(as "$as_boris" POST "/v1/claims/$c4/status" '{"to":"under_review"}')
it_assert_eq 409 "$(http_code "$out")" "a rejected claim is final"
out=$(as "$as_boris" POST "/v1/orders/$o1/claims" '{"type":"refund","reason":"changed_mind","lines":[{"line_no":2,"quantity":1}]}')
it_assert_eq 201 "$(http_code "$out")" "the rejected claim's shade may be claimed again: ${out:0:300}"
c5=$(http_body "$out" | jq -r .id)

# --- lists, paging and the report --------------------------------------------------------------------------
out=$(as "$as_sklad" GET "/v1/orders/$o1/claims?limit=3")
it_assert_eq "3 true" "$(http_body "$out" | jq -r '"\(.items | length) \(.next_cursor != null)"')" "a first page of the order's claims: ${out:0:300}"
cursor=$(http_body "$out" | jq -r .next_cursor)
out=$(as "$as_sklad" GET "/v1/orders/$o1/claims?limit=3&cursor=$cursor")
it_assert_eq "2 $c1" "$(http_body "$out" | jq -r '"\(.items | length) \(.items[1].id)"')" "the last page ends with the first claim"
out=$(as "$as_sklad" GET "/v1/claims?type=refund&status=completed")
it_assert_eq "$c1" "$(http_body "$out" | jq -r '[.items[].id] | join(" ")')" "claims by type and status"
out=$(as "$as_sklad" GET "/v1/reports/claims")
it_assert_eq 403 "$(http_code "$out")" "the report is for managers"
out=$(as "$as_boris" GET "/v1/reports/claims")
it_assert_eq "5 3 1 1 2 1 2 4" \
    "$(http_body "$out" | jq -r '"\(.claims) \(.by_type.refund) \(.by_type.exchange) \(.by_type.repair) \(.by_reason.defect) \(.by_reason.wrong_item) \(.to_completion.count) \(.to_decision.count)"')" \
    "the report: ${out:0:400}"
[ "$(http_body "$out" | jq -r '.to_decision.median_hours != null')" = true ] || it_fail "no median: $out"

# --- two claims for the last shade at once: the one that waited sees the other ----------------------------
# Another manager's claim is being filed (here a transaction that holds the
# order while it adds the claim) when this one comes: it waits for the
# order, and then counts the other's shade, not the order as it was.
out=$(as "$as_boris" POST "/v1/claims/$c5/decision" '{"decision":"rejected","comment":"kept after all"}')
it_assert_eq 200 "$(http_code "$out")" "a shade freed: ${out:0:300}"
order_held "$o1" '%FROM orders%id = $1%FOR UPDATE%' 10 "INSERT INTO orders.claims (id, order_id, name, type,
    reason, status, lines, amount_minor, created_by, created_at) VALUES (gen_random_uuid(), '$o1',
    'Refund (another manager)', 'refund', 'changed_mind', 'under_review',
    '[{\"line_no\":2,\"quantity\":1}]', 40000, 'it', now())" >"$IT_RUN/held_claim.out" &
holder=$!
it_wait_until 10 "the other claim holds the order" order_held_now
out=$(as "$as_boris" POST "/v1/orders/$o1/claims" '{"type":"refund","reason":"changed_mind","lines":[{"line_no":2,"quantity":1}]}')
wait "$holder" || it_fail "the other claim: $(cat "$IT_RUN/held_claim.out")"
grep -q "held until it was waited for" "$IT_RUN/held_claim.out" ||
    it_fail "the claim did not wait for the order: $(cat "$IT_RUN/held_claim.out")"
it_assert_eq "422 exceeds_ordered" "$(http_code "$out") $(http_body "$out" | jq -r '.errors[0].code')" \
    "the last shade claimed twice at once: ${out:0:300}"

it_assert_eq 0 "$(order_sql "SELECT count(*) FROM orders.dead_letters")" "nothing parked in the order service"

it_log "claims: refused before delivery and past their bounds; refund, exchange, repair, rejection; lists and report"
