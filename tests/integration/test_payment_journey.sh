#!/usr/bin/env bash
# The prepaid journey with the real order, inventory and payment services
# on one busd, each replaying the others (REPLAY_PEERS), and the fake bank
# as the acquirer (issue 11, "Tests"): an order from outside the store's
# region is submitted over HTTP, its stock reserved, confirmed by its
# manager (awaiting_payment); the payment service bills it — an invoice
# registered at the bank with the order's receipt lines, invoice.created
# putting the link on the order; paid on the bank's page, the callback
# makes payment.succeeded and the order moves by itself to
# payment_received and prepare_for_delivery (order.ready_to_ship). A
# second order cancelled after payment is refunded once, at the bank and
# in the ledger, and the order hears it (refund.succeeded: its history, its
# refunds, its paid amount and payment status); a third whose refund the
# bank refuses ends with refund.failed heard and a task for its manager.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/kit/kit.sh"
source "$(dirname "$0")/kit/inventory.sh"
source "$(dirname "$0")/order/order.sh"
FAKE_PORT=28133 # inventory replica 1 has payment.sh's usual port
source "$(dirname "$0")/payment/payment.sh"

pay_order_stack

history_has() { # ORDER REASON [COUNT]
    [ "$(order_sql "SELECT count(*) FROM orders.order_history WHERE order_id = '$1' AND reason = '$2'")" -ge "${3:-1}" ]
}
submit_far() { # KEY -> id of a prepaid post order (outside the store's region), confirmed
    local out id
    out=$(order_submit "$1" '{"customer":{"name":"Far Customer","email":"far@example.ru","phone":"+79991234567"},
      "delivery":{"method":"post","address":{"region":"Kamchatka","city":"Petropavlovsk","line1":"Lenina 1","postal_code":"683000"}},
      "items":[{"sku":"LAMP","quantity":2}]}')
    [ "$(http_code "$out")" = 201 ] || it_fail "submitting $1: $out"
    id=$(http_body "$out" | jq -r .order_id)
    it_wait_until 20 "stock reserved for $1" order_has_stock "$id" reserved
    out=$(order_move "$id" confirmed "$as_boris")
    [ "$(http_body "$out" | jq -r .status)" = awaiting_payment ] || it_fail "confirming $1: $out"
    echo "$id"
}

# --- confirmed -> an invoice with the receipt lines -> the link on the order -------
o1=$(submit_far J-1)
total=$(order_sql "SELECT total_minor FROM orders.orders WHERE id = '$o1'")
it_wait_until 30 "the payment service registered the invoice" invoice_is "$o1" open
it_assert_eq "$total" "$(invoice_field "$o1" amount_minor)" "the invoice is for the order's total"
it_assert_eq prepay "$(order_money "$o1" terms)" "the payment service heard prepaid terms"
ref=$(invoice_field "$o1" our_ref)
bundle=$(fake_get "/_fake/sberbank/orders/$ref")
it_log "the bank holds the receipt: $(jq -c '[.. | objects | select(has("itemPrice")) | [.name, .quantity.value, .itemPrice]]' <<<"$bundle")"
lines_at_bank=$(jq '[.. | objects | select(has("itemPrice")) | .itemPrice * .quantity.value] | add' <<<"$bundle")
it_assert_eq "$total" "$lines_at_bank" "the receipt lines at the bank sum to the order's total"
jq -e '[.. | objects | select(has("itemPrice")) | .name] | any(test("Desk lamp"))' <<<"$bundle" >/dev/null ||
    it_fail "the receipt at the bank has no line for the lamp: $bundle"
it_wait_until 20 "the order heard invoice.created" history_has "$o1" invoice.created
it_assert_eq "$(invoice_field "$o1" payment_url) open" \
    "$(order_sql "SELECT (payment->>'payment_url') || ' ' || (payment->>'invoice_state') FROM orders.orders WHERE id = '$o1'")" \
    "the bank's link on the order"
it_assert_eq awaiting_payment "$(order_status "$o1")" "waiting for the money"

# --- paid at the bank -> payment_received -> prepare_for_delivery ------------------
pay_at_bank "$o1"
it_wait_until 20 "the payment recorded" payment_status_is "$o1" paid
it_wait_until 20 "paid in full: prepare for delivery" order_has_status "$o1" prepare_for_delivery
it_assert_eq "payment_received prepare_for_delivery" \
    "$(order_sql "SELECT string_agg(to_status, ' ' ORDER BY id) FROM orders.order_history WHERE order_id = '$o1' AND kind = 'status' AND actor_id = 'system' AND to_status NOT IN ('new', 'awaiting_payment')")" \
    "conveyor's own moves on the money"
grep -q "order.ready_to_ship" <<<"$(order_events "$o1")" || it_fail "no order.ready_to_ship after the payment"
it_assert_eq "$total 0" "$(order_sql "SELECT (payment->>'paid_minor') || ' ' || (payment->>'due_minor') FROM orders.orders WHERE id = '$o1'")" \
    "the order's paid and due"
it_assert_eq 1 "$(ledger_rows "$o1" payment)" "one payment in the ledger"

