#!/usr/bin/env bash
# The notification service with the real order and inventory services on
# one busd and the three fakes (issue 12, "Tests"): an order's life tells
# the customer by email and SMS at each status, the manager and the staff
# chat by Telegram, with the right text read back from the fake SMTP
# server (Cyrillic subjects and names decoded from its .eml files) and the
# SMS log; each message once, in order; the order's history records each
# result; the opt-out link in every email works. Then the failure modes:
# a 451 retried and sent once, a 550 failed and never retried, an SMS
# whose answer never came reported outcome_unknown and not resent, and the
# service killed -9 mid-send leaving that message outcome_unknown.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/kit/kit.sh"
source "$(dirname "$0")/kit/inventory.sh"
source "$(dirname "$0")/order/order.sh"
source "$(dirname "$0")/notify/notify.sh"

kit_dbs
order_dbs
inv_dbs
nt_dbs
it_key service notification >/dev/null
kit_start_busd
nt_start_fakes
INV_FEED_REPLAY=tcp://127.0.0.1:25561 # inventory follows the real order stream
order_start order1 1 REPLAY_PEERS=inventory=tcp://127.0.0.1:25631,notification=tcp://127.0.0.1:$NT_REPLAY \
    JOB_POLL=100ms
inv_start_ready inv 1
nt_start notify1 REPLAY_PEERS=order=tcp://127.0.0.1:25561,inventory=tcp://127.0.0.1:25631
order_sources
boris=$(order_staff boris "Борис Петров" manager '[]' 100)
order_shift "$boris" true
as_boris=$(it_token manager "$boris")
inv_api_ok POST /v1/imports '{"products": [
  {"sku": "LAMP", "name": "Настольная лампа", "price_minor": 250000, "vat_rate_bp": 2000, "weight_g": 900, "on_hand": 20}]}' >/dev/null

submit() { # KEY NAME EMAIL PHONE -> order id
    local out
    out=$(order_submit "$1" "{\"customer\":{\"name\":\"$2\",\"email\":\"$3\",\"phone\":\"$4\"},
      \"delivery\":{\"method\":\"courier\",\"address\":{\"region\":\"moscow\",\"city\":\"Москва\",\"line1\":\"Тверская 1\"}},
      \"items\":[{\"sku\":\"LAMP\",\"quantity\":2}]}")
    [ "$(http_code "$out")" = 201 ] || it_fail "submitting $1: $out"
    http_body "$out" | jq -r .order_id
}
subjects_to() { # ADDRESS: the decoded subjects of the mail to it, in order
    nt_mail_json | jq -r --arg a "$1" '[.messages[] | select(.rcpts | index($a)) | .headers.Subject] | join("|")'
}
sms_to() { # NUMBER: the texts sent to it, in order
    nt_sms_json | jq -r --arg n "${1#+}" '[.messages[] | select(.number == $n) | .text] | join("|")'
}
delivery_is() { # ORDER TRIGGER STATUS
    [ "$(nt_count "order_id = '$1' AND trigger_id = '$2' AND status = '$3'")" -ge 1 ]
}
history_count() { # ORDER REASON
    order_sql "SELECT count(*) FROM orders.order_history WHERE order_id = '$1' AND reason = '$2'"
}
history_has() { [ "$(history_count "$1" "$2")" -ge "${3:-1}" ]; }

# --- an order's life: new -> confirmed -> cancelled ----------------------------------
o1=$(submit N-1 "Иван Петров" ivan@example.ru +79991234567)
number=$(order_sql "SELECT number FROM orders.orders WHERE id = '$o1'")
it_wait_until 20 "stock reserved" order_has_stock "$o1" reserved
it_wait_until 20 "the customer told the order is new" delivery_is "$o1" status.email sent
it_wait_until 20 "and by SMS" delivery_is "$o1" status.sms sent
out=$(order_move "$o1" confirmed "$as_boris")
[ "$(http_code "$out")" = 200 ] || it_fail "confirming: $out"
confirmed_told() { [ "$(nt_count "order_id = '$o1' AND trigger_id IN ('status.email', 'confirmed.email') AND status = 'sent'")" -ge 2 ]; }
for _ in $(seq 1 100); do confirmed_told && break; sleep 0.2; done
confirmed_told || it_fail "not told it is confirmed: $(order_status "$o1"), $(order_events "$o1"); log: $(nt_deliveries "$o1"); $(nt_sql "SELECT string_agg(stream || ':' || applied_seq, ' ') FROM notification.inbox_offsets")"
out=$(order_move "$o1" cancelled "$as_boris" "customer changed their mind")
[ "$(http_code "$out")" = 200 ] || it_fail "cancelling: $out"
it_wait_value 20 "told it is cancelled" -ge 3 nt_count "order_id = '$o1' AND trigger_id = 'status.sms' AND status = 'sent'"
it_wait_until 20 "every message of the order settled" nt_settled "$o1"
it_log "the log: $(nt_deliveries "$o1")"

