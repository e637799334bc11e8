/*
 * test_phone.c — phone_normalize: the ways Russian customers write one
 * mobile number all become +79123456789; numbers with "+" and another
 * country code are kept; letters, wrong lengths, a misplaced or second
 * "+", "+0" and numbers without a country code we can trust are refused
 * and leave out empty.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "services/order/phone.h"

static void assert_normalizes(const char *text, const char *expected)
{
    char out[PHONE_E164_SIZE];
    memset(out, 'x', sizeof out);
    if (phone_normalize(text, out) != 0)
        fail_msg("\"%s\" was refused, expected %s", text, expected);
    assert_string_equal(out, expected);
}

static void assert_refused(const char *text)
{
    char out[PHONE_E164_SIZE];
    memset(out, 'x', sizeof out);
    if (phone_normalize(text, out) != -1)
        fail_msg("\"%s\" was accepted as %s", text ? text : "(null)", out);
    assert_string_equal(out, "");
}

static void test_russian_habits_become_plus_seven(void **state)
{
    (void)state;
    assert_normalizes("8 (912) 345-67-89", "+79123456789");
    assert_normalizes("+7 912 345 67 89", "+79123456789");
    assert_normalizes("9123456789", "+79123456789");
    assert_normalizes("79123456789", "+79123456789");
    assert_normalizes("89123456789", "+79123456789");
    assert_normalizes("+7(912)345-67-89", "+79123456789");
    assert_normalizes("8.912.345.67.89", "+79123456789");
    assert_normalizes("  +7 912 3456789  ", "+79123456789");
    assert_normalizes("912-345-67-89", "+79123456789");
    /* a Moscow landline with its trunk prefix */
    assert_normalizes("8 (495) 123-45-67", "+74951234567");
    assert_normalizes("8 800 555 35 35", "+78005553535");
}

static void test_other_countries_are_kept(void **state)
{
    (void)state;
    assert_normalizes("+44 20 7946 0958", "+442079460958");
    assert_normalizes("+1 (415) 555-2671", "+14155552671");
    assert_normalizes("+375 29 123-45-67", "+375291234567");
    assert_normalizes("+49 30 1234567", "+49301234567");
    /* the limits: 8 and 15 digits */
    assert_normalizes("+68312345", "+68312345");
    assert_normalizes("+123456789012345", "+123456789012345");
}

static void test_junk_is_refused(void **state)
{
    (void)state;
    const char *bad[] = {
        "",
        "   ",
        "()- .",
        "+",
        "8 912 345 67 8O", /* a letter O for a zero */
        "+7 912 345 67 89 ext 1",
        "tel:+79123456789",
        "+7 912 345 67 8",   /* +7 with 9 digits after it */
        "+7 912 345 67 890", /* +7 with 11 digits after it */
        "912345678",         /* 9 digits */
        "8912345678",        /* 10 digits starting with 8 */
        "4951234567",        /* 10 digits, not a mobile: no country code to trust */
        "99123456789",       /* 11 digits starting with 9 */
        "+6831234",          /* 7 digits */
        "+1234567890123456", /* 16 digits */
        "1234567890123456789012345",
        "++79123456789",
        "+7 912 +345 67 89",
        "8+79123456789",
        "(+7) 912 345 67 89",
        "-+79123456789",
        "+0 912 345 67 89",
        "+07 912 345 67 89",
        "8 912 345 67 89;",
        "8/912/345/67/89",
        "8\t912 345 67 89",
        "８９１２３４５６７８９", /* full-width digits */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_refused(bad[i]);
    assert_refused(NULL);
    assert_int_equal(phone_normalize("89123456789", NULL), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_russian_habits_become_plus_seven),
        cmocka_unit_test(test_other_countries_are_kept),
        cmocka_unit_test(test_junk_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
