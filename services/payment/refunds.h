/*
 * refunds.h — money going back (F18), in the caller's transaction.
 *
 * A refund is opened (a pending row, the order's refunding sum raised, a
 * refund_send job) when an order is cancelled after payment, when money
 * arrives beyond what is owed or for a cancelled order, and on
 * refund.requested. It lands (the ledger's refund row, the order's sums,
 * refund.succeeded) or fails (refund.failed, the money refundable again)
 * when the bank answers. A refund is spread over the order's paid
 * invoices, oldest first, since each bank refund names one payment.
 */
#ifndef PAYMENT_REFUNDS_H
#define PAYMENT_REFUNDS_H

#include <jansson.h>
#include <stdint.h>

#include "common/emit.h"
#include "services/payment/payment.h"
#include "services/payment/store.h"

/* Why a refund is opened (refunds.reason). */
#define REFUND_REASON_CANCELLED "cancelled"
#define REFUND_REASON_EXCESS    "excess"
#define REFUND_REASON_REQUESTED "requested"

typedef struct {
    const char *reason;      /* REFUND_REASON_* */
    const char *claim_id;    /* NULL when none */
    const char *request_ref; /* refund.requested's id: the same request twice is one refund */
    const json_t *receipt;   /* the returned lines (receipt_json); NULL: one refund line */
} refund_ask_t;

/* Opens refunds of amount_minor for the locked order (its refunding sum
 * raised in *order, which the caller writes). *opened_minor says how much
 * could be placed on paid invoices (less when money came without one:
 * cash, a manual record — a person returns that). */
db_status_t refunds_open(payment_app_t *app, db_t *db, pay_order_t *order, int64_t amount_minor,
                         const refund_ask_t *ask, int64_t *opened_minor);

/* The bank confirmed the refund (bank_refund_id may be ""). Applied once:
 * a refund already succeeded is a no-op. */
db_status_t refunds_landed(payment_app_t *app, const emitter_t *em, const char *refund_id,
                           const char *bank_refund_id, int64_t at_ms);

/* The bank refused the refund for good. */
db_status_t refunds_failed(payment_app_t *app, const emitter_t *em, const char *refund_id,
                           const char *code, const char *reason, int64_t at_ms);

/* The outcome cannot be known without a person (reported, never asked
 * again blindly). */
db_status_t refunds_unknown(payment_app_t *app, db_t *db, const char *refund_id, const char *code,
                            const char *reason);

/* refund.requested: a return or a manager wants amount_minor back. More
 * than may be refunded is answered with refund.failed
 * (refund_exceeds_paid) and nothing opened. */
typedef struct {
    const char *order_id;
    const char *request_id;
    const char *claim_id; /* may be "" */
    int64_t amount_minor;
    const json_t *receipt; /* the returned lines, or NULL */
} refund_request_t;

db_status_t refunds_requested(payment_app_t *app, const emitter_t *em,
                              const refund_request_t *request);

#endif
