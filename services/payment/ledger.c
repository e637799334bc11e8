/*
 * ledger.c — one order's money: paid, due, excess and the F15 status,
 * with every sum checked for overflow (ledger.h says the rules).
 */
#include "services/payment/ledger.h"

#include <stddef.h>
#include <string.h>

static const char *const TERMS_NAMES[] = {
    [PAY_TERMS_PREPAY] = "prepay",
    [PAY_TERMS_ON_DELIVERY] = "on_delivery",
    [PAY_TERMS_NONE] = "none",
};

static const char *const STATUS_NAMES[] = {
    [PAY_STATUS_UNPAID] = "unpaid",
    [PAY_STATUS_PARTIALLY_PAID] = "partially_paid",
    [PAY_STATUS_PAID] = "paid",
    [PAY_STATUS_PAY_ON_DELIVERY] = "pay_on_delivery",
    [PAY_STATUS_NO_PAYMENT_REQUIRED] = "no_payment_required",
};

const char *ledger_refusal_code(ledger_refusal_t refusal)
{
    switch (refusal) {
    case LEDGER_OK:
        return "ok";
    case LEDGER_NOT_POSITIVE:
        return "amount_not_positive";
    case LEDGER_OVER_REFUND:
        return "refund_exceeds_paid";
    case LEDGER_OVERFLOW:
        return "too_large";
    case LEDGER_BAD_POSITION:
        return "bad_position";
    }
    return "unknown";
}

const char *pay_terms_name(pay_terms_t terms)
{
    if (terms < PAY_TERMS_PREPAY || terms > PAY_TERMS_NONE)
        return "unspecified";
    return TERMS_NAMES[terms];
}

int pay_terms_parse(const char *name, pay_terms_t *terms)
{
    for (int t = PAY_TERMS_PREPAY; name && t <= PAY_TERMS_NONE; t++) {
        if (strcmp(name, TERMS_NAMES[t]) == 0) {
            *terms = (pay_terms_t)t;
            return 0;
        }
    }
    return -1;
}

const char *pay_status_name(pay_status_t status)
{
    if (status > PAY_STATUS_NO_PAYMENT_REQUIRED)
        return "unknown";
    return STATUS_NAMES[status];
}

static bool position_sane(const ledger_position_t *p)
{
    return p->total_minor >= 0 && p->received_minor >= 0 && p->refunded_minor >= 0 &&
           p->refunding_minor >= 0 && p->waived_minor >= 0 &&
           p->refunded_minor <= p->received_minor &&
           p->refunding_minor <= p->received_minor - p->refunded_minor;
}

/* The status that follows from terms and what was paid. */
static pay_status_t status_of(const ledger_position_t *p, int64_t paid, int64_t due)
{
    if (paid > 0 && due == 0 && !p->cancelled)
        return PAY_STATUS_PAID;
    if (paid > 0 && due > 0)
        return PAY_STATUS_PARTIALLY_PAID;
    if (p->terms == PAY_TERMS_NONE || (p->total_minor == 0 && !p->cancelled))
        return PAY_STATUS_NO_PAYMENT_REQUIRED;
    if (p->terms == PAY_TERMS_ON_DELIVERY && !p->cancelled)
        return PAY_STATUS_PAY_ON_DELIVERY;
    return paid > 0 ? PAY_STATUS_PAID : PAY_STATUS_UNPAID;
}

/* Fills *out from a position whose sums are already checked. */
static void settle(const ledger_position_t *p, int64_t received, int64_t refunded,
                   int64_t refunding, int64_t waived, ledger_after_t *out)
{
    int64_t paid = received - refunded;
    int64_t kept = paid - refunding; /* what stays once refunds in flight land */
    /* what was given back on request is no longer owed */
    int64_t owed = p->cancelled || waived >= p->total_minor ? 0 : p->total_minor - waived;
    /* a cancelled order whose parcel is on its way back keeps the money
     * for the goods until they are received: owed for the excess, not due */
    int64_t held =
        p->cancelled && p->awaiting_return && waived < p->total_minor ? p->total_minor - waived : 0;
    int64_t keeps = owed > held ? owed : held;
    out->paid_minor = paid;
    out->due_minor = owed > kept ? owed - kept : 0;
    out->excess_minor = kept > keeps ? kept - keeps : 0;
    out->status = status_of(p, paid, out->due_minor);
}

ledger_refusal_t ledger_state(const ledger_position_t *position, ledger_after_t *now)
{
    if (!position_sane(position))
        return LEDGER_BAD_POSITION;
    settle(position, position->received_minor, position->refunded_minor, position->refunding_minor,
           position->waived_minor, now);
    return LEDGER_OK;
}

ledger_refusal_t ledger_receive(const ledger_position_t *position, int64_t amount_minor,
                                ledger_after_t *after)
{
    if (!position_sane(position))
        return LEDGER_BAD_POSITION;
    if (amount_minor <= 0)
        return LEDGER_NOT_POSITIVE;
    int64_t received;
    if (__builtin_add_overflow(position->received_minor, amount_minor, &received))
        return LEDGER_OVERFLOW;
    settle(position, received, position->refunded_minor, position->refunding_minor,
           position->waived_minor, after);
    return LEDGER_OK;
}

int64_t ledger_refundable(const ledger_position_t *position)
{
    if (!position_sane(position))
        return 0;
    return position->received_minor - position->refunded_minor - position->refunding_minor;
}

/* A refund of amount_minor in flight, waiving waive_minor of what is owed. */
static ledger_refusal_t refund_in_flight(const ledger_position_t *position, int64_t amount_minor,
                                         int64_t waive_minor, ledger_after_t *after)
{
    if (!position_sane(position))
        return LEDGER_BAD_POSITION;
    if (amount_minor <= 0)
        return LEDGER_NOT_POSITIVE;
    if (amount_minor > ledger_refundable(position))
        return LEDGER_OVER_REFUND;
    int64_t waived;
    if (__builtin_add_overflow(position->waived_minor, waive_minor, &waived))
        return LEDGER_OVERFLOW;
    /* asked for, the refund is in flight: paid stays until it lands, what
     * is kept (and so due and excess) counts it already */
    settle(position, position->received_minor, position->refunded_minor,
           position->refunding_minor + amount_minor, waived, after);
    return LEDGER_OK;
}

ledger_refusal_t ledger_refund(const ledger_position_t *position, int64_t amount_minor,
                               ledger_after_t *after)
{
    return refund_in_flight(position, amount_minor, 0, after);
}

ledger_refusal_t ledger_refund_waived(const ledger_position_t *position, int64_t amount_minor,
                                      ledger_after_t *after)
{
    return refund_in_flight(position, amount_minor, amount_minor, after);
}
