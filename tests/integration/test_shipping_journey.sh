#!/usr/bin/env bash
# The shipping journey with the real order and inventory services and the
# shipping service against the fake carrier (issue 13, "Tests"): a courier
# order is reserved and quoted (the address corrected by the carrier, CDEK
# by the weight rules, the carrier's cost), assembled, its label bought
# once, handed over by the carrier's webhook, tracked through a duplicate
# and an out-of-order webhook, and delivered: the order delivered and its
# stock written off. A second order's label purchase loses its answer
# (the carrier bought it) and is found, not bought again; the order is
# cancelled and its label voided. A wrong address is quoted "wrong"; a
# quote is overridden by a manager; a webhook without the secret is
# refused; the warehouse list shows only warehouse statuses; a returned
# parcel ships again in a new batch (numbered by the store's date and a
# sequence, added, removed, processed: labels, then the manifest) with the
# history of both rounds kept.
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
sklad=$(order_staff sklad "Sklad Keeper" warehouse '[]' 0)
as_anna=$(it_token manager "$anna")
as_sklad=$(it_token warehouse "$sklad")
root=$(order_staff root "Root Admin" admin '[]' 0)
as_root=$(it_token admin "$root")
# the store's city courier has no API: this journey ships Moscow by CDEK
ship_sql "UPDATE weight_rules SET region = 'nowhere' WHERE carrier = 'city_courier'"
inv_api_ok POST /v1/imports '{"products": [
  {"sku": "KETTLE", "name": "Kettle 1.7 l", "price_minor": 349000, "vat_rate_bp": 2000, "weight_g": 1450, "on_hand": 50}]}' >/dev/null

