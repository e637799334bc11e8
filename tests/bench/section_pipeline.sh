# section_pipeline.sh — the pipeline as a store sees it (sourced by
# tests/bench/run.sh; issue 15, item 4).
#
#   pipeline.orders_per_s      orders/s from the first ext/intake.order sent
#                              to the last order both assigned and reserved
#                              in the order service (its row's commit, read
#                              with track_commit_timestamp), BENCH_PIPE_ORDERS
#                              published as fast as the client can, median of
#                              3 runs
#   pipeline.cpu_us_per_order  CPU time of the stack (PostgreSQL, every
#                              backend counted, the order service,
#                              inventory, busd; not the client) per order
#                              in those runs, median of 3: the figure that
#                              holds still when other work shares the
#                              machine and the rate does not
#   pipeline.reserved_ms       p50/p99 from publishing an order to the
#                              inventory's commit of its reservation
#                              (stock.reserved commits with it), at 500/s
#                              for 20 s, median of 3 runs
#                              (BENCH_PIPE_LAT_RUNS)
#
# busd, the order service and inventory as deployed (CURVE on, Redis locks
# on, fsync and synchronous_commit on), fresh schemas each run, three
# managers on shift for every region, 100 SKUs with stock for everyone, each
# order one line. The client sends each order once unless its answer is
# late by 5 s (then the run says so: the burst is sized to drain in time).
#
# BENCH_PIPE_PARTS (default "rate latency") runs one of the two parts alone,
# e.g. BENCH_ONLY=pipeline BENCH_PIPE_PARTS=latency make bench.
# BENCH_PIPE_RATE (default 500) sets the latency part's rate, for its
# curve against the load (the figures' names stay).
# BENCH_PIPE_TRACE=1 traces the latency part: every order's times go to
# .run/bench/pipe_trace_<run>.txt (send | ms from the send to the order
# service's intake transaction's start, its commit, the commit that
# numbered order.placed, inventory's transaction's start, its commit |
# orders in the intake transaction | orders in inventory's | the two xids)
# and PostgreSQL logs checkpoints, autovacuum, lock waits, statements over
# 10 ms and their plans (auto_explain, nested statements too) in
# .run/bench/pg/server.log while it runs.
# BENCH_PIPE_TRACE=statements does the same but has auto_explain time one
# statement in 50 of every session instead of the slow ones (ANALYZE,
# nested ones too: its own overhead slows the run), and writes the mean and the count sampled of
# each statement, the heaviest first, to .run/bench/pipe_statements.txt:
# where a session's time per order goes.

source tests/integration/kit/inventory.sh
source tests/integration/order/order.sh
# inventory follows the real order stream
INV_FEED_REPLAY=tcp://127.0.0.1:25561

BENCH_PIPE_ORDERS=${BENCH_PIPE_ORDERS:-3000}
PIPE_SKUS=$(seq -f 'PIPE%04g' 0 99 | paste -sd,)

# pipe_start NAME: fresh schemas, the order service and inventory, the
# sources, three managers, the catalogue
pipe_start() {
    order_dbs
    inv_dbs
    order_start "order-$1" 1 LOG_LEVEL=warn REPLAY_PEERS=inventory=tcp://127.0.0.1:25631
    inv_start_ready "inv-$1" 1 LOG_LEVEL=warn
    order_sources
    local m id
    for m in 1 2 3; do
        id=$(order_staff "pipe$m" "Pipe Manager $m" manager '[]' 100000)
        order_shift "$id" true
    done
    inv_api_ok POST /v1/imports "$(seq 0 99 | awk 'BEGIN { printf "{\"products\":[" }
        { printf "%s{\"sku\":\"PIPE%04d\",\"name\":\"Товар %d\",\"price_minor\":%d,\"vat_rate_bp\":2000,\"weight_g\":500,\"on_hand\":1000000000}",
          (NR > 1 ? "," : ""), $1, $1, 10000 + $1 }
        END { printf "]}" }')" >/dev/null
}

pipe_stop() {
    it_stop "order-$1"
    it_stop "inv-$1"
    bench_settle "pipeline $1"
}

