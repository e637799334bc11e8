/*
 * store.c — every SQL statement of the order service (store.h).
 *
 * Times cross the wire as unix milliseconds of the business clock
 * (common/clock.h) and are turned into timestamptz here, so tests that move
 * business time move it in the database too.
 */
#include "services/order/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/auth.h"
#include "common/bulk.h"
#include "common/dbjson.h"
#include "common/numparse.h"
#include "common/pgarray.h"

/* unix ms parameter -> timestamptz, and back */
#define TS(p)    "(timestamptz 'epoch' + " p "::bigint * interval '1 millisecond')"
#define MS_OF(c) "(extract(epoch FROM " c ") * 1000)::bigint"

/* The columns of an order as store_order_lock reads them (order_from_row),
 * then those of its lines, delivery and customer's contact as
 * store_lines_reach reads them (reach_from_result). */
#define ORDER_LOCK_COLUMNS                                                                         \
    "o.id, o.number, o.title, o.status, "                                                          \
    "(SELECT s.group_code FROM statuses s WHERE s.code = o.status), o.version, "                   \
    "coalesce(o.manager_id::text, ''), o.customer_id, o.channel, o.source, o.region, "             \
    "o.delivery_method, o.stock_state, o.currency, o.discount_bp, o.taken_up_at IS NOT NULL, "     \
    "o.total_minor IS NOT NULL, coalesce(o.lines_minor, 0), coalesce(o.discount_minor, 0), "       \
    "coalesce(o.delivery_minor, 0), coalesce(o.vat_minor, 0), coalesce(o.total_minor, 0), "        \
    "coalesce(o.weight_g, 0), coalesce(o.delivery_price_override_minor, -1), "                     \
    "coalesce(o.payment_terms, ''), " MS_OF("o.placed_at") ", o.sender_prices, o.lines_version"
#define ORDER_LOCK_NCOLS 28
#define LINES_REACH_COLUMNS                                                                        \
    "l.line_no, l.sku, l.name, l.quantity, coalesce(l.sender_price_minor, -1), "                   \
    "coalesce(l.unit_price_minor, -1), coalesce(l.vat_rate_bp, 0), coalesce(l.unit_weight_g, 0), " \
    "o.delivery::text, coalesce(c.name, ''), coalesce(c.phone, ''), coalesce(c.email, '')"
#define LINES_REACH_NCOLS 12
/* After ORDER_LOCK_COLUMNS and LINES_REACH_COLUMNS, whether the order's row
 * is the version the statement's snapshot holds. A statement that locks
 * the order and reads its lines at once waited, when another transaction
 * held the order, for that one to commit, and then locks the order's new
 * version but reads the lines and the customer as its snapshot had them,
 * before the other's commit: false says so (every change to an order's
 * lines updates its row), and store_order_lock_reach reads again, the
 * lock now held. */
#define LOCK_FRESH_COLUMN                                                                          \
    ", coalesce(o.xmin = (SELECT x.xmin FROM orders x WHERE x.id = o.id), false)"
#define LOCK_FRESH_COL (ORDER_LOCK_NCOLS + LINES_REACH_NCOLS)

static const bulk_spec_t history_spec = {
    .stmt = "order_history_bulk",
    .sql = "INSERT INTO order_history (order_id, at, kind, from_status, to_status, actor_id, "
           "actor_role, reason, detail) SELECT o, timestamptz 'epoch' + a * interval "
           "'1 millisecond', k, f, t, i, r, e, d::jsonb FROM unnest($1::uuid[], $2::int8[], "
           "$3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[]) "
           "WITH ORDINALITY AS h (o, a, k, f, t, i, r, e, d, n) ORDER BY n",
    .column_oids = {PG_OID_UUID, PG_OID_INT8, PG_OID_TEXT, PG_OID_TEXT, PG_OID_TEXT, PG_OID_TEXT,
                    PG_OID_TEXT, PG_OID_TEXT, PG_OID_TEXT},
    .column_count = 9,
};

static const bulk_spec_t tasks_spec = {
    .stmt = "tasks_bulk",
    .sql = "INSERT INTO tasks (id, kind, order_id, assignee_id, title, due_at, dedup_key, "
           "created_at) SELECT i, k, o, a, t, timestamptz 'epoch' + d * interval '1 millisecond', "
           "u, timestamptz 'epoch' + c * interval '1 millisecond' FROM unnest($1::uuid[], "
           "$2::text[], $3::uuid[], $4::uuid[], $5::text[], $6::int8[], $7::text[], $8::int8[]) "
           "AS r (i, k, o, a, t, d, u, c) ON CONFLICT (dedup_key) DO NOTHING",
    .column_oids = {PG_OID_UUID, PG_OID_TEXT, PG_OID_UUID, PG_OID_UUID, PG_OID_TEXT, PG_OID_INT8,
                    PG_OID_TEXT, PG_OID_INT8},
    .column_count = 8,
};

static const bulk_spec_t lines_spec = {
    .stmt = "order_lines_bulk",
    .sql = "INSERT INTO order_lines (order_id, line_no, sku, name, quantity, sender_price_minor) "
           "SELECT * FROM unnest($1::uuid[], $2::int4[], $3::text[], $4::text[], $5::int4[], "
           "$6::int8[])",
    .column_oids = {PG_OID_UUID, PG_OID_INT4, PG_OID_TEXT, PG_OID_TEXT, PG_OID_INT4, PG_OID_INT8},
    .column_count = 6,
};

/* store_intake_claim_batch: intake_claim_customer for many orders in one
 * statement; a customer found by several of them is counted once for
 * each; a row per key claimed, in the batch's order (the numbers too:
 * nextval runs after the sort). A generic plan guesses ten rows for each
 * array and joins the run's rows to each other by nested loops (~40 ms for
 * a run of 480 orders in the pipeline bench): a run of more than
 * CLAIM_BATCH_PREPARED_MAX orders is planned for its arrays at each call.
 * A short one (a store's usual load: a few orders a run) runs the prepared
 * statement, sparing the planning that every order of the run waits for
 * (~1 ms of a five-order run's transaction at 500 orders/s). */
#define CLAIM_BATCH_PREPARED_MAX 16
static const char intake_claim_batch_sql[] =
    "WITH input AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::uuid[], "
    "$5::text[], $6::text[], $7::text[], $8::uuid[], $9::text[]) WITH ORDINALITY AS i (source, "
    "external_id, sha, order_id, door, phone, email, customer_id, name, n)), "
    "claim AS (INSERT INTO intake_keys (source, external_id, body_sha256, order_id, number, "
    "door) SELECT source, external_id, sha, order_id, nextval('order_numbers'), door FROM input "
    "ORDER BY n ON CONFLICT DO NOTHING RETURNING source, external_id, number), "
    "claimed AS (SELECT i.*, c.number FROM input i JOIN claim c ON c.source = i.source "
    "AND c.external_id = i.external_id), "
    "found AS (SELECT k.n, m.id FROM claimed k CROSS JOIN LATERAL (SELECT id FROM ((SELECT id, "
    "1 AS rank FROM customers WHERE phone = k.phone AND k.phone <> '') UNION ALL (SELECT id, 2 "
    "FROM customers WHERE email = k.email AND k.email <> '')) f ORDER BY rank LIMIT 1) m), "
    "counted AS (UPDATE customers c SET order_count = c.order_count + f.k FROM (SELECT id, "
    "count(*) AS k FROM found GROUP BY id) f WHERE c.id = f.id "
    "RETURNING c.id, c.manager_id, c.category), "
    "created AS (INSERT INTO customers (id, name, phone, email, order_count) SELECT "
    "k.customer_id, k.name, nullif(k.phone, ''), nullif(k.email, ''), 1 FROM claimed k WHERE "
    "NOT EXISTS (SELECT 1 FROM found f WHERE f.n = k.n) ORDER BY k.n ON CONFLICT DO NOTHING "
    "RETURNING id, manager_id, category), "
    "customer AS (SELECT id, manager_id, category FROM counted UNION ALL "
    "SELECT id, manager_id, category FROM created) "
    "SELECT k.n, k.number, cu.id, coalesce(cu.manager_id::text, ''), cu.category FROM claimed k "
    "LEFT JOIN found f ON f.n = k.n LEFT JOIN customer cu ON cu.id = coalesce(f.id, "
    "k.customer_id) ORDER BY k.n";

