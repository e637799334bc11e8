#!/usr/bin/env bash
# The notification service's sends in batches (NOTIFY_SEND_BATCH,
# services/notification/jobs.c), factfeed standing in for the order stream
# and the fake SMTP server answering each message in 200 ms, one job worker:
#   - due emails are taken several at once, sent one after another and
#     their ends recorded together (one transaction: one finished_at), at
#     most NOTIFY_SEND_BATCH of them; each is at the server once;
#   - the service killed -9 in the middle of a batch: every message of it
#     ends sent (at the server once) or outcome_unknown "interrupted" (at the
#     server at most once), none pending, none sent twice after the restart;
#     the handed marks go ahead NOTIFY_HANDED_AHEAD (3) at a time, so at
#     most 3 of those reported never reached the server (the one in flight
#     and the 2 marked with it);
#   - killed -9 while the batch's SMTP session waits at MAIL FROM (the fake's
#     "hold"), before any message of it was whole: none was handed over, so
#     none is outcome_unknown: each is sent once after the restart.
# And STORE_TZ, whose wall clock the SMS quiet hours are read on, must name a
# zone of tzdata: Asia/Yekaterinburg runs, a misspelt Europe/Moskow (which
# the C library would take for UTC without a word) is refused at start.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/kit/kit.sh"
source "$(dirname "$0")/payment/payment.sh"
source "$(dirname "$0")/notify/notify.sh"

BATCH=6
AHEAD=3
nt_dbs
pay_dbs
kit_start_busd
pay_start_orderfeed
mkdir -p "$NT_MAIL_DIR"
it_start fakesmtp env FAKE_SMTP_ADDR="127.0.0.1:$NT_SMTP_PORT" \
    FAKE_SMTP_CONTROL_ADDR="${NT_SMTP_CONTROL#http://}" FAKE_SMTP_CERT_OUT="$NT_SMTP_CA" \
    FAKE_SMTP_USER="$NT_SMTP_USER" FAKE_SMTP_PASSWORD="$NT_SMTP_PASSWORD" \
    FAKE_SMTP_DIR="$NT_MAIL_DIR" FAKE_SMTP_LATENCY=200ms "$IT_BIN/fakesmtp"
it_wait_until 20 "the fake SMTP server up" curl -fsS -o /dev/null --max-time 2 "$NT_SMTP_CONTROL/healthz"
out=$(timeout 30 bash -c "$(nt_command STORE_TZ=Europe/Moskow)" 2>&1) &&
    it_fail "the service started with STORE_TZ=Europe/Moskow"
grep -q "STORE_TZ must name a time zone of tzdata" <<<"$out" ||
    it_fail "a misspelt STORE_TZ refused without saying why: $(tail -3 <<<"$out")"
# the lease outlasts the longest wait between a batch's keepalives (one
# call, at most NOTIFY_SEND_TIMEOUT; 200 ms here) by a margin a loaded
# machine keeps, and is what a restart after each kill -9 waits out
notify_start() {
    nt_start notify1 REPLAY_PEERS=order=tcp://127.0.0.1:$ORDERFEED_REPLAY JOB_WORKERS=1 \
        NOTIFY_SEND_BATCH=$BATCH NOTIFY_HANDED_AHEAD=$AHEAD NOTIFY_SEND_TIMEOUT=5s JOB_LEASE=8s \
        STORE_TZ=Asia/Yekaterinburg
}
notify_start

publish() { # TYPE TAG FROM TO
    nt_feed_events "$1" "$2" "$3" "$4" "$IT_RUN/feed.json"
    curl -fsS -o /dev/null --max-time 30 -H 'Content-Type: application/json' \
        --data-binary @"$IT_RUN/feed.json" "http://127.0.0.1:$ORDERFEED_HTTP/v1/publish" ||
        it_fail "publishing $1 $2"
}
known() { [ "$(nt_sql "SELECT count(*) FROM notification.orders")" -ge "$1" ]; }
# one statement: two counts read apart let a batch of 30 recorded between them pass
# for 30 ended ("none pending" read before, "30 in all" after)
none_pending() {
    [ "$(nt_sql "SELECT count(*) FILTER (WHERE status = 'pending') = 0 AND count(*) >= $1
                 FROM notification.deliveries")" = t ]
}
# "<delivery id> <times at the server>" of every message the server kept
at_server() {
    nt_mail_json | jq -r '.messages[].headers["Message-ID"] | ltrimstr("<") | split("@")[0]' |
        sort | uniq -c | awk '{ print $2, $1 }' >"$IT_RUN/at_server.txt"
}
times_at_server() { # WHERE-clause: the deliveries matching, "<id> <status> <times>"
    at_server
    nt_sql "SELECT delivery_id, status, coalesce(nullif(error_code, ''), '-') FROM notification.deliveries WHERE $1" |
        tr '|' ' ' | awk -v kept="$IT_RUN/at_server.txt" '
            BEGIN { while ((getline line < kept) > 0) { split(line, f, " "); n[f[1]] = f[2] } }
            { print $1, $2, $3, ($1 in n ? n[$1] : 0) }' -
}

