#!/usr/bin/env bash
# The payment service with YooKassa (the fake bank) and the order stream
# (factfeed standing in for the order service): a confirmed prepaid order
# becomes a payment created with its Idempotence-Key and its 54-FZ receipt
# (as the bank keeps it); paid on the bank's page, the webhook is believed
# only after the payment is fetched back from the bank, and records the
# payment once however often it comes, a hundred times at once included; a
# spoofed webhook (YooKassa never sent it: the bank's object contradicts
# it) is refused 400 and changes nothing; a registration answered 500
# after the bank acted, then 202 and 429, still makes one payment at the
# bank and an open invoice; a cancelled paid order is refunded once, with
# the invoice's lines, whether the refund's answer or its webhook lands it.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/kit/kit.sh"
source "$(dirname "$0")/payment/payment.sh"

pay_dbs
kit_start_busd
pay_start_fake
pay_start_orderfeed
pay_start pay1 yookassa PAYMENT_RECONCILE_AFTER=1h
new_id() { cat /proc/sys/kernel/random/uuid; }
webhook() { # BODY: one delivery of a webhook, printing the status
    curl -s -o /dev/null -w '%{http_code}\n' --max-time 10 -X POST \
        -H 'Content-Type: application/json' --data-binary "$1" "$PAY_URL/v1/webhooks/yookassa"
}
notice_body() { # EVENT OBJECT_ID: the webhook the fake sent about the object
    fake_get "/_fake/notices?provider=yookassa" | jq -c --arg e "$1" --arg id "$2" \
        '[.notices[] | (.body | fromjson) | select(.event == $e and .object.id == $id)][0]'
}

# --- confirmed: a payment at the bank with its key and its receipt ----------
o1=$(new_id)
confirm "$o1" 20001
it_wait_until 20 "the invoice registered at the bank" invoice_is "$o1" open
it_wait_until 10 "invoice.created" has_event "$o1" invoice.created
ref=$(invoice_field "$o1" our_ref)
pid=$(invoice_field "$o1" bank_id)
it_assert_eq 1 "$(fake_requests yookassa payments.create "$ref")" "payments created under our reference as the key"
payment=$(fake_get "/_fake/yookassa/payments/$pid")
it_assert_eq "pending 3050.01 $ref" "$(jq -r '"\(.status) \(.amount.value) \(.metadata.reference)"' <<<"$payment")" \
    "the payment at the bank"
it_log "the bank holds the receipt: $(jq -c '[.request.receipt.items[] | [.description, .quantity, .amount.value, .vat_code, .payment_subject, .payment_mode]]' <<<"$payment")"
it_assert_eq 3 "$(jq '.request.receipt.items | length' <<<"$payment")" \
    "receipt lines at the bank (2,700.01 split in two, and delivery)"
it_assert_eq "ivan@example.ru 79991234567" \
    "$(jq -r '"\(.request.receipt.customer.email) \(.request.receipt.customer.phone)"' <<<"$payment")" \
    "the receipt's customer"
it_assert_eq 305001 "$(jq '[.request.receipt.items[] | (.amount.value | sub("\\.";"") | tonumber) * (.quantity | tonumber)] | add' <<<"$payment")" \
    "the receipt sums to the payment"
url=$(invoice_field "$o1" payment_url)
it_assert_eq "$(jq -r .confirmation.confirmation_url <<<"$payment")" "$url" "the link is the bank's confirmation_url"

# --- paid: the webhook, again and a hundred times at once: one payment -------
fake_notice_fault '{"provider":"yookassa","kind":"duplicate"}'
pay_at_bank "$o1"
it_wait_until 20 "the webhook recorded the payment" payment_status_is "$o1" paid
it_wait_until 10 "payment.succeeded" has_event "$o1" payment.succeeded
it_assert_eq paid "$(invoice_field "$o1" status)" "the invoice"
body=$(notice_body payment.succeeded "$pid")
[ -n "$body" ] && [ "$body" != null ] || it_fail "no payment.succeeded webhook for $pid at the fake"
it_assert_eq 200 "$(webhook "$body")" "the webhook delivered again"
fire_at_once 100 "$IT_RUN/hundred" webhook "$body"
it_assert_eq 100 "$(grep -c '^200$' "$IT_RUN/hundred")" "a hundred deliveries answered 200"
it_assert_eq 1 "$(ledger_rows "$o1" payment)" "ledger rows after a hundred deliveries"
it_assert_eq 1 "$(events_of "$o1" payment.succeeded)" "payment.succeeded after a hundred deliveries"
it_assert_eq 1 "$(pay_sql "SELECT count(*) FROM payment.callbacks WHERE provider = 'yookassa' AND event_id LIKE '%$pid'")" \
    "the webhook kept once by its event id"
