# section_bus_compare.sh — the durable bus with two or more builds, their
# runs alternated in one bench run (sourced by tests/bench/run.sh), so that
# a change to the kit is measured against what it replaces on the same
# machine at the same time (issue 15: this machine is shared and noisy;
# only figures of one run compare).
#
#   git worktree add /tmp/before <commit> && make -C /tmp/before -j2
#   BENCH_COMPARE_BINS="/tmp/before/build/bin build/bin" \
#   BENCH_SECTIONS=tests/bench/compare/section_bus_compare.sh tests/bench/run.sh
#
# Each round runs tests/bench/durable.sh's durable_run (CURVE on) once per
# build, in the given order in odd rounds and reversed in even ones (the
# first run of a round is not favoured); BENCH_COMPARE_ROUNDS rounds (4).
#
#   bus.compare.<n>.events_per_s  median of build n's runs (n from 1, in
#                                 the order given), and the runs
#   bus.compare.<n>_to_1          build n's median over build 1's
#   bus.compare.<n>.cpu_us_per_event  median of build n's CPU time per
#                                 event (the stack's: PostgreSQL, kitprod,
#                                 kitcons, busd), which holds still when
#                                 other work shares the machine and the
#                                 rate does not
#   bus.compare.<n>_cpu_to_1      build n's CPU median over build 1's

source tests/bench/durable.sh

read -r -a compare_bins <<<"${BENCH_COMPARE_BINS:?set BENCH_COMPARE_BINS to two or more bin directories}"
[ ${#compare_bins[@]} -ge 2 ] || it_fail "BENCH_COMPARE_BINS names ${#compare_bins[@]} build(s); it takes two or more"
for bin in "${compare_bins[@]}"; do
    if [ ! -x "$bin/kitprod" ] || [ ! -x "$bin/kitcons" ] || [ ! -x "$bin/busd" ]; then
        it_fail "$bin holds no kitprod, kitcons and busd"
    fi
done
compare_rates=()
compare_cpus=()
echo "== bus: durable events/s of ${#compare_bins[@]} builds, $DURABLE_EVENTS events per run, alternated"
for round in $(seq 1 "${BENCH_COMPARE_ROUNDS:-4}"); do
    order=$(seq 0 $((${#compare_bins[@]} - 1)))
    [ $((round % 2)) = 0 ] && order=$(tac <<<"$order")
    for i in $order; do
        bench_bin=$IT_BIN
        IT_BIN=${compare_bins[$i]}
        [[ $IT_BIN == /* ]] || IT_BIN="$top/$IT_BIN"
        bench_busd curve
        durable_run "c$round.$((i + 1))" curve
        IT_BIN=$bench_bin
        read -r cpu cpu_pg cpu_prod cpu_cons cpu_busd <<<"$DURABLE_CPU"
        echo "   round $round, build $((i + 1)) (${compare_bins[$i]}): $DURABLE_RATE events/s, CPU $cpu us per event (PostgreSQL $cpu_pg, kitprod $cpu_prod, kitcons $cpu_cons, busd $cpu_busd)"
        compare_rates[i]="${compare_rates[i]:-} $DURABLE_RATE"
        compare_cpus[i]="${compare_cpus[i]:-} $cpu"
    done
done
bench_busd curve
first="" first_cpu=""
for i in "${!compare_bins[@]}"; do
    # shellcheck disable=SC2086 # one number a word
    med=$(printf '%s\n' ${compare_rates[i]} | median)
    # shellcheck disable=SC2086 # one number a word
    med_cpu=$(printf '%s\n' ${compare_cpus[i]} | median)
    figure "bus.compare.$((i + 1)).events_per_s" "$med (${compare_bins[$i]}; runs${compare_rates[i]})"
    figure "bus.compare.$((i + 1)).cpu_us_per_event" "$med_cpu (runs${compare_cpus[i]})"
    if [ -z "$first" ]; then
        first=$med first_cpu=$med_cpu
    else
        figure "bus.compare.$((i + 1))_to_1" "$(awk -v a="$med" -v b="$first" 'BEGIN { printf "%.2f", a / b }')"
        figure "bus.compare.$((i + 1))_cpu_to_1" "$(awk -v a="$med_cpu" -v b="$first_cpu" 'BEGIN { printf "%.2f", a / b }')"
    fi
done
