#!/usr/bin/env bash
# The bus as an attacker finds it (issue 9): with no key, with a key busd
# does not trust, with a trusted key of the wrong role, and with another
# service's key, nobody reads the bus, asks for history, forges or halts a
# stream, speaks for another source, or fills the consumer's database —
# and the real stream keeps flowing, every tick applied once, in order.
# Each refusal is checked where it happens (busd's and the replay
# server's counters), and a positive control proves each probe can see
# what it is refused.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/kit/kit.sh"

kit_dbs
PROD_KEY=$(it_key service kitprod)
CONS_KEY=$(it_key service kitcons)
SOURCE_KEY=$(it_key source kitsource)
OPS_KEY=$(it_key operator ops)
# a well-formed key nobody trusts: issued into a directory busd never reads
mkdir -p "$IT_RUN/stranger"
"$IT_BIN/conveyor" key new --source kitsource --file stranger --dir "$IT_RUN/stranger" \
    --secret-dir "$IT_RUN/stranger" >/dev/null || it_fail "could not make the stranger's key"
STRANGER_KEY=$IT_RUN/stranger/stranger.key_secret
PROD_PUBLIC=$(awk -F'"' '/public-key/ {print $2}' "$BUS_KEYS_DIR/kitprod.key")

kit_start_busd
kit_start_cons cons 2
kit_start_prod prod
it_wait_until 20 "kitcons ready" kit_http_ok 28092 /readyz
it_wait_until 20 "kitprod ready" kit_http_ok 28091 /readyz
TOTAL=100
kit_produce 100 >/dev/null
it_wait_until 30 "100 applied" kit_applied_at_least 100

# probe AS ARGS...: busprobe with a key (none, stranger, source, cons,
# prod, ops); prints its one line
probe() {
    local who=$1
    shift
    case $who in
    none) env BUS_SECURITY=off BUS_CERT= "$IT_BIN/busprobe" "$@" ;;
    stranger) env BUS_CERT="$STRANGER_KEY" "$IT_BIN/busprobe" "$@" ;;
    source) env BUS_CERT="$SOURCE_KEY" "$IT_BIN/busprobe" "$@" ;;
    cons) env BUS_CERT="$CONS_KEY" "$IT_BIN/busprobe" "$@" ;;
    prod) env BUS_CERT="$PROD_KEY" "$IT_BIN/busprobe" "$@" ;;
    ops) env BUS_CERT="$OPS_KEY" "$IT_BIN/busprobe" "$@" ;;
    esac
}
busd_metric() {
    kit_metric 28080 "$1"
}
# sql_is SQL VALUE: for it_wait_until (evaluated on every try)
sql_is() {
    [ "$(it_psql "$1")" = "$2" ]
}
# metric_at_least PORT NAME MIN
metric_at_least() {
    [ "$(kit_metric "$1" "$2")" -ge "$3" ]
}
# busd_keys_below N: busd trusts fewer than N keys now
busd_keys_below() {
    [ "$(curl -fsS http://127.0.0.1:28080/readyz | jq .keys)" -lt "$1" ]
}
produce_more() {
    kit_produce "$1" >/dev/null
    TOTAL=$((TOTAL + $1))
    it_wait_until 30 "$TOTAL applied" kit_applied_at_least "$TOTAL"
}

