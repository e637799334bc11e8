#!/usr/bin/env bash
# A paid order cancelled while its parcel is with the carrier (issue 14):
# order.cancelled with refund_on_return voids nothing paid and refunds
# nothing — the payment service holds the money (awaiting_return, nothing
# due, nothing excess, no refund at the bank) — until the order asks for
# it with refund.requested when the warehouse receives the parcel: then
# one refund, at the bank and in the ledger, paid back to 0. The same
# request heard again (a replay, a second publication) opens nothing and
# refuses nothing. An order cancelled without refund_on_return (before
# hand-over) is refunded at once, as before.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/kit/kit.sh"
source "$(dirname "$0")/payment/payment.sh"

pay_dbs
kit_start_busd
pay_start_fake
pay_start_orderfeed
pay_start pay1 sberbank
admin=$(it_token admin)
new_id() { cat /proc/sys/kernel/random/uuid; }
api() { # METHOD PATH: as an admin
    it_http "$1" "$PAY_URL$2" "" "Authorization: Bearer $admin"
}
bank_refunds() { # ORDER: refunds the fake bank made on the order's paid invoice
    fake_get "/_fake/sberbank/orders/$(invoice_field "$1" our_ref paid)" | jq -r '.refunds | length'
}
applied_through() { # the order stream's seq the payment service applied
    pay_sql "SELECT coalesce((SELECT last_seq FROM payment.inbox_offsets WHERE stream = 'order'), 0)"
}
published() { # the order stream's last seq (the stand-in's)
    pay_sql "SELECT coalesce(max(seq), 0) FROM orderfeed.outbox WHERE stream = 'order'"
}
caught_up() { [ "$(applied_through)" -ge "$(published)" ]; }

# paid ORDER NUMBER: confirmed (3,050.01), paid at the bank
paid() {
    confirm "$1" "$2"
    it_wait_until 20 "the invoice of $1 open" invoice_is "$1" open
    pay_at_bank "$1"
    it_wait_until 20 "$1 paid" payment_status_is "$1" paid
}

# --- cancelled with the parcel out: the money held ---------------------------------
o1=$(new_id)
paid "$o1" 40001
order_event order.cancelled "{\"order_id\":\"$o1\",\"version\":9,\"number\":40001,
  \"reason\":\"the customer changed their mind\",\"from_status\":\"handed_to_carrier\",\"refund_on_return\":true}"
it_wait_until 20 "the cancellation applied" caught_up
it_assert_eq "t t 305001 0 0" \
    "$(pay_sql "SELECT concat_ws(' ', cancelled, awaiting_return, received_minor - refunded_minor, refunding_minor, waived_minor) FROM payment.orders WHERE order_id = '$o1'")" \
    "cancelled, the money held: still paid, nothing going back"
it_assert_eq "0 0 0 0" "$(pay_sql "SELECT count(*) FROM payment.refunds WHERE order_id = '$o1'") $(events_of "$o1" refund.succeeded) $(events_of "$o1" refund.failed) $(bank_refunds "$o1")" \
    "no refund opened, told or made at the bank while the parcel is out"
money=$(api GET "/v1/orders/$o1/payment")
it_assert_eq "200 true true 0 305001" "$(http_code "$money") $(http_body "$money" | jq -r '"\(.cancelled) \(.awaiting_return) \(.due_minor) \(.paid_minor)"')" \
    "the order's money says it is held for the return, nothing due"

# --- the parcel received: the order asks, one refund -------------------------------
r1=$(new_id)
request="{\"order_id\":\"$o1\",\"request_id\":\"$r1\",\"amount_minor\":305001,
  \"reason\":\"Возврат посылки отменённого заказа 40001\"}"
order_event refund.requested "$request"
it_wait_until 30 "the held money refunded" refund_is "$o1" succeeded
it_wait_until 10 "refund.succeeded" has_event "$o1" refund.succeeded
it_assert_eq "0 0 1 1" \
    "$(pay_sql "SELECT concat_ws(' ', received_minor - refunded_minor, refunding_minor) FROM payment.orders WHERE order_id = '$o1'") $(ledger_rows "$o1" refund) $(bank_refunds "$o1")" \
    "refunded in full: nothing paid, nothing in flight, one ledger row, one refund at the bank"

# --- the same request again: nothing opened, nothing refused --------------------------
order_event refund.requested "$request"
it_wait_until 20 "the repeated request applied" caught_up
it_assert_eq "1 1 0 1" \
    "$(pay_sql "SELECT count(*) FROM payment.refunds WHERE order_id = '$o1'") $(events_of "$o1" refund.succeeded) $(events_of "$o1" refund.failed) $(bank_refunds "$o1")" \
    "the same request twice is one refund, and no refusal"
it_assert_eq 0 "$(pay_sql "SELECT refunding_minor FROM payment.orders WHERE order_id = '$o1'")" "nothing counted twice"

# --- cancelled before hand-over: refunded at once --------------------------------------
o2=$(new_id)
paid "$o2" 40002
order_event order.cancelled "{\"order_id\":\"$o2\",\"version\":5,\"number\":40002,
  \"reason\":\"the customer changed their mind\",\"from_status\":\"prepare_for_delivery\"}"
it_wait_until 30 "refunded at the cancellation" refund_is "$o2" succeeded
it_assert_eq "f 0 1" "$(pay_sql "SELECT concat_ws(' ', awaiting_return, received_minor - refunded_minor) FROM payment.orders WHERE order_id = '$o2'") $(bank_refunds "$o2")" \
    "nothing held: refunded in full at once"
it_assert_eq 0 "$(pay_sql "SELECT count(*) FROM payment.dead_letters")" "nothing parked"

it_log "a cancelled parcel's money held until asked, refunded once however often asked; a cancellation before hand-over refunded at once"
