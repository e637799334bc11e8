/*
 * test_rules.c — the funnel's small decisions (rules.h).
 *
 * Proves F15: outside the local region an order is prepaid whatever the
 * method; local courier and any self pickup are paid on delivery; a free
 * order needs no payment; with no local region configured every courier
 * order is prepaid. And what follows confirmation, which groups are final
 * and which moves need a reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "services/order/rules.h"

static void test_payment_terms(void **state)
{
    (void)state;
    assert_string_equal(rules_payment_terms("courier", "moscow", "moscow", 100), "on_delivery");
    assert_string_equal(rules_payment_terms("courier", "kazan", "moscow", 100), "prepay");
    assert_string_equal(rules_payment_terms("post", "moscow", "moscow", 100), "prepay");
    assert_string_equal(rules_payment_terms("pickup_point", "moscow", "moscow", 100), "prepay");
    assert_string_equal(rules_payment_terms("self_pickup", "kazan", "moscow", 100), "on_delivery");
    assert_string_equal(rules_payment_terms("courier", "moscow", "moscow", 0), "none");
    assert_string_equal(rules_payment_terms("courier", "", "", 100), "prepay");
    assert_string_equal(rules_payment_terms("courier", "moscow", NULL, 100), "prepay");
}

static void test_after_confirmed_and_groups(void **state)
{
    (void)state;
    assert_string_equal(rules_after_confirmed("prepay"), "awaiting_payment");
    assert_string_equal(rules_after_confirmed("on_delivery"), "prepare_for_delivery");
    assert_string_equal(rules_after_confirmed("none"), "prepare_for_delivery");
    assert_true(rules_group_final("complete"));
    assert_true(rules_group_final("cancel"));
    assert_false(rules_group_final("delivery"));
    assert_true(rules_needs_reason("cancelled"));
    assert_true(rules_needs_reason("rescheduled"));
    assert_false(rules_needs_reason("confirmed"));
}

static void test_edit_refusal(void **state)
{
    (void)state;
    const char *editable[] = {
        "new",           "no_answer",        "awaiting_supply",     "confirmed", "awaiting_payment",
        "payment_error", "payment_received", "prepare_for_delivery"};
    for (size_t i = 0; i < sizeof editable / sizeof editable[0]; i++)
        assert_null(rules_edit_refusal(editable[i]));
    const char *closed[] = {"assembled", "handed_to_carrier", "rescheduled", "delivered",
                            "completed", "cancelled",         "returned"};
    for (size_t i = 0; i < sizeof closed / sizeof closed[0]; i++)
        assert_non_null(rules_edit_refusal(closed[i]));
    assert_non_null(strstr(rules_edit_refusal("assembled"), "assembled"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_payment_terms),
        cmocka_unit_test(test_after_confirmed_and_groups),
        cmocka_unit_test(test_edit_refusal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
