/*
 * funnel.h — the status funnel (F6): moves by people, checked against the
 * transition matrix (data: orders.transitions), and moves conveyor makes
 * itself when facts arrive, with what arriving in each status means
 * (funnel.c).
 */
#ifndef ORDER_FUNNEL_H
#define ORDER_FUNNEL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/emit.h"
#include "services/order/history.h"
#include "services/order/order.h"
#include "services/order/store.h"

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

/* Moves the order to `to` if the matrix lets one of the actor's roles do
 * it, records it and announces it (order.status_changed plus the fact
 * events: order.confirmed, order.cancelled ...), then makes conveyor's own
 * follow-up moves (confirmed -> awaiting_payment or prepare_for_delivery).
 * A refusal is an outcome in result with DB_OK, nothing written. Safe to
 * run again from the start (result is reset). */
db_status_t funnel_move(order_app_t *app, const emitter_t *em, const char *order_id, const char *to,
                        const actor_t *actor, const char *reason, uint64_t expected_version,
                        move_result_t *result);

/* A move conveyor makes itself on the (locked) order, if the matrix lets
 * `system` make it (the matrix is data: a store that removed the move
 * gets no move, and a log line). */
db_status_t funnel_system_move(order_app_t *app, const emitter_t *em, order_t *order,
                               const char *to, const char *reason);

/* The invoice_expired timer: cancels the order if it still waits for the
 * money of that invoice (a system move, so the matrix decides). */
db_status_t funnel_expire_unpaid(order_app_t *app, const emitter_t *em, const char *order_id,
                                 const char *invoice_id, bool *cancelled);

/* Issue 14: an order that was confirmed and is not yet assembled (its
 * terms decided, its status confirmed, awaiting or past payment, or
 * prepared for delivery): an edit of it is confirmed again. */
bool funnel_was_confirmed(const order_t *order);

/* Confirms the edited (locked) order again at its version: delivery price,
 * total and terms recomputed and stored, order.confirmed with the priced
 * lines, so that the payment service bills the new total (a newer
 * order.confirmed supersedes the open invoice; money paid past the new
 * total is refunded). The status does not move, unless the terms changed
 * (an unpaid order paid on delivery now, or prepaid now): then it goes
 * where the new terms lead, prepare_for_delivery or awaiting_payment. An
 * order already paid whose total rose gets a partial_payment task for its
 * manager (hold the parcel until the rest is paid). */
db_status_t funnel_reconfirm(order_app_t *app, const emitter_t *em, order_t *order);

/* The order's lines in line order with their amounts computed by the
 * totals rule (totals.h) from their stored prices. Caller frees
 * *lines_out. An overflow is DB_ERROR (db_fail: overflow). */
db_status_t funnel_priced_lines(db_t *db, const order_t *order, order_line_t **lines_out,
                                size_t *count_out);

#endif
