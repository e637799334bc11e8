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

# --- the batch tests' stack (test_shipping_batch*) ---------------------------------------------
# ship_batch_stack [FAKE VAR=VALUE ...]: the kit's databases and busd, the
# fake carrier, the order and inventory services; the shipping replicas
# are the test's own (ship_start), then ship_batch_people.
ship_batch_stack() {
    kit_dbs
    order_dbs
    inv_dbs
    ship_dbs
    kit_start_busd
    INV_FEED_REPLAY=tcp://127.0.0.1:25561
    ship_start_fake "$@"
    order_start order1 1 REPLAY_PEERS=inventory=tcp://127.0.0.1:25631,$SHIP_PEERS JOB_POLL=100ms
    inv_start_ready inv 1
}

# ship_batch_people: once a shipping replica is up: a manager (as_anna) and
# a warehouse keeper (as_sklad), every parcel by the carrier (no city
# courier), a kettle of 1450 g in stock; SHIP_URL is replica 1.
ship_batch_people() {
    order_sources
    anna=$(order_staff anna "Anna Smirnova" manager '["moscow"]' 100)
    order_shift "$anna" true
    sklad=$(order_staff sklad "Sklad Keeper" warehouse '[]' 0)
    as_anna=$(it_token manager "$anna")
    as_sklad=$(it_token warehouse "$sklad")
    ship_sql "UPDATE weight_rules SET region = 'nowhere' WHERE carrier = 'city_courier'"
    inv_api_ok POST /v1/imports '{"products": [
      {"sku": "KETTLE", "name": "Kettle 1.7 l", "price_minor": 349000, "vat_rate_bp": 2000, "weight_g": 1450, "on_hand": 50}]}' >/dev/null
    SHIP_URL=http://127.0.0.1:${SHIP_HTTP_BASE}1
}

ship_call() { # METHOD PATH [BODY] -> body, then the status on the last line (as the keeper)
    curl -s --max-time 10 -X "$1" "$SHIP_URL$2" -H "Authorization: Bearer $as_sklad" \
        ${3:+-H 'Content-Type: application/json' --data-binary "$3"} -w '\n%{http_code}'
}

ship_submit() { # KEY -> the id of a new order of one kettle to Moscow, quoted
    local out id
    out=$(order_submit "$1" "{\"customer\":{\"name\":\"Ivan Petrov\",\"phone\":\"+79123456789\"},
      \"delivery\":{\"method\":\"courier\",\"address\":{\"region\":\"Moscow\",\"city\":\"Moscow\",\"line1\":\"Tverskaya 7\",\"postal_code\":\"125009\"}},
      \"items\":[{\"sku\":\"KETTLE\",\"quantity\":1}]}")
    [ "$(http_code "$out")" = 201 ] || it_fail "submitting $1: $out"
    id=$(http_body "$out" | jq -r .order_id)
    it_wait_until 20 "stock reserved for $1" order_has_stock "$id" reserved
    it_wait_until 20 "$1 quoted" ship_quote_is "$id" quoted
    echo "$id"
}

ship_assemble() { # ORDER: confirmed by the manager, assembled by the keeper
    local out
    out=$(order_move "$1" confirmed "$as_anna")
    [ "$(http_code "$out")" = 200 ] || it_fail "confirming: $out"
    out=$(order_move "$1" assembled "$as_sklad")
    [ "$(http_code "$out")" = 200 ] || it_fail "assembling: $out"
}

ship_new_batch() { # -> the number of a new open batch
    local out
    out=$(ship_call POST /v1/batches)
    [ "$(tail -1 <<<"$out")" = 201 ] || it_fail "no batch: $out"
    head -n -1 <<<"$out" | jq -r .number
}

ship_batch_add() { # BATCH ORDER
    it_assert_eq 200 "$(tail -1 <<<"$(ship_call POST "/v1/batches/$1/shipments" "{\"order_id\":\"$2\"}")")" "$2 added to $1"
}

ship_label_job_left() { # ORDER: its label job ended without buying (the batch buys)
    [ "$(ship_sql "SELECT count(*) FROM jobs WHERE kind = 'shipping_label' AND payload->>'id' = '$1' AND state = 'done'")" = 1 ]
}

ship_batch_is() { [ "$(ship_sql "SELECT status FROM batches WHERE number = '$1'")" = "$2" ]; }

ship_labels_of() { # ORDER: the labels the carrier sold for its shipment (round 1), voided ones included
    fake_carrier GET "/_fake/labels?external_shipment_id=$1:1" | jq '.labels | length'
}

ship_calls() { # OP [TEXT]: the carrier calls of op whose path or body names TEXT
    fake_carrier GET "/_fake/requests?op=$1" | jq --arg n "${2:-}" '[.requests[] | select((.body // "") + .path | contains($n))] | length'
}
