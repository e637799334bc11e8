# journey.sh — sourced by the journey suite (tests/integration/journey/,
# issue 14 item 6): the whole stack once per script — busd, order,
# inventory, payment, notification and shipping, with the fake bank,
# carrier, SMTP, SMS and Telegram — and a store's means of driving an order
# through it (the intake API, the staff API with tokens, the bank's page,
# the carrier's tracking, the courier's route), and the ledger check every
# journey ends with (journey_check_*).
#
# Built on the services' own helpers (kit.sh, inventory.sh, order.sh,
# payment.sh, shipping.sh, notify.sh); the ports are theirs, but for the
# fake bank (28133: inventory replica 1 has 28131) and the shipping
# replicas (2815N: the notification fakes hold 2814x).
#
# Journeys run side by side in one stack (journey_run): each has its own
# customer (email, phone) and its own SKU, so every check reads only what
# is its own.
JOURNEY_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# the bench (tests/bench/section_journey.sh) has lib.sh already: sourced
# again it would forget the processes it started
declare -F it_start >/dev/null || source "$JOURNEY_DIR/../lib.sh"
source "$JOURNEY_DIR/../kit/kit.sh"
source "$JOURNEY_DIR/../kit/inventory.sh"
source "$JOURNEY_DIR/../order/order.sh"
FAKE_PORT=28133
source "$JOURNEY_DIR/../payment/payment.sh"
source "$JOURNEY_DIR/../notify/notify.sh"
SHIP_HTTP_BASE=2815
source "$JOURNEY_DIR/../shipping/shipping.sh"

J_ORDER_REPLAY=tcp://127.0.0.1:25561
J_INV_REPLAY=tcp://127.0.0.1:25631
J_PAY_REPLAY=tcp://127.0.0.1:$PAY_REPLAY
J_NT_REPLAY=tcp://127.0.0.1:$NT_REPLAY
J_SHIP_REPLAY=tcp://127.0.0.1:25641
J_SHIP_URL=http://127.0.0.1:${SHIP_HTTP_BASE}1

# journey_start [SHIPPING_REPLICAS [VAR=VALUE ...]]: every service and fake,
# the intake source, the staff and their tokens (J_AS_MANAGER, J_AS_WAREHOUSE,
# J_AS_COURIER, J_AS_ADMIN); VAR=VALUE go to the shipping replicas, and
# J_SERVICE_ENV (VAR=VALUE words) to every service. busd is started unless
# JOURNEY_BUSD=shared (the bench's, already running).
journey_start() {
    local replicas=${1:-1} n
    shift 2>/dev/null || true
    order_dbs
    inv_dbs
    pay_dbs
    nt_dbs
    ship_dbs
    [ "${JOURNEY_BUSD:-}" = shared ] || kit_start_busd
    INV_FEED_REPLAY=$J_ORDER_REPLAY # inventory follows the real order stream
    nt_start_fakes
    pay_start_fake
    ship_start_fake
    # shellcheck disable=SC2086 # one VAR=VALUE a word
    order_start order1 1 JOB_POLL=100ms ${J_SERVICE_ENV:-} \
        REPLAY_PEERS=inventory=$J_INV_REPLAY,payment=$J_PAY_REPLAY,notification=$J_NT_REPLAY,shipping=$J_SHIP_REPLAY
    # shellcheck disable=SC2086
    inv_start_ready inv 1 ${J_SERVICE_ENV:-}
    # shellcheck disable=SC2086
    pay_start pay1 sberbank REPLAY_PEERS=order=$J_ORDER_REPLAY,shipping=$J_SHIP_REPLAY ${J_SERVICE_ENV:-}
    for n in $(seq 1 "$replicas"); do
        # shellcheck disable=SC2086
        ship_start "ship$n" "$n" ${J_SERVICE_ENV:-} "$@"
    done
    # shellcheck disable=SC2086
    nt_start notify1 ${J_SERVICE_ENV:-} \
        REPLAY_PEERS=order=$J_ORDER_REPLAY,inventory=$J_INV_REPLAY,payment=$J_PAY_REPLAY,shipping=$J_SHIP_REPLAY
    order_sources
    local manager warehouse courier admin
    manager=$(order_staff boris "Борис Петров" manager '[]' 1000)
    order_shift "$manager" true
    warehouse=$(order_staff sklad "Склад" warehouse '[]' 0)
    courier=$(order_staff kurier "Курьер Иван" courier '[]' 0)
    admin=$(order_staff root "Администратор" admin '[]' 0)
    J_MANAGER=$manager
    J_AS_MANAGER=$(it_token manager "$manager")
    J_AS_WAREHOUSE=$(it_token warehouse "$warehouse")
    J_AS_COURIER=$(it_token courier "$courier")
    J_AS_ADMIN=$(it_token admin "$admin")
}

