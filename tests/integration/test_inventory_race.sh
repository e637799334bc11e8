#!/usr/bin/env bash
# Never sold twice (F10): single-unit orders racing for scarce stock through
# the real order stream, with two inventory replicas.
#
#   1. 50 orders for a SKU with 10 units; the replica that applies is
#      killed -9 midway and the other takes over: exactly 10 held.
#   2. Redis locks forced to expire at once (INVENTORY_LOCK_TTL=1ms), and
#   3. Redis stopped: the database alone must hold. 50 orders for a SKU
#      with 10 units (exactly 10 held) interleaved with 50 for a SKU with
#      10 units that receives two supplies (3 and 2 units, over HTTP, one on
#      each replica, at the same moment) while the orders are being applied:
#      exactly 15 held, never more, the rest waiting.
#
# In every scenario each order is answered once, every waiting order
# older than the supply that fits is held oldest first, and
# reconciliation is clean.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/kit/kit.sh"
source "$(dirname "$0")/kit/inventory.sh"

ORDERS=50
inv_start_busd

# orders_json SKU... : ORDERS single-unit orders cycling over the SKUs
orders_json() {
    local skus=("$@") i json=""
    for ((i = 0; i < ORDERS * ${#skus[@]}; i++)); do
        json="$json${json:+,}{\"lines\":[{\"sku\":\"${skus[i % ${#skus[@]}]}\",\"quantity\":1}]}"
    done
    echo "{\"orders\":[$json],\"per_tx\":1,\"rate\":${RATE:-25}}"
}

# held SKU: units reserved, held reservation rows and orders reserved, for SKU
held() {
    inv_sql "SELECT p.reserved || ' ' || p.on_hand || ' ' || (SELECT count(*) FROM reservations r
      WHERE r.sku = p.sku AND r.state = 'held') FROM products p WHERE p.sku = '$1'"
}

# assert_answered_once TOTAL: every order has one answer from the applier
# (reserved or shortage), none two stock.reserved
assert_answered_once() {
    it_assert_eq "$1" "$(inv_sql "SELECT count(DISTINCT correlation_id) FROM outbox
      WHERE type IN ('stock.reserved', 'stock.shortage')")" "orders answered"
    it_assert_eq 0 "$(inv_sql "SELECT count(*) FROM (SELECT correlation_id FROM outbox
      WHERE type = 'stock.reserved' GROUP BY 1 HAVING count(*) > 1) d")" "orders reserved twice"
    it_assert_eq 0 "$(inv_sql "SELECT count(*) FROM (SELECT correlation_id FROM outbox
      WHERE type = 'stock.shortage' GROUP BY 1 HAVING count(*) > 1) d")" "orders told short twice"
    it_assert_eq "$(inv_order_count reserved)" "$(inv_outbox_count stock.reserved)" \
        "stock.reserved events against orders reserved"
}

# the waiting orders are all younger than the youngest reserved one of the
# SKU that received stock: a later order never overtook an older one
assert_oldest_first() {
    it_assert_eq 0 "$(inv_sql "SELECT count(*) FROM orders w JOIN waiting_lines l USING (order_id)
      WHERE l.sku = '$1' AND w.status = 'waiting' AND w.waiting_no < (SELECT max(o.waiting_no)
      FROM orders o JOIN reservations r USING (order_id) WHERE r.sku = '$1'
      AND o.waiting_no IS NOT NULL)")" "waiting orders older than one held from the supply ($1)"
}

stop_all() {
    it_stop inv1
    it_stop inv2
    it_stop feed
}

# --- 1. the applying replica killed -9 midway -------------------------------------
it_log "scenario 1: failover"
inv_dbs
inv_start_feed feed
inv_start_ready inv1 1
inv_start_ready inv2 2
inv_api_ok POST /v1/imports '{"products": [{"sku": "R1-A", "name": "Гирлянда светодиодная 10 м",
  "price_minor": 129000, "vat_rate_bp": 2000, "weight_g": 300, "on_hand": 10}]}' >/dev/null
inv_feed /v1/place "$(RATE=20 orders_json R1-A)" >"$IT_RUN/place1.json" &
placer=$!
it_wait_until 30 "a third of the orders applied" inv_applied_at_least $((ORDERS / 3))
leader=$(inv_leader_port) || it_fail "no replica leads"
if [ "$leader" = 28131 ]; then victim=inv1 survivor=inv2 INV_PORT=28132; else victim=inv2 survivor=inv1; fi
it_log "killing the applying replica $victim (-9) at $(it_psql "SELECT last_seq FROM inventory.inbox_offsets")/$ORDERS applied"
it_kill "$victim" KILL
wait "$placer" || it_fail "placing the orders failed"
it_wait_until 60 "the survivor applies every order" inv_applied_at_least "$ORDERS"
inv_wait_settled "scenario 1 settled"
curl -fsS "http://127.0.0.1:$INV_PORT/readyz" | grep -Eq '"leader": ?true' ||
    it_fail "the survivor $survivor does not lead"
