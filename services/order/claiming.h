/*
 * claiming.h — the claims funnel's transactions (F30, issue 14 item 3):
 * filing a claim for a delivered order, moving it (decisions, repair,
 * completion) and the effects of approval — all in the caller's
 * transaction, announced on the order stream (claim.created,
 * claim.decided, claim.completed). The rules they apply are claims.h's.
 *
 * Effects of approval: a refund publishes refund.requested (the payment
 * service refunds through the bank); an exchange files a replacement
 * order for the same customer, delivery and items at no charge (source
 * "claims", external id the claim's id), which goes through the ordinary
 * funnel: reserved, confirmed, shipped in a new shipment.
 */
#ifndef ORDER_CLAIMING_H
#define ORDER_CLAIMING_H

#include <jansson.h>
#include <stddef.h>

#include "common/emit.h"
#include "services/order/claims.h"
#include "services/order/history.h"
#include "services/order/order.h"

typedef enum {
    CLAIMING_OK = 0,
    CLAIMING_NOT_FOUND,           /* no such order or claim */
    CLAIMING_NOT_DELIVERED,       /* the order was never delivered */
    CLAIMING_INVALID,             /* problems say why (422) */
    CLAIMING_NOT_ALLOWED,         /* no such move from the claim's status (409) */
    CLAIMING_FORBIDDEN,           /* the caller's roles may not make it (403) */
    CLAIMING_REPLACEMENT_REFUSED, /* the exchange's replacement order was refused (409) */
    CLAIMING_CLOSED,              /* rejected or completed: nothing more is added (409) */
    CLAIMING_TOO_LARGE,           /* the claim's attachments would pass their total (413) */
} claiming_outcome_t;

typedef struct {
    const char *order_id;
    const char *type, *reason, *comment;
    const json_t *lines;                   /* [{line_no, quantity}] */
    const claim_attachment_t *attachments; /* read by claims_read_attachments */
    size_t attachment_count;
} claim_request_t;

typedef struct {
    claiming_outcome_t outcome;
    char claim_id[37];
    char status[24];  /* the claim's status after the call */
    char from[24];    /* a move: the status it left */
    json_t *problems; /* CLAIMING_INVALID, CLAIMING_REPLACEMENT_REFUSED: owned */
    char detail[160]; /* CLAIMING_TOO_LARGE: why */
} claiming_result_t;

void claiming_result_clear(claiming_result_t *result);

/* Files the claim under_review with its attachments and history, and
 * claim.created. Safe to run again from the start. */
db_status_t claiming_create(order_app_t *app, const emitter_t *em, const claim_request_t *request,
                            const actor_t *actor, claiming_result_t *result);

/* Moves the claim to `to` if the machine lets one of the actor's roles:
 * a decision (claim.decided; approval's effects), in_repair or
 * under_review, completed (claim.completed). */
db_status_t claiming_move(order_app_t *app, const emitter_t *em, const char *claim_id,
                          const char *to, const char *comment, const actor_t *actor,
                          claiming_result_t *result);

/* One uploaded attachment (raw bytes, already within limits->max_bytes,
 * its name and type checked) added to a claim that is not closed, in the
 * caller's transaction: the claim is locked, and the attachment is refused
 * if the claim would hold more than limits->max_count (CLAIMING_INVALID)
 * or more than limits->max_total bytes (CLAIMING_TOO_LARGE). */
typedef struct {
    const char *filename, *content_type;
    const unsigned char *data;
    size_t len;
} claim_upload_file_t;

db_status_t claiming_attach(db_t *db, const char *claim_id, const claim_upload_file_t *file,
                            const claims_limits_t *limits, claiming_result_t *result);

/* refund.succeeded named this claim (NULL or "": none): an approved
 * refund claim is completed by conveyor (claim.completed); any other
 * claim, or one already completed, is left as it is. */
db_status_t claiming_refunded(order_app_t *app, const emitter_t *em, const char *claim_id);

#endif
