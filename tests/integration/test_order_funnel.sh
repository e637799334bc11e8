#!/usr/bin/env bash
# The status funnel (F6–F8, F14) against the real order and inventory
# services on one bus: an order held by inventory gets its totals by the
# documented rule; a local courier order runs new -> confirmed ->
# prepare_for_delivery -> assembled -> handed_to_carrier -> delivered with
# every fact event, the stock written off and the customer's spending
# counted; a shortage waits in awaiting_supply until a supply arrives; a
# cancellation releases the stock; every move of the matrix is allowed to
# its role and forbidden moves answer 409 with the moves that are; tasks
# are created and timers fire when business time moves on; the reports
# count what happened.
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
boris=$(order_staff boris "Boris Petrov" manager '[]' 100)
order_shift "$anna" true
order_shift "$boris" true
sklad=$(order_staff sklad "Sklad Keeper" warehouse '[]' 0)
kurier=$(order_staff kurier "Kurier Fast" courier '[]' 0)
order_staff root "Root Admin" admin '[]' 0 >/dev/null
as_anna=$(it_token manager "$anna")
as_boris=$(it_token manager "$boris")
as_sklad=$(it_token warehouse "$sklad")
as_kurier=$(it_token courier "$kurier")

inv_api_ok POST /v1/imports '{"products": [
  {"sku": "KETTLE", "name": "Kettle 1.7 l", "price_minor": 349000, "vat_rate_bp": 2000, "weight_g": 1450, "on_hand": 50},
  {"sku": "MUG", "name": "Mug", "price_minor": 49000, "vat_rate_bp": 2000, "weight_g": 350, "on_hand": 50},
  {"sku": "BOOK", "name": "Book", "price_minor": 99000, "vat_rate_bp": 1000, "weight_g": 500, "on_hand": 50},
  {"sku": "RARE", "name": "Rare thing", "price_minor": 100000, "vat_rate_bp": 2000, "weight_g": 100, "on_hand": 0}]}' >/dev/null

submit() { # key body -> order id
    local out
    out=$(order_submit "$1" "$2")
    [ "$(http_code "$out")" = 201 ] || it_fail "submitting $1: $out"
    http_body "$out" | jq -r .order_id
}

# --- totals by the rule: 10.50 % over three lines --------------------------------
body='{"customer":{"name":"Ivan Petrov","phone":"+79123456789"},"discount_bp":1050,
  "delivery":{"method":"courier","address":{"region":"Moscow","city":"Moscow","line1":"Tverskaya 1"}},
  "items":[{"sku":"KETTLE","quantity":1},{"sku":"MUG","quantity":3},{"sku":"BOOK","quantity":2}]}'
local_order=$(submit F-1 "$body")
it_wait_until 20 "stock reserved for F-1" order_has_stock "$local_order" reserved
# lines 349000 + 147000 + 198000 = 694000; discount round(694000 * 0.105) = 72870,
# shared 36645 / 15435 / 20790; VAT contained: round(312355*2000/12000) = 52059,
# round(131565*2000/12000) = 21928, round(177210*1000/11000) = 16110
it_assert_eq "694000 72870 90097" \
    "$(order_sql "SELECT lines_minor || ' ' || discount_minor || ' ' || vat_minor FROM orders.orders WHERE id = '$local_order'")" \
    "order totals (lines, discount, VAT)"
it_assert_eq "1:349000:36645:52059 2:147000:15435:21928 3:198000:20790:16110" \
    "$(order_sql "SELECT string_agg(line_no || ':' || amount_minor || ':' || discount_minor || ':' || vat_minor, ' ' ORDER BY line_no) FROM orders.order_lines WHERE order_id = '$local_order'")" \
    "line amounts, discount shares and VAT"
it_assert_eq "3 2" "$(order_sql "SELECT sum(quantity) FILTER (WHERE sku = 'MUG') || ' ' || sum(quantity) FILTER (WHERE sku = 'BOOK') FROM orders.order_lines WHERE order_id = '$local_order'")" \
    "quantities kept"
