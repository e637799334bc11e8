# order.sh — sourced by the order service's integration tests: start order
# replicas on fixed loopback ports with their own schema and roles, and
# talk to them as staff and as intake sources.
#
# Ports: order replica N: http 2818N, replay 2556N (N = 1, 2 ...); busd as
# in kit.sh; an inventory, when a test runs one: http 28182+?, see
# inventory.sh.

ORDER_HTTP_BASE=2818
ORDER_SITE_KEY=it-site-main-key-0123456789abcdef
ORDER_FORM_KEY=it-tilda-landing-key-0123456789ab

order_dbs() {
    ORDER_ENV=$(it_service_db order orders)
}

# order_start NAME N [VAR=VALUE ...]: replica N of the order service
order_start() {
    local name=$1 n=$2
    shift 2
    it_start "$name" bash -c "$ORDER_ENV
        exec env BUS_PUB_ENDPOINT=$KIT_BUS_IN BUS_SUB_ENDPOINT=$KIT_BUS_OUT \
        HTTP_ADDR=127.0.0.1:$ORDER_HTTP_BASE$n REPLAY_ADDR=tcp://127.0.0.1:2556$n \
        REPLAY_PEERS=inventory=tcp://127.0.0.1:25572 REDIS_URL=$TEST_REDIS_URL \
        CLOCK_TEST=true STORE_REGION=moscow BUS_CERT=$(it_key service order) $* \"$IT_BIN/order\""
    it_wait_until 30 "order replica $n ready" kit_http_ok "$ORDER_HTTP_BASE$n" /readyz
}

order_url() {
    echo "http://127.0.0.1:$ORDER_HTTP_BASE${1:-1}"
}

# order_call METHOD PATH [BODY [HEADER...]] on replica ORDER_N (default 1)
order_call() {
    local method=$1 path=$2 body=${3:-}
    shift 3 2>/dev/null || shift $#
    it_http "$method" "$(order_url "${ORDER_N:-1}")$path" "$body" "$@"
}

# order_admin METHOD PATH [BODY]: as an admin
order_admin() {
    [ -n "${ORDER_ADMIN_TOKEN:-}" ] || ORDER_ADMIN_TOKEN=$(it_token admin it-admin)
    order_call "$1" "$2" "${3:-}" "Authorization: Bearer $ORDER_ADMIN_TOKEN"
}

# order_status_of "<status> <body>": the status code
http_code() { echo "${1%% *}"; }
# http_body "<status> <body>": the body
http_body() { echo "${1#* }"; }

# order_staff LOGIN NAME ROLE REGIONS_JSON CAPACITY: creates, prints the id
order_staff() {
    local out
    out=$(order_admin POST /v1/staff "{\"login\":\"$1\",\"name\":\"$2\",\"role\":\"$3\",\"regions\":$4,\"capacity\":$5,\"password\":\"pass-$1-123\"}")
    [ "$(http_code "$out")" = 201 ] || it_fail "creating staff $1: $out"
    http_body "$out" | jq -r .id
}

# order_shift ID true|false
order_shift() {
    local out
    out=$(order_admin POST "/v1/staff/$1/shift" "{\"on_shift\":$2}")
    [ "$(http_code "$out")" = 200 ] || it_fail "shift of $1: $out"
}

# order_sources: the intake sources the tests use (site-main may give up
# to 20 % off, tilda-landing sets its prices and gives no discount)
order_sources() {
    local out
    out=$(order_admin POST /v1/sources "{\"source\":\"site-main\",\"api_key\":\"$ORDER_SITE_KEY\",\"max_discount_bp\":2000}")
    [ "$(http_code "$out")" = 201 ] || it_fail "source site-main: $out"
    out=$(order_admin POST /v1/sources "{\"source\":\"tilda-landing\",\"api_key\":\"$ORDER_FORM_KEY\",\"default_channel\":\"landing\",\"may_set_prices\":true}")
    [ "$(http_code "$out")" = 201 ] || it_fail "source tilda-landing: $out"
}

# order_submit KEY BODY: POST /v1/orders as site-main
order_submit() {
    order_call POST /v1/orders "$2" "X-Api-Key: $ORDER_SITE_KEY" "Idempotency-Key: $1"
}

# a valid order body: order_body NAME PHONE REGION SKU QTY
order_body() {
    printf '{"customer":{"name":"%s","phone":"%s"},"delivery":{"method":"courier","address":{"region":"%s","city":"%s","line1":"Lenina 1"}},"items":[{"sku":"%s","quantity":%s}]}' \
        "$1" "$2" "$3" "$3" "$4" "$5"
}

