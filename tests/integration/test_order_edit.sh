#!/usr/bin/env bash
# A manager edits an order before it is assembled (issue 14 item 1), against
# the real order and inventory services on one bus: the edit names the
# version it was made on (428 without, 409 version_conflict for another),
# is validated by intake's rules (422 with every reason, lines[...] named),
# is for managers and admins only, recomputes the totals by the totals rule,
# keeps a kept SKU's line number, leaves an `edit` row in the history and
# order.changed at the new version in the same transaction; a discount
# above the ceiling of the order's source is refused with the ceiling named
# (422 discount_not_allowed); once the order is assembled it is refused with
# the reason (409 not_editable).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/kit/kit.sh"
source "$(dirname "$0")/kit/inventory.sh"
source "$(dirname "$0")/order/order.sh"

kit_dbs
order_dbs
inv_dbs
kit_start_busd
INV_FEED_REPLAY=tcp://127.0.0.1:25561 # inventory follows the real order stream
order_start order1 1 REPLAY_PEERS=inventory=tcp://127.0.0.1:25631 JOB_POLL=100ms
inv_start_ready inv 1
order_sources
anna=$(order_staff anna "Anna Smirnova" manager '["moscow"]' 100)
order_shift "$anna" true
sklad=$(order_staff sklad "Sklad Keeper" warehouse '[]' 0)
as_anna=$(it_token manager "$anna")
as_sklad=$(it_token warehouse "$sklad")

inv_api_ok POST /v1/imports '{"products": [
  {"sku": "KETTLE", "name": "Kettle 1.7 l", "price_minor": 349000, "vat_rate_bp": 2000, "weight_g": 1450, "on_hand": 50},
  {"sku": "MUG", "name": "Mug", "price_minor": 49000, "vat_rate_bp": 2000, "weight_g": 350, "on_hand": 50},
  {"sku": "BOOK", "name": "Book", "price_minor": 99000, "vat_rate_bp": 1000, "weight_g": 500, "on_hand": 50}]}' >/dev/null

submit() { # key body -> order id
    local out
    out=$(order_submit "$1" "$2")
    [ "$(http_code "$out")" = 201 ] || it_fail "submitting $1: $out"
    http_body "$out" | jq -r .order_id
}
version_of() { order_sql "SELECT version FROM orders.orders WHERE id = '$1'"; }
# edit ORDER TOKEN BODY [VERSION]: POST /v1/orders/{id}/edit with If-Match
edit() {
    local match=()
    [ -n "${4:-}" ] && match=("If-Match: \"$4\"")
    order_call POST "/v1/orders/$1/edit" "$3" "Authorization: Bearer $2" "${match[@]}"
}

body='{"customer":{"name":"Ivan Petrov","phone":"+79123456789"},
  "delivery":{"method":"courier","address":{"region":"Moscow","city":"Moscow","line1":"Tverskaya 1"}},
  "items":[{"sku":"KETTLE","quantity":1},{"sku":"MUG","quantity":3}]}'
order=$(submit E-1 "$body")
it_wait_until 20 "stock reserved for E-1" order_has_stock "$order" reserved
v=$(version_of "$order")

# --- refusals that write nothing -------------------------------------------------
out=$(edit "$order" "$as_anna" '{"discount_bp":500}')
it_assert_eq "428 version_required" "$(http_code "$out") $(http_body "$out" | jq -r .code)" \
    "an edit without the version it was made on"
out=$(edit "$order" "$as_anna" '{"discount_bp":500}' $((v - 1)))
it_assert_eq "409 version_conflict $v" \
    "$(http_code "$out") $(http_body "$out" | jq -r '.code + " " + (.version | tostring)')" \
    "an edit of an older version names the current one"
