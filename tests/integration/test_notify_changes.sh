#!/usr/bin/env bash
# What the customer reads of an edited order, of a shortage overcome, of a
# parcel and of a cancellation (issue 12, issue 14 items 1 and 6), read
# back from the fake SMTP server's .eml files and the fake SMS gateway;
# factfeed stands in for the order and the shipping streams, so each fact
# comes exactly when the test says.
#   - order.changed: an edit of the lines is told once inventory priced it,
#     with the new items and the total billed; a discount told at once; an
#     older edit heard late tells nothing; each edit told once.
#   - an order short of stock back to "new" when the supply comes is told
#     so in words of its own, not "принят" a second time.
#   - carriers by their names ("СДЭК", "курьерская служба магазина"), in
#     Russian and English, never their codes.
#   - a cancelled order names no tracking number whose label was voided
#     (cancelled before hand-over); a parcel cancelled on its way still
#     names its number.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/kit/kit.sh"
source "$(dirname "$0")/payment/payment.sh"
source "$(dirname "$0")/notify/notify.sh"

SHIPFEED_HTTP=28148
SHIPFEED_REPLAY=25648
nt_dbs
pay_dbs
SHIPFEED_ENV=$(it_service_db shipfeed)
kit_start_busd
pay_start_orderfeed
it_start shipfeed bash -c "$SHIPFEED_ENV
    exec env FEED_STREAM=shipping BUS_PUB_ENDPOINT=$KIT_BUS_IN BUS_SUB_ENDPOINT=$KIT_BUS_OUT \
    HTTP_ADDR=127.0.0.1:$SHIPFEED_HTTP REPLAY_ADDR=tcp://127.0.0.1:$SHIPFEED_REPLAY \
    REDIS_URL=$TEST_REDIS_URL BUS_CERT=$(it_key service shipping) \"$IT_BIN/factfeed\""
it_wait_until 30 "the shipping stream's stand-in ready" kit_http_ok $SHIPFEED_HTTP /readyz
nt_start_fakes
nt_start notify1 REPLAY_PEERS=order=tcp://127.0.0.1:$ORDERFEED_REPLAY,shipping=tcp://127.0.0.1:$SHIPFEED_REPLAY

