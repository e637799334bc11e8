#!/usr/bin/env bash
# A message to a customer heard before the order that names them (issue
# 12): stock.shortage comes on the inventory stream and can be applied
# before order.placed, on the order stream, when the notification service
# knows no email yet. The message waits instead of being lost, and goes out
# once order.placed is heard: the late-item email reaches the customer,
# once, with the short line and its expected date; a shortage of an order
# heard placed first goes at once, as before. No row waits for ever
# (NOTIFY_WAITING_KEEP, 4 s here: the test acts on a waiting row within a
# second): a message for an order never heard placed is dropped at the end
# of its wait (logged, counted, its row purged); one whose order is known
# by then goes, once. factfeed stands in for both streams.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/kit/kit.sh"
source "$(dirname "$0")/payment/payment.sh"
source "$(dirname "$0")/notify/notify.sh"

INVFEED_HTTP=28146
INVFEED_REPLAY=25646
nt_dbs
pay_dbs
INVFEED_ENV=$(it_service_db invfeed)
kit_start_busd
pay_start_orderfeed
it_start invfeed bash -c "$INVFEED_ENV
    exec env FEED_STREAM=inventory BUS_PUB_ENDPOINT=$KIT_BUS_IN BUS_SUB_ENDPOINT=$KIT_BUS_OUT \
    HTTP_ADDR=127.0.0.1:$INVFEED_HTTP REPLAY_ADDR=tcp://127.0.0.1:$INVFEED_REPLAY \
    REDIS_URL=$TEST_REDIS_URL BUS_CERT=$(it_key service inventory) \"$IT_BIN/factfeed\""
it_wait_until 30 "the inventory stream's stand-in ready" kit_http_ok $INVFEED_HTTP /readyz
nt_start_fakes
nt_start notify1 REPLAY_PEERS=order=tcp://127.0.0.1:$ORDERFEED_REPLAY,inventory=tcp://127.0.0.1:$INVFEED_REPLAY \
    NOTIFY_WAITING_KEEP=4s

publish() { # PORT TYPE PAYLOAD
    local out
    out=$(it_http POST "http://127.0.0.1:$1/v1/publish" "{\"events\":[{\"type\":\"$2\",\"payload\":$3}]}")
    [ "$(http_code "$out")" = 201 ] || it_fail "publishing $2: $out"
}
placed() { # ORDER NUMBER EMAIL
    publish $ORDERFEED_HTTP order.placed "{\"order_id\":\"$1\",\"version\":1,\"number\":$2,
      \"customer\":{\"customer_id\":\"${1%????}0000\",\"name\":\"Ольга Белова\",\"email\":\"$3\"},
      \"delivery\":{\"method\":\"DELIVERY_METHOD_COURIER\"},
      \"lines\":[{\"line_no\":1,\"sku\":\"LAMP\",\"name\":\"Лампа\",\"quantity\":3}],\"currency\":\"RUB\"}"
}
shortage() { # ORDER
    publish $INVFEED_HTTP stock.shortage "{\"order_id\":\"$1\",\"order_version\":1,
      \"lines\":[{\"line_no\":1,\"sku\":\"LAMP\",\"requested\":3,\"available\":1,
      \"reason\":\"insufficient\",\"expected_date\":\"2026-12-20\",\"supply_id\":\"S-1\"}]}"
}
mail_to() { # ADDRESS: "<subject>|<text>" of each message to it
    nt_mail_json | jq -r --arg a "$1" '.messages[] | select(.rcpts | index($a)) | "\(.headers.Subject)|\(.text)"'
}
waiting() { [ "$(nt_sql "SELECT count(*) FROM notification.waiting WHERE order_id = '$1'")" = "$2" ]; }
sent() { [ "$(nt_count "order_id = '$1' AND trigger_id = 'shortage.email' AND status = 'sent'")" = 1 ]; }

