/*
 * orders.c — intake, assignment, the funnel and stock facts (orders.h).
 *
 * Every function here runs inside the caller's transaction and leaves
 * commit to it; the events it appends leave only if that commit succeeds.
 */
#include "services/order/orders.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/envelope.h"
#include "common/jobs.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/outbox.h"
#include "common/txlock.h"
#include "common/uuid.h"
#include "services/order/assign.h"
#include "services/order/calendar.h"
#include "services/order/rules.h"
#include "services/order/totals.h"

#define ASSIGN_LOCK_KEY "orders:assign"

/* ------------------------------------------------------------------ */
/* events                                                               */

db_status_t order_emit(db_t *db, const emitter_t *emitter, const char *type, const char *order_id,
                       const ProtobufCMessage *payload)
{
    if (emitter && emitter->cause)
        return inbox_emit(emitter->cause, type, order_id, payload);
    outbox_meta_t meta = {.stream = "order", .type = type, .correlation_id = order_id};
    return outbox_append_msg(db, &meta, payload, NULL);
}

static db_status_t history(db_t *db, const char *order_id, const char *kind, const char *from,
                           const char *to, const actor_t *actor, const char *reason,
                           const char *detail_json)
{
    const char *role = "system";
    if (actor && actor->roles) {
        static const unsigned order_of_roles[] = {ROLE_ADMIN, ROLE_MANAGER, ROLE_WAREHOUSE,
                                                  ROLE_COURIER, ROLE_SYSTEM};
        for (size_t i = 0; i < sizeof order_of_roles / sizeof order_of_roles[0]; i++) {
            if (actor->roles & order_of_roles[i]) {
                role = auth_role_name(order_of_roles[i]);
                break;
            }
        }
    }
    return store_history_add(db, order_id, clock_now_ms(), kind, from, to,
                             actor ? actor->id : "system", role, reason, detail_json);
}

static const actor_t system_actor = {.id = "system", .name = "conveyor", .roles = ROLE_SYSTEM};

/* ------------------------------------------------------------------ */
/* tasks and timers                                                     */

db_status_t order_task(order_app_t *app, db_t *db, const emitter_t *emitter, const char *kind,
                       const order_t *order, const char *assignee_id, const char *title,
                       int64_t due_at_ms, const char *dedup_key, bool fresh)
{
    (void)app;
    char task_id[UUID_TEXT_SIZE];
    if (uuid_v4(task_id) != 0)
        return DB_ERROR;
    task_insert_t task = {
        .id = task_id,
        .kind = kind,
        .order_id = order ? order->id : NULL,
        .assignee_id = assignee_id,
        .title = title,
        .due_at_ms = due_at_ms,
        .dedup_key = dedup_key,
        .now_ms = clock_now_ms(),
    };
    bool created = true;
    db_status_t status =
        fresh ? store_task_insert_deferred(db, &task) : store_task_insert(db, &task, &created);
    if (status != DB_OK || !created)
        return status;
    Conveyor__TaskCreated msg = CONVEYOR__TASK_CREATED__INIT;
    msg.task_id = task_id;
    msg.kind = pb_lend(kind);
    msg.order_id = pb_lend(order ? order->id : "");
    msg.order_number = order ? order->number : 0;
    msg.assignee_id = pb_lend(assignee_id ? assignee_id : "");
    msg.due_at_ms = due_at_ms;
    msg.title = pb_lend(title);
    return order_emit(db, emitter, "task.created", order ? order->id : "", &msg.base);
}

db_status_t order_business_deadline(db_t *db, int64_t from_ms, int days, int64_t *due_ms_out)
{
    calendar_row_t *rows = NULL;
    size_t count = 0;
    db_status_t status = store_calendar(db, &rows, &count);
    if (status != DB_OK)
        return status;
    calendar_exception_t *exceptions = calloc(count ? count : 1, sizeof *exceptions);
    if (!exceptions) {
        free(rows);
        return DB_ERROR;
    }
    for (size_t i = 0; i < count; i++) {
        exceptions[i].day = rows[i].day;
        exceptions[i].workday = rows[i].workday;
    }
    calendar_t calendar = {.exceptions = exceptions, .count = count};
    *due_ms_out = calendar_add_business_days(&calendar, from_ms, days);
    free(exceptions);
    free(rows);
    return DB_OK;
}

/* Enqueues a timer job about an order (a no-op if its dedup key exists). */
static db_status_t timer(db_t *db, const char *kind, const char *order_id, const char *extra_key,
                         const char *extra_value, int64_t run_at_ms, const char *dedup_key)
{
    json_t *payload = json_pack("{s:s}", "order_id", order_id);
    if (!payload)
        return DB_ERROR;
    if (extra_key)
        json_object_set_new(payload, extra_key, json_string(extra_value));
    char *text = json_dumps(payload, JSON_COMPACT);
    json_decref(payload);
    if (!text)
        return DB_ERROR;
    job_spec_t spec = {
        .kind = kind, .payload = text, .run_at_ms = run_at_ms, .dedup_key = dedup_key};
    db_status_t status = jobs_enqueue_deferred(db, &spec);
    free(text);
    return status;
}

/* ------------------------------------------------------------------ */
/* assignment                                                           */

/* Takes the assignment lock for the rest of the transaction (fairness
 * across replicas); without Redis the database alone keeps capacity.
 * Returns whether the lock is held. */
static bool assignment_lock(order_app_t *app, db_t *db)
{
    locker_t *locker = service_locker(app->svc);
    lock_status_t status = locker ? txlock_hold(db, locker, ASSIGN_LOCK_KEY,
                                                app->assign_lock_ttl_ms, app->assign_lock_wait_ms)
                                  : LOCK_UNAVAILABLE;
    if (status != LOCK_OK) {
        locker_count_bypass("assign");
        log_debug("assigning without the lock",
                  LF_STR("reason", status == LOCK_BUSY ? "busy" : locker_error(locker)),
                  LF_ERR("lock_bypassed"));
    }
    return status == LOCK_OK;
}

/* The managers who could take orders, per region, as this transaction has
 * changed them. While the assignment lock is held nobody else assigns, so
 * the applier reads them once per region and batch and counts the slots it
 * takes itself (a round trip per order saved); the conditional UPDATE of
 * store_manager_take_slot stays the guard. Forgotten when the transaction
 * ends, at a rollback to a savepoint, and whenever a slot is freed. */
#define CACHED_REGIONS_MAX 16

typedef struct {
    db_deferred_t base;
    struct {
        char region[210];
        assign_candidate_t *items;
        size_t count;
    } regions[CACHED_REGIONS_MAX];
    size_t count;
} candidate_cache_t;

static const int candidate_cache_marker = 0;

static db_status_t cache_flush(db_t *db, db_deferred_t *self)
{
    (void)db;
    (void)self;
    return DB_OK;
}

static void cache_clear(db_deferred_t *self)
{
    candidate_cache_t *cache = (candidate_cache_t *)self;
    for (size_t i = 0; i < cache->count; i++)
        free(cache->regions[i].items);
    cache->count = 0;
}

static void cache_after_end(db_deferred_t *self, bool committed)
{
    (void)committed;
    cache_clear(self);
}

