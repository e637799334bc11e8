/*
 * test_calendar.c — civil dates and business days: parse and format round
 * trip over three centuries, leap years and invalid dates refused;
 * weekdays of known dates (before 1970 too); the local date of an instant
 * near midnight in Moscow and in UTC, and in Moscow's UTC+4 years; adding
 * business days over a weekend, from a day off, over a weekday holiday,
 * across the Russian New Year holidays, onto a worked Saturday, and across
 * a DST change (Berlin) where the wall-clock time must be kept.
 *
 * Instants were computed with Python's zoneinfo, e.g.
 * datetime(2026, 10, 16, 15, tzinfo=ZoneInfo("Europe/Moscow")).timestamp().
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "services/order/calendar.h"

#define HOUR_MS 3600000LL
#define DAY_MS  86400000LL

static void use_tz(const char *tz)
{
    assert_int_equal(setenv("TZ", tz, 1), 0);
    tzset();
}

static int use_moscow(void **state)
{
    (void)state;
    use_tz("Europe/Moscow");
    return 0;
}

static civil_day_t day_of(const char *text)
{
    civil_day_t day = 0;
    if (calendar_parse_day(text, &day) != 0)
        fail_msg("\"%s\" did not parse", text);
    return day;
}

/* The store's calendar for 2025-2027 as in migrations/001_orders.sql, plus
 * 2025's transfers: Saturday 2025-11-01 worked, Monday 2025-11-03 off. */
static const calendar_exception_t *russian_exceptions(size_t *count_out)
{
    static calendar_exception_t exceptions[40];
    static const struct {
        const char *day;
        bool workday;
    } source[] = {
        {"2025-11-01", true},  {"2025-11-03", false}, {"2025-11-04", false}, {"2026-01-01", false},
        {"2026-01-02", false}, {"2026-01-05", false}, {"2026-01-06", false}, {"2026-01-07", false},
        {"2026-01-08", false}, {"2026-01-09", false}, {"2026-02-23", false}, {"2026-03-09", false},
        {"2026-05-01", false}, {"2026-05-11", false}, {"2026-06-12", false}, {"2026-11-04", false},
        {"2026-12-31", false}, {"2027-01-01", false}, {"2027-01-04", false}, {"2027-01-05", false},
        {"2027-01-06", false}, {"2027-01-07", false}, {"2027-01-08", false}, {"2027-02-23", false},
        {"2027-03-08", false}, {"2027-05-03", false}, {"2027-05-10", false}, {"2027-06-14", false},
        {"2027-11-04", false},
    };
    size_t count = sizeof source / sizeof source[0];
    for (size_t i = 0; i < count; i++) {
        exceptions[i].day = day_of(source[i].day);
        exceptions[i].workday = source[i].workday;
    }
    *count_out = count;
    return exceptions;
}

static void test_parse_and_format(void **state)
{
    (void)state;
    char text[11];
    assert_int_equal(day_of("1970-01-01"), 0);
    assert_int_equal(day_of("1969-12-31"), -1);
    assert_int_equal(day_of("2026-11-04"), 20761);
    assert_int_equal(day_of("2000-02-29"), 11016); /* divisible by 400: leap */
    assert_int_equal(day_of("2028-02-29"), 21243);
    assert_int_equal(day_of("2024-12-31") + 1, day_of("2025-01-01"));
    assert_int_equal(day_of("2024-03-01") - day_of("2024-02-28"), 2);
    assert_int_equal(day_of("2026-03-01") - day_of("2026-02-28"), 1);
    assert_int_equal(day_of("9999-12-31"), 2932896);
    assert_int_equal(day_of("0001-01-01"), -719162);

    calendar_format_day(20761, text);
    assert_string_equal(text, "2026-11-04");
    calendar_format_day(-1, text);
    assert_string_equal(text, "1969-12-31");
    calendar_format_day(-719162, text);
    assert_string_equal(text, "0001-01-01");
    calendar_format_day(2932896, text);
    assert_string_equal(text, "9999-12-31");
    /* beyond four-digit years: a fixed non-date */
    calendar_format_day(2932897, text);
    assert_string_equal(text, "0000-00-00");
    calendar_format_day(-719163, text);
    assert_string_equal(text, "0000-00-00");
    calendar_format_day(INT32_MIN, text);
    assert_string_equal(text, "0000-00-00");

    /* every day of 1900..2100 formats and parses back to itself */
    civil_day_t first = day_of("1900-01-01"), last = day_of("2100-12-31");
    for (civil_day_t day = first; day <= last; day++) {
        civil_day_t parsed = 0;
        calendar_format_day(day, text);
        assert_int_equal(calendar_parse_day(text, &parsed), 0);
        assert_int_equal(parsed, day);
    }
    /* 1904..2096 are the 49 leap years: 1900 and 2100 are not, 2000 is */
    assert_int_equal(last - first + 1, 201 * 365 + 49);
}

