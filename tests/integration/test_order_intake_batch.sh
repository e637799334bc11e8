#!/usr/bin/env bash
# Intake over the bus, many orders at once (F1, F3, F5): a run of
# ext/intake.order is placed by the order service's batch statements
# (placing_intake_batch) with the outcome each order would have had alone.
# The service is paused (SIGSTOP) while a burst is published, so the burst
# reaches its external lane together: new customers, two orders of one new
# phone and two of one new email (one customer each, counted twice), a
# known customer whose own manager takes the order, another known one
# found by phone in one order and by email in another, an order breaking a
# rule (rejected); then repeats of a key (the first order's answer), a key
# with another body, and new orders beside them. Every order is numbered
# once, assigned within capacity (the managers' counts match the orders
# they hold), and the batch path is shown to have run
# (intake_batched_orders_total). Inventory is paused meanwhile; its
# answers (stock.reserved) are then held back while the service is paused
# again, and come as one run, read ahead together and written in one
# statement: every order priced from the catalogue, reserved once,
# announced (order.reserved) once at the version it is stored at.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/kit/kit.sh"
source "$(dirname "$0")/kit/inventory.sh"
source "$(dirname "$0")/order/order.sh"

kit_dbs
order_dbs
inv_dbs
kit_start_busd
INV_FEED_REPLAY=tcp://127.0.0.1:25561 # inventory follows the real order stream
order_start order1 1 REPLAY_PEERS=inventory=tcp://127.0.0.1:25631
inv_start_ready inv 1
inv_api_ok POST /v1/imports '{"products": [
  {"sku": "MUG-1", "name": "Mug", "price_minor": 49000, "vat_rate_bp": 2000, "weight_g": 350, "on_hand": 1000}]}' >/dev/null
# inventory answers nothing until every order is placed (below)
inv_pid=$(it_pid inv)
kill -STOP "$inv_pid"
order_sources
anna=$(order_staff anna "Anna Smirnova" manager '[]' 100)
boris=$(order_staff boris "Boris Orlov" manager '[]' 100)
order_shift "$anna" true
order_shift "$boris" true

# a known customer: her first order (HTTP) gives her her own manager
out=$(order_submit O-1 "$(order_body "Olga Known" "+79005550000" Moscow MUG-1 1)")
it_assert_eq 201 "$(http_code "$out")" "Olga's first order ($out)"
olga_manager=$(http_body "$out" | jq -r .manager_id)
# and one known by phone and email
out=$(order_submit O-2 '{"customer":{"name":"Pavel Known","phone":"+79005551111","email":"pavel@example.ru"},"delivery":{"method":"courier","address":{"region":"Moscow","city":"Moscow","line1":"Lenina 2"}},"items":[{"sku":"MUG-1","quantity":1}]}')
it_assert_eq 201 "$(http_code "$out")" "Pavel's first order ($out)"

line() { # EXTERNAL_ID NAME PHONE EMAIL [QUANTITY]
    jq -nc --arg id "$1" --arg name "$2" --arg phone "$3" --arg email "$4" --argjson q "${5:-1}" \
        '{external_id: $id, customer: ({name: $name} + (if $phone != "" then {phone: $phone} else {} end)
            + (if $email != "" then {email: $email} else {} end)),
          delivery: {method: "courier", address: {region: "Moscow", city: "Moscow", line1: "Arbat 1"}},
          items: (if $q > 0 then [{sku: "MUG-1", quantity: $q}] else [] end)}'
}

batched() {
    curl -fsS --max-time 5 "$(order_url 1)/metrics" | awk '$1 == "intake_batched_orders_total" { print $2 }'
}

# burst FILE: publishes FILE's orders as source erp while the service is
# paused, so that they reach it together; prints the answers
burst() {
    local pid answers
    pid=$(it_pid order1)
    kill -STOP "$pid"
    BUS_PUB_ENDPOINT=$KIT_BUS_IN BUS_SUB_ENDPOINT=$KIT_BUS_OUT BUS_CERT=$(it_key source erp) \
        "$IT_BIN/conveyor" intake --source erp <"$1" >"$1.answers" &
    local client=$!
    sleep 1
    kill -CONT "$pid"
    wait "$client" || it_fail "the bus intake of $1 got no answer for some orders"
    cat "$1.answers"
}

