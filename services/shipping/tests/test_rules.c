/*
 * test_rules.c — the shipping service's pure rules: the weight rules pick
 * by method, region and weight (16 oz and under a letter, above a parcel;
 * the store's own city its courier), the first by priority; weights sum
 * and refuse to overflow; tracking statuses only move a parcel forward
 * (IT after DE is ignored, a repeat is ignored, a second failed attempt is
 * news); batch numbers are the date and a three-digit sequence.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "services/shipping/rules.h"

static const weight_rule_t RULES[] = {
    {10, "post", "*", 0, 454, "russian_post", "se-russian-post", "letter_first", "envelope", -1, 5,
     9},
    {20, "post", "*", 0, -1, "russian_post", "se-russian-post", "parcel_online", "box", -1, 4, 8},
    {10, "courier", "moscow", 0, 20000, "city_courier", "", "same_day", "bag", 30000, 0, 1},
    {20, "courier", "*", 0, -1, "cdek", "se-cdek", "cdek_courier", "box", -1, 2, 4},
};
#define RULE_COUNT (sizeof RULES / sizeof RULES[0])

static void test_post_by_weight(void **state)
{
    (void)state;
    const weight_rule_t *rule = rules_pick(RULES, RULE_COUNT, "post", "Omsk", 454);
    assert_non_null(rule);
    assert_string_equal(rule->package, "envelope");
    rule = rules_pick(RULES, RULE_COUNT, "post", "Omsk", 455);
    assert_non_null(rule);
    assert_string_equal(rule->service, "parcel_online");
}

static void test_courier_local_then_any(void **state)
{
    (void)state;
    const weight_rule_t *rule = rules_pick(RULES, RULE_COUNT, "courier", "MOSCOW", 1000);
    assert_non_null(rule);
    assert_string_equal(rule->carrier, "city_courier");
    assert_string_equal(rule->carrier_id, "");
    rule = rules_pick(RULES, RULE_COUNT, "courier", "Moscow", 25000);
    assert_string_equal(rule->carrier, "cdek");
    rule = rules_pick(RULES, RULE_COUNT, "courier", "Kazan", 100);
    assert_string_equal(rule->carrier, "cdek");
    assert_null(rules_pick(RULES, RULE_COUNT, "pickup_point", "Kazan", 100));
    assert_null(rules_pick(RULES, RULE_COUNT, NULL, NULL, 100));
}

static void test_weight(void **state)
{
    (void)state;
    uint32_t weights[] = {500, 1200, 0};
    uint32_t quantities[] = {3, 1, 7};
    assert_int_equal(rules_weight(weights, quantities, 3), 2700);
    assert_int_equal(rules_weight(weights, quantities, 0), 0);
    uint32_t heavy[] = {UINT32_MAX};
    uint32_t many[] = {UINT32_MAX};
    assert_int_equal(rules_weight(heavy, many, 1), -1);
    uint32_t half[] = {1u << 30, 1u << 30};
    uint32_t ones[] = {1, 1};
    assert_int_equal(rules_weight(half, ones, 2), -1);
}

static void test_tracking_moves_forward_only(void **state)
{
    (void)state;
    assert_true(rules_tracking_applies(0, "NY", "AC"));
    assert_true(rules_tracking_applies(1, "AC", "IT"));
    assert_false(rules_tracking_applies(2, "IT", "IT"));
    assert_false(rules_tracking_applies(5, "DE", "IT"));
    assert_false(rules_tracking_applies(5, "DE", "DE"));
    assert_true(rules_tracking_applies(3, "AT", "EX"));
    assert_false(rules_tracking_applies(3, "AT", "AT"));
    assert_true(rules_tracking_applies(3, "AT", "DE"));
    assert_false(rules_tracking_applies(0, "NY", "ZZ"));
    assert_int_equal(rules_tracking_rank(NULL), -1);
}

static void test_batch_number(void **state)
{
    (void)state;
    char out[24];
    assert_int_equal(rules_batch_number("20261205", 1, out, sizeof out), 0);
    assert_string_equal(out, "20261205001");
    assert_int_equal(rules_batch_number("20261205", 1234, out, sizeof out), 0);
    assert_string_equal(out, "202612051234");
    assert_int_equal(rules_batch_number("2026125", 1, out, sizeof out), -1);
    assert_int_equal(rules_batch_number("2026120a", 1, out, sizeof out), -1);
    assert_int_equal(rules_batch_number("20261205", 0, out, sizeof out), -1);
    assert_int_equal(rules_batch_number("20261205", 1, out, 8), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_post_by_weight), cmocka_unit_test(test_courier_local_then_any),
        cmocka_unit_test(test_weight),         cmocka_unit_test(test_tracking_moves_forward_only),
        cmocka_unit_test(test_batch_number),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
