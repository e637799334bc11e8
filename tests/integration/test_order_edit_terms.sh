#!/usr/bin/env bash
# An edit that changes how a confirmed order is paid (issue 14 item 1), with
# the real order, inventory and payment services on one busd and the fake
# bank. While nothing is paid the order is simply paid the new way:
# prepaid -> cash on delivery (a far courier delivery moved into the local
# region) moves it from awaiting payment to prepare for delivery, and the
# payment service cancels the open invoice (invoice.cancelled, reason
# terms_changed) and voids it at the bank; cash on delivery -> prepaid (a
# local courier delivery sent by post far away) moves it back from prepare
# for delivery to awaiting payment with a new invoice for its total, which
# pays as any other. Once money was taken, an edit that would make the order
# paid on delivery is refused (409 terms_would_change) naming what was paid,
# and writes nothing.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/kit/kit.sh"
source "$(dirname "$0")/kit/inventory.sh"
source "$(dirname "$0")/order/order.sh"
FAKE_PORT=28133 # inventory replica 1 has payment.sh's usual port
source "$(dirname "$0")/payment/payment.sh"

pay_order_stack

version_of() { order_sql "SELECT version FROM orders.orders WHERE id = '$1'"; }
total_of() { order_sql "SELECT total_minor FROM orders.orders WHERE id = '$1'"; }
terms_of() { order_sql "SELECT payment_terms FROM orders.orders WHERE id = '$1'"; }
edit() { # ORDER BODY: "<status> <body>" of the edit on the current version
    order_call POST "/v1/orders/$1/edit" "$2" "Authorization: Bearer $as_boris" \
        "If-Match: \"$(version_of "$1")\""
}
submit() { # KEY DELIVERY_JSON -> order id, its stock held
    local out
    out=$(order_submit "$1" "{\"customer\":{\"name\":\"Terms $1\",\"email\":\"t@example.ru\",\"phone\":\"+79991234567\"},
      \"delivery\":$2,\"items\":[{\"sku\":\"LAMP\",\"quantity\":1}]}")
    [ "$(http_code "$out")" = 201 ] || it_fail "submitting $1: $out"
    http_body "$out" | jq -r .order_id
}
open_invoice_is() { # ORDER AMOUNT: the newest invoice is open for AMOUNT
    [ "$(invoice_field "$1" "status || ' ' || amount_minor")" = "open $2" ]
}
bank_status_is() { # OUR_REF CODE: the bank's orderStatus (6: declined, the link dead)
    [ "$(fake_get "/_fake/sberbank/orders/$1" | jq -r .orderStatus)" = "$2" ]
}
last_move() { # ORDER: "to reason" of the order's last status row
    http_body "$(order_admin GET "/v1/orders/$1")" |
        jq -r '[.history[] | select(.kind == "status")] | last | "\(.to) \(.reason)"'
}
far='{"method":"courier","address":{"region":"Kazan","city":"Kazan","line1":"Baumana 7"}}'
local_courier='{"method":"courier","address":{"region":"Moscow","city":"Moscow","line1":"Tverskaya 1"}}'
far_post='{"method":"post","address":{"region":"Kamchatka","city":"Petropavlovsk","line1":"Lenina 1","postal_code":"683000"}}'

# --- prepaid -> cash on delivery, unpaid: the link cancelled and voided ------------
p=$(submit T-1 "$far")
it_wait_until 20 "stock reserved" order_has_stock "$p" reserved
out=$(order_move "$p" confirmed "$as_boris")
[ "$(http_body "$out" | jq -r .status)" = awaiting_payment ] || it_fail "confirming: $out"
it_wait_until 30 "the invoice open" open_invoice_is "$p" "$(total_of "$p")"
ref=$(invoice_field "$p" our_ref)
it_wait_until 20 "the link registered at the bank" bank_status_is "$ref" 0
out=$(edit "$p" "{\"delivery\":$local_courier,\"reason\":\"will pay the courier\"}")
it_assert_eq "200 prepare_for_delivery" "$(http_code "$out") $(http_body "$out" | jq -r .status)" \
    "a far prepaid order moved into Moscow by courier: paid on delivery now: $out"
