# inventory.sh — sourced by the inventory integration tests and the
# inventory benchmark (after lib.sh and kit.sh): start the inventory
# service and orderfeed (the test producer of the order stream) on fixed
# loopback ports, each with its own schema, and read what they did.
#
# Ports: orderfeed http 28121, replay 25621; inventory replicas http 2813N,
# replay 2563N (N = 1, 2). The tests run their own busd (inv_start_busd:
# 25660 in, 25661 out, http 28160) so that they share no stream with a
# bench or another suite using kit.sh's busd at the same time; the bench
# section uses the bench's busd (kit.sh's ports).

INV_FEED_PORT=28121
INV_FEED_REPLAY=tcp://127.0.0.1:25621

# inv_start_busd: busd on the inventory tests' own ports.
inv_start_busd() {
    KIT_BUS_IN=tcp://127.0.0.1:25660
    KIT_BUS_OUT=tcp://127.0.0.1:25661
    it_busd busd "$KIT_BUS_IN" "$KIT_BUS_OUT" 28160
    it_wait_until 10 "busd ready" kit_http_ok 28160 /readyz
}

# inv_dbs: fresh schemas and roles for inventory and orderfeed.
inv_dbs() {
    INV_ENV=$(it_service_db inventory)
    INV_FEED_ENV=$(it_service_db orderfeed)
}

# inv_start_feed NAME [VAR=VALUE ...]
inv_start_feed() {
    local name=$1
    shift
    it_start "$name" bash -c "$INV_FEED_ENV
        exec env BUS_PUB_ENDPOINT=$KIT_BUS_IN BUS_SUB_ENDPOINT=$KIT_BUS_OUT \
        HTTP_ADDR=127.0.0.1:$INV_FEED_PORT REPLAY_ADDR=$INV_FEED_REPLAY \
        REDIS_URL=$TEST_REDIS_URL BUS_CERT=$(it_key service order) $* \"$IT_BIN/orderfeed\""
    it_wait_until 30 "orderfeed ready" kit_http_ok "$INV_FEED_PORT" /readyz
}

# inv_start NAME N [VAR=VALUE ...]: replica N of inventory (not waited for).
inv_start() {
    local name=$1 n=$2
    shift 2
    it_start "$name" bash -c "$INV_ENV
        exec env BUS_PUB_ENDPOINT=$KIT_BUS_IN BUS_SUB_ENDPOINT=$KIT_BUS_OUT \
        HTTP_ADDR=127.0.0.1:2813$n REPLAY_ADDR=tcp://127.0.0.1:2563$n \
        REPLAY_PEERS=order=$INV_FEED_REPLAY REDIS_URL=$TEST_REDIS_URL \
        JOB_POLL=200ms JOB_BACKOFF_BASE=100ms BUS_CERT=$(it_key service inventory) \
        $* \"$IT_BIN/inventory\""
}

# inv_start_ready NAME N [VAR=VALUE ...]
inv_start_ready() {
    inv_start "$@"
    it_wait_until 30 "inventory replica $2 ready" kit_http_ok "2813$2" /readyz
}

# inv_leader_port: the HTTP port of the replica that applies (leads).
inv_leader_port() {
    local n
    for n in 1 2; do
        curl -fsS --max-time 2 "http://127.0.0.1:2813$n/readyz" 2>/dev/null |
            grep -Eq '"leader": ?true' && { echo "2813$n"; return 0; }
    done
    return 1
}

INV_ADMIN_TOKEN=$(it_token admin)
INV_PORT=28131

# inv_api METHOD PATH [BODY [CONTENT-TYPE]]: prints "<status> <body>" (admin token)
inv_api() {
    local method=$1 path=$2 body=${3:-} type=${4:-application/json}
    local args=(-sS -X "$method" -w '\n%{http_code}' --max-time 20
        -H "Authorization: Bearer ${INV_TOKEN:-$INV_ADMIN_TOKEN}")
    [ -n "$body" ] && args+=(-H "Content-Type: $type" --data-binary "$body")
    local out
    out=$(curl "${args[@]}" "http://127.0.0.1:${INV_PORT}$path") || return 1
    echo "$(tail -n1 <<<"$out") $(sed '$d' <<<"$out")"
}