publish() { # PORT TYPE PAYLOAD
    local out
    out=$(it_http POST "http://127.0.0.1:$1/v1/publish" "{\"events\":[{\"type\":\"$2\",\"payload\":$3}]}")
    [ "$(http_code "$out")" = 201 ] || it_fail "publishing $2: $out"
}
order_fact() { publish $ORDERFEED_HTTP "$@"; }
ship_fact() { publish $SHIPFEED_HTTP "$@"; }
placed() { # ORDER NUMBER EMAIL PHONE
    order_fact order.placed "{\"order_id\":\"$1\",\"version\":1,\"number\":$2,
      \"customer\":{\"customer_id\":\"${1%????}0000\",\"name\":\"Ольга Белова\",\"email\":\"$3\",\"phone\":\"$4\"},
      \"delivery\":{\"method\":\"DELIVERY_METHOD_COURIER\",\"address\":{\"city\":\"Москва\",\"line1\":\"Тверская 1\"}},
      \"lines\":[{\"line_no\":1,\"sku\":\"LAMP\",\"name\":\"Настольная лампа\",\"quantity\":2}],\"currency\":\"RUB\"}"
}
status() { # ORDER VERSION NUMBER FROM TO
    order_fact order.status_changed "{\"order_id\":\"$1\",\"version\":$2,\"number\":$3,\"from_status\":\"$4\",\"to_status\":\"$5\",
      \"delivery_method\":\"DELIVERY_METHOD_COURIER\"}"
}
# reserved ORDER VERSION NUMBER QTY DISCOUNT_MINOR [SHADES]: LAMP at 2 500,00,
# SHADE at 1 000,00, delivery 300,00
reserved() {
    local shades=${6:-0} lines=$(($4 * 250000 + ${6:-0} * 100000)) shade=""
    [ "$shades" = 0 ] || shade=",{\"line_no\":2,\"sku\":\"SHADE\",\"name\":\"Абажур\",\"quantity\":$shades,
        \"unit_price_minor\":100000,\"amount_minor\":$((shades * 100000)),\"total_minor\":$((shades * 100000))}"
    order_fact order.reserved "{\"order_id\":\"$1\",\"version\":$2,\"number\":$3,
      \"lines\":[{\"line_no\":1,\"sku\":\"LAMP\",\"name\":\"Настольная лампа\",\"quantity\":$4,\"unit_price_minor\":250000,
        \"amount_minor\":$(($4 * 250000)),\"discount_minor\":$5,\"total_minor\":$(($4 * 250000 - $5))}$shade],
      \"totals\":{\"lines_minor\":$lines,\"discount_minor\":$5,\"delivery_minor\":30000,\"total_minor\":$((lines - $5 + 30000)),\"currency\":\"RUB\"}}"
}
# changed ORDER VERSION NUMBER CHANGED-JSON-ARRAY QTY DISCOUNT_MINOR [SHADES [LINES_MINOR]]:
# the edit as the order service says it: a new line (SHADE) not priced yet
# unless LINES_MINOR says what the lines cost
changed() {
    local lines=${8:-$(($5 * 250000))} shade=""
    [ "${7:-0}" = 0 ] || shade=",{\"line_no\":2,\"sku\":\"SHADE\",\"name\":\"Абажур\",\"quantity\":$7}"
    order_fact order.changed "{\"order_id\":\"$1\",\"version\":$2,\"number\":$3,
      \"lines\":[{\"line_no\":1,\"sku\":\"LAMP\",\"name\":\"Настольная лампа\",\"quantity\":$5}$shade],
      \"delivery\":{\"method\":\"DELIVERY_METHOD_COURIER\",\"address\":{\"city\":\"Москва\",\"line1\":\"Тверская 1\"}},
      \"totals\":{\"lines_minor\":$lines,\"discount_minor\":$6,\"delivery_minor\":30000,\"total_minor\":$((lines - $6 + 30000)),\"currency\":\"RUB\"},
      \"actor_id\":\"boris\",\"actor_role\":\"manager\",\"changed\":$4,\"reason\":\"внутренний комментарий\",
      \"status\":\"confirmed\",\"region\":\"moscow\",\"currency\":\"RUB\"}"
}
mail_to() { # ADDRESS: "<subject>|<text>" of each message to it, in order
    nt_mail_json | jq -r --arg a "$1" '.messages[] | select(.rcpts | index($a)) | "\(.headers.Subject)|\(.text)"'
}
subjects_to() { nt_mail_json | jq -r --arg a "$1" '[.messages[] | select(.rcpts | index($a)) | .headers.Subject] | join("|")'; }
text_of_mail() { # ADDRESS SUBJECT: the text of the one email to ADDRESS with SUBJECT
    nt_mail_json | jq -r --arg a "$1" --arg s "$2" '[.messages[] | select((.rcpts | index($a)) and .headers.Subject == $s)]
        | if length == 1 then .[0].text | gsub("\r"; "") else "found \(length) emails" end'
}
sms_to() { nt_sms_json | jq -r --arg n "${1#+}" '[.messages[] | select(.number == $n) | .text] | join("|")'; }
settled_count() { # ORDER TRIGGER: its messages sent
    nt_count "order_id = '$1' AND trigger_id = '$2' AND status = 'sent'"
}
nbsp=$'\u202f' # ru money: a narrow no-break space between thousands

# --- an edited order: the lines told once priced, the discount at once ---------------
o1=00000000-0000-4000-8000-0000000000c1
n1=7101
placed "$o1" $n1 olga@example.ru +79991110001
status "$o1" 2 $n1 "" new
reserved "$o1" 3 $n1 2 0
it_wait_value 20 "the order told new" = 1 settled_count "$o1" status.sms
# the manager makes it three: nothing is told before inventory prices the edit
changed "$o1" 4 $n1 '["lines"]' 3 0 1
it_wait_value 20 "the edit kept, waiting for its prices" = 4 \
    nt_sql "SELECT pending_change->>'version' FROM notification.orders WHERE order_id = '$o1'"
