# section_shipping.sh — the shipping service (sourced by tests/bench/run.sh).
#
#   shipping.quotes.per_s          parcels quoted per second (the address validated and the
#                                  rates asked at the carrier: two calls) by one replica
#   shipping.labels.per_s.rN       labels bought per second by N replicas (BENCH_SHIP_WORKERS
#                                  job workers each) against a carrier answering every call in
#                                  BENCH_SHIP_LATENCY_MS (the shipment made, then the label)
#   shipping.labels.scaling        the ratio of N replicas' rate to N x one replica's, for each
#                                  N, measured in this one run; target >= 0.9
#   shipping.documents.per_s       packing slips (A4 PDF, DejaVu embedded) served per second
#                                  by one replica to BENCH_SHIP_DOC_CLIENTS clients at once
#
# order.reserved and order.assembled come from factfeed standing in for the
# order stream, BENCH_SHIP_ORDERS at once each time; the fake carrier
# answers in BENCH_SHIP_LATENCY_MS. A rate is parcels over the time from
# the first job's creation to the last parcel's commit.

source tests/integration/shipping/shipping.sh

BENCH_SHIP_ORDERS=${BENCH_SHIP_ORDERS:-160}
BENCH_SHIP_LATENCY_MS=${BENCH_SHIP_LATENCY_MS:-200}
BENCH_SHIP_WORKERS=${BENCH_SHIP_WORKERS:-4}
BENCH_SHIP_REPLICAS=${BENCH_SHIP_REPLICAS:-1 2 4}
BENCH_SHIP_DOCS=${BENCH_SHIP_DOCS:-200}
BENCH_SHIP_DOC_CLIENTS=${BENCH_SHIP_DOC_CLIENTS:-4}
SHIP_FEED_HTTP=28148
SHIP_FEED_REPLAY=25648

ship_bench_feed() {
    ORDERFEED_ENV=$(it_service_db orderfeed)
    it_start orderfeed bash -c "$ORDERFEED_ENV
        exec env FEED_STREAM=order BUS_PUB_ENDPOINT=$KIT_BUS_IN BUS_SUB_ENDPOINT=$KIT_BUS_OUT \
        HTTP_ADDR=127.0.0.1:$SHIP_FEED_HTTP REPLAY_ADDR=tcp://127.0.0.1:$SHIP_FEED_REPLAY \
        REDIS_URL=$TEST_REDIS_URL BUS_CERT=$(it_key service order) \"$IT_BIN/factfeed\""
    it_wait_until 30 "the order stream's stand-in ready" kit_http_ok $SHIP_FEED_HTTP /readyz
}

# ship_bench_publish TYPE TAG COUNT: COUNT events of TYPE about orders TAG-i, 200 a call
ship_bench_publish() {
    local type=$1 tag=$2 count=$3 from=1 to
    while [ "$from" -le "$count" ]; do
        to=$((from + 199 > count ? count : from + 199))
        awk -v type="$type" -v tag="$tag" -v from="$from" -v to="$to" 'BEGIN {
            printf "{\"events\":["
            for (i = from; i <= to; i++) {
                id = sprintf("%08x-0000-4000-8000-%012x", tag, i)
                if (type == "order.reserved")
                    p = sprintf("{\"order_id\":\"%s\",\"version\":2,\"number\":%d,\"lines\":[{\"line_no\":1,\"sku\":\"KETTLE\",\"name\":\"Kettle\",\"quantity\":1,\"unit_weight_g\":1450}],\"delivery\":{\"method\":\"DELIVERY_METHOD_COURIER\",\"address\":{\"region\":\"Moscow\",\"city\":\"Moscow\",\"line1\":\"Tverskaya %d\",\"postal_code\":\"125009\"}},\"customer\":{\"name\":\"Bench Customer\",\"phone\":\"+79990000000\"}}", id, tag * 100000 + i, i)
                else
                    p = sprintf("{\"order_id\":\"%s\",\"version\":5,\"number\":%d,\"weight_g\":1500}", id, tag * 100000 + i)
                printf "%s{\"type\":\"%s\",\"payload\":%s}", (i > from ? "," : ""), type, p
            }
            printf "]}"
        }' >"$IT_RUN/ship-feed.json"
        curl -fsS -o /dev/null --max-time 60 -H 'Content-Type: application/json' \
            --data-binary @"$IT_RUN/ship-feed.json" "http://127.0.0.1:$SHIP_FEED_HTTP/v1/publish" ||
            it_fail "publishing $type $from..$to"
        from=$((to + 1))
    done
}

ship_bench_count() { # SQL condition over this tag's shipments
    ship_sql "SELECT count(*) FROM shipments WHERE order_number / 100000 = $1 AND $2"
}

# ship_bench_rate KIND TAG: parcels over first job created -> last completion of KIND
ship_bench_rate() {
    ship_sql "SELECT round(count(*) / extract(epoch FROM max(pg_xact_commit_timestamp(j.xmin)) - min(j.created_at)), 1)
        FROM jobs j WHERE j.kind = '$1' AND j.state = 'done' AND j.payload->>'id' LIKE '$(printf '%08x' "$2")-%'"
}

