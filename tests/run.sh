#!/usr/bin/env bash
# run.sh — conveyor's test runner: `make test`, `make check`, `make asan`.
#
# Starts a private PostgreSQL cluster and Redis under .run/test (or
# .run/asan) on their own ports, runs every unit test binary and every
# integration script against them, prints a summary with the time each
# took, and stops everything it started, whatever happened. Nothing is
# mocked: unit tests of db-facing modules get TEST_DATABASE_URL, the
# integration scripts start real processes (tests/integration/lib.sh).
#
#   tests/run.sh [--unit-only | --integration-only] [--only NAME] [--keep]
#
# NAME matches test_NAME (a unit binary or an integration script, in
# tests/integration or its journey suite, tests/integration/journey); `fuzz`
# replays the fuzz corpus and kept crashes alone. Under
# SANITIZE=1 the logs of every process are scanned for sanitizer reports.
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
BUILD=${BUILD:-build}
export IT_BIN="$top/$BUILD/bin"
mode=all only="" keep=""
while [ $# -gt 0 ]; do
    case $1 in
    --unit-only) mode=unit ;;
    --integration-only) mode=integration ;;
    --only) only=$2; shift ;;
    --keep) keep=1 ;;
    *) echo "usage: $0 [--unit-only|--integration-only] [--only NAME] [--keep]" >&2; exit 2 ;;
    esac
    shift
done

source scripts/pg.sh
if [ -n "${SANITIZE:-}" ]; then
    PG_PORT=${TEST_PG_PORT:-25442} REDIS_PORT=${TEST_REDIS_PORT:-26389}
    export TEST_ROOT=${TEST_ROOT:-$top/.run/asan-$PG_PORT}
    export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}
    export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
    # the sanitizer build is several times slower: the same scenarios, smaller
    export IT_BUS_EVENTS=${IT_BUS_EVENTS:-20000} IT_FAILOVER_EVENTS=${IT_FAILOVER_EVENTS:-6000}
    export IT_JOBS=${IT_JOBS:-3000} IT_LOCK_ITERATIONS=${IT_LOCK_ITERATIONS:-500}
else
    PG_PORT=${TEST_PG_PORT:-25432} REDIS_PORT=${TEST_REDIS_PORT:-26379}
    export TEST_ROOT=${TEST_ROOT:-$top/.run/test-$PG_PORT}
fi
mkdir -p "$TEST_ROOT"

