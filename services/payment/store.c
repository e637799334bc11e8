/*
 * store.c — every SQL statement of the payment service (store.h).
 */
#include "services/payment/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/dbjson.h"
#include "common/pgarray.h"

/* The columns read_order and read_invoice read, of the table named t ("o."
 * in a join, "" alone). */
#define ORDER_COLUMNS_OF(t)                                                                        \
    t "order_id::text, " t "version, " t "number, " t "currency, "                                 \
      "coalesce(" t "customer_email, ''), coalesce(" t "customer_phone, ''), " t "terms, " t       \
      "total_minor, " t "received_minor, " t "refunded_minor, " t "refunding_minor, " t            \
      "cancelled, " t "status, " t "waived_minor, " t "awaiting_return"
#define ORDER_COLUMNS ORDER_COLUMNS_OF("")

#define INVOICE_COLUMNS_OF(t)                                                                      \
    t "invoice_id::text, " t "order_id::text, " t "order_version, " t "provider, " t "our_ref, "   \
      "coalesce(" t "bank_id, ''), " t "amount_minor, " t "currency, "                             \
      "coalesce(" t "payment_url, ''), " t "status, "                                              \
      "(extract(epoch from " t "expires_at) * 1000)::bigint"
#define INVOICE_COLUMNS INVOICE_COLUMNS_OF("")

#define REFUND_COLUMNS                                                                             \
    "refund_id::text, order_id::text, invoice_id::text, our_ref, "                                 \
    "coalesce(bank_refund_id, ''), amount_minor, reason, coalesce(claim_id, ''), "                 \
    "coalesce(request_ref, ''), status"

