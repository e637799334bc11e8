#!/usr/bin/env bash
# A prepaid order's whole life with the real order, inventory, payment and
# notification services on one busd, the fake bank and the three fakes
# (issue 12, "Tests"): submitted from outside the store's region, confirmed
# by its manager (awaiting payment), invoiced at the bank; the customer's
# email carries the bank's payment link (read back from the fake SMTP), the
# customer pays through that very link, and the order moves on by itself.
# The customer gets exactly the expected messages, in order, each once,
# with the right text. The confirmation email carries the order's PDF and
# the invoice email the invoice's (F32; a trigger's attachments), fetched
# from the order and payment services and read back with pdftotext.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/kit/kit.sh"
source "$(dirname "$0")/kit/inventory.sh"
source "$(dirname "$0")/order/order.sh"
FAKE_PORT=28133 # inventory replica 1 has payment.sh's usual port
source "$(dirname "$0")/payment/payment.sh"
source "$(dirname "$0")/notify/notify.sh"

kit_dbs
order_dbs
inv_dbs
pay_dbs
nt_dbs
it_key service notification >/dev/null
kit_start_busd
nt_start_fakes
pay_start_fake
INV_FEED_REPLAY=tcp://127.0.0.1:25561 # inventory follows the real order stream
order_start order1 1 \
    REPLAY_PEERS=inventory=tcp://127.0.0.1:25631,payment=tcp://127.0.0.1:$PAY_REPLAY,notification=tcp://127.0.0.1:$NT_REPLAY \
    JOB_POLL=100ms
inv_start_ready inv 1
pay_start pay1 sberbank REPLAY_PEERS=order=tcp://127.0.0.1:25561
nt_start notify1 \
    REPLAY_PEERS=order=tcp://127.0.0.1:25561,inventory=tcp://127.0.0.1:25631,payment=tcp://127.0.0.1:$PAY_REPLAY
order_sources
boris=$(order_staff boris "Борис Петров" manager '[]' 100)
order_shift "$boris" true
as_boris=$(it_token manager "$boris")
inv_api_ok POST /v1/imports '{"products": [
  {"sku": "LAMP", "name": "Настольная лампа", "price_minor": 250000, "vat_rate_bp": 2000, "weight_g": 900, "on_hand": 20}]}' >/dev/null

# --- a trigger asks for documents: checked when saved ------------------------------
invoice_trigger() { # ATTACHMENTS CHANNEL
    nt_api PUT /v1/triggers/invoice.email "{\"event_type\":\"invoice.created\",\"condition\":{},
      \"template\":\"invoice\",\"channel\":\"$2\",\"recipient\":\"customer\",\"attachments\":$1}"
}
out=$(invoice_trigger '["receipt"]' email)
[ "$(http_code "$out")" = 400 ] && [[ "$out" == *invalid_attachments* && "$out" == *receipt* ]] || it_fail "an unknown document saved: $out"
out=$(invoice_trigger '["invoice"]' sms)
[ "$(http_code "$out")" = 400 ] && [[ "$out" == *invalid_attachments* ]] || it_fail "an SMS with a PDF saved: $out"
out=$(invoice_trigger '["invoice", "invoice"]' email)
[ "$(http_code "$out")" = 400 ] || it_fail "a document named twice saved: $out"
out=$(invoice_trigger '["invoice"]' email)
[ "$(http_code "$out")" = 200 ] && [ "$(http_body "$out" | jq -c .attachments)" = '["invoice"]' ] ||
    it_fail "the invoice email asking for the invoice's PDF: $out"
out=$(nt_api GET /v1/triggers/confirmed.email)
[ "$(http_body "$out" | jq -c .attachments)" = '["order"]' ] ||
    it_fail "the shipped confirmation email does not ask for the order's PDF: $out"

mail_to() { # ADDRESS: the kept mail to it, oldest first, as a JSON array
    nt_mail_json | jq -c --arg a "$1" '[.messages[] | select(.rcpts | index($a))]'
}
subjects_to() { mail_to "$1" | jq -r '[.[].headers.Subject] | join("|")'; }
sms_to() { nt_sms_json | jq -r --arg n "${1#+}" '[.messages[] | select(.number == $n) | .text] | join("|")'; }
delivery_count() { nt_count "order_id = '$1' AND trigger_id = '$2' AND status = 'sent'"; }
emails_sent() { nt_count "order_id = '$1' AND channel = 'email' AND status = 'sent'"; }
history_has() { # ORDER REASON [COUNT]
    [ "$(order_sql "SELECT count(*) FROM orders.order_history WHERE order_id = '$1' AND reason = '$2'")" -ge "${3:-1}" ]
}