cleanup() {
    if [ -z "$keep" ]; then
        redis_stop "$TEST_ROOT"
        pg_stop "$TEST_ROOT"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== starting PostgreSQL (:$PG_PORT) and Redis (:$REDIS_PORT) under ${TEST_ROOT#"$top"/}"
pg_start "$TEST_ROOT" "$PG_PORT" || { echo "PostgreSQL did not start" >&2; exit 1; }
redis_start "$TEST_ROOT" "$REDIS_PORT" || exit 1
# both ask for a password (scripts/pg.sh): the superuser's URL names its
# password file, the Redis URL carries the password
export TEST_DATABASE_URL TEST_REDIS_URL
TEST_DATABASE_URL=$(pg_super_url "$TEST_ROOT" "$PG_PORT")
TEST_REDIS_URL=$(redis_url "$TEST_ROOT" "$REDIS_PORT")
export TEST_PG_PORT=$PG_PORT TEST_REDIS_PORT=$REDIS_PORT

results=()
failed_outputs=()
failed=0 skipped=0
# the bus keys every integration test starts with, issued by the first one
# (tests/integration/lib.sh) and copied by the others: fresh every run
export IT_KEYS_ONCE="$TEST_ROOT/it-keys"
rm -rf "$IT_KEYS_ONCE" "$IT_KEYS_ONCE.new"

# sanitizer_reports DIR: prints the files under DIR holding a report
sanitizer_reports() {
    grep -lE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' -r "$1" 2>/dev/null
}

# record NAME RC SECS [OUTPUT]: a test's line in the summary; a failed
# test's OUTPUT file is shown again after the summary, where a CI report
# that keeps only the head and the tail of a long run still shows why
record() {
    local name=$1 rc=$2 secs=$3 output=${4:-}
    if [ "$rc" -eq 0 ]; then
        results+=("ok    ${secs}s  $name")
    else
        results+=("FAIL  ${secs}s  $name")
        failed=$((failed + 1))
        [ -z "$output" ] || failed_outputs+=("$name|$output")
    fi
}

run_unit() {
    local bin=$1 name
    name=$(basename "$bin")
    [ -n "$only" ] && [ "$name" != "test_$only" ] && [[ "$name" != test_*_"$only" ]] && return
    local out="$TEST_ROOT/unit/$name.log"
    mkdir -p "$TEST_ROOT/unit"
    local start=$SECONDS rc=0
    "$bin" >"$out" 2>&1 || rc=$?
    if [ -n "${SANITIZE:-}" ] && [ "$rc" -eq 0 ] && grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$out"; then
        rc=1
    fi
    if [ "$rc" -ne 0 ]; then
        echo "--- $name failed; its output:"
        tail -60 "$out"
    fi
    record "unit $name" "$rc" $((SECONDS - start)) "$out"
}

# Every corpus file and every kept crash through its fuzz target
# (tests/fuzz/): a plain build of each target with a main that replays files,
# so a fixed crash that comes back fails here, under any compiler.
run_fuzz_replay() {
    [ -n "$only" ] && [ "$only" != fuzz ] && [ "$only" != fuzz_replay ] && return
    local out="$TEST_ROOT/unit/fuzz_replay.log" start=$SECONDS rc=0 targets=0 inputs=0
    mkdir -p "$TEST_ROOT/unit"
    : >"$out"
    for src in tests/fuzz/fuzz_*.c; do
        local target bin dirs=()
        target=$(basename "$src" .c)
        target=${target#fuzz_}
        bin="$IT_BIN/fuzz_$target"
        for dir in "tests/fuzz/corpus/$target" "tests/fuzz/crashes/$target"; do
            [ -d "$dir" ] && dirs+=("$dir")
        done
        targets=$((targets + 1))
        if [ ! -x "$bin" ]; then
            echo "fuzz replay: $bin was not built" >>"$out"
            rc=1
            continue
        fi
        "$bin" "${dirs[@]}" >>"$out" 2>&1 || { rc=1; echo "fuzz replay: $target failed" >>"$out"; }
    done
    inputs=$(sed -n 's/^.*: \([0-9]*\) inputs replayed$/\1/p' "$out" | awk '{n += $1} END {print n + 0}')
    if [ -n "${SANITIZE:-}" ] && [ "$rc" -eq 0 ] && grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$out"; then
        rc=1
    fi
    if [ "$rc" -ne 0 ]; then
        echo "--- fuzz_replay failed; its output:"
        tail -60 "$out"
    fi
    record "unit fuzz_replay ($targets targets, $inputs inputs)" "$rc" $((SECONDS - start)) "$out"
}

run_integration() {
    local script=$1 name
    name=$(basename "$script" .sh)
    [ -n "$only" ] && [ "$name" != "test_$only" ] && return
    # a test that runs none of our C (it reads docker-compose.yml and the
    # deploy scripts) says "# sanitizers: nothing to check" and is left out
    # of make asan: the sanitizers would have nothing to watch. A test
    # excluded for a known defect says "# sanitizers: skip: <why>", printed
    # in every make asan so it is never forgotten.
    if [ -n "${SANITIZE:-}" ] && grep -q '^# sanitizers: nothing to check' "$script"; then
        echo "== $name (no C code: not run under the sanitizers)"
        return
    fi
    local skip
    skip=$(sed -n 's/^# sanitizers: skip: //p' "$script" | head -1)
    if [ -n "${SANITIZE:-}" ] && [ -n "$skip" ]; then
        echo "== $name SKIPPED under the sanitizers: $skip"
        results+=("SKIP  0s  $name: $skip")
        skipped=$((skipped + 1))
        return
    fi
    export IT_RUN="$TEST_ROOT/it/$name"
    rm -rf "$IT_RUN"
    mkdir -p "$IT_RUN"
    echo "== $name"
    local start=$SECONDS rc=0
    timeout --foreground 900 bash "$script" >"$IT_RUN/test.out" 2>&1 || rc=$?
    if [ -n "${SANITIZE:-}" ]; then
        local reports
        reports=$(sanitizer_reports "$IT_RUN")
        if [ -n "$reports" ]; then
            echo "--- sanitizer reports in: $reports"
            for f in $reports; do grep -m3 -A25 -E 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$f"; done
            rc=1
        fi
    fi
    if [ "$rc" -ne 0 ]; then
        echo "--- $name failed (exit $rc); its output:"
        tail -40 "$IT_RUN/test.out"
        for log in "$IT_RUN"/*.log; do
            [ -f "$log" ] || continue
            echo "--- last lines of $(basename "$log")"
            tail -8 "$log"
        done
    else
        sed -n 's/^\(it: .*\)/   \1/p' "$IT_RUN/test.out" | tail -5
    fi
    record "integration $name" "$rc" $((SECONDS - start)) "$IT_RUN/test.out"
}

if [ "$mode" != integration ]; then
    echo "== unit tests"
    for bin in "$IT_BIN"/test_*; do
        [ -x "$bin" ] && run_unit "$bin"
    done
    run_fuzz_replay
fi
if [ "$mode" != unit ]; then
    for script in tests/integration/test_*.sh tests/integration/journey/test_*.sh; do
        run_integration "$script"
    done
fi

echo
echo "== summary"
printf '%s\n' "${results[@]}"
if [ ${#results[@]} -eq 0 ]; then
    echo "no test matched"
    exit 1
fi
for failure in "${failed_outputs[@]}"; do
    echo
    echo "== ${failure%%|*} failed; the last lines of its output (${failure#*|}):"
    grep -E 'FAILED|ERROR|LINE' "${failure#*|}" | tail -12
    echo "--"
    tail -30 "${failure#*|}"
done
ran=$((${#results[@]} - skipped))
[ "$skipped" -eq 0 ] || echo "$skipped skipped under the sanitizers (named above)"
[ "$failed" -eq 0 ] && echo "all $ran passed" || echo "$failed of $ran failed"
[ "$failed" -eq 0 ]
