#!/usr/bin/env bash
# A card declined at the bank does not end the customer's way to pay (issue
# 11's follow-up): a declined Sberbank orderId is final, so the payment
# service bills the order anew by itself. With Sberbank (the fake bank) and
# the order stream's stand-in, PAYMENT_DECLINE_REBILLS=2:
#   - declined on the bank's page: the invoice fails, payment.failed, and a
#     new invoice for what is due is registered under a new reference
#     (invoice.created with a new link), which the customer pays;
#   - declined three times: two new links, then none (the bound): the
#     order waits for its manager, who asks for one (POST
#     /v1/orders/{id}/invoices, manager or admin; 409 while one is open);
#   - the bank's late word that the declined link was paid after all: the
#     money is recorded once on that invoice and the new link is voided,
#     so it cannot take the money again;
#   - the new link paid, then the late success of the declined one: the
#     order is over-paid and the excess goes back by itself, once.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/kit/kit.sh"
source "$(dirname "$0")/payment/payment.sh"

pay_dbs
kit_start_busd
pay_start_fake
pay_start_orderfeed
pay_start pay1 sberbank PAYMENT_DECLINE_REBILLS=2 PAYMENT_RECONCILE_AFTER=1h
new_id() { cat /proc/sys/kernel/random/uuid; }
manager=$(it_token manager)
courier=$(it_token courier)
inv_sql() { pay_sql "SELECT $2 FROM payment.invoices WHERE invoice_id = '$1'"; }
inv_is() { [ "$(inv_sql "$1" status)" = "$2" ]; }
invoices_of() { pay_sql "SELECT count(*) FROM payment.invoices WHERE order_id = '$1'"; }
# a new link: the newest invoice open and not the one named
new_link() { invoice_is "$1" open && [ "$(invoice_field "$1" invoice_id)" != "$2" ]; }
# decline_open ORDER: the customer declines the open link; prints its invoice
decline_open() {
    local inv
    it_wait_until 20 "an open link for $1" invoice_is "$1" open
    inv=$(invoice_field "$1" invoice_id)
    pay_at_bank "$1" decline
    it_wait_until 20 "$inv declined" inv_is "$inv" failed
    echo "$inv"
}
# late_success INVOICE: the bank's checksummed callback that the invoice's
# order was deposited after all; prints the HTTP status
late_success() {
    local md ref sum
    md=$(inv_sql "$1" bank_id)
    ref=$(inv_sql "$1" our_ref)
    sum=$(printf 'mdOrder;%s;operation;deposited;orderNumber;%s;status;1;' "$md" "$ref" |
        openssl dgst -sha256 -hmac "$SBER_KEY" | awk '{print toupper($NF)}')
    curl -s -o /dev/null -w '%{http_code}' --max-time 5 \
        "$PAY_URL/v1/webhooks/sberbank?mdOrder=$md&orderNumber=$ref&operation=deposited&status=1&checksum=$sum"
}
bill() { # ORDER TOKEN: POST /v1/orders/{id}/invoices
    it_http POST "$PAY_URL/v1/orders/$1/invoices" '{}' "Authorization: Bearer $2"
}

# --- declined, a new link by itself, paid -----------------------------------------
o1=$(new_id)
confirm "$o1" 51001
first=$(decline_open "$o1")
it_wait_until 10 "payment.failed" has_event "$o1" payment.failed
it_wait_until 20 "a new link" new_link "$o1" "$first"
second=$(invoice_field "$o1" invoice_id)
it_assert_eq 305001 "$(inv_sql "$second" amount_minor)" "the new link asks what is due"
[ "$(inv_sql "$second" our_ref)" != "$(inv_sql "$first" our_ref)" ] || it_fail "the new link reuses the declined reference"
[ "$(inv_sql "$second" bank_id)" != "$(inv_sql "$first" bank_id)" ] || it_fail "the new link is the declined orderId"
it_wait_until 10 "invoice.created twice" has_event "$o1" invoice.created 2
pay_at_bank "$o1"
it_wait_until 20 "paid through the new link" payment_status_is "$o1" paid
it_assert_eq "failed paid" "$(pay_sql "SELECT string_agg(status, ' ' ORDER BY created_at) FROM payment.invoices WHERE order_id = '$o1'")" \
    "the declined invoice and the paid one"