# journey_products SKU:ON_HAND ...: one product per journey, 1,000.00 each,
# 500 g (a CDEK parcel, a Russian Post parcel, a courier's bag)
journey_products() {
    local body='{"products": [' sep="" p
    for p in "$@"; do
        body+="$sep{\"sku\":\"${p%%:*}\",\"name\":\"Товар ${p%%:*}\",\"price_minor\":100000,\"vat_rate_bp\":2000,\"weight_g\":500,\"on_hand\":${p#*:}}"
        sep=,
    done
    inv_api_ok POST /v1/imports "$body]}" >/dev/null
}

# journey_run NAME FUNCTION...: the journeys side by side, each in its own
# subshell (its output in $IT_RUN/journey-NAME.out); fails naming every
# journey that failed, with its output's end
journey_run() {
    local pids=() names=() name rc=0 i
    while [ $# -gt 1 ]; do
        name=$1
        (
            trap - EXIT
            "$2"
        ) >"$IT_RUN/journey-$name.out" 2>&1 &
        pids+=($!)
        names+=("$name")
        shift 2
    done
    local failed=()
    for i in "${!pids[@]}"; do
        if wait "${pids[$i]}"; then
            it_log "journey ${names[$i]}: $(grep '^it: ' "$IT_RUN/journey-${names[$i]}.out" | tail -1 | cut -c5-)"
        else
            failed+=("${names[$i]}")
            echo "--- journey ${names[$i]} failed; its output:"
            tail -30 "$IT_RUN/journey-${names[$i]}.out"
            rc=1
        fi
    done
    local parked
    parked=$(journey_dead_letters) || it_fail "could not read the services' dead letters"
    if [ -n "$parked" ]; then
        echo "--- dead letters:"
        echo "$parked"
        [ "$rc" -eq 0 ] && it_fail "the journeys passed, but a service parked an event (above)"
    fi
    [ "$rc" -eq 0 ] || it_fail "journeys failed: ${failed[*]}"
}

# journey_dead_letters: every event a service parked, a line each, oldest
# first. A store's day parks nothing: each is a fault, and an order's later
# events wait behind it.
journey_dead_letters() {
    local schema union="" sep=""
    for schema in orders inventory payment notification shipping; do
        union+="$sep SELECT '$schema' AS schema, * FROM $schema.dead_letters"
        sep=" UNION ALL"
    done
    it_psql "SELECT format('%s: %s %s seq %s of %s: %s %s', schema, stream, type, seq,
        correlation_id, err, left(detail, 200)) FROM ($union) d ORDER BY created_at"
}

# --- driving an order as a store would ---------------------------------------------------

# j_customer TAG: the journey's own customer as JSON: email j-TAG@example.ru,
# a phone made from the tag
j_customer() {
    local digits
    digits=$(printf '%07d' "$(cksum <<<"$1" | cut -d' ' -f1 | cut -c1-7)")
    echo "{\"name\":\"Покупатель $1\",\"email\":\"j-$1@example.ru\",\"phone\":\"+7999$digits\"}"
}

