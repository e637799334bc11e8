/*
 * orders.h — what happens to an order, whichever door asked.
 *
 * The bus handlers (handlers.c), the HTTP routes (api.c) and the timers
 * (jobs.c) all change orders through these functions, inside the caller's
 * transaction: intake, assignment, the status funnel and the facts from
 * the inventory, payment and shipping streams. They glue the pure rules
 * (intake.c, assign.c, totals.c, rules.c) to the store and append the
 * order stream's events in the same transaction — as effects of the event
 * being applied (emitter.cause) or as root events (HTTP, timers).
 */
#ifndef ORDER_ORDERS_H
#define ORDER_ORDERS_H

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/db.h"
#include "common/inbox.h"
#include "common/service.h"
#include "conveyor/inventory.pb-c.h"
#include "services/order/submission.h"
#include "services/order/store.h"

typedef struct {
    service_t *svc;
    char local_region[64];     /* STORE_REGION, lower-cased: on-delivery payment allowed */
    int64_t assign_timeout_ms; /* reassign an order nobody took up after this */
    int64_t new_order_task_ms; /* the new-order task is due this long after assignment */
    int assign_lock_ttl_ms;
    int assign_lock_wait_ms;
    int reminder_business_days;  /* unpaid invoice and undelivered parcel checks */
    int64_t vip_threshold_minor; /* F4: a customer who spent this much is a VIP */
    int64_t invoice_grace_ms;    /* an unpaid order cancels itself this long after its
                                    invoice expired */
} order_app_t;

/* Where events go: effects of the event being applied (cause set), or
 * root events of an HTTP request or a timer (cause NULL). */
typedef struct {
    inbox_event_t *cause;
} emitter_t;

typedef struct {
    const char *id; /* staff id, or "system" */
    const char *name;
    unsigned roles; /* role_t bits */
} actor_t;

/* Appends an event of the order stream about order_id. */
db_status_t order_emit(db_t *db, const emitter_t *emitter, const char *type, const char *order_id,
                       const ProtobufCMessage *payload);

/* --- intake -------------------------------------------------------------- */

typedef enum {
    INTAKE_ACCEPTED = 0, /* a new order */
    INTAKE_REPEAT,       /* the key was used before with the same body: the first answer */
    INTAKE_CONFLICT,     /* the key was used before with another body */
    INTAKE_REJECTED,     /* it breaks a rule; kept in rejections */
} intake_outcome_t;

typedef struct {
    intake_outcome_t outcome;
    char order_id[37];
    uint64_t number;
    char title[300];
    char manager_id[37];
    char rejection_id[37];
    json_t *reasons; /* INTAKE_REJECTED: the reasons; owned, free with intake_result_clear */
} intake_result_t;

void intake_result_clear(intake_result_t *result);

/* F1–F5: validates, deduplicates by (source, external_id), files the
 * order with its customer, assigns it and announces it (order.placed,
 * order.status_changed, order.assigned, intake.accepted — or
 * intake.rejected). trust: what the order's source may decide about
 * money (its prices stand; the discount it may give), from
 * intake_sources. read_errors (may be NULL): problems found while reading
 * the input (a string where a number belongs), reported with the rule
 * failures. */
db_status_t order_intake(order_app_t *app, db_t *db, const emitter_t *emitter, submission_t *sub,
                         intake_door_t door, const char *default_channel,
                         const intake_trust_t *trust, const json_t *read_errors,
                         intake_result_t *result);

/* --- assignment ------------------------------------------------------------ */

/* F5: gives the (locked) order to a manager, taking it from its current
 * one if it has one (except_manager is then skipped). *assigned false
 * when nobody can take it now. */
db_status_t order_assign(order_app_t *app, db_t *db, const emitter_t *emitter, order_t *order,
                         const char *reason, bool *assigned);

/* Assigns waiting orders oldest first while someone can take them; the
 * number assigned goes to *assigned_out. */
db_status_t order_assign_waiting(order_app_t *app, db_t *db, const emitter_t *emitter, int max,
                                 int *assigned_out);

/* --- the funnel ----------------------------------------------------------- */

typedef enum {
    MOVE_OK = 0,
    MOVE_NOT_FOUND,
    MOVE_NOT_ALLOWED, /* the matrix has no such move for these roles: moves lists those it has */
    MOVE_NEEDS_REASON,
    MOVE_STALE,     /* expected_version given and the order moved on */
    MOVE_NOT_READY, /* e.g. confirming an order whose stock is not held */
} move_outcome_t;

