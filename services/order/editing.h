/*
 * editing.h — a manager changes an order before it is assembled (issue 14
 * item 1): its lines and quantities, its delivery, its discount.
 *
 * The edit is one transaction on the locked order (editing.c): checked
 * against the version the manager saw and the order's status, the lines
 * replaced (a SKU the order has keeps its line number), the totals
 * recomputed by the totals rule, a history row, and order.changed at the
 * new version. Changed lines make the stock pending until inventory answers
 * for that version (stock.c ignores answers about older lines). A delivery
 * to another region goes to a manager of that region, or to its queue,
 * when its manager does not serve it (assignment_region_changed).
 *
 * An order already confirmed is confirmed again (funnel_reconfirm): at
 * once when its lines stay, after inventory priced the new lines
 * otherwise; the payment service bills the new total. An edit may change
 * how a confirmed order is paid (on delivery / prepaid: a delivery to
 * another method or region) while nothing is paid: confirmed again with
 * the new terms, it moves to where those terms lead (funnel_reconfirm).
 * Once money was taken, such an edit is refused with the amount paid.
 */
#ifndef ORDER_EDITING_H
#define ORDER_EDITING_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/emit.h"
#include "services/order/history.h"
#include "services/order/order.h"
#include "services/order/submission.h"

typedef enum {
    EDIT_OK = 0,
    EDIT_UNCHANGED, /* everything given is as the order has it: nothing written */
    EDIT_NOT_FOUND,
    EDIT_STALE,                /* the order is at another version than the one given */
    EDIT_NOT_EDITABLE,         /* assembled or further, or closed: detail says why */
    EDIT_INVALID,              /* the lines repeat a SKU: detail says which */
    EDIT_TERMS_CHANGE,         /* a confirmed order would be paid another way: detail says how */
    EDIT_DISCOUNT_NOT_ALLOWED, /* above the order's source's max_discount_bp: result names it */
} edit_outcome_t;

/* What the manager asked for, read and validated by intake's rules
 * (intake_validate_contents): contents->items when has_lines, its
 * delivery when has_delivery (region_key set), its discount_bp when
 * has_discount. Borrowed for the call. */
typedef struct {
    const submission_t *contents;
    bool has_lines, has_delivery, has_discount;
    const char *reason; /* may be NULL */
} order_edit_t;

/* Reads an edit's JSON body ({lines?, delivery?, discount_bp?, reason?})
 * by intake's rules (intake_validate_contents) into sub and *edit (which
 * borrows sub and body): lines are read as the submission's items, their
 * problems named lines[...]. 0 with every problem in *errors_out (an
 * array the caller owns, empty when none); -1 on out of memory. */
int editing_read(const json_t *body, submission_t *sub, order_edit_t *edit, json_t **errors_out);

#define EDIT_CHANGES_MAX 3

typedef struct {
    edit_outcome_t outcome;
    uint64_t version;
    char status[32];
    char stock_state[16];
    char detail[200];
    const char *changed[EDIT_CHANGES_MAX]; /* static strings */
    size_t changed_count;
    int64_t lines_minor, discount_minor, delivery_minor, vat_minor, total_minor;
    /* EDIT_DISCOUNT_NOT_ALLOWED: the ceiling and whose it is */
    char source[130];
    int64_t max_discount_bp;
    int64_t discount_bp;
} edit_result_t;

/* Applies the edit to the order as the actor (a manager or an admin),
 * if it is at expected_version and editable (rules_edit_refusal). A
 * discount the edit raises is held to the ceiling intake held the order
 * to (F14): its source's max_discount_bp, whoever edits; a discount kept
 * or lowered is never refused. A refusal is an outcome in
 * result with DB_OK and nothing written (the caller abandons the
 * transaction). Safe to run again from the start (result is reset). */
db_status_t editing_apply(order_app_t *app, const emitter_t *em, const char *order_id,
                          const order_edit_t *edit, const actor_t *actor, uint64_t expected_version,
                          edit_result_t *result);

#endif