it_assert_eq "10 10 10" "$(held R1-A)" "R1-A reserved, on hand, held rows"
it_assert_eq 10 "$(inv_order_count reserved)" "orders reserved"
it_assert_eq $((ORDERS - 10)) "$(inv_order_count waiting)" "orders waiting"
assert_answered_once "$ORDERS"
inv_assert_clean "scenario 1"
stop_all

# the contended scenarios: 2 x 50 orders, two supplies racing with them
contend() {
    local a=$1 b=$2
    inv_api_ok POST /v1/imports "{\"products\": [
      {\"sku\": \"$a\", \"name\": \"Термокружка 450 мл\", \"price_minor\": 89000,
       \"vat_rate_bp\": 2000, \"weight_g\": 320, \"on_hand\": 10},
      {\"sku\": \"$b\", \"name\": \"Power bank 10000 мА·ч\", \"price_minor\": 219000,
       \"vat_rate_bp\": 2000, \"weight_g\": 230, \"on_hand\": 10}]}" >/dev/null
    local s1 s2
    s1=$(inv_api_ok POST /v1/supplies "{\"expected_date\": \"2031-01-10\",
      \"lines\": [{\"sku\": \"$b\", \"quantity\": 3}]}" | jq -r .id)
    s2=$(inv_api_ok POST /v1/supplies "{\"expected_date\": \"2031-01-11\",
      \"lines\": [{\"sku\": \"$b\", \"quantity\": 2}]}" | jq -r .id)
    inv_feed /v1/place "$(RATE=40 orders_json "$a" "$b")" >"$IT_RUN/place-$a.json" &
    local placer=$!
    it_wait_until 30 "a third of the orders applied" inv_applied_at_least $((ORDERS * 2 / 3))
    it_log "receiving supplies $s1 and $s2 on both replicas while orders are applied"
    INV_PORT=28131 inv_api POST "/v1/supplies/$s1/receive" >"$IT_RUN/receive1.txt" &
    local r1=$!
    INV_PORT=28132 inv_api POST "/v1/supplies/$s2/receive" >"$IT_RUN/receive2.txt" &
    local r2=$!
    wait "$r1" && wait "$r2" || it_fail "a receipt failed"
    grep -q '^200 ' "$IT_RUN/receive1.txt" && grep -q '^200 ' "$IT_RUN/receive2.txt" ||
        it_fail "receipts: $(cat "$IT_RUN/receive1.txt" "$IT_RUN/receive2.txt")"
    wait "$placer" || it_fail "placing the orders failed"
    inv_wait_settled "every order applied and every retry run" 90
    it_assert_eq "10 10 10" "$(held "$a")" "$a (no supply): reserved, on hand, held rows"
    it_assert_eq "15 15 15" "$(held "$b")" "$b (5 supplied meanwhile): reserved, on hand, held rows"
    it_assert_eq 25 "$(inv_order_count reserved)" "orders reserved"
    it_assert_eq $((ORDERS * 2 - 25)) "$(inv_order_count waiting)" "orders waiting"
    assert_answered_once $((ORDERS * 2))
    assert_oldest_first "$b"
}

# --- 2. locks that expire at once --------------------------------------------------
it_log "scenario 2: Redis locks expire after 1 ms"
INV_PORT=28131
inv_dbs
inv_start_feed feed
inv_start_ready inv1 1 INVENTORY_LOCK_TTL=1ms
inv_start_ready inv2 2 INVENTORY_LOCK_TTL=1ms
contend R2-A R2-B
inv_assert_clean "scenario 2"
stop_all

# --- 3. Redis stopped ---------------------------------------------------------------
it_log "scenario 3: Redis stopped"
port=$((TEST_REDIS_PORT + 90))
mkdir -p "$IT_RUN/redis"
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
    --dir "$IT_RUN/redis" --pidfile "$IT_RUN/redis/redis.pid" --logfile "$IT_RUN/redis/redis.log"
it_wait_until 10 "the scenario's own Redis answers" redis-cli -p "$port" ping
inv_dbs
inv_start_feed feed
inv_start_ready inv1 1 REDIS_URL=redis://127.0.0.1:$port/0 REDIS_TIMEOUT=100ms
inv_start_ready inv2 2 REDIS_URL=redis://127.0.0.1:$port/0 REDIS_TIMEOUT=100ms
redis-cli -p "$port" shutdown nosave >/dev/null 2>&1
it_wait_until 10 "Redis is gone" bash -c "! redis-cli -p $port ping"
contend R3-A R3-B
bypassed=$(($(kit_metric 28131 lock_bypassed_total) + $(kit_metric 28132 lock_bypassed_total)))
[ "$bypassed" -gt 0 ] || it_fail "no work was counted as done without the lock"
it_log "scenario 3: $bypassed stock changes went on without Redis"
inv_assert_clean "scenario 3"
stop_all