# inv_api_ok METHOD PATH [BODY [TYPE]]: the body of a 2xx answer, or fail
inv_api_ok() {
    local answer
    answer=$(inv_api "$@") || it_fail "$1 $2: no answer"
    case ${answer%% *} in
    2??) echo "${answer#* }" ;;
    *) it_fail "$1 $2 answered ${answer:0:600}" ;;
    esac
}

# inv_feed PATH JSON: a call to orderfeed; prints its answer body
inv_feed() {
    curl -fsS --max-time 120 -H 'Content-Type: application/json' -d "$2" \
        "http://127.0.0.1:$INV_FEED_PORT$1" || it_fail "orderfeed $1 failed"
}

inv_sql() {
    it_psql "SET search_path = inventory; $1"
}

# inv_applied_at_least N: the applier has applied N order events
inv_applied_at_least() {
    [ "$(it_psql "SELECT COALESCE((SELECT last_seq FROM inventory.inbox_offsets
        WHERE stream = 'order'), 0)")" -ge "$1" ]
}

# inv_order_count STATUS: orders inventory holds in this status
inv_order_count() {
    inv_sql "SELECT count(*) FROM orders WHERE status = '$1'"
}

# inv_idle: no retry job is queued or running
inv_idle() {
    [ "$(inv_sql "SELECT count(*) FROM jobs WHERE state IN ('queued', 'running')")" = 0 ]
}

# inv_assert_clean WHAT: GET /v1/reconciliation says clean, and the
# constraints' promises hold in SQL too
inv_assert_clean() {
    local report
    report=$(inv_api_ok GET /v1/reconciliation)
    jq -e '.clean == true' >/dev/null <<<"$report" ||
        it_fail "$1: reconciliation is not clean: ${report:0:1500}"
    it_assert_eq 0 "$(inv_sql "SELECT count(*) FROM products WHERE reserved > on_hand
        OR reserved < 0 OR on_hand < 0")" "$1: products over-reserved or negative"
    it_assert_eq 0 "$(inv_sql "SELECT count(*) FROM dead_letters")" "$1: parked events"
    it_log "$1: reconciliation clean ($(jq -r .products_checked <<<"$report") products)"
}

# inv_outbox_count TYPE [ORDER-ID]: events of a type inventory published
inv_outbox_count() {
    if [ -n "${2:-}" ]; then
        inv_sql "SELECT count(*) FROM outbox WHERE type = '$1' AND correlation_id = '$2'"
    else
        inv_sql "SELECT count(*) FROM outbox WHERE type = '$1'"
    fi
}

# inv_caught_up: inventory has applied everything orderfeed committed
inv_caught_up() {
    [ "$(it_psql "SELECT count(*) FROM orderfeed.outbox WHERE seq IS NULL")" = 0 ] &&
        [ "$(it_psql "SELECT COALESCE(max(seq), 0) FROM orderfeed.outbox")" = \
            "$(it_psql "SELECT COALESCE((SELECT last_seq FROM inventory.inbox_offsets
                WHERE stream = 'order'), 0)")" ]
}

# inv_settled: caught up, and no retry job left to run
inv_settled() {
    inv_caught_up && inv_idle
}

# inv_wait_settled WHAT
inv_wait_settled() {
    it_wait_until "${2:-60}" "$1" inv_settled
}

# inv_event MESSAGE TYPE [CORRELATION]: the newest event of TYPE inventory
# published (for that order), decoded as text
inv_event() {
    local where="type = '$2'"
    [ -n "${3:-}" ] && where="$where AND correlation_id = '$3'"
    it_psql "SELECT encode(payload, 'base64') FROM inventory.outbox WHERE $where
        ORDER BY id DESC LIMIT 1" | base64 -d |
        protoc-c --decode="conveyor.$1" --proto_path="$IT_TOP/proto" \
            "$IT_TOP/proto/conveyor/inventory.proto"
}
