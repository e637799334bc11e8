#!/usr/bin/env bash
# The whole prepaid journey with the real order, inventory, payment and
# shipping services on one busd, each replaying the others, the fake bank
# and the fake carrier outside (issue 13, "Tests"): a post order from
# outside the store's region is reserved and quoted (Russian Post by
# weight), confirmed (awaiting_payment), billed by the payment service and
# paid at the bank (prepare_for_delivery), assembled — then its label is
# bought once, the carrier takes it (handed over) and delivers it, and the
# order is delivered with its stock written off.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/kit/kit.sh"
source "$(dirname "$0")/kit/inventory.sh"
source "$(dirname "$0")/order/order.sh"
FAKE_PORT=28133 # inventory replica 1 has payment.sh's usual port
source "$(dirname "$0")/payment/payment.sh"
source "$(dirname "$0")/shipping/shipping.sh"

kit_dbs
order_dbs
inv_dbs
pay_dbs
ship_dbs
kit_start_busd
INV_FEED_REPLAY=tcp://127.0.0.1:25561 # inventory follows the real order stream
pay_start_fake
ship_start_fake
order_start order1 1 \
    REPLAY_PEERS=inventory=tcp://127.0.0.1:25631,payment=tcp://127.0.0.1:$PAY_REPLAY,$SHIP_PEERS \
    JOB_POLL=100ms
inv_start_ready inv 1
pay_start pay1 sberbank REPLAY_PEERS=order=tcp://127.0.0.1:25561
ship_start ship1 1
order_sources
boris=$(order_staff boris "Boris Petrov" manager '[]' 100)
order_shift "$boris" true
as_boris=$(it_token manager "$boris")
sklad=$(order_staff sklad "Sklad Keeper" warehouse '[]' 0)
as_sklad=$(it_token warehouse "$sklad")
inv_api_ok POST /v1/imports '{"products": [
  {"sku": "LAMP", "name": "Desk lamp", "price_minor": 250000, "vat_rate_bp": 2000, "weight_g": 900, "on_hand": 20}]}' >/dev/null

order_heard() { # ORDER TYPE
    [ "$(order_sql "SELECT count(*) FROM orders.order_history WHERE order_id = '$1' AND reason = '$2'")" -ge 1 ]
}
labels_of() { fake_carrier GET "/_fake/labels?external_shipment_id=$1:1" | jq '.labels | length'; }

# --- reserved and quoted ---------------------------------------------------------------
out=$(order_submit PP-1 '{"customer":{"name":"Far Customer","email":"far@example.ru","phone":"+79991234567"},
  "delivery":{"method":"post","address":{"region":"Kamchatka","city":"Petropavlovsk","line1":"Lenina 1","postal_code":"683000"}},
  "items":[{"sku":"LAMP","quantity":2}]}')
[ "$(http_code "$out")" = 201 ] || it_fail "submitting: $out"
o1=$(http_body "$out" | jq -r .order_id)
it_wait_until 20 "stock reserved" order_has_stock "$o1" reserved
it_wait_until 20 "o1 quoted" ship_quote_is "$o1" quoted
it_assert_eq "russian_post parcel_online 1800" \
    "$(ship_sql "SELECT carrier || ' ' || service || ' ' || weight_g FROM shipments WHERE order_id = '$o1'")" \
    "a post parcel of 2 x 900 g goes with Russian Post"
it_wait_until 20 "the order heard shipment.quoted" order_heard "$o1" shipment.quoted

# --- confirmed, billed, paid at the bank --------------------------------------------------
out=$(order_move "$o1" confirmed "$as_boris")
[ "$(http_body "$out" | jq -r .status)" = awaiting_payment ] || it_fail "confirming: $out"
it_wait_until 30 "the payment service registered the invoice" invoice_is "$o1" open
it_assert_eq "$(order_sql "SELECT total_minor FROM orders.orders WHERE id = '$o1'")" \
    "$(invoice_field "$o1" amount_minor)" "the invoice is for the order's total, delivery included"
pay_at_bank "$o1"
it_wait_until 20 "the payment recorded" payment_status_is "$o1" paid
it_wait_until 20 "paid in full: prepare for delivery" order_has_status "$o1" prepare_for_delivery
it_assert_eq new "$(ship_field "$o1" state)" "no label before the order is assembled"
it_assert_eq 0 "$(labels_of "$o1")" "nothing bought before assembly"

# --- assembled -> the label, once -> handed over -> delivered -----------------------------
out=$(order_move "$o1" assembled "$as_sklad")
[ "$(http_code "$out")" = 200 ] || it_fail "assembling: $out"
it_wait_until 20 "o1 labelled" ship_state_is "$o1" labelled
it_wait_until 20 "the order heard the label" order_heard "$o1" shipment.label_created
it_assert_eq 1 "$(labels_of "$o1")" "one label"
ship_track "$o1" AC
it_wait_until 20 "o1 handed over" ship_state_is "$o1" handed_over
it_wait_until 20 "the order handed to the carrier" order_has_status "$o1" handed_to_carrier
ship_track "$o1" DE
it_wait_until 20 "o1 delivered" ship_state_is "$o1" delivered
it_wait_until 20 "the order delivered" order_has_status "$o1" delivered
it_wait_until 20 "the stock written off" order_has_stock "$o1" committed
it_assert_eq paid "$(order_money "$o1" status)" "the payment stays paid"
it_assert_eq 0 "$(fake_carrier GET /_fake/stats | jq .shipments_sold_twice)" "no shipment sold two labels"
it_log "shipping prepaid journey: reserved, quoted, paid, assembled, labelled, handed over, delivered, written off"