typedef struct {
    move_outcome_t outcome;
    char from[32];
    char to[32];
    uint64_t version;
    json_t *moves; /* MOVE_NOT_ALLOWED: the allowed moves; owned */
    char detail[200];
} move_result_t;

void move_result_clear(move_result_t *result);

/* F6: moves the order to `to` if the matrix lets one of the actor's roles
 * do it, records it and announces it (order.status_changed plus the fact
 * events: order.confirmed, order.cancelled ...), then makes conveyor's own
 * follow-up moves (confirmed -> awaiting_payment or prepare_for_delivery). */
db_status_t order_move(order_app_t *app, db_t *db, const emitter_t *emitter, const char *order_id,
                       const char *to, const actor_t *actor, const char *reason,
                       uint64_t expected_version, move_result_t *result);

/* The assigned manager started working the order (stops the reassignment
 * timer). */
db_status_t order_take_up(order_app_t *app, db_t *db, const char *order_id, const actor_t *actor,
                          bool *found);

/* --- facts from the inventory stream -------------------------------------- */

db_status_t order_on_stock_reserved(order_app_t *app, db_t *db, const emitter_t *emitter,
                                    const Conveyor__StockReserved *msg);
db_status_t order_on_stock_shortage(order_app_t *app, db_t *db, const emitter_t *emitter,
                                    const Conveyor__StockShortage *msg);
db_status_t order_on_stock_note(order_app_t *app, db_t *db, const char *order_id, const char *what,
                                const char *detail_json);

/* --- facts from the payment and shipping streams ------------------------ */

/* What another service reports about an order, and what it asks of the
 * funnel. Everything is borrowed for the call. */
typedef struct {
    const char *order_id;
    const char *topic;       /* "payment.succeeded": the history entry's reason */
    const char *stream;      /* "payment" or "shipping": the history entry's kind */
    const char *detail_json; /* the fact as the history entry's detail */
    const char *state_json;  /* merged into the order's payment/shipment state; NULL: none */
    const char *to;          /* the system move it asks for; NULL: none */
    const char *const *from; /* ...made only from these statuses (NULL-terminated) */
    const char *task_kind;   /* a task for the order's manager; NULL: none */
    const char *task_title;  /* its title after the order's title */
    bool late_task;          /* asked after the final status, a person must hear of it */
} order_fact_t;

typedef enum {
    FACT_APPLIED = 0,  /* recorded, and the move made if one was asked */
    FACT_RECORDED,     /* recorded; the order was not where the move starts */
    FACT_LATE,         /* recorded after the order's final status; a task asks a person */
    FACT_UNKNOWN_ORDER /* no such order: nothing written */
} fact_outcome_t;

/* Records a fact in the order's history (and state), makes the system
 * move it asks for when the order is in one of its `from` statuses, and
 * opens its task. A fact that arrives after the order's final status is
 * recorded (and handed to a person if late_task), never refused
 * (EVENTS.md). */
db_status_t order_on_fact(order_app_t *app, db_t *db, const emitter_t *emitter,
                          const order_fact_t *fact, fact_outcome_t *outcome);

/* invoice.expired: the order cancels itself at run_at_ms unless it is
 * paid, moved on or invoiced again by then (the invoice_expired job). */
db_status_t order_expiry_timer(db_t *db, const char *order_id, const char *invoice_id,
                               int64_t run_at_ms);

/* The invoice_expired job: cancels the order if it still waits for the
 * money of that invoice (a system move, so the matrix decides). */
db_status_t order_expire_unpaid(order_app_t *app, db_t *db, const emitter_t *emitter,
                                const char *order_id, const char *invoice_id, bool *cancelled);

/* --- tasks and timers ------------------------------------------------------ */

/* F8: a task for a person (assignee may be ""), announced by task.created
 * unless its dedup key was used before. fresh: the key names something
 * this transaction made (a new order), so it cannot exist: the task is
 * inserted with the transaction's deferred rows instead of at once. */
db_status_t order_task(order_app_t *app, db_t *db, const emitter_t *emitter, const char *kind,
                       const order_t *order, const char *assignee_id, const char *title,
                       int64_t due_at_ms, const char *dedup_key, bool fresh);

/* When a timer of `days` business days from now falls due. */
db_status_t order_business_deadline(db_t *db, int64_t from_ms, int days, int64_t *due_ms_out);

#endif
