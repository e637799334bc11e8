/*
 * money.c — invoices at the bank and money arriving (money.h).
 */
#include "services/payment/money.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "services/payment/billing.h"
#include "services/payment/events.h"
#include "services/payment/ledger.h"
#include "services/payment/refunds.h"
#include "services/payment/schedule.h"
#include "services/payment/store.h"

db_status_t money_registered(payment_app_t *app, const emitter_t *em, const char *invoice_id,
                             const char *bank_id, const char *payment_url)
{
    db_t *db = emitter_db(em);
    invoice_row_t invoice;
    bool found = false, moved = false;
    db_status_t status = store_invoice_lock(db, invoice_id, &invoice, &found);
    if (status != DB_OK || !found)
        return status;
    if (invoice.status != INVOICE_REGISTERING) {
        /* cancelled or expired while the bank was asked: the link must
         * not stay payable at the bank. The void the cancel asked for may
         * have run already and found nothing: the bank's id is kept and a
         * void of its own (round 2) kills this link. */
        if (invoice.status != INVOICE_CANCELLED && invoice.status != INVOICE_EXPIRED)
            return DB_OK;
        status = store_invoice_found_at_bank(db, invoice_id, bank_id);
        if (status == DB_OK)
            status = schedule_job(db, JOB_INVOICE_VOID, invoice_id, 0, 2);
        return status;
    }
    status = store_invoice_registered(db, invoice_id, bank_id, payment_url, &moved);
    if (status != DB_OK || !moved)
        return status;
    snprintf(invoice.bank_id, sizeof invoice.bank_id, "%s", bank_id);
    snprintf(invoice.payment_url, sizeof invoice.payment_url, "%s", payment_url);
    invoice.status = INVOICE_OPEN;
    status = events_invoice_created(em, &invoice);
    if (status == DB_OK)
        status = schedule_job(db, JOB_INVOICE_RECONCILE, invoice_id,
                              clock_now_ms() + app->reconcile_after_ms, 1);
    return status;
}

db_status_t money_register_refused(payment_app_t *app, const emitter_t *em, const char *invoice_id,
                                   const char *code, const char *reason)
{
    (void)app;
    db_t *db = emitter_db(em);
    invoice_row_t invoice;
    bool found = false;
    db_status_t status = store_invoice_lock(db, invoice_id, &invoice, &found);
    if (status != DB_OK || !found || invoice.status != INVOICE_REGISTERING)
        return status;
    status = store_invoice_move(db, invoice_id, INVOICE_FAILED, code, reason);
    if (status == DB_OK)
        status = events_payment_failed(em, invoice.order_id, "", invoice_id, code, reason,
                                       clock_now_ms());
    return status;
}

/* Finds the invoice a bank's report is about (by the bank's id, else by
 * our reference) and locks its order, then it: the order's row first, as
 * every writer of an order's money does (store.h). */
static db_status_t find_invoice(db_t *db, const char *provider, const char *bank_id,
                                const char *reference, invoice_row_t *invoice, pay_order_t *order,
                                bool *found)
{
    *found = false;
    db_status_t status = DB_OK;
    if (bank_id && bank_id[0])
        status = store_invoice_find_by_bank(db, provider, bank_id, invoice, found);
    if (status == DB_OK && !*found && reference && reference[0])
        status = store_invoice_find_by_ref(db, reference, invoice, found);
    if (status != DB_OK || !*found)
        return status;
    if (strcmp(invoice->provider, provider) != 0) {
        *found = false; /* another bank's invoice: not this report's */
        return DB_OK;
    }
    bool order_found = false;
    status = store_order_lock(db, invoice->order_id, order, &order_found);
    if (status == DB_OK && !order_found)
        status = db_fail(db, DB_STATE_BAD_DATA, "invoice %s names order %s, which is not stored",
                         invoice->invoice_id, invoice->order_id);
    char invoice_id[UUID_TEXT_SIZE];
    memcpy(invoice_id, invoice->invoice_id, sizeof invoice_id);
    if (status == DB_OK)
        status = store_invoice_lock(db, invoice_id, invoice, found);
    return status;
}

/* The excess after a movement goes back by itself. */
static db_status_t refund_excess(payment_app_t *app, db_t *db, pay_order_t *order,
                                 const ledger_after_t *after)
{
    if (after->excess_minor <= 0)
        return DB_OK;
    refund_ask_t ask = {
        .reason = order->position.cancelled ? REFUND_REASON_CANCELLED : REFUND_REASON_EXCESS,
    };
    int64_t opened = 0;
    log_info("money beyond what is owed goes back", LF_STR("order_id", order->order_id),
             LF_INT("excess_minor", after->excess_minor), LF_STR("reason", ask.reason));
    return refunds_open(app, db, order, after->excess_minor, &ask, &opened);
}

