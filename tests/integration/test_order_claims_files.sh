#!/usr/bin/env bash
# Claims on the order card and claim attachments uploaded as files (issue
# 14, F30), on the real order and inventory services, factfeed standing in
# for payment and shipping. The order card (GET /v1/orders/{id}) lists the
# order's claims (id, name, type, status, created, decided) where a
# manager looks: none at first, then a decided repair and an open refund.
# A file is uploaded as the raw body of POST /v1/claims/{id}/attachments
# (?filename=, its Content-Type one of CLAIM_ATTACHMENT_TYPES) and
# downloads byte for byte; the caps come from the environment
# (CLAIM_ATTACHMENT_MAX_BYTES, CLAIM_ATTACHMENTS_MAX_TOTAL,
# CLAIM_ATTACHMENTS_MAX_COUNT, set low here): one file past its cap is
# refused 413 problem+json from its Content-Length before a byte of it is
# sent, a chunked one 413 too, a file that would pass the claim's total
# 413, one past the count 422; a type not allowed 415; no name or no bytes
# 422; a closed claim 409; the JSON door (base64) obeys the same caps; the
# service keeps serving.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/kit/kit.sh"
source "$(dirname "$0")/kit/inventory.sh"
source "$(dirname "$0")/order/order.sh"

kit_dbs
order_dbs
inv_dbs
PAY_ENV=$(it_service_db paymentfeed)
SHIP_ENV=$(it_service_db shippingfeed)
kit_start_busd
INV_FEED_REPLAY=tcp://127.0.0.1:25561

feed_start() {
    it_start "$1" bash -c "$3
        exec env FEED_STREAM=$2 BUS_PUB_ENDPOINT=$KIT_BUS_IN BUS_SUB_ENDPOINT=$KIT_BUS_OUT \
        HTTP_ADDR=127.0.0.1:$4 REPLAY_ADDR=tcp://127.0.0.1:$5 REDIS_URL=$TEST_REDIS_URL \
        BUS_CERT=$(it_key service "$2") \"$IT_BIN/factfeed\""
    it_wait_until 30 "$1 ready" kit_http_ok "$4" /readyz
}
feed_start payfeed payment "$PAY_ENV" 28125 25625
feed_start shipfeed shipping "$SHIP_ENV" 28126 25626
order_start order1 1 \
    REPLAY_PEERS=inventory=tcp://127.0.0.1:25631,payment=tcp://127.0.0.1:25625,shipping=tcp://127.0.0.1:25626 \
    JOB_POLL=100ms STORE_TZ=Europe/Moscow CLAIM_ATTACHMENT_MAX_BYTES=4096 \
    CLAIM_ATTACHMENTS_MAX_TOTAL=10000 CLAIM_ATTACHMENTS_MAX_COUNT=3 \
    CLAIM_ATTACHMENT_TYPES=image/jpeg,image/png,application/pdf
inv_start_ready inv 1
order_sources
boris=$(order_staff boris "Boris Petrov" manager '[]' 100)
order_shift "$boris" true
sklad=$(order_staff sklad "Sklad Keeper" warehouse '[]' 0)
as_boris=$(it_token manager "$boris")
as_sklad=$(it_token warehouse "$sklad")

inv_api_ok POST /v1/imports '{"products": [
  {"sku": "LAMP", "name": "Desk lamp", "price_minor": 250000, "vat_rate_bp": 2000, "weight_g": 900, "on_hand": 20}]}' >/dev/null

