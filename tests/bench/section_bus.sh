# section_bus.sh — the bus (sourced by tests/bench/run.sh).
#
#   bus.durable   events/s from kitprod's outbox to kitcons' committed
#                 inbox through busd (median of 3 runs), measured commit to
#                 commit with track_commit_timestamp; with CURVE (as
#                 deployed) and without it (BUS_SECURITY=off everywhere),
#                 the runs interleaved, and what CURVE costs
#   bus.durable.cpu_us_per_event  the stack's CPU time per event in those
#                 runs (CURVE on): what holds still when other work shares
#                 the machine and the rate does not
#   bus.raw       raw ZeroMQ PUB/SUB through the same busd, same size, with
#                 and without CURVE
#   bus.latency   p50/p99/max commit-to-commit delivery at 30,000, 10,000
#                 and 1,000 events/s, paced, each the median of 3 runs
#                 (target p99 <= 5 ms at 10,000/s)
#   kit.rss       resident memory of idle kit services
#
# BENCH_BUS_PARTS (default "durable raw latency") runs some of the parts
# alone, e.g. BENCH_ONLY=bus BENCH_BUS_PARTS=latency make bench; the idle
# memory is measured after the latency part. BENCH_LATENCY_RATES (default
# "30000 10000 1000"), BENCH_LATENCY_SECONDS (20) and BENCH_LATENCY_RUNS (3)
# shape that part. BENCH_LATENCY_TRACE=1 traces that part: every event's
# times go to .run/bench/trace_<rate>_<run>.txt (producer's commit | ms to
# the consumer's handler | ms to the consumer's commit | seq | n |
# consumer's xid) and PostgreSQL logs checkpoints, autovacuum, lock waits
# and statements over 20 ms in .run/bench/pg/server.log while it runs.

source tests/bench/durable.sh
BUS_PARTS=" ${BENCH_BUS_PARTS:-durable raw latency} "

size=200
if [[ $BUS_PARTS == *" durable "* ]]; then
echo "== bus: durable events/s, $DURABLE_EVENTS events per run, 3 runs each with and without CURVE, interleaved"
rates=()
plain_rates=()
cpus=()
for n in 1 2 3; do
    for security in curve off; do
        bench_busd "$security"
        durable_run "$n$security" "$security"
        rate=$DURABLE_RATE size=$DURABLE_SIZE
        read -r cpu cpu_pg cpu_prod cpu_cons cpu_busd <<<"$DURABLE_CPU"
        echo "   run $n, $security: $rate events/s, CPU $cpu us per event (PostgreSQL $cpu_pg, kitprod $cpu_prod, kitcons $cpu_cons, busd $cpu_busd)"
        if [ "$security" = curve ]; then rates+=("$rate") cpus+=("$cpu"); else plain_rates+=("$rate"); fi
    done
done
# the last run left busd without CURVE: as deployed again for what follows
bench_busd curve
durable=$(printf '%s\n' "${rates[@]}" | median)
plain=$(printf '%s\n' "${plain_rates[@]}" | median)
figure "bus.durable.events_per_s" "$durable (CURVE on; median of ${rates[*]}; target >= 20000)"
figure "bus.durable.cpu_us_per_event" "$(printf '%s\n' "${cpus[@]}" | median) (CURVE on; median of ${cpus[*]}; the stack's CPU time per event: PostgreSQL, producer and relay, consumer, busd)"
figure "bus.durable_plain.events_per_s" "$plain (CURVE off; median of ${plain_rates[*]})"
figure "bus.durable.curve_cost_pct" "$(awk -v c="$durable" -v p="$plain" 'BEGIN { if (p > 0) printf "%.1f", 100 * (p - c) / p }') (target < 10)"
fi

