#!/usr/bin/env bash
# Orders changed after the money or the parcel, on the whole stack (issue
# 14 item 6, the journey suite): a prepaid order paid and then edited by
# its manager before assembly — one up (the rest invoiced, the customer
# pays it), one down (the difference refunded by itself) — and delivered;
# a delivered order exchanged (a claim approved: a free replacement order
# reserved, labelled through a batch of its own and delivered, the claimed
# item received back, the claim completed, the customer told at approval
# and completion); a delivered order refunded through a claim (the bank
# refunds once, the claim completes by itself). Side by side; each ends
# with the ledger check (a replacement's parcel counted as its own).
source "$(dirname "$0")/journey.sh"

journey_start 1
journey_products JE-UP:10 JE-DOWN:10 JX-SWAP:10 JR-BACK:10

# j_paid_then_edited TAG SKU QTY NEW_QTY: a post order of QTY paid, edited
# to NEW_QTY before assembly; J_ORDER, J_NUMBER and J_PAID (what was paid
# before the edit) set
j_paid_then_edited() {
    j_submit "$1" post "$2" "$3"
    j_confirm "$J_ORDER"
    j_pay "$J_ORDER"
    it_wait_until 30 "paid: ready to ship" order_has_status "$J_ORDER" prepare_for_delivery
    J_PAID=$(j_total "$J_ORDER")
    j_edit "$J_ORDER" "{\"lines\":[{\"sku\":\"$2\",\"quantity\":$4}],\"reason\":\"the customer called\"}"
    it_wait_until 30 "the edited lines held" order_has_stock "$J_ORDER" reserved
    it_wait_value 30 "the payment service heard the edit" -ge "$J_VERSION" order_money "$J_ORDER" version
}

# j_told_edit NUMBER QTY TOTAL: the edit's email names the new quantity and
# the total billed, and no payment link (the invoice's own email has it)
j_told_edit() {
    local text
    text=$(j_mail_text "$J_EMAIL" "Заказ №$1 изменён")
    grep -qF "изменены: состав заказа;" <<<"$text" && grep -qF "× $2" <<<"$text" &&
        grep -qF "Итого: $(j_money_ru "$3")" <<<"$text" && ! grep -qF "/pay" <<<"$text" ||
        it_fail "the edit's email: $text"
}

edited_up() {
    j_paid_then_edited e-up JE-UP 1 2
    local o=$J_ORDER n=$J_NUMBER paid=$J_PAID total track
    total=$(j_total "$o")
    [ "$total" -gt "$paid" ] || it_fail "one more: the total $total is not above $paid"
    it_wait_value 30 "an invoice for the rest" = "open $((total - paid))" invoice_field "$o" "status || ' ' || amount_minor"
    it_assert_eq 1 "$(order_sql "SELECT count(*) FROM orders.tasks WHERE order_id = '$o' AND kind = 'partial_payment'")" \
        "the manager told to hold the parcel until the rest is paid"
    j_pay "$o"
    it_wait_until 30 "paid in full again" payment_status_is "$o" paid
    it_wait_value 30 "the order heard the rest" = "$total" order_sql "SELECT payment->>'paid_minor' FROM orders.orders WHERE id = '$o'"
    j_deliver_paid "$o"
    it_assert_eq "paid:$paid paid:$((total - paid))" "$(pay_sql "SELECT string_agg(status || ':' || amount_minor, ' '
        ORDER BY created_at) FROM payment.invoices WHERE order_id = '$o'")" "the first invoice and the one for the rest, both paid"
    track=$(ship_field "$o" tracking_number)
    it_assert_eq "paid 0" "$(order_sql "SELECT (payment->>'payment_status') || ' ' || (payment->>'due_minor')
        FROM orders.orders WHERE id = '$o'")" "the order's card: paid, nothing due"
    journey_check_stock JE-UP 8 0 2
    journey_check_money "$o" "$total"
    journey_check_labels "$o" 1
    journey_check_messages "$o" \
        "$(j_subjects "$n" принят подтверждён "ждёт оплаты" оплачен собран "передан в доставку" доставлен)|Оплата заказа №$n|Оплата заказа №$n|Заказ №$n в пути|Заказ №$n изменён" \
        "Заказ №$n принят.|Заказ №$n подтверждён.|Заказ №$n изменён. Итого: $(j_money_ru "$total")|Заказ №$n доставлен. Трек: $track|Заказ №$n в пути, трек $track"
    j_told_edit "$n" 2 "$total"
    it_log "paid, one more added: the rest invoiced and paid, delivered"
}

