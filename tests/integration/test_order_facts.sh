#!/usr/bin/env bash
# The payment and shipping streams' facts drive the funnel (EVENTS.md, the
# happy path), with the real order and inventory services and factfeed
# standing in for the payment and shipping services on the same bus: a
# prepaid order waits for its money (a failed payment opens a task, a
# partial one keeps it waiting, the rest moves it to prepare_for_delivery
# with order.ready_to_ship), the carrier's label, hand-over, tracking and
# delivery move it to delivered and the stock is written off; a parcel that
# comes back is returned; money for a cancelled order is recorded and given
# to the manager, never refused; refunds are recorded once each, take the
# paid amount down, and a failed one opens a task; an expired invoice cancels the order after
# the grace period (unless a new invoice went out) and releases its stock;
# an unreadable payload and a fact about an unknown order are parked with
# their reasons while the stream goes on.
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
INV_FEED_REPLAY=tcp://127.0.0.1:25561 # inventory follows the real order stream

# feed_start NAME STREAM ENV HTTP_PORT REPLAY_PORT: factfeed as the payment or shipping service
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
    JOB_POLL=100ms INVOICE_GRACE=24h
inv_start_ready inv 1
order_sources
anna=$(order_staff anna "Anna Smirnova" manager '["moscow"]' 100)
boris=$(order_staff boris "Boris Petrov" manager '[]' 100)
order_shift "$anna" true
order_shift "$boris" true
sklad=$(order_staff sklad "Sklad Keeper" warehouse '[]' 0)
order_staff root "Root Admin" admin '[]' 0 >/dev/null
as_anna=$(it_token manager "$anna")
as_boris=$(it_token manager "$boris")
as_sklad=$(it_token warehouse "$sklad")

inv_api_ok POST /v1/imports '{"products": [
  {"sku": "LAMP", "name": "Desk lamp", "price_minor": 250000, "vat_rate_bp": 2000, "weight_g": 900, "on_hand": 20}]}' >/dev/null

# publish PORT TYPE PAYLOAD_JSON: one fact from a feed
publish() {
    local out
    out=$(it_http POST "http://127.0.0.1:$1/v1/publish" "{\"events\":[{\"type\":\"$2\",\"payload\":$3}]}")
    [ "$(http_code "$out")" = 201 ] || it_fail "publishing $2: $out"
}
pay() { publish 28125 "$@"; }
ship() { publish 28126 "$@"; }
history_count() { # ORDER REASON: history entries of that fact
    order_sql "SELECT count(*) FROM orders.order_history WHERE order_id = '$1' AND reason = '$2'"
}
history_has() { [ "$(history_count "$1" "$2")" -ge "${3:-1}" ]; }
submit_far() { # KEY -> id of a prepaid post order (outside the store's region), confirmed
    local out id
    out=$(order_submit "$1" '{"customer":{"name":"Far Customer","email":"far@example.ru"},"delivery":{"method":"post",
      "address":{"region":"Kamchatka","city":"Petropavlovsk","line1":"Lenina 1","postal_code":"683000"}},
      "items":[{"sku":"LAMP","quantity":1}]}')
    [ "$(http_code "$out")" = 201 ] || it_fail "submitting $1: $out"
    id=$(http_body "$out" | jq -r .order_id)
    it_wait_until 20 "stock reserved for $1" order_has_stock "$id" reserved
    out=$(order_move "$id" confirmed "$as_boris")
    [ "$(http_body "$out" | jq -r .status)" = awaiting_payment ] || it_fail "confirming $1: $out"
    echo "$id"
}

# --- a prepaid order: invoice, a failed payment, part of the money, the rest ---------
o1=$(submit_far P-1)
total=$(order_sql "SELECT total_minor FROM orders.orders WHERE id = '$o1'")
pay invoice.created "{\"order_id\":\"$o1\",\"invoice_id\":\"inv-1\",\"amount_minor\":$total,\"payment_url\":\"https://pay.example/inv-1\",\"expires_at_ms\":1900000000000,\"bank\":\"yookassa\"}"
it_wait_until 20 "the invoice recorded" history_has "$o1" invoice.created
it_assert_eq "https://pay.example/inv-1 open" \
    "$(order_sql "SELECT (payment->>'payment_url') || ' ' || (payment->>'invoice_state') FROM orders.orders WHERE id = '$o1'")" \
    "the payment link on the order"
