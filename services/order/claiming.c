/*
 * claiming.c — the claims funnel's transactions (claiming.h): filing,
 * moving, and the effects of approval, each in the caller's transaction.
 */
#include "services/order/claiming.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/uuid.h"
#include "services/order/events.h"
#include "services/order/placing.h"
#include "services/order/store.h"

void claiming_result_clear(claiming_result_t *result)
{
    json_decref(result->problems);
    result->problems = NULL;
}

static void reset(claiming_result_t *result)
{
    claiming_result_clear(result);
    *result = (claiming_result_t){0};
}

/* Orders a claim may be filed for: their goods reached the customer. */
static bool delivered(const char *status)
{
    return status && (strcmp(status, "delivered") == 0 || strcmp(status, "completed") == 0 ||
                      strcmp(status, "returned") == 0);
}

/* The claim's move in its own history and in its order's (kind "claim"). */
static db_status_t record(db_t *db, const json_t *claim, const char *from, const char *to,
                          const actor_t *actor, const char *comment, int64_t at_ms)
{
    const char *claim_id = json_string_value(json_object_get(claim, "id"));
    db_status_t status = store_claim_history_add(db, claim_id, at_ms, from, to, actor->id,
                                                 history_role_name(actor), comment);
    if (status != DB_OK)
        return status;
    json_t *detail =
        json_pack("{s:s,s:s?,s:s?}", "claim_id", claim_id, "type",
                  json_string_value(json_object_get(claim, "type")), "comment", comment);
    char *text = detail ? json_dumps(detail, JSON_COMPACT) : NULL;
    json_decref(detail);
    if (!text)
        return db_fail(db, DB_STATE_OUT_OF_MEMORY, "no room for claim %s's history", claim_id);
    status = history_add(db, json_string_value(json_object_get(claim, "order_id")), "claim", from,
                         to, actor, json_string_value(json_object_get(claim, "name")), text);
    free(text);
    return status;
}

db_status_t claiming_create(order_app_t *app, const emitter_t *em, const claim_request_t *request,
                            const actor_t *actor, claiming_result_t *result)
{
    (void)app;
    reset(result);
    db_t *db = emitter_db(em);
    problems_t problems;
    if (problems_init(&problems) != 0)
        return db_fail(db, DB_STATE_OUT_OF_MEMORY, "no room for a claim's problems");
    json_t *order = NULL, *lines = NULL, *claim = NULL;
    char *lines_text = NULL;
    db_status_t status = store_claim_order_json(db, request->order_id, &order);
    if (status != DB_OK)
        goto done;
    if (!order) {
        result->outcome = CLAIMING_NOT_FOUND;
        goto done;
    }
    if (!delivered(json_string_value(json_object_get(order, "status")))) {
        result->outcome = CLAIMING_NOT_DELIVERED;
        goto done;
    }
    if (!claims_type_valid(request->type))
        problems_add(&problems, "type", "invalid", "exchange, refund or repair");
    if (!claims_reason_valid(request->reason))
        problems_add(&problems, "reason", "invalid",
                     "defect, wrong_item, not_as_described, damaged_in_transit, changed_mind "
                     "or other");
    if (request->comment && strlen(request->comment) > CLAIMS_COMMENT_MAX)
        problems_add(&problems, "comment", "too_long", "at most %d bytes", CLAIMS_COMMENT_MAX);
    int64_t amount = 0;
    if (claims_pick_lines(json_object_get(order, "lines"), json_object_get(order, "claimed"),
                          request->lines, &lines, &amount, &problems) < 0) {
        status = db_fail(db, DB_STATE_OUT_OF_MEMORY, "no room for a claim's lines");
        goto done;
    }
    if (problems_count(&problems) > 0) {
        result->outcome = CLAIMING_INVALID;
        result->problems = problems_take(&problems);
        goto done;
    }
    int64_t now = clock_now_ms();
    char name[CLAIMS_NAME_SIZE];
    claims_name(request->type, now, name);
    lines_text = json_dumps(lines, JSON_COMPACT);
    if (!lines_text || uuid_v4(result->claim_id) != 0) {
        status = db_fail(db, DB_STATE_OUT_OF_MEMORY, "no room for a claim");
        goto done;
    }
    claim_row_t row = {.id = result->claim_id,
                       .order_id = request->order_id,
                       .name = name,
                       .type = request->type,
                       .reason = request->reason,
                       .comment = request->comment,
                       .lines_json = lines_text,
                       .amount_minor = amount,
                       .created_by = actor->id,
                       .at_ms = now};
    status = store_claim_insert(db, &row);
    for (size_t i = 0; status == DB_OK && i < request->attachment_count; i++) {
        const claim_attachment_t *file = &request->attachments[i];
        char id[UUID_TEXT_SIZE];
        if (uuid_v4(id) != 0)
            status = db_fail(db, DB_STATE_OUT_OF_MEMORY, "no id for an attachment");
        else
            status = store_claim_attachment_add(db, id, result->claim_id, file->filename,
                                                file->content_type, file->data, file->len, now);
    }
    if (status == DB_OK)
        status = store_claim_lock_json(db, result->claim_id, &claim);
    if (status == DB_OK && !claim)
        status = db_fail(db, "XX000", "claim %s vanished", result->claim_id);
    if (status == DB_OK)
        status = record(db, claim, NULL, "under_review", actor, request->comment, now);
    if (status == DB_OK) {
        claim_change_t change = {.claim = claim,
                                 .comment = request->comment,
                                 .actor_id = actor->id,
                                 .actor_role = history_role_name(actor),
                                 .at_ms = now};
        status = events_claim_changed(em, "claim.created", &change);
    }
    if (status == DB_OK) {
        result->outcome = CLAIMING_OK;
        snprintf(result->status, sizeof result->status, "under_review");
    }
done:
    free(lines_text);
    json_decref(order);
    json_decref(lines);
    json_decref(claim);
    problems_release(&problems);
    return status;
}