grep -q "order.reserved" <<<"$(order_events "$local_order")" || it_fail "no order.reserved for the held order"
# order.reserved carries the delivery (the shipping service quotes it) and the recipient
reserved_payload=$(order_sql "SELECT encode(payload, 'escape') FROM orders.outbox WHERE correlation_id = '$local_order' AND type = 'order.reserved'")
for part in "Tverskaya 1" Moscow "+79123456789"; do
    [[ $reserved_payload == *"$part"* ]] || it_fail "order.reserved lacks '$part' (delivery address and recipient)"
done

# --- the happy path of a local courier order ---------------------------------------
it_assert_eq "$anna" "$(order_sql "SELECT manager_id FROM orders.orders WHERE id = '$local_order'")" \
    "the Moscow order went to the Moscow manager"
out=$(order_move "$local_order" confirmed "$as_anna")
it_assert_eq "200 prepare_for_delivery" "$(http_code "$out") $(http_body "$out" | jq -r .status)" \
    "confirming a paid-on-delivery order moves it on to prepare for delivery"
it_assert_eq "on_delivery 0 621130" \
    "$(order_sql "SELECT payment_terms || ' ' || delivery_minor || ' ' || total_minor FROM orders.orders WHERE id = '$local_order'")" \
    "payment terms, delivery (free in Moscow from 5,000 roubles) and total of a local courier order"
it_assert_eq 200 "$(http_code "$(order_move "$local_order" assembled "$as_sklad")")" "the warehouse packs it"
it_assert_eq 200 "$(http_code "$(order_move "$local_order" handed_to_carrier "$as_sklad")")" "the warehouse hands it over"
it_assert_eq 200 "$(http_code "$(order_move "$local_order" delivered "$as_kurier")")" "the courier delivers it"
it_wait_until 20 "the stock written off at delivery" order_has_stock "$local_order" committed
it_assert_eq "order.placed order.status_changed order.assigned task.created intake.accepted order.reserved order.status_changed order.confirmed order.status_changed order.ready_to_ship order.status_changed order.assembled order.status_changed order.status_changed order.delivered" \
    "$(order_events "$local_order")" "the order's events, in order"
it_assert_eq "621130 regular" \
    "$(order_sql "SELECT total_spent_minor || ' ' || category FROM orders.customers WHERE phone = '+79123456789'")" \
    "the customer's spending counted at delivery"
it_assert_eq 0 "$(inv_sql "SELECT reserved FROM products WHERE sku = 'KETTLE'")" "kettles still reserved"
it_assert_eq 49 "$(inv_sql "SELECT on_hand FROM products WHERE sku = 'KETTLE'")" "kettles on hand after delivery"
history=$(order_admin GET "/v1/orders/$local_order")
it_assert_eq "new confirmed prepare_for_delivery assembled handed_to_carrier delivered" \
    "$(http_body "$history" | jq -r '[.history[] | select(.kind == "status") | .to] | join(" ")')" \
    "the journey in the order's history"
it_assert_eq "$kurier courier" \
    "$(http_body "$history" | jq -r '.history[] | select(.to == "delivered") | .actor_id + " " + .actor_role')" \
    "who delivered it"

# --- prepay outside the region: awaiting payment, and a reminder after 3 business days ---
far=$(submit F-2 '{"customer":{"name":"Far Away","email":"far@example.ru"},"delivery":{"method":"post",
  "address":{"region":"Kamchatka","city":"Petropavlovsk","line1":"Lenina 1","postal_code":"683000"}},
  "items":[{"sku":"MUG","quantity":1}]}')
it_wait_until 20 "stock reserved for F-2" order_has_stock "$far" reserved
far_manager=$(order_sql "SELECT manager_id FROM orders.orders WHERE id = '$far'")
it_assert_eq "$boris" "$far_manager" "an order from elsewhere went to the manager of every region"
out=$(order_move "$far" confirmed "$as_boris")
it_assert_eq "200 awaiting_payment" "$(http_code "$out") $(http_body "$out" | jq -r .status)" \
    "confirming an order from outside the region waits for payment"
