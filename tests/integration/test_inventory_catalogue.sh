#!/usr/bin/env bash
# The catalogue over HTTP (F9): every route role-checked; a CSV import of
# thousands of rows as spreadsheets write it (BOM, ';', quotes, decimal
# commas); keyset paging through all of it; filters; an import with bad
# rows changes nothing and names every bad row with its line and reason;
# stock-level imports, edits, deactivation and corrections keep the
# ledger in step (reconciliation clean); stock below what is reserved is
# refused.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/kit/kit.sh"
source "$(dirname "$0")/kit/inventory.sh"

ROWS=${IT_IMPORT_ROWS:-3000}
inv_dbs
inv_start_busd
inv_start_feed feed
inv_start_ready inv 1

# status METHOD PATH [BODY [TYPE]] with the token in INV_TOKEN
status() {
    inv_api "$@" | cut -d' ' -f1
}

# --- roles ----------------------------------------------------------------------
it_assert_eq 401 "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:28131/v1/products)" \
    "reading without a token"
it_assert_eq 401 "$(INV_TOKEN=not.a.token status GET /v1/products)" "reading with a forged token"
courier=$(it_token courier)
manager=$(it_token manager)
warehouse=$(it_token warehouse)
it_assert_eq 200 "$(INV_TOKEN=$courier status GET /v1/products)" "a courier reads the catalogue"
it_assert_eq 403 "$(INV_TOKEN=$courier status POST /v1/products '{}')" "a courier creates a product"
it_assert_eq 403 "$(INV_TOKEN=$manager status POST /v1/imports '{"products": []}')" \
    "a manager imports"
it_assert_eq 403 "$(INV_TOKEN=$manager status POST /v1/supplies '{}')" "a manager records a supply"
it_assert_eq 403 "$(INV_TOKEN=$warehouse status POST /v1/imports 'sku' text/csv)" "warehouse imports"
it_assert_eq 403 "$(INV_TOKEN=$warehouse status PATCH /v1/products/X '{"name": "x"}')" \
    "warehouse edits a price list"
it_assert_eq 403 "$(INV_TOKEN=$courier status POST /v1/stock/X/corrections '{}')" \
    "a courier corrects stock"
it_assert_eq 200 "$(INV_TOKEN=$manager status GET /v1/reconciliation)" "a manager reads the reconciliation"

# --- a big CSV import, as a spreadsheet writes it -----------------------------------
csv="$IT_RUN/catalogue.csv"
{
    printf '\xef\xbb\xbf'
    echo 'sku;external_code;name;price;vat;weight_g;on_hand;low_stock_threshold;buyer_email'
    awk -v rows="$ROWS" 'BEGIN {
        split("Чайник|Сковорода|Кабель USB-C|Наушники|Термокружка|Набор ножей", kinds, "|")
        for (i = 1; i <= rows; i++) {
            k = kinds[(i % 6) + 1]
            printf "IT-%05d;%06d;\"%s \"\"Модель %d\"\"; серия %d\";%d %03d,%02d;%s;%d;%d;%d;%s\n",
                i, i, k, i, i % 7, 1 + i % 9, i % 1000, i % 100, (i % 2 ? "20%" : "10"),
                100 + i % 2000, i % 25, (i % 10 == 0 ? 30 : 0),
                (i % 3 == 0 ? "buyer" i % 5 "@shop.example" : "")
        }
    }'
} >"$csv"
started=$(date +%s%3N)
answer=$(inv_api_ok POST /v1/imports "@$csv" text/csv)
took=$(($(date +%s%3N) - started))
it_log "imported $ROWS CSV rows in $took ms: $answer"
it_assert_eq "$ROWS" "$(jq -r .created <<<"$answer")" "products created"
it_assert_eq "$ROWS" "$(inv_sql "SELECT count(*) FROM products WHERE sku LIKE 'IT-%'")" "products"
it_assert_eq "Чайник \"Модель 6\"; серия 6|700606|1000|106" \
    "$(inv_sql "SELECT name || '|' || price_minor || '|' || vat_rate_bp || '|' || weight_g
      FROM products WHERE sku = 'IT-00006'")" "a row with quotes, a ';' and a decimal comma"
