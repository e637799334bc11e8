#!/usr/bin/env bash
# The warehouse's paper from the real shipping service (issue 13 items 2
# and 5, DOMAIN.md F22 and F27): an order taken in by the real order
# service for a customer with a Cyrillic name, reserved by the real
# inventory, quoted and labelled against the fake carrier; its packing
# slip (A4, every line with its quantity and weight, totalled, over two
# pages for a long order), its sticker (100x150 mm, the tracking number
# as a barcode that scans back) and its batch's manifest (the carrier's
# manifest named once the batch is processed) are PDFs that
# pdftotext reads: the order number, the customer's name in Cyrillic, the
# tracking number, the batch number, the totals. A courier gets 403, an
# unknown order or batch 404 problem+json, a malformed id 400. Without its
# font (PDF_FONT) the service refuses to start and names the file.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/kit/kit.sh"
source "$(dirname "$0")/kit/inventory.sh"
source "$(dirname "$0")/order/order.sh"
source "$(dirname "$0")/shipping/shipping.sh"

for tool in pdftotext pdfinfo pdftoppm zbarimg; do
    command -v "$tool" >/dev/null || it_fail "$tool is missing: make deps (poppler-utils, zbar-tools)"
done

kit_dbs
order_dbs
inv_dbs
ship_dbs
kit_start_busd
INV_FEED_REPLAY=tcp://127.0.0.1:25561
ship_start_fake
order_start order1 1 REPLAY_PEERS=inventory=tcp://127.0.0.1:25631,$SHIP_PEERS JOB_POLL=100ms
inv_start_ready inv 1
ship_start ship1 1
order_sources
anna=$(order_staff anna "Anna Smirnova" manager '["moscow"]' 100)
order_shift "$anna" true
sklad=$(order_staff sklad "Sklad Keeper" warehouse '[]' 0)
as_anna=$(it_token manager "$anna")
as_sklad=$(it_token warehouse "$sklad")
as_courier=$(it_token courier "$sklad")
ship_sql "UPDATE weight_rules SET region = 'nowhere' WHERE carrier = 'city_courier'"

# a kettle with a Cyrillic name, and 59 small items for a long slip
products='{"sku": "KETTLE", "name": "Чайник электрический 1,7 л", "price_minor": 349000, "vat_rate_bp": 2000, "weight_g": 1450, "on_hand": 50}'
items='{"sku":"KETTLE","quantity":2}'
for i in $(seq -w 1 59); do
    products+=",{\"sku\": \"CUP-$i\", \"name\": \"Кружка керамическая № $i\", \"price_minor\": 19900, \"vat_rate_bp\": 2000, \"weight_g\": 310, \"on_hand\": 50}"
    items+=",{\"sku\":\"CUP-$i\",\"quantity\":1}"
done
inv_api_ok POST /v1/imports "{\"products\": [$products]}" >/dev/null

SHIP_URL=http://127.0.0.1:28141
WORK="$IT_RUN/documents" # kept with the test's logs, to look at when it fails
mkdir -p "$WORK"
# fetch PATH TOKEN NAME: the body into $WORK/NAME; prints "status content-type"
fetch() {
    curl -s --max-time 20 -o "$WORK/$3" -w '%{http_code} %{content_type}' \
        -H "Authorization: Bearer $2" "$SHIP_URL$1"
}
text_of() { pdftotext -q -layout "$WORK/$1" - 2>/dev/null; }

out=$(order_submit DOC-1 "{\"customer\":{\"name\":\"Иван Петров\",\"phone\":\"+79123456789\"},
  \"delivery\":{\"method\":\"courier\",\"address\":{\"region\":\"Moscow\",\"city\":\"Москва\",\"line1\":\"ул. Тверская, д. 7\",\"postal_code\":\"125009\"}},
  \"items\":[$items]}")
