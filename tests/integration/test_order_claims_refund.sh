#!/usr/bin/env bash
# An approved refund claim (F30) gives the money back through the bank, on
# the real order, inventory and payment services and the fake bank, with
# factfeed standing in for shipping: an order of two lamps is paid at the
# bank and delivered; a refund claim for one lamp, approved by its
# manager, sends refund.requested in the decision's transaction; the
# payment service refunds exactly that lamp's share once — at the bank,
# in its ledger, under the claim's id — and the order hears
# refund.succeeded (its refunds, its paid amount) with nothing parked, and
# completes the claim by itself (claim.completed, once). The lamp given
# back is no longer owed: the order reads "paid" with nothing due, at the
# payment service and on the order's card, not "partially paid" with the
# lamp's price due.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/kit/kit.sh"
source "$(dirname "$0")/kit/inventory.sh"
source "$(dirname "$0")/order/order.sh"
FAKE_PORT=28133 # inventory replica 1 has payment.sh's usual port
source "$(dirname "$0")/payment/payment.sh"

kit_dbs
order_dbs
inv_dbs
pay_dbs
SHIP_ENV=$(it_service_db shippingfeed)
kit_start_busd
INV_FEED_REPLAY=tcp://127.0.0.1:25561
pay_start_fake
it_start shipfeed bash -c "$SHIP_ENV
    exec env FEED_STREAM=shipping BUS_PUB_ENDPOINT=$KIT_BUS_IN BUS_SUB_ENDPOINT=$KIT_BUS_OUT \
    HTTP_ADDR=127.0.0.1:28126 REPLAY_ADDR=tcp://127.0.0.1:25626 REDIS_URL=$TEST_REDIS_URL \
    BUS_CERT=$(it_key service shipping) \"$IT_BIN/factfeed\""
it_wait_until 30 "shipfeed ready" kit_http_ok 28126 /readyz
order_start order1 1 \
    REPLAY_PEERS=inventory=tcp://127.0.0.1:25631,payment=tcp://127.0.0.1:$PAY_REPLAY,shipping=tcp://127.0.0.1:25626 \
    JOB_POLL=100ms
inv_start_ready inv 1
# payment consumes shipping too: without its replay peer the stream is
# degraded (missed events could not be fetched) once shipfeed's first
# heartbeat is heard, and payment is never ready
pay_start pay1 sberbank REPLAY_PEERS=order=tcp://127.0.0.1:25561,shipping=tcp://127.0.0.1:25626
order_sources
boris=$(order_staff boris "Boris Petrov" manager '[]' 100)
order_shift "$boris" true
sklad=$(order_staff sklad "Sklad Keeper" warehouse '[]' 0)
as_boris=$(it_token manager "$boris")
as_sklad=$(it_token warehouse "$sklad")
inv_api_ok POST /v1/imports '{"products": [
  {"sku": "LAMP", "name": "Desk lamp", "price_minor": 250000, "vat_rate_bp": 2000, "weight_g": 900, "on_hand": 20}]}' >/dev/null

ship() {
    local out
    out=$(it_http POST "http://127.0.0.1:28126/v1/publish" "{\"events\":[{\"type\":\"$1\",\"payload\":$2}]}")
    [ "$(http_code "$out")" = 201 ] || it_fail "publishing $1: $out"
}
as() { order_call "$2" "$3" "${4:-}" "Authorization: Bearer $1"; }
order_refunds() { order_sql "SELECT coalesce(json_agg(r.status), '[]') FROM orders.order_refunds r WHERE order_id = '$1'"; }
order_refund_is() { [ "$(order_refunds "$1")" = "$2" ]; }

# --- an order of two lamps, paid at the bank, delivered ------------------------------
out=$(order_submit CR-1 '{"customer":{"name":"Far Customer","email":"far@example.ru","phone":"+79991234567"},
  "delivery":{"method":"post","address":{"region":"Kamchatka","city":"Petropavlovsk","line1":"Lenina 1","postal_code":"683000"}},
  "items":[{"sku":"LAMP","quantity":2}]}')
[ "$(http_code "$out")" = 201 ] || it_fail "submitting: $out"
o1=$(http_body "$out" | jq -r .order_id)
it_wait_until 20 "stock reserved" order_has_stock "$o1" reserved
out=$(order_move "$o1" confirmed "$as_boris")
[ "$(http_body "$out" | jq -r .status)" = awaiting_payment ] || it_fail "confirming: $out"
it_wait_until 30 "the invoice registered" invoice_is "$o1" open
pay_at_bank "$o1"
it_wait_until 20 "paid: prepare for delivery" order_has_status "$o1" prepare_for_delivery
order_move "$o1" assembled "$as_sklad" >/dev/null
ship shipment.handed_over "{\"order_id\":\"$o1\",\"shipment_id\":\"cdek-1\"}"
it_wait_until 20 "handed over" order_has_status "$o1" handed_to_carrier
ship shipment.delivered "{\"order_id\":\"$o1\",\"shipment_id\":\"cdek-1\"}"
it_wait_until 20 "delivered" order_has_status "$o1" delivered
total=$(order_sql "SELECT total_minor FROM orders.orders WHERE id = '$o1'")
lamp=$(order_sql "SELECT total_minor / 2 FROM orders.order_lines WHERE order_id = '$o1' AND line_no = 1")