pay payment.failed "{\"order_id\":\"$o1\",\"payment_id\":\"p-1\",\"invoice_id\":\"inv-1\",\"reason_code\":\"insufficient_funds\",\"reason\":\"Insufficient funds\"}"
it_wait_until 20 "a failed payment moves the order to payment_error" order_has_status "$o1" payment_error
it_assert_eq "$boris" \
    "$(order_sql "SELECT assignee_id FROM orders.tasks WHERE order_id = '$o1' AND kind = 'payment_error'")" \
    "the payment-error task is the order's manager's"
pay payment.succeeded "{\"order_id\":\"$o1\",\"payment_id\":\"p-2\",\"invoice_id\":\"inv-1\",\"amount_minor\":100000,\"paid_minor\":100000,\"due_minor\":$((total - 100000)),\"payment_status\":\"partially_paid\"}"
it_wait_until 20 "the partial payment recorded" history_has "$o1" payment.succeeded
it_assert_eq "payment_error 100000" \
    "$(order_sql "SELECT status || ' ' || (payment->>'paid_minor') FROM orders.orders WHERE id = '$o1'")" \
    "part of the money: still waiting, paid amount kept"
it_assert_eq "$boris" \
    "$(order_sql "SELECT assignee_id FROM orders.tasks WHERE order_id = '$o1' AND kind = 'partial_payment'")" \
    "a partial payment opens a task for the order's manager"
pay payment.succeeded "{\"order_id\":\"$o1\",\"payment_id\":\"p-3\",\"invoice_id\":\"inv-1\",\"amount_minor\":$((total - 100000)),\"paid_minor\":$total,\"due_minor\":0}"
it_wait_until 20 "paid in full: prepare for delivery" order_has_status "$o1" prepare_for_delivery
it_assert_eq "payment_error payment_received prepare_for_delivery" \
    "$(order_sql "SELECT string_agg(to_status, ' ' ORDER BY id) FROM orders.order_history WHERE order_id = '$o1' AND kind = 'status' AND actor_id = 'system' AND to_status <> 'new' AND to_status <> 'awaiting_payment'")" \
    "conveyor's own moves on the money"
grep -q "order.ready_to_ship" <<<"$(order_events "$o1")" || it_fail "no order.ready_to_ship after the payment"

# --- a card declined, then the payment service's new link: waiting again ----------
o6=$(submit_far P-RELINK)
pay invoice.created "{\"order_id\":\"$o6\",\"invoice_id\":\"inv-r1\",\"amount_minor\":1000,\"payment_url\":\"https://pay.example/inv-r1\",\"expires_at_ms\":1900000000000,\"bank\":\"sberbank\"}"
pay payment.failed "{\"order_id\":\"$o6\",\"payment_id\":\"p-r1\",\"invoice_id\":\"inv-r1\",\"reason_code\":\"declined\",\"reason\":\"Declined\"}"
it_wait_until 20 "the declined card: payment_error" order_has_status "$o6" payment_error
pay invoice.created "{\"order_id\":\"$o6\",\"invoice_id\":\"inv-r2\",\"amount_minor\":1000,\"payment_url\":\"https://pay.example/inv-r2\",\"expires_at_ms\":1900000000000,\"bank\":\"sberbank\"}"
it_wait_until 20 "the new link: awaiting payment again" order_has_status "$o6" awaiting_payment
it_assert_eq "https://pay.example/inv-r2 open" \
    "$(order_sql "SELECT (payment->>'payment_url') || ' ' || (payment->>'invoice_state') FROM orders.orders WHERE id = '$o6'")" \
    "the new link on the order"
it_assert_eq "payment_error awaiting_payment" \
    "$(order_sql "SELECT string_agg(to_status, ' ' ORDER BY id) FROM orders.order_history WHERE order_id = '$o6' AND kind = 'status' AND actor_id = 'system' AND reason IN ('payment.failed', 'invoice.created')")" \
    "conveyor's own moves on the decline and the new link"

