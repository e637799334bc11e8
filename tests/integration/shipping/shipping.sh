# shipping.sh — sourced by the shipping service's integration tests: the
# fake carrier and shipping replicas on fixed loopback ports, with helpers
# to read what they did.
#
# Ports: shipping replica N http 2814N (SHIP_HTTP_BASE, 2814, moves them:
# the notification fakes hold 2814x), replay 2564N; the fake carrier 28149.

SHIP_CARRIER_PORT=28149
SHIP_CARRIER_URL="http://127.0.0.1:$SHIP_CARRIER_PORT"
SHIP_API_KEY="it-$RANDOM-carrier-key"
SHIP_SECRET="it-$RANDOM-webhook-secret-0123456789"
SHIP_PEERS="shipping=tcp://127.0.0.1:25641"
SHIP_HTTP_BASE=${SHIP_HTTP_BASE:-2814}

ship_dbs() {
    SHIP_ENV=$(it_service_db shipping)
}

# ship_start_fake [VAR=VALUE ...]: the fake carrier.
ship_start_fake() {
    it_start fakecarrier env FAKE_CARRIER_ADDR="127.0.0.1:$SHIP_CARRIER_PORT" \
        FAKE_CARRIER_API_KEY="$SHIP_API_KEY" FAKE_CARRIER_WEBHOOK_RETRY=200ms \
        FAKE_CARRIER_BATCH_TIME=100ms "$@" "$IT_BIN/fakecarrier"
    it_wait_until 20 "the fake carrier up" curl -fsS -o /dev/null --max-time 2 "$SHIP_CARRIER_URL/readyz"
}

# ship_start NAME N [VAR=VALUE ...]: shipping replica N, following the order stream
ship_start() {
    local name=$1 n=$2
    shift 2
    it_start "$name" bash -c "$SHIP_ENV
        exec env BUS_PUB_ENDPOINT=$KIT_BUS_IN BUS_SUB_ENDPOINT=$KIT_BUS_OUT \
        HTTP_ADDR=127.0.0.1:$SHIP_HTTP_BASE$n REPLAY_ADDR=tcp://127.0.0.1:2564$n \
        REPLAY_PEERS=order=tcp://127.0.0.1:25561 REDIS_URL=$TEST_REDIS_URL \
        BUS_CERT=$(it_key service shipping) JOB_POLL=100ms JOB_BACKOFF_BASE=200ms \
        JOB_BACKOFF_MAX=2s SHIPPING_CARRIER_URL=$SHIP_CARRIER_URL \
        SHIPPING_CARRIER_API_KEY='$SHIP_API_KEY' SHIPPING_CARRIER_TIMEOUT=1s \
        SHIPPING_WEBHOOK_URL=http://127.0.0.1:$SHIP_HTTP_BASE$n/v1/webhooks/carrier \
        SHIPPING_WEBHOOK_SECRET='$SHIP_SECRET' SHIPPING_TRACK_POLL=1s $* \"$IT_BIN/shipping\""
    it_wait_until 30 "shipping replica $n ready" kit_http_ok "$SHIP_HTTP_BASE$n" /readyz
}

ship_sql() {
    it_psql "SET search_path = shipping; $1"
}

# ship_field ORDER COLUMN: a column of the order's shipment
ship_field() {
    ship_sql "SELECT $2 FROM shipments WHERE order_id = '$1'"
}
ship_state_is() { [ "$(ship_field "$1" state)" = "$2" ]; }
ship_quote_is() { [ "$(ship_field "$1" quote_state)" = "$2" ]; }

# ship_events ORDER: the types the shipping stream published about it, in order
ship_events() {
    ship_sql "SELECT string_agg(type, ' ' ORDER BY id) FROM outbox WHERE correlation_id = '$1'"
}

fake_carrier() { # METHOD PATH [BODY]
    curl -fsS --max-time 10 -X "$1" "$SHIP_CARRIER_URL$2" \
        ${3:+-H 'Content-Type: application/json' --data-binary "$3"}
}

# ship_track ORDER CODE: the parcel moves at the carrier (a webhook follows)
ship_track() {
    local number
    number=$(ship_field "$1" tracking_number)
    fake_carrier POST /_fake/track "{\"tracking_number\":\"$number\",\"status_code\":\"$2\"}" >/dev/null
}
