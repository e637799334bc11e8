/*
 * calendar.c — civil dates and business days in the store's time zone
 * (calendar.h), for deadlines such as "unpaid after 3 business days" (F8).
 *
 * Dates are counted as days since 1970-01-01 with Howard Hinnant's
 * days_from_civil / civil_from_days (proleptic Gregorian, exact for every
 * int32 day), so no date arithmetic goes through mktime, timegm or struct
 * tm normalisation. The C library is asked only two things: which local
 * date and time an instant is (localtime_r, with the process's TZ = the
 * store's) and what its UTC offset is there (tm_gmtoff).
 *
 * Adding business days keeps the local wall-clock time and counts days
 * after from's own date, whatever that date is: Friday 15:00 + 3 is
 * Wednesday 15:00, and Saturday 10:00 + 1 is Monday 10:00, as is Friday
 * 10:00 + 1. Holidays in between are skipped; a worked weekend day counts.
 */
#include "services/order/calendar.h"

#include <time.h>

#define CALENDAR_MS_PER_DAY  86400000LL
#define CALENDAR_SEC_PER_DAY 86400LL

/* Floor division, for instants before 1970. */
static int64_t calendar_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

/* Days since 1970-01-01 of y-m-d (m 1..12, d 1..31), Hinnant's algorithm. */
static int64_t calendar_days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;                                   /* [0, 399] */
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1; /* [0, 365] */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;           /* [0, 146096] */
    return era * 146097 + doe - 719468;
}

/* The y-m-d of days since 1970-01-01, Hinnant's algorithm. */
static void calendar_civil_from_days(int64_t z, int64_t *y_out, int *m_out, int *d_out)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;                                      /* [0, 146096] */
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               /* [0, 365] */
    int64_t mp = (5 * doy + 2) / 153;                                    /* [0, 11] */
    int d = (int)(doy - (153 * mp + 2) / 5 + 1);
    int m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y_out = yoe + era * 400 + (m <= 2);
    *m_out = m;
    *d_out = d;
}

static int calendar_days_in_month(int64_t y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
        return 29;
    return days[m - 1];
}

/* The value of n ASCII digits at text, or -1 if one is not a digit. */
static int calendar_digits(const char *text, int n)
{
    int value = 0;
    for (int i = 0; i < n; i++) {
        if (text[i] < '0' || text[i] > '9')
            return -1;
        value = value * 10 + (text[i] - '0');
    }
    return value;
}

int calendar_parse_day(const char *text, civil_day_t *day_out)
{
    if (!text || !day_out)
        return -1;
    /* exactly "YYYY-MM-DD": the digit checks stop at a NUL before [9] */
    int y = calendar_digits(text, 4);
    if (y < 1 || text[4] != '-')
        return -1;
    int m = calendar_digits(text + 5, 2);
    if (m < 1 || m > 12 || text[7] != '-')
        return -1;
    int d = calendar_digits(text + 8, 2);
    if (d < 1 || d > calendar_days_in_month(y, m) || text[10] != '\0')
        return -1;
    *day_out = (civil_day_t)calendar_days_from_civil(y, m, d);
    return 0;
}

/* Writes value as width zero-padded digits (value < 10^width). */
static void calendar_put_digits(char *out, int width, int value)
{
    for (int i = width - 1; i >= 0; i--) {
        out[i] = (char)('0' + value % 10);
        value /= 10;
    }
}

void calendar_format_day(civil_day_t day, char out[11])
{
    int64_t y;
    int m, d;
    calendar_civil_from_days(day, &y, &m, &d);
    if (y < 1 || y > 9999) {
        /* not representable as YYYY-MM-DD; calendar_parse_day refuses it */
        calendar_put_digits(out, 4, 0);
        m = 0;
        d = 0;
    } else {
        calendar_put_digits(out, 4, (int)y);
    }
    out[4] = '-';
    calendar_put_digits(out + 5, 2, m);
    out[7] = '-';
    calendar_put_digits(out + 8, 2, d);
    out[10] = '\0';
}

/* Local date, seconds since local midnight and UTC offset of unix seconds.
 * 0 ok; -1 if the C library cannot say (a year past its range). */
static int calendar_local(int64_t unix_s, int64_t *day_out, int64_t *second_of_day_out,
                          int64_t *offset_s_out)
{
    time_t t = (time_t)unix_s;
    struct tm tm;
    if ((int64_t)t != unix_s || !localtime_r(&t, &tm))
        return -1;
    *day_out = calendar_days_from_civil((int64_t)tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
    *second_of_day_out = (int64_t)tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
    *offset_s_out = tm.tm_gmtoff;
    return 0;
}

civil_day_t calendar_day_of_ms(int64_t unix_ms)
{
    int64_t day, second_of_day, offset_s;
    int64_t unix_s = calendar_floor_div(unix_ms, 1000);
    if (calendar_local(unix_s, &day, &second_of_day, &offset_s) != 0)
        day = calendar_floor_div(unix_s, CALENDAR_SEC_PER_DAY); /* UTC, beyond the tz data */
    return (civil_day_t)day;
}

int calendar_weekday(civil_day_t day)
{
    /* 1970-01-01 was a Thursday (3) */
    int64_t weekday = ((int64_t)day + 3) % 7;
    return (int)(weekday < 0 ? weekday + 7 : weekday);
}

bool calendar_is_business_day(const calendar_t *calendar, civil_day_t day)
{
    if (calendar && calendar->exceptions) {
        size_t low = 0, high = calendar->count;
        while (low < high) {
            size_t mid = low + (high - low) / 2;
            const calendar_exception_t *exception = &calendar->exceptions[mid];
            if (exception->day == day)
                return exception->workday;
            if (exception->day < day)
                low = mid + 1;
            else
                high = mid;
        }
    }
    return calendar_weekday(day) < 5;
}

int64_t calendar_add_business_days(const calendar_t *calendar, int64_t from_ms, int n)
{
    int64_t from_s = calendar_floor_div(from_ms, 1000);
    int64_t sub_second_ms = from_ms - from_s * 1000;
    int64_t day, second_of_day, offset_s;

    if (n < 1)
        return from_ms;
    if (calendar_local(from_s, &day, &second_of_day, &offset_s) != 0) {
        /* beyond the tz data: count in UTC */
        day = calendar_floor_div(from_s, CALENDAR_SEC_PER_DAY);
        second_of_day = from_s - day * CALENDAR_SEC_PER_DAY;
        offset_s = 0;
    }

    for (int counted = 0; counted < n;) {
        day++;
        if (calendar_is_business_day(calendar, (civil_day_t)day))
            counted++;
    }

    /* The target's wall-clock time as if it were UTC, then shifted by the
     * offset in force there: guessed from from's offset, then corrected
     * once with the offset at the guess (enough for one change of offset
     * between the two dates; in a DST gap the result is an hour off the
     * nonexistent time, which is what the header allows). */
    int64_t wall_s = day * CALENDAR_SEC_PER_DAY + second_of_day;
    int64_t target_s = wall_s - offset_s;
    int64_t target_day, target_second, target_offset_s;
    if (calendar_local(target_s, &target_day, &target_second, &target_offset_s) == 0 &&
        target_offset_s != offset_s)
        target_s = wall_s - target_offset_s;
    return target_s * 1000 + sub_second_ms;
}
