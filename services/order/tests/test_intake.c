/*
 * test_intake.c — the rules every intake door shares (intake.h), where
 * the doors differ in what they hand over: the sums of a cart that do not
 * fit int64 are refused with a reason instead of overflowing (a form's two
 * lines of 5·10^16 roubles, a JSON order of 5·10^18 kopecks twice, a
 * quantity that overflows the product); a form's money discount too large
 * for its cart is out of range rather than wrapped into range.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "services/order/intake.h"

/* Whether problems hold an entry with this field and code. */
static bool has_problem(const problems_t *problems, const char *field, const char *code)
{
    size_t i;
    json_t *entry;
    json_array_foreach(problems_errors(problems), i, entry)
    {
        if (strcmp(json_string_value(json_object_get(entry, "field")), field) == 0 &&
            strcmp(json_string_value(json_object_get(entry, "code")), code) == 0)
            return true;
    }
    return false;
}

/* A valid order as JSON with these items (a JSON array text). */
static json_t *order_json(const char *items)
{
    char text[1024];
    snprintf(text, sizeof text,
             "{\"source\":\"site-main\",\"external_id\":\"T-1\",\"customer\":{\"name\":\"Ivan\","
             "\"phone\":\"+79123456789\"},\"delivery\":{\"method\":\"self_pickup\"},\"items\":%s}",
             items);
    json_error_t error;
    json_t *body = json_loads(text, 0, &error);
    if (!body)
        fail_msg("test JSON does not parse: %s", error.text);
    return body;
}

/* Reads and validates a JSON order; the caller frees sub and problems. */
static void read_json(const char *items, submission_t *sub, problems_t *problems)
{
    json_t *body = order_json(items);
    submission_init(sub);
    assert_int_equal(problems_init(problems), 0);
    assert_int_equal(submission_from_json(body, sub, problems), 0);
    intake_validate(sub, "website", problems);
    json_decref(body);
}

static void test_json_sums_that_do_not_fit_are_refused(void **state)
{
    (void)state;
    submission_t sub;
    problems_t problems;

    read_json("[{\"sku\":\"A\",\"quantity\":1,\"price_minor\":100}]", &sub, &problems);
    assert_int_equal(problems_count(&problems), 0);
    submission_free(&sub);
    problems_release(&problems);

    /* each line fits, the sum does not */
    read_json("[{\"sku\":\"A\",\"quantity\":1,\"price_minor\":5000000000000000000},"
              "{\"sku\":\"B\",\"quantity\":1,\"price_minor\":5000000000000000000}]",
              &sub, &problems);
    assert_true(has_problem(&problems, "items", "total_too_large"));
    submission_free(&sub);
    problems_release(&problems);

    /* price x quantity does not fit */
    read_json("[{\"sku\":\"A\",\"quantity\":100000,\"price_minor\":100000000000000000}]", &sub,
              &problems);
    assert_true(has_problem(&problems, "items", "total_too_large"));
    submission_free(&sub);
    problems_release(&problems);

    /* the largest sum that fits is no problem */
    read_json("[{\"sku\":\"A\",\"quantity\":1,\"price_minor\":4611686018427387903},"
              "{\"sku\":\"B\",\"quantity\":1,\"price_minor\":4611686018427387904}]",
              &sub, &problems);
    assert_false(has_problem(&problems, "items", "total_too_large"));
    submission_free(&sub);
    problems_release(&problems);
}

/* A form order with the given lines' prices (kopecks) and money discount. */
static void read_form(const int64_t *prices, size_t count, int64_t discount_minor,
                      submission_t *sub, problems_t *problems)
{
    form_item_t items[4];
    assert_true(count <= 4);
    for (size_t i = 0; i < count; i++) {
        items[i].sku = "SKU";
        items[i].name = NULL;
        items[i].quantity = 1;
        items[i].price_minor = prices[i];
    }
    form_order_t form;
    memset(&form, 0, sizeof form);
    form.name = "Maria";
    form.phone = "+79991234567";
    form.delivery = "self_pickup";
    form.items = items;
    form.item_count = count;
    form.discount_minor = discount_minor;
    submission_init(sub);
    assert_int_equal(problems_init(problems), 0);
    assert_int_equal(submission_from_form(&form, sub, problems), 0);
    sub->source = strdup("tilda-landing");
    sub->external_id = strdup("tranid-1");
    intake_validate(sub, "landing", problems);
}

static void test_form_cart_that_does_not_fit_is_refused(void **state)
{
    (void)state;
    submission_t sub;
    problems_t problems;

    /* two lines of 5·10^16 roubles: their sum once overflowed while the
     * discount was turned into basis points of the cart */
    const int64_t huge[] = {5000000000000000000, 5000000000000000000};
    read_form(huge, 2, 10000, &sub, &problems);
    assert_true(has_problem(&problems, "items", "total_too_large"));
    submission_free(&sub);
    problems_release(&problems);

    /* a cart that fits keeps its discount, in basis points */
    const int64_t fair[] = {150000, 50000};
    read_form(fair, 2, 20000, &sub, &problems);
    assert_int_equal(problems_count(&problems), 0);
    assert_int_equal(sub.discount_bp, 1000);
    submission_free(&sub);
    problems_release(&problems);
}

static void test_form_discount_is_not_wrapped_into_range(void **state)
{
    (void)state;
    submission_t sub;
    problems_t problems;
    /* 599519182395560428 x 10000 is 2^64 x k + 4800: cast down to int64 it
     * read as a 48 % discount of a one-kopeck cart */
    const int64_t one[] = {1};
    read_form(one, 1, 599519182395560428, &sub, &problems);
    assert_true(has_problem(&problems, "discount_bp", "out_of_range"));
    assert_true(sub.discount_bp > 10000);
    submission_free(&sub);
    problems_release(&problems);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_sums_that_do_not_fit_are_refused),
        cmocka_unit_test(test_form_cart_that_does_not_fit_is_refused),
        cmocka_unit_test(test_form_discount_is_not_wrapped_into_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
