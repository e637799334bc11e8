#!/usr/bin/env bash
# Manager assignment (F5) against two real order replicas sharing one
# database: 300 orders arriving at once over HTTP at both replicas, then
# 300 over the bus, spread within one order of even over three managers
# with nobody over capacity; the same with Redis stopped, where the
# database alone keeps capacity; nobody on shift, then someone arrives and
# the waiting orders go out oldest first; an order nobody takes up is
# reassigned when its time runs out, one taken up is not.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/kit/kit.sh"
source "$(dirname "$0")/order/order.sh"

kit_dbs
order_dbs
kit_start_busd
# the reassignment timer is short and the task due time irrelevant here
order_start order1 1 ASSIGN_TIMEOUT=15m JOB_POLL=100ms
order_start order2 2 ASSIGN_TIMEOUT=15m JOB_POLL=100ms
order_sources
m1=$(order_staff m1 "Maria One" manager '[]' 250)
m2=$(order_staff m2 "Mikhail Two" manager '[]' 250)
m3=$(order_staff m3 "Marat Three" manager '[]' 250)
for m in "$m1" "$m2" "$m3"; do order_shift "$m" true; done
order_staff reader "Report Reader" admin '[]' 0 >/dev/null

# spread_ok WHERE: the managers' shares of the matching orders differ by at most one
spread() {
    order_sql "SELECT coalesce(max(n) - min(n), -1) || ' ' || coalesce(sum(n), 0) FROM (
        SELECT s.id, count(o.id) AS n FROM orders.staff s LEFT JOIN orders.orders o
        ON o.manager_id = s.id AND ($1) WHERE s.role = 'manager' AND s.on_shift GROUP BY s.id) x"
}
capacity_held() {
    it_assert_eq 0 "$(order_sql "SELECT count(*) FROM orders.staff WHERE open_orders > capacity")" \
        "managers over capacity"
    it_assert_eq 0 "$(order_sql "SELECT count(*) FROM orders.staff s WHERE open_orders <> (
        SELECT count(*) FROM orders.orders o WHERE o.manager_id = s.id)")" \
        "managers whose open orders differ from the orders they hold"
}

# http_burst PREFIX COUNT: COUNT orders at once, alternating between the replicas
http_burst() {
    local prefix=$1 count=$2
    for i in $(seq 1 "$count"); do
        echo "$((i % 2 + 1)) $prefix-$i $i"
    done | xargs -P 16 -n 3 sh -c '
        curl -sS -o /dev/null -w "%{http_code}\n" --max-time 30 \
            -H "Content-Type: application/json" -H "X-Api-Key: '"$ORDER_SITE_KEY"'" \
            -H "Idempotency-Key: $1" \
            --data-binary "{\"customer\":{\"name\":\"Load $1\",\"phone\":\"+7901$(printf %07d "$2")\"},\"delivery\":{\"method\":\"self_pickup\"},\"items\":[{\"sku\":\"MUG-1\",\"quantity\":1}]}" \
            "http://127.0.0.1:'"$ORDER_HTTP_BASE"'$0/v1/orders"' >"$IT_RUN/$prefix.codes"
    it_assert_eq "$count" "$(grep -c '^201$' "$IT_RUN/$prefix.codes")" "orders of $prefix accepted"
}

# --- 300 at once over HTTP at two replicas -------------------------------------
http_burst H 300
it_assert_eq "0 300" "$(spread "o.external_id LIKE 'H-%'")" \
    "spread of 300 HTTP orders over 3 managers (max-min, assigned)"
capacity_held

# --- 300 over the bus -------------------------------------------------------------
BUS_PUB_ENDPOINT=$KIT_BUS_IN BUS_SUB_ENDPOINT=$KIT_BUS_OUT BUS_CERT=$(it_key source bus-load) \
    "$IT_BIN/conveyor" intake --source bus-load --generate 300 --quiet || it_fail "bus orders without an answer"
it_assert_eq "0 300" "$(spread "o.source = 'bus-load'")" "spread of 300 bus orders"
capacity_held