static void cache_destroy(db_deferred_t *self)
{
    cache_clear(self);
    free(self);
}

static candidate_cache_t *cache_of(db_t *db, bool create)
{
    candidate_cache_t *cache = (candidate_cache_t *)db_deferred_find(db, &candidate_cache_marker);
    if (cache || !create)
        return cache;
    cache = calloc(1, sizeof *cache);
    if (!cache)
        return NULL;
    cache->base.key = &candidate_cache_marker;
    cache->base.flush = cache_flush;
    cache->base.discard = cache_clear;
    cache->base.after_end = cache_after_end;
    cache->base.destroy = cache_destroy;
    return db_deferred_add_take(db, &cache->base) == 0 ? cache : NULL;
}

/* Forgets what the cache knows (a slot was freed: counts changed). */
static void candidates_forget(db_t *db)
{
    candidate_cache_t *cache = cache_of(db, false);
    if (cache)
        cache_clear(&cache->base);
}

/* Records in every cached region that the manager took one order, or is
 * full (the database refused). */
static void candidates_note(db_t *db, const char *id, bool full, int64_t now_ms)
{
    candidate_cache_t *cache = cache_of(db, false);
    for (size_t r = 0; cache && r < cache->count; r++) {
        for (size_t i = 0; i < cache->regions[r].count; i++) {
            assign_candidate_t *candidate = &cache->regions[r].items[i];
            if (strcmp(candidate->id, id) != 0)
                continue;
            if (full) {
                candidate->open_orders = candidate->capacity;
            } else {
                candidate->open_orders++;
                candidate->last_assigned_ms = now_ms;
            }
        }
    }
}

/* The candidates for a region: from the cache when the lock is held, else
 * read now. *owned tells whether the caller must free them. */
static db_status_t candidates_for(db_t *db, const char *region_key, bool locked,
                                  assign_candidate_t **out, size_t *count_out, bool *owned)
{
    candidate_cache_t *cache = locked ? cache_of(db, true) : NULL;
    for (size_t r = 0; cache && r < cache->count; r++) {
        if (strcmp(cache->regions[r].region, region_key) == 0) {
            *out = cache->regions[r].items;
            *count_out = cache->regions[r].count;
            *owned = false;
            return DB_OK;
        }
    }
    db_status_t status = store_candidates(db, region_key, out, count_out);
    *owned = true;
    if (status == DB_OK && cache && cache->count < CACHED_REGIONS_MAX &&
        strlen(region_key) < sizeof cache->regions[0].region) {
        size_t r = cache->count++;
        snprintf(cache->regions[r].region, sizeof cache->regions[r].region, "%s", region_key);
        cache->regions[r].items = *out;
        cache->regions[r].count = *count_out;
        *owned = false;
    }
    return status;
}

/* Picks a manager and takes one of their slots; *contact->id is "" when
 * nobody can take the order. */
static db_status_t pick_manager(order_app_t *app, db_t *db, const char *region_key,
                                const char *customer_manager_id, const char *exclude_id,
                                manager_contact_t *contact)
{
    contact->id[0] = '\0';
    bool locked = assignment_lock(app, db);
    assign_candidate_t *candidates = NULL;
    size_t count = 0;
    bool owned = false;
    db_status_t status = candidates_for(db, region_key, locked, &candidates, &count, &owned);
    if (status != DB_OK)
        return status;
    /* a candidate the database refuses (full meanwhile, off shift) drops out */
    for (size_t round = 0; round < count; round++) {
        int chosen = assign_pick(candidates, count, customer_manager_id, exclude_id);
        if (chosen < 0)
            break;
        bool taken = false;
        int64_t now = clock_now_ms();
        char id[37];
        snprintf(id, sizeof id, "%s", candidates[chosen].id);
        status = store_manager_take_slot(db, id, now, &taken, contact);
        if (status != DB_OK)
            break;
        if (owned) {
            if (!taken)
                candidates[chosen].open_orders = candidates[chosen].capacity;
        } else {
            candidates_note(db, id, !taken, now);
        }
        if (taken)
            break;
    }
    if (owned)
        free(candidates);
    return status;
}

/* A manager's slot freed: the cached counts no longer hold. */
static db_status_t free_slot(db_t *db, const char *staff_id)
{
    candidates_forget(db);
    return store_manager_free_slot(db, staff_id);
}

static db_status_t announce_assignment(order_app_t *app, db_t *db, const emitter_t *emitter,
                                       const order_t *order, uint64_t version,
                                       const manager_contact_t *contact, const char *previous,
                                       const char *reason)
{
    Conveyor__OrderAssigned msg = CONVEYOR__ORDER_ASSIGNED__INIT;
    msg.order_id = pb_lend(order->id);
    msg.version = version;
    msg.number = order->number;
    msg.manager_id = pb_lend(contact->id);
    msg.manager_name = pb_lend(contact->name);
    msg.manager_email = pb_lend(contact->email);
    msg.manager_phone = pb_lend(contact->phone);
    msg.reassigned = previous && previous[0];
    msg.previous_manager_id = pb_lend(previous ? previous : "");
    msg.reason = pb_lend(reason);
    char detail[256];
    snprintf(detail, sizeof detail, "{\"manager_id\":\"%s\",\"previous_manager_id\":\"%s\"}",
             contact->id, previous ? previous : "");
    int64_t now = clock_now_ms();
    char title[360], dedup[160];
    snprintf(title, sizeof title, "Process new order %s", order->title);
    snprintf(dedup, sizeof dedup, "new_order:%s:%s", order->id, contact->id);
    db_status_t status =
        history(db, order->id, "assigned", NULL, NULL, &system_actor, reason, detail);
    if (status == DB_OK)
        status = order_emit(db, emitter, "order.assigned", order->id, &msg.base);
    if (status == DB_OK)
        status = order_task(app, db, emitter, "new_order", order, contact->id, title,
                            now + app->new_order_task_ms, dedup, !previous || !previous[0]);
    if (status == DB_OK) {
        char key[160];
        snprintf(key, sizeof key, "assign_timeout:%s:%s:%llu", order->id, contact->id,
                 (unsigned long long)version);
        status = timer(db, "assign_timeout", order->id, "manager_id", contact->id,
                       now + app->assign_timeout_ms, key);
    }
    return status;
}

db_status_t order_assign(order_app_t *app, db_t *db, const emitter_t *emitter, order_t *order,
                         const char *reason, bool *assigned)
{
    *assigned = false;
    char previous[37];
    snprintf(previous, sizeof previous, "%s", order->manager_id);
    manager_contact_t contact;
    db_status_t status = pick_manager(app, db, order->region, NULL, previous, &contact);
    if (status != DB_OK || !contact.id[0])
        return status;
    if (previous[0])
        status = free_slot(db, previous);
    uint64_t version = 0;
    if (status == DB_OK)
        status = store_order_set_manager(db, order->id, contact.id, clock_now_ms(), &version);
    if (status != DB_OK)
        return status;
    order->version = version;
    snprintf(order->manager_id, sizeof order->manager_id, "%s", contact.id);
    order->taken_up = false;
    *assigned = true;
    return announce_assignment(app, db, emitter, order, version, &contact, previous, reason);
}