statuses=$(order_sql "SELECT string_agg(to_status, ' ' ORDER BY id) FROM orders.order_history WHERE order_id = '$o1' AND kind = 'status'")
want_subjects=""
for s in $statuses; do
    case $s in
    new) label="принят" ;; confirmed) label="подтверждён" ;; awaiting_payment) label="ждёт оплаты" ;;
    cancelled) label="отменён" ;; *) continue ;;
    esac
    want_subjects+="${want_subjects:+|}Заказ №$number: $label"
done
it_assert_eq "$want_subjects" "$(subjects_to ivan@example.ru)" \
    "the customer's mail, in order, Cyrillic subjects decoded (statuses: $statuses)"
it_assert_eq "Заказ №$number принят.|Заказ №$number подтверждён.|Заказ №$number отменён." \
    "$(sms_to +79991234567)" "the customer's SMS, in order"
mail=$(nt_mail_json | jq -c --arg a ivan@example.ru '[.messages[] | select(.rcpts | index($a))][0]')
jq -e '.text | test("Здравствуйте, Иван Петров!")' <<<"$mail" >/dev/null ||
    it_fail "the first email's text: $(jq .text <<<"$mail")"
second=$(nt_mail_json | jq -c --arg a ivan@example.ru '[.messages[] | select(.rcpts | index($a))][1]')
jq -e '.text | test("Настольная лампа × 2 — 5 000,00 ₽")' <<<"$second" >/dev/null ||
    it_fail "the priced lines in the second email: $(jq .text <<<"$second")"
