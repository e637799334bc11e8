#!/usr/bin/env bash
# An edited order's stock (issue 14 item 1), against the real order and
# inventory services on one bus: inventory re-reserves the new lines all or
# nothing — every line held, the old reservation released and the new one
# held in one go (stock.reserved for the new version, the order priced
# again with order.reserved); a line short, nothing changes in stock and
# stock.shortage names the short line with kept_version (the order does not
# wait, its manager gets a task); a waiting order waits with its new lines
# or is held at once. The order service ignores an answer about lines since
# edited, and inventory skips a version it has applied.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/kit/kit.sh"
source "$(dirname "$0")/kit/inventory.sh"
source "$(dirname "$0")/order/order.sh"

kit_dbs
order_dbs
inv_dbs
kit_start_busd
INV_FEED_REPLAY=tcp://127.0.0.1:25561 # inventory follows the real order stream
order_start order1 1 REPLAY_PEERS=inventory=tcp://127.0.0.1:25631 JOB_POLL=100ms
inv_start_ready inv 1
order_sources
anna=$(order_staff anna "Anna Smirnova" manager '["moscow"]' 100)
order_shift "$anna" true
as_anna=$(it_token manager "$anna")

inv_api_ok POST /v1/imports '{"products": [
  {"sku": "KETTLE", "name": "Kettle 1.7 l", "price_minor": 349000, "vat_rate_bp": 2000, "weight_g": 1450, "on_hand": 50},
  {"sku": "MUG", "name": "Mug", "price_minor": 49000, "vat_rate_bp": 2000, "weight_g": 350, "on_hand": 50},
  {"sku": "BOOK", "name": "Book", "price_minor": 99000, "vat_rate_bp": 1000, "weight_g": 500, "on_hand": 50},
  {"sku": "RARE", "name": "Rare thing", "price_minor": 100000, "vat_rate_bp": 2000, "weight_g": 100, "on_hand": 0}]}' >/dev/null

submit() { # key body -> order id
    local out
    out=$(order_submit "$1" "$2")
    [ "$(http_code "$out")" = 201 ] || it_fail "submitting $1: $out"
    http_body "$out" | jq -r .order_id
}
version_of() { order_sql "SELECT version FROM orders.orders WHERE id = '$1'"; }
# edit ORDER BODY: as Anna, on the order's current version; prints the new version
edit() {
    local out
    out=$(order_call POST "/v1/orders/$1/edit" "$2" "Authorization: Bearer $as_anna" \
        "If-Match: \"$(version_of "$1")\"")
    [ "$(http_code "$out")" = 200 ] || it_fail "editing $1 with $2: $out"
    http_body "$out" | jq -r .version
}
reserved_of() { # SKU...: what inventory has reserved of each
    local sku out=""
    for sku in "$@"; do out="$out $(inv_sql "SELECT reserved FROM products WHERE sku = '$sku'")"; done
    echo "${out# }"
}
held_of() { # ORDER: the order's held reservation rows, line:sku:qty@version
    inv_sql "SELECT coalesce(string_agg(line_no || ':' || sku || ':' || quantity || '@' || order_version, ' ' ORDER BY line_no), '') FROM reservations WHERE order_id = '$1' AND state = 'held'"
}
order_answered() { # ORDER VERSION STATE: inventory answered that version and the order took it
    [ "$(order_sql "SELECT lines_version = $2 AND stock_state = '$3' FROM orders.orders WHERE id = '$1'")" = t ]
}

body='{"customer":{"name":"Ivan Petrov","phone":"+79123456789"},
  "delivery":{"method":"courier","address":{"region":"Moscow","city":"Moscow","line1":"Tverskaya 1"}},
  "items":[{"sku":"KETTLE","quantity":1},{"sku":"MUG","quantity":3}]}'
order=$(submit S-1 "$body")
it_wait_until 20 "stock reserved for S-1" order_has_stock "$order" reserved
it_assert_eq "1 3 0" "$(reserved_of KETTLE MUG BOOK)" "the placement held"

# --- every new line can be held: the reservation is replaced ---------------------
v=$(edit "$order" '{"lines":[{"sku":"MUG","quantity":2},{"sku":"BOOK","quantity":1}]}')
it_wait_until 20 "the edit re-reserved" order_answered "$order" "$v" reserved
it_assert_eq "0 2 1" "$(reserved_of KETTLE MUG BOOK)" "kettle released, mugs down to 2, a book held"
it_assert_eq "2:MUG:2@$v 3:BOOK:1@$v" "$(held_of "$order")" "the new reservation, at the edit's version"
# 2 x 49000 + 99000 = 197000; Moscow courier under 5,000 roubles: 30000
it_assert_eq "197000 30000 227000" \
    "$(order_sql "SELECT lines_minor || ' ' || delivery_minor || ' ' || total_minor FROM orders.orders WHERE id = '$order'")" \
    "the order priced again with the book's catalogue price"
it_assert_eq "3:99000" "$(order_sql "SELECT line_no || ':' || unit_price_minor FROM orders.order_lines WHERE order_id = '$order' AND sku = 'BOOK'")" \
    "the new line priced"
it_assert_eq 2 "$(order_sql "SELECT count(*) FROM orders.outbox WHERE correlation_id = '$order' AND type = 'order.reserved'")" \
    "order.reserved again for the new lines (shipping quotes them)"

