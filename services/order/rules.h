/*
 * rules.h — small decisions of the funnel, as pure functions (F15, F6).
 */
#ifndef ORDER_RULES_H
#define ORDER_RULES_H

#include <stdbool.h>
#include <stdint.h>

/* F15: how a confirmed order is paid. Orders delivered outside the local
 * region are paid before dispatch; local courier orders and self pickup
 * may be paid on delivery; an order that costs nothing needs no payment.
 * Returns "prepay", "on_delivery" or "none". */
const char *rules_payment_terms(const char *method, const char *region_key,
                                const char *local_region, int64_t total_minor);

/* The status conveyor moves a just-confirmed order on to: awaiting_payment
 * for prepay, prepare_for_delivery otherwise. */
const char *rules_after_confirmed(const char *payment_terms);

/* Whether a status group is final (complete, cancel). */
bool rules_group_final(const char *group);

/* Whether moving to `to` needs a reason (cancelled, rescheduled, returned). */
bool rules_needs_reason(const char *to);

/* Issue 14: why an order in this status can no longer be edited (lines,
 * delivery, discount), for people; NULL when it can: not yet assembled
 * and not closed. */
const char *rules_edit_refusal(const char *status);

#endif
