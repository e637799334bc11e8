/*
 * events.h — the payment stream's messages, from plain structs
 * (docs/events.md "The payment stream"). Every money fact carries the
 * order's cumulative paid_minor, due_minor and F15 payment status, taken
 * from the ledger's figures right after the movement (ledger_after_t).
 * Each function appends one event through the emitter, in the caller's
 * transaction; wire types never leave events.c.
 */
#ifndef PAYMENT_EVENTS_H
#define PAYMENT_EVENTS_H

#include <stdint.h>

#include "common/emit.h"
#include "services/payment/ledger.h"
#include "services/payment/store.h"

db_status_t events_invoice_created(const emitter_t *em, const invoice_row_t *invoice);
db_status_t events_invoice_cancelled(const emitter_t *em, const char *order_id,
                                     const char *invoice_id, const char *reason);
db_status_t events_invoice_expired(const emitter_t *em, const char *order_id,
                                   const char *invoice_id, int64_t expired_at_ms);

/* A payment from the bank (bank_payment_id: its id for the payment). */
db_status_t events_payment_succeeded(const emitter_t *em, const invoice_row_t *invoice,
                                     const char *bank_payment_id, int64_t amount_minor,
                                     const ledger_after_t *after, int64_t paid_at_ms);
db_status_t events_payment_failed(const emitter_t *em, const char *order_id,
                                  const char *bank_payment_id, const char *invoice_id,
                                  const char *reason_code, const char *reason,
                                  int64_t failed_at_ms);
db_status_t events_payment_collected(const emitter_t *em, const char *order_id,
                                     int64_t amount_minor, const ledger_after_t *after,
                                     const char *collected_by, int64_t collected_at_ms);

db_status_t events_refund_succeeded(const emitter_t *em, const refund_row_t *refund,
                                    const char *currency, const ledger_after_t *after,
                                    int64_t succeeded_at_ms);
db_status_t events_refund_failed(const emitter_t *em, const refund_row_t *refund,
                                 const char *reason_code, const char *reason_text,
                                 int64_t failed_at_ms);

#endif
