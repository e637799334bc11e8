/*
 * problems.h — every reason a request is refused, at once.
 *
 * An order form with three mistakes should be told all three, not the
 * first (F2). Validators add one {field, code, message} per mistake; the
 * caller answers 422 problem+json with them (http_res_problem_errors_take)
 * or puts them in an intake.rejected event. Codes are stable
 * ("required", "invalid", "not_positive", "too_long", "unknown"); fields are
 * paths into the input ("customer.phone", "items[2].quantity").
 */
#ifndef CONVEYOR_PROBLEMS_H
#define CONVEYOR_PROBLEMS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct {
    json_t *errors; /* array of {field, code, message}; owned */
} problems_t;

/* 0 ok, -1 out of memory. */
int problems_init(problems_t *problems);
void problems_release(problems_t *problems);

/* Adds one reason; message is printf-style. A field or message that is
 * not UTF-8 (a quoted name cut inside a character, a column named in
 * another encoding) keeps a '?' for each bad byte: no reason is lost. */
void problems_add(problems_t *problems, const char *field, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

size_t problems_count(const problems_t *problems);

/* The array; borrowed. */
const json_t *problems_errors(const problems_t *problems);

/* Hands the array over (caller owns it) and leaves problems empty. */
json_t *problems_take(problems_t *problems);

#endif
