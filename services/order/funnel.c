/*
 * funnel.c — the status funnel (funnel.h).
 *
 * A move changes the order's status and version, leaves a history row and
 * order.status_changed, then does what arriving in the status means: the
 * terms and order.confirmed on confirmation, order.ready_to_ship, the
 * reminder timers, the customer's spending at delivery, a manager's slot
 * freed at a final status, and conveyor's own follow-up moves.
 */
#include "services/order/funnel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/auth.h"
#include "common/clock.h"
#include "common/log.h"
#include "services/order/assignment.h"
#include "services/order/events.h"
#include "services/order/returning.h"
#include "services/order/rules.h"
#include "services/order/tasks.h"
#include "services/order/totals.h"

void move_result_clear(move_result_t *result)
{
    json_decref(result->moves);
    memset(result, 0, sizeof *result);
}

db_status_t funnel_priced_lines(db_t *db, const order_t *order, order_line_t **lines_out,
                                size_t *count_out)
{
    *lines_out = NULL;
    *count_out = 0;
    order_line_t *rows = NULL;
    size_t count = 0;
    db_status_t status = store_lines_get(db, order->id, &rows, &count);
    if (status != DB_OK)
        return status;
    /* amounts were stored with the reservation; recomputed for the message */
    totals_line_t *calc = calloc(count ? count : 1, sizeof *calc);
    if (!calc) {
        free(rows);
        return db_fail(db, DB_STATE_OUT_OF_MEMORY, "could not price the lines of order %s",
                       order->id);
    }
    for (size_t i = 0; i < count; i++) {
        calc[i].line_no = rows[i].line_no;
        calc[i].unit_price_minor = rows[i].unit_price_minor > 0 ? rows[i].unit_price_minor : 0;
        calc[i].quantity = rows[i].quantity;
        calc[i].vat_rate_bp = rows[i].vat_rate_bp;
        calc[i].unit_weight_g = rows[i].unit_weight_g;
    }
    totals_t totals;
    if (totals_compute(calc, count, order->discount_bp, 0, &totals) != 0) {
        free(calc);
        free(rows);
        return db_fail(db, DB_STATE_OVERFLOW, "the lines of order %s add up past 64 bits",
                       order->id);
    }
    for (size_t i = 0; i < count; i++) {
        rows[i].unit_price_minor = calc[i].unit_price_minor;
        rows[i].amount_minor = calc[i].amount_minor;
        rows[i].discount_minor = calc[i].discount_minor;
        rows[i].total_minor = calc[i].total_minor;
        rows[i].vat_minor = calc[i].vat_minor;
    }
    free(calc);
    *lines_out = rows;
    *count_out = count;
    return DB_OK;
}

/* The delivery price and the total an order is confirmed with: goods
 * (lines less the discount, which never exceeds them) plus delivery, the
 * override or the price list's. *fits false when the total would not fit
 * int64 (the outputs are then unspecified). */
static db_status_t confirm_totals(db_t *db, const order_t *order, int64_t *delivery_out,
                                  int64_t *total_out, bool *fits)
{
    int64_t goods = order->lines_minor - order->discount_minor;
    *delivery_out = order->delivery_override_minor;
    *fits = true;
    db_status_t status = DB_OK;
    if (*delivery_out < 0)
        status = store_delivery_price(db, order->method, order->region, goods, delivery_out);
    if (status == DB_OK && __builtin_add_overflow(goods, *delivery_out, total_out))
        *fits = false;
    return status;
}