# --- the parcel: quote, label, hand-over, tracking, delivery -------------------------
it_assert_eq 200 "$(http_code "$(order_move "$o1" assembled "$as_sklad")")" "the warehouse packs it"
ship shipment.quoted "{\"order_id\":\"$o1\",\"carrier\":\"cdek\",\"service\":\"136\",\"weight_g\":900,\"carrier_cost_minor\":42000,\"address_verdict\":\"valid\"}"
ship shipment.created "{\"order_id\":\"$o1\",\"shipment_id\":\"cdek-77\",\"carrier\":\"cdek\"}"
ship shipment.label_created "{\"order_id\":\"$o1\",\"shipment_id\":\"cdek-77\",\"carrier\":\"cdek\",\"tracking_number\":\"1234567890\",\"tracking_url\":\"https://cdek.example/track/1234567890\",\"label_url\":\"https://cdek.example/label.pdf\",\"batch_number\":\"B-1\"}"
it_wait_until 20 "the label recorded" history_has "$o1" shipment.label_created
it_assert_eq "assembled cdek 42000 1234567890 labelled" \
    "$(order_sql "SELECT status || ' ' || (shipment->>'carrier') || ' ' || (shipment->>'carrier_cost_minor') || ' ' || (shipment->>'tracking_number') || ' ' || (shipment->>'shipment_state') FROM orders.orders WHERE id = '$o1'")" \
    "carrier, cost and tracking number on the order; no move before the hand-over"
ship shipment.handed_over "{\"order_id\":\"$o1\",\"shipment_id\":\"cdek-77\",\"carrier\":\"cdek\"}"
it_wait_until 20 "handed to the carrier" order_has_status "$o1" handed_to_carrier
ship shipment.status_changed "{\"order_id\":\"$o1\",\"shipment_id\":\"cdek-77\",\"tracking_status\":\"ACCEPTED_AT_PICK_UP_POINT\",\"description\":\"At the pick-up point\"}"
ship shipment.delivered "{\"order_id\":\"$o1\",\"shipment_id\":\"cdek-77\"}"
it_wait_until 20 "delivered" order_has_status "$o1" delivered
it_wait_until 20 "the stock written off at delivery" order_has_stock "$o1" committed
it_assert_eq "ACCEPTED_AT_PICK_UP_POINT" "$(order_sql "SELECT shipment->>'tracking_status' FROM orders.orders WHERE id = '$o1'")" \
    "the last tracking status"
it_assert_eq "invoice.created payment.failed payment.succeeded payment.succeeded shipment.quoted shipment.created shipment.label_created shipment.handed_over shipment.status_changed shipment.delivered" \
    "$(order_sql "SELECT string_agg(reason, ' ' ORDER BY id) FROM orders.order_history WHERE order_id = '$o1' AND kind IN ('payment', 'shipping')")" \
    "every fact in the order's history, in order"
card=$(order_admin GET "/v1/orders/$o1")
it_assert_eq "$total 0 1234567890" "$(http_body "$card" | jq -r '"\(.payment.paid_minor) \(.payment.due_minor) \(.shipment.tracking_number)"')" \
    "the order card shows payment and shipment"
ship shipment.delivered "{\"order_id\":\"$o1\",\"shipment_id\":\"cdek-77\"}"
it_wait_until 20 "a repeated delivery recorded" history_has "$o1" shipment.delivered 2
it_assert_eq "delivered 1" \
    "$(order_sql "SELECT o.status || ' ' || (SELECT count(*) FROM orders.outbox x WHERE x.correlation_id = o.id::text AND x.type = 'order.delivered') FROM orders.orders o WHERE o.id = '$o1'")" \
    "a second delivery report moves nothing and announces nothing"

# --- a parcel that comes back -------------------------------------------------------
o2=$(submit_far P-2)
pay payment.succeeded "{\"order_id\":\"$o2\",\"payment_id\":\"p-21\",\"amount_minor\":1,\"paid_minor\":999999,\"due_minor\":0}"
it_wait_until 20 "P-2 paid" order_has_status "$o2" prepare_for_delivery
order_move "$o2" assembled "$as_sklad" >/dev/null
ship shipment.handed_over "{\"order_id\":\"$o2\",\"shipment_id\":\"cdek-78\"}"
it_wait_until 20 "P-2 handed over" order_has_status "$o2" handed_to_carrier
ship shipment.returned "{\"order_id\":\"$o2\",\"shipment_id\":\"cdek-78\",\"reason\":\"not collected\"}"
it_wait_until 20 "P-2 returned" order_has_status "$o2" returned

