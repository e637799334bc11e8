# durable.sh — one run of the durable bus, kitprod's outbox to kitcons'
# committed inbox through busd, commit to commit (sourced by
# tests/bench/section_bus.sh and tests/bench/peers/section_peers.sh, which
# measure the same run).

DURABLE_EVENTS=${BENCH_DURABLE_EVENTS:-100000}
FILLER=${BENCH_FILLER:-100}

# one producer -> consumer run; sets DURABLE_RATE (events/s),
# DURABLE_SIZE (avg envelope bytes) and DURABLE_CPU (microseconds of CPU
# per event: "all PostgreSQL kitprod kitcons busd", kitprod holding the
# producer and the relay, PostgreSQL every backend and its own work,
# kitprod's start included). In the bench's own shell, never a
# subshell: a failure fails the run, and the run's processes are stopped
# before the next one starts.
durable_run() {
    local n=$1 security=$2
    kit_dbs
    kit_start_cons "cons$n" 2 APPLY_BATCH_MAX=1000 BUS_SECURITY="$security"
    it_wait_until 30 "kitcons ready" kit_http_ok 28092 /readyz
    local ticks0 ticks1
    ticks0=$(bench_cpu_ticks "prod$n" "cons$n" busd)
    kit_start_prod "prod$n" KITPROD_COUNT=$DURABLE_EVENTS KITPROD_BATCH=1000 KITPROD_RATE=0 \
        KITPROD_FILLER=$FILLER BUS_SECURITY="$security"
    kit_wait_applied 600 "$DURABLE_EVENTS"
    ticks1=$(bench_cpu_ticks "prod$n" "cons$n" busd)
    DURABLE_CPU=$(bench_cpu_us_per "$ticks0" "$ticks1" "$DURABLE_EVENTS")
    DURABLE_RATE=$(it_psql "SELECT round($DURABLE_EVENTS / extract(epoch FROM
        (SELECT max(pg_xact_commit_timestamp(xmin)) FROM kitcons.kit_applied) -
        (SELECT min(pg_xact_commit_timestamp(xmin)) FROM kitprod.outbox)))")
    DURABLE_SIZE=$(it_psql "SELECT round(avg(length(payload)) + 90) FROM kitprod.outbox")
    it_stop "prod$n"
    it_stop "cons$n"
    bench_settle "durable run $n"
    bench_number "$DURABLE_RATE" "durable run $n ($security): events/s"
    bench_number "$DURABLE_SIZE" "durable run $n ($security): envelope bytes"
    bench_number "${DURABLE_CPU%% *}" "durable run $n ($security): CPU per event"
}
