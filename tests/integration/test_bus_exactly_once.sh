#!/usr/bin/env bash
# 100,000 events from kitprod to kitcons through busd while everything that
# can fail does: the producer is killed between its events' commit and its
# relay's publish, the consumer is killed -9 and restarted twice, busd is
# restarted once. Every event must be applied exactly once, in order.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/kit/kit.sh"

TOTAL=${IT_BUS_EVENTS:-100000}
kit_dbs
kit_start_busd
kit_start_cons cons 2
it_wait_until 20 "kitcons ready" kit_http_ok 28092 /readyz

# the producer kills itself when its relay has read its 20th batch of
# committed events, before publishing it
kit_start_prod prod KITPROD_COUNT=$TOTAL KITPROD_BATCH=200 KITPROD_RATE=8000 \
    FAULT_RELAY_KILL_AFTER_COMMITS=20
it_wait_until 60 "producer killed by the fault between commit and publish" kit_exited prod
grep -q "fault injection: killing the process between commit and publish" "$IT_RUN/prod.log" ||
    it_fail "the producer died, but not at the fault injection point"
numbered=$(it_psql "SELECT last_seq FROM kitprod.outbox_streams")
it_log "producer died after numbering $numbered events; restarting it"
kit_start_prod prod2 KITPROD_COUNT=$TOTAL KITPROD_BATCH=200 KITPROD_RATE=8000

it_wait_until 120 "a fifth applied" kit_applied_at_least $((TOTAL / 5))
it_log "killing the consumer (-9) at $(kit_applied) applied"
it_kill cons KILL
kit_start_cons cons2 2

it_wait_until 120 "45 % applied" kit_applied_at_least $((TOTAL * 45 / 100))
it_log "restarting busd at $(kit_applied) applied"
it_stop busd
it_busd busd2 "$KIT_BUS_IN" "$KIT_BUS_OUT" 28080

it_wait_until 120 "70 % applied" kit_applied_at_least $((TOTAL * 70 / 100))
it_log "killing the consumer (-9) again at $(kit_applied) applied"
it_kill cons2 KILL
kit_start_cons cons3 2

it_wait_until 240 "every event applied" kit_applied_at_least "$TOTAL"
kit_assert_exactly_once_in_order "$TOTAL"
it_assert_eq 0 "$(it_psql "SELECT count(*) FROM kitcons.dead_letters")" "dead letters"
# The batch the dying producer read was never published by it; being
# applied at all, it came back through the restarted relay, which starts
# from the last published seq it wrote down, or through replay.
it_log "all $TOTAL applied exactly once, in order"
