#!/usr/bin/env bash
# A cancelled order leaves no payable link at the bank (issue 11 item 2,
# "a cancelled order voids its invoice", with item 5's lookups): with
# Sberbank (the fake bank) and the order stream's stand-in,
#   - an invoice whose registration reached the bank but whose answer was
#     lost (the fake's lose_reply), then the order cancelled: the void
#     looks the order up at the bank by our orderNumber, declines it there
#     (decline.do: its page pays no more), keeps the bank's id, and
#     invoice.cancelled is published once; the registration's retry
#     registers nothing more;
#   - an invoice registered and shown, then the order cancelled: declined
#     at the bank the same way;
#   - an order cancelled before the bank took its registration (429s): the
#     lookup finds nothing, nothing is registered afterwards;
#   - with YooKassa, a lost registration then a cancel: the registration
#     is replayed under its Idempotence-Key (the lookup by our key; no
#     second payment), the bank's id kept and the payment voided where
#     YooKassa allows it (a pending payment expires there by itself).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/kit/kit.sh"
source "$(dirname "$0")/payment/payment.sh"

pay_dbs
kit_start_busd
pay_start_fake
pay_start_orderfeed
pay_start pay1 sberbank PAYMENT_RECONCILE_AFTER=1h PAYMENT_BANK_TIMEOUT=8s
new_id() { cat /proc/sys/kernel/random/uuid; }
bank_order() { fake_get "/_fake/sberbank/orders/$1"; }
bank_status_is() { [ "$(bank_order "$1" | jq -r .orderStatus)" = "$2" ]; }
called_at_least() { [ "$(fake_requests sberbank "$1")" -ge "$2" ]; }
register_jobs_done() { # ORDER: the invoice's registration job has finished
    [ "$(pay_sql "SELECT count(*) FROM payment.jobs j JOIN payment.invoices i ON j.payload->>'id' = i.invoice_id::text
                  WHERE i.order_id = '$1' AND j.kind = 'invoice_register' AND j.state = 'done'")" -ge 1 ]
}
pay_by_hand() { # MDORDER: the customer presses Pay on the bank's page; prints the HTTP status
    curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X POST "$FAKE_BANK_URL/_fake/pay" \
        -H 'Content-Type: application/json' -d "{\"provider\":\"sberbank\",\"id\":\"$1\",\"action\":\"pay\"}"
}
cancel() { # ORDER NUMBER
    order_event order.cancelled "{\"order_id\":\"$1\",\"version\":4,\"number\":$2,\"reason\":\"customer\"}"
}

# --- the registration's answer lost, then the order cancelled ----------------------
orders_before=$(fake_stat sberbank_orders)
fake_fault '{"provider":"sberbank","op":"register","kind":"lose_reply","delay_ms":12000}'
o1=$(new_id)
confirm "$o1" 40001
it_wait_until 20 "the registration sent" called_at_least register 1
ref=$(invoice_field "$o1" our_ref)
it_assert_eq registering "$(invoice_field "$o1" status)" "the invoice while the bank's answer is held"
it_assert_eq "$((orders_before + 1))" "$(fake_stat sberbank_orders)" "the bank registered it: a live link nobody was shown"
it_assert_eq 0 "$(bank_order "$ref" | jq -r .orderStatus)" "the bank's order is payable before the cancel"
cancel "$o1" 40001
it_wait_until 20 "the invoice cancelled" invoice_is "$o1" cancelled
it_wait_until 30 "the lost registration declined at the bank" bank_status_is "$ref" 6
md_order=$(bank_order "$ref" | jq -r .mdOrder)
it_assert_eq "$md_order" "$(invoice_field "$o1" bank_id)" "the invoice keeps the bank's id it was found under"
it_assert_eq 409 "$(pay_by_hand "$md_order")" "the lost link pays no more"
it_wait_until 30 "the registration's retry over" register_jobs_done "$o1"
sleep 1 # a void the retry asked for has run by now
it_assert_eq "$((orders_before + 1))" "$(fake_stat sberbank_orders)" "nothing registered again for a cancelled invoice"
it_assert_eq 1 "$(events_of "$o1" invoice.cancelled)" "invoice.cancelled once"
it_assert_eq 0 "$(events_of "$o1" invoice.created)" "no link was ever shown"
it_assert_eq 6 "$(bank_order "$ref" | jq -r .orderStatus)" "still declined"

