/*
 * billing.c — invoices opened and voided as orders are confirmed and
 * cancelled (billing.h).
 */
#include "services/payment/billing.h"

#include <stdio.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/strbuf.h"
#include "common/utf8.h"
#include "services/payment/events.h"
#include "services/payment/ids.h"
#include "services/payment/refunds.h"
#include "services/payment/schedule.h"
#include "services/payment/store.h"

#define LIVE_INVOICES_MAX 16

/* The receipt lines of the whole order, as kept with it. */
static db_status_t order_receipt(db_t *db, const confirmed_order_t *order, const payment_app_t *app,
                                 json_t **out)
{
    receipt_t receipt;
    receipt_method_t method = order->terms == PAY_TERMS_PREPAY ? RECEIPT_METHOD_FULL_PREPAYMENT
                                                               : RECEIPT_METHOD_FULL_PAYMENT;
    receipt_refusal_t refusal =
        receipt_for_order(order->lines, order->line_count, order->delivery_minor,
                          app->delivery_vat_bp, method, &receipt);
    if (refusal == RECEIPT_NO_MEMORY)
        return db_fail(db, DB_STATE_OUT_OF_MEMORY, "no room for order %s's receipt",
                       order->order_id);
    if (refusal != RECEIPT_OK)
        return db_fail(db, DB_STATE_BAD_DATA, "order %s: no receipt can be made: %s",
                       order->order_id, receipt_refusal_code(refusal));
    if (receipt.total_minor != order->total_minor)
        log_warn("the receipt's lines do not add up to the order's total",
                 LF_STR("order_id", order->order_id), LF_INT("lines_minor", receipt.total_minor),
                 LF_INT("total_minor", order->total_minor), LF_ERR("receipt_mismatch"));
    *out = receipt_json(&receipt);
    receipt_clear(&receipt);
    return *out ? DB_OK : db_fail(db, DB_STATE_OUT_OF_MEMORY, "no room for a receipt");
}

/* Cancels the order's invoices still registering or open. */
static db_status_t cancel_live(const emitter_t *em, const char *order_id, const char *reason)
{
    db_t *db = emitter_db(em);
    char ids[LIVE_INVOICES_MAX][UUID_TEXT_SIZE];
    size_t count = 0;
    db_status_t status = store_invoices_live(db, order_id, ids, LIVE_INVOICES_MAX, &count);
    for (size_t i = 0; status == DB_OK && i < count; i++) {
        status = store_invoice_move(db, ids[i], INVOICE_CANCELLED, reason, NULL);
        if (status == DB_OK)
            status = events_invoice_cancelled(em, order_id, ids[i], reason);
        /* a registering one is voided when the bank's answer comes
         * (money_registered); asking now is harmless: the void job asks
         * the bank by our reference first */
        if (status == DB_OK)
            status = schedule_job(db, JOB_INVOICE_VOID, ids[i], 0, 1);
    }
    return status;
}

/* Opens an invoice for amount_minor of the order. */
static db_status_t open_invoice(payment_app_t *app, db_t *db, const pay_order_t *order,
                                int64_t amount_minor, const json_t *full_receipt)
{
    invoice_row_t invoice;
    memset(&invoice, 0, sizeof invoice);
    if (ids_new(invoice.invoice_id, invoice.our_ref) != 0)
        return db_fail(db, DB_STATE_OUT_OF_MEMORY, "no randomness for an invoice id");
    str_copy_to(invoice.order_id, sizeof invoice.order_id, order->order_id);
    invoice.order_version = order->version;
    str_copy_to(invoice.provider, sizeof invoice.provider, app->provider);
    invoice.amount_minor = amount_minor;
    str_copy_to(invoice.currency, sizeof invoice.currency, order->currency);
    invoice.status = INVOICE_REGISTERING;
    invoice.expires_at_ms = clock_now_ms() + app->invoice_ttl_ms;

    /* the whole order: its lines; a part (the rest after a part paid): an
     * advance of that much */
    json_t *advance = NULL;
    const json_t *receipt = full_receipt;
    db_status_t status = DB_OK;
    if (amount_minor != order->position.total_minor) {
        char name[96];
        snprintf(name, sizeof name, "Оплата заказа %lld", (long long)order->number);
        receipt_t lines;
        receipt_refusal_t refusal = receipt_for_advance(name, amount_minor, 2000, &lines);
        if (refusal != RECEIPT_OK)
            return db_fail(db, DB_STATE_BAD_DATA, "order %s: no advance receipt: %s",
                           order->order_id, receipt_refusal_code(refusal));
        advance = receipt_json(&lines);
        receipt_clear(&lines);
        if (!advance)
            return db_fail(db, DB_STATE_OUT_OF_MEMORY, "no room for a receipt");
        receipt = advance;
    }
    json_t *kept = NULL;
    if (!receipt) { /* the whole order again: the lines kept with it */
        status = store_order_receipt(db, order->order_id, &kept);
        receipt = kept;
        if (status == DB_OK && !receipt)
            status =
                db_fail(db, DB_STATE_BAD_DATA, "order %s has no receipt lines", order->order_id);
    }
    if (status == DB_OK)
        status = store_invoice_insert(db, &invoice, receipt);
    if (status == DB_OK)
        status = schedule_job(db, JOB_INVOICE_REGISTER, invoice.invoice_id, 0, 1);
    if (status == DB_OK)
        status = schedule_job(db, JOB_INVOICE_EXPIRE, invoice.invoice_id, invoice.expires_at_ms, 1);
    if (status == DB_OK)
        metrics_counter_add(app->invoices_total, 1);
    json_decref(advance);
    json_decref(kept);
    return status;
}