SHIP_URL=http://127.0.0.1:28141
ship_call() { # METHOD PATH TOKEN [BODY]
    curl -s --max-time 10 -X "$1" "$SHIP_URL$2" -H "Authorization: Bearer $3" \
        ${4:+-H 'Content-Type: application/json' --data-binary "$4"} -w '\n%{http_code}'
}
submit() { # KEY LINE1 [POSTAL] -> order id, reserved
    local out id postal=${3:+,\"postal_code\":\"$3\"}
    out=$(order_submit "$1" "{\"customer\":{\"name\":\"Ivan Petrov\",\"phone\":\"+79123456789\"},
      \"delivery\":{\"method\":\"courier\",\"address\":{\"region\":\"Moscow\",\"city\":\"Moscow\",\"line1\":\"$2\"$postal}},
      \"items\":[{\"sku\":\"KETTLE\",\"quantity\":2}]}")
    [ "$(http_code "$out")" = 201 ] || it_fail "submitting $1: $out"
    id=$(http_body "$out" | jq -r .order_id)
    it_wait_until 20 "stock reserved for $1" order_has_stock "$id" reserved
    echo "$id"
}
to_assembled() { # ORDER
    local out
    out=$(order_move "$1" confirmed "$as_anna")
    [ "$(http_code "$out")" = 200 ] || it_fail "confirming: $out"
    out=$(order_move "$1" assembled "$as_sklad")
    [ "$(http_code "$out")" = 200 ] || it_fail "assembling: $out"
}
order_heard() { # ORDER TYPE
    [ "$(order_sql "SELECT count(*) FROM orders.order_history WHERE order_id = '$1' AND reason = '$2'")" -ge 1 ]
}

# --- quoted: the address corrected, CDEK by weight, the carrier's cost ---------------
o1=$(submit S-1 "Tverskaya 1")
it_wait_until 20 "o1 quoted" ship_quote_is "$o1" quoted
it_assert_eq "corrected cdek cdek_courier 2900 47000" \
    "$(ship_sql "SELECT address_verdict || ' ' || carrier || ' ' || service || ' ' || weight_g || ' ' || carrier_cost_minor FROM shipments WHERE order_id = '$o1'")" \
    "verdict, carrier, service, weight (2 x 1450 g) and the carrier's cost (350.00 + 40.00 a started kg)"
it_assert_eq 101000 "$(ship_sql "SELECT matched_address->>'postal_code' FROM shipments WHERE order_id = '$o1'")" \
    "the carrier's correction kept"
it_wait_until 20 "the order heard shipment.quoted" order_heard "$o1" shipment.quoted

# --- assembled -> the label, once -> handed over -> delivered ---------------------------
to_assembled "$o1"
it_wait_until 20 "o1 labelled" ship_state_is "$o1" labelled
it_wait_until 20 "the order heard the label" order_heard "$o1" shipment.label_created
list=$(ship_call GET "/v1/warehouse/orders?method=courier" "$as_sklad")
it_assert_eq "200 assembled" "$(tail -1 <<<"$list") $(head -n -1 <<<"$list" | jq -r --arg o "$o1" '.items[] | select(.order_id == $o) | .warehouse_status')" \
    "the assembled order on the warehouse's courier list"
it_assert_eq 0 "$(head -n -1 <<<"$(ship_call GET "/v1/warehouse/orders?method=post" "$as_sklad")" | jq '.items | length')" \
    "nothing on the post list"
it_assert_eq 403 "$(tail -1 <<<"$(ship_call GET /v1/warehouse/orders "$(it_token courier "$sklad")")")" \
    "a courier does not read the warehouse list"
ship_track "$o1" AC
it_wait_until 20 "o1 handed over" ship_state_is "$o1" handed_over
it_wait_until 20 "the order handed to the carrier" order_has_status "$o1" handed_to_carrier
fake_carrier POST /_fake/webhooks/faults '{"kind":"duplicate"}' >/dev/null
ship_track "$o1" IT
fake_carrier POST /_fake/webhooks/faults '{"kind":"reorder"}' >/dev/null
ship_track "$o1" AT
ship_track "$o1" DE
it_wait_until 20 "o1 delivered" ship_state_is "$o1" delivered
it_wait_until 20 "the order delivered" order_has_status "$o1" delivered
it_wait_until 20 "the stock written off" order_has_stock "$o1" committed
sleep 1 # the late AT arrives after DE
it_assert_eq "delivered DE" "$(ship_sql "SELECT state || ' ' || tracking_status FROM shipments WHERE order_id = '$o1'")" \
    "a late AT after DE does not move the parcel back"
it_assert_eq "shipment.quoted shipment.created shipment.label_created shipment.handed_over shipment.status_changed shipment.status_changed shipment.status_changed shipment.delivered" \
    "$(ship_events "$o1")" "the parcel's facts, the duplicate and the late event told once and never"
it_assert_eq "1 1" "$(ship_sql "SELECT count(*) FILTER (WHERE NOT applied AND status_code = 'AT') || ' ' || count(*) FILTER (WHERE status_code = 'IT') FROM tracking_events WHERE tracking_number = '$(ship_field "$o1" tracking_number)'")" \
    "the late AT kept unapplied; the duplicate IT kept once"

# --- a purchase whose answer is lost: found, not bought again; cancelled: voided -----------
o2=$(submit S-2 "Tverskaya 2" 125009)
it_wait_until 20 "o2 quoted" ship_quote_is "$o2" quoted
it_assert_eq valid "$(ship_field "$o2" address_verdict)" "a full address is valid"
fake_carrier POST /_fake/faults '{"op":"labels.create","kind":"lose_reply","apply":true,"delay_ms":2500}' >/dev/null
to_assembled "$o2"
it_wait_until 30 "o2 labelled after the lost answer" ship_state_is "$o2" labelled
it_assert_eq 1 "$(fake_carrier GET "/_fake/labels?external_shipment_id=$o2:1" | jq '.labels | length')" \
    "one label sold for o2"
it_assert_eq label_found "$(ship_sql "SELECT kind FROM shipment_log WHERE order_id = '$o2' AND kind LIKE 'label_%'")" \
    "o2's label was found at the carrier, not bought again"
# the store's matrix (data) lets an admin cancel a packed order
order_sql "INSERT INTO orders.transitions VALUES ('assembled', 'cancelled', 'admin') ON CONFLICT DO NOTHING"
out=$(order_move "$o2" cancelled "$as_root" "the customer changed their mind")
[ "$(http_code "$out")" = 200 ] || it_fail "cancelling o2: $out"
it_wait_until 20 "o2's label voided" ship_state_is "$o2" cancelled
it_assert_eq voided "$(fake_carrier GET "/_fake/labels?external_shipment_id=$o2:1" | jq -r '.labels[0].status')" \
    "the label voided at the carrier"
grep -q "shipment.cancelled" <<<"$(ship_events "$o2")" || it_fail "no shipment.cancelled for o2"

# --- a wrong address; a manager's override ---------------------------------------------------
o3=$(submit S-3 "Nowhere lane 13" 125009)
it_wait_until 20 "o3's quote failed" ship_quote_is "$o3" failed
it_assert_eq wrong "$(ship_field "$o3" address_verdict)" "the carrier cannot find the address"
it_wait_until 20 "the order heard the wrong address" order_heard "$o3" shipment.quoted
it_assert_eq 1 "$(order_sql "SELECT count(*) FROM orders.tasks WHERE order_id = '$o3' AND kind = 'wrong_address'")" \
    "a task for the manager to fix the address"
out=$(ship_call POST "/v1/shipments/$o3/quote" "$as_sklad" '{"carrier":"cdek","carrier_id":"se-cdek","service":"cdek_pickup","package":"box","carrier_cost_minor":31500}')
it_assert_eq 403 "$(tail -1 <<<"$out")" "the warehouse does not override a quote"
out=$(ship_call POST "/v1/shipments/$o3/quote" "$as_anna" '{"carrier":"cdek","carrier_id":"se-cdek","service":"cdek_pickup","package":"box","carrier_cost_minor":31500}')
it_assert_eq 200 "$(tail -1 <<<"$out")" "a manager overrides the quote: $out"
it_assert_eq "overridden cdek_pickup 31500" "$(ship_sql "SELECT quote_state || ' ' || service || ' ' || carrier_cost_minor FROM shipments WHERE order_id = '$o3'")" \
    "the manager's choice kept"

# --- webhooks without the secret ----------------------------------------------------------------
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$SHIP_URL/v1/webhooks/carrier" \
    -H 'Content-Type: application/json' -H 'X-Conveyor-Secret: guess' \
    --data '{"resource_type":"API_TRACK","event_id":"x","data":{"tracking_number":"CD1","status_code":"DE"}}')
it_assert_eq 401 "$code" "a webhook with a wrong secret"

# --- a return ships again in a new batch, its history kept -----------------------------------
out=$(ship_call POST "/v1/shipments/$o1/returned" "$as_sklad" '{"reason":"refused at the door"}')
it_assert_eq 200 "$(tail -1 <<<"$out")" "the warehouse records the return: $out"
it_assert_eq returned "$(ship_field "$o1" state)" "the parcel is back"
grep -q "shipment.returned" <<<"$(ship_events "$o1")" || it_fail "no shipment.returned"
out=$(ship_call POST /v1/batches "$as_sklad")
batch=$(head -n -1 <<<"$out" | jq -r .number)
[[ $batch =~ ^[0-9]{8}[0-9]{3}$ ]] || it_fail "a batch number is the date and a sequence: $out"
it_assert_eq "$(TZ=Europe/Moscow date +%Y%m%d)" "${batch:0:8}" "numbered by the store's date"
out=$(ship_call POST /v1/batches "$as_sklad")
it_assert_eq $((10#${batch:8} + 1)) "$((10#$(head -n -1 <<<"$out" | jq -r .number | cut -c9-)))" "the next batch takes the next sequence"
it_assert_eq 200 "$(tail -1 <<<"$(ship_call POST "/v1/batches/$batch/shipments" "$as_sklad" "{\"order_id\":\"$o1\"}")")" "the return added"
it_assert_eq 200 "$(tail -1 <<<"$(ship_call DELETE "/v1/batches/$batch/shipments/$o1" "$as_sklad")")" "removed"
it_assert_eq 200 "$(tail -1 <<<"$(ship_call POST "/v1/batches/$batch/shipments" "$as_sklad" "{\"order_id\":\"$o1\"}")")" "added again"
it_assert_eq 2 "$(ship_field "$o1" round)" "shipped again: round 2"
it_assert_eq 202 "$(tail -1 <<<"$(ship_call POST "/v1/batches/$batch/process" "$as_sklad")")" "the batch processed"
batch_closed() { [ "$(ship_sql "SELECT status FROM batches WHERE number = '$batch'")" = closed ]; }
it_wait_until 30 "the batch closed with its manifest" batch_closed
[ -n "$(ship_sql "SELECT manifest_url FROM batches WHERE number = '$batch'")" ] || it_fail "no manifest for the batch"
it_wait_until 20 "round 2 handed over by the manifest" ship_state_is "$o1" handed_over
it_assert_eq 2 "$(fake_carrier GET /_fake/labels | jq --arg o "$o1" '[.labels[] | select(.external_shipment_id | startswith($o))] | length')" \
    "two labels for o1: one per round"
it_assert_eq "1 2" "$(ship_sql "SELECT min(round) || ' ' || max(round) FROM shipment_log WHERE order_id = '$o1'")" \
    "the history of both rounds kept"
it_assert_eq 409 "$(tail -1 <<<"$(ship_call POST "/v1/batches/$batch/process" "$as_sklad")")" "a batch is processed once"

it_assert_eq 0 "$(fake_carrier GET /_fake/stats | jq .shipments_sold_twice)" "no shipment sold two labels"
it_log "shipping journey: quoted, labelled once, handed over, delivered, voided, overridden"
