/*
 * test_totals.c — the money rule of docs/events.md "Totals" on examples
 * computed by hand (the arithmetic is in the comments): no discount; a
 * 10.50 % discount whose shares need the largest remainder and add up to
 * the order's discount exactly; 100 %; VAT at 20, 10 and 0 %; halves
 * rounding up (discount, VAT, muldiv) and equal remainders going to the
 * lower line number; delivery; a zero-amount line; an empty order;
 * overflow and bad input refused; muldiv without overflow in the product.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "services/order/totals.h"

static totals_line_t line_of(uint32_t line_no, int64_t unit_price_minor, int64_t quantity,
                             uint32_t vat_rate_bp, uint32_t unit_weight_g)
{
    totals_line_t line;
    memset(&line, 0, sizeof line);
    line.line_no = line_no;
    line.unit_price_minor = unit_price_minor;
    line.quantity = quantity;
    line.vat_rate_bp = vat_rate_bp;
    line.unit_weight_g = unit_weight_g;
    return line;
}

/* The invariants every successful computation keeps. */
static void assert_consistent(const totals_line_t *lines, size_t count, const totals_t *totals)
{
    int64_t amounts = 0, shares = 0, line_totals = 0, vat = 0;
    for (size_t i = 0; i < count; i++) {
        assert_true(lines[i].amount_minor == lines[i].unit_price_minor * lines[i].quantity);
        assert_true(lines[i].discount_minor >= 0);
        assert_true(lines[i].discount_minor <= lines[i].amount_minor);
        assert_true(lines[i].total_minor == lines[i].amount_minor - lines[i].discount_minor);
        amounts += lines[i].amount_minor;
        shares += lines[i].discount_minor;
        line_totals += lines[i].total_minor;
        vat += lines[i].vat_minor;
    }
    assert_true(amounts == totals->lines_minor);
    assert_true(shares == totals->discount_minor);
    assert_true(vat == totals->vat_minor);
    assert_true(line_totals + totals->delivery_minor == totals->total_minor);
}

static void test_no_discount(void **state)
{
    (void)state;
    /* 1990.00 x 2 at 20 % (500 g) and 349.90 x 1 at 10 % (120 g) */
    totals_line_t lines[] = {line_of(1, 199000, 2, 2000, 500), line_of(2, 34990, 1, 1000, 120)};
    totals_t totals;
    assert_int_equal(totals_compute(lines, 2, 0, 0, &totals), 0);
    assert_consistent(lines, 2, &totals);
    assert_true(lines[0].amount_minor == 398000);
    assert_true(lines[0].discount_minor == 0);
    /* 398000 x 2000 / 12000 = 66333.33 -> 66333 */
    assert_true(lines[0].vat_minor == 66333);
    /* 34990 x 1000 / 11000 = 3180.909 -> 3181 */
    assert_true(lines[1].vat_minor == 3181);
    assert_true(totals.lines_minor == 432990);
    assert_true(totals.discount_minor == 0);
    assert_true(totals.vat_minor == 69514);
    assert_true(totals.total_minor == 432990);
    assert_true(totals.weight_g == 1120);
}

static void test_discount_shares_need_the_largest_remainder(void **state)
{
    (void)state;
    /* 99.90 x 1 at 20 %, 24.90 x 1 at 10 %, 24.90 x 3 at 0 %:
     * amounts 9990 + 2490 + 7470 = 19950.
     * 10.50 %: 19950 x 1050 / 10000 = 2094.75 -> 2095.
     * exact shares: 9990 x 2095 / 19950 = 1049.075
     *               2490 x 2095 / 19950 =  261.481
     *               7470 x 2095 / 19950 =  784.444
     * floors 1049 + 261 + 784 = 2094, one kopeck left: the largest
     * remainder is line 2's (.481) -> 1049, 262, 784 = 2095. Rounding each
     * share on its own would give 1049 + 261 + 784 = 2094 and lose it. */
    totals_line_t lines[] = {line_of(1, 9990, 1, 2000, 300), line_of(2, 2490, 1, 1000, 50),
                             line_of(3, 2490, 3, 0, 50)};
    totals_t totals;
    assert_int_equal(totals_compute(lines, 3, 1050, 0, &totals), 0);
    assert_consistent(lines, 3, &totals);
    assert_true(totals.discount_minor == 2095);
    assert_true(lines[0].discount_minor == 1049);
    assert_true(lines[1].discount_minor == 262);
    assert_true(lines[2].discount_minor == 784);
    assert_true(lines[0].discount_minor + lines[1].discount_minor + lines[2].discount_minor ==
                totals.discount_minor);
    /* totals 8941, 2228, 6686; VAT 8941 x 2000 / 12000 = 1490.17 -> 1490,
     * 2228 x 1000 / 11000 = 202.55 -> 203, 0 % -> 0 */
    assert_true(lines[0].total_minor == 8941);
    assert_true(lines[1].total_minor == 2228);
    assert_true(lines[2].total_minor == 6686);
    assert_true(lines[0].vat_minor == 1490);
    assert_true(lines[1].vat_minor == 203);
    assert_true(lines[2].vat_minor == 0);
    assert_true(totals.vat_minor == 1693);
    assert_true(totals.total_minor == 17855);
    assert_true(totals.weight_g == 300 + 50 + 150);
}

