#!/usr/bin/env bash
# Batches through the carrier's batch API (issue 13 items 3-5, 8): parcels
# put into a batch before their labels were bought get them from the
# carrier's batch, made under our batch number (external_batch_id),
# processed asynchronously and polled until it ends; when it ends
# completed_with_errors the parcel it bought nothing for is label_failed
# with the carrier's error, the others labelled, the batch closed with its
# manifest, nothing bought twice. A parcel taken out of its batch gets its
# label from its own job again; a batch whose create answer was lost is
# found by our number, never made twice.
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
SHIP_URL=http://127.0.0.1:28141

ship_call() { # METHOD PATH [BODY] -> body, then the status on the last line
    curl -s --max-time 10 -X "$1" "$SHIP_URL$2" -H "Authorization: Bearer $as_sklad" \
        ${3:+-H 'Content-Type: application/json' --data-binary "$3"} -w '\n%{http_code}'
}
submit() { # KEY -> order id, quoted
    local out id
    out=$(order_submit "$1" "{\"customer\":{\"name\":\"Ivan Petrov\",\"phone\":\"+79123456789\"},
      \"delivery\":{\"method\":\"courier\",\"address\":{\"region\":\"Moscow\",\"city\":\"Moscow\",\"line1\":\"Tverskaya 7\",\"postal_code\":\"125009\"}},
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
new_batch() {
    local out
    out=$(ship_call POST /v1/batches)
    [ "$(tail -1 <<<"$out")" = 201 ] || it_fail "no batch: $out"
    head -n -1 <<<"$out" | jq -r .number
}
add() { # BATCH ORDER
    it_assert_eq 200 "$(tail -1 <<<"$(ship_call POST "/v1/batches/$1/shipments" "{\"order_id\":\"$2\"}")")" "$2 added to $1"
}
labels_of() { fake_carrier GET "/_fake/labels?external_shipment_id=$1:1" | jq '.labels | length'; }
fault() { fake_carrier POST /_fake/faults "$1" >/dev/null; }
batch_is() { [ "$(ship_sql "SELECT status FROM batches WHERE number = '$1'")" = "$2" ]; }
label_job_left() { # ORDER: its label job ended without buying (the batch buys)
    [ "$(ship_sql "SELECT count(*) FROM jobs WHERE kind = 'shipping_label' AND payload->>'id' = '$1' AND state = 'done'")" = 1 ]
}
requests_of() { # OP NUMBER: the carrier calls of op naming our batch number
    fake_carrier GET "/_fake/requests?op=$1" | jq --arg n "$2" '[.requests[] | select((.body // "") + .path | contains($n))] | length'
}

# --- a batch bought through the carrier, ending completed_with_errors ----------------------
o1=$(submit B-1)
o2=$(submit B-2)
o3=$(submit B-3)
b1=$(new_batch)
for o in "$o1" "$o2" "$o3"; do add "$b1" "$o"; done
for o in "$o1" "$o2" "$o3"; do assemble "$o"; done
for o in "$o1" "$o2" "$o3"; do
    it_wait_until 20 "$o's label job left it to the batch" label_job_left "$o"
    it_assert_eq to_label "$(ship_field "$o" state)" "$o waits for its batch"
    it_assert_eq 0 "$(labels_of "$o")" "no label bought for $o outside the batch"
done
fault '{"op":"batches.process","kind":"completed_with_errors"}'
it_assert_eq 202 "$(tail -1 <<<"$(ship_call POST "/v1/batches/$b1/process")")" "b1 processed"
it_wait_until 30 "b1 closed" batch_is "$b1" closed
it_assert_eq 1 "$(requests_of batches.create "$b1")" "one carrier batch made under our number $b1"
[ -n "$(ship_sql "SELECT carrier_batch_id FROM batches WHERE number = '$b1'")" ] || it_fail "b1 keeps no carrier batch id"
it_assert_eq 1 "$(requests_of batches.errors "$(ship_sql "SELECT carrier_batch_id FROM batches WHERE number = '$b1'")")" \
    "the carrier's batch errors read once"
# a labelled parcel moves on by itself: the manifest hands it over (an AC
# scan) and its tracking poll (1 s here) may have heard it already
it_assert_eq "1 2" "$(ship_sql "SELECT count(*) FILTER (WHERE state = 'label_failed' AND label_id IS NULL) || ' ' || count(*) FILTER (WHERE state IN ('labelled', 'handed_over') AND label_id IS NOT NULL) FROM shipments WHERE order_id IN ('$o1', '$o2', '$o3')")" \
    "one parcel failed in the carrier's batch, two labelled"
failed=$(ship_sql "SELECT order_id FROM shipments WHERE order_id IN ('$o1', '$o2', '$o3') AND state = 'label_failed'")
[[ $(ship_field "$failed" label_error) == invalid_address:* ]] ||
    it_fail "the carrier's error kept on the failed parcel: $(ship_field "$failed" label_error)"
it_assert_eq 0 "$(labels_of "$failed")" "no label for the failed parcel"
for o in "$o1" "$o2" "$o3"; do
    [ "$o" = "$failed" ] && continue
    it_assert_eq 1 "$(labels_of "$o")" "one label for $o, bought by the batch"
    it_wait_until 20 "$o handed over by the manifest" ship_state_is "$o" handed_over
done
[ -n "$(ship_sql "SELECT manifest_id FROM batches WHERE number = '$b1'")" ] || it_fail "no manifest for b1"
out=$(curl -s -H "Authorization: Bearer $as_anna" "$SHIP_URL/v1/shipments/$failed")
it_assert_eq label_failed "$(jq -r .state <<<"$out")" "the failure visible over HTTP: $out"

# --- a parcel taken out of its batch gets its label from its own job ------------------------
o4=$(submit B-4)
b2=$(new_batch)
add "$b2" "$o4"
assemble "$o4"
it_wait_until 20 "o4's label job left it to the batch" label_job_left "$o4"
it_assert_eq to_label "$(ship_field "$o4" state)" "o4 waits for its batch"
it_assert_eq 200 "$(tail -1 <<<"$(ship_call DELETE "/v1/batches/$b2/shipments/$o4")")" "o4 removed"
it_wait_until 20 "o4 labelled by its own job" ship_state_is "$o4" labelled
it_assert_eq 1 "$(labels_of "$o4")" "one label for o4"

# --- the carrier's batch made, its answer lost: found by our number --------------------------
o5=$(submit B-5)
b3=$(new_batch)
add "$b3" "$o5"
assemble "$o5"
it_wait_until 20 "o5's label job left it to the batch" label_job_left "$o5"
fault '{"op":"batches.create","kind":"lose_reply","apply":true,"delay_ms":2500}'
it_assert_eq 202 "$(tail -1 <<<"$(ship_call POST "/v1/batches/$b3/process")")" "b3 processed"
it_wait_until 30 "b3 closed" batch_is "$b3" closed
[[ $(ship_field "$o5" state) =~ ^(labelled|handed_over)$ ]] || it_fail "o5 not labelled: $(ship_field "$o5" state)"
it_assert_eq 1 "$(requests_of batches.create "$b3")" "the carrier's batch made once, then found by $b3"
it_assert_eq 1 "$(labels_of "$o5")" "one label for o5"

it_assert_eq 0 "$(fake_carrier GET /_fake/stats | jq .shipments_sold_twice)" "no shipment sold two labels"
it_log "shipping batches: through the carrier, completed_with_errors, removal, a lost create"