/* Writes the order after a movement of money: its figures, then its
 * excess refunded. */
static db_status_t write_after(payment_app_t *app, db_t *db, pay_order_t *order,
                               const ledger_after_t *after)
{
    order->status = after->status;
    db_status_t status = refund_excess(app, db, order, after);
    if (status == DB_OK)
        status = store_order_write(db, order);
    return status;
}

db_status_t money_paid(payment_app_t *app, const emitter_t *em, const paid_report_t *report,
                       bool *known_out)
{
    db_t *db = emitter_db(em);
    invoice_row_t invoice;
    pay_order_t order;
    db_status_t status = find_invoice(db, report->provider, report->bank_id, report->reference,
                                      &invoice, &order, known_out);
    if (status != DB_OK || !*known_out)
        return status;
    /* a callback that does not say how much: the invoice's amount */
    int64_t amount = report->amount_minor > 0 ? report->amount_minor : invoice.amount_minor;
    ledger_after_t after;
    ledger_refusal_t refusal = ledger_receive(&order.position, amount, &after);
    if (refusal != LEDGER_OK)
        return db_fail(db, DB_STATE_BAD_DATA, "payment of %lld for invoice %s: %s",
                       (long long)amount, invoice.invoice_id, ledger_refusal_code(refusal));
    const char *bank_payment_id =
        report->bank_id && report->bank_id[0] ? report->bank_id : invoice.bank_id;
    ledger_entry_t entry = {
        .order_id = invoice.order_id,
        .invoice_id = invoice.invoice_id,
        .kind = LEDGER_KIND_PAYMENT,
        .provider = report->provider,
        .movement_ref = report->movement_ref,
        .amount_minor = amount,
        .currency = invoice.currency,
        .paid_minor = after.paid_minor,
        .due_minor = after.due_minor,
        .at_ms = report->at_ms,
    };
    bool recorded = false;
    status = store_ledger_append(db, &entry, &recorded);
    if (status != DB_OK || !recorded)
        return status; /* a report heard before: applied once */
    order.position.received_minor += amount;
    if (invoice_may_move(invoice.status, INVOICE_PAID))
        status = store_invoice_move(db, invoice.invoice_id, INVOICE_PAID, NULL, NULL);
    if (status == DB_OK)
        status =
            events_payment_succeeded(em, &invoice, bank_payment_id, amount, &after, report->at_ms);
    if (status == DB_OK)
        status = write_after(app, db, &order, &after);
    /* money on a link given up on (declined, expired, cancelled) that pays
     * the order: the link opened since must not take it again */
    if (status == DB_OK && invoice.status != INVOICE_OPEN && after.due_minor <= 0)
        status = billing_void_live(em, invoice.order_id, "paid");
    /* a part paid: the rest is billed by a new link */
    if (status == DB_OK && after.due_minor > 0)
        status = billing_invoice_rest(app, db, &order, after.due_minor);
    if (status == DB_OK)
        metrics_counter_add(app->payments_total, 1);
    return status;
}

/* A payment of a batch taken by money_paid_many: its report, the rows it
 * found, and what follows. */
typedef struct {
    size_t report;         /* its index in the batch */
    paid_locked_t *locked; /* its invoice and order */
    int64_t amount_minor;
    ledger_after_t after;
} paid_plan_t;

/* The locked rows of bank_id, or NULL. */
static paid_locked_t *locked_of(paid_locked_t *locked, size_t count, const char *bank_id)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(locked[i].invoice.bank_id, bank_id) == 0)
            return &locked[i];
    return NULL;
}

/* Whether a plan of the batch already moves the order's money. */
static bool order_planned(const paid_plan_t *plans, size_t count, const char *order_id)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(plans[i].locked->order.order_id, order_id) == 0)
            return true;
    return false;
}

/* Decides which reports the batch takes: found by the bank's id, the only
 * one of its order, and money that leaves nothing to refund (an excess
 * goes through money_paid: its refund is opened before the order's sums
 * are written). Fills plans and records; *count_out how many. */