it_assert_eq "000007|2000|" "$(inv_sql "SELECT external_code || '|' || vat_rate_bp || '|' ||
  COALESCE(buyer_email, '') FROM products WHERE sku = 'IT-00007'")" "external code, VAT percent"
it_assert_eq "000009|buyer4@shop.example|0" "$(inv_sql "SELECT external_code || '|' || buyer_email ||
  '|' || low_stock_threshold FROM products WHERE sku = 'IT-00009'")" "a buyer's email"
inv_assert_clean "big import"

# --- keyset paging through all of it --------------------------------------------------
cursor="" pages=0
: >"$IT_RUN/skus.txt"
while :; do
    page=$(inv_api_ok GET "/v1/products?limit=500${cursor:+&cursor=$cursor}")
    jq -r '.items[].sku' <<<"$page" >>"$IT_RUN/skus.txt"
    pages=$((pages + 1))
    cursor=$(jq -r '.next_cursor // empty' <<<"$page")
    [ -n "$cursor" ] || break
    [ "$pages" -lt 100 ] || it_fail "paging does not end"
done
it_assert_eq "$ROWS" "$(sort -u "$IT_RUN/skus.txt" | wc -l)" "distinct products paged through"
it_assert_eq "$ROWS" "$(wc -l <"$IT_RUN/skus.txt")" "products paged through"
sort -c "$IT_RUN/skus.txt" 2>/dev/null || LC_ALL=C sort -c "$IT_RUN/skus.txt" ||
    it_fail "pages are not in sku order"
it_assert_eq 400 "$(status GET '/v1/products?cursor=garbage!')" "a forged cursor"

# --- filters ---------------------------------------------------------------------------
it_assert_eq "$(inv_sql "SELECT count(*) FROM products WHERE name ILIKE '%чайник%'")" \
    "$(inv_api_ok GET "/v1/products?limit=500&q=$(jq -rn --arg q 'ЧАЙНИК' '$q|@uri')" | jq '.items | length')" \
    "products found by a word in any case"
it_assert_eq "$(inv_sql "SELECT count(*) FROM products WHERE on_hand - reserved < low_stock_threshold")" \
    "$(inv_api_ok GET "/v1/products?limit=500&low=true" | jq '.items | length')" "low-stock filter"
it_assert_eq 422 "$(status GET '/v1/products?active=maybe')" "a bad filter"

# --- an import with bad rows changes nothing and names every one ------------------------
snapshot() {
    inv_sql "SELECT md5(string_agg(p::text, ',' ORDER BY sku)) FROM products p" &&
        inv_sql "SELECT count(*) FROM stock_movements" && inv_sql "SELECT count(*) FROM imports"
}
before=$(snapshot)
bad="$IT_RUN/bad.csv"
awk 'BEGIN { print "sku,on_hand"
    for (i = 1; i <= 2000; i++) {
        line = i + 1
        if (line == 1234) print "IT-01233,abc"
        else if (line == 1500) print ",5"
        else if (line == 1777) print "IT-00010,7"
        else printf "IT-%05d,%d\n", i, 50 + i % 10
    } }' >"$bad"
answer=$(inv_api POST /v1/imports "@$bad" text/csv)
it_assert_eq 422 "${answer%% *}" "an import with bad rows"
problem=${answer#* }
it_assert_eq import_invalid "$(jq -r .code <<<"$problem")" "the problem's code"
it_assert_eq "1234 1500 1777" "$(jq -r '[.errors[].line] | sort | map(tostring) | join(" ")' <<<"$problem")" \
    "the lines named"
jq -e '.errors[] | select(.field == "line 1234: on_hand" and .code == "invalid")' <<<"$problem" \
    >/dev/null || it_fail "line 1234's on_hand is not named: $problem"
jq -e '.errors[] | select(.field == "line 1500: sku" and .code == "required")' <<<"$problem" \
    >/dev/null || it_fail "line 1500's missing sku is not named: $problem"
jq -e '.errors[] | select(.field == "line 1777: sku" and .code == "duplicate"
  and (.message | contains("line 11")))' <<<"$problem" >/dev/null ||
    it_fail "line 1777's duplicate is not named with its twin: $problem"