static const struct {
    const char *name;
    const char *sql;
} statements[] = {
    /* intake */
    /* store_intake_claim_batch for a short run (above its SQL) */
    {"intake_claim_batch", intake_claim_batch_sql},
    /* the claim and the customer in one round trip (store_intake_claim_customer):
     * the customer is counted or created only when the key is claimed */
    {"intake_claim_customer",
     "WITH claim AS (INSERT INTO intake_keys (source, external_id, body_sha256, order_id, "
     "number, door) VALUES ($1, $2, $3, $4, nextval('order_numbers'), $5) ON CONFLICT DO "
     "NOTHING RETURNING number), "
     "found AS (SELECT id FROM ((SELECT id, 1 AS rank FROM customers WHERE phone = $6 "
     "AND $6 <> '') UNION ALL (SELECT id, 2 FROM customers WHERE email = $7 AND $7 <> '')) "
     "m ORDER BY rank LIMIT 1), "
     "counted AS (UPDATE customers c SET order_count = c.order_count + 1 FROM found "
     "WHERE c.id = found.id AND EXISTS (SELECT 1 FROM claim) "
     "RETURNING c.id, c.manager_id, c.category), "
     "created AS (INSERT INTO customers (id, name, phone, email, order_count) "
     "SELECT $8, $9, nullif($6, ''), nullif($7, ''), 1 WHERE NOT EXISTS (SELECT 1 FROM found) "
     "AND EXISTS (SELECT 1 FROM claim) ON CONFLICT DO NOTHING RETURNING id, manager_id, category), "
     "customer AS (SELECT id, manager_id, category FROM counted UNION ALL "
     "SELECT id, manager_id, category FROM created) "
     "SELECT claim.number, cu.id, coalesce(cu.manager_id::text, ''), cu.category FROM claim "
     "LEFT JOIN customer cu ON true"},
    {"intake_find",
     "SELECT k.order_id, k.number, k.body_sha256, coalesce(o.title, '') FROM intake_keys k "
     "LEFT JOIN orders o ON o.id = k.order_id WHERE k.source = $1 AND k.external_id = $2"},
    {"rejection_record",
     "INSERT INTO rejections (id, source, external_id, body_sha256, door, reasons, submission) "
     "VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb) "
     "ON CONFLICT (source, external_id, body_sha256) DO UPDATE SET repeats = "
     "rejections.repeats + 1, last_seen_at = now() RETURNING id"},
    {"source_by_key", "SELECT source, default_channel, may_set_prices, max_discount_bp FROM "
                      "intake_sources WHERE api_key_sha256 = $1 AND active"},
    {"source_by_name", "SELECT source, default_channel, may_set_prices, max_discount_bp FROM "
                       "intake_sources WHERE source = $1 AND active"},
    {"source_upsert",
     "INSERT INTO intake_sources (source, api_key_sha256, default_channel, may_set_prices, "
     "max_discount_bp) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (source) DO UPDATE SET "
     "api_key_sha256 = excluded.api_key_sha256, default_channel = excluded.default_channel, "
     "may_set_prices = excluded.may_set_prices, max_discount_bp = excluded.max_discount_bp, "
     "active = true"},

    /* customers and orders */
    {"customer_for_order",
     "WITH found AS (SELECT id FROM ((SELECT id, 1 AS rank FROM customers WHERE phone = $1 "
     "AND $1 <> '') UNION ALL (SELECT id, 2 FROM customers WHERE email = $2 AND $2 <> '')) "
     "m ORDER BY rank LIMIT 1), "
     "counted AS (UPDATE customers c SET order_count = c.order_count + 1 FROM found "
     "WHERE c.id = found.id RETURNING c.id, c.manager_id, c.category), "
     "created AS (INSERT INTO customers (id, name, phone, email, order_count) "
     "SELECT $3, $4, nullif($1, ''), nullif($2, ''), 1 WHERE NOT EXISTS (SELECT 1 FROM found) "
     "ON CONFLICT DO NOTHING RETURNING id, manager_id, category) "
     "SELECT id, coalesce(manager_id::text, ''), category FROM counted UNION ALL "
     "SELECT id, coalesce(manager_id::text, ''), category FROM created"},
    {"order_delivery", "SELECT delivery::text FROM orders WHERE id = $1"},
    {"customer_contact",
     "SELECT name, coalesce(phone, ''), coalesce(email, '') FROM customers WHERE id = $1"},
    /* the sum saturates at bigint's top rather than failing the delivery */
    {"customer_spent",
     "UPDATE customers SET total_spent_minor = least(total_spent_minor::numeric + $2, "
     "9223372036854775807)::bigint, category = CASE WHEN total_spent_minor::numeric + $2 >= $3 "
     "THEN 'vip' ELSE category END WHERE id = $1"},
    /* the order, its manager's slot (the conditional UPDATE of
     * manager_take_slot: nothing if $8 is full, off shift or NULL) and the
     * customer's own manager in one statement; a row of the manager's
     * contact when the slot was taken */
    {"order_insert",
     "WITH slot AS (UPDATE staff SET open_orders = open_orders + 1, last_assigned_at = " TS(
         "$9") " WHERE id = $8 AND role = 'manager' AND active AND on_shift "
               "AND open_orders < capacity RETURNING id, name, coalesce(email, '') AS email, "
               "coalesce(phone, '') AS phone), "
               "own AS (UPDATE customers c SET manager_id = slot.id FROM slot WHERE c.id = $7 "
               "AND c.manager_id IS NULL), "
               "o AS (INSERT INTO orders (id, number, title, source, external_id, channel, "
               "customer_id, manager_id, assigned_at, status, status_changed_at, region, "
               "delivery_method, delivery, discount_bp, currency, comment, attributes, "
               "placed_at, sender_prices) VALUES ($1, $2, $3, $4, $5, $6, $7, "
               "(SELECT id FROM slot), (SELECT " TS("$9") " FROM slot), 'new', " TS(
                   "$9") ", $10, $11, $12::jsonb, $13, $14, $15, "
                         "$16::jsonb, " TS("$9") ", $17)) "
                                                 "SELECT name, "
                                                 "email, phone "
                                                 "FROM slot"},
    /* store_order_insert_batch: order_insert for many orders in one
     * statement, each manager's slots taken at once (all of them or none:
     * the conditional UPDATE of manager_take_slot, by the count); a row of
     * contact per manager whose slots were taken */
    {"order_insert_batch",
     "WITH v AS (SELECT * FROM unnest($1::uuid[], $2::int8[], $3::text[], $4::text[], "
     "$5::text[], $6::text[], $7::uuid[], $8::uuid[], $9::int8[], $10::text[], $11::text[], "
     "$12::text[], $13::int4[], $14::text[], $15::text[], $16::text[], $17::bool[]) WITH "
     "ORDINALITY AS v (id, number, title, source, external_id, channel, customer_id, manager_id, "
     "at_ms, region, method, delivery, discount_bp, currency, comment, attributes, sender_prices, "
     "n)), "
     "want AS (SELECT manager_id AS id, count(*) AS k, max(at_ms) AS at_ms FROM v WHERE "
     "manager_id IS NOT NULL GROUP BY manager_id), "
     "slot AS (UPDATE staff s SET open_orders = s.open_orders + w.k, last_assigned_at = " TS(
         "w.at_ms") " FROM want w WHERE s.id = w.id AND s.role = 'manager' AND s.active AND "
                    "s.on_shift AND s.open_orders + w.k <= s.capacity RETURNING s.id, s.name, "
                    "coalesce(s.email, '') AS email, coalesce(s.phone, '') AS phone), "
                    "own AS (UPDATE customers c SET manager_id = o.manager_id FROM (SELECT "
                    "DISTINCT ON (v.customer_id) v.customer_id, v.manager_id FROM v JOIN slot ON "
                    "slot.id = v.manager_id ORDER BY v.customer_id, v.n) o WHERE c.id = "
                    "o.customer_id AND c.manager_id IS NULL), "
                    "o AS (INSERT INTO orders (id, number, title, source, external_id, channel, "
                    "customer_id, manager_id, assigned_at, status, status_changed_at, region, "
                    "delivery_method, delivery, discount_bp, currency, comment, attributes, "
                    "placed_at, sender_prices) SELECT v.id, v.number, v.title, v.source, "
                    "v.external_id, v.channel, v.customer_id, slot.id, CASE WHEN slot.id IS NOT "
                    "NULL THEN " TS("v.at_ms") " END, 'new', " TS(
                        "v.at_ms") ", v.region, v.method, v.delivery::jsonb, v.discount_bp, "
                                   "v.currency, v.comment, v.attributes::jsonb, " TS(
                                       "v.at_ms") ", v.sender_prices FROM v LEFT JOIN slot ON "
                                                  "slot.id = v.manager_id ORDER BY v.n) "
                                                  "SELECT id, name, email, phone FROM slot"},
    /* an order placed without a manager gets one (its version stays 1), and
     * the customer their own manager */
    {"order_first_manager",
     "WITH own AS (UPDATE customers SET manager_id = $2 WHERE id = $3 AND manager_id IS NULL) "
     "UPDATE orders SET manager_id = $2, assigned_at = " TS("$4") " WHERE id = $1"},
    /* The statements that lock an order join no other table: a row locked
     * after waiting for another transaction is its new version, checked
     * again against the joins with the other tables' rows as they were
     * before, and an order whose status moved meanwhile would fail its join
     * with statuses and not be found. The status's group is a subquery. */
    {"order_lock", "SELECT " ORDER_LOCK_COLUMNS " FROM orders o WHERE o.id = $1 FOR UPDATE OF o"},
    /* store_order_lock_reach: order_lock and lines_reach in one round trip */
    {"order_lock_reach",
     "SELECT " ORDER_LOCK_COLUMNS ", " LINES_REACH_COLUMNS LOCK_FRESH_COLUMN " FROM orders o "
     "LEFT JOIN customers c ON c.id = o.customer_id "
     "LEFT JOIN order_lines l ON l.order_id = o.id WHERE o.id = $1 ORDER BY l.line_no "
     "FOR UPDATE OF o"},
    /* store_orders_lock_reach_ahead: order_lock_reach for many orders, locked
     * in the order of their ids (two such runs never wait on each other) */
    {"orders_lock_reach_ahead",
     "SELECT " ORDER_LOCK_COLUMNS ", " LINES_REACH_COLUMNS LOCK_FRESH_COLUMN " FROM orders o "
     "LEFT JOIN customers c ON c.id = o.customer_id "
     "LEFT JOIN order_lines l ON l.order_id = o.id WHERE o.id = ANY ($1::uuid[]) "
     "ORDER BY o.id, l.line_no FOR UPDATE OF o"},
    {"status_group", "SELECT group_code FROM statuses WHERE code = $1"},
    {"transition_allowed",
     "SELECT EXISTS (SELECT 1 FROM transitions WHERE from_status = $1 AND to_status = $2 "
     "AND role = ANY($3::text[]))"},
    {"transitions_from",
     "SELECT coalesce(json_agg(json_build_object('to', s.code, 'name', s.name, 'group', "
     "s.group_code) ORDER BY s.ordering), '[]') FROM statuses s WHERE s.active AND EXISTS "
     "(SELECT 1 FROM transitions t WHERE t.from_status = $1 AND t.to_status = s.code AND "
     "t.role = ANY($2::text[]))"},
    {"order_set_status",
     "UPDATE orders SET status = $2, status_changed_at = " TS(
         "$4") ", version = version + 1, "
               "cancel_reason = coalesce($3, cancel_reason) WHERE id = $1 RETURNING version"},
    {"order_taken_up",
     "UPDATE orders SET taken_up_at = coalesce(taken_up_at, " TS("$2") ") WHERE id = $1"},
    {"order_set_manager",
     "UPDATE orders SET manager_id = $2, assigned_at = CASE WHEN $2::uuid IS NULL THEN NULL "
     "ELSE " TS("$3") " END, taken_up_at = NULL, version = version + 1 WHERE id = $1 "
                      "RETURNING version"},

    /* stock and totals */
    {"lines_get",
     "SELECT line_no, sku, name, quantity, coalesce(sender_price_minor, -1), "
     "coalesce(unit_price_minor, -1), coalesce(vat_rate_bp, 0), coalesce(unit_weight_g, 0) "
     "FROM order_lines WHERE order_id = $1 ORDER BY line_no"},
    {"lines_reach", "SELECT " LINES_REACH_COLUMNS " FROM orders o "
                    "LEFT JOIN customers c ON c.id = o.customer_id "
                    "LEFT JOIN order_lines l ON l.order_id = o.id WHERE o.id = $1 "
                    "ORDER BY l.line_no"},
    /* store_order_set_reserved: the lines' amounts and the order's totals in
     * one statement. Each line takes its values at its line_no's place in
     * $9 (no join with unnest nor = ANY ($9), whose row counts a generic
     * plan cannot know: the statement was planned afresh at every call) */
    {"order_set_reserved",
     "WITH p AS (SELECT $9::int4[] AS n), l AS (UPDATE order_lines l SET "
     "unit_price_minor = ($10::int8[])[array_position(p.n, l.line_no)], "
     "vat_rate_bp = ($11::int4[])[array_position(p.n, l.line_no)], "
     "unit_weight_g = ($12::int4[])[array_position(p.n, l.line_no)], "
     "amount_minor = ($13::int8[])[array_position(p.n, l.line_no)], "
     "discount_minor = ($14::int8[])[array_position(p.n, l.line_no)], "
     "total_minor = ($15::int8[])[array_position(p.n, l.line_no)], "
     "vat_minor = ($16::int8[])[array_position(p.n, l.line_no)], "
     "name = CASE WHEN l.name = '' THEN ($17::text[])[array_position(p.n, l.line_no)] "
     "ELSE l.name END FROM p "
     "WHERE l.order_id = $1 AND array_position(p.n, l.line_no) IS NOT NULL) "
     "UPDATE orders SET stock_state = $2, lines_minor = $3, discount_minor = $4, "
     "delivery_minor = $5, vat_minor = $6, total_minor = $7, weight_g = $8, "
     "version = version + 1 WHERE id = $1 RETURNING version"},
    /* store_orders_set_reserved: order_set_reserved for a run's orders,
     * each at the version it was read at (locked since). Joined with
     * unnest, it is planned afresh at each call: once a run is cheap, once
     * an order would not be, so a run of one and the careful pass keep the
     * prepared order_set_reserved */
    {"orders_set_reserved_many",
     "WITH l AS (UPDATE order_lines l SET unit_price_minor = x.p, vat_rate_bp = x.r, "
     "unit_weight_g = x.w, amount_minor = x.a, discount_minor = x.d, total_minor = x.t, "
     "vat_minor = x.v, name = CASE WHEN l.name = '' THEN x.n ELSE l.name END "
     "FROM unnest($9::uuid[], $10::int4[], $11::int8[], $12::int4[], $13::int4[], $14::int8[], "
     "$15::int8[], $16::int8[], $17::int8[], $18::text[]) AS x (o, line_no, p, r, w, a, d, t, v, "
     "n) WHERE l.order_id = x.o AND l.line_no = x.line_no) "
     "UPDATE orders o SET stock_state = 'reserved', lines_minor = v.lm, discount_minor = v.dm, "
     "delivery_minor = v.dl, vat_minor = v.vm, total_minor = v.tm, weight_g = v.w, "
     "version = o.version + 1 FROM unnest($1::uuid[], $2::int8[], $3::int8[], $4::int8[], "
     "$5::int8[], $6::int8[], $7::int8[], $8::int8[]) AS v (id, version, lm, dm, dl, vm, tm, w) "
     "WHERE o.id = v.id AND o.version = v.version"},
    {"lines_set_amounts",
     "UPDATE order_lines l SET unit_price_minor = v.p, vat_rate_bp = v.r, unit_weight_g = v.w, "
     "amount_minor = v.a, discount_minor = v.d, total_minor = v.t, vat_minor = v.v, "
     "name = CASE WHEN l.name = '' THEN v.n ELSE l.name END "
     "FROM unnest($2::int4[], $3::int8[], $4::int4[], $5::int4[], $6::int8[], $7::int8[], "
     "$8::int8[], $9::int8[], $10::text[]) AS v (line_no, p, r, w, a, d, t, v, n) "
     "WHERE l.order_id = $1 AND l.line_no = v.line_no"},
    {"order_set_stock",
     "UPDATE orders SET stock_state = $2, lines_minor = coalesce($3, lines_minor), "
     "discount_minor = coalesce($4, discount_minor), delivery_minor = coalesce($5, "
     "delivery_minor), vat_minor = coalesce($6, vat_minor), total_minor = coalesce($7, "
     "total_minor), weight_g = coalesce($8, weight_g), version = version + 1 WHERE id = $1 "
     "RETURNING version"},
    /* editing */
    {"lines_delete", "DELETE FROM order_lines WHERE order_id = $1"},
    {"lines_insert",
     "INSERT INTO order_lines (order_id, line_no, sku, name, quantity, sender_price_minor, "
     "unit_price_minor, vat_rate_bp, unit_weight_g, amount_minor, discount_minor, total_minor, "
     "vat_minor) SELECT $1, v.line_no, v.sku, v.name, v.q, nullif(v.sp, -1), nullif(v.p, -1), "
     "CASE WHEN v.p >= 0 THEN v.r END, CASE WHEN v.p >= 0 THEN v.w END, CASE WHEN v.p >= 0 "
     "THEN v.a END, CASE WHEN v.p >= 0 THEN v.d END, CASE WHEN v.p >= 0 THEN v.t END, CASE "
     "WHEN v.p >= 0 THEN v.v END FROM unnest($2::int4[], $3::text[], $4::text[], $5::int4[], "
     "$6::int8[], $7::int8[], $8::int4[], $9::int4[], $10::int8[], $11::int8[], $12::int8[], "
     "$13::int8[]) AS v (line_no, sku, name, q, sp, p, r, w, a, d, t, v)"},
    {"order_edit",
     "UPDATE orders SET delivery = coalesce($2::jsonb, delivery), delivery_method = "
     "coalesce($3, delivery_method), region = coalesce($4, region), discount_bp = $5, "
     "stock_state = $6, lines_minor = $7, discount_minor = $8, delivery_minor = $9, vat_minor = "
     "$10, total_minor = $11, weight_g = $12, lines_version = CASE WHEN $13 THEN version + 1 "
     "ELSE lines_version END, version = version + 1 WHERE id = $1 RETURNING version"},
    {"delivery_price_list",
     "SELECT region = $2, min_total_minor, price_minor FROM delivery_prices WHERE method = $1 "
     "AND region IN ($2, '*') LIMIT 17"},
    {"delivery_price",
     "SELECT price_minor FROM delivery_prices WHERE method = $1 AND region IN ($2, '*') AND "
     "min_total_minor <= $3 ORDER BY (region = $2) DESC, min_total_minor DESC LIMIT 1"},
    {"order_set_terms",
     "UPDATE orders SET payment_terms = $2, delivery_minor = $3, total_minor = $4, "
     "vat_minor = $5 WHERE id = $1"},

    {"order_merge_payment", "UPDATE orders SET payment = payment || $2::jsonb WHERE id = $1"},
    {"order_merge_shipment", "UPDATE orders SET shipment = shipment || $2::jsonb WHERE id = $1"},
    {"order_invoice", "SELECT coalesce(payment->>'invoice_id', '') FROM orders WHERE id = $1"},
    {"order_paid", "SELECT coalesce(CASE WHEN jsonb_typeof(payment->'paid_minor') = 'number' THEN "
                   "(payment->>'paid_minor')::numeric END, 0)::bigint FROM orders WHERE id = $1"},
    {"order_refund_claim",
     "INSERT INTO order_refunds (order_id, refund_key, status, amount_minor, reason, reason_code, "
     "reason_text, at) VALUES ($1, $2, $3, $4, $5, $6, $7, " TS(
         "$8") ") "
               "ON CONFLICT (order_id, refund_key) DO UPDATE SET status = EXCLUDED.status, "
               "amount_minor = EXCLUDED.amount_minor, at = EXCLUDED.at "
               "WHERE order_refunds.status = 'failed' AND EXCLUDED.status = 'succeeded'"},
    {"order_refund_hold_open", "INSERT INTO order_refund_holds (order_id, held_minor) VALUES ($1, "
                               "$2) ON CONFLICT (order_id) DO NOTHING"},
    {"order_refund_hold_lock",
     "SELECT held_minor, asked_minor FROM order_refund_holds WHERE order_id = $1 FOR UPDATE"},
    {"order_return_refund_claim",
     "WITH r AS (INSERT INTO order_return_refunds (order_id, return_id, request_id, amount_minor) "
     "VALUES ($1, $2, $3, $4) ON CONFLICT (order_id, return_id) DO NOTHING RETURNING amount_minor) "
     "UPDATE order_refund_holds h SET asked_minor = h.asked_minor + r.amount_minor FROM r "
     "WHERE h.order_id = $1"},

    /* staff and assignment */
    {"candidates", "SELECT id, open_orders, capacity, coalesce(" MS_OF(
                       "last_assigned_at") ", 0), "
                                           "$1 = ANY (regions) FROM staff WHERE role = 'manager' "
                                           "AND active AND on_shift AND "
                                           "open_orders < capacity AND (regions = '{}' OR $1 = ANY "
                                           "(regions)) ORDER BY id LIMIT 1000"},
    {"manager_take_slot", "UPDATE staff SET open_orders = open_orders + 1, last_assigned_at = " TS(
                              "$2") " "
                                    "WHERE id = $1 AND role = 'manager' AND active AND on_shift "
                                    "AND open_orders < capacity "
                                    "RETURNING name, coalesce(email, ''), coalesce(phone, '')"},
    {"manager_free_slot",
     "UPDATE staff SET open_orders = greatest(open_orders - 1, 0) WHERE id = $1"},
    {"manager_serves", "SELECT regions = '{}' OR $2 = ANY (regions) FROM staff WHERE id = $1"},
    {"unassigned",
     "SELECT o.id FROM orders o JOIN statuses s ON s.code = o.status JOIN status_groups g "
     "ON g.code = s.group_code WHERE o.manager_id IS NULL AND NOT g.final "
     "ORDER BY o.placed_at, o.id LIMIT $1"},

    /* tasks and the calendar */
    {"task_insert", "INSERT INTO tasks (id, kind, order_id, assignee_id, title, due_at, dedup_key, "
                    "created_at) VALUES ($1, $2, $3, $4, $5, " TS("$6") ", $7, " TS(
                        "$8") ") "
                              "ON CONFLICT (dedup_key) DO NOTHING"},
    {"task_done", "UPDATE tasks SET status = 'done', done_at = " TS(
                      "$3") ", done_by = $2 WHERE id = $1 AND "
                            "status = 'open' AND ($4 OR assignee_id = $2::uuid)"},
    {"tasks_json",
     "SELECT json_build_object('items', coalesce(json_agg(t.row ORDER BY t.due_at, t.id), "
     "'[]'), 'last', (array_agg(t.cursor ORDER BY t.due_at DESC, t.id DESC))[1]) FROM ("
     "SELECT due_at, id, " MS_OF("due_at") "::text AS cursor, json_build_object('id', id, "
                                           "'kind', kind, 'order_id', order_id, 'order_number', "
                                           "(SELECT number FROM orders WHERE "
                                           "id = tasks.order_id), 'assignee_id', assignee_id, "
                                           "'title', title, 'status', status, "
                                           "'due_at', due_at, 'created_at', created_at, 'done_at', "
                                           "done_at) AS row FROM tasks "
                                           "WHERE ($1::uuid IS NULL OR assignee_id = $1) AND "
                                           "($2::text IS NULL OR status = $2) "
                                           "AND ($3::bigint IS NULL OR (due_at, id) > (" TS(
                                               "$3") ", $4::uuid)) "
                                                     "ORDER BY due_at, id LIMIT $5) t"},
    {"calendar", "SELECT (day - date '1970-01-01')::int, workday FROM calendar_days ORDER BY day"},

    /* staff administration and login */
    {"staff_by_login", "SELECT id, name, role, active, coalesce(password_hash, '') FROM staff "
                       "WHERE login = $1"},
    {"staff_by_id", "SELECT id, name, role, active, coalesce(password_hash, '') FROM staff "
                    "WHERE id = $1"},
    /* the no-op update locks the row and returns what it holds */
    {"login_throttle_take",
     "INSERT INTO login_throttle (client, tat) VALUES ($1, " TS(
         "$2") ") ON CONFLICT (client) "
               "DO UPDATE SET tat = login_throttle.tat RETURNING " MS_OF("tat")},
    {"login_throttle_set", "UPDATE login_throttle SET tat = " TS("$2") " WHERE client = $1"},
    {"login_guards",
     "SELECT client, failures, coalesce(" MS_OF("window_start") ", 0), coalesce(" MS_OF(
         "locked_until") ", 0) FROM login_failures WHERE login = $1 AND client IN ($2, '')"},
    {"login_guards_lock",
     "INSERT INTO login_failures (login, client, expires_at) VALUES ($1, $2, " TS(
         "$3") "), ($1, "
               "'', " TS(
                   "$3") ") ON CONFLICT (login, client) DO UPDATE SET login = login_failures.login "
                         "RETURNING client, failures, coalesce(" MS_OF(
                             "window_start") ", 0), coalesce(" MS_OF("locked_until") ", 0)"},
    {"login_guard_set",
     "UPDATE login_failures SET failures = $3, window_start = CASE WHEN $4::bigint = 0 THEN NULL "
     "ELSE " TS("$4") " END, locked_until = CASE WHEN $5::bigint = 0 THEN NULL ELSE " TS(
         "$5") " END, expires_at = " TS("$6") " WHERE login = $1 AND client = $2"},
    {"login_guard_clear", "DELETE FROM login_failures WHERE login = $1 AND client = $2"},
    /* a few rows that mean nothing any more, per attempt: the tables stay
     * as large as what is being counted */
    {"login_purge",
     "WITH t AS (DELETE FROM login_throttle WHERE client IN (SELECT client FROM login_throttle "
     "WHERE tat < " TS("$1") " LIMIT 8 FOR UPDATE SKIP LOCKED)), f AS (DELETE FROM "
                             "login_failures WHERE (login, client) IN (SELECT login, client FROM "
                             "login_failures WHERE "
                             "expires_at < " TS("$1") " LIMIT 8 FOR UPDATE SKIP LOCKED)) SELECT 1"},
    {"refresh_insert",
     "INSERT INTO refresh_tokens (token_sha256, staff_id, expires_at) VALUES ($1, $2, " TS(
         "$3") ")"},
    {"refresh_use", "UPDATE refresh_tokens SET used_at = " TS(
                        "$2") " WHERE token_sha256 = $1 AND used_at IS "
                              "NULL AND expires_at > " TS("$2") " RETURNING staff_id"},
    {"staff_insert",
     "INSERT INTO staff (id, login, name, email, phone, role, regions, capacity, password_hash, "
     "intake_sources) SELECT $1, $2, $3, $4, $5, $6, ARRAY(SELECT "
     "lower(jsonb_array_elements_text($7::jsonb))), $8, $9, ARRAY(SELECT "
     "jsonb_array_elements_text($10::jsonb)) ON CONFLICT (login) DO NOTHING"},
    {"staff_may_file",
     "SELECT EXISTS (SELECT 1 FROM staff WHERE id = $1 AND active AND $2 = ANY (intake_sources))"},
    {"staff_patch",
     "UPDATE staff SET name = coalesce($2::jsonb->>'name', name), email = CASE WHEN "
     "$2::jsonb ? 'email' THEN $2::jsonb->>'email' ELSE email END, phone = CASE WHEN "
     "$2::jsonb ? 'phone' THEN $2::jsonb->>'phone' ELSE phone END, active = "
     "coalesce(($2::jsonb->>'active')::boolean, active), capacity = "
     "coalesce(($2::jsonb->>'capacity')::int, capacity), regions = CASE WHEN $2::jsonb ? "
     "'regions' THEN ARRAY(SELECT lower(jsonb_array_elements_text($2::jsonb->'regions'))) ELSE "
     "regions END, intake_sources = CASE WHEN $2::jsonb ? 'intake_sources' THEN ARRAY(SELECT "
     "jsonb_array_elements_text($2::jsonb->'intake_sources')) ELSE intake_sources END "
     "WHERE id = $1"},
    {"staff_set_shift",
     "UPDATE staff SET on_shift = $2, shift_changed_at = " TS("$3") " WHERE id = $1"},
    {"staff_json",
     "SELECT json_build_object('id', id, 'login', login, 'name', name, 'email', email, "
     "'phone', phone, 'role', role, 'active', active, 'on_shift', on_shift, 'regions', "
     "to_json(regions), 'capacity', capacity, 'open_orders', open_orders, "
     "'last_assigned_at', last_assigned_at, 'intake_sources', to_json(intake_sources)) FROM "
     "staff WHERE id = $1"},
    {"staff_list_json",
     "SELECT coalesce(json_agg(json_build_object('id', id, 'login', login, 'name', name, "
     "'role', role, 'active', active, 'on_shift', on_shift, 'regions', to_json(regions), "
     "'capacity', capacity, 'open_orders', open_orders) ORDER BY role, name), '[]') FROM staff"},

    /* reading */
    {"orders_json",
     "SELECT json_build_object('items', coalesce(json_agg(r.row ORDER BY r.placed_at DESC, r.id "
     "DESC), '[]'), 'last', (array_agg(r.cursor ORDER BY r.placed_at, r.id))[1]) FROM ("
     "SELECT o.placed_at, o.id, " MS_OF(
         "o.placed_at") "::text AS cursor, json_build_object("
                        "'id', o.id, 'number', o.number, 'title', o.title, 'status', o.status, "
                        "'group', "
                        "s.group_code, 'manager_id', o.manager_id, 'channel', o.channel, 'source', "
                        "o.source, "
                        "'delivery_method', o.delivery_method, 'region', o.region, 'stock_state', "
                        "o.stock_state, "
                        "'total_minor', o.total_minor, 'currency', o.currency, 'placed_at', "
                        "o.placed_at, "
                        "'version', o.version) AS row FROM orders o JOIN statuses s ON s.code = "
                        "o.status "
                        "WHERE ($1::text IS NULL OR o.status = $1) AND ($2::text IS NULL OR "
                        "s.group_code = $2) "
                        "AND ($3::uuid IS NULL OR o.manager_id = $3) AND ($4::text IS NULL OR "
                        "o.delivery_method "
                        "= $4) AND ($5::text IS NULL OR o.channel = $5) AND ($6::text IS NULL OR "
                        "o.source = $6) "
                        "AND ($7::bigint IS NULL OR o.placed_at >= " TS(
                            "$7") ") AND ($8::bigint IS NULL OR "
                                  "o.placed_at < " TS(
                                      "$8") ") AND ($9::bigint IS NULL OR (o.placed_at, o.id) < "
                                            "(" TS("$9") ", $10::uuid)) ORDER BY o.placed_at DESC, "
                                                         "o.id DESC LIMIT $11) r"},
    {"order_json",
     "SELECT json_build_object('id', o.id, 'number', o.number, 'title', o.title, 'status', "
     "o.status, 'group', s.group_code, 'version', o.version, 'source', o.source, "
     "'external_id', o.external_id, 'channel', o.channel, 'region', o.region, 'delivery_method', "
     "o.delivery_method, 'delivery', o.delivery, 'discount_bp', o.discount_bp, 'currency', "
     "o.currency, 'comment', o.comment, 'attributes', o.attributes, 'stock_state', "
     "o.stock_state, 'payment_terms', o.payment_terms, 'payment', o.payment, 'shipment', "
     "o.shipment, 'cancel_reason', o.cancel_reason, "
     "'placed_at', o.placed_at, 'assigned_at', o.assigned_at, 'taken_up_at', o.taken_up_at, "
     "'totals', CASE WHEN o.total_minor IS NULL THEN NULL ELSE json_build_object("
     "'lines_minor', o.lines_minor, 'discount_minor', o.discount_minor, 'delivery_minor', "
     "o.delivery_minor, 'vat_minor', o.vat_minor, 'total_minor', o.total_minor, 'weight_g', "
     "o.weight_g) END, 'manager', (SELECT json_build_object('id', m.id, 'name', m.name, "
     "'email', m.email, 'phone', m.phone) FROM staff m WHERE m.id = o.manager_id), "
     "'customer', (SELECT json_build_object('id', c.id, 'name', c.name, 'phone', c.phone, "
     "'email', c.email, 'order_count', c.order_count, 'total_spent_minor', "
     "c.total_spent_minor, 'category', c.category) FROM customers c WHERE c.id = "
     "o.customer_id), 'lines', (SELECT coalesce(json_agg(json_build_object('line_no', "
     "l.line_no, 'sku', l.sku, 'name', l.name, 'quantity', l.quantity, 'sender_price_minor', "
     "l.sender_price_minor, 'unit_price_minor', l.unit_price_minor, 'vat_rate_bp', "
     "l.vat_rate_bp, 'unit_weight_g', l.unit_weight_g, 'amount_minor', l.amount_minor, "
     "'discount_minor', l.discount_minor, 'total_minor', l.total_minor, 'vat_minor', "
     "l.vat_minor) ORDER BY l.line_no), '[]') FROM order_lines l WHERE l.order_id = o.id), "
     "'history', (SELECT coalesce(json_agg(json_build_object('at', h.at, 'kind', h.kind, "
     "'from', h.from_status, 'to', h.to_status, 'actor_id', h.actor_id, 'actor_role', "
     "h.actor_role, 'reason', h.reason, 'detail', h.detail) ORDER BY h.id), '[]') FROM "
     "order_history h WHERE h.order_id = o.id), 'refunds', (SELECT coalesce(json_agg("
     "json_build_object('refund_id', r.refund_key, 'status', r.status, 'amount_minor', "
     "r.amount_minor, 'reason', r.reason, 'reason_code', r.reason_code, 'reason_text', "
     "r.reason_text, 'at', r.at) ORDER BY r.at, r.refund_key), '[]') FROM order_refunds r "
     "WHERE r.order_id = o.id)) FROM orders o JOIN statuses s ON s.code = "
     "o.status WHERE o.id = $1"},
    {"rejections_json",
     "SELECT json_build_object('items', coalesce(json_agg(r.row ORDER BY r.created_at DESC, "
     "r.id DESC), '[]'), 'last', (array_agg(r.cursor ORDER BY r.created_at, r.id))[1]) FROM ("
     "SELECT created_at, id, " MS_OF(
         "created_at") "::text AS cursor, json_build_object('id', "
                       "id, 'source', source, 'external_id', external_id, 'door', door, 'reasons', "
                       "reasons, "
                       "'submission', submission, 'repeats', repeats, 'created_at', created_at, "
                       "'last_seen_at', "
                       "last_seen_at) AS row FROM rejections WHERE ($1::text IS NULL OR source = "
                       "$1) AND "
                       "($2::bigint IS NULL OR (created_at, id) < (" TS(
                           "$2") ", $3::uuid)) "
                                 "ORDER BY created_at DESC, id DESC LIMIT $4) r"},
    {"statuses_json",
     "SELECT json_build_object('groups', (SELECT json_agg(json_build_object('code', code, "
     "'name', name, 'final', final) ORDER BY ordering) FROM status_groups), 'statuses', "
     "(SELECT json_agg(json_build_object('code', code, 'name', name, 'group', group_code, "
     "'active', active) ORDER BY ordering) FROM statuses))"},
    {"transitions_json",
     "SELECT coalesce(json_agg(json_build_object('from', from_status, 'to', to_status, "
     "'role', role) ORDER BY f.ordering, t.ordering, role), '[]') FROM transitions "
     "JOIN statuses f ON f.code = from_status JOIN statuses t ON t.code = to_status"},
    {"report_sales_json",
     "SELECT coalesce(json_agg(json_build_object('key', k, 'orders', n, 'completed', c, "
     "'total_minor', s, 'cancelled', x) ORDER BY s DESC NULLS LAST, k), '[]') FROM ("
     "SELECT CASE $1 WHEN 'region' THEN o.region WHEN 'manager' THEN coalesce(m.name, "
     "'(unassigned)') WHEN 'channel' THEN o.channel ELSE o.source END AS k, count(*) AS n, "
     "count(*) FILTER (WHERE s.group_code = 'complete') AS c, coalesce(sum(o.total_minor) "
     "FILTER (WHERE s.group_code <> 'cancel'), 0) AS s, count(*) FILTER (WHERE s.group_code = "
     "'cancel') AS x FROM orders o JOIN statuses s ON s.code = o.status LEFT JOIN staff m ON "
     "m.id = o.manager_id WHERE o.placed_at >= " TS("$2") " AND o.placed_at < " TS(
         "$3") " "
               "GROUP BY 1) g"},
    {"report_people_json",
     "SELECT coalesce(json_agg(json_build_object('actor_id', actor_id, 'name', coalesce((SELECT "
     "name FROM staff WHERE id::text = actor_id), actor_id), 'cancellations', c, "
     "'reschedules', r, 'deliveries', d) ORDER BY actor_id), '[]') FROM (SELECT actor_id, "
     "count(*) FILTER (WHERE to_status = 'cancelled') AS c, count(*) FILTER (WHERE to_status = "
     "'rescheduled') AS r, count(*) FILTER (WHERE to_status = 'delivered') AS d FROM "
     "order_history WHERE kind = 'status' AND at >= " TS("$1") " AND at < " TS(
         "$2") " AND "
               "to_status IN ('cancelled', 'rescheduled', 'delivered') GROUP BY actor_id) p"},
};