static void plan_batch(const paid_report_t *reports, size_t count, paid_locked_t *locked,
                       size_t n_locked, paid_plan_t *plans, paid_record_t *records,
                       size_t *count_out)
{
    size_t n = 0;
    for (size_t i = 0; i < count; i++) {
        const paid_report_t *report = &reports[i];
        paid_locked_t *rows = report->bank_id && report->bank_id[0] &&
                                      strcmp(report->provider, reports[0].provider) == 0
                                  ? locked_of(locked, n_locked, report->bank_id)
                                  : NULL;
        if (!rows || order_planned(plans, n, rows->order.order_id))
            continue;
        if (rows->invoice.status == INVOICE_FAILED || rows->invoice.status == INVOICE_EXPIRED ||
            rows->invoice.status == INVOICE_CANCELLED)
            continue; /* money_paid: a link opened since may have to be voided */
        paid_plan_t *plan = &plans[n];
        plan->report = i;
        plan->locked = rows;
        plan->amount_minor =
            report->amount_minor > 0 ? report->amount_minor : rows->invoice.amount_minor;
        if (ledger_receive(&rows->order.position, plan->amount_minor, &plan->after) != LEDGER_OK ||
            plan->after.excess_minor > 0)
            continue; /* money_paid says why, or refunds the excess */
        records[n] = (paid_record_t){
            .entry =
                {
                    .order_id = rows->invoice.order_id,
                    .invoice_id = rows->invoice.invoice_id,
                    .kind = LEDGER_KIND_PAYMENT,
                    .provider = report->provider,
                    .movement_ref = report->movement_ref,
                    .amount_minor = plan->amount_minor,
                    .currency = rows->invoice.currency,
                    .paid_minor = plan->after.paid_minor,
                    .due_minor = plan->after.due_minor,
                    .at_ms = report->at_ms,
                },
            .invoice_paid = invoice_may_move(rows->invoice.status, INVOICE_PAID),
            .received_minor = rows->order.position.received_minor + plan->amount_minor,
            .status = plan->after.status,
        };
        n++;
    }
    *count_out = n;
}

db_status_t money_paid_many(payment_app_t *app, const emitter_t *em, const paid_report_t *reports,
                            size_t count, bool *taken_out, bool *known_out)
{
    db_t *db = emitter_db(em);
    for (size_t i = 0; i < count; i++)
        taken_out[i] = known_out[i] = false;
    if (count == 0)
        return DB_OK;
    const char **bank_ids = malloc(sizeof *bank_ids * count);
    paid_locked_t *locked = malloc(sizeof *locked * count);
    paid_plan_t *plans = malloc(sizeof *plans * count);
    paid_record_t *records = malloc(sizeof *records * count);
    bool *recorded = malloc(sizeof *recorded * count);
    db_status_t status = DB_OK;
    if (!bank_ids || !locked || !plans || !records || !recorded) {
        status = db_fail(db, DB_STATE_OUT_OF_MEMORY, "no room for %zu payments", count);
        goto done;
    }
    size_t n_ids = 0, n_locked = 0, n_plans = 0;
    for (size_t i = 0; i < count; i++)
        if (reports[i].bank_id && reports[i].bank_id[0] &&
            strcmp(reports[i].provider, reports[0].provider) == 0)
            bank_ids[n_ids++] = reports[i].bank_id;
    if (n_ids == 0)
        goto done;
    status = store_paid_lock_many(db, reports[0].provider, bank_ids, n_ids, locked, &n_locked);
    if (status != DB_OK)
        goto done;
    plan_batch(reports, count, locked, n_locked, plans, records, &n_plans);
    if (n_plans == 0)
        goto done;
    status = store_paid_record_many(db, records, n_plans, recorded);
    /* then, report by report, what money_paid does after its writes */
    for (size_t k = 0; k < n_plans && status == DB_OK; k++) {
        const paid_plan_t *plan = &plans[k];
        const paid_report_t *report = &reports[plan->report];
        taken_out[plan->report] = known_out[plan->report] = true;
        if (!recorded[k])
            continue; /* a report heard before: applied once */
        pay_order_t *order = &plan->locked->order;
        order->position.received_minor += plan->amount_minor;
        order->status = plan->after.status;
        status = events_payment_succeeded(
            em, &plan->locked->invoice,
            report->bank_id && report->bank_id[0] ? report->bank_id : plan->locked->invoice.bank_id,
            plan->amount_minor, &plan->after, report->at_ms);
        if (status == DB_OK && plan->after.due_minor > 0)
            status = billing_invoice_rest(app, db, order, plan->after.due_minor);
        if (status == DB_OK)
            metrics_counter_add(app->payments_total, 1);
    }
done:
    free(recorded);
    free(records);
    free(plans);
    free(locked);
    free(bank_ids);
    return status;
}