it_assert_eq "$before" "$(snapshot)" "products, ledger and imports after the refused import"

# the same rows, fixed: stock levels only
sed -i 's/^IT-01233,abc$/IT-01233,51/; s/^,5$/IT-01499,5/; s/^IT-00010,7$/IT-01776,7/' "$bad"
answer=$(inv_api_ok POST /v1/imports "@$bad" text/csv)
it_assert_eq 2000 "$(jq -r .updated <<<"$answer")" "products whose stock was set"
it_assert_eq 51 "$(inv_sql "SELECT on_hand FROM products WHERE sku = 'IT-01233'")" "a fixed row"
it_assert_eq "$(jq -r .stock_changed <<<"$answer")" "$(inv_sql "SELECT count(*) FROM stock_movements
  WHERE cause = 'import' AND ref = 'import:$(jq -r .import_id <<<"$answer")'")" \
    "ledger rows of the stock import"
inv_assert_clean "stock-level import"

# --- more refusals: JSON rows, encodings, headers ------------------------------------------
answer=$(inv_api POST /v1/imports '{"products": [{"sku": "IT-00001", "vat": "twenty"},
  {"sku": "IT-NEW-1", "price_minor": 100}, {"sku": "bad sku!"}]}')
it_assert_eq 422 "${answer%% *}" "a JSON import with bad rows"
it_assert_eq "products[0].vat products[1].name products[1].vat_rate_bp products[1].weight_g products[2].sku" \
    "$(jq -r '[.errors[].field] | sort | join(" ")' <<<"${answer#* }")" "the JSON rows named"
printf 'sku;name;price;vat;weight_g\nIT-W1;Чайник;100;20;5\n' | iconv -f UTF-8 -t CP1251 >"$IT_RUN/cp1251.csv"
answer=$(inv_api POST /v1/imports "@$IT_RUN/cp1251.csv" text/csv)
it_assert_eq 422 "${answer%% *}" "a Windows-1251 file"
grep -q 'UTF-8' <<<"$answer" || it_fail "the refusal should say to save as UTF-8: $answer"
answer=$(inv_api POST /v1/imports $'sku,colour\nIT-00001,red\n' text/csv)
jq -e '.errors[] | select(.field == "line 2: colour" and .code == "unknown")' <<<"${answer#* }" \
    >/dev/null || it_fail "an unknown column: $answer"
it_assert_eq 415 "$(status POST /v1/imports 'sku' text/plain)" "an import as text/plain"

# --- products over the API ---------------------------------------------------------------------
answer=$(inv_api POST /v1/products '{"sku": "IT KETTLE", "price_minor": -5, "vat_rate_bp": 30000,
  "weight_g": "heavy", "colour": "red"}')
it_assert_eq 422 "${answer%% *}" "a product with five mistakes"
it_assert_eq 6 "$(jq '.errors | length' <<<"${answer#* }")" \
    "mistakes reported at once (sku, price, vat, weight, colour, name)"
created=$(inv_api_ok POST /v1/products '{"sku": "IT-KETTLE", "external_code": "ms-000777",
  "name": "Чайник стеклянный 1,5 л", "price": "2 490,00", "vat": "20", "weight_g": 1200,
  "low_stock_threshold": 5, "on_hand": 8, "buyer": {"id": "u-9", "name": "Пётр Снабженцев",
  "email": "petr@shop.example"}}')
it_assert_eq "249000 2000 8 8 false" "$(jq -r '"\(.price_minor) \(.vat_rate_bp) \(.on_hand) \(.available) \(.low)"' <<<"$created")" \
    "the created product"
it_assert_eq 409 "$(status POST /v1/products '{"sku": "IT-KETTLE", "name": "x", "price_minor": 1,
  "vat_rate_bp": 0, "weight_g": 1}')" "the same sku again"
it_assert_eq 409 "$(status POST /v1/products '{"sku": "IT-KETTLE-2", "external_code": "ms-000777",
  "name": "x", "price_minor": 1, "vat_rate_bp": 0, "weight_g": 1}')" "an external code taken"
