/*
 * store.c — every SQL statement of the notification service (store.h).
 */
#include "services/notification/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/dbjson.h"
#include "common/pgarray.h"

#define DELIVERY_JSON                                                                              \
    "json_build_object('delivery_id', d.delivery_id, 'event_id', d.event_id, 'event_type', "       \
    "d.event_type, 'trigger_id', d.trigger_id, 'template', d.template, 'language', d.language, "   \
    "'channel', d.channel, 'recipient_kind', d.recipient_kind, 'recipient', d.recipient, "         \
    "'recipient_name', d.recipient_name, 'order_id', d.order_id, 'customer_id', d.customer_id, "   \
    "'subject', d.subject, 'body', d.body, 'html', d.html, 'status', d.status, 'provider_id', "    \
    "d.provider_id, 'error_code', d.error_code, 'error_message', d.error_message, 'attempts', "    \
    "d.attempts, 'not_before', d.not_before, 'event_at_ms', "                                      \
    "(extract(epoch from d.event_at) * 1000)::bigint, 'created_at', d.created_at, "                \
    "'finished_at', d.finished_at, 'attachments', d.attachments, 'invoice_id', d.invoice_id, "     \
    "'handed', d.handed)"

#define TRIGGER_JSON                                                                               \
    "json_build_object('trigger_id', t.trigger_id, 'event_type', t.event_type, 'condition', "      \
    "t.condition, 'template', t.template, 'channel', t.channel, 'recipient', t.recipient, "        \
    "'enabled', t.enabled, 'description', t.description, 'attachments', t.attachments, "           \
    "'updated_at', t.updated_at)"

#define TEMPLATE_JSON                                                                              \
    "json_build_object('template', m.template, 'channel', m.channel, 'language', m.language, "     \
    "'subject', m.subject, 'body', m.body, 'html', m.html, 'updated_at', m.updated_at)"

