# notify.sh — sourced by the notification service's integration tests
# (after lib.sh): the three fakes (SMTP keeping .eml files, the SMS.ru
# gateway, the Bot API) and the notification service on fixed loopback
# ports, with helpers to read what was sent.
#
# Ports: notification http 28140, replay 25640; fake SMTP 28141 (control
# 28142); fake SMS 28143; fake Telegram 28144.

NT_HTTP=28140
NT_REPLAY=25640
NT_SMTP_PORT=28141
NT_SMTP_CONTROL="http://127.0.0.1:28142"
NT_SMS_URL="http://127.0.0.1:28143"
NT_TG_URL="http://127.0.0.1:28144"
NT_URL="http://127.0.0.1:$NT_HTTP"
NT_MAIL_DIR="$IT_RUN/mail"
NT_SMTP_CA="$IT_RUN/fakesmtp-cert.pem"
NT_SMTP_USER=it-shop
NT_SMTP_PASSWORD="it-$RANDOM-smtp"
NT_SMS_API_ID="it-$RANDOM-api-id"
NT_TG_TOKEN="4242:it-$RANDOM-token"
NT_STAFF_CHAT=1001
NT_OPTOUT_KEY="it-optout-key-$RANDOM-0123456789abcdef0123"

nt_dbs() {
    NT_ENV=$(it_service_db notification)
}

# nt_start_fakes: the SMTP server, the SMS gateway and the Bot API. A held
# SMS answer (NT_SMS_HOLD, 8 s) outlasts the service's NOTIFY_SEND_TIMEOUT (4 s)
# by a margin a loaded machine keeps: a send slower than 1 s under load is
# not a lost answer
nt_start_fakes() {
    mkdir -p "$NT_MAIL_DIR"
    it_start fakesmtp env FAKE_SMTP_ADDR="127.0.0.1:$NT_SMTP_PORT" \
        FAKE_SMTP_CONTROL_ADDR="${NT_SMTP_CONTROL#http://}" FAKE_SMTP_CERT_OUT="$NT_SMTP_CA" \
        FAKE_SMTP_USER="$NT_SMTP_USER" FAKE_SMTP_PASSWORD="$NT_SMTP_PASSWORD" \
        FAKE_SMTP_DIR="$NT_MAIL_DIR" "$IT_BIN/fakesmtp"
    it_start fakesms env FAKE_SMS_ADDR="${NT_SMS_URL#http://}" FAKE_SMS_API_ID="$NT_SMS_API_ID" \
        FAKE_SMS_HOLD=${NT_SMS_HOLD:-8s} "$IT_BIN/fakesms"
    it_start faketelegram env FAKE_TELEGRAM_ADDR="${NT_TG_URL#http://}" \
        FAKE_TELEGRAM_TOKEN="$NT_TG_TOKEN" FAKE_TELEGRAM_CHATS=$NT_STAFF_CHAT "$IT_BIN/faketelegram"
    local url
    for url in "$NT_SMTP_CONTROL" "$NT_SMS_URL" "$NT_TG_URL"; do
        it_wait_until 20 "the fake at $url up" curl -fsS -o /dev/null --max-time 2 "$url/healthz"
    done
}

# nt_command [VAR=VALUE ...]: the command line (for bash -c) of the
# notification service, told of the fakes
nt_command() {
    echo "$NT_ENV
        exec env BUS_PUB_ENDPOINT=$KIT_BUS_IN BUS_SUB_ENDPOINT=$KIT_BUS_OUT \
        HTTP_ADDR=127.0.0.1:$NT_HTTP REPLAY_ADDR=tcp://127.0.0.1:$NT_REPLAY \
        REDIS_URL=$TEST_REDIS_URL BUS_CERT=$(it_key service notification) \
        JOB_POLL=100ms JOB_BACKOFF_BASE=200ms JOB_BACKOFF_MAX=1s JOB_LEASE=3s \
        NOTIFY_SMTP_URL=smtp://127.0.0.1:$NT_SMTP_PORT NOTIFY_SMTP_CA=$NT_SMTP_CA \
        NOTIFY_SMTP_USER=$NT_SMTP_USER NOTIFY_SMTP_PASSWORD=$NT_SMTP_PASSWORD \
        NOTIFY_MAIL_FROM=shop@conveyor.test NOTIFY_SHOP_NAME='Магазин Конвейер' \
        NOTIFY_SMS_URL=$NT_SMS_URL NOTIFY_SMS_API_ID=$NT_SMS_API_ID \
        NOTIFY_TELEGRAM_URL=$NT_TG_URL NOTIFY_TELEGRAM_TOKEN=$NT_TG_TOKEN \
        NOTIFY_STAFF_CHAT=$NT_STAFF_CHAT NOTIFY_OPTOUT_KEY=$NT_OPTOUT_KEY \
        NOTIFY_PUBLIC_URL=$NT_URL NOTIFY_SMS_QUIET_HOURS=off NOTIFY_SEND_TIMEOUT=4s \
        NOTIFY_MAX_ATTEMPTS=4 NOTIFY_ORDER_URL=http://127.0.0.1:${ORDER_HTTP_BASE:-2818}1 \
        NOTIFY_PAYMENT_URL=http://127.0.0.1:${PAY_HTTP:-28130} $* \"$IT_BIN/notification\""
}

