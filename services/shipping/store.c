/*
 * store.c — every SQL statement of the shipping service (store.h).
 */
#include "services/shipping/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/dbjson.h"
#include "common/strbuf.h"

/* The shipment s is in no batch that will buy its label (open or processing). */
#define BATCH_IDLE                                                                                 \
    "(s.batch_number IS NULL OR NOT EXISTS (SELECT 1 FROM batches b "                              \
    "  WHERE b.number = s.batch_number AND b.status IN ('open', 'processing')))"
#define SHIPMENT_JSON "SELECT row_to_json(s) FROM shipments s "
/* A parcel as the documents print it (an open json_build_object). */
#define PARCEL_DOCUMENT                                                                            \
    "json_build_object('order_id', s.order_id, 'order_number', s.order_number, 'round', "          \
    "  s.round, 'method', s.method, 'address', s.address, 'matched_address', "                     \
    "  s.matched_address, 'recipient', s.recipient, 'weight_g', s.weight_g, 'carrier', "           \
    "  s.carrier, 'service', s.service, 'package', s.package, 'tracking_number', "                 \
    "  s.tracking_number, 'batch_number', s.batch_number, 'state', s.state"

static const struct {
    const char *name, *sql;
} statements[] = {
    {"ship_lock", SHIPMENT_JSON "WHERE order_id = $1::uuid FOR UPDATE"},
    {"ship_by_tracking", SHIPMENT_JSON "WHERE tracking_number = $1 FOR UPDATE"},
    {"ship_reserved",
     "INSERT INTO shipments (order_id, order_version, order_number, method, region, address, "
     "                       recipient, weight_g, quote_state, lines) "
     "VALUES ($1::uuid, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8, $9, "
     "        coalesce($10::jsonb, '[]')) "
     "ON CONFLICT (order_id) DO UPDATE SET order_version = EXCLUDED.order_version, "
     "  order_number = EXCLUDED.order_number, method = EXCLUDED.method, "
     "  region = EXCLUDED.region, address = EXCLUDED.address, recipient = EXCLUDED.recipient, "
     "  lines = EXCLUDED.lines, "
     "  weight_g = EXCLUDED.weight_g, quote_state = EXCLUDED.quote_state, "
     "  address_verdict = 'unknown', matched_address = NULL, updated_at = now() "
     "WHERE shipments.order_version < EXCLUDED.order_version AND shipments.state = 'new'"},
    {"ship_quote",
     "UPDATE shipments SET quote_state = $2, address_verdict = $3, "
     "  matched_address = coalesce($4::jsonb, matched_address), carrier = $5, "
     "  carrier_id = nullif($6, ''), service = $7, package = $8, carrier_cost_minor = $9, "
     "  days_min = $10, days_max = $11, quote_error = $12, updated_at = now() "
     "WHERE order_id = $1::uuid"},
    {"ship_warehouse",
     "UPDATE shipments SET warehouse_status = $2, updated_at = now() WHERE order_id = $1::uuid"},
    {"ship_state",
     "UPDATE shipments SET state = $2, label_error = coalesce($3, label_error), "
     "  warehouse_status = CASE WHEN $2 IN ('cancelled', 'delivered', 'returned') THEN NULL "
     "                     ELSE warehouse_status END, updated_at = now() "
     "WHERE order_id = $1::uuid"},
    {"ship_to_label",
     "UPDATE shipments SET state = 'to_label', weight_g = CASE WHEN $2 > 0 THEN $2 ELSE "
     "weight_g END, external_ref = order_id::text || ':' || round, label_error = NULL, "
     "label_buyer = NULL, "
     "warehouse_status = 'assembled', updated_at = now() WHERE order_id = $1::uuid"},
    {"ship_carrier_id", "UPDATE shipments SET carrier_shipment_id = $2, updated_at = now() "
                        "WHERE order_id = $1::uuid"},
    {"ship_label",
     "UPDATE shipments SET state = 'labelled', label_id = $2, tracking_number = $3, "
     "  label_url = $4, label_cost_minor = $5, label_error = NULL, updated_at = now() "
     "WHERE order_id = $1::uuid"},
    {"ship_cancel_requested", "UPDATE shipments SET cancel_requested = true, updated_at = now() "
                              "WHERE order_id = $1::uuid"},
    {"ship_tracking",
     "UPDATE shipments SET tracking_status = $2, tracking_rank = $3, state = $4, "
     "  handed_over_at = CASE WHEN $4 = 'handed_over' THEN coalesce(handed_over_at, now()) "
     "                   ELSE handed_over_at END, "
     "  delivered_at = CASE WHEN $4 = 'delivered' THEN now() ELSE delivered_at END, "
     "  warehouse_status = CASE WHEN $4 = 'handed_over' THEN 'handed_to_carrier' "
     "                     WHEN $4 IN ('delivered', 'returned', 'cancelled') THEN NULL "
     "                     ELSE warehouse_status END, updated_at = now() "
     "WHERE order_id = $1::uuid"},
    {"ship_new_round",
     "UPDATE shipments SET round = round + 1, state = 'new', cancel_requested = false, "
     "  external_ref = NULL, carrier_shipment_id = NULL, label_id = NULL, "
     "  tracking_number = NULL, label_url = NULL, label_cost_minor = NULL, label_error = NULL, "
     "  tracking_status = 'NY', tracking_rank = 0, handed_over_at = NULL, delivered_at = NULL, "
     "  batch_number = NULL, label_buyer = NULL, warehouse_status = 'prepare_for_delivery', "
     "  updated_at = now() WHERE order_id = $1::uuid"},
    {"ship_label_claim",
     "UPDATE shipments s SET label_buyer = $2, updated_at = now() "
     "WHERE order_id = $1::uuid AND state = 'to_label' AND (label_buyer = $2 OR "
     "  ($3 AND label_buyer IS NULL AND ($2 <> 'job' OR " BATCH_IDLE ")))"},
    {"ship_label_unclaimed",
     "SELECT round FROM shipments s WHERE order_id = $1::uuid AND state = 'to_label' "
     "  AND label_buyer IS NULL AND " BATCH_IDLE},
    {"ship_log", "INSERT INTO shipment_log (order_id, round, kind, detail) "
                 "VALUES ($1::uuid, $2, $3, coalesce($4::jsonb, '{}'))"},
    {"ship_event",
     "INSERT INTO tracking_events (event_id, tracking_number, status_code, description, "
     "  occurred_at, source, applied) VALUES ($1, $2, $3, $4, "
     "  CASE WHEN $5::bigint > 0 THEN to_timestamp($5::bigint / 1000.0) END, $6, $7) "
     "ON CONFLICT DO NOTHING"}, /* the event id, or the scan (parcel, status, moment) */
    {"ship_rules",
     "SELECT priority, method, region, min_weight_g, coalesce(max_weight_g, -1), carrier, "
     "  coalesce(carrier_id, ''), service, package, coalesce(fixed_cost_minor, -1), days_min, "
     "  days_max FROM weight_rules ORDER BY priority, id"},
    {"ship_json",
     "SELECT json_build_object('order_id', s.order_id, 'order_number', s.order_number, "
     "  'round', s.round, 'method', s.method, 'address', s.address, "
     "  'matched_address', s.matched_address, 'weight_g', s.weight_g, "
     "  'quote', json_build_object('state', s.quote_state, 'address_verdict', "
     "    s.address_verdict, 'carrier', s.carrier, 'service', s.service, 'package', s.package, "
     "    'carrier_cost_minor', s.carrier_cost_minor, 'days_min', s.days_min, 'days_max', "
     "    s.days_max, 'error', s.quote_error), "
     "  'state', s.state, 'warehouse_status', s.warehouse_status, "
     "  'carrier_shipment_id', s.carrier_shipment_id, 'label_id', s.label_id, "
     "  'tracking_number', s.tracking_number, 'label_url', s.label_url, "
     "  'label_cost_minor', s.label_cost_minor, 'label_error', s.label_error, "
     "  'tracking_status', s.tracking_status, 'batch_number', s.batch_number, "
     "  'history', coalesce((SELECT json_agg(json_build_object('round', l.round, 'kind', "
     "    l.kind, 'detail', l.detail, 'at', l.at) ORDER BY l.id) FROM shipment_log l "
     "    WHERE l.order_id = s.order_id), '[]'::json)) "
     "FROM shipments s WHERE s.order_id = $1::uuid"},
    {"ship_warehouse_json",
     "SELECT json_build_object('order_id', order_id, 'order_number', order_number, 'method', "
     "  method, 'warehouse_status', warehouse_status, 'carrier', carrier, 'service', service, "
     "  'package', package, 'weight_g', weight_g, 'tracking_number', tracking_number, "
     "  'batch_number', batch_number) FROM shipments "
     "WHERE warehouse_status IS NOT NULL AND ($1::text IS NULL OR method = $1) "
     "ORDER BY order_number"},
    {"batch_create",
     "WITH day AS (SELECT (now() AT TIME ZONE $1)::date AS d), "
     "next AS (SELECT d, coalesce((SELECT max(seq) FROM batches WHERE store_date = d), 0) + 1 "
     "  AS seq FROM day) "
     "INSERT INTO batches (number, store_date, seq, created_by) "
     "SELECT to_char(d, 'YYYYMMDD') || lpad(seq::text, 3, '0'), d, seq, $2 FROM next "
     "RETURNING number"},
    {"batch_lock", "SELECT status FROM batches WHERE number = $1 FOR UPDATE"},
    {"batch_add_check",
     "SELECT (SELECT count(*) FROM shipments WHERE order_id = $2::uuid), "
     "  (SELECT count(*) FROM batch_shipments bs JOIN batches b ON b.number = bs.batch_number "
     "   JOIN shipments s ON s.order_id = bs.order_id AND s.round = bs.round "
     "   WHERE bs.order_id = $2::uuid AND b.number <> $1 AND b.status <> 'closed')"},
    {"batch_add", "WITH added AS (INSERT INTO batch_shipments (batch_number, order_id, round) "
                  "  SELECT $1, order_id, round FROM shipments WHERE order_id = $2::uuid "
                  "  ON CONFLICT (batch_number, order_id) DO NOTHING RETURNING order_id) "
                  "UPDATE shipments SET batch_number = $1, updated_at = now() "
                  "WHERE order_id = $2::uuid"},
    {"batch_remove",
     "WITH gone AS (DELETE FROM batch_shipments WHERE batch_number = $1 AND order_id = $2::uuid "
     "  RETURNING order_id) "
     "UPDATE shipments SET batch_number = NULL, updated_at = now() "
     "WHERE order_id IN (SELECT order_id FROM gone) AND batch_number = $1"},
    {"batch_carrier_get", "SELECT coalesce(carrier_batch_id, '') FROM batches WHERE number = $1"},
    {"batch_carrier_set", "UPDATE batches SET carrier_batch_id = $2 WHERE number = $1"},
    /* the carrier's batch webhook names its id: our processing batch */
    {"batch_by_carrier",
     "SELECT number FROM batches WHERE carrier_batch_id = $1 AND status = 'processing'"},
    {"batch_status", "UPDATE batches SET status = $2, manifest_id = coalesce($3, manifest_id), "
                     "  manifest_url = coalesce($4, manifest_url) WHERE number = $1"},
    {"batch_members",
     "SELECT coalesce(json_agg(json_build_object('order_id', s.order_id, 'state', s.state, "
     "  'label_id', s.label_id, 'round', bs.round, 'label_buyer', s.label_buyer, "
     "  'cancel_requested', s.cancel_requested) "
     "  ORDER BY bs.added_at), '[]'::json) "
     "FROM batch_shipments bs JOIN shipments s ON s.order_id = bs.order_id "
     "WHERE bs.batch_number = $1"},
    {"batch_json",
     "SELECT json_build_object('number', b.number, 'status', b.status, 'manifest_id', "
     "  b.manifest_id, 'manifest_url', b.manifest_url, 'created_at', b.created_at, "
     "  'shipments', coalesce((SELECT json_agg(json_build_object('order_id', s.order_id, "
     "    'order_number', s.order_number, 'round', bs.round, 'state', s.state, "
     "    'tracking_number', s.tracking_number) ORDER BY bs.added_at) "
     "    FROM batch_shipments bs JOIN shipments s ON s.order_id = bs.order_id "
     "    WHERE bs.batch_number = b.number), '[]'::json)) "
     "FROM batches b WHERE b.number = $1"},
    {"parcel_document", "SELECT " PARCEL_DOCUMENT ", 'lines', s.lines) FROM shipments s "
                        "WHERE s.order_id = $1::uuid"},
    {"batch_document",
     "SELECT json_build_object('number', b.number, 'status', b.status, 'created_at', "
     "  to_char(b.created_at AT TIME ZONE $2, 'DD.MM.YYYY HH24:MI'), 'manifest_id', "
     "  b.manifest_id, "
     "  'parcels', coalesce((SELECT json_agg(" PARCEL_DOCUMENT ") ORDER BY bs.added_at) "
     "    FROM batch_shipments bs JOIN shipments s ON s.order_id = bs.order_id "
     "    WHERE bs.batch_number = b.number), '[]'::json)) "
     "FROM batches b WHERE b.number = $1"},
};