# --- 1. reading the bus ------------------------------------------------------------
# listen_each PREFIX TAG: no key, an untrusted key, a source key and an
# operator's key (the positive control) listen to PREFIX while 50 ticks are
# produced; the first three must hear nothing. Sets HEARD: the messages
# the operator's key heard.
listen_each() {
    local prefix=$1 tag=$2 subscriptions who listeners=()
    subscriptions=$(busd_metric busd_subscriptions)
    for who in none stranger source ops; do
        probe "$who" listen "$KIT_BUS_OUT" "$prefix" 4000 >"$IT_RUN/listen-$tag-$who.out" &
        listeners+=($!)
    done
    # the operator's subscription reaches busd (the refused ones never will)
    it_wait_until 10 "the control listener subscribed to $prefix" \
        metric_at_least 28080 busd_subscriptions $((subscriptions + 1))
    produce_more 50
    wait "${listeners[@]}"
    for who in none stranger source; do
        it_assert_eq "received 0" "$(cat "$IT_RUN/listen-$tag-$who.out")" "what a $who key hears of $prefix"
    done
    HEARD=$(awk '{print $2}' "$IT_RUN/listen-$tag-ops.out")
}
listen_each kitprod/ plain
[ "$HEARD" -ge 50 ] || it_fail "the operator's key, the positive control, heard $HEARD of 50 ticks"
it_log "reading the bus: no key, an untrusted key and a source key hear nothing; an operator's hears $HEARD"

# --- 1b. reading the batch form ("+kitprod/": a relay's run as one message, what
# the kit's consumers subscribe to) is the same right as reading the stream --------
live_before=$(kit_metric 28092 'inbox_live_events_total{stream="kitprod"}')
listen_each +kitprod/ batch
[ "$HEARD" -ge 1 ] || it_fail "the operator's key, the positive control, heard nothing of +kitprod/"
# the consumer took those 50 live, in the batch form, not by replay
live=$(($(kit_metric 28092 'inbox_live_events_total{stream="kitprod"}') - live_before))
[ "$live" -ge 50 ] || it_fail "kitcons took $live of 50 ticks live from busd (the rest by replay)"
it_log "reading the batch form: the same keys refused; the operator heard $HEARD messages; kitcons took $live ticks live"

# --- 2. forging the next seq of someone else's stream --------------------------------
epoch=$(it_psql "SELECT epoch FROM kitprod.outbox_streams")
head=$(it_psql "SELECT last_seq FROM kitprod.outbox_streams")
# the probes side by side: one a busd refuses waits its 3 s for a subscriber
# in vain, and the four waits need not follow each other
probes=()
for who in none stranger source cons; do
    probe "$who" publish "$KIT_BUS_IN" kitprod/kit.tick kitprod $((head + 1)) "$epoch" 5 forged \
        >"$IT_RUN/forge-$who.out" &
    probes+=($!)
done
wait "${probes[@]}"
produce_more 20
kit_assert_exactly_once_in_order "$TOTAL"
it_assert_eq 0 "$(it_psql "SELECT count(*) FROM kitcons.kit_applied WHERE correlation_id = 'forged'")" \
    "forged ticks applied"
[ "$(busd_metric 'busd_refused_total{reason="not_its_stream"}')" -ge 5 ] ||
    it_fail "busd did not count the service key publishing another stream"
[ "$(busd_metric bus_connections_refused_total)" -ge 1 ] ||
    it_fail "busd did not count a refused connection"
it_log "forging: next-seq events with no key, untrusted, source and another service's key never applied"

# --- 2b. batch frames: a run of events in ONE frame, as a relay sends -----------------
# busd checks a batch whole, the sender's key once for all of it, and
# forwards nothing of one it refuses; the bus keeps running. Control: the
# producer's own key gets a batch of heartbeats through, each forwarded
# as the ordinary [kitprod/$hb][envelope] an operator hears.
refused=$(busd_metric 'busd_refused_total{reason="not_its_stream"}')
head=$(it_psql "SELECT last_seq FROM kitprod.outbox_streams")
out=$(probe cons batch "$KIT_BUS_IN" kitprod kit.tick $((head + 1)) "$epoch" 20 forged-batch)
it_assert_eq "sent 20 heard_subscriber yes" "$out" "another service's key sending a batch"
it_wait_until 10 "busd refused the batch" \
    metric_at_least 28080 'busd_refused_total{reason="not_its_stream"}' $((refused + 1))
produce_more 20
kit_assert_exactly_once_in_order "$TOTAL"
it_assert_eq 0 "$(it_psql "SELECT count(*) FROM kitcons.kit_applied WHERE correlation_id = 'forged-batch'")" \
    "events of a refused batch applied"
