/*
 * tasks.h — tasks for people and the timers that open them (tasks.c).
 *
 * F8: a person hears of what needs them (a new order, a failed payment, a
 * parcel not delivered) through a task, announced by task.created. Timers
 * are the kit's jobs with a run_at (jobs.c runs them); the funnel, the
 * assignment and the facts set them here, in the caller's transaction.
 */
#ifndef ORDER_TASKS_H
#define ORDER_TASKS_H

#include <stdbool.h>
#include <stdint.h>

#include "common/emit.h"
#include "services/order/store.h"

/* A task for a person (assignee may be "" or NULL), announced by
 * task.created unless its dedup key was used before. fresh: the key names
 * something this transaction made (a new order), so it cannot exist: the
 * task is inserted with the transaction's deferred rows instead of at
 * once. order may be NULL (a task about no order). */
db_status_t tasks_open(const emitter_t *em, const char *kind, const order_t *order,
                       const char *assignee_id, const char *title, int64_t due_at_ms,
                       const char *dedup_key, bool fresh);

/* When a timer of `days` business days from from_ms falls due, by the
 * business calendar (calendar.h and its exceptions in the store). */
db_status_t tasks_business_deadline(db_t *db, int64_t from_ms, int days, int64_t *due_ms_out);

/* Enqueues a timer job of kind about an order at run_at_ms, its payload
 * {"order_id": ..., extra_key: extra_value} (extra_key may be NULL); a
 * no-op when its dedup key was used before. */
db_status_t tasks_timer(db_t *db, const char *kind, const char *order_id, const char *extra_key,
                        const char *extra_value, int64_t run_at_ms, const char *dedup_key);

#endif
