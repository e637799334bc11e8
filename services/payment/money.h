/*
 * money.h — an invoice's life at the bank and money arriving, in the
 * caller's transaction (a job's, a webhook's or a handler's).
 *
 * Every report of a payment — a callback, a webhook, a reconciliation
 * poll, any number of times, in any order — goes through money_paid,
 * which records it once in the ledger by the bank's id for it and moves
 * the invoice forward only. Money beyond what is owed, or for a cancelled
 * order, is refunded by itself (refunds.h).
 */
#ifndef PAYMENT_MONEY_H
#define PAYMENT_MONEY_H

#include <stdbool.h>
#include <stdint.h>

#include "common/emit.h"
#include "services/payment/payment.h"

/* The bank registered the invoice: the link goes out (invoice.created) and
 * a reconciliation is scheduled. A cancelled or expired invoice is voided
 * at the bank instead. */
db_status_t money_registered(payment_app_t *app, const emitter_t *em, const char *invoice_id,
                             const char *bank_id, const char *payment_url);

/* The bank refused to register the invoice: it failed (payment.failed with
 * the bank's code, so the order's manager gets a task). */
db_status_t money_register_refused(payment_app_t *app, const emitter_t *em, const char *invoice_id,
                                   const char *code, const char *reason);

/* A payment the bank reports. */
typedef struct {
    const char *provider;     /* "sberbank", "yookassa" */
    const char *bank_id;      /* the bank's id of the invoice's payment; may be "" */
    const char *reference;    /* ours (the invoice's our_ref); may be "" */
    const char *movement_ref; /* the bank's id of this movement (once in the ledger) */
    int64_t amount_minor;     /* what was taken; -1: the invoice's amount (unsaid) */
    int64_t at_ms;
} paid_report_t;

/* Records a reported payment once. *known false when no invoice of ours
 * matches (the caller answers so; nothing written). */
db_status_t money_paid(payment_app_t *app, const emitter_t *em, const paid_report_t *report,
                       bool *known_out);

/* Records many reported payments (a batch of callbacks) in two statements
 * where money_paid takes several each: those found by the bank's id, one
 * to an order, that leave no excess to refund. taken_out[i]: report i was
 * applied here (known_out[i] then true); the others are the caller's to
 * give to money_paid, one by one, after this. reports[0]'s provider is
 * the batch's; count at least 0. */
db_status_t money_paid_many(payment_app_t *app, const emitter_t *em, const paid_report_t *reports,
                            size_t count, bool *taken_out, bool *known_out);

/* The customer's payment failed (declined, timed out): the invoice fails
 * unless it was paid meanwhile; payment.failed; and a prepaid order still
 * owing is billed anew (billing_after_decline: a new link, at most
 * PAYMENT_DECLINE_REBILLS times). *known as for money_paid. */
db_status_t money_declined(payment_app_t *app, const emitter_t *em, const char *provider,
                           const char *bank_id, const char *reference, const char *code,
                           const char *reason, bool *known_out);

/* The invoice's link ran out unpaid: expired, invoice.expired, voided at
 * the bank. No-op for an invoice paid, failed or cancelled meanwhile. */
db_status_t money_expire(payment_app_t *app, const emitter_t *em, const char *invoice_id,
                         int64_t now_ms);

/* Cash collected on delivery, or a payment recorded by a person: once per
 * reference; payment.collected or payment.succeeded. *known false when
 * payment never heard of the order. */
typedef struct {
    const char *order_id;
    bool collected;        /* cash on delivery (else a manual record) */
    const char *by;        /* carrier code, courier's or manager's staff id */
    const char *reference; /* the reporter's own id for it (a receipt number) */
    int64_t amount_minor;
    int64_t at_ms;
} cash_report_t;

db_status_t money_cash(payment_app_t *app, const emitter_t *em, const cash_report_t *report,
                       bool *known_out);

#endif
