#!/usr/bin/env bash
# The order and the invoice as PDF (issue 14 item 4, DOMAIN.md F32) from
# the real order and payment services: a prepaid order of a customer with
# a Cyrillic name, reserved by the real inventory and confirmed, billed by
# the payment service against the fake bank. The order's PDF (any staff
# role) names its number, the customer, the lines with their prices and
# the total; the invoice's PDF (manager, admin) its reference, the order's
# number, the customer, the receipt lines, the amount to pay and the
# payment link. Both are read back with pdftotext; other roles get 403,
# unknown ids 404 problem+json.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/kit/kit.sh"
source "$(dirname "$0")/kit/inventory.sh"
source "$(dirname "$0")/order/order.sh"
FAKE_PORT=28133 # inventory replica 1 has payment.sh's usual port
source "$(dirname "$0")/payment/payment.sh"

command -v pdftotext >/dev/null || it_fail "pdftotext is missing: make deps (poppler-utils)"

pay_order_stack '{"products": [
  {"sku": "LAMP", "name": "Настольная лампа «Уют»", "price_minor": 250000, "vat_rate_bp": 2000, "weight_g": 900, "on_hand": 20},
  {"sku": "BULB", "name": "Лампочка LED 9 Вт", "price_minor": 15050, "vat_rate_bp": 2000, "weight_g": 60, "on_hand": 100}]}'
as_courier=$(it_token courier "$boris")
as_warehouse=$(it_token warehouse "$boris")

WORK="$IT_RUN/documents"
mkdir -p "$WORK"
fetch() { # URL TOKEN NAME: the body into $WORK/NAME; prints "status content-type"
    curl -s --max-time 20 -o "$WORK/$3" -w '%{http_code} %{content_type}' \
        -H "Authorization: Bearer $2" "$1"
}
text_of() { pdftotext -q -layout "$WORK/$1" - 2>/dev/null; }
ORDER_URL=$(order_url 1)

out=$(order_submit D-1 '{"customer":{"name":"Ольга Сергеевна Кузнецова","email":"olga@example.ru","phone":"+79991234567"},
  "delivery":{"method":"post","address":{"region":"Камчатский край","city":"Петропавловск-Камчатский","line1":"ул. Ленина, д. 1","postal_code":"683000"}},
  "items":[{"sku":"LAMP","quantity":1},{"sku":"BULB","quantity":3}]}')
[ "$(http_code "$out")" = 201 ] || it_fail "submitting: $out"
o1=$(http_body "$out" | jq -r .order_id)
it_wait_until 20 "stock reserved" order_has_stock "$o1" reserved
out=$(order_move "$o1" confirmed "$as_boris")
[ "$(http_body "$out" | jq -r .status)" = awaiting_payment ] || it_fail "confirming: $out"
number=$(order_sql "SELECT number FROM orders.orders WHERE id = '$o1'")
total=$(order_sql "SELECT total_minor FROM orders.orders WHERE id = '$o1'")

# --- the order -------------------------------------------------------------------------
it_assert_eq "200 application/pdf" "$(fetch "$ORDER_URL/v1/orders/$o1/document.pdf" "$as_boris" order.pdf)" \
    "the manager gets the order as a PDF"
it_assert_eq "%PDF-" "$(head -c 5 "$WORK/order.pdf")" "a PDF"
doc=$(text_of order.pdf)
grep -q "Order No. $number" <<<"$doc" || it_fail "the order's PDF names no order $number: $doc"
grep -q "Ольга Сергеевна Кузнецова" <<<"$doc" || it_fail "the order's PDF lacks the customer's Cyrillic name"
grep -q "Петропавловск-Камчатский" <<<"$doc" || it_fail "the order's PDF lacks the address"
grep -qE "Настольная лампа «Уют» +1 +2 500\.00" <<<"$doc" || it_fail "the lamp's line is not on the order's PDF"
grep -qE "Лампочка LED 9 Вт +3 +150\.50" <<<"$doc" || it_fail "the bulbs' line is not on the order's PDF"
money=$(printf "%d.%02d" $((total / 100)) $((total % 100)) | sed -E ':a;s/^([0-9]+)([0-9]{3})/\1 \2/;ta')
grep -q "Total: $money RUB" <<<"$doc" || it_fail "the order's total ($money RUB) is not on its PDF"
it_assert_eq 200 "$(fetch "$ORDER_URL/v1/orders/$o1/document.pdf" "$as_warehouse" x | cut -d' ' -f1)" \
    "any staff role reads the order's PDF"
it_assert_eq 401 "$(curl -s -o /dev/null -w '%{http_code}' "$ORDER_URL/v1/orders/$o1/document.pdf")" \
    "no token, no document"
unknown=$(cat /proc/sys/kernel/random/uuid)
it_assert_eq "404 application/problem+json" "$(fetch "$ORDER_URL/v1/orders/$unknown/document.pdf" "$as_boris" nf.json)" \
    "an unknown order: 404 problem+json"

# --- the invoice -------------------------------------------------------------------------
it_wait_until 30 "the invoice registered" invoice_is "$o1" open
invoice=$(invoice_field "$o1" invoice_id)
reference=$(invoice_field "$o1" our_ref)
it_assert_eq "200 application/pdf" "$(fetch "$PAY_URL/v1/invoices/$invoice/document.pdf" "$as_boris" invoice.pdf)" \
    "the manager gets the invoice as a PDF"
doc=$(text_of invoice.pdf)
grep -q "Invoice $reference" <<<"$doc" || it_fail "the invoice's PDF lacks its reference $reference: $doc"
grep -q "No. $number" <<<"$doc" || it_fail "the invoice's PDF lacks the order's number"
grep -q "Ольга Сергеевна Кузнецова" <<<"$doc" || it_fail "the invoice's PDF lacks the customer's name"
grep -q "olga@example.ru" <<<"$doc" || it_fail "the invoice's PDF lacks the customer's email"
grep -q "Настольная лампа «Уют»" <<<"$doc" || it_fail "the invoice's PDF lacks the receipt lines"
grep -qE "Total to pay +$money RUB" <<<"$doc" || it_fail "the invoice's PDF lacks the amount ($money RUB)"
link=$(invoice_field "$o1" payment_url)
grep -qF "${link:0:30}" <<<"$doc" || it_fail "the invoice's PDF lacks the payment link"
it_assert_eq 403 "$(fetch "$PAY_URL/v1/invoices/$invoice/document.pdf" "$as_courier" x | cut -d' ' -f1)" \
    "a courier gets no invoice"
it_assert_eq "404 application/problem+json" "$(fetch "$PAY_URL/v1/invoices/$unknown/document.pdf" "$as_boris" nf.json)" \
    "an unknown invoice: 404 problem+json"
it_assert_eq not_found "$(jq -r .code "$WORK/nf.json")" "its code"
it_log "order and invoice documents: PDFs with Cyrillic, lines and totals, by role"