it_assert_eq $((refused + 1)) "$(busd_metric 'busd_refused_total{reason="not_its_stream"}')" \
    "refusals counted for one batch of 20 events of another stream"
# hb_heard WHO: what an operator hears of kitprod/$hb while WHO sends a
# batch of 100 heartbeats of kitprod (the relay's own beat adds ~1 a second)
hb_heard() {
    local subscriptions
    subscriptions=$(busd_metric busd_subscriptions)
    probe ops listen "$KIT_BUS_OUT" 'kitprod/$hb' 3000 >"$IT_RUN/listen-hb-$1.out" &
    local listener=$!
    it_wait_until 10 "the operator listens" metric_at_least 28080 busd_subscriptions $((subscriptions + 1))
    head=$(it_psql "SELECT last_seq FROM kitprod.outbox_streams")
    probe "$1" batch "$KIT_BUS_IN" kitprod '$hb' "$head" "$epoch" 100 "hb-$1" >/dev/null
    wait "$listener"
    awk '{print $2}' "$IT_RUN/listen-hb-$1.out"
}
heard=$(hb_heard cons)
[ "$heard" -lt 100 ] || it_fail "another service's batch of 100 heartbeats was forwarded ($heard heard)"
heard=$(hb_heard prod)
[ "$heard" -ge 100 ] || it_fail "the producer's own batch of 100 heartbeats, the control: $heard heard"
# refused by what the frame is, whoever sends it: nothing forwarded
for how in cut:batch_malformed mixed:batch_mixed_streams; do
    before=$(busd_metric "busd_rejected_total{reason=\"${how#*:}\"}")
    probe prod batch "$KIT_BUS_IN" kitprod kit.tick $((head + 1)) "$epoch" 5 "bad-batch" "${how%:*}" >/dev/null
    it_wait_until 10 "busd counted a ${how%:*} batch" \
        metric_at_least 28080 "busd_rejected_total{reason=\"${how#*:}\"}" $((before + 1))
done
before=$(busd_metric 'busd_rejected_total{reason="batch_ext"}')
probe source batch "$KIT_BUS_IN" ext kit.external 0 0 3 ext-batch >/dev/null
it_wait_until 10 "busd counted an ext batch" \
    metric_at_least 28080 'busd_rejected_total{reason="batch_ext"}' $((before + 1))
produce_more 20
kit_assert_exactly_once_in_order "$TOTAL"
it_assert_eq 0 "$(it_psql "SELECT count(*) FROM kitcons.kit_applied WHERE correlation_id = 'bad-batch'")" \
    "events of malformed batches applied"
it_assert_eq 0 "$(it_psql "SELECT count(*) FROM kitcons.kit_external WHERE key = 'ext-batch'")" \
    "events of an ext batch applied"
it_running busd || it_fail "busd died on batch frames"
it_log "batches: another stream's refused whole (one refusal for 20 events), cut, mixed and ext ones rejected; the producer's own forwarded as $heard ordinary messages"

# --- 3. halting a stream with a forged epoch ------------------------------------------
future=$((epoch + 10000000))
probes=()
for who in none stranger source cons; do
    probe "$who" publish "$KIT_BUS_IN" 'kitprod/$hb' kitprod "$head" "$future" 3 >/dev/null &
    probes+=($!)
done
wait "${probes[@]}"
# even the producer's own key claiming a new epoch halts nothing: the
# consumer asks the producer's replay endpoint, which knows better
probe prod publish "$KIT_BUS_IN" 'kitprod/$hb' kitprod "$head" "$future" 3 >"$IT_RUN/hb-prod.out"
grep -q "heard_subscriber yes" "$IT_RUN/hb-prod.out" || it_fail "the producer's key was not heard"
produce_more 10
it_assert_eq 200 "$(kit_http_status 28092 /readyz)" "the consumer's readiness after forged epochs"
it_assert_eq "" "$(it_psql "SELECT halted_reason FROM kitcons.inbox_offsets WHERE stream = 'kitprod'")" \
    "the consumer's halt"