static const struct {
    const char *name, *sql;
} statements[] = {
    {"pay_order_confirmed",
     "INSERT INTO orders (order_id, version, number, terms, currency, total_minor, status, "
     "                    customer_email, customer_phone, receipt, customer_name) "
     "VALUES ($1::uuid, $2, $3, $4, $5, $6, $7, nullif($8, ''), nullif($9, ''), $10::jsonb, "
     "        nullif($11, '')) "
     "ON CONFLICT (order_id) DO UPDATE SET version = EXCLUDED.version, "
     "  number = EXCLUDED.number, terms = EXCLUDED.terms, currency = EXCLUDED.currency, "
     "  total_minor = EXCLUDED.total_minor, customer_email = EXCLUDED.customer_email, "
     "  customer_phone = EXCLUDED.customer_phone, receipt = EXCLUDED.receipt, "
     "  customer_name = EXCLUDED.customer_name, updated_at = now() "
     "WHERE orders.version < EXCLUDED.version AND NOT orders.cancelled"},
    {"pay_order_lock", "SELECT " ORDER_COLUMNS " FROM orders WHERE order_id = $1::uuid FOR UPDATE"},
    {"pay_order_cancelled_unknown",
     "INSERT INTO orders (order_id, version, number, terms, currency, total_minor, status, "
     "                    cancelled) "
     "VALUES ($1::uuid, $2, $3, 'none', 'RUB', 0, 'no_payment_required', true) "
     "ON CONFLICT (order_id) DO NOTHING"},
    {"pay_order_write", "UPDATE orders SET version = $2, received_minor = $3, refunded_minor = $4, "
                        "  refunding_minor = $5, status = $6, cancelled = $7, waived_minor = $8, "
                        "  awaiting_return = $9, updated_at = now() WHERE order_id = $1::uuid"},
    {"pay_order_receipt", "SELECT receipt FROM orders WHERE order_id = $1::uuid"},

    {"pay_invoice_insert",
     "INSERT INTO invoices (invoice_id, order_id, order_version, provider, our_ref, "
     "                      amount_minor, currency, status, receipt, expires_at) "
     "VALUES ($1::uuid, $2::uuid, $3, $4, $5, $6, $7, 'registering', $8::jsonb, "
     "        to_timestamp($9 / 1000.0))"},
    {"pay_invoice_lock",
     "SELECT " INVOICE_COLUMNS " FROM invoices WHERE invoice_id = $1::uuid FOR UPDATE"},
    {"pay_invoice_find_by_bank",
     "SELECT " INVOICE_COLUMNS " FROM invoices WHERE provider = $1 AND bank_id = $2"},
    {"pay_invoice_find_by_ref", "SELECT " INVOICE_COLUMNS " FROM invoices WHERE our_ref = $1"},
    {"pay_invoice_receipt", "SELECT receipt FROM invoices WHERE invoice_id = $1::uuid"},
    {"pay_invoice_registered",
     "UPDATE invoices SET bank_id = $2, payment_url = $3, status = 'open', updated_at = now() "
     "WHERE invoice_id = $1::uuid AND status = 'registering'"},
    {"pay_invoice_move", "UPDATE invoices SET status = $2, failure_code = $3, failure_reason = $4, "
                         "  updated_at = now() WHERE invoice_id = $1::uuid"},
    {"pay_invoice_found_at_bank", "UPDATE invoices SET bank_id = $2, updated_at = now() "
                                  "WHERE invoice_id = $1::uuid AND bank_id IS NULL"},
    {"pay_invoice_rereference", "UPDATE invoices SET our_ref = $2, updated_at = now() "
                                "WHERE invoice_id = $1::uuid AND status = 'registering'"},
    {"pay_invoices_live", "SELECT invoice_id::text FROM invoices WHERE order_id = $1::uuid "
                          "  AND status IN ('registering', 'open') ORDER BY created_at LIMIT $2"},
    {"pay_invoices_failed",
     "SELECT count(*) FROM invoices WHERE order_id = $1::uuid AND status = 'failed'"},
    {"pay_invoices_refundable",
     "SELECT i.invoice_id::text, i.provider, i.bank_id, "
     "  coalesce((SELECT sum(l.amount_minor) FROM ledger l WHERE l.invoice_id = i.invoice_id "
     "            AND l.kind = 'payment'), 0) "
     "  - coalesce((SELECT sum(r.amount_minor) FROM refunds r WHERE r.invoice_id = i.invoice_id "
     "            AND r.status IN ('pending', 'succeeded', 'unknown')), 0) AS left, "
     "  i.amount_minor "
     "FROM invoices i WHERE i.order_id = $1::uuid AND i.bank_id IS NOT NULL "
     "ORDER BY i.created_at LIMIT $2"},

    /* a batch's invoices by the bank's ids, each with its order, locked
     * in the order of the orders' ids (every batch the same: no deadlock
     * between them), the order's row before its invoice's (store.h) */
    {"pay_paid_lock_many", "SELECT " INVOICE_COLUMNS_OF("i.") ", " ORDER_COLUMNS_OF(
                               "o.") " "
                                     "FROM invoices i JOIN orders o ON o.order_id = i.order_id "
                                     "WHERE i.provider = $1 AND i.bank_id = ANY($2::text[]) "
                                     "ORDER BY o.order_id, i.invoice_id FOR UPDATE OF o, i"},
    /* a batch's payments, each of another order: its ledger row once, and
     * only if it was new its invoice paid and its order's sums written */
    {"pay_paid_record_many",
     "WITH w AS (SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], "
     "    $5::int8[], $6::text[], $7::int8[], $8::int8[], $9::int8[], $10::bool[], $11::int8[], "
     "    $12::text[]) AS w(order_id, invoice_id, provider, movement_ref, amount_minor, "
     "    currency, paid_minor, due_minor, at_ms, invoice_paid, received_minor, status)), "
     "entry AS (INSERT INTO ledger (order_id, invoice_id, kind, provider, movement_ref, "
     "    amount_minor, currency, paid_minor, due_minor, at) "
     "  SELECT order_id, invoice_id, 'payment', provider, movement_ref, amount_minor, currency, "
     "    paid_minor, due_minor, to_timestamp(at_ms / 1000.0) FROM w "
     "  ON CONFLICT ON CONSTRAINT ledger_movement_once DO NOTHING RETURNING order_id), "
     "paid AS (UPDATE invoices i SET status = 'paid', failure_code = NULL, "
     "    failure_reason = NULL, updated_at = now() FROM w "
     "  WHERE i.invoice_id = w.invoice_id AND w.invoice_paid "
     "    AND w.order_id IN (SELECT order_id FROM entry)), "
     "sums AS (UPDATE orders o SET received_minor = w.received_minor, status = w.status, "
     "    updated_at = now() FROM w "
     "  WHERE o.order_id = w.order_id AND w.order_id IN (SELECT order_id FROM entry)) "
     "SELECT order_id::text FROM entry"},
    {"pay_ledger_append",
     "INSERT INTO ledger (order_id, invoice_id, kind, provider, movement_ref, amount_minor, "
     "                    currency, paid_minor, due_minor, actor, at) "
     "VALUES ($1::uuid, $2::uuid, $3, $4, $5, $6, $7, $8, $9, $10, to_timestamp($11 / 1000.0)) "
     "ON CONFLICT ON CONSTRAINT ledger_movement_once DO NOTHING"},

    {"pay_refund_insert",
     "INSERT INTO refunds (refund_id, order_id, invoice_id, our_ref, amount_minor, reason, "
     "                     claim_id, request_ref, receipt, status) "
     "VALUES ($1::uuid, $2::uuid, $3::uuid, $4, $5, $6, nullif($7, ''), nullif($8, ''), "
     "        $9::jsonb, 'pending') "
     "ON CONFLICT (request_ref) DO NOTHING"},
    {"pay_refund_request_known",
     "SELECT 1 FROM refunds WHERE left(request_ref, length($1) + 1) = $1 || '/' LIMIT 1"},
    {"pay_refund_lock",
     "SELECT " REFUND_COLUMNS " FROM refunds WHERE refund_id = $1::uuid FOR UPDATE"},
    {"pay_refund_receipt", "SELECT receipt FROM refunds WHERE refund_id = $1::uuid"},
    {"pay_refund_find_by_bank", "SELECT refund_id::text FROM refunds WHERE bank_refund_id = $1"},
    {"pay_refunded_before",
     "SELECT coalesce(sum(amount_minor), 0) FROM refunds WHERE invoice_id = $1::uuid "
     "  AND status = 'succeeded' AND refund_id <> $2::uuid"},
    {"pay_refund_move",
     "UPDATE refunds SET status = $2, bank_refund_id = coalesce($3, bank_refund_id), "
     "  failure_code = $4, failure_reason = $5, updated_at = now() "
     "WHERE refund_id = $1::uuid"},

    /* a new row is kept applied: the batch applies it or forgets it in
     * this transaction (store.h); an old row's applied_at is left as it
     * was, and its times_received tells it from a new one */
    {"pay_callbacks_keep",
     "INSERT INTO callbacks AS c (provider, event_id, body, verdict, times_received, applied_at) "
     "SELECT $1, e, b, 'accepted', n, now() "
     "FROM unnest($2::text[], $3::text[], $4::int4[]) AS t(e, b, n) "
     "ON CONFLICT (provider, event_id) DO UPDATE "
     "  SET times_received = c.times_received + EXCLUDED.times_received "
     "RETURNING event_id, applied_at IS NOT NULL, times_received"},
    {"pay_callbacks_applied",
     "UPDATE callbacks SET applied_at = now() WHERE provider = $1 AND event_id = ANY($2::text[])"},
    {"pay_callbacks_forget",
     "DELETE FROM callbacks WHERE provider = $1 AND event_id = ANY($2::text[])"},

    {"pay_order_money_json",
     "SELECT json_build_object("
     "  'order_id', o.order_id, 'number', o.number, 'payment_status', o.status, "
     "  'terms', o.terms, 'currency', o.currency, 'total_minor', o.total_minor, "
     "  'received_minor', o.received_minor, 'refunded_minor', o.refunded_minor, "
     "  'refunding_minor', o.refunding_minor, 'waived_minor', o.waived_minor, "
     "  'paid_minor', o.received_minor - o.refunded_minor, "
     "  'due_minor', CASE WHEN o.cancelled THEN 0 ELSE greatest(o.total_minor - o.waived_minor "
     "      - (o.received_minor - o.refunded_minor - o.refunding_minor), 0) END, "
     "  'cancelled', o.cancelled, 'awaiting_return', o.awaiting_return, "
     "  'invoices', coalesce((SELECT json_agg(json_build_object("
     "      'invoice_id', i.invoice_id, 'status', i.status, 'provider', i.provider, "
     "      'amount_minor', i.amount_minor, 'payment_url', i.payment_url, "
     "      'expires_at', i.expires_at, 'failure_code', i.failure_code, "
     "      'failure_reason', i.failure_reason, 'created_at', i.created_at) "
     "      ORDER BY i.created_at) FROM invoices i WHERE i.order_id = o.order_id), '[]'), "
     "  'ledger', coalesce((SELECT json_agg(json_build_object("
     "      'entry_id', l.entry_id, 'kind', l.kind, 'provider', l.provider, "
     "      'reference', l.movement_ref, 'amount_minor', l.amount_minor, "
     "      'paid_minor', l.paid_minor, 'due_minor', l.due_minor, 'actor', l.actor, "
     "      'at', l.at, 'invoice_id', l.invoice_id) ORDER BY l.entry_id) "
     "      FROM ledger l WHERE l.order_id = o.order_id), '[]'), "
     "  'refunds', coalesce((SELECT json_agg(json_build_object("
     "      'refund_id', r.refund_id, 'status', r.status, 'reason', r.reason, "
     "      'amount_minor', r.amount_minor, 'claim_id', r.claim_id, "
     "      'failure_code', r.failure_code, 'failure_reason', r.failure_reason, "
     "      'created_at', r.created_at) ORDER BY r.created_at) "
     "      FROM refunds r WHERE r.order_id = o.order_id), '[]')) "
     "FROM orders o WHERE o.order_id = $1::uuid"},
    {"pay_invoice_json",
     "SELECT json_build_object('invoice_id', invoice_id, 'order_id', order_id, "
     "  'status', status, 'provider', provider, 'reference', our_ref, 'bank_id', bank_id, "
     "  'amount_minor', amount_minor, 'currency', currency, 'payment_url', payment_url, "
     "  'expires_at', expires_at, 'failure_code', failure_code, "
     "  'failure_reason', failure_reason, 'receipt', receipt, 'created_at', created_at) "
     "FROM invoices WHERE invoice_id = $1::uuid"},
    {"pay_invoice_document",
     "SELECT json_build_object('invoice_id', i.invoice_id, 'order_id', i.order_id, "
     "  'order_number', o.number, 'customer_name', o.customer_name, "
     "  'customer_email', o.customer_email, 'customer_phone', "
     "  o.customer_phone, 'status', i.status, 'provider', i.provider, 'reference', i.our_ref, "
     "  'amount_minor', i.amount_minor, 'currency', i.currency, 'payment_url', i.payment_url, "
     "  'expires_at', i.expires_at, 'receipt', i.receipt, 'created_at', i.created_at) "
     "FROM invoices i JOIN orders o ON o.order_id = i.order_id "
     "WHERE i.invoice_id = $1::uuid"},
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
/* names                                                                */

static const char *const INVOICE_STATUS_NAMES[] = {
    [INVOICE_REGISTERING] = "registering",
    [INVOICE_OPEN] = "open",
    [INVOICE_PAID] = "paid",
    [INVOICE_EXPIRED] = "expired",
    [INVOICE_CANCELLED] = "cancelled",
    [INVOICE_FAILED] = "failed",
};

static const char *const REFUND_STATUS_NAMES[] = {
    [REFUND_PENDING] = "pending",
    [REFUND_SUCCEEDED] = "succeeded",
    [REFUND_FAILED] = "failed",
    [REFUND_UNKNOWN] = "unknown",
};

static const char *const LEDGER_KIND_NAMES[] = {
    [LEDGER_KIND_PAYMENT] = "payment",
    [LEDGER_KIND_COLLECTED] = "collected",
    [LEDGER_KIND_MANUAL] = "manual",
    [LEDGER_KIND_REFUND] = "refund",
};

static int parse_name(const char *const *names, int count, const char *name, int *out)
{
    for (int i = 0; name && i < count; i++)
        if (strcmp(names[i], name) == 0) {
            *out = i;
            return 0;
        }
    return -1;
}

const char *invoice_status_name(invoice_status_t status)
{
    return status <= INVOICE_FAILED ? INVOICE_STATUS_NAMES[status] : "unknown";
}

int invoice_status_parse(const char *name, invoice_status_t *status)
{
    int value;
    if (parse_name(INVOICE_STATUS_NAMES, INVOICE_FAILED + 1, name, &value) != 0)
        return -1;
    *status = (invoice_status_t)value;
    return 0;
}

bool invoice_may_move(invoice_status_t from, invoice_status_t to)
{
    switch (from) {
    case INVOICE_REGISTERING:
        return to != INVOICE_REGISTERING;
    case INVOICE_OPEN:
        return to == INVOICE_PAID || to == INVOICE_EXPIRED || to == INVOICE_CANCELLED ||
               to == INVOICE_FAILED;
    case INVOICE_FAILED:
    case INVOICE_EXPIRED:
    case INVOICE_CANCELLED:
        /* money can still arrive on a link the customer kept open: the
         * bank's word that it was paid wins over our giving up on it */
        return to == INVOICE_PAID;
    case INVOICE_PAID:
        return false;
    }
    return false;
}

const char *refund_status_name(refund_status_t status)
{
    return status <= REFUND_UNKNOWN ? REFUND_STATUS_NAMES[status] : "unknown";
}

int refund_status_parse(const char *name, refund_status_t *status)
{
    int value;
    if (parse_name(REFUND_STATUS_NAMES, REFUND_UNKNOWN + 1, name, &value) != 0)
        return -1;
    *status = (refund_status_t)value;
    return 0;
}

/* ------------------------------------------------------------------ */
/* orders                                                               */

static db_status_t bad_row(db_t *db, const char *what, const char *id)
{
    return db_fail(db, DB_STATE_BAD_DATA, "the stored %s %s cannot be read", what, id);
}

static db_status_t run_json_text(const json_t *value, char **text_out, db_t *db)
{
    *text_out = json_dumps(value, JSON_COMPACT);
    if (!*text_out)
        return db_fail(db, DB_STATE_OUT_OF_MEMORY, "no room to write receipt lines");
    return DB_OK;
}

db_status_t store_order_confirmed(db_t *db, const pay_order_t *order, const json_t *receipt,
                                  bool *applied_out)
{
    char *receipt_text = NULL;
    db_status_t status = run_json_text(receipt, &receipt_text, db);
    if (status != DB_OK)
        return status;
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, order->order_id);
    db_param_u64(&params, order->version);
    db_param_i64(&params, order->number);
    db_param_text(&params, pay_terms_name(order->position.terms));
    db_param_text(&params, order->currency);
    db_param_i64(&params, order->position.total_minor);
    db_param_text(&params, pay_status_name(order->status));
    db_param_text(&params, order->customer_email);
    db_param_text(&params, order->customer_phone);
    db_param_text(&params, receipt_text);
    db_param_text(&params, order->customer_name);
    int64_t rows = 0;
    status = db_run_count(db, "pay_order_confirmed", &params, &rows);
    free(receipt_text);
    *applied_out = status == DB_OK && rows == 1;
    return status;
}