{
    line B-1 "Ivan One" "+79000000001" ""
    line B-2 "Irina Two" "+79000000002" ""
    line B-3 "Igor Three" "+79000000003" "igor@example.ru"
    line B-4 "Inna Four" "+79000000004" ""
    line B-5 "Same Phone" "+79000000005" ""
    line B-6 "Same Phone" "8 (900) 000-00-05" "" 2
    line B-7 "Same Mail" "" "Same@Example.ru"
    line B-8 "Same Mail" "+79000000008" "same@example.ru" 3
    line B-9 "Olga Known" "+79005550000" ""
    line B-10 "Nobody" "+79000000010" "" 0
    line P-1 "Pavel Known" "+79005551111" ""
    line P-2 "Pavel K." "" "pavel@example.ru"
} >"$IT_RUN/burst1.jsonl"
before=$(batched)
answers=$(burst "$IT_RUN/burst1.jsonl")
it_assert_eq "B-1:accepted B-10:rejected B-2:accepted B-3:accepted B-4:accepted B-5:accepted B-6:accepted B-7:accepted B-8:accepted B-9:accepted P-1:accepted P-2:accepted" \
    "$(jq -rs 'sort_by(.external_id) | map(.external_id + ":" + .status) | join(" ")' <<<"$answers")" \
    "every order of the burst answered as it would be alone"
it_assert_eq "items:required" \
    "$(jq -r 'select(.external_id == "B-10") | [.reasons[] | .field + ":" + .code] | join(" ")' <<<"$answers")" \
    "the rejected one's reason"
after=$(batched)
[ "${after:-0}" -gt "${before:-0}" ] ||
    it_fail "no order of the burst was placed by the batch statements ($before -> $after)"
it_log "$((after - before)) of the burst's 11 orders placed by the batch statements"

it_assert_eq "11 11 11" "$(order_sql "SELECT count(*) || ' ' || count(DISTINCT number) || ' ' ||
    count(manager_id) FROM orders.orders WHERE source = 'erp'")" \
    "orders of the burst: each numbered once, each assigned"
it_assert_eq "$(jq -rs 'sort_by(.external_id) | map(select(.status == "accepted") | .external_id + ":" + (.number | tostring) + ":" + .title) | join(" ")' <<<"$answers")" \
    "$(order_sql "SELECT string_agg(external_id || ':' || number || ':' || title, ' ' ORDER BY external_id) FROM orders.orders WHERE source = 'erp'")" \
    "each answer names its order's number and title"
it_assert_eq "1 2" "$(order_sql "SELECT count(*) || ' ' || max(order_count) FROM orders.customers WHERE phone = '+79000000005'")" \
    "two orders of one new phone: one customer, counted twice"
it_assert_eq "1 2" "$(order_sql "SELECT count(*) || ' ' || max(order_count) FROM orders.customers WHERE email = 'same@example.ru'")" \
    "two orders of one new email: one customer, counted twice"
it_assert_eq 1 "$(order_sql "SELECT count(DISTINCT customer_id) FROM orders.orders WHERE external_id IN ('B-7', 'B-8')")" \
    "the email's two orders are the same customer's"
it_assert_eq "2 $olga_manager" "$(order_sql "SELECT c.order_count || ' ' || o.manager_id FROM orders.orders o
    JOIN orders.customers c ON c.id = o.customer_id WHERE o.external_id = 'B-9'")" \
    "the known customer's order goes to her own manager"
it_assert_eq "1 3" "$(order_sql "SELECT count(DISTINCT o.customer_id) || ' ' || max(c.order_count) FROM orders.orders o
    JOIN orders.customers c ON c.id = o.customer_id WHERE o.external_id IN ('P-1', 'P-2')")" \
    "a known customer found by phone and by email in one burst: counted for both"
it_assert_eq 0 "$(order_sql "SELECT count(*) FROM orders.customers c JOIN orders.orders o ON o.customer_id = c.id
    WHERE o.source = 'erp' AND c.manager_id IS DISTINCT FROM (SELECT manager_id FROM orders.orders f
    WHERE f.customer_id = c.id ORDER BY f.number LIMIT 1)")" \
    "each new customer's own manager is the one of their first order"
it_assert_eq "3 3" "$(order_sql "SELECT sum(quantity) FILTER (WHERE o.external_id = 'B-8') || ' ' ||
    count(*) FILTER (WHERE o.external_id IN ('B-1', 'B-2', 'B-3')) FROM orders.order_lines l
    JOIN orders.orders o ON o.id = l.order_id WHERE o.source = 'erp'")" \
    "each order's lines stored"
it_assert_eq 0 "$(order_sql "SELECT count(*) FROM orders.staff s WHERE open_orders > capacity OR open_orders <> (
    SELECT count(*) FROM orders.orders o WHERE o.manager_id = s.id)")" \
    "managers within capacity, their counts the orders they hold"
it_assert_eq 13 "$(order_sql "SELECT count(*) FROM orders.outbox WHERE type = 'order.placed'")" \
    "order.placed once for each order (the two first ones and the burst's eleven)"