# --- a refund claim for one lamp, approved -----------------------------------------------
out=$(as "$as_boris" POST "/v1/orders/$o1/claims" '{"type":"refund","reason":"defect","lines":[{"line_no":1,"quantity":1}]}')
it_assert_eq 201 "$(http_code "$out")" "the refund claim: ${out:0:300}"
claim=$(http_body "$out" | jq -r .id)
it_assert_eq "$lamp" "$(http_body "$out" | jq -r .amount_minor)" "the claim is worth one lamp"
it_assert_eq 0 "$(pay_sql "SELECT count(*) FROM payment.refunds WHERE order_id = '$o1'")" "no refund before the decision"
out=$(as "$as_boris" POST "/v1/claims/$claim/decision" '{"decision":"approved"}')
it_assert_eq 200 "$(http_code "$out")" "approved: ${out:0:300}"
it_wait_until 30 "the payment service refunded" refund_is "$o1" succeeded
it_assert_eq "$lamp $claim" \
    "$(pay_sql "SELECT amount_minor || ' ' || claim_id FROM payment.refunds WHERE order_id = '$o1'")" \
    "one lamp refunded under the claim's id"
it_assert_eq 1 "$(ledger_rows "$o1" refund)" "one refund in the ledger"
it_wait_until 20 "the order heard the refund" order_refund_is "$o1" '["succeeded"]'
it_assert_eq "$((total - lamp))" "$(order_sql "SELECT payment->>'paid_minor' FROM orders.orders WHERE id = '$o1'")" \
    "the order keeps what was paid less the lamp"
out=$(it_http GET "$PAY_URL/v1/orders/$o1/payment" "" "Authorization: Bearer $as_boris")
it_assert_eq 200 "$(http_code "$out")" "the payment service's money of the order: ${out:0:300}"
it_assert_eq "paid $((total - lamp)) 0 $lamp" \
    "$(http_body "$out" | jq -r '"\(.payment_status) \(.paid_minor) \(.due_minor) \(.waived_minor)"')" \
    "the payment service: paid, nothing due once the claimed lamp went back"
it_assert_eq "paid 0" "$(pay_sql "SELECT status || ' ' || (SELECT due_minor FROM payment.ledger WHERE order_id = '$o1' AND kind = 'refund') FROM payment.orders WHERE order_id = '$o1'")" \
    "the stored status and the refund's ledger row owe nothing"
it_assert_eq "paid 0" "$(order_sql "SELECT concat_ws(' ', payment->>'payment_status', payment->>'due_minor') FROM orders.orders WHERE id = '$o1'")" \
    "the order heard paid with nothing due"
card=$(as "$as_boris" GET "/v1/orders/$o1")
it_assert_eq 200 "$(http_code "$card")" "the order card: ${card:0:300}"
it_assert_eq "paid 0" "$(http_body "$card" | jq -r '"\(.payment.payment_status) \(.payment.due_minor)"')" \
    "the order card: paid, nothing due"
it_assert_eq "0 0" "$(order_sql "SELECT count(*) FROM orders.dead_letters") $(pay_sql "SELECT count(*) FROM payment.dead_letters")" \
    "nothing parked"

# --- the money is back: conveyor completes the claim, once ----------------------------------
claim_status() { order_sql "SELECT status FROM orders.claims WHERE id = '$claim'"; }
claim_is() { [ "$(claim_status)" = "$1" ]; }
it_wait_until 20 "the refunded claim completed" claim_is completed
it_assert_eq "completed system refund.succeeded" \
    "$(order_sql "SELECT to_status || ' ' || actor_role || ' ' || comment FROM orders.claim_history WHERE claim_id = '$claim' ORDER BY id DESC LIMIT 1")" \
    "completed by conveyor on the bank's word"
it_assert_eq 1 "$(order_sql "SELECT count(*) FROM orders.outbox WHERE type = 'claim.completed' AND correlation_id = '$o1'")" \
    "one claim.completed"
out=$(as "$as_boris" POST "/v1/claims/$claim/complete" '{"comment":"money back"}')
it_assert_eq 409 "$(http_code "$out")" "completed already: ${out:0:300}"
it_assert_eq 1 "$(pay_sql "SELECT count(*) FROM payment.refunds WHERE order_id = '$o1'")" "refunded once"

it_log "an approved refund claim went back through the bank, once, for the claimed lamp"
