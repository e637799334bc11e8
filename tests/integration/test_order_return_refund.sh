#!/usr/bin/env bash
# A paid order cancelled while its parcel is with the carrier (issue 14),
# on the real order and inventory services with factfeed standing in for
# payment and shipping: the cancellation says refund_on_return on the bus
# and asks no refund; the order card shows the refund pending the return
# with the sum held; the carrier's word that the parcel is back asks
# nothing; the warehouse's receipt (return.received, one lamp sellable and
# one damaged: both refunded) asks once for all that is held
# (refund.requested, refund_state requested). The same receipt again, and
# the order service replaying the inventory stream from before it, ask
# nothing more. A cash-on-delivery order cancelled on the road holds and
# asks nothing; a paid order cancelled before hand-over does not say
# refund_on_return (the payment service refunds it at once).
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
INV_FEED_REPLAY=tcp://127.0.0.1:25561 # inventory follows the real order stream

# feed_start NAME STREAM ENV HTTP_PORT REPLAY_PORT: factfeed as the payment or shipping service
feed_start() {
    it_start "$1" bash -c "$3
        exec env FEED_STREAM=$2 BUS_PUB_ENDPOINT=$KIT_BUS_IN BUS_SUB_ENDPOINT=$KIT_BUS_OUT \
        HTTP_ADDR=127.0.0.1:$4 REPLAY_ADDR=tcp://127.0.0.1:$5 REDIS_URL=$TEST_REDIS_URL \
        BUS_CERT=$(it_key service "$2") \"$IT_BIN/factfeed\""
    it_wait_until 30 "$1 ready" kit_http_ok "$4" /readyz
}
feed_start payfeed payment "$PAY_ENV" 28125 25625
feed_start shipfeed shipping "$SHIP_ENV" 28126 25626
start_order() {
    order_start order1 1 \
        REPLAY_PEERS=inventory=tcp://127.0.0.1:25631,payment=tcp://127.0.0.1:25625,shipping=tcp://127.0.0.1:25626 \
        JOB_POLL=100ms INVOICE_GRACE=24h
}
start_order
inv_start_ready inv 1
order_sources
boris=$(order_staff boris "Boris Petrov" manager '[]' 100)
order_shift "$boris" true
sklad=$(order_staff sklad "Sklad Keeper" warehouse '[]' 0)
root=$(order_staff root "Root Admin" admin '[]' 0)
as_boris=$(it_token manager "$boris")
as_sklad=$(it_token warehouse "$sklad")
as_root=$(it_token admin "$root")
# the store's matrix (data) lets an admin cancel a shipped order
order_sql "INSERT INTO orders.transitions VALUES ('handed_to_carrier', 'cancelled', 'admin') ON CONFLICT DO NOTHING"

inv_api_ok POST /v1/imports '{"products": [
  {"sku": "LAMP", "name": "Desk lamp", "price_minor": 250000, "vat_rate_bp": 2000, "weight_g": 900, "on_hand": 20}]}' >/dev/null

publish() { # PORT TYPE PAYLOAD_JSON: one fact from a feed
    local out
    out=$(it_http POST "http://127.0.0.1:$1/v1/publish" "{\"events\":[{\"type\":\"$2\",\"payload\":$3}]}")
    [ "$(http_code "$out")" = 201 ] || it_fail "publishing $2: $out"
}
pay() { publish 28125 "$@"; }
ship() { publish 28126 "$@"; }
new_id() { cat /proc/sys/kernel/random/uuid; }
total() { order_sql "SELECT total_minor FROM orders.orders WHERE id = '$1'"; }
payment_key() { order_sql "SELECT coalesce(payment->>'$2', '') FROM orders.orders WHERE id = '$1'"; }
asked() { order_sql "SELECT count(*) FROM orders.outbox WHERE correlation_id = '$1' AND type = 'refund.requested'"; }
# on_return ORDER: the last field of its order.cancelled: refund_on_return
# (field 7, varint 1: 38 01, last since protobuf-c writes fields in order)
on_return() {
    order_sql "SELECT encode(substring(payload from length(payload) - 1), 'hex') FROM orders.outbox
        WHERE correlation_id = '$1' AND type = 'order.cancelled'"
}
inventory_applied() { # the inventory stream's seq the order service applied
    order_sql "SELECT coalesce((SELECT last_seq FROM orders.inbox_offsets WHERE stream = 'inventory'), 0)"
}
receive() { INV_TOKEN=$as_sklad inv_api POST /v1/returns "$1"; }
post='{"method":"post","address":{"region":"Kamchatka","city":"Petropavlovsk","line1":"Lenina 1","postal_code":"683000"}}'
courier='{"method":"courier","address":{"region":"Moscow","city":"Москва","line1":"Тверская 1","postal_code":"125009"}}'

