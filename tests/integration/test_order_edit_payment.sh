#!/usr/bin/env bash
# An edited order's money (issue 14 item 1), with the real order, inventory
# and payment services on one busd and the fake bank: an edit of a
# confirmed order confirms it again at the edit's version (at once when its
# lines stay, once inventory priced them otherwise); the payment service
# treats the newer order.confirmed as a re-invoice — the open invoice
# cancelled as superseded, a new one for the new amount due — and, once
# paid, an edit that raises the total invoices the rest and tells the
# manager to hold the parcel, and one that lowers it refunds the difference. An edit that
# would change how a paid order is paid is refused with the reason
# (test_order_edit_terms: the terms changed while unpaid).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/kit/kit.sh"
source "$(dirname "$0")/kit/inventory.sh"
source "$(dirname "$0")/order/order.sh"
FAKE_PORT=28133 # inventory replica 1 has payment.sh's usual port
source "$(dirname "$0")/payment/payment.sh"

pay_order_stack

version_of() { order_sql "SELECT version FROM orders.orders WHERE id = '$1'"; }
edit_out() { # ORDER BODY: "<status> <body>" of the edit on the current version
    order_call POST "/v1/orders/$1/edit" "$2" "Authorization: Bearer $as_boris" \
        "If-Match: \"$(version_of "$1")\""
}
edit() { # ORDER BODY: prints the new version
    local out
    out=$(edit_out "$1" "$2")
    [ "$(http_code "$out")" = 200 ] || it_fail "editing $1 with $2: $out"
    http_body "$out" | jq -r .version
}
open_invoice_is() { # ORDER AMOUNT: the newest invoice is open for AMOUNT
    [ "$(invoice_field "$1" "status || ' ' || amount_minor")" = "open $2" ]
}
invoices() { # ORDER: status:amount of every invoice, oldest first
    pay_sql "SELECT string_agg(status || ':' || amount_minor, ' ' ORDER BY created_at) FROM payment.invoices WHERE order_id = '$1'"
}
billed_total_is() { [ "$(order_money "$1" total_minor)" = "$2" ]; }
billed_at() { # ORDER VERSION: the payment service heard that version's order.confirmed
    [ "$(order_money "$1" version)" = "$2" ]
}

out=$(order_submit E-1 '{"customer":{"name":"Far Customer","email":"far@example.ru","phone":"+79991234567"},
  "delivery":{"method":"post","address":{"region":"Kamchatka","city":"Petropavlovsk","line1":"Lenina 1","postal_code":"683000"}},
  "items":[{"sku":"LAMP","quantity":2}]}')
[ "$(http_code "$out")" = 201 ] || it_fail "submitting: $out"
order=$(http_body "$out" | jq -r .order_id)
it_wait_until 20 "stock reserved" order_has_stock "$order" reserved
out=$(order_move "$order" confirmed "$as_boris")
[ "$(http_body "$out" | jq -r .status)" = awaiting_payment ] || it_fail "confirming: $out"
# 2 x 250000 + post under 10,000 roubles 35000
it_wait_until 30 "the first invoice open" open_invoice_is "$order" 535000

# --- a discount on an unpaid order: billed again at once -------------------------
v=$(edit "$order" '{"discount_bp":1000,"reason":"customer asked"}')
it_assert_eq 485000 "$(order_sql "SELECT total_minor FROM orders.orders WHERE id = '$order'")" \
    "the order's total: 500000 - 10 % + 35000"
it_assert_eq 2 "$(order_sql "SELECT count(*) FROM orders.outbox WHERE correlation_id = '$order' AND type = 'order.confirmed'")" \
    "the edit confirmed the order again in its own transaction"
it_wait_until 30 "the payment service heard the new version" billed_at "$order" "$v"
it_wait_until 30 "a new invoice for the new total" open_invoice_is "$order" 485000
it_assert_eq "cancelled:535000 open:485000" "$(invoices "$order")" "the old invoice superseded"
it_assert_eq awaiting_payment "$(order_status "$order")" "the order still waits for its money"

# --- one more lamp: billed again once inventory priced it --------------------------
v=$(edit "$order" '{"lines":[{"sku":"LAMP","quantity":3}]}')
it_wait_until 20 "the new lines held" order_has_stock "$order" reserved
# 750000 - 75000 + 35000
it_wait_until 30 "a new invoice for three lamps" open_invoice_is "$order" 710000
it_assert_eq "cancelled:535000 cancelled:485000 open:710000" "$(invoices "$order")" "one open invoice at a time"
it_assert_eq 710000 "$(order_sql "SELECT total_minor FROM orders.orders WHERE id = '$order'")" "the order's total"

# --- paid, then one lamp less: the difference goes back --------------------------
pay_at_bank "$order"
it_wait_until 20 "paid in full: prepare for delivery" order_has_status "$order" prepare_for_delivery
# four lamps after three were paid: 1000000 - 10 % + 35000 = 935000, 225000 more
v=$(edit "$order" '{"lines":[{"sku":"LAMP","quantity":4}]}')
it_wait_until 20 "the new lines held" order_has_stock "$order" reserved
it_wait_until 30 "an invoice for the rest" open_invoice_is "$order" 225000
it_assert_eq 1 "$(order_sql "SELECT count(*) FROM orders.tasks WHERE order_id = '$order' AND kind = 'partial_payment' AND title LIKE '%changed after it was paid: 2250.00 more is due%'")" \
    "the manager is told to hold the parcel until the rest is paid"
v=$(edit "$order" '{"lines":[{"sku":"LAMP","quantity":2}]}')
it_wait_until 20 "the new lines held" order_has_stock "$order" reserved
it_wait_until 30 "the payment service heard the lowered total" billed_total_is "$order" 485000
it_wait_until 30 "the overpaid difference refunded" refund_is "$order" succeeded
it_assert_eq cancelled "$(invoice_field "$order" status)" "the invoice for the rest cancelled: nothing more is due"
it_assert_eq 225000 "$(pay_sql "SELECT sum(amount_minor) FROM payment.refunds WHERE order_id = '$order'")" \
    "710000 paid, 485000 due now: 225000 back"
it_assert_eq prepare_for_delivery "$(order_status "$order")" "the paid order stays ready for delivery"

# --- an edit that would change how the paid order is paid ----------------------
out=$(edit_out "$order" '{"delivery":{"method":"self_pickup"}}')
it_assert_eq "409 terms_would_change" "$(http_code "$out") $(http_body "$out" | jq -r .code)" \
    "self pickup is paid on delivery: refused for a prepaid order"

it_assert_eq 0 "$(order_sql "SELECT count(*) FROM orders.dead_letters")" "dead letters in the order service"
it_assert_eq 0 "$(pay_sql "SELECT count(*) FROM payment.dead_letters")" "dead letters in the payment service"
it_log "edited orders' money: re-confirmed, re-invoiced, the overpaid difference refunded"
