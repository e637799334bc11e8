#!/usr/bin/env bash
# The customer is told of their claim (F30) at approval and at completion,
# on the real order, inventory and notification services and the fake SMTP
# and SMS gateways: an order delivered by courier gets a repair claim; a
# request for clarification and another claim's rejection tell nobody;
# the approval sends "Заказ №N: заявка одобрена" by email (with the
# claim's name and the manager's comment) and an SMS, once each; the
# completion sends "Заказ №N: заявка выполнена" and its SMS.
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
INV_FEED_REPLAY=tcp://127.0.0.1:25561
order_start order1 1 REPLAY_PEERS=inventory=tcp://127.0.0.1:25631,notification=tcp://127.0.0.1:$NT_REPLAY \
    JOB_POLL=100ms
inv_start_ready inv 1
nt_start notify1 REPLAY_PEERS=order=tcp://127.0.0.1:25561,inventory=tcp://127.0.0.1:25631
order_sources
boris=$(order_staff boris "Борис Петров" manager '[]' 100)
order_shift "$boris" true
sklad=$(order_staff sklad "Склад" warehouse '[]' 0)
kurier=$(order_staff kurier "Курьер" courier '[]' 0)
as_boris=$(it_token manager "$boris")
as_sklad=$(it_token warehouse "$sklad")
as_kurier=$(it_token courier "$kurier")
inv_api_ok POST /v1/imports '{"products": [
  {"sku": "LAMP", "name": "Настольная лампа", "price_minor": 250000, "vat_rate_bp": 2000, "weight_g": 900, "on_hand": 20}]}' >/dev/null

as() { order_call "$2" "$3" "${4:-}" "Authorization: Bearer $1"; }
move() { # ORDER TO TOKEN
    local out
    out=$(order_move "$1" "$2" "$3")
    [ "$(http_code "$out")" = 200 ] || it_fail "moving to $2: $out"
}
claim_subjects() { # ADDRESS: the subjects of the claim mail to it, in order
    nt_mail_json | jq -r --arg a "$1" '[.messages[] | select(.rcpts | index($a)) | .headers.Subject | select(test("заявка"))] | join("|")'
}
claim_sms() { # NUMBER
    nt_sms_json | jq -r --arg n "${1#+}" '[.messages[] | select(.number == $n) | .text | select(test("Заявка"))] | join("|")'
}
sent() { # ORDER TRIGGER
    [ "$(nt_count "order_id = '$1' AND trigger_id = '$2' AND status = 'sent'")" -ge 1 ]
}

# --- an order delivered by courier ---------------------------------------------------------
out=$(order_submit CN-1 '{"customer":{"name":"Иван Петров","email":"ivan@example.ru","phone":"+79991234567"},
  "delivery":{"method":"courier","address":{"region":"moscow","city":"Москва","line1":"Тверская 1"}},
  "items":[{"sku":"LAMP","quantity":2}]}')
[ "$(http_code "$out")" = 201 ] || it_fail "submitting: $out"
o1=$(http_body "$out" | jq -r .order_id)
number=$(order_sql "SELECT number FROM orders.orders WHERE id = '$o1'")
it_wait_until 20 "stock reserved" order_has_stock "$o1" reserved
move "$o1" confirmed "$as_boris"
it_wait_until 20 "cleared for dispatch" order_has_status "$o1" prepare_for_delivery
move "$o1" assembled "$as_sklad"
move "$o1" handed_to_carrier "$as_sklad"
move "$o1" delivered "$as_kurier"
it_wait_value 20 "the customer told of the delivery" -ge 4 nt_count "order_id = '$o1' AND trigger_id = 'status.email' AND status = 'sent'"

# --- clarification and a rejection tell nobody ----------------------------------------------------
out=$(as "$as_boris" POST "/v1/orders/$o1/claims" '{"type":"refund","reason":"changed_mind","lines":[{"line_no":1,"quantity":1}]}')
c0=$(http_body "$out" | jq -r .id)
out=$(as "$as_boris" POST "/v1/claims/$c0/decision" '{"decision":"rejected","comment":"used"}')
it_assert_eq 200 "$(http_code "$out")" "rejected: ${out:0:300}"
out=$(as "$as_boris" POST "/v1/orders/$o1/claims" '{"type":"repair","reason":"defect","comment":"не включается","lines":[{"line_no":1,"quantity":1}]}')
it_assert_eq 201 "$(http_code "$out")" "the repair claim: ${out:0:300}"
c1=$(http_body "$out" | jq -r .id)
name=$(http_body "$out" | jq -r .name)
out=$(as "$as_boris" POST "/v1/claims/$c1/decision" '{"decision":"needs_clarification"}')
it_assert_eq 200 "$(http_code "$out")" "clarification: ${out:0:300}"

# --- approved: told by email and SMS ------------------------------------------------------------------
out=$(as "$as_boris" POST "/v1/claims/$c1/decision" '{"decision":"approved","comment":"Заберём лампу завтра"}')
it_assert_eq 200 "$(http_code "$out")" "approved: ${out:0:300}"
it_wait_until 20 "the approval emailed" sent "$o1" claim_approved.email
it_wait_until 20 "and sent by SMS" sent "$o1" claim_approved.sms
it_assert_eq "Заказ №$number: заявка одобрена" "$(claim_subjects ivan@example.ru)" \
    "one approval mail; nothing for the rejection or the clarification"
mail=$(nt_mail_json | jq -c --arg a ivan@example.ru '[.messages[] | select(.rcpts | index($a)) | select(.headers.Subject | test("заявка"))][0]')
jq -e --arg n "«$name»" '.text | (contains($n) and contains("Заберём лампу завтра"))' <<<"$mail" >/dev/null ||
    it_fail "the approval names the claim and the comment: $(jq .text <<<"$mail")"
it_assert_eq "Заявка по заказу №$number одобрена." "$(claim_sms +79991234567)" "the approval SMS"

# --- repaired and completed: told again ---------------------------------------------------------------
out=$(as "$as_sklad" POST "/v1/claims/$c1/status" '{"to":"in_repair"}')
it_assert_eq 200 "$(http_code "$out")" "in repair: ${out:0:300}"
out=$(as "$as_sklad" POST "/v1/claims/$c1/complete" '{"comment":"Лампа отремонтирована"}')
it_assert_eq 200 "$(http_code "$out")" "completed: ${out:0:300}"
it_wait_until 20 "the completion emailed" sent "$o1" claim_completed.email
it_wait_until 20 "and sent by SMS" sent "$o1" claim_completed.sms
it_assert_eq "Заказ №$number: заявка одобрена|Заказ №$number: заявка выполнена" \
    "$(claim_subjects ivan@example.ru)" "the claim's mail, in order"
it_assert_eq "Заявка по заказу №$number одобрена.|Заявка по заказу №$number выполнена." \
    "$(claim_sms +79991234567)" "the claim's SMS, in order"
it_assert_eq 4 "$(nt_count "order_id = '$o1' AND trigger_id LIKE 'claim%'")" "each claim message once"
it_assert_eq 0 "$(nt_sql "SELECT count(*) FROM notification.dead_letters")" "nothing parked in notification"

it_log "claims: the customer told at approval and at completion, by email and SMS, once each"
