/*
 * assignment.c — who works an order (assignment.h).
 *
 * Fairness across replicas comes from one lock (Redis, held for the rest
 * of the transaction: txlock.h); capacity is kept by the database itself
 * (store_manager_take_slot's conditional UPDATE), so without Redis the
 * spread may be less even but nobody goes over capacity.
 */
#include "services/order/assignment.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/jobs.h"
#include "common/log.h"
#include "common/txlock.h"
#include "services/order/assign.h"
#include "services/order/events.h"
#include "services/order/tasks.h"

#define ASSIGN_LOCK_KEY "orders:assign"

/* Takes the assignment lock for the rest of the transaction; without
 * Redis the database alone keeps capacity. Returns whether it is held. */
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
    DB_MEMO_HEAD;
    struct {
        char region[210];
        assign_candidate_t *items;
        size_t count;
    } regions[CACHED_REGIONS_MAX];
    size_t count;
} candidate_cache_t;

static const int candidate_cache_marker = 0;

static void cache_clear(db_deferred_t *self)
{
    candidate_cache_t *cache = (candidate_cache_t *)self;
    for (size_t i = 0; i < cache->count; i++)
        free(cache->regions[i].items);
    cache->count = 0;
}

static candidate_cache_t *cache_of(db_t *db, bool create)
{
    return (candidate_cache_t *)db_memo_of(db, &candidate_cache_marker,
                                           create ? sizeof(candidate_cache_t) : 0, cache_clear);
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

/* A region's candidates as assignment_choose and assignment_pick see them:
 * the assignment lock taken first (so the cache may serve them), then from
 * the cache or read now. Release with candidates_release. */
typedef struct {
    assign_candidate_t *items;
    size_t count;
    bool owned; /* read for this call only: candidates_release frees them */
} region_candidates_t;

static db_status_t candidates_take(order_app_t *app, db_t *db, const char *region_key,
                                   region_candidates_t *out)
{
    bool locked = assignment_lock(app, db);
    *out = (region_candidates_t){0};
    return candidates_for(db, region_key, locked, &out->items, &out->count, &out->owned);
}

static void candidates_release(region_candidates_t *in_region)
{
    if (in_region->owned)
        free(in_region->items);
    *in_region = (region_candidates_t){0};
}

db_status_t assignment_choose(order_app_t *app, db_t *db, const char *region_key,
                              const char *customer_manager_id, char id_out[37])
{
    id_out[0] = '\0';
    region_candidates_t in_region;
    db_status_t status = candidates_take(app, db, region_key, &in_region);
    if (status != DB_OK)
        return status;
    int chosen = assign_pick(in_region.items, in_region.count, customer_manager_id, NULL);
    if (chosen >= 0)
        snprintf(id_out, 37, "%s", in_region.items[chosen].id);
    candidates_release(&in_region);
    return DB_OK;
}

void assignment_taken(db_t *db, const char *id, bool taken, int64_t now_ms)
{
    candidates_note(db, id, !taken, now_ms);
}

db_status_t assignment_pick(order_app_t *app, db_t *db, const char *region_key,
                            const char *customer_manager_id, const char *exclude_id,
                            manager_contact_t *contact)
{
    contact->id[0] = '\0';
    region_candidates_t in_region;
    db_status_t status = candidates_take(app, db, region_key, &in_region);
    if (status != DB_OK)
        return status;
    assign_candidate_t *candidates = in_region.items;
    size_t count = in_region.count;
    bool owned = in_region.owned;
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
    candidates_release(&in_region);
    return status;
}

db_status_t assignment_free_slot(db_t *db, const char *staff_id)
{
    candidates_forget(db);
    return store_manager_free_slot(db, staff_id);
}

db_status_t assignment_announce(order_app_t *app, const emitter_t *em, const order_t *order,
                                uint64_t version, const manager_contact_t *contact,
                                const char *previous, const char *reason)
{
    db_t *db = emitter_db(em);
    char detail[256];
    snprintf(detail, sizeof detail, "{\"manager_id\":\"%s\",\"previous_manager_id\":\"%s\"}",
             contact->id, previous ? previous : "");
    int64_t now = clock_now_ms();
    char title[360], dedup[160];
    snprintf(title, sizeof title, "Process new order %s", order->title);
    snprintf(dedup, sizeof dedup, "new_order:%s:%s", order->id, contact->id);
    db_status_t status =
        history_add(db, order->id, "assigned", NULL, NULL, &history_system, reason, detail);
    if (status == DB_OK)
        status = events_assigned(em, order, version, contact, previous, reason);
    if (status == DB_OK)
        status = tasks_open(em, "new_order", order, contact->id, title,
                            now + app->new_order_task_ms, dedup, !previous || !previous[0]);
    if (status == DB_OK) {
        char key[160];
        snprintf(key, sizeof key, "assign_timeout:%s:%s:%llu", order->id, contact->id,
                 (unsigned long long)version);
        status = tasks_timer(db, "assign_timeout", order->id, "manager_id", contact->id,
                             now + app->assign_timeout_ms, key);
    }
    return status;
}

db_status_t assignment_assign(order_app_t *app, const emitter_t *em, order_t *order,
                              const char *reason, bool *assigned)
{
    db_t *db = emitter_db(em);
    *assigned = false;
    char previous[37];
    snprintf(previous, sizeof previous, "%s", order->manager_id);
    manager_contact_t contact;
    db_status_t status = assignment_pick(app, db, order->region, NULL, previous, &contact);
    if (status != DB_OK || !contact.id[0])
        return status;
    if (previous[0])
        status = assignment_free_slot(db, previous);
    uint64_t version = 0;
    if (status == DB_OK)
        status = store_order_set_manager(db, order->id, contact.id, clock_now_ms(), &version);
    if (status != DB_OK)
        return status;
    order->version = version;
    snprintf(order->manager_id, sizeof order->manager_id, "%s", contact.id);
    order->taken_up = false;
    *assigned = true;
    return assignment_announce(app, em, order, version, &contact, previous, reason);
}

db_status_t assignment_region_changed(order_app_t *app, const emitter_t *em, order_t *order,
                                      const char *from)
{
    db_t *db = emitter_db(em);
    db_status_t status = DB_OK;
    if (order->manager_id[0]) {
        bool serves = false;
        status = store_manager_serves(db, order->manager_id, order->region, &serves);
        if (status != DB_OK || serves)
            return status;
    }
    bool assigned = false;
    status = assignment_assign(app, em, order, "region_changed", &assigned);
    if (status != DB_OK || assigned || !order->manager_id[0])
        return status; /* reassigned, or waiting in the queue already */
    /* nobody in the new region can take it now: it waits for them there */
    char previous[37];
    snprintf(previous, sizeof previous, "%s", order->manager_id);
    uint64_t version = 0;
    status = assignment_free_slot(db, previous);
    if (status == DB_OK)
        status = store_order_set_manager(db, order->id, NULL, clock_now_ms(), &version);
    json_t *detail = status == DB_OK ? json_pack("{s:s,s:s,s:s}", "previous_manager_id", previous,
                                                 "from_region", from, "region", order->region)
                                     : NULL;
    char *text = detail ? json_dumps(detail, JSON_COMPACT) : NULL;
    json_decref(detail);
    if (status == DB_OK && !text)
        status =
            db_fail(db, DB_STATE_OUT_OF_MEMORY, "could not record that order %s waits", order->id);
    if (status == DB_OK)
        status = history_add(db, order->id, "unassigned", NULL, NULL, &history_system,
                             "region_changed", text);
    free(text);
    if (status != DB_OK)
        return status;
    order->version = version;
    order->manager_id[0] = '\0';
    order->taken_up = false;
    log_info("no manager of the new region is free: the order waits for one",
             LF_STR("order_id", order->id), LF_STR("region", order->region));
    return DB_OK;
}

db_status_t assignment_assign_waiting(order_app_t *app, const emitter_t *em, int max,
                                      int *assigned_out)
{
    db_t *db = emitter_db(em);
    *assigned_out = 0;
    char(*ids)[37] = calloc((size_t)max, sizeof *ids);
    if (!ids)
        return db_fail(db, DB_STATE_OUT_OF_MEMORY, "could not list %d waiting orders", max);
    int count = 0;
    db_status_t status = store_unassigned(db, max, ids, &count);
    for (int i = 0; status == DB_OK && i < count; i++) {
        order_t order;
        bool found = false;
        status = store_order_lock(db, ids[i], &found, &order);
        if (status != DB_OK || !found || order.manager_id[0])
            continue;
        bool assigned = false;
        status = assignment_assign(app, em, &order, "queued", &assigned);
        if (status == DB_OK && assigned)
            (*assigned_out)++;
        /* oldest first: another order of another region may still find someone */
    }
    free(ids);
    return status;
}

db_status_t assignment_take_up(db_t *db, const char *order_id, const actor_t *actor, bool *found)
{
    order_t order;
    db_status_t status = store_order_lock(db, order_id, found, &order);
    if (status != DB_OK || !*found)
        return status;
    status = store_order_taken_up(db, order_id, clock_now_ms());
    if (status == DB_OK)
        status = history_add(db, order_id, "taken_up", NULL, NULL, actor, "", NULL);
    return status;
}

db_status_t assignment_shift(db_t *db, const char *staff_id, bool on_shift, bool *found)
{
    db_status_t status = store_staff_set_shift(db, staff_id, on_shift, clock_now_ms(), found);
    if (status != DB_OK || !*found || !on_shift)
        return status;
    /* someone arrived: orders waiting for a manager go out, oldest first,
     * once however many arrive within the second */
    char dedup[64];
    snprintf(dedup, sizeof dedup, "assign_waiting:%lld", (long long)(clock_now_ms() / 1000));
    job_spec_t spec = {.kind = "assign_waiting", .dedup_key = dedup};
    return jobs_enqueue(db, &spec, NULL, NULL);
}
