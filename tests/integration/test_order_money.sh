#!/usr/bin/env bash
# Money sums that do not fit in 64 bits, against the real order service,
# with factfeed standing in for inventory (its stock.reserved carries the
# catalogue prices): a sender's prices past int64 are refused at intake
# with their reason over JSON and the form (two lines of 5·10^16 roubles);
# catalogue prices past int64 park the stock.reserved fact as
# totals_overflow while the stream goes on; a confirmation whose goods and
# delivery would not fit answers 409 not_ready and changes nothing; a
# customer's spending stops at bigint's top instead of failing the
# delivery.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/kit/kit.sh"
source "$(dirname "$0")/order/order.sh"

kit_dbs
order_dbs
INV_ENV=$(it_service_db inventoryfeed)
kit_start_busd
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
as_sklad=$(it_token warehouse)
as_kurier=$(it_token courier)

# reserve ORDER LINES_JSON: inventory holds the order at these prices
reserve() {
    local out
    out=$(it_http POST http://127.0.0.1:28127/v1/publish \
        "{\"events\":[{\"type\":\"stock.reserved\",\"payload\":{\"order_id\":\"$1\",\"order_version\":1,\"currency\":\"RUB\",\"lines\":$2}}]}")
    [ "$(http_code "$out")" = 201 ] || it_fail "publishing stock.reserved: $out"
}
submit() { # KEY BODY -> order id
    local out
    out=$(order_submit "$1" "$2")
    [ "$(http_code "$out")" = 201 ] || it_fail "submitting $1: $out"
    http_body "$out" | jq -r .order_id
}
letter_err() { order_sql "SELECT coalesce(string_agg(err, ' '), '') FROM orders.dead_letters WHERE correlation_id = '$1'"; }
letter_is() { [ "$(letter_err "$1")" = "$2" ]; }

# --- intake: the sender's prices -----------------------------------------------
out=$(order_submit M-1 '{"customer":{"name":"Rich","phone":"+79001234567"},"delivery":{"method":"self_pickup"},
  "items":[{"sku":"A","quantity":1,"price_minor":5000000000000000000},{"sku":"B","quantity":1,"price_minor":5000000000000000000}]}')
it_assert_eq "422 items:total_too_large" \
    "$(http_code "$out") $(http_body "$out" | jq -r '[.errors[] | .field + ":" + .code] | join(" ")')" \
    "JSON lines that add up past int64 ($out)"
form=$(printf 'Name=Rich&Phone=%%2B79001234567&Delivery=self_pickup&tranid=M-2&payment%%5Bdiscount%%5D=100'
    for i in 0 1; do printf '&payment%%5Bproducts%%5D%%5B%d%%5D%%5Bsku%%5D=S%d&payment%%5Bproducts%%5D%%5B%d%%5D%%5Bquantity%%5D=1&payment%%5Bproducts%%5D%%5B%d%%5D%%5Bprice%%5D=50000000000000000' $i $i $i $i; done)
raw=$(curl -sS -w '\n%{http_code}' --max-time 10 -H 'Content-Type: application/x-www-form-urlencoded' \
    -H "X-Api-Key: $ORDER_FORM_KEY" --data-binary "$form" "$(order_url 1)/v1/intake/form")
it_assert_eq "422 items:total_too_large" \
    "$(tail -n1 <<<"$raw") $(sed '$d' <<<"$raw" | jq -r '[.errors[] | .field + ":" + .code] | join(" ")')" \
    "a form cart of two lines of 5·10^16 roubles"

# --- reservation: the catalogue's prices -----------------------------------------
huge=$(submit M-3 '{"customer":{"name":"Huge","phone":"+79001234568"},"delivery":{"method":"courier","address":{"region":"Kazan","city":"Kazan","line1":"Baumana 1"}},
  "items":[{"sku":"A","quantity":1},{"sku":"B","quantity":1}]}')
reserve "$huge" '[{"line_no":1,"sku":"A","quantity":1,"unit_price_minor":5000000000000000000},{"line_no":2,"sku":"B","quantity":1,"unit_price_minor":5000000000000000000}]'
it_wait_until 20 "the overflowing reservation parked" letter_is "$huge" totals_overflow
# lines that fit, plus a delivery that does not
edge=$(submit M-4 '{"customer":{"name":"Edge","phone":"+79001234569"},"delivery":{"method":"courier","address":{"region":"Kazan","city":"Kazan","line1":"Baumana 2"}},
  "items":[{"sku":"A","quantity":1}]}')
reserve "$edge" '[{"line_no":1,"sku":"A","quantity":1,"unit_price_minor":9223372036854775000}]'
it_wait_until 20 "the reservation whose delivery does not fit parked" letter_is "$edge" totals_overflow
fine=$(submit M-5 '{"customer":{"name":"Fine","phone":"+79001234570"},"delivery":{"method":"self_pickup"},"items":[{"sku":"A","quantity":2}]}')
reserve "$fine" '[{"line_no":1,"sku":"A","quantity":2,"unit_price_minor":150000,"vat_rate_bp":2000}]'
it_wait_until 20 "the stream goes on after the parked facts" order_has_stock "$fine" reserved
it_assert_eq "pending pending" "$(order_stock "$huge") $(order_stock "$edge")" \
    "nothing computed with a wrapped sum"

# --- confirmation: goods and delivery ----------------------------------------------
big=$(submit M-6 '{"customer":{"name":"Big","phone":"+79001234571"},"delivery":{"method":"self_pickup"},"items":[{"sku":"A","quantity":1}]}')
reserve "$big" '[{"line_no":1,"sku":"A","quantity":1,"unit_price_minor":9223372036854775000}]'
it_wait_until 20 "the big order reserved (self pickup is free)" order_has_stock "$big" reserved
order_sql "INSERT INTO orders.delivery_prices (method, region, min_total_minor, price_minor) VALUES ('self_pickup', '*', 9000000000000000000, 1000000)"
out=$(order_move "$big" confirmed "$as_anna")
it_assert_eq "409 not_ready new" "$(http_code "$out") $(http_body "$out" | jq -r .code) $(order_status "$big")" \
    "confirming goods and delivery past int64 ($out)"
order_sql "DELETE FROM orders.delivery_prices WHERE min_total_minor = 9000000000000000000"

# --- a customer's spending ------------------------------------------------------------
local_order=$(submit M-7 "$(order_body "Vip Already" "+79001234572" Moscow A 1)")
reserve "$local_order" '[{"line_no":1,"sku":"A","quantity":1,"unit_price_minor":500000,"vat_rate_bp":2000}]'
it_wait_until 20 "the local order reserved" order_has_stock "$local_order" reserved
order_sql "UPDATE orders.customers SET total_spent_minor = 9223372036854775000 WHERE phone = '+79001234572'"
for move in "confirmed $as_anna" "assembled $as_sklad" "handed_to_carrier $as_sklad" "delivered $as_kurier"; do
    out=$(order_move "$local_order" ${move% *} "${move#* }")
    [ "$(http_code "$out")" = 200 ] || it_fail "moving to ${move% *}: $out"
done
it_assert_eq "delivered 9223372036854775807 vip" \
    "$(order_sql "SELECT o.status || ' ' || c.total_spent_minor || ' ' || c.category FROM orders.orders o JOIN orders.customers c ON c.id = o.customer_id WHERE o.id = '$local_order'")" \
    "the spending stops at bigint's top and the order is delivered"
it_log "money: sums past int64 refused at intake, parked at reservation, refused at confirmation"
