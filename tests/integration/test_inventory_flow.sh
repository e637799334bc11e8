#!/usr/bin/env bash
# The life of orders in inventory, through the real order stream (orderfeed
# -> busd -> inventory, with replay): an order held with catalogue prices,
# VAT and weights; stock.low once per crossing; a multi-line order with one
# short line holds nothing and names each short line with its reason and
# expected supply; shortage -> supply received over HTTP -> reserved,
# oldest first; cancel releases; delivery writes off; versions already
# applied and facts about unknown orders are recorded, never doubled; a
# malformed fact is parked alone. Reconciliation is clean after each step.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/kit/kit.sh"
source "$(dirname "$0")/kit/inventory.sh"

inv_dbs
inv_start_busd
inv_start_feed feed
inv_start_ready inv 1

# --- the catalogue ------------------------------------------------------------
inv_api_ok POST /v1/imports '{"products": [
  {"sku": "FL-KETTLE", "name": "Чайник электрический 1,7 л", "price": "3490.00", "vat": "20",
   "weight_g": 1450, "on_hand": 5, "low_stock_threshold": 3,
   "buyer": {"id": "u-buyer-1", "name": "Ольга Закупкина", "email": "olga@example.ru"}},
  {"sku": "FL-MUG", "name": "Кружка керамическая", "price_minor": 49000, "vat_rate_bp": 2000,
   "weight_g": 350, "on_hand": 2},
  {"sku": "FL-CABLE", "name": "Кабель USB-C 1 м", "price_minor": 99000, "vat_rate_bp": 2000,
   "weight_g": 60, "on_hand": 0},
  {"sku": "FL-OLD", "name": "Снятый с продажи товар", "price_minor": 100, "vat_rate_bp": 1000,
   "weight_g": 10, "on_hand": 10, "active": false}]}' >/dev/null
supply=$(inv_api_ok POST /v1/supplies '{"expected_date": "2031-03-15", "supplier": "ООО Кабели",
  "lines": [{"sku": "FL-CABLE", "quantity": 4}]}')
supply_id=$(jq -r .id <<<"$supply")
inv_assert_clean "catalogue loaded"

# --- an order held, priced from the catalogue ----------------------------------
order_a=$(inv_feed /v1/place '{"orders": [{"lines": [{"sku": "FL-KETTLE", "quantity": 2},
  {"sku": "FL-MUG", "quantity": 1}]}]}' | jq -r '.order_ids[0]')
inv_wait_settled "order A applied"
it_assert_eq reserved "$(inv_sql "SELECT status FROM orders WHERE order_id = '$order_a'")" "order A"
it_assert_eq "2 1" "$(inv_sql "SELECT string_agg(reserved::text, ' ' ORDER BY sku)
  FROM products WHERE sku IN ('FL-KETTLE', 'FL-MUG')")" "reserved kettles and mugs"
reserved=$(inv_event StockReserved stock.reserved "$order_a")
grep -q 'unit_price_minor: 349000' <<<"$reserved" || it_fail "stock.reserved lacks the kettle's price: $reserved"
grep -q 'vat_rate_bp: 2000' <<<"$reserved" || it_fail "stock.reserved lacks VAT: $reserved"
grep -q 'unit_weight_g: 1450' <<<"$reserved" || it_fail "stock.reserved lacks the weight: $reserved"
grep -q 'name: "Кружка керамическая"' <<<"$reserved" ||
    grep -q 'unit_weight_g: 350' <<<"$reserved" || it_fail "stock.reserved lacks the mug: $reserved"
grep -q 'currency: "RUB"' <<<"$reserved" || it_fail "stock.reserved lacks the currency"
inv_assert_clean "order A held"

# --- stock.low once per crossing -------------------------------------------------
order_b=$(inv_feed /v1/place '{"orders": [{"lines": [{"sku": "FL-KETTLE", "quantity": 1}]}]}' |
    jq -r '.order_ids[0]')
order_c=$(inv_feed /v1/place '{"orders": [{"lines": [{"sku": "FL-KETTLE", "quantity": 1}]}]}' |
    jq -r '.order_ids[0]')
inv_wait_settled "orders B and C applied"
it_assert_eq 1 "$(inv_outbox_count stock.low)" "stock.low published for two orders below the threshold"
low=$(inv_event StockLow stock.low)
grep -q 'sku: "FL-KETTLE"' <<<"$low" && grep -q 'available: 2' <<<"$low" &&
    grep -q 'threshold: 3' <<<"$low" && grep -q 'buyer_email: "olga@example.ru"' <<<"$low" ||
    it_fail "stock.low does not say what and whom: $low"
inv_assert_clean "B and C held"