it_assert_eq 0 "$(nt_count "order_id = '$o1' AND event_type = 'order.changed'")" "an unpriced edit told"
reserved "$o1" 5 $n1 3 0 1
it_wait_value 20 "the edit told by email" = 1 settled_count "$o1" changed.email
it_wait_value 20 "and by SMS" = 1 settled_count "$o1" changed.sms
text=$(text_of_mail olga@example.ru "Заказ №$n1 изменён")
for want in "В вашем заказе №$n1 изменены: состав заказа;" "Настольная лампа × 3" "Абажур × 1" "Итого: 8${nbsp}800,00 ₽"; do
    grep -qF -- "$want" <<<"$text" || it_fail "the edit's email lacks \"$want\": $text"
done
! grep -qF "внутренний комментарий" <<<"$text" || it_fail "the manager's own words told the customer: $text"
! grep -qiE "оплат|http://127.0.0.1:[0-9]+/pay" <<<"$text" || it_fail "a payment link in the edit's email: $text"
# a discount: its total is known at once
changed "$o1" 6 $n1 '["discount"]' 3 85000 1 850000
it_wait_value 20 "the discount told" = 2 settled_count "$o1" changed.email
text=$(nt_mail_json | jq -r --arg a olga@example.ru --arg s "Заказ №$n1 изменён" \
    '[.messages[] | select((.rcpts | index($a)) and .headers.Subject == $s)][1].text | gsub("\r"; "")')
grep -qF "изменены: скидка;" <<<"$text" && grep -qF "Итого: 7${nbsp}950,00 ₽" <<<"$text" ||
    it_fail "the discount's email: $text"
# an older edit heard late is not told after the newer one
changed "$o1" 5 $n1 '["delivery"]' 3 0
status "$o1" 7 $n1 new awaiting_payment
it_wait_value 20 "the next status told" -ge 1 nt_count "order_id = '$o1' AND trigger_id = 'status.email'
    AND subject LIKE '%ждёт оплаты%' AND status = 'sent'"
it_assert_eq 2 "$(nt_count "order_id = '$o1' AND event_type = 'order.changed' AND channel = 'email'")" \
    "the late older edit told nothing"
it_assert_eq "Заказ №$n1 принят.|Заказ №$n1 изменён. Итого: 8${nbsp}800,00 ₽|Заказ №$n1 изменён. Итого: 7${nbsp}950,00 ₽" \
    "$(sms_to +79991110001)" "the customer's SMS, in order, each once"
out=$(nt_api POST /v1/templates/order_changed/sms/en/preview "{\"order_id\":\"$o1\"}")
it_assert_eq "Order No. $n1 changed. Total: 7,950.00 RUB" "$(http_body "$out" | jq -r .body)" \
    "the English SMS of an edit, against the order as now known"

# --- short of stock, then supplied: "new" again in words of its own ------------------
o2=00000000-0000-4000-8000-0000000000c2
n2=7102
placed "$o2" $n2 ivan@example.ru +79991110002
status "$o2" 2 $n2 "" new
status "$o2" 3 $n2 new awaiting_supply
status "$o2" 4 $n2 awaiting_supply new
it_wait_value 20 "both told" = 2 settled_count "$o2" status.sms
it_assert_eq "Заказ №$n2: принят|Заказ №$n2: снова в работе — товар поступил" "$(subjects_to ivan@example.ru)" \
    "each status told once, with its own words"
it_assert_eq "Заказ №$n2 принят.|Заказ №$n2 снова в работе — товар поступил." "$(sms_to +79991110002)" \
    "and by SMS"

# --- cancelled after the label, before hand-over: no voided number ------------------
o3=00000000-0000-4000-8000-0000000000c3
n3=7103
placed "$o3" $n3 anna@example.ru +79991110003
status "$o3" 2 $n3 "" new
it_wait_value 20 "the order told new" = 1 settled_count "$o3" status.sms
ship_fact shipment.label_created "{\"order_id\":\"$o3\",\"shipment_id\":\"S-3\",\"carrier\":\"russian_post\",
    \"tracking_number\":\"RA000000003RU\",\"tracking_url\":\"https://track.example/RA000000003RU\"}"
it_wait_value 20 "the label heard" = RA000000003RU \
    nt_sql "SELECT extra->>'tracking_number' FROM notification.orders WHERE order_id = '$o3'"
status "$o3" 3 $n3 new cancelled
it_wait_value 20 "the cancellation told" = 2 settled_count "$o3" status.sms
it_assert_eq "Заказ №$n3 принят.|Заказ №$n3 отменён." "$(sms_to +79991110003)" \
    "the cancellation names no voided tracking number"