db_status_t order_assign_waiting(order_app_t *app, db_t *db, const emitter_t *emitter, int max,
                                 int *assigned_out)
{
    *assigned_out = 0;
    char(*ids)[37] = calloc((size_t)max, sizeof *ids);
    if (!ids)
        return DB_ERROR;
    int count = 0;
    db_status_t status = store_unassigned(db, max, ids, &count);
    for (int i = 0; status == DB_OK && i < count; i++) {
        order_t order;
        bool found = false;
        status = store_order_lock(db, ids[i], &found, &order);
        if (status != DB_OK || !found || order.manager_id[0])
            continue;
        bool assigned = false;
        status = order_assign(app, db, emitter, &order, "queued", &assigned);
        if (status == DB_OK && assigned)
            (*assigned_out)++;
        /* oldest first: another order of another region may still find someone */
    }
    free(ids);
    return status;
}

/* ------------------------------------------------------------------ */
/* intake                                                               */

void intake_result_clear(intake_result_t *result)
{
    json_decref(result->reasons);
    memset(result, 0, sizeof *result);
}

static db_status_t answer_accepted(db_t *db, const emitter_t *emitter, const submission_t *sub,
                                   const char *order_id, uint64_t number, const char *title)
{
    Conveyor__IntakeAccepted msg = CONVEYOR__INTAKE_ACCEPTED__INIT;
    msg.source = pb_lend(sub->source);
    msg.external_id = pb_lend(sub->external_id);
    msg.order_id = pb_lend(order_id);
    msg.number = number;
    msg.title = pb_lend(title);
    return order_emit(db, emitter, "intake.accepted", order_id, &msg.base);
}

static db_status_t reject(db_t *db, const emitter_t *emitter, submission_t *sub, intake_door_t door,
                          const char *body_sha256, problems_t *problems, intake_result_t *result)
{
    char new_id[UUID_TEXT_SIZE];
    json_t *canonical = submission_to_json(sub);
    char *submission_text = canonical ? json_dumps(canonical, JSON_COMPACT) : NULL;
    char *reasons_text = json_dumps(problems_errors(problems), JSON_COMPACT);
    json_decref(canonical);
    db_status_t status = DB_ERROR;
    Conveyor__RejectionReason **reasons = NULL;
    size_t count = problems_count(problems);
    if (!submission_text || !reasons_text || uuid_v4(new_id) != 0)
        goto done;
    status = store_rejection_record(db, new_id, sub, body_sha256, door, reasons_text,
                                    submission_text, result->rejection_id);
    if (status != DB_OK)
        goto done;
    reasons = calloc(count ? count : 1, sizeof *reasons);
    Conveyor__RejectionReason *items = calloc(count ? count : 1, sizeof *items);
    if (!reasons || !items) {
        free(items);
        status = DB_ERROR;
        goto done;
    }
    for (size_t i = 0; i < count; i++) {
        const json_t *reason = json_array_get(problems_errors(problems), i);
        conveyor__rejection_reason__init(&items[i]);
        items[i].field = pb_lend(json_string_value(json_object_get(reason, "field")));
        items[i].code = pb_lend(json_string_value(json_object_get(reason, "code")));
        items[i].message = pb_lend(json_string_value(json_object_get(reason, "message")));
        reasons[i] = &items[i];
    }
    Conveyor__IntakeRejected msg = CONVEYOR__INTAKE_REJECTED__INIT;
    msg.source = pb_lend(sub->source ? sub->source : "");
    msg.external_id = pb_lend(sub->external_id ? sub->external_id : "");
    msg.n_reasons = count;
    msg.reasons = reasons;
    msg.rejection_id = result->rejection_id;
    status = order_emit(db, emitter, "intake.rejected", "", &msg.base);
    free(items);
    if (status == DB_OK) {
        result->outcome = INTAKE_REJECTED;
        result->reasons = problems_take(problems);
    }
done:
    free(reasons);
    free(submission_text);
    free(reasons_text);
    return status;
}

/* Fills a Delivery message from the submission; strings are lent. */
static void delivery_message(const submission_t *sub, Conveyor__Delivery *delivery,
                             Conveyor__Address *address)
{
    conveyor__delivery__init(delivery);
    conveyor__address__init(address);
    delivery->method = (Conveyor__DeliveryMethod)sub->method;
    delivery->pickup_point_id = pb_lend(sub->pickup_point_id ? sub->pickup_point_id : "");
    delivery->comment = pb_lend(sub->delivery_comment ? sub->delivery_comment : "");
    address->text = pb_lend(sub->address_text ? sub->address_text : "");
    address->country_code = pb_lend(sub->country_code ? sub->country_code : "");
    address->region = pb_lend(sub->region ? sub->region : "");
    address->city = pb_lend(sub->city ? sub->city : "");
    address->postal_code = pb_lend(sub->postal_code ? sub->postal_code : "");
    address->line1 = pb_lend(sub->line1 ? sub->line1 : "");
    address->line2 = pb_lend(sub->line2 ? sub->line2 : "");
    delivery->address = address;
}

static db_status_t announce_placed(db_t *db, const emitter_t *emitter, const submission_t *sub,
                                   const char *order_id, uint64_t number, const char *title,
                                   const customer_t *customer, int64_t now)
{
    size_t count = sub->item_count;
    Conveyor__OrderLine *lines = calloc(count ? count : 1, sizeof *lines);
    Conveyor__OrderLine **line_ptrs = calloc(count ? count : 1, sizeof *line_ptrs);
    Conveyor__Money *prices = calloc(count ? count : 1, sizeof *prices);
    if (!lines || !line_ptrs || !prices) {
        free(lines);
        free(line_ptrs);
        free(prices);
        return DB_ERROR;
    }
    for (size_t i = 0; i < count; i++) {
        conveyor__order_line__init(&lines[i]);
        lines[i].line_no = (uint32_t)(i + 1);
        lines[i].sku = pb_lend(sub->items[i].sku);
        lines[i].name = pb_lend(sub->items[i].name ? sub->items[i].name : "");
        lines[i].quantity = (uint32_t)sub->items[i].quantity;
        if (sub->items[i].has_price) {
            conveyor__money__init(&prices[i]);
            prices[i].amount_minor = sub->items[i].price_minor;
            prices[i].currency = pb_lend("RUB");
            lines[i].sender_price = &prices[i];
        }
        line_ptrs[i] = &lines[i];
    }
    Conveyor__OrderCustomer who = CONVEYOR__ORDER_CUSTOMER__INIT;
    who.customer_id = pb_lend(customer->id);
    who.name = pb_lend(sub->customer_name);
    who.phone = pb_lend(sub->phone_e164);
    who.email = pb_lend(sub->email_lower ? sub->email_lower : "");
    Conveyor__Delivery delivery;
    Conveyor__Address address;
    delivery_message(sub, &delivery, &address);

    Conveyor__OrderPlaced placed = CONVEYOR__ORDER_PLACED__INIT;
    placed.order_id = pb_lend(order_id);
    placed.version = 1;
    placed.number = number;
    placed.title = pb_lend(title);
    placed.customer = &who;
    placed.delivery = &delivery;
    placed.n_lines = count;
    placed.lines = line_ptrs;
    placed.channel = pb_lend(sub->channel);
    placed.source = pb_lend(sub->source);
    placed.external_id = pb_lend(sub->external_id);
    placed.discount_bp = (uint32_t)sub->discount_bp;
    placed.currency = pb_lend(sub->currency ? sub->currency : "RUB");
    placed.placed_at_ms = now;
    placed.region = pb_lend(sub->region_key);

    Conveyor__OrderStatusChanged changed = CONVEYOR__ORDER_STATUS_CHANGED__INIT;
    changed.order_id = pb_lend(order_id);
    changed.version = 1;
    changed.number = number;
    changed.from_status = pb_lend("");
    changed.to_status = pb_lend("new");
    changed.group = pb_lend("new");
    changed.actor_id = pb_lend("system");
    changed.actor_role = pb_lend("system");
    changed.reason = pb_lend("placed");
    changed.changed_at_ms = now;
    changed.customer_id = pb_lend(customer->id);
    changed.channel = pb_lend(sub->channel);
    changed.delivery_method = (Conveyor__DeliveryMethod)sub->method;

    db_status_t status = order_emit(db, emitter, "order.placed", order_id, &placed.base);
    if (status == DB_OK)
        status = order_emit(db, emitter, "order.status_changed", order_id, &changed.base);
    free(lines);
    free(line_ptrs);
    free(prices);
    return status;
}

