/*
 * refunds.c — opening, landing and failing refunds (refunds.h).
 */
#include "services/payment/refunds.h"

#include <stdio.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/strbuf.h"
#include "services/payment/events.h"
#include "services/payment/ids.h"
#include "services/payment/ledger.h"
#include "services/payment/receipt.h"
#include "services/payment/schedule.h"

#define REFUNDABLE_INVOICES_MAX 16

/* The receipt of a refund that names no lines: one line for the money. */
static db_status_t refund_line(db_t *db, const pay_order_t *order, int64_t amount_minor,
                               json_t **out)
{
    char name[96];
    snprintf(name, sizeof name, "Возврат оплаты заказа %lld", (long long)order->number);
    receipt_t receipt;
    receipt_refusal_t refusal = receipt_for_advance(name, amount_minor, 2000, &receipt);
    if (refusal != RECEIPT_OK)
        return db_fail(db, DB_STATE_BAD_DATA, "order %s: no refund receipt: %s", order->order_id,
                       receipt_refusal_code(refusal));
    *out = receipt_json(&receipt);
    receipt_clear(&receipt);
    return *out ? DB_OK : db_fail(db, DB_STATE_OUT_OF_MEMORY, "no room for a refund receipt");
}

/* One refund row on one invoice, and its job. */
static db_status_t open_one(db_t *db, const pay_order_t *order, const refundable_invoice_t *invoice,
                            int64_t amount_minor, bool whole_invoice, const refund_ask_t *ask,
                            const char *request_ref)
{
    refund_row_t refund;
    memset(&refund, 0, sizeof refund);
    if (ids_new(refund.refund_id, refund.our_ref) != 0)
        return db_fail(db, DB_STATE_OUT_OF_MEMORY, "no randomness for a refund id");
    str_copy_to(refund.order_id, sizeof refund.order_id, order->order_id);
    str_copy_to(refund.invoice_id, sizeof refund.invoice_id, invoice->invoice_id);
    refund.amount_minor = amount_minor;
    str_copy_to(refund.reason, sizeof refund.reason, ask->reason);
    str_copy_to(refund.claim_id, sizeof refund.claim_id, ask->claim_id ? ask->claim_id : "");
    str_copy_to(refund.request_ref, sizeof refund.request_ref, request_ref ? request_ref : "");

    json_t *made = NULL;
    const json_t *receipt = ask->receipt;
    db_status_t status = DB_OK;
    /* all of an invoice's money back: its own lines, so the refund
     * receipt mirrors the one the customer got */
    if ((!receipt || json_array_size(receipt) == 0) && whole_invoice) {
        status = store_invoice_receipt(db, invoice->invoice_id, &made);
        receipt = made;
    }
    if (status == DB_OK && (!receipt || json_array_size(receipt) == 0)) {
        json_decref(made);
        made = NULL;
        status = refund_line(db, order, amount_minor, &made);
        receipt = made;
    }
    bool created = false;
    if (status == DB_OK)
        status = store_refund_insert(db, &refund, receipt, &created);
    if (status == DB_OK && created)
        status = schedule_job(db, JOB_REFUND_SEND, refund.refund_id, 0, 1);
    json_decref(made);
    return status;
}