jq -e '.headers.From | test("Магазин Конвейер")' <<<"$mail" >/dev/null || it_fail "the From name: $(jq .headers <<<"$mail")"
it_assert_eq "$(nt_mail_json | jq '.messages | length')" "$(nt_eml_count)" "every message kept as .eml"
grep -l "$(jq -r '.headers["Message-ID"]' <<<"$mail")" "$NT_MAIL_DIR"/*.eml >/dev/null ||
    it_fail "the first email's Message-ID is in no .eml file"
tg=$(nt_tg_json | jq -r '[.messages[] | select(.chat_id == "1001") | .text] | join("|")')
[[ "$tg" == *"Вам назначен заказ №$number"* ]] || it_fail "the staff chat heard no assignment: $tg"
it_wait_until 20 "the order's history shows every message" history_has "$o1" notification.sent \
    "$(nt_count "order_id = '$o1' AND status = 'sent'")"
it_assert_eq 0 "$(nt_sql "SELECT count(*) FROM (SELECT event_id, trigger_id, recipient FROM notification.deliveries GROUP BY 1, 2, 3 HAVING count(*) > 1) x")" \
    "no (event, trigger, recipient) twice"

# the log over HTTP, per order and per customer
out=$(nt_api GET "/v1/orders/$o1/deliveries")
[ "$(http_code "$out")" = 200 ] || it_fail "the order's log: $out"
it_assert_eq "$(nt_count "order_id = '$o1'")" "$(http_body "$out" | jq length)" "the order's log over HTTP"
customer=$(nt_sql "SELECT customer_id FROM notification.orders WHERE order_id = '$o1'")
out=$(nt_api GET "/v1/customers/$customer/deliveries")
[ "$(http_body "$out" | jq '[.[] | select(.channel == "email")] | length')" -ge 3 ] || it_fail "the customer's log: $out"

# --- opt-out: the link in the email; the next email suppressed, the SMS still sent ---
link=$(jq -r '.headers["List-Unsubscribe"]' <<<"$mail" | tr -d '<>')
[[ "$link" == "$NT_URL/v1/optout?"* ]] || it_fail "no opt-out link in the email: $link"
it_assert_eq 403 "$(curl -s -o /dev/null -w '%{http_code}' "${link%token=*}token=00")" "a forged opt-out link"
it_assert_eq 200 "$(curl -s -o /dev/null -w '%{http_code}' "$link")" "the opt-out link"
o2=$(submit N-2 "Иван Петров" ivan@example.ru +79991234567)
it_wait_until 20 "the SMS of the second order" delivery_is "$o2" status.sms sent
it_wait_until 20 "its email suppressed" delivery_is "$o2" status.email suppressed

# --- the API: triggers switched off, templates checked, preview -----------------------
out=$(nt_api PUT /v1/templates/status_changed/email/en '{"subject":"Order {{number}}","body":"Hi {{customer_nmae}}"}')
[ "$(http_code "$out")" = 422 ] && [[ "$out" == *customer_nmae* ]] || it_fail "an unknown placeholder saved: $out"
out=$(nt_api POST /v1/templates/status_changed/sms/ru/preview "{\"order_id\":\"$o1\"}")
it_assert_eq "Заказ №$number отменён." "$(http_body "$out" | jq -r .body)" "the preview against the real order"
out=$(nt_api PUT /v1/triggers/status.sms '{"event_type":"order.status_changed","condition":{"to_status":["new"]},"template":"status_changed","channel":"sms","recipient":"customer","enabled":false}')
[ "$(http_code "$out")" = 200 ] || it_fail "switching status.sms off: $out"

# --- failure modes --------------------------------------------------------------------
smtp_fault() { curl -fsS -o /dev/null --max-time 5 -X POST "$NT_SMTP_CONTROL/_fake/faults" -d "$1" || it_fail "arming $1"; }
smtp_fault '{"stage":"mail","code":451,"count":1}'
o3=$(submit N-3 "Пётр Сидоров" petr@example.ru +79990000003)
it_wait_until 30 "a 451 retried and sent" delivery_is "$o3" status.email sent
it_assert_eq 1 "$(subjects_to petr@example.ru | tr '|' '\n' | grep -c .)" "sent once after a 451"
it_assert_eq "" "$(sms_to +79990000003)" "status.sms switched off: no SMS"

smtp_fault '{"stage":"rcpt","code":550,"match":"gone@example.ru","count":5}'
o4=$(submit N-4 "Анна Кузнецова" gone@example.ru +79990000004)
it_wait_until 30 "a 550 failed for good" delivery_is "$o4" status.email failed
it_assert_eq 1 "$(nt_sql "SELECT attempts FROM notification.deliveries WHERE order_id = '$o4' AND channel = 'email'")" \
    "a 550 is not retried"
it_wait_until 20 "the failure in the order's history" history_has "$o4" notification.failed

# an SMS whose answer never comes: outcome_unknown, kept once at the gateway, never resent
nt_api PUT /v1/triggers/status.sms '{"event_type":"order.status_changed","condition":{"to_status":["new"]},"template":"status_changed","channel":"sms","recipient":"customer","enabled":true}' >/dev/null
curl -fsS -o /dev/null -X POST "$NT_SMS_URL/_fake/faults" -d '{"op":"send","kind":"timeout","count":1}' || it_fail "arming the SMS timeout"
o5=$(submit N-5 "Олег Смирнов" oleg@example.ru +79990000005)
it_wait_until 30 "an SMS without an answer reported" delivery_is "$o5" status.sms outcome_unknown
it_wait_until 20 "its outcome in the order's history" history_has "$o5" notification.outcome_unknown
sleep 2
it_assert_eq "Заказ №$(order_sql "SELECT number FROM orders.orders WHERE id = '$o5'") принят." \
    "$(sms_to +79990000005)" "the gateway has it once: not resent"

# killed -9 mid-send: that message outcome_unknown, not sent twice
nt_settled_all() { [ "$(nt_count "status = 'pending'")" = 0 ]; }
it_wait_until 20 "nothing pending" nt_settled_all
curl -fsS -o /dev/null -X POST "$NT_SMS_URL/_fake/faults" -d '{"op":"send","kind":"timeout","count":1}' || it_fail "arming the SMS hold"
it_stop notify1
nt_start notify1 REPLAY_PEERS=order=tcp://127.0.0.1:25561,inventory=tcp://127.0.0.1:25631 NOTIFY_SEND_TIMEOUT=20s
before=$(nt_sms_json | jq '.messages | length')
o6=$(submit N-6 "Мария Иванова" maria@example.ru +79990000006)
sms_arrived() { [ "$(nt_sms_json | jq '.messages | length')" -gt "$before" ]; }
it_wait_until 20 "the SMS at the gateway, its answer held" sms_arrived
it_kill notify1 KILL
nt_start notify1 REPLAY_PEERS=order=tcp://127.0.0.1:25561,inventory=tcp://127.0.0.1:25631
it_wait_until 30 "the interrupted SMS reported" delivery_is "$o6" status.sms outcome_unknown
it_assert_eq interrupted "$(nt_sql "SELECT error_code FROM notification.deliveries WHERE order_id = '$o6' AND channel = 'sms'")" \
    "reported as interrupted"
sleep 2
it_assert_eq 1 "$(nt_sms_json | jq '[.messages[] | select(.number == "79990000006")] | length')" \
    "the SMS sent once, not again after the restart"
it_wait_until 20 "the order's other messages settled" nt_settled "$o6"
emails=$(subjects_to maria@example.ru | tr '|' '\n' | grep -c . || true)
if delivery_is "$o6" status.email sent; then
    it_assert_eq 1 "$emails" "the email sent once"
else # it was claimed too when the service died: reported, and at most once at the server
    delivery_is "$o6" status.email outcome_unknown || it_fail "the email neither sent nor reported"
    [ "$emails" -le 1 ] || it_fail "the interrupted email sent $emails times"
fi
it_log "all messages settled: $(nt_sql "SELECT string_agg(status || '=' || n, ' ') FROM (SELECT status, count(*) n FROM notification.deliveries GROUP BY 1 ORDER BY 1) x")"
