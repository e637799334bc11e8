/*
 * stockcache.h — the products one transaction holds: locked once, decided
 * on in memory, written once at COMMIT.
 *
 * The applier applies up to APPLY_BATCH_MAX order events in one
 * transaction; the same products come up again and again (every order of a
 * hot SKU, most of a thousand SKUs within a batch). Re-reading and
 * re-writing a product per order costs a round trip and a row version
 * each; here the first use of a product in a transaction locks it — its
 * Redis key (stocklock.h), then its row FOR UPDATE, in SKU order — and
 * later uses read the copy in memory. Changes go to the copy and are
 * written as a db deferral just before COMMIT, all products in one
 * statement (store_stock_write) that only writes a row still holding the
 * stock it was read with; the CHECKs on products are the final guard.
 *
 * The Redis locks are held until the transaction ends (the deferral's
 * after_end), not just while one order is decided: another replica's
 * retry job or supply receipt then waits for this transaction's decisions
 * to be committed instead of reading around them. All of them are given
 * back in one round trip.
 *
 * The cache also remembers the orders held in this transaction whose rows
 * are still deferred (store_hold_deferred), so that a second placement in
 * the same batch is recognised, and a cancel or delivery of such an order
 * first writes what is deferred (stockcache_flush_now).
 *
 * A savepoint writes the cache (db.h flushes deferrals before it); a
 * rollback, to a savepoint or whole, forgets the copies (the rows keep or
 * lose their locks with the transaction) and they are read again. One
 * cache per session (db deferral), used by one thread.
 */
#ifndef INVENTORY_STOCKCACHE_H
#define INVENTORY_STOCKCACHE_H

#include <stdbool.h>
#include <stddef.h>

#include "common/db.h"
#include "services/inventory/inventory.h"
#include "services/inventory/stock.h"
#include "services/inventory/store.h"

typedef struct stockcache stockcache_t;

/* The session's cache, created on first use. Borrowed; NULL on OOM. */
stockcache_t *stockcache_of(db_t *db, inventory_app_t *app);

/* Points rows_out[i] at the held copy of skus[i], or NULL when the
 * catalogue has no such SKU. Products not yet held in this transaction are
 * locked first (Redis keys, then rows FOR UPDATE in SKU order). With
 * order_id, also says in *order_known_out whether inventory already knows
 * that order (asked in the same round trip when there is one). Must be
 * called inside a transaction. */
db_status_t stockcache_hold(stockcache_t *cache, db_t *db, const char *const *skus, size_t count,
                            const char *order_id, product_row_t **rows_out, bool *order_known_out);

/* Records a held product's new stock (written at COMMIT). */
void stockcache_set(stockcache_t *cache, product_row_t *row, const stock_after_t *after);

/* Orders held in this transaction whose rows are still deferred. */
bool stockcache_order_pending(const stockcache_t *cache, const char *order_id);
int stockcache_order_add(stockcache_t *cache, const char *order_id);

/* Writes everything deferred on db now (through a savepoint), so that the
 * statements that follow see it. */
db_status_t stockcache_flush_now(db_t *db);

#endif