static const struct {
    const char *name, *sql;
} statements[] = {
    {"nt_order_placed",
     "INSERT INTO orders AS o (order_id, version, number, title, customer_id, customer_name, "
     "  customer_email, customer_phone, channel, region, delivery_method, pickup_address, lines) "
     "SELECT $1::uuid, $2, coalesce((f->>'number')::bigint, 0), coalesce(f->>'title', ''), "
     "  coalesce(f->>'customer_id', ''), coalesce(f->>'customer_name', ''), "
     "  coalesce(f->>'customer_email', ''), coalesce(f->>'customer_phone', ''), "
     "  coalesce(f->>'channel', ''), coalesce(f->>'region', ''), "
     "  coalesce(f->>'delivery_method', ''), coalesce(f->>'pickup_address', ''), "
     "  coalesce(f->'lines', '[]') FROM (SELECT $3::jsonb AS f) x "
     "ON CONFLICT (order_id) DO UPDATE SET version = greatest(o.version, EXCLUDED.version), "
     "  number = EXCLUDED.number, title = EXCLUDED.title, customer_id = EXCLUDED.customer_id, "
     "  customer_name = EXCLUDED.customer_name, customer_email = EXCLUDED.customer_email, "
     "  customer_phone = EXCLUDED.customer_phone, channel = EXCLUDED.channel, "
     "  region = EXCLUDED.region, delivery_method = EXCLUDED.delivery_method, "
     "  pickup_address = EXCLUDED.pickup_address, "
     "  lines = CASE WHEN o.lines = '[]' THEN EXCLUDED.lines ELSE o.lines END, "
     "  updated_at = now() WHERE o.version <= EXCLUDED.version"},
    {"nt_order_priced",
     "INSERT INTO orders AS o (order_id, version, lines, totals, payment_terms) "
     "VALUES ($1::uuid, $2, $3::jsonb, $4::jsonb, $5) "
     "ON CONFLICT (order_id) DO UPDATE SET version = greatest(o.version, EXCLUDED.version), "
     "  lines = EXCLUDED.lines, totals = EXCLUDED.totals, "
     "  payment_terms = CASE WHEN EXCLUDED.payment_terms = '' THEN o.payment_terms "
     "                  ELSE EXCLUDED.payment_terms END, updated_at = now() "
     "WHERE o.version <= EXCLUDED.version"},
    {"nt_order_status",
     "INSERT INTO orders AS o (order_id, version, number, status, channel, delivery_method) "
     "VALUES ($1::uuid, $2, $3, $4, $5, $6) "
     "ON CONFLICT (order_id) DO UPDATE SET version = greatest(o.version, EXCLUDED.version), "
     "  number = CASE WHEN EXCLUDED.number > 0 THEN EXCLUDED.number ELSE o.number END, "
     "  status = EXCLUDED.status, "
     "  channel = CASE WHEN EXCLUDED.channel = '' THEN o.channel ELSE EXCLUDED.channel END, "
     "  delivery_method = CASE WHEN EXCLUDED.delivery_method = '' THEN o.delivery_method "
     "                    ELSE EXCLUDED.delivery_method END, updated_at = now() "
     "WHERE o.version <= EXCLUDED.version"},
    {"nt_order_manager",
     "INSERT INTO orders AS o (order_id, manager_id) VALUES ($1::uuid, $2) "
     "ON CONFLICT (order_id) DO UPDATE SET manager_id = EXCLUDED.manager_id, updated_at = now()"},
    {"nt_staff_put",
     "INSERT INTO staff AS s (staff_id, name, email, phone) VALUES ($1, $2, $3, $4) "
     "ON CONFLICT (staff_id) DO UPDATE SET name = EXCLUDED.name, email = EXCLUDED.email, "
     "  phone = EXCLUDED.phone, updated_at = now()"},
    {"nt_order_extra",
     "INSERT INTO orders AS o (order_id, extra) VALUES ($1::uuid, $2::jsonb) "
     "ON CONFLICT (order_id) DO UPDATE SET extra = o.extra || EXCLUDED.extra, updated_at = now()"},
    {"nt_order_json", "SELECT row_to_json(o) FROM orders o WHERE order_id = $1::uuid"},
    {"nt_order_changed",
     "UPDATE orders o SET version = $2, "
     "  delivery_method = CASE WHEN coalesce(f->>'delivery_method', '') = '' THEN "
     "o.delivery_method "
     "                    ELSE f->>'delivery_method' END, "
     "  pickup_address = CASE WHEN f ? 'pickup_address' THEN f->>'pickup_address' "
     "                   ELSE o.pickup_address END, "
     "  region = CASE WHEN coalesce(f->>'region', '') = '' THEN o.region ELSE f->>'region' END, "
     "  totals = coalesce($4::jsonb, o.totals), pending_change = $5::jsonb, updated_at = now() "
     "FROM (SELECT $3::jsonb AS f) x WHERE o.order_id = $1::uuid AND o.version < $2 RETURNING 1"},
    {"nt_order_change_take",
     "WITH old AS (SELECT pending_change AS c FROM orders WHERE order_id = $1::uuid "
     "  AND pending_change IS NOT NULL AND (pending_change->>'version')::bigint <= $2 FOR UPDATE) "
     "UPDATE orders o SET pending_change = NULL FROM old WHERE o.order_id = $1::uuid "
     "RETURNING old.c"},
    {"nt_staff_json", "SELECT row_to_json(s) FROM staff s WHERE staff_id = $1"},

    {"nt_triggers_for",
     "SELECT " TRIGGER_JSON " FROM triggers t "
     "WHERE t.event_type = $1 AND t.enabled ORDER BY t.created_at, t.trigger_id"},
    {"nt_template_pick",
     "SELECT " TEMPLATE_JSON " FROM templates m WHERE m.template = $1 AND m.channel = $2 "
     "ORDER BY m.language = $3 DESC, m.language = $4 DESC, m.language LIMIT 1"},
    {"nt_status_label",
     "SELECT label FROM status_labels WHERE status = $1 AND from_status IN ('', $3) "
     "ORDER BY language = $2 DESC, from_status = $3 DESC, language = 'en' DESC LIMIT 1"},
    {"nt_labels",
     "SELECT coalesce(json_object_agg(e.key, coalesce((SELECT l.label FROM labels l "
     "  WHERE l.kind = e.key AND l.code = e.value "
     "  ORDER BY l.language = $2 DESC, l.language = 'en' DESC LIMIT 1), e.value)), '{}') "
     "FROM jsonb_each_text($1::jsonb) e"},
    {"nt_triggers_json",
     "SELECT coalesce(json_agg(" TRIGGER_JSON " ORDER BY t.event_type, t.trigger_id), '[]') "
     "FROM triggers t"},
    {"nt_trigger_json", "SELECT " TRIGGER_JSON " FROM triggers t WHERE t.trigger_id = $1"},
    {"nt_trigger_put",
     "INSERT INTO triggers AS t (trigger_id, event_type, condition, template, channel, recipient, "
     "  enabled, description, attachments) "
     "SELECT $1, f->>'event_type', coalesce(f->'condition', '{}'), f->>'template', "
     "  f->>'channel', f->>'recipient', coalesce((f->>'enabled')::boolean, true), "
     "  coalesce(f->>'description', ''), "
     "  ARRAY(SELECT jsonb_array_elements_text(coalesce(f->'attachments', '[]'))) "
     "FROM (SELECT $2::jsonb AS f) x "
     "ON CONFLICT (trigger_id) DO UPDATE SET event_type = EXCLUDED.event_type, "
     "  condition = EXCLUDED.condition, template = EXCLUDED.template, "
     "  channel = EXCLUDED.channel, recipient = EXCLUDED.recipient, "
     "  enabled = EXCLUDED.enabled, description = EXCLUDED.description, "
     "  attachments = EXCLUDED.attachments, updated_at = now()"},
    {"nt_trigger_delete", "DELETE FROM triggers WHERE trigger_id = $1"},
    {"nt_templates_json", "SELECT coalesce(json_agg(" TEMPLATE_JSON
                          " ORDER BY m.template, m.channel, m.language), '[]') FROM templates m"},
    {"nt_template_json", "SELECT " TEMPLATE_JSON " FROM templates m "
                         "WHERE m.template = $1 AND m.channel = $2 AND m.language = $3"},
    {"nt_template_put",
     "INSERT INTO templates AS m (template, channel, language, subject, body, html) "
     "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (template, channel, language) DO UPDATE "
     "SET subject = EXCLUDED.subject, body = EXCLUDED.body, html = EXCLUDED.html, "
     "  updated_at = now()"},
    {"nt_template_delete",
     "DELETE FROM templates WHERE template = $1 AND channel = $2 AND language = $3"},

    {"nt_waiting_add",
     "INSERT INTO waiting (event_id, trigger_id, event_type, order_id, facts, occurred_at_ms) "
     "VALUES ($1, $2, $3, $4::uuid, $5::jsonb, $6) ON CONFLICT DO NOTHING"},
    {"nt_waiting_take",
     "WITH gone AS (DELETE FROM waiting WHERE order_id = $1::uuid RETURNING *) "
     "SELECT json_build_object('event_id', event_id, 'trigger_id', trigger_id, 'event_type', "
     "  event_type, 'facts', facts, 'occurred_at_ms', occurred_at_ms) "
     "FROM gone ORDER BY created_at, occurred_at_ms, event_id, trigger_id"},

    {"nt_waiting_drop",
     "DELETE FROM waiting WHERE event_id = $1 AND trigger_id = $2 RETURNING event_type"},
    {"nt_order_known", "SELECT 1 FROM orders WHERE order_id = $1::uuid AND version > 0"},

    {"nt_optout_has", "SELECT 1 FROM optouts WHERE customer_id = $1 AND channel = $2"},
    {"nt_optout_add",
     "INSERT INTO optouts (customer_id, channel) VALUES ($1, $2) ON CONFLICT DO NOTHING"},

    {"nt_delivery_insert",
     "INSERT INTO deliveries (delivery_id, dedup_key, event_id, event_type, trigger_id, template, "
     "  language, channel, recipient_kind, recipient, recipient_name, order_id, customer_id, "
     "  subject, body, html, status, error_code, error_message, not_before, event_at, "
     "  finished_at, attachments, invoice_id) "
     "VALUES ($1::uuid, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::uuid, $13, $14, $15, $16, "
     "  $17, $18, $19, CASE WHEN $20::bigint > 0 THEN to_timestamp($20 / 1000.0) END, "
     "  to_timestamp($21 / 1000.0), CASE WHEN $17 <> 'pending' THEN now() END, "
     "  coalesce((SELECT t.attachments FROM triggers t WHERE t.trigger_id = $5), '{}'), "
     "  coalesce((SELECT o.extra->>'invoice_id' FROM orders o WHERE o.order_id = $12::uuid), "
     "    '')) "
     "ON CONFLICT (dedup_key) DO NOTHING RETURNING 1"},
    {"nt_order_lock",
     "SELECT pg_advisory_xact_lock(hashtextextended('notification.order:' || $1, 0))"},
    {"nt_orders_lock",
     "SELECT count(pg_advisory_xact_lock(hashtextextended('notification.order:' || o, 0))) "
     "FROM (SELECT DISTINCT d.order_id::text AS o FROM deliveries d "
     "  WHERE d.delivery_id = ANY($1::uuid[]) AND d.order_id IS NOT NULL ORDER BY 1) x"},
    {"nt_delivery_ahead",
     "SELECT 1 FROM deliveries WHERE order_id = $1::uuid AND channel = $2 AND recipient = $3 "
     "  AND status = 'pending' LIMIT 1"},
    {"nt_deliveries_next",
     "SELECT json_build_object('delivery_id', n.delivery_id, 'dedup_key', n.dedup_key, "
     "  'not_before_ms', coalesce((extract(epoch from n.not_before) * 1000)::bigint, 0)) "
     "FROM (SELECT DISTINCT d.order_id, d.channel, d.recipient FROM deliveries d "
     "  WHERE d.delivery_id = ANY($1::uuid[]) AND d.order_id IS NOT NULL) k "
     "CROSS JOIN LATERAL (SELECT p.delivery_id, p.dedup_key, p.not_before FROM deliveries p "
     "  WHERE p.order_id = k.order_id AND p.channel = k.channel AND p.recipient = k.recipient "
     "    AND p.status = 'pending' ORDER BY p.seq LIMIT 1) n"},
    {"nt_delivery_json",
     "SELECT " DELIVERY_JSON " FROM deliveries d WHERE d.delivery_id = $1::uuid"},
    {"nt_deliveries_json",
     "SELECT " DELIVERY_JSON " FROM deliveries d WHERE d.delivery_id = ANY($1::uuid[])"},
    {"nt_deliveries_finish",
     "UPDATE deliveries d SET status = u.status, provider_id = u.provider_id, "
     "  error_code = u.code, error_message = u.message, attempts = u.attempts, "
     "  finished_at = now() "
     "FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int4[]) "
     "  AS u(id, status, provider_id, code, message, attempts) "
     "WHERE d.delivery_id = u.id AND d.status = 'pending' RETURNING " DELIVERY_JSON},
    {"nt_delivery_given_up",
     "UPDATE deliveries d SET status = CASE WHEN d.handed THEN 'outcome_unknown' ELSE 'failed' "
     "  END, error_code = $2, error_message = $3, attempts = greatest(d.attempts, $4), "
     "  finished_at = now() "
     "WHERE d.delivery_id = $1::uuid AND d.status = 'pending' RETURNING " DELIVERY_JSON},
    {"nt_delivery_attempt",
     "UPDATE deliveries SET error_code = $2, error_message = $3, attempts = $4, handed = false "
     "WHERE delivery_id = $1::uuid AND status = 'pending'"},
    {"nt_deliveries_handed",
     "UPDATE deliveries SET handed = true "
     "WHERE delivery_id = ANY($1::uuid[]) AND status = 'pending' AND NOT handed"},
    {"nt_delivery_unhanded",
     "UPDATE deliveries SET handed = false WHERE delivery_id = $1::uuid AND status = 'pending'"},
    {"nt_deliveries_of_order",
     "SELECT coalesce(json_agg(x.j ORDER BY x.created_at DESC, x.id DESC), '[]') FROM ("
     "  SELECT " DELIVERY_JSON " AS j, d.created_at, d.delivery_id AS id FROM deliveries d "
     "  WHERE d.order_id = $1::uuid ORDER BY d.created_at DESC LIMIT $2) x"},
    {"nt_deliveries_of_customer",
     "SELECT coalesce(json_agg(x.j ORDER BY x.created_at DESC, x.id DESC), '[]') FROM ("
     "  SELECT " DELIVERY_JSON " AS j, d.created_at, d.delivery_id AS id FROM deliveries d "
     "  WHERE d.customer_id = $1 ORDER BY d.created_at DESC LIMIT $2) x"},
};

