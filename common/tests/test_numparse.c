/*
 * test_numparse.c — strict parsing of numbers from outside: the full int64
 * and uint64 ranges are accepted to the last digit and one past is refused;
 * signs other than one leading '-', spaces, hex, empty text and trailing
 * junk are refused and leave the output untouched; durations accept the
 * five units and bare milliseconds and refuse spaces, signs, fractions,
 * unknown units and overflow.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/numparse.h"

#define UNTOUCHED 4242

static void test_i64_accepts_the_whole_range(void **state)
{
    (void)state;
    int64_t value = UNTOUCHED;
    assert_int_equal(numparse_i64("0", &value), 0);
    assert_int_equal(value, 0);
    assert_int_equal(numparse_i64("-0", &value), 0);
    assert_int_equal(value, 0);
    assert_int_equal(numparse_i64("42", &value), 0);
    assert_int_equal(value, 42);
    assert_int_equal(numparse_i64("-17", &value), 0);
    assert_int_equal(value, -17);
    assert_int_equal(numparse_i64("007", &value), 0);
    assert_int_equal(value, 7);
    assert_int_equal(numparse_i64("9223372036854775807", &value), 0);
    assert_true(value == INT64_MAX);
    assert_int_equal(numparse_i64("-9223372036854775808", &value), 0);
    assert_true(value == INT64_MIN);
}

static void test_i64_refuses_junk_and_leaves_output_untouched(void **state)
{
    (void)state;
    const char *bad[] = {"",
                         "-",
                         "+1",
                         " 1",
                         "1 ",
                         "0x10",
                         "12abc",
                         "1.5",
                         "1e3",
                         "--1",
                         "- 1",
                         "\t1",
                         "1\n",
                         "abc",
                         "9223372036854775808",
                         "-9223372036854775809",
                         "99999999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t value = UNTOUCHED;
        assert_int_equal(numparse_i64(bad[i], &value), -1);
        assert_int_equal(value, UNTOUCHED);
    }
    int64_t value = UNTOUCHED;
    assert_int_equal(numparse_i64(NULL, &value), -1);
    assert_int_equal(value, UNTOUCHED);
}

static void test_u64_range_and_signs(void **state)
{
    (void)state;
    uint64_t value = UNTOUCHED;
    assert_int_equal(numparse_u64("18446744073709551615", &value), 0);
    assert_true(value == UINT64_MAX);
    assert_int_equal(numparse_u64("0", &value), 0);
    assert_true(value == 0);
    const char *bad[] = {"18446744073709551616", "-1", "-0", "+1", " 1", "1 ", "0x10", "", "1a"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        value = UNTOUCHED;
        assert_int_equal(numparse_u64(bad[i], &value), -1);
        assert_true(value == UNTOUCHED);
    }
    assert_int_equal(numparse_u64(NULL, &value), -1);
}

static void test_int_range_checks_both_bounds(void **state)
{
    (void)state;
    int64_t value = UNTOUCHED;
    assert_int_equal(numparse_int_range("1", 1, 65535, &value), 0);
    assert_int_equal(value, 1);
    assert_int_equal(numparse_int_range("65535", 1, 65535, &value), 0);
    assert_int_equal(value, 65535);
    value = UNTOUCHED;
    assert_int_equal(numparse_int_range("0", 1, 65535, &value), -1);
    assert_int_equal(numparse_int_range("65536", 1, 65535, &value), -1);
    assert_int_equal(numparse_int_range("-5", -4, 4, &value), -1);
    assert_int_equal(value, UNTOUCHED);
    assert_int_equal(numparse_int_range("-4", -4, 4, &value), 0);
    assert_int_equal(value, -4);
    assert_int_equal(numparse_int_range("9223372036854775807", INT64_MIN, INT64_MAX, &value), 0);
    assert_true(value == INT64_MAX);
}

static void test_durations_accept_every_unit(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int64_t ms;
    } good[] = {
        {"0", 0},
        {"250", 250},
        {"250ms", 250},
        {"0ms", 0},
        {"5s", 5000},
        {"10m", 600000},
        {"2h", 7200000},
        {"7d", 604800000},
        {"0s", 0},
        {"1d", 86400000},
        {"9223372036854775807ms", INT64_MAX},
        {"106751991167d", 106751991167LL * 86400000LL},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        int64_t ms = UNTOUCHED;
        assert_int_equal(numparse_duration_ms(good[i].text, &ms), 0);
        assert_true(ms == good[i].ms);
    }
}

static void test_durations_refuse_junk(void **state)
{
    (void)state;
    const char *bad[] = {"",
                         "s",
                         "ms",
                         "5 s",
                         " 5s",
                         "5s ",
                         "-5s",
                         "+5s",
                         "1.5s",
                         "5S",
                         "5sec",
                         "5x",
                         "5 ",
                         "s5",
                         "0x10s",
                         "-1",
                         "106751991167d0",
                         "106751991168d",
                         "9223372036854775808ms",
                         "153722867280913m",
                         "5ms5"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t ms = UNTOUCHED;
        assert_int_equal(numparse_duration_ms(bad[i], &ms), -1);
        assert_int_equal(ms, UNTOUCHED);
    }
    int64_t ms = UNTOUCHED;
    assert_int_equal(numparse_duration_ms(NULL, &ms), -1);
    /* a number too long for the digit buffer is refused, not truncated */
    char longer[64];
    memset(longer, '1', sizeof longer);
    memcpy(longer + sizeof longer - 2, "s", 2);
    assert_int_equal(numparse_duration_ms(longer, &ms), -1);
    assert_int_equal(ms, UNTOUCHED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_i64_accepts_the_whole_range),
        cmocka_unit_test(test_i64_refuses_junk_and_leaves_output_untouched),
        cmocka_unit_test(test_u64_range_and_signs),
        cmocka_unit_test(test_int_range_checks_both_bounds),
        cmocka_unit_test(test_durations_accept_every_unit),
        cmocka_unit_test(test_durations_refuse_junk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
