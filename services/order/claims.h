/*
 * claims.h — the pure rules of claims (F30, issue 14 item 3), unit-tested
 * without a database (tests/test_claims.c): which types and reasons there
 * are, a claim's name ("Exchange 05.12.2026" in the store's time zone),
 * its status machine and who may make each move, which of an order's
 * lines a claim may name and what they cost, and reading attachments
 * (base64) within their bounds. The transactions that use them are in
 * claiming.c.
 */
#ifndef ORDER_CLAIMS_H
#define ORDER_CLAIMS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/problems.h"

#define CLAIMS_NAME_SIZE        32
#define CLAIMS_LINES_MAX        200
#define CLAIMS_COMMENT_MAX      2000
#define CLAIMS_FILENAME_MAX     255
#define CLAIMS_CONTENT_TYPE_MAX 127

/* "exchange", "refund", "repair". */
bool claims_type_valid(const char *type);
/* "defect", "wrong_item", "not_as_described", "damaged_in_transit",
 * "changed_mind", "other". */
bool claims_reason_valid(const char *reason);
/* A status a claim can be in. */
bool claims_status_valid(const char *status);

/* "Exchange 05.12.2026": the type and the civil day of at_ms in the
 * process's time zone (STORE_TZ). out is "" for an unknown type. */
void claims_name(const char *type, int64_t at_ms, char out[CLAIMS_NAME_SIZE]);

typedef enum {
    CLAIM_MOVE_OK = 0,
    CLAIM_MOVE_NOT_ALLOWED, /* no such move from this status for this type */
    CLAIM_MOVE_FORBIDDEN,   /* the move exists, but none of the roles may make it */
} claim_move_t;

/* The machine: under_review -> approved | rejected | needs_clarification
 * (manager, admin); needs_clarification -> under_review (any staff) or a
 * decision at once (manager, admin); approved -> in_repair (a repair; any
 * staff) or -> completed (an exchange or a refund; manager, admin,
 * warehouse, system: conveyor on refund.succeeded); in_repair ->
 * completed (manager, admin, warehouse, system).
 * rejected and completed are final. roles: role_t bits. */
claim_move_t claims_move_check(const char *type, const char *from, const char *to, unsigned roles);
/* approved, rejected, needs_clarification */
bool claims_is_decision(const char *to);

/* Which lines a claim names and what they cost. order_lines: the order's
 * [{line_no, sku, name, quantity, total_minor, vat_rate_bp}]; claimed:
 * {"<line_no>": units already named by the order's other claims that were
 * not rejected} (may be NULL); requested: the caller's [{line_no,
 * quantity}]. Each mistake is one entry in problems (fields
 * "lines[i].line_no", "lines[i].quantity", "lines"). On none, *lines_out
 * (caller owns) holds the claimed lines with each one's share of its
 * line's total (total × quantity / ordered, rounded down) and *amount_out
 * their sum. Returns the number of problems added, -1 on out of memory. */
int claims_pick_lines(const json_t *order_lines, const json_t *claimed, const json_t *requested,
                      json_t **lines_out, int64_t *amount_out, problems_t *problems);

typedef struct {
    size_t max_count; /* attachments per claim */
    size_t max_bytes; /* one attachment, decoded */
    size_t max_total; /* all of them together, decoded */
} claims_limits_t;

typedef struct {
    char *filename;
    char *content_type;
    unsigned char *data;
    size_t len;
} claim_attachment_t;

typedef enum {
    CLAIMS_ATTACH_OK = 0,
    CLAIMS_ATTACH_INVALID,         /* problems say why: 422 */
    CLAIMS_ATTACH_TOO_LARGE,       /* one past max_bytes: 413 */
    CLAIMS_ATTACH_TOTAL_TOO_LARGE, /* together past max_total: 413 */
    CLAIMS_ATTACH_NO_MEMORY,
} claims_attach_t;

/* Reads the request's "attachments" (NULL or an array of {filename,
 * content_type, data}; data base64, standard or URL-safe, padding
 * optional). Sizes are judged from the text's length before anything is
 * decoded. On CLAIMS_ATTACH_OK *out (caller frees with
 * claims_attachments_free) and *count_out hold them; otherwise nothing is
 * kept. why gets a sentence for the 413s. */
claims_attach_t claims_read_attachments(const json_t *attachments, const claims_limits_t *limits,
                                        claim_attachment_t **out, size_t *count_out,
                                        problems_t *problems, char *why, size_t why_size);
void claims_attachments_free(claim_attachment_t **items_p, size_t count);

/* A file name an attachment may carry: 1..255 bytes, no path separator,
 * quote or control character, not "." or "..". */
bool claims_filename_valid(const char *name);

/* The media type of a raw upload's Content-Type header ("image/jpeg;
 * charset=x" -> "image/jpeg", lower-cased, parameters dropped) if it is
 * one of allowed (a comma-separated list; spaces around items ignored;
 * "type/" + "*" allows a whole type): true and type_out written. false for
 * a missing, malformed, overlong or unlisted type. */
bool claims_media_type_allowed(const char *allowed, const char *header, char *type_out,
                               size_t type_size);

#endif