# j_submit TAG METHOD SKU QTY: the site sends an order over HTTP, or with
# J_VIA=bus the store's ERP publishes it on the bus (ext/intake.order, as
# source "erp"); J_ORDER, J_NUMBER, J_EMAIL, J_PHONE set (courier: Moscow,
# the store's city; post and pickup point: Kamchatka)
j_submit() {
    local tag=$1 method=$2 sku=$3 qty=$4 delivery out customer
    case $method in
    courier) delivery='{"method":"courier","address":{"region":"Moscow","city":"Москва","line1":"Тверская 1","postal_code":"125009"}}' ;;
    post) delivery='{"method":"post","address":{"region":"Kamchatka","city":"Петропавловск","line1":"Ленина 1","postal_code":"683000"}}' ;;
    pickup_point) delivery='{"method":"pickup_point","pickup_point_id":"PVZ-PKC-7","address":{"region":"Kamchatka","city":"Петропавловск"}}' ;;
    self_pickup) delivery='{"method":"self_pickup"}' ;;
    esac
    customer=$(j_customer "$tag")
    J_EMAIL="j-$tag@example.ru"
    J_PHONE=$(jq -r .phone <<<"$customer")
    if [ "${J_VIA:-http}" = bus ]; then
        out=$(echo "{\"external_id\":\"J-$tag\",\"customer\":$customer,\"delivery\":$delivery,\"items\":[{\"sku\":\"$sku\",\"quantity\":$qty}]}" |
            BUS_PUB_ENDPOINT=$KIT_BUS_IN BUS_SUB_ENDPOINT=$KIT_BUS_OUT BUS_CERT=$(it_key source erp) \
                "$IT_BIN/conveyor" intake --source erp) || it_fail "no answer on the bus for $tag: $out"
        [ "$(jq -r .status <<<"$out")" = accepted ] || it_fail "the bus intake of $tag: $out"
        J_ORDER=$(jq -r .order_id <<<"$out")
        J_NUMBER=$(order_sql "SELECT number FROM orders.orders WHERE id = '$J_ORDER'")
    else
        out=$(order_submit "J-$tag" "{\"customer\":$customer,\"delivery\":$delivery,\"items\":[{\"sku\":\"$sku\",\"quantity\":$qty}]}")
        [ "$(http_code "$out")" = 201 ] || it_fail "submitting $tag: $out"
        J_ORDER=$(http_body "$out" | jq -r .order_id)
        J_NUMBER=$(http_body "$out" | jq -r .number)
    fi
    it_log "$tag: order $J_NUMBER ($J_ORDER), $method, by ${J_VIA:-http}"
}

# j_move ORDER TO TOKEN [REASON]: a person moves the order, or the test fails
j_move() {
    local out
    out=$(order_move "$@")
    [ "$(http_code "$out")" = 200 ] || it_fail "moving $1 to $2: $out"
}

# j_confirm ORDER: its stock held, the manager confirms
j_confirm() {
    it_wait_until 30 "stock reserved for $1" order_has_stock "$1" reserved
    j_move "$1" confirmed "$J_AS_MANAGER"
}

# j_pay ORDER [ACTION]: the customer on the bank's page of the open invoice
j_pay() {
    it_wait_until 30 "an open invoice for $1" invoice_is "$1" open
    pay_at_bank "$1" "${2:-pay}"
}

# j_assemble ORDER: ready to ship, the warehouse packs it
j_assemble() {
    it_wait_until 30 "$1 ready to ship" order_has_status "$1" prepare_for_delivery
    j_move "$1" assembled "$J_AS_WAREHOUSE"
}

# j_track ORDER CODE: the parcel moves at the fake carrier (its webhook follows)
j_track() {
    it_wait_until 30 "$1 labelled" j_ship_state_in "$1" labelled handed_over
    ship_track "$1" "$2"
}

j_ship_state_in() { # ORDER STATE...
    local state s
    state=$(ship_field "$1" state)
    shift
    for s in "$@"; do [ "$state" = "$s" ] && return 0; done
    return 1
}

