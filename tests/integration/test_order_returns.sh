#!/usr/bin/env bash
# Returns (F12) end to end on the real order and inventory services, with
# factfeed standing in for payment and shipping: an order of two lamps is
# paid, shipped and delivered (its stock written off); the warehouse
# receives one lamp back sellable (inventory puts it on hand, the order's
# history records return.received, the order stays delivered), then the
# other damaged (written off with its reason; every unit is back, so the
# order moves to returned); the same return sent again changes nothing
# anywhere (one return.received, one history entry); a return of more than
# shipped is refused. A parcel the customer refused (returned by the
# carrier's shipment.returned) holds its stock until the warehouse receives
# it, which frees it. The stock reconciliation is clean after each step.
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
order_start order1 1 \
    REPLAY_PEERS=inventory=tcp://127.0.0.1:25631,payment=tcp://127.0.0.1:25625,shipping=tcp://127.0.0.1:25626 \
    JOB_POLL=100ms INVOICE_GRACE=24h
inv_start_ready inv 1
order_sources
boris=$(order_staff boris "Boris Petrov" manager '[]' 100)
order_shift "$boris" true
sklad=$(order_staff sklad "Sklad Keeper" warehouse '[]' 0)
as_boris=$(it_token manager "$boris")
as_sklad=$(it_token warehouse "$sklad")

inv_api_ok POST /v1/imports '{"products": [
  {"sku": "LAMP", "name": "Desk lamp", "price_minor": 250000, "vat_rate_bp": 2000, "weight_g": 900, "on_hand": 20}]}' >/dev/null

# publish PORT TYPE PAYLOAD_JSON: one fact from a feed
publish() {
    local out
    out=$(it_http POST "http://127.0.0.1:$1/v1/publish" "{\"events\":[{\"type\":\"$2\",\"payload\":$3}]}")
    [ "$(http_code "$out")" = 201 ] || it_fail "publishing $2: $out"
}
pay() { publish 28125 "$@"; }
ship() { publish 28126 "$@"; }
history_count() { # ORDER REASON: history entries of that fact (not the moves it caused)
    order_sql "SELECT count(*) FROM orders.order_history WHERE order_id = '$1' AND reason = '$2'
        AND kind <> 'status'"
}
history_has() { [ "$(history_count "$1" "$2")" -ge "${3:-1}" ]; }
new_id() { cat /proc/sys/kernel/random/uuid; }
lamps() { inv_sql "SELECT on_hand FROM products WHERE sku = 'LAMP'"; }
# receive JSON: the warehouse receives a return at inventory; prints "<status> <body>"
receive() { INV_TOKEN=$as_sklad inv_api POST /v1/returns "$1"; }

# --- an order of two lamps, paid, shipped, delivered ------------------------------------
out=$(order_submit R-1 '{"customer":{"name":"Far Customer","email":"far@example.ru"},"delivery":{"method":"post",
  "address":{"region":"Kamchatka","city":"Petropavlovsk","line1":"Lenina 1","postal_code":"683000"}},
  "items":[{"sku":"LAMP","quantity":2}]}')
[ "$(http_code "$out")" = 201 ] || it_fail "submitting R-1: $out"
o1=$(http_body "$out" | jq -r .order_id)
it_wait_until 20 "stock reserved for R-1" order_has_stock "$o1" reserved
out=$(order_move "$o1" confirmed "$as_boris")
[ "$(http_body "$out" | jq -r .status)" = awaiting_payment ] || it_fail "confirming R-1: $out"
pay payment.succeeded "{\"order_id\":\"$o1\",\"payment_id\":\"p-1\",\"amount_minor\":1,\"paid_minor\":999999,\"due_minor\":0}"
it_wait_until 20 "R-1 paid" order_has_status "$o1" prepare_for_delivery
order_move "$o1" assembled "$as_sklad" >/dev/null
ship shipment.handed_over "{\"order_id\":\"$o1\",\"shipment_id\":\"cdek-1\"}"
it_wait_until 20 "R-1 handed over" order_has_status "$o1" handed_to_carrier
ship shipment.delivered "{\"order_id\":\"$o1\",\"shipment_id\":\"cdek-1\"}"
it_wait_until 20 "R-1 delivered" order_has_status "$o1" delivered
it_wait_until 20 "R-1's stock written off" order_has_stock "$o1" committed
it_assert_eq 18 "$(lamps)" "lamps on hand after delivery"
inv_assert_clean "delivered"

# --- one lamp back, sellable: on hand again, in the history, still delivered --------------
ret1=$(new_id)
body1="{\"return_id\":\"$ret1\",\"order_id\":\"$o1\",\"kind\":\"brought_back\",
  \"lines\":[{\"line_no\":1,\"quantity\":1,\"condition\":\"sellable\"}]}"
answer=$(receive "$body1")
it_assert_eq 201 "${answer%% *}" "the first lamp received: ${answer:0:300}"
it_assert_eq 19 "$(lamps)" "lamps on hand after the first return"
it_wait_until 20 "the first return in the order's history" history_has "$o1" return.received
it_assert_eq "delivered $ret1 received" \
    "$(order_sql "SELECT concat_ws(' ', status, shipment->>'return_id', shipment->>'return_state') FROM orders.orders WHERE id = '$o1'")" \
    "a partial return is recorded on the order, which stays delivered"