it_assert_eq 422 "$(status PATCH /v1/products/IT-KETTLE '{"on_hand": 100}')" "stock edited as a field"
it_assert_eq 199000 "$(inv_api_ok PATCH /v1/products/IT-KETTLE '{"price_minor": 199000}' | jq .price_minor)" \
    "a new price"
it_assert_eq 404 "$(status GET /v1/products/IT-NOPE)" "an unknown product"

# hold 3 kettles through the order stream, then push stock below what is held
order=$(inv_feed /v1/place '{"orders": [{"lines": [{"sku": "IT-KETTLE", "quantity": 3}]}]}' |
    jq -r '.order_ids[0]')
inv_wait_settled "the kettle order applied"
it_assert_eq reserved "$(inv_sql "SELECT status FROM orders WHERE order_id = '$order'")" "the order"
answer=$(inv_api POST /v1/imports $'sku,on_hand\nIT-00001,5\nIT-KETTLE,2\n' text/csv)
jq -e '.errors[] | select(.field == "line 3: on_hand" and .code == "below_reserved" and .line == 3)' \
    <<<"${answer#* }" >/dev/null || it_fail "stock below the reserved: $answer"
lows=$(inv_outbox_count stock.low)
answer=$(INV_TOKEN=$warehouse inv_api POST /v1/stock/IT-KETTLE/corrections '{"delta": -6, "reason": "разбит при приёмке"}')
it_assert_eq "409 below_reserved" "${answer%% *} $(jq -r .code <<<"${answer#* }")" \
    "a correction below the reserved"
answer=$(INV_TOKEN=$warehouse inv_api POST /v1/stock/IT-KETTLE/corrections '{"delta": -4, "reason": "разбит при приёмке"}')
it_assert_eq "200 4 1" "${answer%% *} $(jq -r '"\(.product.on_hand) \(.product.available)"' <<<"${answer#* }")" \
    "a correction to 4 on hand"
it_assert_eq $((lows + 1)) "$(inv_outbox_count stock.low)" "stock.low after the correction (available 1 < 5)"
it_assert_eq "correction|-4|it-warehouse|разбит при приёмке" "$(inv_sql "SELECT cause || '|' ||
  on_hand_delta || '|' || actor || '|' || note FROM stock_movements WHERE kind = 'correction'
  ORDER BY id DESC LIMIT 1")" "the correction in the ledger"
inv_api_ok PATCH /v1/products/IT-KETTLE '{"low_stock_threshold": 3}' >/dev/null
it_assert_eq $((lows + 1)) "$(inv_outbox_count stock.low)" "stock.low while it stays low"
inv_api_ok PATCH /v1/products/IT-KETTLE '{"low_stock_threshold": 1}' >/dev/null
inv_api_ok PATCH /v1/products/IT-KETTLE '{"low_stock_threshold": 6}' >/dev/null
it_assert_eq $((lows + 2)) "$(inv_outbox_count stock.low)" "stock.low after it rose above and fell below again"
it_assert_eq false "$(inv_api_ok POST /v1/products/IT-KETTLE/deactivate | jq .active)" "deactivated"
it_assert_eq 1 "$(INV_TOKEN=$courier inv_api_ok GET '/v1/products?active=false' | jq '.items | length')" \
    "inactive products"
inv_assert_clean "the end"
