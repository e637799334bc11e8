#!/usr/bin/env bash
# An edit that moves an order to another delivery region (issue 14 item 1)
# against the real order service: managers are assigned by region (F5), so
# a manager who does not serve the new region gives the order up — to a free
# manager of that region (their slot taken, the old one's freed, history
# "assigned" with reason region_changed, order.assigned after
# order.changed), or, when nobody there is free, to the region's queue as
# at intake (history "unassigned"), from which a manager of the region
# coming on shift takes it. A manager who serves the new region, by name or
# every region, keeps it; so does an edit within the region. The edit
# answers the order's version after the reassignment, so that the next edit
# can name it.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/kit/kit.sh"
source "$(dirname "$0")/order/order.sh"

kit_dbs
order_dbs
kit_start_busd
order_start order1 1 JOB_POLL=100ms
order_sources
anna=$(order_staff anna "Anna Smirnova" manager '["moscow"]' 10)
karim=$(order_staff karim "Karim Valiev" manager '["kazan"]' 1)
order_shift "$anna" true
order_shift "$karim" true
as_anna=$(it_token manager "$anna")

version_of() { order_sql "SELECT version FROM orders.orders WHERE id = '$1'"; }
manager_of() { order_sql "SELECT coalesce(manager_id::text, 'none') FROM orders.orders WHERE id = '$1'"; }
open_orders() { order_sql "SELECT open_orders FROM orders.staff WHERE id = '$1'"; }
submit() { # KEY REGION -> order id
    local out
    out=$(order_submit "$1" "$(order_body "Ivan $1" "+791234500${1#R-}0" "$2" MUG 1)")
    [ "$(http_code "$out")" = 201 ] || it_fail "submitting $1: $out"
    http_body "$out" | jq -r .order_id
}
edit() { # ORDER BODY -> "<status> <body>" as Anna on the current version
    order_call POST "/v1/orders/$1/edit" "$2" "Authorization: Bearer $as_anna" \
        "If-Match: \"$(version_of "$1")\""
}
to_region() { # REGION: a courier delivery there
    printf '{"delivery":{"method":"courier","address":{"region":"%s","city":"%s","line1":"Pushkina 2"}},"reason":"the customer moved"}' "$1" "$1"
}
history_of() { # ORDER KIND: "reason manager_id previous_manager_id" of the last such row
    http_body "$(order_admin GET "/v1/orders/$1")" |
        jq -r --arg k "$2" '[.history[] | select(.kind == $k)] | last |
            "\(.reason) \(.detail.manager_id // "-") \(.detail.previous_manager_id)"'
}

# --- a free manager of the new region takes it --------------------------------
a=$(submit R-1 Moscow)
it_assert_eq "$anna" "$(manager_of "$a")" "a Moscow order goes to Moscow's manager"
out=$(edit "$a" "$(to_region Kazan)")
it_assert_eq "200 delivery" "$(http_code "$out") $(http_body "$out" | jq -r '.changed | join(",")')" "moved to Kazan: $out"
it_assert_eq "$karim" "$(manager_of "$a")" "Kazan's manager has it now"
it_assert_eq "0 1" "$(open_orders "$anna") $(open_orders "$karim")" "Anna's slot freed, Karim's taken"
it_assert_eq "region_changed $karim $anna" "$(history_of "$a" assigned)" \
    "the history shows the reassignment, from whom and why"
it_assert_eq "$(version_of "$a")" "$(http_body "$out" | jq -r .version)" \
    "the edit answers the version after the reassignment"
it_assert_eq "order.assigned 2" \
    "$(order_sql "SELECT (SELECT type FROM orders.outbox WHERE correlation_id = '$a' AND type IN ('order.changed', 'order.assigned') ORDER BY id DESC LIMIT 1) || ' ' || (SELECT count(*) FROM orders.outbox WHERE correlation_id = '$a' AND type = 'order.assigned')")" \
    "order.assigned for Karim follows order.changed"
it_assert_eq 1 "$(order_sql "SELECT count(*) FROM orders.tasks WHERE order_id = '$a' AND kind = 'new_order' AND assignee_id = '$karim'")" \
    "Karim has the new-order task"
out=$(edit "$a" '{"delivery":{"method":"courier","address":{"region":"Kazan","city":"Kazan","line1":"Baumana 7"}}}')
it_assert_eq "200 $karim" "$(http_code "$out") $(manager_of "$a")" "an edit within Kazan keeps Karim"
out=$(edit "$a" '{"delivery":{"method":"self_pickup"}}')
it_assert_eq "200 $karim" "$(http_code "$out") $(manager_of "$a")" \
    "a self pickup has no region to serve: Karim keeps it"

# --- nobody free in the new region: it waits in that region's queue -----------
b=$(submit R-2 Moscow)
it_assert_eq "$anna" "$(manager_of "$b")" "the second Moscow order goes to Anna"
out=$(edit "$b" "$(to_region Kazan)")
it_assert_eq 200 "$(http_code "$out")" "moved to Kazan: $out"
it_assert_eq "none 0 1" "$(manager_of "$b") $(open_orders "$anna") $(open_orders "$karim")" \
    "Karim is full: nobody holds it, Anna's slot is freed"
it_assert_eq "region_changed - $anna" "$(history_of "$b" unassigned)" \
    "the history shows Anna gave it up"
it_assert_eq "$(version_of "$b")" "$(http_body "$out" | jq -r .version)" \
    "the edit answers the version after Anna gave it up"
rustam=$(order_staff rustam "Rustam Kazan" manager '["kazan"]' 5)
order_shift "$rustam" true
it_wait_value 20 "the waiting Kazan order goes to Kazan's new manager" = "$rustam" manager_of "$b"
it_assert_eq "queued $rustam " "$(history_of "$b" assigned)" "taken from the queue"

# --- a manager who serves every region keeps it -------------------------------
olga=$(order_staff olga "Olga Everywhere" manager '[]' 5)
order_shift "$olga" true
c=$(submit R-3 Tula)
it_assert_eq "$olga" "$(manager_of "$c")" "a Tula order goes to the manager of every region"
v=$(version_of "$c")
out=$(edit "$c" "$(to_region Kazan)")
it_assert_eq "200 $olga $((v + 1))" "$(http_code "$out") $(manager_of "$c") $(version_of "$c")" \
    "she serves Kazan too: she keeps it, only the edit moved the version"

it_assert_eq 0 "$(order_sql "SELECT count(*) FROM orders.staff s WHERE open_orders <> (
    SELECT count(*) FROM orders.orders o WHERE o.manager_id = s.id)")" \
    "every manager's open orders are the orders they hold"
it_assert_eq 0 "$(order_sql "SELECT count(*) FROM orders.dead_letters")" "dead letters in the order service"
it_log "an edit to another region: reassigned in that region, or queued there, or kept by a manager who serves it"