static int claims_setup(db_t *db);

int store_setup(db_t *db, void *arg)
{
    (void)arg;
    for (size_t i = 0; i < sizeof statements / sizeof statements[0]; i++)
        if (db_prepare(db, statements[i].name, statements[i].sql) != 0)
            return -1;
    if (claims_setup(db) != 0)
        return -1;
    return bulk_of(db, &history_spec) && bulk_of(db, &lines_spec) && bulk_of(db, &tasks_spec) ? 0
                                                                                              : -1;
}

/* ------------------------------------------------------------------ */
/* helpers                                                              */

/* The role names of role bits, as a text[] literal for "= ANY($n::text[])". */
static void roles_array(unsigned roles, char *out, size_t size)
{
    static const unsigned bits[] = {ROLE_ADMIN, ROLE_MANAGER, ROLE_WAREHOUSE, ROLE_COURIER,
                                    ROLE_SYSTEM};
    size_t used = 0;
    out[used++] = '{';
    for (size_t i = 0; i < sizeof bits / sizeof bits[0]; i++) {
        if (!(roles & bits[i]))
            continue;
        int n =
            snprintf(out + used, size - used, "%s%s", used > 1 ? "," : "", auth_role_name(bits[i]));
        if (n < 0 || (size_t)n >= size - used)
            break;
        used += (size_t)n;
    }
    snprintf(out + used, size - used, "}");
}

/* Appends count arrays to params in their binary form (their bytes stay
 * the arrays': release them after the statement ran). 0, or -1 on out of
 * memory. */
static int params_add_arrays(db_params_t *params, pg_array_t *columns, int count)
{
    for (int c = 0; c < count; c++) {
        const uint8_t *wire = NULL;
        size_t len = 0;
        if (pg_array_wire(&columns[c], &wire, &len) != 0)
            return -1;
        db_param_bytes(params, wire, len);
    }
    return 0;
}

static void param_text_or_null(db_params_t *params, const char *text)
{
    db_param_text(params, text && text[0] ? text : NULL);
}

/* ------------------------------------------------------------------ */
/* intake                                                               */

db_status_t store_intake_claim_customer(db_t *db, const intake_claim_t *claim, bool *claimed,
                                        uint64_t *number_out, customer_t *customer_out)
{
    *claimed = false;
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, claim->source);
    db_param_text(&params, claim->external_id);
    db_param_text(&params, claim->body_sha256);
    db_param_text(&params, claim->order_id);
    db_param_text(&params, intake_door_name(claim->door));
    db_param_text(&params, claim->phone_e164 ? claim->phone_e164 : "");
    db_param_text(&params, claim->email_lower ? claim->email_lower : "");
    db_param_text(&params, claim->customer_id);
    db_param_text(&params, claim->customer_name);
    PGresult *res = NULL;
    db_status_t status = db_run(db, "intake_claim_customer", &params, &res);
    if (status != DB_OK)
        return status;
    *claimed = PQntuples(res) == 1;
    bool customer_found = *claimed && !PQgetisnull(res, 0, 1);
    if (*claimed)
        *number_out = (uint64_t)db_get_i64_or(res, 0, 0, 0);
    if (customer_found) {
        db_copy_value(res, 0, 1, customer_out->id, sizeof customer_out->id);
        db_copy_value(res, 0, 2, customer_out->manager_id, sizeof customer_out->manager_id);
        db_copy_value(res, 0, 3, customer_out->category, sizeof customer_out->category);
    }
    PQclear(res);
    /* a concurrent first order of the same customer made the insert a
     * no-op: found as store_customer_for_order finds it */
    if (*claimed && !customer_found)
        status = store_customer_for_order(db, claim->customer_id, claim->customer_name,
                                          claim->phone_e164, claim->email_lower, customer_out);
    return status;
}