edited_down() {
    j_paid_then_edited e-down JE-DOWN 3 1
    local o=$J_ORDER n=$J_NUMBER paid=$J_PAID total track ref
    total=$(j_total "$o")
    [ "$total" -lt "$paid" ] || it_fail "two less: the total $total is not below $paid"
    it_wait_until 30 "the difference refunded" refund_is "$o" succeeded
    it_wait_value 30 "the order heard the refund" = succeeded order_sql "SELECT payment->>'refund_state' FROM orders.orders WHERE id = '$o'"
    ref=$(invoice_field "$o" our_ref paid)
    it_assert_eq "$((paid - total)) 1" "$(fake_get "/_fake/sberbank/orders/$ref" | jq -r '"\(.refundedAmount) \(.refunds | length)"')" \
        "one refund of the difference at the bank"
    it_assert_eq 1 "$(pay_sql "SELECT count(*) FROM payment.invoices WHERE order_id = '$o'")" "nothing more billed"
    j_deliver_paid "$o"
    track=$(ship_field "$o" tracking_number)
    it_assert_eq "paid 0" "$(order_sql "SELECT (payment->>'payment_status') || ' ' || (payment->>'due_minor')
        FROM orders.orders WHERE id = '$o'")" "the order's card: paid, nothing due"
    journey_check_stock JE-DOWN 9 0 1
    journey_check_money "$o" "$total"
    journey_check_labels "$o" 1
    journey_check_messages "$o" \
        "$(j_subjects "$n" принят подтверждён "ждёт оплаты" оплачен собран "передан в доставку" доставлен)|Оплата заказа №$n|Заказ №$n в пути|Заказ №$n изменён" \
        "Заказ №$n принят.|Заказ №$n подтверждён.|Заказ №$n изменён. Итого: $(j_money_ru "$total")|Заказ №$n доставлен. Трек: $track|Заказ №$n в пути, трек $track"
    j_told_edit "$n" 1 "$total"
    it_log "paid, two taken off: the difference refunded, delivered"
}

exchanged() {
    j_submit x-swap post JX-SWAP 2
    local o=$J_ORDER n=$J_NUMBER total claim r rn out track rt b1 b2
    j_confirm "$o"
    j_batch "$o"
    b1=$J_BATCH
    j_pay "$o"
    j_assemble "$o"
    j_batch_process "$b1" "$o"
    j_carry "$o"
    total=$(j_total "$o")
    j_claim "$o" exchange 1 1 wrong_item
    claim=$J_CLAIM
    out=$(j_decide "$claim" approved "Привезём другой")
    r=$(jq -r .replacement_order_id <<<"$out")
    [ "${#r}" = 36 ] || it_fail "no replacement order: $out"
    rn=$(order_sql "SELECT number FROM orders.orders WHERE id = '$r'")
    it_assert_eq "claims 0 JX-SWAP 1" "$(order_sql "SELECT o.source || ' ' || o.total_minor || ' ' || l.sku || ' ' || l.quantity
        FROM orders.orders o JOIN orders.order_lines l ON l.order_id = o.id WHERE o.id = '$r'")" "a free replacement of one"
    it_log "x-swap: replacement $rn ($r)"
    j_confirm "$r"
    j_batch "$r"
    b2=$J_BATCH
    j_assemble "$r"
    j_batch_process "$b2" "$r"
    j_carry "$r"
    [ "$(ship_field "$r" tracking_number)" != "$(ship_field "$o" tracking_number)" ] || it_fail "the replacement shares the parcel"
    [ "$b2" != "$b1" ] || it_fail "the replacement in the first parcel's batch $b1"
    it_assert_eq "$b1 $b2" "$(ship_field "$o" batch_number) $(ship_field "$r" batch_number)" \
        "each parcel shipped in its own batch"
    # the wrong item comes back; the warehouse takes it in
    j_received "$o" returned 1 1 sellable
    out=$(order_call POST "/v1/claims/$claim/complete" '{"comment":"обменяли"}' "Authorization: Bearer $J_AS_WAREHOUSE")
    [ "$(http_code "$out")" = 200 ] || it_fail "completing the exchange: $out"
    it_assert_eq completed "$(j_claim_status "$claim")" "the exchange completed"
    it_assert_eq delivered "$(order_status "$o")" "half the order kept: still delivered"
    track=$(ship_field "$o" tracking_number)
    rt=$(ship_field "$r" tracking_number)
    # 2 delivered, 1 more for the replacement, 1 back on the shelf
    journey_check_stock JX-SWAP 8 0 3
    journey_check_money "$o" "$total"
    journey_check_money "$r" 0
    journey_check_labels "$o" 1
    journey_check_labels "$r" 1
    journey_check_messages "$o" \
        "$(j_subjects "$n" принят подтверждён "ждёт оплаты" оплачен собран "передан в доставку" доставлен "заявка одобрена" "заявка выполнена")|Оплата заказа №$n|Заказ №$n в пути" \
        "Заказ №$n принят.|Заказ №$n подтверждён.|Заказ №$n доставлен. Трек: $track|Заказ №$n в пути, трек $track|Заявка по заказу №$n одобрена.|Заявка по заказу №$n выполнена."
    journey_check_messages "$r" \
        "$(j_subjects "$rn" принят подтверждён собран "передан в доставку" доставлен)|Заказ №$rn в пути" \
        "Заказ №$rn принят.|Заказ №$rn подтверждён.|Заказ №$rn доставлен. Трек: $rt|Заказ №$rn в пути, трек $rt"
    it_log "delivered, exchanged: the replacement shipped on its own, the item back, the claim completed"
}