it_assert_eq prepay "$(order_sql "SELECT payment_terms FROM orders.orders WHERE id = '$far'")" "prepay terms"
grep -q "order.confirmed" <<<"$(order_events "$far")" || it_fail "no order.confirmed"
out=$(order_call GET "/v1/tasks?assignee=me&status=open" "" "Authorization: Bearer $as_boris")
it_assert_eq "new_order" "$(http_body "$out" | jq -r --arg o "$far" '[.items[] | select(.order_id == $o) | .kind] | join(" ")')" \
    "boris's open tasks for the order before the reminder"
order_call POST /v1/test/clock '{"advance_ms": 518400000}' >/dev/null # 6 days
reminded() {
    [ "$(order_sql "SELECT count(*) FROM orders.tasks WHERE order_id = '$far' AND kind = 'unpaid_reminder'")" = 1 ]
}
it_wait_until 20 "the unpaid reminder after 3 business days" reminded
# tokens minted before the jump have expired in business time
as_anna=$(order_login anna)
as_boris=$(order_login boris)
as_sklad=$(order_login sklad)
as_kurier=$(order_login kurier)
ORDER_ADMIN_TOKEN=$(order_login root)
task=$(order_sql "SELECT id FROM orders.tasks WHERE order_id = '$far' AND kind = 'unpaid_reminder'")
it_assert_eq "$boris" "$(order_sql "SELECT assignee_id FROM orders.tasks WHERE id = '$task'")" "the reminder is boris's"
it_assert_eq 404 "$(http_code "$(order_call POST "/v1/tasks/$task/done" '' "Authorization: Bearer $as_anna")")" \
    "someone else closing boris's task"
it_assert_eq 200 "$(http_code "$(order_call POST "/v1/tasks/$task/done" '' "Authorization: Bearer $as_boris")")" \
    "boris closes his reminder"

# --- shortage -> awaiting supply -> supply received -> back to new ----------------------
short=$(submit F-3 '{"customer":{"name":"Waiting Customer","phone":"+79001234567"},"delivery":{"method":"self_pickup"},
  "items":[{"sku":"RARE","quantity":2},{"sku":"MUG","quantity":1}]}')
it_wait_until 20 "the short order waits for supply" order_has_status "$short" awaiting_supply
it_assert_eq "short 1" "$(order_sql "SELECT o.stock_state || ' ' || (SELECT count(*) FROM orders.tasks t WHERE t.order_id = o.id AND t.kind = 'stock_shortage') FROM orders.orders o WHERE o.id = '$short'")" \
    "stock state and shortage task"
it_assert_eq 409 "$(http_code "$(order_move "$short" confirmed "$as_anna")")" "confirming an order that waits for supply"
supply=$(inv_api_ok POST /v1/supplies '{"expected_date": "2031-01-10", "lines": [{"sku": "RARE", "quantity": 5}]}')
inv_api_ok POST "/v1/supplies/$(jq -r .id <<<"$supply")/receive" >/dev/null
it_wait_until 20 "the order back to new when the supply arrived" order_has_status "$short" new
it_assert_eq "reserved 1" "$(order_sql "SELECT o.stock_state || ' ' || (SELECT count(*) FROM orders.tasks t WHERE t.order_id = o.id AND t.kind = 'supply_arrived') FROM orders.orders o WHERE o.id = '$short'")" \
    "stock state and supply-arrived task"

# --- cancel releases the stock -------------------------------------------------------------
out=$(order_move "$short" cancelled "$as_anna")
it_assert_eq "422 reason_required" "$(http_code "$out") $(http_body "$out" | jq -r .code)" "a cancellation without a reason"
it_assert_eq 200 "$(http_code "$(order_move "$short" cancelled "$as_anna" "customer changed their mind")")" "cancelling"
it_wait_until 20 "the stock released" order_has_stock "$short" released
it_assert_eq 0 "$(inv_sql "SELECT reserved FROM products WHERE sku = 'RARE'")" "rare things reserved after the cancel"
it_assert_eq "customer changed their mind" "$(order_sql "SELECT cancel_reason FROM orders.orders WHERE id = '$short'")" "the reason is kept"

