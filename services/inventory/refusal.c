/*
 * refusal.c — recording why a stock operation said no (refusal.h).
 */
#include "services/inventory/refusal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void refuse(tx_t *tx, refusal_t *refusal, refusal_kind_t kind, const char *code, const char *title,
            const char *fmt, ...)
{
    refusal->kind = kind;
    refusal->code = code;
    snprintf(refusal->title, sizeof refusal->title, "%s", title);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(refusal->detail, sizeof refusal->detail, fmt, ap);
    va_end(ap);
    tx_abandon(tx);
}

void refuse_problems(tx_t *tx, refusal_t *refusal, const char *code, const char *title,
                     problems_t *problems)
{
    refusal->kind = REFUSED_INVALID;
    refusal->code = code;
    snprintf(refusal->title, sizeof refusal->title, "%s", title);
    refusal->detail[0] = '\0';
    json_decref(refusal->errors);
    refusal->errors = problems_take(problems);
    tx_abandon(tx);
}

void refusal_clear(refusal_t *refusal)
{
    json_decref(refusal->errors);
    memset(refusal, 0, sizeof *refusal);
}