db_status_t store_intake_claim_batch(db_t *db, intake_claim_row_t *rows, size_t count)
{
    static const uint32_t oids[9] = {PG_OID_TEXT, PG_OID_TEXT, PG_OID_TEXT,
                                     PG_OID_UUID, PG_OID_TEXT, PG_OID_TEXT,
                                     PG_OID_TEXT, PG_OID_UUID, PG_OID_TEXT};
    pg_array_t columns[9];
    for (int c = 0; c < 9; c++)
        pg_array_init(&columns[c], oids[c]);
    db_status_t status = DB_OK;
    for (size_t i = 0; i < count && status == DB_OK; i++) {
        const intake_claim_t *claim = &rows[i].claim;
        rows[i].claimed = rows[i].customer_found = false;
        if (pg_array_add_text(&columns[0], claim->source) != 0 ||
            pg_array_add_text(&columns[1], claim->external_id) != 0 ||
            pg_array_add_text(&columns[2], claim->body_sha256) != 0 ||
            pg_array_add_uuid(&columns[3], claim->order_id) != 0 ||
            pg_array_add_text(&columns[4], intake_door_name(claim->door)) != 0 ||
            pg_array_add_text(&columns[5], claim->phone_e164 ? claim->phone_e164 : "") != 0 ||
            pg_array_add_text(&columns[6], claim->email_lower ? claim->email_lower : "") != 0 ||
            pg_array_add_uuid(&columns[7], claim->customer_id) != 0 ||
            pg_array_add_text(&columns[8], claim->customer_name) != 0)
            status = db_fail(db, DB_STATE_OUT_OF_MEMORY, "could not build a batch of claims");
    }
    db_params_t params;
    db_params_init(&params);
    if (status == DB_OK && params_add_arrays(&params, columns, 9) != 0)
        status = db_fail(db, DB_STATE_OUT_OF_MEMORY, "could not build a batch of claims");
    PGresult *res = NULL;
    if (status == DB_OK)
        status = count <= CLAIM_BATCH_PREPARED_MAX
                     ? db_run(db, "intake_claim_batch", &params, &res)
                     : db_run_sql(db, intake_claim_batch_sql, &params, &res);
    for (int r = 0; status == DB_OK && r < PQntuples(res); r++) {
        int64_t n = db_get_i64_or(res, r, 0, 0);
        if (n < 1 || (size_t)n > count)
            continue;
        intake_claim_row_t *row = &rows[n - 1];
        row->claimed = true;
        row->number = (uint64_t)db_get_i64_or(res, r, 1, 0);
        row->customer_found = !PQgetisnull(res, r, 2);
        if (row->customer_found) {
            db_copy_value(res, r, 2, row->customer.id, sizeof row->customer.id);
            db_copy_value(res, r, 3, row->customer.manager_id, sizeof row->customer.manager_id);
            db_copy_value(res, r, 4, row->customer.category, sizeof row->customer.category);
        }
    }
    PQclear(res);
    for (int c = 0; c < 9; c++)
        pg_array_release(&columns[c]);
    /* a concurrent first order of the same customer made the insert a
     * no-op: found as store_customer_for_order finds it */
    for (size_t i = 0; i < count && status == DB_OK; i++) {
        intake_claim_row_t *row = &rows[i];
        if (row->claimed && !row->customer_found) {
            status = store_customer_for_order(db, row->claim.customer_id, row->claim.customer_name,
                                              row->claim.phone_e164, row->claim.email_lower,
                                              &row->customer);
            row->customer_found = status == DB_OK;
        }
    }
    return status;
}

db_status_t store_intake_find(db_t *db, const char *source, const char *external_id, bool *found,
                              intake_key_t *key_out)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, source);
    db_param_text(&params, external_id);
    PGresult *res = NULL;
    db_status_t status = db_run(db, "intake_find", &params, &res);
    if (status != DB_OK)
        return status;
    *found = PQntuples(res) == 1;
    if (*found) {
        db_copy_value(res, 0, 0, key_out->order_id, sizeof key_out->order_id);
        key_out->number = (uint64_t)db_get_i64_or(res, 0, 1, 0);
        db_copy_value(res, 0, 2, key_out->body_sha256, sizeof key_out->body_sha256);
        db_copy_value(res, 0, 3, key_out->title, sizeof key_out->title);
    }
    PQclear(res);
    return DB_OK;
}

db_status_t store_rejection_record(db_t *db, const char *new_id, const submission_t *sub,
                                   const char *body_sha256, intake_door_t door,
                                   const char *reasons_json, const char *submission_json,
                                   char rejection_id_out[37])
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, new_id);
    db_param_text(&params, sub->source ? sub->source : "");
    db_param_text(&params, sub->external_id ? sub->external_id : "");
    db_param_text(&params, body_sha256);
    db_param_text(&params, intake_door_name(door));
    db_param_text(&params, reasons_json);
    db_param_text(&params, submission_json);
    PGresult *res = NULL;
    db_status_t status = db_run(db, "rejection_record", &params, &res);
    if (status != DB_OK)
        return status;
    db_copy_value(res, 0, 0, rejection_id_out, 37);
    PQclear(res);
    return DB_OK;
}

static db_status_t source_row(db_t *db, const char *stmt, const char *key, bool *found,
                              intake_source_t *source_out)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, key);
    PGresult *res = NULL;
    db_status_t status = db_run(db, stmt, &params, &res);
    if (status != DB_OK)
        return status;
    *found = PQntuples(res) == 1;
    if (*found) {
        db_copy_value(res, 0, 0, source_out->source, sizeof source_out->source);
        db_copy_value(res, 0, 1, source_out->default_channel, sizeof source_out->default_channel);
        source_out->trust.may_set_prices = db_get_bool(res, 0, 2);
        source_out->trust.max_discount_bp = db_get_i64_or(res, 0, 3, 0);
    }
    PQclear(res);
    return DB_OK;
}

db_status_t store_source_by_key(db_t *db, const char *api_key_sha256, bool *found,
                                intake_source_t *source_out)
{
    return source_row(db, "source_by_key", api_key_sha256, found, source_out);
}

/* The sources read by name in the open transaction: an applier reads
 * the same publisher's row for every order of a batch, and once is
 * enough (sources are not changed by the transactions that read them
 * here). Forgotten when the transaction ends or rolls back to a
 * savepoint. */
#define CACHED_SOURCES_MAX 8

typedef struct {
    DB_MEMO_HEAD;
    struct {
        char name[130];
        bool found;
        intake_source_t row;
    } items[CACHED_SOURCES_MAX];
    size_t count;
} source_cache_t;

static const int source_cache_marker = 0;

static void source_cache_clear(db_deferred_t *self)
{
    ((source_cache_t *)self)->count = 0;
}

static source_cache_t *source_cache_of(db_t *db)
{
    return (source_cache_t *)db_memo_of(db, &source_cache_marker, sizeof(source_cache_t),
                                        source_cache_clear);
}

db_status_t store_source_by_name(db_t *db, const char *source, bool *found,
                                 intake_source_t *source_out)
{
    source_cache_t *cache = db_in_tx(db) ? source_cache_of(db) : NULL;
    for (size_t i = 0; cache && i < cache->count; i++) {
        if (strcmp(cache->items[i].name, source) == 0) {
            *found = cache->items[i].found;
            if (*found)
                *source_out = cache->items[i].row;
            return DB_OK;
        }
    }
    db_status_t status = source_row(db, "source_by_name", source, found, source_out);
    if (status == DB_OK && cache && cache->count < CACHED_SOURCES_MAX &&
        strlen(source) < sizeof cache->items[0].name) {
        size_t i = cache->count++;
        snprintf(cache->items[i].name, sizeof cache->items[i].name, "%s", source);
        cache->items[i].found = *found;
        if (*found)
            cache->items[i].row = *source_out;
    }
    return status;
}

db_status_t store_source_upsert(db_t *db, const char *source, const char *api_key_sha256,
                                const char *default_channel, const intake_trust_t *trust)
{
    source_cache_t *cache = (source_cache_t *)db_deferred_find(db, &source_cache_marker);
    if (cache)
        source_cache_clear(&cache->base);
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, source);
    db_param_text(&params, api_key_sha256);
    db_param_text(&params, default_channel);
    db_param_bool(&params, trust->may_set_prices);
    db_param_i64(&params, trust->max_discount_bp);
    return db_run(db, "source_upsert", &params, NULL);
}

/* ------------------------------------------------------------------ */
/* customers and orders                                                 */

db_status_t store_customer_for_order(db_t *db, const char *new_id, const char *name,
                                     const char *phone_e164, const char *email_lower,
                                     customer_t *customer_out)
{
    /* a concurrent first order of the same customer makes the insert a
     * no-op: the second round finds the row the other one committed */
    for (int round = 0; round < 3; round++) {
        db_params_t params;
        db_params_init(&params);
        db_param_text(&params, phone_e164 ? phone_e164 : "");
        db_param_text(&params, email_lower ? email_lower : "");
        db_param_text(&params, new_id);
        db_param_text(&params, name);
        PGresult *res = NULL;
        db_status_t status = db_run(db, "customer_for_order", &params, &res);
        if (status != DB_OK)
            return status;
        bool got = PQntuples(res) >= 1;
        if (got) {
            db_copy_value(res, 0, 0, customer_out->id, sizeof customer_out->id);
            db_copy_value(res, 0, 1, customer_out->manager_id, sizeof customer_out->manager_id);
            db_copy_value(res, 0, 2, customer_out->category, sizeof customer_out->category);
        }
        PQclear(res);
        if (got)
            return DB_OK;
    }
    return DB_TRANSIENT;
}

db_status_t store_customer_contact(db_t *db, const char *customer_id, customer_contact_t *out)
{
    memset(out, 0, sizeof *out);
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, customer_id);
    PGresult *res = NULL;
    db_status_t status = db_run(db, "customer_contact", &params, &res);
    if (status != DB_OK)
        return status;
    if (PQntuples(res) == 1) {
        db_copy_value(res, 0, 0, out->name, sizeof out->name);
        db_copy_value(res, 0, 1, out->phone, sizeof out->phone);
        db_copy_value(res, 0, 2, out->email, sizeof out->email);
    }
    PQclear(res);
    return DB_OK;
}

db_status_t store_order_delivery(db_t *db, const char *order_id, char **json_out)
{
    *json_out = NULL;
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, order_id);
    PGresult *res = NULL;
    db_status_t status = db_run(db, "order_delivery", &params, &res);
    if (status != DB_OK)
        return status;
    if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0)) {
        *json_out = strdup(PQgetvalue(res, 0, 0));
        if (!*json_out)
            status =
                db_fail(db, DB_STATE_OUT_OF_MEMORY, "could not copy order %s's delivery", order_id);
    }
    PQclear(res);
    return status;
}

db_status_t store_customer_spent(db_t *db, const char *customer_id, int64_t amount_minor,
                                 int64_t vip_threshold_minor)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, customer_id);
    db_param_i64(&params, amount_minor);
    db_param_i64(&params, vip_threshold_minor);
    return db_run(db, "customer_spent", &params, NULL);
}

/* The submission's lines, inserted with the transaction's other bulk rows. */
static db_status_t order_lines_add(db_t *db, const char *order_id, const submission_t *sub)
{
    db_status_t status = DB_OK;
    bulk_t *lines = bulk_of(db, &lines_spec);
    if (!lines)
        return DB_ERROR;
    for (size_t i = 0; i < sub->item_count; i++) {
        const intake_item_t *item = &sub->items[i];
        if (pg_array_add_uuid(bulk_column(lines, 0), order_id) != 0 ||
            pg_array_add_i32(bulk_column(lines, 1), (int32_t)(i + 1)) != 0 ||
            pg_array_add_text(bulk_column(lines, 2), item->sku) != 0 ||
            pg_array_add_text(bulk_column(lines, 3), item->name ? item->name : "") != 0 ||
            pg_array_add_i32(bulk_column(lines, 4), (int32_t)item->quantity) != 0 ||
            (item->has_price ? pg_array_add_i64(bulk_column(lines, 5), item->price_minor)
                             : pg_array_add(bulk_column(lines, 5), NULL, 0)) != 0) {
            bulk_row_abandon(lines);
            return DB_ERROR;
        }
        status = bulk_row_done(db, lines);
        if (status != DB_OK)
            return status;
    }
    return status;
}

db_status_t store_order_insert(db_t *db, const order_insert_t *order, bool *taken,
                               manager_contact_t *contact_out)
{
    *taken = false;
    const submission_t *sub = order->sub;
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, order->order_id);
    db_param_u64(&params, order->number);
    db_param_text(&params, order->title);
    db_param_text(&params, sub->source);
    db_param_text(&params, sub->external_id);
    db_param_text(&params, sub->channel);
    db_param_text(&params, order->customer_id);
    param_text_or_null(&params, order->manager_id);
    db_param_i64(&params, order->now_ms);
    db_param_text(&params, sub->region_key ? sub->region_key : "");
    db_param_text(&params, intake_method_name(sub->method));
    db_param_text(&params, order->delivery_json);
    db_param_i64(&params, sub->discount_bp);
    db_param_text(&params, sub->currency ? sub->currency : "RUB");
    db_param_text(&params, sub->comment ? sub->comment : "");
    db_param_text(&params, order->attributes_json);
    db_param_bool(&params, order->sender_prices);
    PGresult *res = NULL;
    db_status_t status = db_run(db, "order_insert", &params, &res);
    if (status != DB_OK)
        return status;
    *taken = PQntuples(res) == 1;
    if (*taken) {
        snprintf(contact_out->id, sizeof contact_out->id, "%s", order->manager_id);
        db_copy_value(res, 0, 0, contact_out->name, sizeof contact_out->name);
        db_copy_value(res, 0, 1, contact_out->email, sizeof contact_out->email);
        db_copy_value(res, 0, 2, contact_out->phone, sizeof contact_out->phone);
    }
    PQclear(res);
    return order_lines_add(db, order->order_id, sub);
}

db_status_t store_order_insert_batch(db_t *db, order_insert_row_t *rows, size_t count)
{
    static const uint32_t oids[17] = {
        PG_OID_UUID, PG_OID_INT8, PG_OID_TEXT, PG_OID_TEXT, PG_OID_TEXT, PG_OID_TEXT,
        PG_OID_UUID, PG_OID_UUID, PG_OID_INT8, PG_OID_TEXT, PG_OID_TEXT, PG_OID_TEXT,
        PG_OID_INT4, PG_OID_TEXT, PG_OID_TEXT, PG_OID_TEXT, PG_OID_BOOL};
    pg_array_t columns[17];
    for (int c = 0; c < 17; c++)
        pg_array_init(&columns[c], oids[c]);
    db_status_t status = DB_OK;
    PGresult *res = NULL;
    for (size_t i = 0; i < count && status == DB_OK; i++) {
        const order_insert_t *order = &rows[i].order;
        const submission_t *sub = order->sub;
        rows[i].taken = false;
        if (pg_array_add_uuid(&columns[0], order->order_id) != 0 ||
            pg_array_add_i64(&columns[1], (int64_t)order->number) != 0 ||
            pg_array_add_text(&columns[2], order->title) != 0 ||
            pg_array_add_text(&columns[3], sub->source) != 0 ||
            pg_array_add_text(&columns[4], sub->external_id) != 0 ||
            pg_array_add_text(&columns[5], sub->channel) != 0 ||
            pg_array_add_uuid(&columns[6], order->customer_id) != 0 ||
            pg_array_add_uuid(&columns[7], order->manager_id && order->manager_id[0]
                                               ? order->manager_id
                                               : NULL) != 0 ||
            pg_array_add_i64(&columns[8], order->now_ms) != 0 ||
            pg_array_add_text(&columns[9], sub->region_key ? sub->region_key : "") != 0 ||
            pg_array_add_text(&columns[10], intake_method_name(sub->method)) != 0 ||
            pg_array_add_text(&columns[11], order->delivery_json) != 0 ||
            pg_array_add_i32(&columns[12], (int32_t)sub->discount_bp) != 0 ||
            pg_array_add_text(&columns[13], sub->currency ? sub->currency : "RUB") != 0 ||
            pg_array_add_text(&columns[14], sub->comment ? sub->comment : "") != 0 ||
            pg_array_add_text(&columns[15], order->attributes_json) != 0 ||
            pg_array_add_bool(&columns[16], order->sender_prices) != 0)
            status = db_fail(db, DB_STATE_OUT_OF_MEMORY, "could not build a batch of orders");
    }
    db_params_t params;
    db_params_init(&params);
    if (status == DB_OK && params_add_arrays(&params, columns, 17) != 0)
        status = db_fail(db, DB_STATE_OUT_OF_MEMORY, "could not build a batch of orders");
    if (status == DB_OK)
        status = db_run(db, "order_insert_batch", &params, &res);
    /* a row per manager whose slots were taken: their orders are theirs */
    for (int r = 0; status == DB_OK && r < PQntuples(res); r++) {
        manager_contact_t contact = {.id = ""};
        db_copy_value(res, r, 0, contact.id, sizeof contact.id);
        db_copy_value(res, r, 1, contact.name, sizeof contact.name);
        db_copy_value(res, r, 2, contact.email, sizeof contact.email);
        db_copy_value(res, r, 3, contact.phone, sizeof contact.phone);
        for (size_t i = 0; i < count; i++) {
            const char *manager_id = rows[i].order.manager_id;
            if (manager_id && strcmp(manager_id, contact.id) == 0) {
                rows[i].taken = true;
                rows[i].contact = contact;
            }
        }
    }
    PQclear(res);
    for (int c = 0; c < 17; c++)
        pg_array_release(&columns[c]);
    for (size_t i = 0; i < count && status == DB_OK; i++)
        status = order_lines_add(db, rows[i].order.order_id, rows[i].order.sub);
    return status;
}