# --- registered and shown, then cancelled: declined at the bank ---------------------
o2=$(new_id)
confirm "$o2" 40002
it_wait_until 20 "the second invoice open" invoice_is "$o2" open
ref2=$(invoice_field "$o2" our_ref)
declines=$(fake_requests sberbank decline)
cancel "$o2" 40002
it_wait_until 30 "the shown link declined at the bank" bank_status_is "$ref2" 6
it_assert_eq $((declines + 1)) "$(fake_requests sberbank decline)" "one decline.do"
it_assert_eq 409 "$(pay_by_hand "$(invoice_field "$o2" bank_id)")" "the shown link pays no more"
it_assert_eq "cancelled 1" "$(invoice_field "$o2" status) $(events_of "$o2" invoice.cancelled)" "invoice.cancelled once"

# --- cancelled before the bank took the registration: nothing there, nothing after ----
# the bank answers 429 (nothing done) to every registration from now on
fake_fault '{"provider":"sberbank","op":"register","kind":"http","http_status":429,"count":1000}'
o3=$(new_id)
orders_before=$(fake_stat sberbank_orders)
registers=$(fake_requests sberbank register)
confirm "$o3" 40003
it_wait_until 20 "the registration refused with 429" called_at_least register $((registers + 1))
cancel "$o3" 40003
it_wait_until 20 "the third invoice cancelled" invoice_is "$o3" cancelled
it_wait_until 30 "the third registration's retry over" register_jobs_done "$o3"
sleep 1
it_assert_eq "$orders_before" "$(fake_stat sberbank_orders)" "nothing registered for an order cancelled first"
it_assert_eq "" "$(invoice_field "$o3" bank_id)" "no bank id"

# --- YooKassa: the registration's answer lost, then the order cancelled -------------
# the store moves to YooKassa (every Sberbank job above is over); the
# lookup by our key is the registration replayed under its Idempotence-Key
it_stop pay1
pay_start pay2 yookassa PAYMENT_RECONCILE_AFTER=1h PAYMENT_BANK_TIMEOUT=8s
payments_before=$(fake_stat yookassa_payments)
fake_fault '{"provider":"yookassa","op":"payments.create","kind":"lose_reply","delay_ms":12000}'
o4=$(new_id)
confirm "$o4" 40004
yoo_called() { [ "$(fake_requests yookassa payments.create "$1")" -ge "$2" ]; }
it_wait_until 20 "the registration sent" yoo_called "" 1
key=$(invoice_field "$o4" our_ref)
it_assert_eq registering "$(invoice_field "$o4" status)" "the invoice while the bank's answer is held"
it_assert_eq "$((payments_before + 1))" "$(fake_stat yookassa_payments)" "the bank made the payment"
cancel "$o4" 40004
it_wait_until 20 "the YooKassa invoice cancelled" invoice_is "$o4" cancelled
found_under_key() { [ -n "$(invoice_field "$o4" bank_id)" ]; }
it_wait_until 30 "the payment found by replaying its key" found_under_key
it_assert_eq 2 "$(fake_requests yookassa payments.create "$key")" "asked twice under the one key: the first call and its replay"
pid=$(invoice_field "$o4" bank_id)
it_assert_eq "$pid" "$(fake_get "/_fake/yookassa/payments/$pid" | jq -r .id)" "the invoice keeps the payment the bank made"
it_wait_until 30 "the registration's retry over" register_jobs_done "$o4"
sleep 1 # the void its answer asked for has run by now
it_assert_eq "$((payments_before + 1))" "$(fake_stat yookassa_payments)" "one payment at the bank: the replay made none"
it_assert_eq "1 0" "$(events_of "$o4" invoice.cancelled) $(events_of "$o4" invoice.created)" "invoice.cancelled once; no link shown"
it_assert_eq 1 "$(pay_sql "SELECT count(*) FROM payment.jobs WHERE kind = 'invoice_void' AND state = 'done' AND payload->>'id' = '$(invoice_field "$o4" invoice_id)' AND dedup_key LIKE '%:2'")" \
    "the replay's answer led to a void of its own"

it_assert_eq 0 "$(pay_sql "SELECT count(*) FROM payment.dead_letters")" "dead letters"
it_assert_eq 0 "$(pay_sql "SELECT count(*) FROM payment.jobs WHERE state = 'dead'")" "dead jobs"
it_log "a cancelled order leaves no payable link at the bank, whether its registration's answer was lost or not"
