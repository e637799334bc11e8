/*
 * store.c — every SQL statement of the inventory service (store.h).
 *
 * Reads that only feed an HTTP answer are built as JSON by PostgreSQL
 * (json_build_object) and parsed once here, so the shape of an answer is
 * visible next to its query. Reads that feed a decision come back as the
 * plain structs of store.h.
 */
#include "services/inventory/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/bulk.h"
#include "common/dbjson.h"
#include "common/pgarray.h"

/* ------------------------------------------------------------------ */
/* statements                                                           */

/* The columns read_product expects, in order. */
#define PRODUCT_COLUMNS                                                                            \
    "p.sku, COALESCE(p.external_code, ''), p.name, p.currency, COALESCE(p.buyer_id, ''), "         \
    "COALESCE(p.buyer_name, ''), COALESCE(p.buyer_email, ''), p.price_minor, p.vat_rate_bp, "      \
    "p.weight_g, p.active, p.on_hand, p.reserved, p.low_stock_threshold, p.low_alerted"

/* A product as the API shows it. */
#define PRODUCT_JSON                                                                               \
    "json_build_object('sku', p.sku, 'external_code', p.external_code, 'name', p.name, "           \
    "'price_minor', p.price_minor, 'currency', p.currency, 'vat_rate_bp', p.vat_rate_bp, "         \
    "'weight_g', p.weight_g, 'low_stock_threshold', p.low_stock_threshold, "                       \
    "'buyer', CASE WHEN COALESCE(p.buyer_id, p.buyer_name, p.buyer_email) IS NULL THEN NULL "      \
    "ELSE json_build_object('id', p.buyer_id, 'name', p.buyer_name, 'email', p.buyer_email) END, " \
    "'active', p.active, 'on_hand', p.on_hand, 'reserved', p.reserved, "                           \
    "'available', p.on_hand - p.reserved, "                                                        \
    "'low', p.on_hand - p.reserved < p.low_stock_threshold, "                                      \
    "'next_supply', (SELECT json_build_object('supply_id', s.id, 'expected_date', "                \
    "s.expected_date, 'quantity', l.quantity) FROM supply_lines l JOIN supplies s ON s.id = "      \
    "l.supply_id WHERE l.sku = p.sku AND s.status = 'expected' ORDER BY s.expected_date, s.id "    \
    "LIMIT 1), "                                                                                   \
    "'created_at_ms', (extract(epoch FROM p.created_at) * 1000)::bigint, "                         \
    "'updated_at_ms', (extract(epoch FROM p.updated_at) * 1000)::bigint)::text"

#define SUPPLY_JSON                                                                                \
    "json_build_object('id', s.id, 'status', s.status, 'expected_date', s.expected_date, "         \
    "'supplier', s.supplier, 'comment', s.comment, 'created_by', s.created_by, "                   \
    "'created_at_ms', (extract(epoch FROM s.created_at) * 1000)::bigint, "                         \
    "'received_by', s.received_by, "                                                               \
    "'received_at_ms', (extract(epoch FROM s.received_at) * 1000)::bigint, "                       \
    "'lines', (SELECT json_agg(json_build_object('sku', l.sku, 'quantity', l.quantity, "           \
    "'received_quantity', l.received_quantity) ORDER BY l.sku) FROM supply_lines l "               \
    "WHERE l.supply_id = s.id))::text"

typedef struct {
    const char *name;
    const char *sql;
} statement_t;

