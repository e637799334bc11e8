/*
 * stocklock.h — Redis locks on SKUs, and going on without them.
 *
 * Whoever changes a product's stock — the applier holding an order, the
 * retry job, an HTTP supply receipt or correction — locks the SKUs it
 * touches ("stock:<sku>", all of a request at once, in sorted order:
 * lock.h) through the transaction's stock cache (stockcache.h), which
 * keeps them until the transaction ends, so that replicas queue in Redis
 * instead of piling up on PostgreSQL row locks. The lock only saves work:
 * the database is the guard (row locks, the CHECKs on products, one
 * reservation per order line). So when Redis is away, or a lock stays busy
 * past INVENTORY_LOCK_WAIT, the work goes on without it and
 * lock_bypassed_total{purpose="stock"} counts it; the first bypass after a
 * good lock is logged as a warning and the recovery as info, never once
 * per order.
 *
 * The ttl (INVENTORY_LOCK_TTL, 5 s) is far above a batch's transaction; a
 * lock that outlives it only loses the optimisation. Tests shorten it to
 * 1 ms to prove the database alone holds.
 */
#ifndef INVENTORY_STOCKLOCK_H
#define INVENTORY_STOCKLOCK_H

#include <stddef.h>

#include "common/lock.h"
#include "services/inventory/inventory.h"

/* Locks every SKU (duplicates allowed, at most STOCKLOCK_MAX). Returns the
 * lock to release, or NULL when going on without one (counted, logged as
 * above). Uses the calling thread's Redis connection. */
#define STOCKLOCK_MAX 1000
lock_t *stocklock_take(inventory_app_t *app, const char *const *skus, size_t sku_count);

#endif
