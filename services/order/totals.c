/*
 * totals.c — an order's money (totals.h), the one place the rule of
 * docs/events.md "Totals" is written as code.
 *
 * Everything is integer minor units. Products such as amount x discount
 * share are taken in 128 bits (gcc's __int128) so that no intermediate
 * overflows; only a result that does not fit int64 is refused. The
 * discount is shared by the largest-remainder (Hamilton) method: every
 * line first gets floor(amount x discount / lines total), and the few
 * kopecks left over (fewer than the number of lines) go one each to the
 * lines with the largest remainders, the lower line_no first among equal
 * remainders. The shares therefore add up to the order's discount exactly
 * and no share exceeds its line's amount.
 */
#include "services/order/totals.h"

#include <stdlib.h>

__extension__ typedef __int128 totals_i128;

#define TOTALS_BP_ONE 10000 /* 100 % in basis points */

int totals_muldiv_round(int64_t a, int64_t b, int64_t c, int64_t *out)
{
    if (a < 0 || b < 0 || c <= 0 || !out)
        return -1;
    totals_i128 product = (totals_i128)a * b; /* < 2^126: cannot overflow */
    totals_i128 quotient = product / c;
    totals_i128 remainder = product % c;
    if (remainder * 2 >= c) /* half rounds up */
        quotient++;
    if (quotient > INT64_MAX)
        return -1;
    *out = (int64_t)quotient;
    return 0;
}

/* A line's claim on a left-over kopeck: its remainder, then its number. */
typedef struct {
    int64_t remainder; /* amount x discount mod lines total: < lines total */
    uint32_t line_no;
    size_t index;
} totals_claim_t;

/* Larger remainder first; among equal remainders the lower line number,
 * then the earlier position (so equal line numbers stay deterministic). */
static int totals_claim_cmp(const void *left, const void *right)
{
    const totals_claim_t *a = left;
    const totals_claim_t *b = right;
    if (a->remainder != b->remainder)
        return a->remainder > b->remainder ? -1 : 1;
    if (a->line_no != b->line_no)
        return a->line_no < b->line_no ? -1 : 1;
    if (a->index != b->index)
        return a->index < b->index ? -1 : 1;
    return 0;
}

/* Shares discount_minor over the lines in proportion to amount_minor
 * (already computed, summing to lines_minor > 0). 0 ok, -1 out of memory. */
static int totals_share_discount(totals_line_t *lines, size_t count, int64_t lines_minor,
                                 int64_t discount_minor)
{
    int rc = -1;
    totals_claim_t *claims = NULL;
    int64_t shared = 0;

    for (size_t i = 0; i < count; i++) {
        totals_i128 exact = (totals_i128)lines[i].amount_minor * discount_minor;
        /* floor <= amount because discount <= lines total: fits int64 */
        lines[i].discount_minor = (int64_t)(exact / lines_minor);
        shared += lines[i].discount_minor;
    }
    int64_t left_over = discount_minor - shared; /* 0 <= left_over < count */
    if (left_over == 0) {
        rc = 0;
        goto done;
    }
    claims = calloc(count, sizeof *claims);
    if (!claims)
        goto done;
    for (size_t i = 0; i < count; i++) {
        totals_i128 exact = (totals_i128)lines[i].amount_minor * discount_minor;
        claims[i].remainder = (int64_t)(exact % lines_minor);
        claims[i].line_no = lines[i].line_no;
        claims[i].index = i;
    }
    qsort(claims, count, sizeof *claims, totals_claim_cmp);
    for (int64_t k = 0; k < left_over; k++)
        lines[claims[k].index].discount_minor++;
    rc = 0;
done:
    free(claims);
    return rc;
}

int totals_compute(totals_line_t *lines, size_t count, uint32_t discount_bp, int64_t delivery_minor,
                   totals_t *out)
{
    int64_t lines_minor = 0;
    int64_t weight_g = 0;
    int64_t discount_minor = 0;
    int64_t vat_minor = 0;
    int64_t total_minor = 0;

    if (!out || (count > 0 && !lines) || discount_bp > TOTALS_BP_ONE || delivery_minor < 0)
        return -1;

    for (size_t i = 0; i < count; i++) {
        totals_line_t *line = &lines[i];
        int64_t line_weight;
        if (line->unit_price_minor < 0 || line->quantity < 0)
            return -1;
        if (__builtin_mul_overflow(line->unit_price_minor, line->quantity, &line->amount_minor) ||
            __builtin_add_overflow(lines_minor, line->amount_minor, &lines_minor))
            return -1;
        if (__builtin_mul_overflow((int64_t)line->unit_weight_g, line->quantity, &line_weight) ||
            __builtin_add_overflow(weight_g, line_weight, &weight_g))
            return -1;
        line->discount_minor = 0;
    }

    if (totals_muldiv_round(lines_minor, discount_bp, TOTALS_BP_ONE, &discount_minor) != 0)
        return -1;
    if (discount_minor > 0 && totals_share_discount(lines, count, lines_minor, discount_minor) != 0)
        return -1;

    for (size_t i = 0; i < count; i++) {
        totals_line_t *line = &lines[i];
        line->total_minor = line->amount_minor - line->discount_minor; /* share <= amount */
        if (totals_muldiv_round(line->total_minor, line->vat_rate_bp,
                                (int64_t)TOTALS_BP_ONE + line->vat_rate_bp, &line->vat_minor) != 0)
            return -1;
        vat_minor += line->vat_minor; /* each <= its total, and the totals add up */
    }
    if (__builtin_add_overflow(lines_minor - discount_minor, delivery_minor, &total_minor))
        return -1;

    out->lines_minor = lines_minor;
    out->discount_minor = discount_minor;
    out->delivery_minor = delivery_minor;
    out->vat_minor = vat_minor;
    out->total_minor = total_minor;
    out->weight_g = weight_g;
    return 0;
}