/* The terms, decided and stored now, and order.confirmed. */
static db_status_t confirm_order(order_app_t *app, const emitter_t *em, order_t *order)
{
    db_t *db = emitter_db(em);
    int64_t delivery = 0, total = 0;
    bool fits = true;
    db_status_t status = confirm_totals(db, order, &delivery, &total, &fits);
    if (status != DB_OK)
        return status;
    if (!fits) /* funnel_move checked it before moving: only a price list changed meanwhile */
        return db_fail(db, DB_STATE_OVERFLOW, "the total of order %s does not fit in 64 bits",
                       order->id);
    order->delivery_minor = delivery;
    order->total_minor = total;
    const char *terms =
        rules_payment_terms(order->method, order->region, app->local_region, order->total_minor);
    snprintf(order->payment_terms, sizeof order->payment_terms, "%s", terms);
    order_totals_row_t row = {.lines_minor = order->lines_minor,
                              .discount_minor = order->discount_minor,
                              .delivery_minor = order->delivery_minor,
                              .vat_minor = order->vat_minor,
                              .total_minor = order->total_minor,
                              .weight_g = order->weight_g};
    status = store_order_set_terms(db, order->id, terms, &row);
    order_line_t *lines = NULL;
    size_t count = 0;
    if (status == DB_OK)
        status = funnel_priced_lines(db, order, &lines, &count);
    /* the customer's contact goes with the bill: the payment service sends
     * the 54-FZ receipt to it, and a bank refuses a receipt without one */
    customer_contact_t contact;
    if (status == DB_OK)
        status = store_customer_contact(db, order->customer_id, &contact);
    if (status == DB_OK)
        status = events_confirmed(em, order, &contact, lines, count);
    free(lines);
    return status;
}

bool funnel_was_confirmed(const order_t *order)
{
    static const char *const statuses[] = {"confirmed", "awaiting_payment", "payment_error",
                                           "payment_received", "prepare_for_delivery"};
    if (!order->payment_terms[0])
        return false;
    for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++)
        if (strcmp(order->status, statuses[i]) == 0)
            return true;
    return false;
}

static db_status_t system_move(order_app_t *app, const emitter_t *em, order_t *order,
                               const char *to, const char *reason, int depth);

/* The confirmed order is paid another way after an edit (nothing was paid:
 * editing.c refuses it otherwise): it goes where the new terms lead, as
 * at confirmation — prepaid, to wait for the money of the new invoice;
 * on delivery or free, to be prepared for delivery (order.ready_to_ship
 * with what to collect). The payment service voids or opens the invoice
 * on the order.confirmed just emitted. */
static db_status_t terms_changed(order_app_t *app, const emitter_t *em, order_t *order,
                                 const char *was)
{
    const char *to = rules_after_confirmed(order->payment_terms);
    bool waits = strcmp(order->status, "awaiting_payment") == 0 ||
                 strcmp(order->status, "payment_error") == 0;
    bool prepared = strcmp(order->status, "prepare_for_delivery") == 0;
    if (strcmp(order->status, to) == 0 || (!waits && !prepared))
        return DB_OK; /* confirmed: its own follow-up move decides */
    char reason[64];
    snprintf(reason, sizeof reason, "payment terms %s -> %s", was, order->payment_terms);
    return system_move(app, em, order, to, reason, 0);
}

db_status_t funnel_reconfirm(order_app_t *app, const emitter_t *em, order_t *order)
{
    char was[sizeof order->payment_terms];
    snprintf(was, sizeof was, "%s", order->payment_terms);
    db_status_t status = confirm_order(app, em, order);
    if (status == DB_OK && was[0] && strcmp(was, order->payment_terms) != 0)
        return terms_changed(app, em, order, was);
    bool paid = strcmp(order->status, "payment_received") == 0 ||
                strcmp(order->status, "prepare_for_delivery") == 0;
    if (status != DB_OK || !paid || strcmp(order->payment_terms, "prepay") != 0)
        return status;
    /* paid for what it was: the payment service bills the rest, and the
     * manager holds the parcel until it is paid */
    int64_t paid_minor = 0;
    status = store_order_paid(emitter_db(em), order->id, &paid_minor);
    if (status != DB_OK || order->total_minor <= paid_minor || !order->manager_id[0])
        return status;
    char title[480], dedup[100];
    snprintf(title, sizeof title,
             "%s was changed after it was paid: %lld.%02lld more is due (a new invoice is sent); "
             "hold the parcel until it is paid",
             order->title, (long long)((order->total_minor - paid_minor) / 100),
             (long long)((order->total_minor - paid_minor) % 100));
    snprintf(dedup, sizeof dedup, "edit_due:%s:%llu", order->id,
             (unsigned long long)order->version);
    return tasks_open(em, "partial_payment", order, order->manager_id, title, clock_now_ms(), dedup,
                      false);
}

static db_status_t apply_status(order_app_t *app, const emitter_t *em, order_t *order,
                                const char *to, const actor_t *actor, const char *reason,
                                int depth);

