/*
 * shipments.h — the shipping service's domain: what happens to an order's
 * parcel, in the caller's transaction (a handler's, a job's completion, a
 * route's). The carrier is never called here: what needs it becomes a
 * job (jobs.c), whose result comes back through these functions.
 */
#ifndef SHIPPING_SHIPMENTS_H
#define SHIPPING_SHIPMENTS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/emit.h"
#include "services/shipping/adapters/carrier.h"
#include "services/shipping/shipping.h"
#include "services/shipping/store.h"

/* The job kinds (jobs.c); payload {"id": order_id, "round": n}. */
#define JOB_QUOTE     "shipping_quote"
#define JOB_LABEL     "shipping_label"
#define JOB_VOID      "shipping_void"
#define JOB_TRACK     "shipping_track"
#define JOB_BATCH     "shipping_batch"
#define JOB_SUBSCRIBE "shipping_subscribe"

/* A job about an order's parcel (dedup kind:order:round[:tag]); run_at 0: now. */
db_status_t shipments_schedule(db_t *db, const char *kind, const char *order_id, int round,
                               const char *tag, int64_t run_at_ms);

typedef struct {
    const char *order_id;
    uint64_t version, number;
    const char *method; /* courier, post, pickup_point, self_pickup */
    const char *region;
    const json_t *address;   /* {text, country_code, region, city, postal_code, line1, line2} */
    const json_t *recipient; /* {name, phone, email} */
    const json_t *lines;     /* [{line_no, sku, name, quantity, unit_weight_g}]: the slip's */
    int64_t weight_g;
} reserved_order_t;

/* order.reserved: the parcel is quoted (a job), or needs none (self-pickup). */
db_status_t shipments_reserved(shipping_app_t *app, const emitter_t *em,
                               const reserved_order_t *order);
/* order.ready_to_ship: on the warehouse's list. */
db_status_t shipments_ready(const emitter_t *em, const char *order_id);
/* order.status_changed to awaiting_payment: an order on the warehouse's
 * list that is to be paid first now (an edit made it prepaid) leaves the
 * list until its order.ready_to_ship comes again. */
db_status_t shipments_awaiting_payment(const emitter_t *em, const char *order_id);
/* order.assembled: the label is bought (a job) for a carrier with an API. */
db_status_t shipments_assembled(const emitter_t *em, const char *order_id, int64_t weight_g);
/* order.cancelled: nothing bought yet: cancelled; a label: voided (a job);
 * the parcel with the carrier: cancel_refused. */
db_status_t shipments_cancelled(const emitter_t *em, const char *order_id, const char *reason);

/* The quote job's result: the address's verdict (and the carrier's
 * correction), the rule's choice and the carrier's cost. */
typedef struct {
    const char *verdict;              /* valid, corrected, wrong, unknown */
    const carrier_address_t *matched; /* corrected: the suggestion */
    const weight_rule_t *rule;        /* NULL: no rule for the parcel */
    int64_t cost_minor;               /* -1: no rate */
    int days_min, days_max;
    const char *error; /* why it failed (no rule, no rates) */
} quote_result_t;
db_status_t shipments_quote_done(shipping_app_t *app, const emitter_t *em, const char *order_id,
                                 const quote_result_t *result);

/* A person's choice over the rules' (POST .../quote). *found false when
 * there is no shipment. */
typedef struct {
    const char *carrier, *carrier_id, *service, *package;
    int64_t cost_minor;
    const char *actor;
} quote_override_t;
db_status_t shipments_override(const emitter_t *em, const char *order_id,
                               const quote_override_t *choice, bool *found);

/* The label job's results. */
db_status_t shipments_labelled(shipping_app_t *app, const emitter_t *em, const char *order_id,
                               const carrier_label_t *label, bool found_not_bought);
/* No label: label_failed, or cancelled when its order was cancelled meanwhile. */
db_status_t shipments_label_failed(const emitter_t *em, const char *order_id, const char *code,
                                   const char *message);
/* A label not bought because the order was cancelled first. */
db_status_t shipments_cancel_unlabelled(const emitter_t *em, const char *order_id);
/* The void job's result: approved, or refused (too late). */
db_status_t shipments_voided(const emitter_t *em, const char *order_id, bool approved,
                             const char *message);

/* Tracking news (webhook, poll, the courier's report). */
typedef struct {
    const char *tracking_number; /* or NULL with order_id (the courier's parcels) */
    const char *order_id;
    const char *event_id;
    const char *code; /* UN AC IT DE EX AT NY SP */
    const char *description;
    int64_t at_ms;
    const char *source; /* webhook, poll, courier */
} track_news_t;
typedef enum {
    TRACK_APPLIED,
    TRACK_REPEATED, /* the event id was seen before */
    TRACK_STALE,    /* out of order or no news: kept, not applied */
    TRACK_UNKNOWN,  /* no parcel with that tracking number */
} track_outcome_t;
db_status_t shipments_track(shipping_app_t *app, const emitter_t *em, const track_news_t *news,
                            track_outcome_t *outcome);

/* Back at the warehouse (a person's report): shipment.returned. *found
 * false when there is no parcel out. */
db_status_t shipments_returned(const emitter_t *em, const char *order_id, const char *reason,
                               bool *found);

/* A city courier collected cash on delivery: kept in the history and told
 * as a status change ("cash_collected"). *found false when the order has
 * no courier parcel out. */
db_status_t shipments_cash_collected(const emitter_t *em, const char *order_id,
                                     int64_t amount_minor, bool *found);

/* A self-pickup order handed to its customer at the store's counter by
 * the warehouse (F22; the counter's counterpart of a city courier's
 * report, F29). Only a self_pickup parcel the warehouse has assembled
 * (ready for pickup: warehouse_status assembled, nothing sent) is handed
 * over, and told in order: the cash taken when amount_minor > 0
 * (shipment.status_changed cash_collected, which the payment service
 * records once), shipment.status_changed DE and shipment.delivered (the
 * order: assembled -> delivered). No shipment.handed_over: no carrier took
 * it, and the customer is not told it is on its way. A refusal changes
 * nothing; state_out gets the parcel's method (COUNTER_NOT_SELF_PICKUP)
 * or state (COUNTER_NOT_READY). */
typedef enum {
    COUNTER_OK = 0,
    COUNTER_NOT_FOUND,       /* no parcel for that order */
    COUNTER_NOT_SELF_PICKUP, /* a carrier's or a courier's parcel */
    COUNTER_NOT_READY,       /* not assembled yet, cancelled, or already handed over */
} counter_outcome_t;
db_status_t shipments_counter_handover(const emitter_t *em, const char *order_id,
                                       int64_t amount_minor, const char *note,
                                       counter_outcome_t *outcome, char *state_out,
                                       size_t state_size);

/* A returned parcel added to a batch ships again: a new round. */
db_status_t shipments_reship(const emitter_t *em, const char *order_id);

/* The parcel left its batch (removed, or the batch closed without it)
 * waiting for a label nobody buys: its own label job again. */
db_status_t shipments_unbatched(db_t *db, const char *order_id);

/* The dedup key of a batch's job (one per batch): "shipping_batch:<number>". */
void shipments_batch_key(const char *number, char *out, size_t size);

/* The carrier's batch webhook: the job of the processing batch made under
 * carrier_batch_id looks at the carrier now, or right after its running
 * attempt (jobs_run_now: the wake is not lost while the job polls);
 * *woken when there was such a job. */
db_status_t shipments_batch_wake(db_t *db, const char *carrier_batch_id, bool *woken);

#endif
