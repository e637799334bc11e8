/*
 * test_catalogue.c — product fields read from outside: prices as kopecks
 * or as decimal text with the separators people type ("1 299,90"), VAT as
 * basis points or percent ("20%", "без НДС"), SKUs, dates, UTF-8; a
 * product object with many mistakes reports each under its field path,
 * read-only and unknown fields are named as such, two spellings of one
 * field conflict, null clears what may be cleared, and what a new product
 * requires is asked for only when it is absent.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "services/inventory/catalogue.h"

static void test_prices(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int64_t minor;
    } good[] = {
        {"1299", 129900},
        {"1299.9", 129990},
        {"1299.90", 129990},
        {"1 299,90", 129990},
        {"1'299.90", 129990},
        {"0", 0},
        {"0,01", 1},
        {"1\xC2\xA0"
         "299",
         129900},
        {"1\xE2\x80\xAF"
         "000,5",
         100050},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        int64_t minor = -1;
        assert_int_equal(catalogue_parse_price(good[i].text, &minor), 0);
        assert_int_equal(minor, good[i].minor);
    }
    const char *bad[] = {
        "", "-1", "12.345", "1.2.3", "abc", "1e3", "12.", ".5", "+5", "99999999999999999", "1,2,3"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t minor = 4242;
        assert_int_equal(catalogue_parse_price(bad[i], &minor), -1);
        assert_int_equal(minor, 4242);
    }
    int64_t minor = 0;
    assert_int_equal(catalogue_parse_price(NULL, &minor), -1);
}

static void test_vat_and_booleans(void **state)
{
    (void)state;
    int32_t bp = -1;
    assert_int_equal(catalogue_parse_vat_percent("20", &bp), 0);
    assert_int_equal(bp, 2000);
    assert_int_equal(catalogue_parse_vat_percent("20%", &bp), 0);
    assert_int_equal(bp, 2000);
    assert_int_equal(catalogue_parse_vat_percent("10,5", &bp), 0);
    assert_int_equal(bp, 1050);
    assert_int_equal(catalogue_parse_vat_percent("без НДС", &bp), 0);
    assert_int_equal(bp, 0);
    assert_int_equal(catalogue_parse_vat_percent("101", &bp), -1);
    assert_int_equal(catalogue_parse_vat_percent("twenty", &bp), -1);
    assert_int_equal(catalogue_parse_vat_percent("%", &bp), -1);
    bool flag = false;
    assert_int_equal(catalogue_parse_bool("Yes", &flag), 0);
    assert_true(flag);
    assert_int_equal(catalogue_parse_bool("нет", &flag), 0);
    assert_false(flag);
    assert_int_equal(catalogue_parse_bool("maybe", &flag), -1);
}

static void test_skus_dates_and_text(void **state)
{
    (void)state;
    assert_true(catalogue_sku_valid("KT-1.5_a"));
    assert_true(catalogue_sku_valid("0"));
    assert_false(catalogue_sku_valid("-KT"));
    assert_false(catalogue_sku_valid("KT 1"));
    assert_false(catalogue_sku_valid("KT/1"));
    assert_false(catalogue_sku_valid(""));
    assert_false(catalogue_sku_valid(NULL));
    char long_sku[80];
    memset(long_sku, 'A', 65);
    long_sku[65] = '\0';
    assert_false(catalogue_sku_valid(long_sku));
    long_sku[64] = '\0';
    assert_true(catalogue_sku_valid(long_sku));

    assert_true(catalogue_date_valid("2028-02-29"));
    assert_false(catalogue_date_valid("2027-02-29"));
    assert_false(catalogue_date_valid("2100-02-29"));
    assert_false(catalogue_date_valid("2026-13-01"));
    assert_false(catalogue_date_valid("2026-1-01"));
    assert_false(catalogue_date_valid("01.02.2026"));

    assert_int_equal(catalogue_utf8_length("Чайник"), 6);
    assert_int_equal(catalogue_utf8_length("a\xF0\x9F\x8D\xB5"), 2);
    assert_int_equal(catalogue_utf8_length("\xD7\xE0\xE9"), -1); /* cp1251 "Чай" */
    assert_int_equal(catalogue_utf8_length("\xC0\xAF"), -1);     /* overlong */
    assert_int_equal(catalogue_utf8_length("\xED\xA0\x80"), -1); /* a surrogate */
}

static json_t *parse(const char *text)
{
    json_error_t error;
    json_t *object = json_loads(text, 0, &error);
    assert_non_null(object);
    return object;
}