static void test_full_discount(void **state)
{
    (void)state;
    totals_line_t lines[] = {line_of(1, 9990, 1, 2000, 0), line_of(2, 2490, 1, 1000, 0),
                             line_of(3, 2490, 3, 0, 0)};
    totals_t totals;
    assert_int_equal(totals_compute(lines, 3, 10000, 35000, &totals), 0);
    assert_consistent(lines, 3, &totals);
    assert_true(totals.discount_minor == 19950);
    for (size_t i = 0; i < 3; i++) {
        assert_true(lines[i].discount_minor == lines[i].amount_minor);
        assert_true(lines[i].total_minor == 0);
        assert_true(lines[i].vat_minor == 0);
    }
    assert_true(totals.vat_minor == 0);
    assert_true(totals.total_minor == 35000); /* only delivery is left */
}

static void test_halves_round_up_and_ties_go_to_the_lower_line(void **state)
{
    (void)state;
    /* Two lines of 5.05 (given as line 2, then line 1): 1010 in all.
     * 5 %: 1010 x 500 / 10000 = 50.5 -> 51. Each exact share is 25.5: the
     * remainders are equal, so line 1 (the second entry) gets the kopeck. */
    totals_line_t lines[] = {line_of(2, 505, 1, 0, 0), line_of(1, 505, 1, 0, 0)};
    totals_t totals;
    assert_int_equal(totals_compute(lines, 2, 500, 0, &totals), 0);
    assert_consistent(lines, 2, &totals);
    assert_true(totals.discount_minor == 51);
    assert_true(lines[0].discount_minor == 25);
    assert_true(lines[1].discount_minor == 26);

    /* VAT of a 0.09 line at 20 %: 9 x 2000 / 12000 = 1.5 -> 2; of 0.03: 0.5 -> 1;
     * of 0.02: 0.333 -> 0 */
    totals_line_t vat_lines[] = {line_of(1, 9, 1, 2000, 0), line_of(2, 3, 1, 2000, 0),
                                 line_of(3, 2, 1, 2000, 0)};
    assert_int_equal(totals_compute(vat_lines, 3, 0, 0, &totals), 0);
    assert_true(vat_lines[0].vat_minor == 2);
    assert_true(vat_lines[1].vat_minor == 1);
    assert_true(vat_lines[2].vat_minor == 0);
    assert_true(totals.vat_minor == 3);

    int64_t result = 0;
    assert_int_equal(totals_muldiv_round(5, 1, 2, &result), 0); /* 2.5 -> 3 */
    assert_true(result == 3);
    assert_int_equal(totals_muldiv_round(7, 1, 3, &result), 0); /* 2.33 -> 2 */
    assert_true(result == 2);
    assert_int_equal(totals_muldiv_round(5, 1, 3, &result), 0); /* 1.67 -> 2 */
    assert_true(result == 2);
    assert_int_equal(totals_muldiv_round(0, 7, 3, &result), 0);
    assert_true(result == 0);
}

static void test_delivery_is_added(void **state)
{
    (void)state;
    /* 1500.00 at 20 %, 10 % off = 150.00, courier 490.00 */
    totals_line_t lines[] = {line_of(1, 150000, 1, 2000, 1000)};
    totals_t totals;
    assert_int_equal(totals_compute(lines, 1, 1000, 49000, &totals), 0);
    assert_consistent(lines, 1, &totals);
    assert_true(totals.discount_minor == 15000);
    assert_true(lines[0].total_minor == 135000);
    assert_true(lines[0].vat_minor == 22500); /* 135000 / 6 */
    assert_true(totals.delivery_minor == 49000);
    assert_true(totals.total_minor == 184000);
    assert_true(totals.vat_minor == 22500); /* delivery's VAT is not the lines' */
}

