#!/usr/bin/env bash
# A send job that dies without recording its message's end must not hold up
# the later messages of its order (issue 12, "each message once, in the
# order of the order's events"): an order's next message to the same
# recipient by the same channel gets its send job only when the one before
# it ends (services/notification/dispatch.c, jobs.c). Here each first
# message's worker is lost mid-send (the service killed -9) and the kit
# gives its job up (NOTIFY_MAX_ATTEMPTS=1: the attempt found unfinished
# after the restart is past the last, common/jobs.c "attempts_exhausted"),
# so the handler never sees it again. The message ends with its job:
#   - an email held at MAIL FROM, never whole at the server (not handed):
#     `failed`, with notification.failed on the bus;
#   - an SMS the gateway took, its answer held (handed): `outcome_unknown`,
#     with notification.outcome_unknown on the bus, never sent again;
# and the message queued behind each goes out, once, after it. A message
# stuck so before this was fixed (its job dead, it pending, one behind it)
# is ended the same way by migration 008_dead_sends, and the one behind it
# goes.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/kit/kit.sh"
source "$(dirname "$0")/payment/payment.sh"
source "$(dirname "$0")/notify/notify.sh"

nt_dbs
pay_dbs
kit_start_busd
pay_start_orderfeed
NT_SMS_HOLD=60s nt_start_fakes
notify_start() {
    nt_start notify1 REPLAY_PEERS=order=tcp://127.0.0.1:$ORDERFEED_REPLAY JOB_WORKERS=2 \
        NOTIFY_SEND_BATCH=1 NOTIFY_MAX_ATTEMPTS=1 NOTIFY_SEND_TIMEOUT=30s JOB_LEASE=3s
}
notify_start

publish() { # BODY: a factfeed publish body on the order stream
    local out
    out=$(it_http POST "http://127.0.0.1:$ORDERFEED_HTTP/v1/publish" "$1")
    [ "$(http_code "$out")" = 201 ] || it_fail "publishing: $out"
}
placed() { # ORDER NUMBER EMAIL PHONE
    echo "{\"type\":\"order.placed\",\"payload\":{\"order_id\":\"$1\",\"version\":1,\"number\":$2,
      \"customer\":{\"customer_id\":\"${1%????}0000\",\"name\":\"Анна Смирнова\",\"email\":\"$3\",\"phone\":\"$4\"},
      \"delivery\":{\"method\":\"DELIVERY_METHOD_COURIER\"},
      \"lines\":[{\"line_no\":1,\"sku\":\"LAMP\",\"name\":\"Лампа\",\"quantity\":1}],\"currency\":\"RUB\"}}"
}
status() { # ORDER NUMBER VERSION TO
    echo "{\"type\":\"order.status_changed\",\"payload\":{\"order_id\":\"$1\",\"version\":$3,
      \"number\":$2,\"from_status\":\"\",\"to_status\":\"$4\",\"group\":\"$4\"}}"
}
row() { # ORDER CHANNEL N: "<status>" of the order's Nth message by the channel
    nt_sql "SELECT status FROM notification.deliveries WHERE order_id = '$1' AND channel = '$2'
            ORDER BY seq OFFSET $(($3 - 1)) LIMIT 1"
}
field() { # ORDER CHANNEL N COLUMN
    nt_sql "SELECT $4 FROM notification.deliveries WHERE order_id = '$1' AND channel = '$2'
            ORDER BY seq OFFSET $(($3 - 1)) LIMIT 1"
}
said() { # TYPE DELIVERY_ID: facts of that type naming the delivery in the outbox
    nt_sql "SELECT count(*) FROM notification.outbox WHERE type = '$1'
            AND position(convert_to('$2', 'UTF8') in payload) > 0"
}

# --- two orders, two messages each, the first of each to be lost mid-send ------------
oe=00000000-0000-4000-8000-00000000d0e1 # by email only
os=00000000-0000-4000-8000-00000000d0e2 # by SMS only
publish "{\"events\":[$(placed $oe 7001 anna@example.ru ''),$(placed $os 7002 '' '+79161234567')]}"
known() { [ "$(nt_sql "SELECT count(*) FROM notification.orders WHERE version > 0")" = 2 ]; }
it_wait_until 30 "both orders known" known
curl -fsS -o /dev/null --max-time 5 -H 'Content-Type: application/json' \
    -d '{"stage":"mail","action":"hold","hold_ms":60000}' "$NT_SMTP_CONTROL/_fake/faults" ||
    it_fail "arming the fake SMTP's hold at MAIL FROM"
curl -fsS -o /dev/null --max-time 5 -H 'Content-Type: application/json' \
    -d '{"op":"send","kind":"timeout","count":1}' "$NT_SMS_URL/_fake/faults" ||
    it_fail "arming the fake SMS gateway's held answer"
publish "{\"events\":[$(status $oe 7001 2 new),$(status $os 7002 2 new),
    $(status $oe 7001 3 awaiting_payment),$(status $os 7002 3 confirmed)]}"
