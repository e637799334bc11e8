/*
 * events.c — plain structs -> the payment stream's messages (events.h),
 * appended through the kit's emitter. The messages borrow the callers'
 * strings.
 */
#include "services/payment/events.h"

#include <stdint.h>

#include "conveyor/payment.pb-c.h"

/* protobuf-c wants char *, never writes through it */
static char *lend(const char *text)
{
    return (char *)(uintptr_t)(text ? text : "");
}

db_status_t events_invoice_created(const emitter_t *em, const invoice_row_t *invoice)
{
    Conveyor__InvoiceCreated message = CONVEYOR__INVOICE_CREATED__INIT;
    message.order_id = lend(invoice->order_id);
    message.invoice_id = lend(invoice->invoice_id);
    message.amount_minor = invoice->amount_minor;
    message.currency = lend(invoice->currency);
    message.payment_url = lend(invoice->payment_url);
    message.expires_at_ms = invoice->expires_at_ms;
    message.bank = lend(invoice->provider);
    return emit(em, "invoice.created", invoice->order_id, &message.base);
}

db_status_t events_invoice_cancelled(const emitter_t *em, const char *order_id,
                                     const char *invoice_id, const char *reason)
{
    Conveyor__InvoiceCancelled message = CONVEYOR__INVOICE_CANCELLED__INIT;
    message.order_id = lend(order_id);
    message.invoice_id = lend(invoice_id);
    message.reason = lend(reason);
    return emit(em, "invoice.cancelled", order_id, &message.base);
}

db_status_t events_invoice_expired(const emitter_t *em, const char *order_id,
                                   const char *invoice_id, int64_t expired_at_ms)
{
    Conveyor__InvoiceExpired message = CONVEYOR__INVOICE_EXPIRED__INIT;
    message.order_id = lend(order_id);
    message.invoice_id = lend(invoice_id);
    message.expired_at_ms = expired_at_ms;
    return emit(em, "invoice.expired", order_id, &message.base);
}

db_status_t events_payment_succeeded(const emitter_t *em, const invoice_row_t *invoice,
                                     const char *bank_payment_id, int64_t amount_minor,
                                     const ledger_after_t *after, int64_t paid_at_ms)
{
    Conveyor__PaymentSucceeded message = CONVEYOR__PAYMENT_SUCCEEDED__INIT;
    message.order_id = lend(invoice->order_id);
    message.payment_id = lend(bank_payment_id);
    message.invoice_id = lend(invoice->invoice_id);
    message.amount_minor = amount_minor;
    message.paid_minor = after->paid_minor;
    message.due_minor = after->due_minor;
    message.currency = lend(invoice->currency);
    message.paid_at_ms = paid_at_ms;
    message.payment_status = lend(pay_status_name(after->status));
    return emit(em, "payment.succeeded", invoice->order_id, &message.base);
}

db_status_t events_payment_failed(const emitter_t *em, const char *order_id,
                                  const char *bank_payment_id, const char *invoice_id,
                                  const char *reason_code, const char *reason, int64_t failed_at_ms)
{
    Conveyor__PaymentFailed message = CONVEYOR__PAYMENT_FAILED__INIT;
    message.order_id = lend(order_id);
    message.payment_id = lend(bank_payment_id);
    message.invoice_id = lend(invoice_id);
    message.reason_code = lend(reason_code);
    message.reason = lend(reason);
    message.failed_at_ms = failed_at_ms;
    return emit(em, "payment.failed", order_id, &message.base);
}

db_status_t events_payment_collected(const emitter_t *em, const char *order_id,
                                     int64_t amount_minor, const ledger_after_t *after,
                                     const char *collected_by, int64_t collected_at_ms)
{
    Conveyor__PaymentCollected message = CONVEYOR__PAYMENT_COLLECTED__INIT;
    message.order_id = lend(order_id);
    message.amount_minor = amount_minor;
    message.paid_minor = after->paid_minor;
    message.due_minor = after->due_minor;
    message.collected_by = lend(collected_by);
    message.collected_at_ms = collected_at_ms;
    message.payment_status = lend(pay_status_name(after->status));
    return emit(em, "payment.collected", order_id, &message.base);
}

db_status_t events_refund_succeeded(const emitter_t *em, const refund_row_t *refund,
                                    const char *currency, const ledger_after_t *after,
                                    int64_t succeeded_at_ms)
{
    Conveyor__RefundSucceeded message = CONVEYOR__REFUND_SUCCEEDED__INIT;
    message.order_id = lend(refund->order_id);
    message.refund_id = lend(refund->refund_id);
    message.invoice_id = lend(refund->invoice_id);
    message.amount_minor = refund->amount_minor;
    message.paid_minor = after->paid_minor;
    message.due_minor = after->due_minor;
    message.currency = lend(currency);
    message.reason = lend(refund->reason);
    message.claim_id = lend(refund->claim_id);
    message.request_id = lend(refund->request_ref);
    message.succeeded_at_ms = succeeded_at_ms;
    message.payment_status = lend(pay_status_name(after->status));
    return emit(em, "refund.succeeded", refund->order_id, &message.base);
}

db_status_t events_refund_failed(const emitter_t *em, const refund_row_t *refund,
                                 const char *reason_code, const char *reason_text,
                                 int64_t failed_at_ms)
{
    Conveyor__RefundFailed message = CONVEYOR__REFUND_FAILED__INIT;
    message.order_id = lend(refund->order_id);
    message.refund_id = lend(refund->refund_id);
    message.invoice_id = lend(refund->invoice_id);
    message.amount_minor = refund->amount_minor;
    message.reason = lend(refund->reason);
    message.reason_code = lend(reason_code);
    message.reason_text = lend(reason_text);
    message.claim_id = lend(refund->claim_id);
    message.request_id = lend(refund->request_ref);
    message.failed_at_ms = failed_at_ms;
    return emit(em, "refund.failed", refund->order_id, &message.base);
}