int store_setup(db_t *db, void *arg)
{
    (void)arg;
    int rc = 0;
    for (size_t i = 0; i < sizeof statements / sizeof statements[0]; i++)
        rc |= db_prepare(db, statements[i].name, statements[i].sql);
    return rc ? -1 : 0;
}

/* --- the shipment row ------------------------------------------------------------ */

void shipment_row_release(shipment_row_t *row)
{
    json_decref(row->address);
    json_decref(row->matched);
    json_decref(row->recipient);
    row->address = row->matched = row->recipient = NULL;
}

static void text_of(char *out, size_t size, const json_t *row, const char *name)
{
    str_copy_to(out, size, json_string_value(json_object_get(row, name)));
}

static int64_t int_of(const json_t *row, const char *name, int64_t fallback)
{
    const json_t *value = json_object_get(row, name);
    return json_is_integer(value) ? (int64_t)json_integer_value(value) : fallback;
}

static void row_of(const json_t *row, shipment_row_t *out)
{
    memset(out, 0, sizeof *out);
    text_of(out->order_id, sizeof out->order_id, row, "order_id");
    out->order_version = (uint64_t)int_of(row, "order_version", 0);
    out->order_number = (uint64_t)int_of(row, "order_number", 0);
    out->round = (int)int_of(row, "round", 1);
    text_of(out->method, sizeof out->method, row, "method");
    text_of(out->region, sizeof out->region, row, "region");
    json_t *address = json_object_get(row, "address");
    json_t *matched = json_object_get(row, "matched_address");
    json_t *recipient = json_object_get(row, "recipient");
    out->address = json_is_object(address) ? json_incref(address) : json_object();
    out->matched = json_is_object(matched) ? json_incref(matched) : NULL;
    out->recipient = json_is_object(recipient) ? json_incref(recipient) : json_object();
    out->weight_g = int_of(row, "weight_g", 0);
    text_of(out->quote_state, sizeof out->quote_state, row, "quote_state");
    text_of(out->address_verdict, sizeof out->address_verdict, row, "address_verdict");
    text_of(out->carrier, sizeof out->carrier, row, "carrier");
    text_of(out->carrier_id, sizeof out->carrier_id, row, "carrier_id");
    text_of(out->service, sizeof out->service, row, "service");
    text_of(out->package, sizeof out->package, row, "package");
    out->carrier_cost_minor = int_of(row, "carrier_cost_minor", -1);
    out->days_min = (int)int_of(row, "days_min", 0);
    out->days_max = (int)int_of(row, "days_max", 0);
    text_of(out->warehouse_status, sizeof out->warehouse_status, row, "warehouse_status");
    text_of(out->state, sizeof out->state, row, "state");
    out->cancel_requested = json_is_true(json_object_get(row, "cancel_requested"));
    text_of(out->external_ref, sizeof out->external_ref, row, "external_ref");
    text_of(out->carrier_shipment_id, sizeof out->carrier_shipment_id, row, "carrier_shipment_id");
    text_of(out->label_id, sizeof out->label_id, row, "label_id");
    text_of(out->tracking_number, sizeof out->tracking_number, row, "tracking_number");
    text_of(out->label_url, sizeof out->label_url, row, "label_url");
    out->label_cost_minor = int_of(row, "label_cost_minor", -1);
    text_of(out->tracking_status, sizeof out->tracking_status, row, "tracking_status");
    out->tracking_rank = (int)int_of(row, "tracking_rank", 0);
    text_of(out->batch_number, sizeof out->batch_number, row, "batch_number");
}

