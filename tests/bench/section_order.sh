# section_order.sh — the order service (sourced by tests/bench/run.sh).
#
#   order.intake_per_s     orders/s from ext/intake.order to the publisher
#                          hearing intake.accepted, which commits together
#                          with order.placed and order.assigned (median of 3
#                          runs of 3,000 published as fast as the client can:
#                          a burst that drains within the publisher's 5 s
#                          retry, so every order is sent once)
#   order.latency_ms       p50/p99 from publishing to the answer, at 200/s
#   order.rss_mb           resident memory of the order service, idle before and
#                          after the load
#
# Three managers on shift serve every region; every order is a new
# customer; the service runs alone (no inventory answering).

source tests/integration/order/order.sh
order_dbs
order_start orderB 1 LOG_LEVEL=warn
order_sources
for m in 1 2 3; do
    id=$(order_staff "bench$m" "Bench Manager $m" manager '[]' 100000)
    order_shift "$id" true
done

rss_mb() {
    awk '/^VmRSS/ { print int($2 / 1024) }' "/proc/$(it_pid "$1")/status"
}
figure "order.rss_mb.idle" "$(rss_mb orderB) (target < 20)"

# intake_run SOURCE COUNT RATE [curve|off]: the source publishes with its own key
intake_run() {
    BUS_PUB_ENDPOINT=$KIT_BUS_IN BUS_SUB_ENDPOINT=$KIT_BUS_OUT BUS_SECURITY=${4:-curve} \
        BUS_CERT=$(it_key source "$1") "$IT_BIN/conveyor" intake \
        --source "$1" --generate "$2" --rate "$3" --quiet 2>&1 | tail -1
}
field() {
    sed -n "s/.*$1=\([0-9.]*\).*/\1/p" <<<"$2"
}

ORDER_EVENTS=${BENCH_ORDER_EVENTS:-3000}
echo "== order: intake to assignment, $ORDER_EVENTS orders per run, 3 runs each with and without CURVE, interleaved"
rates=()
plain_rates=()
for n in 1 2 3; do
    for security in curve off; do
        # busd and the order service as deployed, or both without CURVE
        it_stop orderB
        bench_settle "order run $n$security"
        bench_busd "$security"
        order_start orderB 1 LOG_LEVEL=warn BUS_SECURITY="$security"
        line=$(intake_run "bench-$n$security" "$ORDER_EVENTS" 0 "$security")
        echo "   run $n, $security: $line"
        rate=$(field rate_per_s "$line")
        bench_number "$rate" "intake run $n ($security): orders/s"
        [ "$(field unanswered "$line")" = 0 ] || echo "   (some orders got no answer)"
        if [ "$security" = curve ]; then rates+=("$rate"); else plain_rates+=("$rate"); fi
    done
done
intake=$(printf '%s\n' "${rates[@]}" | median)
intake_plain=$(printf '%s\n' "${plain_rates[@]}" | median)
figure "order.intake_per_s" "$intake (CURVE on; median of ${rates[*]}; target >= 1000)"
figure "order.intake_plain_per_s" "$intake_plain (CURVE off; median of ${plain_rates[*]})"
figure "order.intake.curve_cost_pct" "$(awk -v c="$intake" -v p="$intake_plain" 'BEGIN { if (p > 0) printf "%.1f", 100 * (p - c) / p }') (target < 10)"
it_stop orderB
bench_settle "order runs"
bench_busd curve
order_start orderB 1 LOG_LEVEL=warn

echo "== order: latency at 200 orders/s for 30 s"
line=$(intake_run bench-latency 6000 200)
echo "   $line"
figure "order.latency_ms.p50" "$(field latency_ms_p50 "$line")"
figure "order.latency_ms.p99" "$(field latency_ms_p99 "$line") (target < 100)"
figure "order.latency_ms.max" "$(field latency_ms_max "$line")"
it_assert_eq 0 "$(it_psql "SELECT count(*) FROM orders.orders WHERE manager_id IS NULL")" \
    "orders left unassigned in the benchmark"
sleep 5 # the idle state being measured, not a wait for a condition
figure "order.rss_mb.idle_after_load" "$(rss_mb orderB)"
it_stop orderB