/* Reads ORDER_COLUMNS from row r, from column c on. */
static int read_order(const PGresult *res, int r, int c, pay_order_t *order)
{
    memset(order, 0, sizeof *order);
    int64_t version = 0;
    db_copy_value(res, r, c, order->order_id, sizeof order->order_id);
    if (db_get_i64(res, r, c + 1, &version) != 0 || version < 0 ||
        db_get_i64(res, r, c + 2, &order->number) != 0)
        return -1;
    order->version = (uint64_t)version;
    db_copy_value(res, r, c + 3, order->currency, sizeof order->currency);
    db_copy_value(res, r, c + 4, order->customer_email, sizeof order->customer_email);
    db_copy_value(res, r, c + 5, order->customer_phone, sizeof order->customer_phone);
    ledger_position_t *p = &order->position;
    if (pay_terms_parse(db_value(res, r, c + 6), &p->terms) != 0 ||
        db_get_i64(res, r, c + 7, &p->total_minor) != 0 ||
        db_get_i64(res, r, c + 8, &p->received_minor) != 0 ||
        db_get_i64(res, r, c + 9, &p->refunded_minor) != 0 ||
        db_get_i64(res, r, c + 10, &p->refunding_minor) != 0)
        return -1;
    p->cancelled = db_get_bool(res, r, c + 11);
    if (db_get_i64(res, r, c + 13, &p->waived_minor) != 0)
        return -1;
    p->awaiting_return = db_get_bool(res, r, c + 14);
    ledger_after_t now;
    if (ledger_state(p, &now) != LEDGER_OK)
        return -1;
    order->status = now.status;
    return 0;
}