static db_status_t lock_by(db_t *db, const char *stmt, const char *key, bool *found,
                           shipment_row_t *out)
{
    memset(out, 0, sizeof *out);
    *found = false;
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, key);
    json_t *row = NULL;
    db_status_t status = db_run_json(db, stmt, &params, &row);
    if (status == DB_OK && json_is_object(row)) {
        row_of(row, out);
        *found = true;
    }
    json_decref(row);
    return status;
}

db_status_t store_shipment_lock(db_t *db, const char *order_id, bool *found, shipment_row_t *out)
{
    return lock_by(db, "ship_lock", order_id, found, out);
}

db_status_t store_shipment_by_tracking(db_t *db, const char *tracking_number, bool *found,
                                       shipment_row_t *out)
{
    return lock_by(db, "ship_by_tracking", tracking_number, found, out);
}

db_status_t store_shipment_reserved(db_t *db, const shipment_reserved_t *in, bool *applied)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, in->order_id);
    db_param_u64(&params, in->version);
    db_param_u64(&params, in->number);
    db_param_text(&params, in->method);
    db_param_text(&params, in->region);
    db_param_text(&params, in->address_json);
    db_param_text(&params, in->recipient_json);
    db_param_i64(&params, in->weight_g);
    db_param_text(&params, in->quote_state);
    db_param_text(&params, in->lines_json);
    int64_t rows = 0;
    db_status_t status = db_run_count(db, "ship_reserved", &params, &rows);
    *applied = status == DB_OK && rows == 1;
    return status;
}

