/*
 * facts.c — the payment, shipping and notification streams' facts about
 * an order (facts.h).
 *
 * One table says it all: per topic, the keys it leaves in the order's
 * payment or shipment state, the system move it asks for and from where,
 * and the task it opens.
 *
 *   invoice.created        payment link and expiry kept; a new link after a
 *                          declined card: payment_error -> awaiting_payment
 *   invoice.cancelled      the link no longer works
 *   invoice.expired        the order cancels itself after INVOICE_GRACE
 *   payment.succeeded      paid in full: awaiting_payment / payment_error
 *                          -> payment_received -> prepare_for_delivery
 *   payment.failed         awaiting_payment -> payment_error, a task
 *   payment.collected      cash on delivery: paid and due kept
 *   refund.succeeded       money went back: paid (net), due and the F15
 *                          payment status kept, the refund recorded once
 *   refund.failed          the bank refused: the refund recorded once and
 *                          a refund_failed task for the manager, with why
 *                          (refund.succeeded naming an approved refund
 *                          claim completes it: claiming.h)
 *   shipment.quoted        carrier, tariff, cost and address verdict kept
 *   shipment.created       the carrier's shipment id kept
 *   shipment.label_created tracking number, tracking and label URLs kept
 *   shipment.handed_over   assembled -> handed_to_carrier
 *   shipment.status_changed the last tracking status kept
 *   shipment.delivered     handed_to_carrier / rescheduled -> delivered;
 *                          assembled -> delivered (self-pickup, at the counter)
 *   shipment.cancelled     the label was voided
 *   shipment.cancel_refused too late to cancel: a task (it comes back)
 *   shipment.returned      handed_to_carrier -> returned
 *   return.received        the warehouse took goods back (inventory put the
 *                          sellable ones on hand): history, the return kept
 *                          with the shipment state (return_id, return_state);
 *                          once every unit shipped came back, delivered /
 *                          completed -> returned (a move out of a final
 *                          status this rule alone may make); a cancelled
 *                          order's refund waiting for the parcel is asked
 *                          (returning.h)
 *   notification.sent / .failed / .outcome_unknown
 *                          a message to the customer or staff: history only
 *
 * Money or a parcel that arrives after the order's final status is
 * recorded and given to a person, never refused. A refund is news about
 * money only (it asks no move): whatever the order's status, it is
 * recorded once per refund (order_refunds), so the same refund told
 * twice changes nothing, and a failure heard after that refund's success
 * is stale and ignored.
 */
#include "services/order/facts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/utf8.h"
#include "services/order/claiming.h"
#include "services/order/funnel.h"
#include "services/order/history.h"
#include "services/order/returning.h"
#include "services/order/rules.h"
#include "services/order/store.h"
#include "services/order/tasks.h"

#define STATE_KEYS_MAX 8

typedef struct {
    const char *stream;                     /* "payment" or "shipping" */
    const char *type;                       /* its topic */
    const char *state_keys[STATE_KEYS_MAX]; /* copied from the fact into the state */
    const char *phase_key;                  /* and this key set to phase_value */
    const char *phase_value;
    const char *to; /* the system move asked for */
    const char *const *from;
    const char *task_kind;
    const char *task_title;
    const char *task_if_key; /* the task only when the fact's key has this value */
    const char *task_if_value;
    bool paid_in_full_only; /* the move only when due_minor <= 0 */
    bool late_task;         /* after the final status, a person must hear of it */
    bool expires;           /* invoice.expired: the grace timer */
    bool refund;            /* refund.*: once per refund (order_refunds) */
    bool whole_only;        /* the move only when the fact's "whole" is true */
    bool from_final;        /* the move may leave the final statuses in from */
    bool refunds_return;    /* return.received: a refund waiting for the parcel is asked */
} fact_rule_t;

static const char *const unpaid[] = {"awaiting_payment", "payment_error", NULL};
static const char *const waiting_money[] = {"awaiting_payment", NULL};
static const char *const payment_failed[] = {"payment_error", NULL};
static const char *const packed[] = {"assembled", NULL};
/* delivered: from the road, or (a self-pickup handed over at the counter:
 * no carrier, no handed_over) straight from assembled */
static const char *const deliverable[] = {"handed_to_carrier", "rescheduled", "assembled", NULL};
static const char *const with_carrier[] = {"handed_to_carrier", NULL};
static const char *const received[] = {"delivered", "completed", NULL};

#define RULE(stream_, type_) .stream = stream_, .type = type_
#define PHASE(key_, value_)  .phase_key = key_, .phase_value = value_

