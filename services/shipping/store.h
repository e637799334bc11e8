/*
 * store.h — every SQL statement of the shipping service (store.c), over
 * plain structs. The tables are in migrations/001_shipping.sql.
 */
#ifndef SHIPPING_STORE_H
#define SHIPPING_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/db.h"
#include "services/shipping/rules.h"

typedef struct {
    char order_id[37];
    uint64_t order_version;
    uint64_t order_number;
    int round;
    char method[16];
    char region[128];
    json_t *address;   /* owned: as the order gave it ({line1, city, postal_code, ...}) */
    json_t *matched;   /* owned: the carrier's correction, or NULL */
    json_t *recipient; /* owned: {name, phone, email} */
    int64_t weight_g;
    char quote_state[16];
    char address_verdict[12];
    char carrier[33];
    char carrier_id[33]; /* "" for a carrier without an API */
    char service[49];
    char package[33];
    int64_t carrier_cost_minor; /* -1 unknown */
    int days_min, days_max;
    char warehouse_status[24];
    char state[16];
    bool cancel_requested;
    char external_ref[64];
    char carrier_shipment_id[64];
    char label_id[64];
    char tracking_number[40];
    char label_url[512];
    int64_t label_cost_minor;
    char tracking_status[4];
    int tracking_rank;
    char batch_number[24];
} shipment_row_t;

void shipment_row_release(shipment_row_t *row);

/* Registers the statements on a session (service_def_t.db_setup). */
int store_setup(db_t *db, void *arg);

/* The shipment of order, locked (FOR UPDATE); *found false when none. */
db_status_t store_shipment_lock(db_t *db, const char *order_id, bool *found, shipment_row_t *out);
/* The same found by its tracking number. */
db_status_t store_shipment_by_tracking(db_t *db, const char *tracking_number, bool *found,
                                       shipment_row_t *out);

typedef struct {
    const char *order_id;
    uint64_t version, number;
    const char *method, *region;
    const char *address_json, *recipient_json;
    const char *lines_json; /* NULL: none ('[]') */
    int64_t weight_g;
    const char *quote_state; /* quoting, not_needed */
} shipment_reserved_t;

/* order.reserved: the shipment made or brought to this version (an older
 * or equal version changes nothing: *applied false). */
db_status_t store_shipment_reserved(db_t *db, const shipment_reserved_t *in, bool *applied);

typedef struct {
    const char *quote_state;  /* quoted, failed, overridden */
    const char *verdict;      /* valid, corrected, wrong, unknown */
    const char *matched_json; /* NULL: keep */
    const char *carrier, *carrier_id, *service, *package;
    int64_t cost_minor; /* -1: NULL */
    int days_min, days_max;
    const char *error;
} shipment_quote_t;
db_status_t store_shipment_quote(db_t *db, const char *order_id, const shipment_quote_t *quote);

db_status_t store_shipment_warehouse(db_t *db, const char *order_id, const char *status);
db_status_t store_shipment_state(db_t *db, const char *order_id, const char *state,
                                 const char *error);
/* order.assembled: to be labelled, with the packed weight (0: keep). */
db_status_t store_shipment_to_label(db_t *db, const char *order_id, int64_t weight_g);
db_status_t store_shipment_carrier_id(db_t *db, const char *order_id, const char *shipment_id);
db_status_t store_shipment_label(db_t *db, const char *order_id, const char *label_id,
                                 const char *tracking_number, const char *label_url,
                                 int64_t cost_minor);
db_status_t store_shipment_cancel_requested(db_t *db, const char *order_id);
/* A tracking status applied: its rank, and the moments it marks. */
db_status_t store_shipment_tracking(db_t *db, const char *order_id, const char *code, int rank,
                                    const char *state);
/* A returned parcel shipped again: round + 1, carrier fields cleared. */
db_status_t store_shipment_new_round(db_t *db, const char *order_id);

/* One line of the parcel's history (detail: a JSON object, NULL "{}"). */
db_status_t store_log(db_t *db, const char *order_id, int round, const char *kind,
                      const char *detail_json);

/* Keeps a tracking event by its id: *fresh false when it was kept before. */
db_status_t store_tracking_event(db_t *db, const char *event_id, const char *tracking_number,
                                 const char *code, const char *description, int64_t at_ms,
                                 const char *source, bool applied, bool *fresh);

/* The weight rules, by priority. */
db_status_t store_rules_load(db_t *db, weight_rule_t *out, size_t max, size_t *count);

/* Reads for the API (JSON built by the query). */
db_status_t store_shipment_json(db_t *db, const char *order_id, json_t **out);
db_status_t store_warehouse_json(db_t *db, const char *method, json_t **out);
db_status_t store_batch_json(db_t *db, const char *number, json_t **out);
/* What the documents print (documents.h), NULL *out when there is none:
 * a parcel {order_id, order_number, round, method, address,
 * matched_address, recipient, lines, weight_g, carrier, service, package,
 * tracking_number, batch_number}; a batch {number, status, created_at, manifest_id,
 * parcels: [the same without lines, by the order they were added]}; its
 * created_at as the store (timezone) reads it. */
db_status_t store_parcel_document_json(db_t *db, const char *order_id, json_t **out);
db_status_t store_batch_document_json(db_t *db, const char *number, const char *timezone,
                                      json_t **out);

/* Batches: a new one numbered by the store's date (timezone) and the
 * next sequence of that date. */
db_status_t store_batch_create(db_t *db, const char *timezone, const char *created_by,
                               char number[24]);
/* "open", "processing", "closed"; "" when there is no such batch (locked). */
db_status_t store_batch_lock(db_t *db, const char *number, char status[16]);
/* Adds: *outcome 0 added, 1 already in another open batch, 2 no such shipment. */
db_status_t store_batch_add(db_t *db, const char *number, const char *order_id, int *outcome);
db_status_t store_batch_remove(db_t *db, const char *number, const char *order_id, bool *removed);
db_status_t store_batch_status(db_t *db, const char *number, const char *status,
                               const char *manifest_id, const char *manifest_url);
/* The order ids of a batch's shipments, as a new JSON array of
 * {order_id, state, label_id, round, label_buyer}. */
db_status_t store_batch_members(db_t *db, const char *number, json_t **out);

/* Takes the buying of the parcel's label for buyer ("job", "batch:<number>")
 * when nobody has it (take_new) or buyer has it already: *claimed. The
 * label job never takes a parcel that is in an open or processing batch. */
db_status_t store_label_claim(db_t *db, const char *order_id, const char *buyer, bool take_new,
                              bool *claimed);
/* The round of a parcel that waits for a label nobody buys (in no open or
 * processing batch, nobody took it); -1 when it does not. */
db_status_t store_label_unclaimed(db_t *db, const char *order_id, int *round);
/* The carrier's id of the batch ("" none yet), and setting it. */
db_status_t store_batch_carrier(db_t *db, const char *number, char out[64]);
db_status_t store_batch_set_carrier(db_t *db, const char *number, const char *carrier_batch_id);
/* The number of the processing batch made at the carrier under
 * carrier_batch_id; "" when there is none. */
db_status_t store_batch_by_carrier(db_t *db, const char *carrier_batch_id, char number[24]);

#endif