db_status_t store_shipment_quote(db_t *db, const char *order_id, const shipment_quote_t *quote)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, order_id);
    db_param_text(&params, quote->quote_state);
    db_param_text(&params, quote->verdict);
    db_param_text(&params, quote->matched_json);
    db_param_text(&params, quote->carrier);
    db_param_text(&params, quote->carrier_id ? quote->carrier_id : "");
    db_param_text(&params, quote->service);
    db_param_text(&params, quote->package);
    if (quote->cost_minor >= 0)
        db_param_i64(&params, quote->cost_minor);
    else
        db_param_null(&params);
    db_param_i64(&params, quote->days_min);
    db_param_i64(&params, quote->days_max);
    db_param_text(&params, quote->error);
    return db_run(db, "ship_quote", &params, NULL);
}

static db_status_t run_two(db_t *db, const char *stmt, const char *a, const char *b)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, a);
    db_param_text(&params, b);
    return db_run(db, stmt, &params, NULL);
}

db_status_t store_shipment_warehouse(db_t *db, const char *order_id, const char *status)
{
    return run_two(db, "ship_warehouse", order_id, status);
}

db_status_t store_shipment_state(db_t *db, const char *order_id, const char *state,
                                 const char *error)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, order_id);
    db_param_text(&params, state);
    db_param_text(&params, error);
    return db_run(db, "ship_state", &params, NULL);
}

