/*
 * inventory.h — the inventory service's application: its settings, its
 * counters, and the register functions main.c wires up
 * (docs/adding-a-service.md).
 *
 * The service (DOMAIN.md F9-F13) keeps the catalogue and its stock,
 * holds stock for orders as the order stream reports them (order.placed,
 * order.cancelled, order.delivered), makes short orders wait for supplies
 * and retries them when stock arrives, and answers on its own stream
 * (stock.reserved, stock.shortage, stock.released, stock.committed,
 * stock.replenished, stock.low). The files:
 *
 *   main.c          wiring only: the service's definition, the application,
 *                   handlers, jobs, routes
 *   inventory.c     the application: settings and counters
 *   handlers.c      the one table of consumed topics: wire messages -> plain structs
 *   api.c           the staff HTTP API: parse, authorise, call the domain, answer
 *   jobs.c          the job kinds: the waiting-order retry
 *   events.c        plain structs -> the inventory stream's messages (common/emit.h)
 *   store.c         every SQL statement
 * the domain, in the caller's transaction:
 *   orderstock.c    an order's stock: hold, make wait, release, write off
 *                   (the order facts and the waiting-order retry)
 *   waiting.c       the waiting-order retry, oldest first
 *   offer.c         stock became available: enqueue that retry
 *   products.c      creating, editing, deactivating a product
 *   imports.c       applying a catalogue import, all or nothing
 *   supplies.c      recording and receiving supplies
 *   corrections.c   correcting a product's stock by hand
 *   refusal.c       why an operation said no
 *   stockcache.c    the products a transaction holds: locked once, written
 *                   once at COMMIT (the batching lever)
 *   stocklock.c     the Redis locks on SKUs, and going on without them
 * pure rules over plain structs, unit-tested in tests/:
 *   reserve.c, stock.c, catalogue.c, csv.c, import.c
 */
#ifndef INVENTORY_INVENTORY_H
#define INVENTORY_INVENTORY_H

#include <stdatomic.h>
#include <stdbool.h>

#include "common/http.h"
#include "common/inbox.h"
#include "common/jobs.h"
#include "common/metrics.h"
#include "common/service.h"

typedef struct {
    service_t *svc;
    int lock_ttl_ms;  /* INVENTORY_LOCK_TTL */
    int lock_wait_ms; /* INVENTORY_LOCK_WAIT */
    int retry_batch;  /* INVENTORY_RETRY_BATCH: waiting orders per retry transaction */

    metrics_counter_t *reserved_total;         /* orders held */
    metrics_counter_t *shortages_total;        /* orders short (stock.shortage) */
    metrics_counter_t *waiting_reserved_total; /* waiting orders held on a retry */
    metrics_counter_t *released_total;         /* reservations released */
    metrics_counter_t *committed_total;        /* reservations written off */
    metrics_counter_t *low_alerts_total;       /* stock.low published */
    metrics_counter_t *replenished_total;      /* supplies received (per SKU) */
    metrics_histogram_t *reserve_latency;      /* one order's reservation attempt */

    atomic_bool locks_bypassed; /* Redis was found away: said once until it is back */
} inventory_app_t;

/* inventory.c: reads the service's own settings (INVENTORY_*) and makes
 * its counters. NULL (logged) on a bad setting or out of memory. Caller
 * owns the result. */
inventory_app_t *inventory_app_new(service_t *svc);
void inventory_app_destroy(inventory_app_t **self_p);

/* handlers.c: registers a handler for every consumed topic. 0 ok, -1 OOM. */
int handlers_register(inbox_t *inbox, inventory_app_t *app);

/* api.c: registers the HTTP routes. 0 ok, -1 OOM. */
int api_register(http_server_t *http, inventory_app_t *app);

/* jobs.c: registers the job kinds. 0 ok, -1 OOM. (Not jobs_register: that
 * is the kit's, which this calls.) */
int inventory_jobs_register(jobs_t *jobs, inventory_app_t *app);

#endif
