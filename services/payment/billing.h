/*
 * billing.h — what an order's confirmation or cancellation means for its
 * money (F15, F16, F18), in the handler's transaction.
 *
 * order.confirmed (a newer version only): the order's terms, total and
 * receipt lines are kept; with prepay terms and money still due, an
 * invoice for what is due is opened (registered at the bank by a job;
 * invoice.created once the bank gives the link) and set to expire. A
 * re-confirmation (an edited order) cancels the invoices still open and
 * bills again. On-delivery and no-payment orders get no invoice: their
 * status says so.
 *
 * order.cancelled: open invoices are cancelled (invoice.cancelled, voided
 * at the bank), and whatever was paid goes back (refunds.h) — unless the
 * order was cancelled while its parcel is with the carrier
 * (refund_on_return): then what was paid, up to the total, is held until
 * the order asks for it on the parcel's receipt (refund.requested); only
 * money beyond the total goes back at once.
 */
#ifndef PAYMENT_BILLING_H
#define PAYMENT_BILLING_H

#include <stddef.h>
#include <stdint.h>

#include "common/emit.h"
#include "services/payment/ledger.h"
#include "services/payment/payment.h"
#include "services/payment/receipt.h"
#include "services/payment/store.h"

/* An order as order.confirmed describes it. */
typedef struct {
    const char *order_id;
    uint64_t version;
    int64_t number;
    pay_terms_t terms;
    const char *currency;
    int64_t total_minor;
    int64_t delivery_minor;
    const char *customer_email; /* "" when none */
    const char *customer_name;  /* "" when none: printed on the invoice */
    const char *customer_phone;
    const receipt_order_line_t *lines;
    size_t line_count;
} confirmed_order_t;

db_status_t billing_confirmed(payment_app_t *app, const emitter_t *em,
                              const confirmed_order_t *order);

/* The rest of a prepaid order after a part was paid: an invoice for what
 * is still due (an advance receipt), unless one is open already. The
 * order is locked by the caller. */
db_status_t billing_invoice_rest(payment_app_t *app, db_t *db, const pay_order_t *order,
                                 int64_t due_minor);

/* Voids the order's invoices still registering or open (invoice.cancelled
 * with reason, voided at the bank): money came another way. */
db_status_t billing_void_live(const emitter_t *em, const char *order_id, const char *reason);

/* After the bank declined one of the order's invoices (a declined orderId
 * pays no more): a prepaid order still owing money and not cancelled is
 * billed anew for what is due (a new reference at the bank, invoice.created
 * with the new link), unless none is live already or more than
 * PAYMENT_DECLINE_REBILLS of its invoices failed: then it waits for its
 * manager (billing_requested). *rebilled_out whether a link was opened.
 * The order is locked by the caller. */
db_status_t billing_after_decline(payment_app_t *app, db_t *db, const pay_order_t *order,
                                  bool *rebilled_out);

/* A person asks for a new payment link (POST /v1/orders/{id}/invoices):
 * what is due now, billed, when nothing is live. */
typedef enum {
    BILLING_REQUEST_OPENED = 0,    /* an invoice opened (invoice.created follows) */
    BILLING_REQUEST_UNKNOWN_ORDER, /* payment has no record of the order */
    BILLING_REQUEST_CANCELLED,     /* the order is cancelled */
    BILLING_REQUEST_NOT_PREPAID,   /* paid on delivery, or nothing to pay */
    BILLING_REQUEST_NOTHING_DUE,   /* paid already */
    BILLING_REQUEST_LIVE,          /* a link is registering or open: that one is to be paid */
} billing_request_outcome_t;

db_status_t billing_requested(payment_app_t *app, const emitter_t *em, const char *order_id,
                              billing_request_outcome_t *outcome_out);

db_status_t billing_cancelled(payment_app_t *app, const emitter_t *em, const char *order_id,
                              uint64_t version, int64_t number, bool refund_on_return);

#endif
