/*
 * totals.h — an order's money (F14), in integer minor units, never floats.
 *
 * The rule (docs/events.md "Totals"): catalogue prices include VAT; a
 * line's amount is unit price x quantity; the order discount in basis
 * points (1050 = 10.50 %) is round_half_up(sum of amounts x bp / 10000),
 * shared over the lines in proportion to their amounts by the
 * largest-remainder method (ties to the lower line number) so the shares
 * add up exactly; a line's total is amount - its share; the VAT contained
 * in a line is round_half_up(total x rate / (10000 + rate)); the order's
 * total is the lines' totals plus the delivery price.
 */
#ifndef ORDER_TOTALS_H
#define ORDER_TOTALS_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t line_no;
    int64_t unit_price_minor;
    int64_t quantity;
    uint32_t vat_rate_bp; /* 2000 = 20 % */
    uint32_t unit_weight_g;
    /* computed */
    int64_t amount_minor;
    int64_t discount_minor;
    int64_t total_minor;
    int64_t vat_minor;
} totals_line_t;

typedef struct {
    int64_t lines_minor;
    int64_t discount_minor;
    int64_t delivery_minor;
    int64_t vat_minor;
    int64_t total_minor;
    int64_t weight_g;
} totals_t;

/* Computes every line's amounts and the order's totals; the caller fills
 * line_no, unit_price_minor, quantity, vat_rate_bp and unit_weight_g, this
 * fills the rest. discount_bp is 0..10000. A zero-amount line takes no
 * share; out->vat_minor is the lines' VAT only (delivery carries none
 * here); out->weight_g is the sum of unit_weight_g x quantity. -1 if an
 * amount or the weight would overflow int64, an input is negative,
 * discount_bp > 10000, or memory ran out (the sharing sorts a scratch
 * array of count entries); lines are then unspecified, out untouched. */
int totals_compute(totals_line_t *lines, size_t count, uint32_t discount_bp, int64_t delivery_minor,
                   totals_t *out);

/* round_half_up(a * b / c) for non-negative a, b and positive c without
 * overflow in the product; -1 if the result does not fit. */
int totals_muldiv_round(int64_t a, int64_t b, int64_t c, int64_t *out);

#endif
