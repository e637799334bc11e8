#!/usr/bin/env bash
# An order cancelled while its parcel is in a batch the carrier is already
# processing (issue 13, F25/F26): the carrier's batch buys its label all
# the same, so once the batch ends that label is voided at the carrier
# (labels.void, as on order.cancelled after a label) and the order hears
# the same facts as a label voided on cancellation; the other parcel of
# the batch is labelled and handed over; nothing bought twice, nothing
# voided twice, the voided label never handed over by the manifest. The
# same when the carrier's batch was made but its answer lost, and the
# cancel came before the retry found it by our number.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/kit/kit.sh"
source "$(dirname "$0")/kit/inventory.sh"
source "$(dirname "$0")/order/order.sh"
source "$(dirname "$0")/shipping/shipping.sh"

# the carrier takes 4 s over a batch: the cancel arrives meanwhile
ship_batch_stack FAKE_CARRIER_BATCH_TIME=4s
ship_start ship1 1 SHIPPING_WEBHOOK_URL=
ship_batch_people
root=$(order_staff root "Root Admin" admin '[]' 0)
as_root=$(it_token admin "$root")
# the store's matrix (data) lets an admin cancel a packed order
order_sql "INSERT INTO orders.transitions VALUES ('assembled', 'cancelled', 'admin') ON CONFLICT DO NOTHING"

o1=$(ship_submit C-1)
o2=$(ship_submit C-2)
b=$(ship_new_batch)
for o in "$o1" "$o2"; do ship_batch_add "$b" "$o"; done
for o in "$o1" "$o2"; do ship_assemble "$o"; done
for o in "$o1" "$o2"; do
    it_wait_until 20 "$o's label job left it to the batch" ship_label_job_left "$o"
done
it_assert_eq 202 "$(tail -1 <<<"$(ship_call POST "/v1/batches/$b/process")")" "the batch processed"
carrier_batch() { ship_sql "SELECT coalesce(carrier_batch_id, '') FROM batches WHERE number = '$b'"; }
it_wait_value 20 "the carrier's batch made" != "" carrier_batch
cb=$(carrier_batch)
it_wait_value 20 "the carrier's batch processing" = 1 ship_calls batches.process "$cb"
it_assert_eq "to_label to_label" "$(ship_sql "SELECT string_agg(state, ' ') FROM shipments WHERE order_id IN ('$o1', '$o2')")" \
    "both parcels wait for the carrier's batch"

out=$(order_move "$o2" cancelled "$as_root" "the customer changed their mind")
[ "$(http_code "$out")" = 200 ] || it_fail "cancelling o2: $out"
it_wait_value 20 "o2's cancel heard by shipping" = t ship_field "$o2" cancel_requested
it_assert_eq processing "$(ship_sql "SELECT status FROM batches WHERE number = '$b'")" \
    "the cancel came while the carrier's batch was processing"

it_wait_until 30 "the batch closed" ship_batch_is "$b" closed
it_wait_value 20 "o2's shipment cancelled" = cancelled ship_field "$o2" state
voided_at_fake() { fake_carrier GET "/_fake/labels?external_shipment_id=$o2:1" | jq -r '[.labels[].status] | join(" ")'; }
it_wait_value 20 "o2's label voided at the carrier" = voided voided_at_fake
[ -n "$(ship_field "$o2" label_id)" ] || it_fail "o2 keeps no label id: the label the batch bought is recorded"
it_assert_eq 1 "$(ship_sql "SELECT count(*) FROM shipment_log WHERE order_id = '$o2' AND kind = 'label_voided'")" \
    "o2's void recorded once"
it_assert_eq 1 "$(ship_calls labels.void "$(ship_field "$o2" label_id)")" "o2's label voided once at the carrier"
it_assert_eq 1 "$(ship_sql "SELECT count(*) FROM outbox WHERE correlation_id = '$o2' AND type = 'shipment.cancelled'")" \
    "the order told once that o2's shipment is cancelled"

