#!/usr/bin/env bash
# A COMMIT whose answer is lost happens once on inventory (issue 10): the
# service's database is reached through pgcut (kit/pgcut.c), which lets a
# COMMIT reach PostgreSQL and closes the connection before its answer
# comes back, for the one transaction the test aims at:
#   1. receiving a supply over HTTP — not idempotent by nature: run again,
#      it would count the stock twice. The route settles the COMMIT by
#      asking the database (tx.h) and answers once, 200; the stock, the
#      ledger and stock.replenished count the supply once, and a second
#      receipt is refused as already received;
#   2. the applier holding stock for order.placed: the batch is settled by
#      its conditional offset; the order is held once (one reservation,
#      one stock.reserved, the stock reserved once), nothing parked.
# Every state is reached through the API and the order stream.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/kit/kit.sh"
source "$(dirname "$0")/kit/inventory.sh"

PROXY_PORT=$((TEST_PG_PORT + 9))
CUE=$IT_RUN/pgcut.cue

inv_dbs
inv_start_busd
inv_start_feed feed
it_start pgcut "$IT_BIN/pgcut" "$PROXY_PORT" "$TEST_PG_PORT" "$CUE"
it_wait_until 10 "pgcut listening" grep -q '^pgcut: ' "$IT_RUN/pgcut.log"
INV_ENV=$(sed -e "s/127\.0\.0\.1:$TEST_PG_PORT/127.0.0.1:$PROXY_PORT/g" <<<"$INV_ENV")
grep -q ":$PROXY_PORT/" <<<"$INV_ENV" || it_fail "could not point inventory at the proxy"
inv_start_ready inv 1

# product_field SKU FIELD: a product's field as the API shows it
product_field() {
    inv_api_ok GET "/v1/products/$1" | jq -r ".$2"
}

inv_api_ok POST /v1/imports '{"products": [
  {"sku": "ONCE-A", "name": "Товар для проверки", "price_minor": 10000, "vat_rate_bp": 2000,
   "weight_g": 100, "on_hand": 0}]}' >/dev/null
supply_id=$(inv_api_ok POST /v1/supplies '{"expected_date": "2031-01-01",
  "lines": [{"sku": "ONCE-A", "quantity": 5}]}' | jq -r .id)

# --- 1. a supply received over HTTP, its COMMIT answer lost -----------------------------
echo "drop-commit-answer-after inv_supply_received" >"$CUE"
answer=$(inv_api POST "/v1/supplies/$supply_id/receive") || it_fail "the receipt got no answer"
it_assert_eq 200 "${answer%% *}" "the receipt whose COMMIT answer was lost: ${answer:0:300}"
it_assert_eq received "$(jq -r .status <<<"${answer#* }")" "the supply's status in the answer"
grep -q '"err":"commit_settled"' "$IT_RUN/inv.log" ||
    it_fail "the route did not settle a lost COMMIT answer (was the answer dropped?)"
it_assert_eq 5 "$(product_field ONCE-A on_hand)" "stock on hand after one receipt of 5"
it_assert_eq 1 "$(inv_sql "SELECT count(*) FROM stock_movements WHERE ref = 'supply:$supply_id'")" \
    "ledger rows of the supply"
it_assert_eq 1 "$(inv_outbox_count stock.replenished)" "stock.replenished"
it_assert_eq 409 "$(inv_api POST "/v1/supplies/$supply_id/receive" | cut -d' ' -f1)" \
    "receiving the supply again"
inv_wait_settled "the supply's retry job ran"
inv_assert_clean "a receipt whose COMMIT answer was lost"

# --- 2. order.placed applied, its COMMIT answer lost ------------------------------------
echo "drop-commit-answer-after inv_products_lock_for_order" >"$CUE"
order=$(inv_feed /v1/place '{"orders": [{"lines": [{"sku": "ONCE-A", "quantity": 2}]}]}' |
    jq -r '.order_ids[0]')
inv_wait_settled "the order applied"
[ ! -s "$CUE" ] || it_fail "the applier's transaction never reached pgcut"
it_wait_until 10 "the applier noticed the lost answer" \
    grep -q '"msg":"offset moved under the applier: reloading"' "$IT_RUN/inv.log"
it_assert_eq reserved "$(inv_api_ok GET "/v1/reservations?order_id=$order" | jq -r .status)" \
    "the order's status"
it_assert_eq "5 2" "$(product_field ONCE-A on_hand) $(product_field ONCE-A reserved)" \
    "stock on hand and reserved after one order of 2"
it_assert_eq 1 "$(inv_api_ok GET "/v1/reservations?order_id=$order" | jq ".reservations | length")" \
    "reservation rows of the order"
it_assert_eq 1 "$(inv_outbox_count stock.reserved "$order")" "stock.reserved for the order"
it_assert_eq 1 "$(inv_sql "SELECT count(*) FROM stock_movements WHERE ref = '$order'
  AND kind = 'reserve'")" "reserve rows in the ledger"
inv_assert_clean "an order whose COMMIT answer was lost"