static const char *text_of(const json_t *object, const char *name)
{
    const char *text = json_string_value(json_object_get(object, name));
    return text ? text : "";
}

static char *dup_or_null(const char *text)
{
    return text && text[0] ? strdup(text) : NULL;
}

/* An approved exchange's replacement: the same customer, delivery and
 * items at no charge, filed through the ordinary intake (source "claims",
 * external id the claim's id: at most one per claim) and then freed of a
 * delivery price. */
static db_status_t file_replacement(order_app_t *app, const emitter_t *em, const json_t *claim,
                                    char order_id_out[37], claiming_result_t *result)
{
    db_t *db = emitter_db(em);
    customer_contact_t contact;
    char *delivery_text = NULL;
    db_status_t status = store_customer_contact(db, text_of(claim, "customer_id"), &contact);
    if (status == DB_OK)
        status = store_order_delivery(db, text_of(claim, "order_id"), &delivery_text);
    if (status != DB_OK)
        return status;
    json_t *delivery = delivery_text ? json_loads(delivery_text, 0, NULL) : NULL;
    free(delivery_text);
    const json_t *where = json_object_get(delivery, "address");
    const json_t *lines = json_object_get(claim, "lines");
    submission_t sub;
    submission_init(&sub);
    sub.source = strdup("claims");
    sub.external_id = strdup(text_of(claim, "id"));
    sub.channel = strdup(text_of(claim, "channel"));
    sub.customer_name = strdup(contact.name);
    sub.phone = dup_or_null(contact.phone);
    sub.email = dup_or_null(contact.email);
    sub.method = intake_method_parse(text_of(delivery, "method"));
    sub.method_text = dup_or_null(text_of(delivery, "method"));
    sub.pickup_point_id = dup_or_null(text_of(delivery, "pickup_point_id"));
    sub.delivery_comment = dup_or_null(text_of(delivery, "comment"));
    sub.address_text = dup_or_null(text_of(where, "text"));
    sub.country_code = dup_or_null(text_of(where, "country_code"));
    sub.region = dup_or_null(text_of(where, "region"));
    sub.city = dup_or_null(text_of(where, "city"));
    sub.postal_code = dup_or_null(text_of(where, "postal_code"));
    sub.line1 = dup_or_null(text_of(where, "line1"));
    sub.line2 = dup_or_null(text_of(where, "line2"));
    char comment[160];
    snprintf(comment, sizeof comment, "%s for order No. %lld", text_of(claim, "name"),
             (long long)json_integer_value(json_object_get(claim, "order_number")));
    sub.comment = strdup(comment);
    sub.attributes = json_pack("{s:s}", "claim_id", text_of(claim, "id"));
    sub.item_count = json_array_size(lines);
    sub.items = calloc(sub.item_count ? sub.item_count : 1, sizeof *sub.items);
    bool oom = !sub.source || !sub.external_id || !sub.channel || !sub.customer_name ||
               !sub.comment || !sub.attributes || !sub.items;
    for (size_t i = 0; !oom && i < sub.item_count; i++) {
        const json_t *line = json_array_get(lines, i);
        sub.items[i].sku = strdup(text_of(line, "sku"));
        sub.items[i].name = strdup(text_of(line, "name"));
        sub.items[i].quantity = json_integer_value(json_object_get(line, "quantity"));
        sub.items[i].has_price = true;
        sub.items[i].price_minor = 0;
        oom = !sub.items[i].sku || !sub.items[i].name;
    }
    json_decref(delivery);
    if (oom) {
        submission_free(&sub);
        return db_fail(db, DB_STATE_OUT_OF_MEMORY, "no room for a replacement order");
    }
    intake_trust_t trust = {.may_set_prices = true, .max_discount_bp = 0};
    intake_result_t placed = {0};
    status =
        placing_intake(app, em, &sub, DOOR_HTTP, text_of(claim, "channel"), &trust, NULL, &placed);
    if (status == DB_OK && placed.outcome == INTAKE_REJECTED) {
        result->outcome = CLAIMING_REPLACEMENT_REFUSED;
        result->problems = json_incref(placed.reasons);
    } else if (status == DB_OK) {
        snprintf(order_id_out, 37, "%s", placed.order_id);
        status = store_order_free_delivery(db, placed.order_id);
    }
    intake_result_clear(&placed);
    submission_free(&sub);
    return status;
}

