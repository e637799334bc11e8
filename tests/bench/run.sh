#!/usr/bin/env bash
# run.sh — `make bench`: the figures, printed, never asserted.
#
# Runs against a private PostgreSQL and Redis under .run/bench with fsync
# and synchronous_commit on (batching is the lever, never durability), on
# loopback, on whatever else the machine is doing: quote the medians and
# the ratios, which are measured in one run.
#
# Each tests/bench/section_<name>.sh measures one thing and prints its
# figures with `figure NAME VALUE`; BENCH_ONLY=<name> runs one section.
# The sections share busd (kit ports) and the cluster; each provisions its
# own schemas.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
BUILD=${BUILD:-build}
export IT_BIN="$top/$BUILD/bin"
export TEST_ROOT="$top/.run/bench" TEST_PG_PORT=${BENCH_PG_PORT:-24432} TEST_REDIS_PORT=${BENCH_REDIS_PORT:-24379}
export IT_RUN="$TEST_ROOT/run"
rm -rf "$IT_RUN"
mkdir -p "$IT_RUN"
RESULTS="$TEST_ROOT/results.txt"
: >"$RESULTS"

source scripts/pg.sh
mkdir -p "$TEST_ROOT/pg"
export TEST_DATABASE_URL TEST_REDIS_URL
TEST_DATABASE_URL=$(pg_super_url "$TEST_ROOT" "$TEST_PG_PORT")
TEST_REDIS_URL=$(redis_url "$TEST_ROOT" "$TEST_REDIS_PORT") # Redis asks for a password (scripts/pg.sh)
source tests/integration/lib.sh
source tests/integration/kit/kit.sh
stop_all() {
    _it_cleanup
    redis_stop "$TEST_ROOT"
    pg_stop "$TEST_ROOT"
}
# set before anything starts: whatever fails, nothing is left running
trap stop_all EXIT
pg_start "$TEST_ROOT" "$TEST_PG_PORT" || exit 1
redis_start "$TEST_ROOT" "$TEST_REDIS_PORT" || exit 1

# figure NAME VALUE: one line of the results
figure() {
    printf '%-34s %s\n' "$1" "$2" | tee -a "$RESULTS"
}

median() {
    sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# bench_busd curve|off: busd again, with CURVE (as deployed) or without it;
# the sections compare the two in one run
bench_busd() {
    it_stop busd
    kit_start_busd BUS_SECURITY="$1"
}

kit_start_busd
for section in tests/bench/section_*.sh; do
    name=$(basename "$section" .sh)
    name=${name#section_}
    [ -n "${BENCH_ONLY:-}" ] && [ "$BENCH_ONLY" != "$name" ] && continue
    echo "==== $name"
    # each section starts on a quiet cluster: the previous section's dirty
    # pages written out, its dead rows vacuumed, rather than under its writes
    it_psql "CHECKPOINT" >/dev/null
    it_psql "VACUUM (ANALYZE)" >/dev/null 2>&1 || true
    source "$section"
done

echo
echo "== figures (also in ${RESULTS#"$top"/})"
cat "$RESULTS"
