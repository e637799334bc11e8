/*
 * test_reserve.c — all or nothing: an order whose every line fits is
 * held, with its takes summed per product and low crossings marked; one
 * short line holds nothing and every short line says why (insufficient,
 * unknown_sku, inactive) with the product's availability; two lines of
 * one SKU are summed; exactly what is available fits; malformed lines
 * are refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "services/inventory/reserve.h"

#define MAX 8

typedef struct {
    reserve_line_result_t lines[MAX];
    reserve_take_t takes[MAX];
    reserve_plan_t plan;
} fixture_t;

static reserve_plan_t *plan_of(fixture_t *f)
{
    memset(f, 0, sizeof *f);
    f->plan.lines = f->lines;
    f->plan.takes = f->takes;
    return &f->plan;
}

static const reserve_product_t products[] = {
    {"KETTLE", true, {.on_hand = 10, .reserved = 4, .low_threshold = 5}},
    {"MUG", true, {.on_hand = 3, .reserved = 0}},
    {"OLD", false, {.on_hand = 50, .reserved = 0}},
    {"CABLE", true, {.on_hand = 2, .reserved = 2}},
};
#define PRODUCTS (sizeof products / sizeof products[0])

static void test_every_line_fits(void **state)
{
    (void)state;
    fixture_t f;
    reserve_plan_t *plan = plan_of(&f);
    reserve_line_t lines[] = {{1, "MUG", 3}, {2, "KETTLE", 2}};
    assert_int_equal(reserve_decide(lines, 2, products, PRODUCTS, plan), 0);
    assert_true(plan->ok);
    assert_int_equal(plan->short_count, 0);
    assert_int_equal(plan->take_count, 2);
    assert_int_equal(plan->takes[0].product, 1);
    assert_int_equal(plan->takes[0].quantity, 3);
    assert_int_equal(plan->takes[0].after.reserved, 3);
    assert_false(plan->takes[0].after.low_alert);
    /* kettles: 6 available -> 4, below the threshold of 5 */
    assert_int_equal(plan->takes[1].product, 0);
    assert_int_equal(plan->takes[1].after.reserved, 6);
    assert_true(plan->takes[1].after.low_alert);
}

static void test_one_short_line_holds_nothing(void **state)
{
    (void)state;
    fixture_t f;
    reserve_plan_t *plan = plan_of(&f);
    reserve_line_t lines[] = {{1, "MUG", 1}, {2, "CABLE", 1}, {3, "GHOST", 1}, {4, "OLD", 1}};
    assert_int_equal(reserve_decide(lines, 4, products, PRODUCTS, plan), 0);
    assert_false(plan->ok);
    assert_int_equal(plan->short_count, 3);
    assert_int_equal(plan->lines[0].verdict, RESERVE_LINE_OK);
    assert_int_equal(plan->lines[1].verdict, RESERVE_LINE_INSUFFICIENT);
    assert_int_equal(plan->lines[1].available, 0);
    assert_int_equal(plan->lines[2].verdict, RESERVE_LINE_UNKNOWN_SKU);
    assert_int_equal(plan->lines[2].product, -1);
    assert_int_equal(plan->lines[3].verdict, RESERVE_LINE_INACTIVE);
    assert_int_equal(plan->lines[3].available, 50);
    assert_string_equal(reserve_reason(plan->lines[1].verdict), "insufficient");
    assert_string_equal(reserve_reason(plan->lines[2].verdict), "unknown_sku");
    assert_string_equal(reserve_reason(plan->lines[3].verdict), "inactive");
}

static void test_lines_of_one_sku_are_summed(void **state)
{
    (void)state;
    fixture_t f;
    reserve_plan_t *plan = plan_of(&f);
    reserve_line_t lines[] = {{1, "MUG", 2}, {2, "MUG", 2}};
    assert_int_equal(reserve_decide(lines, 2, products, PRODUCTS, plan), 0);
    assert_false(plan->ok);
    assert_int_equal(plan->short_count, 2);
    assert_int_equal(plan->lines[0].verdict, RESERVE_LINE_INSUFFICIENT);
    assert_int_equal(plan->lines[1].available, 3);

    plan = plan_of(&f);
    reserve_line_t fits[] = {{1, "MUG", 1}, {7, "MUG", 2}};
    assert_int_equal(reserve_decide(fits, 2, products, PRODUCTS, plan), 0);
    assert_true(plan->ok);
    assert_int_equal(plan->take_count, 1);
    assert_int_equal(plan->takes[0].quantity, 3); /* exactly what is available */
}

static void test_malformed_lines_are_refused(void **state)
{
    (void)state;
    fixture_t f;
    reserve_line_t zero[] = {{1, "MUG", 0}};
    reserve_line_t nameless[] = {{1, "", 1}};
    assert_int_equal(reserve_decide(zero, 1, products, PRODUCTS, plan_of(&f)), -1);
    assert_int_equal(reserve_decide(nameless, 1, products, PRODUCTS, plan_of(&f)), -1);
    reserve_plan_t empty = {0};
    assert_int_equal(reserve_decide(zero, 1, products, PRODUCTS, &empty), -1);
}

static void test_huge_quantities_do_not_wrap(void **state)
{
    (void)state;
    fixture_t f;
    reserve_plan_t *plan = plan_of(&f);
    reserve_line_t lines[] = {{1, "MUG", INT64_MAX}, {2, "MUG", INT64_MAX}};
    assert_int_equal(reserve_decide(lines, 2, products, PRODUCTS, plan), 0);
    assert_false(plan->ok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_line_fits),
        cmocka_unit_test(test_one_short_line_holds_nothing),
        cmocka_unit_test(test_lines_of_one_sku_are_summed),
        cmocka_unit_test(test_malformed_lines_are_refused),
        cmocka_unit_test(test_huge_quantities_do_not_wrap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
