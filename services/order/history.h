/*
 * history.h — the order's history: who did what to it, when and why, and
 * the actors who do things (history.c).
 *
 * Every change a person or conveyor makes to an order leaves a row in
 * order_history (status moves, assignment, stock, payment and shipping
 * facts, taking an order up); GET /v1/orders/{id} shows them and the
 * people report counts them.
 */
#ifndef ORDER_HISTORY_H
#define ORDER_HISTORY_H

#include "common/db.h"

/* Who acts: a person (their staff id, name and role_t bits from the
 * token) or conveyor itself (history_system). Borrowed for a call. */
typedef struct {
    const char *id; /* staff id, or "system" */
    const char *name;
    unsigned roles; /* role_t bits */
} actor_t;

/* Conveyor itself, reacting to facts and timers (ROLE_SYSTEM). */
extern const actor_t history_system;

/* The role a history row names for the actor ("system" for NULL). */
const char *history_role_name(const actor_t *actor);

/* Appends a history row in the caller's transaction (written with its
 * deferred rows: visible after commit). The actor's first role of admin,
 * manager, warehouse, courier, system names it; a NULL actor is conveyor.
 * from, to and detail_json may be NULL. */
db_status_t history_add(db_t *db, const char *order_id, const char *kind, const char *from,
                        const char *to, const actor_t *actor, const char *reason,
                        const char *detail_json);

#endif