db_status_t money_declined(payment_app_t *app, const emitter_t *em, const char *provider,
                           const char *bank_id, const char *reference, const char *code,
                           const char *reason, bool *known_out)
{
    db_t *db = emitter_db(em);
    invoice_row_t invoice;
    pay_order_t order;
    db_status_t status =
        find_invoice(db, provider, bank_id, reference, &invoice, &order, known_out);
    if (status != DB_OK || !*known_out || invoice.status != INVOICE_OPEN)
        return status;
    status = store_invoice_move(db, invoice.invoice_id, INVOICE_FAILED, code, reason);
    if (status == DB_OK)
        status = events_payment_failed(em, invoice.order_id, invoice.bank_id, invoice.invoice_id,
                                       code, reason, clock_now_ms());
    /* the declined link pays no more: a new one, within the bound */
    bool rebilled = false;
    if (status == DB_OK)
        status = billing_after_decline(app, db, &order, &rebilled);
    if (status == DB_OK && rebilled)
        log_info("declined at the bank: a new link for what is due",
                 LF_STR("order_id", invoice.order_id),
                 LF_STR("declined_invoice_id", invoice.invoice_id));
    return status;
}

db_status_t money_expire(payment_app_t *app, const emitter_t *em, const char *invoice_id,
                         int64_t now_ms)
{
    (void)app;
    db_t *db = emitter_db(em);
    invoice_row_t invoice;
    bool found = false;
    db_status_t status = store_invoice_lock(db, invoice_id, &invoice, &found);
    if (status != DB_OK || !found ||
        (invoice.status != INVOICE_OPEN && invoice.status != INVOICE_REGISTERING))
        return status;
    status = store_invoice_move(db, invoice_id, INVOICE_EXPIRED, "expired", NULL);
    if (status == DB_OK)
        status = events_invoice_expired(em, invoice.order_id, invoice_id, now_ms);
    /* a registering invoice is voided when the bank's answer comes */
    if (status == DB_OK && invoice.status == INVOICE_OPEN)
        status = schedule_job(db, JOB_INVOICE_VOID, invoice_id, 0, 1);
    return status;
}

db_status_t money_cash(payment_app_t *app, const emitter_t *em, const cash_report_t *report,
                       bool *known_out)
{
    db_t *db = emitter_db(em);
    pay_order_t order;
    db_status_t status = store_order_lock(db, report->order_id, &order, known_out);
    if (status != DB_OK || !*known_out)
        return status;
    ledger_after_t after;
    ledger_refusal_t refusal = ledger_receive(&order.position, report->amount_minor, &after);
    if (refusal != LEDGER_OK)
        return db_fail(db, DB_STATE_BAD_DATA, "cash of %lld for order %s: %s",
                       (long long)report->amount_minor, report->order_id,
                       ledger_refusal_code(refusal));
    char movement[260];
    snprintf(movement, sizeof movement, "%s:%s", report->collected ? "collected" : "manual",
             report->reference);
    ledger_entry_t entry = {
        .order_id = report->order_id,
        .kind = report->collected ? LEDGER_KIND_COLLECTED : LEDGER_KIND_MANUAL,
        .provider = report->collected ? "cash" : "manual",
        .movement_ref = movement,
        .amount_minor = report->amount_minor,
        .currency = order.currency,
        .paid_minor = after.paid_minor,
        .due_minor = after.due_minor,
        .actor = report->by,
        .at_ms = report->at_ms,
    };
    bool recorded = false;
    status = store_ledger_append(db, &entry, &recorded);
    if (status != DB_OK || !recorded)
        return status;
    order.position.received_minor += report->amount_minor;
    if (report->collected) {
        status = events_payment_collected(em, report->order_id, report->amount_minor, &after,
                                          report->by, report->at_ms);
    } else {
        invoice_row_t none;
        memset(&none, 0, sizeof none);
        snprintf(none.order_id, sizeof none.order_id, "%s", report->order_id);
        snprintf(none.currency, sizeof none.currency, "%s", order.currency);
        status = events_payment_succeeded(em, &none, movement, report->amount_minor, &after,
                                          report->at_ms);
    }
    if (status == DB_OK)
        status = write_after(app, db, &order, &after);
    /* paid in full another way: the links still open must not take it again */
    if (status == DB_OK && after.due_minor <= 0)
        status = billing_void_live(em, report->order_id, "paid");
    if (status == DB_OK)
        metrics_counter_add(app->payments_total, 1);
    return status;
}