# --- money for a cancelled order: recorded, a task, never refused ----------------------
o3=$(submit_far P-3)
it_assert_eq 200 "$(http_code "$(order_move "$o3" cancelled "$as_boris" "customer changed their mind")")" "cancelling P-3"
pay payment.succeeded "{\"order_id\":\"$o3\",\"payment_id\":\"p-31\",\"amount_minor\":5000,\"paid_minor\":5000,\"due_minor\":0}"
it_wait_until 20 "the late payment recorded" history_has "$o3" payment.succeeded
it_assert_eq "cancelled 5000 1" \
    "$(order_sql "SELECT o.status || ' ' || (o.payment->>'paid_minor') || ' ' || (SELECT count(*) FROM orders.tasks t WHERE t.order_id = o.id AND t.kind = 'late_fact' AND t.assignee_id = '$boris') FROM orders.orders o WHERE o.id = '$o3'")" \
    "a cancelled order stays cancelled, the money is kept on it and its manager gets a task"

# --- refunds: recorded once each, the money follows, a failure is a task ----------------
refund_fact() { # TYPE REFUND_ID AMOUNT EXTRA_JSON_FIELDS: a refund fact about P-3
    pay "$1" "{\"order_id\":\"$o3\",\"refund_id\":\"$2\",\"invoice_id\":\"inv-3\",\"amount_minor\":$3,$4}"
}
refund_fact refund.succeeded r-31 5000 '"paid_minor":0,"due_minor":0,"currency":"RUB","reason":"cancelled","succeeded_at_ms":1800000000000,"payment_status":"unpaid"'
refund_fact refund.succeeded r-31 5000 '"paid_minor":4242,"due_minor":0,"currency":"RUB","reason":"cancelled","succeeded_at_ms":1800000000000,"payment_status":"paid"'
refund_fact refund.failed r-32 700 '"reason":"excess","reason_code":"7","reason_text":"Заказ в неверном состоянии","failed_at_ms":1800000001000'
refund_fact refund.failed r-32 700 '"reason":"excess","reason_code":"7","reason_text":"again","failed_at_ms":1800000002000'
refund_fact refund.failed r-31 5000 '"reason":"cancelled","reason_code":"5","reason_text":"stale","failed_at_ms":1800000003000'
refund_fact refund.failed "" 90000 '"reason":"requested","request_id":"req-9","reason_code":"refund_exceeds_paid","reason_text":"asked 90000 back, 0 may be refunded","failed_at_ms":1800000004000'
it_wait_until 20 "the refused request recorded" history_has "$o3" refund.failed 2
it_assert_eq "1 2" "$(history_count "$o3" refund.succeeded) $(history_count "$o3" refund.failed)" \
    "each refund once in the history: a repeat and a failure after the success change nothing"
it_assert_eq "cancelled 0 unpaid failed" \
    "$(order_sql "SELECT concat_ws(' ', status, payment->>'paid_minor', payment->>'payment_status', payment->>'refund_state') FROM orders.orders WHERE id = '$o3'")" \
    "the refund took the paid amount down; the order stays cancelled"
it_assert_eq "r-31 5000 cancelled" \
    "$(order_sql "SELECT concat_ws(' ', detail->>'refund_id', detail->>'amount_minor', detail->>'reason') FROM orders.order_history WHERE order_id = '$o3' AND reason = 'refund.succeeded'")" \
    "the history tells the refund's amount, id and reason"
it_assert_eq "2 2" \
    "$(order_sql "SELECT count(*) || ' ' || count(*) FILTER (WHERE assignee_id = '$boris') FROM orders.tasks WHERE order_id = '$o3' AND kind = 'refund_failed'")" \
    "a task for the manager per failed refund, not per report"
title=$(order_sql "SELECT title FROM orders.tasks WHERE order_id = '$o3' AND kind = 'refund_failed' AND dedup_key LIKE '%:r-32'")
grep -q "7.00 (excess) failed: 7, Заказ в неверном состоянии" <<<"$title" || it_fail "the task does not say what failed and why: $title"
refund_fact refund.succeeded r-32 700 '"paid_minor":0,"due_minor":0,"currency":"RUB","reason":"excess","succeeded_at_ms":1800000005000,"payment_status":"unpaid"'
it_wait_until 20 "a failed refund that went through after all" history_has "$o3" refund.succeeded 2
card=$(order_admin GET "/v1/orders/$o3")
it_assert_eq "r-31=succeeded r-32=succeeded request:req-9=failed" \
    "$(http_body "$card" | jq -r '[.refunds[] | "\(.refund_id)=\(.status)"] | sort | join(" ")')" \
    "the order card lists its refunds"