it_assert_eq "$epoch" "$(it_psql "SELECT epoch FROM kitcons.inbox_offsets WHERE stream = 'kitprod'")" \
    "the epoch the consumer follows"
kit_assert_exactly_once_in_order "$TOTAL"
it_log "halting: forged far-future epochs halt nothing, not even under the producer's own key"

# --- 4. replay ---------------------------------------------------------------------
# side by side too: each waits its 3 s for an answer that never comes, and
# so does the crash of issue 9: a 300-byte stream name (with a key that may ask)
probes=()
for who in none stranger source; do
    BUS_PEER_KEY=$PROD_PUBLIC probe "$who" replay tcp://127.0.0.1:25591 kitprod \
        >"$IT_RUN/replay-$who.out" &
    probes+=($!)
done
BUS_PEER_KEY=$PROD_PUBLIC probe ops replay tcp://127.0.0.1:25591 @300 >"$IT_RUN/replay-long.out" &
probes+=($!)
answer=$(BUS_PEER_KEY=$PROD_PUBLIC probe ops replay tcp://127.0.0.1:25591 kitprod)
wait "${probes[@]}"
for who in none stranger source; do
    it_assert_eq "no answer" "$(cat "$IT_RUN/replay-$who.out")" "replay asked with a $who key"
done
[[ $answer == "answered status 0 events "* ]] || it_fail "the operator's replay, the control: $answer"
it_assert_eq "no answer" "$(cat "$IT_RUN/replay-long.out")" "a 300-byte stream name"
it_running prod || it_fail "kitprod died on a 300-byte replay request"
answer=$(BUS_PEER_KEY=$PROD_PUBLIC probe ops replay tcp://127.0.0.1:25591 kitprod 5)
[[ $answer == "answered status 0 events "* ]] || it_fail "replay after the long name: $answer"
[ "$(kit_metric 28091 bus_connections_refused_total)" -ge 2 ] ||
    it_fail "the replay server did not count refused connections"
it_log "replay: no answer without a trusted service or operator key; a 300-byte name is ignored"

# --- 5. sources speak for themselves only --------------------------------------------
probe source publish "$KIT_BUS_IN" ext/kit.external othersource 0 0 1 spoofed-1 >/dev/null
probe source publish "$KIT_BUS_IN" kitprod/kit.tick kitprod $((head + 100)) "$epoch" 1 forged >/dev/null
probe source publish "$KIT_BUS_IN" ext/kit.external kitsource 0 0 1 own-1 >/dev/null
it_wait_until 20 "the source's own event applied" \
    sql_is "SELECT count(*) FROM kitcons.kit_external WHERE key = 'own-1'" 1
it_assert_eq 0 "$(it_psql "SELECT count(*) FROM kitcons.kit_external WHERE key = 'spoofed-1'")" \
    "an event published under another source's name"
[ "$(busd_metric 'busd_refused_total{reason="not_its_source"}')" -ge 1 ] ||
    it_fail "busd did not count the spoofed source"
[ "$(busd_metric 'busd_refused_total{reason="not_its_topic"}')" -ge 1 ] ||
    it_fail "busd did not count the source publishing a service's stream"
it_log "sources: another source's name and a service's stream refused, its own name applied"

# --- 6. a rejected outside event holds nothing behind it --------------------------------
probe source publish "$KIT_BUS_IN" ext/kit.external kitsource 0 0 1 reject-7 >/dev/null
it_wait_until 20 "the rejected external event parked" \
    sql_is "SELECT count(*) FROM kitcons.dead_letters WHERE correlation_id = 'reject-7'" 1
kit_produce 3 reject-7 >/dev/null
TOTAL=$((TOTAL + 3))
it_wait_until 30 "ticks of the same correlation applied" kit_applied_at_least "$TOTAL"
it_assert_eq 3 "$(it_psql "SELECT count(*) FROM kitcons.kit_applied WHERE correlation_id = 'reject-7'")" \
    "ticks of the rejected external event's correlation applied"
it_assert_eq 0 "$(it_psql "SELECT count(*) FROM kitcons.dead_letters WHERE err = 'held_behind'")" \
    "events held behind an outside publisher's letter"
it_log "a rejected external event with a chosen correlation holds no order behind it"

# --- 7. filling the database -----------------------------------------------------------
# unparsable frames under the stream's own key: 300 of 100 KB
probe prod garbage "$KIT_BUS_IN" kitprod/kit.tick 300 102400 >/dev/null
# rejected outside events: 150
probe source publish "$KIT_BUS_IN" ext/kit.external kitsource 0 0 150 reject-bulk >/dev/null
it_wait_until 90 "parking refused beyond the budget" \
    metric_at_least 28092 inbox_park_refused_total 200
produce_more 10
kit_assert_exactly_once_in_order "$TOTAL"
parked=$(it_psql "SELECT count(*) FROM kitcons.dead_letters WHERE err = 'bad_envelope'")
[ "$parked" -le 100 ] || it_fail "$parked unparsable frames parked (the budget is 100 a minute)"
[ "$parked" -ge 1 ] || it_fail "no unparsable frame parked at all"
rejected=$(it_psql "SELECT count(*) FROM kitcons.dead_letters WHERE correlation_id = 'reject-bulk'")
[ "$rejected" -le 100 ] || it_fail "$rejected rejected external events parked (the budget is 100)"
biggest=$(it_psql "SELECT max(octet_length(envelope)) FROM kitcons.dead_letters WHERE err = 'bad_envelope'")
[ "$biggest" -le 4096 ] || it_fail "a parked frame keeps $biggest bytes (at most 4096)"
it_log "filling: $parked of 300 unparsable 100 KB frames and $rejected of 150 rejected outside events parked, $biggest bytes each at most; the stream flows"

# --- 8. revoking a key ---------------------------------------------------------------------
# an operator listens; its key is revoked while it is connected; it must
# hear nothing from then on (busd cuts every connection; the trusted ones
# come back by themselves, the consumer fetches the pause by replay)
subscriptions=$(busd_metric busd_subscriptions)
probe ops listen "$KIT_BUS_OUT" kitprod/kit.tick 8000 >"$IT_RUN/listen-revoked.out" &
listener=$!
it_wait_until 10 "the operator listens" metric_at_least 28080 busd_subscriptions $((subscriptions + 1))
keys=$(curl -fsS http://127.0.0.1:28080/readyz | jq .keys)
cuts=$(busd_metric busd_revocation_cuts_total)
"$IT_BIN/conveyor" key revoke kitsource --dir "$BUS_KEYS_DIR" >/dev/null || it_fail "revoke kitsource"
"$IT_BIN/conveyor" key revoke ops --dir "$BUS_KEYS_DIR" >/dev/null || it_fail "revoke ops"
it_wait_until 10 "busd re-read its keys" busd_keys_below $((keys - 1))
it_wait_until 10 "busd cut the connections" metric_at_least 28080 busd_revocation_cuts_total $((cuts + 1))
applied_before=$TOTAL
produce_more 30
probe source publish "$KIT_BUS_IN" ext/kit.external kitsource 0 0 1 after-revoke >/dev/null
produce_more 5
wait "$listener"
heard=$(awk '{print $2}' "$IT_RUN/listen-revoked.out")
[ "$heard" -eq 0 ] || it_fail "the revoked operator heard $heard ticks produced after the revocation"
it_assert_eq 0 "$(it_psql "SELECT count(*) FROM kitcons.kit_external WHERE key = 'after-revoke'")" \
    "an event published with a revoked key"
it_log "revoked keys, one connected: nothing more heard or published; $((TOTAL - applied_before)) ticks after it applied"

kit_assert_exactly_once_in_order "$TOTAL"
it_running busd || it_fail "busd died"
it_running cons || it_fail "kitcons died"
it_log "all $TOTAL real ticks applied exactly once, in order, through every attack"