static const statement_t statements[] = {
    /* products */
    {"inv_products_lock", "SELECT " PRODUCT_COLUMNS " FROM products p "
                          "WHERE p.sku = ANY($1::text[]) ORDER BY p.sku FOR UPDATE"},
    {"inv_products_lock_for_order",
     "SELECT " PRODUCT_COLUMNS ", o.known FROM (SELECT EXISTS (SELECT 1 FROM orders "
     "WHERE order_id = $2) AS known) o LEFT JOIN LATERAL (SELECT * FROM products p "
     "WHERE p.sku = ANY($1::text[]) ORDER BY p.sku FOR UPDATE) p ON true"},
    {"inv_order_known", "SELECT EXISTS (SELECT 1 FROM orders WHERE order_id = $1)"},
    {"inv_product_insert",
     "INSERT INTO products (sku, external_code, name, price_minor, currency, vat_rate_bp, "
     "weight_g, low_stock_threshold, buyer_id, buyer_name, buyer_email, active, on_hand, "
     "low_alerted) VALUES ($1, NULLIF($2, ''), $3, $4, $5, $6, $7, $8, NULLIF($9, ''), "
     "NULLIF($10, ''), NULLIF($11, ''), $12, $13, $14)"},
    {"inv_product_write",
     "UPDATE products SET external_code = NULLIF($2, ''), name = $3, price_minor = $4, "
     "currency = $5, vat_rate_bp = $6, weight_g = $7, low_stock_threshold = $8, "
     "buyer_id = NULLIF($9, ''), buyer_name = NULLIF($10, ''), buyer_email = NULLIF($11, ''), "
     "active = $12, low_alerted = $13, updated_at = now() WHERE sku = $1"},
    {"inv_product_json", "SELECT " PRODUCT_JSON " FROM products p WHERE p.sku = $1"},
    {"inv_products_page",
     "SELECT " PRODUCT_JSON " FROM products p "
     "WHERE p.sku > COALESCE($1::text, '') AND ($2::boolean IS NULL OR p.active = $2) "
     "AND (NOT $3::boolean OR p.on_hand - p.reserved < p.low_stock_threshold) "
     "AND ($4::text IS NULL OR strpos(lower(p.sku), lower($4)) > 0 "
     "OR strpos(lower(p.name), lower($4)) > 0 OR p.external_code = $4) "
     "ORDER BY p.sku LIMIT $5"},

    /* orders and reservations */
    {"inv_order_lock", "SELECT version, status FROM orders WHERE order_id = $1 FOR UPDATE"},
    {"inv_wait",
     "WITH ord AS (INSERT INTO orders (order_id, version, number, status, currency, "
     "waiting_no, placed_at) VALUES ($1, $2, $3, 'waiting', $4, nextval('orders_waiting_no'), "
     "now()) ON CONFLICT (order_id) DO UPDATE SET version = EXCLUDED.version, "
     "status = 'waiting', waiting_no = COALESCE(orders.waiting_no, EXCLUDED.waiting_no), "
     "updated_at = now() RETURNING 1) "
     "INSERT INTO waiting_lines (order_id, line_no, sku, quantity) "
     "SELECT $1, l.line_no, l.sku, l.quantity FROM unnest($5::int4[], $6::text[], $7::int8[]) "
     "AS l(line_no, sku, quantity) ON CONFLICT (order_id, line_no) DO NOTHING"},
    {"inv_order_record",
     "WITH ord AS (INSERT INTO orders (order_id, version, number, status, currency) "
     "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (order_id) DO UPDATE SET "
     "version = EXCLUDED.version, status = EXCLUDED.status, "
     "number = COALESCE(orders.number, EXCLUDED.number), updated_at = now() RETURNING 1) "
     "DELETE FROM waiting_lines WHERE order_id = $1 AND $4 <> 'waiting'"},
    {"inv_reservations_drop", "DELETE FROM reservations WHERE order_id = $1 AND state = 'held'"},
    {"inv_waiting_lines_drop", "DELETE FROM waiting_lines WHERE order_id = $1"},
    {"inv_held_version",
     "SELECT coalesce(max(order_version), 0) FROM reservations WHERE order_id = $1 AND "
     "state = 'held'"},
    {"inv_held_lines",
     "SELECT line_no, sku, quantity, unit_price_minor, vat_rate_bp, weight_g FROM reservations "
     "WHERE order_id = $1 AND state = 'held' ORDER BY line_no"},
    {"inv_reservations_close",
     "WITH rel AS (UPDATE reservations SET state = CASE WHEN $3 THEN 'committed' "
     "ELSE 'released' END, closed_at = now() WHERE order_id = $1 AND state = 'held' "
     "RETURNING 1), "
     "ord AS (UPDATE orders SET status = $4, version = $2, updated_at = now() "
     "WHERE order_id = $1 RETURNING 1) "
     "SELECT count(*) FROM rel"},
    /* the stock cache's write: every product a transaction changed, only
     * where it still holds what was read under the row lock */
    {"inv_stock_write",
     "UPDATE products p SET on_hand = w.on_hand, reserved = w.reserved, "
     "low_alerted = w.low_alerted, updated_at = now() FROM unnest($1::text[], $2::int8[], "
     "$3::int8[], $4::bool[], $5::int8[], $6::int8[]) AS w(sku, on_hand, reserved, "
     "low_alerted, was_on_hand, was_reserved) WHERE p.sku = w.sku "
     "AND p.on_hand = w.was_on_hand AND p.reserved = w.was_reserved"},
    {"inv_next_supplies",
     "SELECT DISTINCT ON (l.sku) l.sku, s.expected_date::text, s.id FROM supply_lines l "
     "JOIN supplies s ON s.id = l.supply_id WHERE s.status = 'expected' "
     "AND l.sku = ANY($1::text[]) ORDER BY l.sku, s.expected_date, s.id"},
    {"inv_waiting_batch",
     "SELECT o.order_id::text, o.version, o.waiting_no, o.currency FROM orders o "
     "WHERE o.status = 'waiting' AND o.waiting_no > $2 AND ($1::text[] IS NULL OR EXISTS "
     "(SELECT 1 FROM waiting_lines w WHERE w.order_id = o.order_id AND w.sku = ANY($1::text[]))) "
     "ORDER BY o.waiting_no LIMIT $3 FOR UPDATE OF o"},
    {"inv_waiting_lines", "SELECT line_no, sku, quantity FROM waiting_lines WHERE order_id = $1 "
                          "ORDER BY line_no"},
    {"inv_order_json",
     "SELECT json_build_object('order_id', o.order_id, 'version', o.version, 'number', "
     "o.number, 'status', o.status, 'waiting_no', CASE WHEN o.status = 'waiting' THEN "
     "o.waiting_no END, 'updated_at_ms', (extract(epoch FROM o.updated_at) * 1000)::bigint, "
     "'reservations', COALESCE((SELECT json_agg(json_build_object('line_no', r.line_no, 'sku', "
     "r.sku, 'quantity', r.quantity, 'state', r.state, 'unit_price_minor', r.unit_price_minor, "
     "'vat_rate_bp', r.vat_rate_bp, 'weight_g', r.weight_g, 'order_version', r.order_version) "
     "ORDER BY r.line_no) FROM reservations r WHERE r.order_id = o.order_id), '[]'), "
     "'waiting_lines', COALESCE((SELECT json_agg(json_build_object('line_no', w.line_no, "
     "'sku', w.sku, 'quantity', w.quantity) ORDER BY w.line_no) FROM waiting_lines w "
     "WHERE w.order_id = o.order_id), '[]'))::text FROM orders o WHERE o.order_id = $1"},
    {"inv_waiting_json",
     "SELECT COALESCE(json_agg(json_build_object('order_id', o.order_id, 'version', o.version, "
     "'number', o.number, 'waiting_no', o.waiting_no, 'lines', (SELECT json_agg("
     "json_build_object('line_no', w.line_no, 'sku', w.sku, 'quantity', w.quantity) "
     "ORDER BY w.line_no) FROM waiting_lines w WHERE w.order_id = o.order_id)) "
     "ORDER BY o.waiting_no), '[]')::text FROM (SELECT * FROM orders WHERE status = 'waiting' "
     "ORDER BY waiting_no LIMIT $1) o"},

    /* supplies */
    {"inv_supply_insert",
     "WITH s AS (INSERT INTO supplies (expected_date, supplier, comment, created_by) "
     "VALUES ($1::date, $2, $3, $4) RETURNING id), "
     "l AS (INSERT INTO supply_lines (supply_id, sku, quantity) SELECT s.id, u.sku, u.quantity "
     "FROM s, unnest($5::text[], $6::int8[]) AS u(sku, quantity) RETURNING 1) "
     "SELECT id FROM s"},
    {"inv_unknown_skus",
     "SELECT COALESCE(json_agg(u.sku ORDER BY u.n), '[]')::text FROM unnest($1::text[]) "
     "WITH ORDINALITY AS u(sku, n) WHERE NOT EXISTS (SELECT 1 FROM products p "
     "WHERE p.sku = u.sku)"},
    {"inv_supply_lock", "SELECT status FROM supplies WHERE id = $1 FOR UPDATE"},
    {"inv_supply_lines", "SELECT sku, quantity FROM supply_lines WHERE supply_id = $1 "
                         "ORDER BY sku"},
    {"inv_supply_received",
     "WITH l AS (UPDATE supply_lines sl SET received_quantity = u.quantity "
     "FROM unnest($3::text[], $4::int8[]) AS u(sku, quantity) "
     "WHERE sl.supply_id = $1 AND sl.sku = u.sku RETURNING 1) "
     "UPDATE supplies SET status = 'received', received_at = now(), received_by = $2 "
     "WHERE id = $1"},
    {"inv_waiting_counts",
     "SELECT (SELECT count(DISTINCT w.order_id) FROM waiting_lines w WHERE w.sku = u.sku) "
     "FROM unnest($1::text[]) WITH ORDINALITY AS u(sku, n) ORDER BY u.n"},
    {"inv_supply_json", "SELECT " SUPPLY_JSON " FROM supplies s WHERE s.id = $1"},
    {"inv_supplies_page",
     "SELECT " SUPPLY_JSON " FROM supplies s WHERE ($1::text IS NULL OR s.status = $1) "
     "AND ($2::text IS NULL OR EXISTS (SELECT 1 FROM supply_lines l WHERE l.supply_id = s.id "
     "AND l.sku = $2)) AND s.id < COALESCE(NULLIF($3::bigint, 0), 9223372036854775807) "
     "ORDER BY s.id DESC LIMIT $4"},

    /* imports */
    {"inv_codes_held", "SELECT external_code, sku FROM products "
                       "WHERE external_code = ANY($1::text[])"},
    {"inv_import_insert",
     "INSERT INTO products (sku, external_code, name, price_minor, currency, vat_rate_bp, "
     "weight_g, low_stock_threshold, buyer_id, buyer_name, buyer_email, active, on_hand, "
     "low_alerted) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[], "
     "$5::text[], $6::int4[], $7::int4[], $8::int8[], $9::text[], $10::text[], $11::text[], "
     "$12::bool[], $13::int8[], $14::bool[])"},
    {"inv_import_update",
     "UPDATE products p SET "
     "external_code = CASE WHEN u.clears & 1 <> 0 THEN NULL "
     "ELSE COALESCE(u.external_code, p.external_code) END, "
     "name = COALESCE(u.name, p.name), price_minor = COALESCE(u.price_minor, p.price_minor), "
     "currency = COALESCE(u.currency, p.currency), "
     "vat_rate_bp = COALESCE(u.vat_rate_bp, p.vat_rate_bp), "
     "weight_g = COALESCE(u.weight_g, p.weight_g), "
     "low_stock_threshold = COALESCE(u.threshold, p.low_stock_threshold), "
     "buyer_id = CASE WHEN u.clears & 2 <> 0 THEN NULL ELSE COALESCE(u.buyer_id, p.buyer_id) END, "
     "buyer_name = CASE WHEN u.clears & 4 <> 0 THEN NULL "
     "ELSE COALESCE(u.buyer_name, p.buyer_name) END, "
     "buyer_email = CASE WHEN u.clears & 8 <> 0 THEN NULL "
     "ELSE COALESCE(u.buyer_email, p.buyer_email) END, "
     "active = COALESCE(u.active, p.active), on_hand = COALESCE(u.on_hand, p.on_hand), "
     "low_alerted = u.low_alerted, updated_at = now() "
     "FROM unnest($1::text[], $2::text[], $3::int4[], $4::text[], $5::int8[], $6::text[], "
     "$7::int4[], $8::int4[], $9::int8[], $10::text[], $11::text[], $12::text[], $13::bool[], "
     "$14::int8[], $15::bool[]) AS u(sku, external_code, clears, name, price_minor, currency, "
     "vat_rate_bp, weight_g, threshold, buyer_id, buyer_name, buyer_email, active, on_hand, "
     "low_alerted) WHERE p.sku = u.sku"},
    {"inv_import_record",
     "INSERT INTO imports (format, rows, created, updated, stock_changed, actor) "
     "VALUES ($1, $2, $3, $4, $5, $6) RETURNING id"},

    /* returns */
    {"inv_return_order", "SELECT order_id::text FROM returns WHERE return_id = $1"},
    {"inv_returnable_lines",
     "SELECT r.line_no, r.sku, r.quantity, COALESCE((SELECT sum(l.quantity) FROM return_lines l "
     "JOIN returns t ON t.return_id = l.return_id WHERE t.order_id = r.order_id "
     "AND l.line_no = r.line_no), 0) FROM reservations r "
     "WHERE r.order_id = $1 AND r.state = CASE WHEN $2 THEN 'held' ELSE 'committed' END "
     "ORDER BY r.line_no"},
    {"inv_returns_json",
     "SELECT json_build_object('order_id', $1::uuid, 'returns', COALESCE((SELECT json_agg("
     "json_build_object('return_id', t.return_id, 'kind', t.kind, 'actor', t.actor, 'comment', "
     "t.comment, 'created_at_ms', (extract(epoch FROM t.created_at) * 1000)::bigint, 'lines', "
     "(SELECT json_agg(json_build_object('line_no', l.line_no, 'sku', l.sku, 'quantity', "
     "l.quantity, 'condition', l.condition, 'reason', l.reason, 'restocked', l.restocked) "
     "ORDER BY l.line_no, l.condition DESC) FROM return_lines l WHERE l.return_id = t.return_id)) "
     "ORDER BY t.created_at, t.return_id) FROM returns t WHERE t.order_id = $1), '[]'))::text "
     "WHERE EXISTS (SELECT 1 FROM orders WHERE order_id = $1)"},
    {"inv_return_insert", "INSERT INTO returns (return_id, order_id, kind, actor, comment) "
                          "VALUES ($1, $2, $3, $4, $5)"},
    {"inv_return_line_insert",
     "INSERT INTO return_lines (return_id, line_no, condition, sku, quantity, reason, restocked) "
     "VALUES ($1, $2, $3, $4, $5, $6, $3 = 'sellable')"},

    /* reconciliation: the products, the ledger and the reservations agree */
    {"inv_reconciliation",
     "WITH l AS (SELECT sku, sum(on_hand_delta) AS oh, sum(reserved_delta) AS rv "
     "FROM stock_movements GROUP BY sku), "
     "h AS (SELECT sku, sum(quantity) AS q FROM reservations WHERE state = 'held' GROUP BY sku), "
     "p AS (SELECT p.sku, p.on_hand, p.reserved, COALESCE(l.oh, 0) AS ledger_on_hand, "
     "COALESCE(l.rv, 0) AS ledger_reserved, COALESCE(h.q, 0) AS held_reservations "
     "FROM products p LEFT JOIN l ON l.sku = p.sku LEFT JOIN h ON h.sku = p.sku), "
     "o AS (SELECT o.order_id, o.status, COALESCE(r.n, 0) AS held_lines, "
     "COALESCE(w.n, 0) AS waiting_lines FROM orders o "
     "LEFT JOIN (SELECT order_id, count(*) AS n FROM reservations WHERE state = 'held' "
     "GROUP BY order_id) r ON r.order_id = o.order_id "
     "LEFT JOIN (SELECT order_id, count(*) AS n FROM waiting_lines GROUP BY order_id) w "
     "ON w.order_id = o.order_id) "
     "SELECT json_build_object("
     "'products_checked', (SELECT count(*) FROM p), "
     "'mismatches', COALESCE((SELECT json_agg(row_to_json(p) ORDER BY p.sku) FROM p "
     "WHERE p.on_hand <> p.ledger_on_hand OR p.reserved <> p.ledger_reserved "
     "OR p.reserved <> p.held_reservations), '[]'), "
     "'ledger_without_product', (SELECT count(*) FROM l WHERE NOT EXISTS "
     "(SELECT 1 FROM products x WHERE x.sku = l.sku)), "
     "'orders', COALESCE((SELECT json_agg(row_to_json(o) ORDER BY o.order_id) FROM o "
     "WHERE (o.status = 'reserved') <> (o.held_lines > 0) "
     "OR (o.status = 'waiting') <> (o.waiting_lines > 0)), '[]'), "
     "'products', CASE WHEN $1 THEN COALESCE((SELECT json_agg(row_to_json(p) ORDER BY p.sku) "
     "FROM p), '[]') END)::text"},
};

