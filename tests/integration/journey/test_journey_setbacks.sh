#!/usr/bin/env bash
# Orders that meet a setback on the way and still end right, on the whole
# stack (issue 14 item 6, the journey suite): a card declined on the bank's
# page (payment error, a task for the manager, a new link by itself) and
# the order then paid by a transfer the manager records, or through the
# new link; an order short of stock that waits for a
# supply, is reserved when it arrives and goes to the door by courier for
# cash; a delivered parcel the customer returns, taken back in by the
# warehouse. Side by side; each ends with the ledger check.
source "$(dirname "$0")/journey.sh"

journey_start 1
journey_products JS-DECLINE:10 JS-SHORT:1 JS-RETURN:10 JS-RELINK:10

# declined ORDER: the customer's card declined on the bank's page of the
# open invoice; the payment error and the manager's task follow, and the
# payment service bills the order anew by itself (PAYMENT_DECLINE_REBILLS):
# the declined link pays no more, a new one is open and the order waits
# for payment again. Sets J_DECLINED to the declined invoice.
j_declined() {
    local o=$1
    it_wait_until 30 "an open invoice for $o" invoice_is "$o" open
    J_DECLINED=$(invoice_field "$o" invoice_id)
    pay_at_bank "$o" decline
    j_declined_failed() {
        [ "$(pay_sql "SELECT status FROM payment.invoices WHERE invoice_id = '$J_DECLINED'")" = failed ]
    }
    j_error_task() {
        [ "$(order_sql "SELECT count(*) FROM orders.tasks
            WHERE order_id = '$1' AND kind = 'payment_error' AND assignee_id = '$J_MANAGER'")" = 1 ]
    }
    it_wait_until 30 "the declined invoice failed" j_declined_failed
    it_wait_until 30 "a task for the manager" j_error_task "$o"
    j_new_link() {
        invoice_is "$1" open && [ "$(invoice_field "$1" invoice_id)" != "$J_DECLINED" ]
    }
    it_wait_until 30 "a new link for the customer" j_new_link "$o"
    it_wait_until 30 "awaiting payment again" order_has_status "$o" awaiting_payment
    it_assert_eq "new confirmed awaiting_payment payment_error awaiting_payment" "$(j_history "$o")" \
        "the payment error, then the new link"
}

declined_then_paid() {
    j_submit s-decline post JS-DECLINE 1
    local o=$J_ORDER n=$J_NUMBER total out track
    j_confirm "$o"
    j_declined "$o"
    # the manager calls the customer, who pays by bank transfer
    total=$(j_total "$o")
    out=$(it_http POST "$PAY_URL/v1/orders/$o/payments" "{\"amount_minor\":$total,\"reference\":\"transfer-$n\"}" \
        "Authorization: Bearer $J_AS_ADMIN")
    [ "$(http_code "$out")" = 201 ] || it_fail "recording the transfer: $out"
    it_wait_until 30 "paid" payment_status_is "$o" paid
    # the new link, unpaid, can take the money no more
    it_wait_until 30 "the new link voided" invoice_is "$o" cancelled
    j_assemble "$o"
    j_track "$o" AC
    j_track "$o" DE
    it_wait_until 30 "delivered" order_has_status "$o" delivered
    it_wait_until 30 "the stock written off" order_has_stock "$o" committed
    track=$(ship_field "$o" tracking_number)
    journey_check_stock JS-DECLINE 9 0 1
    journey_check_money "$o" "$total"
    journey_check_labels "$o" 1
    journey_check_messages "$o" \
        "$(j_subjects "$n" принят подтверждён "ждёт оплаты" "ждёт оплаты" оплачен собран "передан в доставку" доставлен)|Оплата заказа №$n|Оплата заказа №$n|Заказ №$n в пути" \
        "Заказ №$n принят.|Заказ №$n подтверждён.|Заказ №$n доставлен. Трек: $track|Заказ №$n в пути, трек $track"
    it_log "declined at the bank, paid by transfer: delivered"
}

# The customer whose card was declined pays through the new link the
# payment service opened by itself.
declined_then_paid_by_link() {
    j_submit s-relink post JS-RELINK 1
    local o=$J_ORDER
    j_confirm "$o"
    j_declined "$o"
    j_pay "$o"
    it_wait_until 30 "paid by card after all" payment_status_is "$o" paid
    it_wait_until 30 "ready to ship" order_has_status "$o" prepare_for_delivery
    it_assert_eq "failed paid" "$(pay_sql "SELECT string_agg(status, ' ' ORDER BY created_at) FROM payment.invoices WHERE order_id = '$o'")" \
        "the declined link, then the one paid"
    journey_check_money "$o" "$(j_total "$o")"
    it_log "declined at the bank, paid through a new link"
}