# pipe_publish NAME COUNT RATE OUT: publishes as source NAME; the answers
# (one JSON line per order, with its wall-clock send time) go to OUT, the
# summary line is printed
pipe_publish() {
    BUS_PUB_ENDPOINT=$KIT_BUS_IN BUS_SUB_ENDPOINT=$KIT_BUS_OUT BUS_SECURITY=curve \
        BUS_CERT=$(it_key source "$1") "$IT_BIN/conveyor" intake --source "$1" \
        --generate "$2" --rate "$3" --skus "$PIPE_SKUS" 2>"$4.summary" >"$4"
    tail -1 "$4.summary"
}

pipe_field() {
    sed -n "s/.*$1=\([0-9.]*\).*/\1/p" <<<"$2"
}

# pipe_wait SECONDS COUNT: until COUNT orders are assigned and reserved in
# the order service, asked every 0.5 s on one session: a psql started
# every 0.1 s (a connection, its authentication, a backend) took CPU from
# the stack it measures. The figures come from the commit times, not from
# when this wait sees them.
pipe_wait() {
    local deadline=$((SECONDS + $1)) count=0 failed=""
    coproc PIPE_PSQL { psql -X -Atq -v ON_ERROR_STOP=1 "$TEST_DATABASE_URL" 2>&1; }
    while :; do
        echo "SELECT count(*) FROM orders.orders WHERE manager_id IS NOT NULL
            AND stock_state = 'reserved';" >&"${PIPE_PSQL[1]}" 2>/dev/null &&
            read -r -t 30 count <&"${PIPE_PSQL[0]}" || count=""
        if ! [[ $count =~ ^[0-9]+$ ]]; then
            failed="the wait's query failed: $count"
        elif [ "$count" -ge "$2" ]; then
            break
        elif [ "$SECONDS" -ge "$deadline" ]; then
            failed="timed out after $1s waiting for $2 orders assigned and reserved ($count)"
        fi
        [ -z "$failed" ] || break
        sleep 0.5
    done
    eval "exec ${PIPE_PSQL[1]}>&-"
    [ -z "$failed" ] || kill "$PIPE_PSQL_PID" 2>/dev/null
    wait "$PIPE_PSQL_PID" 2>/dev/null
    [ -z "$failed" ] || it_fail "pipeline: $failed"
    return 0
}

PIPE_PARTS=" ${BENCH_PIPE_PARTS:-rate latency} "
if [[ $PIPE_PARTS == *" rate "* ]]; then
echo "== pipeline: ext/intake.order to assigned and reserved, $BENCH_PIPE_ORDERS orders per run, 3 runs"
rates=()
cpus=()
for n in 1 2 3; do
    pipe_start "run$n"
    ticks0=$(bench_cpu_ticks "order-run$n" "inv-run$n" busd)
    line=$(pipe_publish "pipe-run$n" "$BENCH_PIPE_ORDERS" 0 "$IT_RUN/pipe-run$n.answers")
    pipe_wait 300 "$BENCH_PIPE_ORDERS"
    ticks1=$(bench_cpu_ticks "order-run$n" "inv-run$n" busd)
    # microseconds per order: all, then PostgreSQL, order, inventory, busd
    read -r cpu pg_us order_us inv_us busd_us <<<"$(bench_cpu_us_per "$ticks0" "$ticks1" "$BENCH_PIPE_ORDERS")"
    started=$(pipe_field started_ms "$line")
    rate=$(it_psql "SELECT round($BENCH_PIPE_ORDERS / extract(epoch FROM
        max(pg_xact_commit_timestamp(xmin)) - to_timestamp($started / 1000.0))) FROM orders.orders")
    echo "   run $n: $rate orders/s, CPU $cpu us per order (PostgreSQL $pg_us, order $order_us, inventory $inv_us, busd $busd_us) (intake answers: $line)"
    [ "$(sed -n "s/.* resent=\([0-9]*\).*/\1/p" <<<"$line")" = 0 ] || echo "   (some orders were sent again: their answers came late)"
    bench_number "$rate" "pipeline run $n: orders/s"
    bench_number "$cpu" "pipeline run $n: CPU per order"
    rates+=("$rate")
    cpus+=("$cpu")
    pipe_stop "run$n"
