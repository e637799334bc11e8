#!/usr/bin/env bash
# A prepaid post order cancelled at each stage, on the whole stack (issue
# 14 item 6, the journey suite): before payment (the invoice voided at the
# bank, nothing paid), after payment (refunded once), after the label (the
# label voided at the carrier, refunded), and after hand-over (the carrier
# cannot take the parcel back: a task for the manager; the parcel comes
# back, the warehouse receives it; until then its stock stays held, not
# for sale, and its money too: no refund while the parcel is out, the
# card says the refund is pending the return, and the warehouse's receipt
# asks for the refund, once however often it is received). Side by side;
# each ends with the
# ledger check: the stock back, nothing written off, the money refunded,
# one label per parcel (voided when cancelled in time), each message once.
source "$(dirname "$0")/journey.sh"

# bank_order_status REF: the fake Sberbank's orderStatus of our order REF
bank_order_status() { fake_get "/_fake/sberbank/orders/$1" | jq -r .orderStatus; }

journey_start 1
journey_products JC-UNPAID:10 JC-PAID:10 JC-LABEL:10 JC-OUT:10
# the store's matrix (data) lets an admin cancel a packed or shipped order
order_sql "INSERT INTO orders.transitions VALUES ('assembled', 'cancelled', 'admin'),
    ('handed_to_carrier', 'cancelled', 'admin') ON CONFLICT DO NOTHING"

# j_cancel ORDER TOKEN: cancelled by a person, with a reason
j_cancel() {
    j_move "$1" cancelled "$2" "the customer changed their mind"
    it_wait_until 30 "$1 cancelled" order_has_status "$1" cancelled
}

# j_refunded ORDER: refunded once, in full, and the order heard it
j_refunded() {
    it_wait_until 30 "$1 refunded" refund_is "$1" succeeded
    it_wait_value 30 "the order heard the refund" = succeeded order_sql "SELECT payment->>'refund_state' FROM orders.orders WHERE id = '$1'"
    local ref
    ref=$(invoice_field "$1" our_ref paid)
    it_assert_eq "$(j_total "$1") 1" "$(fake_get "/_fake/sberbank/orders/$ref" | jq -r '"\(.refundedAmount) \(.refunds | length)"')" \
        "$1: one refund of the whole at the bank"
}

before_payment() {
    j_submit c-unpaid post JC-UNPAID 1
    local o=$J_ORDER n=$J_NUMBER ref code
    j_confirm "$o"
    it_wait_until 30 "an open invoice" invoice_is "$o" open
    ref=$(invoice_field "$o" our_ref open)
    j_cancel "$o" "$J_AS_MANAGER"
    it_wait_until 30 "the invoice cancelled" invoice_is "$o" cancelled
    it_wait_until 30 "the stock released" order_has_stock "$o" released
    it_wait_value 30 "the link declined at the bank" = 6 bank_order_status "$ref"
    code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$(invoice_field "$o" payment_url)" -d action=pay)
    [ "$code" != 200 ] || it_fail "the cancelled order's link still takes money"
    it_assert_eq cancelled "$(ship_field "$o" state)" "no parcel for a cancelled order"
    journey_check_stock JC-UNPAID 10 0 0
    journey_check_money "$o" 0
    journey_check_labels "$o" 0
    journey_check_messages "$o" \
        "$(j_subjects "$n" принят подтверждён "ждёт оплаты" отменён)|Оплата заказа №$n" \
        "Заказ №$n принят.|Заказ №$n подтверждён.|Заказ №$n отменён."
    it_log "cancelled before payment: the link voided, nothing paid"
}

after_payment() {
    j_submit c-paid post JC-PAID 2
    local o=$J_ORDER n=$J_NUMBER
    j_confirm "$o"
    j_pay "$o"
    it_wait_until 30 "ready to ship" order_has_status "$o" prepare_for_delivery
    j_cancel "$o" "$J_AS_MANAGER"
    j_refunded "$o"
    it_wait_until 30 "the stock released" order_has_stock "$o" released
    it_assert_eq cancelled "$(ship_field "$o" state)" "no parcel for a cancelled order"
    journey_check_stock JC-PAID 10 0 0
    journey_check_money "$o" 0
    journey_check_labels "$o" 0
    journey_check_messages "$o" \
        "$(j_subjects "$n" принят подтверждён "ждёт оплаты" оплачен отменён)|Оплата заказа №$n" \
        "Заказ №$n принят.|Заказ №$n подтверждён.|Заказ №$n отменён."
    it_log "cancelled after payment: refunded once"
}

after_label() {
    j_submit c-label post JC-LABEL 1
    local o=$J_ORDER n=$J_NUMBER
    j_confirm "$o"
    j_pay "$o"
    j_assemble "$o"
    it_wait_until 30 "labelled" ship_state_is "$o" labelled
    j_cancel "$o" "$J_AS_ADMIN"
    it_wait_until 30 "the label voided" ship_state_is "$o" cancelled
    j_refunded "$o"
    it_wait_until 30 "the stock released" order_has_stock "$o" released
    journey_check_stock JC-LABEL 10 0 0
    journey_check_money "$o" 0
    journey_check_labels "$o" 1 1
    journey_check_messages "$o" \
        "$(j_subjects "$n" принят подтверждён "ждёт оплаты" оплачен собран отменён)|Оплата заказа №$n" \
        "Заказ №$n принят.|Заказ №$n подтверждён.|Заказ №$n отменён."
    # the voided label's number is told nowhere
    ! nt_sql "SELECT body FROM notification.deliveries WHERE order_id = '$o'" | grep -qF "$(ship_field "$o" tracking_number)" ||
        it_fail "a cancelled order names its voided tracking number"
    it_log "cancelled after the label: voided at the carrier, refunded"
}

