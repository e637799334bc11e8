#!/usr/bin/env bash
# A replica killed -9 while its worker runs a batch (issue 13, "Tests": "a
# replica killed -9 while buying labels: each label bought once"), on the
# carrier's batch path (POST /v1/batches/{number}/process): two replicas,
# a carrier taking 1 s a call; the replica running the batch job (the one
# with a call in flight at the carrier) is killed -9 while it makes the
# parcels' carrier shipments, then, for a second batch, while the carrier
# makes the batch's manifest and its answer is on the way (held 1.5 s). The
# survivor takes the job when its lease lapses: each parcel's label is
# bought once at the carrier, every parcel ends labelled, the batch is
# closed with one manifest. A third batch whose job runs longer than its
# lease (the carrier taking 0.6 s a call), nobody killed, is kept by its
# worker: never taken by a second one meanwhile. The carrier answers at
# once whenever nothing depends on its slowness (the survivor's runs).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/kit/kit.sh"
source "$(dirname "$0")/kit/inventory.sh"
source "$(dirname "$0")/order/order.sh"
source "$(dirname "$0")/shipping/shipping.sh"

ship_batch_stack
# no tracking polls or webhook subscription: while a batch is processed
# only its job calls the carrier, so the replica with a call in flight runs it.
# The lease: short, so that the survivor waits little for a dead replica's
# job, yet twice a call's timeout (common/jobs.h); the timeout outlasts the
# manifest's held answer (1.5 s) by a margin a loaded machine keeps
REPLICA="JOB_LEASE=5s JOB_WORKERS=2 SHIPPING_CARRIER_TIMEOUT=2500ms SHIPPING_WEBHOOK_URL= SHIPPING_TRACK_POLL=1h"
# shellcheck disable=SC2086
ship_start ship1 1 $REPLICA
# shellcheck disable=SC2086
ship_start ship2 2 $REPLICA
ship_batch_people

batch_of() { # KEY... -> a processing batch of those orders, their label jobs left to it
    local number o ids=()
    number=$(ship_new_batch)
    for key in "$@"; do ids+=("$(ship_submit "$key")"); done
    for o in "${ids[@]}"; do
        ship_batch_add "$number" "$o"
        ship_assemble "$o"
    done
    for o in "${ids[@]}"; do it_wait_until 20 "$o's label job left it to the batch" ship_label_job_left "$o"; done
    echo "$number ${ids[*]}"
}
calls_over() { [ "$(ship_calls "$1")" -gt "$2" ]; } # OP N: more than n calls of op
runner() { # the replica with a call in flight at the carrier
    local name pid
    for name in "$@"; do
        pid=$(it_pid "$name")
        if ss -tnpH state established "dst 127.0.0.1:$SHIP_CARRIER_PORT" | grep -q "pid=$pid,"; then
            echo "$name"
            return 0
        fi
    done
    return 1
}
kill_runner() { # NAME... -> the name of the replica killed -9
    local name deadline=$((SECONDS + 20))
    # one look finds the replica and kills it: a second look could come
    # between two calls and find none
    until name=$(runner "$@"); do
        [ "$SECONDS" -lt "$deadline" ] || it_fail "timed out after 20s waiting for: the batch job's call in flight"
        sleep 0.05
    done
    it_kill "$name" KILL
    echo "$name"
}
settled() { # NUMBER ORDER...: closed with one manifest, each parcel labelled once
    local number=$1 o
    shift
    it_wait_until 60 "$number closed by the survivor" ship_batch_is "$number" closed
    [ -n "$(ship_sql "SELECT manifest_id FROM batches WHERE number = '$number'")" ] || it_fail "no manifest for $number"
    it_assert_eq 1 "$(ship_calls batches.create "$number")" "one carrier batch made under our number $number"
    for o in "$@"; do
        [[ $(ship_field "$o" state) =~ ^(labelled|handed_over)$ ]] || it_fail "$o not labelled: $(ship_field "$o" state)"
        [ -n "$(ship_field "$o" label_id)" ] || it_fail "$o keeps no label"
        it_assert_eq 1 "$(ship_labels_of "$o")" "one label bought for $o"
        it_assert_eq 1 "$(ship_calls manifests.create "$(ship_field "$o" label_id)")" "$o's label in one manifest"
    done
}

latency() { fake_carrier POST /_fake/latency "{\"latency_ms\":$1}" >/dev/null; }

# --- killed while it makes the parcels' carrier shipments -------------------------------------
read -r b1 o1 o2 o3 o4 <<<"$(batch_of C-1 C-2 C-3 C-4)"
latency 1000
it_assert_eq 202 "$(tail -1 <<<"$(ship_call POST "/v1/batches/$b1/process")")" "b1 processed"
it_wait_until 30 "two carrier shipments made" calls_over shipments.create 1
killed=$(kill_runner ship1 ship2)
it_log "$killed killed -9 in b1's batch job with $(ship_calls shipments.create) carrier shipments made"
latency 0 # the survivor's run: nothing waits on the carrier's pace any more
settled "$b1" "$o1" "$o2" "$o3" "$o4"

# --- killed while the carrier makes the manifest (its answer on the way) ------------------------
n=${killed#ship}
# shellcheck disable=SC2086
ship_start "ship${n}b" "$n" $REPLICA
latency 0
read -r b2 o5 o6 <<<"$(batch_of C-5 C-6)"
# the manifest's answer held 1.5 s is the window the kill falls in: the
# other calls need no latency
fake_carrier POST /_fake/faults '{"op":"manifests.create","kind":"lose_reply","apply":true,"delay_ms":1500}' >/dev/null
manifests=$(ship_calls manifests.create)
SHIP_URL=http://127.0.0.1:2814$((3 - n))
it_assert_eq 202 "$(tail -1 <<<"$(ship_call POST "/v1/batches/$b2/process")")" "b2 processed"
it_wait_until 40 "b2's manifest made at the carrier" calls_over manifests.create "$manifests"
killed=$(kill_runner "ship${n}b" "ship$((3 - n))")
it_log "$killed killed -9 with b2's manifest made at the carrier, its answer on the way"
settled "$b2" "$o5" "$o6"

# --- a batch job longer than its lease, nobody killed: kept, never taken twice -------------------
# eight carrier shipments, the batch made and processed: 11 calls of 0.6 s, the lease 5 s
latency 0
if [ "$killed" = "ship${n}b" ]; then SHIP_URL=http://127.0.0.1:2814$((3 - n)); else SHIP_URL=http://127.0.0.1:2814$n; fi
read -r b3 o7 o8 o9 o10 o11 o12 o13 o14 <<<"$(batch_of C-7 C-8 C-9 C-10 C-11 C-12 C-13 C-14)"
latency 600
lookups=$(ship_calls shipments.get)
it_assert_eq 202 "$(tail -1 <<<"$(ship_call POST "/v1/batches/$b3/process")")" "b3 processed"
settled "$b3" "$o7" "$o8" "$o9" "$o10" "$o11" "$o12" "$o13" "$o14"
it_assert_eq "$lookups" "$(ship_calls shipments.get)" "no second worker took b3's job and looked its shipments up"

stats=$(fake_carrier GET /_fake/stats)
it_assert_eq "14 0" "$(jq -r '"\(.labels) \(.shipments_sold_twice)"' <<<"$stats")" "one label per parcel at the carrier ($stats)"
it_log "batch crash: a replica killed -9 making shipments, then making the manifest; each label bought once"