refunded() {
    j_submit r-back post JR-BACK 2
    local o=$J_ORDER n=$J_NUMBER total claim part ref out track
    j_confirm "$o"
    j_deliver "$o"
    total=$(j_total "$o")
    j_claim "$o" refund 1 1 defect
    claim=$J_CLAIM
    part=$(order_sql "SELECT amount_minor FROM orders.claims WHERE id = '$claim'")
    out=$(j_decide "$claim" approved)
    [ "${#out}" -gt 0 ] && [ "$(jq -r .status <<<"$out")" = approved ] || it_fail "the refund not approved: $out"
    it_wait_until 30 "refunded" refund_is "$o" succeeded
    it_wait_until 30 "the claim completed by itself" j_claim_is "$claim" completed
    ref=$(invoice_field "$o" our_ref paid)
    it_assert_eq "$part 1" "$(fake_get "/_fake/sberbank/orders/$ref" | jq -r '"\(.refundedAmount) \(.refunds | length)"')" \
        "one refund of the claimed item at the bank"
    it_assert_eq "$part $claim" "$(pay_sql "SELECT amount_minor || ' ' || claim_id FROM payment.refunds WHERE order_id = '$o'")" \
        "refunded under the claim"
    it_assert_eq 1 "$(order_sql "SELECT count(*) FROM orders.outbox WHERE type = 'claim.completed' AND correlation_id = '$o'")" \
        "one claim.completed"
    # once the claim's money is back the customer owes nothing: the order's
    # card says paid, nothing due (what a refund on request gives back is
    # waived, not owed again)
    it_wait_value 30 "the order heard the claim's refund" = succeeded order_sql "SELECT payment->>'refund_state' FROM orders.orders WHERE id = '$o'"
    it_assert_eq "paid 0" "$(order_sql "SELECT (payment->>'payment_status') || ' ' || (payment->>'due_minor')
        FROM orders.orders WHERE id = '$o'")" "nothing due once the claimed item is refunded"
    track=$(ship_field "$o" tracking_number)
    journey_check_stock JR-BACK 8 0 2
    journey_check_money "$o" "$((total - part))"
    journey_check_labels "$o" 1
    journey_check_messages "$o" \
        "$(j_subjects "$n" принят подтверждён "ждёт оплаты" оплачен собран "передан в доставку" доставлен "заявка одобрена" "заявка выполнена")|Оплата заказа №$n|Заказ №$n в пути" \
        "Заказ №$n принят.|Заказ №$n подтверждён.|Заказ №$n доставлен. Трек: $track|Заказ №$n в пути, трек $track|Заявка по заказу №$n одобрена.|Заявка по заказу №$n выполнена."
    it_log "delivered, one refunded through a claim: once at the bank, the claim completed"
}

journey_run up edited_up down edited_down exchange exchanged refund refunded
it_log "edited after payment, exchanged, refunded by claim: the ledgers right"