# the other parcel of the batch: labelled and handed over by the manifest
it_wait_until 20 "o1 handed over by the manifest" ship_state_is "$o1" handed_over
[ -n "$(ship_sql "SELECT manifest_id FROM batches WHERE number = '$b'")" ] || it_fail "no manifest for the batch"
for o in "$o1" "$o2"; do it_assert_eq 1 "$(ship_labels_of "$o")" "one label for $o"; done
stats=$(fake_carrier GET /_fake/stats)
it_assert_eq "2 1 0" "$(jq -r '"\(.labels) \(.labels_voided) \(.shipments_sold_twice)"' <<<"$stats")" \
    "two labels sold, one voided, none twice: $stats"

# --- the carrier's batch made, its answer lost, an order cancelled before the retry -----------
# The retry finds the carrier's batch by our number, holding the cancelled
# parcel: its label is bought there all the same, so it is voided too.
o3=$(ship_submit C-3)
o4=$(ship_submit C-4)
b2=$(ship_new_batch)
for o in "$o3" "$o4"; do ship_batch_add "$b2" "$o"; done
for o in "$o3" "$o4"; do ship_assemble "$o"; done
for o in "$o3" "$o4"; do
    it_wait_until 20 "$o's label job left it to the batch" ship_label_job_left "$o"
done
fault() { fake_carrier POST /_fake/faults "$1" >/dev/null; }
fault '{"op":"batches.create","kind":"lose_reply","apply":true,"delay_ms":2500}'
# the job's first look-up (nothing made yet) goes through, the retry's is
# held off 6 s: the cancel is heard before the carrier's batch is found
fault '{"op":"batches.get","kind":"http","http_status":429,"retry_after_s":6,"skip":1}'
it_assert_eq 202 "$(tail -1 <<<"$(ship_call POST "/v1/batches/$b2/process")")" "b2 processed"
it_wait_value 20 "b2's carrier batch made, its answer held" = 1 ship_calls batches.create "$b2"
out=$(order_move "$o4" cancelled "$as_root" "the customer changed their mind")
[ "$(http_code "$out")" = 200 ] || it_fail "cancelling o4: $out"
it_wait_value 20 "o4's cancel heard by shipping" = t ship_field "$o4" cancel_requested
it_assert_eq "" "$(ship_sql "SELECT coalesce(carrier_batch_id, '') FROM batches WHERE number = '$b2'")" \
    "the cancel came before the carrier's batch was found"
it_wait_until 40 "b2 closed" ship_batch_is "$b2" closed
it_assert_eq 1 "$(ship_calls batches.create "$b2")" "the carrier's batch made once, then found by $b2"
it_wait_value 20 "o4's shipment cancelled" = cancelled ship_field "$o4" state
voided_o4() { fake_carrier GET "/_fake/labels?external_shipment_id=$o4:1" | jq -r '[.labels[].status] | join(" ")'; }
it_wait_value 20 "o4's label, bought by the found batch, voided at the carrier" = voided voided_o4
it_wait_until 20 "o3 handed over by the manifest" ship_state_is "$o3" handed_over
for o in "$o3" "$o4"; do it_assert_eq 1 "$(ship_labels_of "$o")" "one label for $o"; done
it_assert_eq 1 "$(ship_sql "SELECT count(*) FROM outbox WHERE correlation_id = '$o4' AND type = 'shipment.cancelled'")" \
    "the order told once that o4's shipment is cancelled"
stats=$(fake_carrier GET /_fake/stats)
it_assert_eq "4 2 0" "$(jq -r '"\(.labels) \(.labels_voided) \(.shipments_sold_twice)"' <<<"$stats")" \
    "four labels sold, two voided, none twice: $stats"
it_log "shipping batch cancel: labels the carrier's batch bought for cancelled orders voided, a lost create too"