static void test_invalid_dates_are_refused(void **state)
{
    (void)state;
    const char *bad[] = {"2026-02-29",  "1900-02-29",
                         "2100-02-29",  "2026-04-31",
                         "2026-06-31",  "2026-01-32",
                         "2026-13-01",  "2026-00-10",
                         "2026-01-00",  "0000-01-01",
                         "2026-1-01",   "2026-01-1",
                         "26-01-01",    "20260101",
                         "2026/01/01",  "2026-01-01x",
                         " 2026-01-01", "2026-01-01 ",
                         "2026-01-0a",  "-2026-01-01",
                         "+202-01-01",  "",
                         "2026",        "2026-01",
                         "2026-01-"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        civil_day_t day = 4242;
        if (calendar_parse_day(bad[i], &day) != -1)
            fail_msg("\"%s\" parsed", bad[i]);
        assert_int_equal(day, 4242);
    }
    civil_day_t day = 4242;
    assert_int_equal(calendar_parse_day(NULL, &day), -1);
    assert_int_equal(calendar_parse_day("2026-01-01", NULL), -1);
}

static void test_weekdays(void **state)
{
    (void)state;
    assert_int_equal(calendar_weekday(0), 3);                    /* 1970-01-01, Thursday */
    assert_int_equal(calendar_weekday(day_of("2026-11-04")), 2); /* Wednesday */
    assert_int_equal(calendar_weekday(day_of("2000-01-01")), 5); /* Saturday */
    assert_int_equal(calendar_weekday(day_of("2028-02-29")), 1); /* Tuesday */
    assert_int_equal(calendar_weekday(day_of("1969-12-28")), 6); /* Sunday */
    assert_int_equal(calendar_weekday(day_of("1969-12-29")), 0); /* Monday */
    assert_int_equal(calendar_weekday(day_of("0001-01-01")), 0); /* Monday */
    assert_int_equal(calendar_weekday(day_of("2026-10-16")), 4); /* Friday */
    for (civil_day_t day = -30; day < 30; day++)
        assert_int_equal(calendar_weekday(day + 1), (calendar_weekday(day) + 1) % 7);
}

static void test_business_days(void **state)
{
    (void)state;
    size_t count;
    const calendar_exception_t *exceptions = russian_exceptions(&count);
    calendar_t calendar = {exceptions, count};

    assert_true(calendar_is_business_day(&calendar, day_of("2026-10-16")));  /* Friday */
    assert_false(calendar_is_business_day(&calendar, day_of("2026-10-17"))); /* Saturday */
    assert_false(calendar_is_business_day(&calendar, day_of("2026-10-18"))); /* Sunday */
    assert_false(calendar_is_business_day(&calendar, day_of("2026-11-04"))); /* Unity Day */
    assert_false(calendar_is_business_day(&calendar, day_of("2026-12-31"))); /* Thursday off */
    assert_true(calendar_is_business_day(&calendar, day_of("2025-11-01")));  /* worked Saturday */
    assert_false(calendar_is_business_day(&calendar, day_of("2025-11-03"))); /* Monday off */
    assert_true(calendar_is_business_day(&calendar, day_of("2027-01-11")));
    /* no calendar: weekends only */
    assert_true(calendar_is_business_day(NULL, day_of("2026-11-04")));
    assert_false(calendar_is_business_day(NULL, day_of("2025-11-01")));
    calendar_t empty = {NULL, 0};
    assert_true(calendar_is_business_day(&empty, day_of("2026-12-31")));
}

static void test_add_business_days_in_moscow(void **state)
{
    (void)state;
    size_t count;
    const calendar_exception_t *exceptions = russian_exceptions(&count);
    calendar_t calendar = {exceptions, count};

    /* Friday 2026-10-16 15:00 + 3 = Wednesday 2026-10-21 15:00 */
    assert_true(calendar_add_business_days(&calendar, 1792152000000LL, 3) == 1792584000000LL);
    /* Friday 15:00 + 1 = Monday 15:00 */
    assert_true(calendar_add_business_days(&calendar, 1792152000000LL, 1) ==
                1792152000000LL + 3 * DAY_MS);
    /* Saturday 2026-10-17 10:00 + 1 = Monday 2026-10-19 10:00 */
    assert_true(calendar_add_business_days(&calendar, 1792220400000LL, 1) == 1792393200000LL);
    /* Sunday 23:59 + 1 = Monday 23:59 */
    assert_true(calendar_add_business_days(&calendar, 1792357140000LL, 1) ==
                1792357140000LL + DAY_MS);
    /* Tuesday 2026-11-03 18:00 + 1 skips Unity Day: Thursday 2026-11-05 18:00 */
    assert_true(calendar_add_business_days(&calendar, 1793718000000LL, 1) == 1793890800000LL);
    /* Wednesday 2026-12-30 12:34:56.789 + 3: 31 Dec and 1-8 Jan are off,
     * 9-10 Jan the weekend, so 11, 12, 13 Jan: 2027-01-13 12:34:56.789 */
    assert_true(calendar_add_business_days(&calendar, 1798623296789LL, 3) == 1799832896789LL);
    /* from the holiday itself: Thursday 2026-12-31 09:00 + 1 = 2027-01-11 09:00 */
    assert_true(calendar_add_business_days(&calendar, 1798696800000LL, 1) == 1799647200000LL);
    /* a worked Saturday counts: Friday 2025-10-31 10:00 + 1 = Saturday 2025-11-01 10:00,
     * + 2 = Wednesday 2025-11-05 10:00 (Sunday, Monday 3rd and Tuesday 4th off) */
    assert_true(calendar_add_business_days(&calendar, 1761894000000LL, 1) == 1761980400000LL);
    assert_true(calendar_add_business_days(&calendar, 1761894000000LL, 2) == 1762326000000LL);
    /* without a calendar the worked Saturday is a day off: Monday 3rd */
    assert_true(calendar_add_business_days(NULL, 1761894000000LL, 1) ==
                1761894000000LL + 3 * DAY_MS);
    /* n < 1 leaves the instant alone */
    assert_true(calendar_add_business_days(&calendar, 1761894000000LL, 0) == 1761894000000LL);
    assert_true(calendar_add_business_days(&calendar, 1761894000000LL, -2) == 1761894000000LL);
}