[ "$(http_code "$out")" = 201 ] || it_fail "submitting: $out"
o1=$(http_body "$out" | jq -r .order_id)
it_wait_until 30 "stock reserved" order_has_stock "$o1" reserved
it_wait_until 20 "o1 quoted" ship_quote_is "$o1" quoted
number=$(ship_field "$o1" order_number)
out=$(order_move "$o1" confirmed "$as_anna")
[ "$(http_code "$out")" = 200 ] || it_fail "confirming: $out"
out=$(order_move "$o1" assembled "$as_sklad")
[ "$(http_code "$out")" = 200 ] || it_fail "assembling: $out"
it_wait_until 30 "o1 labelled" ship_state_is "$o1" labelled
tracking=$(ship_field "$o1" tracking_number)
[ -n "$tracking" ] || it_fail "no tracking number for o1"

# --- the packing slip ------------------------------------------------------------------
it_assert_eq "200 application/pdf" "$(fetch "/v1/shipments/$o1/packing-slip.pdf" "$as_sklad" slip.pdf)" \
    "the warehouse gets the packing slip as a PDF"
it_assert_eq "%PDF-" "$(head -c 5 "$WORK/slip.pdf")" "a PDF"
slip=$(text_of slip.pdf)
grep -q "Order No. $number" <<<"$slip" || it_fail "the slip names no order $number: $slip"
grep -q "Иван Петров" <<<"$slip" || it_fail "the slip lacks the customer's Cyrillic name"
grep -q "Тверская" <<<"$slip" || it_fail "the slip lacks the delivery address"
grep -q "$tracking" <<<"$slip" || it_fail "the slip lacks the tracking number $tracking"
grep -q "cdek" <<<"$slip" || it_fail "the slip lacks the carrier"
grep -qE "Чайник электрический 1,7 л +2 +1\.450 +2\.900" <<<"$slip" ||
    it_fail "the kettle's line (qty 2, 1.450 kg each, 2.900 kg) is not on the slip"
grep -q "Кружка керамическая № 59" <<<"$slip" || it_fail "the last line is not on the slip"
grep -qE "Total +61 +21\.190" <<<"$slip" || it_fail "the totals (61 items, 21.190 kg) are not on the slip"
pages=$(pdfinfo "$WORK/slip.pdf" 2>/dev/null | awk '/^Pages:/ {print $2}')
[ "${pages:-0}" -ge 2 ] || it_fail "60 lines fit one page? pages: $pages"
grep -q "page $pages of $pages" <<<"$slip" || it_fail "the slip's pages are not numbered"
pdffonts "$WORK/slip.pdf" 2>/dev/null | grep -q "DejaVuSans.*yes yes" || it_fail "the font is not embedded"

# --- the sticker -------------------------------------------------------------------------
it_assert_eq "200 application/pdf" "$(fetch "/v1/shipments/$o1/sticker.pdf" "$as_sklad" sticker.pdf)" \
    "the sticker as a PDF"
sticker=$(text_of sticker.pdf)
grep -q "Order No. $number" <<<"$sticker" || it_fail "the sticker names no order"
grep -q "Иван Петров" <<<"$sticker" || it_fail "the sticker lacks the recipient"
grep -q "$tracking" <<<"$sticker" || it_fail "the sticker lacks the tracking number"
it_assert_eq "100 x 150" "$(pdfinfo "$WORK/sticker.pdf" 2>/dev/null | awk '/^Page size:/ {printf "%.0f x %.0f", $3 * 25.4 / 72, $5 * 25.4 / 72}')" \
    "a 100x150 mm label"
pdftoppm -r 200 -gray -png "$WORK/sticker.pdf" "$WORK/sticker" 2>/dev/null
it_assert_eq "$tracking" "$(zbarimg -q --raw "$WORK"/sticker-1.png 2>/dev/null)" "the barcode scans as the tracking number"

# --- the manifest of a batch ----------------------------------------------------------------
out=$(curl -s -X POST -H "Authorization: Bearer $as_sklad" "$SHIP_URL/v1/batches")
batch=$(jq -r .number <<<"$out")
[[ $batch =~ ^[0-9]{11}$ ]] || it_fail "no batch: $out"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $as_sklad" \
    -H 'Content-Type: application/json' --data "{\"order_id\":\"$o1\"}" "$SHIP_URL/v1/batches/$batch/shipments")
it_assert_eq 200 "$code" "o1 added to the batch"
it_assert_eq "200 application/pdf" "$(fetch "/v1/batches/$batch/manifest.pdf" "$as_sklad" manifest.pdf)" \
    "the manifest as a PDF"
