#!/usr/bin/env bash
# An edited order's quote (issue 14 item 1), with the real order, inventory
# and shipping services and the fake carrier: a new delivery address for the
# same held lines is announced with order.reserved at the edit's version and
# the shipping service quotes the parcel again (the new address, the
# carrier's verdict and cost); new lines reach it the same way once
# inventory held them (the new weight). Quotes of older versions are not
# taken back: a shipment follows only a newer order.reserved. An order on
# the warehouse's list paid on delivery that an edit makes prepaid leaves
# the list (order.status_changed to awaiting_payment) until it is paid.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/kit/kit.sh"
source "$(dirname "$0")/kit/inventory.sh"
source "$(dirname "$0")/order/order.sh"
source "$(dirname "$0")/shipping/shipping.sh"

kit_dbs
order_dbs
inv_dbs
ship_dbs
kit_start_busd
INV_FEED_REPLAY=tcp://127.0.0.1:25561
ship_start_fake
order_start order1 1 REPLAY_PEERS=inventory=tcp://127.0.0.1:25631,$SHIP_PEERS JOB_POLL=100ms
inv_start_ready inv 1
ship_start ship1 1
order_sources
anna=$(order_staff anna "Anna Smirnova" manager '["moscow"]' 100)
order_shift "$anna" true
as_anna=$(it_token manager "$anna")
# the store's city courier has no API: Moscow ships by CDEK here
ship_sql "UPDATE weight_rules SET region = 'nowhere' WHERE carrier = 'city_courier'"
inv_api_ok POST /v1/imports '{"products": [
  {"sku": "KETTLE", "name": "Kettle 1.7 l", "price_minor": 349000, "vat_rate_bp": 2000, "weight_g": 1450, "on_hand": 50}]}' >/dev/null

version_of() { order_sql "SELECT version FROM orders.orders WHERE id = '$1'"; }
edit() { # ORDER BODY: prints the new version
    local out
    out=$(order_call POST "/v1/orders/$1/edit" "$2" "Authorization: Bearer $as_anna" \
        "If-Match: \"$(version_of "$1")\"")
    [ "$(http_code "$out")" = 200 ] || it_fail "editing $1 with $2: $out"
    http_body "$out" | jq -r .version
}
quoted_at() { # ORDER VERSION: the shipment follows that version and is quoted
    [ "$(ship_sql "SELECT order_version = $2 AND quote_state = 'quoted' FROM shipments WHERE order_id = '$1'")" = t ]
}

out=$(order_submit Q-1 '{"customer":{"name":"Ivan Petrov","phone":"+79123456789"},
  "delivery":{"method":"courier","address":{"region":"Moscow","city":"Moscow","line1":"Tverskaya 1"}},
  "items":[{"sku":"KETTLE","quantity":2}]}')
[ "$(http_code "$out")" = 201 ] || it_fail "submitting: $out"
order=$(http_body "$out" | jq -r .order_id)
it_wait_until 20 "stock reserved" order_has_stock "$order" reserved
it_wait_until 20 "quoted" ship_quote_is "$order" quoted
it_assert_eq "Tverskaya 1 2900" "$(ship_sql "SELECT (address->>'line1') || ' ' || weight_g FROM shipments WHERE order_id = '$order'")" \
    "the first quote"

# --- a new address: quoted again -------------------------------------------------
v=$(edit "$order" '{"delivery":{"method":"courier","address":{"region":"Moscow","city":"Moscow","line1":"Arbat 5"}}}')
it_assert_eq 2 "$(order_sql "SELECT count(*) FROM orders.outbox WHERE correlation_id = '$order' AND type = 'order.reserved'")" \
    "order.reserved again for the new delivery"
it_wait_until 20 "quoted again at the edit's version" quoted_at "$order" "$v"
it_assert_eq "Arbat 5 2900" "$(ship_sql "SELECT (address->>'line1') || ' ' || weight_g FROM shipments WHERE order_id = '$order'")" \
    "the new address quoted"
it_assert_eq 2 "$(ship_sql "SELECT count(*) FROM outbox WHERE correlation_id = '$order' AND type = 'shipment.quoted'")" \
    "two quotes"

# --- a discount alone does not ask for a quote -------------------------------------
edit "$order" '{"discount_bp":500}' >/dev/null
it_assert_eq 2 "$(order_sql "SELECT count(*) FROM orders.outbox WHERE correlation_id = '$order' AND type = 'order.reserved'")" \
    "no order.reserved for a discount"

# --- one more kettle: quoted with the new weight once held ----------------------------
edit "$order" '{"lines":[{"sku":"KETTLE","quantity":3}]}' >/dev/null
it_wait_until 20 "the new lines held" order_has_stock "$order" reserved
weighs() { [ "$(ship_sql "SELECT weight_g || ' ' || quote_state FROM shipments WHERE order_id = '$1'")" = "$2" ]; }
it_wait_until 20 "quoted at the new weight (3 x 1450 g)" weighs "$order" "4350 quoted"

# --- paid on delivery, made prepaid: off the warehouse's list until paid --------------
out=$(order_submit Q-2 '{"customer":{"name":"Olga Local","phone":"+79123456780"},
  "delivery":{"method":"courier","address":{"region":"Moscow","city":"Moscow","line1":"Tverskaya 3"}},
  "items":[{"sku":"KETTLE","quantity":1}]}')
[ "$(http_code "$out")" = 201 ] || it_fail "submitting: $out"
cod=$(http_body "$out" | jq -r .order_id)
it_wait_until 20 "stock reserved" order_has_stock "$cod" reserved
out=$(order_move "$cod" confirmed "$as_anna")
[ "$(http_body "$out" | jq -r .status)" = prepare_for_delivery ] || it_fail "confirming: $out"
on_list() { [ "$(ship_sql "SELECT coalesce(warehouse_status, 'off') FROM shipments WHERE order_id = '$1'")" = "$2" ]; }
it_wait_until 20 "on the warehouse's list" on_list "$cod" prepare_for_delivery
edit "$cod" '{"delivery":{"method":"post","address":{"region":"Kamchatka","city":"Petropavlovsk","line1":"Lenina 1","postal_code":"683000"}}}' >/dev/null
it_assert_eq awaiting_payment "$(order_status "$cod")" "sent by post far away: to be paid first"
it_wait_until 20 "off the warehouse's list while it waits for the money" on_list "$cod" off
it_assert_eq 1 "$(ship_sql "SELECT count(*) FROM shipment_log WHERE order_id = '$cod' AND kind = 'awaiting_payment'")" \
    "the shipment's log says why"
it_assert_eq 0 "$(ship_sql "SELECT count(*) FROM shipment_log WHERE order_id <> '$cod' AND kind = 'awaiting_payment'")" \
    "an order never on the list is not touched"

it_assert_eq 0 "$(order_sql "SELECT count(*) FROM orders.dead_letters")" "dead letters in the order service"
it_assert_eq 0 "$(ship_sql "SELECT count(*) FROM dead_letters")" "dead letters in the shipping service"
it_log "edited orders' quotes: a new address and new lines quoted again"