db_status_t billing_confirmed(payment_app_t *app, const emitter_t *em,
                              const confirmed_order_t *confirmed)
{
    db_t *db = emitter_db(em);
    pay_order_t order;
    bool found = false;
    db_status_t status = store_order_lock(db, confirmed->order_id, &order, &found);
    if (status != DB_OK)
        return status;
    if (found && (order.version >= confirmed->version || order.position.cancelled))
        return DB_OK; /* heard before, or cancelled already */

    /* paid on delivery now: the link is of no use any more */
    const char *void_reason =
        found && order.position.terms == PAY_TERMS_PREPAY && confirmed->terms != PAY_TERMS_PREPAY
            ? "terms_changed"
            : "superseded";
    json_t *receipt = NULL;
    status = order_receipt(db, confirmed, app, &receipt);
    if (status != DB_OK)
        return status;
    if (!found) {
        memset(&order, 0, sizeof order);
        str_copy_to(order.order_id, sizeof order.order_id, confirmed->order_id);
    }
    order.version = confirmed->version;
    order.number = confirmed->number;
    str_copy_to(order.currency, sizeof order.currency, confirmed->currency);
    str_copy_to(order.customer_email, sizeof order.customer_email, confirmed->customer_email);
    str_copy_to(order.customer_phone, sizeof order.customer_phone, confirmed->customer_phone);
    str_copy_to(order.customer_name, sizeof order.customer_name,
                confirmed->customer_name ? confirmed->customer_name : "");
    utf8_repair(order.customer_name); /* a name cut to fit ends well-formed */
    order.position.terms = confirmed->terms;
    order.position.total_minor = confirmed->total_minor;
    ledger_after_t now;
    ledger_refusal_t refusal = ledger_state(&order.position, &now);
    if (refusal != LEDGER_OK) {
        json_decref(receipt);
        return db_fail(db, DB_STATE_BAD_DATA, "order %s: %s", confirmed->order_id,
                       ledger_refusal_code(refusal));
    }
    order.status = now.status;
    bool applied = false;
    status = store_order_confirmed(db, &order, receipt, &applied);
    if (status == DB_OK && applied)
        status = store_order_write(db, &order);
    /* an edited order is billed again from scratch */
    if (status == DB_OK && applied && found)
        status = cancel_live(em, order.order_id, void_reason);
    if (status == DB_OK && applied && order.position.terms == PAY_TERMS_PREPAY && now.due_minor > 0)
        status = open_invoice(app, db, &order, now.due_minor, receipt);
    /* an edit that lowered the total below what was paid */
    if (status == DB_OK && applied && now.excess_minor > 0) {
        refund_ask_t ask = {.reason = REFUND_REASON_EXCESS};
        int64_t opened = 0;
        status = refunds_open(app, db, &order, now.excess_minor, &ask, &opened);
        if (status == DB_OK && opened > 0)
            status = store_order_write(db, &order);
    }
    json_decref(receipt);
    return status;
}

db_status_t billing_invoice_rest(payment_app_t *app, db_t *db, const pay_order_t *order,
                                 int64_t due_minor)
{
    if (order->position.terms != PAY_TERMS_PREPAY || order->position.cancelled || due_minor <= 0)
        return DB_OK;
    char ids[LIVE_INVOICES_MAX][UUID_TEXT_SIZE];
    size_t live = 0;
    db_status_t status = store_invoices_live(db, order->order_id, ids, LIVE_INVOICES_MAX, &live);
    if (status != DB_OK || live > 0)
        return status;
    return open_invoice(app, db, order, due_minor, NULL);
}

