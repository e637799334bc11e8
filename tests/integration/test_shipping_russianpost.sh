#!/usr/bin/env bash
# Russian Post tracking (F28; issue 13): with SHIPPING_RUSSIAN_POST_URL set,
# a russian_post parcel is followed through the post's own SOAP tracking
# (getOperationHistory, the fake carrier's /rtm34) instead of the carrier's
# API, its operations mapped to the same statuses: an empty history leaves
# it labelled, accepted (1) hands it over, delivered (2) delivers it and
# the order; an AuthorizationFault or a 503 is waited out, not believed;
# a cdek parcel is still tracked through the carrier.
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
ship_start ship1 1 SHIPPING_WEBHOOK_URL= SHIPPING_RUSSIAN_POST_URL=$SHIP_CARRIER_URL/rtm34 \
    SHIPPING_RUSSIAN_POST_LOGIN=conveyor SHIPPING_RUSSIAN_POST_PASSWORD=$SHIP_API_KEY
order_sources
anna=$(order_staff anna "Anna Smirnova" manager '["moscow"]' 100)
order_shift "$anna" true
sklad=$(order_staff sklad "Sklad Keeper" warehouse '[]' 0)
as_anna=$(it_token manager "$anna")
as_sklad=$(it_token warehouse "$sklad")
ship_sql "UPDATE weight_rules SET region = 'nowhere' WHERE carrier = 'city_courier'"
inv_api_ok POST /v1/imports '{"products": [
  {"sku": "KETTLE", "name": "Kettle 1.7 l", "price_minor": 349000, "vat_rate_bp": 2000, "weight_g": 1450, "on_hand": 50}]}' >/dev/null

submit() { # KEY METHOD -> order id, quoted
    local out id
    out=$(order_submit "$1" "{\"customer\":{\"name\":\"Ivan Petrov\",\"phone\":\"+79123456789\"},
      \"delivery\":{\"method\":\"$2\",\"address\":{\"region\":\"Moscow\",\"city\":\"Moscow\",\"line1\":\"Tverskaya 7\",\"postal_code\":\"125009\"}},
      \"items\":[{\"sku\":\"KETTLE\",\"quantity\":1}]}")
    [ "$(http_code "$out")" = 201 ] || it_fail "submitting $1: $out"
    id=$(http_body "$out" | jq -r .order_id)
    it_wait_until 20 "stock reserved for $1" order_has_stock "$id" reserved
    it_wait_until 20 "$1 quoted" ship_quote_is "$id" quoted
    echo "$id"
}
assemble() {
    local out
    out=$(order_move "$1" confirmed "$as_anna")
    [ "$(http_code "$out")" = 200 ] || it_fail "confirming: $out"
    out=$(order_move "$1" assembled "$as_sklad")
    [ "$(http_code "$out")" = 200 ] || it_fail "assembling: $out"
}
fault() { fake_carrier POST /_fake/faults "$1" >/dev/null; }
post_asked() { # BARCODE: how many times the post's tracking was asked about it
    fake_carrier GET "/_fake/requests?op=russianpost.history" | jq --arg b "$1" '[.requests[] | select(.body | contains($b))] | length'
}
carrier_asked() { # NUMBER: how many times the carrier's tracking was asked about it
    fake_carrier GET "/_fake/requests?op=tracking.get" | jq --arg b "$1" '[.requests[] | select(.path | contains($b))] | length'
}
asked_post() { [ "$(post_asked "$1")" -ge "$2" ]; }

# a courier order whose carrier a manager set to Russian Post (a post
# order is prepaid, and payment is not this test's matter)
p1=$(submit RP-1 courier)
out=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:28141/v1/shipments/$p1/quote" \
    -H "Authorization: Bearer $as_anna" -H 'Content-Type: application/json' \
    --data '{"carrier":"russian_post","carrier_id":"se-russian-post","service":"parcel_online","package":"box","carrier_cost_minor":25000}')
it_assert_eq 200 "$out" "the manager sends p1 with Russian Post"
it_assert_eq russian_post "$(ship_field "$p1" carrier)" "p1 goes with russian_post"
assemble "$p1"
it_wait_until 20 "p1 labelled" ship_state_is "$p1" labelled
barcode=$(ship_field "$p1" tracking_number)

# an empty history: the parcel stays labelled (NY)
it_wait_until 20 "the post asked about $barcode" asked_post "$barcode" 1
it_assert_eq labelled "$(ship_field "$p1" state)" "an empty history changes nothing"
it_assert_eq 0 "$(carrier_asked "$barcode")" "the carrier's API not asked about a russian_post parcel"

# a fault and an outage are waited out (the asks counted before the faults
# are set: a poll may meet the first fault before the scan is added)
n=$(post_asked "$barcode")
fault '{"op":"russianpost.history","kind":"auth_fault"}'
fault '{"op":"russianpost.history","kind":"http","http_status":503}'
ship_track "$p1" AC
it_wait_until 30 "p1 handed over through the post's history" ship_state_is "$p1" handed_over
it_wait_until 20 "the order handed to the carrier" order_has_status "$p1" handed_to_carrier
[ "$(post_asked "$barcode")" -ge $((n + 3)) ] || it_fail "the fault and the outage were not retried past: $(post_asked "$barcode") asks"
ship_track "$p1" DE
it_wait_until 30 "p1 delivered through the post's history" ship_state_is "$p1" delivered
it_wait_until 20 "the order delivered" order_has_status "$p1" delivered
it_assert_eq DE "$(ship_field "$p1" tracking_status)" "the post's 2 is DE"

# a cdek parcel is tracked through the carrier as before
c1=$(submit RP-2 courier)
it_assert_eq cdek "$(ship_field "$c1" carrier)" "a courier parcel goes with cdek (the city courier switched off)"
assemble "$c1"
it_wait_until 20 "c1 labelled" ship_state_is "$c1" labelled
number=$(ship_field "$c1" tracking_number)
ship_track "$c1" AC
it_wait_until 30 "c1 handed over through the carrier" ship_state_is "$c1" handed_over
it_assert_eq 0 "$(post_asked "$number")" "the post not asked about a cdek parcel"
it_log "shipping russian post: tracked through getOperationHistory, faults waited out"
