#!/usr/bin/env bash
# A transaction of the order service commits once however its connection
# behaves (issue 10, item 2 and its Tests): the order service reaches its
# database through pgcut (kit/pgcut.c), which lets one COMMIT reach the
# server and then closes the connection before the answer comes back.
#   1. a status move (POST /v1/orders/{id}/status: not idempotent by
#      nature, a second run would find the order moved already) loses its
#      COMMIT answer: the caller gets one answer, 200, and the order moved
#      once (one history row, one order.status_changed, one version);
#   2. a consumed event (inventory/stock.reserved) loses its COMMIT answer
#      on the applier: the order is priced and announced once, nothing is
#      parked, and the stream goes on.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/kit/kit.sh"
source "$(dirname "$0")/order/order.sh"

PROXY_PORT=$((TEST_PG_PORT + 9))
CUE=$IT_RUN/pgcut.cue
kit_dbs
order_dbs
INV_ENV=$(it_service_db inventoryfeed)
kit_start_busd
it_start pgcut "$IT_BIN/pgcut" "$PROXY_PORT" "$TEST_PG_PORT" "$CUE"
# the order service's sessions go through the proxy
ORDER_ENV=$(sed -e "s/127\.0\.0\.1:$TEST_PG_PORT/127.0.0.1:$PROXY_PORT/g" <<<"$ORDER_ENV")
grep -q ":$PROXY_PORT/" <<<"$ORDER_ENV" || it_fail "could not point the order service at the proxy"
it_start invfeed bash -c "$INV_ENV
    exec env FEED_STREAM=inventory BUS_PUB_ENDPOINT=$KIT_BUS_IN BUS_SUB_ENDPOINT=$KIT_BUS_OUT \
    HTTP_ADDR=127.0.0.1:28127 REPLAY_ADDR=tcp://127.0.0.1:25627 REDIS_URL=$TEST_REDIS_URL \
    BUS_CERT=$(it_key service inventory) \"$IT_BIN/factfeed\""
it_wait_until 30 "invfeed ready" kit_http_ok 28127 /readyz
order_start order1 1 REPLAY_PEERS=inventory=tcp://127.0.0.1:25627
order_sources
anna=$(order_staff anna "Anna Smirnova" manager '["moscow"]' 100)
order_shift "$anna" true
as_anna=$(it_token manager "$anna")

submit() { # KEY -> order id
    local out
    out=$(order_submit "$1" "$(order_body "Customer $1" "+7900555000${1#TX-}" Moscow MUG 1)")
    [ "$(http_code "$out")" = 201 ] || it_fail "submitting $1: $out"
    http_body "$out" | jq -r .order_id
}
reserve() { # ORDER: inventory holds its one line
    local out
    out=$(it_http POST http://127.0.0.1:28127/v1/publish \
        "{\"events\":[{\"type\":\"stock.reserved\",\"payload\":{\"order_id\":\"$1\",\"order_version\":1,\"currency\":\"RUB\",\"lines\":[{\"line_no\":1,\"sku\":\"MUG\",\"quantity\":1,\"unit_price_minor\":49000,\"vat_rate_bp\":2000}]}}]}")
    [ "$(http_code "$out")" = 201 ] || it_fail "publishing stock.reserved: $out"
}
cue_taken() { [ ! -s "$CUE" ]; }
settled() { grep -c '"commit_settled"' "$IT_RUN/order1.log" || true; }
history_rows() { # ORDER KIND REASON_OR_STATUS
    order_sql "SELECT count(*) FROM orders.order_history WHERE order_id = '$1' AND kind = '$2'
        AND (to_status = '$3' OR reason = '$3')"
}
events_of() { # ORDER TYPE
    order_sql "SELECT count(*) FROM orders.outbox WHERE correlation_id = '$1' AND type = '$2'"
}

# --- 1. a status move whose COMMIT answer is lost -------------------------------------
moved=$(submit TX-1)
version=$(order_sql "SELECT version FROM orders.orders WHERE id = '$moved'")
echo "drop-commit-answer-after order_set_status" >"$CUE"
out=$(order_move "$moved" no_answer "$as_anna")
it_wait_until 5 "the move's COMMIT answer lost" cue_taken
it_assert_eq "200 no_answer $((version + 1))" \
    "$(http_code "$out") $(http_body "$out" | jq -r '.status + " " + (.version | tostring)')" \
    "the one answer to a move whose COMMIT answer was lost ($out)"
it_assert_eq "no_answer $((version + 1))" \
    "$(order_sql "SELECT status || ' ' || version FROM orders.orders WHERE id = '$moved'")" \
    "the order's status and version"
it_assert_eq 1 "$(history_rows "$moved" status no_answer)" "history rows of the move"
it_assert_eq 2 "$(events_of "$moved" order.status_changed)" "order.status_changed (placed, moved)"
it_assert_eq 1 "$(settled)" "COMMITs settled by asking the database"
# the same route again answers by the matrix: the move was made, not lost
out=$(order_move "$moved" no_answer "$as_anna")
it_assert_eq "409 move_not_allowed" "$(http_code "$out") $(http_body "$out" | jq -r .code)" \
    "moving again to where the order already is"
it_log "a status move whose COMMIT answer was lost: one answer (200), moved once"

# --- 2. a consumed event whose COMMIT answer is lost ------------------------------------
held=$(submit TX-2)
after=$(submit TX-3)
echo "drop-commit-answer-after order_set_reserved" >"$CUE"
reserve "$held"
it_wait_until 30 "the applier's COMMIT answer lost" cue_taken
it_wait_until 30 "the order held" order_has_stock "$held" reserved
# an event behind it: once it is applied, a second application of the
# first would have happened too
reserve "$after"
it_wait_until 30 "the next event applied" order_has_stock "$after" reserved
it_assert_eq 1 "$(history_rows "$held" stock reserved)" "stock history rows of the held order"
it_assert_eq 1 "$(events_of "$held" order.reserved)" "order.reserved of the held order"
it_assert_eq 49000 "$(order_sql "SELECT lines_minor FROM orders.orders WHERE id = '$held'")" \
    "the held order's lines, priced once"
it_assert_eq 0 "$(order_sql "SELECT count(*) FROM orders.dead_letters")" "dead letters"
it_log "a consumed event whose COMMIT answer was lost: applied once, the stream goes on"
