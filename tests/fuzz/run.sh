#!/usr/bin/env bash
# run.sh — `make fuzz`: each libFuzzer target for FUZZ_SECONDS, one after
# the other (tests/fuzz/README.md).
#
#   tests/fuzz/run.sh [TARGET...]        every target when none is named
#
# A target fuzzes over a working copy of its corpus, .run/fuzz/<target>/corpus
# (new interesting inputs land there, never in the repository), seeded by
# tests/fuzz/corpus/<target> and every kept crash in tests/fuzz/crashes/<target>
# (which must not crash again). A crash, a leak, a timeout or running out of
# memory fails the run and names the target and the input libFuzzer kept under
# .run/fuzz/<target>/; the log is beside it. Prints one line per target: runs,
# executions per second, the working corpus's size.
#
# FUZZ_BIN (build/fuzz/bin), FUZZ_SECONDS (60), FUZZ_RUN (.run/fuzz) and
# FUZZ_ARGS (more libFuzzer flags, e.g. -jobs=2) may be set.
set -uo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
FUZZ_BIN=${FUZZ_BIN:-build/fuzz/bin}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_RUN=${FUZZ_RUN:-.run/fuzz}
read -r -a extra_args <<<"${FUZZ_ARGS:-}"

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for src in tests/fuzz/fuzz_*.c; do
        name=$(basename "$src" .c)
        targets+=("${name#fuzz_}")
    done
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

failed=()
echo "== fuzzing ${#targets[@]} targets for ${FUZZ_SECONDS}s each (work under $FUZZ_RUN/)"
for target in "${targets[@]}"; do
    bin="$FUZZ_BIN/fuzz_$target"
    if [ ! -x "$bin" ]; then
        echo "fuzz: no target $target ($bin is not built)" >&2
        failed+=("$target")
        continue
    fi
    work="$FUZZ_RUN/$target"
    mkdir -p "$work/corpus"
    rm -f "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-* "$work"/slow-unit-*
    seeds=("tests/fuzz/corpus/$target")
    [ -d "tests/fuzz/crashes/$target" ] && seeds+=("tests/fuzz/crashes/$target")
    dict=()
    [ -f "tests/fuzz/dict/$target.dict" ] && dict=("-dict=tests/fuzz/dict/$target.dict")
    log="$work/fuzz.log"
    rc=0
    "$bin" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$work/" "${dict[@]}" "${extra_args[@]}" \
        "$work/corpus" "${seeds[@]}" >"$log" 2>&1 || rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    size=$(find "$work/corpus" -type f | wc -l)
    artifact=$(find "$work" -maxdepth 1 -type f \
        \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | head -1)
    if [ "$rc" -ne 0 ] || [ -n "$artifact" ]; then
        failed+=("$target")
        echo "FAIL  $target: exit $rc after ${runs:-?} runs"
        # the report, then its first frames in conveyor's own code
        if grep -qE 'fuzz invariant broken|runtime error:|ERROR: (Address|Leak)Sanitizer|^SUMMARY' \
            "$log"; then
            grep -E -m3 'fuzz invariant broken|runtime error:|ERROR: (Address|Leak)Sanitizer|^SUMMARY' \
                "$log" | sed 's/^/      /'
        else
            tail -3 "$log" | sed 's/^/      /' # libFuzzer refused to start: a flag, a dictionary
        fi
        grep -E '^ +#[0-9]+ .* in [a-zA-Z_].* /.*(common|services|tests|tools)/' "$log" |
            grep -v 'fuzzer::' | head -5 | sed 's/^ */        /'
        echo "      input: ${artifact:-(none kept; see $log)}"
        echo "      log:   $log"
        [ -n "$artifact" ] && echo "      again: $bin $artifact"
    else
        printf 'ok    %-16s %10s runs %8s/s  corpus %s\n' "$target" "${runs:-?}" "${speed:-?}" "$size"
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: ${#failed[@]} of ${#targets[@]} targets failed: ${failed[*]}"
    echo "fuzz: keep each crashing input in tests/fuzz/crashes/<target>/ once it is fixed"
    exit 1
fi
echo "fuzz: all ${#targets[@]} targets ran without a crash"
