/*
 * docfmt.c — documents' formatting of amounts, weights, days and
 * addresses (docfmt.h).
 */
#include "common/docfmt.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

void docfmt_money(int64_t minor, const char *currency, char *out, size_t size)
{
    uint64_t magnitude = minor < 0 ? (uint64_t)0 - (uint64_t)minor : (uint64_t)minor;
    uint64_t whole = magnitude / 100;
    char digits[32], grouped[48];
    int n = snprintf(digits, sizeof digits, "%llu", (unsigned long long)whole);
    size_t len = n > 0 ? (size_t)n : 0, used = 0;
    for (size_t i = 0; i < len && used + 2 < sizeof grouped; i++) {
        if (i > 0 && (len - i) % 3 == 0)
            grouped[used++] = ' ';
        grouped[used++] = digits[i];
    }
    grouped[used] = '\0';
    bool code = currency && currency[0];
    snprintf(out, size, "%s%s.%02u%s%s", minor < 0 ? "-" : "", grouped, (unsigned)(magnitude % 100),
             code ? " " : "", code ? currency : "");
}

void docfmt_kg(int64_t grams, char *out, size_t size)
{
    if (grams < 0)
        grams = 0;
    snprintf(out, size, "%lld.%03lld", (long long)(grams / 1000), (long long)(grams % 1000));
}

void docfmt_day(const char *timestamp, char *out, size_t size)
{
    const char *t = timestamp ? timestamp : "";
    bool iso = strlen(t) >= 10 && t[4] == '-' && t[7] == '-';
    for (size_t i = 0; iso && i < 10; i++)
        iso = i == 4 || i == 7 || (t[i] >= '0' && t[i] <= '9');
    if (iso)
        snprintf(out, size, "%.2s.%.2s.%.4s", t + 8, t + 5, t);
    else
        snprintf(out, size, "%s", t);
}

static const char *part_of(const json_t *object, const char *member)
{
    const char *text = json_string_value(json_object_get(object, member));
    return text && text[0] ? text : NULL;
}

void docfmt_address(const json_t *address, char *out, size_t size)
{
    if (!size)
        return;
    out[0] = '\0';
    size_t used = 0;
    static const char *const parts[] = {"postal_code", "region", "city", "line1", "line2"};
    const char *city = part_of(address, "city");
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        const char *part = part_of(address, parts[i]);
        if (!part || (i == 1 && city && strcmp(part, city) == 0))
            continue; /* "Moscow, Moscow" once */
        int n = snprintf(out + used, size - used, "%s%s", used ? ", " : "", part);
        if (n < 0 || (size_t)n >= size - used) {
            out[used] = '\0'; /* whole parts only: never one cut inside a character */
            break;
        }
        used += (size_t)n;
    }
    if (!used)
        snprintf(out, size, "%s", part_of(address, "text") ? part_of(address, "text") : "-");
}