it_assert_eq "on_delivery prepare_for_delivery $(http_body "$out" | jq -r .version)" \
    "$(terms_of "$p") $(order_status "$p") $(version_of "$p")" "the order's terms, status and version"
it_assert_eq "prepare_for_delivery payment terms prepay -> on_delivery" "$(last_move "$p")" \
    "the history says why it moved"
it_assert_eq 1 "$(order_sql "SELECT count(*) FROM orders.outbox WHERE correlation_id = '$p' AND type = 'order.ready_to_ship'")" \
    "the warehouse is told it is ready to ship"
it_wait_until 30 "the payment service heard the new terms" payment_status_is "$p" pay_on_delivery
it_wait_until 30 "the open invoice cancelled" invoice_is "$p" cancelled
it_assert_eq "terms_changed 1 0" \
    "$(invoice_field "$p" failure_code) $(events_of "$p" invoice.cancelled) $(pay_sql "SELECT count(*) FROM payment.invoices WHERE order_id = '$p' AND status <> 'cancelled'")" \
    "invoice.cancelled once, reason terms_changed, and no new invoice"
it_wait_until 30 "the link voided at the bank" bank_status_is "$ref" 6
it_assert_eq "on_delivery $(total_of "$p")" "$(order_money "$p" "terms || ' ' || total_minor")" \
    "the payment service's terms and total"

# --- cash on delivery -> prepaid: back to awaiting payment, a new invoice -----------
c=$(submit T-2 "$local_courier")
it_wait_until 20 "stock reserved" order_has_stock "$c" reserved
out=$(order_move "$c" confirmed "$as_boris")
[ "$(http_body "$out" | jq -r .status)" = prepare_for_delivery ] || it_fail "confirming: $out"
it_wait_until 30 "the payment service heard it" payment_status_is "$c" pay_on_delivery
out=$(edit "$c" "{\"delivery\":$far_post}")
it_assert_eq "200 awaiting_payment prepay" \
    "$(http_code "$out") $(http_body "$out" | jq -r .status) $(terms_of "$c")" \
    "a Moscow courier order sent by post to Kamchatka: prepaid now: $out"
it_assert_eq "awaiting_payment payment terms on_delivery -> prepay" "$(last_move "$c")" \
    "the history says why it moved back"
it_wait_until 30 "an invoice for its total" open_invoice_is "$c" "$(total_of "$c")"
it_assert_eq unpaid "$(order_money "$c" status)" "the payment service waits for the money"
pay_at_bank "$c"
it_wait_until 20 "paid: prepare for delivery" order_has_status "$c" prepare_for_delivery

# --- paid: an edit that would be paid on delivery is refused, naming the money ------
v=$(version_of "$c")
out=$(edit "$c" "{\"delivery\":$local_courier}")
it_assert_eq "409 terms_would_change" "$(http_code "$out") $(http_body "$out" | jq -r .code)" \
    "a paid order cannot become cash on delivery: $out"
grep -q "$(($(total_of "$c") / 100)).00 is paid already for this prepay order" <<<"$(http_body "$out" | jq -r .detail)" ||
    it_fail "the refusal does not say what was paid: $out"
it_assert_eq "$v prepay prepare_for_delivery" "$(version_of "$c") $(terms_of "$c") $(order_status "$c")" \
    "nothing written"

it_assert_eq 0 "$(order_sql "SELECT count(*) FROM orders.dead_letters")" "dead letters in the order service"
it_assert_eq 0 "$(pay_sql "SELECT count(*) FROM payment.dead_letters")" "dead letters in the payment service"
it_log "payment terms changed by an edit: prepaid <-> on delivery while unpaid, refused once paid"
