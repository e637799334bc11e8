#!/usr/bin/env bash
# A service waits for its database (issue 10, item 5) and a lost COMMIT
# answer applies an event once (item 2). The database is reached through
# pgcut (kit/pgcut.c), a proxy that can be absent (the database "down")
# or lose a connection on cue:
#   1. kitprod started while nothing answers on its database's port stays
#      up: /healthz answers, /readyz says "starting" and why, its API
#      answers 503 "starting", one log line says it waits; once the
#      database answers it migrates, becomes ready and serves;
#   2. SIGTERM while it waits stops it at once, cleanly;
#   3. kitcons applying through pgcut loses the answers of its COMMITs
#      again and again while 300 ticks flow: every tick applied once, in
#      order (the conditional offset settles what the lost answer hid).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/kit/kit.sh"

PROXY_PORT=$((TEST_PG_PORT + 7))
CUE=$IT_RUN/pgcut.cue
kit_dbs
kit_start_busd

# the environment of a program, its database reached through the proxy
through_proxy() {
    sed -e "s/127\.0\.0\.1:$TEST_PG_PORT/127.0.0.1:$PROXY_PORT/g" <<<"$1"
}
PROD_VIA=$(through_proxy "$KIT_PROD_ENV")
CONS_VIA=$(through_proxy "$KIT_CONS_ENV")
grep -q ":$PROXY_PORT/" <<<"$PROD_VIA" || it_fail "could not point kitprod at the proxy: $PROD_VIA"

readyz_status() {
    curl -s --max-time 2 http://127.0.0.1:28091/readyz | jq -r '.status // empty'
}
starting() { [ "$(readyz_status)" = starting ]; }
ready() { [ "$(readyz_status)" = ready ]; }

# --- 1. started while the database is down ------------------------------------------------
it_start prod bash -c "$PROD_VIA
    exec env BUS_PUB_ENDPOINT=$KIT_BUS_IN BUS_SUB_ENDPOINT=$KIT_BUS_OUT \
    HTTP_ADDR=127.0.0.1:28091 REPLAY_ADDR=tcp://127.0.0.1:25591 REDIS_URL=$TEST_REDIS_URL \
    BUS_CERT=$(it_key service kitprod) \"$IT_BIN/kitprod\" serve"
it_wait_until 10 "kitprod says it is starting" starting
body=$(curl -s http://127.0.0.1:28091/readyz)
jq -e '.reason | startswith("waiting for the database")' >/dev/null <<<"$body" ||
    it_fail "readyz does not say why: $body"
it_assert_eq 200 "$(kit_http_status 28091 /healthz)" "healthz while waiting"
answer=$(curl -s -w ' %{http_code}' -X POST -H 'Content-Type: application/json' -d '{"count":1}' \
    http://127.0.0.1:28091/v1/produce)
it_assert_eq "starting 503" "$(jq -r .code <<<"${answer% *}") ${answer##* }" "the API while waiting"
attempts_at_least() {
    [ "$(curl -s --max-time 2 http://127.0.0.1:28091/readyz | jq -r '.attempts // 0')" -ge "$1" ]
}
it_wait_until 20 "kitprod tried the database four times" attempts_at_least 4
it_running prod || it_fail "kitprod gave up while the database was down"
it_assert_eq 1 "$(grep -c '"msg":"waiting for the database' "$IT_RUN/prod.log")" \
    "log lines while waiting (one when the wait begins, then one a minute)"

it_start pgcut "$IT_BIN/pgcut" "$PROXY_PORT" "$TEST_PG_PORT" "$CUE"
it_wait_until 30 "kitprod ready once the database answers" ready
grep -q '"msg":"the database answers: started after waiting"' "$IT_RUN/prod.log" ||
    it_fail "kitprod did not say it started after waiting"
kit_produce 5 >/dev/null || it_fail "kitprod does not serve after starting"
it_log "a service started with its database down waited, said why, and started when it answered"

# --- 2. stopped while waiting --------------------------------------------------------------
it_start early bash -c "$(sed "s/127\.0\.0\.1:$PROXY_PORT/127.0.0.1:$((PROXY_PORT + 1))/g" <<<"$CONS_VIA")
    exec env BUS_PUB_ENDPOINT=$KIT_BUS_IN BUS_SUB_ENDPOINT=$KIT_BUS_OUT \
    HTTP_ADDR=127.0.0.1:28093 REPLAY_ADDR=tcp://127.0.0.1:25593 REDIS_URL=$TEST_REDIS_URL \
    BUS_CERT=$(it_key service kitcons) \"$IT_BIN/kitcons\""
it_wait_until 10 "the second service waits" kit_http_ok 28093 /healthz
started=$SECONDS
it_stop early
[ $((SECONDS - started)) -le 3 ] || it_fail "SIGTERM while waiting took $((SECONDS - started)) s"
wait "$(it_pid early)" 2>/dev/null
it_log "SIGTERM while waiting for the database stops the service at once"

# --- 3. lost COMMIT answers on the applier ----------------------------------------------------
it_start cons bash -c "$CONS_VIA
    exec env BUS_PUB_ENDPOINT=$KIT_BUS_IN BUS_SUB_ENDPOINT=$KIT_BUS_OUT \
    HTTP_ADDR=127.0.0.1:28092 REPLAY_ADDR=tcp://127.0.0.1:25592 \
    REPLAY_PEERS=kitprod=tcp://127.0.0.1:25591 REDIS_URL=$TEST_REDIS_URL \
    BUS_CERT=$(it_key service kitcons) \"$IT_BIN/kitcons\""
it_wait_until 30 "kitcons ready" kit_http_ok 28092 /readyz
TOTAL=5
it_wait_until 30 "the first ticks applied" kit_applied_at_least "$TOTAL"
cue_taken() { [ ! -s "$CUE" ]; }
for round in 1 2 3 4 5 6; do
    echo drop-commit-answer >"$CUE"
    kit_produce 50 >/dev/null
    TOTAL=$((TOTAL + 50))
    it_wait_until 30 "the COMMIT answer of round $round lost" cue_taken
    it_wait_until 60 "$TOTAL applied after round $round" kit_applied_at_least "$TOTAL"
done
kit_assert_exactly_once_in_order "$TOTAL"
it_assert_eq 0 "$(it_psql "SELECT count(*) FROM kitcons.dead_letters")" "dead letters"
it_log "six COMMIT answers lost under the applier: all $TOTAL ticks applied once, in order"