db_status_t store_order_first_manager(db_t *db, const char *order_id, const char *manager_id,
                                      const char *customer_id, int64_t now_ms)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, order_id);
    db_param_text(&params, manager_id);
    db_param_text(&params, customer_id);
    db_param_i64(&params, now_ms);
    return db_run(db, "order_first_manager", &params, NULL);
}

/* The order of row r of res, its columns (ORDER_LOCK_COLUMNS) from c on. */
static void order_at_row(const PGresult *res, int r, int c, order_t *order)
{
    memset(order, 0, sizeof *order);
    db_copy_value(res, r, c, order->id, sizeof order->id);
    order->number = (uint64_t)db_get_i64_or(res, r, c + 1, 0);
    db_copy_value(res, r, c + 2, order->title, sizeof order->title);
    db_copy_value(res, r, c + 3, order->status, sizeof order->status);
    db_copy_value(res, r, c + 4, order->group, sizeof order->group);
    order->version = (uint64_t)db_get_i64_or(res, r, c + 5, 0);
    db_copy_value(res, r, c + 6, order->manager_id, sizeof order->manager_id);
    db_copy_value(res, r, c + 7, order->customer_id, sizeof order->customer_id);
    db_copy_value(res, r, c + 8, order->channel, sizeof order->channel);
    db_copy_value(res, r, c + 9, order->source, sizeof order->source);
    db_copy_value(res, r, c + 10, order->region, sizeof order->region);
    db_copy_value(res, r, c + 11, order->method, sizeof order->method);
    db_copy_value(res, r, c + 12, order->stock_state, sizeof order->stock_state);
    db_copy_value(res, r, c + 13, order->currency, sizeof order->currency);
    order->discount_bp = (uint32_t)db_get_i64_or(res, r, c + 14, 0);
    order->taken_up = db_get_bool(res, r, c + 15);
    order->has_totals = db_get_bool(res, r, c + 16);
    order->lines_minor = db_get_i64_or(res, r, c + 17, 0);
    order->discount_minor = db_get_i64_or(res, r, c + 18, 0);
    order->delivery_minor = db_get_i64_or(res, r, c + 19, 0);
    order->vat_minor = db_get_i64_or(res, r, c + 20, 0);
    order->total_minor = db_get_i64_or(res, r, c + 21, 0);
    order->weight_g = db_get_i64_or(res, r, c + 22, 0);
    order->delivery_override_minor = db_get_i64_or(res, r, c + 23, 0);
    db_copy_value(res, r, c + 24, order->payment_terms, sizeof order->payment_terms);
    order->placed_at_ms = db_get_i64_or(res, r, c + 25, 0);
    order->sender_prices = db_get_bool(res, r, c + 26);
    order->lines_version = (uint64_t)db_get_i64_or(res, r, c + 27, 1);
}

/* The order of row 0 of res, its columns (ORDER_LOCK_COLUMNS) from c on. */
static void order_from_row(const PGresult *res, int c, order_t *order)
{
    order_at_row(res, 0, c, order);
}

db_status_t store_order_lock(db_t *db, const char *order_id, bool *found, order_t *order)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, order_id);
    PGresult *res = NULL;
    db_status_t status = db_run(db, "order_lock", &params, &res);
    if (status != DB_OK)
        return status;
    *found = PQntuples(res) == 1;
    if (*found)
        order_from_row(res, 0, order);
    PQclear(res);
    return DB_OK;
}

db_status_t store_status_group(db_t *db, const char *status_code, char group_out[16])
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, status_code);
    PGresult *res = NULL;
    db_status_t status = db_run(db, "status_group", &params, &res);
    if (status != DB_OK)
        return status;
    db_copy_value(res, 0, 0, group_out, 16);
    PQclear(res);
    return DB_OK;
}

db_status_t store_transition_allowed(db_t *db, const char *from, const char *to, unsigned roles,
                                     bool *allowed)
{
    char role_list[96];
    roles_array(roles, role_list, sizeof role_list);
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, from);
    db_param_text(&params, to);
    db_param_text(&params, role_list);
    PGresult *res = NULL;
    db_status_t status = db_run(db, "transition_allowed", &params, &res);
    if (status != DB_OK)
        return status;
    *allowed = db_get_bool(res, 0, 0);
    PQclear(res);
    return DB_OK;
}

db_status_t store_transitions_from(db_t *db, const char *from, unsigned roles, json_t **moves_out)
{
    char role_list[96];
    roles_array(roles, role_list, sizeof role_list);
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, from);
    db_param_text(&params, role_list);
    return db_run_json(db, "transitions_from", &params, moves_out);
}

static db_status_t run_returning_version(db_t *db, const char *stmt, const db_params_t *params,
                                         uint64_t *version_out)
{
    PGresult *res = NULL;
    db_status_t status = db_run(db, stmt, params, &res);
    if (status != DB_OK)
        return status;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return DB_ERROR;
    }
    if (version_out)
        *version_out = (uint64_t)db_get_i64_or(res, 0, 0, 0);
    PQclear(res);
    return DB_OK;
}

db_status_t store_order_set_status(db_t *db, const char *order_id, const char *status_code,
                                   const char *cancel_reason, int64_t now_ms, uint64_t *version_out)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, order_id);
    db_param_text(&params, status_code);
    db_param_text(&params, cancel_reason);
    db_param_i64(&params, now_ms);
    return run_returning_version(db, "order_set_status", &params, version_out);
}

db_status_t store_order_taken_up(db_t *db, const char *order_id, int64_t now_ms)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, order_id);
    db_param_i64(&params, now_ms);
    return db_run(db, "order_taken_up", &params, NULL);
}

db_status_t store_order_set_manager(db_t *db, const char *order_id, const char *manager_id,
                                    int64_t now_ms, uint64_t *version_out)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, order_id);
    param_text_or_null(&params, manager_id);
    db_param_i64(&params, now_ms);
    return run_returning_version(db, "order_set_manager", &params, version_out);
}

db_status_t store_history_add(db_t *db, const char *order_id, int64_t at_ms, const char *kind,
                              const char *from_status, const char *to_status, const char *actor_id,
                              const char *actor_role, const char *reason, const char *detail_json)
{
    bulk_t *rows = bulk_of(db, &history_spec);
    if (!rows)
        return DB_ERROR;
    if (pg_array_add_uuid(bulk_column(rows, 0), order_id) != 0 ||
        pg_array_add_i64(bulk_column(rows, 1), at_ms) != 0 ||
        pg_array_add_text(bulk_column(rows, 2), kind) != 0 ||
        pg_array_add_text(bulk_column(rows, 3),
                          from_status && from_status[0] ? from_status : NULL) != 0 ||
        pg_array_add_text(bulk_column(rows, 4), to_status && to_status[0] ? to_status : NULL) !=
            0 ||
        pg_array_add_text(bulk_column(rows, 5), actor_id) != 0 ||
        pg_array_add_text(bulk_column(rows, 6), actor_role) != 0 ||
        pg_array_add_text(bulk_column(rows, 7), reason ? reason : "") != 0 ||
        pg_array_add_text(bulk_column(rows, 8), detail_json ? detail_json : "{}") != 0) {
        bulk_row_abandon(rows);
        return DB_ERROR;
    }
    return bulk_row_done(db, rows);
}

/* ------------------------------------------------------------------ */
/* stock and totals                                                     */

/* The lines of lines_get's columns, from row `first` of res on; NULL on
 * out of memory. */
/* The lines of rows first.. of res, their columns from c on. */
/* The lines of rows [first, end) of res, their columns from c on. */
static order_line_t *lines_between(const PGresult *res, int first, int end, int c,
                                   size_t *count_out)
{
    int rows = end - first;
    order_line_t *lines = calloc(rows > 0 ? (size_t)rows : 1, sizeof *lines);
    if (!lines)
        return NULL;
    for (int i = 0; i < rows; i++) {
        order_line_t *line = &lines[i];
        line->line_no = (uint32_t)db_get_i64_or(res, first + i, c, 0);
        db_copy_value(res, first + i, c + 1, line->sku, sizeof line->sku);
        db_copy_value(res, first + i, c + 2, line->name, sizeof line->name);
        line->quantity = db_get_i64_or(res, first + i, c + 3, 0);
        line->sender_price_minor = db_get_i64_or(res, first + i, c + 4, 0);
        line->unit_price_minor = db_get_i64_or(res, first + i, c + 5, 0);
        line->vat_rate_bp = (uint32_t)db_get_i64_or(res, first + i, c + 6, 0);
        line->unit_weight_g = (uint32_t)db_get_i64_or(res, first + i, c + 7, 0);
    }
    *count_out = rows > 0 ? (size_t)rows : 0;
    return lines;
}

static order_line_t *lines_of_at(const PGresult *res, int first, int c, size_t *count_out)
{
    return lines_between(res, first, PQntuples(res), c, count_out);
}

static order_line_t *lines_of(const PGresult *res, int first, size_t *count_out)
{
    return lines_of_at(res, first, 0, count_out);
}

db_status_t store_lines_get(db_t *db, const char *order_id, order_line_t **lines_out,
                            size_t *count_out)
{
    *lines_out = NULL;
    *count_out = 0;
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, order_id);
    PGresult *res = NULL;
    db_status_t status = db_run(db, "lines_get", &params, &res);
    if (status != DB_OK)
        return status;
    *lines_out = lines_of(res, 0, count_out);
    PQclear(res);
    return *lines_out ? DB_OK : DB_ERROR;
}

/* The lines, delivery and contact of rows [r0, end) of res
 * (LINES_REACH_COLUMNS from c on), as store_lines_reach returns them. */
static db_status_t reach_between(db_t *db, const PGresult *res, int r0, int end, int c,
                                 const char *order_id, order_line_t **lines_out, size_t *count_out,
                                 char **delivery_json_out, customer_contact_t *contact_out)
{
    db_status_t status = DB_OK;
    if (end > r0) {
        db_copy_value(res, r0, c + 9, contact_out->name, sizeof contact_out->name);
        db_copy_value(res, r0, c + 10, contact_out->phone, sizeof contact_out->phone);
        db_copy_value(res, r0, c + 11, contact_out->email, sizeof contact_out->email);
        if (!PQgetisnull(res, r0, c + 8) &&
            !(*delivery_json_out = strdup(PQgetvalue(res, r0, c + 8))))
            status =
                db_fail(db, DB_STATE_OUT_OF_MEMORY, "could not copy order %s's delivery", order_id);
    }
    /* an order without lines is one row of NULL lines */
    int first = end - r0 == 1 && PQgetisnull(res, r0, c) ? r0 + 1 : r0;
    if (status == DB_OK && !(*lines_out = lines_between(res, first, end, c, count_out)))
        status = db_fail(db, DB_STATE_OUT_OF_MEMORY, "no room for order %s's lines", order_id);
    if (status != DB_OK) {
        free(*delivery_json_out);
        *delivery_json_out = NULL;
    }
    return status;
}

static db_status_t reach_from_result(db_t *db, const PGresult *res, int c, const char *order_id,
                                     order_line_t **lines_out, size_t *count_out,
                                     char **delivery_json_out, customer_contact_t *contact_out)
{
    return reach_between(db, res, 0, PQntuples(res), c, order_id, lines_out, count_out,
                         delivery_json_out, contact_out);
}

db_status_t store_lines_reach(db_t *db, const char *order_id, order_line_t **lines_out,
                              size_t *count_out, char **delivery_json_out,
                              customer_contact_t *contact_out)
{
    *lines_out = NULL;
    *count_out = 0;
    *delivery_json_out = NULL;
    memset(contact_out, 0, sizeof *contact_out);
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, order_id);
    PGresult *res = NULL;
    db_status_t status = db_run(db, "lines_reach", &params, &res);
    if (status != DB_OK)
        return status;
    status = reach_from_result(db, res, 0, order_id, lines_out, count_out, delivery_json_out,
                               contact_out);
    PQclear(res);
    return status;
}

/* Whether rows [first, end) of a lock_reach result hold what was committed
 * when the order was locked (LOCK_FRESH_COLUMN). */
static bool lock_rows_fresh(const PGresult *res, int first, int end)
{
    for (int r = first; r < end; r++)
        if (strcmp(PQgetvalue(res, r, LOCK_FRESH_COL), "t") != 0)
            return false;
    return true;
}

/* Orders locked and read ahead (store_orders_lock_reach_ahead), each handed
 * once to store_order_lock_reach in the same transaction; forgotten when
 * the transaction ends or rolls back to a savepoint. */
typedef struct {
    char id[37];
    int first, end; /* its rows of res */
    bool handed;    /* given out, or changed while the run waited for it (read again alone) */
} ahead_order_t;

typedef struct {
    DB_MEMO_HEAD;
    PGresult *res;
    ahead_order_t *orders;
    size_t count;
} lock_ahead_t;

static const int lock_ahead_marker = 0;

static void ahead_clear(db_deferred_t *self)
{
    lock_ahead_t *ahead = (lock_ahead_t *)self;
    PQclear(ahead->res);
    ahead->res = NULL;
    free(ahead->orders);
    ahead->orders = NULL;
    ahead->count = 0;
}

static lock_ahead_t *lock_ahead_of(db_t *db, bool create)
{
    return (lock_ahead_t *)db_memo_of(db, &lock_ahead_marker, create ? sizeof(lock_ahead_t) : 0,
                                      ahead_clear);
}

db_status_t store_orders_lock_reach_ahead(db_t *db, const char *const *order_ids, size_t count)
{
    lock_ahead_t *ahead = lock_ahead_of(db, true);
    if (!ahead)
        return db_fail(db, DB_STATE_OUT_OF_MEMORY, "could not read orders ahead");
    ahead_clear(&ahead->base);
    pg_array_t ids;
    pg_array_init(&ids, PG_OID_UUID);
    db_status_t status = DB_OK;
    for (size_t i = 0; i < count && status == DB_OK; i++)
        if (pg_array_add_uuid(&ids, order_ids[i]) != 0)
            status = db_fail(db, "22P02", "order id %.40s is not a UUID", order_ids[i]);
    const uint8_t *wire = NULL;
    size_t len = 0;
    if (status == DB_OK && pg_array_wire(&ids, &wire, &len) != 0)
        status = db_fail(db, DB_STATE_OUT_OF_MEMORY, "could not read orders ahead");
    db_params_t params;
    db_params_init(&params);
    db_param_bytes(&params, wire, len);
    PGresult *res = NULL;
    if (status == DB_OK)
        status = db_run(db, "orders_lock_reach_ahead", &params, &res);
    pg_array_release(&ids);
    int rows = status == DB_OK ? PQntuples(res) : 0;
    ahead_order_t *orders = calloc(rows > 0 ? (size_t)rows : 1, sizeof *orders);
    if (status == DB_OK && !orders)
        status = db_fail(db, DB_STATE_OUT_OF_MEMORY, "could not read orders ahead");
    if (status != DB_OK) {
        PQclear(res);
        free(orders);
        return status;
    }
    /* an order's rows are consecutive (ORDER BY o.id) */
    size_t n = 0;
    for (int r = 0; r < rows; r++) {
        if (n > 0 && strcmp(orders[n - 1].id, PQgetvalue(res, r, 0)) == 0) {
            orders[n - 1].end = r + 1;
            continue;
        }
        db_copy_value(res, r, 0, orders[n].id, sizeof orders[n].id);
        orders[n].first = r;
        orders[n].end = r + 1;
        n++;
    }
    /* one changed while the run waited for it: read again alone, locked */
    for (size_t i = 0; i < n; i++)
        orders[i].handed = !lock_rows_fresh(res, orders[i].first, orders[i].end);
    ahead->res = res;
    ahead->orders = orders;
    ahead->count = n;
    return DB_OK;
}

