/*
 * submission.h — one order submission, whichever door it came through (F1–F3).
 *
 * The bus (ext/intake.order, an OrderSubmitted), POST /v1/orders (JSON) and
 * the site builders' form webhook all become a submission_t; from there
 * the behaviour is one: the same validation reporting every reason at once
 * (F2), the same canonical form whose hash tells a repeat from a reuse of
 * the idempotency key with another body, the same normalisation (E.164
 * phone, lower-cased email, the region key managers are matched on).
 * Nothing here touches the database.
 */
#ifndef ORDER_SUBMISSION_H
#define ORDER_SUBMISSION_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/problems.h"
#include "services/order/form.h"
#include "services/order/phone.h"

typedef enum { DOOR_BUS = 0, DOOR_HTTP, DOOR_FORM } intake_door_t;

/* "bus", "http", "form" */
const char *intake_door_name(intake_door_t door);

/* The values match the DeliveryMethod enum of order.proto. */
typedef enum {
    METHOD_NONE = 0,
    METHOD_COURIER = 1,
    METHOD_POST = 2,
    METHOD_PICKUP_POINT = 3,
    METHOD_SELF_PICKUP = 4,
} delivery_method_t;

/* "courier" <-> METHOD_COURIER ...; METHOD_NONE / NULL when unknown. */
delivery_method_t intake_method_parse(const char *text);
const char *intake_method_name(delivery_method_t method);

/* The most items an order holds, at every door. A door that is sent more
 * reads none of them (and says how many came in items_over_max):
 * intake_validate refuses the submission with "items": "too_many". */
#define INTAKE_ITEMS_MAX 200

typedef struct {
    char *sku;
    char *name;
    int64_t quantity;
    bool has_price;
    int64_t price_minor;
} intake_item_t;

/* Every string is owned (NULL when absent). */
typedef struct {
    char *source, *external_id, *channel;
    char *customer_name, *phone, *email;
    delivery_method_t method;
    char *method_text; /* as given, for the error when it is not a method */
    char *address_text, *country_code, *region, *city, *postal_code, *line1, *line2;
    char *pickup_point_id, *delivery_comment;
    intake_item_t *items;
    size_t item_count;
    size_t items_over_max; /* 0, or how many were sent when past INTAKE_ITEMS_MAX (none read) */
    int64_t discount_bp;
    char *comment;
    char *currency;
    json_t *attributes; /* object of strings; owned */

    /* filled by intake_validate */
    char phone_e164[PHONE_E164_SIZE]; /* "" when no phone was given */
    char *email_lower;                /* NULL when no email was given */
    char *region_key;                 /* lower-cased region (or city), "" when none */
} submission_t;

void submission_init(submission_t *sub);
void submission_free(submission_t *sub);

/* Reads POST /v1/orders' JSON. Type errors (a string where a number
 * belongs) go into problems with their field path; what is absent stays
 * NULL/0 for intake_validate to judge. 0 ok, -1 out of memory. */
int submission_from_json(const json_t *body, submission_t *sub, problems_t *problems);

/* Reads an ext/intake.order payload (order.proto's OrderSubmitted: the
 * wire type is only named here, so that what includes this header sees
 * none). 0 ok, -1 out of memory. */
struct Conveyor__OrderSubmitted;
int submission_from_proto(const struct Conveyor__OrderSubmitted *msg, submission_t *sub);

/* The bus door's source: the envelope's stream names the publisher (the
 * bus authenticates it), and the payload may repeat that name or leave
 * it empty, never name another. sub->source becomes the publisher's (NULL
 * when publisher is empty); a payload that named another source adds
 * "source": "mismatch" to problems. 0 ok, -1 out of memory. */
int intake_bus_source(submission_t *sub, const char *publisher, problems_t *problems);

/* How many items a packed OrderSubmitted holds, read from the wire
 * without unpacking anything (protobuf-c would allocate every item first):
 * the bus door's INTAKE_ITEMS_MAX holds before that work. -1 if the bytes
 * are not a protobuf message (unpacking refuses them then). */
int intake_proto_item_count(const uint8_t *payload, size_t len, size_t *count_out);

/* Copies a packed OrderSubmitted into out (at least len bytes) without
 * its items, every other field as it was; *out_len is what was written.
 * -1 if the bytes are not a protobuf message. */
int intake_proto_without_items(const uint8_t *payload, size_t len, uint8_t *out, size_t *out_len);

/* Reads a form order (form.h); source and external_id (tranid) are given
 * by the caller. Bad quantities or prices go into problems. 0 ok, -1 OOM. */
int submission_from_form(const form_order_t *form, submission_t *sub, problems_t *problems);

/* What a source is trusted with (intake_sources), whichever door it
 * uses; an unregistered source with nothing. */
typedef struct {
    bool may_set_prices;     /* its line prices stand instead of the catalogue's */
    int64_t max_discount_bp; /* the largest order discount it may give */
} intake_trust_t;

/* F14: the money rules that depend on who sends. Prices are gated by
 * using them or not (stock.c); a discount above what the source may give
 * is refused ("discount_bp": "not_allowed"), never cut down. trust NULL
 * trusts with nothing. Returns the number of problems added. */
size_t intake_check_trust(const submission_t *sub, const intake_trust_t *trust,
                          problems_t *problems);

/* F2: checks every rule and normalises phone, email and region; every
 * failed rule is one entry in problems. default_channel fills an empty
 * channel. The sender's prices times quantities must add up within int64
 * ("items": "total_too_large"): sums are checked, never wrapped. Returns
 * the number of problems added. */
size_t intake_validate(submission_t *sub, const char *default_channel, problems_t *problems);

/* An order's edit (editing.c) read with submission_from_json: checks only
 * what an edit may carry, by the intake's rules — the items when
 * check_items, the delivery when check_delivery (its region normalised
 * into region_key), the discount range, and the texts' UTF-8. Returns the
 * number of problems added. */
size_t intake_validate_contents(submission_t *sub, bool check_items, bool check_delivery,
                                problems_t *problems);

/* The submission as canonical JSON (sorted keys, the normalised phone and
 * email) — what rejections keep and what the body hash is taken over.
 * Caller owns the result. */
json_t *submission_to_json(const submission_t *sub);

/* SHA-256 (hex) of the canonical JSON; out at least 65 bytes. -1 on OOM. */
int submission_hash(const submission_t *sub, char out[65]);

/* "No. 10234 – Ivan Petrov" into out. */
void intake_title(uint64_t number, const char *customer_name, char *out, size_t size);

#endif