static db_status_t system_move(order_app_t *app, const emitter_t *em, order_t *order,
                               const char *to, const char *reason, int depth)
{
    bool allowed = false;
    db_status_t status =
        store_transition_allowed(emitter_db(em), order->status, to, ROLE_SYSTEM, &allowed);
    if (status != DB_OK)
        return status;
    if (!allowed) {
        log_warn("the transition matrix has no system move for this", LF_STR("order_id", order->id),
                 LF_STR("from", order->status), LF_STR("to", to), LF_ERR("move_not_in_matrix"));
        return DB_OK;
    }
    return apply_status(app, em, order, to, &history_system, reason, depth);
}

db_status_t funnel_system_move(order_app_t *app, const emitter_t *em, order_t *order,
                               const char *to, const char *reason)
{
    return system_move(app, em, order, to, reason, 0);
}

/* The fact events and follow-ups of arriving in a status. */
static db_status_t on_arrival(order_app_t *app, const emitter_t *em, order_t *order,
                              const char *from, const actor_t *actor, const char *reason, int depth)
{
    db_t *db = emitter_db(em);
    const char *to = order->status;
    db_status_t status = DB_OK;
    if (rules_group_final(order->group) && order->manager_id[0])
        status = assignment_free_slot(db, order->manager_id);
    if (status != DB_OK)
        return status;
    if (strcmp(to, "confirmed") == 0) {
        status = confirm_order(app, em, order);
        if (status == DB_OK)
            status = system_move(app, em, order, rules_after_confirmed(order->payment_terms),
                                 order->payment_terms, depth + 1);
    } else if (strcmp(to, "prepare_for_delivery") == 0) {
        status = events_ready_to_ship(em, order);
    } else if (strcmp(to, "payment_received") == 0) {
        status = system_move(app, em, order, "prepare_for_delivery", "paid", depth + 1);
    } else if (strcmp(to, "awaiting_payment") == 0 || strcmp(to, "handed_to_carrier") == 0) {
        bool unpaid = strcmp(to, "awaiting_payment") == 0;
        const char *kind = unpaid ? "unpaid_reminder" : "not_delivered_check";
        int64_t due = 0;
        status = tasks_business_deadline(db, clock_now_ms(), app->reminder_business_days, &due);
        char key[160];
        snprintf(key, sizeof key, "%s:%s:%llu", kind, order->id,
                 (unsigned long long)order->version);
        if (status == DB_OK)
            status = tasks_timer(db, kind, order->id, "expect_status", to, due, key);
    } else if (strcmp(to, "assembled") == 0) {
        status = events_assembled(em, order);
    } else if (strcmp(to, "delivered") == 0) {
        status = events_delivered(em, order);
        if (status == DB_OK)
            status = store_customer_spent(db, order->customer_id, order->total_minor,
                                          app->vip_threshold_minor);
    } else if (strcmp(to, "cancelled") == 0) {
        bool refund_on_return = false;
        status = returning_cancelled(db, order, from, &refund_on_return);
        if (status == DB_OK)
            status = events_cancelled(em, order, reason, actor->id, from, refund_on_return);
    }
    return status;
}

static db_status_t apply_status(order_app_t *app, const emitter_t *em, order_t *order,
                                const char *to, const actor_t *actor, const char *reason, int depth)
{
    if (depth > 3)
        return DB_OK; /* follow-ups never chain further; the matrix would be wrong */
    db_t *db = emitter_db(em);
    char from[32];
    snprintf(from, sizeof from, "%s", order->status);
    uint64_t version = 0;
    int64_t now = clock_now_ms();
    db_status_t status = store_order_set_status(
        db, order->id, to, strcmp(to, "cancelled") == 0 ? reason : NULL, now, &version);
    if (status == DB_OK)
        status = store_status_group(db, to, order->group);
    if (status != DB_OK)
        return status;
    order->version = version;
    snprintf(order->status, sizeof order->status, "%s", to);
    status = history_add(db, order->id, "status", from, to, actor, reason, NULL);
    if (status != DB_OK)
        return status;
    status_change_t change = {
        .order_id = order->id,
        .version = version,
        .number = order->number,
        .from = from,
        .to = order->status,
        .group = order->group,
        .actor_id = actor->id,
        .actor_role = actor->roles & ROLE_SYSTEM ? "system" : "staff",
        .reason = reason,
        .at_ms = now,
        .customer_id = order->customer_id,
        .channel = order->channel,
        .method = intake_method_parse(order->method),
    };
    status = events_status_changed(em, &change);
    if (status == DB_OK)
        status = on_arrival(app, em, order, from, actor, reason, depth);
    return status;
}