db_status_t refunds_open(payment_app_t *app, db_t *db, pay_order_t *order, int64_t amount_minor,
                         const refund_ask_t *ask, int64_t *opened_minor)
{
    *opened_minor = 0;
    if (amount_minor <= 0)
        return DB_OK;
    refundable_invoice_t invoices[REFUNDABLE_INVOICES_MAX];
    size_t count = 0;
    db_status_t status =
        store_invoices_refundable(db, order->order_id, invoices, REFUNDABLE_INVOICES_MAX, &count);
    int64_t left = amount_minor;
    for (size_t i = 0; status == DB_OK && i < count && left > 0; i++) {
        int64_t part = invoices[i].refundable_minor < left ? invoices[i].refundable_minor : left;
        /* a request spread over two invoices keeps one key per part */
        char request_ref[220];
        if (ask->request_ref && ask->request_ref[0])
            snprintf(request_ref, sizeof request_ref, "%s/%zu", ask->request_ref, i);
        else
            request_ref[0] = '\0';
        /* the lines go with the first part only when it is the whole */
        refund_ask_t part_ask = *ask;
        if (part != amount_minor)
            part_ask.receipt = NULL;
        status = open_one(db, order, &invoices[i], part, part == invoices[i].whole_minor, &part_ask,
                          request_ref[0] ? request_ref : NULL);
        if (status == DB_OK) {
            left -= part;
            *opened_minor += part;
        }
    }
    if (status != DB_OK)
        return status;
    /* money given back on request is no longer owed; an excess or a
     * cancelled order's money never was */
    bool waives = strcmp(ask->reason, REFUND_REASON_REQUESTED) == 0;
    ledger_after_t after;
    ledger_refusal_t refusal = waives
                                   ? ledger_refund_waived(&order->position, *opened_minor, &after)
                                   : ledger_refund(&order->position, *opened_minor, &after);
    if (*opened_minor > 0 && refusal != LEDGER_OK)
        return db_fail(db, DB_STATE_BAD_DATA, "order %s: refund of %lld: %s", order->order_id,
                       (long long)*opened_minor, ledger_refusal_code(refusal));
    order->position.refunding_minor += *opened_minor;
    if (waives)
        order->position.waived_minor += *opened_minor;
    metrics_counter_add(app->refunds_total, (double)count);
    if (left > 0)
        log_warn("money to refund has no bank payment to go back through; a person must return it",
                 LF_STR("order_id", order->order_id), LF_INT("amount_minor", left),
                 LF_STR("reason", ask->reason), LF_ERR("refund_by_hand"));
    return DB_OK;
}

/* Locks the refund and its order. */
static db_status_t lock_pair(db_t *db, const char *refund_id, refund_row_t *refund,
                             pay_order_t *order, bool *found)
{
    db_status_t status = store_refund_lock(db, refund_id, refund, found);
    if (status != DB_OK || !*found)
        return status;
    /* the order is locked after the refund here; every other writer locks
     * the order first and does not touch an existing refund's row, so the
     * two cannot wait on each other */
    bool order_found = false;
    status = store_order_lock(db, refund->order_id, order, &order_found);
    if (status == DB_OK && !order_found)
        status = db_fail(db, DB_STATE_BAD_DATA, "refund %s names order %s, which is not stored",
                         refund_id, refund->order_id);
    return status;
}

/* Takes the refund out of the order's refunding sum (and into refunded
 * when it landed; out of waived when a refund asked on request failed:
 * the customer keeps the money, so owes it again), writes the order and
 * gives its new figures. */
static db_status_t settle_order(db_t *db, pay_order_t *order, const refund_row_t *refund,
                                bool landed, ledger_after_t *after)
{
    ledger_position_t *p = &order->position;
    p->refunding_minor -= refund->amount_minor;
    if (p->refunding_minor < 0)
        p->refunding_minor = 0;
    if (landed)
        p->refunded_minor += refund->amount_minor;
    else if (strcmp(refund->reason, REFUND_REASON_REQUESTED) == 0) {
        p->waived_minor -= refund->amount_minor;
        if (p->waived_minor < 0)
            p->waived_minor = 0;
    }
    if (ledger_state(p, after) != LEDGER_OK)
        return db_fail(db, DB_STATE_BAD_DATA, "order %s: refund %s leaves its sums inconsistent",
                       order->order_id, refund->refund_id);
    order->status = after->status;
    return store_order_write(db, order);
}

db_status_t refunds_landed(payment_app_t *app, const emitter_t *em, const char *refund_id,
                           const char *bank_refund_id, int64_t at_ms)
{
    (void)app;
    db_t *db = emitter_db(em);
    refund_row_t refund;
    pay_order_t order;
    bool found = false;
    db_status_t status = lock_pair(db, refund_id, &refund, &order, &found);
    if (status != DB_OK || !found || refund.status == REFUND_SUCCEEDED)
        return status;
    ledger_after_t after;
    status = settle_order(db, &order, &refund, true, &after);
    const char *movement = bank_refund_id && bank_refund_id[0] ? bank_refund_id : refund.our_ref;
    char reference[STORE_BANK_ID_MAX + 16];
    snprintf(reference, sizeof reference, "refund:%s", movement);
    bool recorded = false;
    char provider[STORE_PROVIDER_MAX + 1] = "bank";
    invoice_row_t invoice;
    bool invoice_found = false;
    if (status == DB_OK)
        status = store_invoice_lock(db, refund.invoice_id, &invoice, &invoice_found);
    if (status == DB_OK && invoice_found)
        snprintf(provider, sizeof provider, "%s", invoice.provider);
    ledger_entry_t entry = {
        .order_id = refund.order_id,
        .invoice_id = refund.invoice_id,
        .kind = LEDGER_KIND_REFUND,
        .provider = provider,
        .movement_ref = reference,
        .amount_minor = refund.amount_minor,
        .currency = order.currency,
        .paid_minor = after.paid_minor,
        .due_minor = after.due_minor,
        .at_ms = at_ms,
    };
    if (status == DB_OK)
        status = store_ledger_append(db, &entry, &recorded);
    if (status == DB_OK)
        status = store_refund_move(db, refund_id, REFUND_SUCCEEDED,
                                   bank_refund_id && bank_refund_id[0] ? bank_refund_id : NULL,
                                   NULL, NULL);
    if (status == DB_OK && recorded)
        status = events_refund_succeeded(em, &refund, order.currency, &after, at_ms);
    return status;
}