publish() {
    local out
    out=$(it_http POST "http://127.0.0.1:$1/v1/publish" "{\"events\":[{\"type\":\"$2\",\"payload\":$3}]}")
    [ "$(http_code "$out")" = 201 ] || it_fail "publishing $2: $out"
}
as() { # TOKEN METHOD PATH [BODY]: "<status> <body>"
    order_call "$2" "$3" "${4:-}" "Authorization: Bearer $1"
}
code_of() { jq -r .code <<<"$(http_body "$1")"; }
tmp=$IT_RUN/claim-files # removed with the test's run directory
mkdir -p "$tmp"
# upload CLAIM FILE TYPE [FILENAME [CURL-ARGS...]]: "<status> <content-type> <body>"
# (TYPE "": no Content-Type header at all)
upload() {
    local claim=$1 file=$2 type=$3 name=${4-photo.jpg} out
    shift 4 2>/dev/null || shift $#
    out=$(curl -sS -X POST --max-time 20 -w '\n%{http_code} %{content_type}' \
        -H "Authorization: Bearer $as_boris" -H "Content-Type:${type:+ $type}" "$@" \
        --data-binary "@$file" "$(order_url)/v1/claims/$claim/attachments${name:+?filename=$name}") || return 1
    echo "$(tail -n1 <<<"$out") $(sed '$d' <<<"$out")"
}
up_code() { echo "${1%% *}"; }
up_body() { local rest=${1#* }; echo "${rest#* }"; }
up_type() { local rest=${1#* }; echo "${rest%% *}"; }

# an order of two lamps, delivered
out=$(order_submit F-1 '{"customer":{"name":"File Customer","email":"files@example.ru"},"delivery":{"method":"post",
  "address":{"region":"Kamchatka","city":"Petropavlovsk","line1":"Lenina 1","postal_code":"683000"}},
  "items":[{"sku":"LAMP","quantity":2}]}')
[ "$(http_code "$out")" = 201 ] || it_fail "submitting: $out"
o1=$(http_body "$out" | jq -r .order_id)
it_wait_until 20 "stock reserved" order_has_stock "$o1" reserved
order_move "$o1" confirmed "$as_boris" >/dev/null
publish 28125 payment.succeeded "{\"order_id\":\"$o1\",\"payment_id\":\"p-1\",\"amount_minor\":1,\"paid_minor\":999999,\"due_minor\":0}"
it_wait_until 20 "paid" order_has_status "$o1" prepare_for_delivery
order_move "$o1" assembled "$as_sklad" >/dev/null
publish 28126 shipment.handed_over "{\"order_id\":\"$o1\",\"shipment_id\":\"cdek-1\"}"
it_wait_until 20 "handed over" order_has_status "$o1" handed_to_carrier
publish 28126 shipment.delivered "{\"order_id\":\"$o1\",\"shipment_id\":\"cdek-1\"}"
it_wait_until 20 "delivered" order_has_status "$o1" delivered

# --- the order card shows its claims ---------------------------------------------------------------
out=$(as "$as_boris" GET "/v1/orders/$o1")
it_assert_eq "200 0" "$(http_code "$out") $(http_body "$out" | jq -r '.claims | length')" "a card with no claim: ${out:0:200}"
out=$(as "$as_boris" POST "/v1/orders/$o1/claims" '{"type":"repair","reason":"defect","lines":[{"line_no":1,"quantity":1}]}')
it_assert_eq 201 "$(http_code "$out")" "the repair claim: ${out:0:300}"
c1=$(http_body "$out" | jq -r .id)
out=$(as "$as_boris" POST "/v1/claims/$c1/decision" '{"decision":"approved"}')
it_assert_eq 200 "$(http_code "$out")" "the repair approved: ${out:0:300}"
out=$(as "$as_boris" POST "/v1/orders/$o1/claims" '{"type":"refund","reason":"changed_mind","lines":[{"line_no":1,"quantity":1}]}')
it_assert_eq 201 "$(http_code "$out")" "the refund claim: ${out:0:300}"
c2=$(http_body "$out" | jq -r .id)
today=$(TZ=Europe/Moscow date -d "@$(order_sql "SELECT (extract(epoch FROM created_at))::bigint FROM orders.claims WHERE id = '$c1'")" +%d.%m.%Y)
out=$(as "$as_sklad" GET "/v1/orders/$o1")
it_assert_eq 200 "$(http_code "$out")" "the card for the warehouse: ${out:0:200}"
it_assert_eq "$c1|Repair $today|repair|approved|true|true;$c2|Refund $today|refund|under_review|true|false" \
    "$(http_body "$out" | jq -r '[.claims[] | "\(.id)|\(.name)|\(.type)|\(.status)|\(.created_at != null)|\(.decided_at != null)"] | join(";")')" \
    "the card lists both claims, oldest first, the repair decided"

# --- a file uploaded as the body --------------------------------------------------------------------
head -c 3000 /dev/urandom >"$tmp/a.jpg"
out=$(upload "$c2" "$tmp/a.jpg" image/jpeg "photo.jpg")
it_assert_eq 201 "$(up_code "$out")" "a photo uploaded: ${out:0:300}"
it_assert_eq "photo.jpg image/jpeg 3000" \
    "$(up_body "$out" | jq -r '.attachments[0] | "\(.filename) \(.content_type) \(.size_bytes)"')" "the photo on the claim"
att=$(up_body "$out" | jq -r '.attachments[0].id')
curl -sS -o "$tmp/back.jpg" -H "Authorization: Bearer $as_sklad" "$(order_url)/v1/claims/$c2/attachments/$att"
cmp -s "$tmp/a.jpg" "$tmp/back.jpg" || it_fail "the uploaded photo did not come back byte for byte"
it_assert_eq 401 "$(curl -s -o /dev/null -w '%{http_code}' "$(order_url)/v1/claims/$c2/attachments/$att")" \
    "no download without a token"
it_assert_eq 401 "$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: image/jpeg' \
    --data-binary "@$tmp/a.jpg" "$(order_url)/v1/claims/$c2/attachments?filename=a.jpg")" "no upload without a token"

# --- one file past CLAIM_ATTACHMENT_MAX_BYTES: 413 before it is read --------------------------------
head -c 4097 /dev/urandom >"$tmp/big.jpg"
out=$(upload "$c2" "$tmp/big.jpg" image/jpeg big.jpg)
it_assert_eq "413 application/problem+json" "$(up_code "$out") $(up_type "$out")" "4097 bytes: ${out:0:300}"
out=$(upload "$c2" "$tmp/big.jpg" image/jpeg big.jpg -H "Transfer-Encoding: chunked")
it_assert_eq 413 "$(up_code "$out")" "4097 bytes chunked: ${out:0:300}"
# a hundred megabytes announced, none sent: the answer comes at once
answer=$(timeout 10 bash -c 'exec 3<>/dev/tcp/127.0.0.1/$1
    printf "POST /v1/claims/$2/attachments?filename=x.jpg HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer $3\r\nContent-Type: image/jpeg\r\nContent-Length: 100000000\r\n\r\n" >&3
    head -n1 <&3' _ "${ORDER_HTTP_BASE}1" "$c2" "$as_boris" | cut -d" " -f1,2)
it_assert_eq "HTTP/1.1 413" "$answer" "refused from the Content-Length, the body never sent"

# --- the claim's total and count ------------------------------------------------------------------
head -c 4000 /dev/urandom >"$tmp/b.png"
out=$(upload "$c2" "$tmp/b.png" image/png b.png)
it_assert_eq 201 "$(up_code "$out")" "a second file, 7000 bytes together: ${out:0:300}"
out=$(upload "$c2" "$tmp/b.png" image/png c.png)
it_assert_eq "413 attachments_too_large" "$(up_code "$out") $(up_body "$out" | jq -r .code)" "11000 bytes together: ${out:0:300}"
head -c 2000 /dev/urandom >"$tmp/d.pdf"
out=$(upload "$c2" "$tmp/d.pdf" "application/PDF; name=d" d.pdf)
it_assert_eq "201 application/pdf" "$(up_code "$out") $(up_body "$out" | jq -r '.attachments[2].content_type')" "a third, 9000 bytes: ${out:0:300}"
head -c 10 /dev/urandom >"$tmp/e.jpg"
out=$(upload "$c2" "$tmp/e.jpg" image/jpeg e.jpg)
it_assert_eq "422 too_many" "$(up_code "$out") $(up_body "$out" | jq -r '.errors[0].code')" "a fourth: ${out:0:300}"
it_assert_eq "3 9000" "$(order_sql "SELECT count(*) || ' ' || sum(size_bytes) FROM orders.claim_attachments WHERE claim_id = '$c2'")" \
    "three kept, nothing of the refused ones"

# --- types, names, bytes, closed claims ----------------------------------------------------------------
out=$(upload "$c1" "$tmp/e.jpg" text/html e.html)
it_assert_eq "415 unsupported_media_type" "$(up_code "$out") $(up_body "$out" | jq -r .code)" "html: ${out:0:300}"
out=$(upload "$c1" "$tmp/e.jpg" "" e.jpg)
it_assert_eq 415 "$(up_code "$out")" "no Content-Type: ${out:0:300}"
out=$(upload "$c1" "$tmp/e.jpg" image/jpeg "")
it_assert_eq 422 "$(up_code "$out")" "no filename: ${out:0:300}"
out=$(upload "$c1" "$tmp/e.jpg" image/jpeg "..%2Fx.jpg")
it_assert_eq 422 "$(up_code "$out")" "a path as the filename: ${out:0:300}"
: >"$tmp/empty.jpg"
out=$(upload "$c1" "$tmp/empty.jpg" image/jpeg e.jpg)
it_assert_eq 422 "$(up_code "$out")" "no bytes: ${out:0:300}"
out=$(upload "$(cat /proc/sys/kernel/random/uuid)" "$tmp/e.jpg" image/jpeg e.jpg)
it_assert_eq 404 "$(up_code "$out")" "no such claim: ${out:0:300}"
out=$(as "$as_boris" POST "/v1/claims/$c2/decision" '{"decision":"rejected","comment":"no"}')
it_assert_eq 200 "$(http_code "$out")" "the refund rejected: ${out:0:300}"
out=$(upload "$c2" "$tmp/e.jpg" image/jpeg e.jpg)
it_assert_eq "409 claim_closed" "$(up_code "$out") $(up_body "$out" | jq -r .code)" "a rejected claim: ${out:0:300}"

# --- the JSON door obeys the same caps -------------------------------------------------------------------
printf '{"type":"refund","reason":"defect","lines":[{"line_no":1,"quantity":1}],"attachments":[{"filename":"j.jpg","content_type":"image/jpeg","data":"%s"}]}' \
    "$(head -c 4097 /dev/urandom | base64 -w0)" >"$tmp/one.json"
out=$(curl -sS -X POST -w '\n%{http_code}' --max-time 20 -H 'Content-Type: application/json' \
    -H "Authorization: Bearer $as_boris" --data-binary "@$tmp/one.json" "$(order_url)/v1/orders/$o1/claims")
it_assert_eq "413 attachment_too_large" "$(tail -n1 <<<"$out") $(sed '$d' <<<"$out" | jq -r .code)" \
    "base64 of 4097 bytes: ${out:0:300}"

out=$(as "$as_boris" GET "/v1/orders/$o1")
it_assert_eq "repair approved;refund rejected" "$(http_body "$out" | jq -r '[.claims[] | "\(.type) \(.status)"] | join(";")')" \
    "the card follows the claims"
kit_http_ok "${ORDER_HTTP_BASE}1" /readyz || it_fail "the order service stopped serving"
it_log "claims on the order card; attachments uploaded raw within caps from the environment"
