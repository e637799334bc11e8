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

/* Every rule over the submission, with the problems found reading it,
 * into *problems (initialised here, released by the caller in every case),
 * and its body's hash into body_sha256. */
static db_status_t check_submission(db_t *db, submission_t *sub, const char *default_channel,
                                    const intake_trust_t *trust, const json_t *read_errors,
                                    problems_t *problems, char body_sha256[65])
{
    if (problems_init(problems) != 0)
        return db_fail(db, DB_STATE_OUT_OF_MEMORY, "could not read a submission");
    if (read_errors)
        json_array_extend(problems->errors, (json_t *)(uintptr_t)read_errors);
    intake_validate(sub, default_channel, problems);
    intake_check_trust(sub, trust, problems);
    if (submission_hash(sub, body_sha256) != 0)
        return db_fail(db, DB_STATE_OUT_OF_MEMORY, "could not hash a submission");
    return DB_OK;
}

/* placing_intake once check_submission has run. */
static db_status_t place_checked(order_app_t *app, const emitter_t *em, submission_t *sub,
                                 intake_door_t door, const intake_trust_t *trust,
                                 problems_t *problems, const char *body_sha256,
                                 intake_result_t *result)
{
    db_t *db = emitter_db(em);
    db_status_t status = DB_OK;
    char *delivery_text = NULL, *attributes_text = NULL;
    json_t *canonical = NULL;
    if (problems_count(problems) > 0) {
        status = reject(em, sub, door, body_sha256, problems, result);
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
    return status;
}

db_status_t placing_intake(order_app_t *app, const emitter_t *em, submission_t *sub,
                           intake_door_t door, const char *default_channel,
                           const intake_trust_t *trust, const json_t *read_errors,
                           intake_result_t *result)
{
    intake_result_clear(result);
    problems_t problems = {0};
    char body_sha256[65];
    db_status_t status = check_submission(emitter_db(em), sub, default_channel, trust, read_errors,
                                          &problems, body_sha256);
    if (status == DB_OK)
        status = place_checked(app, em, sub, door, trust, &problems, body_sha256, result);
    problems_release(&problems);
    return status;
}

/* ------------------------------------------------------------------ */
/* many at once                                                         */

/* What placing_intake_batch holds for one plain submission. */
typedef struct {
    size_t item;  /* its place in the batch */
    bool applied; /* filed and announced here; else it goes one by one */
    char body_sha256[65];
    char order_id[UUID_TEXT_SIZE], customer_id[UUID_TEXT_SIZE], chosen[UUID_TEXT_SIZE];
    char title[300];
    char *delivery_text, *attributes_text;
} plain_order_t;

static bool same_text(const char *a, const char *b)
{
    return a && b && a[0] && strcmp(a, b) == 0;
}

/* Whether sub shares its key, phone or email with one of the plain ones
 * so far: a customer created by the batch's statement is not seen by the
 * statement's other rows, nor a key claimed by it. */
static bool shares_with_plain(const intake_batch_item_t *items, const plain_order_t *plain,
                              size_t plain_count, const submission_t *sub)
{
    for (size_t k = 0; k < plain_count; k++) {
        const submission_t *other = items[plain[k].item].sub;
        if ((same_text(other->source, sub->source) &&
             same_text(other->external_id, sub->external_id)) ||
            same_text(other->phone_e164, sub->phone_e164) ||
            same_text(other->email_lower, sub->email_lower))
            return true;
    }
    return false;
}

/* What placing_intake_batch found checking one submission. */
typedef struct {
    problems_t problems; /* check_submission's */
    char sha[65];
    bool placed; /* by the batch's statements */
} checked_t;

/* The plain submissions claimed, filed with their customers and managers
 * (two statements for them all) and announced; the ones whose key was
 * claimed before are left to go one by one. */
static db_status_t place_plain(order_app_t *app, intake_batch_item_t *items, plain_order_t *plain,
                               size_t count)
{
    db_t *db = emitter_db(items[0].em);
    intake_claim_row_t *claims = calloc(count, sizeof *claims);
    order_insert_row_t *orders = calloc(count, sizeof *orders);
    size_t *of_order = calloc(count, sizeof *of_order); /* orders[m] is plain[of_order[m]] */
    if (!claims || !orders || !of_order) {
        free(claims);
        free(orders);
        free(of_order);
        return db_fail(db, DB_STATE_OUT_OF_MEMORY, "could not place a batch of orders");
    }
    db_status_t status = DB_OK;
    for (size_t k = 0; k < count && status == DB_OK; k++) {
        const submission_t *sub = items[plain[k].item].sub;
        if (uuid_v4(plain[k].order_id) != 0 || uuid_v4(plain[k].customer_id) != 0)
            status = db_fail(db, DB_STATE_OUT_OF_MEMORY, "could not make an order id");
        claims[k].claim = (intake_claim_t){
            .source = sub->source,
            .external_id = sub->external_id,
            .body_sha256 = plain[k].body_sha256,
            .order_id = plain[k].order_id,
            .door = DOOR_BUS,
            .customer_id = plain[k].customer_id,
            .customer_name = sub->customer_name,
            .phone_e164 = sub->phone_e164[0] ? sub->phone_e164 : NULL,
            .email_lower = sub->email_lower,
        };
    }
    if (status == DB_OK)
        status = store_intake_claim_batch(db, claims, count);

    /* each manager chosen as if the orders came one after another: the
     * choice is counted at once (refused below if the database says no) */
    int64_t now = clock_now_ms();
    size_t placed = 0;
    for (size_t k = 0; k < count && status == DB_OK; k++) {
        if (!claims[k].claimed)
            continue; /* a repeat: answered one by one */
        plain_order_t *p = &plain[k];
        const intake_batch_item_t *item = &items[p->item];
        /* a customer with no manager of their own yet gets one with their
         * first order: a later one of the batch prefers that one, as it
         * would coming after it */
        const char *own = claims[k].customer.manager_id;
        for (size_t m = 0; !own[0] && m < placed; m++)
            if (orders[m].order.manager_id &&
                strcmp(orders[m].order.customer_id, claims[k].customer.id) == 0)
                own = orders[m].order.manager_id;
        status = assignment_choose(app, db, item->sub->region_key, own, p->chosen);
        if (status != DB_OK)
            break;
        if (p->chosen[0])
            assignment_taken(db, p->chosen, true, now);
        json_t *canonical = submission_to_json(item->sub);
        p->delivery_text =
            canonical ? json_dumps(json_object_get(canonical, "delivery"), JSON_COMPACT) : NULL;
        p->attributes_text = json_dumps(item->sub->attributes, JSON_COMPACT);
        json_decref(canonical);
        if (!p->delivery_text || !p->attributes_text) {
            status = db_fail(db, DB_STATE_OUT_OF_MEMORY, "could not write order %s as JSON",
                             p->order_id);
            break;
        }
        intake_title(claims[k].number, item->sub->customer_name, p->title, sizeof p->title);
        orders[placed].order = (order_insert_t){
            .order_id = p->order_id,
            .number = claims[k].number,
            .title = p->title,
            .sub = item->sub,
            .customer_id = claims[k].customer.id,
            .manager_id = p->chosen[0] ? p->chosen : NULL,
            .delivery_json = p->delivery_text,
            .attributes_json = p->attributes_text,
            .sender_prices = item->trust && item->trust->may_set_prices,
            .now_ms = now,
        };
        of_order[placed++] = k;
    }
    if (status == DB_OK && placed > 0)
        status = store_order_insert_batch(db, orders, placed);

    for (size_t m = 0; m < placed && status == DB_OK; m++) {
        size_t k = of_order[m];
        plain_order_t *p = &plain[k];
        intake_batch_item_t *item = &items[p->item];
        const customer_t *customer = &claims[k].customer;
        manager_contact_t contact = {.id = ""};
        if (orders[m].taken) {
            contact = orders[m].contact;
        } else if (p->chosen[0]) {
            /* refused meanwhile (full, off shift): the next one, as
             * placing_intake does */
            assignment_taken(db, p->chosen, false, now);
            status = assignment_pick(app, db, item->sub->region_key, customer->manager_id, NULL,
                                     &contact);
            if (status == DB_OK && contact.id[0])
                status = store_order_first_manager(db, p->order_id, contact.id, customer->id, now);
        }
        if (status == DB_OK)
            status = announce(app, item->em, item->sub, p->order_id, claims[k].number, p->title,
                              customer, &contact, now);
        if (status == DB_OK) {
            p->applied = true;
            intake_result_t *result = &item->result;
            result->outcome = INTAKE_ACCEPTED;
            snprintf(result->order_id, sizeof result->order_id, "%s", p->order_id);
            result->number = claims[k].number;
            snprintf(result->title, sizeof result->title, "%s", p->title);
            snprintf(result->manager_id, sizeof result->manager_id, "%s", contact.id);
        }
    }
    free(claims);
    free(orders);
    free(of_order);
    return status;
}

db_status_t placing_intake_batch(order_app_t *app, intake_batch_item_t *items, size_t count,
                                 size_t *batched_out)
{
    db_t *db = emitter_db(items[0].em);
    *batched_out = 0;
    plain_order_t *plain = calloc(count, sizeof *plain);
    checked_t *checked = calloc(count, sizeof *checked);
    db_status_t status = DB_OK;
    if (!plain || !checked)
        status = db_fail(db, DB_STATE_OUT_OF_MEMORY, "could not place a batch of orders");
    size_t plain_count = 0;
    for (size_t i = 0; i < count && status == DB_OK; i++) {
        intake_result_clear(&items[i].result);
        status = check_submission(db, items[i].sub, "website", items[i].trust, items[i].read_errors,
                                  &checked[i].problems, checked[i].sha);
        if (status == DB_OK && problems_count(&checked[i].problems) == 0 &&
            !shares_with_plain(items, plain, plain_count, items[i].sub)) {
            plain[plain_count].item = i;
            memcpy(plain[plain_count++].body_sha256, checked[i].sha, sizeof checked[i].sha);
        }
    }
    /* alone, it is placing_intake's own case */
    if (status == DB_OK && plain_count > 1)
        status = place_plain(app, items, plain, plain_count);
    for (size_t k = 0; k < plain_count; k++) {
        checked[plain[k].item].placed = plain[k].applied;
        *batched_out += plain[k].applied ? 1 : 0;
    }
    /* the rest as they would have gone alone: rejected, repeated, or
     * sharing a customer or key with one placed above (now stored) */
    for (size_t i = 0; i < count && status == DB_OK; i++)
        if (!checked[i].placed)
            status = place_checked(app, items[i].em, items[i].sub, DOOR_BUS, items[i].trust,
                                   &checked[i].problems, checked[i].sha, &items[i].result);
    for (size_t k = 0; k < plain_count; k++) {
        free(plain[k].delivery_text);
        free(plain[k].attributes_text);
    }
    for (size_t i = 0; checked && i < count; i++)
        problems_release(&checked[i].problems);
    free(plain);
    free(checked);
    return status;
}