/* The order read ahead, if it was and is not handed out yet: *found. */
static db_status_t lock_reach_ahead(db_t *db, const char *order_id, bool *found, order_t *order,
                                    order_line_t **lines_out, size_t *count_out,
                                    char **delivery_json_out, customer_contact_t *contact_out)
{
    lock_ahead_t *ahead = lock_ahead_of(db, false);
    for (size_t i = 0; ahead && i < ahead->count; i++) {
        ahead_order_t *o = &ahead->orders[i];
        if (o->handed || strcmp(o->id, order_id) != 0)
            continue;
        o->handed = true;
        *found = true;
        order_at_row(ahead->res, o->first, 0, order);
        return reach_between(db, ahead->res, o->first, o->end, ORDER_LOCK_NCOLS, order->id,
                             lines_out, count_out, delivery_json_out, contact_out);
    }
    return DB_OK;
}

db_status_t store_order_lock_reach(db_t *db, const char *order_id, bool *found, order_t *order,
                                   order_line_t **lines_out, size_t *count_out,
                                   char **delivery_json_out, customer_contact_t *contact_out)
{
    *found = false;
    *lines_out = NULL;
    *count_out = 0;
    *delivery_json_out = NULL;
    memset(contact_out, 0, sizeof *contact_out);
    db_status_t ahead = lock_reach_ahead(db, order_id, found, order, lines_out, count_out,
                                         delivery_json_out, contact_out);
    if (ahead != DB_OK || *found)
        return ahead;
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, order_id);
    PGresult *res = NULL;
    db_status_t status = db_run(db, "order_lock_reach", &params, &res);
    if (status == DB_OK && !lock_rows_fresh(res, 0, PQntuples(res))) {
        /* it changed while we waited for it: read again, locked since */
        PQclear(res);
        res = NULL;
        status = db_run(db, "order_lock_reach", &params, &res);
    }
    if (status != DB_OK)
        return status;
    *found = PQntuples(res) > 0;
    if (*found) {
        order_from_row(res, 0, order);
        status = reach_from_result(db, res, ORDER_LOCK_NCOLS, order->id, lines_out, count_out,
                                   delivery_json_out, contact_out);
    }
    PQclear(res);
    return status;
}

/* The lines' columns of the amount statements: line_no, price, VAT,
 * weight, amount, discount, total, VAT amount, name. */
static const uint32_t amount_oids[9] = {PG_OID_INT4, PG_OID_INT8, PG_OID_INT4,
                                        PG_OID_INT4, PG_OID_INT8, PG_OID_INT8,
                                        PG_OID_INT8, PG_OID_INT8, PG_OID_TEXT};

/* Adds the lines to columns[9] (of amount_oids). 0 ok, -1 out of memory. */
static int add_amounts(pg_array_t columns[9], const order_line_t *lines, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        const order_line_t *line = &lines[i];
        if (pg_array_add_i32(&columns[0], (int32_t)line->line_no) != 0 ||
            pg_array_add_i64(&columns[1], line->unit_price_minor) != 0 ||
            pg_array_add_i32(&columns[2], (int32_t)line->vat_rate_bp) != 0 ||
            pg_array_add_i32(&columns[3], (int32_t)line->unit_weight_g) != 0 ||
            pg_array_add_i64(&columns[4], line->amount_minor) != 0 ||
            pg_array_add_i64(&columns[5], line->discount_minor) != 0 ||
            pg_array_add_i64(&columns[6], line->total_minor) != 0 ||
            pg_array_add_i64(&columns[7], line->vat_minor) != 0 ||
            pg_array_add_text(&columns[8], line->name) != 0)
            return -1;
    }
    return 0;
}

/* The nine arrays of the lines' prices and amounts, appended to params;
 * columns[9] hold their bytes until the statement ran (released by the
 * caller in every case). */
static int amount_columns(pg_array_t columns[9], const order_line_t *lines, size_t count,
                          db_params_t *params)
{
    for (int c = 0; c < 9; c++)
        pg_array_init(&columns[c], amount_oids[c]);
    if (add_amounts(columns, lines, count) != 0)
        return -1;
    return params_add_arrays(params, columns, 9);
}

db_status_t store_lines_set_amounts(db_t *db, const char *order_id, const order_line_t *lines,
                                    size_t count)
{
    pg_array_t columns[9];
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, order_id);
    db_status_t status = amount_columns(columns, lines, count, &params) == 0
                             ? db_run(db, "lines_set_amounts", &params, NULL)
                             : DB_ERROR;
    for (int c = 0; c < 9; c++)
        pg_array_release(&columns[c]);
    return status;
}

static void param_totals(db_params_t *params, const order_totals_row_t *totals)
{
    if (!totals) {
        for (int i = 0; i < 6; i++)
            db_param_null(params);
        return;
    }
    db_param_i64(params, totals->lines_minor);
    db_param_i64(params, totals->discount_minor);
    db_param_i64(params, totals->delivery_minor);
    db_param_i64(params, totals->vat_minor);
    db_param_i64(params, totals->total_minor);
    db_param_i64(params, totals->weight_g);
}

db_status_t store_order_set_stock(db_t *db, const char *order_id, const char *stock_state,
                                  const order_totals_row_t *totals, uint64_t *version_out)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, order_id);
    db_param_text(&params, stock_state);
    param_totals(&params, totals);
    return run_returning_version(db, "order_set_stock", &params, version_out);
}

db_status_t store_order_set_reserved(db_t *db, const char *order_id, const order_line_t *lines,
                                     size_t count, const order_totals_row_t *totals,
                                     uint64_t *version_out)
{
    pg_array_t columns[9];
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, order_id);
    db_param_text(&params, "reserved");
    param_totals(&params, totals);
    db_status_t status = amount_columns(columns, lines, count, &params) == 0
                             ? run_returning_version(db, "order_set_reserved", &params, version_out)
                             : DB_ERROR;
    for (int c = 0; c < 9; c++)
        pg_array_release(&columns[c]);
    return status;
}

void store_reserved_many_init(store_reserved_many_t *many)
{
    const uint32_t order_oids[STORE_RESERVED_ORDER_COLUMNS] = {
        PG_OID_UUID, PG_OID_INT8, PG_OID_INT8, PG_OID_INT8,
        PG_OID_INT8, PG_OID_INT8, PG_OID_INT8, PG_OID_INT8};
    for (int c = 0; c < STORE_RESERVED_ORDER_COLUMNS; c++)
        pg_array_init(&many->orders[c], order_oids[c]);
    pg_array_init(&many->lines[0], PG_OID_UUID);
    for (int c = 0; c < 9; c++)
        pg_array_init(&many->lines[c + 1], amount_oids[c]);
    many->count = 0;
}

void store_reserved_many_release(store_reserved_many_t *many)
{
    for (int c = 0; c < STORE_RESERVED_ORDER_COLUMNS; c++)
        pg_array_release(&many->orders[c]);
    for (int c = 0; c < STORE_RESERVED_LINE_COLUMNS; c++)
        pg_array_release(&many->lines[c]);
    many->count = 0;
}

int store_reserved_many_add(store_reserved_many_t *many, const char *order_id, uint64_t version,
                            const order_line_t *lines, size_t count,
                            const order_totals_row_t *totals)
{
    pg_array_t *o = many->orders;
    if (pg_array_add_uuid(&o[0], order_id) != 0 || pg_array_add_i64(&o[1], (int64_t)version) != 0 ||
        pg_array_add_i64(&o[2], totals->lines_minor) != 0 ||
        pg_array_add_i64(&o[3], totals->discount_minor) != 0 ||
        pg_array_add_i64(&o[4], totals->delivery_minor) != 0 ||
        pg_array_add_i64(&o[5], totals->vat_minor) != 0 ||
        pg_array_add_i64(&o[6], totals->total_minor) != 0 ||
        pg_array_add_i64(&o[7], totals->weight_g) != 0)
        return -1;
    for (size_t i = 0; i < count; i++)
        if (pg_array_add_uuid(&many->lines[0], order_id) != 0)
            return -1;
    if (add_amounts(&many->lines[1], lines, count) != 0)
        return -1;
    many->count++;
    return 0;
}

db_status_t store_orders_set_reserved(db_t *db, store_reserved_many_t *many)
{
    if (many->count == 0)
        return DB_OK;
    db_params_t params;
    db_params_init(&params);
    if (params_add_arrays(&params, many->orders, STORE_RESERVED_ORDER_COLUMNS) != 0 ||
        params_add_arrays(&params, many->lines, STORE_RESERVED_LINE_COLUMNS) != 0)
        return db_fail(db, DB_STATE_OUT_OF_MEMORY, "could not write %zu reservations", many->count);
    int64_t updated = 0;
    db_status_t status = db_run_count(db, "orders_set_reserved_many", &params, &updated);
    if (status == DB_OK && updated != (int64_t)many->count)
        /* an order not at the version it was read at: written otherwise
         * in this transaction, which its caller promised it was not */
        status = db_fail(db, "XX000", "%lld of %zu orders were at the version they were read at",
                         (long long)updated, many->count);
    return status;
}

db_status_t store_lines_replace(db_t *db, const char *order_id, const order_line_t *lines,
                                size_t count)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, order_id);
    db_status_t status = db_run(db, "lines_delete", &params, NULL);
    if (status != DB_OK || count == 0)
        return status;
    enum { COLUMNS = 12 };
    pg_array_t columns[COLUMNS];
    const uint32_t oids[COLUMNS] = {PG_OID_INT4, PG_OID_TEXT, PG_OID_TEXT, PG_OID_INT4,
                                    PG_OID_INT8, PG_OID_INT8, PG_OID_INT4, PG_OID_INT4,
                                    PG_OID_INT8, PG_OID_INT8, PG_OID_INT8, PG_OID_INT8};
    for (int c = 0; c < COLUMNS; c++)
        pg_array_init(&columns[c], oids[c]);
    status = DB_ERROR;
    for (size_t i = 0; i < count; i++) {
        const order_line_t *line = &lines[i];
        if (pg_array_add_i32(&columns[0], (int32_t)line->line_no) != 0 ||
            pg_array_add_text(&columns[1], line->sku) != 0 ||
            pg_array_add_text(&columns[2], line->name) != 0 ||
            pg_array_add_i32(&columns[3], (int32_t)line->quantity) != 0 ||
            pg_array_add_i64(&columns[4], line->sender_price_minor) != 0 ||
            pg_array_add_i64(&columns[5], line->unit_price_minor) != 0 ||
            pg_array_add_i32(&columns[6], (int32_t)line->vat_rate_bp) != 0 ||
            pg_array_add_i32(&columns[7], (int32_t)line->unit_weight_g) != 0 ||
            pg_array_add_i64(&columns[8], line->amount_minor) != 0 ||
            pg_array_add_i64(&columns[9], line->discount_minor) != 0 ||
            pg_array_add_i64(&columns[10], line->total_minor) != 0 ||
            pg_array_add_i64(&columns[11], line->vat_minor) != 0)
            goto done;
    }
    db_params_init(&params);
    db_param_text(&params, order_id);
    if (params_add_arrays(&params, columns, COLUMNS) != 0)
        goto done;
    status = db_run(db, "lines_insert", &params, NULL);
done:
    for (int c = 0; c < COLUMNS; c++)
        pg_array_release(&columns[c]);
    return status;
}

db_status_t store_order_edit(db_t *db, const char *order_id, const order_edit_row_t *edit,
                             uint64_t *version_out)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, order_id);
    db_param_text(&params, edit->delivery_json);
    db_param_text(&params, edit->delivery_json ? edit->method : NULL);
    db_param_text(&params, edit->delivery_json ? edit->region : NULL);
    db_param_i64(&params, edit->discount_bp);
    db_param_text(&params, edit->stock_state);
    param_totals(&params, edit->totals);
    db_param_bool(&params, edit->lines_changed);
    return run_returning_version(db, "order_edit", &params, version_out);
}

/* The price list's rows for a method and region, read once per
 * transaction: an applier prices every order of a batch with the few
 * lists of its methods and regions (nothing here changes the list).
 * Forgotten when the transaction ends or rolls back to a savepoint. */
#define CACHED_PRICE_LISTS_MAX 8
#define CACHED_PRICE_ROWS_MAX  16

typedef struct {
    bool regional; /* the region's own row, not '*' */
    int64_t min_total_minor, price_minor;
} price_row_t;

typedef struct {
    DB_MEMO_HEAD;
    struct {
        char method[16];
        char region[210];
        price_row_t rows[CACHED_PRICE_ROWS_MAX];
        size_t count;
    } lists[CACHED_PRICE_LISTS_MAX];
    size_t count;
} price_cache_t;

static const int price_cache_marker = 0;

static void price_cache_clear(db_deferred_t *self)
{
    ((price_cache_t *)self)->count = 0;
}

static price_cache_t *price_cache_of(db_t *db)
{
    return (price_cache_t *)db_memo_of(db, &price_cache_marker, sizeof(price_cache_t),
                                       price_cache_clear);
}

/* The list's rows for (method, region) from the cache, read into it when
 * missing; NULL (*status_out DB_OK) when it cannot hold them: then the
 * database decides. */
static const price_row_t *price_rows(db_t *db, price_cache_t *cache, const char *method,
                                     const char *region, size_t *count_out, db_status_t *status_out)
{
    *status_out = DB_OK;
    for (size_t i = 0; i < cache->count; i++) {
        if (strcmp(cache->lists[i].method, method) == 0 &&
            strcmp(cache->lists[i].region, region) == 0) {
            *count_out = cache->lists[i].count;
            return cache->lists[i].rows;
        }
    }
    if (cache->count == CACHED_PRICE_LISTS_MAX || strlen(method) >= sizeof cache->lists[0].method ||
        strlen(region) >= sizeof cache->lists[0].region)
        return NULL;
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, method);
    db_param_text(&params, region);
    PGresult *res = NULL;
    *status_out = db_run(db, "delivery_price_list", &params, &res);
    if (*status_out != DB_OK)
        return NULL;
    int rows = PQntuples(res);
    if (rows > CACHED_PRICE_ROWS_MAX) {
        PQclear(res);
        return NULL;
    }
    size_t slot = cache->count++;
    snprintf(cache->lists[slot].method, sizeof cache->lists[slot].method, "%s", method);
    snprintf(cache->lists[slot].region, sizeof cache->lists[slot].region, "%s", region);
    for (int r = 0; r < rows; r++)
        cache->lists[slot].rows[r] = (price_row_t){.regional = db_get_bool(res, r, 0),
                                                   .min_total_minor = db_get_i64_or(res, r, 1, 0),
                                                   .price_minor = db_get_i64_or(res, r, 2, 0)};
    cache->lists[slot].count = (size_t)rows;
    PQclear(res);
    *count_out = (size_t)rows;
    return cache->lists[slot].rows;
}

db_status_t store_delivery_price(db_t *db, const char *method, const char *region,
                                 int64_t total_minor, int64_t *price_out)
{
    price_cache_t *cache = db_in_tx(db) ? price_cache_of(db) : NULL;
    size_t count = 0;
    db_status_t status = DB_OK;
    const price_row_t *rows = cache ? price_rows(db, cache, method, region, &count, &status) : NULL;
    if (status != DB_OK)
        return status;
    if (rows) {
        /* as delivery_price orders them: the region's own rows first, then
         * the highest min_total not above the total */
        const price_row_t *best = NULL;
        for (size_t i = 0; i < count; i++) {
            const price_row_t *row = &rows[i];
            if (row->min_total_minor > total_minor)
                continue;
            if (!best || (row->regional && !best->regional) ||
                (row->regional == best->regional && row->min_total_minor > best->min_total_minor))
                best = row;
        }
        *price_out = best ? best->price_minor : 0;
        return DB_OK;
    }
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, method);
    db_param_text(&params, region);
    db_param_i64(&params, total_minor);
    PGresult *res = NULL;
    status = db_run(db, "delivery_price", &params, &res);
    if (status != DB_OK)
        return status;
    *price_out = PQntuples(res) == 1 ? db_get_i64_or(res, 0, 0, 0) : 0;
    PQclear(res);
    return DB_OK;
}

db_status_t store_order_set_terms(db_t *db, const char *order_id, const char *payment_terms,
                                  const order_totals_row_t *totals)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, order_id);
    db_param_text(&params, payment_terms);
    db_param_i64(&params, totals->delivery_minor);
    db_param_i64(&params, totals->total_minor);
    db_param_i64(&params, totals->vat_minor);
    return db_run(db, "order_set_terms", &params, NULL);
}

db_status_t store_order_merge_state(db_t *db, const char *order_id, const char *stream,
                                    const char *state_json)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, order_id);
    db_param_text(&params, state_json);
    return db_run(db,
                  strcmp(stream, "payment") == 0 ? "order_merge_payment" : "order_merge_shipment",
                  &params, NULL);
}