db_status_t store_order_lock(db_t *db, const char *order_id, pay_order_t *order_out,
                             bool *found_out)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, order_id);
    PGresult *res = NULL;
    *found_out = false;
    db_status_t status = db_run(db, "pay_order_lock", &params, &res);
    if (status != DB_OK)
        return status;
    if (PQntuples(res) == 1) {
        if (read_order(res, 0, 0, order_out) != 0)
            status = bad_row(db, "order", order_id);
        else
            *found_out = true;
    }
    PQclear(res);
    return status;
}

db_status_t store_order_cancelled_unknown(db_t *db, const char *order_id, uint64_t version,
                                          int64_t number)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, order_id);
    db_param_u64(&params, version);
    db_param_i64(&params, number);
    return db_run(db, "pay_order_cancelled_unknown", &params, NULL);
}

db_status_t store_order_write(db_t *db, const pay_order_t *order)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, order->order_id);
    db_param_u64(&params, order->version);
    db_param_i64(&params, order->position.received_minor);
    db_param_i64(&params, order->position.refunded_minor);
    db_param_i64(&params, order->position.refunding_minor);
    db_param_text(&params, pay_status_name(order->status));
    db_param_bool(&params, order->position.cancelled);
    db_param_i64(&params, order->position.waived_minor);
    db_param_bool(&params, order->position.awaiting_return);
    return db_run(db, "pay_order_write", &params, NULL);
}