/* The ledger's rows, written in one statement per transaction (bulk.h). */
static const bulk_spec_t movement_spec = {
    .stmt = "inv_movements_bulk",
    .sql = "INSERT INTO stock_movements (sku, on_hand_delta, reserved_delta, cause, kind, ref, "
           "line_no, actor, note) SELECT s, oh, rv, c, k, r, l, a, n FROM unnest($1::text[], "
           "$2::int8[], $3::int8[], $4::text[], $5::text[], $6::text[], $7::int4[], $8::text[], "
           "$9::text[]) WITH ORDINALITY AS m (s, oh, rv, c, k, r, l, a, n, o) ORDER BY o",
    .column_oids = {PG_OID_TEXT, PG_OID_INT8, PG_OID_INT8, PG_OID_TEXT, PG_OID_TEXT, PG_OID_TEXT,
                    PG_OID_INT4, PG_OID_TEXT, PG_OID_TEXT},
    .column_count = 9,
    .order = 40,
};

/* Held orders, written at COMMIT in one statement: the order row (new, or
 * a waiting one now held) and the end of its waiting. */
static const bulk_spec_t held_orders_spec = {
    .stmt = "inv_held_orders_bulk",
    .sql = "WITH o AS (INSERT INTO orders (order_id, version, number, status, currency, "
           "placed_at) SELECT u.order_id, u.version, NULLIF(u.number, 0), 'reserved', u.currency, "
           "now() FROM unnest($1::uuid[], $2::int8[], $3::int8[], $4::text[]) AS u(order_id, "
           "version, number, currency) ON CONFLICT (order_id) DO UPDATE SET "
           "version = EXCLUDED.version, status = 'reserved', updated_at = now() "
           "RETURNING order_id) "
           "DELETE FROM waiting_lines w USING o WHERE w.order_id = o.order_id",
    .column_oids = {PG_OID_UUID, PG_OID_INT8, PG_OID_INT8, PG_OID_TEXT},
    .column_count = 4,
    .order = 20,
};