# --- Redis stopped: the database alone keeps capacity --------------------------------
order_admin PATCH "/v1/staff/$m1" '{"capacity":230}' >/dev/null
order_admin PATCH "/v1/staff/$m2" '{"capacity":230}' >/dev/null
order_admin PATCH "/v1/staff/$m3" '{"capacity":230}' >/dev/null
it_redis SHUTDOWN NOSAVE >/dev/null 2>&1
restart_redis() { redis_start "$TEST_ROOT" "$TEST_REDIS_PORT" >/dev/null; }
trap 'restart_redis; _it_cleanup' EXIT
http_burst R 150
it_assert_eq 90 "$(order_sql "SELECT count(*) FROM orders.orders WHERE external_id LIKE 'R-%' AND manager_id IS NOT NULL")" \
    "orders assigned without Redis up to capacity"
it_assert_eq 60 "$(order_sql "SELECT count(*) FROM orders.orders WHERE external_id LIKE 'R-%' AND manager_id IS NULL")" \
    "orders waiting when every manager is full"
it_assert_eq "230 230 230" "$(order_sql "SELECT string_agg(open_orders::text, ' ') FROM orders.staff WHERE role = 'manager'")" \
    "every manager exactly at capacity"
capacity_held
bypassed=$(( $(kit_metric 28181 lock_bypassed_total) + $(kit_metric 28182 lock_bypassed_total) ))
[ "$bypassed" -gt 0 ] || it_fail "lock_bypassed_total did not count the work done without Redis"
restart_redis

# --- nobody on shift, then someone arrives ----------------------------------------------
# the orders nobody could take are cancelled by an admin, over the API
[ -n "${ORDER_ADMIN_TOKEN:-}" ] || ORDER_ADMIN_TOKEN=$(it_token admin it-admin)
# for_each_order SQL_IDS PATH_SUFFIX BODY: POSTs to /v1/orders/{id}/SUFFIX as the admin, at
# at once; every answer must be 200
for_each_order() {
    order_sql "$1" | xargs -P 16 -I{} curl -sS -o /dev/null -w "%{http_code}\n" --max-time 30 \
        -H "Content-Type: application/json" -H "Authorization: Bearer $ORDER_ADMIN_TOKEN" \
        --data-binary "$3" "$(order_url 1)/v1/orders/{}/$2" >"$IT_RUN/each.codes"
    it_assert_eq "$(order_sql "SELECT count(*) FROM ($1) x")" "$(grep -c '^200$' "$IT_RUN/each.codes")" \
        "orders answered 200 on /$2"
}
for_each_order "SELECT id FROM orders.orders WHERE manager_id IS NULL" status \
    '{"to":"cancelled","reason":"nobody could take it"}'
it_assert_eq 0 "$(order_sql "SELECT count(*) FROM orders.orders WHERE manager_id IS NULL AND status <> 'cancelled'")" \
    "unassigned orders left uncancelled"
for m in "$m1" "$m2" "$m3"; do order_shift "$m" false; done
for i in 1 2 3 4 5; do
    out=$(order_submit "Q-$i" "$(order_body "Queue $i" "+7901000000$i" Moscow MUG-1 1)")
    it_assert_eq 201 "$(http_code "$out")" "order Q-$i while nobody is on shift"
done
it_assert_eq 5 "$(order_sql "SELECT count(*) FROM orders.orders WHERE external_id LIKE 'Q-%' AND manager_id IS NULL")" \
    "orders waiting while nobody is on shift"
order_admin PATCH "/v1/staff/$m2" '{"capacity":240}' >/dev/null
order_shift "$m2" true
queue_assigned() {
    [ "$(order_sql "SELECT count(*) FROM orders.orders WHERE external_id LIKE 'Q-%' AND manager_id IS NOT NULL")" = 5 ]
}
it_wait_until 15 "the waiting orders assigned when someone came on shift" queue_assigned
it_assert_eq "$m2" "$(order_sql "SELECT DISTINCT manager_id FROM orders.orders WHERE external_id LIKE 'Q-%'")" \
    "the one on shift took them"
it_assert_eq "Q-1 Q-2 Q-3 Q-4 Q-5" "$(order_sql "SELECT string_agg(external_id, ' ' ORDER BY assigned_at, placed_at) FROM orders.orders WHERE external_id LIKE 'Q-%'")" \
    "assigned oldest first"
capacity_held