# --- a queue of emails: taken, sent and recorded in batches ---------------------------
publish order.placed 1 1 30
publish order.placed 2 1 18
it_wait_until 30 "48 orders known" known 48
publish order.status_changed 1 1 30
it_wait_until 60 "30 emails ended" none_pending 30
times_at_server "event_type = 'order.status_changed'" >"$IT_RUN/first.txt"
it_assert_eq 30 "$(awk '$2 == "sent" && $4 == 1' "$IT_RUN/first.txt" | wc -l)" "emails sent, each once at the server"
groups=$(nt_sql "SELECT count(DISTINCT finished_at) FROM notification.deliveries")
largest=$(nt_sql "SELECT max(n) FROM (SELECT count(*) n FROM notification.deliveries GROUP BY finished_at) x")
[ "$groups" -lt 30 ] || it_fail "30 emails recorded in $groups transactions: no batch"
[ "$largest" -le "$BATCH" ] || it_fail "$largest emails recorded together, over NOTIFY_SEND_BATCH=$BATCH"
it_log "30 emails recorded in $groups transactions, the largest of $largest"

# --- killed -9 mid-batch: each message sent once or reported, never twice -------------
publish order.status_changed 2 1 18
mid_batch() { # some of wave 2 at the server, and a batch of several in hand
    [ "$(nt_mail_json | jq '.messages | length')" -ge 32 ] &&
        [ "$(nt_sql "SELECT count(*) FROM notification.jobs WHERE state = 'running'")" -ge 2 ]
}
it_wait_until 30 "a batch half sent" mid_batch
it_kill notify1 KILL
held=$(nt_sql "SELECT count(*) FROM notification.jobs WHERE state = 'running'")
it_log "killed with $held sends in hand"
notify_start
it_wait_until 60 "48 emails ended" none_pending 48
times_at_server "event_type = 'order.status_changed'" >"$IT_RUN/all.txt"
it_assert_eq 0 "$(awk '$4 > 1' "$IT_RUN/all.txt" | wc -l)" "messages at the server more than once"
it_assert_eq 0 "$(awk '$2 == "sent" && $4 != 1' "$IT_RUN/all.txt" | wc -l)" "sent messages not at the server once"
it_assert_eq 0 "$(awk '$2 != "sent" && !($2 == "outcome_unknown" && $3 == "interrupted")' "$IT_RUN/all.txt" | wc -l)" \
    "messages neither sent nor reported interrupted"
unknown=$(awk '$2 == "outcome_unknown"' "$IT_RUN/all.txt" | wc -l)
[ "$unknown" -ge 1 ] || it_fail "no message of the killed batch was reported"
# one worker, one batch in hand: its marks reach at most AHEAD messages past those sent
unsent=$(awk '$2 == "outcome_unknown" && $4 == 0' "$IT_RUN/all.txt" | wc -l)
[ "$unsent" -le "$AHEAD" ] ||
    it_fail "$unsent messages reported outcome_unknown never reached the server, over NOTIFY_HANDED_AHEAD=$AHEAD"
it_log "after the kill: $(awk '$2 == "sent"' "$IT_RUN/all.txt" | wc -l) sent, $unknown reported outcome_unknown" \
    "($(awk '$2 == "outcome_unknown" && $4 == 1' "$IT_RUN/all.txt" | wc -l) of them at the server)"

# --- killed -9 while its SMTP session waits before the message is whole: nothing of
# that batch was handed over, so nothing is reported unknown: each is sent once -------
publish order.placed 3 1 6
it_wait_until 30 "54 orders known" known 54
curl -fsS -o /dev/null --max-time 5 -H 'Content-Type: application/json' \
    -d '{"stage":"mail","action":"hold","hold_ms":20000}' "$NT_SMTP_CONTROL/_fake/faults" ||
    it_fail "arming the fake's hold at MAIL FROM"
publish order.status_changed 3 1 6
held_at_mail() { [ "$(curl -fsS --max-time 5 "$NT_SMTP_CONTROL/_fake/stats" | jq .held)" = 1 ]; }
it_wait_until 30 "a batch waiting at MAIL FROM" held_at_mail
before=$(nt_mail_json | jq '.messages | length')
it_kill notify1 KILL
held=$(nt_sql "SELECT count(*) FROM notification.jobs WHERE state = 'running'")
[ "$held" -ge 1 ] || it_fail "no send in hand when killed at MAIL FROM"
notify_start
it_wait_until 60 "54 emails ended" none_pending 54
times_at_server "event_type = 'order.status_changed' AND order_id::text LIKE '00000003-%'" >"$IT_RUN/third.txt"
it_assert_eq 6 "$(awk '$2 == "sent" && $4 == 1' "$IT_RUN/third.txt" | wc -l)" \
    "emails of the batch killed before handing anything over sent, each once at the server"
it_assert_eq 0 "$(nt_count "order_id::text LIKE '00000003-%' AND status = 'outcome_unknown'")" \
    "emails reported outcome_unknown though never handed over"
it_log "killed at MAIL FROM with $held sends in hand ($before messages at the server): all 6 sent once after the restart"
