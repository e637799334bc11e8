#!/usr/bin/env bash
# Every delivery method from intake to delivered, on the whole stack
# (issue 14 item 6, the journey suite): a courier order in the store's city
# paid in cash on delivery (the city courier reports by hand at shipping,
# and the cash they report there reaches the payment ledger by itself), a prepaid post parcel (paid on the bank's page, its label
# bought at the carrier, tracked to the door by the carrier's webhooks), a
# prepaid pickup-point parcel, and a self-pickup paid at the counter (sent
# on the bus by the store's ERP, ext/intake.order; the others over HTTP):
# the warehouse hands it to the customer at shipping's counter, taking the
# cash, once it is assembled and not before (a courier may not; a courier's
# parcel is refused there with the reason). The
# four run side by side; each ends with the ledger check: its stock
# written off and nothing held, the money in the payment ledger as the
# order says, one label per parcel sent by a carrier, each message once.
source "$(dirname "$0")/journey.sh"

journey_start 1
journey_products JM-COURIER:10 JM-POST:10 JM-PVZ:10 JM-SELF:10

courier_cod() {
    j_submit m-courier courier JM-COURIER 2
    local o=$J_ORDER n=$J_NUMBER total text
    j_confirm "$o"
    it_wait_until 30 "cash on delivery: straight to the warehouse" order_has_status "$o" prepare_for_delivery
    it_assert_eq pay_on_delivery "$(order_money "$o" status)" "the payment service's terms"
    it_assert_eq 0 "$(pay_sql "SELECT count(*) FROM payment.invoices WHERE order_id = '$o'")" "no invoice for cash"
    it_wait_until 30 "quoted for the city courier" ship_quote_is "$o" quoted
    it_assert_eq city_courier "$(ship_field "$o" carrier)" "the store's city courier"
    j_assemble "$o"
    it_wait_until 30 "the courier's parcel ready" j_ship_state_in "$o" labelled
    j_courier "$o" picked_up
    it_wait_until 30 "handed to the courier" order_has_status "$o" handed_to_carrier
    total=$(j_total "$o")
    # the courier's one report at shipping closes the money (payment hears
    # shipment.status_changed cash_collected); told twice, counted once
    j_courier "$o" cash_collected "$total"
    j_courier "$o" cash_collected "$total"
    it_wait_until 30 "the cash in the ledger" payment_status_is "$o" paid
    it_wait_until 30 "payment.collected" has_event "$o" payment.collected
    it_assert_eq "1 $total" "$(pay_sql "SELECT count(*) || ' ' || sum(amount_minor) FROM payment.ledger
        WHERE order_id = '$o' AND kind = 'collected'")" "the courier's cash recorded once"
    it_assert_eq "409 not_self_pickup" "$(j_counter "$o" "$total")" "a courier's parcel at the counter"
    j_courier "$o" delivered
    it_wait_until 30 "delivered" order_has_status "$o" delivered
    it_wait_until 30 "the stock written off" order_has_stock "$o" committed
    it_wait_until 30 "the cash on the order" j_paid_is "$o" "$total"
    journey_check_stock JM-COURIER 8 0 2
    journey_check_money "$o" "$total"
    journey_check_labels "$o" 0
    journey_check_messages "$o" \
        "$(j_subjects "$n" принят подтверждён собран "передан в доставку" доставлен)|Заказ №$n в пути" \
        "Заказ №$n принят.|Заказ №$n подтверждён.|Заказ №$n доставлен.|Заказ №$n в пути"
    # the city courier gives no tracking number: none is promised
    it_assert_eq "" "$(ship_field "$o" tracking_number)" "the courier's parcel has no tracking number"
    text=$(nt_mail_json | jq -r --arg a "$J_EMAIL" --arg s "Заказ №$n в пути" \
        '.messages[] | select((.rcpts | index($a)) and .headers.Subject == $s) | .text' | tr -d '\r')
    # the carrier by its name, not its code
    grep -qF "Заказ №$n передан в доставку: курьерская служба магазина." <<<"$text" &&
        ! grep -qF "Трек-номер" <<<"$text" && ! grep -qF city_courier <<<"$text" ||
        it_fail "the courier's tracking email: $text"
    it_log "courier, cash on delivery: delivered, $total collected"
}

# j_parcel_sms ORDER NUMBER: the SMS of a parcel tracked to the door
j_parcel_sms() {
    local track
    track=$(ship_field "$1" tracking_number)
    [ -n "$track" ] || it_fail "$1 has no tracking number"
    echo "Заказ №$2 принят.|Заказ №$2 подтверждён.|Заказ №$2 доставлен. Трек: $track|Заказ №$2 в пути, трек $track"
}

# prepaid ORDER: confirmed, paid at the bank, labelled, tracked to the door
prepaid_to_door() {
    local o=$1 total
    j_confirm "$o"
    j_pay "$o"
    it_wait_until 30 "paid" payment_status_is "$o" paid
    j_assemble "$o"
    j_track "$o" AC
    it_wait_until 30 "handed to the carrier" order_has_status "$o" handed_to_carrier
    j_track "$o" IT
    j_track "$o" DE
    it_wait_until 30 "delivered" order_has_status "$o" delivered
    it_wait_until 30 "the stock written off" order_has_stock "$o" committed
}