# on_the_road KEY DELIVERY QTY PAID: an order submitted, confirmed, paid in
# full (PAID=yes, through the payment stand-in) or on delivery, packed and
# handed to the carrier; ORDER is its id
on_the_road() {
    local out
    out=$(order_submit "$1" "{\"customer\":{\"name\":\"Far Customer\",\"email\":\"far-$1@example.ru\"},
      \"delivery\":$2,\"items\":[{\"sku\":\"LAMP\",\"quantity\":$3}]}")
    [ "$(http_code "$out")" = 201 ] || it_fail "submitting $1: $out"
    ORDER=$(http_body "$out" | jq -r .order_id)
    it_wait_until 20 "stock reserved for $1" order_has_stock "$ORDER" reserved
    order_move "$ORDER" confirmed "$as_boris" >/dev/null
    if [ "$4" = yes ]; then
        it_wait_until 20 "$1 awaiting payment" order_has_status "$ORDER" awaiting_payment
        pay payment.succeeded "{\"order_id\":\"$ORDER\",\"payment_id\":\"p-$1\",\"amount_minor\":$(total "$ORDER"),
          \"paid_minor\":$(total "$ORDER"),\"due_minor\":0,\"payment_status\":\"paid\"}"
    fi
    it_wait_until 20 "$1 ready to ship" order_has_status "$ORDER" prepare_for_delivery
    order_move "$ORDER" assembled "$as_sklad" >/dev/null
    ship shipment.handed_over "{\"order_id\":\"$ORDER\",\"shipment_id\":\"cdek-$1\"}"
    it_wait_until 20 "$1 handed over" order_has_status "$ORDER" handed_to_carrier
}

cancel() { # ORDER TOKEN
    local out
    out=$(order_move "$1" cancelled "$2" "the customer changed their mind")
    [ "$(http_code "$out")" = 200 ] || it_fail "cancelling $1: $out"
}

# --- paid, cancelled on the road: the refund waits for the parcel --------------------------
on_the_road RR-1 "$post" 2 yes
o1=$ORDER
t1=$(total "$o1")
cancel "$o1" "$as_root"
it_assert_eq 3801 "$(on_return "$o1")" "order.cancelled says refund_on_return"
card=$(order_call GET "/v1/orders/$o1" "" "Authorization: Bearer $as_boris")
it_assert_eq "200 cancelled pending_return $t1" \
    "$(http_code "$card") $(http_body "$card" | jq -r '"\(.status) \(.payment.refund_state) \(.payment.refund_held_minor)"')" \
    "the order card: refund pending return, the whole sum held"
it_assert_eq 0 "$(asked "$o1")" "no refund asked at the cancellation"

# the carrier brings it back: its word is not the warehouse's receipt
ship shipment.returned "{\"order_id\":\"$o1\",\"shipment_id\":\"cdek-RR-1\",\"reason\":\"cancelled\"}"
it_wait_value 20 "shipment.returned heard" = returned \
    order_sql "SELECT shipment->>'shipment_state' FROM orders.orders WHERE id = '$o1'"
it_assert_eq "0 pending_return" "$(asked "$o1") $(payment_key "$o1" refund_state)" \
    "the carrier's word asks no refund"