static db_status_t json_by_id(db_t *db, const char *stmt, const char *id, json_t **out)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, id);
    return db_run_json(db, stmt, &params, out);
}

db_status_t store_order_receipt(db_t *db, const char *order_id, json_t **out)
{
    return json_by_id(db, "pay_order_receipt", order_id, out);
}

/* ------------------------------------------------------------------ */
/* invoices                                                             */

db_status_t store_invoice_insert(db_t *db, const invoice_row_t *invoice, const json_t *receipt)
{
    char *receipt_text = NULL;
    db_status_t status = run_json_text(receipt, &receipt_text, db);
    if (status != DB_OK)
        return status;
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, invoice->invoice_id);
    db_param_text(&params, invoice->order_id);
    db_param_u64(&params, invoice->order_version);
    db_param_text(&params, invoice->provider);
    db_param_text(&params, invoice->our_ref);
    db_param_i64(&params, invoice->amount_minor);
    db_param_text(&params, invoice->currency);
    db_param_text(&params, receipt_text);
    db_param_i64(&params, invoice->expires_at_ms);
    status = db_run(db, "pay_invoice_insert", &params, NULL);
    free(receipt_text);
    return status;
}

/* Reads INVOICE_COLUMNS from row r, from column 0 on. */
static int read_invoice(const PGresult *res, int r, invoice_row_t *invoice)
{
    memset(invoice, 0, sizeof *invoice);
    int64_t version = 0;
    db_copy_value(res, r, 0, invoice->invoice_id, sizeof invoice->invoice_id);
    db_copy_value(res, r, 1, invoice->order_id, sizeof invoice->order_id);
    if (db_get_i64(res, r, 2, &version) != 0 || version < 0)
        return -1;
    invoice->order_version = (uint64_t)version;
    db_copy_value(res, r, 3, invoice->provider, sizeof invoice->provider);
    db_copy_value(res, r, 4, invoice->our_ref, sizeof invoice->our_ref);
    db_copy_value(res, r, 5, invoice->bank_id, sizeof invoice->bank_id);
    if (db_get_i64(res, r, 6, &invoice->amount_minor) != 0)
        return -1;
    db_copy_value(res, r, 7, invoice->currency, sizeof invoice->currency);
    db_copy_value(res, r, 8, invoice->payment_url, sizeof invoice->payment_url);
    if (invoice_status_parse(db_value(res, r, 9), &invoice->status) != 0 ||
        db_get_i64(res, r, 10, &invoice->expires_at_ms) != 0)
        return -1;
    return 0;
}
#define INVOICE_COLUMNS_N 11

static db_status_t read_invoice_row(db_t *db, const char *stmt, db_params_t *params,
                                    const char *key, invoice_row_t *out, bool *found_out)
{
    PGresult *res = NULL;
    *found_out = false;
    db_status_t status = db_run(db, stmt, params, &res);
    if (status != DB_OK)
        return status;
    if (PQntuples(res) == 1) {
        if (read_invoice(res, 0, out) != 0)
            status = bad_row(db, "invoice", key);
        else
            *found_out = true;
    }
    PQclear(res);
    return status;
}

db_status_t store_invoice_lock(db_t *db, const char *invoice_id, invoice_row_t *out,
                               bool *found_out)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, invoice_id);
    return read_invoice_row(db, "pay_invoice_lock", &params, invoice_id, out, found_out);
}

db_status_t store_invoice_find_by_bank(db_t *db, const char *provider, const char *bank_id,
                                       invoice_row_t *out, bool *found_out)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, provider);
    db_param_text(&params, bank_id);
    return read_invoice_row(db, "pay_invoice_find_by_bank", &params, bank_id, out, found_out);
}

db_status_t store_invoice_find_by_ref(db_t *db, const char *our_ref, invoice_row_t *out,
                                      bool *found_out)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, our_ref);
    return read_invoice_row(db, "pay_invoice_find_by_ref", &params, our_ref, out, found_out);
}

db_status_t store_invoice_receipt(db_t *db, const char *invoice_id, json_t **out)
{
    return json_by_id(db, "pay_invoice_receipt", invoice_id, out);
}

db_status_t store_invoice_registered(db_t *db, const char *invoice_id, const char *bank_id,
                                     const char *payment_url, bool *moved_out)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, invoice_id);
    db_param_text(&params, bank_id);
    db_param_text(&params, payment_url);
    int64_t rows = 0;
    db_status_t status = db_run_count(db, "pay_invoice_registered", &params, &rows);
    *moved_out = status == DB_OK && rows == 1;
    return status;
}

db_status_t store_invoice_move(db_t *db, const char *invoice_id, invoice_status_t to,
                               const char *failure_code, const char *failure_reason)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, invoice_id);
    db_param_text(&params, invoice_status_name(to));
    db_param_text(&params, failure_code);
    db_param_text(&params, failure_reason);
    return db_run(db, "pay_invoice_move", &params, NULL);
}

db_status_t store_invoice_found_at_bank(db_t *db, const char *invoice_id, const char *bank_id)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, invoice_id);
    db_param_text(&params, bank_id);
    return db_run(db, "pay_invoice_found_at_bank", &params, NULL);
}

db_status_t store_invoice_rereference(db_t *db, const char *invoice_id, const char *our_ref)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, invoice_id);
    db_param_text(&params, our_ref);
    return db_run(db, "pay_invoice_rereference", &params, NULL);
}