int store_setup(db_t *db, void *arg)
{
    (void)arg;
    for (size_t i = 0; i < sizeof statements / sizeof statements[0]; i++)
        if (db_prepare(db, statements[i].name, statements[i].sql) != 0)
            return -1;
    return 0;
}

/* JSON text of value for a parameter; NULL out of memory. */
static char *json_text(const json_t *value)
{
    return json_dumps(value ? value : json_null(), JSON_COMPACT | JSON_ENCODE_ANY);
}

static db_status_t run_with_json(db_t *db, const char *stmt, db_params_t *params,
                                 const json_t *value, const char *what)
{
    char *text = json_text(value);
    if (!text)
        return db_fail(db, DB_STATE_OUT_OF_MEMORY, "could not write %s as JSON", what);
    db_param_text(params, text);
    db_status_t status = db_run(db, stmt, params, NULL);
    free(text);
    return status;
}

db_status_t store_order_placed(db_t *db, const char *order_id, uint64_t version,
                               const json_t *fields)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, order_id);
    db_param_u64(&params, version);
    return run_with_json(db, "nt_order_placed", &params, fields, "the placed order");
}

db_status_t store_order_priced(db_t *db, const char *order_id, uint64_t version,
                               const json_t *lines, const json_t *totals, const char *payment_terms)
{
    char *lines_text = json_text(lines);
    char *totals_text = json_text(totals);
    db_status_t status;
    if (!lines_text || !totals_text) {
        status = db_fail(db, DB_STATE_OUT_OF_MEMORY, "could not write order %s's lines as JSON",
                         order_id);
    } else {
        db_params_t params;
        db_params_init(&params);
        db_param_text(&params, order_id);
        db_param_u64(&params, version);
        db_param_text(&params, lines_text);
        db_param_text(&params, totals_text);
        db_param_text(&params, payment_terms ? payment_terms : "");
        status = db_run(db, "nt_order_priced", &params, NULL);
    }
    free(lines_text);
    free(totals_text);
    return status;
}

