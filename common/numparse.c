/*
 * numparse.c — strict decimal and duration parsing (numparse.h).
 */
#include "common/numparse.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int all_digits(const char *p)
{
    if (!*p)
        return 0;
    for (; *p; p++)
        if (*p < '0' || *p > '9')
            return 0;
    return 1;
}

int numparse_i64(const char *text, int64_t *out)
{
    if (!text || !all_digits(text[0] == '-' ? text + 1 : text))
        return -1;
    errno = 0;
    char *end = NULL;
    long long value = strtoll(text, &end, 10);
    if (errno != 0 || *end != '\0')
        return -1;
    *out = (int64_t)value;
    return 0;
}

int numparse_u64(const char *text, uint64_t *out)
{
    if (!text || !all_digits(text))
        return -1;
    errno = 0;
    char *end = NULL;
    unsigned long long value = strtoull(text, &end, 10);
    if (errno != 0 || *end != '\0')
        return -1;
    *out = (uint64_t)value;
    return 0;
}

int numparse_int_range(const char *text, int64_t min, int64_t max, int64_t *out)
{
    int64_t value;
    if (numparse_i64(text, &value) != 0 || value < min || value > max)
        return -1;
    *out = value;
    return 0;
}

int numparse_duration_ms(const char *text, int64_t *out_ms)
{
    if (!text)
        return -1;
    static const struct {
        const char *suffix;
        int64_t ms;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
    size_t len = strlen(text);
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        size_t slen = strlen(units[i].suffix);
        if (len <= slen || strcmp(text + len - slen, units[i].suffix) != 0)
            continue;
        char digits[32];
        if (len - slen >= sizeof digits)
            return -1;
        memcpy(digits, text, len - slen);
        digits[len - slen] = '\0';
        int64_t count;
        if (numparse_i64(digits, &count) != 0 || count < 0 || count > INT64_MAX / units[i].ms)
            return -1;
        *out_ms = count * units[i].ms;
        return 0;
    }
    int64_t plain;
    if (numparse_i64(text, &plain) != 0 || plain < 0)
        return -1;
    *out_ms = plain;
    return 0;
}
