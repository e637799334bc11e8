#!/usr/bin/env bash
# The shipping service's carrier adapter (services/shipping/adapters/)
# against the fake carrier (tests/fakes/carrier/), over loopback:
# carriercheck validates addresses (verified, corrected, wrong), asks rates
# by weight, creates shipments under our own reference and finds them by
# it, buys labels and settles a lost answer or a 500 after the purchase by
# looking the label up (never a second label), reads 429's Retry-After and
# insufficient funds, voids before hand-over and is refused after, closes
# a manifest, polls tracking, receives webhooks with the secret header
# (duplicates share an event id; a held one arrives out of order), and
# runs a batch that completes with errors. This script also checks the
# fake's own bounds.
source "$(dirname "$0")/lib.sh"

FAKE_PORT=28095
RECEIVER_PORT=28096
export FAKE_CARRIER_URL="http://127.0.0.1:$FAKE_PORT"
export FAKE_CARRIER_API_KEY="it-$RANDOM-carrier-key"
export CARRIERCHECK_ADDR="127.0.0.1:$RECEIVER_PORT"

it_start fakecarrier env FAKE_CARRIER_ADDR="127.0.0.1:$FAKE_PORT" FAKE_CARRIER_LATENCY=5ms \
    FAKE_CARRIER_WEBHOOK_RETRY=200ms "$IT_BIN/fakecarrier"

ready() {
    curl -fsS -o /dev/null --max-time 2 "$FAKE_CARRIER_URL/readyz"
}
it_wait_until 20 "the fake carrier up" ready

status_of() { # METHOD PATH [BODY]
    curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X "$1" "$FAKE_CARRIER_URL$2" \
        -H "API-Key: $FAKE_CARRIER_API_KEY" \
        ${3:+-H 'Content-Type: application/json' --data-binary "$3"}
}

it_assert_eq 422 "$(status_of POST /_fake/faults '{"op":"rates","kind":"explode"}')" \
    "an unknown fault kind"
it_assert_eq 400 "$(status_of POST /_fake/faults 'not json')" "a control call that is not JSON"
it_assert_eq 422 "$(status_of POST /_fake/track '{"tracking_number":"x","status_code":"ZZ"}')" \
    "an unknown tracking status"
head -c 300000 /dev/zero | tr '\0' 'a' >"$IT_RUN/big.body"
it_assert_eq 413 "$(status_of POST /v1/rates "@$IT_RUN/big.body")" "a 300 kB request"
it_assert_eq 400 "$(status_of POST /v1/addresses/validate '{"not":"an array"}')" \
    "validation of something that is not a list"
it_assert_eq 401 "$(curl -s -o /dev/null -w '%{http_code}' "$FAKE_CARRIER_URL/v1/labels")" \
    "a call without the API key"

"$IT_BIN/carriercheck" >"$IT_RUN/carriercheck.log" 2>&1 ||
    { cat "$IT_RUN/carriercheck.log"; it_fail "carriercheck"; }
cat "$IT_RUN/carriercheck.log"

stats=$(curl -fsS "$FAKE_CARRIER_URL/_fake/stats")
it_assert_eq 0 "$(jq .shipments_sold_twice <<<"$stats")" "shipments sold two labels"
it_log "the fake carrier took $(curl -fsS "$FAKE_CARRIER_URL/_fake/requests" | jq '.requests | length')" \
    "calls and sold $(jq .labels <<<"$stats") labels for $(jq .shipments <<<"$stats") shipments"
it_stop fakecarrier
it_log "carrier adapter: every scenario passed"