/* Their reservation rows, one per order line. */
static const bulk_spec_t reservations_spec = {
    .stmt = "inv_reservations_bulk",
    .sql = "INSERT INTO reservations (order_id, line_no, sku, quantity, unit_price_minor, "
           "vat_rate_bp, weight_g, order_version) SELECT * FROM unnest($1::uuid[], $2::int4[], "
           "$3::text[], $4::int8[], $5::int8[], $6::int4[], $7::int4[], $8::int8[])",
    .column_oids = {PG_OID_UUID, PG_OID_INT4, PG_OID_TEXT, PG_OID_INT8, PG_OID_INT8, PG_OID_INT4,
                    PG_OID_INT4, PG_OID_INT8},
    .column_count = 8,
    .order = 30,
};

int store_setup(db_t *db, void *arg)
{
    (void)arg;
    int rc = 0;
    for (size_t i = 0; i < sizeof statements / sizeof statements[0]; i++)
        rc |= db_prepare(db, statements[i].name, statements[i].sql);
    return rc ? -1 : 0;
}

/* ------------------------------------------------------------------ */
/* helpers                                                              */

#define ARRAYS_MAX 16

/* The array parameters of one call. */
typedef struct {
    pg_array_t items[ARRAYS_MAX];
    int count;
    bool failed; /* out of memory while filling */
} arrays_t;

static void arrays_init(arrays_t *arrays, const uint32_t *oids, int count)
{
    memset(arrays, 0, sizeof *arrays);
    arrays->count = count;
    for (int i = 0; i < count; i++)
        pg_array_init(&arrays->items[i], oids[i]);
}

static void arrays_release(arrays_t *arrays)
{
    for (int i = 0; i < arrays->count; i++)
        pg_array_release(&arrays->items[i]);
}

static void add_text(arrays_t *arrays, int i, const char *text)
{
    arrays->failed |= pg_array_add_text(&arrays->items[i], text) != 0;
}

static void add_i64(arrays_t *arrays, int i, int64_t value)
{
    arrays->failed |= pg_array_add_i64(&arrays->items[i], value) != 0;
}

static void add_i32(arrays_t *arrays, int i, int32_t value)
{
    arrays->failed |= pg_array_add_i32(&arrays->items[i], value) != 0;
}

static void add_bool(arrays_t *arrays, int i, bool value)
{
    arrays->failed |= pg_array_add_bool(&arrays->items[i], value) != 0;
}

static void add_null(arrays_t *arrays, int i)
{
    arrays->failed |= pg_array_add(&arrays->items[i], NULL, 0) != 0;
}

/* Appends arrays [from, count) as binary parameters; -1 on OOM. */
static int arrays_params(arrays_t *arrays, int from, db_params_t *params)
{
    if (arrays->failed)
        return -1;
    for (int i = from; i < arrays->count; i++) {
        const uint8_t *wire = NULL;
        size_t len = 0;
        if (pg_array_wire(&arrays->items[i], &wire, &len) != 0)
            return -1;
        db_param_bytes(params, wire, len);
    }
    return 0;
}

/* One text[] parameter from a list of strings into array (initialised
 * here, released by the caller). */
static int text_array_param(pg_array_t *array, const char *const *texts, size_t count,
                            db_params_t *params)
{
    pg_array_init(array, PG_OID_TEXT);
    for (size_t i = 0; i < count; i++)
        if (pg_array_add_text(array, texts[i]) != 0)
            return -1;
    const uint8_t *wire = NULL;
    size_t len = 0;
    if (pg_array_wire(array, &wire, &len) != 0)
        return -1;
    db_param_bytes(params, wire, len);
    return 0;
}

/* Runs a statement whose only parameter is a text[] of texts. */
static db_status_t run_on_texts(db_t *db, const char *stmt, const char *const *texts, size_t count,
                                PGresult **res)
{
    pg_array_t array;
    db_params_t params;
    db_params_init(&params);
    db_status_t status = DB_ERROR;
    if (text_array_param(&array, texts, count, &params) == 0)
        status = db_run(db, stmt, &params, res);
    pg_array_release(&array);
    return status;
}

static void read_product(const PGresult *res, int row, product_row_t *p)
{
    memset(p, 0, sizeof *p);
    db_copy_value(res, row, 0, p->sku, sizeof p->sku);
    db_copy_value(res, row, 1, p->external_code, sizeof p->external_code);
    db_copy_value(res, row, 2, p->name, sizeof p->name);
    db_copy_value(res, row, 3, p->currency, sizeof p->currency);
    db_copy_value(res, row, 4, p->buyer_id, sizeof p->buyer_id);
    db_copy_value(res, row, 5, p->buyer_name, sizeof p->buyer_name);
    db_copy_value(res, row, 6, p->buyer_email, sizeof p->buyer_email);
    p->price_minor = db_get_i64_or(res, row, 7, 0);
    p->vat_rate_bp = (int32_t)db_get_i64_or(res, row, 8, 0);
    p->weight_g = (int32_t)db_get_i64_or(res, row, 9, 0);
    p->active = db_get_bool(res, row, 10);
    p->level.on_hand = db_get_i64_or(res, row, 11, 0);
    p->level.reserved = db_get_i64_or(res, row, 12, 0);
    p->level.low_threshold = db_get_i64_or(res, row, 13, 0);
    p->level.low_alerted = db_get_bool(res, row, 14);
}

/* ------------------------------------------------------------------ */
/* products                                                             */

db_status_t store_products_lock(db_t *db, const char *const *skus, size_t sku_count,
                                product_row_t *rows, size_t *count_out)
{
    *count_out = 0;
    PGresult *res = NULL;
    db_status_t status = run_on_texts(db, "inv_products_lock", skus, sku_count, &res);
    if (status != DB_OK)
        return status;
    size_t n = (size_t)PQntuples(res);
    for (size_t i = 0; i < n && i < sku_count; i++)
        read_product(res, (int)i, &rows[i]);
    *count_out = n < sku_count ? n : sku_count;
    PQclear(res);
    return DB_OK;
}

db_status_t store_products_lock_many(db_t *db, const char *const *skus, size_t sku_count,
                                     product_row_t **rows_out, size_t *count_out)
{
    *rows_out = NULL;
    *count_out = 0;
    PGresult *res = NULL;
    db_status_t status = run_on_texts(db, "inv_products_lock", skus, sku_count, &res);
    if (status != DB_OK)
        return status;
    size_t n = (size_t)PQntuples(res);
    product_row_t *rows = calloc(n ? n : 1, sizeof *rows);
    if (!rows) {
        PQclear(res);
        return DB_ERROR;
    }
    for (size_t i = 0; i < n; i++)
        read_product(res, (int)i, &rows[i]);
    PQclear(res);
    *rows_out = rows;
    *count_out = n;
    return DB_OK;
}

