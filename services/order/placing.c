/*
 * placing.c — the intake transaction (placing.h): validate, claim the
 * idempotency key, file the customer and the order, pick its manager,
 * announce it; or keep the rejected submission and say why.
 */
#include "services/order/placing.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/uuid.h"
#include "services/order/assignment.h"
#include "services/order/events.h"
#include "services/order/history.h"
#include "services/order/store.h"

void intake_result_clear(intake_result_t *result)
{
    json_decref(result->reasons);
    memset(result, 0, sizeof *result);
}

/* Keeps the rejected submission (a repeat of the same body is counted on
 * its first row) and answers intake.rejected with every reason. */
static db_status_t reject(const emitter_t *em, submission_t *sub, intake_door_t door,
                          const char *body_sha256, problems_t *problems, intake_result_t *result)
{
    db_t *db = emitter_db(em);
    char new_id[UUID_TEXT_SIZE];
    json_t *canonical = submission_to_json(sub);
    char *submission_text = canonical ? json_dumps(canonical, JSON_COMPACT) : NULL;
    char *reasons_text = json_dumps(problems_errors(problems), JSON_COMPACT);
    json_decref(canonical);
    db_status_t status = DB_OK;
    if (!submission_text || !reasons_text || uuid_v4(new_id) != 0) {
        status = db_fail(db, DB_STATE_OUT_OF_MEMORY, "could not keep the rejected submission %s",
                         sub->external_id ? sub->external_id : "");
        goto done;
    }
    status = store_rejection_record(db, new_id, sub, body_sha256, door, reasons_text,
                                    submission_text, result->rejection_id);
    if (status == DB_OK)
        status = events_intake_rejected(em, sub->source, sub->external_id,
                                        problems_errors(problems), result->rejection_id);
    if (status == DB_OK) {
        result->outcome = INTAKE_REJECTED;
        result->reasons = problems_take(problems);
    }
done:
    free(submission_text);
    free(reasons_text);
    return status;
}

/* The key was used before: the first order's answer (a repeat), or a
 * conflict when the body differs. The bus publisher heard nothing the
 * first time, so it is answered again, as a new event: an effect of the
 * repeated event would share the first answer's id and be dropped as
 * already there. */
static db_status_t answer_repeat(const emitter_t *em, const submission_t *sub, intake_door_t door,
                                 const char *body_sha256, intake_result_t *result)
{
    db_t *db = emitter_db(em);
    intake_key_t key;
    bool found = false;
    db_status_t status = store_intake_find(db, sub->source, sub->external_id, &found, &key);
    if (status != DB_OK)
        return status;
    if (!found) {
        /* claimed by a transaction that rolled back meanwhile: a race lost,
         * run again (tx.h retries 40001; a handler retries a transient) */
        db_fail(db, "40001", "the intake key %s of %s was claimed and let go meanwhile",
                sub->external_id, sub->source);
        return DB_TRANSIENT;
    }
    result->outcome = strcmp(key.body_sha256, body_sha256) == 0 ? INTAKE_REPEAT : INTAKE_CONFLICT;
    snprintf(result->order_id, sizeof result->order_id, "%s", key.order_id);
    result->number = key.number;
    snprintf(result->title, sizeof result->title, "%s", key.title);
    if (door != DOOR_BUS)
        return DB_OK;
    emitter_t fresh = emitter_root(db, em->stream);
    return events_intake_accepted(&fresh, sub->source, sub->external_id, key.order_id, key.number,
                                  key.title);
}

/* The order's first status, its events and its manager. */
static db_status_t announce(order_app_t *app, const emitter_t *em, const submission_t *sub,
                            const char *order_id, uint64_t number, const char *title,
                            const customer_t *customer, const manager_contact_t *contact,
                            int64_t now)
{
    db_t *db = emitter_db(em);
    db_status_t status =
        history_add(db, order_id, "status", NULL, "new", &history_system, "placed", NULL);
    if (status == DB_OK)
        status = events_placed(em, sub, order_id, number, title, customer, now);
    if (status == DB_OK) {
        status_change_t change = {
            .order_id = order_id,
            .version = 1,
            .number = number,
            .from = "",
            .to = "new",
            .group = "new",
            .actor_id = "system",
            .actor_role = "system",
            .reason = "placed",
            .at_ms = now,
            .customer_id = customer->id,
            .channel = sub->channel,
            .method = sub->method,
        };
        status = events_status_changed(em, &change);
    }
    if (status == DB_OK && contact->id[0]) {
        order_t order = {.number = number, .version = 1};
        snprintf(order.id, sizeof order.id, "%s", order_id);
        snprintf(order.title, sizeof order.title, "%s", title);
        const char *reason =
            strcmp(contact->id, customer->manager_id) == 0 ? "customer_manager" : "new_order";
        status = assignment_announce(app, em, &order, 1, contact, NULL, reason);
    }
    if (status == DB_OK)
        status = events_intake_accepted(em, sub->source, sub->external_id, order_id, number, title);
    return status;
}