done
figure "pipeline.orders_per_s" "$(printf '%s\n' "${rates[@]}" | median) (median of ${rates[*]}; target >= 3000)"
figure "pipeline.cpu_us_per_order" "$(printf '%s\n' "${cpus[@]}" | median) (median of ${cpus[*]}; the stack's CPU time per order in those runs)"
fi

if [[ $PIPE_PARTS == *" latency "* ]]; then

PIPE_RATE=${BENCH_PIPE_RATE:-500}
PIPE_LAT_RUNS=${BENCH_PIPE_LAT_RUNS:-3}
echo "== pipeline: publish to stock.reserved at $PIPE_RATE orders/s for 20 s"
if [ -n "${BENCH_PIPE_TRACE:-}" ]; then
    # LOAD first: ALTER SYSTEM knows auto_explain's settings only once the
    # module is loaded in its session
    if [ "$BENCH_PIPE_TRACE" = statements ]; then
        pipe_explain=(-c "ALTER SYSTEM SET auto_explain.log_min_duration = 0"
            -c "ALTER SYSTEM SET auto_explain.sample_rate = 0.02"
            -c "ALTER SYSTEM SET auto_explain.log_analyze = on"
            -c "ALTER SYSTEM SET auto_explain.log_triggers = on")
    else
        pipe_explain=(-c "ALTER SYSTEM SET auto_explain.log_min_duration = 10")
    fi
    pipe_log_from=$(($(wc -l <"$TEST_ROOT/pg/server.log") + 1))
    _pg_psql "$TEST_ROOT" "$TEST_PG_PORT" -c "LOAD 'auto_explain'" -c "ALTER SYSTEM SET log_checkpoints = on" \
        -c "ALTER SYSTEM SET log_autovacuum_min_duration = 0" \
        -c "ALTER SYSTEM SET log_min_duration_statement = 10" \
        -c "ALTER SYSTEM SET log_lock_waits = on" \
        -c "ALTER SYSTEM SET session_preload_libraries = 'auto_explain'" \
        "${pipe_explain[@]}" \
        -c "ALTER SYSTEM SET auto_explain.log_nested_statements = on" \
        -c "ALTER SYSTEM SET log_line_prefix = '%m [%p] %a '" -c "SELECT pg_reload_conf()" >/dev/null
fi
p50s=() p99s=() maxes=()
for lat_run in $(seq 1 "$PIPE_LAT_RUNS"); do
    pipe_start latency
    out="$IT_RUN/pipe-latency.answers"
    line=$(pipe_publish pipe-latency $((PIPE_RATE * 20)) "$PIPE_RATE" "$out")
    echo "   $line"
    pipe_wait 120 $((PIPE_RATE * 20))
    # the send times, joined to the reservation's commit by (source, external_id) -> order id
    jq -r '[.external_id, .sent_ms] | @csv' "$out" >"$out.csv"
    lat=$(psql -X -Atq "$TEST_DATABASE_URL" -v ON_ERROR_STOP=1 <<EOF
CREATE TEMP TABLE sent (external_id text, sent_ms bigint);
\copy sent FROM '$out.csv' WITH (FORMAT csv)
SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1) || ' ' ||
       round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 1) || ' ' ||
       round(max(ms)::numeric, 1) || ' ' || count(*)
FROM (SELECT extract(epoch FROM pg_xact_commit_timestamp(i.xmin)) * 1000 - s.sent_ms AS ms
      FROM sent s JOIN orders.orders o ON o.source = 'pipe-latency' AND o.external_id = s.external_id
      JOIN inventory.orders i ON i.order_id = o.id AND i.status = 'reserved') t;
EOF
) || it_fail "pipeline latency: the send times could not be joined to the reservations"
    read -r p50 p99 max joined <<<"$lat"
    it_assert_eq $((PIPE_RATE * 20)) "$joined" "every order's reservation found for the latency"
    echo "   run $lat_run: p50 $p50, p99 $p99, max $max ms"
    p50s+=("$p50") p99s+=("$p99") maxes+=("$max")
    if [ -n "${BENCH_PIPE_TRACE:-}" ]; then
        psql -X -Atq -F ' ' "$TEST_DATABASE_URL" -v ON_ERROR_STOP=1 >"$TEST_ROOT/pipe_trace_$lat_run.txt" <<EOF