static const fact_rule_t rules[] = {
    {RULE("payment", "invoice.created"),
     .state_keys = {"invoice_id", "payment_url", "expires_at_ms", "bank"},
     PHASE("invoice_state", "open"), .to = "awaiting_payment", .from = payment_failed},
    {RULE("payment", "invoice.cancelled"), .state_keys = {"invoice_id"},
     PHASE("invoice_state", "cancelled")},
    {RULE("payment", "invoice.expired"), .state_keys = {"invoice_id"},
     PHASE("invoice_state", "expired"), .expires = true},
    {RULE("payment", "payment.succeeded"),
     .state_keys = {"payment_id", "paid_minor", "due_minor", "paid_at_ms", "payment_status"},
     PHASE("payment_state", "succeeded"), .to = "payment_received", .from = unpaid,
     .paid_in_full_only = true, .late_task = true, .task_kind = "partial_payment",
     .task_title = "part of the order is paid: tell the customer what is still due",
     .task_if_key = "payment_status", .task_if_value = "partially_paid"},
    {RULE("payment", "payment.failed"), .state_keys = {"payment_id", "reason_code", "reason"},
     PHASE("payment_state", "failed"), .to = "payment_error", .from = waiting_money,
     .task_kind = "payment_error",
     .task_title = "the payment failed: call the customer and send a new link"},
    {RULE("payment", "payment.collected"),
     .state_keys = {"paid_minor", "due_minor", "collected_by", "collected_at_ms", "payment_status"},
     PHASE("payment_state", "collected")},
    {RULE("payment", "refund.succeeded"),
     .state_keys = {"refund_id", "paid_minor", "due_minor", "payment_status"},
     PHASE("refund_state", "succeeded"), .refund = true},
    {RULE("payment", "refund.failed"), .state_keys = {"refund_id"}, PHASE("refund_state", "failed"),
     .refund = true},
    {RULE("shipping", "shipment.quoted"),
     .state_keys = {"carrier", "service", "carrier_cost_minor", "address_verdict", "suggestions",
                    "days_min", "days_max"},
     PHASE("shipment_state", "quoted"), .task_kind = "wrong_address",
     .task_title = "the carrier cannot find the delivery address: call the customer, fix it or "
                   "override the shipping quote",
     .task_if_key = "address_verdict", .task_if_value = "wrong"},
    {RULE("shipping", "shipment.created"), .state_keys = {"shipment_id", "carrier"},
     PHASE("shipment_state", "created")},
    {RULE("shipping", "shipment.label_created"),
     .state_keys = {"shipment_id", "tracking_number", "tracking_url", "label_url", "batch_number"},
     PHASE("shipment_state", "labelled")},
    {RULE("shipping", "shipment.handed_over"), .state_keys = {"shipment_id"},
     PHASE("shipment_state", "handed_over"), .to = "handed_to_carrier", .from = packed,
     .late_task = true},
    {RULE("shipping", "shipment.status_changed"),
     .state_keys = {"tracking_status", "description", "at_ms"}},
    {RULE("shipping", "shipment.delivered"), .state_keys = {"shipment_id"},
     PHASE("shipment_state", "delivered"), .to = "delivered", .from = deliverable,
     .late_task = true},
    {RULE("shipping", "shipment.cancelled"), .state_keys = {"shipment_id"},
     PHASE("shipment_state", "cancelled")},
    {RULE("shipping", "shipment.cancel_refused"), .state_keys = {"shipment_id"},
     PHASE("shipment_state", "cancel_refused"), .task_kind = "late_fact",
     .task_title = "the carrier could not cancel the parcel: it will come back as a return"},
    {RULE("shipping", "shipment.returned"), .state_keys = {"shipment_id"},
     PHASE("shipment_state", "returned"), .to = "returned", .from = with_carrier},
    {RULE("inventory", "return.received"), .state_keys = {"return_id", "whole"},
     PHASE("return_state", "received"), .to = "returned", .from = received, .whole_only = true,
     .from_final = true, .refunds_return = true},
    {RULE("notification", "notification.sent")},
    {RULE("notification", "notification.failed")},
    {RULE("notification", "notification.outcome_unknown")},
};

static const fact_rule_t *rule_for(const char *stream, const char *type)
{
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++)
        if (strcmp(rules[i].stream, stream) == 0 && strcmp(rules[i].type, type) == 0)
            return &rules[i];
    return NULL;
}

bool facts_known(const char *stream, const char *type)
{
    return rule_for(stream, type) != NULL;
}

/* The keys of the rule, taken from the fact; a new object. */
static json_t *state_of(const fact_rule_t *rule, const json_t *fact)
{
    json_t *state = json_object();
    for (size_t i = 0; state && i < STATE_KEYS_MAX && rule->state_keys[i]; i++) {
        json_t *value = json_object_get(fact, rule->state_keys[i]);
        if (value)
            json_object_set(state, rule->state_keys[i], value);
    }
    if (state && rule->phase_key)
        json_object_set_new(state, rule->phase_key, json_string(rule->phase_value));
    return state;
}