# --- a multi-line order with short lines holds nothing ---------------------------
order_d=$(inv_feed /v1/place '{"orders": [{"lines": [{"sku": "FL-MUG", "quantity": 1},
  {"sku": "FL-CABLE", "quantity": 5}, {"sku": "FL-GHOST", "quantity": 1},
  {"sku": "FL-OLD", "quantity": 1}]}]}' | jq -r '.order_ids[0]')
inv_wait_settled "order D applied"
it_assert_eq waiting "$(inv_sql "SELECT status FROM orders WHERE order_id = '$order_d'")" "order D"
it_assert_eq 0 "$(inv_sql "SELECT count(*) FROM reservations WHERE order_id = '$order_d'")" \
    "reservation rows of order D"
it_assert_eq 1 "$(inv_sql "SELECT reserved FROM products WHERE sku = 'FL-MUG'")" \
    "mugs reserved after the short order (its mug line must not be held)"
shortage=$(inv_event StockShortage stock.shortage "$order_d")
it_assert_eq 3 "$(grep -c 'reason:' <<<"$shortage")" "short lines in stock.shortage"
grep -q 'reason: "insufficient"' <<<"$shortage" && grep -q 'reason: "unknown_sku"' <<<"$shortage" &&
    grep -q 'reason: "inactive"' <<<"$shortage" && grep -q 'expected_date: "2031-03-15"' <<<"$shortage" &&
    grep -q "supply_id: \"$supply_id\"" <<<"$shortage" && ! grep -q 'FL-MUG' <<<"$shortage" ||
    it_fail "stock.shortage does not list the short lines right: $shortage"
grep -A6 'sku: "FL-CABLE"' <<<"$shortage" | grep -q 'requested: 5' ||
    it_fail "the cable line should say 5 requested: $shortage"
inv_assert_clean "order D waits"

# --- shortage -> supply -> reserved, oldest first --------------------------------
order_e=$(inv_feed /v1/place '{"orders": [{"lines": [{"sku": "FL-CABLE", "quantity": 3}]}]}' |
    jq -r '.order_ids[0]')
order_f=$(inv_feed /v1/place '{"orders": [{"lines": [{"sku": "FL-CABLE", "quantity": 1}]}]}' |
    jq -r '.order_ids[0]')
order_g=$(inv_feed /v1/place '{"orders": [{"lines": [{"sku": "FL-CABLE", "quantity": 1}]}]}' |
    jq -r '.order_ids[0]')
inv_wait_settled "orders E, F, G applied"
it_assert_eq 4 "$(inv_order_count waiting)" "orders waiting for cables"
inv_api_ok POST "/v1/supplies/$supply_id/receive" >/dev/null
inv_wait_settled "the supply's retry job ran"
# 4 cables: D (5, and a ghost) cannot be held; E (3) then F (1) can; G waits
it_assert_eq "waiting reserved reserved waiting" "$(inv_sql "SELECT string_agg(status, ' '
  ORDER BY waiting_no) FROM orders WHERE order_id IN ('$order_d', '$order_e', '$order_f', '$order_g')")" \
    "orders D E F G after the supply, oldest first"
it_assert_eq "4 4" "$(inv_sql "SELECT on_hand || ' ' || reserved FROM products WHERE sku = 'FL-CABLE'")" \
    "cables on hand and reserved"
replenished=$(inv_event StockReplenished stock.replenished)
grep -q 'quantity: 4' <<<"$replenished" && grep -q 'waiting_orders: 4' <<<"$replenished" ||
    it_fail "stock.replenished: $replenished"
it_assert_eq 1 "$(inv_outbox_count stock.reserved "$order_e")" "stock.reserved for E"
it_assert_eq 409 "$(inv_api POST "/v1/supplies/$supply_id/receive" | cut -d' ' -f1)" \
    "receiving a supply twice"
inv_assert_clean "supply received"

# --- cancel releases; the freed stock goes to the oldest waiting order ------------
inv_feed /v1/cancel "{\"order_ids\": [\"$order_f\"]}" >/dev/null
inv_wait_settled "order F cancelled"
it_assert_eq released "$(inv_sql "SELECT status FROM orders WHERE order_id = '$order_f'")" "order F"
it_assert_eq reserved "$(inv_sql "SELECT status FROM orders WHERE order_id = '$order_g'")" \
    "order G, held with the cable F released"
released=$(inv_event StockReleased stock.released "$order_f")
grep -q 'reason: "order_cancelled"' <<<"$released" && grep -q 'sku: "FL-CABLE"' <<<"$released" ||
    it_fail "stock.released: $released"
inv_feed /v1/cancel "{\"order_ids\": [\"$order_a\", \"$order_d\"]}" >/dev/null
inv_wait_settled "orders A and D cancelled"
it_assert_eq 0 "$(inv_sql "SELECT reserved FROM products WHERE sku = 'FL-MUG'")" \
    "mugs reserved after the cancels"