if [[ $BUS_PARTS == *" raw "* ]]; then
echo "== bus: raw ZeroMQ PUB/SUB through busd, $size-byte messages"
# raw_run curve|off: busd restarted in the bench's shell (so that its pid
# is the run's), then bench_zmq through it; sets RAW_LINE, its summary line
raw_run() {
    bench_busd "$1"
    RAW_LINE=$(BUS_SECURITY=$1 BUS_CERT=$(it_key service bench) \
        "$IT_BIN/bench_zmq" "$KIT_BUS_IN" "$KIT_BUS_OUT" 1000000 "$size") ||
        it_fail "bench_zmq ($1) failed: ${RAW_LINE:-no output}"
}
raw_run curve
raw_line=$RAW_LINE
echo "   curve: $raw_line"
raw=$(sed -n 's/.*receive_rate=\([0-9]*\).*/\1/p' <<<"$raw_line")
loss=$(sed -n 's/.*loss_pct=\([0-9.]*\).*/\1/p' <<<"$raw_line")
raw_run off
plain_line=$RAW_LINE
echo "   off:   $plain_line"
raw_plain=$(sed -n 's/.*receive_rate=\([0-9]*\).*/\1/p' <<<"$plain_line")
loss_plain=$(sed -n 's/.*loss_pct=\([0-9.]*\).*/\1/p' <<<"$plain_line")
bench_busd curve
figure "bus.raw.msgs_per_s" "$raw (CURVE on; loss ${loss}%, size $size B)"
figure "bus.raw_plain.msgs_per_s" "$raw_plain (CURVE off; loss ${loss_plain}%)"
[[ $BUS_PARTS == *" durable "* ]] &&
    figure "bus.durable_to_raw_ratio" "$(awk -v d="$durable" -v r="$raw" 'BEGIN { if (r > 0) printf "%.3f", d / r }')"
fi