db_status_t store_products_lock_for_order(db_t *db, const char *const *skus, size_t sku_count,
                                          const char *order_id, product_row_t **rows_out,
                                          size_t *count_out, bool *order_known_out)
{
    *rows_out = NULL;
    *count_out = 0;
    *order_known_out = false;
    pg_array_t array;
    db_params_t params;
    db_params_init(&params);
    PGresult *res = NULL;
    db_status_t status = DB_ERROR;
    if (text_array_param(&array, skus, sku_count, &params) == 0) {
        db_param_text(&params, order_id);
        status = db_run(db, "inv_products_lock_for_order", &params, &res);
    }
    pg_array_release(&array);
    if (status != DB_OK)
        return status;
    size_t n = (size_t)PQntuples(res);
    product_row_t *rows = calloc(n ? n : 1, sizeof *rows);
    if (!rows) {
        PQclear(res);
        return DB_ERROR;
    }
    size_t found = 0;
    for (size_t i = 0; i < n; i++) {
        if (i == 0)
            *order_known_out = db_get_bool(res, 0, 15);
        if (db_value(res, (int)i, 0)) /* no product at all: one row of NULLs */
            read_product(res, (int)i, &rows[found++]);
    }
    PQclear(res);
    *rows_out = rows;
    *count_out = found;
    return DB_OK;
}

db_status_t store_order_known(db_t *db, const char *order_id, bool *known_out)
{
    *known_out = false;
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, order_id);
    PGresult *res = NULL;
    db_status_t status = db_run(db, "inv_order_known", &params, &res);
    if (status != DB_OK)
        return status;
    *known_out = db_get_bool(res, 0, 0);
    PQclear(res);
    return DB_OK;
}

static void product_params(const product_row_t *p, db_params_t *params)
{
    db_param_text(params, p->sku);
    db_param_text(params, p->external_code);
    db_param_text(params, p->name);
    db_param_i64(params, p->price_minor);
    db_param_text(params, p->currency);
    db_param_i64(params, p->vat_rate_bp);
    db_param_i64(params, p->weight_g);
    db_param_i64(params, p->level.low_threshold);
    db_param_text(params, p->buyer_id);
    db_param_text(params, p->buyer_name);
    db_param_text(params, p->buyer_email);
    db_param_bool(params, p->active);
}

db_status_t store_product_insert(db_t *db, const product_row_t *product)
{
    db_params_t params;
    db_params_init(&params);
    product_params(product, &params);
    db_param_i64(&params, product->level.on_hand);
    db_param_bool(&params, product->level.low_alerted);
    return db_run(db, "inv_product_insert", &params, NULL);
}

db_status_t store_product_write(db_t *db, const product_row_t *product)
{
    db_params_t params;
    db_params_init(&params);
    product_params(product, &params);
    db_param_bool(&params, product->level.low_alerted);
    return db_run(db, "inv_product_write", &params, NULL);
}

db_status_t store_product_json(db_t *db, const char *sku, json_t **product_out)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, sku);
    return db_run_json(db, "inv_product_json", &params, product_out);
}

db_status_t store_products_page(db_t *db, const product_filter_t *filter, json_t **items_out)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, filter->after_sku);
    if (filter->active < 0)
        db_param_null(&params);
    else
        db_param_bool(&params, filter->active > 0);
    db_param_bool(&params, filter->low_only);
    db_param_text(&params, filter->query);
    db_param_i64(&params, filter->limit);
    return db_run_json_rows(db, "inv_products_page", &params, items_out);
}

/* ------------------------------------------------------------------ */
/* orders and reservations                                              */

db_status_t store_order_lock(db_t *db, const char *order_id, order_state_t *state_out)
{
    memset(state_out, 0, sizeof *state_out);
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, order_id);
    PGresult *res = NULL;
    db_status_t status = db_run(db, "inv_order_lock", &params, &res);
    if (status != DB_OK)
        return status;
    if (PQntuples(res) == 1) {
        state_out->found = true;
        state_out->version = db_get_i64_or(res, 0, 0, 0);
        db_copy_value(res, 0, 1, state_out->status, sizeof state_out->status);
    }
    PQclear(res);
    return DB_OK;
}

static void order_params(const order_ref_t *order, db_params_t *params)
{
    db_param_text(params, order->order_id);
    db_param_u64(params, order->version);
    if (order->number > 0)
        db_param_u64(params, order->number);
    else
        db_param_null(params);
    db_param_text(params, order->currency ? order->currency : "");
}

db_status_t store_hold_deferred(db_t *db, const order_ref_t *order, const order_line_t *lines,
                                size_t line_count)
{
    bulk_t *orders = bulk_of(db, &held_orders_spec);
    bulk_t *rows = bulk_of(db, &reservations_spec);
    if (!orders || !rows)
        return DB_ERROR;
    if (pg_array_add_uuid(bulk_column(orders, 0), order->order_id) != 0 ||
        pg_array_add_i64(bulk_column(orders, 1), (int64_t)order->version) != 0 ||
        pg_array_add_i64(bulk_column(orders, 2), (int64_t)order->number) != 0 ||
        pg_array_add_text(bulk_column(orders, 3), order->currency ? order->currency : "") != 0) {
        bulk_row_abandon(orders);
        return DB_ERROR;
    }
    db_status_t status = bulk_row_done(db, orders);
    for (size_t i = 0; i < line_count && status == DB_OK; i++) {
        const order_line_t *line = &lines[i];
        if (pg_array_add_uuid(bulk_column(rows, 0), order->order_id) != 0 ||
            pg_array_add_i32(bulk_column(rows, 1), (int32_t)line->line_no) != 0 ||
            pg_array_add_text(bulk_column(rows, 2), line->sku) != 0 ||
            pg_array_add_i64(bulk_column(rows, 3), line->quantity) != 0 ||
            pg_array_add_i64(bulk_column(rows, 4), line->unit_price_minor) != 0 ||
            pg_array_add_i32(bulk_column(rows, 5), line->vat_rate_bp) != 0 ||
            pg_array_add_i32(bulk_column(rows, 6), line->weight_g) != 0 ||
            pg_array_add_i64(bulk_column(rows, 7), (int64_t)order->version) != 0) {
            bulk_row_abandon(rows);
            return DB_ERROR;
        }
        status = bulk_row_done(db, rows);
    }
    return status;
}

db_status_t store_stock_write(db_t *db, const stock_write_t *rows, size_t count,
                              int64_t *written_out)
{
    *written_out = 0;
    if (count == 0)
        return DB_OK;
    static const uint32_t oids[] = {PG_OID_TEXT, PG_OID_INT8, PG_OID_INT8,
                                    PG_OID_BOOL, PG_OID_INT8, PG_OID_INT8};
    arrays_t arrays;
    arrays_init(&arrays, oids, 6);
    for (size_t i = 0; i < count; i++) {
        add_text(&arrays, 0, rows[i].sku);
        add_i64(&arrays, 1, rows[i].on_hand);
        add_i64(&arrays, 2, rows[i].reserved);
        add_bool(&arrays, 3, rows[i].low_alerted);
        add_i64(&arrays, 4, rows[i].was_on_hand);
        add_i64(&arrays, 5, rows[i].was_reserved);
    }
    db_params_t params;
    db_params_init(&params);
    db_status_t status = DB_ERROR;
    if (arrays_params(&arrays, 0, &params) == 0)
        status = db_run_count(db, "inv_stock_write", &params, written_out);
    arrays_release(&arrays);
    return status;
}

