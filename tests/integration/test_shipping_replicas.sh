#!/usr/bin/env bash
# Two shipping replicas buying labels for eight assembled orders against a
# carrier that takes 1.5 s a call (issue 13, "Tests"): one replica is
# killed -9 while its purchases are in flight at the carrier, which
# completes them; their answers are lost. The survivor takes the dead
# replica's jobs when their leases lapse, looks each label up by our
# reference before buying, and every order ends labelled with exactly one
# label sold by the carrier.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/kit/kit.sh"
source "$(dirname "$0")/kit/inventory.sh"
source "$(dirname "$0")/order/order.sh"
source "$(dirname "$0")/shipping/shipping.sh"

ORDERS=8
kit_dbs
order_dbs
inv_dbs
ship_dbs
kit_start_busd
INV_FEED_REPLAY=tcp://127.0.0.1:25561
ship_start_fake FAKE_CARRIER_THREADS=32
order_start order1 1 REPLAY_PEERS=inventory=tcp://127.0.0.1:25631,$SHIP_PEERS JOB_POLL=100ms
inv_start_ready inv 1
ship_start ship1 1 JOB_LEASE=8s JOB_WORKERS=4 SHIPPING_CARRIER_TIMEOUT=3s
ship_start ship2 2 JOB_LEASE=8s JOB_WORKERS=4 SHIPPING_CARRIER_TIMEOUT=3s
order_sources
anna=$(order_staff anna "Anna Smirnova" manager '["moscow"]' 100)
order_shift "$anna" true
sklad=$(order_staff sklad "Sklad Keeper" warehouse '[]' 0)
as_anna=$(it_token manager "$anna")
as_sklad=$(it_token warehouse "$sklad")
ship_sql "UPDATE weight_rules SET region = 'nowhere' WHERE carrier = 'city_courier'"
inv_api_ok POST /v1/imports '{"products": [
  {"sku": "KETTLE", "name": "Kettle 1.7 l", "price_minor": 349000, "vat_rate_bp": 2000, "weight_g": 1450, "on_hand": 500}]}' >/dev/null

ids=()
for i in $(seq 1 $ORDERS); do
    out=$(order_submit "R-$i" "{\"customer\":{\"name\":\"Ivan Petrov\",\"phone\":\"+79123456789\"},
      \"delivery\":{\"method\":\"courier\",\"address\":{\"region\":\"Moscow\",\"city\":\"Moscow\",\"line1\":\"Tverskaya $i\",\"postal_code\":\"125009\"}},
      \"items\":[{\"sku\":\"KETTLE\",\"quantity\":1}]}")
    [ "$(http_code "$out")" = 201 ] || it_fail "submitting R-$i: $out"
    ids+=("$(http_body "$out" | jq -r .order_id)")
done
for id in "${ids[@]}"; do
    it_wait_until 30 "$id quoted" ship_quote_is "$id" quoted
    out=$(order_move "$id" confirmed "$as_anna")
    [ "$(http_code "$out")" = 200 ] || it_fail "confirming $id: $out"
done
fake_carrier POST /_fake/latency '{"latency_ms":1500}' >/dev/null
for id in "${ids[@]}"; do
    out=$(order_move "$id" assembled "$as_sklad")
    [ "$(http_code "$out")" = 200 ] || it_fail "assembling $id: $out"
done
purchases_started() {
    [ "$(fake_carrier GET '/_fake/requests?op=labels.create' | jq '.requests | length')" -ge 2 ]
}
it_wait_until 30 "label purchases in flight" purchases_started
it_kill ship2 KILL
it_log "replica 2 killed -9 with purchases in flight"
labelled_all() {
    [ "$(ship_sql "SELECT count(*) FROM shipments WHERE state = 'labelled'")" -eq $ORDERS ]
}
it_wait_until 90 "every order labelled by the survivor" labelled_all
stats=$(fake_carrier GET /_fake/stats)
it_assert_eq "$ORDERS 0" "$(jq -r '"\(.labels) \(.shipments_sold_twice)"' <<<"$stats")" \
    "one label per shipment at the carrier ($stats)"
it_assert_eq $ORDERS "$(ship_sql "SELECT count(DISTINCT tracking_number) FROM shipments")" \
    "every order kept its own tracking number"
found=$(ship_sql "SELECT count(*) FROM shipment_log WHERE kind = 'label_found'")
it_log "labels found after the kill instead of bought again: $found"
it_log "replicas: $ORDERS labels, each bought once, a replica killed mid-purchase"