it_assert_eq 0 "$(inv_sql "SELECT count(*) FROM waiting_lines WHERE order_id = '$order_d'")" \
    "waiting lines of the cancelled order D"
it_assert_eq 1 "$(inv_outbox_count stock.released "$order_d")" "stock.released for the waiting order D"
it_assert_eq cancelled "$(inv_sql "SELECT status FROM orders WHERE order_id = '$order_d'")" "order D"
inv_assert_clean "cancels"

# --- delivery writes off ----------------------------------------------------------
before=$(inv_sql "SELECT on_hand || ' ' || reserved FROM products WHERE sku = 'FL-KETTLE'")
it_assert_eq "5 2" "$before" "kettles before delivering B"
inv_feed /v1/deliver "{\"order_ids\": [\"$order_b\"]}" >/dev/null
inv_wait_settled "order B delivered"
it_assert_eq "4 1" "$(inv_sql "SELECT on_hand || ' ' || reserved FROM products WHERE sku = 'FL-KETTLE'")" \
    "kettles after delivering B"
it_assert_eq committed "$(inv_sql "SELECT status FROM orders WHERE order_id = '$order_b'")" "order B"
it_assert_eq 1 "$(inv_outbox_count stock.committed "$order_b")" "stock.committed for B"
it_assert_eq 1 "$(inv_sql "SELECT count(*) FROM stock_movements WHERE ref = '$order_b'
  AND kind = 'write_off' AND on_hand_delta = -1 AND reserved_delta = -1")" "write-off in the ledger"
inv_assert_clean "delivery"

# --- versions and facts about unknown orders --------------------------------------
inv_feed /v1/place "{\"orders\": [{\"order_id\": \"$order_c\", \"version\": 1,
  \"lines\": [{\"sku\": \"FL-KETTLE\", \"quantity\": 1}]}]}" >/dev/null
inv_feed /v1/deliver "{\"order_ids\": [\"$order_b\"], \"version\": 2}" >/dev/null
late=11111111-2222-4333-8444-555555555555
inv_feed /v1/cancel "{\"order_ids\": [\"$late\"], \"version\": 3}" >/dev/null
inv_feed /v1/place "{\"orders\": [{\"order_id\": \"$late\", \"version\": 1,
  \"lines\": [{\"sku\": \"FL-KETTLE\", \"quantity\": 1}]}]}" >/dev/null
unknown=22222222-3333-4444-8555-666666666666
inv_feed /v1/deliver "{\"order_ids\": [\"$unknown\"]}" >/dev/null
inv_wait_settled "repeated and out-of-order facts applied"
it_assert_eq 1 "$(inv_outbox_count stock.reserved "$order_c")" "stock.reserved for C after C was placed again"
it_assert_eq 1 "$(inv_sql "SELECT count(*) FROM reservations WHERE order_id = '$order_c'")" \
    "reservation rows of C"
it_assert_eq 1 "$(inv_outbox_count stock.committed "$order_b")" "stock.committed for B after a repeat"
it_assert_eq "cancelled 3 0" "$(inv_sql "SELECT status || ' ' || version || ' ' || (SELECT count(*)
  FROM reservations WHERE order_id = '$late') FROM orders WHERE order_id = '$late'")" \
    "an order cancelled before it was placed, then placed late"
it_assert_eq 0 "$(inv_sql "SELECT count(*) FROM outbox WHERE correlation_id = '$late'")" \
    "events about the late order"
it_assert_eq delivered "$(inv_sql "SELECT status FROM orders WHERE order_id = '$unknown'")" \
    "a delivery of an unknown order, recorded"
inv_assert_clean "versions"

# --- a malformed fact is parked alone ---------------------------------------------
bad=$(inv_feed /v1/place '{"orders": [{"lines": [{"sku": "FL-MUG", "quantity": 0}]}]}' |
    jq -r '.order_ids[0]')
good=$(inv_feed /v1/place '{"orders": [{"lines": [{"sku": "FL-MUG", "quantity": 1}]}]}' |
    jq -r '.order_ids[0]')
it_wait_until 30 "both applied" inv_caught_up
it_assert_eq "bad_payload" "$(inv_sql "SELECT err FROM dead_letters WHERE correlation_id = '$bad'")" \
    "the malformed order's dead letter"
it_assert_eq reserved "$(inv_sql "SELECT status FROM orders WHERE order_id = '$good'")" \
    "the order after the malformed one"
inv_sql "DELETE FROM dead_letters" >/dev/null
inv_wait_settled "settled"
inv_assert_clean "the end"
