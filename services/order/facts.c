/*
 * facts.c — what the payment and shipping services report about an order,
 * and what each report does to it (EVENTS.md, the happy path).
 *
 * One table says it all: per topic (its message is the catalogue's), the
 * keys it leaves in the order's payment or shipment state, the system move it asks for and from
 * where, and the task it opens. The handler is the same for every topic:
 * unpack by the table's descriptor (a payload that does not is parked),
 * write the fact into the history as JSON, hand it to order_on_fact.
 *
 *   invoice.created        payment link and expiry kept
 *   invoice.cancelled      the link no longer works
 *   invoice.expired        the order cancels itself after INVOICE_GRACE
 *   payment.succeeded      paid in full: awaiting_payment / payment_error
 *                          -> payment_received -> prepare_for_delivery
 *   payment.failed         awaiting_payment -> payment_error, a task
 *   payment.collected      cash on delivery: paid and due kept
 *   shipment.quoted        carrier, tariff, cost and address verdict kept
 *   shipment.created       the carrier's shipment id kept
 *   shipment.label_created tracking number, tracking and label URLs kept
 *   shipment.handed_over   assembled -> handed_to_carrier
 *   shipment.status_changed the last tracking status kept
 *   shipment.delivered     handed_to_carrier / rescheduled -> delivered
 *   shipment.cancelled     the label was voided
 *   shipment.cancel_refused too late to cancel: a task (it comes back)
 *   shipment.returned      handed_to_carrier -> returned
 *
 * Money or a parcel that arrives after the order's final status is
 * recorded and given to a person (order_on_fact), never refused.
 */
#include "services/order/facts.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "proto/conveyor/catalogue.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/pbjson.h"
#include "services/order/handlers.h"

#define STATE_KEYS_MAX 8

typedef struct {
    const char *stream;                     /* "payment" or "shipping" */
    const char *type;                       /* its message is the catalogue's (common/catalogue) */
    const char *state_keys[STATE_KEYS_MAX]; /* copied from the fact into the state */
    const char *phase_key;                  /* and this key set to phase_value */
    const char *phase_value;
    const char *to; /* the system move asked for */
    const char *const *from;
    const char *task_kind;
    const char *task_title;
    bool paid_in_full_only; /* the move only when due_minor <= 0 */
    bool late_task;         /* after the final status, a person must hear of it */
    bool expires;           /* invoice.expired: the grace timer */
} fact_rule_t;

static const char *const unpaid[] = {"awaiting_payment", "payment_error", NULL};
static const char *const waiting_money[] = {"awaiting_payment", NULL};
static const char *const packed[] = {"assembled", NULL};
static const char *const on_the_road[] = {"handed_to_carrier", "rescheduled", NULL};
static const char *const with_carrier[] = {"handed_to_carrier", NULL};

#define RULE(stream_, type_) .stream = stream_, .type = type_
#define PHASE(key_, value_)  .phase_key = key_, .phase_value = value_

static const fact_rule_t rules[] = {
    {RULE("payment", "invoice.created"),
     .state_keys = {"invoice_id", "payment_url", "expires_at_ms", "bank"},
     PHASE("invoice_state", "open")},
    {RULE("payment", "invoice.cancelled"), .state_keys = {"invoice_id"},
     PHASE("invoice_state", "cancelled")},
    {RULE("payment", "invoice.expired"), .state_keys = {"invoice_id"},
     PHASE("invoice_state", "expired"), .expires = true},
    {RULE("payment", "payment.succeeded"),
     .state_keys = {"payment_id", "paid_minor", "due_minor", "paid_at_ms"},
     PHASE("payment_state", "succeeded"), .to = "payment_received", .from = unpaid,
     .paid_in_full_only = true, .late_task = true},
    {RULE("payment", "payment.failed"), .state_keys = {"payment_id", "reason_code", "reason"},
     PHASE("payment_state", "failed"), .to = "payment_error", .from = waiting_money,
     .task_kind = "payment_error",
     .task_title = "the payment failed: call the customer and send a new link"},
    {RULE("payment", "payment.collected"),
     .state_keys = {"paid_minor", "due_minor", "collected_by", "collected_at_ms"},
     PHASE("payment_state", "collected")},
    {RULE("shipping", "shipment.quoted"),
     .state_keys = {"carrier", "service", "carrier_cost_minor", "address_verdict", "suggestions",
                    "days_min", "days_max"},
     PHASE("shipment_state", "quoted")},
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
     PHASE("shipment_state", "delivered"), .to = "delivered", .from = on_the_road,
     .late_task = true},
    {RULE("shipping", "shipment.cancelled"), .state_keys = {"shipment_id"},
     PHASE("shipment_state", "cancelled")},
    {RULE("shipping", "shipment.cancel_refused"), .state_keys = {"shipment_id"},
     PHASE("shipment_state", "cancel_refused"), .task_kind = "late_fact",
     .task_title = "the carrier could not cancel the parcel: it will come back as a return"},
    {RULE("shipping", "shipment.returned"), .state_keys = {"shipment_id"},
     PHASE("shipment_state", "returned"), .to = "returned", .from = with_carrier},
};