static void test_zero_amount_line_and_empty_order(void **state)
{
    (void)state;
    /* a gift at 0.00 takes no share: 3 lines, 10 % of 100.00 + 50.00 */
    totals_line_t lines[] = {line_of(1, 10000, 1, 2000, 100), line_of(2, 0, 1, 2000, 200),
                             line_of(3, 5000, 1, 2000, 0)};
    totals_t totals;
    assert_int_equal(totals_compute(lines, 3, 1000, 0, &totals), 0);
    assert_consistent(lines, 3, &totals);
    assert_true(totals.discount_minor == 1500);
    assert_true(lines[0].discount_minor == 1000);
    assert_true(lines[1].discount_minor == 0);
    assert_true(lines[1].total_minor == 0);
    assert_true(lines[1].vat_minor == 0);
    assert_true(lines[2].discount_minor == 500);
    assert_true(totals.weight_g == 300);

    /* every line at zero with a discount: nothing to share, no division by zero */
    totals_line_t zero[] = {line_of(1, 0, 3, 2000, 10), line_of(2, 100, 0, 2000, 10)};
    assert_int_equal(totals_compute(zero, 2, 5000, 100, &totals), 0);
    assert_consistent(zero, 2, &totals);
    assert_true(totals.discount_minor == 0);
    assert_true(totals.total_minor == 100);
    assert_true(totals.weight_g == 30);

    assert_int_equal(totals_compute(NULL, 0, 1000, 29000, &totals), 0);
    assert_true(totals.lines_minor == 0);
    assert_true(totals.total_minor == 29000);
    assert_true(totals.weight_g == 0);
}

static void test_big_amounts_do_not_overflow(void **state)
{
    (void)state;
    /* amount x discount is far past int64 (10^17 x 10^16) but fits 128 bits */
    const int64_t big = 100000000000000000LL; /* 10^15 roubles */
    totals_line_t lines[] = {line_of(1, big, 1, 2000, 0), line_of(2, big / 3, 1, 1000, 0)};
    totals_t totals;
    assert_int_equal(totals_compute(lines, 2, 3333, 0, &totals), 0);
    assert_consistent(lines, 2, &totals);

    int64_t result = 0;
    assert_int_equal(totals_muldiv_round(INT64_MAX, INT64_MAX, INT64_MAX, &result), 0);
    assert_true(result == INT64_MAX);
    assert_int_equal(totals_muldiv_round(INT64_MAX, 10000, 12000, &result), 0);
    /* (2^63 - 1) x 5 / 6 = 7686143364045646505.83 -> ...506 */
    assert_true(result == 7686143364045646506LL);
}

static void test_overflow_and_bad_input_are_refused(void **state)
{
    (void)state;
    totals_t totals;
    /* price x quantity past int64 */
    totals_line_t product[] = {line_of(1, INT64_MAX / 2, 3, 0, 0)};
    assert_int_equal(totals_compute(product, 1, 0, 0, &totals), -1);
    /* each line fits, their sum does not */
    totals_line_t sum[] = {line_of(1, INT64_MAX / 2 + 1, 1, 0, 0),
                           line_of(2, INT64_MAX / 2 + 1, 1, 0, 0)};
    assert_int_equal(totals_compute(sum, 2, 0, 0, &totals), -1);
    /* lines fit, delivery on top does not */
    totals_line_t full[] = {line_of(1, INT64_MAX - 10, 1, 0, 0)};
    assert_int_equal(totals_compute(full, 1, 0, 11, &totals), -1);
    assert_int_equal(totals_compute(full, 1, 0, 10, &totals), 0);
    assert_true(totals.total_minor == INT64_MAX);
    /* weight past int64 */
    totals_line_t heavy[] = {line_of(1, 1, INT64_MAX / 1000, 0, 4000000000u)};
    assert_int_equal(totals_compute(heavy, 1, 0, 0, &totals), -1);

    totals_line_t negative_price[] = {line_of(1, -1, 1, 0, 0)};
    assert_int_equal(totals_compute(negative_price, 1, 0, 0, &totals), -1);
    totals_line_t negative_quantity[] = {line_of(1, 100, -1, 0, 0)};
    assert_int_equal(totals_compute(negative_quantity, 1, 0, 0, &totals), -1);
    totals_line_t fine[] = {line_of(1, 100, 1, 0, 0)};
    assert_int_equal(totals_compute(fine, 1, 10001, 0, &totals), -1);
    assert_int_equal(totals_compute(fine, 1, 0, -1, &totals), -1);
    assert_int_equal(totals_compute(fine, 1, 0, 0, NULL), -1);
    assert_int_equal(totals_compute(NULL, 1, 0, 0, &totals), -1);

    int64_t result = 42;
    assert_int_equal(totals_muldiv_round(INT64_MAX, 2, 1, &result), -1);
    assert_int_equal(totals_muldiv_round(-1, 2, 1, &result), -1);
    assert_int_equal(totals_muldiv_round(1, -2, 1, &result), -1);
    assert_int_equal(totals_muldiv_round(1, 2, 0, &result), -1);
    assert_int_equal(totals_muldiv_round(1, 2, -1, &result), -1);
    assert_true(result == 42);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_discount),
        cmocka_unit_test(test_discount_shares_need_the_largest_remainder),
        cmocka_unit_test(test_full_discount),
        cmocka_unit_test(test_halves_round_up_and_ties_go_to_the_lower_line),
        cmocka_unit_test(test_delivery_is_added),
        cmocka_unit_test(test_zero_amount_line_and_empty_order),
        cmocka_unit_test(test_big_amounts_do_not_overflow),
        cmocka_unit_test(test_overflow_and_bad_input_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