db_status_t store_shipment_to_label(db_t *db, const char *order_id, int64_t weight_g)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, order_id);
    db_param_i64(&params, weight_g);
    return db_run(db, "ship_to_label", &params, NULL);
}

db_status_t store_shipment_carrier_id(db_t *db, const char *order_id, const char *shipment_id)
{
    return run_two(db, "ship_carrier_id", order_id, shipment_id);
}

db_status_t store_shipment_label(db_t *db, const char *order_id, const char *label_id,
                                 const char *tracking_number, const char *label_url,
                                 int64_t cost_minor)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, order_id);
    db_param_text(&params, label_id);
    db_param_text(&params, tracking_number);
    db_param_text(&params, label_url);
    db_param_i64(&params, cost_minor);
    return db_run(db, "ship_label", &params, NULL);
}

db_status_t store_shipment_cancel_requested(db_t *db, const char *order_id)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, order_id);
    return db_run(db, "ship_cancel_requested", &params, NULL);
}

db_status_t store_shipment_tracking(db_t *db, const char *order_id, const char *code, int rank,
                                    const char *state)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, order_id);
    db_param_text(&params, code);
    db_param_i64(&params, rank);
    db_param_text(&params, state);
    return db_run(db, "ship_tracking", &params, NULL);
}

db_status_t store_shipment_new_round(db_t *db, const char *order_id)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, order_id);
    return db_run(db, "ship_new_round", &params, NULL);
}

