/*
 * test_submission.c — the rules every intake door shares (submission.h), where
 * the doors differ in what they hand over: the sums of a cart that do not
 * fit int64 are refused with a reason instead of overflowing (a form's two
 * lines of 5·10^16 roubles, a JSON order of 5·10^18 kopecks twice, a
 * quantity that overflows the product); a form's money discount too large
 * for its cart is out of range rather than wrapped into range;
 * INTAKE_ITEMS_MAX holds at every door before the items are read (JSON,
 * the form, and on the bus before protobuf-c unpacks them: the wire is
 * counted and the items left out), and a refused submission says how many
 * came; the bus door files under its publisher's name (the envelope's
 * stream), refusing a payload that names another source; a discount is
 * gated per source (max_discount_bp) like prices.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "conveyor/order.pb-c.h"
#include "services/order/submission.h"

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
    size_t size = strlen(items) + 256;
    char *text = malloc(size);
    assert_non_null(text);
    int n = snprintf(text, size,
                     "{\"source\":\"site-main\",\"external_id\":\"T-1\",\"customer\":{\"name\":"
                     "\"Ivan\",\"phone\":\"+79123456789\"},\"delivery\":{\"method\":"
                     "\"self_pickup\"},\"items\":%s}",
                     items);
    assert_true(n > 0 && (size_t)n < size);
    json_error_t error;
    json_t *body = json_loads(text, 0, &error);
    free(text);
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

/* "[{"sku":"S","quantity":1}, ...]" with count items; caller frees. */
static char *json_items(size_t count)
{
    const char *item = "{\"sku\":\"S\",\"quantity\":1}";
    size_t size = count * (strlen(item) + 1) + 3;
    char *text = malloc(size);
    assert_non_null(text);
    size_t used = 0;
    text[used++] = '[';
    for (size_t i = 0; i < count; i++)
        used += (size_t)snprintf(text + used, size - used, "%s%s", i ? "," : "", item);
    snprintf(text + used, size - used, "]");
    return text;
}

static void test_item_limit_over_json(void **state)
{
    (void)state;
    submission_t sub;
    problems_t problems;
    char *items = json_items(INTAKE_ITEMS_MAX);
    json_t *body = order_json(items);
    free(items);
    submission_init(&sub);
    assert_int_equal(problems_init(&problems), 0);
    assert_int_equal(submission_from_json(body, &sub, &problems), 0);
    intake_validate(&sub, "website", &problems);
    assert_int_equal(sub.item_count, INTAKE_ITEMS_MAX);
    assert_int_equal(problems_count(&problems), 0);
    json_decref(body);
    submission_free(&sub);
    problems_release(&problems);

    items = json_items(INTAKE_ITEMS_MAX + 1);
    body = order_json(items);
    free(items);
    submission_init(&sub);
    assert_int_equal(problems_init(&problems), 0);
    assert_int_equal(submission_from_json(body, &sub, &problems), 0);
    assert_int_equal(sub.item_count, 0); /* none read */
    intake_validate(&sub, "website", &problems);
    assert_true(has_problem(&problems, "items", "too_many"));
    assert_false(has_problem(&problems, "items", "required"));
    assert_int_equal(problems_count(&problems), 1);
    /* the refused submission says how many came */
    json_t *canonical = submission_to_json(&sub);
    assert_int_equal(json_integer_value(json_object_get(canonical, "items_sent")),
                     INTAKE_ITEMS_MAX + 1);
    json_decref(canonical);
    json_decref(body);
    submission_free(&sub);
    problems_release(&problems);
}

/* A packed OrderSubmitted with count items; caller frees *out. */
static void pack_order(size_t count, uint8_t **out, size_t *len_out)
{
    Conveyor__SubmittedItem *items = calloc(count ? count : 1, sizeof *items);
    Conveyor__SubmittedItem **ptrs = calloc(count ? count : 1, sizeof *ptrs);
    assert_non_null(items);
    assert_non_null(ptrs);
    for (size_t i = 0; i < count; i++) {
        conveyor__submitted_item__init(&items[i]);
        items[i].sku = "S";
        items[i].quantity = 1;
        ptrs[i] = &items[i];
    }
    Conveyor__Customer customer = CONVEYOR__CUSTOMER__INIT;
    customer.name = "Petr";
    customer.phone = "+79001112233";
    Conveyor__Delivery delivery = CONVEYOR__DELIVERY__INIT;
    delivery.method = CONVEYOR__DELIVERY_METHOD__DELIVERY_METHOD_SELF_PICKUP;
    Conveyor__OrderSubmitted msg = CONVEYOR__ORDER_SUBMITTED__INIT;
    msg.source = "erp";
    msg.external_id = "E-1";
    msg.customer = &customer;
    msg.delivery = &delivery;
    msg.n_items = count;
    msg.items = ptrs;
    msg.discount_bp = 500;
    msg.comment = "after the items";
    *len_out = conveyor__order_submitted__get_packed_size(&msg);
    *out = malloc(*len_out ? *len_out : 1);
    assert_non_null(*out);
    assert_int_equal(conveyor__order_submitted__pack(&msg, *out), *len_out);
    free(ptrs);
    free(items);
}

