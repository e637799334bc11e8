/*
 * stockcache.c — the products a transaction holds (stockcache.h).
 *
 * Copies live in separately allocated entries (so that pointers handed out
 * stay valid while the cache grows), found by SKU through an
 * open-addressing table of entry indexes.
 */
#include "services/inventory/stockcache.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/uuid.h"
#include "services/inventory/stocklock.h"

typedef struct {
    product_row_t row; /* first: stockcache_set finds the entry from the row */
    int64_t was_on_hand, was_reserved;
    bool found; /* false: the catalogue has no such SKU */
    bool dirty;
} entry_t;

struct stockcache {
    db_deferred_t base;
    inventory_app_t *app;
    entry_t **entries;
    size_t count, cap;
    uint32_t *slots; /* entry index + 1; 0 is empty */
    size_t slot_cap; /* a power of two, at least twice count */
    lock_t **locks;  /* Redis locks held until the transaction ends */
    size_t lock_count, lock_cap;
    char (*orders)[UUID_TEXT_SIZE]; /* held, rows still deferred */
    size_t order_count, order_cap;
};

static const int stockcache_marker = 0; /* the deferral's key on a session */

static uint64_t hash_sku(const char *sku)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)sku; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return h;
}

static entry_t *find(const stockcache_t *cache, const char *sku)
{
    if (cache->slot_cap == 0)
        return NULL;
    size_t mask = cache->slot_cap - 1;
    for (size_t i = hash_sku(sku) & mask;; i = (i + 1) & mask) {
        uint32_t slot = cache->slots[i];
        if (slot == 0)
            return NULL;
        entry_t *entry = cache->entries[slot - 1];
        if (strcmp(entry->row.sku, sku) == 0)
            return entry;
    }
}

static void place(stockcache_t *cache, size_t index)
{
    size_t mask = cache->slot_cap - 1;
    size_t i = hash_sku(cache->entries[index]->row.sku) & mask;
    while (cache->slots[i] != 0)
        i = (i + 1) & mask;
    cache->slots[i] = (uint32_t)index + 1;
}

/* A new, not yet read entry for sku; NULL on out of memory. */
static entry_t *add(stockcache_t *cache, const char *sku)
{
    if (cache->count == cache->cap) {
        size_t cap = cache->cap ? cache->cap * 2 : 64;
        entry_t **entries = realloc(cache->entries, cap * sizeof *entries);
        if (!entries)
            return NULL;
        cache->entries = entries;
        cache->cap = cap;
    }
    if ((cache->count + 1) * 2 > cache->slot_cap) {
        size_t slot_cap = cache->slot_cap ? cache->slot_cap * 2 : 128;
        uint32_t *slots = calloc(slot_cap, sizeof *slots);
        if (!slots)
            return NULL;
        free(cache->slots);
        cache->slots = slots;
        cache->slot_cap = slot_cap;
        for (size_t i = 0; i < cache->count; i++)
            place(cache, i);
    }
    entry_t *entry = calloc(1, sizeof *entry);
    if (!entry)
        return NULL;
    snprintf(entry->row.sku, sizeof entry->row.sku, "%s", sku);
    cache->entries[cache->count] = entry;
    place(cache, cache->count++);
    return entry;
}

/* Forgets every copy (not the locks). */
static void forget(stockcache_t *cache)
{
    for (size_t i = 0; i < cache->count; i++)
        free(cache->entries[i]);
    cache->count = 0;
    if (cache->slots)
        memset(cache->slots, 0, cache->slot_cap * sizeof *cache->slots);
    cache->order_count = 0;
}

static void release_locks(stockcache_t *cache)
{
    if (cache->lock_count == 0)
        return;
    locker_t *locker = service_locker(cache->app->svc);
    locker_release_all(locker, cache->locks, cache->lock_count);
    cache->lock_count = 0;
}

/* ------------------------------------------------------------------ */
/* the deferral                                                         */

static db_status_t cache_flush(db_t *db, db_deferred_t *self)
{
    stockcache_t *cache = (stockcache_t *)self;
    size_t dirty = 0;
    for (size_t i = 0; i < cache->count; i++)
        dirty += cache->entries[i]->dirty;
    cache->order_count = 0; /* their rows are written by the bulks flushed after this */
    if (dirty == 0)
        return DB_OK;
    stock_write_t *rows = calloc(dirty, sizeof *rows);
    if (!rows)
        return DB_ERROR;
    size_t n = 0;
    for (size_t i = 0; i < cache->count; i++) {
        const entry_t *e = cache->entries[i];
        if (e->dirty)
            rows[n++] = (stock_write_t){e->row.sku,
                                        e->row.level.on_hand,
                                        e->row.level.reserved,
                                        e->row.level.low_alerted,
                                        e->was_on_hand,
                                        e->was_reserved};
    }
    int64_t written = 0;
    db_status_t status = store_stock_write(db, rows, n, &written);
    free(rows);
    if (status == DB_OK && written != (int64_t)n) {
        /* the rows are locked by this transaction: someone wrote stock
         * without going through the cache */
        log_error("stock changed under its row lock; nothing was written",
                  LF_INT("products", (long long)n), LF_INT("written", written),
                  LF_ERR("stock_write_mismatch"));
        return DB_ERROR;
    }
    if (status != DB_OK)
        return status;
    for (size_t i = 0; i < cache->count; i++) {
        entry_t *e = cache->entries[i];
        e->was_on_hand = e->row.level.on_hand;
        e->was_reserved = e->row.level.reserved;
        e->dirty = false;
    }
    return DB_OK;
}