db_status_t store_wait(db_t *db, const order_ref_t *order, const order_line_t *lines,
                       size_t line_count)
{
    static const uint32_t oids[] = {PG_OID_INT4, PG_OID_TEXT, PG_OID_INT8};
    arrays_t arrays;
    arrays_init(&arrays, oids, 3);
    for (size_t i = 0; i < line_count; i++) {
        add_i32(&arrays, 0, (int32_t)lines[i].line_no);
        add_text(&arrays, 1, lines[i].sku);
        add_i64(&arrays, 2, lines[i].quantity);
    }
    db_params_t params;
    db_params_init(&params);
    order_params(order, &params);
    db_status_t status = DB_ERROR;
    if (arrays_params(&arrays, 0, &params) == 0)
        status = db_run(db, "inv_wait", &params, NULL);
    arrays_release(&arrays);
    return status;
}

db_status_t store_order_record(db_t *db, const order_ref_t *order, const char *status)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, order->order_id);
    db_param_u64(&params, order->version);
    if (order->number > 0)
        db_param_u64(&params, order->number);
    else
        db_param_null(&params);
    db_param_text(&params, status);
    db_param_text(&params, order->currency ? order->currency : "");
    return db_run(db, "inv_order_record", &params, NULL);
}

/* Reads lines from a result of (line_no, sku, quantity[, price, vat, weight]). */
static void read_lines(const PGresult *res, order_line_t *lines, size_t cap, size_t *count_out)
{
    size_t n = (size_t)PQntuples(res);
    bool priced = PQnfields(res) >= 6;
    for (size_t i = 0; i < n && i < cap; i++) {
        order_line_t *line = &lines[i];
        memset(line, 0, sizeof *line);
        line->line_no = (uint32_t)db_get_i64_or(res, (int)i, 0, 0);
        db_copy_value(res, (int)i, 1, line->sku, sizeof line->sku);
        line->quantity = db_get_i64_or(res, (int)i, 2, 0);
        if (priced) {
            line->unit_price_minor = db_get_i64_or(res, (int)i, 3, 0);
            line->vat_rate_bp = (int32_t)db_get_i64_or(res, (int)i, 4, 0);
            line->weight_g = (int32_t)db_get_i64_or(res, (int)i, 5, 0);
        }
    }
    *count_out = n < cap ? n : cap;
}

/* The lines a statement reads for one order, up to cap. */
static db_status_t order_lines(db_t *db, const char *stmt, const char *order_id,
                               order_line_t *lines, size_t cap, size_t *count_out)
{
    *count_out = 0;
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, order_id);
    PGresult *res = NULL;
    db_status_t status = db_run(db, stmt, &params, &res);
    if (status != DB_OK)
        return status;
    read_lines(res, lines, cap, count_out);
    PQclear(res);
    return DB_OK;
}

static db_status_t run_on_order(db_t *db, const char *stmt, const char *order_id)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, order_id);
    return db_run(db, stmt, &params, NULL);
}

db_status_t store_reservations_drop(db_t *db, const char *order_id)
{
    return run_on_order(db, "inv_reservations_drop", order_id);
}

db_status_t store_waiting_lines_drop(db_t *db, const char *order_id)
{
    return run_on_order(db, "inv_waiting_lines_drop", order_id);
}

db_status_t store_held_version(db_t *db, const char *order_id, uint64_t *version_out)
{
    *version_out = 0;
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, order_id);
    PGresult *res = NULL;
    db_status_t status = db_run(db, "inv_held_version", &params, &res);
    if (status != DB_OK)
        return status;
    *version_out = (uint64_t)db_get_i64_or(res, 0, 0, 0);
    PQclear(res);
    return DB_OK;
}

db_status_t store_held_lines(db_t *db, const char *order_id, order_line_t *lines, size_t cap,
                             size_t *count_out)
{
    return order_lines(db, "inv_held_lines", order_id, lines, cap, count_out);
}

db_status_t store_reservations_close(db_t *db, const order_ref_t *order, bool write_off,
                                     const char *status_text, int64_t *closed_out)
{
    *closed_out = 0;
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, order->order_id);
    db_param_u64(&params, order->version);
    db_param_bool(&params, write_off);
    db_param_text(&params, status_text);
    PGresult *res = NULL;
    db_status_t status = db_run(db, "inv_reservations_close", &params, &res);
    if (status != DB_OK)
        return status;
    *closed_out = db_get_i64_or(res, 0, 0, 0);
    PQclear(res);
    return DB_OK;
}

db_status_t store_next_supplies(db_t *db, const char *const *skus, size_t sku_count,
                                next_supply_t *out, size_t *count_out)
{
    *count_out = 0;
    PGresult *res = NULL;
    db_status_t status = run_on_texts(db, "inv_next_supplies", skus, sku_count, &res);
    if (status != DB_OK)
        return status;
    size_t n = (size_t)PQntuples(res);
    for (size_t i = 0; i < n && i < sku_count; i++) {
        db_copy_value(res, (int)i, 0, out[i].sku, sizeof out[i].sku);
        db_copy_value(res, (int)i, 1, out[i].expected_date, sizeof out[i].expected_date);
        out[i].supply_id = db_get_i64_or(res, (int)i, 2, 0);
    }
    *count_out = n < sku_count ? n : sku_count;
    PQclear(res);
    return DB_OK;
}

db_status_t store_waiting_batch(db_t *db, const char *const *skus, size_t sku_count,
                                int64_t after_no, int limit, waiting_order_t *out,
                                size_t *count_out)
{
    *count_out = 0;
    pg_array_t array;
    pg_array_init(&array, PG_OID_TEXT);
    db_params_t params;
    db_params_init(&params);
    PGresult *res = NULL;
    db_status_t status = DB_ERROR;
    int rc = 0;
    if (sku_count == 0)
        db_param_null(&params);
    else
        rc = text_array_param(&array, skus, sku_count, &params);
    if (rc == 0) {
        db_param_i64(&params, after_no);
        db_param_i64(&params, limit);
        status = db_run(db, "inv_waiting_batch", &params, &res);
    }
    pg_array_release(&array);
    if (status != DB_OK)
        return status;
    size_t n = (size_t)PQntuples(res);
    for (size_t i = 0; i < n && i < (size_t)limit; i++) {
        db_copy_value(res, (int)i, 0, out[i].order_id, sizeof out[i].order_id);
        out[i].version = db_get_i64_or(res, (int)i, 1, 0);
        out[i].waiting_no = db_get_i64_or(res, (int)i, 2, 0);
        db_copy_value(res, (int)i, 3, out[i].currency, sizeof out[i].currency);
    }
    *count_out = n < (size_t)limit ? n : (size_t)limit;
    PQclear(res);
    return DB_OK;
}

db_status_t store_waiting_lines(db_t *db, const char *order_id, order_line_t *lines, size_t cap,
                                size_t *count_out)
{
    return order_lines(db, "inv_waiting_lines", order_id, lines, cap, count_out);
}

db_status_t store_order_json(db_t *db, const char *order_id, json_t **out)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, order_id);
    return db_run_json(db, "inv_order_json", &params, out);
}

db_status_t store_waiting_json(db_t *db, int limit, json_t **out)
{
    db_params_t params;
    db_params_init(&params);
    db_param_i64(&params, limit);
    return db_run_json(db, "inv_waiting_json", &params, out);
}

/* ------------------------------------------------------------------ */
/* supplies                                                             */

