# section_journey.sh — whole journeys through the whole stack (sourced by
# tests/bench/run.sh; issue 14, item 6).
#
#   journey.per_s.rN     prepaid post orders carried from intake to delivered
#                        per second with N shipping replicas: BENCH_JOURNEY_ORDERS
#                        orders submitted over HTTP, confirmed by their manager,
#                        paid on the fake bank's page, packed by the warehouse,
#                        labelled at the fake carrier, handed over and delivered
#                        by its tracking webhooks; each step taken for every
#                        order of the wave at once (BENCH_JOURNEY_CLIENTS at a
#                        time) as soon as the step before has come through for
#                        all; journeys over the time from the first submission
#                        to the last order's move to delivered (its history)
#   journey.step_ms.rN   how long each step took for the whole wave, from its
#                        first call to the last order through it (ms), and
#                        their sum
#
# Every service once (tests/integration/journey/journey.sh) on the bench's
# busd, the fakes at their default latency (the bank and the carrier answer
# at once), the customer messages sent for real to the fake SMTP and SMS.
# With 3 replicas the same stack gets two more shipping replicas; their job
# workers share the quotes and the labels.

JOURNEY_BUSD=shared J_SERVICE_ENV=LOG_LEVEL=warn
source tests/integration/journey/journey.sh

BENCH_JOURNEY_ORDERS=${BENCH_JOURNEY_ORDERS:-60}
BENCH_JOURNEY_CLIENTS=${BENCH_JOURNEY_CLIENTS:-8}
# the ports of this section beyond BENCH_PORTS: shipping 1-3 (http, replay),
# the fake bank, the fake SMS gateway and Telegram, the fake carrier
JOURNEY_PORTS="28151 28152 28153 25641 25642 25643 28133 28143 28144 28149"
BENCH_EXTRA_PORTS="${BENCH_EXTRA_PORTS:-} $JOURNEY_PORTS"