db_status_t refunds_failed(payment_app_t *app, const emitter_t *em, const char *refund_id,
                           const char *code, const char *reason, int64_t at_ms)
{
    (void)app;
    db_t *db = emitter_db(em);
    refund_row_t refund;
    pay_order_t order;
    bool found = false;
    db_status_t status = lock_pair(db, refund_id, &refund, &order, &found);
    if (status != DB_OK || !found || refund.status == REFUND_SUCCEEDED ||
        refund.status == REFUND_FAILED)
        return status;
    ledger_after_t after;
    status = settle_order(db, &order, &refund, false, &after);
    if (status == DB_OK)
        status = store_refund_move(db, refund_id, REFUND_FAILED, NULL, code, reason);
    if (status == DB_OK)
        status = events_refund_failed(em, &refund, code, reason, at_ms);
    return status;
}

db_status_t refunds_unknown(payment_app_t *app, db_t *db, const char *refund_id, const char *code,
                            const char *reason)
{
    (void)app;
    refund_row_t refund;
    bool found = false;
    db_status_t status = store_refund_lock(db, refund_id, &refund, &found);
    if (status != DB_OK || !found || refund.status != REFUND_PENDING)
        return status;
    /* the money stays counted as refunding: asking for it again could pay
     * it twice; a person settles it with the bank */
    return store_refund_move(db, refund_id, REFUND_UNKNOWN, NULL, code, reason);
}

db_status_t refunds_requested(payment_app_t *app, const emitter_t *em,
                              const refund_request_t *request)
{
    db_t *db = emitter_db(em);
    pay_order_t order;
    bool found = false;
    db_status_t status = store_order_lock(db, request->order_id, &order, &found);
    if (status != DB_OK)
        return status;
    /* the same request heard again (a replay, a second publication): its
     * refunds are open already; asking again would count the money twice
     * or refuse it as more than was paid */
    bool known = false;
    status = store_refund_request_known(db, request->request_id, &known);
    if (status != DB_OK || known) {
        if (known)
            log_info("a refund request already opened was heard again: nothing changes",
                     LF_STR("order_id", request->order_id),
                     LF_STR("request_id", request->request_id));
        return status;
    }
    int64_t refundable = found ? ledger_refundable(&order.position) : 0;
    if (request->amount_minor <= 0 || request->amount_minor > refundable) {
        refund_row_t refused;
        memset(&refused, 0, sizeof refused);
        str_copy_to(refused.order_id, sizeof refused.order_id, request->order_id);
        str_copy_to(refused.reason, sizeof refused.reason, REFUND_REASON_REQUESTED);
        str_copy_to(refused.claim_id, sizeof refused.claim_id, request->claim_id);
        str_copy_to(refused.request_ref, sizeof refused.request_ref, request->request_id);
        refused.amount_minor = request->amount_minor;
        char words[160];
        snprintf(words, sizeof words, "asked %lld back, %lld may be refunded",
                 (long long)request->amount_minor, (long long)refundable);
        return events_refund_failed(em, &refused, "refund_exceeds_paid", words, clock_now_ms());
    }
    refund_ask_t ask = {
        .reason = REFUND_REASON_REQUESTED,
        .claim_id = request->claim_id,
        .request_ref = request->request_id,
        .receipt = request->receipt,
    };
    int64_t opened = 0;
    status = refunds_open(app, db, &order, request->amount_minor, &ask, &opened);
    if (status == DB_OK && opened > 0)
        status = store_order_write(db, &order);
    return status;
}