db_status_t store_order_paid(db_t *db, const char *order_id, int64_t *paid_out)
{
    *paid_out = 0;
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, order_id);
    PGresult *res = NULL;
    db_status_t status = db_run(db, "order_paid", &params, &res);
    if (status != DB_OK)
        return status;
    if (PQntuples(res) == 1)
        *paid_out = db_get_i64_or(res, 0, 0, 0);
    PQclear(res);
    return DB_OK;
}

db_status_t store_order_invoice(db_t *db, const char *order_id, char *out, size_t out_size)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, order_id);
    PGresult *res = NULL;
    db_status_t status = db_run(db, "order_invoice", &params, &res);
    if (status != DB_OK)
        return status;
    out[0] = '\0';
    if (PQntuples(res) == 1)
        db_copy_value(res, 0, 0, out, out_size);
    PQclear(res);
    return DB_OK;
}

db_status_t store_order_refund_claim(db_t *db, const order_refund_t *refund, bool *applied)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, refund->order_id);
    db_param_text(&params, refund->refund_key);
    db_param_text(&params, refund->succeeded ? "succeeded" : "failed");
    db_param_i64(&params, refund->amount_minor);
    db_param_text(&params, refund->reason ? refund->reason : "");
    db_param_text(&params, refund->reason_code ? refund->reason_code : "");
    db_param_text(&params, refund->reason_text ? refund->reason_text : "");
    db_param_i64(&params, refund->at_ms);
    int64_t rows = 0;
    db_status_t status = db_run_count(db, "order_refund_claim", &params, &rows);
    if (status == DB_OK)
        *applied = rows == 1;
    return status;
}

db_status_t store_refund_hold_open(db_t *db, const char *order_id, int64_t held_minor)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, order_id);
    db_param_i64(&params, held_minor);
    return db_run(db, "order_refund_hold_open", &params, NULL);
}

db_status_t store_refund_hold_lock(db_t *db, const char *order_id, bool *found, int64_t *held_minor,
                                   int64_t *asked_minor)
{
    *found = false;
    *held_minor = *asked_minor = 0;
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, order_id);
    PGresult *res = NULL;
    db_status_t status = db_run(db, "order_refund_hold_lock", &params, &res);
    if (status != DB_OK)
        return status;
    if (PQntuples(res) == 1) {
        *found = true;
        *held_minor = db_get_i64_or(res, 0, 0, 0);
        *asked_minor = db_get_i64_or(res, 0, 1, 0);
    }
    PQclear(res);
    return DB_OK;
}

db_status_t store_return_refund_claim(db_t *db, const char *order_id, const char *return_id,
                                      const char *request_id, int64_t amount_minor, bool *claimed)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, order_id);
    db_param_text(&params, return_id);
    db_param_text(&params, request_id);
    db_param_i64(&params, amount_minor);
    int64_t rows = 0;
    db_status_t status = db_run_count(db, "order_return_refund_claim", &params, &rows);
    *claimed = status == DB_OK && rows == 1;
    return status;
}

/* ------------------------------------------------------------------ */
/* staff and assignment                                                 */

db_status_t store_candidates(db_t *db, const char *region_key, assign_candidate_t **out,
                             size_t *count_out)
{
    *out = NULL;
    *count_out = 0;
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, region_key ? region_key : "");
    PGresult *res = NULL;
    db_status_t status = db_run(db, "candidates", &params, &res);
    if (status != DB_OK)
        return status;
    int rows = PQntuples(res);
    assign_candidate_t *candidates = calloc(rows ? (size_t)rows : 1, sizeof *candidates);
    if (!candidates) {
        PQclear(res);
        return DB_ERROR;
    }
    for (int i = 0; i < rows; i++) {
        db_copy_value(res, i, 0, candidates[i].id, sizeof candidates[i].id);
        candidates[i].open_orders = (int32_t)db_get_i64_or(res, i, 1, 0);
        candidates[i].capacity = (int32_t)db_get_i64_or(res, i, 2, 0);
        candidates[i].last_assigned_ms = db_get_i64_or(res, i, 3, 0);
        candidates[i].names_region = db_get_bool(res, i, 4);
    }
    PQclear(res);
    *out = candidates;
    *count_out = (size_t)rows;
    return DB_OK;
}

db_status_t store_manager_take_slot(db_t *db, const char *staff_id, int64_t now_ms, bool *taken,
                                    manager_contact_t *contact_out)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, staff_id);
    db_param_i64(&params, now_ms);
    PGresult *res = NULL;
    db_status_t status = db_run(db, "manager_take_slot", &params, &res);
    if (status != DB_OK)
        return status;
    *taken = PQntuples(res) == 1;
    if (*taken) {
        snprintf(contact_out->id, sizeof contact_out->id, "%s", staff_id);
        db_copy_value(res, 0, 0, contact_out->name, sizeof contact_out->name);
        db_copy_value(res, 0, 1, contact_out->email, sizeof contact_out->email);
        db_copy_value(res, 0, 2, contact_out->phone, sizeof contact_out->phone);
    }
    PQclear(res);
    return DB_OK;
}

db_status_t store_manager_free_slot(db_t *db, const char *staff_id)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, staff_id);
    return db_run(db, "manager_free_slot", &params, NULL);
}

db_status_t store_manager_serves(db_t *db, const char *staff_id, const char *region_key,
                                 bool *serves_out)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, staff_id);
    db_param_text(&params, region_key);
    PGresult *res = NULL;
    db_status_t status = db_run(db, "manager_serves", &params, &res);
    if (status == DB_OK)
        *serves_out = PQntuples(res) == 1 && db_get_bool(res, 0, 0);
    PQclear(res);
    return status;
}

db_status_t store_unassigned(db_t *db, int max, char (*ids_out)[37], int *count_out)
{
    *count_out = 0;
    db_params_t params;
    db_params_init(&params);
    db_param_i64(&params, max);
    PGresult *res = NULL;
    db_status_t status = db_run(db, "unassigned", &params, &res);
    if (status != DB_OK)
        return status;
    int rows = PQntuples(res);
    for (int i = 0; i < rows && i < max; i++)
        db_copy_value(res, i, 0, ids_out[i], 37);
    *count_out = rows < max ? rows : max;
    PQclear(res);
    return DB_OK;
}

/* ------------------------------------------------------------------ */
/* tasks                                                                */

db_status_t store_task_insert(db_t *db, const task_insert_t *task, bool *created)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, task->id);
    db_param_text(&params, task->kind);
    param_text_or_null(&params, task->order_id);
    param_text_or_null(&params, task->assignee_id);
    db_param_text(&params, task->title);
    db_param_i64(&params, task->due_at_ms);
    param_text_or_null(&params, task->dedup_key);
    db_param_i64(&params, task->now_ms);
    int64_t rows = 0;
    db_status_t status = db_run_count(db, "task_insert", &params, &rows);
    if (status == DB_OK)
        *created = rows == 1;
    return status;
}

db_status_t store_task_insert_deferred(db_t *db, const task_insert_t *task)
{
    bulk_t *rows = bulk_of(db, &tasks_spec);
    if (!rows)
        return DB_ERROR;
    const char *order_id = task->order_id && task->order_id[0] ? task->order_id : NULL;
    const char *assignee = task->assignee_id && task->assignee_id[0] ? task->assignee_id : NULL;
    if (pg_array_add_uuid(bulk_column(rows, 0), task->id) != 0 ||
        pg_array_add_text(bulk_column(rows, 1), task->kind) != 0 ||
        pg_array_add_uuid(bulk_column(rows, 2), order_id) != 0 ||
        pg_array_add_uuid(bulk_column(rows, 3), assignee) != 0 ||
        pg_array_add_text(bulk_column(rows, 4), task->title) != 0 ||
        pg_array_add_i64(bulk_column(rows, 5), task->due_at_ms) != 0 ||
        pg_array_add_text(bulk_column(rows, 6), task->dedup_key) != 0 ||
        pg_array_add_i64(bulk_column(rows, 7), task->now_ms) != 0) {
        bulk_row_abandon(rows);
        return DB_ERROR;
    }
    return bulk_row_done(db, rows);
}

db_status_t store_task_done(db_t *db, const char *task_id, const char *staff_id, bool admin,
                            int64_t now_ms, bool *done)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, task_id);
    db_param_text(&params, staff_id);
    db_param_i64(&params, now_ms);
    db_param_bool(&params, admin);
    int64_t rows = 0;
    db_status_t status = db_run_count(db, "task_done", &params, &rows);
    if (status == DB_OK)
        *done = rows == 1;
    return status;
}

db_status_t store_tasks_json(db_t *db, const char *assignee_id, const char *status_filter,
                             const page_t *page, json_t **out)
{
    db_params_t params;
    db_params_init(&params);
    param_text_or_null(&params, assignee_id);
    param_text_or_null(&params, status_filter);
    param_text_or_null(&params, page->has_cursor ? page->after_key : NULL);
    param_text_or_null(&params, page->has_cursor ? page->after_id : NULL);
    db_param_i64(&params, page->limit);
    return db_run_json(db, "tasks_json", &params, out);
}

db_status_t store_calendar(db_t *db, calendar_row_t **rows_out, size_t *count_out)
{
    *rows_out = NULL;
    *count_out = 0;
    PGresult *res = NULL;
    db_status_t status = db_run(db, "calendar", NULL, &res);
    if (status != DB_OK)
        return status;
    int rows = PQntuples(res);
    calendar_row_t *out = calloc(rows ? (size_t)rows : 1, sizeof *out);
    if (!out) {
        PQclear(res);
        return DB_ERROR;
    }
    for (int i = 0; i < rows; i++) {
        out[i].day = (int32_t)db_get_i64_or(res, i, 0, 0);
        out[i].workday = db_get_bool(res, i, 1);
    }
    PQclear(res);
    *rows_out = out;
    *count_out = (size_t)rows;
    return DB_OK;
}

/* ------------------------------------------------------------------ */
/* staff administration and login                                       */

static db_status_t staff_login_row(db_t *db, const char *stmt, const char *key, bool *found,
                                   staff_login_t *out)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, key);
    PGresult *res = NULL;
    db_status_t status = db_run(db, stmt, &params, &res);
    if (status != DB_OK)
        return status;
    *found = PQntuples(res) == 1;
    if (*found) {
        db_copy_value(res, 0, 0, out->id, sizeof out->id);
        db_copy_value(res, 0, 1, out->name, sizeof out->name);
        db_copy_value(res, 0, 2, out->role, sizeof out->role);
        out->active = db_get_bool(res, 0, 3);
        db_copy_value(res, 0, 4, out->password_hash, sizeof out->password_hash);
    }
    PQclear(res);
    return DB_OK;
}

db_status_t store_staff_by_login(db_t *db, const char *login, bool *found, staff_login_t *out)
{
    return staff_login_row(db, "staff_by_login", login, found, out);
}

db_status_t store_staff_by_id(db_t *db, const char *id, bool *found, staff_login_t *out)
{
    return staff_login_row(db, "staff_by_id", id, found, out);
}

db_status_t store_login_throttle_take(db_t *db, const char *client, int64_t now_ms,
                                      int64_t *tat_ms_out)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, client);
    db_param_i64(&params, now_ms);
    PGresult *res = NULL;
    db_status_t status = db_run(db, "login_throttle_take", &params, &res);
    if (status == DB_OK)
        *tat_ms_out = PQntuples(res) == 1 ? db_get_i64_or(res, 0, 0, now_ms) : now_ms;
    PQclear(res);
    return status;
}

db_status_t store_login_throttle_set(db_t *db, const char *client, int64_t tat_ms)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, client);
    db_param_i64(&params, tat_ms);
    return db_run(db, "login_throttle_set", &params, NULL);
}

/* Reads the guards of (login, client) and (login, every client) from rows
 * of (client, failures, window_start, locked_until). */
static void login_guards_of(const PGresult *res, login_guard_t *pair, login_guard_t *all)
{
    memset(pair, 0, sizeof *pair);
    memset(all, 0, sizeof *all);
    for (int i = 0; i < PQntuples(res); i++) {
        login_guard_t *guard = db_value(res, i, 0)[0] ? pair : all;
        guard->failures = (int)db_get_i64_or(res, i, 1, 0);
        guard->window_start_ms = db_get_i64_or(res, i, 2, 0);
        guard->locked_until_ms = db_get_i64_or(res, i, 3, 0);
    }
}

db_status_t store_login_guards(db_t *db, const char *login, const char *client, bool lock,
                               int64_t now_ms, login_guard_t *pair_out, login_guard_t *all_out)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, login);
    db_param_text(&params, client);
    if (lock)
        db_param_i64(&params, now_ms);
    PGresult *res = NULL;
    db_status_t status = db_run(db, lock ? "login_guards_lock" : "login_guards", &params, &res);
    if (status == DB_OK)
        login_guards_of(res, pair_out, all_out);
    PQclear(res);
    return status;
}

db_status_t store_login_guard_set(db_t *db, const char *login, const char *client,
                                  const login_guard_t *guard, int64_t expires_ms)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, login);
    db_param_text(&params, client);
    db_param_i64(&params, guard->failures);
    db_param_i64(&params, guard->window_start_ms);
    db_param_i64(&params, guard->locked_until_ms);
    db_param_i64(&params, expires_ms);
    return db_run(db, "login_guard_set", &params, NULL);
}

db_status_t store_login_guard_clear(db_t *db, const char *login, const char *client)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, login);
    db_param_text(&params, client);
    return db_run(db, "login_guard_clear", &params, NULL);
}

db_status_t store_login_purge(db_t *db, int64_t now_ms)
{
    db_params_t params;
    db_params_init(&params);
    db_param_i64(&params, now_ms);
    return db_run(db, "login_purge", &params, NULL);
}

db_status_t store_refresh_insert(db_t *db, const char *token_sha256, const char *staff_id,
                                 int64_t expires_at_ms)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, token_sha256);
    db_param_text(&params, staff_id);
    db_param_i64(&params, expires_at_ms);
    return db_run(db, "refresh_insert", &params, NULL);
}

db_status_t store_refresh_use(db_t *db, const char *token_sha256, int64_t now_ms,
                              char staff_id_out[37])
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, token_sha256);
    db_param_i64(&params, now_ms);
    PGresult *res = NULL;
    db_status_t status = db_run(db, "refresh_use", &params, &res);
    if (status != DB_OK)
        return status;
    db_copy_value(res, 0, 0, staff_id_out, 37); /* "" when no row: used, expired or unknown */
    PQclear(res);
    return DB_OK;
}

db_status_t store_staff_insert(db_t *db, const staff_insert_t *staff, bool *conflict)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, staff->id);
    db_param_text(&params, staff->login);
    db_param_text(&params, staff->name);
    param_text_or_null(&params, staff->email);
    param_text_or_null(&params, staff->phone);
    db_param_text(&params, staff->role);
    db_param_text(&params, staff->regions_json ? staff->regions_json : "[]");
    db_param_i64(&params, staff->capacity);
    param_text_or_null(&params, staff->password_hash);
    db_param_text(&params, staff->intake_sources_json ? staff->intake_sources_json : "[]");
    int64_t rows = 0;
    db_status_t status = db_run_count(db, "staff_insert", &params, &rows);
    if (status == DB_OK)
        *conflict = rows == 0;
    return status;
}

db_status_t store_staff_patch(db_t *db, const char *id, const char *patch_json, bool *found)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, id);
    db_param_text(&params, patch_json);
    int64_t rows = 0;
    db_status_t status = db_run_count(db, "staff_patch", &params, &rows);
    if (status == DB_OK)
        *found = rows == 1;
    return status;
}

db_status_t store_staff_set_shift(db_t *db, const char *id, bool on_shift, int64_t now_ms,
                                  bool *found)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, id);
    db_param_bool(&params, on_shift);
    db_param_i64(&params, now_ms);
    int64_t rows = 0;
    db_status_t status = db_run_count(db, "staff_set_shift", &params, &rows);
    if (status == DB_OK)
        *found = rows == 1;
    return status;
}

db_status_t store_staff_json(db_t *db, const char *id, json_t **out)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, id);
    return db_run_json(db, "staff_json", &params, out);
}

db_status_t store_staff_may_file(db_t *db, const char *staff_id, const char *source, bool *may_out)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, staff_id);
    db_param_text(&params, source);
    PGresult *res = NULL;
    db_status_t status = db_run(db, "staff_may_file", &params, &res);
    if (status == DB_OK)
        *may_out = PQntuples(res) == 1 && db_get_bool(res, 0, 0);
    PQclear(res);
    return status;
}

db_status_t store_staff_list_json(db_t *db, json_t **out)
{
    return db_run_json(db, "staff_list_json", NULL, out);
}

/* ------------------------------------------------------------------ */
/* reading                                                              */

static void param_ms_or_null(db_params_t *params, int64_t ms)
{
    if (ms)
        db_param_i64(params, ms);
    else
        db_param_null(params);
}