static void cache_discard(db_deferred_t *self)
{
    forget((stockcache_t *)self); /* read again, under the locks the transaction keeps */
}

static void cache_after_end(db_deferred_t *self, bool committed)
{
    (void)committed;
    stockcache_t *cache = (stockcache_t *)self;
    forget(cache);
    release_locks(cache);
}

static void cache_destroy(db_deferred_t *self)
{
    stockcache_t *cache = (stockcache_t *)self;
    forget(cache);
    release_locks(cache);
    free(cache->entries);
    free(cache->slots);
    free(cache->locks);
    free(cache->orders);
    free(cache);
}

stockcache_t *stockcache_of(db_t *db, inventory_app_t *app)
{
    stockcache_t *cache = (stockcache_t *)db_deferred_find(db, &stockcache_marker);
    if (cache)
        return cache;
    cache = calloc(1, sizeof *cache);
    if (!cache)
        return NULL;
    cache->app = app;
    cache->base.key = &stockcache_marker;
    cache->base.order = 10; /* before the held orders' rows and the ledger */
    cache->base.flush = cache_flush;
    cache->base.discard = cache_discard;
    cache->base.after_end = cache_after_end;
    cache->base.destroy = cache_destroy;
    if (db_deferred_add_take(db, &cache->base) != 0) {
        log_error("too many deferrals on one session", LF_ERR("bug_too_many_deferrals"));
        return NULL;
    }
    return cache;
}

/* ------------------------------------------------------------------ */
/* holding                                                              */

static int keep_lock(stockcache_t *cache, lock_t *lock)
{
    if (cache->lock_count == cache->lock_cap) {
        size_t cap = cache->lock_cap ? cache->lock_cap * 2 : 64;
        lock_t **locks = realloc(cache->locks, cap * sizeof *locks);
        if (!locks)
            return -1;
        cache->locks = locks;
        cache->lock_cap = cap;
    }
    cache->locks[cache->lock_count++] = lock;
    return 0;
}

db_status_t stockcache_hold(stockcache_t *cache, db_t *db, const char *const *skus, size_t count,
                            const char *order_id, product_row_t **rows_out, bool *order_known_out)
{
    bool known_unused = false;
    if (!order_known_out)
        order_known_out = &known_unused;
    const char **fresh = calloc(count ? count : 1, sizeof *fresh);
    product_row_t *rows = NULL;
    size_t fresh_count = 0, row_count = 0;
    db_status_t status = DB_ERROR;
    if (!fresh)
        goto done;
    for (size_t i = 0; i < count; i++) {
        if (find(cache, skus[i]))
            continue;
        entry_t *entry = add(cache, skus[i]); /* found stays false until read */
        if (!entry)
            goto fail;
        fresh[fresh_count++] = entry->row.sku;
    }
    if (fresh_count > 0) {
        lock_t *lock = stocklock_take(cache->app, fresh, fresh_count);
        if (lock && keep_lock(cache, lock) != 0) {
            locker_release(service_locker(cache->app->svc), &lock);
            goto fail;
        }
        if (order_id)
            status = store_products_lock_for_order(db, fresh, fresh_count, order_id, &rows,
                                                   &row_count, order_known_out);
        else
            status = store_products_lock_many(db, fresh, fresh_count, &rows, &row_count);
        if (status != DB_OK)
            goto fail;
        for (size_t r = 0; r < row_count; r++) {
            entry_t *entry = find(cache, rows[r].sku);
            if (!entry)
                continue;
            entry->row = rows[r];
            entry->was_on_hand = rows[r].level.on_hand;
            entry->was_reserved = rows[r].level.reserved;
            entry->found = true;
        }
    }
    if (order_id && fresh_count == 0) {
        status = store_order_known(db, order_id, order_known_out);
        if (status != DB_OK)
            goto done;
    }
    for (size_t i = 0; i < count; i++) {
        entry_t *entry = find(cache, skus[i]);
        rows_out[i] = entry && entry->found ? &entry->row : NULL;
    }
    status = DB_OK;
    goto done;
fail:
    forget(cache); /* the caller rolls back; nothing half-read stays */
    if (status == DB_OK)
        status = DB_ERROR;
done:
    free(rows);
    free(fresh);
    return status;
}

void stockcache_set(stockcache_t *cache, product_row_t *row, const stock_after_t *after)
{
    (void)cache;
    entry_t *entry = (entry_t *)row;
    row->level.on_hand = after->on_hand;
    row->level.reserved = after->reserved;
    row->level.low_alerted = after->low_alerted;
    entry->dirty = true;
}

bool stockcache_order_pending(const stockcache_t *cache, const char *order_id)
{
    for (size_t i = 0; i < cache->order_count; i++)
        if (strcmp(cache->orders[i], order_id) == 0)
            return true;
    return false;
}

int stockcache_order_add(stockcache_t *cache, const char *order_id)
{
    if (cache->order_count == cache->order_cap) {
        size_t cap = cache->order_cap ? cache->order_cap * 2 : 256;
        char(*orders)[UUID_TEXT_SIZE] = realloc(cache->orders, cap * sizeof *orders);
        if (!orders)
            return -1;
        cache->orders = orders;
        cache->order_cap = cap;
    }
    snprintf(cache->orders[cache->order_count++], UUID_TEXT_SIZE, "%s", order_id);
    return 0;
}

db_status_t stockcache_flush_now(db_t *db)
{
    db_status_t status = db_savepoint(db, "inventory_flush");
    if (status == DB_OK)
        status = db_release_savepoint(db, "inventory_flush");
    return status;
}