db_status_t store_order_status(db_t *db, const char *order_id, uint64_t version, uint64_t number,
                               const char *status, const char *channel, const char *delivery_method)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, order_id);
    db_param_u64(&params, version);
    db_param_u64(&params, number);
    db_param_text(&params, status);
    db_param_text(&params, channel ? channel : "");
    db_param_text(&params, delivery_method ? delivery_method : "");
    return db_run(db, "nt_order_status", &params, NULL);
}

db_status_t store_order_manager(db_t *db, const char *order_id, const char *manager_id,
                                const char *name, const char *email, const char *phone)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, order_id);
    db_param_text(&params, manager_id);
    db_status_t status = db_run(db, "nt_order_manager", &params, NULL);
    if (status != DB_OK || !manager_id[0])
        return status;
    db_params_init(&params);
    db_param_text(&params, manager_id);
    db_param_text(&params, name ? name : "");
    db_param_text(&params, email ? email : "");
    db_param_text(&params, phone ? phone : "");
    return db_run(db, "nt_staff_put", &params, NULL);
}

db_status_t store_order_extra(db_t *db, const char *order_id, const json_t *extra)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, order_id);
    return run_with_json(db, "nt_order_extra", &params, extra, "the order's extra facts");
}

static db_status_t json_by_text(db_t *db, const char *stmt, const char *key, json_t **out)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, key);
    return db_run_json(db, stmt, &params, out);
}

