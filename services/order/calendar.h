/*
 * calendar.h — business days in the store's time zone (F8).
 *
 * "An invoice unpaid after 3 business days" is counted on the store's own
 * calendar: Saturdays and Sundays are days off unless marked as worked,
 * and public holidays are days off (calendar_days table, loaded by the
 * caller). Dates are civil dates in STORE_TZ, computed with the C
 * library's time zone database (the process's TZ is set to STORE_TZ at
 * start, before any thread).
 */
#ifndef ORDER_CALENDAR_H
#define ORDER_CALENDAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A civil date as days since 1970-01-01 (may be negative). */
typedef int32_t civil_day_t;

typedef struct {
    civil_day_t day;
    bool workday; /* true: a weekend day that is worked; false: a holiday */
} calendar_exception_t;

typedef struct {
    const calendar_exception_t *exceptions; /* sorted by day, borrowed */
    size_t count;
} calendar_t;

/* "2026-11-04" -> days since epoch; -1 return if not a valid date (exactly
 * YYYY-MM-DD, years 0001..9999, the day existing in that month); *day_out
 * is untouched then. */
int calendar_parse_day(const char *text, civil_day_t *day_out);
/* days since epoch -> "2026-11-04" (out at least 11 bytes). A day outside
 * 0001-01-01..9999-12-31 is written "0000-00-00", which parses as no date. */
void calendar_format_day(civil_day_t day, char out[11]);

/* The civil date of unix ms in the process's time zone (STORE_TZ); UTC
 * for an instant the C library cannot convert. */
civil_day_t calendar_day_of_ms(int64_t unix_ms);
/* 0 = Monday ... 6 = Sunday. */
int calendar_weekday(civil_day_t day);

/* (Monday..Friday and not a listed holiday) or a listed worked day. An
 * exception decides its day whatever the weekday; calendar may be NULL
 * (weekends only). The exceptions must be sorted (binary search). */
bool calendar_is_business_day(const calendar_t *calendar, civil_day_t day);

/* The instant n business days after `from`: the same local time of day on
 * the n-th business day after from's date (n >= 1). Days are counted after
 * from's date whether or not that date is itself a business day, so a
 * `from` on a day off gets no extra day: Friday 15:00 + 3 is Wednesday
 * 15:00, Saturday 10:00 + 1 is Monday 10:00 (as is Friday 10:00 + 1), and
 * holidays in between are skipped. If that local time does not exist on
 * the target day (a DST gap), the result is an hour off it. n < 1 returns
 * from_ms; the cost is linear in the days walked. */
int64_t calendar_add_business_days(const calendar_t *calendar, int64_t from_ms, int n);

#endif