db_status_t store_log(db_t *db, const char *order_id, int round, const char *kind,
                      const char *detail_json)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, order_id);
    db_param_i64(&params, round);
    db_param_text(&params, kind);
    db_param_text(&params, detail_json);
    return db_run(db, "ship_log", &params, NULL);
}

db_status_t store_tracking_event(db_t *db, const char *event_id, const char *tracking_number,
                                 const char *code, const char *description, int64_t at_ms,
                                 const char *source, bool applied, bool *fresh)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, event_id);
    db_param_text(&params, tracking_number);
    db_param_text(&params, code);
    db_param_text(&params, description ? description : "");
    db_param_i64(&params, at_ms);
    db_param_text(&params, source);
    db_param_bool(&params, applied);
    int64_t rows = 0;
    db_status_t status = db_run_count(db, "ship_event", &params, &rows);
    *fresh = status == DB_OK && rows == 1;
    return status;
}

db_status_t store_rules_load(db_t *db, weight_rule_t *out, size_t max, size_t *count)
{
    *count = 0;
    PGresult *res = NULL;
    db_status_t status = db_run(db, "ship_rules", NULL, &res);
    if (status != DB_OK)
        return status;
    int rows = PQntuples(res);
    for (int r = 0; r < rows && *count < max; r++) {
        weight_rule_t *rule = &out[(*count)++];
        memset(rule, 0, sizeof *rule);
        rule->priority = (int)db_get_i64_or(res, r, 0, 0);
        db_copy_value(res, r, 1, rule->method, sizeof rule->method);
        db_copy_value(res, r, 2, rule->region, sizeof rule->region);
        rule->min_weight_g = db_get_i64_or(res, r, 3, 0);
        rule->max_weight_g = db_get_i64_or(res, r, 4, -1);
        db_copy_value(res, r, 5, rule->carrier, sizeof rule->carrier);
        db_copy_value(res, r, 6, rule->carrier_id, sizeof rule->carrier_id);
        db_copy_value(res, r, 7, rule->service, sizeof rule->service);
        db_copy_value(res, r, 8, rule->package, sizeof rule->package);
        rule->fixed_cost_minor = db_get_i64_or(res, r, 9, -1);
        rule->days_min = (int)db_get_i64_or(res, r, 10, 0);
        rule->days_max = (int)db_get_i64_or(res, r, 11, 0);
    }
    PQclear(res);
    return DB_OK;
}

static db_status_t json_by(db_t *db, const char *stmt, const char *key, json_t **out)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, key);
    return db_run_json(db, stmt, &params, out);
}

db_status_t store_shipment_json(db_t *db, const char *order_id, json_t **out)
{
    return json_by(db, "ship_json", order_id, out);
}

db_status_t store_warehouse_json(db_t *db, const char *method, json_t **out)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, method);
    return db_run_json_rows(db, "ship_warehouse_json", &params, out);
}

db_status_t store_batch_json(db_t *db, const char *number, json_t **out)
{
    return json_by(db, "batch_json", number, out);
}

db_status_t store_parcel_document_json(db_t *db, const char *order_id, json_t **out)
{
    return json_by(db, "parcel_document", order_id, out);
}

db_status_t store_batch_document_json(db_t *db, const char *number, const char *timezone,
                                      json_t **out)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, number);
    db_param_text(&params, timezone);
    return db_run_json(db, "batch_document", &params, out);
}