# --- submitted, reserved, confirmed: awaiting payment -----------------------------
out=$(order_submit J-1 '{"customer":{"name":"Фёдор Достоевский","email":"fedor@example.ru","phone":"+79990001111"},
  "delivery":{"method":"post","address":{"region":"Kamchatka","city":"Петропавловск","line1":"Ленина 1","postal_code":"683000"}},
  "items":[{"sku":"LAMP","quantity":2}]}')
[ "$(http_code "$out")" = 201 ] || it_fail "submitting: $out"
o1=$(http_body "$out" | jq -r .order_id)
number=$(order_sql "SELECT number FROM orders.orders WHERE id = '$o1'")
it_wait_until 20 "stock reserved" order_has_stock "$o1" reserved
it_wait_value 20 "the customer told the order is new" -ge 1 delivery_count "$o1" status.email
out=$(order_move "$o1" confirmed "$as_boris")
[ "$(http_body "$out" | jq -r .status)" = awaiting_payment ] || it_fail "confirming: $out"

# --- the confirmation email carries the order's PDF -------------------------------
confirmation_sent() { [ "$(delivery_count "$o1" confirmed.email)" = 1 ]; }
for _ in $(seq 1 150); do confirmation_sent && break; sleep 0.2; done
confirmation_sent || it_fail "the confirmation not emailed: $(nt_sql "SELECT string_agg(trigger_id || ':' || status || ':' || error_code || ':' || error_message, ' | ') FROM notification.deliveries WHERE order_id = '$o1'")"
confirmation=$(mail_to fedor@example.ru | jq -c --arg s "Заказ №$number: подтверждён" '[.[] | select(.headers.Subject == $s)]')
it_assert_eq 1 "$(jq length <<<"$confirmation")" "one confirmation email"
confirmation=$(jq -c '.[0]' <<<"$confirmation")
it_assert_eq "application/pdf order.pdf attachment" \
    "$(jq -r '[.attachments[] | "\(.content_type) \(.filename) \(.disposition)"] | join(",")' <<<"$confirmation")" \
    "the confirmation's one attachment: the order's PDF"
pdf=$(nt_pdf_text "$confirmation" 0)
grep -qF "Order No. $number" <<<"$pdf" || it_fail "the order's number is not in its PDF: $pdf"
grep -qF "Фёдор Достоевский" <<<"$pdf" || it_fail "the Cyrillic customer name is not in the PDF: $pdf"

# --- invoice.created: the payment link by email -----------------------------------
it_wait_until 30 "the invoice registered at the bank" invoice_is "$o1" open
url=$(invoice_field "$o1" payment_url)
[[ "$url" == "$FAKE_BANK_URL"* ]] || it_fail "the invoice's link is not the bank's: $url"
it_wait_value 30 "the invoice emailed" = 1 delivery_count "$o1" invoice.email
it_wait_until 20 "the order heard invoice.created" history_has "$o1" invoice.created
invoice_mail=$(mail_to fedor@example.ru | jq -c --arg s "Оплата заказа №$number" '[.[] | select(.headers.Subject == $s)]')
it_assert_eq 1 "$(jq length <<<"$invoice_mail")" "one invoice email at the fake SMTP"
it_assert_eq "application/pdf invoice.pdf" \
    "$(jq -r '[.[0].attachments[] | "\(.content_type) \(.filename)"] | join(",")' <<<"$invoice_mail")" \
    "the invoice email carries the invoice's PDF"
pdf=$(nt_pdf_text "$(jq -c '.[0]' <<<"$invoice_mail")" 0)
grep -qF "No. $number" <<<"$pdf" && grep -qF "Фёдор Достоевский" <<<"$pdf" ||
    it_fail "the invoice's PDF lacks the order's number or the customer's name: $pdf"
