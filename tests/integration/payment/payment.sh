# payment.sh — sourced by the payment service's integration tests: the
# fake bank, factfeed standing in for the order stream, and the payment
# service on fixed loopback ports, with helpers to read what it did.
#
# Ports: payment http 28130, replay 25630; the fake bank 28131; the order
# stream's stand-in http 28132, replay 25632; busd from kit.sh.

PAY_HTTP=28130
PAY_REPLAY=25630
FAKE_PORT=${FAKE_PORT:-28131} # the journey moves it off inventory replica 1's port
ORDERFEED_HTTP=28132
ORDERFEED_REPLAY=25632
FAKE_BANK_URL="http://127.0.0.1:$FAKE_PORT"
PAY_URL="http://127.0.0.1:$PAY_HTTP"
SBER_USER=it-shop
SBER_PASSWORD="it-$RANDOM-password"
SBER_KEY="it-$RANDOM-callback-key"
YOO_SHOP=424242
YOO_SECRET="test_$RANDOM"

# pay_dbs: the payment service's and the order stand-in's schemas.
pay_dbs() {
    PAY_ENV=$(it_service_db payment)
    ORDERFEED_ENV=$(it_service_db orderfeed)
}

# pay_start_fake [VAR=VALUE ...]: the fake bank, notifying the payment service.
pay_start_fake() {
    it_start fakebank env FAKE_BANK_ADDR="127.0.0.1:$FAKE_PORT" \
        FAKE_BANK_SBER_USER=$SBER_USER FAKE_BANK_SBER_PASSWORD="$SBER_PASSWORD" \
        FAKE_BANK_SBER_CALLBACK_KEY="$SBER_KEY" FAKE_BANK_YOOKASSA_SHOP_ID=$YOO_SHOP \
        FAKE_BANK_YOOKASSA_SECRET="$YOO_SECRET" \
        FAKE_BANK_SBER_CALLBACK_URL="$PAY_URL/v1/webhooks/sberbank" \
        FAKE_BANK_YOOKASSA_WEBHOOK_URL="$PAY_URL/v1/webhooks/yookassa" \
        FAKE_BANK_NOTIFY_RETRY=300ms FAKE_BANK_LOSE_REPLY=3s "$@" "$IT_BIN/fakebank"
    it_wait_until 20 "the fake bank up" curl -fsS -o /dev/null --max-time 2 "$FAKE_BANK_URL/healthz"
}

# pay_start_orderfeed: factfeed publishing the order stream.
pay_start_orderfeed() {
    it_start orderfeed bash -c "$ORDERFEED_ENV
        exec env FEED_STREAM=order BUS_PUB_ENDPOINT=$KIT_BUS_IN BUS_SUB_ENDPOINT=$KIT_BUS_OUT \
        HTTP_ADDR=127.0.0.1:$ORDERFEED_HTTP REPLAY_ADDR=tcp://127.0.0.1:$ORDERFEED_REPLAY \
        REDIS_URL=$TEST_REDIS_URL BUS_CERT=$(it_key service order) \"$IT_BIN/factfeed\""
    it_wait_until 30 "the order stream's stand-in ready" kit_http_ok $ORDERFEED_HTTP /readyz
}

# pay_start NAME PROVIDER [VAR=VALUE ...]: the payment service with the store's bank.
pay_start() {
    local name=$1 provider=$2 login password
    shift 2
    if [ "$provider" = sberbank ]; then login=$SBER_USER password=$SBER_PASSWORD; else
        login=$YOO_SHOP password=$YOO_SECRET; fi
    it_start "$name" bash -c "$PAY_ENV
        exec env BUS_PUB_ENDPOINT=$KIT_BUS_IN BUS_SUB_ENDPOINT=$KIT_BUS_OUT \
        HTTP_ADDR=127.0.0.1:$PAY_HTTP REPLAY_ADDR=tcp://127.0.0.1:$PAY_REPLAY \
        REDIS_URL=$TEST_REDIS_URL BUS_CERT=$(it_key service payment) \
        REPLAY_PEERS=order=tcp://127.0.0.1:$ORDERFEED_REPLAY JOB_POLL=100ms \
        PAYMENT_PROVIDER=$provider PAYMENT_BANK_URL=$FAKE_BANK_URL PAYMENT_BANK_LOGIN=$login \
        PAYMENT_BANK_PASSWORD='$password' PAYMENT_CALLBACK_KEY='$SBER_KEY' \
        PAYMENT_RETURN_URL=https://shop.example/thanks PAYMENT_BANK_TIMEOUT=2s \
        PAYMENT_CALLBACK_URL=$PAY_URL/v1/webhooks/sberbank $* \"$IT_BIN/payment\""
    it_wait_until 30 "$name ready" kit_http_ok $PAY_HTTP /readyz
}

http_code() { echo "${1%% *}"; }
http_body() { echo "${1#* }"; }

pay_sql() {
    it_psql "$1"
}

# order_event TYPE PAYLOAD_JSON: one order-stream fact
order_event() {
    local out
    out=$(it_http POST "http://127.0.0.1:$ORDERFEED_HTTP/v1/publish" \
        "{\"events\":[{\"type\":\"$1\",\"payload\":$2}]}")
    [ "$(http_code "$out")" = 201 ] || it_fail "publishing $1: $out"
}