it_assert_eq "paid 305001 0" "$(order_money "$o1" "concat_ws(' ', status, received_minor - refunded_minor, total_minor - received_minor)")" \
    "the order's money"

# --- spoofed: YooKassa never sent it; the bank's own object contradicts it ---
o2=$(new_id)
confirm "$o2" 20002
it_wait_until 20 "the second invoice" invoice_is "$o2" open
pid2=$(invoice_field "$o2" bank_id)
refused_before=$(curl -fsS "$PAY_URL/metrics" | awk '/^payment_callbacks_refused_total/ {print $2}')
spoof() { # JSON: one spoofed webhook at the fake; waits for its answer
    curl -fsS -o /dev/null --max-time 5 -X POST "$FAKE_BANK_URL/_fake/yookassa/spoof" \
        -H 'Content-Type: application/json' -d "$1" || it_fail "spoofing $1"
}
spoof_answered() { # STATUS COUNT: COUNT spoofed webhooks answered STATUS
    [ "$(fake_get "/_fake/notices?provider=spoof" |
        jq --argjson s "$1" '[.notices[] | select(.last_status == $s)] | length')" -ge "$2" ]
}
spoof "{\"payment_id\":\"$pid2\",\"event\":\"payment.succeeded\",\"status\":\"succeeded\"}"
# the same, sent by hand: the answer itself
forged=$(jq -c '.object.status = "succeeded" | .object.paid = true' <<<"$(jq -n --arg id "$pid2" \
    '{type:"notification",event:"payment.succeeded",object:{id:$id,status:"succeeded",paid:true,amount:{value:"3050.01",currency:"RUB"}}}')")
it_assert_eq 400 "$(webhook "$forged")" "a payment.succeeded the bank contradicts"
forged_amount=$(jq -c '.object.amount.value = "1.00"' <<<"$body")
it_assert_eq 400 "$(webhook "$forged_amount")" "a paid payment's webhook with another amount"
forged_refund=$(jq -nc --arg p "$pid" \
    '{type:"notification",event:"refund.succeeded",object:{id:"00000000-0000-4000-8000-000000000001",payment_id:$p,status:"succeeded",amount:{value:"3050.01",currency:"RUB"}}}')
it_assert_eq 400 "$(webhook "$forged_refund")" "a refund the bank never made"
it_assert_eq 400 "$(webhook '{"type":"notification"}')" "a webhook without an event"
it_wait_until 10 "the spoof answered" spoof_answered 400 1
sleep 0.5
it_assert_eq "open unpaid 0" "$(pay_sql "SELECT i.status || ' ' || o.status || ' ' || (SELECT count(*) FROM payment.ledger l WHERE l.order_id = o.order_id)
    FROM payment.invoices i JOIN payment.orders o USING (order_id) WHERE o.order_id = '$o2'")" \
    "nothing changed by the spoofs"
it_assert_eq 0 "$(events_of "$o2" payment.succeeded)" "no payment.succeeded for a spoof"
it_assert_eq 1 "$(ledger_rows "$o1" payment)" "the paid order untouched by its forged amount"
refused_after=$(curl -fsS "$PAY_URL/metrics" | awk '/^payment_callbacks_refused_total/ {print $2}')
[ "${refused_after%.*}" -ge "$((${refused_before%.*} + 4))" ] ||
    it_fail "refused webhooks were not counted ($refused_before -> $refused_after)"

# --- registration answered 500 after the bank acted: the key replays it ------
payments_before=$(fake_stat yookassa_payments)
fake_fault '{"provider":"yookassa","op":"payments.create","kind":"http","http_status":500,"apply":true}'
o3=$(new_id)
confirm "$o3" 20003
it_wait_until 30 "the third invoice open after a 500" invoice_is "$o3" open
ref3=$(invoice_field "$o3" our_ref)
it_assert_eq "$((payments_before + 1))" "$(fake_stat yookassa_payments)" "one payment at the bank after a 500"
it_assert_eq 2 "$(fake_requests yookassa payments.create "$ref3")" "the create sent again under its key"
it_assert_eq "$ref3" "$(fake_get "/_fake/yookassa/payments/$(invoice_field "$o3" bank_id)" | jq -r .metadata.reference)" \
    "the invoice holds the payment the bank made"