# nt_start NAME [VAR=VALUE ...]: the notification service, told of the fakes
nt_start() {
    local name=$1
    shift
    it_start "$name" bash -c "$(nt_command "$@")"
    it_wait_until 30 "$name ready" kit_http_ok $NT_HTTP /readyz
}

nt_sql() {
    it_psql "$1"
}

# nt_api METHOD PATH [BODY]: as an admin, "<status> <body>"
nt_api() {
    [ -n "${NT_ADMIN_TOKEN:-}" ] || NT_ADMIN_TOKEN=$(it_token admin it-admin)
    it_http "$1" "$NT_URL$2" "${3:-}" "Authorization: Bearer $NT_ADMIN_TOKEN"
}

# nt_deliveries ORDER: "channel:status:trigger" of the order's log, oldest first
nt_deliveries() {
    nt_sql "SELECT coalesce(string_agg(channel || ':' || status || ':' || trigger_id, ' '
            ORDER BY created_at, trigger_id), '') FROM notification.deliveries WHERE order_id = '$1'"
}
nt_count() { # WHERE-clause: deliveries matching
    nt_sql "SELECT count(*) FROM notification.deliveries WHERE $1"
}
nt_settled() { # ORDER: no delivery of the order pending
    [ "$(nt_count "order_id = '$1' AND status = 'pending'")" = 0 ]
}

# the fakes' logs: subjects of the kept mail (decoded), SMS texts, Telegram texts
nt_mail_json() { curl -fsS --max-time 5 "$NT_SMTP_CONTROL/_fake/messages"; }
nt_sms_json() { curl -fsS --max-time 5 "$NT_SMS_URL/_fake/messages"; }
nt_tg_json() { curl -fsS --max-time 5 "$NT_TG_URL/_fake/messages"; }
nt_eml_count() { find "$NT_MAIL_DIR" -name '*.eml' | wc -l; }
# nt_pdf_text MAIL_JSON N: the text (pdftotext) of the email's Nth attachment
nt_pdf_text() {
    jq -r ".attachments[$2].base64" <<<"$1" | base64 -d >"$IT_RUN/attachment.pdf" ||
        it_fail "attachment $2 is not base64"
    pdftotext -q "$IT_RUN/attachment.pdf" - || it_fail "attachment $2 is not a PDF pdftotext reads"
}

# nt_feed_events TYPE TAG FROM TO FILE: order.placed or order.status_changed
# for orders FROM..TO of TAG, as one factfeed publish body (a customer with an
# email, no phone: one email per status)
nt_feed_events() {
    awk -v type="$1" -v tag="$2" -v from="$3" -v to="$4" 'BEGIN {
        printf "{\"events\":["
        for (i = from; i <= to; i++) {
            id = sprintf("%08x-0000-4000-8000-%012x", tag, i)
            if (type == "order.placed")
                p = sprintf("{\"order_id\":\"%s\",\"version\":1,\"number\":%d,\"title\":\"No. %d\",\"customer\":{\"customer_id\":\"%08x-1111-4000-8000-%012x\",\"name\":\"Иван Петров\",\"email\":\"bench%d@example.ru\"},\"delivery\":{\"method\":\"DELIVERY_METHOD_COURIER\"},\"lines\":[{\"line_no\":1,\"sku\":\"LAMP\",\"name\":\"Лампа настольная\",\"quantity\":2}],\"currency\":\"RUB\"}", id, tag * 100000 + i, tag * 100000 + i, tag, i, i)
            else
                p = sprintf("{\"order_id\":\"%s\",\"version\":2,\"number\":%d,\"from_status\":\"\",\"to_status\":\"new\",\"group\":\"new\"}", id, tag * 100000 + i)
            printf "%s{\"type\":\"%s\",\"payload\":%s}", (i > from ? "," : ""), type, p
        }
        printf "]}"
    }' >"$5"
}
