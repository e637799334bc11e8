/*
 * store.h — every SQL statement of the notification service (store.c),
 * over the tables of migrations/001_notification.sql. Reads that an API
 * or the domain passes on come back as JSON built by the query.
 */
#ifndef NOTIFICATION_STORE_H
#define NOTIFICATION_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/db.h"

/* Registers the statements on a session (service_def_t.db_setup). */
int store_setup(db_t *db, void *arg);

/* --- what the service knows of an order ---------------------------------- */

/* order.placed: who, how delivered, the lines as asked. fields is an
 * object of the orders columns (customer_*, title, number, channel,
 * region, delivery_method, pickup_address, lines); kept unless a newer
 * version was heard. */
db_status_t store_order_placed(db_t *db, const char *order_id, uint64_t version,
                               const json_t *fields);

/* Priced lines and totals (order.reserved, order.confirmed), with the
 * payment terms when known (""). */
db_status_t store_order_priced(db_t *db, const char *order_id, uint64_t version,
                               const json_t *lines, const json_t *totals,
                               const char *payment_terms);

/* order.status_changed: the status, and the number, channel and delivery
 * method it restates. */
db_status_t store_order_status(db_t *db, const char *order_id, uint64_t version, uint64_t number,
                               const char *status, const char *channel,
                               const char *delivery_method);

/* order.changed (issue 14 item 1) at version, if newer than what is kept:
 * the delivery (fields: delivery_method, pickup_address, region; a key
 * absent or "" keeps what is known), the totals (NULL: kept as they are:
 * the edit's lines are not priced yet) and the edit waiting for its prices
 * (NULL: none; replaces any). *applied_out false when the order is unknown
 * or already at this version or a newer one (nothing written). */
db_status_t store_order_changed(db_t *db, const char *order_id, uint64_t version,
                                const json_t *fields, const json_t *totals, const json_t *pending,
                                bool *applied_out);

/* Takes (clears) the order's edit waiting for its prices when it is of
 * version or older (the order is priced at version): *out the edit as kept,
 * or NULL when there is none. */
db_status_t store_order_change_take(db_t *db, const char *order_id, uint64_t version, json_t **out);

/* order.assigned: the manager (and the staff row of them). */
db_status_t store_order_manager(db_t *db, const char *order_id, const char *manager_id,
                                const char *name, const char *email, const char *phone);

/* Keys merged into the order's extra (payment_url, tracking_number ...). */
db_status_t store_order_extra(db_t *db, const char *order_id, const json_t *extra);

/* The orders row as a JSON object into *out (NULL when unknown). */
db_status_t store_order_json(db_t *db, const char *order_id, json_t **out);

/* The staff row as JSON (NULL when unknown). */
db_status_t store_staff_json(db_t *db, const char *staff_id, json_t **out);

/* --- triggers and templates ------------------------------------------------ */

/* Enabled triggers of event_type, as a JSON array (oldest first). */
db_status_t store_triggers_for(db_t *db, const char *event_type, json_t **out);

/* The template for (name, channel), in language, else in fallback, else
 * any: a JSON object {template, channel, language, subject, body, html}
 * or NULL. */
db_status_t store_template_pick(db_t *db, const char *name, const char *channel,
                                const char *language, const char *fallback, json_t **out);

/* The status's label in language (else English, else the code); the
 * label of the move from from_status ("" for none) when there is one. */
db_status_t store_status_label(db_t *db, const char *status, const char *from_status,
                               const char *language, char *out, size_t out_size);

/* Names for people of codes: codes is an object of kind -> code (kinds of
 * the labels table: carrier, tracking_status, delivery_method); *out a new
 * object of kind -> name in language (else English, else the code). */
db_status_t store_labels(db_t *db, const json_t *codes, const char *language, json_t **out);

db_status_t store_triggers_json(db_t *db, json_t **out);
db_status_t store_trigger_json(db_t *db, const char *trigger_id, json_t **out);
/* Inserts or replaces a trigger (an object with every column). */
db_status_t store_trigger_put(db_t *db, const char *trigger_id, const json_t *trigger);
db_status_t store_trigger_delete(db_t *db, const char *trigger_id, bool *found_out);

db_status_t store_templates_json(db_t *db, json_t **out);
db_status_t store_template_json(db_t *db, const char *name, const char *channel,
                                const char *language, json_t **out);
db_status_t store_template_put(db_t *db, const char *name, const char *channel,
                               const char *language, const char *subject, const char *body,
                               const char *html);
db_status_t store_template_delete(db_t *db, const char *name, const char *channel,
                                  const char *language, bool *found_out);

/* --- messages waiting for their order (migrations/002_waiting.sql) ------------ */

/* Keeps (event, trigger) with the event's facts until order_id is placed;
 * a second time is a no-op. */