it_assert_eq 1 "$(ledger_rows "$o1" payment)" "one payment"
it_log "declined, billed anew, paid through the new link"

# --- the bound: two new links, then the manager asks ------------------------------
o2=$(new_id)
confirm "$o2" 51002
decline_open "$o2" >/dev/null
decline_open "$o2" >/dev/null
last=$(decline_open "$o2")
sleep 2 # a third new link would have been registered by now
it_assert_eq 3 "$(invoices_of "$o2")" "two new links after three declines, no third"
it_assert_eq failed "$(invoice_field "$o2" status)" "the newest invoice"
it_assert_eq 3 "$(events_of "$o2" invoice.created)" "invoice.created: the first link and two new ones"
it_assert_eq 3 "$(events_of "$o2" payment.failed)" "payment.failed: each decline"
it_assert_eq 403 "$(http_code "$(bill "$o2" "$courier")")" "a courier asks for a link"
it_assert_eq 404 "$(http_code "$(bill "$(new_id)" "$manager")")" "a link for an order payment never heard of"
out=$(bill "$o2" "$manager")
it_assert_eq 202 "$(http_code "$out")" "the manager asks for a new link: $out"
it_wait_until 20 "the manager's link" new_link "$o2" "$last"
out=$(bill "$o2" "$manager")
it_assert_eq "409 invoice_open" "$(http_code "$out") $(http_body "$out" | jq -r .code)" "a second ask while a link is open"
pay_at_bank "$o2"
it_wait_until 20 "paid through the manager's link" payment_status_is "$o2" paid
out=$(bill "$o2" "$manager")
it_assert_eq "409 nothing_due" "$(http_code "$out") $(http_body "$out" | jq -r .code)" "a link for a paid order"
it_log "three declines, two new links, then the manager's"

# --- the declined link paid after all, the new one open ---------------------------
o3=$(new_id)
confirm "$o3" 51003
first=$(decline_open "$o3")
it_wait_until 20 "a new link" new_link "$o3" "$first"
second=$(invoice_field "$o3" invoice_id)
it_assert_eq 200 "$(late_success "$first")" "the bank's late success"
it_wait_until 20 "paid by the declined link" payment_status_is "$o3" paid
it_assert_eq paid "$(inv_sql "$first" status)" "the bank's word that it was paid wins"
it_assert_eq 1 "$(pay_sql "SELECT count(*) FROM payment.ledger WHERE invoice_id = '$first' AND kind = 'payment'")" \
    "the money recorded on the declined invoice"
it_wait_until 20 "the new link voided" inv_is "$second" cancelled
it_wait_until 10 "invoice.cancelled" has_event "$o3" invoice.cancelled
it_assert_eq 200 "$(late_success "$first")" "the late success told again"
sleep 1
it_assert_eq 1 "$(ledger_rows "$o3" payment)" "one payment after the repeat"
it_assert_eq 0 "$(pay_sql "SELECT count(*) FROM payment.refunds WHERE order_id = '$o3'")" "nothing to refund"
it_log "the declined link paid after all: recorded, the new link voided"

# --- the new link paid, then the declined one after all: over-paid ----------------
o4=$(new_id)
confirm "$o4" 51004
first=$(decline_open "$o4")
it_wait_until 20 "a new link" new_link "$o4" "$first"
pay_at_bank "$o4"
it_wait_until 20 "paid through the new link" payment_status_is "$o4" paid
it_assert_eq 200 "$(late_success "$first")" "the bank's late success"
has_excess_refund() { [ "$(pay_sql "SELECT count(*) || ' ' || coalesce(sum(amount_minor), 0) FROM payment.refunds
                                     WHERE order_id = '$o4' AND reason = 'excess'")" = "1 305001" ]; }
it_wait_until 20 "the excess refunded by itself" has_excess_refund
it_assert_eq 2 "$(ledger_rows "$o4" payment)" "both payments recorded"
it_assert_eq 200 "$(late_success "$first")" "the late success told again"
sleep 1
it_assert_eq 2 "$(ledger_rows "$o4" payment)" "the repeat recorded nothing"
has_excess_refund || it_fail "the repeat refunded again"
it_log "paid twice after a decline: the excess goes back once"