# confirm ORDER_ID NUMBER TERMS: order.confirmed of a lamp x2 at 1,500.00
# less 299.99 and 350.00 delivery: 3,050.01 in all
confirm() {
    order_event order.confirmed "{\"order_id\":\"$1\",\"version\":3,\"number\":$2,
      \"customer\":{\"name\":\"Ivan Petrov\",\"email\":\"ivan@example.ru\",\"phone\":\"+79991234567\"},
      \"lines\":[{\"line_no\":1,\"sku\":\"LAMP\",\"name\":\"Лампа настольная\",\"quantity\":2,
        \"unit_price_minor\":150000,\"vat_rate_bp\":2000,\"amount_minor\":300000,
        \"discount_minor\":29999,\"total_minor\":270001}],
      \"totals\":{\"lines_minor\":300000,\"discount_minor\":29999,\"delivery_minor\":35000,
        \"total_minor\":305001,\"currency\":\"RUB\"},
      \"payment_terms\":\"${3:-PAYMENT_TERMS_PREPAY}\",\"due_minor\":305001}"
}

invoice_field() { # ORDER FIELD [STATUS]: a field of the order's newest invoice
    pay_sql "SELECT $2 FROM payment.invoices WHERE order_id = '$1' ${3:+AND status = '$3'}
             ORDER BY created_at DESC LIMIT 1"
}
invoice_is() { [ "$(invoice_field "$1" status)" = "$2" ]; }
order_money() { pay_sql "SELECT $2 FROM payment.orders WHERE order_id = '$1'"; }
payment_status_is() { [ "$(order_money "$1" status)" = "$2" ]; }
events_of() { # ORDER TYPE: how many of the payment stream's events
    pay_sql "SELECT count(*) FROM payment.outbox WHERE correlation_id = '$1' AND type = '$2'"
}
has_event() { [ "$(events_of "$1" "$2")" -ge "${3:-1}" ]; }
ledger_rows() { pay_sql "SELECT count(*) FROM payment.ledger WHERE order_id = '$1' AND kind = '$2'"; }
refund_is() { [ "$(pay_sql "SELECT string_agg(status, ',' ORDER BY created_at) FROM payment.refunds WHERE order_id = '$1'")" = "$2" ]; }

# pay_at_bank ORDER [ACTION [AMOUNT]]: the customer on the bank's page
pay_at_bank() {
    local url
    url=$(invoice_field "$1" payment_url open)
    [ -n "$url" ] || it_fail "order $1 has no open payment link"
    curl -fsS -o /dev/null --max-time 5 -X POST "$url" -d "action=${2:-pay}" ${3:+-d "amount=$3"} ||
        it_fail "paying $1 at the bank"
}

fake_fault() { # JSON: a failure armed at the fake
    curl -fsS -o /dev/null --max-time 5 -X POST "$FAKE_BANK_URL/_fake/faults" \
        -H 'Content-Type: application/json' -d "$1" || it_fail "arming $1"
}
fake_notice_fault() {
    curl -fsS -o /dev/null --max-time 5 -X POST "$FAKE_BANK_URL/_fake/notices/faults" \
        -H 'Content-Type: application/json' -d "$1" || it_fail "arming $1"
}

fake_get() { # PATH: a GET of the fake's control API
    curl -fsS --max-time 5 "$FAKE_BANK_URL$1" || it_fail "GET $1 at the fake"
}
fake_stat() { # NAME: one of /_fake/stats's counts
    fake_get /_fake/stats | jq -r ".$1"
}
fake_requests() { # PROVIDER OP [KEY]: how many calls of op the fake received (with that key)
    fake_get "/_fake/requests?provider=$1&op=$2" |
        jq --arg key "${3:-}" '[.requests[] | select($key == "" or .idempotence_key == $key)] | length'
}

# fire_at_once COUNT OUTPUT COMMAND...: COMMAND (a curl printing its status)
# COUNT times concurrently; the statuses, one a line, into OUTPUT
fire_at_once() {
    local count=$1 output=$2 i
    shift 2
    local pids=()
    for i in $(seq 1 "$count"); do
        "$@" >"$output.$i" &
        pids+=($!)
    done
    wait "${pids[@]}"
    cat "$output".[0-9]* >"$output"
    rm -f "$output".[0-9]*
}

# pay_order_stack: busd, the order service (order1), inventory (inv)
# following its stream, the payment service (pay1) on the fake Sberbank;
# one manager on shift (boris; as_boris his token) and the catalogue
# CATALOGUE (an inventory import's JSON body) if given, else a desk lamp
# (LAMP, 2,500.00, 20 on hand). kit.sh, inventory.sh and order.sh are
# sourced first, FAKE_PORT set off inventory's replica port.
pay_order_stack() {
    local catalogue=${1:-'{"products": [
      {"sku": "LAMP", "name": "Desk lamp", "price_minor": 250000, "vat_rate_bp": 2000, "weight_g": 900, "on_hand": 20}]}'}
    kit_dbs
    order_dbs
    inv_dbs
    pay_dbs
    kit_start_busd
    INV_FEED_REPLAY=tcp://127.0.0.1:25561 # inventory follows the real order stream
    pay_start_fake
    order_start order1 1 \
        REPLAY_PEERS=inventory=tcp://127.0.0.1:25631,payment=tcp://127.0.0.1:$PAY_REPLAY \
        JOB_POLL=100ms
    inv_start_ready inv 1
    pay_start pay1 sberbank REPLAY_PEERS=order=tcp://127.0.0.1:25561
    order_sources
    boris=$(order_staff boris "Boris Petrov" manager '[]' 100)
    order_shift "$boris" true
    as_boris=$(it_token manager "$boris")
    inv_api_ok POST /v1/imports "$catalogue" >/dev/null
}