# --- the shortage first: it waits for the order, then goes --------------------------
o1=00000000-0000-4000-8000-0000000000a1
shortage "$o1"
it_wait_until 20 "the shortage waiting for its order" waiting "$o1" 1
it_assert_eq 0 "$(nt_count "order_id = '$o1'")" "messages recorded before the order is known"
placed "$o1" 5001 olga@example.ru
it_wait_until 20 "the late-item email sent once the order is known" sent "$o1"
waiting "$o1" 0 || it_fail "the shortage still waiting after order.placed"
mail=$(mail_to olga@example.ru)
it_assert_eq 1 "$(nt_mail_json | jq --arg a olga@example.ru '[.messages[] | select(.rcpts | index($a))] | length')" \
    "emails to the customer"
grep -q "5001" <<<"$mail" || it_fail "the email does not name order 5001: $mail"
grep -q "LAMP" <<<"$mail" || it_fail "the email does not name the short item: $mail"
grep -q "2026-12-20\|20\.12\.2026" <<<"$mail" || it_fail "the email does not give the expected date: $mail"

# --- the order first: the shortage goes at once -------------------------------------
o2=00000000-0000-4000-8000-0000000000a2
placed "$o2" 5002 pavel@example.ru
known() { [ "$(nt_sql "SELECT count(*) FROM notification.orders WHERE order_id = '$o2'")" = 1 ]; }
it_wait_until 20 "order 5002 known" known
shortage "$o2"
it_wait_until 20 "the late-item email of a known order" sent "$o2"
waiting "$o2" 0 || it_fail "the shortage of a known order waited"
it_log "a shortage heard before its order waited and went once; one heard after went at once"

# --- a wait ends: nothing waits for ever ---------------------------------------------
# an order never heard placed (one placed before the service was deployed): at the end
# of NOTIFY_WAITING_KEEP its message is dropped, logged and counted, its row purged
o3=00000000-0000-4000-8000-0000000000a3
shortage "$o3"
it_wait_until 20 "the shortage of an order never placed waiting" waiting "$o3" 1
it_wait_until 30 "its row purged at the end of NOTIFY_WAITING_KEEP (4 s)" waiting "$o3" 0
it_assert_eq 0 "$(nt_count "order_id = '$o3'")" "messages recorded for an order never heard placed"
grep -q '"err":"waiting_dropped"' "$IT_RUN/notify1.log" || it_fail "the dropped message was not logged"
dropped=$(curl -fsS --max-time 5 "$NT_URL/metrics" | awk '$1 == "notification_waiting_dropped_total" { print $2 }')
it_assert_eq 1 "$dropped" "notification_waiting_dropped_total"
# an order known by the end of the wait though its order.placed found nothing waiting
# (the two crossed): the message goes then, once
o4=00000000-0000-4000-8000-0000000000a4
shortage "$o4"
it_wait_until 20 "the shortage of order 5004 waiting" waiting "$o4" 1
nt_sql "INSERT INTO notification.orders (order_id, version, number, customer_id, customer_name, customer_email)
        VALUES ('$o4', 1, 5004, 'c-5004', 'Пётр Орлов', 'petr@example.ru')
        ON CONFLICT (order_id) DO UPDATE SET version = 1, number = 5004, customer_name = 'Пётр Орлов',
          customer_email = 'petr@example.ru'" >/dev/null
it_wait_until 30 "the message sent at the end of its wait" sent "$o4"
waiting "$o4" 0 || it_fail "the row of a message that went still waits"
# the messages that went with order.placed: their rows gone, nothing more at their wait's end
it_assert_eq 0 "$(nt_sql "SELECT count(*) FROM notification.waiting")" "rows left waiting"
it_assert_eq 1 "$(nt_mail_json | jq --arg a olga@example.ru '[.messages[] | select(.rcpts | index($a))] | length')" \
    "emails to the first customer after the end of the wait"
it_assert_eq 1 "$(nt_mail_json | jq --arg a petr@example.ru '[.messages[] | select(.rcpts | index($a))] | length')" \
    "emails to the customer whose order.placed and message crossed"
it_log "a message for an order never placed dropped after NOTIFY_WAITING_KEEP; one whose order came late went once"