/* Whether the order may make this move now; the refusal in result. */
static db_status_t check_move(db_t *db, const order_t *order, const char *to, const actor_t *actor,
                              const char *reason, uint64_t expected_version, move_result_t *result)
{
    if (expected_version && expected_version != order->version) {
        result->outcome = MOVE_STALE;
        snprintf(result->detail, sizeof result->detail,
                 "the order is at version %llu now, not %llu", (unsigned long long)order->version,
                 (unsigned long long)expected_version);
        return DB_OK;
    }
    bool allowed = false;
    db_status_t status = DB_OK;
    if (strcmp(order->status, to) != 0)
        status = store_transition_allowed(db, order->status, to, actor->roles, &allowed);
    if (status != DB_OK)
        return status;
    if (!allowed) {
        result->outcome = MOVE_NOT_ALLOWED;
        return store_transitions_from(db, order->status, actor->roles, &result->moves);
    }
    if (rules_needs_reason(to) && (!reason || !reason[0])) {
        result->outcome = MOVE_NEEDS_REASON;
        snprintf(result->detail, sizeof result->detail, "moving to %s needs a reason", to);
        return DB_OK;
    }
    if (strcmp(to, "confirmed") != 0)
        return DB_OK;
    if (strcmp(order->stock_state, "reserved") != 0) {
        result->outcome = MOVE_NOT_READY;
        snprintf(result->detail, sizeof result->detail,
                 "the order's stock is %s: it can be confirmed once every line is reserved",
                 order->stock_state);
        return DB_OK;
    }
    int64_t delivery = 0, total = 0;
    bool fits = true;
    status = confirm_totals(db, order, &delivery, &total, &fits);
    if (status == DB_OK && !fits) {
        result->outcome = MOVE_NOT_READY;
        snprintf(result->detail, sizeof result->detail,
                 "the goods and the delivery add up to more than %lld kopecks: check the prices",
                 (long long)INT64_MAX);
    }
    return status;
}

db_status_t funnel_move(order_app_t *app, const emitter_t *em, const char *order_id, const char *to,
                        const actor_t *actor, const char *reason, uint64_t expected_version,
                        move_result_t *result)
{
    db_t *db = emitter_db(em);
    move_result_clear(result);
    order_t order;
    bool found = false;
    db_status_t status = store_order_lock(db, order_id, &found, &order);
    if (status != DB_OK)
        return status;
    if (!found) {
        result->outcome = MOVE_NOT_FOUND;
        return DB_OK;
    }
    snprintf(result->from, sizeof result->from, "%s", order.status);
    snprintf(result->to, sizeof result->to, "%s", to);
    result->version = order.version;
    status = check_move(db, &order, to, actor, reason, expected_version, result);
    if (status != DB_OK || result->outcome != MOVE_OK)
        return status;
    if (order.manager_id[0] && strcmp(order.manager_id, actor->id) == 0 && !order.taken_up)
        status = store_order_taken_up(db, order.id, clock_now_ms());
    if (status == DB_OK)
        status = apply_status(app, em, &order, to, actor, reason, 0);
    if (status == DB_OK) {
        result->version = order.version;
        snprintf(result->to, sizeof result->to, "%s", order.status);
    }
    return status;
}

db_status_t funnel_expire_unpaid(order_app_t *app, const emitter_t *em, const char *order_id,
                                 const char *invoice_id, bool *cancelled)
{
    db_t *db = emitter_db(em);
    *cancelled = false;
    order_t order;
    bool found = false;
    db_status_t status = store_order_lock(db, order_id, &found, &order);
    if (status != DB_OK || !found || strcmp(order.status, "awaiting_payment") != 0)
        return status; /* paid, cancelled or moved on by hand meanwhile */
    char current[128] = "";
    status = store_order_invoice(db, order_id, current, sizeof current);
    if (status != DB_OK || strcmp(current, invoice_id) != 0)
        return status; /* a newer invoice is out: its own expiry decides */
    status = system_move(app, em, &order, "cancelled", "invoice expired", 0);
    *cancelled = status == DB_OK && strcmp(order.status, "cancelled") == 0;
    return status;
}