# j_courier ORDER EVENT [AMOUNT]: the city courier's report (F29)
j_courier() {
    local body="{\"event\":\"$2\"${3:+,\"amount_minor\":$3}}" out
    out=$(curl -s --max-time 10 -X POST "$J_SHIP_URL/v1/shipments/$1/courier" -w '\n%{http_code}' \
        -H "Authorization: Bearer $J_AS_COURIER" -H 'Content-Type: application/json' --data-binary "$body")
    [ "$(tail -1 <<<"$out")" = 200 ] || it_fail "the courier's $2 for $1: $out"
}

# j_counter ORDER [AMOUNT [TOKEN]]: a self-pickup order handed to its
# customer at the counter (shipping); prints "<status> <code>"
j_counter() {
    local out
    out=$(curl -s --max-time 10 -X POST "$J_SHIP_URL/v1/shipments/$1/handover" -w '\n%{http_code}' \
        -H "Authorization: Bearer ${3:-$J_AS_WAREHOUSE}" -H 'Content-Type: application/json' \
        --data-binary "{${2:+\"amount_minor\":$2}}")
    echo "$(tail -1 <<<"$out") $(sed '$d' <<<"$out" | jq -r '.code // "ok"' 2>/dev/null)"
}

# j_collected ORDER AMOUNT REF: cash on delivery recorded at the payment service
j_collected() {
    local out
    out=$(it_http POST "$PAY_URL/v1/orders/$1/collected" "{\"amount_minor\":$2,\"reference\":\"$3\"}" \
        "Authorization: Bearer $J_AS_COURIER")
    [ "$(http_code "$out")" = 201 ] || it_fail "cash collected for $1: $out"
}

j_total() { order_sql "SELECT total_minor FROM orders.orders WHERE id = '$1'"; }
# j_paid_is ORDER AMOUNT: the order shows that much paid (asked at each try)
j_paid_is() { [ "$(order_sql "SELECT payment->>'paid_minor' FROM orders.orders WHERE id = '$1'")" = "$2" ]; }

# j_history ORDER: the order's statuses, in order
j_history() {
    order_sql "SELECT string_agg(to_status, ' ' ORDER BY id) FROM orders.order_history
               WHERE order_id = '$1' AND kind = 'status'"
}

# --- the ledger check every journey ends with ------------------------------------------

# journey_check_stock SKU ON_HAND RESERVED WRITTEN_OFF: the product's stock,
# what the movement ledger says was written off, and the reconciliation
journey_check_stock() {
    local sku=$1 report
    it_assert_eq "$2 $3 $4" "$(inv_sql "SELECT p.on_hand || ' ' || p.reserved || ' ' ||
        coalesce((SELECT -sum(on_hand_delta) FROM stock_movements m WHERE m.sku = p.sku
                  AND kind = 'write_off'), 0) FROM products p WHERE sku = '$sku'")" \
        "$sku: on hand, reserved, written off"
    it_assert_eq "$2 $3" "$(inv_sql "SELECT coalesce(sum(on_hand_delta), 0) || ' ' ||
        coalesce(sum(reserved_delta), 0) FROM stock_movements WHERE sku = '$sku'")" \
        "$sku: the movement ledger sums to the stock"
    report=$(inv_api_ok GET /v1/reconciliation)
    jq -e '.clean == true' >/dev/null <<<"$report" || it_fail "$sku: reconciliation: ${report:0:800}"
}

# journey_check_money ORDER PAID: the payment ledger's payments and cash less
# its refunds are PAID, and so say the payment service and the order
journey_check_money() {
    local order=$1 paid=$2
    it_assert_eq "$paid" "$(pay_sql "SELECT coalesce(sum(CASE WHEN kind = 'refund' THEN -amount_minor
        ELSE amount_minor END), 0) FROM payment.ledger WHERE order_id = '$order'")" \
        "$order: paid less refunded in the payment ledger"
    it_assert_eq "$paid" "$(pay_sql "SELECT coalesce((SELECT received_minor - refunded_minor
        FROM payment.orders WHERE order_id = '$order'), 0)")" "$order: the payment service's paid"
    it_assert_eq 0 "$(pay_sql "SELECT coalesce((SELECT refunding_minor FROM payment.orders
        WHERE order_id = '$order'), 0)")" "$order: no refund left in flight"
    it_assert_eq "$paid" "$(order_sql "SELECT coalesce(payment->>'paid_minor', '0') FROM orders.orders
        WHERE id = '$order'")" "$order: the order's paid"
}

