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

ship_batch_stack
ship_start ship1 1 SHIPPING_WEBHOOK_URL=
ship_batch_people

fault() { fake_carrier POST /_fake/faults "$1" >/dev/null; }

# --- a batch bought through the carrier, ending completed_with_errors ----------------------
o1=$(ship_submit B-1)
o2=$(ship_submit B-2)
o3=$(ship_submit B-3)
b1=$(ship_new_batch)
for o in "$o1" "$o2" "$o3"; do ship_batch_add "$b1" "$o"; done
for o in "$o1" "$o2" "$o3"; do ship_assemble "$o"; done
for o in "$o1" "$o2" "$o3"; do
    it_wait_until 20 "$o's label job left it to the batch" ship_label_job_left "$o"
    it_assert_eq to_label "$(ship_field "$o" state)" "$o waits for its batch"
    it_assert_eq 0 "$(ship_labels_of "$o")" "no label bought for $o outside the batch"
done
fault '{"op":"batches.process","kind":"completed_with_errors"}'
it_assert_eq 202 "$(tail -1 <<<"$(ship_call POST "/v1/batches/$b1/process")")" "b1 processed"
it_wait_until 30 "b1 closed" ship_batch_is "$b1" closed
it_assert_eq 1 "$(ship_calls batches.create "$b1")" "one carrier batch made under our number $b1"
[ -n "$(ship_sql "SELECT carrier_batch_id FROM batches WHERE number = '$b1'")" ] || it_fail "b1 keeps no carrier batch id"
it_assert_eq 1 "$(ship_calls batches.errors "$(ship_sql "SELECT carrier_batch_id FROM batches WHERE number = '$b1'")")" \
    "the carrier's batch errors read once"
# a labelled parcel moves on by itself: the manifest hands it over (an AC
# scan) and its tracking poll (1 s here) may have heard it already
it_assert_eq "1 2" "$(ship_sql "SELECT count(*) FILTER (WHERE state = 'label_failed' AND label_id IS NULL) || ' ' || count(*) FILTER (WHERE state IN ('labelled', 'handed_over') AND label_id IS NOT NULL) FROM shipments WHERE order_id IN ('$o1', '$o2', '$o3')")" \
    "one parcel failed in the carrier's batch, two labelled"
failed=$(ship_sql "SELECT order_id FROM shipments WHERE order_id IN ('$o1', '$o2', '$o3') AND state = 'label_failed'")
[[ $(ship_field "$failed" label_error) == invalid_address:* ]] ||
    it_fail "the carrier's error kept on the failed parcel: $(ship_field "$failed" label_error)"
it_assert_eq 0 "$(ship_labels_of "$failed")" "no label for the failed parcel"
for o in "$o1" "$o2" "$o3"; do
    [ "$o" = "$failed" ] && continue
    it_assert_eq 1 "$(ship_labels_of "$o")" "one label for $o, bought by the batch"
    it_wait_until 20 "$o handed over by the manifest" ship_state_is "$o" handed_over
done
[ -n "$(ship_sql "SELECT manifest_id FROM batches WHERE number = '$b1'")" ] || it_fail "no manifest for b1"
out=$(curl -s -H "Authorization: Bearer $as_anna" "$SHIP_URL/v1/shipments/$failed")
it_assert_eq label_failed "$(jq -r .state <<<"$out")" "the failure visible over HTTP: $out"

# --- a parcel taken out of its batch gets its label from its own job ------------------------
o4=$(ship_submit B-4)
b2=$(ship_new_batch)
ship_batch_add "$b2" "$o4"
ship_assemble "$o4"
it_wait_until 20 "o4's label job left it to the batch" ship_label_job_left "$o4"
it_assert_eq to_label "$(ship_field "$o4" state)" "o4 waits for its batch"
it_assert_eq 200 "$(tail -1 <<<"$(ship_call DELETE "/v1/batches/$b2/shipments/$o4")")" "o4 removed"
it_wait_until 20 "o4 labelled by its own job" ship_state_is "$o4" labelled
it_assert_eq 1 "$(ship_labels_of "$o4")" "one label for o4"

# --- the carrier's batch made, its answer lost: found by our number --------------------------
o5=$(ship_submit B-5)
b3=$(ship_new_batch)
ship_batch_add "$b3" "$o5"
ship_assemble "$o5"
it_wait_until 20 "o5's label job left it to the batch" ship_label_job_left "$o5"
fault '{"op":"batches.create","kind":"lose_reply","apply":true,"delay_ms":2500}'
it_assert_eq 202 "$(tail -1 <<<"$(ship_call POST "/v1/batches/$b3/process")")" "b3 processed"
it_wait_until 30 "b3 closed" ship_batch_is "$b3" closed
[[ $(ship_field "$o5" state) =~ ^(labelled|handed_over)$ ]] || it_fail "o5 not labelled: $(ship_field "$o5" state)"
it_assert_eq 1 "$(ship_calls batches.create "$b3")" "the carrier's batch made once, then found by $b3"
it_assert_eq 1 "$(ship_labels_of "$o5")" "one label for o5"

# --- the create's answer lost, a parcel assembled before the retry --------------------------------
# o7 is in the batch with o6 but its order is assembled only once the
# carrier's batch was made and its answer lost (the retry's look-up held
# off for 6 s by a 429). Processing the batch made every parcel of it
# ready for a label, o7 too, so the lost create held o7 already: the
# retry adopts the carrier's batch found by our number, o7 ends labelled
# with one label, never label_failed.
o6=$(ship_submit B-6)
o7=$(ship_submit B-7)
b4=$(ship_new_batch)
ship_batch_add "$b4" "$o6"
ship_batch_add "$b4" "$o7"
ship_assemble "$o6"
it_wait_until 20 "o6's label job left it to the batch" ship_label_job_left "$o6"
fault '{"op":"batches.create","kind":"lose_reply","apply":true,"delay_ms":2500}'
# the job's first look-up (nothing made yet) goes through, the retry's is
# held off: armed before processing, as the retry comes 1 s after the create
fault '{"op":"batches.get","kind":"http","http_status":429,"retry_after_s":6,"skip":1}'
it_assert_eq 202 "$(tail -1 <<<"$(ship_call POST "/v1/batches/$b4/process")")" "b4 processed"
it_wait_value 20 "b4's carrier batch made, its answer held" = 1 ship_calls batches.create "$b4"
it_assert_eq "to_label batch:$b4" "$(ship_sql "SELECT state || ' ' || label_buyer FROM shipments WHERE order_id = '$o7'")" \
    "o7 taken by b4 when its create was sent"
it_assert_eq 1 "$(ship_calls batches.create "$(ship_field "$o7" carrier_shipment_id)")" "the lost create held o7's shipment"
ship_assemble "$o7"
it_wait_until 30 "b4 closed" ship_batch_is "$b4" closed
it_wait_value 30 "o7 labelled" = labelled ship_field "$o7" state
it_assert_eq 1 "$(ship_calls batches.create "$b4")" "the carrier's batch made once, then found by $b4"
for o in "$o6" "$o7"; do it_assert_eq 1 "$(ship_labels_of "$o")" "one label for $o"; done

it_assert_eq 0 "$(fake_carrier GET /_fake/stats | jq .shipments_sold_twice)" "no shipment sold two labels"
it_log "shipping batches: through the carrier, completed_with_errors, removal, a lost create"
