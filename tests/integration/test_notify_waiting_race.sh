#!/usr/bin/env bash
# A message to a customer heard before the order that names them waits for
# order.placed (issue 12; test_notify_waiting.sh). When its event and that
# order.placed are applied at the same time by two transactions (two
# appliers: a replica taking over while the other finishes its batch),
# neither may miss the other: the message either finds the order known, or
# waits and is released by order.placed in the same moment — never left
# waiting for NOTIFY_WAITING_KEEP (24 h late) or purged. notifyrace applies
# stock.shortage and order.placed together, through the service's own
# dispatch code on two sessions, for 300 orders; every late-item email is
# then recorded at once, nothing waits, and the running service sends each
# once.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/kit/kit.sh"
source "$(dirname "$0")/notify/notify.sh"

ORDERS=300
TAG=5a
nt_dbs
kit_start_busd
nt_start_fakes
nt_start notify1
bash -c "$NT_ENV; exec \"$IT_BIN/notifyrace\" $ORDERS $TAG" >"$IT_RUN/notifyrace.log" 2>&1 ||
    { cat "$IT_RUN/notifyrace.log"; it_fail "notifyrace"; }
cat "$IT_RUN/notifyrace.log"
ours="order_id::text LIKE '000000${TAG}-%'"
# what the two transactions left, read at once: no later rescue counts
left=$(nt_sql "SELECT count(*) FROM notification.waiting WHERE $ours")
recorded=$(nt_count "$ours AND trigger_id = 'shortage.email'")
it_assert_eq "0 $ORDERS" "$left $recorded" \
    "messages left waiting, and late-item emails recorded, of $ORDERS orders"
it_assert_eq "$ORDERS" "$(nt_sql "SELECT count(*) FROM notification.orders WHERE $ours AND version = 1")" \
    "orders known"
it_wait_value 60 "every late-item email sent" = "$ORDERS" nt_count "$ours AND status = 'sent'"
it_assert_eq "$ORDERS" "$(nt_mail_json | jq '[.messages[] | select(.rcpts[0] | startswith("race"))] | length')" \
    "late-item emails at the server, each once"
it_log "stock.shortage and order.placed applied together for $ORDERS orders: none left waiting"