db_status_t placing_intake(order_app_t *app, const emitter_t *em, submission_t *sub,
                           intake_door_t door, const char *default_channel,
                           const intake_trust_t *trust, const json_t *read_errors,
                           intake_result_t *result)
{
    db_t *db = emitter_db(em);
    intake_result_clear(result);
    problems_t problems;
    if (problems_init(&problems) != 0)
        return db_fail(db, DB_STATE_OUT_OF_MEMORY, "could not read a submission");
    if (read_errors)
        json_array_extend(problems.errors, (json_t *)(uintptr_t)read_errors);
    db_status_t status = DB_OK;
    char *delivery_text = NULL, *attributes_text = NULL;
    json_t *canonical = NULL;
    char body_sha256[65];
    intake_validate(sub, default_channel, &problems);
    intake_check_trust(sub, trust, &problems);
    if (submission_hash(sub, body_sha256) != 0) {
        status = db_fail(db, DB_STATE_OUT_OF_MEMORY, "could not hash a submission");
        goto done;
    }
    if (problems_count(&problems) > 0) {
        status = reject(em, sub, door, body_sha256, &problems, result);
        goto done;
    }

    /* claim the key, and file the customer with it: a repeat finds the
     * first order instead */
    char order_id[UUID_TEXT_SIZE], customer_id[UUID_TEXT_SIZE];
    bool claimed = false;
    uint64_t number = 0;
    if (uuid_v4(order_id) != 0 || uuid_v4(customer_id) != 0) {
        status = db_fail(db, DB_STATE_OUT_OF_MEMORY, "could not make an order id");
        goto done;
    }
    customer_t customer;
    intake_claim_t claim = {
        .source = sub->source,
        .external_id = sub->external_id,
        .body_sha256 = body_sha256,
        .order_id = order_id,
        .door = door,
        .customer_id = customer_id,
        .customer_name = sub->customer_name,
        .phone_e164 = sub->phone_e164[0] ? sub->phone_e164 : NULL,
        .email_lower = sub->email_lower,
    };
    status = store_intake_claim_customer(db, &claim, &claimed, &number, &customer);
    if (status != DB_OK)
        goto done;
    if (!claimed) {
        status = answer_repeat(em, sub, door, body_sha256, result);
        goto done;
    }

    int64_t now = clock_now_ms();
    manager_contact_t contact = {.id = ""};
    /* the manager is chosen here and their slot taken by the insert */
    char chosen[UUID_TEXT_SIZE];
    status = assignment_choose(app, db, sub->region_key, customer.manager_id, chosen);
    if (status != DB_OK)
        goto done;

    canonical = submission_to_json(sub);
    delivery_text =
        canonical ? json_dumps(json_object_get(canonical, "delivery"), JSON_COMPACT) : NULL;
    attributes_text = json_dumps(sub->attributes, JSON_COMPACT);
    if (!delivery_text || !attributes_text) {
        status = db_fail(db, DB_STATE_OUT_OF_MEMORY, "could not write order %s as JSON", order_id);
        goto done;
    }
    char title[300];
    intake_title(number, sub->customer_name, title, sizeof title);
    order_insert_t row = {
        .order_id = order_id,
        .number = number,
        .title = title,
        .sub = sub,
        .customer_id = customer.id,
        .manager_id = chosen[0] ? chosen : NULL,
        .delivery_json = delivery_text,
        .attributes_json = attributes_text,
        .sender_prices = trust && trust->may_set_prices,
        .now_ms = now,
    };
    bool taken = false;
    status = store_order_insert(db, &row, &taken, &contact);
    if (status == DB_OK && chosen[0])
        assignment_taken(db, chosen, taken, now);
    if (status == DB_OK && chosen[0] && !taken) {
        /* refused meanwhile (full, off shift): the next one, as
         * assignment_pick tries them */
        status = assignment_pick(app, db, sub->region_key, customer.manager_id, NULL, &contact);
        if (status == DB_OK && contact.id[0])
            status = store_order_first_manager(db, order_id, contact.id, customer.id, now);
    }
    if (status == DB_OK)
        status = announce(app, em, sub, order_id, number, title, &customer, &contact, now);
    if (status == DB_OK) {
        result->outcome = INTAKE_ACCEPTED;
        snprintf(result->order_id, sizeof result->order_id, "%s", order_id);
        result->number = number;
        snprintf(result->title, sizeof result->title, "%s", title);
        snprintf(result->manager_id, sizeof result->manager_id, "%s", contact.id);
    }
done:
    json_decref(canonical);
    free(delivery_text);
    free(attributes_text);
    problems_release(&problems);
    return status;
}
