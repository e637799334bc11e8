#!/usr/bin/env bash
# The carrier's batch webhook (issue 13 items 3 and 8): the service
# subscribes to it with its tracking webhooks, and a carrier batch's end
# heard that way makes the batch job look at the carrier now instead of at
# its next poll; the webhook is only a nudge (the job reads the batch from
# the carrier's API). Polling stays the fallback: with the webhook lost,
# the batch still closes at the next poll. A webhook heard while the job's
# attempt runs is kept for when it ends. A manifest whose answer was lost
# is found by the batch's labels, even with its parcels handed over
# meanwhile. Here a poll comes 8 s later (SHIPPING_BATCH_POLL) and the
# carrier takes 1 s over a batch.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/kit/kit.sh"
source "$(dirname "$0")/kit/inventory.sh"
source "$(dirname "$0")/order/order.sh"
source "$(dirname "$0")/shipping/shipping.sh"

ship_batch_stack FAKE_CARRIER_BATCH_TIME=1s
# the carrier's calls may take 8 s: a process call's answer is held 6 s below
# (long enough for a loaded machine to look while the attempt still runs)
ship_start ship1 1 SHIPPING_BATCH_POLL=8s SHIPPING_CARRIER_TIMEOUT=8s
ship_batch_people

batch_with() { # KEY -> the number of a batch holding a new order, and the order; its label job left to the batch
    local id number
    id=$(ship_submit "$1")
    number=$(ship_new_batch)
    ship_batch_add "$number" "$id"
    ship_assemble "$id"
    it_wait_until 20 "$1's label job left it to the batch" ship_label_job_left "$id"
    echo "$number $id"
}
subscribed() { [ "$(ship_sql "SELECT state FROM jobs WHERE kind = 'shipping_subscribe'")" = done ]; }
batch_hooks() { # how many batch webhooks the carrier delivered, answered 200
    fake_carrier GET /_fake/webhooks | jq '[.webhooks[] | select(.body | contains("BATCH")) | select(.last_status == 200)] | length'
}

# --- the webhook ends the wait: closed long before the next poll --------------------------------
read -r b1 o1 <<<"$(batch_with W-1)"
it_wait_until 20 "tracking and batch webhooks subscribed" subscribed
start=$SECONDS
it_assert_eq 202 "$(tail -1 <<<"$(ship_call POST "/v1/batches/$b1/process")")" "b1 processed"
it_wait_until 6 "b1 closed after the carrier's batch webhook, before its next poll (8 s)" ship_batch_is "$b1" closed
it_log "b1 closed $((SECONDS - start)) s after it was processed (the next poll was 8 s away)"
it_assert_eq 1 "$(batch_hooks)" "the carrier's batch webhook delivered and answered 200"
[[ $(ship_field "$o1" state) =~ ^(labelled|handed_over)$ ]] || it_fail "o1 not labelled: $(ship_field "$o1" state)"
it_wait_until 20 "o1 handed over (its AC webhook delivered)" ship_state_is "$o1" handed_over

# a batch webhook without the secret is not believed
out=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$SHIP_URL/v1/webhooks/carrier" \
    -H 'Content-Type: application/json' --data-binary '{"resource_type":"API_BATCH","resource_url":"http://x/v1/batches/se-batch-1"}')
it_assert_eq 401 "$out" "a batch webhook without the secret refused"

# --- the webhook lost: the poll still closes the batch ------------------------------------------
read -r b2 o2 <<<"$(batch_with W-2)"
fake_carrier POST /_fake/webhooks/faults '{"kind":"drop","count":1}' >/dev/null
start=$SECONDS
it_assert_eq 202 "$(tail -1 <<<"$(ship_call POST "/v1/batches/$b2/process")")" "b2 processed"
sleep 4
ship_batch_is "$b2" processing || it_fail "b2 closed without its webhook before its poll: $(ship_sql "SELECT status FROM batches WHERE number = '$b2'")"
it_wait_until 45 "b2 closed by its poll" ship_batch_is "$b2" closed
it_log "b2 closed $((SECONDS - start)) s after it was processed, its webhook lost"
[[ $(ship_field "$o2" state) =~ ^(labelled|handed_over)$ ]] || it_fail "o2 not labelled: $(ship_field "$o2" state)"