# j_inventory_heard ORDER TYPE: inventory has applied the order's event of TYPE
j_inventory_heard() {
    local seq
    seq=$(order_sql "SELECT seq FROM orders.outbox WHERE correlation_id = '$1' AND type = '$2'")
    [ -n "$seq" ] && [ "$(inv_sql "SELECT coalesce((SELECT last_seq FROM inbox_offsets WHERE stream = 'order'), 0)")" -ge "$seq" ]
}

after_handover() {
    j_submit c-out post JC-OUT 1
    local o=$J_ORDER n=$J_NUMBER track out ret body
    j_confirm "$o"
    j_pay "$o"
    j_assemble "$o"
    j_track "$o" AC
    it_wait_until 30 "handed to the carrier" order_has_status "$o" handed_to_carrier
    j_cancel "$o" "$J_AS_ADMIN"
    it_wait_value 30 "the carrier cannot take it back" = 1 ship_sql "SELECT count(*) FROM outbox WHERE correlation_id = '$o' AND type = 'shipment.cancel_refused'"
    it_wait_value 30 "a task for the manager" -ge 1 order_sql "SELECT count(*) FROM orders.tasks WHERE order_id = '$o' AND kind = 'late_fact'"
    it_wait_until 30 "inventory heard the cancellation" j_inventory_heard "$o" order.cancelled
    it_assert_eq "10 1" "$(inv_sql "SELECT on_hand || ' ' || reserved FROM products WHERE sku = 'JC-OUT'")" \
        "the parcel with the carrier is not for sale: its stock stays held"
    # the money waits for the parcel: the payment service applied the
    # cancellation (in the transaction that would have opened the refund)
    # and holds what was paid; nothing went to the bank
    it_wait_value 30 "the payment service holds the money" = t pay_sql "SELECT awaiting_return FROM payment.orders WHERE order_id = '$o'"
    it_assert_eq "0 0 $(j_total "$o")" "$(pay_sql "SELECT count(*) FROM payment.refunds WHERE order_id = '$o'") $(fake_get "/_fake/sberbank/orders/$(invoice_field "$o" our_ref paid)" | jq -r '.refunds | length') $(pay_sql "SELECT received_minor - refunded_minor - refunding_minor FROM payment.orders WHERE order_id = '$o'")" \
        "no refund while the parcel is with the carrier: none opened, none at the bank, all of it held"
    out=$(order_call GET "/v1/orders/$o" "" "Authorization: Bearer $J_AS_MANAGER")
    it_assert_eq "200 pending_return $(j_total "$o")" "$(http_code "$out") $(http_body "$out" | jq -r '"\(.payment.refund_state) \(.payment.refund_held_minor)"')" \
        "the order card: refund pending return"
    # the parcel comes back; the warehouse takes it in
    out=$(curl -s --max-time 10 -X POST "$J_SHIP_URL/v1/shipments/$o/returned" -w '\n%{http_code}' \
        -H "Authorization: Bearer $J_AS_WAREHOUSE" -H 'Content-Type: application/json' --data '{"reason":"cancelled on the way"}')
    [ "$(tail -1 <<<"$out")" = 200 ] || it_fail "the parcel back: $out"
    it_wait_value 30 "shipment.returned heard" = returned order_sql "SELECT shipment->>'shipment_state' FROM orders.orders WHERE id = '$o'"
    it_assert_eq "0 pending_return" "$(pay_sql "SELECT count(*) FROM payment.refunds WHERE order_id = '$o'") $(order_sql "SELECT payment->>'refund_state' FROM orders.orders WHERE id = '$o'")" \
        "the carrier's word is not the warehouse's receipt: still no refund"
    ret=$(cat /proc/sys/kernel/random/uuid)
    body="{\"return_id\":\"$ret\",\"order_id\":\"$o\",\"kind\":\"refused\",
        \"lines\":[{\"line_no\":1,\"quantity\":1,\"condition\":\"sellable\"}]}"
    out=$(INV_TOKEN=$J_AS_WAREHOUSE inv_api POST /v1/returns "$body")
    [ "$(http_code "$out")" = 201 ] || it_fail "the warehouse receives the parcel: $out"
    j_refunded "$o"
    # the same receipt again at the warehouse: nothing more anywhere
    out=$(INV_TOKEN=$J_AS_WAREHOUSE inv_api POST /v1/returns "$body")
    [ "$(http_code "$out")" = 200 ] || it_fail "the same receipt again: $out"
    it_assert_eq "1 1 1" "$(order_sql "SELECT count(*) FROM orders.outbox WHERE correlation_id = '$o' AND type = 'refund.requested'") $(pay_sql "SELECT count(*) FROM payment.refunds WHERE order_id = '$o'") $(fake_get "/_fake/sberbank/orders/$(invoice_field "$o" our_ref paid)" | jq -r '.refunds | length')" \
        "one refund asked, opened and made at the bank"
    track=$(ship_field "$o" tracking_number)
    journey_check_stock JC-OUT 10 0 0
    journey_check_money "$o" 0
    journey_check_labels "$o" 1
    journey_check_messages "$o" \
        "$(j_subjects "$n" принят подтверждён "ждёт оплаты" оплачен собран "передан в доставку" отменён)|Оплата заказа №$n|Заказ №$n в пути" \
        "Заказ №$n принят.|Заказ №$n подтверждён.|Заказ №$n отменён. Трек: $track|Заказ №$n в пути, трек $track"
    it_log "cancelled after hand-over: refused at the carrier, a task, the money held while the parcel was out, refunded once when the warehouse received it, the parcel back in stock"
}

journey_run unpaid before_payment paid after_payment label after_label handover after_handover
it_log "cancelled at every stage, the ledgers right"