static void test_day_of_ms_near_midnight(void **state)
{
    (void)state;
    civil_day_t march_1 = day_of("2026-03-01"), march_2 = day_of("2026-03-02");
    /* 2026-03-01 20:59:59.999 UTC is 23:59:59.999 in Moscow (UTC+3) */
    assert_int_equal(calendar_day_of_ms(1772398799999LL), march_1);
    /* 21:00 UTC is midnight in Moscow */
    assert_int_equal(calendar_day_of_ms(1772398800000LL), march_2);
    assert_int_equal(calendar_day_of_ms(1772400600000LL), march_2);
    /* 2013-06-01 20:30 UTC: Moscow was UTC+4 then, so 00:30 on the 2nd */
    assert_int_equal(calendar_day_of_ms(1370118600000LL), day_of("2013-06-02"));

    use_tz("UTC");
    assert_int_equal(calendar_day_of_ms(1772400600000LL), march_1);
    assert_int_equal(calendar_day_of_ms(1772398800000LL), march_1);
    assert_int_equal(calendar_day_of_ms(0), 0);
    assert_int_equal(calendar_day_of_ms(-1), -1); /* 1969-12-31 23:59:59.999 */
    assert_int_equal(calendar_day_of_ms(-DAY_MS), -1);
    assert_int_equal(calendar_day_of_ms(-DAY_MS - 1), -2);
    /* Friday 2026-10-16 15:00 Moscow is 12:00 UTC; + 3 in UTC keeps 12:00 UTC */
    assert_true(calendar_add_business_days(NULL, 1792152000000LL, 3) ==
                1792152000000LL + 5 * DAY_MS);
    use_tz("Europe/Moscow");
}

static void test_wall_clock_kept_across_dst(void **state)
{
    (void)state;
    use_tz("Europe/Berlin");
    /* Friday 2026-03-27 10:00 CET + 1 = Monday 2026-03-30 10:00 CEST: 71 hours */
    assert_true(calendar_add_business_days(NULL, 1774602000000LL, 1) == 1774857600000LL);
    assert_true(1774857600000LL - 1774602000000LL == 3 * DAY_MS - HOUR_MS);
    /* Friday 2026-10-23 10:00 CEST + 1 = Monday 2026-10-26 10:00 CET: 73 hours */
    assert_true(calendar_add_business_days(NULL, 1792742400000LL, 1) == 1793005200000LL);
    /* a worked Sunday 2026-03-29, whose 02:30 does not exist: an hour off it,
     * i.e. 01:30 CET (00:30 UTC) or 03:30 CEST (01:30 UTC) */
    calendar_exception_t worked_sunday = {day_of("2026-03-29"), true};
    calendar_t calendar = {&worked_sunday, 1};
    int64_t saturday_0230 = 1774575000000LL + DAY_MS; /* 2026-03-28 02:30 CET */
    int64_t result = calendar_add_business_days(&calendar, saturday_0230, 1);
    assert_true(result == 1774575000000LL + 2 * DAY_MS - HOUR_MS ||
                result == 1774575000000LL + 2 * DAY_MS);
    assert_int_equal(calendar_day_of_ms(result), day_of("2026-03-29"));
    use_tz("Europe/Moscow");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_and_format),
        cmocka_unit_test(test_invalid_dates_are_refused),
        cmocka_unit_test(test_weekdays),
        cmocka_unit_test(test_business_days),
        cmocka_unit_test(test_add_business_days_in_moscow),
        cmocka_unit_test(test_day_of_ms_near_midnight),
        cmocka_unit_test(test_wall_clock_kept_across_dst),
    };
    return cmocka_run_group_tests(tests, use_moscow, NULL);
}