inv_assert_clean "one lamp back"

# --- the same return again: nothing changes anywhere ---------------------------------------
answer=$(receive "$body1")
it_assert_eq 200 "${answer%% *}" "the same return again: ${answer:0:300}"
it_assert_eq 19 "$(lamps)" "lamps on hand after the repeat"

# --- more than shipped: refused ---------------------------------------------------------------
answer=$(receive "{\"return_id\":\"$(new_id)\",\"order_id\":\"$o1\",\"kind\":\"returned\",
  \"lines\":[{\"line_no\":1,\"quantity\":2,\"condition\":\"sellable\"}]}")
it_assert_eq "409 exceeds_shipped" "${answer%% *} $(jq -r .code <<<"${answer#* }")" \
    "two more lamps when one is left: ${answer:0:300}"

# --- the other lamp damaged: written off, every unit back: returned ---------------------------
ret2=$(new_id)
answer=$(receive "{\"return_id\":\"$ret2\",\"order_id\":\"$o1\",\"kind\":\"returned\",
  \"lines\":[{\"line_no\":1,\"quantity\":1,\"condition\":\"damaged\",\"reason\":\"cracked shade\"}]}")
it_assert_eq 201 "${answer%% *}" "the damaged lamp received: ${answer:0:300}"
it_assert_eq 19 "$(lamps)" "a damaged lamp does not go back on hand"
it_wait_until 20 "every unit back: the order is returned" order_has_status "$o1" returned
it_assert_eq "2 2" "$(history_count "$o1" return.received) $(inv_outbox_count return.received "$o1")" \
    "each return once in the order's history and once on the bus"
it_assert_eq "cracked shade" \
    "$(order_sql "SELECT detail->'lines'->0->>'reason' FROM orders.order_history WHERE order_id = '$o1' AND reason = 'return.received' AND kind <> 'status' ORDER BY id DESC LIMIT 1")" \
    "the history tells why the lamp was written off"
it_assert_eq "1 return.received" "$(order_sql "SELECT count(*) || ' ' || min(reason) FROM orders.order_history WHERE order_id = '$o1' AND kind = 'status' AND to_status = 'returned'")" \
    "one move to returned, saying why"
it_assert_eq 0 "$(order_sql "SELECT count(*) FROM orders.dead_letters")" "nothing parked in the order service"
inv_assert_clean "every lamp back"

# --- a parcel refused: the order is returned by the carrier's word, the stock by the warehouse's ---
out=$(order_submit R-2 '{"customer":{"name":"Far Customer","email":"far@example.ru"},"delivery":{"method":"post",
  "address":{"region":"Kamchatka","city":"Petropavlovsk","line1":"Lenina 1","postal_code":"683000"}},
  "items":[{"sku":"LAMP","quantity":3}]}')
[ "$(http_code "$out")" = 201 ] || it_fail "submitting R-2: $out"
o2=$(http_body "$out" | jq -r .order_id)
it_wait_until 20 "stock reserved for R-2" order_has_stock "$o2" reserved
order_move "$o2" confirmed "$as_boris" >/dev/null
pay payment.succeeded "{\"order_id\":\"$o2\",\"payment_id\":\"p-2\",\"amount_minor\":1,\"paid_minor\":999999,\"due_minor\":0}"
it_wait_until 20 "R-2 paid" order_has_status "$o2" prepare_for_delivery
order_move "$o2" assembled "$as_sklad" >/dev/null
ship shipment.handed_over "{\"order_id\":\"$o2\",\"shipment_id\":\"cdek-2\"}"
it_wait_until 20 "R-2 handed over" order_has_status "$o2" handed_to_carrier
ship shipment.returned "{\"order_id\":\"$o2\",\"shipment_id\":\"cdek-2\",\"reason\":\"refused\"}"
it_wait_until 20 "R-2 returned by the carrier" order_has_status "$o2" returned
it_assert_eq "19 3" "$(inv_sql "SELECT on_hand || ' ' || reserved FROM products WHERE sku = 'LAMP'")" \
    "the refused parcel's lamps are still held until the warehouse has them"
answer=$(receive "{\"return_id\":\"$(new_id)\",\"order_id\":\"$o2\",\"kind\":\"refused\",
  \"lines\":[{\"line_no\":1,\"quantity\":3,\"condition\":\"sellable\"}]}")
it_assert_eq 201 "${answer%% *}" "the refused parcel received: ${answer:0:300}"
it_assert_eq "19 0" "$(inv_sql "SELECT on_hand || ' ' || reserved FROM products WHERE sku = 'LAMP'")" \
    "the refused parcel's lamps are free again"
it_wait_until 20 "the refused parcel in the order's history" history_has "$o2" return.received
it_assert_eq returned "$(order_sql "SELECT status FROM orders.orders WHERE id = '$o2'")" "R-2 stays returned"
it_assert_eq 0 "$(order_sql "SELECT count(*) FROM orders.dead_letters")" "nothing parked in the order service"
inv_assert_clean "refused parcel"

it_log "returns end to end: partial, repeated, too many, damaged, whole -> returned; a refused parcel"