/* Whether problems name field with code. */
static bool named(const problems_t *problems, const char *field, const char *code)
{
    const json_t *errors = problems_errors(problems);
    for (size_t i = 0; i < json_array_size(errors); i++) {
        const json_t *e = json_array_get(errors, i);
        if (strcmp(json_string_value(json_object_get(e, "field")), field) == 0 &&
            strcmp(json_string_value(json_object_get(e, "code")), code) == 0)
            return true;
    }
    return false;
}

static void test_a_good_product(void **state)
{
    (void)state;
    problems_t problems;
    assert_int_equal(problems_init(&problems), 0);
    json_t *object = parse("{\"sku\":\"KT-1\",\"name\":\"Чайник\",\"price\":\"3 490,00\","
                           "\"vat\":\"20\",\"weight_g\":\"1450\",\"low_stock_threshold\":3,"
                           "\"buyer\":{\"id\":\"u1\",\"email\":\"o@x.ru\"},\"active\":\"да\","
                           "\"on_hand\":5,\"external_code\":null}");
    product_input_t in;
    assert_int_equal(catalogue_input_parse(object, PRODUCT_ALL, "", &in, &problems), 0);
    assert_int_equal(catalogue_input_require(&in, PRODUCT_REQUIRED_NEW, "", &problems), 0);
    assert_string_equal(in.sku, "KT-1");
    assert_int_equal(in.price_minor, 349000);
    assert_int_equal(in.vat_rate_bp, 2000);
    assert_int_equal(in.weight_g, 1450);
    assert_int_equal(in.on_hand, 5);
    assert_true(in.active);
    assert_string_equal(in.currency, "RUB");
    assert_string_equal(in.buyer_email, "o@x.ru");
    assert_true(in.cleared & PRODUCT_EXTERNAL_CODE);
    assert_false(in.given & PRODUCT_BUYER_NAME);
    json_decref(object);
    problems_release(&problems);
}

static void test_every_mistake_at_once(void **state)
{
    (void)state;
    problems_t problems;
    assert_int_equal(problems_init(&problems), 0);
    json_t *object = parse("{\"sku\":\"bad sku\",\"price_minor\":-1,\"price\":\"1\","
                           "\"vat_rate_bp\":20000,\"weight_g\":1.5,\"colour\":\"red\","
                           "\"available\":3,\"on_hand\":7,\"buyer\":{\"email\":\"nobody\"}}");
    product_input_t in;
    size_t added =
        catalogue_input_parse(object, PRODUCT_EDITABLE | PRODUCT_SKU, "line 7: ", &in, &problems);
    assert_true(named(&problems, "line 7: price", "conflict"));
    assert_true(named(&problems, "line 7: sku", "invalid"));
    assert_true(named(&problems, "line 7: price_minor", "too_small"));
    assert_true(named(&problems, "line 7: vat_rate_bp", "too_large"));
    assert_true(named(&problems, "line 7: weight_g", "invalid"));
    assert_true(named(&problems, "line 7: colour", "unknown"));
    assert_true(named(&problems, "line 7: available", "read_only"));
    assert_true(named(&problems, "line 7: on_hand", "read_only"));
    assert_true(named(&problems, "line 7: buyer.email", "invalid"));
    assert_int_equal(added, problems_count(&problems));
    /* named with a bad value: not also "required" */
    assert_int_equal(catalogue_input_require(&in, PRODUCT_REQUIRED_NEW, "line 7: ", &problems), 1);
    assert_true(named(&problems, "line 7: name", "required"));
    json_decref(object);
    problems_release(&problems);
}

static void test_texts_are_checked(void **state)
{
    (void)state;
    problems_t problems;
    assert_int_equal(problems_init(&problems), 0);
    char name[700] = "{\"name\":\"";
    size_t at = strlen(name);
    for (int i = 0; i < 201; i++) { /* 201 two-byte characters */
        name[at++] = '\xD0';
        name[at++] = '\xAF';
    }
    snprintf(name + at, sizeof name - at, "%s", "\",\"currency\":\"rub\",\"external_code\":\"\"}");
    json_t *object = parse(name);
    product_input_t in;
    catalogue_input_parse(object, PRODUCT_ALL, "", &in, &problems);
    assert_true(named(&problems, "name", "too_long"));
    assert_true(named(&problems, "currency", "invalid"));
    assert_true(named(&problems, "external_code", "required"));
    json_decref(object);
    problems_release(&problems);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prices),
        cmocka_unit_test(test_vat_and_booleans),
        cmocka_unit_test(test_skus_dates_and_text),
        cmocka_unit_test(test_a_good_product),
        cmocka_unit_test(test_every_mistake_at_once),
        cmocka_unit_test(test_texts_are_checked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
