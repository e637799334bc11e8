/*
 * dispatch.h — an event heard: the triggers of its type run (F19), each
 * one that holds renders its template for its recipient (F20), and the
 * message is recorded in the delivery log and queued as a send job —
 * once per (event, trigger, recipient), however often the event is heard.
 * Runs in the inbox's transaction (handlers.c).
 */
#ifndef NOTIFICATION_DISPATCH_H
#define NOTIFICATION_DISPATCH_H

#include <jansson.h>
#include <stdint.h>

#include "common/db.h"
#include "services/notification/notification.h"

typedef struct {
    const char *event_id;
    const char *event_type;
    const char *order_id;        /* NULL or "": about no order (stock.low) */
    const json_t *facts;         /* what conditions test: to_status, group, ... (borrowed) */
    const json_t *extras;        /* what templates may show beyond the order (borrowed) */
    const char *assignee_id;     /* task.created: the "manager" recipient instead of the order's */
    const char *purchaser_email; /* stock.low */
    const char *purchaser_name;
    int64_t occurred_at_ms; /* when the event committed */
} notice_t;

/* Runs the triggers; *recorded_out (may be NULL) counts new messages. */
db_status_t dispatch_event(notification_app_t *app, db_t *db, const notice_t *notice,
                           int *recorded_out);

/* order.placed kept: the messages to its customer that were heard before
 * it (no email or phone known then) and waited, each run now. */
db_status_t dispatch_waiting(notification_app_t *app, db_t *db, const char *order_id,
                             int *recorded_out);

/* The job that ends a message's wait for its order (jobs.c). */
#define JOB_WAITING_END "notify_waiting_end"

/* Queues the send job of a pending delivery (in db's open transaction;
 * the job's dedup key is the delivery's, so a second call adds nothing). */
db_status_t dispatch_send_enqueue(notification_app_t *app, db_t *db, const char *delivery_id,
                                  const char *dedup_key, int64_t not_before_ms);

/* Renders a template object ({subject, body, html}) for the order (NULL:
 * none) into a new object {subject, body, html}; NULL with why on a
 * template that does not render. For preview and dispatch alike. */
json_t *dispatch_render(notification_app_t *app, db_t *db, const json_t *tmpl, const json_t *order,
                        const json_t *extras, const char *language, const char *unsubscribe_url,
                        char *why, size_t why_size, db_status_t *status_out);

#endif
