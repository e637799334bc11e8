/*
 * main.c — the inventory service: wiring only (DESIGN.md "One service,
 * inside"). What the service does is described in inventory.h; this reads
 * its settings, registers its statements, handlers, job kinds and routes
 * on the kit, and runs until SIGTERM.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/service.h"
#include "services/inventory/inventory.h"
#include "services/inventory/store.h"

extern const migration_set_t app_migrations;

static const config_spec_t inventory_specs[] = {
    {"INVENTORY_LOCK_TTL", "5s", false,
     "how long a Redis lock on SKUs lives (tests shorten it to prove the database holds)"},
    {"INVENTORY_LOCK_WAIT", "2s", false,
     "how long to wait for a busy SKU lock before going on with the database as the guard"},
    {"INVENTORY_RETRY_BATCH", "50", false,
     "waiting orders retried per transaction when stock arrives"},
    CONFIG_SPEC_END,
};

/* The service's statements take their lists as arrays, whose length a
 * generic plan cannot see, so PostgreSQL would plan them again on every
 * call — measured at ~0.2 ms of the ~0.3 ms it takes to lock an order's
 * products, the largest cost of applying an order. Their generic plans are
 * as good (index lookups by key), so every session of this process asks
 * for them: libpq passes PGOPTIONS to each connection the kit opens. An
 * operator's own plan_cache_mode in PGOPTIONS wins. */
static int prefer_generic_plans(void)
{
    const char *options = getenv("PGOPTIONS");
    if (options && strstr(options, "plan_cache_mode"))
        return 0;
    char merged[1024];
    int n = snprintf(merged, sizeof merged, "%s%s-c plan_cache_mode=force_generic_plan",
                     options ? options : "", options && options[0] ? " " : "");
    if (n < 0 || (size_t)n >= sizeof merged)
        return -1;
    return setenv("PGOPTIONS", merged, 1);
}

/* Inventory applies up to 2,000 order events per transaction unless
 * APPLY_BATCH_MAX says otherwise (the kit's default is 500): the stock
 * cache locks and writes each product once per transaction, so the more
 * orders a transaction carries, the fewer products each one has to lock —
 * measured 1.7-2.2k orders/s at 500 and ~3k at 2,000 for 5-line orders
 * over 1,000 SKUs (tests/bench/section_inventory.sh). Batches only grow
 * when events queue up (catch-up, bursts); a lone order still applies at
 * once. The cost: a product's row stays locked up to a batch's length
 * (well under a second), which a supply receipt or a retry job then
 * waits for. */
static int default_batch(void)
{
    return setenv("APPLY_BATCH_MAX", "2000", 0);
}

static int prepare(db_t *db, void *arg)
{
    (void)arg;
    return store_prepare(db);
}

static int read_settings(inventory_t *inv)
{
    const config_t *config = service_config(inv->svc);
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
    inv->lock_ttl_ms = (int)ttl_ms;
    inv->lock_wait_ms = (int)wait_ms;
    inv->retry_batch = (int)batch;
    return 0;
}

static void make_metrics(inventory_t *inv)
{
    inv->reserved_total =
        metrics_counter("inventory_reservations_total", NULL, "Orders whose every line was held.");
    inv->shortages_total = metrics_counter("inventory_shortages_total", NULL,
                                           "Orders short of stock (stock.shortage published).");
    inv->waiting_reserved_total =
        metrics_counter("inventory_waiting_reserved_total", NULL,
                        "Waiting orders held when stock arrived (retry job).");
    inv->released_total = metrics_counter("inventory_releases_total", NULL,
                                          "Reservations released (order cancelled).");
    inv->committed_total = metrics_counter("inventory_write_offs_total", NULL,
                                           "Reservations written off (order delivered).");
    inv->low_alerts_total =
        metrics_counter("inventory_low_alerts_total", NULL, "stock.low published (crossings).");
    inv->replenished_total = metrics_counter("inventory_replenished_total", NULL,
                                             "Supply lines received (stock.replenished).");
    inv->reserve_latency = metrics_histogram("inventory_reserve_duration_seconds", NULL,
                                             "One order's reservation attempt, locks included.");
}

int main(int argc, char **argv)
{
    service_def_t def = {
        .name = "inventory",
        .schema = "inventory",
        .http_addr = "0.0.0.0:8082",
        .replay_addr = "tcp://0.0.0.0:5562",
        .config = inventory_specs,
        .migrations = &app_migrations,
        .db_setup = prepare,
        .requires_auth = true,
    };
    if (prefer_generic_plans() != 0 || default_batch() != 0) {
        fprintf(stderr, "inventory: could not set its environment defaults\n");
        return 1;
    }
    service_t *svc = service_new(&def, argc, argv);
    if (!svc)
        return 1;
    static inventory_t inv;
    inv.svc = svc;
    make_metrics(&inv);
    if (read_settings(&inv) != 0 || handlers_register(&inv) != 0 ||
        inventory_jobs_register(&inv) != 0 || api_register(&inv) != 0) {
        log_error("inventory could not be wired", LF_ERR("start_failed"));
        service_destroy(&svc);
        return 1;
    }
    int status = service_run(svc);
    service_destroy(&svc);
    return status;
}