db_status_t store_invoices_live(db_t *db, const char *order_id, char (*ids)[UUID_TEXT_SIZE],
                                size_t max, size_t *count_out)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, order_id);
    db_param_i64(&params, (int64_t)max);
    PGresult *res = NULL;
    *count_out = 0;
    db_status_t status = db_run(db, "pay_invoices_live", &params, &res);
    if (status != DB_OK)
        return status;
    for (int i = 0; i < PQntuples(res) && (size_t)i < max; i++)
        db_copy_value(res, i, 0, ids[(*count_out)++], UUID_TEXT_SIZE);
    PQclear(res);
    return DB_OK;
}

db_status_t store_invoices_failed_count(db_t *db, const char *order_id, int64_t *count_out)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, order_id);
    PGresult *res = NULL;
    *count_out = 0;
    db_status_t status = db_run(db, "pay_invoices_failed", &params, &res);
    if (status != DB_OK)
        return status;
    if (PQntuples(res) == 1)
        *count_out = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return DB_OK;
}

db_status_t store_invoices_refundable(db_t *db, const char *order_id, refundable_invoice_t *out,
                                      size_t max, size_t *count_out)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, order_id);
    db_param_i64(&params, (int64_t)max);
    PGresult *res = NULL;
    *count_out = 0;
    db_status_t status = db_run(db, "pay_invoices_refundable", &params, &res);
    if (status != DB_OK)
        return status;
    for (int i = 0; i < PQntuples(res) && (size_t)i < max; i++) {
        refundable_invoice_t *row = &out[*count_out];
        memset(row, 0, sizeof *row);
        db_copy_value(res, i, 0, row->invoice_id, sizeof row->invoice_id);
        db_copy_value(res, i, 1, row->provider, sizeof row->provider);
        db_copy_value(res, i, 2, row->bank_id, sizeof row->bank_id);
        if (db_get_i64(res, i, 3, &row->refundable_minor) != 0 ||
            db_get_i64(res, i, 4, &row->whole_minor) != 0) {
            status = bad_row(db, "invoice", row->invoice_id);
            break;
        }
        if (row->refundable_minor > 0)
            (*count_out)++;
    }
    PQclear(res);
    return status;
}

/* ------------------------------------------------------------------ */
/* the ledger                                                           */

db_status_t store_ledger_append(db_t *db, const ledger_entry_t *entry, bool *recorded_out)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, entry->order_id);
    db_param_text(&params, entry->invoice_id);
    db_param_text(&params, LEDGER_KIND_NAMES[entry->kind]);
    db_param_text(&params, entry->provider);
    db_param_text(&params, entry->movement_ref);
    db_param_i64(&params, entry->amount_minor);
    db_param_text(&params, entry->currency);
    db_param_i64(&params, entry->paid_minor);
    db_param_i64(&params, entry->due_minor);
    db_param_text(&params, entry->actor);
    db_param_i64(&params, entry->at_ms);
    int64_t rows = 0;
    db_status_t status = db_run_count(db, "pay_ledger_append", &params, &rows);
    *recorded_out = status == DB_OK && rows == 1;
    return status;
}

db_status_t store_paid_lock_many(db_t *db, const char *provider, const char *const *bank_ids,
                                 size_t count, paid_locked_t *out, size_t *count_out)
{
    *count_out = 0;
    pg_array_t ids;
    pg_array_init(&ids, PG_OID_TEXT);
    db_status_t status = DB_OK;
    for (size_t i = 0; i < count && status == DB_OK; i++)
        if (pg_array_add_text(&ids, bank_ids[i]) != 0)
            status = db_fail(db, DB_STATE_OUT_OF_MEMORY, "no room for %zu bank ids", count);
    const uint8_t *wire = NULL;
    size_t len = 0;
    if (status == DB_OK && pg_array_wire(&ids, &wire, &len) != 0)
        status = db_fail(db, DB_STATE_OUT_OF_MEMORY, "no room for %zu bank ids", count);
    PGresult *res = NULL;
    if (status == DB_OK) {
        db_params_t params;
        db_params_init(&params);
        db_param_text(&params, provider);
        db_param_bytes(&params, wire, len);
        status = db_run(db, "pay_paid_lock_many", &params, &res);
    }
    int rows = status == DB_OK ? PQntuples(res) : 0;
    for (int r = 0; r < rows && status == DB_OK; r++) {
        if ((size_t)r >= count) /* the bank's ids are unique per provider */
            status = bad_row(db, "invoice", "locked for a batch");
        else if (read_invoice(res, r, &out[r].invoice) != 0)
            status = bad_row(db, "invoice", db_value(res, r, 0));
        else if (read_order(res, r, INVOICE_COLUMNS_N, &out[r].order) != 0)
            status = bad_row(db, "order", db_value(res, r, 1));
        else
            *count_out = (size_t)r + 1;
    }
    PQclear(res);
    pg_array_release(&ids);
    return status;
}