static void test_item_limit_over_the_bus(void **state)
{
    (void)state;
    uint8_t *packed = NULL;
    size_t len = 0, count = 0;
    pack_order(INTAKE_ITEMS_MAX + 1, &packed, &len);
    assert_int_equal(intake_proto_item_count(packed, len, &count), 0);
    assert_int_equal(count, INTAKE_ITEMS_MAX + 1);

    /* the items left out before unpacking, everything else kept */
    uint8_t *trimmed = malloc(len);
    size_t trimmed_len = 0;
    assert_non_null(trimmed);
    assert_int_equal(intake_proto_without_items(packed, len, trimmed, &trimmed_len), 0);
    assert_true(trimmed_len < len);
    Conveyor__OrderSubmitted *msg = conveyor__order_submitted__unpack(NULL, trimmed_len, trimmed);
    assert_non_null(msg);
    assert_int_equal(msg->n_items, 0);
    assert_string_equal(msg->source, "erp");
    assert_string_equal(msg->external_id, "E-1");
    assert_string_equal(msg->customer->phone, "+79001112233");
    assert_int_equal(msg->discount_bp, 500);
    assert_string_equal(msg->comment, "after the items");
    conveyor__order_submitted__free_unpacked(msg, NULL);
    free(trimmed);

    /* unpacked whole (as a consumer without the check would), the
     * submission still reads none of them and is refused */
    msg = conveyor__order_submitted__unpack(NULL, len, packed);
    assert_non_null(msg);
    submission_t sub;
    problems_t problems;
    submission_init(&sub);
    assert_int_equal(problems_init(&problems), 0);
    assert_int_equal(submission_from_proto(msg, &sub), 0);
    assert_int_equal(sub.item_count, 0);
    assert_int_equal(sub.items_over_max, INTAKE_ITEMS_MAX + 1);
    intake_validate(&sub, "website", &problems);
    assert_true(has_problem(&problems, "items", "too_many"));
    conveyor__order_submitted__free_unpacked(msg, NULL);
    submission_free(&sub);
    problems_release(&problems);
    free(packed);

    pack_order(INTAKE_ITEMS_MAX, &packed, &len);
    assert_int_equal(intake_proto_item_count(packed, len, &count), 0);
    assert_int_equal(count, INTAKE_ITEMS_MAX);
    free(packed);

    /* bytes that are no message: a truncated varint, a length past the
     * end, a group, field number 0 */
    const struct {
        const char *bytes;
        size_t len;
    } broken[] = {{"\x08\x80", 2}, {"\x32\x05\x0a", 3}, {"\x33", 1}, {"\x00\x01", 2}};
    for (size_t i = 0; i < sizeof broken / sizeof broken[0]; i++) {
        assert_int_equal(
            intake_proto_item_count((const uint8_t *)broken[i].bytes, broken[i].len, &count), -1);
        uint8_t out[8];
        assert_int_equal(intake_proto_without_items((const uint8_t *)broken[i].bytes, broken[i].len,
                                                    out, &trimmed_len),
                         -1);
    }
    assert_int_equal(intake_proto_item_count((const uint8_t *)"", 0, &count), 0);
    assert_int_equal(count, 0);
}

static void test_item_limit_over_the_form(void **state)
{
    (void)state;
    form_item_t items[INTAKE_ITEMS_MAX + 1];
    for (size_t i = 0; i < INTAKE_ITEMS_MAX + 1; i++) {
        items[i].sku = "SKU";
        items[i].name = NULL;
        items[i].quantity = 1;
        items[i].price_minor = 100;
    }
    form_order_t form;
    memset(&form, 0, sizeof form);
    form.name = "Maria";
    form.phone = "+79991234567";
    form.delivery = "self_pickup";
    form.items = items;
    form.item_count = INTAKE_ITEMS_MAX + 1;
    submission_t sub;
    problems_t problems;
    submission_init(&sub);
    assert_int_equal(problems_init(&problems), 0);
    assert_int_equal(submission_from_form(&form, &sub, &problems), 0);
    sub.source = strdup("tilda-landing");
    sub.external_id = strdup("tranid-1");
    assert_int_equal(sub.item_count, 0);
    intake_validate(&sub, "landing", &problems);
    assert_true(has_problem(&problems, "items", "too_many"));
    submission_free(&sub);
    problems_release(&problems);

    form.item_count = INTAKE_ITEMS_MAX;
    submission_init(&sub);
    assert_int_equal(problems_init(&problems), 0);
    assert_int_equal(submission_from_form(&form, &sub, &problems), 0);
    sub.source = strdup("tilda-landing");
    sub.external_id = strdup("tranid-1");
    intake_validate(&sub, "landing", &problems);
    assert_int_equal(sub.item_count, INTAKE_ITEMS_MAX);
    assert_int_equal(problems_count(&problems), 0);
    submission_free(&sub);
    problems_release(&problems);
}