db_status_t store_waiting_add(db_t *db, const char *event_id, const char *trigger_id,
                              const char *event_type, const char *order_id, const json_t *facts,
                              int64_t occurred_at_ms);

/* Takes (deletes) what waits for order_id, oldest first, as a JSON array of
 * {event_id, trigger_id, event_type, facts, occurred_at_ms}. */
db_status_t store_waiting_take(db_t *db, const char *order_id, json_t **out);

/* Deletes one waiting message; *found_out says whether it was there. */
db_status_t store_waiting_drop(db_t *db, const char *event_id, const char *trigger_id,
                               bool *found_out);

/* *out: order.placed of order_id was heard (the order's version > 0). */
db_status_t store_order_known(db_t *db, const char *order_id, bool *out);

/* --- opt-out ------------------------------------------------------------------- */

db_status_t store_optout_has(db_t *db, const char *customer_id, const char *channel, bool *out);
db_status_t store_optout_add(db_t *db, const char *customer_id, const char *channel);

/* --- the delivery log ------------------------------------------------------------ */

typedef struct {
    const char *delivery_id; /* a new UUID */
    const char *dedup_key;
    const char *event_id;
    const char *event_type;
    const char *trigger_id;
    const char *template_name;
    const char *language;
    const char *channel;
    const char *recipient_kind;
    const char *recipient;
    const char *recipient_name;
    const char *order_id; /* NULL: none */
    const char *customer_id;
    const char *subject;
    const char *body;
    const char *html;
    const char *status; /* pending, suppressed, failed */
    const char *error_code;
    const char *error_message;
    int64_t not_before_ms; /* 0: none */
    int64_t event_at_ms;
} delivery_new_t;

/* Inserts it unless its dedup key is known; *created_out says which. */
db_status_t store_delivery_insert(db_t *db, const delivery_new_t *delivery, bool *created_out);

/* Holds order_id's lock until the transaction ends: the messages of an
 * order are recorded, and the next one queued when one ends, one
 * transaction at a time (dispatch.c, jobs.c), so none is left with no job. */
db_status_t store_order_lock(db_t *db, const char *order_id);

/* *out: a message of the order to recipient by channel is pending (the next
 * one must wait for it to end). Under store_order_lock. */
db_status_t store_delivery_ahead(db_t *db, const char *order_id, const char *channel,
                                 const char *recipient, bool *out);

/* The row as JSON (NULL when unknown). */
db_status_t store_delivery_json(db_t *db, const char *delivery_id, json_t **out);

/* The rows of count ids as a JSON array (unknown ids left out, in no
 * particular order) into *out. */
db_status_t store_deliveries_json(db_t *db, const char *const *ids, size_t count, json_t **out);

/* How a pending delivery ended. */
typedef struct {
    const char *delivery_id;
    const char *status; /* sent, failed, outcome_unknown */
    const char *provider_id;
    const char *error_code;
    const char *error_message;
    int attempts;
} delivery_end_t;

/* Ends count pending deliveries in one statement: status, the provider's
 * id or the error. *out: the rows that moved, as a JSON array of their
 * new state (a row that was no longer pending is not there). */
db_status_t store_deliveries_finish(db_t *db, const delivery_end_t *ends, size_t count,
                                    json_t **out);

/* Ends a pending delivery whose send job died without ending it (jobs.c):
 * outcome_unknown when it was marked handed (it may be at its provider),
 * else failed; error the job's. *out: the row that moved, as a JSON array
 * of it (empty: not pending). */
db_status_t store_delivery_given_up(db_t *db, const char *delivery_id, const char *error_code,
                                    const char *error_message, int attempts, json_t **out);

/* The messages next in line once the count messages of ids ended: for each
 * order, channel and recipient among them, the oldest still pending, as a
 * JSON array of {delivery_id, dedup_key, not_before_ms}; the orders' locks
 * are taken first (store_order_lock). */
db_status_t store_deliveries_next(db_t *db, const char *const *ids, size_t count, json_t **out);

/* Notes that the count messages may be at their provider from now on
 * (before the call can hand the first over; the others are the next its
 * batch sends): one statement, committed at once, outside any
 * transaction. */
db_status_t store_deliveries_handed(db_t *db, const char *const *ids, size_t count);

/* Takes back a mark of a message that was never handed over (its batch
 * gives it back unstarted). */
db_status_t store_delivery_unhanded(db_t *db, const char *delivery_id);

/* Notes a failed attempt that will be tried again (the message is not at
 * the provider: handed cleared). */
db_status_t store_delivery_attempt(db_t *db, const char *delivery_id, const char *error_code,
                                   const char *error_message, int attempts);

/* The log of an order, or of a customer, newest first (at most limit). */
db_status_t store_deliveries_of_order(db_t *db, const char *order_id, int limit, json_t **out);
db_status_t store_deliveries_of_customer(db_t *db, const char *customer_id, int limit,
                                         json_t **out);

#endif