# journey_check_labels ORDER LABELS [VOIDED]: the labels the fake carrier
# sold for the order (every round), and how many of them are voided
journey_check_labels() {
    local labels
    labels=$(fake_carrier GET /_fake/labels) || it_fail "the fake carrier's labels"
    it_assert_eq "$2 ${3:-0}" "$(jq -r --arg o "$1" '[.labels[] | select(.external_shipment_id | startswith($o))]
        | "\(length) \([.[] | select(.status == "voided")] | length)"' <<<"$labels")" \
        "$1: labels sold, voided"
    it_assert_eq 0 "$(fake_carrier GET /_fake/stats | jq .shipments_sold_twice)" "no shipment sold twice"
}

# journey_check_messages ORDER EMAILS SMS: every message to the order's
# customer settled and sent once: EMAILS are the subjects expected
# (|-separated, any order), SMS the texts; each is at the fake SMTP (and in
# a .eml) or the fake SMS gateway exactly once, nothing more. A customer
# with more orders (an exchange's replacement) has each order's messages
# told apart by its number ("№N"), which every one of them names.
journey_check_messages() {
    local order=$1 emails=$2 sms=$3 email phone mine=""
    email=$(order_sql "SELECT c.email FROM orders.orders o JOIN orders.customers c ON c.id = o.customer_id WHERE o.id = '$order'")
    phone=$(order_sql "SELECT c.phone FROM orders.orders o JOIN orders.customers c ON c.id = o.customer_id WHERE o.id = '$order'")
    [ "$(order_sql "SELECT count(*) FROM orders.orders WHERE customer_id = (SELECT customer_id FROM orders.orders
        WHERE id = '$order')")" -eq 1 ] ||
        mine="№$(order_sql "SELECT number FROM orders.orders WHERE id = '$order'")([^0-9]|\$)"
    local want_mail want_sms
    want_mail=$(tr '|' '\n' <<<"$emails" | sed '/^$/d' | wc -l)
    want_sms=$(tr '|' '\n' <<<"$sms" | sed '/^$/d' | wc -l)
    j_told() {
        [ "$(nt_count "order_id = '$order' AND recipient_kind = 'customer' AND channel = 'email' AND status <> 'pending'")" -ge "$want_mail" ] &&
            [ "$(nt_count "order_id = '$order' AND recipient_kind = 'customer' AND channel = 'sms' AND status <> 'pending'")" -ge "$want_sms" ] &&
            nt_settled "$order"
    }
    it_wait_until 60 "$order: every message settled ($(nt_deliveries "$order"))" j_told
    sleep 1 # anything more the journey's last fact could cause has happened by now
    it_wait_until 30 "$order: every message settled" nt_settled "$order"
    it_assert_eq 0 "$(nt_count "order_id = '$order' AND status <> 'sent'")" \
        "$order: nothing failed, suppressed or unknown ($(nt_deliveries "$order"))"
    it_assert_eq 0 "$(nt_sql "SELECT count(*) FROM (SELECT 1 FROM notification.deliveries WHERE order_id = '$order'
        GROUP BY event_id, trigger_id, recipient HAVING count(*) > 1) x")" "$order: no (event, trigger, recipient) twice"
    local got_mail got_sms logged_mail logged_sms
    got_mail=$(nt_mail_json | jq -r --arg a "$email" --arg m "$mine" '[.messages[] | select(.rcpts | index($a))
        | .headers.Subject | select($m == "" or test($m))] | sort | join("|")')
    logged_mail=$(nt_sql "SELECT coalesce(string_agg(subject, '|' ORDER BY subject COLLATE \"C\"), '') FROM notification.deliveries
        WHERE order_id = '$order' AND channel = 'email' AND recipient = '$email'")
    it_assert_eq "$(tr '|' '\n' <<<"$emails" | sed '/^$/d' | LC_ALL=C sort | paste -sd'|')" \
        "$(tr '|' '\n' <<<"$got_mail" | sed '/^$/d' | LC_ALL=C sort | paste -sd'|')" "$order: the customer's email at the fake SMTP"
    it_assert_eq "$(tr '|' '\n' <<<"$got_mail" | sed '/^$/d' | LC_ALL=C sort | paste -sd'|')" \
        "$(tr '|' '\n' <<<"$logged_mail" | sed '/^$/d' | LC_ALL=C sort | paste -sd'|')" "$order: the delivery log's email"
    local id
    for id in $(nt_mail_json | jq -r --arg a "$email" --arg m "$mine" '.messages[] | select(.rcpts | index($a))
        | select($m == "" or (.headers.Subject | test($m))) | .headers["Message-ID"]'); do
        it_assert_eq 1 "$(grep -lF -- "$id" "$NT_MAIL_DIR"/*.eml | wc -l)" "$order: the email $id in one .eml"
    done
    got_sms=$(nt_sms_json | jq -r --arg n "${phone#+}" --arg m "$mine" '[.messages[] | select(.number == $n) | .text
        | select($m == "" or test($m))] | sort | join("|")')
    logged_sms=$(nt_sql "SELECT coalesce(string_agg(body, '|' ORDER BY body COLLATE \"C\"), '') FROM notification.deliveries
        WHERE order_id = '$order' AND channel = 'sms'")
    it_assert_eq "$(tr '|' '\n' <<<"$sms" | sed '/^$/d' | LC_ALL=C sort | paste -sd'|')" \
        "$(tr '|' '\n' <<<"$got_sms" | sed '/^$/d' | LC_ALL=C sort | paste -sd'|')" "$order: the customer's SMS at the fake gateway"
    it_assert_eq "$(tr '|' '\n' <<<"$got_sms" | sed '/^$/d' | LC_ALL=C sort | paste -sd'|')" \
        "$(tr '|' '\n' <<<"$logged_sms" | sed '/^$/d' | LC_ALL=C sort | paste -sd'|')" "$order: the delivery log's SMS"
}

# j_money_ru MINOR: money as the customer reads it in Russian ("7 800,00 ₽",
# a narrow no-break space between thousands)
j_money_ru() {
    local whole=$(($1 / 100)) out=""
    while [ "$whole" -ge 1000 ]; do
        out=$'\u202f'$(printf '%03d' $((whole % 1000)))$out
        whole=$((whole / 1000))
    done
    echo "$whole$out,$(printf '%02d' $(($1 % 100))) ₽"
}

# j_mail_text ADDRESS SUBJECT: the text of the one email to ADDRESS with
# SUBJECT, as the fake SMTP server kept it
j_mail_text() {
    nt_mail_json | jq -r --arg a "$1" --arg s "$2" '[.messages[] | select((.rcpts | index($a)) and .headers.Subject == $s)]
        | if length == 1 then .[0].text | gsub("\r"; "") else "\(length) emails \($s)" end'
}

# j_subjects NUMBER LABEL...: the status emails' subjects ("Заказ №N: label")
j_subjects() {
    local number=$1 out="" l
    shift
    for l in "$@"; do out+="${out:+|}Заказ №$number: $l"; done
    echo "$out"
}

# --- edits and claims (an edit after payment, an exchange, a refund claim) ---------------

# j_deliver_paid ORDER: a paid carrier order packed, carried and delivered
j_deliver_paid() {
    j_assemble "$1"
    j_carry "$1"
}

# j_carry ORDER: a packed parcel carried and delivered, its stock written off
j_carry() {
    j_track "$1" AC
    j_track "$1" DE
    it_wait_until 30 "$1 delivered" order_has_status "$1" delivered
    it_wait_until 30 "$1: the stock written off" order_has_stock "$1" committed
}

# j_deliver ORDER: a confirmed prepaid carrier order paid at the bank and
# delivered
j_deliver() {
    j_pay "$1"
    j_deliver_paid "$1"
}

# j_edit ORDER BODY: the manager edits the order at the version they see,
# or the test fails; J_VERSION is the new version
j_edit() {
    local out
    out=$(order_call POST "/v1/orders/$1/edit" "$2" "Authorization: Bearer $J_AS_MANAGER" \
        "If-Match: \"$(order_sql "SELECT version FROM orders.orders WHERE id = '$1'")\"")
    [ "$(http_code "$out")" = 200 ] || it_fail "editing $1 with $2: $out"
    J_VERSION=$(http_body "$out" | jq -r .version)
}

# j_claim ORDER TYPE LINE_NO QTY REASON: staff file a claim for the
# customer; J_CLAIM is its id
j_claim() {
    local out
    out=$(order_call POST "/v1/orders/$1/claims" \
        "{\"type\":\"$2\",\"reason\":\"$5\",\"lines\":[{\"line_no\":$3,\"quantity\":$4}]}" \
        "Authorization: Bearer $J_AS_MANAGER")
    [ "$(http_code "$out")" = 201 ] || it_fail "the $2 claim for $1: $out"
    J_CLAIM=$(http_body "$out" | jq -r .id)
}

# j_decide CLAIM DECISION [COMMENT]: the manager decides; prints the claim
j_decide() {
    local out
    out=$(order_call POST "/v1/claims/$1/decision" "{\"decision\":\"$2\",\"comment\":\"${3:-}\"}" \
        "Authorization: Bearer $J_AS_MANAGER")
    [ "$(http_code "$out")" = 200 ] || it_fail "deciding $1 $2: $out"
    http_body "$out"
}

j_claim_status() { order_sql "SELECT status FROM orders.claims WHERE id = '$1'"; }
j_claim_is() { [ "$(j_claim_status "$1")" = "$2" ]; }

# j_received ORDER KIND LINE_NO QTY CONDITION: the warehouse takes goods of
# the order back in at inventory (return.received)
j_received() {
    local out
    out=$(INV_TOKEN=$J_AS_WAREHOUSE inv_api POST /v1/returns "{\"return_id\":\"$(cat /proc/sys/kernel/random/uuid)\",
        \"order_id\":\"$1\",\"kind\":\"$2\",\"lines\":[{\"line_no\":$3,\"quantity\":$4,\"condition\":\"$5\"}]}")
    [ "$(http_code "$out")" = 201 ] || it_fail "the warehouse receives $1's goods: $out"
}

# j_batch ORDER: the warehouse opens a new batch (F25) and puts the order's
# parcel in it before it is packed, so the batch buys its label; J_BATCH is
# the batch's number
j_batch() {
    local out
    out=$(it_http POST "$J_SHIP_URL/v1/batches" "" "Authorization: Bearer $J_AS_WAREHOUSE")
    [ "$(http_code "$out")" = 201 ] || it_fail "a new batch: $out"
    J_BATCH=$(http_body "$out" | jq -r .number)
    it_wait_until 30 "$1's parcel known to shipping" j_ship_state_in "$1" new to_label
    out=$(it_http POST "$J_SHIP_URL/v1/batches/$J_BATCH/shipments" "{\"order_id\":\"$1\"}" "Authorization: Bearer $J_AS_WAREHOUSE")
    [ "$(http_code "$out")" = 200 ] || it_fail "$1 into batch $J_BATCH: $out"
}

# j_batch_process BATCH ORDER: the packed parcel's batch processed: its label
# bought by the carrier's batch, the manifest closes it, the carrier takes it
j_batch_process() {
    local out
    it_wait_until 30 "$2 packed, waiting for its batch" ship_state_is "$2" to_label
    out=$(it_http POST "$J_SHIP_URL/v1/batches/$1/process" "" "Authorization: Bearer $J_AS_WAREHOUSE")
    [ "$(http_code "$out")" = 202 ] || it_fail "processing batch $1: $out"
    it_wait_value 30 "batch $1 closed" = closed ship_sql "SELECT status FROM batches WHERE number = '$1'"
    it_wait_until 30 "$2 handed over with the manifest" ship_state_is "$2" handed_over
}