it_assert_eq 11 "$(order_sql "SELECT count(*) FROM orders.outbox WHERE type = 'order.assigned'
    AND correlation_id IN (SELECT id::text FROM orders.orders WHERE source = 'erp')")" \
    "order.assigned once for each order of the burst"

# --- repeats beside new orders --------------------------------------------------
first_b1=$(jq -r 'select(.external_id == "B-1") | .order_id' <<<"$answers")
first_b2=$(jq -r 'select(.external_id == "B-2") | .order_id' <<<"$answers")
{
    line B-1 "Ivan One" "+79000000001" ""
    line B-2 "Irina Two" "+79000000002" "" 5
    line B-11 "Kira Eleven" "+79000000011" ""
    line B-12 "Karl Twelve" "+79000000012" ""
} >"$IT_RUN/burst2.jsonl"
answers=$(burst "$IT_RUN/burst2.jsonl")
it_assert_eq "$first_b1 $first_b2" \
    "$(jq -rs 'map(select(.external_id == "B-1" or .external_id == "B-2")) | sort_by(.external_id) | map(.order_id) | join(" ")' <<<"$answers")" \
    "a repeated key, and a key with another body, answer the first order"
it_assert_eq "13 13" "$(order_sql "SELECT count(*) || ' ' || count(manager_id) FROM orders.orders WHERE source = 'erp'")" \
    "the new ones placed, the repeated ones not again"
it_assert_eq 1 "$(order_sql "SELECT sum(quantity) FROM orders.order_lines l JOIN orders.orders o ON o.id = l.order_id
    WHERE o.external_id = 'B-2'")" "the key's first body stands"
it_assert_eq 0 "$(order_sql "SELECT count(*) FROM orders.staff s WHERE open_orders <> (
    SELECT count(*) FROM orders.orders o WHERE o.manager_id = s.id)")" \
    "the managers' counts still the orders they hold"
# --- the stock answers as one run ---------------------------------------------------
reserved_at_inventory() {
    [ "$(inv_sql "SELECT count(*) FROM orders WHERE status = 'reserved'")" = 17 ]
}
{
    line B-13 "Lev Thirteen" "+79000000013" "" 2
    line B-14 "Lada Fourteen" "+79000000014" "" 3
} >"$IT_RUN/burst3.jsonl"
BUS_PUB_ENDPOINT=$KIT_BUS_IN BUS_SUB_ENDPOINT=$KIT_BUS_OUT BUS_CERT=$(it_key source erp) \
    "$IT_BIN/conveyor" intake --source erp <"$IT_RUN/burst3.jsonl" >/dev/null ||
    it_fail "the bus intake of burst3 got no answer"
pid=$(it_pid order1)
kill -STOP "$pid"
kill -CONT "$inv_pid"
it_wait_until 30 "inventory reserved all 17 orders" reserved_at_inventory
kill -CONT "$pid"
all_reserved() {
    [ "$(order_sql "SELECT count(*) FROM orders.orders WHERE stock_state = 'reserved'")" = 17 ]
}
it_wait_until 30 "every order reserved" all_reserved
it_assert_eq 0 "$(order_sql "SELECT count(*) FROM orders.orders o WHERE lines_minor IS DISTINCT FROM
    (SELECT sum(l.quantity * 49000) FROM orders.order_lines l WHERE l.order_id = o.id AND l.unit_price_minor = 49000)")" \
    "every order priced from the catalogue"
it_assert_eq "17 17" "$(order_sql "SELECT count(*) || ' ' || count(DISTINCT correlation_id) FROM orders.outbox WHERE type = 'order.reserved'")" \
    "order.reserved once for each order"
it_assert_eq 17 "$(order_sql "SELECT count(*) FROM orders.order_history WHERE kind = 'stock' AND reason = 'reserved'")" \
    "one stock line in each order's history"
# the run's prices and totals are written in one statement at its end; the
# version each order.reserved names (field 2, after the 36-byte order id:
# bytes 38 and 39 of the payload) is the one its order is at
it_assert_eq "0 17" "$(order_sql "SELECT count(*) FILTER (WHERE get_byte(b.payload, 38) <> 16
    OR get_byte(b.payload, 39) <> o.version) || ' ' || count(*) FROM orders.outbox b
    JOIN orders.orders o ON o.id::text = b.correlation_id WHERE b.type = 'order.reserved'
    AND o.stock_state = 'reserved' AND o.total_minor = o.lines_minor - o.discount_minor + o.delivery_minor")" \
    "each order.reserved names the version its order is at, the totals stored"
order_assert_references
it_log "intake batch: a burst placed together, each order as it would be alone"
