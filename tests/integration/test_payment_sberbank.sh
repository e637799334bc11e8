#!/usr/bin/env bash
# The payment service with Sberbank acquiring (the fake bank) and the order
# stream (factfeed standing in for the order service): a confirmed prepaid
# order gets an invoice registered with its 54-FZ receipt lines and a
# payment link (invoice.created); paid on the bank's page, the checksummed
# callback records the payment once (payment.succeeded, status paid) even
# when the bank sends it twice or a hundred times at once; a callback with
# a bad checksum changes nothing and the reconciliation finds the payment
# anyway; a part paid leaves it partially paid and bills the rest; a
# declined payment fails the invoice (payment.failed) and bills the rest
# anew; a cancelled paid
# order is refunded once (refund.succeeded, the ledger, the fake's refund
# with the same lines); an on-delivery order gets no invoice and cash
# collected closes it; money recorded beyond the total goes back by itself.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/kit/kit.sh"
source "$(dirname "$0")/payment/payment.sh"

pay_dbs
kit_start_busd
pay_start_fake
pay_start_orderfeed
pay_start pay1 sberbank PAYMENT_RECONCILE_AFTER=1s
admin=$(it_token admin)
courier=$(it_token courier)
api() { # METHOD PATH [BODY] [TOKEN]
    it_http "$1" "$PAY_URL$2" "${3:-}" "Authorization: Bearer ${4:-$admin}"
}
new_id() { cat /proc/sys/kernel/random/uuid; }

# --- confirmed, invoiced with its receipt, paid once ---------------------------
o1=$(new_id)
confirm "$o1" 10001
it_wait_until 20 "the invoice registered at the bank" invoice_is "$o1" open
it_wait_until 10 "invoice.created" has_event "$o1" invoice.created
it_assert_eq 305001 "$(invoice_field "$o1" amount_minor)" "the invoice is for the whole order"
ref=$(invoice_field "$o1" our_ref)
bundle=$(curl -fsS "$FAKE_BANK_URL/_fake/sberbank/orders/$ref")
items=$(jq -c '[.orderBundle.cartItems.items[] | [.quantity.value, .itemPrice]]' <<<"$bundle" 2>/dev/null ||
    jq -c '.' <<<"$bundle")
it_log "the bank holds the receipt: $items"
lines=$(jq '[.. | objects | select(has("itemPrice"))] | length' <<<"$bundle")
it_assert_eq 3 "$lines" "receipt lines at the bank (2,700.01 split in two, and delivery)"
it_assert_eq unpaid "$(order_money "$o1" status)" "before paying"

fake_notice_fault '{"provider":"sberbank","kind":"duplicate"}'
pay_at_bank "$o1"
it_wait_until 20 "the callback recorded the payment" payment_status_is "$o1" paid
it_wait_until 10 "payment.succeeded" has_event "$o1" payment.succeeded
it_assert_eq paid "$(invoice_field "$o1" status)" "the invoice"
sleep 1 # the duplicate callback has been delivered by now
it_assert_eq 1 "$(ledger_rows "$o1" payment)" "ledger rows after a duplicated callback"
it_assert_eq 1 "$(events_of "$o1" payment.succeeded)" "payment.succeeded after a duplicated callback"
money=$(api GET "/v1/orders/$o1/payment")
it_assert_eq 200 "$(http_code "$money")" "GET the order's money"
it_assert_eq "paid 305001 0" "$(http_body "$money" | jq -r '"\(.payment_status) \(.paid_minor) \(.due_minor)"')" \
    "the order's money"

# the same callback a hundred times at once: applied once
callback=$(curl -fsS "$FAKE_BANK_URL/_fake/notices" |
    jq -r --arg ref "$ref" '[.notices[] | select(.url != null and (.url | contains($ref)))][0].url')
[ -n "$callback" ] && [ "$callback" != null ] || it_fail "no callback URL for $ref at the fake"
pids=()
for i in $(seq 1 100); do
    curl -s -o /dev/null -w '%{http_code}\n' --max-time 10 "$callback" >"$IT_RUN/hundred.$i" &
    pids+=($!)
