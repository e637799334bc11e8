/*
 * refusal.h — why a stock operation said no and changed nothing.
 *
 * The domain files (products, imports, supplies, corrections) decide
 * inside a transaction (tx.h) and may find that a rule says no: no such
 * product, a supply already received, a correction that would leave less
 * than is reserved. That is not a failure of the database: the transaction
 * is abandoned (tx_abandon: rolled back, nothing half done) and the
 * refusal says what kind of no it is, with a stable code and words for a
 * person. api.c turns the kind into an HTTP status; the domain never
 * speaks HTTP.
 */
#ifndef INVENTORY_REFUSAL_H
#define INVENTORY_REFUSAL_H

#include <jansson.h>

#include "common/problems.h"
#include "common/tx.h"

typedef enum {
    REFUSED_NONE = 0,  /* went on */
    REFUSED_NOT_FOUND, /* what the request names does not exist */
    REFUSED_CONFLICT,  /* the stock or the record as it stands forbids it */
    REFUSED_INVALID,   /* the request itself is wrong (errors lists each mistake) */
} refusal_kind_t;

typedef struct {
    refusal_kind_t kind;
    const char *code; /* stable: "not_found", "already_received", "below_reserved" ... */
    char title[120];
    char detail[400];
    json_t *errors; /* owned, or NULL: the list of mistakes (problems.h) */
} refusal_t;

/* Records the refusal and abandons the transaction (tx_abandon). */
void refuse(tx_t *tx, refusal_t *refusal, refusal_kind_t kind, const char *code, const char *title,
            const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* A REFUSED_INVALID with every mistake of problems (taken from it). */
void refuse_problems(tx_t *tx, refusal_t *refusal, const char *code, const char *title,
                     problems_t *problems);

/* Forgets a refusal (a transaction body calls it first: it may run again). */
void refusal_clear(refusal_t *refusal);

#endif