it_assert_eq "0 unpaid succeeded" "$(http_body "$card" | jq -r '"\(.payment.paid_minor) \(.payment.payment_status) \(.payment.refund_state)"')" \
    "the order card's money after the refunds"

# --- a fact that waits while a person moves the order applies to the order as moved -----
# (CI, 2026-12-07: a refund heard while an admin cancelled the order was
# parked as about an unknown order, and every later fact of that order
# waited behind it.) A handler that waits for an order's lock gets its new
# version; the statement that joined it to its status's row as it was
# before found no order. The inbox's careful second pass hid it unless the
# order was held again when that pass came: here two moves do that. The
# first moves the order to payment_error and holds it until the fact's
# handler and the second move wait for it; the second moves it back to
# awaiting_payment and holds it until a handler waits again (a second pass)
# or for 2 s. The new link applies to the order as moved.
o7=$(submit_far P-HELD)
# a handler's statement that locks an order
locking='%FOR UPDATE OF o%'
# held_move STATUS WAITER SECONDS: o7 moved to STATUS and held
held_move() { order_held "$o7" "$2" "$3" "UPDATE orders.orders SET status = '$1' WHERE id = '$o7'"; }
order_waits() { # a handler's statement waits for the held order
    [ "$(order_sql "SELECT count(*) FROM pg_stat_activity a WHERE a.query LIKE '$locking'
        AND a.query NOT LIKE 'DO%' AND EXISTS (SELECT 1 FROM pg_stat_activity b
            WHERE b.pid = ANY (pg_blocking_pids(a.pid)) AND b.query LIKE 'DO%')")" -ge 1 ]
}
# the first holds until the second waits too (the handler waits already),
# the second until a handler's second pass waits for it, or 2 s
held_move payment_error "DO%" 10 >"$IT_RUN/held_move1.out" &
first=$!
it_wait_until 10 "the first move holds the order" order_held_now
pay invoice.created "{\"order_id\":\"$o7\",\"invoice_id\":\"inv-7\",\"amount_minor\":1000,\"payment_url\":\"https://pay.example/inv-7\",\"expires_at_ms\":1900000000000,\"bank\":\"sberbank\"}"
it_wait_until 10 "the fact's handler waits for the order" order_waits
held_move awaiting_payment "$locking" 2 >"$IT_RUN/held_move2.out" &
second=$!
wait "$first" || it_fail "the first move: $(cat "$IT_RUN/held_move1.out")"
grep -q "held until it was waited for" "$IT_RUN/held_move1.out" ||
    it_fail "the second move did not wait for the first: $(cat "$IT_RUN/held_move1.out")"
wait "$second" || it_fail "the second move: $(cat "$IT_RUN/held_move2.out")"
it_wait_until 20 "the fact applied" history_has "$o7" invoice.created
it_assert_eq "awaiting_payment https://pay.example/inv-7 0" \
    "$(order_sql "SELECT status || ' ' || (payment->>'payment_url') || ' ' || (SELECT count(*) FROM orders.dead_letters WHERE correlation_id = '$o7') FROM orders.orders WHERE id = '$o7'")" \
    "the fact applied to the order as moved, nothing parked"

# --- the lines as committed when the order's lock was had ------------------------------
# The handler of stock.reserved locks the order and reads its lines in one
# statement; one that waited for the lock read the lines as they were
# before the transaction it waited for. No path changes an order's lines
# without moving its lines_version (an edit does, and the answer is then
# stale), but the handler must not count on that: a line's quantity
# changed under the lock here is priced as it now is. Inventory is paused
# so that its answer comes while the order is held.
inv_pid=$(it_pid inv)
kill -STOP "$inv_pid"
out=$(order_submit P-LINES '{"customer":{"name":"Far Customer","email":"far@example.ru"},"delivery":{"method":"post",
  "address":{"region":"Kamchatka","city":"Petropavlovsk","line1":"Lenina 1","postal_code":"683000"}},
  "items":[{"sku":"LAMP","quantity":1}]}')
[ "$(http_code "$out")" = 201 ] || { kill -CONT "$inv_pid"; it_fail "submitting P-LINES: $out"; }
o8=$(http_body "$out" | jq -r .order_id)
reading='%LEFT JOIN order_lines l%FOR UPDATE OF o%' # the lock that reads the lines
order_held "$o8" "$reading" 10 "UPDATE orders.order_lines SET quantity = 2 WHERE order_id = '$o8' AND line_no = 1" \
    >"$IT_RUN/held_lines.out" &
