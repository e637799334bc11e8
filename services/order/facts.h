/*
 * facts.h — what the payment, shipping and notification services report
 * about an order, and what each report does to it (facts.c; EVENTS.md, the happy
 * path).
 *
 * A fact arrives as a plain JSON object (handlers.c reads the wire by the
 * catalogue's message and writes it as JSON): it is kept in the order's
 * history, its keys merged into the order's payment or shipment state,
 * and it may ask for a system move, a task or a timer.
 */
#ifndef ORDER_FACTS_H
#define ORDER_FACTS_H

#include <jansson.h>
#include <stdbool.h>

#include "common/emit.h"
#include "services/order/order.h"

typedef enum {
    FACT_APPLIED = 0,   /* recorded, and the move made if one was asked */
    FACT_RECORDED,      /* recorded; the order was not where the move starts */
    FACT_LATE,          /* recorded after the order's final status; a task asks a person */
    FACT_UNKNOWN_ORDER, /* no such order: nothing written */
    FACT_NO_ORDER,      /* the fact names no order: nothing written */
} fact_outcome_t;

/* Whether stream/type is a fact this file has a rule for. */
bool facts_known(const char *stream, const char *type);

/* Applies the fact (borrowed; its message as JSON) by its rule: records
 * it, makes the system move it asks for when the order is where the move
 * starts, opens its task, sets its timer. A fact that arrives after the
 * order's final status is recorded (and handed to a person where it
 * matters), never refused. */
db_status_t facts_apply(order_app_t *app, const emitter_t *em, const char *stream, const char *type,
                        const json_t *fact, fact_outcome_t *outcome);

#endif