# --- a second order, paid, then cancelled: refunded once ---------------------------
o2=$(submit_far J-2)
it_wait_until 30 "the second invoice" invoice_is "$o2" open
ref2=$(invoice_field "$o2" our_ref)
pay_at_bank "$o2"
it_wait_until 20 "the second order ready to ship" order_has_status "$o2" prepare_for_delivery
total2=$(order_sql "SELECT total_minor FROM orders.orders WHERE id = '$o2'")
out=$(order_move "$o2" cancelled "$as_boris" "customer changed their mind")
it_assert_eq 200 "$(http_code "$out")" "cancelling the paid order: $out"
it_wait_until 30 "the refund landed" refund_is "$o2" succeeded
it_wait_until 10 "refund.succeeded" has_event "$o2" refund.succeeded
it_assert_eq "$total2 1" "$(fake_get "/_fake/sberbank/orders/$ref2" | jq -r '"\(.refundedAmount) \(.refunds | length)"')" \
    "one refund of the whole at the bank"
it_assert_eq "1 $total2 0" "$(order_money "$o2" "concat_ws(' ', cancelled::int, refunded_minor, received_minor - refunded_minor)")" \
    "the payment service's view of the cancelled order"
it_assert_eq 1 "$(ledger_rows "$o2" refund)" "one refund in the ledger"
it_wait_until 20 "the cancelled order's stock released" order_has_stock "$o2" released
sleep 1 # anything more the cancellation could have caused has happened by now
it_assert_eq 1 "$(pay_sql "SELECT count(*) FROM payment.refunds WHERE order_id = '$o2'")" "refunded once"
it_assert_eq "$total2 1" "$(fake_get "/_fake/sberbank/orders/$ref2" | jq -r '"\(.refundedAmount) \(.refunds | length)"')" \
    "still one refund at the bank"
it_assert_eq 0 "$(pay_sql "SELECT count(*) FROM payment.refunds WHERE order_id = '$o1'")" "the first order is not refunded"
# the order hears it: the refund in its history and its refunds, the money down
it_wait_until 20 "the order heard refund.succeeded" history_has "$o2" refund.succeeded
refund2=$(pay_sql "SELECT refund_id FROM payment.refunds WHERE order_id = '$o2'")
it_assert_eq "$refund2 $total2 cancelled" \
    "$(order_sql "SELECT concat_ws(' ', detail->>'refund_id', detail->>'amount_minor', detail->>'reason') FROM orders.order_history WHERE order_id = '$o2' AND reason = 'refund.succeeded'")" \
    "the order's history tells the refund: its id, amount and reason"
it_assert_eq "cancelled 0 unpaid succeeded" \
    "$(order_sql "SELECT concat_ws(' ', status, payment->>'paid_minor', payment->>'payment_status', payment->>'refund_state') FROM orders.orders WHERE id = '$o2'")" \
    "the order's paid amount went down by the refund, its payment status follows"
card=$(order_admin GET "/v1/orders/$o2")
it_assert_eq "$refund2 succeeded $total2" "$(http_body "$card" | jq -r '.refunds[] | "\(.refund_id) \(.status) \(.amount_minor)"')" \
    "the order card's refunds"
it_assert_eq 1 "$(order_sql "SELECT count(*) FROM orders.order_history WHERE order_id = '$o2' AND reason = 'refund.succeeded'")" \
    "the refund told once in the order's history"

# --- a third order, paid, cancelled, the bank refuses the refund: a task -----------
o3=$(submit_far J-3)
it_wait_until 30 "the third invoice" invoice_is "$o3" open
pay_at_bank "$o3"
it_wait_until 20 "the third order ready to ship" order_has_status "$o3" prepare_for_delivery
total3=$(order_sql "SELECT total_minor FROM orders.orders WHERE id = '$o3'")
fake_fault '{"provider":"sberbank","op":"refund","kind":"error_code","error_code":"5","error_message":"Refunds are switched off for this shop"}'
out=$(order_move "$o3" cancelled "$as_boris" "out of stock after all")
it_assert_eq 200 "$(http_code "$out")" "cancelling the third paid order: $out"
it_wait_until 30 "the refund failed" refund_is "$o3" failed
it_wait_until 20 "the order heard refund.failed" history_has "$o3" refund.failed
has_refund_task() { # ORDER: its manager has one refund_failed task
    [ "$(order_sql "SELECT count(*) FROM orders.tasks WHERE order_id = '$1' AND kind = 'refund_failed' AND assignee_id = '$boris'")" = 1 ]
}
it_wait_until 20 "a task for the manager" has_refund_task "$o3"
title=$(order_sql "SELECT title FROM orders.tasks WHERE order_id = '$o3' AND kind = 'refund_failed'")
grep -q "$((total3 / 100)).$(printf '%02d' $((total3 % 100))) (cancelled) failed: 5, Refunds are switched off for this shop" <<<"$title" ||
    it_fail "the task does not say what failed and why: $title"
it_assert_eq "0 $total3 failed" \
    "$(fake_get "/_fake/sberbank/orders/$(invoice_field "$o3" our_ref)" | jq -r '"\(.refundedAmount) \(.depositedAmount)"') $(order_sql "SELECT payment->>'refund_state' FROM orders.orders WHERE id = '$o3'")" \
    "nothing went back at the bank; the order says the refund failed"
it_assert_eq "$total3" "$(order_sql "SELECT payment->>'paid_minor' FROM orders.orders WHERE id = '$o3'")" \
    "a failed refund leaves the paid amount"

it_assert_eq 0 "$(pay_sql "SELECT count(*) FROM payment.dead_letters")" "the payment service's dead letters"
it_assert_eq "" "$(order_sql "SELECT string_agg(stream || ':' || err, ' ') FROM orders.dead_letters")" "the order service's dead letters"
it_log "the prepaid journey: confirmed, invoiced with its receipt, paid at the bank, ready to ship; a cancellation refunded once and heard by the order; a refused refund given to the manager"