db_status_t store_paid_record_many(db_t *db, const paid_record_t *records, size_t count,
                                   bool *recorded_out)
{
    enum { N_COLS = 12 };
    static const uint32_t oids[N_COLS] = {
        PG_OID_UUID, PG_OID_UUID, PG_OID_TEXT, PG_OID_TEXT, PG_OID_INT8, PG_OID_TEXT,
        PG_OID_INT8, PG_OID_INT8, PG_OID_INT8, PG_OID_BOOL, PG_OID_INT8, PG_OID_TEXT,
    };
    pg_array_t cols[N_COLS];
    for (int c = 0; c < N_COLS; c++)
        pg_array_init(&cols[c], oids[c]);
    db_status_t status = DB_OK;
    for (size_t i = 0; i < count && status == DB_OK; i++) {
        const ledger_entry_t *e = &records[i].entry;
        recorded_out[i] = false;
        if (pg_array_add_uuid(&cols[0], e->order_id) != 0 ||
            pg_array_add_uuid(&cols[1], e->invoice_id) != 0 ||
            pg_array_add_text(&cols[2], e->provider) != 0 ||
            pg_array_add_text(&cols[3], e->movement_ref) != 0 ||
            pg_array_add_i64(&cols[4], e->amount_minor) != 0 ||
            pg_array_add_text(&cols[5], e->currency) != 0 ||
            pg_array_add_i64(&cols[6], e->paid_minor) != 0 ||
            pg_array_add_i64(&cols[7], e->due_minor) != 0 ||
            pg_array_add_i64(&cols[8], e->at_ms) != 0 ||
            pg_array_add_bool(&cols[9], records[i].invoice_paid) != 0 ||
            pg_array_add_i64(&cols[10], records[i].received_minor) != 0 ||
            pg_array_add_text(&cols[11], pay_status_name(records[i].status)) != 0)
            status = db_fail(db, DB_STATE_OUT_OF_MEMORY, "no room for %zu payments", count);
    }
    db_params_t params;
    db_params_init(&params);
    for (int c = 0; c < N_COLS && status == DB_OK; c++) {
        const uint8_t *wire = NULL;
        size_t len = 0;
        if (pg_array_wire(&cols[c], &wire, &len) != 0)
            status = db_fail(db, DB_STATE_OUT_OF_MEMORY, "no room for %zu payments", count);
        else
            db_param_bytes(&params, wire, len);
    }
    PGresult *res = NULL;
    if (status == DB_OK)
        status = db_run(db, "pay_paid_record_many", &params, &res);
    /* each order once in the batch: its id names its record */
    for (int r = 0; status == DB_OK && r < PQntuples(res); r++)
        for (size_t i = 0; i < count; i++)
            if (strcmp(records[i].entry.order_id, PQgetvalue(res, r, 0)) == 0)
                recorded_out[i] = true;
    PQclear(res);
    for (int c = 0; c < N_COLS; c++)
        pg_array_release(&cols[c]);
    return status;
}

/* ------------------------------------------------------------------ */
/* refunds                                                              */

db_status_t store_refund_insert(db_t *db, const refund_row_t *refund, const json_t *receipt,
                                bool *created_out)
{
    char *receipt_text = NULL;
    db_status_t status = run_json_text(receipt, &receipt_text, db);
    if (status != DB_OK)
        return status;
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, refund->refund_id);
    db_param_text(&params, refund->order_id);
    db_param_text(&params, refund->invoice_id);
    db_param_text(&params, refund->our_ref);
    db_param_i64(&params, refund->amount_minor);
    db_param_text(&params, refund->reason);
    db_param_text(&params, refund->claim_id);
    db_param_text(&params, refund->request_ref);
    db_param_text(&params, receipt_text);
    int64_t rows = 0;
    status = db_run_count(db, "pay_refund_insert", &params, &rows);
    free(receipt_text);
    *created_out = status == DB_OK && rows == 1;
    return status;
}

db_status_t store_refund_request_known(db_t *db, const char *request_id, bool *known_out)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, request_id);
    PGresult *res = NULL;
    *known_out = false;
    db_status_t status = db_run(db, "pay_refund_request_known", &params, &res);
    if (status == DB_OK)
        *known_out = PQntuples(res) > 0;
    PQclear(res);
    return status;
}

db_status_t store_refund_lock(db_t *db, const char *refund_id, refund_row_t *out, bool *found_out)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, refund_id);
    PGresult *res = NULL;
    *found_out = false;
    db_status_t status = db_run(db, "pay_refund_lock", &params, &res);
    if (status != DB_OK)
        return status;
    if (PQntuples(res) == 1) {
        memset(out, 0, sizeof *out);
        db_copy_value(res, 0, 0, out->refund_id, sizeof out->refund_id);
        db_copy_value(res, 0, 1, out->order_id, sizeof out->order_id);
        db_copy_value(res, 0, 2, out->invoice_id, sizeof out->invoice_id);
        db_copy_value(res, 0, 3, out->our_ref, sizeof out->our_ref);
        db_copy_value(res, 0, 4, out->bank_refund_id, sizeof out->bank_refund_id);
        db_copy_value(res, 0, 6, out->reason, sizeof out->reason);
        db_copy_value(res, 0, 7, out->claim_id, sizeof out->claim_id);
        db_copy_value(res, 0, 8, out->request_ref, sizeof out->request_ref);
        if (db_get_i64(res, 0, 5, &out->amount_minor) != 0 ||
            refund_status_parse(db_value(res, 0, 9), &out->status) != 0)
            status = bad_row(db, "refund", refund_id);
        else
            *found_out = true;
    }
    PQclear(res);
    return status;
}

db_status_t store_refund_receipt(db_t *db, const char *refund_id, json_t **out)
{
    return json_by_id(db, "pay_refund_receipt", refund_id, out);
}

db_status_t store_refund_find_by_bank(db_t *db, const char *bank_refund_id,
                                      char refund_id[UUID_TEXT_SIZE], bool *found_out)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, bank_refund_id);
    PGresult *res = NULL;
    *found_out = false;
    db_status_t status = db_run(db, "pay_refund_find_by_bank", &params, &res);
    if (status != DB_OK)
        return status;
    if (PQntuples(res) == 1) {
        db_copy_value(res, 0, 0, refund_id, UUID_TEXT_SIZE);
        *found_out = true;
    }
    PQclear(res);
    return DB_OK;
}