CREATE TEMP TABLE sent (external_id text, sent_ms bigint);
\copy sent FROM '$out.csv' WITH (FORMAT csv)
SELECT to_char(s, 'HH24:MI:SS.MS'),
       round(extract(epoch FROM ks - s)::numeric * 1000, 1), round(extract(epoch FROM kc - s)::numeric * 1000, 1),
       round(extract(epoch FROM pc - s)::numeric * 1000, 1), round(extract(epoch FROM isx - s)::numeric * 1000, 1),
       round(extract(epoch FROM ic - s)::numeric * 1000, 1),
       count(*) OVER (PARTITION BY kx), count(*) OVER (PARTITION BY ix), kx, ix
FROM (SELECT to_timestamp(s.sent_ms / 1000.0) AS s, k.created_at AS ks, pg_xact_commit_timestamp(k.xmin) AS kc,
             pg_xact_commit_timestamp(p.xmin) AS pc, r.created_at AS isx,
             pg_xact_commit_timestamp(i.xmin) AS ic, k.xmin::text AS kx, i.xmin::text AS ix
      FROM sent s JOIN orders.intake_keys k ON k.source = 'pipe-latency' AND k.external_id = s.external_id
      JOIN orders.outbox p ON p.correlation_id = k.order_id::text AND p.type = 'order.placed'
      JOIN inventory.orders i ON i.order_id = k.order_id
      JOIN inventory.outbox r ON r.correlation_id = k.order_id::text AND r.type = 'stock.reserved') t
ORDER BY s;
EOF
    fi
    pipe_stop latency
done
if [ -n "${BENCH_PIPE_TRACE:-}" ]; then
    _pg_psql "$TEST_ROOT" "$TEST_PG_PORT" -c "LOAD 'auto_explain'" -c "ALTER SYSTEM RESET log_checkpoints" \
        -c "ALTER SYSTEM RESET log_autovacuum_min_duration" \
        -c "ALTER SYSTEM RESET log_min_duration_statement" -c "ALTER SYSTEM RESET log_lock_waits" \
        -c "ALTER SYSTEM RESET session_preload_libraries" \
        -c "ALTER SYSTEM RESET auto_explain.log_min_duration" \
        -c "ALTER SYSTEM RESET auto_explain.sample_rate" -c "ALTER SYSTEM RESET auto_explain.log_analyze" \
        -c "ALTER SYSTEM RESET auto_explain.log_triggers" \
        -c "ALTER SYSTEM RESET auto_explain.log_nested_statements" \
        -c "ALTER SYSTEM RESET log_line_prefix" -c "SELECT pg_reload_conf()" >/dev/null
    if [ "$BENCH_PIPE_TRACE" = statements ]; then
        # each sampled plan: its duration line, then its query's first line
        tail -n +"$pipe_log_from" "$TEST_ROOT/pg/server.log" | awk '
            /duration: [0-9.]+ ms  plan:/ { d = $(NF - 2); app = $5; next }
            /Query Text:/ && d != "" { q = app " " substr($0, index($0, "Query Text:") + 12, 70)
                n[q]++; t[q] += d; d = "" }
            END { for (q in n) printf "%9.1f %6d %8.3f  %s\n", t[q], n[q], t[q] / n[q], q }' |
            sort -rn | sed '1i\   ms sum  count  ms mean  session statement (sampled 1 in 50)' \
            >"$TEST_ROOT/pipe_statements.txt"
    fi
fi
figure "pipeline.reserved_ms.p50" "$(printf '%s\n' "${p50s[@]}" | median) (median of ${p50s[*]})"
figure "pipeline.reserved_ms.p99" "$(printf '%s\n' "${p99s[@]}" | median) (median of ${p99s[*]}; target <= 50)"
figure "pipeline.reserved_ms.max" "$(printf '%s\n' "${maxes[@]}" | median) (median of ${maxes[*]})"
fi