out=$(edit "$order" "$as_sklad" '{"discount_bp":500}' "$v")
it_assert_eq 403 "$(http_code "$out")" "the warehouse may not edit an order"
out=$(edit "$order" "$as_anna" '{"lines":[{"sku":"MUG","quantity":0},{"sku":"has space","quantity":1}],"discount_bp":20000}' "$v")
it_assert_eq "422 invalid" "$(http_code "$out") $(http_body "$out" | jq -r .code)" "a bad edit"
it_assert_eq "discount_bp lines[0].quantity lines[1].sku" \
    "$(http_body "$out" | jq -r '[.errors[].field] | sort | join(" ")')" "every reason, lines named as lines"
out=$(edit "$order" "$as_anna" '{"lines":[{"sku":"MUG","quantity":1},{"sku":"MUG","quantity":2}]}' "$v")
it_assert_eq 422 "$(http_code "$out")" "a SKU named twice"
out=$(edit "$order" "$as_anna" '{"reason":"nothing"}' "$v")
it_assert_eq "422 lines" "$(http_code "$out") $(http_body "$out" | jq -r '.errors[0].field')" \
    "an edit that changes nothing at all"
out=$(edit "$order" "$as_anna" '{"discount_bp":0}' "$v")
it_assert_eq "200 $v 0" "$(http_code "$out") $(http_body "$out" | jq -r '"\(.version) \(.changed | length)"')" \
    "an edit equal to the order: 200, same version, nothing changed"
it_assert_eq "$v" "$(version_of "$order")" "nothing written"
it_assert_eq 0 "$(order_sql "SELECT count(*) FROM orders.outbox WHERE correlation_id = '$order' AND type = 'order.changed'")" \
    "no order.changed for refusals"

# --- a discount: totals recomputed at once, the stock stays held -------------------
out=$(edit "$order" "$as_anna" '{"discount_bp":1000,"reason":"loyal customer"}' "$v")
it_assert_eq "200 discount reserved" \
    "$(http_code "$out") $(http_body "$out" | jq -r '"\(.changed | join(",")) \(.stock_state)"')" "a discount edit"
# lines 349000 + 147000 = 496000; 10 % = 49600; goods 446400; Moscow courier under 5,000 roubles: 30000
it_assert_eq "496000 49600 30000 476400" \
    "$(http_body "$out" | jq -r '.totals | "\(.lines_minor) \(.discount_minor) \(.delivery_minor) \(.total_minor)"')" \
    "the totals by the rule"
it_assert_eq "496000 49600 476400 1000 reserved" \
    "$(order_sql "SELECT lines_minor || ' ' || discount_minor || ' ' || total_minor || ' ' || discount_bp || ' ' || stock_state FROM orders.orders WHERE id = '$order'")" \
    "the order's totals stored"
it_assert_eq "1:34900 2:14700" \
    "$(order_sql "SELECT string_agg(line_no || ':' || discount_minor, ' ' ORDER BY line_no) FROM orders.order_lines WHERE order_id = '$order'")" \
    "the discount shared over the lines"
v2=$(http_body "$out" | jq -r .version)
[ "$v2" -gt "$v" ] || it_fail "the version did not move on: $v -> $v2"

# --- a discount above the source's ceiling (F14): refused, the ceiling named --------
# site-main may give 20 % (order_sources): the manager's edit is held to it as intake is
out=$(edit "$order" "$as_anna" '{"discount_bp":2500}' "$v2")
it_assert_eq "422 discount_not_allowed site-main 2000 2500 discount_bp:not_allowed" \
    "$(http_code "$out") $(http_body "$out" | jq -r '"\(.code) \(.source) \(.max_discount_bp) \(.discount_bp) \(.errors[0].field):\(.errors[0].code)"')" \
    "a discount above the source's ceiling: $out"
grep -q "at most 20.00 % discount (max_discount_bp 2000), not 25.00 %" <<<"$(http_body "$out" | jq -r .detail)" ||
    it_fail "the refusal does not name the ceiling: $out"
out=$(order_call POST "/v1/orders/$order/edit" '{"discount_bp":2500}' "Authorization: Bearer $(it_token admin "$anna")" "If-Match: \"$v2\"")
it_assert_eq "422 discount_not_allowed" "$(http_code "$out") $(http_body "$out" | jq -r .code)" \
    "an admin's edit is held to the same ceiling (an admin raises the source's instead)"