ship_dbs
ship_start_fake LOG_LEVEL=warn FAKE_CARRIER_LATENCY="${BENCH_SHIP_LATENCY_MS}ms" FAKE_CARRIER_THREADS=128
ship_bench_feed
tag=1
declare -A label_rate
first=""
for replicas in $BENCH_SHIP_REPLICAS; do
    for n in $(seq 1 "$replicas"); do
        SHIP_PEERS_FEED="order=tcp://127.0.0.1:$SHIP_FEED_REPLAY"
        ship_start "ship-b$n" "$n" LOG_LEVEL=warn JOB_WORKERS="$BENCH_SHIP_WORKERS" \
            REPLAY_PEERS="$SHIP_PEERS_FEED" SHIPPING_CARRIER_TIMEOUT=5s JOB_LEASE=30s \
            SHIPPING_WEBHOOK_URL= SHIPPING_TRACK_POLL=1h
    done
    [ "$tag" = 1 ] && ship_sql "UPDATE weight_rules SET region = 'nowhere' WHERE carrier = 'city_courier'"
    ship_bench_publish order.reserved "$tag" "$BENCH_SHIP_ORDERS"
    it_wait_until 900 "$BENCH_SHIP_ORDERS parcels quoted" bash -c \
        "[ \$(psql -X -Atq '$TEST_DATABASE_URL' -c \"SELECT count(*) FROM shipping.shipments WHERE order_number / 100000 = $tag AND quote_state = 'quoted'\") -ge $BENCH_SHIP_ORDERS ]"
    if [ "$tag" = 1 ]; then
        rate=$(ship_bench_rate shipping_quote "$tag")
        figure shipping.quotes.per_s "$rate quotes/s; one replica, $BENCH_SHIP_WORKERS job workers, ${BENCH_SHIP_LATENCY_MS} ms carrier, two calls a quote"
    fi
    ship_bench_publish order.assembled "$tag" "$BENCH_SHIP_ORDERS"
    it_wait_until 900 "$BENCH_SHIP_ORDERS labels" bash -c \
        "[ \$(psql -X -Atq '$TEST_DATABASE_URL' -c \"SELECT count(*) FROM shipping.shipments WHERE order_number / 100000 = $tag AND state = 'labelled'\") -ge $BENCH_SHIP_ORDERS ]"
    rate=$(ship_bench_rate shipping_label "$tag")
    label_rate[$replicas]=$rate
    [ -z "$first" ] && first=$rate
    twice=$(fake_carrier GET /_fake/stats | jq .shipments_sold_twice)
    figure "shipping.labels.per_s.r$replicas" "$rate labels/s; $replicas replicas x $BENCH_SHIP_WORKERS job workers, ${BENCH_SHIP_LATENCY_MS} ms carrier ($twice shipments sold twice)"
    for n in $(seq 1 "$replicas"); do it_stop "ship-b$n"; done
    tag=$((tag + 1))
done
for replicas in $BENCH_SHIP_REPLICAS; do
    ratio=$(awk -v r="${label_rate[$replicas]}" -v one="$first" -v n="$replicas" 'BEGIN { printf "%.2f", r / (one * n) }')
    verdict=$(awk -v r="$ratio" 'BEGIN { print (r >= 0.9) ? "target >= 0.9 met" : "TARGET >= 0.9 MISSED" }')
    figure "shipping.labels.scaling.r$replicas" "$ratio of $replicas x one replica's rate ($verdict)"
done

# packing slips: the labelled parcels' PDFs, fetched over and over by a few clients
ship_start ship-doc 1 LOG_LEVEL=warn REPLAY_PEERS="order=tcp://127.0.0.1:$SHIP_FEED_REPLAY" \
    SHIPPING_WEBHOOK_URL= SHIPPING_TRACK_POLL=1h
doc_token=$(it_token warehouse bench-warehouse)
mapfile -t doc_ids < <(ship_sql "SELECT order_id FROM shipments WHERE state = 'labelled' ORDER BY order_id LIMIT 50")
[ "${#doc_ids[@]}" -gt 0 ] || it_fail "no labelled parcel to print"
for i in $(seq 1 "$BENCH_SHIP_DOCS"); do # "-o /dev/null URL": one output per URL
    echo "-o /dev/null http://127.0.0.1:28141/v1/shipments/${doc_ids[$((i % ${#doc_ids[@]}))]}/packing-slip.pdf"
done >"$IT_RUN/doc-urls.txt"
doc_start=$(date +%s.%N)
served=$(xargs -P "$BENCH_SHIP_DOC_CLIENTS" -n 60 curl -sS --max-time 60 -w '%{http_code}\n' \
    -H "Authorization: Bearer $doc_token" <"$IT_RUN/doc-urls.txt" | grep -c '^200$')
doc_end=$(date +%s.%N)
[ "$served" = "$BENCH_SHIP_DOCS" ] || it_fail "$served of $BENCH_SHIP_DOCS packing slips served"
doc_bytes=$(curl -fsS --max-time 60 -H "Authorization: Bearer $doc_token" \
    "http://127.0.0.1:28141/v1/shipments/${doc_ids[0]}/packing-slip.pdf" | wc -c)
figure shipping.documents.per_s "$(awk -v n="$BENCH_SHIP_DOCS" -v a="$doc_start" -v b="$doc_end" 'BEGIN { printf "%.1f", n / (b - a) }') packing slips/s; one replica, $BENCH_SHIP_DOC_CLIENTS clients, $doc_bytes bytes each"
it_stop ship-doc
it_stop orderfeed
it_stop fakecarrier
bench_settle "shipping run"