order_sql() {
    it_psql "$1"
}

# order_assert_references: every reference the schema no longer checks on
# the hot path (migration 018) holds: the writers take each id from a row
# of the same transaction and no such row is ever deleted, so none may
# dangle, whatever the flow before it did
order_assert_references() {
    it_assert_eq "0 0 0 0 0 0 0 0 0" "$(order_sql "SELECT concat_ws(' ',
        (SELECT count(*) FROM orders.order_history h WHERE NOT EXISTS (SELECT 1 FROM orders.orders o WHERE o.id = h.order_id)),
        (SELECT count(*) FROM orders.order_lines l WHERE NOT EXISTS (SELECT 1 FROM orders.orders o WHERE o.id = l.order_id)),
        (SELECT count(*) FROM orders.intake_keys k WHERE NOT EXISTS (SELECT 1 FROM orders.orders o WHERE o.id = k.order_id)),
        (SELECT count(*) FROM orders.tasks t WHERE t.order_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM orders.orders o WHERE o.id = t.order_id)),
        (SELECT count(*) FROM orders.tasks t WHERE t.assignee_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM orders.staff s WHERE s.id = t.assignee_id)),
        (SELECT count(*) FROM orders.orders o WHERE NOT EXISTS (SELECT 1 FROM orders.statuses s WHERE s.code = o.status)),
        (SELECT count(*) FROM orders.orders o WHERE NOT EXISTS (SELECT 1 FROM orders.customers c WHERE c.id = o.customer_id)),
        (SELECT count(*) FROM orders.orders o WHERE o.manager_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM orders.staff s WHERE s.id = o.manager_id)),
        (SELECT count(*) FROM orders.customers c WHERE c.manager_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM orders.staff s WHERE s.id = c.manager_id)))")" \
        "dangling references (history, lines, intake keys, task orders, task assignees, statuses, customers, order managers, customer managers)"
}

# order_held ORDER WAITER SECONDS SQL: another transaction on the order:
# SQL, the order's row updated, then held until a session whose statement
# is LIKE WAITER waits for it (it then says "held until it was waited
# for"), or for SECONDS; its output is psql's. For what the order
# service's handlers read after waiting for an order's lock.
order_held() {
    order_sql "DO \$\$
        DECLARE deadline timestamptz := clock_timestamp() + interval '$3 s';
        BEGIN
            $4;
            UPDATE orders.orders SET version = version + 1 WHERE id = '$1';
            LOOP
                PERFORM pg_stat_clear_snapshot();
                IF EXISTS (SELECT 1 FROM pg_stat_activity
                           WHERE pg_backend_pid() = ANY (pg_blocking_pids(pid)) AND query LIKE '$2') THEN
                    RAISE NOTICE 'held until it was waited for';
                    EXIT;
                END IF;
                EXIT WHEN clock_timestamp() > deadline;
                PERFORM pg_sleep(0.02);
            END LOOP;
        END \$\$" 2>&1
}
# order_held_now: a transaction of order_held has done its SQL and holds
order_held_now() {
    [ "$(order_sql "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND query LIKE 'DO%'")" -ge 1 ]
}

# order_move ORDER TO TOKEN [REASON]: POST the status move, "<status> <body>"
order_move() {
    local reason=${4:+,\"reason\":\"$4\"}
    order_call POST "/v1/orders/$1/status" "{\"to\":\"$2\"$reason}" "Authorization: Bearer $3"
}
order_status() { order_sql "SELECT status FROM orders.orders WHERE id = '$1'"; }
order_stock() { order_sql "SELECT stock_state FROM orders.orders WHERE id = '$1'"; }
order_has_status() { [ "$(order_status "$1")" = "$2" ]; }
order_has_stock() { [ "$(order_stock "$1")" = "$2" ]; }
# order_events ORDER: the types the order stream published about it, in order
order_events() {
    order_sql "SELECT string_agg(type, ' ' ORDER BY id) FROM orders.outbox WHERE correlation_id = '$1'"
}

# order_login LOGIN: a token from the service itself (its business clock:
# the one to use after a test moved time on); staff made by order_staff
order_login() {
    local out
    out=$(order_call POST /v1/auth/token "{\"login\":\"$1\",\"password\":\"pass-$1-123\"}")
    [ "$(http_code "$out")" = 200 ] || it_fail "login of $1: $out"
    http_body "$out" | jq -r .access_token
}
