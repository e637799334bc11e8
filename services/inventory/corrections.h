/*
 * corrections.h — correcting a product's stock by hand (F13): a count at
 * the shelf differs from what inventory holds.
 *
 * A correction is a delta or the new on-hand quantity, with a reason; it
 * may never leave less on hand than is reserved for orders, nor a negative
 * stock (refused with the stock rule's code). It goes through the
 * transaction's stock cache (the applier's locks), is written to the
 * ledger under its own id, publishes stock.low on a crossing, and offers
 * added stock to the orders that wait. A transaction body for the kit's
 * runner (service_tx).
 */
#ifndef INVENTORY_CORRECTIONS_H
#define INVENTORY_CORRECTIONS_H

#include <stdbool.h>
#include <stdint.h>

#include "common/tx.h"
#include "common/uuid.h"
#include "services/inventory/inventory.h"
#include "services/inventory/refusal.h"

typedef struct {
    inventory_app_t *app;
    const char *sku;
    bool absolute; /* value is the new on hand, else a delta */
    int64_t value;
    const char *reason;
    const char *actor;
    char correction_id[UUID_TEXT_SIZE]; /* out */
    refusal_t refusal;                  /* out; the caller clears it */
} correction_t;

/* POST /v1/stock/{sku}/corrections. */
db_status_t corrections_post_tx(tx_t *tx, void *arg);

#endif