# --- a line cannot be held: all or nothing, the old reservation kept -----------------
v_short=$(edit "$order" '{"lines":[{"sku":"MUG","quantity":60},{"sku":"BOOK","quantity":1}]}')
it_wait_until 20 "the short edit answered" order_answered "$order" "$v_short" short
it_assert_eq "0 2 1" "$(reserved_of KETTLE MUG BOOK)" "nothing changed in stock"
it_assert_eq "2:MUG:2@$v 3:BOOK:1@$v" "$(held_of "$order")" "the old reservation kept"
shortage=$(inv_event StockShortage stock.shortage "$order")
grep -q "kept_version: $v" <<<"$shortage" || it_fail "stock.shortage lacks kept_version $v: $shortage"
grep -q 'sku: "MUG"' <<<"$shortage" || it_fail "stock.shortage does not name MUG: $shortage"
grep -q 'sku: "BOOK"' <<<"$shortage" && it_fail "stock.shortage names BOOK, which can be held: $shortage"
it_assert_eq "$v_short reserved" "$(inv_sql "SELECT version || ' ' || status FROM orders WHERE order_id = '$order'")" \
    "inventory recorded the version, still holding"
it_assert_eq new "$(order_status "$order")" "a short edit does not make the order wait for supply"
it_assert_eq 1 "$(order_sql "SELECT count(*) FROM orders.tasks WHERE order_id = '$order' AND kind = 'stock_shortage' AND title LIKE '%change%cannot be held%'")" \
    "the manager is told the change cannot be held"
out=$(order_move "$order" confirmed "$as_anna")
it_assert_eq 409 "$(http_code "$out")" "an order whose lines are short cannot be confirmed"

# --- the manager changes it again: held from the kept reservation ------------------
v=$(edit "$order" '{"lines":[{"sku":"MUG","quantity":1}]}')
it_wait_until 20 "the third edit re-reserved" order_answered "$order" "$v" reserved
it_assert_eq "0 1 0" "$(reserved_of KETTLE MUG BOOK)" "one mug held, the book released"
it_assert_eq "2:MUG:1@$v" "$(held_of "$order")" "the reservation of the last edit"
it_assert_eq 200 "$(http_code "$(order_move "$order" confirmed "$as_anna")")" "now it can be confirmed"

# --- a waiting order: an edit it can hold ends the wait ----------------------------
waiting=$(submit S-2 '{"customer":{"name":"Petr Ivanov","phone":"+79123450000"},
  "delivery":{"method":"courier","address":{"region":"Moscow","city":"Moscow","line1":"Arbat 1"}},
  "items":[{"sku":"RARE","quantity":1}]}')
it_wait_until 20 "S-2 waits for supply" order_has_status "$waiting" awaiting_supply
it_assert_eq waiting "$(inv_sql "SELECT status FROM orders WHERE order_id = '$waiting'")" "inventory queues it"
v=$(edit "$waiting" '{"lines":[{"sku":"RARE","quantity":2},{"sku":"KETTLE","quantity":1}]}')
it_wait_until 20 "S-2 still short" order_answered "$waiting" "$v" short
it_assert_eq "waiting 1:RARE:2 2:KETTLE:1" \
    "$(inv_sql "SELECT o.status || ' ' || string_agg(w.line_no || ':' || w.sku || ':' || w.quantity, ' ' ORDER BY w.line_no) FROM orders o JOIN waiting_lines w USING (order_id) WHERE order_id = '$waiting' GROUP BY o.status")" \
    "it waits with its new lines"
it_assert_eq "0 1" "$(reserved_of KETTLE MUG)" "a waiting order holds nothing"
v=$(edit "$waiting" '{"lines":[{"sku":"KETTLE","quantity":1}]}')
it_wait_until 20 "S-2 held after its edit" order_answered "$waiting" "$v" reserved
it_wait_until 20 "S-2 back to new" order_has_status "$waiting" new
it_assert_eq "reserved 0" "$(inv_sql "SELECT status || ' ' || (SELECT count(*) FROM waiting_lines WHERE order_id = '$waiting') FROM orders WHERE order_id = '$waiting'")" \
    "held, out of the queue"
it_assert_eq "1 1" "$(reserved_of KETTLE MUG)" "the kettle held"

# --- answers about lines since edited change nothing ------------------------------
late=$(submit S-3 "$body")
it_wait_until 20 "stock reserved for S-3" order_has_stock "$late" reserved
it_stop inv
v1=$(edit "$late" '{"lines":[{"sku":"BOOK","quantity":2}]}')
v2=$(edit "$late" '{"lines":[{"sku":"BOOK","quantity":3}]}')
inv_start_ready inv 1
it_wait_until 30 "S-3 answered for its last edit" order_answered "$late" "$v2" reserved
it_assert_eq "3:BOOK:3@$v2" "$(held_of "$late")" "inventory holds the last edit's lines (BOOK kept the number the first edit gave it)"
it_assert_eq 3 "$(order_sql "SELECT quantity FROM orders.order_lines WHERE order_id = '$late'")" "the order's lines"
it_assert_eq 1 "$(order_sql "SELECT count(*) FROM orders.order_history WHERE order_id = '$late' AND kind = 'stock' AND reason = 'reserved for lines since edited'")" \
    "the answer for the first edit only noted"
it_assert_eq 297000 "$(order_sql "SELECT lines_minor FROM orders.orders WHERE id = '$late'")" \
    "priced by the last answer (3 books)"

inv_assert_clean "after the edits"
it_assert_eq 0 "$(order_sql "SELECT count(*) FROM orders.dead_letters")" "dead letters in the order service"
it_log "edited orders' stock: replaced all or nothing, kept on shortage, waiting orders, stale answers"
