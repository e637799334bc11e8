#!/usr/bin/env bash
# The notification service's channel adapters (services/notification/
# adapters/) against the fakes (tests/fakes/smtp, sms, telegram), over
# loopback: notifycheck sends through each adapter and reads back what the
# fake received — a long Cyrillic subject and names decoded back exactly,
# the text, the HTML and two PDF attachments byte for byte, every envelope
# recipient — and reaches each result class the way the provider produces
# it: SMTP 421/451/450/454 transient, 535/550/554 rejected, STARTTLS hidden
# or refused (nothing said in clear), a drop after the final dot (unknown,
# kept or not); SMS.ru's codes per request and per number, a timeout and a
# 502 after sending; Telegram's 429 with retry_after, 403, 400, 401, bad
# HTML, a timeout and a 5xx. This script also checks the fakes' own bounds.
source "$(dirname "$0")/lib.sh"

SMTP_PORT=28125 SMTP_CONTROL_PORT=28126 SMS_PORT=28127 TG_PORT=28128
export NOTIFY_SMTP_URL="smtp://127.0.0.1:$SMTP_PORT"
export NOTIFY_SMTP_CONTROL="http://127.0.0.1:$SMTP_CONTROL_PORT"
export NOTIFY_SMTP_CA="$IT_RUN/fakesmtp-cert.pem"
export NOTIFY_SMTP_USER=it-shop NOTIFY_SMTP_PASSWORD="it-$RANDOM-smtp"
export NOTIFY_SMS_URL="http://127.0.0.1:$SMS_PORT" NOTIFY_SMS_API_ID="it-$RANDOM-api-id"
export NOTIFY_TELEGRAM_URL="http://127.0.0.1:$TG_PORT" NOTIFY_TELEGRAM_TOKEN="4242:it-$RANDOM-token"
mkdir -p "$IT_RUN/mail"

it_start fakesmtp env FAKE_SMTP_ADDR="127.0.0.1:$SMTP_PORT" \
    FAKE_SMTP_CONTROL_ADDR="127.0.0.1:$SMTP_CONTROL_PORT" FAKE_SMTP_CERT_OUT="$NOTIFY_SMTP_CA" \
    FAKE_SMTP_USER="$NOTIFY_SMTP_USER" FAKE_SMTP_PASSWORD="$NOTIFY_SMTP_PASSWORD" \
    FAKE_SMTP_DIR="$IT_RUN/mail" FAKE_SMTP_MAX_SIZE=1048576 "$IT_BIN/fakesmtp"
it_start fakesms env FAKE_SMS_ADDR="127.0.0.1:$SMS_PORT" FAKE_SMS_API_ID="$NOTIFY_SMS_API_ID" \
    FAKE_SMS_HOLD=3s "$IT_BIN/fakesms"
it_start faketelegram env FAKE_TELEGRAM_ADDR="127.0.0.1:$TG_PORT" \
    FAKE_TELEGRAM_TOKEN="$NOTIFY_TELEGRAM_TOKEN" FAKE_TELEGRAM_CHATS=1001,666 \
    FAKE_TELEGRAM_BLOCKED=666 FAKE_TELEGRAM_HOLD=3s "$IT_BIN/faketelegram"

up() {
    curl -fsS -o /dev/null --max-time 2 "$1/healthz"
}
it_wait_until 20 "the fake SMTP server up" up "$NOTIFY_SMTP_CONTROL"
it_wait_until 20 "the fake SMS gateway up" up "$NOTIFY_SMS_URL"
it_wait_until 20 "the fake Bot API up" up "$NOTIFY_TELEGRAM_URL"
[ -s "$NOTIFY_SMTP_CA" ] || it_fail "the fake SMTP server wrote no certificate"

status_of() { # METHOD URL [BODY]: the HTTP status a fake answers (BODY @file: a file)
    curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X "$1" "$2" \
        ${3:+--data-binary "$3"}
}

