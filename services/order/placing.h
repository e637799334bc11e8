/*
 * placing.h — the intake transaction: a submission becomes an order
 * (F1–F5), whichever door it came through (placing.c).
 *
 * The submission was read by its door (submission.c, form.c); here it is
 * validated, deduplicated by (source, external_id), filed with its
 * customer, given to a manager and announced, or rejected with every
 * reason — all in the caller's transaction.
 */
#ifndef ORDER_PLACING_H
#define ORDER_PLACING_H

#include <jansson.h>
#include <stdint.h>

#include "common/emit.h"
#include "services/order/order.h"
#include "services/order/submission.h"

typedef enum {
    INTAKE_ACCEPTED = 0, /* a new order */
    INTAKE_REPEAT,       /* the key was used before with the same body: the first answer */
    INTAKE_CONFLICT,     /* the key was used before with another body */
    INTAKE_REJECTED,     /* it breaks a rule; kept in rejections */
} intake_outcome_t;

typedef struct {
    intake_outcome_t outcome;
    char order_id[37];
    uint64_t number;
    char title[300];
    char manager_id[37];
    char rejection_id[37];
    json_t *reasons; /* INTAKE_REJECTED: the reasons; owned, free with intake_result_clear */
} intake_result_t;

void intake_result_clear(intake_result_t *result);

/* Validates, deduplicates, files the order with its customer, assigns it
 * and announces it (order.placed, order.status_changed, order.assigned,
 * intake.accepted — or intake.rejected). trust: what the order's source
 * may decide about money, from intake_sources. read_errors (may be NULL):
 * problems found while reading the input, reported with the rule
 * failures. Safe to run again from the start (result is reset). */
db_status_t placing_intake(order_app_t *app, const emitter_t *em, submission_t *sub,
                           intake_door_t door, const char *default_channel,
                           const intake_trust_t *trust, const json_t *read_errors,
                           intake_result_t *result);

/* One submission of placing_intake_batch, from its own bus event. */
typedef struct {
    const emitter_t *em; /* the event's: what it emits is caused by it */
    submission_t *sub;
    const intake_trust_t *trust;
    const json_t *read_errors; /* may be NULL */
    intake_result_t result;    /* out; free with intake_result_clear */
} intake_batch_item_t;

/* placing_intake (the bus door, channel "website" by default) for count
 * submissions in the caller's transaction, each with the outcome
 * placing_intake would give it. The plain ones (valid, with a new key, and
 * a key, phone and email no other one of the batch has) are claimed, filed
 * with their customers and given their managers by one statement each for
 * them all (*batched_out: how many); the rest go one by one after them, as
 * placing_intake. */
db_status_t placing_intake_batch(order_app_t *app, intake_batch_item_t *items, size_t count,
                                 size_t *batched_out);

#endif