db_status_t store_supply_insert(db_t *db, const char *expected_date, const char *supplier,
                                const char *comment, const char *actor, const supply_line_t *lines,
                                size_t line_count, int64_t *id_out)
{
    *id_out = 0;
    static const uint32_t oids[] = {PG_OID_TEXT, PG_OID_INT8};
    arrays_t arrays;
    arrays_init(&arrays, oids, 2);
    for (size_t i = 0; i < line_count; i++) {
        add_text(&arrays, 0, lines[i].sku);
        add_i64(&arrays, 1, lines[i].quantity);
    }
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, expected_date);
    db_param_text(&params, supplier ? supplier : "");
    db_param_text(&params, comment ? comment : "");
    db_param_text(&params, actor);
    PGresult *res = NULL;
    db_status_t status = DB_ERROR;
    if (arrays_params(&arrays, 0, &params) == 0)
        status = db_run(db, "inv_supply_insert", &params, &res);
    arrays_release(&arrays);
    if (status != DB_OK)
        return status;
    *id_out = db_get_i64_or(res, 0, 0, 0);
    PQclear(res);
    return DB_OK;
}

db_status_t store_unknown_skus(db_t *db, const char *const *skus, size_t sku_count,
                               json_t **missing_out)
{
    pg_array_t array;
    db_params_t params;
    db_params_init(&params);
    db_status_t status = DB_ERROR;
    *missing_out = NULL;
    if (text_array_param(&array, skus, sku_count, &params) == 0)
        status = db_run_json(db, "inv_unknown_skus", &params, missing_out);
    pg_array_release(&array);
    return status;
}

db_status_t store_supply_lock(db_t *db, int64_t id, char status_out[16], supply_line_t *lines,
                              size_t cap, size_t *count_out)
{
    status_out[0] = '\0';
    *count_out = 0;
    db_params_t params;
    db_params_init(&params);
    db_param_i64(&params, id);
    PGresult *res = NULL;
    db_status_t status = db_run(db, "inv_supply_lock", &params, &res);
    if (status != DB_OK)
        return status;
    bool found = PQntuples(res) == 1;
    if (found)
        db_copy_value(res, 0, 0, status_out, 16);
    PQclear(res);
    res = NULL;
    if (!found)
        return DB_OK;
    status = db_run(db, "inv_supply_lines", &params, &res);
    if (status != DB_OK)
        return status;
    size_t n = (size_t)PQntuples(res);
    for (size_t i = 0; i < n && i < cap; i++) {
        db_copy_value(res, (int)i, 0, lines[i].sku, sizeof lines[i].sku);
        lines[i].quantity = db_get_i64_or(res, (int)i, 1, 0);
    }
    *count_out = n < cap ? n : cap;
    PQclear(res);
    return DB_OK;
}

db_status_t store_supply_received(db_t *db, int64_t id, const char *actor,
                                  const supply_line_t *lines, size_t line_count)
{
    static const uint32_t oids[] = {PG_OID_TEXT, PG_OID_INT8};
    arrays_t arrays;
    arrays_init(&arrays, oids, 2);
    for (size_t i = 0; i < line_count; i++) {
        add_text(&arrays, 0, lines[i].sku);
        add_i64(&arrays, 1, lines[i].quantity);
    }
    db_params_t params;
    db_params_init(&params);
    db_param_i64(&params, id);
    db_param_text(&params, actor);
    db_status_t status = DB_ERROR;
    if (arrays_params(&arrays, 0, &params) == 0)
        status = db_run(db, "inv_supply_received", &params, NULL);
    arrays_release(&arrays);
    return status;
}

db_status_t store_waiting_counts(db_t *db, const char *const *skus, size_t sku_count,
                                 int64_t *counts_out)
{
    PGresult *res = NULL;
    db_status_t status = run_on_texts(db, "inv_waiting_counts", skus, sku_count, &res);
    if (status != DB_OK)
        return status;
    for (size_t i = 0; i < sku_count; i++)
        counts_out[i] = (int)i < PQntuples(res) ? db_get_i64_or(res, (int)i, 0, 0) : 0;
    PQclear(res);
    return DB_OK;
}

db_status_t store_supply_json(db_t *db, int64_t id, json_t **out)
{
    db_params_t params;
    db_params_init(&params);
    db_param_i64(&params, id);
    return db_run_json(db, "inv_supply_json", &params, out);
}

db_status_t store_supplies_page(db_t *db, const char *status, const char *sku, int64_t before_id,
                                int limit, json_t **items_out)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, status);
    db_param_text(&params, sku);
    db_param_i64(&params, before_id);
    db_param_i64(&params, limit);
    return db_run_json_rows(db, "inv_supplies_page", &params, items_out);
}

/* ------------------------------------------------------------------ */
/* imports                                                              */

db_status_t store_codes_held(db_t *db, const char *const *codes, size_t code_count,
                             store_code_t **out, size_t *count_out)
{
    *out = NULL;
    *count_out = 0;
    PGresult *res = NULL;
    db_status_t status = run_on_texts(db, "inv_codes_held", codes, code_count, &res);
    if (status != DB_OK)
        return status;
    size_t n = (size_t)PQntuples(res);
    store_code_t *held = calloc(n ? n : 1, sizeof *held);
    for (size_t i = 0; held && i < n; i++) {
        held[i].external_code = strdup(db_value(res, (int)i, 0));
        held[i].sku = strdup(db_value(res, (int)i, 1));
        if (!held[i].external_code || !held[i].sku) {
            store_codes_free(held, i + 1);
            held = NULL;
        }
    }
    PQclear(res);
    if (!held)
        return DB_ERROR;
    *out = held;
    *count_out = n;
    return DB_OK;
}

void store_codes_free(store_code_t *codes, size_t count)
{
    for (size_t i = 0; codes && i < count; i++) {
        free(codes[i].external_code);
        free(codes[i].sku);
    }
    free(codes);
}

db_status_t store_import_insert(db_t *db, const import_sql_row_t *rows, size_t count)
{
    if (count == 0)
        return DB_OK;
    static const uint32_t oids[] = {PG_OID_TEXT, PG_OID_TEXT, PG_OID_TEXT, PG_OID_INT8, PG_OID_TEXT,
                                    PG_OID_INT4, PG_OID_INT4, PG_OID_INT8, PG_OID_TEXT, PG_OID_TEXT,
                                    PG_OID_TEXT, PG_OID_BOOL, PG_OID_INT8, PG_OID_BOOL};
    arrays_t arrays;
    arrays_init(&arrays, oids, 14);
    for (size_t i = 0; i < count; i++) {
        const import_sql_row_t *r = &rows[i];
        add_text(&arrays, 0, r->sku);
        add_text(&arrays, 1, r->clear_external_code ? NULL : r->external_code);
        add_text(&arrays, 2, r->name);
        add_i64(&arrays, 3, r->price_minor);
        add_text(&arrays, 4, r->currency ? r->currency : "RUB");
        add_i32(&arrays, 5, r->vat_rate_bp);
        add_i32(&arrays, 6, r->weight_g);
        add_i64(&arrays, 7, r->has_threshold ? r->low_stock_threshold : 0);
        add_text(&arrays, 8, r->clear_buyer_id ? NULL : r->buyer_id);
        add_text(&arrays, 9, r->clear_buyer_name ? NULL : r->buyer_name);
        add_text(&arrays, 10, r->clear_buyer_email ? NULL : r->buyer_email);
        add_bool(&arrays, 11, r->has_active ? r->active : true);
        add_i64(&arrays, 12, r->has_on_hand ? r->on_hand : 0);
        add_bool(&arrays, 13, r->low_alerted);
    }
    db_params_t params;
    db_params_init(&params);
    db_status_t status = DB_ERROR;
    if (arrays_params(&arrays, 0, &params) == 0)
        status = db_run(db, "inv_import_insert", &params, NULL);
    arrays_release(&arrays);
    return status;
}