db_status_t store_order_json(db_t *db, const char *order_id, json_t **out)
{
    return json_by_text(db, "nt_order_json", order_id, out);
}

db_status_t store_staff_json(db_t *db, const char *staff_id, json_t **out)
{
    return json_by_text(db, "nt_staff_json", staff_id, out);
}

db_status_t store_triggers_for(db_t *db, const char *event_type, json_t **out)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, event_type);
    return db_run_json_rows(db, "nt_triggers_for", &params, out);
}

db_status_t store_template_pick(db_t *db, const char *name, const char *channel,
                                const char *language, const char *fallback, json_t **out)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, name);
    db_param_text(&params, channel);
    db_param_text(&params, language);
    db_param_text(&params, fallback);
    return db_run_json(db, "nt_template_pick", &params, out);
}

db_status_t store_status_label(db_t *db, const char *status, const char *from_status,
                               const char *language, char *out, size_t out_size)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, status);
    db_param_text(&params, language);
    db_param_text(&params, from_status ? from_status : "");
    PGresult *res = NULL;
    db_status_t rc = db_run(db, "nt_status_label", &params, &res);
    if (rc != DB_OK)
        return rc;
    if (PQntuples(res) == 1)
        db_copy_value(res, 0, 0, out, out_size);
    else
        snprintf(out, out_size, "%s", status);
    PQclear(res);
    return DB_OK;
}

db_status_t store_labels(db_t *db, const json_t *codes, const char *language, json_t **out)
{
    char *text = json_text(codes);
    if (!text)
        return db_fail(db, DB_STATE_OUT_OF_MEMORY, "could not write the codes to name as JSON");
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, text);
    db_param_text(&params, language);
    db_status_t status = db_run_json(db, "nt_labels", &params, out);
    free(text);
    return status;
}

