/*
 * assignment.h — who works an order (F5): picking a manager when an order
 * comes in, reassigning one nobody took up, the queue of orders nobody
 * could take, and shifts (assignment.c).
 *
 * The choice itself is a pure rule (assign.h); this glues it to the store
 * under the assignment lock, in the caller's transaction, and announces
 * it (order.assigned, the new-order task, the reassignment timer).
 */
#ifndef ORDER_ASSIGNMENT_H
#define ORDER_ASSIGNMENT_H

#include <stdbool.h>
#include <stdint.h>

#include "common/emit.h"
#include "services/order/history.h"
#include "services/order/order.h"
#include "services/order/store.h"

/* Picks a manager for an order of region_key (the customer's own manager
 * first, never exclude_id) and takes one of their slots; contact->id is
 * "" when nobody can take it now. */
db_status_t assignment_pick(order_app_t *app, db_t *db, const char *region_key,
                            const char *customer_manager_id, const char *exclude_id,
                            manager_contact_t *contact);

/* The manager assignment_pick would try first for an order of region_key
 * (the lock taken, the candidates read or cached), without taking their
 * slot: the caller takes it in its own statement (store_order_insert) and
 * tells assignment_taken. id_out is "" when nobody can take it now. */
db_status_t assignment_choose(order_app_t *app, db_t *db, const char *region_key,
                              const char *customer_manager_id, char id_out[37]);

/* What became of the slot of the manager assignment_choose chose: taken at
 * now_ms, or refused by the database (full, off shift meanwhile). */
void assignment_taken(db_t *db, const char *id, bool taken, int64_t now_ms);

/* The order (at version) went to contact, from previous ("" or NULL for
 * a first assignment): history, order.assigned, the new-order task and
 * the reassignment timer. */
db_status_t assignment_announce(order_app_t *app, const emitter_t *em, const order_t *order,
                                uint64_t version, const manager_contact_t *contact,
                                const char *previous, const char *reason);

/* Gives the (locked) order to another manager, taking it from its current
 * one if it has one. *assigned false when nobody can take it now. */
db_status_t assignment_assign(order_app_t *app, const emitter_t *em, order_t *order,
                              const char *reason, bool *assigned);

/* The (locked) order's delivery moved from region `from` to its region
 * now, not "" (an edit, editing.c): a manager who serves the new region keeps
 * it; otherwise it goes to one who does, as at intake (their slot taken,
 * the old one's freed, history "assigned" with reason region_changed,
 * order.assigned, the new-order task and timer), or, when nobody there
 * can take it now, the old manager gives it up and it waits in the queue
 * (history "unassigned") like an order nobody could take at intake. The
 * order's version moves on when its manager changes. */
db_status_t assignment_region_changed(order_app_t *app, const emitter_t *em, order_t *order,
                                      const char *from);

/* Assigns up to max waiting orders, oldest first, while someone can take
 * them; how many went out goes to *assigned_out. */
db_status_t assignment_assign_waiting(order_app_t *app, const emitter_t *em, int max,
                                      int *assigned_out);

/* A manager's slot is free again (the order reached a final status, or
 * went to someone else). */
db_status_t assignment_free_slot(db_t *db, const char *staff_id);

/* The assigned manager started working the order: it is not reassigned
 * any more. *found false when there is no such order. */
db_status_t assignment_take_up(db_t *db, const char *order_id, const actor_t *actor, bool *found);

/* A staff member comes on or goes off shift; someone arriving asks for
 * the waiting orders to be assigned (the assign_waiting job, once however
 * often it is asked before it runs). *found false when no such person. */
db_status_t assignment_shift(db_t *db, const char *staff_id, bool on_shift, bool *found);

#endif
