/*
 * inventory.c — the inventory service's application (inventory.h): its
 * own settings, read once at start, and the counters its domain code adds
 * to.
 */
#include "services/inventory/inventory.h"

#include <stdlib.h>

#include "common/log.h"

static int read_settings(inventory_app_t *app)
{
    const config_t *config = service_config(app->svc);
    int64_t ttl_ms = 0, wait_ms = 0, batch = 0;
    if (config_get_duration_ms(config, "INVENTORY_LOCK_TTL", &ttl_ms) != 0 ||
        config_get_duration_ms(config, "INVENTORY_LOCK_WAIT", &wait_ms) != 0 ||
        config_get_int(config, "INVENTORY_RETRY_BATCH", 1, 10000, &batch) != 0)
        return -1;
    if (ttl_ms < 1 || ttl_ms > 600000 || wait_ms < 0 || wait_ms > 600000) {
        log_error("INVENTORY_LOCK_TTL must be 1ms..10m and INVENTORY_LOCK_WAIT 0..10m",
                  LF_ERR("bad_config"));
        return -1;
    }
    app->lock_ttl_ms = (int)ttl_ms;
    app->lock_wait_ms = (int)wait_ms;
    app->retry_batch = (int)batch;
    return 0;
}

static void make_metrics(inventory_app_t *app)
{
    app->reserved_total =
        metrics_counter("inventory_reservations_total", NULL, "Orders whose every line was held.");
    app->shortages_total = metrics_counter("inventory_shortages_total", NULL,
                                           "Orders short of stock (stock.shortage published).");
    app->waiting_reserved_total =
        metrics_counter("inventory_waiting_reserved_total", NULL,
                        "Waiting orders held when stock arrived (retry job).");
    app->released_total = metrics_counter("inventory_releases_total", NULL,
                                          "Reservations released (order cancelled).");
    app->committed_total = metrics_counter("inventory_write_offs_total", NULL,
                                           "Reservations written off (order delivered).");
    app->low_alerts_total =
        metrics_counter("inventory_low_alerts_total", NULL, "stock.low published (crossings).");
    app->replenished_total = metrics_counter("inventory_replenished_total", NULL,
                                             "Supply lines received (stock.replenished).");
    app->reserve_latency = metrics_histogram("inventory_reserve_duration_seconds", NULL,
                                             "One order's reservation attempt, locks included.");
}

inventory_app_t *inventory_app_new(service_t *svc)
{
    inventory_app_t *app = calloc(1, sizeof *app);
    if (!app) {
        log_error("no memory for the application", LF_ERR("out_of_memory"));
        return NULL;
    }
    app->svc = svc;
    atomic_init(&app->locks_bypassed, false);
    if (read_settings(app) != 0) {
        free(app);
        return NULL;
    }
    make_metrics(app);
    return app;
}

void inventory_app_destroy(inventory_app_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free(*self_p);
    *self_p = NULL;
}