db_status_t store_import_update(db_t *db, const import_sql_row_t *rows, size_t count)
{
    if (count == 0)
        return DB_OK;
    static const uint32_t oids[] = {PG_OID_TEXT, PG_OID_TEXT, PG_OID_INT4, PG_OID_TEXT,
                                    PG_OID_INT8, PG_OID_TEXT, PG_OID_INT4, PG_OID_INT4,
                                    PG_OID_INT8, PG_OID_TEXT, PG_OID_TEXT, PG_OID_TEXT,
                                    PG_OID_BOOL, PG_OID_INT8, PG_OID_BOOL};
    arrays_t arrays;
    arrays_init(&arrays, oids, 15);
    for (size_t i = 0; i < count; i++) {
        const import_sql_row_t *r = &rows[i];
        int32_t clears = (r->clear_external_code ? 1 : 0) | (r->clear_buyer_id ? 2 : 0) |
                         (r->clear_buyer_name ? 4 : 0) | (r->clear_buyer_email ? 8 : 0);
        add_text(&arrays, 0, r->sku);
        add_text(&arrays, 1, r->external_code);
        add_i32(&arrays, 2, clears);
        add_text(&arrays, 3, r->name);
        if (r->has_price)
            add_i64(&arrays, 4, r->price_minor);
        else
            add_null(&arrays, 4);
        add_text(&arrays, 5, r->currency);
        if (r->has_vat)
            add_i32(&arrays, 6, r->vat_rate_bp);
        else
            add_null(&arrays, 6);
        if (r->has_weight)
            add_i32(&arrays, 7, r->weight_g);
        else
            add_null(&arrays, 7);
        if (r->has_threshold)
            add_i64(&arrays, 8, r->low_stock_threshold);
        else
            add_null(&arrays, 8);
        add_text(&arrays, 9, r->buyer_id);
        add_text(&arrays, 10, r->buyer_name);
        add_text(&arrays, 11, r->buyer_email);
        if (r->has_active)
            add_bool(&arrays, 12, r->active);
        else
            add_null(&arrays, 12);
        if (r->has_on_hand)
            add_i64(&arrays, 13, r->on_hand);
        else
            add_null(&arrays, 13);
        add_bool(&arrays, 14, r->low_alerted);
    }
    db_params_t params;
    db_params_init(&params);
    db_status_t status = DB_ERROR;
    if (arrays_params(&arrays, 0, &params) == 0)
        status = db_run(db, "inv_import_update", &params, NULL);
    arrays_release(&arrays);
    return status;
}

db_status_t store_import_record(db_t *db, bool csv, int rows, int created, int updated,
                                int stock_changed, const char *actor, int64_t *id_out)
{
    *id_out = 0;
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, csv ? "csv" : "json");
    db_param_i64(&params, rows);
    db_param_i64(&params, created);
    db_param_i64(&params, updated);
    db_param_i64(&params, stock_changed);
    db_param_text(&params, actor);
    PGresult *res = NULL;
    db_status_t status = db_run(db, "inv_import_record", &params, &res);
    if (status != DB_OK)
        return status;
    *id_out = db_get_i64_or(res, 0, 0, 0);
    PQclear(res);
    return DB_OK;
}

/* ------------------------------------------------------------------ */
/* the ledger and reconciliation                                        */

db_status_t store_movement_add(db_t *db, const movement_t *m)
{
    bulk_t *rows = bulk_of(db, &movement_spec);
    if (!rows)
        return DB_ERROR;
    if (pg_array_add_text(bulk_column(rows, 0), m->sku) != 0 ||
        pg_array_add_i64(bulk_column(rows, 1), m->on_hand_delta) != 0 ||
        pg_array_add_i64(bulk_column(rows, 2), m->reserved_delta) != 0 ||
        pg_array_add_text(bulk_column(rows, 3), m->cause) != 0 ||
        pg_array_add_text(bulk_column(rows, 4), m->kind) != 0 ||
        pg_array_add_text(bulk_column(rows, 5), m->ref) != 0 ||
        (m->line_no > 0 ? pg_array_add_i32(bulk_column(rows, 6), (int32_t)m->line_no)
                        : pg_array_add(bulk_column(rows, 6), NULL, 0)) != 0 ||
        pg_array_add_text(bulk_column(rows, 7), m->actor) != 0 ||
        pg_array_add_text(bulk_column(rows, 8), m->note ? m->note : "") != 0) {
        bulk_row_abandon(rows);
        return DB_ERROR;
    }
    return bulk_row_done(db, rows);
}

db_status_t store_reconciliation(db_t *db, bool all_products, json_t **report_out)
{
    db_params_t params;
    db_params_init(&params);
    db_param_bool(&params, all_products);
    return db_run_json(db, "inv_reconciliation", &params, report_out);
}

/* ------------------------------------------------------------------ */
/* returns                                                              */

db_status_t store_return_order(db_t *db, const char *return_id, char *order_id_out, size_t cap,
                               bool *found_out)
{
    *found_out = false;
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, return_id);
    PGresult *res = NULL;
    db_status_t status = db_run(db, "inv_return_order", &params, &res);
    if (status != DB_OK)
        return status;
    if (PQntuples(res) == 1) {
        *found_out = true;
        db_copy_value(res, 0, 0, order_id_out, cap);
    }
    PQclear(res);
    return DB_OK;
}

db_status_t store_returnable_lines(db_t *db, const char *order_id, bool held,
                                   returnable_line_t *lines, size_t cap, size_t *count_out)
{
    *count_out = 0;
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, order_id);
    db_param_bool(&params, held);
    PGresult *res = NULL;
    db_status_t status = db_run(db, "inv_returnable_lines", &params, &res);
    if (status != DB_OK)
        return status;
    int rows = PQntuples(res);
    for (int i = 0; i < rows && (size_t)i < cap; i++) {
        returnable_line_t *line = &lines[i];
        line->line_no = (uint32_t)db_get_i64_or(res, i, 0, 0);
        db_copy_value(res, i, 1, line->sku, sizeof line->sku);
        line->shipped = db_get_i64_or(res, i, 2, 0);
        line->returned = db_get_i64_or(res, i, 3, 0);
        (*count_out)++;
    }
    PQclear(res);
    return DB_OK;
}

db_status_t store_returns_json(db_t *db, const char *order_id, json_t **out)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, order_id);
    return db_run_json(db, "inv_returns_json", &params, out);
}

db_status_t store_return_record(db_t *db, const return_record_t *record)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, record->return_id);
    db_param_text(&params, record->order_id);
    db_param_text(&params, record->kind);
    db_param_text(&params, record->actor);
    db_param_text(&params, record->comment ? record->comment : "");
    db_status_t status = db_run(db, "inv_return_insert", &params, NULL);
    for (size_t i = 0; status == DB_OK && i < record->line_count; i++) {
        const return_line_t *line = &record->lines[i];
        db_params_init(&params);
        db_param_text(&params, record->return_id);
        db_param_i64(&params, line->line_no);
        db_param_text(&params, line->damaged ? "damaged" : "sellable");
        db_param_text(&params, line->sku);
        db_param_i64(&params, line->quantity);
        db_param_text(&params, line->reason ? line->reason : "");
        status = db_run(db, "inv_return_line_insert", &params, NULL);
    }
    return status;
}
