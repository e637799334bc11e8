/*
 * test_docfmt.c — documents' formatting: money grouped by thousands with
 * kopecks and its currency (negative too, and INT64_MIN without
 * overflow), grams as kilograms, an ISO timestamp as the day, and an
 * address object as one line (a region equal to its city once, the free
 * text when there are no parts, "-" when empty, cut to the room given).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/docfmt.h"

static void test_money(void **state)
{
    (void)state;
    char out[64];
    docfmt_money(349000, "RUB", out, sizeof out);
    assert_string_equal(out, "3 490.00 RUB");
    docfmt_money(123456789, "RUB", out, sizeof out);
    assert_string_equal(out, "1 234 567.89 RUB");
    docfmt_money(5, NULL, out, sizeof out);
    assert_string_equal(out, "0.05");
    docfmt_money(-100050, "EUR", out, sizeof out);
    assert_string_equal(out, "-1 000.50 EUR");
    docfmt_money(INT64_MIN, "RUB", out, sizeof out);
    assert_string_equal(out, "-92 233 720 368 547 758.08 RUB");
}

static void test_kg_and_day(void **state)
{
    (void)state;
    char out[32];
    docfmt_kg(2900, out, sizeof out);
    assert_string_equal(out, "2.900");
    docfmt_kg(45, out, sizeof out);
    assert_string_equal(out, "0.045");
    docfmt_kg(-5, out, sizeof out);
    assert_string_equal(out, "0.000");
    docfmt_day("2026-12-06T19:44:20.123+00:00", out, sizeof out);
    assert_string_equal(out, "06.12.2026");
    docfmt_day("yesterday", out, sizeof out);
    assert_string_equal(out, "yesterday");
    docfmt_day(NULL, out, sizeof out);
    assert_string_equal(out, "");
}

static void test_address(void **state)
{
    (void)state;
    char out[128];
    json_t *address =
        json_pack("{s:s, s:s, s:s, s:s, s:s}", "postal_code", "125009", "region", "Москва", "city",
                  "Москва", "line1", "ул. Тверская, д. 7", "line2", "кв. 12");
    docfmt_address(address, out, sizeof out);
    assert_string_equal(out, "125009, Москва, ул. Тверская, д. 7, кв. 12");
    json_object_set_new(address, "region", json_string("Московская обл."));
    docfmt_address(address, out, sizeof out);
    assert_string_equal(out, "125009, Московская обл., Москва, ул. Тверская, д. 7, кв. 12");
    char small[16];
    docfmt_address(address, small, sizeof small);
    assert_string_equal(small, "125009");
    json_decref(address);
    address = json_pack("{s:s}", "text", "Москва, Тверская 7");
    docfmt_address(address, out, sizeof out);
    assert_string_equal(out, "Москва, Тверская 7");
    json_decref(address);
    docfmt_address(NULL, out, sizeof out);
    assert_string_equal(out, "-");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_money),
        cmocka_unit_test(test_kg_and_day),
        cmocka_unit_test(test_address),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