/* The bus door files under the envelope's stream: a payload may repeat
 * it or leave it empty, never name another source. */
static void test_bus_source_is_the_publisher(void **state)
{
    (void)state;
    const struct {
        const char *payload_source, *publisher, *want_source;
        bool mismatch;
    } cases[] = {
        {"erp", "erp", "erp", false},      {NULL, "erp", "erp", false}, /* empty: the publisher's */
        {"site-main", "erp", "erp", true}, /* another's name: refused, filed as erp's */
        {"site-main", "", NULL, true},     /* no publisher: no source at all */
        {"Erp", "erp", "erp", true},       /* names are exact */
        {NULL, NULL, NULL, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        submission_t sub;
        problems_t problems;
        submission_init(&sub);
        assert_int_equal(problems_init(&problems), 0);
        sub.source = cases[i].payload_source ? strdup(cases[i].payload_source) : NULL;
        assert_int_equal(intake_bus_source(&sub, cases[i].publisher, &problems), 0);
        if (cases[i].want_source)
            assert_string_equal(sub.source, cases[i].want_source);
        else
            assert_null(sub.source);
        assert_int_equal(has_problem(&problems, "source", "mismatch"), cases[i].mismatch);
        assert_int_equal(problems_count(&problems), cases[i].mismatch ? 1 : 0);
        submission_free(&sub);
        problems_release(&problems);
    }
}

/* Discounts are gated per source like prices: up to the source's
 * max_discount_bp, refused with a reason above it, none for a source
 * trusted with nothing. */
static void test_discount_is_gated_per_source(void **state)
{
    (void)state;
    const intake_trust_t none = {.may_set_prices = false, .max_discount_bp = 0};
    const intake_trust_t shop = {.may_set_prices = false, .max_discount_bp = 1500};
    const intake_trust_t owner = {.may_set_prices = true, .max_discount_bp = 10000};
    const struct {
        const intake_trust_t *trust;
        int64_t discount_bp;
        bool refused;
    } cases[] = {
        {&none, 0, false},      {&none, 1, true},      {NULL, 1, true},
        {&shop, 1500, false},   {&shop, 1501, true},   {&shop, 10000, true},
        {&owner, 10000, false}, {&shop, 20000, false}, /* out of range: intake_validate's */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        submission_t sub;
        problems_t problems;
        submission_init(&sub);
        assert_int_equal(problems_init(&problems), 0);
        sub.discount_bp = cases[i].discount_bp;
        assert_int_equal(intake_check_trust(&sub, cases[i].trust, &problems),
                         cases[i].refused ? 1 : 0);
        assert_int_equal(has_problem(&problems, "discount_bp", "not_allowed"), cases[i].refused);
        submission_free(&sub);
        problems_release(&problems);
    }
    /* the reason says how far the source may go */
    submission_t sub;
    problems_t problems;
    submission_init(&sub);
    assert_int_equal(problems_init(&problems), 0);
    sub.discount_bp = 10000;
    intake_check_trust(&sub, &shop, &problems);
    const char *message = json_string_value(
        json_object_get(json_array_get(problems_errors(&problems), 0), "message"));
    assert_string_equal(message, "this source may give at most 15.00 % (1500 basis points), not "
                                 "100.00 %");
    submission_free(&sub);
    problems_release(&problems);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_sums_that_do_not_fit_are_refused),
        cmocka_unit_test(test_form_cart_that_does_not_fit_is_refused),
        cmocka_unit_test(test_form_discount_is_not_wrapped_into_range),
        cmocka_unit_test(test_item_limit_over_json),
        cmocka_unit_test(test_item_limit_over_the_bus),
        cmocka_unit_test(test_item_limit_over_the_form),
        cmocka_unit_test(test_bus_source_is_the_publisher),
        cmocka_unit_test(test_discount_is_gated_per_source),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
