/*
 * offer.h — stock became available: offer it to the orders that wait.
 *
 * Whatever makes stock available — a supply received, an import or a
 * correction that adds stock, a product switched back on, a cancelled
 * order's reservation released — calls offer_enqueue in its own
 * transaction: a "retry_waiting" job naming the SKUs, deduplicated by a
 * key naming the cause, so the offer exists only if the change commits and
 * a cause offers once. The job (jobs.c, waiting.c) then tries the waiting
 * orders, oldest first.
 *
 * This is only the enqueueing, kept apart from the retry itself so that
 * the reservations (orderstock.c), which both offer stock and are what the
 * retry runs, do not include each other.
 */
#ifndef INVENTORY_OFFER_H
#define INVENTORY_OFFER_H

#include <stddef.h>
#include <stdint.h>

#include "common/db.h"

/* The job kind of the waiting-order retry. */
#define OFFER_JOB_KIND "retry_waiting"

/* Enqueues, in the caller's transaction on db, a retry of the orders
 * waiting for any of skus (duplicates allowed) whose place in the queue
 * (waiting_no) is after `after` (0: all), deduplicated by
 * "retry_waiting:<dedup_key>". */
db_status_t offer_enqueue(db_t *db, const char *const *skus, size_t sku_count, int64_t after,
                          const char *dedup_key);

/* A fresh dedup key for an offer caused by a person's action ("create",
 * "activate"): what, a colon and a random id, into out. */
#define OFFER_KEY_SIZE 96
void offer_action_key(const char *what, char out[OFFER_KEY_SIZE]);

#endif
