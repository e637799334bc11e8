/*
 * problems.c — collecting every validation failure (problems.h).
 */
#include "common/problems.h"

#include <stdarg.h>
#include <stdio.h>

#include "common/utf8.h"

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
    utf8_repair(message); /* a quoted name may be cut inside a character, or not UTF-8 */
    n = snprintf(path, sizeof path, "%s", field);
    if (n >= (int)sizeof path)
        trim_partial_utf8(path, sizeof path - 1);
    utf8_repair(path);
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
