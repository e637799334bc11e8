# kit.sh — sourced by the bus integration tests: start busd and the kit's
# test producer (kitprod) and consumer (kitcons) on fixed loopback ports,
# each with its own schema and roles, and read what they did.
#
# Ports: busd 25550 (in) / 25551 (out) / 28080 (http); kitprod http 28091,
# replay 25591; kitcons replicas http 2809N, replay 2559N (N = 2, 3 ...).

KIT_BUS_IN=tcp://127.0.0.1:25550
KIT_BUS_OUT=tcp://127.0.0.1:25551

# kit_dbs: fresh schemas and roles for both programs.
kit_dbs() {
    KIT_PROD_ENV=$(it_service_db kitprod)
    KIT_CONS_ENV=$(it_service_db kitcons)
    # both keys before either starts: each trusts the other's from the first moment
    it_key service kitprod >/dev/null && it_key service kitcons >/dev/null
}

# kit_start_busd [VAR=VALUE ...]: busd (CURVE on, lib.sh's it_busd).
kit_start_busd() {
    it_busd busd "$KIT_BUS_IN" "$KIT_BUS_OUT" 28080 "$@"
    it_wait_until 10 "busd ready" kit_http_ok 28080 /readyz
}

# kit_start_prod NAME [VAR=VALUE ...]: kitprod with extra environment.
kit_start_prod() {
    local name=$1
    shift
    it_start "$name" bash -c "$KIT_PROD_ENV
        exec env BUS_PUB_ENDPOINT=$KIT_BUS_IN BUS_SUB_ENDPOINT=$KIT_BUS_OUT \
        HTTP_ADDR=127.0.0.1:28091 REPLAY_ADDR=tcp://127.0.0.1:25591 \
        REDIS_URL=$TEST_REDIS_URL BUS_CERT=$(it_key service kitprod) $* \"$IT_BIN/kitprod\" serve"
}

# kit_start_cons NAME N [VAR=VALUE ...]: replica N of kitcons.
kit_start_cons() {
    local name=$1 n=$2
    shift 2
    it_start "$name" bash -c "$KIT_CONS_ENV
        exec env BUS_PUB_ENDPOINT=$KIT_BUS_IN BUS_SUB_ENDPOINT=$KIT_BUS_OUT \
        HTTP_ADDR=127.0.0.1:2809$n REPLAY_ADDR=tcp://127.0.0.1:2559$n \
        REPLAY_PEERS=kitprod=tcp://127.0.0.1:25591 \
        REDIS_URL=$TEST_REDIS_URL BUS_CERT=$(it_key service kitcons) $* \"$IT_BIN/kitcons\""
}

# kit_exited NAME: succeeds once the process has exited.
kit_exited() {
    ! it_running "$1"
}

# kit_http_ok PORT PATH: succeeds when GET answers 2xx.
kit_http_ok() {
    curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$1$2"
}

# kit_http_status PORT PATH: prints the status code (000 when down).
kit_http_status() {
    curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$1$2"
}

# kit_produce COUNT [CORRELATION [POISON]]: ticks through kitprod's API.
kit_produce() {
    local body="{\"count\":$1"
    [ -n "${2:-}" ] && body="$body,\"correlation_id\":\"$2\""
    [ "${3:-}" = poison ] && body="$body,\"poison\":true"
    curl -fsS --max-time 10 -H 'Content-Type: application/json' \
        -d "$body}" http://127.0.0.1:28091/v1/produce
}

kit_applied() {
    it_psql "SELECT count(*) FROM kitcons.kit_applied"
}

# kit_applied_at_least N: for it_wait_until.
kit_applied_at_least() {
    [ "$(kit_applied)" -ge "$1" ]
}

# kit_wait_applied SECONDS N: waits until kitcons has applied the kitprod
# stream's events through seq N, then checks that N ticks are in
# kit_applied. For the benchmarks: it_wait_until with kit_applied_at_least
# starts a psql, a backend and a count(*) of the whole table ten times a
# second, and on this 2-core machine that took a tenth of the CPU from the
# run it was waiting on. Here one session reads one row of inbox_offsets
# twenty times a second, server side, until the offset is reached.
kit_wait_applied() {
    local seconds=$1 n=$2
    psql -X -Atq -v ON_ERROR_STOP=1 "$TEST_DATABASE_URL" \
        -c "SET statement_timeout = '${seconds}s'" \
        -c "DO \$\$ BEGIN
                WHILE coalesce((SELECT last_seq FROM kitcons.inbox_offsets
                                WHERE stream = 'kitprod'), 0) < $n LOOP
                    PERFORM pg_sleep(0.05);
                END LOOP;
            END \$\$" >/dev/null ||
        it_fail "timed out after ${seconds}s waiting for kitprod's seq $n to be applied"
    kit_applied_at_least "$n" || it_fail "seq $n applied but fewer than $n ticks in kit_applied"
}

# kit_metric PORT NAME: the sum of a metric's series on a process.
kit_metric() {
    curl -fsS --max-time 2 "http://127.0.0.1:$1/metrics" |
        awk -v name="$2" '$1 == name || index($1, name "{") == 1 { sum += $2 } END { print sum + 0 }'
}

# kit_assert_exactly_once_in_order TOTAL: every tick 1..TOTAL applied once,
# in the order it was produced.
kit_assert_exactly_once_in_order() {
    local total=$1
    it_assert_eq "$total" "$(it_psql "SELECT count(*) FROM kitcons.kit_applied")" \
        "applied rows"
    it_assert_eq "$total" "$(it_psql "SELECT count(DISTINCT n) FROM kitcons.kit_applied")" \
        "distinct ticks applied"
    it_assert_eq "1 $total" "$(it_psql "SELECT min(n) || ' ' || max(n) FROM kitcons.kit_applied")" \
        "first and last tick"
    it_assert_eq 0 "$(it_psql "SELECT count(*) FROM (SELECT n - lag(n) OVER (ORDER BY id) AS step
        FROM kitcons.kit_applied) s WHERE step <> 1")" "ticks applied out of order"
    it_assert_eq 0 "$(it_psql "SELECT count(*) FROM kitcons.kit_applied WHERE seq <> n")" \
        "ticks whose seq differs from their number"
    it_assert_eq "$total" "$(it_psql "SELECT last_seq FROM kitcons.inbox_offsets
        WHERE stream = 'kitprod'")" "consumer offset"
}