db_status_t billing_void_live(const emitter_t *em, const char *order_id, const char *reason)
{
    return cancel_live(em, order_id, reason);
}

db_status_t billing_after_decline(payment_app_t *app, db_t *db, const pay_order_t *order,
                                  bool *rebilled_out)
{
    *rebilled_out = false;
    ledger_after_t now;
    if (order->position.terms != PAY_TERMS_PREPAY || order->position.cancelled ||
        ledger_state(&order->position, &now) != LEDGER_OK || now.due_minor <= 0)
        return DB_OK;
    int64_t failed = 0;
    db_status_t status = store_invoices_failed_count(db, order->order_id, &failed);
    if (status != DB_OK)
        return status;
    if (failed > app->decline_rebills) {
        log_info("declined too often: no new link until the manager asks for one",
                 LF_STR("order_id", order->order_id), LF_INT("failed_invoices", failed),
                 LF_INT("rebills_max", app->decline_rebills));
        return DB_OK;
    }
    char ids[LIVE_INVOICES_MAX][UUID_TEXT_SIZE];
    size_t live = 0;
    status = store_invoices_live(db, order->order_id, ids, LIVE_INVOICES_MAX, &live);
    if (status != DB_OK || live > 0)
        return status;
    status = open_invoice(app, db, order, now.due_minor, NULL);
    *rebilled_out = status == DB_OK;
    return status;
}

db_status_t billing_requested(payment_app_t *app, const emitter_t *em, const char *order_id,
                              billing_request_outcome_t *outcome_out)
{
    db_t *db = emitter_db(em);
    pay_order_t order;
    bool found = false;
    *outcome_out = BILLING_REQUEST_UNKNOWN_ORDER;
    db_status_t status = store_order_lock(db, order_id, &order, &found);
    if (status != DB_OK || !found)
        return status;
    ledger_after_t now;
    if (ledger_state(&order.position, &now) != LEDGER_OK)
        return db_fail(db, DB_STATE_BAD_DATA, "order %s: its sums are inconsistent", order_id);
    if (order.position.cancelled) {
        *outcome_out = BILLING_REQUEST_CANCELLED;
        return DB_OK;
    }
    if (order.position.terms != PAY_TERMS_PREPAY) {
        *outcome_out = BILLING_REQUEST_NOT_PREPAID;
        return DB_OK;
    }
    if (now.due_minor <= 0) {
        *outcome_out = BILLING_REQUEST_NOTHING_DUE;
        return DB_OK;
    }
    char ids[LIVE_INVOICES_MAX][UUID_TEXT_SIZE];
    size_t live = 0;
    status = store_invoices_live(db, order_id, ids, LIVE_INVOICES_MAX, &live);
    if (status != DB_OK)
        return status;
    if (live > 0) {
        *outcome_out = BILLING_REQUEST_LIVE;
        return DB_OK;
    }
    status = open_invoice(app, db, &order, now.due_minor, NULL);
    if (status == DB_OK)
        *outcome_out = BILLING_REQUEST_OPENED;
    return status;
}

db_status_t billing_cancelled(payment_app_t *app, const emitter_t *em, const char *order_id,
                              uint64_t version, int64_t number, bool refund_on_return)
{
    db_t *db = emitter_db(em);
    pay_order_t order;
    bool found = false;
    db_status_t status = store_order_lock(db, order_id, &order, &found);
    if (status != DB_OK)
        return status;
    if (!found) /* cancelled before it was confirmed: nothing billed */
        return store_order_cancelled_unknown(db, order_id, version, number);
    if (order.position.cancelled)
        return DB_OK;
    order.position.cancelled = true;
    order.position.awaiting_return = refund_on_return;
    if (version > order.version)
        order.version = version;
    status = cancel_live(em, order_id, "order_cancelled");
    ledger_after_t now;
    if (status == DB_OK && ledger_state(&order.position, &now) != LEDGER_OK)
        status = db_fail(db, DB_STATE_BAD_DATA, "order %s: its sums are inconsistent", order_id);
    if (status == DB_OK && now.excess_minor > 0) {
        refund_ask_t ask = {.reason = REFUND_REASON_CANCELLED};
        int64_t opened = 0;
        status = refunds_open(app, db, &order, now.excess_minor, &ask, &opened);
    }
    if (status == DB_OK && ledger_state(&order.position, &now) == LEDGER_OK) {
        order.status = now.status;
        status = store_order_write(db, &order);
    }
    return status;
}