# --- then 202 (not processed yet) and 429 (too many): nothing done, retried --
fake_fault '{"provider":"yookassa","op":"payments.create","kind":"processing","delay_ms":200}'
fake_fault '{"provider":"yookassa","op":"payments.create","kind":"http","http_status":429}'
o4=$(new_id)
confirm "$o4" 20004
it_wait_until 30 "the fourth invoice open after a 202 and a 429" invoice_is "$o4" open
ref4=$(invoice_field "$o4" our_ref)
it_assert_eq "202 429 200" "$(fake_get "/_fake/requests?provider=yookassa&op=payments.create" |
    jq -r --arg k "$ref4" '[.requests[] | select(.idempotence_key == $k) | .status] | join(" ")')" \
    "what the bank answered the fourth invoice's create"
it_assert_eq "$((payments_before + 2))" "$(fake_stat yookassa_payments)" "one payment each at the bank"
it_assert_eq "0 0" "$(pay_sql "SELECT count(*) FILTER (WHERE status = 'failed') || ' ' || count(*) FILTER (WHERE status NOT IN ('open'))
    FROM payment.invoices WHERE order_id IN ('$o3', '$o4')")" "both invoices open, none failed"

# --- cancelled after payment: refunded once -----------------------------------
# the refund's reply is lost (held past PAYMENT_BANK_TIMEOUT): the webhook or
# the job's repeat under the same key lands it, never a second refund
refunds_before=$(fake_stat yookassa_refunds)
fake_fault '{"provider":"yookassa","op":"refunds.create","kind":"lose_reply"}'
order_event order.cancelled "{\"order_id\":\"$o1\",\"version\":4,\"number\":20001,\"reason\":\"customer\"}"
it_wait_until 30 "the refund landed" refund_is "$o1" succeeded
it_wait_until 10 "refund.succeeded" has_event "$o1" refund.succeeded
it_assert_eq "$((refunds_before + 1))" "$(fake_stat yookassa_refunds)" "one refund at the bank"
rid=$(pay_sql "SELECT bank_refund_id FROM payment.refunds WHERE order_id = '$o1'")
refund=$(fake_get "/_fake/yookassa/refunds/$rid")
it_assert_eq "succeeded 3050.01 $pid" "$(jq -r '"\(.status) \(.amount.value) \(.payment_id)"' <<<"$refund")" \
    "the refund at the bank"
it_assert_eq "$(jq -c '[.request.receipt.items[] | .description]' <<<"$payment")" \
    "$(jq -c '[.request.receipt.items[] | .description]' <<<"$refund")" "the refund's receipt repeats the invoice's lines"
it_assert_eq "1 0 305001" "$(order_money "$o1" "concat_ws(' ', cancelled::int, received_minor - refunded_minor, refunded_minor)")" \
    "a cancelled order paid and refunded in full"
it_assert_eq 1 "$(ledger_rows "$o1" refund)" "one refund in the ledger"
it_wait_until 10 "the refund's webhook answered" bash -c "curl -fsS '$FAKE_BANK_URL/_fake/notices?provider=yookassa' |
    jq -e --arg id '$rid' '[.notices[] | select((.body | fromjson).object.id == \$id and .last_status == 200)] | length >= 1'"
rbody=$(notice_body refund.succeeded "$rid")
fire_at_once 20 "$IT_RUN/refund-again" webhook "$rbody"
it_assert_eq 20 "$(grep -c '^200$' "$IT_RUN/refund-again")" "the refund's webhook again, twenty at once"
order_event order.cancelled "{\"order_id\":\"$o1\",\"version\":5,\"number\":20001,\"reason\":\"again\"}"
sleep 1
it_assert_eq 1 "$(pay_sql "SELECT count(*) FROM payment.refunds WHERE order_id = '$o1'")" \
    "a second cancellation refunds nothing more"
it_assert_eq 1 "$(ledger_rows "$o1" refund)" "still one refund in the ledger"
it_assert_eq 1 "$(events_of "$o1" refund.succeeded)" "one refund.succeeded"
it_assert_eq "$((refunds_before + 1))" "$(fake_stat yookassa_refunds)" "still one refund at the bank"

# --- a cancelled unpaid order: its invoice cancelled, the payment untouched --
order_event order.cancelled "{\"order_id\":\"$o2\",\"version\":4,\"number\":20002,\"reason\":\"customer\"}"
it_wait_until 20 "the unpaid invoice cancelled" invoice_is "$o2" cancelled
it_wait_until 10 "invoice.cancelled" has_event "$o2" invoice.cancelled

it_assert_eq 0 "$(pay_sql "SELECT count(*) FROM payment.dead_letters")" "dead letters"
it_assert_eq 0 "$(pay_sql "SELECT count(*) FROM payment.jobs WHERE state = 'dead'")" "dead jobs"
it_log "payment with YooKassa: receipts, webhooks believed only from the bank, faults and refunds hold"