short_then_supplied() {
    j_submit s-short courier JS-SHORT 3
    local o=$J_ORDER n=$J_NUMBER total supply
    it_wait_until 30 "short of stock" order_has_status "$o" awaiting_supply
    it_assert_eq "1 0" "$(inv_sql "SELECT on_hand || ' ' || reserved FROM products WHERE sku = 'JS-SHORT'")" \
        "nothing held for a short order"
    supply=$(inv_api_ok POST /v1/supplies '{"expected_date":"2030-01-15","supplier":"Завод","lines":[{"sku":"JS-SHORT","quantity":5}]}' | jq -r .id)
    inv_api_ok POST "/v1/supplies/$supply/receive" '{}' >/dev/null
    j_confirm "$o"
    it_wait_until 30 "cash on delivery: to the warehouse" order_has_status "$o" prepare_for_delivery
    j_assemble "$o"
    it_wait_until 30 "the courier's parcel ready" j_ship_state_in "$o" labelled
    j_courier "$o" picked_up
    it_wait_until 30 "handed to the courier" order_has_status "$o" handed_to_carrier
    total=$(j_total "$o")
    j_collected "$o" "$total" "cash-$n"
    j_courier "$o" delivered
    it_wait_until 30 "delivered" order_has_status "$o" delivered
    it_wait_until 30 "the stock written off" order_has_stock "$o" committed
    it_wait_until 30 "the cash on the order" j_paid_is "$o" "$total"
    journey_check_stock JS-SHORT 3 0 3
    journey_check_money "$o" "$total"
    journey_check_labels "$o" 0
    it_assert_eq "new awaiting_supply new confirmed prepare_for_delivery assembled handed_to_carrier delivered" \
        "$(j_history "$o")" "waited for the supply, then went on"
    # the shortage told with its email; back to "new" once the stock came,
    # told in words of its own (not "принят" again)
    journey_check_messages "$o" \
        "$(j_subjects "$n" принят "не всё есть на складе" "снова в работе — товар поступил" подтверждён собран "передан в доставку" доставлен)|Заказ №$n в пути" \
        "Заказ №$n принят.|Заказ №$n снова в работе — товар поступил.|Заказ №$n подтверждён.|Заказ №$n доставлен.|Заказ №$n в пути"
    it_log "short of stock, supplied, delivered for cash"
}

returned() {
    j_submit s-return post JS-RETURN 2
    local o=$J_ORDER n=$J_NUMBER total out track
    j_confirm "$o"
    j_pay "$o"
    j_assemble "$o"
    j_track "$o" AC
    j_track "$o" DE
    it_wait_until 30 "delivered" order_has_status "$o" delivered
    it_wait_until 30 "the stock written off" order_has_stock "$o" committed
    out=$(INV_TOKEN=$J_AS_WAREHOUSE inv_api POST /v1/returns "{\"return_id\":\"$(cat /proc/sys/kernel/random/uuid)\",\"order_id\":\"$o\",\"kind\":\"returned\",
        \"lines\":[{\"line_no\":1,\"quantity\":2,\"condition\":\"sellable\"}]}")
    [ "$(http_code "$out")" = 201 ] || it_fail "the warehouse receives the return: $out"
    it_wait_until 30 "the order returned" order_has_status "$o" returned
    total=$(j_total "$o")
    track=$(ship_field "$o" tracking_number)
    # written off at delivery, back on hand with the return
    journey_check_stock JS-RETURN 10 0 2
    # the money of a return goes back through a claim (refund.requested)
    journey_check_money "$o" "$total"
    journey_check_labels "$o" 1
    journey_check_messages "$o" \
        "$(j_subjects "$n" принят подтверждён "ждёт оплаты" оплачен собран "передан в доставку" доставлен)|Оплата заказа №$n|Заказ №$n в пути" \
        "Заказ №$n принят.|Заказ №$n подтверждён.|Заказ №$n доставлен. Трек: $track|Заказ №$n в пути, трек $track"
    it_log "delivered, returned whole, back in stock"
}

journey_run decline declined_then_paid relink declined_then_paid_by_link short short_then_supplied \
    return returned
it_log "a declined card, a shortage and a return, each ending right"
