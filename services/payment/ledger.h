/*
 * ledger.h — the rules of one order's money, as pure functions.
 *
 * The payment service keeps, per order, what the customer owes (the
 * confirmed total), what arrived (payments and cash collected) and what
 * went back (refunds). Every money fact on the bus carries the order's
 * cumulative paid_minor and due_minor (docs/events.md), so the arithmetic
 * lives here once, checked for overflow, and is unit-tested without a
 * database (tests/test_ledger.c):
 *
 *   - paid = payments + collected - refunds, never below zero;
 *   - owed = max(total - waived, 0), 0 when cancelled: money given back
 *     on request (a return, a refund claim, a manager's refund: reason
 *     'requested', not failed) is waived, the customer no longer owes it;
 *     a refund of an overpayment or of a cancelled order waives nothing;
 *   - an order cancelled while its paid parcel is with the carrier
 *     (awaiting_return) holds what stays paid, up to its total less what
 *     was waived: that money goes back on request once the parcel is
 *     received (refund.requested), so it is not excess; only money beyond
 *     that is refunded by itself;
 *   - due = max(owed - paid, 0): what the customer must still pay;
 *   - money beyond the total is an overpayment, refunded by itself; money
 *     that arrives for a cancelled order is all excess, refunded and
 *     reported (DOMAIN.md F15, F18);
 *   - a refund never exceeds what was paid and not yet refunded or being
 *     refunded (a refund in flight counts, so an excess is never asked
 *     back twice);
 *   - the payment status of F15 follows from the terms and the sums:
 *     unpaid, partially paid, paid, pay on delivery, no payment required.
 */
#ifndef PAYMENT_LEDGER_H
#define PAYMENT_LEDGER_H

#include <stdbool.h>
#include <stdint.h>

/* How the order is to be paid (order.proto PaymentTerms). */
typedef enum {
    PAY_TERMS_PREPAY = 1,      /* "prepay": before dispatch, through the bank */
    PAY_TERMS_ON_DELIVERY = 2, /* "on_delivery": cash or card to the courier */
    PAY_TERMS_NONE = 3,        /* "none": nothing to pay */
} pay_terms_t;

/* F15's payment status, shown on the order. */
typedef enum {
    PAY_STATUS_UNPAID = 0,          /* "unpaid" */
    PAY_STATUS_PARTIALLY_PAID,      /* "partially_paid" */
    PAY_STATUS_PAID,                /* "paid" */
    PAY_STATUS_PAY_ON_DELIVERY,     /* "pay_on_delivery" */
    PAY_STATUS_NO_PAYMENT_REQUIRED, /* "no_payment_required" */
} pay_status_t;

/* An order's money as it stands (read under the order's row lock). */
typedef struct {
    pay_terms_t terms;
    int64_t total_minor;     /* what the order costs, delivery included */
    int64_t received_minor;  /* payments and cash collected, all of them */
    int64_t refunded_minor;  /* refunds that succeeded */
    int64_t refunding_minor; /* refunds asked of the bank, not yet settled */
    int64_t waived_minor;    /* refunds asked on request (reason 'requested') and not
                                failed: given back for goods returned or a claim, so
                                no longer owed */
    bool cancelled;          /* the order was cancelled: nothing is owed */
    bool awaiting_return;    /* cancelled with its parcel out: what was paid is held
                                (not excess) until refunds on request give it back */
} ledger_position_t;

/* What a movement does to the position. */
typedef struct {
    int64_t paid_minor;   /* received - refunded, after it (refunds in flight not yet taken off) */
    int64_t due_minor;    /* still owed after it */
    int64_t excess_minor; /* to refund now: over the total (or all when cancelled),
                             less refunds already in flight */
    pay_status_t status;  /* the status after it */
} ledger_after_t;

/* Why a movement is refused (stable codes, see ledger_refusal_code). */
typedef enum {
    LEDGER_OK = 0,
    LEDGER_NOT_POSITIVE, /* "amount_not_positive" */
    LEDGER_OVER_REFUND,  /* "refund_exceeds_paid": more back than was paid */
    LEDGER_OVERFLOW,     /* "too_large" */
    LEDGER_BAD_POSITION, /* "bad_position": negative sums in the store */
} ledger_refusal_t;

const char *ledger_refusal_code(ledger_refusal_t refusal);

const char *pay_terms_name(pay_terms_t terms);
/* 0 and *terms set when name is one of pay_terms_name's; -1 otherwise. */
int pay_terms_parse(const char *name, pay_terms_t *terms);

const char *pay_status_name(pay_status_t status);

/* The position as it stands, into *now (paid, due, status; no excess
 * unless the position itself holds more than the total). */
ledger_refusal_t ledger_state(const ledger_position_t *position, ledger_after_t *now);

/* A payment (or cash collected) of amount_minor > 0 arrives. *after is
 * untouched when refused. */
ledger_refusal_t ledger_receive(const ledger_position_t *position, int64_t amount_minor,
                                ledger_after_t *after);

/* A refund of amount_minor > 0 is to be asked of the bank: refused when
 * it exceeds ledger_refundable; *after counts it as in flight (paid stays
 * until it lands; due and excess already count it). When the bank says
 * it succeeded, the store moves it from refunding to refunded and
 * ledger_state gives the new figures; when it failed, it leaves refunding
 * and the money is refundable again. */
ledger_refusal_t ledger_refund(const ledger_position_t *position, int64_t amount_minor,
                               ledger_after_t *after);

/* The same for a refund asked on request (a return, a claim, a manager):
 * the money given back is also waived, no longer owed, so what stays paid
 * covers the rest and nothing falls due. When such a refund fails, the
 * store takes it out of waived_minor again. */
ledger_refusal_t ledger_refund_waived(const ledger_position_t *position, int64_t amount_minor,
                                      ledger_after_t *after);

/* How much of what was paid may still be asked back (received - refunded
 * - refunding); 0 for a position that is not sane. */
int64_t ledger_refundable(const ledger_position_t *position);

#endif
