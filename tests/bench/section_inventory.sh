# section_inventory.sh — stock reservations (sourced by tests/bench/run.sh).
#
#   inventory.reserve.uncontended   orders/s held, 5-line orders over 1,000 SKUs
#   inventory.reserve.contended     orders/s held, every order on the same 3 SKUs
#
# Each run: fresh schemas; orderfeed (the order stream's test producer)
# commits BENCH_INV_ORDERS order.placed events in transactions of 1,000
# as fast as it can while one inventory replica applies them live through
# busd (Redis locks on, APPLY_BATCH_MAX default). Every product has stock
# enough for every order, so each order is held: the figure is
# orders/s from the first order's commit in orderfeed to the last
# reservation's commit in inventory (track_commit_timestamp), median of
# BENCH_INV_RUNS runs. The inventory-only span (first to last reservation
# commit) is printed beside it, so a slow producer would show.

source tests/integration/kit/inventory.sh

BENCH_INV_ORDERS=${BENCH_INV_ORDERS:-20000}
BENCH_INV_RUNS=${BENCH_INV_RUNS:-3}
# the bench outlives a staff token's default 15 minutes
INV_ADMIN_TOKEN=$("$IT_BIN/conveyor" token --sub bench-admin --roles admin --ttl-seconds 7200)

# inv_bench_products PREFIX COUNT: a JSON import of COUNT products with stock for everyone
inv_bench_products() {
    awk -v prefix="$1" -v n="$2" 'BEGIN {
        printf "{\"products\":["
        for (i = 0; i < n; i++)
            printf "%s{\"sku\":\"%s%04d\",\"name\":\"Товар %d\",\"price_minor\":%d,\"vat_rate_bp\":2000,\"weight_g\":%d,\"on_hand\":1000000000}",
                (i ? "," : ""), prefix, i, i, 10000 + i * 7, 100 + i
        printf "]}"
    }'
}

# inv_bench_run NAME PREFIX SKUS LINES: one run; sets INV_RUN_RATE and
# INV_RUN_ALONE (orders/s, inventory-only orders/s). It runs in the bench's
# own shell, never in a subshell: a failure then fails the run, and the run
# is over, its processes stopped, before the next one starts.
inv_bench_run() {
    local name=$1 prefix=$2 skus=$3 lines=$4
    inv_dbs
    inv_start_feed "feed-$name" LOG_LEVEL=warn
    inv_start_ready "inv-$name" 1 LOG_LEVEL=warn ${BENCH_INV_ENV:-}
    inv_api_ok POST /v1/imports "$(inv_bench_products "$prefix" "$skus")" >/dev/null
    inv_feed /v1/place "{\"count\": $BENCH_INV_ORDERS, \"per_tx\": 1000, \"rate\": 0,
      \"random\": {\"prefix\": \"$prefix\", \"skus\": $skus, \"lines\": $lines, \"seed\": 7}}" >/dev/null
    it_wait_until 900 "inventory holds $BENCH_INV_ORDERS orders" bash -c \
        "[ \$(psql -X -Atq '$TEST_DATABASE_URL' -c \"SELECT count(*) FROM inventory.orders WHERE status = 'reserved'\") -ge $BENCH_INV_ORDERS ]"
    local rates
    rates=$(it_psql "SELECT round($BENCH_INV_ORDERS / extract(epoch FROM
        (SELECT max(pg_xact_commit_timestamp(xmin)) FROM inventory.orders) -
        (SELECT min(pg_xact_commit_timestamp(xmin)) FROM orderfeed.outbox))) || ' ' ||
      round($BENCH_INV_ORDERS / extract(epoch FROM
        (SELECT max(pg_xact_commit_timestamp(xmin)) FROM inventory.orders) -
        (SELECT min(pg_xact_commit_timestamp(xmin)) FROM inventory.orders)))") ||
        it_fail "inventory run $name: the rates could not be read"
    read -r INV_RUN_RATE INV_RUN_ALONE <<<"$rates"
    bench_number "$INV_RUN_RATE" "inventory run $name's orders/s"
    bench_number "$INV_RUN_ALONE" "inventory run $name's inventory-alone orders/s"
    local held
    held=$(it_psql "SELECT count(*) FROM inventory.reservations WHERE state = 'held'")
    [ "$held" -eq $((BENCH_INV_ORDERS * lines)) ] ||
        echo "   (!) $held reservation lines held, expected $((BENCH_INV_ORDERS * lines))" >&2
    it_stop "inv-$name"
    it_stop "feed-$name"
    bench_settle "inventory run $name"
}

# inv_bench NAME PREFIX SKUS LINES: BENCH_INV_RUNS runs; sets INV_BENCH_MEDIAN, INV_BENCH_LINE
inv_bench() {
    local name=$1 rates=() only=() n
    for n in $(seq 1 "$BENCH_INV_RUNS"); do
        inv_bench_run "$name$n" "$2" "$3" "$4"
        echo "   run $n: $INV_RUN_RATE orders/s commit to commit ($INV_RUN_ALONE orders/s inventory alone)"
        rates+=("$INV_RUN_RATE")
        only+=("$INV_RUN_ALONE")
    done
    INV_BENCH_MEDIAN=$(printf '%s\n' "${rates[@]}" | median)
    INV_BENCH_LINE="median of ${rates[*]}; inventory alone $(printf '%s\n' "${only[@]}" | median)"
}

echo "== inventory: 5-line orders over 1,000 SKUs, $BENCH_INV_ORDERS orders, $BENCH_INV_RUNS runs"
inv_bench flat B- 1000 5
figure "inventory.reserve.uncontended" "$INV_BENCH_MEDIAN orders/s ($INV_BENCH_LINE; target >= 2000)"
uncontended=$INV_BENCH_MEDIAN

echo "== inventory: 3-line orders on the same 3 SKUs, $BENCH_INV_ORDERS orders, $BENCH_INV_RUNS runs"
inv_bench hot H- 3 3
figure "inventory.reserve.contended" "$INV_BENCH_MEDIAN orders/s ($INV_BENCH_LINE)"
# (a zero or missing rate leaves the ratio empty, which fails the run)
figure "inventory.contended_to_uncontended" "$(awk -v c="$INV_BENCH_MEDIAN" -v u="$uncontended" 'BEGIN { if (u > 0) printf "%.2f", c / u }')"