# the warehouse receives the parcel: one lamp sellable, one damaged, both refunded
ret1=$(new_id)
body1="{\"return_id\":\"$ret1\",\"order_id\":\"$o1\",\"kind\":\"refused\",\"lines\":[
  {\"line_no\":1,\"quantity\":1,\"condition\":\"sellable\"},
  {\"line_no\":1,\"quantity\":1,\"condition\":\"damaged\",\"reason\":\"cracked shade\"}]}"
answer=$(receive "$body1")
it_assert_eq 201 "${answer%% *}" "the parcel received: ${answer:0:300}"
it_wait_value 20 "the refund asked" = 1 asked "$o1"
it_assert_eq "requested $t1 $ret1" \
    "$(payment_key "$o1" refund_state) $(order_sql "SELECT amount_minor || ' ' || return_id FROM orders.order_return_refunds WHERE order_id = '$o1'")" \
    "all that was held asked back for the return, the damaged lamp too"
it_assert_eq "$(payment_key "$o1" refund_request_id)" \
    "$(order_sql "SELECT request_id FROM orders.order_return_refunds WHERE order_id = '$o1'")" \
    "the card names the request"

# the same receipt again: inventory answers what it did, nothing more is asked
answer=$(receive "$body1")
it_assert_eq 200 "${answer%% *}" "the same receipt again: ${answer:0:300}"

# the order service replays the inventory stream from before the receipt
seq=$(inv_sql "SELECT seq FROM outbox WHERE correlation_id = '$o1' AND type = 'return.received'")
[ -n "$seq" ] || it_fail "no return.received on the inventory stream"
it_wait_value 20 "the order service applied the receipt" -ge "$seq" inventory_applied
it_stop order1
order_sql "UPDATE orders.inbox_offsets SET last_seq = $((seq - 1)) WHERE stream = 'inventory'"
start_order
it_wait_value 30 "the receipt applied again" -ge "$seq" inventory_applied
it_assert_eq "2 1 1" \
    "$(order_sql "SELECT count(*) FROM orders.order_history WHERE order_id = '$o1' AND reason = 'return.received' AND kind <> 'status'") $(asked "$o1") $(order_sql "SELECT count(*) FROM orders.order_return_refunds WHERE order_id = '$o1'")" \
    "the receipt heard twice (replayed), the refund asked once"
it_assert_eq cancelled "$(order_status "$o1")" "the order stays cancelled"

# --- cash on delivery, cancelled on the road: nothing to hold or ask -----------------------
on_the_road RR-2 "$courier" 1 no
o2=$ORDER
cancel "$o2" "$as_root"
it_assert_eq "" "$(on_return "$o2" | grep 3801)" "order.cancelled of a COD order does not say refund_on_return"
it_assert_eq "" "$(payment_key "$o2" refund_state)" "nothing pending on the card"
answer=$(receive "{\"return_id\":\"$(new_id)\",\"order_id\":\"$o2\",\"kind\":\"refused\",
  \"lines\":[{\"line_no\":1,\"quantity\":1,\"condition\":\"sellable\"}]}")
it_assert_eq 201 "${answer%% *}" "the COD parcel received: ${answer:0:300}"
it_wait_value 20 "the COD receipt heard" -ge 1 \
    order_sql "SELECT count(*) FROM orders.order_history WHERE order_id = '$o2' AND reason = 'return.received'"
it_assert_eq 0 "$(asked "$o2")" "no refund asked for a COD order"

# --- paid, cancelled before hand-over: refunded at once by the payment service --------------
out=$(order_submit RR-3 "{\"customer\":{\"name\":\"Far Customer\",\"email\":\"far-rr3@example.ru\"},
  \"delivery\":$post,\"items\":[{\"sku\":\"LAMP\",\"quantity\":1}]}")
o3=$(http_body "$out" | jq -r .order_id)
it_wait_until 20 "stock reserved for RR-3" order_has_stock "$o3" reserved
order_move "$o3" confirmed "$as_boris" >/dev/null
it_wait_until 20 "RR-3 awaiting payment" order_has_status "$o3" awaiting_payment
pay payment.succeeded "{\"order_id\":\"$o3\",\"payment_id\":\"p-RR-3\",\"amount_minor\":$(total "$o3"),
  \"paid_minor\":$(total "$o3"),\"due_minor\":0,\"payment_status\":\"paid\"}"
it_wait_until 20 "RR-3 ready to ship" order_has_status "$o3" prepare_for_delivery
cancel "$o3" "$as_boris"
it_assert_eq "" "$(on_return "$o3" | grep 3801)" "cancelled before hand-over: no refund_on_return"
it_assert_eq "" "$(payment_key "$o3" refund_state)" "nothing pending on the card"
it_assert_eq 0 "$(order_sql "SELECT count(*) FROM orders.order_refund_holds WHERE order_id = '$o3'")" "nothing held"

it_assert_eq 0 "$(order_sql "SELECT count(*) FROM orders.dead_letters")" "nothing parked in the order service"
inv_assert_clean "cancelled parcels received"
it_log "a cancelled parcel's refund waits for the warehouse, asked once (repeat, replay); COD and before hand-over hold nothing"