it_assert_eq "$v2 1000" "$(order_sql "SELECT version || ' ' || discount_bp FROM orders.orders WHERE id = '$order'")" \
    "nothing written"

# --- lines: a kept SKU keeps its number, a new one takes the next -------------------
it_stop inv # so that the order is seen before inventory answers
out=$(edit "$order" "$as_anna" '{"lines":[{"sku":"MUG","quantity":2},{"sku":"BOOK","quantity":1}],
  "delivery":{"method":"courier","address":{"region":"Moscow","city":"Moscow","line1":"Arbat 5"}}}' "$v2")
it_assert_eq "200 lines,delivery pending" \
    "$(http_code "$out") $(http_body "$out" | jq -r '"\(.changed | join(",")) \(.stock_state)"')" "a lines and delivery edit"
v3=$(http_body "$out" | jq -r .version)
it_assert_eq "2:MUG:2 3:BOOK:1" \
    "$(order_sql "SELECT string_agg(line_no || ':' || sku || ':' || quantity, ' ' ORDER BY line_no) FROM orders.order_lines WHERE order_id = '$order'")" \
    "MUG kept line 2, BOOK got line 3, KETTLE removed"
it_assert_eq "$v3" "$(order_sql "SELECT lines_version FROM orders.orders WHERE id = '$order'")" \
    "the lines inventory must answer are this version's"
it_assert_eq "Arbat 5" "$(order_sql "SELECT delivery->'address'->>'line1' FROM orders.orders WHERE id = '$order'")" \
    "the new delivery stored"
it_assert_eq 2 "$(order_sql "SELECT count(*) FROM orders.outbox WHERE correlation_id = '$order' AND type = 'order.changed'")" \
    "one order.changed per edit"
changed=$(order_sql "SELECT encode(payload, 'escape') FROM orders.outbox WHERE correlation_id = '$order' AND type = 'order.changed' ORDER BY id DESC LIMIT 1")
for part in BOOK MUG "Arbat 5" lines delivery; do
    [[ $changed == *"$part"* ]] || it_fail "order.changed lacks '$part'"
done
history=$(http_body "$(order_admin GET "/v1/orders/$order")")
it_assert_eq "2 $anna loyal customer" \
    "$(jq -r '[.history[] | select(.kind == "edit")] | "\(length) \(.[0].actor_id) \(.[0].reason)"' <<<"$history")" \
    "the history records both edits, who and why"
out=$(order_move "$order" confirmed "$as_anna")
it_assert_eq "409 not_ready" "$(http_code "$out") $(http_body "$out" | jq -r .code)" \
    "an order whose new lines are not yet held cannot be confirmed"
inv_start_ready inv 1
it_wait_until 20 "the new lines held" order_has_stock "$order" reserved

# --- once assembled, an edit is refused with the reason --------------------------
packed=$(submit E-2 "$body")
it_wait_until 20 "stock reserved for E-2" order_has_stock "$packed" reserved
it_assert_eq 200 "$(http_code "$(order_move "$packed" confirmed "$as_anna")")" "confirmed"
it_assert_eq 200 "$(http_code "$(order_move "$packed" assembled "$as_sklad")")" "packed"
out=$(edit "$packed" "$as_anna" '{"discount_bp":500}' "$(version_of "$packed")")
it_assert_eq "409 not_editable assembled" \
    "$(http_code "$out") $(http_body "$out" | jq -r '.code + " " + .order_status')" "an assembled order: $out"
grep -q "packed" <<<"$(http_body "$out" | jq -r .detail)" || it_fail "the refusal does not say why: $out"

it_assert_eq 0 "$(order_sql "SELECT count(*) FROM orders.dead_letters")" "dead letters in the order service"
order_assert_references
it_log "order edits: version, validation, roles, totals, lines, history, order.changed, refusal once assembled"
