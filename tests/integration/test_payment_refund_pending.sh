#!/usr/bin/env bash
# YooKassa refunds that answer "pending" (the fake bank keeps them so): the
# refund stays pending with the bank's id kept, the refund job asks the
# bank about it (GET /v3/refunds/{id}) again and again with backoff, and
# once the bank settles it — its webhook lost, so only the asking can
# tell — a succeeded refund lands once (refund.succeeded, the ledger, the
# order's refunded sum) and a canceled one fails (refund.failed, nothing
# refunded, the money no longer counted as going back). One refund at the
# bank each time.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/kit/kit.sh"
source "$(dirname "$0")/payment/payment.sh"

pay_dbs
kit_start_busd
pay_start_fake
pay_start_orderfeed
pay_start pay1 yookassa PAYMENT_RECONCILE_AFTER=1s
new_id() { cat /proc/sys/kernel/random/uuid; }
refund_field() { # ORDER FIELD
    pay_sql "SELECT $2 FROM payment.refunds WHERE order_id = '$1' ORDER BY created_at DESC LIMIT 1"
}
bank_refund_kept() { [ -n "$(refund_field "$1" bank_refund_id)" ]; }
polls_of() { # BANK_REFUND_ID: how many times the bank was asked about it
    fake_get "/_fake/requests?provider=yookassa&op=refunds.get" |
        jq --arg id "$1" '[.requests[] | select(.path | endswith($id))] | length'
}
asked_at_least() { [ "$(polls_of "$1")" -ge "$2" ]; }
settle() { # BANK_REFUND_ID JSON
    curl -fsS -o /dev/null --max-time 5 -X POST "$FAKE_BANK_URL/_fake/yookassa/refunds/$1/settle" \
        -H 'Content-Type: application/json' -d "$2" || it_fail "settling refund $1 at the fake"
}

# paid_then_cancelled ORDER NUMBER: confirmed, paid, then cancelled with the
# next refund kept pending at the bank; prints the bank's refund id
paid_then_cancelled() {
    confirm "$1" "$2"
    it_wait_until 20 "the invoice of $1 open" invoice_is "$1" open
    pay_at_bank "$1"
    it_wait_until 20 "$1 paid" payment_status_is "$1" paid
    fake_fault '{"provider":"yookassa","op":"refunds.create","kind":"pending"}'
    order_event order.cancelled "{\"order_id\":\"$1\",\"version\":4,\"number\":$2,\"reason\":\"customer\"}"
    it_wait_until 20 "the bank's refund id of $1 kept" bank_refund_kept "$1"
    refund_field "$1" bank_refund_id
}

# --- pending, then succeeded: found by asking ---------------------------------
o1=$(new_id)
refunds_before=$(fake_stat yookassa_refunds)
r1=$(paid_then_cancelled "$o1" 30001)
it_assert_eq pending "$(refund_field "$o1" status)" "the refund while the bank says pending"
it_assert_eq pending "$(fake_get "/_fake/yookassa/refunds/$r1" | jq -r .status)" "the refund at the bank"
it_wait_until 20 "the bank asked about the pending refund twice" asked_at_least "$r1" 2
it_assert_eq 0 "$(events_of "$o1" refund.succeeded)" "no refund.succeeded while pending"
it_assert_eq 0 "$(ledger_rows "$o1" refund)" "nothing refunded in the ledger while pending"
it_assert_eq 305001 "$(order_money "$o1" refunding_minor)" "the pending refund counted as going back"
fake_notice_fault '{"provider":"yookassa","kind":"drop"}' # its webhook never comes
settle "$r1" '{"status":"succeeded"}'
it_wait_until 30 "the refund landed by asking" refund_is "$o1" succeeded
it_wait_until 10 "refund.succeeded" has_event "$o1" refund.succeeded
it_assert_eq 1 "$(ledger_rows "$o1" refund)" "one refund in the ledger"
it_assert_eq "305001 0" "$(order_money "$o1" "concat_ws(' ', refunded_minor, refunding_minor)")" \
    "the order refunded in full"
it_assert_eq "$((refunds_before + 1))" "$(fake_stat yookassa_refunds)" "one refund at the bank"
polls=$(polls_of "$r1")
sleep 3
it_assert_eq "$polls" "$(polls_of "$r1")" "no more questions once it landed"

# --- pending, then canceled by the bank: the refund fails ----------------------
o2=$(new_id)
r2=$(paid_then_cancelled "$o2" 30002)
it_wait_until 20 "the bank asked about the second refund" asked_at_least "$r2" 1
settle "$r2" '{"status":"canceled","reason":"insufficient_funds"}'
it_wait_until 30 "the canceled refund failed" refund_is "$o2" failed
it_wait_until 10 "refund.failed" has_event "$o2" refund.failed
it_assert_eq "canceled insufficient_funds" "$(refund_field "$o2" "concat_ws(' ', failure_code, failure_reason)")" \
    "why the refund failed"
it_assert_eq 0 "$(ledger_rows "$o2" refund)" "nothing refunded in the ledger"
it_assert_eq "0 0" "$(order_money "$o2" "concat_ws(' ', refunded_minor, refunding_minor)")" \
    "nothing refunded, nothing going back"
it_assert_eq 0 "$(events_of "$o2" refund.succeeded)" "no refund.succeeded"

it_assert_eq 0 "$(pay_sql "SELECT count(*) FROM payment.dead_letters")" "dead letters"
it_assert_eq 0 "$(pay_sql "SELECT count(*) FROM payment.jobs WHERE state = 'dead'")" "dead jobs"
it_log "pending YooKassa refunds are asked about until the bank settles them"