manifest=$(text_of manifest.pdf)
grep -q "Manifest: batch $batch" <<<"$manifest" || it_fail "the manifest names no batch $batch"
grep -q "$tracking" <<<"$manifest" || it_fail "the manifest lacks the tracking number"
grep -q "Иван Петров" <<<"$manifest" || it_fail "the manifest lacks the recipient"
grep -q "$number" <<<"$manifest" || it_fail "the manifest lacks the order number"
grep -qE "Total +1 parcel +21\.190" <<<"$manifest" || it_fail "the manifest's totals are wrong: $manifest"
grep -qE "cdek +1 parcel, 21\.190 kg" <<<"$manifest" || it_fail "the manifest's carrier totals are wrong"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $as_sklad" "$SHIP_URL/v1/batches/$batch/process")
it_assert_eq 202 "$code" "the batch processed"
batch_closed() { [ "$(ship_sql "SELECT status FROM batches WHERE number = '$batch'")" = closed ]; }
it_wait_until 30 "the batch closed with the carrier's manifest" batch_closed
manifest_id=$(ship_sql "SELECT manifest_id FROM batches WHERE number = '$batch'")
fetch "/v1/batches/$batch/manifest.pdf" "$as_sklad" closed.pdf >/dev/null
grep -qE "Carrier manifest +$manifest_id" <<<"$(text_of closed.pdf)" ||
    it_fail "the processed batch's manifest lacks the carrier's manifest $manifest_id"

# --- who may, and what is not there ------------------------------------------------------------
it_assert_eq 403 "$(fetch "/v1/shipments/$o1/packing-slip.pdf" "$as_courier" x | cut -d' ' -f1)" \
    "a courier gets no packing slip"
it_assert_eq 403 "$(fetch "/v1/batches/$batch/manifest.pdf" "$as_courier" x | cut -d' ' -f1)" \
    "a courier gets no manifest"
it_assert_eq 401 "$(curl -s -o /dev/null -w '%{http_code}' "$SHIP_URL/v1/shipments/$o1/sticker.pdf")" \
    "no token, no sticker"
unknown=$(cat /proc/sys/kernel/random/uuid)
it_assert_eq "404 application/problem+json" "$(fetch "/v1/shipments/$unknown/packing-slip.pdf" "$as_sklad" nf.json)" \
    "an unknown order: 404 problem+json"
it_assert_eq not_found "$(jq -r .code "$WORK/nf.json")" "its code"
it_assert_eq "404 application/problem+json" "$(fetch "/v1/shipments/$unknown/sticker.pdf" "$as_sklad" nf.json)" \
    "no sticker for an unknown order"
it_assert_eq "404 application/problem+json" "$(fetch /v1/batches/20000101999/manifest.pdf "$as_sklad" nf.json)" \
    "an unknown batch: 404 problem+json"
it_assert_eq 400 "$(fetch /v1/shipments/not-a-uuid/packing-slip.pdf "$as_sklad" bad.json | cut -d' ' -f1)" \
    "a malformed id: 400"

# --- without its font the service does not start, and says why -------------------------------
rc=0
timeout 20 bash -c "$SHIP_ENV
    exec env BUS_PUB_ENDPOINT=$KIT_BUS_IN BUS_SUB_ENDPOINT=$KIT_BUS_OUT \
    HTTP_ADDR=127.0.0.1:28143 REPLAY_ADDR=tcp://127.0.0.1:25643 REDIS_URL=$TEST_REDIS_URL \
    BUS_CERT=$(it_key service shipping) SHIPPING_CARRIER_API_KEY=k \
    PDF_FONT=/nonexistent/NoSuchFont.ttf \"$IT_BIN/shipping\"" >"$WORK/nofont.log" 2>&1 || rc=$?
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || it_fail "shipping started without its font (exit $rc)"
grep -q '"err":"config_invalid".*/nonexistent/NoSuchFont.ttf' "$WORK/nofont.log" ||
    it_fail "the refusal does not name the missing font: $(tail -3 "$WORK/nofont.log")"
grep -q "fonts-dejavu-core" "$WORK/nofont.log" || it_fail "the refusal does not say what to install"
it_log "shipping documents: packing slip, sticker and manifest as PDF with Cyrillic, barcode and totals"