static bool status_in(const char *status, const char *const *list)
{
    for (size_t i = 0; list && list[i]; i++)
        if (strcmp(status, list[i]) == 0)
            return true;
    return false;
}

/* A task for the order's manager, one per fact and order version: a
 * repeat of the fact adds none. */
static db_status_t fact_task(const emitter_t *em, const order_t *order, const char *kind,
                             const char *what, const char *topic)
{
    char title[400], dedup[160];
    snprintf(title, sizeof title, "%s: %s", order->title, what);
    snprintf(dedup, sizeof dedup, "%s:%s:%s:%llu", kind, topic, order->id,
             (unsigned long long)order->version);
    return tasks_open(em, kind, order, order->manager_id, title, clock_now_ms(), dedup, false);
}

/* The fact recorded on the (locked) order, its move and its task. */
static db_status_t apply_rule(order_app_t *app, const emitter_t *em, const fact_rule_t *rule,
                              order_t *order, const json_t *fact, const char *detail_json,
                              const char *state_json, fact_outcome_t *outcome)
{
    db_t *db = emitter_db(em);
    db_status_t status = DB_OK;
    if (rule->state_keys[0] || rule->phase_key) /* a message told: history only */
        status = store_order_merge_state(db, order->id, rule->stream, state_json);
    if (status == DB_OK)
        status = history_add(db, order->id, rule->stream, NULL, NULL, &history_system, rule->type,
                             detail_json);
    if (status != DB_OK)
        return status;
    *outcome = FACT_RECORDED;
    const char *to = rule->to;
    if (to && rule->paid_in_full_only && json_integer_value(json_object_get(fact, "due_minor")) > 0)
        to = NULL;
    if (to && rule->whole_only && !json_is_true(json_object_get(fact, "whole")))
        to = NULL;
    bool wants_move = to && strcmp(order->status, to) != 0;
    bool may_leave_final = rule->from_final && status_in(order->status, rule->from);
    if (wants_move && rules_group_final(order->group) && !may_leave_final) {
        /* money for a cancelled order, a parcel delivered after a cancel:
         * kept, and a person sorts it out */
        *outcome = FACT_LATE;
        if (!rule->late_task)
            return DB_OK;
        log_warn("a fact arrived after the order's final status: recorded, task opened",
                 LF_STR("order_id", order->id), LF_STR("status", order->status),
                 LF_STR("fact", rule->type), LF_ERR("fact_after_final_status"));
        char what[200];
        snprintf(what, sizeof what, "%s arrived while the order is %s: sort it out", rule->type,
                 order->status);
        return fact_task(em, order, "late_fact", what, rule->type);
    }
    if (wants_move && status_in(order->status, rule->from)) {
        status = funnel_system_move(app, em, order, to, rule->type);
        if (status == DB_OK)
            *outcome = FACT_APPLIED;
    } else if (!wants_move) {
        *outcome = FACT_APPLIED;
    }
    const char *condition =
        rule->task_if_key ? json_string_value(json_object_get(fact, rule->task_if_key)) : NULL;
    bool task = rule->task_kind &&
                (!rule->task_if_key || (condition && strcmp(condition, rule->task_if_value) == 0));
    if (status == DB_OK && task)
        status = fact_task(em, order, rule->task_kind, rule->task_title, rule->type);
    return status;
}

/* The refund a refund.* fact tells of, its key in order_refunds. */
static void refund_of(const json_t *fact, bool succeeded, char *key, size_t key_size,
                      order_refund_t *refund)
{
    const char *refund_id = json_string_value(json_object_get(fact, "refund_id"));
    const char *request_id = json_string_value(json_object_get(fact, "request_id"));
    if (refund_id && refund_id[0])
        snprintf(key, key_size, "%s", refund_id);
    else if (request_id && request_id[0]) /* refused before a refund was opened */
        snprintf(key, key_size, "request:%s", request_id);
    else
        snprintf(key, key_size, "unnamed:%lld:%lld",
                 (long long)json_integer_value(json_object_get(fact, "failed_at_ms")),
                 (long long)json_integer_value(json_object_get(fact, "amount_minor")));
    *refund = (order_refund_t){
        .order_id = json_string_value(json_object_get(fact, "order_id")),
        .refund_key = key,
        .succeeded = succeeded,
        .amount_minor = json_integer_value(json_object_get(fact, "amount_minor")),
        .reason = json_string_value(json_object_get(fact, "reason")),
        .reason_code = json_string_value(json_object_get(fact, "reason_code")),
        .reason_text = json_string_value(json_object_get(fact, "reason_text")),
        .at_ms = json_integer_value(
            json_object_get(fact, succeeded ? "succeeded_at_ms" : "failed_at_ms")),
    };
    if (refund->at_ms <= 0)
        refund->at_ms = clock_now_ms();
}

