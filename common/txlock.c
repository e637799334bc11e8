/*
 * txlock.c — Redis locks released at the end of a transaction (txlock.h),
 * built on the session's deferral hooks (db.h).
 */
#include "common/txlock.h"

#include <stdlib.h>
#include <string.h>

#define TXLOCK_KEYS_MAX 8

typedef struct {
    db_deferred_t base;
    locker_t *locker;
    char keys[TXLOCK_KEYS_MAX][128];
    lock_t *locks[TXLOCK_KEYS_MAX];
    size_t count;
} txlock_set_t;

static const int txlock_marker = 0; /* the deferral's key on a session */

static db_status_t txlock_flush(db_t *db, db_deferred_t *self)
{
    (void)db;
    (void)self;
    return DB_OK;
}

static void txlock_discard(db_deferred_t *self)
{
    (void)self; /* a rollback to a savepoint keeps the transaction, and the locks */
}

static void txlock_release_all(txlock_set_t *set)
{
    for (size_t i = 0; i < set->count; i++)
        locker_release(set->locker, &set->locks[i]);
    set->count = 0;
}

static void txlock_after_end(db_deferred_t *self, bool committed)
{
    (void)committed;
    txlock_release_all((txlock_set_t *)self);
}

static void txlock_destroy(db_deferred_t *self)
{
    txlock_set_t *set = (txlock_set_t *)self;
    txlock_release_all(set);
    free(set);
}

lock_status_t txlock_hold(db_t *db, locker_t *locker, const char *key, int ttl_ms, int wait_ms)
{
    txlock_set_t *set = (txlock_set_t *)db_deferred_find(db, &txlock_marker);
    if (!set) {
        set = calloc(1, sizeof *set);
        if (!set)
            return LOCK_UNAVAILABLE;
        set->base.key = &txlock_marker;
        set->base.flush = txlock_flush;
        set->base.discard = txlock_discard;
        set->base.after_end = txlock_after_end;
        set->base.destroy = txlock_destroy;
        if (db_deferred_add_take(db, &set->base) != 0)
            return LOCK_UNAVAILABLE;
    }
    for (size_t i = 0; i < set->count; i++)
        if (strcmp(set->keys[i], key) == 0 && set->locker == locker)
            return LOCK_OK;
    if (set->count == TXLOCK_KEYS_MAX || strlen(key) >= sizeof set->keys[0])
        return LOCK_UNAVAILABLE;
    if (set->count > 0 && set->locker != locker)
        return LOCK_UNAVAILABLE; /* one locker per session's transaction */
    lock_t *lock = NULL;
    const char *keys[1] = {key};
    lock_status_t status = locker_acquire(locker, keys, 1, ttl_ms, wait_ms, &lock);
    if (status != LOCK_OK)
        return status;
    set->locker = locker;
    memcpy(set->keys[set->count], key, strlen(key) + 1);
    set->locks[set->count++] = lock;
    return LOCK_OK;
}
