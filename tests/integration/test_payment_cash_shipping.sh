#!/usr/bin/env bash
# Cash on delivery closed by the courier's one report at the shipping
# service: the payment service hears shipment.status_changed with status
# cash_collected (its amount and reference), records the cash once per
# reference and publishes payment.collected. With Sberbank (the fake bank),
# the order stream's stand-in and a shipping stream's stand-in (factfeed):
#   - the courier's cash closes the on-delivery order (paid, due 0, the
#     ledger's collected row, payment.collected); the same fact again, and
#     the same cash reported over HTTP under the same reference, add nothing;
#   - other tracking statuses move no money;
#   - cash without an amount or a reference, and cash for an order payment
#     never heard of, are parked with their reasons; the stream goes on.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/kit/kit.sh"
source "$(dirname "$0")/payment/payment.sh"

SHIPFEED_HTTP=28136
SHIPFEED_REPLAY=25636
pay_dbs
SHIPFEED_ENV=$(it_service_db shipfeed)
kit_start_busd
pay_start_fake
pay_start_orderfeed
it_start shipfeed bash -c "$SHIPFEED_ENV
    exec env FEED_STREAM=shipping BUS_PUB_ENDPOINT=$KIT_BUS_IN BUS_SUB_ENDPOINT=$KIT_BUS_OUT \
    HTTP_ADDR=127.0.0.1:$SHIPFEED_HTTP REPLAY_ADDR=tcp://127.0.0.1:$SHIPFEED_REPLAY \
    REDIS_URL=$TEST_REDIS_URL BUS_CERT=$(it_key service shipping) \"$IT_BIN/factfeed\""
it_wait_until 30 "the shipping stream's stand-in ready" kit_http_ok $SHIPFEED_HTTP /readyz
pay_start pay1 sberbank \
    REPLAY_PEERS=order=tcp://127.0.0.1:$ORDERFEED_REPLAY,shipping=tcp://127.0.0.1:$SHIPFEED_REPLAY
new_id() { cat /proc/sys/kernel/random/uuid; }
courier=$(it_token courier)
ship() { # TYPE PAYLOAD_JSON: one shipping-stream fact
    local out
    out=$(it_http POST "http://127.0.0.1:$SHIPFEED_HTTP/v1/publish" \
        "{\"events\":[{\"type\":\"$1\",\"payload\":$2}]}")
    [ "$(http_code "$out")" = 201 ] || it_fail "publishing $1: $out"
}
status_fact() { # ORDER STATUS [AMOUNT REFERENCE]
    ship shipment.status_changed "{\"order_id\":\"$1\",\"shipment_id\":\"courier-$1\",\"tracking_status\":\"$2\",
      \"description\":\"the courier's words\",\"at_ms\":1900000000000${3:+,\"amount_minor\":$3}${4:+,\"reference\":\"$4\"}}"
}
parked() { pay_sql "SELECT string_agg(err, ' ' ORDER BY id) FROM payment.dead_letters WHERE stream = 'shipping'"; }
parked_are() { [ "$(parked)" = "$1" ]; }

# --- the courier's cash closes the order ------------------------------------------
o1=$(new_id)
confirm "$o1" 61001 PAYMENT_TERMS_ON_DELIVERY
it_wait_until 20 "the on-delivery order known" payment_status_is "$o1" pay_on_delivery
status_fact "$o1" AC
status_fact "$o1" cash_collected 305001 "cash_collected:courier-$o1"
it_wait_until 20 "the courier's cash closes the money" payment_status_is "$o1" paid
it_wait_until 10 "payment.collected" has_event "$o1" payment.collected
it_assert_eq "0 305001" "$(order_money "$o1" "total_minor - received_minor || ' ' || received_minor")" "due and received"
it_assert_eq "collected:cash_collected:courier-$o1 305001" \
    "$(pay_sql "SELECT movement_ref || ' ' || amount_minor FROM payment.ledger WHERE order_id = '$o1' AND kind = 'collected'")" \
    "one collection under the shipping fact's reference"
it_log "the courier's report at shipping closed the cash on delivery"

# --- told again, by the bus or by hand under the same reference: nothing more --------
status_fact "$o1" cash_collected 305001 "cash_collected:courier-$o1"
status_fact "$o1" DE
out=$(it_http POST "$PAY_URL/v1/orders/$o1/collected" \
    "{\"amount_minor\":305001,\"reference\":\"cash_collected:courier-$o1\"}" "Authorization: Bearer $courier")
it_assert_eq 201 "$(http_code "$out")" "the same cash reported by hand"
o2=$(new_id) # a later fact of the stream: once it is applied, the repeats were too
confirm "$o2" 61002 PAYMENT_TERMS_ON_DELIVERY
it_wait_until 20 "the second order known" payment_status_is "$o2" pay_on_delivery
status_fact "$o2" cash_collected 100000 "cash_collected:courier-$o2"
it_wait_until 20 "a part collected for the second order" payment_status_is "$o2" partially_paid
it_assert_eq 1 "$(ledger_rows "$o1" collected)" "the repeats recorded nothing"
it_assert_eq 1 "$(events_of "$o1" payment.collected)" "payment.collected once"
it_assert_eq 0 "$(pay_sql "SELECT count(*) FROM payment.refunds WHERE order_id = '$o1'")" "nothing to give back"
it_log "the same cash told three times: recorded once"

# --- what cannot be applied is parked, the stream goes on -------------------------
# (each of another order: the kit holds an order's later facts behind its
# parked one)
ghost=$(new_id)
status_fact "$(new_id)" cash_collected 5000
status_fact "$(new_id)" cash_collected 0 "cash_collected:zero"
status_fact "$ghost" cash_collected 5000 "cash_collected:courier-$ghost"
status_fact "$o2" cash_collected 205001 "cash_collected:courier-$o2-rest"
it_wait_until 20 "the rest collected" payment_status_is "$o2" paid
it_wait_until 10 "parked with their reasons" parked_are "bad_payload bad_payload unknown_order"
it_assert_eq 2 "$(ledger_rows "$o2" collected)" "the part and the rest, nothing parked"
it_assert_eq "$ghost" "$(pay_sql "SELECT correlation_id FROM payment.dead_letters WHERE err = 'unknown_order'")" \
    "the parked cash names its order"
curl -fsS -o /dev/null "$PAY_URL/readyz" || it_fail "the payment service is not ready after parking"
it_log "cash without an amount or a reference, or for an unknown order, parked"