# the fakes are servers too: bounded and strict with what they are told
it_assert_eq 422 "$(status_of POST "$NOTIFY_SMTP_CONTROL/_fake/faults" '{"stage":"explode","code":451}')" \
    "an unknown SMTP stage"
it_assert_eq 422 "$(status_of POST "$NOTIFY_SMTP_CONTROL/_fake/faults" '{"stage":"mail","code":250}')" \
    "an SMTP fault that is not a failure"
it_assert_eq 400 "$(status_of POST "$NOTIFY_SMS_URL/_fake/faults" 'not json')" "a control call that is not JSON"
it_assert_eq 422 "$(status_of POST "$NOTIFY_TELEGRAM_URL/_fake/faults" '{"kind":"explode"}')" "an unknown Telegram fault"
head -c 100000 /dev/zero | tr '\0' 'a' >"$IT_RUN/big.body"
it_assert_eq 413 "$(status_of POST "$NOTIFY_SMS_URL/sms/send" "@$IT_RUN/big.body")" "a 100 kB SMS request"
it_assert_eq 413 "$(status_of POST "$NOTIFY_TELEGRAM_URL/bot$NOTIFY_TELEGRAM_TOKEN/sendMessage" \
    "@$IT_RUN/big.body")" "a 100 kB Telegram request"

# the SMTP server refuses MAIL in clear, a line over its cap, a message over its size
smtp_talk() { # prints the server's replies to the commands on stdin
    timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$SMTP_PORT; cat >&3; timeout 1 cat <&3" 2>/dev/null
}
replies=$(printf 'EHLO it\r\nMAIL FROM:<a@b.c>\r\nQUIT\r\n' | smtp_talk)
[[ $replies == *'530 5.7.0 Must issue a STARTTLS'* ]] || it_fail "MAIL in clear answered: $replies"
[[ $replies == *'250-STARTTLS'* ]] || it_fail "STARTTLS not offered: $replies"
[[ $replies != *'AUTH'* ]] || it_fail "AUTH offered before TLS: $replies"
replies=$( (printf 'EHLO '; head -c 5000 /dev/zero | tr '\0' 'x'; printf '\r\nQUIT\r\n') | smtp_talk)
[[ $replies == *'500 5.5.2 Line too long'* ]] || it_fail "a 5000-byte line answered: $replies"
head -c 1100000 /dev/urandom | base64 -w 76 | sed 's/$/\r/' >"$IT_RUN/big.eml"
answer=$(curl -s --max-time 10 --url "$NOTIFY_SMTP_URL/it" --ssl-reqd --cacert "$NOTIFY_SMTP_CA" \
    --user "$NOTIFY_SMTP_USER:$NOTIFY_SMTP_PASSWORD" --mail-from '<a@b.c>' --mail-rcpt '<d@e.f>' \
    -T "$IT_RUN/big.eml" -w '%{response_code}' -o /dev/null)
it_assert_eq 552 "$answer" "a message over FAKE_SMTP_MAX_SIZE"

for channel in smtp sms telegram; do
    "$IT_BIN/notifycheck" "$channel" >"$IT_RUN/notifycheck-$channel.log" 2>&1 ||
        { cat "$IT_RUN/notifycheck-$channel.log"; it_fail "notifycheck $channel"; }
    cat "$IT_RUN/notifycheck-$channel.log"
done

# the kept mail is also on disk, as .eml, for people to read
ls "$IT_RUN"/mail/*.eml >/dev/null 2>&1 || it_fail "no .eml written to FAKE_SMTP_DIR"
grep -q '^Subject: =?UTF-8?B?' "$IT_RUN/mail/1.eml" || it_fail "1.eml has no encoded Subject"
it_stop fakesmtp
it_stop fakesms
it_stop faketelegram
it_log "notification channels: every class of SMTP, SMS.ru and Telegram met as expected"