# bench_each FUNCTION ARG...: FUNCTION ARG for every ARG, BENCH_JOURNEY_CLIENTS
# at a time; fails the run when one fails
bench_each() {
    local f=$1 arg pids=() pid bad=0
    shift
    for arg in "$@"; do
        "$f" "$arg" &
        pids+=($!)
        if [ ${#pids[@]} -ge "$BENCH_JOURNEY_CLIENTS" ]; then
            wait "${pids[0]}" || bad=1
            pids=("${pids[@]:1}")
        fi
    done
    for pid in "${pids[@]}"; do wait "$pid" || bad=1; done
    [ "$bad" = 0 ] || it_fail "section journey: a $f failed"
}

# bench_all WHAT SQL-CONDITION: waits until every order of the wave meets it
bench_all() {
    local sql="SELECT count(*) FROM $2"
    bench_count_ok() { [ "$(it_psql "$1")" -ge "$BENCH_JOURNEY_ORDERS" ]; }
    it_wait_until 600 "$1" bench_count_ok "$sql"
}

bench_now_ms() { date +%s%3N; }

jb_submit() { # I: one order, its id into the wave's file
    local out
    out=$(order_submit "JB-$jb_tag-$1" "{\"customer\":{\"name\":\"Покупатель $1\",\"email\":\"jb-$jb_tag-$1@example.ru\",\"phone\":\"+7999$(printf '%03d%04d' "$jb_tag" "$1")\"},
      \"delivery\":{\"method\":\"post\",\"address\":{\"region\":\"Kamchatka\",\"city\":\"Петропавловск\",\"line1\":\"Ленина $1\",\"postal_code\":\"683000\"}},
      \"items\":[{\"sku\":\"JB-LAMP\",\"quantity\":1}]}")
    [ "$(http_code "$out")" = 201 ] || it_fail "submitting $1: $out"
    http_body "$out" | jq -r .order_id >"$IT_RUN/jb-$jb_tag.$1"
}
jb_confirm() { j_move "$1" confirmed "$J_AS_MANAGER" >/dev/null; }
jb_pay() { curl -fsS -o /dev/null --max-time 10 -X POST "$1" -d action=pay || it_fail "paying at $1"; }
jb_assemble() { j_move "$1" assembled "$J_AS_WAREHOUSE" >/dev/null; }
jb_track() { # TRACKING_NUMBER:CODE
    fake_carrier POST /_fake/track "{\"tracking_number\":\"${1%%:*}\",\"status_code\":\"${1#*:}\"}" >/dev/null
}

# bench_wave REPLICAS: one wave of journeys; prints its figures
bench_wave() {
    local replicas=$1 ids list steps="" t start
    jb_tag=$replicas
    start=$(bench_now_ms)
    t=$start
    bench_each jb_submit $(seq 1 "$BENCH_JOURNEY_ORDERS")
    ids=$(cat "$IT_RUN"/jb-"$jb_tag".* | paste -sd,)
    list="'{$ids}'::uuid[]"
    bench_all "the wave reserved" "orders.orders WHERE id = ANY($list) AND stock_state = 'reserved'"
    steps+="reserved $(($(bench_now_ms) - t)) "
    t=$(bench_now_ms)
    # shellcheck disable=SC2046 # one id a word
    bench_each jb_confirm $(tr , ' ' <<<"$ids")
    bench_all "the wave invoiced" "payment.invoices WHERE order_id = ANY($list) AND status = 'open'"
    steps+="invoiced $(($(bench_now_ms) - t)) "
    t=$(bench_now_ms)
    # shellcheck disable=SC2046
    bench_each jb_pay $(it_psql "SELECT payment_url FROM payment.invoices WHERE order_id = ANY($list) AND status = 'open'")
    bench_all "the wave paid" "orders.orders WHERE id = ANY($list) AND status = 'prepare_for_delivery'"
    steps+="paid $(($(bench_now_ms) - t)) "
    t=$(bench_now_ms)
    # shellcheck disable=SC2046
    bench_each jb_assemble $(tr , ' ' <<<"$ids")
    bench_all "the wave labelled" "shipping.shipments WHERE order_id = ANY($list) AND state = 'labelled'"
    steps+="labelled $(($(bench_now_ms) - t)) "
    t=$(bench_now_ms)
    # shellcheck disable=SC2046
    bench_each jb_track $(it_psql "SELECT tracking_number || ':AC' FROM shipping.shipments WHERE order_id = ANY($list)")
    bench_all "the wave handed over" "orders.orders WHERE id = ANY($list) AND status = 'handed_to_carrier'"
    steps+="handed_over $(($(bench_now_ms) - t)) "
    t=$(bench_now_ms)
    # shellcheck disable=SC2046
    bench_each jb_track $(it_psql "SELECT tracking_number || ':DE' FROM shipping.shipments WHERE order_id = ANY($list)")
    bench_all "the wave delivered" "orders.orders WHERE id = ANY($list) AND status = 'delivered'"
    steps+="delivered $(($(bench_now_ms) - t))"
    local elapsed sold twice
    elapsed=$(it_psql "SELECT round((extract(epoch FROM max(at)) * 1000)::numeric - $start) FROM orders.order_history
        WHERE order_id = ANY($list) AND kind = 'status' AND to_status = 'delivered'")
    sold=$(fake_carrier GET /_fake/labels | jq --argjson ids "[\"$(sed 's/,/","/g' <<<"$ids")\"]" \
        '[.labels[] | select((.external_shipment_id | split(":")[0]) as $o | $ids | index($o))] | length')
    twice=$(fake_carrier GET /_fake/stats | jq .shipments_sold_twice)
    [ "$sold" = "$BENCH_JOURNEY_ORDERS" ] && [ "$twice" = 0 ] ||
        it_fail "section journey: $sold labels for $BENCH_JOURNEY_ORDERS parcels ($twice sold twice)"
    figure "journey.per_s.r$replicas" "$(awk -v n="$BENCH_JOURNEY_ORDERS" -v ms="$elapsed" 'BEGIN { printf "%.2f", n * 1000 / ms }') journeys/s; $BENCH_JOURNEY_ORDERS prepaid post orders intake -> delivered in $elapsed ms, $replicas shipping replicas, $BENCH_JOURNEY_CLIENTS clients"
    figure "journey.step_ms.r$replicas" "$(awk '{ s = 0; for (i = 2; i <= NF; i += 2) s += $i; print s }' <<<"$steps") ms in steps: $steps"
}

journey_start 1
journey_products JB-LAMP:1000000
bench_wave 1
ship_start ship2 2 LOG_LEVEL=warn
ship_start ship3 3 LOG_LEVEL=warn
bench_wave 3
for name in ship3 ship2 ship1 notify1 pay1 inv order1 fakecarrier fakebank fakesms fakesmtp faketelegram; do
    it_stop "$name"
done
bench_settle "journey"
# shellcheck disable=SC2086 # one port a word
bench_ports_free "after the journeys" $JOURNEY_PORTS
# what this section set for its stack is not the next sections'
unset FAKE_PORT SHIP_HTTP_BASE JOURNEY_BUSD J_SERVICE_ENV ORDER_ADMIN_TOKEN NT_ADMIN_TOKEN
INV_FEED_REPLAY=tcp://127.0.0.1:25621