db_status_t claiming_move(order_app_t *app, const emitter_t *em, const char *claim_id,
                          const char *to, const char *comment, const actor_t *actor,
                          claiming_result_t *result)
{
    reset(result);
    db_t *db = emitter_db(em);
    json_t *claim = NULL;
    db_status_t status = store_claim_lock_json(db, claim_id, &claim);
    if (status != DB_OK)
        return status;
    if (!claim) {
        result->outcome = CLAIMING_NOT_FOUND;
        return DB_OK;
    }
    snprintf(result->claim_id, sizeof result->claim_id, "%s", claim_id);
    const char *type = text_of(claim, "type");
    snprintf(result->from, sizeof result->from, "%s", text_of(claim, "status"));
    snprintf(result->status, sizeof result->status, "%s", result->from);
    if (comment && strlen(comment) > CLAIMS_COMMENT_MAX) {
        result->outcome = CLAIMING_INVALID;
        result->problems = json_pack("[{s:s,s:s,s:s}]", "field", "comment", "code", "too_long",
                                     "message", "at most 2000 bytes");
        json_decref(claim);
        return DB_OK;
    }
    claim_move_t verdict = claims_move_check(type, result->from, to, actor->roles);
    if (verdict != CLAIM_MOVE_OK) {
        result->outcome =
            verdict == CLAIM_MOVE_FORBIDDEN ? CLAIMING_FORBIDDEN : CLAIMING_NOT_ALLOWED;
        json_decref(claim);
        return DB_OK;
    }
    int64_t now = clock_now_ms();
    bool decision = claims_is_decision(to);
    bool approved = strcmp(to, "approved") == 0;
    char replacement[37] = "", request_id[UUID_TEXT_SIZE] = "";
    if (approved && strcmp(type, "exchange") == 0 && !text_of(claim, "replacement_order_id")[0])
        status = file_replacement(app, em, claim, replacement, result);
    if (status == DB_OK && result->outcome == CLAIMING_REPLACEMENT_REFUSED) {
        json_decref(claim);
        return DB_OK;
    }
    if (status == DB_OK && approved && strcmp(type, "refund") == 0 &&
        !text_of(claim, "refund_request_id")[0] && uuid_v4(request_id) != 0)
        status = db_fail(db, DB_STATE_OUT_OF_MEMORY, "no id for a refund request");
    claim_move_row_t row = {.claim_id = claim_id,
                            .status = to,
                            .decision = decision ? to : NULL,
                            .comment = comment,
                            .replacement_order_id = replacement[0] ? replacement : NULL,
                            .refund_request_id = request_id[0] ? request_id : NULL,
                            .at_ms = now};
    if (status == DB_OK)
        status = store_claim_move(db, &row);
    json_t *after = NULL;
    if (status == DB_OK)
        status = store_claim_lock_json(db, claim_id, &after);
    if (status == DB_OK && !after)
        status = db_fail(db, "XX000", "claim %s vanished", claim_id);
    if (status == DB_OK)
        status = record(db, after, result->from, to, actor, comment, now);
    if (status == DB_OK && request_id[0])
        status = events_refund_requested(em, after, request_id, actor->id);
    const char *topic = decision                       ? "claim.decided"
                        : strcmp(to, "completed") == 0 ? "claim.completed"
                                                       : NULL;
    if (status == DB_OK && topic) {
        claim_change_t change = {.claim = after,
                                 .comment = comment,
                                 .actor_id = actor->id,
                                 .actor_role = history_role_name(actor),
                                 .at_ms = now};
        status = events_claim_changed(em, topic, &change);
    }
    if (status == DB_OK) {
        result->outcome = CLAIMING_OK;
        snprintf(result->status, sizeof result->status, "%s", to);
    }
    json_decref(after);
    json_decref(claim);
    return status;
}