db_status_t store_batch_create(db_t *db, const char *timezone, const char *created_by,
                               char number[24])
{
    number[0] = '\0';
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, timezone);
    db_param_text(&params, created_by);
    PGresult *res = NULL;
    db_status_t status = db_run(db, "batch_create", &params, &res);
    if (status != DB_OK)
        return status;
    if (PQntuples(res) == 1)
        db_copy_value(res, 0, 0, number, 24);
    PQclear(res);
    return number[0] ? DB_OK : db_fail(db, DB_STATE_BAD_DATA, "no batch number was made");
}

db_status_t store_batch_lock(db_t *db, const char *number, char status_out[16])
{
    status_out[0] = '\0';
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, number);
    PGresult *res = NULL;
    db_status_t status = db_run(db, "batch_lock", &params, &res);
    if (status != DB_OK)
        return status;
    if (PQntuples(res) == 1)
        db_copy_value(res, 0, 0, status_out, 16);
    PQclear(res);
    return DB_OK;
}

db_status_t store_batch_add(db_t *db, const char *number, const char *order_id, int *outcome)
{
    *outcome = 2;
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, number);
    db_param_text(&params, order_id);
    PGresult *res = NULL;
    db_status_t status = db_run(db, "batch_add_check", &params, &res);
    if (status != DB_OK)
        return status;
    int64_t known = db_get_i64_or(res, 0, 0, 0), elsewhere = db_get_i64_or(res, 0, 1, 0);
    PQclear(res);
    if (!known)
        return DB_OK;
    if (elsewhere) {
        *outcome = 1;
        return DB_OK;
    }
    status = db_run(db, "batch_add", &params, NULL);
    if (status == DB_OK)
        *outcome = 0;
    return status;
}

db_status_t store_batch_remove(db_t *db, const char *number, const char *order_id, bool *removed)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, number);
    db_param_text(&params, order_id);
    int64_t rows = 0;
    db_status_t status = db_run_count(db, "batch_remove", &params, &rows);
    *removed = status == DB_OK && rows == 1;
    return status;
}

db_status_t store_batch_status(db_t *db, const char *number, const char *status,
                               const char *manifest_id, const char *manifest_url)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, number);
    db_param_text(&params, status);
    db_param_text(&params, manifest_id);
    db_param_text(&params, manifest_url);
    return db_run(db, "batch_status", &params, NULL);
}

db_status_t store_batch_members(db_t *db, const char *number, json_t **out)
{
    return json_by(db, "batch_members", number, out);
}

db_status_t store_label_claim(db_t *db, const char *order_id, const char *buyer, bool take_new,
                              bool *claimed)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, order_id);
    db_param_text(&params, buyer);
    db_param_bool(&params, take_new);
    int64_t rows = 0;
    db_status_t status = db_run_count(db, "ship_label_claim", &params, &rows);
    *claimed = status == DB_OK && rows == 1;
    return status;
}

db_status_t store_label_unclaimed(db_t *db, const char *order_id, int *round)
{
    *round = -1;
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, order_id);
    PGresult *res = NULL;
    db_status_t status = db_run(db, "ship_label_unclaimed", &params, &res);
    if (status == DB_OK && PQntuples(res) == 1)
        *round = (int)db_get_i64_or(res, 0, 0, -1);
    PQclear(res);
    return status;
}

db_status_t store_batch_carrier(db_t *db, const char *number, char out[64])
{
    out[0] = '\0';
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, number);
    PGresult *res = NULL;
    db_status_t status = db_run(db, "batch_carrier_get", &params, &res);
    if (status == DB_OK && PQntuples(res) == 1)
        db_copy_value(res, 0, 0, out, 64);
    PQclear(res);
    return status;
}

db_status_t store_batch_set_carrier(db_t *db, const char *number, const char *carrier_batch_id)
{
    return run_two(db, "batch_carrier_set", number, carrier_batch_id);
}

db_status_t store_batch_by_carrier(db_t *db, const char *carrier_batch_id, char number[24])
{
    number[0] = '\0';
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, carrier_batch_id);
    PGresult *res = NULL;
    db_status_t status = db_run(db, "batch_by_carrier", &params, &res);
    if (status == DB_OK && PQntuples(res) == 1)
        db_copy_value(res, 0, 0, number, 24);
    PQclear(res);
    return status;
}