db_status_t store_orders_json(db_t *db, const order_filter_t *filter, const page_t *page,
                              json_t **out)
{
    db_params_t params;
    db_params_init(&params);
    param_text_or_null(&params, filter->status);
    param_text_or_null(&params, filter->group);
    param_text_or_null(&params, filter->manager_id);
    param_text_or_null(&params, filter->delivery_method);
    param_text_or_null(&params, filter->channel);
    param_text_or_null(&params, filter->source);
    param_ms_or_null(&params, filter->from_ms);
    param_ms_or_null(&params, filter->to_ms);
    param_text_or_null(&params, page->has_cursor ? page->after_key : NULL);
    param_text_or_null(&params, page->has_cursor ? page->after_id : NULL);
    db_param_i64(&params, page->limit);
    return db_run_json(db, "orders_json", &params, out);
}

db_status_t store_order_json(db_t *db, const char *order_id, json_t **out)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, order_id);
    return db_run_json(db, "order_json", &params, out);
}

db_status_t store_rejections_json(db_t *db, const char *source, const page_t *page, json_t **out)
{
    db_params_t params;
    db_params_init(&params);
    param_text_or_null(&params, source);
    param_text_or_null(&params, page->has_cursor ? page->after_key : NULL);
    param_text_or_null(&params, page->has_cursor ? page->after_id : NULL);
    db_param_i64(&params, page->limit);
    return db_run_json(db, "rejections_json", &params, out);
}

db_status_t store_statuses_json(db_t *db, json_t **out)
{
    return db_run_json(db, "statuses_json", NULL, out);
}

db_status_t store_transitions_json(db_t *db, json_t **out)
{
    return db_run_json(db, "transitions_json", NULL, out);
}

db_status_t store_report_sales_json(db_t *db, const char *by, int64_t from_ms, int64_t to_ms,
                                    json_t **out)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, by);
    db_param_i64(&params, from_ms);
    db_param_i64(&params, to_ms);
    return db_run_json(db, "report_sales_json", &params, out);
}

db_status_t store_report_people_json(db_t *db, int64_t from_ms, int64_t to_ms, json_t **out)
{
    db_params_t params;
    db_params_init(&params);
    db_param_i64(&params, from_ms);
    db_param_i64(&params, to_ms);
    return db_run_json(db, "report_people_json", &params, out);
}

/* ------------------------------------------------------------------ */
/* claims (F30)                                                         */

/* The claims' statements, registered beside the others (store_setup). */
static const struct {
    const char *name, *sql;
} claim_statements[] = {
    {"claim_order_json",
     "SELECT json_build_object('id', o.id, 'number', o.number, 'status', o.status, "
     "'customer_id', o.customer_id, 'channel', o.channel, 'lines', (SELECT "
     "coalesce(json_agg(json_build_object('line_no', l.line_no, 'sku', l.sku, 'name', l.name, "
     "'quantity', l.quantity, 'total_minor', coalesce(l.total_minor, 0), 'vat_rate_bp', "
     "coalesce(l.vat_rate_bp, 0)) ORDER BY l.line_no), '[]') FROM order_lines l WHERE "
     "l.order_id = o.id), 'claimed', (SELECT coalesce(json_object_agg(x.line_no, x.n), '{}') "
     "FROM (SELECT e->>'line_no' AS line_no, sum((e->>'quantity')::bigint) AS n FROM claims c, "
     "jsonb_array_elements(c.lines) e WHERE c.order_id = o.id AND c.status <> 'rejected' "
     "GROUP BY 1) x)) FROM orders o WHERE o.id = $1"},
    /* locked before claim_order_json reads it, in a statement of its own:
     * one that waited for the lock would read the lines and the claims as
     * they were before the transaction it waited for (another claim) */
    {"claim_order_lock", "SELECT 1 FROM orders WHERE id = $1 FOR UPDATE"},
    {"claim_insert",
     "INSERT INTO claims (id, order_id, name, type, reason, comment, status, lines, "
     "amount_minor, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, 'under_review', "
     "$7::jsonb, $8, $9, " TS("$10") ")"},
    {"claim_attachment_add",
     "INSERT INTO claim_attachments (id, claim_id, filename, content_type, size_bytes, data, "
     "created_at) VALUES ($1, $2, $3, $4, $5, $6, " TS("$7") ")"},
    {"claim_history_add",
     "INSERT INTO claim_history (claim_id, at, from_status, to_status, actor_id, actor_role, "
     "comment) VALUES ($1, " TS("$2") ", $3, $4, $5, $6, coalesce($7, ''))"},
    {"claim_lock_json",
     "SELECT json_build_object('id', c.id, 'order_id', c.order_id, 'order_number', o.number, "
     "'customer_id', o.customer_id, 'channel', o.channel, 'name', c.name, 'type', c.type, "
     "'reason', c.reason, 'comment', c.comment, 'status', c.status, 'lines', c.lines, "
     "'amount_minor', c.amount_minor, 'decision', c.decision, 'replacement_order_id', "
     "c.replacement_order_id, 'refund_request_id', c.refund_request_id) FROM claims c JOIN "
     "orders o ON o.id = c.order_id WHERE c.id = $1 FOR UPDATE OF c"},
    {"claim_move",
     "UPDATE claims SET status = $2, decision = coalesce($3, decision), decision_comment = "
     "CASE WHEN $3::text IS NULL THEN decision_comment ELSE coalesce($4, '') END, decided_at = "
     "CASE WHEN $3 IN ('approved', 'rejected') THEN " TS(
         "$7") " ELSE decided_at END, "
               "completed_at = CASE WHEN $2 = 'completed' THEN " TS(
                   "$7") " ELSE completed_at END, "
                         "replacement_order_id = coalesce($5::uuid, replacement_order_id), "
                         "refund_request_id = coalesce($6::uuid, refund_request_id) WHERE id = $1"},
    {"claim_json",
     "SELECT json_build_object('id', c.id, 'order_id', c.order_id, 'order_number', o.number, "
     "'name', c.name, 'type', c.type, 'reason', c.reason, 'comment', c.comment, 'status', "
     "c.status, 'lines', c.lines, 'amount_minor', c.amount_minor, 'decision', c.decision, "
     "'decision_comment', c.decision_comment, 'replacement_order_id', c.replacement_order_id, "
     "'refund_request_id', c.refund_request_id, 'created_by', c.created_by, 'created_at', "
     "c.created_at, 'decided_at', c.decided_at, 'completed_at', c.completed_at, 'attachments', "
     "(SELECT coalesce(json_agg(json_build_object('id', a.id, 'filename', a.filename, "
     "'content_type', a.content_type, 'size_bytes', a.size_bytes) ORDER BY a.created_at, "
     "a.id), '[]') FROM claim_attachments a WHERE a.claim_id = c.id), 'history', (SELECT "
     "coalesce(json_agg(json_build_object('at', h.at, 'from', h.from_status, 'to', "
     "h.to_status, 'actor_id', h.actor_id, 'actor_role', h.actor_role, 'comment', h.comment) "
     "ORDER BY h.id), '[]') FROM claim_history h WHERE h.claim_id = c.id)) FROM claims c JOIN "
     "orders o ON o.id = c.order_id WHERE c.id = $1"},
    {"claims_json",
     "SELECT json_build_object('items', coalesce(json_agg(r.row ORDER BY r.created_at DESC, "
     "r.id DESC), '[]'), 'last', (array_agg(r.cursor ORDER BY r.created_at, r.id))[1]) FROM ("
     "SELECT c.created_at, c.id, " MS_OF(
         "c.created_at") "::text AS cursor, json_build_object('id', c.id, 'order_id', "
                         "c.order_id, 'order_number', o.number, 'name', c.name, 'type', c.type, "
                         "'reason', c.reason, 'status', c.status, 'amount_minor', "
                         "c.amount_minor, 'created_at', c.created_at, 'decided_at', "
                         "c.decided_at, 'completed_at', c.completed_at) AS row FROM claims c "
                         "JOIN orders o ON o.id = c.order_id WHERE ($1::uuid IS NULL OR "
                         "c.order_id = $1) AND ($2::text IS NULL OR c.status = $2) AND "
                         "($3::text IS NULL OR c.type = $3) AND ($4::bigint IS NULL OR "
                         "(c.created_at, c.id) < (" TS("$4") ", $5::uuid)) ORDER BY "
                                                             "c.created_at DESC, c.id DESC "
                                                             "LIMIT $6) r"},
    {"claim_attachment",
     "SELECT filename, content_type, data FROM claim_attachments WHERE id = $1 AND "
     "claim_id = $2"},
    {"claim_attachment_totals",
     "SELECT count(*), coalesce(sum(size_bytes), 0) FROM claim_attachments WHERE claim_id = $1"},
    {"order_claims_json",
     "SELECT coalesce(json_agg(json_build_object('id', c.id, 'name', c.name, 'type', c.type, "
     "'reason', c.reason, 'status', c.status, 'created_at', c.created_at, 'decided_at', "
     "c.decided_at, 'completed_at', c.completed_at) ORDER BY c.created_at, c.id), '[]') FROM "
     "(SELECT * FROM claims WHERE order_id = $1 ORDER BY created_at, id LIMIT $2) c"},
    {"report_claims_json",
     "WITH c AS (SELECT * FROM claims WHERE created_at >= " TS("$1") " AND created_at < " TS(
         "$2") "), "
               "d AS (SELECT extract(epoch FROM decided_at - "
               "created_at) / 3600 AS h FROM c WHERE decided_at "
               "IS NOT NULL), "
               "f AS (SELECT extract(epoch FROM completed_at - "
               "created_at) / 3600 AS h FROM c WHERE "
               "completed_at IS NOT NULL) "
               "SELECT json_build_object('claims', (SELECT "
               "count(*) FROM c), 'by_type', (SELECT "
               "coalesce(json_object_agg(type, n), '{}') FROM "
               "(SELECT type, count(*) AS n FROM c GROUP BY 1) "
               "t), 'by_reason', (SELECT "
               "coalesce(json_object_agg(reason, n), '{}') FROM "
               "(SELECT reason, count(*) AS n FROM c GROUP BY 1) "
               "t), 'by_status', (SELECT "
               "coalesce(json_object_agg(status, n), '{}') FROM "
               "(SELECT status, count(*) AS n FROM c GROUP BY 1) "
               "t), 'to_decision', (SELECT json_build_object("
               "'count', count(*), 'median_hours', "
               "round((percentile_cont(0.5) WITHIN GROUP (ORDER "
               "BY h))::numeric, 2), 'mean_hours', "
               "round(avg(h)::numeric, 2)) FROM d), "
               "'to_completion', (SELECT json_build_object("
               "'count', count(*), 'median_hours', "
               "round((percentile_cont(0.5) WITHIN GROUP (ORDER "
               "BY h))::numeric, 2), 'mean_hours', "
               "round(avg(h)::numeric, 2)) FROM f))"},
    {"order_free_delivery", "UPDATE orders SET delivery_price_override_minor = 0 WHERE id = $1"},
};

static int claims_setup(db_t *db)
{
    for (size_t i = 0; i < sizeof claim_statements / sizeof claim_statements[0]; i++)
        if (db_prepare(db, claim_statements[i].name, claim_statements[i].sql) != 0)
            return -1;
    return 0;
}

db_status_t store_claim_order_json(db_t *db, const char *order_id, json_t **out)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, order_id);
    db_status_t status = db_run(db, "claim_order_lock", &params, NULL);
    return status == DB_OK ? db_run_json(db, "claim_order_json", &params, out) : status;
}

db_status_t store_claim_insert(db_t *db, const claim_row_t *row)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, row->id);
    db_param_text(&params, row->order_id);
    db_param_text(&params, row->name);
    db_param_text(&params, row->type);
    db_param_text(&params, row->reason);
    db_param_text(&params, row->comment ? row->comment : "");
    db_param_text(&params, row->lines_json);
    db_param_i64(&params, row->amount_minor);
    db_param_text(&params, row->created_by);
    db_param_i64(&params, row->at_ms);
    return db_run_count(db, "claim_insert", &params, NULL);
}

db_status_t store_claim_attachment_add(db_t *db, const char *id, const char *claim_id,
                                       const char *filename, const char *content_type,
                                       const unsigned char *data, size_t len, int64_t at_ms)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, id);
    db_param_text(&params, claim_id);
    db_param_text(&params, filename);
    db_param_text(&params, content_type);
    db_param_i64(&params, (int64_t)len);
    db_param_bytes(&params, data, len);
    db_param_i64(&params, at_ms);
    return db_run_count(db, "claim_attachment_add", &params, NULL);
}

db_status_t store_claim_history_add(db_t *db, const char *claim_id, int64_t at_ms, const char *from,
                                    const char *to, const char *actor_id, const char *actor_role,
                                    const char *comment)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, claim_id);
    db_param_i64(&params, at_ms);
    db_param_text(&params, from);
    db_param_text(&params, to);
    db_param_text(&params, actor_id);
    db_param_text(&params, actor_role);
    db_param_text(&params, comment);
    return db_run_count(db, "claim_history_add", &params, NULL);
}

db_status_t store_claim_lock_json(db_t *db, const char *claim_id, json_t **out)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, claim_id);
    return db_run_json(db, "claim_lock_json", &params, out);
}

db_status_t store_claim_move(db_t *db, const claim_move_row_t *row)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, row->claim_id);
    db_param_text(&params, row->status);
    db_param_text(&params, row->decision);
    db_param_text(&params, row->comment);
    db_param_text(&params, row->replacement_order_id);
    db_param_text(&params, row->refund_request_id);
    db_param_i64(&params, row->at_ms);
    return db_run_count(db, "claim_move", &params, NULL);
}

db_status_t store_claim_json(db_t *db, const char *claim_id, json_t **out)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, claim_id);
    return db_run_json(db, "claim_json", &params, out);
}

db_status_t store_claims_json(db_t *db, const claim_filter_t *filter, const page_t *page,
                              json_t **out)
{
    db_params_t params;
    db_params_init(&params);
    param_text_or_null(&params, filter->order_id);
    param_text_or_null(&params, filter->status);
    param_text_or_null(&params, filter->type);
    param_text_or_null(&params, page->has_cursor ? page->after_key : NULL);
    param_text_or_null(&params, page->has_cursor ? page->after_id : NULL);
    db_param_i64(&params, page->limit);
    return db_run_json(db, "claims_json", &params, out);
}

db_status_t store_claim_attachment(db_t *db, const char *claim_id, const char *attachment_id,
                                   bool *found, char *filename, size_t filename_size,
                                   char *content_type, size_t content_type_size,
                                   unsigned char **data_out, size_t *len_out)
{
    *found = false;
    *data_out = NULL;
    *len_out = 0;
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, attachment_id);
    db_param_text(&params, claim_id);
    PGresult *res = NULL;
    db_status_t status = db_run(db, "claim_attachment", &params, &res);
    if (status != DB_OK)
        return status;
    if (PQntuples(res) == 1) {
        db_copy_value(res, 0, 0, filename, filename_size);
        db_copy_value(res, 0, 1, content_type, content_type_size);
        if (db_get_bytes(res, 0, 2, data_out, len_out) != 0)
            status =
                db_fail(db, DB_STATE_OUT_OF_MEMORY, "could not read attachment %s", attachment_id);
        else
            *found = true;
    }
    PQclear(res);
    return status;
}

db_status_t store_claim_attachment_totals(db_t *db, const char *claim_id, int64_t *count_out,
                                          int64_t *bytes_out)
{
    *count_out = 0;
    *bytes_out = 0;
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, claim_id);
    PGresult *res = NULL;
    db_status_t status = db_run(db, "claim_attachment_totals", &params, &res);
    if (status != DB_OK)
        return status;
    if (PQntuples(res) != 1 || numparse_i64(PQgetvalue(res, 0, 0), count_out) != 0 ||
        numparse_i64(PQgetvalue(res, 0, 1), bytes_out) != 0)
        status = db_fail(db, "XX000", "the attachments of claim %s do not add up", claim_id);
    PQclear(res);
    return status;
}

db_status_t store_order_claims_json(db_t *db, const char *order_id, int64_t limit, json_t **out)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, order_id);
    db_param_i64(&params, limit);
    return db_run_json(db, "order_claims_json", &params, out);
}

db_status_t store_report_claims_json(db_t *db, int64_t from_ms, int64_t to_ms, json_t **out)
{
    db_params_t params;
    db_params_init(&params);
    db_param_i64(&params, from_ms);
    db_param_i64(&params, to_ms);
    return db_run_json(db, "report_claims_json", &params, out);
}

db_status_t store_order_free_delivery(db_t *db, const char *order_id)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, order_id);
    return db_run_count(db, "order_free_delivery", &params, NULL);
}
