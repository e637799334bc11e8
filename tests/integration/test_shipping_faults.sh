#!/usr/bin/env bash
# The shipping service against every failure of the fake carrier (issue 13,
# "Tests"), each ending with at most one label per shipment and the right
# status: no rates (the quote failed, a manager's override then ships it),
# 429 with Retry-After on the purchase (waited out, labelled), a 500 after
# the purchase went through (found, not bought again), insufficient funds
# (label_failed, nothing bought), a timeout on the shipment's creation
# after the carrier made it (found by our reference, not made twice), and
# a poll of the tracking when the webhooks never come (handed over and
# delivered by polling alone).
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
ship_start ship1 1 SHIPPING_WEBHOOK_URL=
order_sources
anna=$(order_staff anna "Anna Smirnova" manager '["moscow"]' 100)
order_shift "$anna" true
sklad=$(order_staff sklad "Sklad Keeper" warehouse '[]' 0)
as_anna=$(it_token manager "$anna")
as_sklad=$(it_token warehouse "$sklad")
ship_sql "UPDATE weight_rules SET region = 'nowhere' WHERE carrier = 'city_courier'"
inv_api_ok POST /v1/imports '{"products": [
  {"sku": "KETTLE", "name": "Kettle 1.7 l", "price_minor": 349000, "vat_rate_bp": 2000, "weight_g": 1450, "on_hand": 50}]}' >/dev/null

submit() { # KEY -> order id, reserved
    local out id
    out=$(order_submit "$1" "{\"customer\":{\"name\":\"Ivan Petrov\",\"phone\":\"+79123456789\"},
      \"delivery\":{\"method\":\"courier\",\"address\":{\"region\":\"Moscow\",\"city\":\"Moscow\",\"line1\":\"Tverskaya 7\",\"postal_code\":\"125009\"}},
      \"items\":[{\"sku\":\"KETTLE\",\"quantity\":1}]}")
    [ "$(http_code "$out")" = 201 ] || it_fail "submitting $1: $out"
    id=$(http_body "$out" | jq -r .order_id)
    it_wait_until 20 "stock reserved for $1" order_has_stock "$id" reserved
    echo "$id"
}
assemble() {
    local out
    out=$(order_move "$1" confirmed "$as_anna")
    [ "$(http_code "$out")" = 200 ] || it_fail "confirming: $out"
    out=$(order_move "$1" assembled "$as_sklad")
    [ "$(http_code "$out")" = 200 ] || it_fail "assembling: $out"
}
labels_of() { fake_carrier GET "/_fake/labels?external_shipment_id=$1:1" | jq '.labels | length'; }
fault() { fake_carrier POST /_fake/faults "$1" >/dev/null; }

# --- no rates: the quote fails; a manager's override ships it -------------------------
fault '{"op":"rates","kind":"no_rates"}'
o1=$(submit F-1)
it_wait_until 20 "o1's quote failed" ship_quote_is "$o1" failed
it_assert_eq "valid" "$(ship_field "$o1" address_verdict)" "the address was fine"
out=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:28141/v1/shipments/$o1/quote" \
    -H "Authorization: Bearer $as_anna" -H 'Content-Type: application/json' \
    --data '{"carrier":"cdek","carrier_id":"se-cdek","service":"cdek_courier","package":"box","carrier_cost_minor":39000}')
it_assert_eq 200 "$out" "the manager overrides"
assemble "$o1"
it_wait_until 20 "o1 labelled after the override" ship_state_is "$o1" labelled
it_assert_eq 1 "$(labels_of "$o1")" "one label for o1"

# --- 429 with Retry-After on the purchase ------------------------------------------------
o2=$(submit F-2)
it_wait_until 20 "o2 quoted" ship_quote_is "$o2" quoted
fault '{"op":"labels.create","kind":"http","http_status":429,"retry_after_s":1,"count":2}'
assemble "$o2"
it_wait_until 30 "o2 labelled after the 429s" ship_state_is "$o2" labelled
it_assert_eq 1 "$(labels_of "$o2")" "one label for o2"

# --- a 500 after the purchase went through -------------------------------------------------
o3=$(submit F-3)
it_wait_until 20 "o3 quoted" ship_quote_is "$o3" quoted
fault '{"op":"labels.create","kind":"http","http_status":500,"apply":true}'
assemble "$o3"
it_wait_until 30 "o3 labelled" ship_state_is "$o3" labelled
it_assert_eq 1 "$(labels_of "$o3")" "one label for o3: found, not bought again"

# --- insufficient funds: refused, nothing bought ------------------------------------------
o4=$(submit F-4)
it_wait_until 20 "o4 quoted" ship_quote_is "$o4" quoted
fault '{"op":"labels.create","kind":"insufficient_funds"}'
assemble "$o4"
it_wait_until 20 "o4's label refused" ship_state_is "$o4" label_failed
it_assert_eq 0 "$(labels_of "$o4")" "no label for o4"
[[ $(ship_field "$o4" label_error) == insufficient_funds* ]] || it_fail "the refusal's code kept: $(ship_field "$o4" label_error)"

# --- the shipment's creation times out after the carrier made it ----------------------------
o5=$(submit F-5)
it_wait_until 20 "o5 quoted" ship_quote_is "$o5" quoted
fault '{"op":"shipments.create","kind":"lose_reply","apply":true,"delay_ms":2500}'
assemble "$o5"
it_wait_until 30 "o5 labelled" ship_state_is "$o5" labelled
it_assert_eq 1 "$(labels_of "$o5")" "one label for o5"
made=$(fake_carrier GET "/_fake/requests?op=shipments.create" | jq --arg o "$o5" '[.requests[] | select(.body | contains($o))] | length')
it_assert_eq 1 "$made" "the shipment made once, then found by our reference"

# --- no webhooks: polling alone follows the parcel --------------------------------------------
ship_track "$o2" AC
it_wait_until 20 "o2 handed over by polling" ship_state_is "$o2" handed_over
it_wait_until 20 "the order handed to the carrier" order_has_status "$o2" handed_to_carrier
ship_track "$o2" DE
it_wait_until 20 "o2 delivered by polling" ship_state_is "$o2" delivered
it_wait_until 20 "the order delivered" order_has_status "$o2" delivered

it_assert_eq 0 "$(fake_carrier GET /_fake/stats | jq .shipments_sold_twice)" "no shipment sold two labels"
it_log "shipping faults: no rates, 429, 500 after purchase, insufficient funds, lost create, polling"