! grep -q RA000000003RU <<<"$(mail_to anna@example.ru)" || it_fail "a voided number in an email: $(mail_to anna@example.ru)"

# --- handed over to CDEK, then cancelled on its way: the number still told ----------
o4=00000000-0000-4000-8000-0000000000c4
n4=7104
placed "$o4" $n4 petr@example.ru +79991110004
status "$o4" 2 $n4 "" new
it_wait_value 20 "the order told new" = 1 settled_count "$o4" status.sms
ship_fact shipment.label_created "{\"order_id\":\"$o4\",\"shipment_id\":\"S-4\",\"carrier\":\"cdek\",
    \"tracking_number\":\"CD1004\",\"tracking_url\":\"https://track.example/CD1004\"}"
ship_fact shipment.handed_over "{\"order_id\":\"$o4\",\"shipment_id\":\"S-4\",\"carrier\":\"cdek\",\"at_ms\":1}"
it_wait_value 20 "the tracking email sent" = 1 settled_count "$o4" tracking.email
text=$(text_of_mail petr@example.ru "Заказ №$n4 в пути")
grep -qF "Заказ №$n4 передан в доставку: СДЭК. Трек-номер: CD1004" <<<"$text" || it_fail "the tracking email: $text"
status "$o4" 3 $n4 new handed_to_carrier
status "$o4" 4 $n4 handed_to_carrier cancelled
it_wait_value 20 "the cancellation told" = 2 settled_count "$o4" status.sms
it_assert_eq "Заказ №$n4 принят.|Заказ №$n4 в пути, трек CD1004|Заказ №$n4 отменён. Трек: CD1004" \
    "$(sms_to +79991110004)" "a parcel cancelled on its way keeps its number"

# --- the store's own courier, no tracking number: named, in Russian and English ------
o5=00000000-0000-4000-8000-0000000000c5
n5=7105
placed "$o5" $n5 maria@example.ru +79991110005
ship_fact shipment.label_created "{\"order_id\":\"$o5\",\"shipment_id\":\"S-5\",\"carrier\":\"city_courier\"}"
ship_fact shipment.handed_over "{\"order_id\":\"$o5\",\"shipment_id\":\"S-5\",\"carrier\":\"city_courier\",\"at_ms\":1}"
it_wait_value 20 "the tracking email sent" = 1 settled_count "$o5" tracking.email
text=$(text_of_mail maria@example.ru "Заказ №$n5 в пути")
grep -qF "Заказ №$n5 передан в доставку: курьерская служба магазина." <<<"$text" && ! grep -q "city_courier\|Трек" <<<"$text" ||
    it_fail "the courier's tracking email: $text"
out=$(nt_api POST /v1/templates/tracking/email/en/preview "{\"order_id\":\"$o5\"}")
[ "$(http_code "$out")" = 200 ] || it_fail "the English preview: $out"
http_body "$out" | jq -r .body | grep -qF "order No. $n5 is with the store's courier." ||
    it_fail "the English tracking email: $(http_body "$out" | jq -r .body)"

# --- every message once, each one kept as .eml ---------------------------------------
nt_settled_all() { [ "$(nt_count "status = 'pending'")" = 0 ]; }
it_wait_until 20 "nothing pending" nt_settled_all
it_assert_eq 0 "$(nt_count "status NOT IN ('sent')")" "every message sent ($(nt_sql "SELECT string_agg(DISTINCT status, ' ') FROM notification.deliveries"))"
it_assert_eq 0 "$(nt_sql "SELECT count(*) FROM (SELECT 1 FROM notification.deliveries GROUP BY event_id, trigger_id, recipient HAVING count(*) > 1) x")" \
    "no (event, trigger, recipient) twice"
it_assert_eq "$(nt_mail_json | jq '.messages | length')" "$(nt_eml_count)" "every email kept as .eml"
for id in $(nt_mail_json | jq -r '.messages[] | select(.headers.Subject | test("изменён")) | .headers["Message-ID"]'); do
    it_assert_eq 1 "$(grep -lF -- "$id" "$NT_MAIL_DIR"/*.eml | wc -l)" "the edit's email $id in one .eml"
done
it_log "edits told once priced, in order; a shortage overcome, carriers named, no voided number"