holder=$!
it_wait_until 10 "the order held" order_held_now
kill -CONT "$inv_pid"
wait "$holder" || it_fail "the held lines: $(cat "$IT_RUN/held_lines.out")"
grep -q "held until it was waited for" "$IT_RUN/held_lines.out" ||
    it_fail "stock.reserved's handler did not wait for the held order: $(cat "$IT_RUN/held_lines.out")"
it_wait_until 20 "P-LINES reserved" order_has_stock "$o8" reserved
it_assert_eq "2 500000" \
    "$(order_sql "SELECT quantity || ' ' || amount_minor FROM orders.order_lines WHERE order_id = '$o8' AND line_no = 1")" \
    "the line priced at the quantity it had when the handler had the order"

# --- what cannot be applied is parked, the stream goes on -------------------------------
out=$(it_http POST http://127.0.0.1:28125/v1/publish '{"events":[{"type":"payment.succeeded","payload":{"order_id":"x","paid_minor":"lots"}}]}')
it_assert_eq "422 not_published" "$(http_code "$out") $(http_body "$out" | jq -r .code)" "factfeed refuses a payload that is not the message"
grep -q "paid_minor: must be an integer" <<<"$out" || it_fail "factfeed does not name the field: $out"
out=$(it_http POST http://127.0.0.1:28125/v1/publish '{"events":[{"type":"payment.succeeded","payload_base64url":"_____w"}]}')
[ "$(http_code "$out")" = 201 ] || it_fail "publishing a raw payload: $out"
ghost=00000000-0000-4000-8000-00000000dead
pay payment.succeeded "{\"order_id\":\"$ghost\",\"payment_id\":\"p-x\",\"amount_minor\":1,\"paid_minor\":1,\"due_minor\":0}"
o4=$(submit_far P-4)
pay invoice.created "{\"order_id\":\"$o4\",\"invoice_id\":\"inv-4\",\"amount_minor\":1}"
it_wait_until 20 "the stream goes on after parked facts" history_has "$o4" invoice.created
it_assert_eq "bad_payload unknown_order" \
    "$(order_sql "SELECT string_agg(err, ' ' ORDER BY id) FROM orders.dead_letters WHERE stream = 'payment'")" \
    "an unreadable payload and a fact about an unknown order parked with their reasons"
it_assert_eq "$ghost" "$(order_sql "SELECT correlation_id FROM orders.dead_letters WHERE err = 'unknown_order'")" \
    "the parked fact names the order"
curl -fsS "$(order_url 1)/readyz" >/dev/null || it_fail "the order service is not ready after parking"

# --- an expired invoice cancels the order after the grace period ------------------------
o5=$(submit_far P-5)
pay invoice.created "{\"order_id\":\"$o5\",\"invoice_id\":\"inv-5\",\"amount_minor\":1}"
pay invoice.expired "{\"order_id\":\"$o5\",\"invoice_id\":\"inv-5\"}"
pay invoice.expired "{\"order_id\":\"$o4\",\"invoice_id\":\"inv-4\"}"
pay invoice.created "{\"order_id\":\"$o4\",\"invoice_id\":\"inv-4b\",\"amount_minor\":1}"
it_wait_until 20 "the new invoice of P-4 recorded" history_has "$o4" invoice.created 2
it_wait_until 20 "the expiry of P-5 recorded" history_has "$o5" invoice.expired
it_assert_eq awaiting_payment "$(order_status "$o5")" "an expired invoice does not cancel at once"
order_call POST /v1/test/clock '{"advance_ms": 90000000}' >/dev/null # 25 hours
it_wait_until 20 "P-5 cancels itself" order_has_status "$o5" cancelled
it_assert_eq "invoice expired" "$(order_sql "SELECT cancel_reason FROM orders.orders WHERE id = '$o5'")" "the reason"
it_wait_until 20 "P-5's stock released" order_has_stock "$o5" released
expiry_timers_done() {
    [ "$(order_sql "SELECT count(*) FILTER (WHERE state = 'done') || '/' || count(*) FROM orders.jobs WHERE kind = 'invoice_expired'")" = 2/2 ]
}
it_wait_until 20 "both expiry timers ran" expiry_timers_done
it_assert_eq awaiting_payment "$(order_status "$o4")" "an order invoiced again after the expiry keeps waiting"

order_assert_references
it_log "payment and shipping facts drove the funnel; late and bad facts recorded or parked"