total=$(order_sql "SELECT total_minor FROM orders.orders WHERE id = '$o1'")
nnbsp=$'\u202f' # money for people: thousands apart by a narrow no-break space
amount="$(sed ":a;s/\B[0-9]\{3\}\>/$nnbsp&/;ta" <<<$((total / 100))),$(printf %02d $((total % 100))) ₽"
text=$(jq -r '.[0].text' <<<"$invoice_mail" | tr -d '\r')
grep -qF "Здравствуйте, Фёдор Достоевский!" <<<"$text" || it_fail "the invoice email's greeting: $text"
grep -qF "Счёт на $amount по заказу №$number: $url" <<<"$text" ||
    it_fail "the invoice email has not the amount $amount and the bank's link $url: $text"
# the .eml on disk carries the same message
grep -l "$(jq -r '.[0].headers["Message-ID"]' <<<"$invoice_mail")" "$NT_MAIL_DIR"/*.eml >/dev/null ||
    it_fail "the invoice email is in no .eml file"

# --- the customer pays through the link in the email ------------------------------
link=$(grep -o "$FAKE_BANK_URL[^ ]*" <<<"$text" | head -1)
curl -fsS -o /dev/null --max-time 5 -X POST "$link" -d action=pay || it_fail "paying at $link"
it_wait_until 20 "the payment recorded" payment_status_is "$o1" paid
it_wait_until 20 "paid in full: prepare for delivery" order_has_status "$o1" prepare_for_delivery
paid_told() { [ "$(emails_sent "$o1")" -ge "$1" ]; }
statuses=$(order_sql "SELECT string_agg(to_status, ' ' ORDER BY id) FROM orders.order_history WHERE order_id = '$o1' AND kind = 'status'")
want=() sms_want=()
for s in $statuses; do
    case $s in
    new) label="принят" ;; confirmed) label="подтверждён" ;; awaiting_payment) label="ждёт оплаты" ;;
    payment_received) label="оплачен" ;; *) continue ;;
    esac
    want+=("Заказ №$number: $label")
    case $s in new | confirmed) sms_want+=("Заказ №$number $label.") ;; esac
    [ "$s" = awaiting_payment ] && want+=("Оплата заказа №$number")
done
it_wait_until 30 "every email sent" paid_told ${#want[@]}
it_wait_until 20 "every message of the order settled" nt_settled "$o1"
sleep 1 # anything more the payment could have caused has happened by now
it_log "statuses: $statuses; the log: $(nt_deliveries "$o1")"
# The confirmation waits for its PDF while the order moves on by itself
# (awaiting payment, the invoice): those wait for it, each message once, in
# order.
got=$(subjects_to fedor@example.ru)
it_assert_eq "$(IFS='|'; echo "${want[*]}")" "$got" "the customer's mail: each message once, in order"
it_assert_eq "$(IFS='|'; echo "${sms_want[*]}")" "$(sms_to +79990001111)" "the customer's SMS, in order"
paid_mail=$(mail_to fedor@example.ru | jq -c --arg s "Заказ №$number: оплачен" '[.[] | select(.headers.Subject == $s)][0]')
jq -e '.text | test("Ваш заказ №[0-9]+ оплачен")' <<<"$paid_mail" >/dev/null ||
    it_fail "the paid email's text: $(jq .text <<<"$paid_mail")"
jq -e '.text | contains("Оплатить") | not' <<<"$paid_mail" >/dev/null ||
    it_fail "the paid email still asks for payment: $(jq .text <<<"$paid_mail"); facts: $(nt_sql "SELECT extra FROM notification.orders WHERE order_id = '$o1'")"
jq -e --arg t "Итого: $amount" '.text | contains($t)' <<<"$paid_mail" >/dev/null ||
    it_fail "the paid email's total ($amount): $(jq .text <<<"$paid_mail")"
it_wait_until 20 "the order's history shows every message" history_has "$o1" notification.sent \
    "$(nt_count "order_id = '$o1' AND status = 'sent'")"
it_assert_eq 0 "$(nt_count "order_id = '$o1' AND status <> 'sent'")" "nothing failed, suppressed or unknown"
it_assert_eq 0 "$(nt_sql "SELECT count(*) FROM (SELECT event_id, trigger_id, recipient FROM notification.deliveries GROUP BY 1, 2, 3 HAVING count(*) > 1) x")" \
    "no (event, trigger, recipient) twice"
it_assert_eq "$(nt_mail_json | jq '.messages | length')" "$(nt_eml_count)" "every message kept as .eml"
it_log "the prepaid journey told: $(subjects_to fedor@example.ru)"

# --- the order's PDF not to be had: the confirmation waits, never sent without it,
# and the order's later emails wait behind it: the customer reads "paid" after
# "confirmed", never before; the SMS, another channel, go on ------------------------
nt_peers=REPLAY_PEERS=order=tcp://127.0.0.1:25561,inventory=tcp://127.0.0.1:25631,payment=tcp://127.0.0.1:$PAY_REPLAY
it_stop notify1
nt_start notify1 "$nt_peers" NOTIFY_ORDER_URL=http://127.0.0.1:9 NOTIFY_MAX_ATTEMPTS=100
out=$(order_submit J-2 '{"customer":{"name":"Анна Ахматова","email":"anna@example.ru","phone":"+79990002222"},
  "delivery":{"method":"post","address":{"region":"Kamchatka","city":"Петропавловск","line1":"Ленина 2","postal_code":"683000"}},
  "items":[{"sku":"LAMP","quantity":1}]}')
[ "$(http_code "$out")" = 201 ] || it_fail "submitting the second order: $out"
o2=$(http_body "$out" | jq -r .order_id)
number2=$(order_sql "SELECT number FROM orders.orders WHERE id = '$o2'")
it_wait_until 20 "the second order's stock reserved" order_has_stock "$o2" reserved
out=$(order_move "$o2" confirmed "$as_boris")
[ "$(http_body "$out" | jq -r .status)" = awaiting_payment ] || it_fail "confirming the second order: $out"
waiting_for_pdf() {
    [ "$(nt_count "order_id = '$o2' AND trigger_id = 'confirmed.email' AND status = 'pending'
        AND error_code = 'attachment_unavailable' AND attempts >= 2")" = 1 ]
}
it_wait_until 30 "the confirmation retried while its PDF cannot be had" waiting_for_pdf
emails_held() { # the confirmation, "awaiting payment" and the invoice, none sent
    [ "$(nt_count "order_id = '$o2' AND channel = 'email' AND status = 'pending'")" -ge 3 ]
}
it_wait_until 30 "the order's later emails recorded and held behind the confirmation" emails_held
sms_confirmed() { sms_to +79990002222 | grep -qF "Заказ №$number2 подтверждён."; }
it_wait_until 20 "the confirmation's SMS sent all the same" sms_confirmed
sleep 1 # a later email that were not held would be at the server by now
it_assert_eq "Заказ №$number2: принят" "$(subjects_to anna@example.ru)" \
    "the customer's mail while the confirmation waits: nothing after it"
confirmations() { mail_to anna@example.ru | jq --arg s "Заказ №$number2: подтверждён" '[.[] | select(.headers.Subject == $s)] | length'; }
it_stop notify1
nt_start notify1 "$nt_peers"
it_wait_value 30 "the confirmation sent once its PDF is had" = 1 delivery_count "$o2" confirmed.email
it_wait_until 30 "the emails held behind it sent" nt_settled "$o2"
it_assert_eq 1 "$(confirmations)" "the confirmation sent once"
recorded=$(nt_sql "SELECT string_agg(subject, '|' ORDER BY seq) FROM notification.deliveries
                   WHERE order_id = '$o2' AND channel = 'email'")
got=$(subjects_to anna@example.ru)
it_assert_eq "$recorded" "$got" "the customer's mail in the order of its events"
[[ "$got" == "Заказ №$number2: принят|Заказ №$number2: подтверждён|"* ]] ||
    it_fail "the confirmation is not the order's second email: $got"
it_assert_eq 0 "$(nt_count "order_id = '$o2' AND status <> 'sent'")" "messages of the second order not sent"
confirmation=$(mail_to anna@example.ru | jq -c --arg s "Заказ №$number2: подтверждён" '[.[] | select(.headers.Subject == $s)][0]')
pdf=$(nt_pdf_text "$confirmation" 0)
grep -qF "Order No. $number2" <<<"$pdf" && grep -qF "Анна Ахматова" <<<"$pdf" ||
    it_fail "the late confirmation's PDF: $pdf"
it_log "a confirmation whose PDF could not be had waited, and went once with it"
