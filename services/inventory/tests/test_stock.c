/*
 * test_stock.c — the rules of one product's stock: changes within the
 * rules are applied, changes that would go negative or over-reserve are
 * refused with their code and leave the result untouched, and low stock
 * alerts once per crossing: not again while it stays low, again after it
 * rose back to the threshold; a threshold of 0 never alerts; a new
 * threshold alerts when it makes the product low.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "services/inventory/stock.h"

static void test_changes_within_the_rules(void **state)
{
    (void)state;
    stock_level_t level = {.on_hand = 10, .reserved = 4};
    stock_after_t after;
    assert_int_equal(stock_change(&level, 0, 6, &after), STOCK_OK);
    assert_int_equal(after.on_hand, 10);
    assert_int_equal(after.reserved, 10);
    assert_int_equal(stock_change(&level, -4, -4, &after), STOCK_OK); /* a write-off */
    assert_int_equal(after.on_hand, 6);
    assert_int_equal(after.reserved, 0);
    assert_int_equal(stock_change(&level, 5, 0, &after), STOCK_OK); /* a supply */
    assert_int_equal(after.on_hand, 15);
    assert_int_equal(stock_available(&level), 6);
}

static void test_refusals_leave_the_result_untouched(void **state)
{
    (void)state;
    stock_level_t level = {.on_hand = 10, .reserved = 4};
    stock_after_t after = {.on_hand = 4242, .reserved = 4242};
    assert_int_equal(stock_change(&level, 0, 7, &after), STOCK_OVER_RESERVED);
    assert_string_equal(stock_refusal_code(STOCK_OVER_RESERVED), "below_reserved");
    assert_int_equal(stock_change(&level, -7, 0, &after), STOCK_OVER_RESERVED);
    assert_int_equal(stock_change(&level, -11, -4, &after), STOCK_ON_HAND_NEGATIVE);
    assert_int_equal(stock_change(&level, 0, -5, &after), STOCK_RESERVED_NEGATIVE);
    assert_int_equal(stock_change(&level, INT64_MAX, 0, &after), STOCK_OVERFLOW);
    assert_int_equal(after.on_hand, 4242);
    assert_int_equal(after.reserved, 4242);
}

static void test_low_stock_alerts_once_per_crossing(void **state)
{
    (void)state;
    stock_level_t level = {.on_hand = 10, .reserved = 4, .low_threshold = 5};
    stock_after_t after;
    /* 6 available -> 4: crosses */
    assert_int_equal(stock_change(&level, 0, 2, &after), STOCK_OK);
    assert_true(after.low_alert);
    assert_true(after.low_alerted);
    level.reserved = after.reserved;
    level.low_alerted = after.low_alerted;
    /* 4 -> 3: still low, said already */
    assert_int_equal(stock_change(&level, 0, 1, &after), STOCK_OK);
    assert_false(after.low_alert);
    assert_true(after.low_alerted);
    level.reserved = after.reserved;
    /* 3 -> 8: back above, flag cleared */
    assert_int_equal(stock_change(&level, 5, 0, &after), STOCK_OK);
    assert_false(after.low_alert);
    assert_false(after.low_alerted);
    level.on_hand = after.on_hand;
    level.low_alerted = after.low_alerted;
    /* exactly the threshold is not low */
    assert_int_equal(stock_change(&level, -3, 0, &after), STOCK_OK);
    assert_int_equal(after.on_hand - after.reserved, 5);
    assert_false(after.low_alert);
    /* 8 -> 2: crosses again */
    assert_int_equal(stock_change(&level, 0, 6, &after), STOCK_OK);
    assert_true(after.low_alert);
}

static void test_zero_threshold_never_alerts(void **state)
{
    (void)state;
    stock_level_t level = {.on_hand = 3, .reserved = 0};
    stock_after_t after;
    assert_int_equal(stock_change(&level, 0, 3, &after), STOCK_OK);
    assert_false(after.low_alert);
    assert_false(after.low_alerted);
    assert_false(stock_is_low(0, -1));
}

static void test_a_new_threshold_can_cross(void **state)
{
    (void)state;
    stock_level_t level = {.on_hand = 10, .reserved = 2, .low_threshold = 5};
    stock_after_t after;
    stock_rethreshold(&level, 9, &after);
    assert_true(after.low_alert);
    assert_int_equal(after.on_hand, 10);
    level.low_alerted = true;
    stock_rethreshold(&level, 20, &after);
    assert_false(after.low_alert); /* said already */
    stock_rethreshold(&level, 8, &after);
    assert_false(after.low_alerted); /* 8 available is no longer below 8 */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_changes_within_the_rules),
        cmocka_unit_test(test_refusals_leave_the_result_untouched),
        cmocka_unit_test(test_low_stock_alerts_once_per_crossing),
        cmocka_unit_test(test_zero_threshold_never_alerts),
        cmocka_unit_test(test_a_new_threshold_can_cross),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
