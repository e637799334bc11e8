/*
 * returning.c — a cancelled order's refund waiting for its parcel
 * (returning.h).
 */
#include "services/order/returning.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/uuid.h"
#include "services/order/events.h"

#define RETURN_ID_MAX 100 /* order_return_refunds.return_id */

/* Statuses in which the parcel is with the carrier (inventory keeps its
 * stock held on a cancellation from them too: docs/events.md). */
static bool parcel_out(const char *from)
{
    return from && (strcmp(from, "handed_to_carrier") == 0 || strcmp(from, "rescheduled") == 0);
}

static db_status_t merge_payment(db_t *db, const char *order_id, json_t *state_taken)
{
    char *text = state_taken ? json_dumps(state_taken, JSON_COMPACT) : NULL;
    json_decref(state_taken);
    if (!text)
        return db_fail(db, DB_STATE_OUT_OF_MEMORY, "no room for order %s's refund state", order_id);
    db_status_t status = store_order_merge_state(db, order_id, "payment", text);
    free(text);
    return status;
}

db_status_t returning_cancelled(db_t *db, const order_t *order, const char *from,
                                bool *refund_on_return)
{
    *refund_on_return = false;
    if (!parcel_out(from))
        return DB_OK;
    int64_t paid = 0;
    db_status_t status = store_order_paid(db, order->id, &paid);
    int64_t held = paid < order->total_minor ? paid : order->total_minor;
    if (status != DB_OK || held <= 0) /* cash on delivery, or nothing paid: nothing to give back */
        return status;
    status = store_refund_hold_open(db, order->id, held);
    if (status == DB_OK)
        status = merge_payment(db, order->id,
                               json_pack("{s:s,s:I}", "refund_state", "pending_return",
                                         "refund_held_minor", (json_int_t)held));
    if (status == DB_OK)
        *refund_on_return = true;
    return status;
}

static const order_line_t *line_of(const order_line_t *lines, size_t count, int64_t line_no)
{
    for (size_t i = 0; i < count; i++)
        if (lines[i].line_no == line_no)
            return &lines[i];
    return NULL;
}

/* The received lines at what the customer paid for them (their share of
 * the line's total after discount), as refund.requested's lines; their
 * sum into *value. A line the order does not have is left out. */
static db_status_t priced_lines(db_t *db, const char *order_id, const json_t *received,
                                json_t **lines_out, int64_t *value)
{
    *lines_out = NULL;
    *value = 0;
    order_line_t *lines = NULL;
    size_t count = 0;
    db_status_t status = store_lines_get(db, order_id, &lines, &count);
    if (status != DB_OK)
        return status;
    json_t *out = json_array();
    size_t i;
    const json_t *got;
    json_array_foreach(received, i, got)
    {
        if (!out)
            break;
        const order_line_t *line =
            line_of(lines, count, json_integer_value(json_object_get(got, "line_no")));
        int64_t quantity = json_integer_value(json_object_get(got, "quantity"));
        if (!line || line->quantity <= 0 || quantity <= 0)
            continue;
        if (quantity > line->quantity)
            quantity = line->quantity;
        int64_t share = (int64_t)((__int128)line->total_minor * quantity / line->quantity);
        *value += share;
        json_t *priced = json_pack("{s:I,s:s,s:s,s:I,s:I,s:I}", "line_no",
                                   (json_int_t)line->line_no, "sku", line->sku, "name", line->name,
                                   "quantity", (json_int_t)quantity, "total_minor",
                                   (json_int_t)share, "vat_rate_bp", (json_int_t)line->vat_rate_bp);
        if (!priced || json_array_append_new(out, priced) != 0) {
            json_decref(out);
            out = NULL;
        }
    }
    free(lines);
    if (!out)
        return db_fail(db, DB_STATE_OUT_OF_MEMORY, "no room for order %s's returned lines",
                       order_id);
    *lines_out = out;
    return DB_OK;
}

db_status_t returning_received(const emitter_t *em, const order_t *order, const json_t *fact)
{
    db_t *db = emitter_db(em);
    const char *return_id = json_string_value(json_object_get(fact, "return_id"));
    if (!return_id || !return_id[0])
        return DB_OK;
    if (strlen(return_id) > RETURN_ID_MAX)
        return db_fail(db, DB_STATE_BAD_DATA, "order %s: a return id of %zu bytes", order->id,
                       strlen(return_id));
    bool found = false;
    int64_t held = 0, asked = 0;
    db_status_t status = store_refund_hold_lock(db, order->id, &found, &held, &asked);
    if (status != DB_OK || !found) /* no refund waits for this parcel */
        return status;
    int64_t left = held - asked;
    int64_t amount = left > 0 ? left : 0;
    json_t *lines = NULL;
    if (!json_is_true(json_object_get(fact, "whole"))) {
        int64_t value = 0;
        status = priced_lines(db, order->id, json_object_get(fact, "lines"), &lines, &value);
        if (status != DB_OK)
            return status;
        if (value < amount)
            amount = value;
        if (amount != value) { /* capped: one refund line for the money, not the goods */
            json_decref(lines);
            lines = NULL;
        }
    }
    char request_id[UUID_TEXT_SIZE];
    bool claimed = false;
    if (uuid_v4(request_id) != 0)
        status = db_fail(db, DB_STATE_OUT_OF_MEMORY, "no id for a refund request");
    if (status == DB_OK)
        status = store_return_refund_claim(db, order->id, return_id, request_id, amount, &claimed);
    if (status != DB_OK || !claimed || amount <= 0) {
        if (status == DB_OK && !claimed)
            log_info("a return already refunded was heard again: nothing asked",
                     LF_STR("order_id", order->id), LF_STR("return_id", return_id));
        json_decref(lines);
        return status;
    }
    char reason[160];
    snprintf(reason, sizeof reason, "Возврат посылки отменённого заказа %llu",
             (unsigned long long)order->number);
    const char *actor = json_string_value(json_object_get(fact, "actor"));
    json_t *request =
        json_pack("{s:s,s:s,s:s,s:I,s:o}", "id", "", "order_id", order->id, "name", reason,
                  "amount_minor", (json_int_t)amount, "lines", lines ? lines : json_array());
    if (!request)
        return db_fail(db, DB_STATE_OUT_OF_MEMORY, "no room for order %s's refund request",
                       order->id);
    status = events_refund_requested(em, request, request_id, actor ? actor : "");
    json_decref(request);
    if (status == DB_OK)
        status = merge_payment(db, order->id,
                               json_pack("{s:s,s:s}", "refund_state",
                                         left > amount ? "pending_return" : "requested",
                                         "refund_request_id", request_id));
    return status;
}