static const fact_rule_t *rule_for(const char *stream, const char *type)
{
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++)
        if (strcmp(rules[i].stream, stream) == 0 && strcmp(rules[i].type, type) == 0)
            return &rules[i];
    return NULL;
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

static handler_result_t on_fact(inbox_event_t *event, void *arg)
{
    order_app_t *app = arg;
    const fact_rule_t *rule = rule_for(event->topic_stream, event->type);
    if (!rule)
        return inbox_reject(event, "unknown_topic", "no rule for %s/%s", event->topic_stream,
                            event->type);
    const ProtobufCMessageDescriptor *message =
        catalogue_find(rule->stream, rule->type)->message; /* checked at registration */
    ProtobufCMessage *msg =
        protobuf_c_message_unpack(message, NULL, event->payload_len, event->payload);
    if (!msg)
        return inbox_reject(event, "bad_payload", "%s payload is not a %s", rule->type,
                            message->short_name);
    json_t *fact = pbjson_from_message(msg);
    json_t *state = fact ? state_of(rule, fact) : NULL;
    char *detail_json = fact ? json_dumps(fact, JSON_COMPACT) : NULL;
    char *state_json = state ? json_dumps(state, JSON_COMPACT) : NULL;
    const char *order_id = json_string_value(json_object_get(fact, "order_id"));
    handler_result_t result = HANDLER_OK;
    if (!detail_json || !state_json) {
        result = inbox_retry(event, "out_of_memory", "could not write %s as JSON", rule->type);
        goto done;
    }
    if (!order_id || !order_id[0]) {
        result = inbox_reject(event, "bad_payload", "%s names no order", rule->type);
        goto done;
    }
    bool moves = rule->to != NULL;
    if (moves && rule->paid_in_full_only)
        moves = json_integer_value(json_object_get(fact, "due_minor")) <= 0;
    order_fact_t request = {
        .order_id = order_id,
        .topic = rule->type,
        .stream = rule->stream,
        .detail_json = detail_json,
        .state_json = state_json,
        .to = moves ? rule->to : NULL,
        .from = rule->from,
        .task_kind = rule->task_kind,
        .task_title = rule->task_title,
        .late_task = rule->late_task,
    };
    emitter_t emitter = {.cause = event};
    fact_outcome_t outcome = FACT_APPLIED;
    db_status_t status = order_on_fact(app, event->db, &emitter, &request, &outcome);
    if (status == DB_OK && outcome == FACT_UNKNOWN_ORDER) {
        /* it answers something this service published: a fact about an
         * order it never had is someone's bug, parked for an operator */
        result = inbox_reject(event, "unknown_order", "%s is about order %s, which does not exist",
                              rule->type, order_id);
        goto done;
    }
    if (status == DB_OK && rule->expires) {
        const char *invoice_id = json_string_value(json_object_get(fact, "invoice_id"));
        status = order_expiry_timer(event->db, order_id, invoice_id ? invoice_id : "",
                                    clock_now_ms() + app->invoice_grace_ms);
    }
    result = handlers_from_db(event, status, rule->type);
done:
    free(detail_json);
    free(state_json);
    json_decref(state);
    json_decref(fact);
    protobuf_c_message_free_unpacked(msg, NULL);
    return result;
}

int facts_register(inbox_t *inbox, order_app_t *app)
{
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++) {
        if (!catalogue_find(rules[i].stream, rules[i].type)) {
            log_error("a fact rule names a topic the catalogue lacks",
                      LF_STR("stream", rules[i].stream), LF_STR("type", rules[i].type),
                      LF_ERR("unknown_topic"));
            return -1;
        }
        if (inbox_on(inbox, rules[i].stream, rules[i].type, on_fact, app) != 0)
            return -1;
    }
    return 0;
}