/* refund.failed: the manager returns the money another way; one task per
 * refund, saying how much and what the bank said. */
static db_status_t refund_failed_task(const emitter_t *em, const order_t *order,
                                      const order_refund_t *refund)
{
    long long amount = (long long)refund->amount_minor;
    const char *sign = amount < 0 ? "-" : "";
    if (amount < 0)
        amount = -amount;
    char title[400], dedup[320];
    snprintf(title, sizeof title,
             "%s: the refund of %s%lld.%02lld (%s) failed: %s%s%s: return the money another way",
             order->title, sign, amount / 100, amount % 100,
             refund->reason && refund->reason[0] ? refund->reason : "refund",
             refund->reason_code && refund->reason_code[0] ? refund->reason_code : "refused",
             refund->reason_text && refund->reason_text[0] ? ", " : "",
             refund->reason_text ? refund->reason_text : "");
    utf8_repair(title); /* the bank's words may have been cut inside a character */
    snprintf(dedup, sizeof dedup, "refund_failed:%s:%s", order->id, refund->refund_key);
    return tasks_open(em, "refund_failed", order, order->manager_id, title, clock_now_ms(), dedup,
                      false);
}

/* invoice.expired: the order cancels itself at run_at_ms unless it is
 * paid, moved on or invoiced again by then (funnel_expire_unpaid). */
static db_status_t expiry_timer(db_t *db, const char *order_id, const char *invoice_id,
                                int64_t run_at_ms)
{
    char key[200];
    snprintf(key, sizeof key, "invoice_expired:%s:%s", order_id, invoice_id);
    return tasks_timer(db, "invoice_expired", order_id, "invoice_id", invoice_id, run_at_ms, key);
}

db_status_t facts_apply(order_app_t *app, const emitter_t *em, const char *stream, const char *type,
                        const json_t *fact, fact_outcome_t *outcome)
{
    db_t *db = emitter_db(em);
    *outcome = FACT_UNKNOWN_ORDER;
    const fact_rule_t *rule = rule_for(stream, type);
    const char *order_id = json_string_value(json_object_get(fact, "order_id"));
    if (!rule || !order_id || !order_id[0]) {
        *outcome = FACT_NO_ORDER;
        return DB_OK;
    }
    json_t *state = state_of(rule, fact);
    char *detail_json = json_dumps(fact, JSON_COMPACT);
    char *state_json = state ? json_dumps(state, JSON_COMPACT) : NULL;
    db_status_t status = DB_OK;
    if (!detail_json || !state_json) {
        status = db_fail(db, DB_STATE_OUT_OF_MEMORY, "could not write %s as JSON", type);
        goto done;
    }
    order_t order;
    bool found = false;
    status = store_order_lock(db, order_id, &found, &order);
    if (status != DB_OK || !found)
        goto done;
    char refund_key[300];
    order_refund_t refund = {0};
    if (rule->refund) {
        bool applied = false;
        refund_of(fact, strcmp(type, "refund.succeeded") == 0, refund_key, sizeof refund_key,
                  &refund);
        status = store_order_refund_claim(db, &refund, &applied);
        if (status != DB_OK)
            goto done;
        if (!applied) { /* heard before, or a failure after the success: nothing changes */
            log_info("a refund already recorded was reported again: nothing changes",
                     LF_STR("order_id", order_id), LF_STR("refund", refund_key),
                     LF_STR("fact", type));
            *outcome = FACT_APPLIED;
            goto done;
        }
    }
    status = apply_rule(app, em, rule, &order, fact, detail_json, state_json, outcome);
    if (status == DB_OK && rule->refund && !refund.succeeded)
        status = refund_failed_task(em, &order, &refund);
    if (status == DB_OK && rule->refund && refund.succeeded)
        status = claiming_refunded(app, em, json_string_value(json_object_get(fact, "claim_id")));
    if (status == DB_OK && rule->refunds_return)
        status = returning_received(em, &order, fact);
    if (status == DB_OK && rule->expires) {
        const char *invoice_id = json_string_value(json_object_get(fact, "invoice_id"));
        status = expiry_timer(db, order_id, invoice_id ? invoice_id : "",
                              clock_now_ms() + app->invoice_grace_ms);
    }
done:
    free(detail_json);
    free(state_json);
    json_decref(state);
    return status;
}
