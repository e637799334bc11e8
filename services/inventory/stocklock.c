/*
 * stocklock.c — Redis locks on SKUs with the database as the guard
 * (stocklock.h).
 */
#include "services/inventory/stocklock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

#define KEY_PREFIX "stock:"

lock_t *stocklock_take(inventory_app_t *app, const char *const *skus, size_t sku_count)
{
    if (sku_count == 0)
        return NULL;
    if (sku_count > STOCKLOCK_MAX) {
        locker_count_bypass("stock");
        return NULL;
    }
    char **keys = calloc(sku_count, sizeof *keys);
    lock_t *lock = NULL;
    lock_status_t status = LOCK_UNAVAILABLE;
    const char *why = "out of memory";
    locker_t *locker = service_locker(app->svc);
    if (!keys || !locker)
        goto done;
    for (size_t i = 0; i < sku_count; i++) {
        size_t len = strlen(KEY_PREFIX) + strlen(skus[i]) + 1;
        keys[i] = malloc(len);
        if (!keys[i])
            goto done;
        snprintf(keys[i], len, KEY_PREFIX "%s", skus[i]);
    }
    status = locker_acquire(locker, (const char *const *)keys, sku_count, app->lock_ttl_ms,
                            app->lock_wait_ms, &lock);
    why =
        status == LOCK_BUSY ? "a lock stayed busy past INVENTORY_LOCK_WAIT" : locker_error(locker);
done:
    for (size_t i = 0; keys && i < sku_count; i++)
        free(keys[i]);
    free(keys);
    if (status == LOCK_OK) {
        if (atomic_exchange(&app->locks_bypassed, false))
            log_info("stock locks are back: Redis answers again");
        return lock;
    }
    locker_count_bypass("stock");
    if (!atomic_exchange(&app->locks_bypassed, true))
        log_warn("going on without stock locks: the database guards the stock", LF_STR("why", why),
                 LF_ERR(status == LOCK_BUSY ? "lock_busy" : "lock_unavailable"));
    return NULL;
}