# --- the webhook while the job runs: its wake kept for when the attempt ends --------------------
# The carrier's batch ends (1 s) while the job still waits for the answer
# to its process call (held 6 s): the webhook comes while the attempt
# runs, and that attempt then asks for its next look 8 s away. The wake
# must outlive the attempt: the job looks again as soon as it ends.
read -r b3 o3 <<<"$(batch_with W-3)"
hooks=$(batch_hooks)
fake_carrier POST /_fake/faults '{"op":"batches.process","kind":"lose_reply","apply":true,"delay_ms":6000}' >/dev/null
start=$SECONDS
it_assert_eq 202 "$(tail -1 <<<"$(ship_call POST "/v1/batches/$b3/process")")" "b3 processed"
it_wait_value 15 "b3's batch webhook delivered and answered 200" = $((hooks + 1)) batch_hooks
it_assert_eq running "$(ship_sql "SELECT state FROM jobs WHERE dedup_key = 'shipping_batch:$b3'")" \
    "the webhook came while the batch job's attempt ran"
it_wait_until 8 "b3 closed right after the attempt the webhook came in (its next poll 8 s away)" ship_batch_is "$b3" closed
it_log "b3 closed $((SECONDS - start)) s after it was processed, its webhook heard mid-attempt"
[[ $(ship_field "$o3" state) =~ ^(labelled|handed_over)$ ]] || it_fail "o3 not labelled: $(ship_field "$o3" state)"

# --- the manifest's answer lost, its parcels handed over meanwhile: found by the batch's labels --
# The carrier makes b4's manifest and its AC scans reach us as webhooks
# (both parcels handed over) while the answer to the manifest call is held
# past the call's timeout (8 s). The retry finds the manifest by the
# batch's labels, although none of its parcels is labelled any more: the
# batch keeps it, and none is made twice.
o4=$(ship_submit W-4)
o5=$(ship_submit W-5)
b4=$(ship_new_batch)
for o in "$o4" "$o5"; do ship_batch_add "$b4" "$o"; done
for o in "$o4" "$o5"; do ship_assemble "$o"; done
for o in "$o4" "$o5"; do it_wait_until 20 "$o's label job left it to the batch" ship_label_job_left "$o"; done
manifests=$(ship_calls manifests.create)
fake_carrier POST /_fake/faults '{"op":"manifests.create","kind":"lose_reply","apply":true,"delay_ms":12000}' >/dev/null
it_assert_eq 202 "$(tail -1 <<<"$(ship_call POST "/v1/batches/$b4/process")")" "b4 processed"
processed=$SECONDS
it_wait_value 20 "b4's manifest made at the carrier, its answer held" = $((manifests + 1)) ship_calls manifests.create
for o in "$o4" "$o5"; do it_wait_until 10 "$o handed over by the manifest's scan" ship_state_is "$o" handed_over; done
# the scans alone do not close it: it waits for the manifest's answer, or
# on a machine slow enough to have reached it, for the call's timeout (8 s)
# and the retry that finds the manifest
if [ "$(ship_sql "SELECT status FROM batches WHERE number = '$b4'")" != processing ] &&
    [ $((SECONDS - processed)) -lt 8 ]; then
    it_fail "b4 left processing $((SECONDS - processed)) s after it was processed, before its manifest call's timeout (8 s): the scans closed it"
fi
it_wait_until 30 "b4 closed" ship_batch_is "$b4" closed
made=$(fake_carrier GET /_fake/requests?op=manifests.create | jq -r --arg l "$(ship_field "$o4" label_id)" \
    '[.requests[] | select(.body | contains($l))] | length')
it_assert_eq 1 "$made" "one manifest made for b4's labels"
[ -n "$(ship_sql "SELECT manifest_id FROM batches WHERE number = '$b4'")" ] ||
    it_fail "b4 closed without the manifest the carrier made for it"
it_assert_eq 0 "$(fake_carrier GET /_fake/stats | jq .shipments_sold_twice)" "no shipment sold two labels"
it_log "batch webhook: ends the poll early, heard mid-attempt too; lost, the poll closes the batch"
