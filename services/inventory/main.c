/*
 * main.c — the inventory service: wiring only (DESIGN.md "One service,
 * inside"; docs/adding-a-service.md). What the service does is described
 * in inventory.h; this defines it to the kit, makes its application,
 * registers its handlers, job kinds and routes, and runs until SIGTERM.
 */
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

int main(int argc, char **argv)
{
    service_def_t def = {
        .name = "inventory", /* schema and ports: its row in deploy/services.tsv */
        .config = inventory_specs,
        .migrations = &app_migrations,
        .db_setup = store_setup,
        .requires_auth = true,
        /* Inventory applies up to 2,000 order events per transaction unless
         * APPLY_BATCH_MAX says otherwise (the kit's default is 500): the
         * stock cache locks and writes each product once per transaction,
         * so the more orders a transaction carries, the fewer products each
         * one has to lock — measured 1.7-2.2k orders/s at 500 and ~3k at
         * 2,000 for 5-line orders over 1,000 SKUs
         * (tests/bench/section_inventory.sh). Batches only grow when events
         * queue up (catch-up, bursts); a lone order still applies at once.
         * The cost: a product's row stays locked up to a batch's length
         * (well under a second), which a supply receipt or a retry job then
         * waits for. */
        .apply_batch_max = 2000,
        /* The service's statements take their lists as arrays, whose length
         * a generic plan cannot see, so PostgreSQL would plan them again on
         * every call — measured at ~0.2 ms of the ~0.3 ms it takes to lock
         * an order's products, the largest cost of applying an order. Their
         * generic plans are as good (index lookups by key), so every session
         * of this process asks for them. An operator's own plan_cache_mode
         * in PGOPTIONS wins. */
        .pg_options = "-c plan_cache_mode=force_generic_plan",
    };
    service_t *svc = service_new(&def, argc, argv);
    inventory_app_t *app = svc ? inventory_app_new(svc) : NULL;
    if (!app || handlers_register(service_inbox(svc), app) != 0 ||
        api_register(service_http(svc), app) != 0 ||
        inventory_jobs_register(service_jobs(svc), app) != 0) {
        if (svc)
            log_error("inventory could not be wired", LF_ERR("start_failed"));
        service_destroy(&svc);
        inventory_app_destroy(&app);
        return 1;
    }
    int status = service_run(svc);
    /* the kit's sessions end with it (their stock caches reach the
     * application): the service goes first */
    service_destroy(&svc);
    inventory_app_destroy(&app);
    return status;
}
