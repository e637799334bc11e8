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

void problems_add(problems_t *problems, const char *field, const char *code, const char *fmt, ...)
{
    char message[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    json_array_append_new(problems->errors, json_pack("{s:s,s:s,s:s}", "field", field, "code", code,
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