# --- walks through the real moves, each by its role over HTTP ----------------------------------
# Every status an order can rest in is reached by the moves people make
# (and the system's follow-ups: confirmed -> prepare_for_delivery or
# awaiting_payment), never set directly. A step is "to:role:expected";
# each move made is checked against the matrix and counted.
declare -A tokens=([manager]=$as_anna [warehouse]=$as_sklad [courier]=$as_kurier [admin]=$ORDER_ADMIN_TOKEN)
declare -A walked=()
walk() { # NAME BODY STEP...
    local name=$1 body=$2 order from out status
    shift 2
    order=$(submit "$name" "$body")
    it_wait_until 20 "stock reserved for $name" order_has_stock "$order" reserved
    local journey=new
    for step in "$@"; do
        IFS=: read -r to role expected <<<"$step"
        from=$(order_status "$order")
        out=$(order_move "$order" "$to" "${tokens[$role]}" "walk $name")
        status=$(http_body "$out" | jq -r .status)
        it_assert_eq "200 $expected" "$(http_code "$out") $status" "$name: $role moving $from -> $to ($out)"
        it_assert_eq 1 "$(order_sql "SELECT count(*) FROM orders.transitions WHERE from_status = '$from' AND to_status = '$to' AND role = '$role'")"             "$name: $from -> $to by $role is in the matrix"
        walked["$from|$to|$role"]=1
        [ "$to" = "$expected" ] && journey="$journey $to" || journey="$journey $to $expected"
    done
    it_assert_eq "$journey"         "$(http_body "$(order_admin GET "/v1/orders/$order")" | jq -r '[.history[] | select(.kind == "status") | .to] | join(" ")')"         "$name: the journey in the order's history"
    it_assert_eq "$(($(wc -w <<<"$journey")))" "$(order_sql "SELECT count(*) FROM orders.outbox WHERE correlation_id = '$order' AND type = 'order.status_changed'")"         "$name: one order.status_changed per status"
}
moscow() { order_body "Walker $1" "+7900777000$1" Moscow MUG 1; }
walk W-1 "$(moscow 1)" no_answer:manager:no_answer confirmed:manager:prepare_for_delivery \
    assembled:warehouse:assembled handed_to_carrier:warehouse:handed_to_carrier \
    rescheduled:courier:rescheduled handed_to_carrier:manager:handed_to_carrier \
    rescheduled:courier:rescheduled delivered:courier:delivered completed:manager:completed
walk W-2 "$(moscow 2)" confirmed:manager:prepare_for_delivery assembled:warehouse:assembled \
    handed_to_carrier:warehouse:handed_to_carrier returned:courier:returned
walk W-3 "$(moscow 3)" no_answer:manager:no_answer cancelled:manager:cancelled
walk W-4 "$(moscow 4)" cancelled:manager:cancelled
walk W-5 "$(moscow 5)" confirmed:manager:prepare_for_delivery cancelled:manager:cancelled
walk W-6 "$(moscow 6)" confirmed:admin:prepare_for_delivery assembled:admin:assembled \
    handed_to_carrier:admin:handed_to_carrier rescheduled:admin:rescheduled \
    delivered:admin:delivered completed:admin:completed
walk W-7 '{"customer":{"name":"Walker Far","email":"walker@example.ru"},"delivery":{"method":"post",
  "address":{"region":"Tyva","city":"Kyzyl","line1":"Lenina 2","postal_code":"667000"}},
  "items":[{"sku":"MUG","quantity":1}]}' confirmed:manager:awaiting_payment cancelled:manager:cancelled
it_assert_eq 0 "$(order_sql "SELECT count(*) FROM orders.dead_letters")" "dead letters after the walks"
it_log "${#walked[@]} distinct moves walked over HTTP from new to every status an order rests in"

