/*
 * problems.c — collecting every validation failure (problems.h).
 */
#include "common/problems.h"

#include <stdarg.h>
#include <stdio.h>

int problems_init(problems_t *problems)
{
    problems->errors = json_array();
    return problems->errors ? 0 : -1;
}

void problems_release(problems_t *problems)
{
    json_decref(problems->errors);
    problems->errors = NULL;
}

/* A message cut at the buffer's end may end inside a multi-byte UTF-8
 * character, which jansson refuses (the reason would be lost): drop the
 * incomplete character. */
static void trim_partial_utf8(char *text, size_t len)
{
    size_t start = len;
    while (start > 0 && len - start < 3 && ((unsigned char)text[start - 1] & 0xC0) == 0x80)
        start--;
    if (start == 0)
        return;
    unsigned char lead = (unsigned char)text[start - 1];
    size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    if (need > len - (start - 1))
        text[start - 1] = '\0';
}

/* The length of the well-formed UTF-8 character at p (as jansson judges
 * it: no overlongs, surrogates or code points past U+10FFFF), 0 if none. */
static size_t utf8_char_len(const unsigned char *p)
{
    if (p[0] < 0x80)
        return 1;
    size_t len = p[0] >= 0xC2 && p[0] <= 0xDF   ? 2
                 : p[0] >= 0xE0 && p[0] <= 0xEF ? 3
                 : p[0] >= 0xF0 && p[0] <= 0xF4 ? 4
                                                : 0;
    for (size_t i = 1; i < len; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    if ((p[0] == 0xE0 && p[1] < 0xA0) || (p[0] == 0xED && p[1] > 0x9F) ||
        (p[0] == 0xF0 && p[1] < 0x90) || (p[0] == 0xF4 && p[1] > 0x8F))
        return 0;
    return len;
}

/* A field or message quotes what it was given (a CSV column's name, a
 * JSON key), sometimes cut by a precision ("%.60s") or a caller's buffer
 * inside a character, sometimes not UTF-8 at all: jansson would refuse the
 * problem and it would be lost while the caller counts it. Every byte that
 * does not begin a well-formed character becomes '?'. */
static void repair_utf8(char *text)
{
    unsigned char *p = (unsigned char *)text;
    while (*p) {
        size_t len = utf8_char_len(p);
        if (len == 0) {
            *p++ = '?';
            continue;
        }
        p += len;
    }
}

void problems_add(problems_t *problems, const char *field, const char *code, const char *fmt, ...)
{
    char message[300];
    char path[300];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    if (n >= (int)sizeof message)
        trim_partial_utf8(message, sizeof message - 1);
    repair_utf8(message);
    n = snprintf(path, sizeof path, "%s", field);
    if (n >= (int)sizeof path)
        trim_partial_utf8(path, sizeof path - 1);
    repair_utf8(path);
    json_array_append_new(problems->errors, json_pack("{s:s,s:s,s:s}", "field", path, "code", code,
                                                      "message", message));
}

size_t problems_count(const problems_t *problems)
{
    return json_array_size(problems->errors);
}

const json_t *problems_errors(const problems_t *problems)
{
    return problems->errors;
}

json_t *problems_take(problems_t *problems)
{
    json_t *errors = problems->errors;
    problems->errors = json_array();
    return errors;
}