db_status_t store_refunded_before(db_t *db, const char *invoice_id, const char *refund_id,
                                  int64_t *amount_out)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, invoice_id);
    db_param_text(&params, refund_id);
    PGresult *res = NULL;
    db_status_t status = db_run(db, "pay_refunded_before", &params, &res);
    if (status != DB_OK)
        return status;
    *amount_out = PQntuples(res) == 1 ? db_get_i64_or(res, 0, 0, 0) : 0;
    PQclear(res);
    return DB_OK;
}

db_status_t store_refund_move(db_t *db, const char *refund_id, refund_status_t to,
                              const char *bank_refund_id, const char *failure_code,
                              const char *failure_reason)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, refund_id);
    db_param_text(&params, refund_status_name(to));
    db_param_text(&params, bank_refund_id);
    db_param_text(&params, failure_code);
    db_param_text(&params, failure_reason);
    return db_run(db, "pay_refund_move", &params, NULL);
}

/* ------------------------------------------------------------------ */
/* callbacks                                                            */

db_status_t store_callbacks_keep(db_t *db, const char *provider, callback_keep_t *callbacks,
                                 size_t count)
{
    pg_array_t ids, bodies, times;
    pg_array_init(&ids, PG_OID_TEXT);
    pg_array_init(&bodies, PG_OID_TEXT);
    pg_array_init(&times, PG_OID_INT4);
    PGresult *res = NULL;
    db_status_t status = DB_OK;
    for (size_t i = 0; i < count && status == DB_OK; i++) {
        callbacks[i].applied = callbacks[i].fresh = false;
        if (callbacks[i].times < 1)
            callbacks[i].times = 1;
        if (pg_array_add_text(&ids, callbacks[i].event_id) != 0 ||
            pg_array_add_text(&bodies, callbacks[i].body) != 0 ||
            pg_array_add_i32(&times, callbacks[i].times) != 0)
            status = db_fail(db, DB_STATE_OUT_OF_MEMORY, "no room to keep %zu callbacks", count);
    }
    const uint8_t *wire[3];
    size_t len[3];
    if (status == DB_OK && (pg_array_wire(&ids, &wire[0], &len[0]) != 0 ||
                            pg_array_wire(&bodies, &wire[1], &len[1]) != 0 ||
                            pg_array_wire(&times, &wire[2], &len[2]) != 0))
        status = db_fail(db, DB_STATE_OUT_OF_MEMORY, "no room to keep %zu callbacks", count);
    if (status == DB_OK) {
        db_params_t params;
        db_params_init(&params);
        db_param_text(&params, provider);
        for (int i = 0; i < 3; i++)
            db_param_bytes(&params, wire[i], len[i]);
        status = db_run(db, "pay_callbacks_keep", &params, &res);
    }
    /* the rows come back in no promised order: matched by event id,
     * expected in the order sent */
    size_t next = 0;
    for (int row = 0; status == DB_OK && row < PQntuples(res); row++) {
        const char *event_id = PQgetvalue(res, row, 0);
        for (size_t tried = 0; tried < count; tried++, next = (next + 1) % count) {
            if (strcmp(callbacks[next].event_id, event_id) == 0) {
                /* received only now: as many times as this batch has it */
                int64_t received = 0;
                callbacks[next].fresh =
                    db_get_i64(res, row, 2, &received) == 0 && received <= callbacks[next].times;
                callbacks[next].applied = !callbacks[next].fresh && db_get_bool(res, row, 1);
                next = (next + 1) % count;
                break;
            }
        }
    }
    PQclear(res);
    pg_array_release(&times);
    pg_array_release(&bodies);
    pg_array_release(&ids);
    return status;
}

/* Runs an "... provider = $1 AND event_id = ANY($2)" statement. */
static db_status_t callbacks_by_ids(db_t *db, const char *stmt, const char *provider,
                                    const char *const *event_ids, size_t count)
{
    pg_array_t ids;
    pg_array_init(&ids, PG_OID_TEXT);
    db_status_t status = DB_OK;
    for (size_t i = 0; i < count && status == DB_OK; i++)
        if (pg_array_add_text(&ids, event_ids[i]) != 0)
            status = db_fail(db, DB_STATE_OUT_OF_MEMORY, "no room for %zu callback ids", count);
    const uint8_t *wire = NULL;
    size_t len = 0;
    if (status == DB_OK && pg_array_wire(&ids, &wire, &len) != 0)
        status = db_fail(db, DB_STATE_OUT_OF_MEMORY, "no room for %zu callback ids", count);
    if (status == DB_OK) {
        db_params_t params;
        db_params_init(&params);
        db_param_text(&params, provider);
        db_param_bytes(&params, wire, len);
        status = db_run(db, stmt, &params, NULL);
    }
    pg_array_release(&ids);
    return status;
}

db_status_t store_callbacks_applied(db_t *db, const char *provider, const char *const *event_ids,
                                    size_t count)
{
    return callbacks_by_ids(db, "pay_callbacks_applied", provider, event_ids, count);
}

db_status_t store_callbacks_forget(db_t *db, const char *provider, const char *const *event_ids,
                                   size_t count)
{
    return callbacks_by_ids(db, "pay_callbacks_forget", provider, event_ids, count);
}

/* ------------------------------------------------------------------ */
/* what the API shows                                                   */

db_status_t store_order_money_json(db_t *db, const char *order_id, json_t **out)
{
    return json_by_id(db, "pay_order_money_json", order_id, out);
}

db_status_t store_invoice_json(db_t *db, const char *invoice_id, json_t **out)
{
    return json_by_id(db, "pay_invoice_json", invoice_id, out);
}

db_status_t store_invoice_document_json(db_t *db, const char *invoice_id, json_t **out)
{
    return json_by_id(db, "pay_invoice_document", invoice_id, out);
}