db_status_t store_order_changed(db_t *db, const char *order_id, uint64_t version,
                                const json_t *fields, const json_t *totals, const json_t *pending,
                                bool *applied_out)
{
    *applied_out = false;
    char *fields_text = json_text(fields);
    char *totals_text = totals ? json_text(totals) : NULL;
    char *pending_text = pending ? json_text(pending) : NULL;
    db_status_t status;
    if (!fields_text || (totals && !totals_text) || (pending && !pending_text)) {
        status = db_fail(db, DB_STATE_OUT_OF_MEMORY, "could not write order %s's edit as JSON",
                         order_id);
    } else {
        db_params_t params;
        db_params_init(&params);
        db_param_text(&params, order_id);
        db_param_u64(&params, version);
        db_param_text(&params, fields_text);
        db_param_text(&params, totals_text);
        db_param_text(&params, pending_text);
        PGresult *res = NULL;
        status = db_run(db, "nt_order_changed", &params, &res);
        if (status == DB_OK)
            *applied_out = PQntuples(res) == 1;
        PQclear(res);
    }
    free(fields_text);
    free(totals_text);
    free(pending_text);
    return status;
}

db_status_t store_order_change_take(db_t *db, const char *order_id, uint64_t version, json_t **out)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, order_id);
    db_param_u64(&params, version);
    return db_run_json(db, "nt_order_change_take", &params, out);
}

db_status_t store_triggers_json(db_t *db, json_t **out)
{
    return db_run_json(db, "nt_triggers_json", NULL, out);
}

db_status_t store_trigger_json(db_t *db, const char *trigger_id, json_t **out)
{
    return json_by_text(db, "nt_trigger_json", trigger_id, out);
}

db_status_t store_trigger_put(db_t *db, const char *trigger_id, const json_t *trigger)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, trigger_id);
    return run_with_json(db, "nt_trigger_put", &params, trigger, "the trigger");
}

static db_status_t delete_count(db_t *db, const char *stmt, const db_params_t *params,
                                bool *found_out)
{
    int64_t count = 0;
    db_status_t status = db_run_count(db, stmt, params, &count);
    *found_out = status == DB_OK && count > 0;
    return status;
}

db_status_t store_trigger_delete(db_t *db, const char *trigger_id, bool *found_out)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, trigger_id);
    return delete_count(db, "nt_trigger_delete", &params, found_out);
}

db_status_t store_templates_json(db_t *db, json_t **out)
{
    return db_run_json(db, "nt_templates_json", NULL, out);
}

db_status_t store_template_json(db_t *db, const char *name, const char *channel,
                                const char *language, json_t **out)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, name);
    db_param_text(&params, channel);
    db_param_text(&params, language);
    return db_run_json(db, "nt_template_json", &params, out);
}

db_status_t store_template_put(db_t *db, const char *name, const char *channel,
                               const char *language, const char *subject, const char *body,
                               const char *html)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, name);
    db_param_text(&params, channel);
    db_param_text(&params, language);
    db_param_text(&params, subject ? subject : "");
    db_param_text(&params, body);
    db_param_text(&params, html ? html : "");
    return db_run(db, "nt_template_put", &params, NULL);
}

db_status_t store_template_delete(db_t *db, const char *name, const char *channel,
                                  const char *language, bool *found_out)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, name);
    db_param_text(&params, channel);
    db_param_text(&params, language);
    return delete_count(db, "nt_template_delete", &params, found_out);
}

db_status_t store_waiting_add(db_t *db, const char *event_id, const char *trigger_id,
                              const char *event_type, const char *order_id, const json_t *facts,
                              int64_t occurred_at_ms)
{
    char *text = json_text(facts);
    if (!text)
        return db_fail(db, DB_STATE_OUT_OF_MEMORY, "could not write %s's facts as JSON", event_id);
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, event_id);
    db_param_text(&params, trigger_id);
    db_param_text(&params, event_type);
    db_param_text(&params, order_id);
    db_param_text(&params, text);
    db_param_i64(&params, occurred_at_ms);
    db_status_t status = db_run(db, "nt_waiting_add", &params, NULL);
    free(text);
    return status;
}

db_status_t store_waiting_take(db_t *db, const char *order_id, json_t **out)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, order_id);
    return db_run_json_rows(db, "nt_waiting_take", &params, out);
}

db_status_t store_waiting_drop(db_t *db, const char *event_id, const char *trigger_id,
                               bool *found_out)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, event_id);
    db_param_text(&params, trigger_id);
    PGresult *res = NULL;
    db_status_t status = db_run(db, "nt_waiting_drop", &params, &res);
    *found_out = status == DB_OK && PQntuples(res) > 0;
    PQclear(res);
    return status;
}

