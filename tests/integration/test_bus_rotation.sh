#!/usr/bin/env bash
# Rotating keys under load loses nothing (issue 9): while kitprod commits
# 4,000 ticks at 400/s, both services change their key pair the way an
# operator would — issue the new key beside the old (two valid at once),
# restart the replica with it, revoke the old — and every tick is applied
# exactly once, in order. The producer's key is also its replay server's
# key, so the consumer's catch-up has to find the producer under the new
# one; the consumer's key is what busd and the replay server let in.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/kit/kit.sh"

TOTAL=${IT_ROTATION_EVENTS:-4000}
RATE=400
kit_dbs
kit_start_busd
kit_start_cons cons 2
kit_start_prod prod KITPROD_COUNT=$TOTAL KITPROD_RATE=$RATE KITPROD_BATCH=20
it_wait_until 20 "kitcons ready" kit_http_ok 28092 /readyz
it_wait_until 30 "a quarter applied" kit_applied_at_least $((TOTAL / 4))

# --- the producer: new key beside the old, restart, revoke the old ---------------------
it_key service kitprod kitprod-2 >/dev/null
it_log "producer restarts with its new key at $(kit_applied) applied"
it_stop prod
it_start prod2 bash -c "$KIT_PROD_ENV
    exec env BUS_PUB_ENDPOINT=$KIT_BUS_IN BUS_SUB_ENDPOINT=$KIT_BUS_OUT \
    HTTP_ADDR=127.0.0.1:28091 REPLAY_ADDR=tcp://127.0.0.1:25591 REDIS_URL=$TEST_REDIS_URL \
    BUS_CERT=$(it_key service kitprod kitprod-2) KITPROD_COUNT=$TOTAL KITPROD_RATE=$RATE \
    KITPROD_BATCH=20 \"$IT_BIN/kitprod\" serve"
it_wait_until 20 "kitprod ready with its new key" kit_http_ok 28091 /readyz
applied=$(kit_applied)
it_wait_until 30 "ticks flow under the new key" kit_applied_at_least $((applied + 200))
"$IT_BIN/conveyor" key revoke kitprod --dir "$BUS_KEYS_DIR" >/dev/null || it_fail "revoke kitprod"

# --- the consumer the same way ------------------------------------------------------------
it_key service kitcons kitcons-2 >/dev/null
it_log "consumer restarts with its new key at $(kit_applied) applied"
it_stop cons
it_start cons2 bash -c "$KIT_CONS_ENV
    exec env BUS_PUB_ENDPOINT=$KIT_BUS_IN BUS_SUB_ENDPOINT=$KIT_BUS_OUT \
    HTTP_ADDR=127.0.0.1:28092 REPLAY_ADDR=tcp://127.0.0.1:25592 \
    REPLAY_PEERS=kitprod=tcp://127.0.0.1:25591 REDIS_URL=$TEST_REDIS_URL \
    BUS_CERT=$(it_key service kitcons kitcons-2) \"$IT_BIN/kitcons\""
it_wait_until 20 "kitcons ready with its new key" kit_http_ok 28092 /readyz
"$IT_BIN/conveyor" key revoke kitcons --dir "$BUS_KEYS_DIR" >/dev/null || it_fail "revoke kitcons"

it_wait_until 120 "every tick applied" kit_applied_at_least "$TOTAL"
kit_assert_exactly_once_in_order "$TOTAL"
it_assert_eq 0 "$(it_psql "SELECT count(*) FROM kitcons.dead_letters")" "dead letters"
# the consumer's catch-up after its restart went through the producer's
# replay endpoint, now under the producer's new key
[ "$(kit_metric 28092 inbox_replay_requests_total)" -ge 1 ] || it_fail "no replay request was made"
it_log "both keys rotated under load: all $TOTAL ticks applied exactly once, in order"