# latency under load: a paced producer (a transaction every 5 ms, rate/200
# events each) for LATENCY_SECONDS at each rate, the consumer as deployed;
# each event's delay from its producer's commit (kitprod_commits, written
# by the paced producer in each transaction: a small transaction's outbox
# rows are numbered by the relay afterwards, so their xmin is the relay's)
# to its inbox commit, and the part of it before the relay's numbering
# commit (0 where the producer numbered them itself). The last rate's run
# stays up for the idle memory below.
if [[ $BUS_PARTS == *" latency "* ]]; then
LATENCY_SECONDS=${BENCH_LATENCY_SECONDS:-20}
LATENCY_RATES=${BENCH_LATENCY_RATES:-30000 10000 1000}
LATENCY_RUNS=${BENCH_LATENCY_RUNS:-3}
lat_last=${LATENCY_RATES##* }
if [ -n "${BENCH_LATENCY_TRACE:-}" ]; then
    _pg_psql "$TEST_ROOT" "$TEST_PG_PORT" -c "ALTER SYSTEM SET log_checkpoints = on" \
        -c "ALTER SYSTEM SET log_autovacuum_min_duration = 0" \
        -c "ALTER SYSTEM SET log_min_duration_statement = 20" \
        -c "ALTER SYSTEM SET log_lock_waits = on" \
        -c "ALTER SYSTEM SET log_line_prefix = '%m [%p] %a '" -c "SELECT pg_reload_conf()" >/dev/null
fi
# lat_median "A B C ": their median; lat_runs "A B C ": "A, B, C"
lat_median() { tr ' ' '\n' <<<"$1" | sed '/^$/d' | median; }
lat_runs() { sed 's/ $//; s/ /, /g' <<<"$1"; }
echo "== bus: delivery latency under load, commit to commit, ${LATENCY_SECONDS} s at each rate, $LATENCY_RUNS runs"
for lat_rate in $LATENCY_RATES; do
    lat_count=$((lat_rate * LATENCY_SECONDS))
    lat_batch=$((lat_rate / 200))
    p50s="" p99s="" maxes="" rates="" n50s="" n99s=""
    for lat_run in $(seq 1 "$LATENCY_RUNS"); do
        kit_dbs
        kit_start_cons "consL$lat_rate" 2
        it_wait_until 30 "kitcons ready" kit_http_ok 28092 /readyz
        kit_start_prod "prodL$lat_rate" KITPROD_COUNT=$lat_count KITPROD_BATCH=$lat_batch \
            KITPROD_RATE=$lat_rate KITPROD_FILLER=$FILLER
        kit_wait_applied $((LATENCY_SECONDS * 10 + 60)) "$lat_count"
        lat=$(it_psql "SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 2) || ' ' ||
                round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 2) || ' ' ||
                round(max(ms)::numeric, 2) || ' ' || round(count(*) / extract(epoch FROM max(p) - min(p))) || ' ' ||
                round(percentile_cont(0.5) WITHIN GROUP (ORDER BY numbering_ms)::numeric, 2) || ' ' ||
                round(percentile_cont(0.99) WITHIN GROUP (ORDER BY numbering_ms)::numeric, 2)
            FROM (SELECT extract(epoch FROM pg_xact_commit_timestamp(a.xmin) - pg_xact_commit_timestamp(c.xmin)) * 1000 AS ms,
                         extract(epoch FROM pg_xact_commit_timestamp(o.xmin) - pg_xact_commit_timestamp(c.xmin)) * 1000 AS numbering_ms,
                         pg_xact_commit_timestamp(c.xmin) AS p
                  FROM kitcons.kit_applied a
                  JOIN kitprod.outbox o ON o.seq = a.seq AND o.stream = 'kitprod'
                  JOIN (SELECT generate_series(first_n, last_n) AS n, xmin FROM kitprod.kitprod_commits) c
                    ON c.n = a.n) l")
        if [ -n "${BENCH_LATENCY_TRACE:-}" ]; then
            it_psql "SELECT to_char(p, 'HH24:MI:SS.MS'), round(extract(epoch FROM h - p)::numeric * 1000, 2),
                            round(extract(epoch FROM a - p)::numeric * 1000, 2), seq, n, xa
                FROM (SELECT pg_xact_commit_timestamp(c.xmin) AS p,
                             to_timestamp((k.produced_at_us + k.latency_us) / 1e6) AS h,
                             pg_xact_commit_timestamp(k.xmin) AS a, k.seq, k.n, k.xmin AS xa
                      FROM kitcons.kit_applied k
                      JOIN (SELECT generate_series(first_n, last_n) AS n, xmin FROM kitprod.kitprod_commits) c
                        ON c.n = k.n) t ORDER BY n" >"$TEST_ROOT/trace_${lat_rate}_$lat_run.txt"
        fi
        read -r p50 p99 pmax achieved n50 n99 <<<"$lat"
        echo "   at $lat_rate/s, run $lat_run: p50 $p50, p99 $p99, max $pmax ms (produced at $achieved events/s)"
        p50s+="$p50 " p99s+="$p99 " maxes+="$pmax " rates+="$achieved " n50s+="$n50 " n99s+="$n99 "
        # the last rate's last run stays up for the idle memory below
        if [ "$lat_rate" != "$lat_last" ] || [ "$lat_run" != "$LATENCY_RUNS" ]; then
            it_stop "prodL$lat_rate"
            it_stop "consL$lat_rate"
            bench_settle "latency run at $lat_rate/s"
        fi
    done
    target=""
    [ "$lat_rate" = 10000 ] && target="; target <= 5"
    [ "$lat_rate" = 1000 ] && target="; target < 50"
    figure "bus.latency_ms.at_$lat_rate.p50" "$(lat_median "$p50s") (median of $(lat_runs "$p50s"); produced at $(lat_median "$rates") events/s, $lat_batch a transaction)"
    figure "bus.latency_ms.at_$lat_rate.p99" "$(lat_median "$p99s") (median of $(lat_runs "$p99s")$target)"
    figure "bus.latency_ms.at_$lat_rate.max" "$(lat_median "$maxes") (median of $(lat_runs "$maxes"))"
    figure "bus.latency_ms.at_$lat_rate.to_numbered" "$(lat_median "$n50s") p50, $(lat_median "$n99s") p99 (medians; producer's commit to the relay's numbering commit)"
done

echo "== idle resident memory"
rss_mb() {
    awk '/^VmRSS/ { print int($2 / 1024) }' "/proc/$(it_pid "$1")/status"
}
it_wait_until 30 "producer idle" bash -c "[ \$(psql -X -Atq '$TEST_DATABASE_URL' -c 'SELECT count(*) FROM kitprod.outbox WHERE seq IS NULL') = 0 ]"
sleep 5 # the services settle after the run: this is the idle state being measured, not a wait for a condition
figure "kit.rss_mb.kitcons_idle" "$(rss_mb "consL$lat_last") (target < 20)"
figure "kit.rss_mb.kitprod_idle" "$(rss_mb "prodL$lat_last")"
figure "kit.rss_mb.busd_idle" "$(rss_mb busd)"

it_stop "prodL$lat_last"
it_stop "consL$lat_last"
if [ -n "${BENCH_LATENCY_TRACE:-}" ]; then
    _pg_psql "$TEST_ROOT" "$TEST_PG_PORT" -c "ALTER SYSTEM RESET log_checkpoints" \
        -c "ALTER SYSTEM RESET log_autovacuum_min_duration" \
        -c "ALTER SYSTEM RESET log_min_duration_statement" -c "ALTER SYSTEM RESET log_lock_waits" \
        -c "ALTER SYSTEM RESET log_line_prefix" -c "SELECT pg_reload_conf()" >/dev/null
fi
fi