it_wait_value 30 "the order's second email recorded" = pending row $oe email 2
it_wait_value 30 "the order's second SMS recorded" = pending row $os sms 2
held_at_mail() { [ "$(curl -fsS --max-time 5 "$NT_SMTP_CONTROL/_fake/stats" | jq .held)" = 1 ]; }
it_wait_until 30 "the first email held at MAIL FROM" held_at_mail
sms_kept() { [ "$(nt_sms_json | jq '.messages | length')" = 1 ]; }
it_wait_until 30 "the first SMS at the gateway, its answer held" sms_kept
it_wait_value 10 "the first SMS marked handed" = t field $os sms 1 handed
it_assert_eq f "$(field $oe email 1 handed)" "the held email marked handed"
it_kill notify1 KILL
it_assert_eq 2 "$(nt_sql "SELECT count(*) FROM notification.jobs WHERE state = 'running'")" \
    "sends in hand when killed"
it_log "killed with the first email held at MAIL FROM and the first SMS's answer held"

# --- the restart: the kit gives both jobs up; their messages end, the next ones go ----
notify_start
it_wait_value 30 "the email never handed over ended failed" = failed row $oe email 1
it_wait_value 30 "the SMS the gateway took ended outcome_unknown" = outcome_unknown row $os sms 1
it_assert_eq attempts_exhausted "$(field $oe email 1 error_code)" "the failed email's error"
it_wait_value 30 "the order's next email sent" = sent row $oe email 2
it_wait_value 30 "the order's next SMS sent" = sent row $os sms 2
it_assert_eq 2 "$(nt_sql "SELECT count(*) FROM notification.jobs WHERE kind = 'notify_send' AND state = 'dead'")" \
    "send jobs the kit gave up"
it_wait_value 10 "notification.failed said of the email" = 1 said notification.failed "$(field $oe email 1 delivery_id)"
it_wait_value 10 "notification.outcome_unknown said of the SMS" = 1 \
    said notification.outcome_unknown "$(field $os sms 1 delivery_id)"
# the email that failed is not at the server; the next is, once
mails=$(nt_mail_json | jq -r '.messages[] | select(.rcpts | index("anna@example.ru")) | .headers.Subject')
it_assert_eq 1 "$(grep -c . <<<"$mails")" "emails to the customer at the server"
# the SMS reported unknown is never sent again; the next follows it, once
texts=$(nt_sms_json | jq -r '.messages[].text')
it_assert_eq 2 "$(grep -c . <<<"$texts")" "SMS at the gateway"
it_assert_eq "7002" "$(head -1 <<<"$texts" | grep -o 7002)" "the first SMS names the order"
grep -q "$(nt_sql "SELECT label FROM notification.status_labels WHERE status = 'confirmed' AND language = 'ru'")" \
    <<<"$(tail -1 <<<"$texts")" || it_fail "the second SMS at the gateway is not the confirmation: $texts"
grep -q '"err":"send_job_dead"' "$IT_RUN/notify1.log" || it_fail "the dead send jobs were not logged"
it_log "dead send jobs ended their messages (failed / outcome_unknown, said on the bus); the next ones went"

# --- a message stuck before the fix: migration 008 ends it, the next one goes --------
it_stop notify1
nt_sql "INSERT INTO notification.deliveries (delivery_id, dedup_key, event_id, event_type, trigger_id,
          template, language, channel, recipient_kind, recipient, recipient_name, order_id,
          customer_id, subject, body, html, status)
        SELECT gen_random_uuid(), 'stuck:' || n, 'stuck-' || n, event_type, trigger_id, template,
          language, channel, recipient_kind, recipient, recipient_name, order_id, customer_id,
          subject || ' (stuck ' || n || ')', body, html, 'pending'
        FROM notification.deliveries, generate_series(1, 2) n
        WHERE order_id = '$oe' AND channel = 'email' AND status = 'sent' ORDER BY n" >/dev/null
nt_sql "INSERT INTO notification.jobs (kind, payload, dedup_key, state, outcome, attempts,
          max_attempts, started_at, finished_at, last_error)
        SELECT 'notify_send', json_build_object('id', delivery_id)::jsonb, dedup_key, 'dead',
          'outcome_unknown', 2, 1, now(), now(), 'attempts_exhausted'
        FROM notification.deliveries WHERE dedup_key = 'stuck:1'" >/dev/null
stuck() { # N: the status of stuck message N
    nt_sql "SELECT status FROM notification.deliveries WHERE dedup_key = 'stuck:$1'"
}
{ echo "SET search_path TO notification;"; cat "$(dirname "$0")/../../services/notification/migrations/008_dead_sends.sql"; } |
    psql -X -q -v ON_ERROR_STOP=1 "$TEST_DATABASE_URL" >/dev/null || it_fail "migration 008 did not apply"
notify_start
it_wait_value 30 "the message stuck behind a dead job ended failed" = failed stuck 1
it_wait_value 30 "the message stuck behind it sent" = sent stuck 2
it_wait_value 10 "notification.failed said of the stuck message" = 1 said notification.failed \
    "$(nt_sql "SELECT delivery_id FROM notification.deliveries WHERE dedup_key = 'stuck:1'")"
subjects=$(nt_mail_json | jq -r '.messages[].headers.Subject' | grep -c "stuck" || true)
it_assert_eq 1 "$subjects" "stuck messages at the server"
it_log "a message stuck behind a dead job before the fix: ended by migration 008, the next one sent"