# --- every move of the matrix, each by its role; forbidden ones answer 409 ---------------------
# The walks above cannot rest in every status (confirmed and payment_received
# move on by themselves; payment_error needs a payment service): the matrix
# itself is checked move by move on a probe set in each from-status.
probe=$(submit F-4 "$(order_body "Probe" "+79005550001" Moscow MUG 1)")
it_wait_until 20 "stock reserved for the probe" order_has_stock "$probe" reserved
moves=0
while IFS='|' read -r from to role; do
    # the fixture: the probe order stands in `from` with its stock held (set directly)
    order_sql "UPDATE orders.orders SET status = '$from', stock_state = 'reserved' WHERE id = '$probe'" >/dev/null
    out=$(order_move "$probe" "$to" "${tokens[$role]}" "matrix check")
    [ "$(http_code "$out")" = 200 ] || it_fail "$role moving $from -> $to: $out"
    moves=$((moves + 1))
done < <(order_sql "SELECT from_status || '|' || to_status || '|' || role FROM orders.transitions WHERE role <> 'system' ORDER BY 1")
[ "$moves" -ge 40 ] || it_fail "only $moves moves in the matrix"
for forbidden in "new|delivered|manager" "new|confirmed|courier" "new|cancelled|warehouse" \
    "prepare_for_delivery|assembled|courier" "handed_to_carrier|delivered|warehouse" "delivered|new|admin"; do
    IFS='|' read -r from to role <<<"$forbidden"
    order_sql "UPDATE orders.orders SET status = '$from' WHERE id = '$probe'" >/dev/null
    out=$(order_move "$probe" "$to" "${tokens[$role]}" "forbidden check")
    it_assert_eq "409 move_not_allowed" "$(http_code "$out") $(http_body "$out" | jq -r .code)" \
        "$role moving $from -> $to"
    allowed=$(order_sql "SELECT coalesce(string_agg(to_status, ' ' ORDER BY to_status), '') FROM orders.transitions WHERE from_status = '$from' AND role = '$role'")
    it_assert_eq "$allowed" "$(http_body "$out" | jq -r '[.allowed[].to] | sort | join(" ")')" \
        "the moves the 409 offers a $role from $from"
done
it_log "$moves allowed moves made by their roles; forbidden ones refused with the allowed list"

# --- reports -----------------------------------------------------------------------------------
out=$(order_admin GET "/v1/reports/sales?by=manager")
it_assert_eq 200 "$(http_code "$out")" "sales by manager"
it_assert_eq true "$(http_body "$out" | jq '.rows[] | select(.key == "Anna Smirnova") | .completed >= 1 and .total_minor >= 621130')" \
    "Anna's sales count the delivered order"
out=$(order_admin GET "/v1/reports/sales?by=region")
it_assert_eq 1 "$(http_body "$out" | jq -r '.rows[] | select(.key == "kamchatka") | .orders')" "orders from Kamchatka"
out=$(order_admin GET "/v1/reports/sales?by=channel")
it_assert_eq "$(order_sql "SELECT count(*) FROM orders.orders WHERE channel = 'website'")" \
    "$(http_body "$out" | jq -r '.rows[] | select(.key == "website") | .orders')" "orders from the website"
out=$(order_admin GET "/v1/reports/people")
it_assert_eq "$(order_sql "SELECT count(*) FROM orders.order_history WHERE kind = 'status' AND to_status = 'cancelled' AND actor_id = '$anna'")" \
    "$(http_body "$out" | jq -r --arg a "$anna" '.rows[] | select(.actor_id == $a) | .cancellations')" \
    "Anna's cancellations in the report"
it_assert_eq "$(order_sql "SELECT count(*) FROM orders.order_history WHERE kind = 'status' AND to_status = 'rescheduled' AND actor_id = '$kurier'")" \
    "$(http_body "$out" | jq -r --arg a "$kurier" '.rows[] | select(.actor_id == $a) | .reschedules')" \
    "the courier's reschedules in the report"
it_assert_eq 0 "$(order_sql "SELECT count(*) FROM orders.dead_letters")" "dead letters in the order service"
it_assert_eq 0 "$(inv_sql "SELECT count(*) FROM dead_letters")" "dead letters in inventory"
order_assert_references
it_log "the funnel end to end with inventory: totals, happy path, prepay reminder, shortage, cancel, matrix, reports"