done
wait "${pids[@]}"
cat "$IT_RUN"/hundred.[0-9]* >"$IT_RUN/hundred.codes"
it_assert_eq 100 "$(grep -c '^200$' "$IT_RUN/hundred.codes")" "a hundred deliveries answered 200"
it_assert_eq 1 "$(ledger_rows "$o1" payment)" "ledger rows after a hundred deliveries"
it_assert_eq 1 "$(events_of "$o1" payment.succeeded)" "payment.succeeded after a hundred deliveries"

# a forged callback: its checksum does not hold; nothing changes
forged="${callback%%&checksum=*}&checksum=$(printf '%064d' 0)"
it_assert_eq 400 "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$forged")" "a forged checksum"
unsigned=$(sed -E 's/[&?]checksum=[^&]*//' <<<"$callback")
it_assert_eq 400 "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$unsigned")" "no checksum"

# --- a callback that fails its checksum; the reconciliation finds the money ----
o2=$(new_id)
confirm "$o2" 10002
it_wait_until 20 "the second invoice" invoice_is "$o2" open
fake_notice_fault '{"provider":"sberbank","kind":"bad_checksum","count":4}'
pay_at_bank "$o2"
it_wait_until 30 "the reconciliation records the payment" payment_status_is "$o2" paid
it_assert_eq 1 "$(ledger_rows "$o2" payment)" "one payment found by asking"
refused=$(curl -fsS "http://127.0.0.1:$PAY_HTTP/metrics" | awk '/^payment_callbacks_refused_total/ {print $2}')
[ "${refused%.*}" -ge 1 ] || it_fail "refused callbacks were not counted ($refused)"

# --- a part paid: partially paid, the rest billed; declined ---------------------
o3=$(new_id)
confirm "$o3" 10003
it_wait_until 20 "the third invoice" invoice_is "$o3" open
pay_at_bank "$o3" pay 100000
it_wait_until 20 "a part recorded" payment_status_is "$o3" partially_paid
it_assert_eq 205001 "$(order_money "$o3" "total_minor - received_minor")" "what is still due"
it_wait_until 20 "the rest invoiced" invoice_is "$o3" open
it_assert_eq 205001 "$(invoice_field "$o3" amount_minor open)" "the second invoice is for the rest"
rest=$(invoice_field "$o3" invoice_id open)
pay_at_bank "$o3" decline
rest_failed() { [ "$(pay_sql "SELECT status FROM payment.invoices WHERE invoice_id = '$rest'")" = failed ]; }
it_wait_until 20 "the declined invoice failed" rest_failed
it_wait_until 10 "payment.failed" has_event "$o3" payment.failed
it_assert_eq partially_paid "$(order_money "$o3" status)" "a declined rest leaves the part paid"
# a declined orderId pays no more: the rest is billed anew (test_payment_decline)
it_wait_until 20 "the rest billed anew" invoice_is "$o3" open
it_assert_eq 205001 "$(invoice_field "$o3" amount_minor open)" "the new link is for the rest"

# --- cancelled after payment: refunded once, with the invoice's lines ----------
order_event order.cancelled "{\"order_id\":\"$o1\",\"version\":4,\"number\":10001,\"reason\":\"customer\"}"
it_wait_until 30 "the refund landed" refund_is "$o1" succeeded
it_wait_until 10 "refund.succeeded" has_event "$o1" refund.succeeded
it_assert_eq "1 0 305001" "$(order_money "$o1" "concat_ws(' ', cancelled::int, received_minor - refunded_minor, refunded_minor)")" \
    "a cancelled order paid and refunded in full"
