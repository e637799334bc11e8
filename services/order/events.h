/*
 * events.h — the order stream's messages, built from plain structs and
 * appended with the kit's emitter (events.c; common/emit.h).
 *
 * Domain code decides what happened and calls one function per event; the
 * wire types (order.proto) stay in events.c. Each function appends to the
 * emitter's transaction: as an effect of the event being applied
 * (emitter_of_event) or as a root event of a route or a timer
 * (emitter_root). Payloads about an order carry its version (DESIGN.md).
 */
#ifndef ORDER_EVENTS_H
#define ORDER_EVENTS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/emit.h"
#include "services/order/store.h"
#include "services/order/submission.h"

/* An order's status changed (order.status_changed). Borrowed. */
typedef struct {
    const char *order_id;
    uint64_t version;
    uint64_t number;
    const char *from; /* "" for the first status */
    const char *to;
    const char *group;
    const char *actor_id;
    const char *actor_role; /* "system" or "staff" */
    const char *reason;
    int64_t at_ms;
    const char *customer_id;
    const char *channel;
    delivery_method_t method;
} status_change_t;

/* order.placed (version 1) of a submission filed as order_id. */
db_status_t events_placed(const emitter_t *em, const submission_t *sub, const char *order_id,
                          uint64_t number, const char *title, const customer_t *customer,
                          int64_t placed_at_ms);

db_status_t events_status_changed(const emitter_t *em, const status_change_t *change);

/* intake.accepted / intake.rejected: the answer to the submitter, carrying
 * source and external_id. reasons: [{field, code, message}]. */
db_status_t events_intake_accepted(const emitter_t *em, const char *source, const char *external_id,
                                   const char *order_id, uint64_t number, const char *title);
db_status_t events_intake_rejected(const emitter_t *em, const char *source, const char *external_id,
                                   const json_t *reasons, const char *rejection_id);

/* order.assigned: the order (at version) went to contact, from previous
 * ("" or NULL: nobody). */
db_status_t events_assigned(const emitter_t *em, const order_t *order, uint64_t version,
                            const manager_contact_t *contact, const char *previous,
                            const char *reason);

/* task.created; order may be NULL (a task about no order). */
db_status_t events_task_created(const emitter_t *em, const char *task_id, const char *kind,
                                const order_t *order, const char *assignee_id, int64_t due_at_ms,
                                const char *title);

/* order.reserved and order.confirmed at the order's version, with its
 * priced lines (their amounts computed: funnel_priced_lines) and totals;
 * order.reserved with the delivery as stored (delivery_json:
 * store_order_delivery; NULL: none) and the recipient (contact), which
 * the shipping service quotes; order.confirmed with its payment terms
 * (order->payment_terms). */
db_status_t events_reserved(const emitter_t *em, const order_t *order, const order_line_t *lines,
                            size_t count, const char *delivery_json,
                            const customer_contact_t *contact);
db_status_t events_confirmed(const emitter_t *em, const order_t *order,
                             const customer_contact_t *contact, const order_line_t *lines,
                             size_t count);

/* order.changed (editing.c): the whole order after an edit, at its new
 * version — its lines (line_no, sku, name, quantity, the sender's price
 * when there is one), the delivery as stored (delivery_json), discount,
 * totals, region and status from order; who edited it (actor_id and
 * actor_role), what changed (changed: "lines", "delivery", "discount"),
 * why, when. */
typedef struct {
    const order_t *order;
    const order_line_t *lines;
    size_t line_count;
    const char *delivery_json;
    const char *actor_id;
    const char *actor_role;
    const char *const *changed;
    size_t changed_count;
    const char *reason;
    int64_t at_ms;
} order_change_t;

db_status_t events_changed(const emitter_t *em, const order_change_t *change);

/* The fact events of arriving in a status, at the order's version. */
db_status_t events_ready_to_ship(const emitter_t *em, const order_t *order);
db_status_t events_assembled(const emitter_t *em, const order_t *order);
db_status_t events_delivered(const emitter_t *em, const order_t *order);
/* order.cancelled; refund_on_return: the paid parcel is with the carrier,
 * the money waits for it (returning.h). */
db_status_t events_cancelled(const emitter_t *em, const order_t *order, const char *reason,
                             const char *actor_id, const char *from, bool refund_on_return);

/* claim.created, claim.decided, claim.completed (type): the claim as
 * store_claim_lock_json reads it (after the move: its status, decision,
 * replacement_order_id, refund_request_id), with the moment's comment
 * and who made it. */
typedef struct {
    const json_t *claim;
    const char *comment;
    const char *actor_id;
    const char *actor_role;
    int64_t at_ms;
} claim_change_t;
db_status_t events_claim_changed(const emitter_t *em, const char *type,
                                 const claim_change_t *change);

/* refund.requested for an approved refund claim: request_id, the claim's
 * lines as the receipt's refund lines and its amount. */
db_status_t events_refund_requested(const emitter_t *em, const json_t *claim,
                                    const char *request_id, const char *actor_id);

#endif
