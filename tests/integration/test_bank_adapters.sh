#!/usr/bin/env bash
# The payment service's bank adapters (services/payment/adapters/) against
# the fake bank (tests/fakes/bank/), over loopback: for Sberbank acquiring
# and YooKassa each, bankcheck registers invoices with their 54-FZ
# receipts, pays and declines them on the fake's payment page, asks the
# status, refunds in part and in full, reverses, cancels and captures,
# settles lost replies and 500s by asking (never a second payment), reads
# 202, 429 and 5xx as the banks mean them, and verifies the callbacks and
# webhooks it receives: good checksums accepted, bad, missing and tampered
# ones refused, spoofed webhooks refused, duplicates and redeliveries
# recognised by one event id. This script also checks the fake's own
# bounds (the control API refuses nonsense, an oversized body is 413).
source "$(dirname "$0")/lib.sh"

FAKE_PORT=28090
RECEIVER_PORT=28091
export FAKE_BANK_URL="http://127.0.0.1:$FAKE_PORT"
export BANKCHECK_ADDR="127.0.0.1:$RECEIVER_PORT"
export FAKE_BANK_SBER_USER=it-shop FAKE_BANK_SBER_PASSWORD="it-$RANDOM-password"
export FAKE_BANK_SBER_CALLBACK_KEY="it-$RANDOM-callback-key"
export FAKE_BANK_YOOKASSA_SHOP_ID=424242 FAKE_BANK_YOOKASSA_SECRET="test_$RANDOM"

it_start fakebank env FAKE_BANK_ADDR="127.0.0.1:$FAKE_PORT" FAKE_BANK_NOTIFY_RETRY=200ms \
    FAKE_BANK_LOSE_REPLY=2s "$IT_BIN/fakebank"

ready() {
    curl -fsS -o /dev/null --max-time 2 "$FAKE_BANK_URL/healthz"
}
it_wait_until 20 "the fake bank up" ready

status_of() { # METHOD PATH [BODY]: the HTTP status the fake answers (BODY @file: a file)
    curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X "$1" "$FAKE_BANK_URL$2" \
        ${3:+-H 'Content-Type: application/json' --data-binary "$3"}
}

# the fake is a server too: bounded and strict with what it is told
it_assert_eq 422 "$(status_of POST /_fake/faults '{"provider":"sberbank","kind":"explode"}')" \
    "an unknown fault kind"
it_assert_eq 400 "$(status_of POST /_fake/faults 'not json')" "a control call that is not JSON"
head -c 300000 /dev/zero | tr '\0' 'a' >"$IT_RUN/big.body"
it_assert_eq 413 "$(status_of POST /payment/rest/register.do "@$IT_RUN/big.body")" "a 300 kB request"
answer=$(curl -s --max-time 5 -X POST "$FAKE_BANK_URL/payment/rest/register.do" \
    --data "userName=$FAKE_BANK_SBER_USER&password=wrong&orderNumber=x&amount=1")
[[ $answer == *'"errorCode":"5"'* ]] || it_fail "a wrong password answered: $answer"
it_assert_eq 401 "$(status_of GET /v3/payments/x)" "YooKassa without credentials"

for provider in sberbank yookassa; do
    "$IT_BIN/bankcheck" "$provider" >"$IT_RUN/bankcheck-$provider.log" 2>&1 ||
        { cat "$IT_RUN/bankcheck-$provider.log"; it_fail "bankcheck $provider"; }
    cat "$IT_RUN/bankcheck-$provider.log"
done

# everything the adapters sent went in with the shop's credentials
requests=$(curl -fsS "$FAKE_BANK_URL/_fake/requests")
sent=$(jq '[.requests[] | select(.provider == "sberbank")] | length' <<<"$requests")
[ "$sent" -ge 20 ] || it_fail "the fake saw only $sent Sberbank calls"
it_log "the fake bank took $(jq '.requests | length' <<<"$requests") calls and sent" \
    "$(curl -fsS "$FAKE_BANK_URL/_fake/notices" | jq '.notices | length') notifications"
it_stop fakebank
it_log "bank adapters: every scenario of both banks passed"