# --- not taken up: reassigned; taken up: kept ------------------------------------------------
# the orders so far are being worked (their own timers must not move them)
for_each_order "SELECT id FROM orders.orders WHERE status <> 'cancelled'" take ''
order_admin PATCH "/v1/staff/$m1" '{"capacity":240}' >/dev/null
order_shift "$m1" true
out=$(order_submit T-1 "$(order_body "Timer One" "+79020000001" Moscow MUG-1 1)")
slow_order=$(http_body "$out" | jq -r .order_id)
slow_manager=$(http_body "$out" | jq -r .manager_id)
out=$(order_submit T-2 "$(order_body "Timer Two" "+79020000002" Moscow MUG-1 1)")
kept_order=$(http_body "$out" | jq -r .order_id)
kept_manager=$(http_body "$out" | jq -r .manager_id)
token=$(it_token manager "$kept_manager")
it_assert_eq 200 "$(http_code "$(order_call POST "/v1/orders/$kept_order/take" '' "Authorization: Bearer $token")")" \
    "the manager takes up T-2"
for n in 1 2; do
    ORDER_N=$n order_call POST /v1/test/clock '{"advance_ms": 960000}' >/dev/null
done
reassigned() {
    [ "$(order_sql "SELECT manager_id FROM orders.orders WHERE id = '$slow_order'")" != "$slow_manager" ]
}
it_wait_until 15 "the order nobody took up reassigned after 15 minutes" reassigned
it_assert_eq "$kept_manager" "$(order_sql "SELECT manager_id FROM orders.orders WHERE id = '$kept_order'")" \
    "the order taken up stays with its manager"
it_assert_eq "not_taken_up" "$(order_sql "SELECT reason FROM orders.order_history WHERE order_id = '$slow_order' AND kind = 'assigned' ORDER BY id DESC LIMIT 1")" \
    "the history says why it was reassigned"
capacity_held
# --- reading: keyset pages and filters over what was made here --------------------------------
ORDER_ADMIN_TOKEN=$(order_login reader) # business time moved on: a token of the service's own
page_all() { # QUERY: every id over all pages, one per line
    local cursor="" out
    while :; do
        out=$(order_admin GET "/v1/orders?limit=97&$1${cursor:+&cursor=$cursor}")
        [ "$(http_code "$out")" = 200 ] || it_fail "GET /v1/orders?$1: $out"
        http_body "$out" | jq -r '.items[].id'
        cursor=$(http_body "$out" | jq -r '.next_cursor // empty')
        [ -n "$cursor" ] || break
    done
}
all=$(page_all "")
it_assert_eq "$(order_sql "SELECT count(*) FROM orders.orders")" "$(wc -l <<<"$all")" "orders over all pages"
it_assert_eq "$(wc -l <<<"$all")" "$(sort -u <<<"$all" | wc -l)" "distinct orders over all pages"
it_assert_eq "$(order_sql "SELECT count(*) FROM orders.orders WHERE manager_id = '$m2'")" \
    "$(page_all "manager=$m2" | wc -l)" "orders of one manager"
it_assert_eq "$(order_sql "SELECT count(*) FROM orders.orders WHERE status = 'cancelled'")" \
    "$(page_all "status=cancelled" | wc -l)" "cancelled orders"
it_assert_eq "$(order_sql "SELECT count(*) FROM orders.orders o JOIN orders.statuses s ON s.code = o.status WHERE s.group_code = 'new' AND o.source = 'bus-load'")" \
    "$(page_all "group=new&source=bus-load" | wc -l)" "new orders from the bus"
it_assert_eq "$(order_sql "SELECT count(*) FROM orders.orders WHERE delivery_method = 'courier' AND channel = 'website'")" \
    "$(page_all "delivery_method=courier&channel=website" | wc -l)" "courier orders from the website"
it_assert_eq 0 "$(page_all "from=2020-01-01&to=2020-02-01" | grep -c . || true)" "orders of a period long ago"
it_assert_eq 400 "$(http_code "$(order_admin GET "/v1/orders?cursor=garbage")")" "a cursor we never gave out"
it_assert_eq 400 "$(http_code "$(order_admin GET "/v1/orders?limit=100000")")" "a page too large"

order_assert_references
it_log "assignment: 300 over HTTP and 300 over the bus within one of even, capacity held without Redis, queue and timeout"