db_status_t store_order_known(db_t *db, const char *order_id, bool *out)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, order_id);
    PGresult *res = NULL;
    db_status_t status = db_run(db, "nt_order_known", &params, &res);
    *out = status == DB_OK && PQntuples(res) > 0;
    PQclear(res);
    return status;
}

db_status_t store_optout_has(db_t *db, const char *customer_id, const char *channel, bool *out)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, customer_id);
    db_param_text(&params, channel);
    PGresult *res = NULL;
    db_status_t status = db_run(db, "nt_optout_has", &params, &res);
    *out = status == DB_OK && PQntuples(res) > 0;
    PQclear(res);
    return status;
}

db_status_t store_optout_add(db_t *db, const char *customer_id, const char *channel)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, customer_id);
    db_param_text(&params, channel);
    return db_run(db, "nt_optout_add", &params, NULL);
}

db_status_t store_delivery_insert(db_t *db, const delivery_new_t *d, bool *created_out)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, d->delivery_id);
    db_param_text(&params, d->dedup_key);
    db_param_text(&params, d->event_id);
    db_param_text(&params, d->event_type);
    db_param_text(&params, d->trigger_id);
    db_param_text(&params, d->template_name);
    db_param_text(&params, d->language);
    db_param_text(&params, d->channel);
    db_param_text(&params, d->recipient_kind);
    db_param_text(&params, d->recipient);
    db_param_text(&params, d->recipient_name ? d->recipient_name : "");
    db_param_text(&params, d->order_id && d->order_id[0] ? d->order_id : NULL);
    db_param_text(&params, d->customer_id ? d->customer_id : "");
    db_param_text(&params, d->subject ? d->subject : "");
    db_param_text(&params, d->body ? d->body : "");
    db_param_text(&params, d->html ? d->html : "");
    db_param_text(&params, d->status);
    db_param_text(&params, d->error_code ? d->error_code : "");
    db_param_text(&params, d->error_message ? d->error_message : "");
    db_param_i64(&params, d->not_before_ms);
    db_param_i64(&params, d->event_at_ms);
    int64_t count = 0;
    db_status_t status = db_run_count(db, "nt_delivery_insert", &params, &count);
    *created_out = status == DB_OK && count > 0;
    return status;
}

db_status_t store_order_lock(db_t *db, const char *order_id)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, order_id);
    return db_run(db, "nt_order_lock", &params, NULL);
}

db_status_t store_delivery_ahead(db_t *db, const char *order_id, const char *channel,
                                 const char *recipient, bool *out)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, order_id);
    db_param_text(&params, channel);
    db_param_text(&params, recipient);
    PGresult *res = NULL;
    db_status_t status = db_run(db, "nt_delivery_ahead", &params, &res);
    *out = status == DB_OK && PQntuples(res) > 0;
    PQclear(res);
    return status;
}

db_status_t store_delivery_json(db_t *db, const char *delivery_id, json_t **out)
{
    return json_by_text(db, "nt_delivery_json", delivery_id, out);
}

/* The wire form of each array of arrays into params; -1 out of memory. */
static int array_params(pg_array_t *arrays, size_t count, db_params_t *params)
{
    for (size_t i = 0; i < count; i++) {
        const uint8_t *wire = NULL;
        size_t len = 0;
        if (pg_array_wire(&arrays[i], &wire, &len) != 0)
            return -1;
        db_param_bytes(params, wire, len);
    }
    return 0;
}

/* ids as the one uuid[] parameter of params, built in array (released by
 * the caller whatever happened); DB_OK, or a bad-data failure recorded. */
static db_status_t ids_param(db_t *db, const char *const *ids, size_t count, pg_array_t *array,
                             db_params_t *params)
{
    pg_array_init(array, PG_OID_UUID);
    db_params_init(params);
    int failed = 0;
    for (size_t i = 0; i < count && !failed; i++)
        failed = pg_array_add_uuid(array, ids[i]);
    if (failed || array_params(array, 1, params) != 0)
        return db_fail(db, DB_STATE_BAD_DATA, "%zu delivery ids do not make an array", count);
    return DB_OK;
}

db_status_t store_deliveries_json(db_t *db, const char *const *ids, size_t count, json_t **out)
{
    *out = NULL;
    pg_array_t id_array;
    db_params_t params;
    db_status_t status = ids_param(db, ids, count, &id_array, &params);
    if (status == DB_OK)
        status = db_run_json_rows(db, "nt_deliveries_json", &params, out);
    pg_array_release(&id_array);
    return status;
}