db_status_t order_intake(order_app_t *app, db_t *db, const emitter_t *emitter, submission_t *sub,
                         intake_door_t door, const char *default_channel,
                         const intake_trust_t *trust, const json_t *read_errors,
                         intake_result_t *result)
{
    memset(result, 0, sizeof *result);
    problems_t problems;
    if (problems_init(&problems) != 0)
        return DB_ERROR;
    if (read_errors)
        json_array_extend(problems.errors, (json_t *)(uintptr_t)read_errors);
    db_status_t status = DB_OK;
    char *delivery_text = NULL, *attributes_text = NULL;
    json_t *canonical = NULL;
    char body_sha256[65];
    intake_validate(sub, default_channel, &problems);
    intake_check_trust(sub, trust, &problems);
    if (submission_hash(sub, body_sha256) != 0) {
        status = DB_ERROR;
        goto done;
    }
    if (problems_count(&problems) > 0) {
        status = reject(db, emitter, sub, door, body_sha256, &problems, result);
        goto done;
    }

    /* claim the key: a repeat finds the first order instead */
    char order_id[UUID_TEXT_SIZE];
    bool claimed = false;
    uint64_t number = 0;
    if (uuid_v4(order_id) != 0) {
        status = DB_ERROR;
        goto done;
    }
    status = store_intake_claim(db, sub->source, sub->external_id, body_sha256, order_id, door,
                                &claimed, &number);
    if (status != DB_OK)
        goto done;
    if (!claimed) {
        intake_key_t key;
        bool found = false;
        status = store_intake_find(db, sub->source, sub->external_id, &found, &key);
        if (status != DB_OK)
            goto done;
        if (!found) {
            status = DB_TRANSIENT; /* claimed by a transaction that rolled back: try again */
            goto done;
        }
        result->outcome =
            strcmp(key.body_sha256, body_sha256) == 0 ? INTAKE_REPEAT : INTAKE_CONFLICT;
        snprintf(result->order_id, sizeof result->order_id, "%s", key.order_id);
        result->number = key.number;
        snprintf(result->title, sizeof result->title, "%s", key.title);
        /* the bus publisher heard nothing the first time: answer again, as a
         * new event (an effect of the repeated event would share the first
         * answer's id and be dropped as already there) */
        if (door == DOOR_BUS) {
            emitter_t fresh = {.cause = NULL};
            status = answer_accepted(db, &fresh, sub, key.order_id, key.number, key.title);
        }
        goto done;
    }

    int64_t now = clock_now_ms();
    customer_t customer;
    char customer_id[UUID_TEXT_SIZE];
    if (uuid_v4(customer_id) != 0) {
        status = DB_ERROR;
        goto done;
    }
    status = store_customer_for_order(db, customer_id, sub->customer_name,
                                      sub->phone_e164[0] ? sub->phone_e164 : NULL, sub->email_lower,
                                      &customer);
    if (status != DB_OK)
        goto done;

    manager_contact_t contact;
    status = pick_manager(app, db, sub->region_key, customer.manager_id, NULL, &contact);
    if (status != DB_OK)
        goto done;

    canonical = submission_to_json(sub);
    delivery_text =
        canonical ? json_dumps(json_object_get(canonical, "delivery"), JSON_COMPACT) : NULL;
    attributes_text = json_dumps(sub->attributes, JSON_COMPACT);
    if (!delivery_text || !attributes_text) {
        status = DB_ERROR;
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
        .manager_id = contact.id[0] ? contact.id : NULL,
        .delivery_json = delivery_text,
        .attributes_json = attributes_text,
        .sender_prices = trust && trust->may_set_prices,
        .now_ms = now,
    };
    status = store_order_insert(db, &row);
    if (status == DB_OK)
        status = history(db, order_id, "status", NULL, "new", &system_actor, "placed", NULL);
    if (status == DB_OK)
        status = announce_placed(db, emitter, sub, order_id, number, title, &customer, now);
    if (status == DB_OK && contact.id[0]) {
        order_t order = {.number = number};
        snprintf(order.id, sizeof order.id, "%s", order_id);
        snprintf(order.title, sizeof order.title, "%s", title);
        const char *reason =
            strcmp(contact.id, customer.manager_id) == 0 ? "customer_manager" : "new_order";
        status = announce_assignment(app, db, emitter, &order, 1, &contact, NULL, reason);
    }
    if (status == DB_OK)
        status = answer_accepted(db, emitter, sub, order_id, number, title);
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

/* ------------------------------------------------------------------ */
/* the funnel                                                           */

void move_result_clear(move_result_t *result)
{
    json_decref(result->moves);
    memset(result, 0, sizeof *result);
}

static void totals_message(const order_t *order, Conveyor__OrderTotals *totals)
{
    conveyor__order_totals__init(totals);
    totals->lines_minor = order->lines_minor;
    totals->discount_minor = order->discount_minor;
    totals->delivery_minor = order->delivery_minor;
    totals->vat_minor = order->vat_minor;
    totals->total_minor = order->total_minor;
    totals->currency = pb_lend(order->currency);
    totals->weight_g = (uint32_t)order->weight_g;
}

/* The order's priced lines as messages; caller frees *lines_out, *ptrs_out
 * and *rows_out (the strings live in rows). */
static db_status_t priced_lines(db_t *db, const order_t *order, Conveyor__PricedLine **lines_out,
                                Conveyor__PricedLine ***ptrs_out, order_line_t **rows_out,
                                size_t *count_out)
{
    order_line_t *rows = NULL;
    size_t count = 0;
    db_status_t status = store_lines_get(db, order->id, &rows, &count);
    if (status != DB_OK)
        return status;
    Conveyor__PricedLine *lines = calloc(count ? count : 1, sizeof *lines);
    Conveyor__PricedLine **ptrs = calloc(count ? count : 1, sizeof *ptrs);
    if (!lines || !ptrs) {
        free(lines);
        free(ptrs);
        free(rows);
        return DB_ERROR;
    }
    /* amounts were stored with the reservation; recompute them for the message */
    totals_line_t *calc = calloc(count ? count : 1, sizeof *calc);
    if (!calc) {
        free(lines);
        free(ptrs);
        free(rows);
        return DB_ERROR;
    }
    for (size_t i = 0; i < count; i++) {
        calc[i].line_no = rows[i].line_no;
        calc[i].unit_price_minor = rows[i].unit_price_minor > 0 ? rows[i].unit_price_minor : 0;
        calc[i].quantity = rows[i].quantity;
        calc[i].vat_rate_bp = rows[i].vat_rate_bp;
        calc[i].unit_weight_g = rows[i].unit_weight_g;
    }
    totals_t totals;
    if (totals_compute(calc, count, order->discount_bp, 0, &totals) != 0) {
        log_error("order totals overflow", LF_STR("order_id", order->id),
                  LF_ERR("totals_overflow"));
        free(calc);
        free(lines);
        free(ptrs);
        free(rows);
        return DB_ERROR;
    }
    for (size_t i = 0; i < count; i++) {
        conveyor__priced_line__init(&lines[i]);
        lines[i].line_no = rows[i].line_no;
        lines[i].sku = rows[i].sku;
        lines[i].name = rows[i].name;
        lines[i].quantity = (uint32_t)rows[i].quantity;
        lines[i].unit_price_minor = calc[i].unit_price_minor;
        lines[i].vat_rate_bp = rows[i].vat_rate_bp;
        lines[i].unit_weight_g = rows[i].unit_weight_g;
        lines[i].amount_minor = calc[i].amount_minor;
        lines[i].discount_minor = calc[i].discount_minor;
        lines[i].total_minor = calc[i].total_minor;
        lines[i].vat_minor = calc[i].vat_minor;
        ptrs[i] = &lines[i];
    }
    free(calc);
    *lines_out = lines;
    *ptrs_out = ptrs;
    *rows_out = rows;
    *count_out = count;
    return DB_OK;
}

/* The delivery price and the total an order is confirmed with: goods
 * (lines less the discount, which never exceeds them) plus delivery, the
 * override or the price list's. *fits false when the total would not fit
 * int64 (the outputs are then unspecified). */
static db_status_t confirm_totals(db_t *db, const order_t *order, int64_t *delivery_out,
                                  int64_t *total_out, bool *fits)
{
    int64_t goods = order->lines_minor - order->discount_minor;
    *delivery_out = order->delivery_override_minor;
    *fits = true;
    db_status_t status = DB_OK;
    if (*delivery_out < 0)
        status = store_delivery_price(db, order->method, order->region, goods, delivery_out);
    if (status == DB_OK && __builtin_add_overflow(goods, *delivery_out, total_out))
        *fits = false;
    return status;
}

/* order.confirmed with the terms, decided and stored now. */
static db_status_t confirm_order(order_app_t *app, db_t *db, const emitter_t *emitter,
                                 order_t *order, uint64_t version)
{
    int64_t delivery = 0, total = 0;
    bool fits = true;
    db_status_t status = confirm_totals(db, order, &delivery, &total, &fits);
    if (status != DB_OK)
        return status;
    if (!fits) { /* order_move checked it before moving: only a price list changed meanwhile */
        log_error("an order's total does not fit in 64 bits", LF_STR("order_id", order->id),
                  LF_ERR("totals_overflow"));
        return DB_ERROR;
    }
    order->delivery_minor = delivery;
    order->total_minor = total;
    const char *terms =
        rules_payment_terms(order->method, order->region, app->local_region, order->total_minor);
    snprintf(order->payment_terms, sizeof order->payment_terms, "%s", terms);
    order_totals_row_t row = {.lines_minor = order->lines_minor,
                              .discount_minor = order->discount_minor,
                              .delivery_minor = order->delivery_minor,
                              .vat_minor = order->vat_minor,
                              .total_minor = order->total_minor,
                              .weight_g = order->weight_g};
    status = store_order_set_terms(db, order->id, terms, &row);
    if (status != DB_OK)
        return status;

    Conveyor__PricedLine *lines = NULL, **ptrs = NULL;
    order_line_t *rows = NULL;
    size_t count = 0;
    status = priced_lines(db, order, &lines, &ptrs, &rows, &count);
    if (status != DB_OK)
        return status;
    Conveyor__OrderTotals totals;
    totals_message(order, &totals);
    Conveyor__OrderCustomer who = CONVEYOR__ORDER_CUSTOMER__INIT;
    who.customer_id = pb_lend(order->customer_id);
    Conveyor__OrderConfirmed msg = CONVEYOR__ORDER_CONFIRMED__INIT;
    msg.order_id = pb_lend(order->id);
    msg.version = version;
    msg.number = order->number;
    msg.customer = &who;
    msg.n_lines = count;
    msg.lines = ptrs;
    msg.totals = &totals;
    msg.payment_terms = strcmp(terms, "prepay") == 0 ? CONVEYOR__PAYMENT_TERMS__PAYMENT_TERMS_PREPAY
                        : strcmp(terms, "none") == 0
                            ? CONVEYOR__PAYMENT_TERMS__PAYMENT_TERMS_NONE
                            : CONVEYOR__PAYMENT_TERMS__PAYMENT_TERMS_ON_DELIVERY;
    msg.due_minor = strcmp(terms, "prepay") == 0 ? order->total_minor : 0;
    status = order_emit(db, emitter, "order.confirmed", order->id, &msg.base);
    free(lines);
    free(ptrs);
    free(rows);
    return status;
}

static db_status_t ready_to_ship(db_t *db, const emitter_t *emitter, const order_t *order,
                                 uint64_t version)
{
    Conveyor__OrderTotals totals;
    totals_message(order, &totals);
    Conveyor__OrderReadyToShip msg = CONVEYOR__ORDER_READY_TO_SHIP__INIT;
    msg.order_id = pb_lend(order->id);
    msg.version = version;
    msg.number = order->number;
    msg.cod_minor = strcmp(order->payment_terms, "on_delivery") == 0 ? order->total_minor : 0;
    msg.totals = &totals;
    return order_emit(db, emitter, "order.ready_to_ship", order->id, &msg.base);
}

static db_status_t apply_status(order_app_t *app, db_t *db, const emitter_t *emitter,
                                order_t *order, const char *to, const actor_t *actor,
                                const char *reason, int depth);

/* A move conveyor makes itself, if the matrix lets `system` make it (the
 * matrix is data: a store that removed the move gets no move, and a log). */
static db_status_t system_move(order_app_t *app, db_t *db, const emitter_t *emitter, order_t *order,
                               const char *to, const char *reason, int depth)
{
    bool allowed = false;
    db_status_t status = store_transition_allowed(db, order->status, to, ROLE_SYSTEM, &allowed);
    if (status != DB_OK)
        return status;
    if (!allowed) {
        log_warn("the transition matrix has no system move for this", LF_STR("order_id", order->id),
                 LF_STR("from", order->status), LF_STR("to", to), LF_ERR("move_not_in_matrix"));
        return DB_OK;
    }
    return apply_status(app, db, emitter, order, to, &system_actor, reason, depth);
}

/* The fact events and follow-ups of arriving in a status. */
static db_status_t on_arrival(order_app_t *app, db_t *db, const emitter_t *emitter, order_t *order,
                              const char *from, const actor_t *actor, const char *reason, int depth)
{
    const char *to = order->status;
    uint64_t version = order->version;
    int64_t now = clock_now_ms();
    db_status_t status = DB_OK;
    if (rules_group_final(order->group) && order->manager_id[0])
        status = free_slot(db, order->manager_id);
    if (status != DB_OK)
        return status;
    if (strcmp(to, "confirmed") == 0) {
        status = confirm_order(app, db, emitter, order, version);
        if (status == DB_OK)
            status =
                system_move(app, db, emitter, order, rules_after_confirmed(order->payment_terms),
                            order->payment_terms, depth + 1);
    } else if (strcmp(to, "prepare_for_delivery") == 0) {
        status = ready_to_ship(db, emitter, order, version);
    } else if (strcmp(to, "payment_received") == 0) {
        status = system_move(app, db, emitter, order, "prepare_for_delivery", "paid", depth + 1);
    } else if (strcmp(to, "awaiting_payment") == 0 || strcmp(to, "handed_to_carrier") == 0) {
        bool unpaid = strcmp(to, "awaiting_payment") == 0;
        int64_t due = 0;
        status = order_business_deadline(db, now, app->reminder_business_days, &due);
        char key[160];
        snprintf(key, sizeof key, "%s:%s:%llu", unpaid ? "unpaid_reminder" : "not_delivered_check",
                 order->id, (unsigned long long)version);
        if (status == DB_OK)
            status = timer(db, unpaid ? "unpaid_reminder" : "not_delivered_check", order->id,
                           "expect_status", to, due, key);
    } else if (strcmp(to, "assembled") == 0) {
        Conveyor__OrderAssembled msg = CONVEYOR__ORDER_ASSEMBLED__INIT;
        msg.order_id = pb_lend(order->id);
        msg.version = version;
        msg.number = order->number;
        msg.weight_g = (uint32_t)order->weight_g;
        status = order_emit(db, emitter, "order.assembled", order->id, &msg.base);
    } else if (strcmp(to, "delivered") == 0) {
        Conveyor__OrderDelivered msg = CONVEYOR__ORDER_DELIVERED__INIT;
        msg.order_id = pb_lend(order->id);
        msg.version = version;
        msg.number = order->number;
        status = order_emit(db, emitter, "order.delivered", order->id, &msg.base);
        if (status == DB_OK)
            status = store_customer_spent(db, order->customer_id, order->total_minor,
                                          app->vip_threshold_minor);
    } else if (strcmp(to, "cancelled") == 0) {
        Conveyor__OrderCancelled msg = CONVEYOR__ORDER_CANCELLED__INIT;
        msg.order_id = pb_lend(order->id);
        msg.version = version;
        msg.number = order->number;
        msg.reason = pb_lend(reason ? reason : "");
        msg.actor_id = pb_lend(actor->id);
        msg.from_status = pb_lend(from);
        status = order_emit(db, emitter, "order.cancelled", order->id, &msg.base);
    }
    return status;
}

static db_status_t apply_status(order_app_t *app, db_t *db, const emitter_t *emitter,
                                order_t *order, const char *to, const actor_t *actor,
                                const char *reason, int depth)
{
    if (depth > 3)
        return DB_OK; /* follow-ups never chain further; the matrix would be wrong */
    char from[32];
    snprintf(from, sizeof from, "%s", order->status);
    uint64_t version = 0;
    int64_t now = clock_now_ms();
    db_status_t status = store_order_set_status(
        db, order->id, to, strcmp(to, "cancelled") == 0 ? reason : NULL, now, &version);
    if (status == DB_OK)
        status = store_status_group(db, to, order->group);
    if (status != DB_OK)
        return status;
    order->version = version;
    snprintf(order->status, sizeof order->status, "%s", to);
    status = history(db, order->id, "status", from, to, actor, reason, NULL);
    if (status != DB_OK)
        return status;
    Conveyor__OrderStatusChanged msg = CONVEYOR__ORDER_STATUS_CHANGED__INIT;
    msg.order_id = order->id;
    msg.version = version;
    msg.number = order->number;
    msg.from_status = from;
    msg.to_status = order->status;
    msg.group = order->group;
    msg.actor_id = pb_lend(actor->id);
    msg.actor_role = pb_lend(actor->roles & ROLE_SYSTEM ? "system" : "staff");
    msg.reason = pb_lend(reason ? reason : "");
    msg.changed_at_ms = now;
    msg.customer_id = order->customer_id;
    msg.channel = order->channel;
    msg.delivery_method = (Conveyor__DeliveryMethod)intake_method_parse(order->method);
    status = order_emit(db, emitter, "order.status_changed", order->id, &msg.base);
    if (status == DB_OK)
        status = on_arrival(app, db, emitter, order, from, actor, reason, depth);
    return status;
}

db_status_t order_move(order_app_t *app, db_t *db, const emitter_t *emitter, const char *order_id,
                       const char *to, const actor_t *actor, const char *reason,
                       uint64_t expected_version, move_result_t *result)
{
    memset(result, 0, sizeof *result);
    order_t order;
    bool found = false;
    db_status_t status = store_order_lock(db, order_id, &found, &order);
    if (status != DB_OK)
        return status;
    if (!found) {
        result->outcome = MOVE_NOT_FOUND;
        return DB_OK;
    }
    snprintf(result->from, sizeof result->from, "%s", order.status);
    snprintf(result->to, sizeof result->to, "%s", to);
    result->version = order.version;
    if (expected_version && expected_version != order.version) {
        result->outcome = MOVE_STALE;
        snprintf(result->detail, sizeof result->detail,
                 "the order is at version %llu now, not %llu", (unsigned long long)order.version,
                 (unsigned long long)expected_version);
        return DB_OK;
    }
    bool allowed = false;
    if (strcmp(order.status, to) != 0)
        status = store_transition_allowed(db, order.status, to, actor->roles, &allowed);
    if (status != DB_OK)
        return status;
    if (!allowed) {
        result->outcome = MOVE_NOT_ALLOWED;
        return store_transitions_from(db, order.status, actor->roles, &result->moves);
    }
    if (rules_needs_reason(to) && (!reason || !reason[0])) {
        result->outcome = MOVE_NEEDS_REASON;
        snprintf(result->detail, sizeof result->detail, "moving to %s needs a reason", to);
        return DB_OK;
    }
    if (strcmp(to, "confirmed") == 0 && strcmp(order.stock_state, "reserved") != 0) {
        result->outcome = MOVE_NOT_READY;
        snprintf(result->detail, sizeof result->detail,
                 "the order's stock is %s: it can be confirmed once every line is reserved",
                 order.stock_state);
        return DB_OK;
    }
    if (strcmp(to, "confirmed") == 0) {
        int64_t delivery = 0, total = 0;
        bool fits = true;
        status = confirm_totals(db, &order, &delivery, &total, &fits);
        if (status != DB_OK)
            return status;
        if (!fits) {
            result->outcome = MOVE_NOT_READY;
            snprintf(result->detail, sizeof result->detail,
                     "the goods and the delivery add up to more than %lld kopecks: check the "
                     "prices",
                     (long long)INT64_MAX);
            return DB_OK;
        }
    }
    if (order.manager_id[0] && strcmp(order.manager_id, actor->id) == 0 && !order.taken_up)
        status = store_order_taken_up(db, order.id, clock_now_ms());
    if (status == DB_OK)
        status = apply_status(app, db, emitter, &order, to, actor, reason, 0);
    if (status == DB_OK) {
        result->outcome = MOVE_OK;
        result->version = order.version;
        snprintf(result->to, sizeof result->to, "%s", order.status);
    }
    return status;
}

db_status_t order_take_up(order_app_t *app, db_t *db, const char *order_id, const actor_t *actor,
                          bool *found)
{
    (void)app;
    order_t order;
    db_status_t status = store_order_lock(db, order_id, found, &order);
    if (status != DB_OK || !*found)
        return status;
    status = store_order_taken_up(db, order_id, clock_now_ms());
    if (status == DB_OK)
        status = history(db, order_id, "taken_up", NULL, NULL, actor, "", NULL);
    return status;
}

/* ------------------------------------------------------------------ */
/* stock facts                                                          */

/* An order whose sums do not fit int64 (catalogue prices past any real
 * shop): the fact is refused for good, parked with its own code for a
 * person to look at, never computed with a wrapped sum. */
static db_status_t refuse_overflow(const emitter_t *emitter, const order_t *order, const char *what)
{
    log_error("an order's sum does not fit in 64 bits", LF_STR("order_id", order->id),
              LF_STR("sum", what), LF_ERR("totals_overflow"));
    if (emitter && emitter->cause)
        inbox_reject(emitter->cause, "totals_overflow",
                     "order %s: %s add up to more than %lld kopecks", order->id, what,
                     (long long)INT64_MAX);
    return DB_ERROR;
}

db_status_t order_on_stock_reserved(order_app_t *app, db_t *db, const emitter_t *emitter,
                                    const Conveyor__StockReserved *msg)
{
    order_t order;
    bool found = false;
    db_status_t status = store_order_lock(db, msg->order_id, &found, &order);
    if (status != DB_OK || !found)
        return status;
    if (rules_group_final(order.group)) {
        /* a late fact: recorded; inventory releases on the cancellation it also sees */
        return history(db, order.id, "stock", NULL, NULL, &system_actor,
                       "reserved after the order was closed", NULL);
    }
    order_line_t *rows = NULL;
    size_t count = 0;
    status = store_lines_get(db, order.id, &rows, &count);
    if (status != DB_OK)
        return status;
    totals_line_t *calc = calloc(count ? count : 1, sizeof *calc);
    if (!calc) {
        free(rows);
        return DB_ERROR;
    }
    for (size_t i = 0; i < count; i++) {
        const Conveyor__ReservedLine *reserved = NULL;
        for (size_t k = 0; k < msg->n_lines; k++)
            if (msg->lines[k]->line_no == rows[i].line_no)
                reserved = msg->lines[k];
        int64_t price = reserved ? reserved->unit_price_minor : 0;
        if (order.sender_prices && rows[i].sender_price_minor >= 0)
            price = rows[i].sender_price_minor;
        calc[i].line_no = rows[i].line_no;
        calc[i].unit_price_minor = price;
        calc[i].quantity = rows[i].quantity;
        calc[i].vat_rate_bp = reserved ? reserved->vat_rate_bp : 0;
        calc[i].unit_weight_g = reserved ? reserved->unit_weight_g : 0;
        if (reserved && !rows[i].name[0])
            snprintf(rows[i].name, sizeof rows[i].name, "%s", reserved->name);
    }
    totals_t totals;
    if (totals_compute(calc, count, order.discount_bp, 0, &totals) != 0) {
        free(calc);
        free(rows);
        return refuse_overflow(emitter, &order, "the lines' amounts");
    }
    int64_t delivery = order.delivery_override_minor;
    int64_t total = 0;
    if (delivery < 0)
        status = store_delivery_price(db, order.method, order.region,
                                      totals.lines_minor - totals.discount_minor, &delivery);
    if (status == DB_OK &&
        __builtin_add_overflow(totals.lines_minor - totals.discount_minor, delivery, &total)) {
        free(calc);
        free(rows);
        return refuse_overflow(emitter, &order, "the goods and the delivery");
    }
    for (size_t i = 0; i < count; i++) {
        rows[i].unit_price_minor = calc[i].unit_price_minor;
        rows[i].vat_rate_bp = calc[i].vat_rate_bp;
        rows[i].unit_weight_g = calc[i].unit_weight_g;
        rows[i].amount_minor = calc[i].amount_minor;
        rows[i].discount_minor = calc[i].discount_minor;
        rows[i].total_minor = calc[i].total_minor;
        rows[i].vat_minor = calc[i].vat_minor;
    }
    free(calc);
    if (status == DB_OK)
        status = store_lines_set_amounts(db, order.id, rows, count);
    free(rows);
    order_totals_row_t row = {.lines_minor = totals.lines_minor,
                              .discount_minor = totals.discount_minor,
                              .delivery_minor = delivery,
                              .vat_minor = totals.vat_minor,
                              .total_minor = total,
                              .weight_g = totals.weight_g};
    uint64_t version = 0;
    if (status == DB_OK)
        status = store_order_set_stock(db, order.id, "reserved", &row, &version);
    if (status != DB_OK)
        return status;
    order.version = version;
    order.lines_minor = row.lines_minor;
    order.discount_minor = row.discount_minor;
    order.delivery_minor = row.delivery_minor;
    order.vat_minor = row.vat_minor;
    order.total_minor = row.total_minor;
    order.weight_g = row.weight_g;
    snprintf(order.stock_state, sizeof order.stock_state, "reserved");
    status = history(db, order.id, "stock", NULL, NULL, &system_actor, "reserved", NULL);
    if (status != DB_OK)
        return status;

    Conveyor__PricedLine *lines = NULL, **ptrs = NULL;
    order_line_t *priced_rows = NULL;
    size_t priced = 0;
    status = priced_lines(db, &order, &lines, &ptrs, &priced_rows, &priced);
    if (status != DB_OK)
        return status;
    Conveyor__OrderTotals totals_msg;
    totals_message(&order, &totals_msg);
    Conveyor__OrderReserved reserved = CONVEYOR__ORDER_RESERVED__INIT;
    reserved.order_id = order.id;
    reserved.version = version;
    reserved.number = order.number;
    reserved.n_lines = priced;
    reserved.lines = ptrs;
    reserved.totals = &totals_msg;
    status = order_emit(db, emitter, "order.reserved", order.id, &reserved.base);
    free(lines);
    free(ptrs);
    free(priced_rows);
    if (status == DB_OK && strcmp(order.status, "awaiting_supply") == 0) {
        status = system_move(app, db, emitter, &order, "new", "stock arrived", 0);
        char title[360], dedup[100];
        snprintf(title, sizeof title, "The awaited goods of %s arrived: call the customer",
                 order.title);
        snprintf(dedup, sizeof dedup, "supply_arrived:%s:%llu", order.id,
                 (unsigned long long)version);
        if (status == DB_OK)
            status = order_task(app, db, emitter, "supply_arrived", &order, order.manager_id, title,
                                clock_now_ms(), dedup, false);
    }
    return status;
}

db_status_t order_on_stock_shortage(order_app_t *app, db_t *db, const emitter_t *emitter,
                                    const Conveyor__StockShortage *msg)
{
    order_t order;
    bool found = false;
    db_status_t status = store_order_lock(db, msg->order_id, &found, &order);
    if (status != DB_OK || !found)
        return status;
    json_t *detail = json_array();
    for (size_t i = 0; detail && i < msg->n_lines; i++) {
        const Conveyor__ShortLine *line = msg->lines[i];
        json_array_append_new(detail,
                              json_pack("{s:i,s:s,s:i,s:i,s:s,s:s}", "line_no", (int)line->line_no,
                                        "sku", line->sku, "requested", (int)line->requested,
                                        "available", (int)line->available, "reason", line->reason,
                                        "expected_date", line->expected_date));
    }
    json_t *wrapped = json_pack("{s:o}", "lines", detail ? detail : json_array());
    char *detail_text = wrapped ? json_dumps(wrapped, JSON_COMPACT) : NULL;
    json_decref(wrapped);
    uint64_t version = 0;
    if (!rules_group_final(order.group))
        status = store_order_set_stock(db, order.id, "short", NULL, &version);
    if (status == DB_OK)
        status = history(db, order.id, "stock", NULL, NULL, &system_actor, "shortage", detail_text);
    free(detail_text);
    if (status != DB_OK || rules_group_final(order.group))
        return status;
    order.version = version;
    if (strcmp(order.status, "new") == 0 || strcmp(order.status, "no_answer") == 0)
        status = system_move(app, db, emitter, &order, "awaiting_supply", "stock shortage", 0);
    if (status == DB_OK && order.manager_id[0]) {
        char title[360], dedup[100];
        snprintf(title, sizeof title, "Stock is short for %s: tell the customer when it is due",
                 order.title);
        snprintf(dedup, sizeof dedup, "stock_shortage:%s:%llu", order.id,
                 (unsigned long long)msg->order_version);
        status = order_task(app, db, emitter, "stock_shortage", &order, order.manager_id, title,
                            clock_now_ms(), dedup, false);
    }
    return status;
}

db_status_t order_on_stock_note(order_app_t *app, db_t *db, const char *order_id, const char *what,
                                const char *detail_json)
{
    (void)app;
    order_t order;
    bool found = false;
    db_status_t status = store_order_lock(db, order_id, &found, &order);
    if (status != DB_OK || !found)
        return status;
    const char *state = strcmp(what, "released") == 0    ? "released"
                        : strcmp(what, "committed") == 0 ? "committed"
                                                         : NULL;
    uint64_t version = 0;
    if (state)
        status = store_order_set_stock(db, order_id, state, NULL, &version);
    if (status == DB_OK)
        status = history(db, order_id, "stock", NULL, NULL, &system_actor, what, detail_json);
    return status;
}

/* ------------------------------------------------------------------ */
/* payment and shipping facts                                           */

static bool status_in(const char *status, const char *const *list)
{
    for (size_t i = 0; list && list[i]; i++)
        if (strcmp(status, list[i]) == 0)
            return true;
    return false;
}

static db_status_t fact_task(order_app_t *app, db_t *db, const emitter_t *emitter,
                             const order_t *order, const char *kind, const char *what,
                             const char *topic)
{
    char title[400], dedup[160];
    snprintf(title, sizeof title, "%s: %s", order->title, what);
    /* one task per fact and order version: a repeat of the fact adds none */
    snprintf(dedup, sizeof dedup, "%s:%s:%s:%llu", kind, topic, order->id,
             (unsigned long long)order->version);
    return order_task(app, db, emitter, kind, order, order->manager_id, title, clock_now_ms(),
                      dedup, false);
}

db_status_t order_on_fact(order_app_t *app, db_t *db, const emitter_t *emitter,
                          const order_fact_t *fact, fact_outcome_t *outcome)
{
    *outcome = FACT_UNKNOWN_ORDER;
    order_t order;
    bool found = false;
    db_status_t status = store_order_lock(db, fact->order_id, &found, &order);
    if (status != DB_OK || !found)
        return status;
    if (fact->state_json)
        status = store_order_merge_state(db, order.id, fact->stream, fact->state_json);
    if (status == DB_OK)
        status = history(db, order.id, fact->stream, NULL, NULL, &system_actor, fact->topic,
                         fact->detail_json);
    if (status != DB_OK)
        return status;
    *outcome = FACT_RECORDED;
    bool wants_move = fact->to && strcmp(order.status, fact->to) != 0;
    if (wants_move && rules_group_final(order.group)) {
        /* money for a cancelled order, a parcel delivered after a cancel:
         * kept, and a person sorts it out */
        *outcome = FACT_LATE;
        if (!fact->late_task)
            return DB_OK;
        log_warn("a fact arrived after the order's final status: recorded, task opened",
                 LF_STR("order_id", order.id), LF_STR("status", order.status),
                 LF_STR("fact", fact->topic), LF_ERR("fact_after_final_status"));
        char what[200];
        snprintf(what, sizeof what, "%s arrived while the order is %s: sort it out", fact->topic,
                 order.status);
        return fact_task(app, db, emitter, &order, "late_fact", what, fact->topic);
    }
    if (wants_move && status_in(order.status, fact->from)) {
        status = system_move(app, db, emitter, &order, fact->to, fact->topic, 0);
        if (status == DB_OK)
            *outcome = FACT_APPLIED;
    } else if (!wants_move) {
        *outcome = FACT_APPLIED;
    }
    if (status == DB_OK && fact->task_kind)
        status =
            fact_task(app, db, emitter, &order, fact->task_kind, fact->task_title, fact->topic);
    return status;
}

db_status_t order_expiry_timer(db_t *db, const char *order_id, const char *invoice_id,
                               int64_t run_at_ms)
{
    char key[200];
    snprintf(key, sizeof key, "invoice_expired:%s:%s", order_id, invoice_id);
    return timer(db, "invoice_expired", order_id, "invoice_id", invoice_id, run_at_ms, key);
}

db_status_t order_expire_unpaid(order_app_t *app, db_t *db, const emitter_t *emitter,
                                const char *order_id, const char *invoice_id, bool *cancelled)
{
    *cancelled = false;
    order_t order;
    bool found = false;
    db_status_t status = store_order_lock(db, order_id, &found, &order);
    if (status != DB_OK || !found || strcmp(order.status, "awaiting_payment") != 0)
        return status; /* paid, cancelled or moved on by hand meanwhile */
    char current[128] = "";
    status = store_order_invoice(db, order_id, current, sizeof current);
    if (status != DB_OK || strcmp(current, invoice_id) != 0)
        return status; /* a newer invoice is out: its own expiry decides */
    status = system_move(app, db, emitter, &order, "cancelled", "invoice expired", 0);
    *cancelled = status == DB_OK && strcmp(order.status, "cancelled") == 0;
    return status;
}
