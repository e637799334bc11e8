/*
 * waiting.h — the waiting-order retry (F11): orders that wait for stock
 * are tried again when stock becomes available (offer.h enqueues it; the
 * job kind in jobs.c runs it).
 *
 * The orders waiting for the offered SKUs are taken oldest first
 * (orders.waiting_no, the order in which they started waiting) and each is
 * tried exactly as the applier would try a new one (orderstock_reserve):
 * Redis locks, row locks, the all-or-nothing decision, stock.reserved for
 * each order now covered. An order still short keeps its place and is
 * skipped, so a big old order does not block small younger ones behind it
 * (first fit, oldest first).
 *
 * One transaction (the job's completion, jobs_begin_finish: effects and
 * "done" commit together) handles at most INVENTORY_RETRY_BATCH orders, so
 * row locks are held briefly; when the batch is full the retry offers the
 * rest again from where it stopped (a continuation job).
 *
 * Waiting orders are locked with a plain FOR UPDATE (not SKIP LOCKED): two
 * retries that overlap queue on the same order instead of one skipping an
 * order the other then leaves short — no stock is left unused while an
 * order it covers waits.
 */
#ifndef INVENTORY_WAITING_H
#define INVENTORY_WAITING_H

#include <stddef.h>
#include <stdint.h>

#include "common/db.h"
#include "services/inventory/inventory.h"

/* One offer, as the job carries it. */
typedef struct {
    const char *const *skus;
    size_t sku_count;
    int64_t after;  /* waiting_no of the last order an earlier batch handled; 0: none */
    int64_t job_id; /* names the continuation */
} waiting_offer_t;

/* Tries, in the caller's transaction on db, the orders waiting for the
 * offer's SKUs (at most app->retry_batch of them). *tried_out: orders
 * tried; *held_out: orders now held. */
db_status_t waiting_retry(inventory_app_t *app, db_t *db, const waiting_offer_t *offer,
                          size_t *tried_out, size_t *held_out);

#endif