enum { END_ID, END_STATUS, END_PROVIDER, END_CODE, END_MESSAGE, END_ATTEMPTS, END_COLUMNS };

db_status_t store_deliveries_finish(db_t *db, const delivery_end_t *ends, size_t count,
                                    json_t **out)
{
    *out = NULL;
    static const uint32_t oids[END_COLUMNS] = {PG_OID_UUID, PG_OID_TEXT, PG_OID_TEXT,
                                               PG_OID_TEXT, PG_OID_TEXT, PG_OID_INT4};
    pg_array_t arrays[END_COLUMNS];
    for (int i = 0; i < END_COLUMNS; i++)
        pg_array_init(&arrays[i], oids[i]);
    int failed = 0;
    for (size_t i = 0; i < count && !failed; i++) {
        const delivery_end_t *e = &ends[i];
        failed =
            pg_array_add_uuid(&arrays[END_ID], e->delivery_id) != 0 ||
            pg_array_add_text(&arrays[END_STATUS], e->status) != 0 ||
            pg_array_add_text(&arrays[END_PROVIDER], e->provider_id ? e->provider_id : "") != 0 ||
            pg_array_add_text(&arrays[END_CODE], e->error_code ? e->error_code : "") != 0 ||
            pg_array_add_text(&arrays[END_MESSAGE], e->error_message ? e->error_message : "") !=
                0 ||
            pg_array_add_i32(&arrays[END_ATTEMPTS], e->attempts) != 0;
    }
    db_params_t params;
    db_params_init(&params);
    db_status_t status;
    if (failed || array_params(arrays, END_COLUMNS, &params) != 0)
        status =
            db_fail(db, DB_STATE_BAD_DATA, "the ends of %zu deliveries do not make arrays", count);
    else
        status = db_run_json_rows(db, "nt_deliveries_finish", &params, out);
    for (int i = 0; i < END_COLUMNS; i++)
        pg_array_release(&arrays[i]);
    return status;
}

db_status_t store_delivery_given_up(db_t *db, const char *delivery_id, const char *error_code,
                                    const char *error_message, int attempts, json_t **out)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, delivery_id);
    db_param_text(&params, error_code ? error_code : "");
    db_param_text(&params, error_message ? error_message : "");
    db_param_i64(&params, attempts);
    return db_run_json_rows(db, "nt_delivery_given_up", &params, out);
}

db_status_t store_deliveries_next(db_t *db, const char *const *ids, size_t count, json_t **out)
{
    *out = NULL;
    pg_array_t id_array;
    db_params_t params;
    db_status_t status = ids_param(db, ids, count, &id_array, &params);
    if (status == DB_OK)
        status = db_run(db, "nt_orders_lock", &params, NULL);
    if (status == DB_OK)
        status = db_run_json_rows(db, "nt_deliveries_next", &params, out);
    pg_array_release(&id_array);
    return status;
}

db_status_t store_delivery_attempt(db_t *db, const char *delivery_id, const char *error_code,
                                   const char *error_message, int attempts)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, delivery_id);
    db_param_text(&params, error_code ? error_code : "");
    db_param_text(&params, error_message ? error_message : "");
    db_param_i64(&params, attempts);
    return db_run(db, "nt_delivery_attempt", &params, NULL);
}

db_status_t store_deliveries_handed(db_t *db, const char *const *ids, size_t count)
{
    pg_array_t id_array;
    db_params_t params;
    db_status_t status = ids_param(db, ids, count, &id_array, &params);
    if (status == DB_OK)
        status = db_run(db, "nt_deliveries_handed", &params, NULL);
    pg_array_release(&id_array);
    return status;
}

db_status_t store_delivery_unhanded(db_t *db, const char *delivery_id)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, delivery_id);
    return db_run(db, "nt_delivery_unhanded", &params, NULL);
}

db_status_t store_deliveries_of_order(db_t *db, const char *order_id, int limit, json_t **out)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, order_id);
    db_param_i64(&params, limit);
    return db_run_json(db, "nt_deliveries_of_order", &params, out);
}

db_status_t store_deliveries_of_customer(db_t *db, const char *customer_id, int limit, json_t **out)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, customer_id);
    db_param_i64(&params, limit);
    return db_run_json(db, "nt_deliveries_of_customer", &params, out);
}
