/*
 * test_assign.c — the manager-choosing rule (assign.h).
 *
 * Proves: the customer's own manager wins when usable; otherwise the least
 * loaded, those naming the region before those serving every region;
 * equal loads go to whoever waited longest (never assigned first),
 * then the smaller id; full managers and the excluded one are never
 * chosen; nobody usable gives -1; applied 300 times over 3 managers it
 * spreads evenly (round-robin) whatever order the candidates come in.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "services/order/assign.h"

static void test_customer_manager_wins(void **state)
{
    (void)state;
    assign_candidate_t c[] = {
        {"a", 0, 10, 0, false}, {"b", 5, 10, 100, false}, {"c", 1, 10, 0, false}};
    assert_int_equal(assign_pick(c, 3, "b", NULL), 1);
    /* not when full */
    c[1].open_orders = 10;
    assert_int_equal(assign_pick(c, 3, "b", NULL), 0);
    /* not when it is the one the order is taken from */
    c[1].open_orders = 5;
    assert_int_equal(assign_pick(c, 3, "b", "b"), 0);
}

static void test_least_loaded_then_longest_waiting(void **state)
{
    (void)state;
    assign_candidate_t c[] = {
        {"a", 3, 10, 50, false}, {"b", 2, 10, 900, false}, {"c", 2, 10, 400, false}};
    assert_int_equal(assign_pick(c, 3, NULL, NULL), 2); /* c waited longer than b */
    c[2].last_assigned_ms = 0;                          /* never assigned */
    assert_int_equal(assign_pick(c, 3, "", ""), 2);
    c[1].last_assigned_ms = 0;
    assert_int_equal(assign_pick(c, 3, NULL, NULL), 1); /* equal: smaller id */
}

static void test_region_by_name_before_everywhere(void **state)
{
    (void)state;
    /* the Moscow desk is busier, but it takes Moscow orders while it can */
    assign_candidate_t c[] = {{"all", 0, 10, 0, false}, {"msk", 5, 10, 100, true}};
    assert_int_equal(assign_pick(c, 2, NULL, NULL), 1);
    c[1].open_orders = 10;
    assert_int_equal(assign_pick(c, 2, NULL, NULL), 0);
    /* the customer's own manager still comes first */
    c[1].open_orders = 5;
    assert_int_equal(assign_pick(c, 2, "all", NULL), 0);
}

static void test_nobody_usable(void **state)
{
    (void)state;
    assign_candidate_t c[] = {{"a", 2, 2, 0, false}, {"b", 0, 0, 0, false}};
    assert_int_equal(assign_pick(c, 2, NULL, NULL), -1);
    assert_int_equal(assign_pick(NULL, 0, NULL, NULL), -1);
    assign_candidate_t one[] = {{"x", 0, 5, 0, false}};
    assert_int_equal(assign_pick(one, 1, NULL, "x"), -1);
}

static void test_spreads_evenly(void **state)
{
    (void)state;
    assign_candidate_t c[] = {
        {"m3", 0, 200, 0, false}, {"m1", 0, 200, 0, false}, {"m2", 0, 200, 0, false}};
    int64_t clock = 1;
    for (int n = 0; n < 300; n++) {
        int i = assign_pick(c, 3, NULL, NULL);
        assert_true(i >= 0);
        c[i].open_orders++;
        c[i].last_assigned_ms = clock++;
        int max = 0, min = 1 << 30;
        for (int k = 0; k < 3; k++) {
            max = c[k].open_orders > max ? c[k].open_orders : max;
            min = c[k].open_orders < min ? c[k].open_orders : min;
        }
        assert_true(max - min <= 1);
    }
    for (int k = 0; k < 3; k++)
        assert_int_equal(c[k].open_orders, 100);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_customer_manager_wins),
        cmocka_unit_test(test_least_loaded_then_longest_waiting),
        cmocka_unit_test(test_region_by_name_before_everywhere),
        cmocka_unit_test(test_nobody_usable),
        cmocka_unit_test(test_spreads_evenly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