it_assert_eq 1 "$(ledger_rows "$o1" refund)" "one refund in the ledger"
refunded=$(curl -fsS "$FAKE_BANK_URL/_fake/sberbank/orders/$ref" | jq -r '.. | objects | select(has("refundedAmount")) | .refundedAmount' | head -1)
it_log "the bank's refunded amount: ${refunded:-unknown}"
order_event order.cancelled "{\"order_id\":\"$o1\",\"version\":5,\"number\":10001,\"reason\":\"again\"}"
sleep 1
it_assert_eq 1 "$(pay_sql "SELECT count(*) FROM payment.refunds WHERE order_id = '$o1'")" \
    "a second cancellation refunds nothing more"

# --- cash on delivery: no invoice; the courier's cash closes it ----------------
o4=$(new_id)
confirm "$o4" 10004 PAYMENT_TERMS_ON_DELIVERY
it_wait_until 20 "the on-delivery order known" payment_status_is "$o4" pay_on_delivery
it_assert_eq 0 "$(pay_sql "SELECT count(*) FROM payment.invoices WHERE order_id = '$o4'")" "no invoice for cash on delivery"
out=$(api POST "/v1/orders/$o4/collected" '{"amount_minor":305001,"reference":"courier-slip-1"}' "$courier")
it_assert_eq 201 "$(http_code "$out")" "cash collected: $out"
it_assert_eq "paid 0" "$(http_body "$out" | jq -r '"\(.payment_status) \(.due_minor)"')" "after the cash"
out=$(api POST "/v1/orders/$o4/collected" '{"amount_minor":305001,"reference":"courier-slip-1"}' "$courier")
it_assert_eq 1 "$(ledger_rows "$o4" collected)" "the same slip twice is one collection"
it_wait_until 10 "payment.collected" has_event "$o4" payment.collected
out=$(api POST "/v1/orders/$o4/collected" '{"amount_minor":-5,"reference":"x"}' "$courier")
it_assert_eq 400 "$(http_code "$out")" "a negative amount"
out=$(api POST "/v1/orders/$o4/payments" '{"amount_minor":5,"reference":"x"}' "$courier")
it_assert_eq 403 "$(http_code "$out")" "a courier cannot record a payment by hand"

# --- money beyond the total goes back through the bank --------------------------
out=$(api POST "/v1/orders/$o2/payments" '{"amount_minor":5000,"reference":"bank-transfer-77"}')
it_assert_eq 201 "$(http_code "$out")" "a payment recorded by hand: $out"
it_wait_until 30 "the excess refunded" refund_is "$o2" succeeded
it_assert_eq "5000 excess" "$(pay_sql "SELECT amount_minor || ' ' || reason FROM payment.refunds WHERE order_id = '$o2'")" \
    "the excess refund"

# --- a refund asked by a manager, bounded by what was paid ----------------------
manager=$(it_token manager)
rid=$(new_id)
out=$(api POST "/v1/orders/$o3/refunds" "{\"amount_minor\":100001,\"request_id\":\"$rid\"}" "$manager")
it_assert_eq 202 "$(http_code "$out")" "a refund request: $out"
it_wait_until 10 "refund.failed for too much" has_event "$o3" refund.failed
out=$(api POST "/v1/orders/$o3/refunds" "{\"amount_minor\":40000,\"request_id\":\"$rid\"}" "$manager")
it_wait_until 30 "a partial refund landed" refund_is "$o3" succeeded
out=$(api POST "/v1/orders/$o3/refunds" "{\"amount_minor\":40000,\"request_id\":\"$rid\"}" "$manager")
sleep 1
it_assert_eq 1 "$(pay_sql "SELECT count(*) FROM payment.refunds WHERE order_id = '$o3'")" "one request id, one refund"
it_assert_eq 60000 "$(order_money "$o3" "received_minor - refunded_minor")" "paid after the partial refund"

# nothing parked, nothing dead
it_assert_eq 0 "$(pay_sql "SELECT count(*) FROM payment.dead_letters")" "dead letters"
it_assert_eq 0 "$(pay_sql "SELECT count(*) FROM payment.jobs WHERE state = 'dead'")" "dead jobs"
it_log "payment with Sberbank: invoices, callbacks, reconciliation, parts, refunds and cash hold"