post_prepaid() {
    j_submit m-post post JM-POST 1
    local o=$J_ORDER n=$J_NUMBER
    prepaid_to_door "$o"
    it_assert_eq russian_post "$(ship_field "$o" carrier)" "a parcel by Russian Post"
    journey_check_stock JM-POST 9 0 1
    journey_check_money "$o" "$(j_total "$o")"
    journey_check_labels "$o" 1
    journey_check_messages "$o" \
        "$(j_subjects "$n" принят подтверждён "ждёт оплаты" оплачен собран "передан в доставку" доставлен)|Оплата заказа №$n|Заказ №$n в пути" \
        "$(j_parcel_sms "$o" "$n")"
    j_mail_text "$J_EMAIL" "Заказ №$n в пути" | grep -qF "Заказ №$n передан в доставку: Почта России. Трек-номер: $(ship_field "$o" tracking_number)" ||
        it_fail "the post tracking email: $(j_mail_text "$J_EMAIL" "Заказ №$n в пути")"
    it_log "post, prepaid: delivered"
}

pickup_point() {
    j_submit m-pvz pickup_point JM-PVZ 3
    local o=$J_ORDER n=$J_NUMBER
    prepaid_to_door "$o"
    it_assert_eq "cdek_pickup PVZ-PKC-7" "$(ship_sql "SELECT service || ' ' || (address->>'pickup_point_id') FROM shipments WHERE order_id = '$o'")" \
        "CDEK to the pickup point"
    journey_check_stock JM-PVZ 7 0 3
    journey_check_money "$o" "$(j_total "$o")"
    journey_check_labels "$o" 1
    journey_check_messages "$o" \
        "$(j_subjects "$n" принят подтверждён "ждёт оплаты" оплачен собран "передан в доставку" доставлен)|Оплата заказа №$n|Заказ №$n в пути" \
        "$(j_parcel_sms "$o" "$n")"
    j_mail_text "$J_EMAIL" "Заказ №$n в пути" | grep -qF "Заказ №$n передан в доставку: СДЭК. Трек-номер: $(ship_field "$o" tracking_number)" ||
        it_fail "the CDEK tracking email: $(j_mail_text "$J_EMAIL" "Заказ №$n в пути")"
    it_log "pickup point, prepaid: delivered"
}

j_ship_warehouse_is() { [ "$(ship_field "$1" warehouse_status)" = "$2" ]; }

self_pickup() {
    J_VIA=bus j_submit m-self self_pickup JM-SELF 1
    local o=$J_ORDER n=$J_NUMBER total
    j_confirm "$o"
    it_wait_until 30 "paid at the counter: straight to the warehouse" order_has_status "$o" prepare_for_delivery
    it_assert_eq "not_needed 0" "$(ship_sql "SELECT quote_state || ' ' || carrier_cost_minor FROM shipments WHERE order_id = '$o'")" \
        "self-pickup quoted at once, free"
    total=$(j_total "$o")
    it_assert_eq "409 not_ready_for_pickup" "$(j_counter "$o" "$total")" "handed over before it is assembled"
    j_assemble "$o"
    it_wait_until 30 "ready for pickup at the counter" j_ship_warehouse_is "$o" assembled
    it_assert_eq assembled "$(curl -s --max-time 10 -H "Authorization: Bearer $J_AS_WAREHOUSE" \
        "$J_SHIP_URL/v1/warehouse/orders?method=self_pickup" |
        jq -r --arg o "$o" '.items[] | select(.order_id == $o) | .warehouse_status')" "on the counter's list"
    it_assert_eq "403 forbidden" "$(j_counter "$o" "$total" "$J_AS_COURIER")" "a courier at the counter"
    # the warehouse hands it over at the counter and takes the cash: the
    # order goes from assembled to delivered (no carrier, nothing "in
    # transit"), the cash reaches the ledger
    it_assert_eq "200 ok" "$(j_counter "$o" "$total")" "handed to the customer at the counter"
    it_assert_eq "409 not_ready_for_pickup" "$(j_counter "$o" "$total")" "handed over twice"
    it_wait_until 30 "delivered" order_has_status "$o" delivered
    it_assert_eq "new confirmed prepare_for_delivery assembled delivered" "$(j_history "$o")" \
        "the order's way through the counter"
    it_wait_until 30 "the stock written off" order_has_stock "$o" committed
    it_wait_until 30 "the money on the order" j_paid_is "$o" "$total"
    journey_check_stock JM-SELF 9 0 1
    journey_check_money "$o" "$total"
    journey_check_labels "$o" 0
    journey_check_messages "$o" \
        "$(j_subjects "$n" принят подтверждён собран доставлен)" \
        "Заказ №$n принят.|Заказ №$n подтверждён.|Заказ №$n доставлен."
    it_log "self-pickup, paid at the counter: delivered"
}

journey_run courier courier_cod post post_prepaid pickup_point pickup_point self self_pickup
it_log "every delivery method delivered, its ledgers right"