db_status_t claiming_refunded(order_app_t *app, const emitter_t *em, const char *claim_id)
{
    if (!claim_id || !uuid_valid(claim_id))
        return DB_OK;
    json_t *claim = NULL;
    db_status_t status = store_claim_lock_json(emitter_db(em), claim_id, &claim);
    bool due = status == DB_OK && claim && strcmp(text_of(claim, "type"), "refund") == 0 &&
               strcmp(text_of(claim, "status"), "approved") == 0;
    json_decref(claim);
    if (!due)
        return status;
    claiming_result_t result = {0};
    status =
        claiming_move(app, em, claim_id, "completed", "refund.succeeded", &history_system, &result);
    if (status == DB_OK && result.outcome != CLAIMING_OK)
        log_warn("a refunded claim could not be completed", LF_STR("claim_id", claim_id),
                 LF_STR("from", result.from), LF_ERR("claim_not_completed"));
    claiming_result_clear(&result);
    return status;
}

db_status_t claiming_attach(db_t *db, const char *claim_id, const claim_upload_file_t *file,
                            const claims_limits_t *limits, claiming_result_t *result)
{
    reset(result);
    json_t *claim = NULL;
    db_status_t status = store_claim_lock_json(db, claim_id, &claim);
    if (status != DB_OK)
        return status;
    if (!claim) {
        result->outcome = CLAIMING_NOT_FOUND;
        return DB_OK;
    }
    snprintf(result->claim_id, sizeof result->claim_id, "%s", claim_id);
    snprintf(result->status, sizeof result->status, "%s", text_of(claim, "status"));
    json_decref(claim);
    if (strcmp(result->status, "rejected") == 0 || strcmp(result->status, "completed") == 0) {
        result->outcome = CLAIMING_CLOSED;
        return DB_OK;
    }
    int64_t count = 0, bytes = 0;
    status = store_claim_attachment_totals(db, claim_id, &count, &bytes);
    if (status != DB_OK)
        return status;
    if ((size_t)count >= limits->max_count) {
        result->outcome = CLAIMING_INVALID;
        result->problems = json_pack("[{s:s,s:s,s:s}]", "field", "attachments", "code", "too_many",
                                     "message", "the claim holds as many attachments as it may");
        return result->problems ? DB_OK : db_fail(db, DB_STATE_OUT_OF_MEMORY, "no room");
    }
    if ((size_t)bytes > limits->max_total || file->len > limits->max_total - (size_t)bytes) {
        result->outcome = CLAIMING_TOO_LARGE;
        snprintf(result->detail, sizeof result->detail,
                 "the claim holds %lld bytes of attachments; with %zu more it would pass %zu",
                 (long long)bytes, file->len, limits->max_total);
        return DB_OK;
    }
    char id[UUID_TEXT_SIZE];
    if (uuid_v4(id) != 0)
        return db_fail(db, DB_STATE_OUT_OF_MEMORY, "no id for an attachment");
    return store_claim_attachment_add(db, id, claim_id, file->filename, file->content_type,
                                      file->data, file->len, clock_now_ms());
}
