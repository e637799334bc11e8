/*
 * supplies.h — supplies (F11): recording what a supplier is expected to
 * bring, and receiving it.
 *
 * A supply is recorded with its expected date and lines (every SKU must be
 * in the catalogue); stock.shortage names the next expected supply of a
 * short SKU. Receiving it, once (a second receipt is refused), adds what
 * came to the products' stock through the transaction's stock cache (the
 * same locks as the applier's), writes the ledger, publishes
 * stock.replenished per line and offers the new stock to the orders that
 * wait (offer.h). Receiving is not idempotent by nature; the kit's runner
 * (service_tx) runs it once even when a COMMIT's answer is lost.
 */
#ifndef INVENTORY_SUPPLIES_H
#define INVENTORY_SUPPLIES_H

#include <stddef.h>
#include <stdint.h>

#include "common/tx.h"
#include "services/inventory/inventory.h"
#include "services/inventory/refusal.h"
#include "services/inventory/store.h"

#define SUPPLY_LINES_MAX 1000

typedef struct {
    const char *expected_date, *supplier, *comment, *actor;
    const supply_line_t *lines; /* checked: valid SKUs, once each, quantity >= 1 */
    size_t line_count;
    int64_t id;        /* out: the supply's id */
    refusal_t refusal; /* out; the caller clears it */
} supply_record_t;

/* POST /v1/supplies. */
db_status_t supplies_record_tx(tx_t *tx, void *arg);

typedef struct {
    inventory_app_t *app;
    int64_t id;
    const char *actor;
    const supply_line_t
        *received; /* what came when it differs from the supply; NULL: as expected */
    size_t received_count;
    refusal_t refusal; /* out; the caller clears it */
} supply_receive_t;

/* POST /v1/supplies/{id}/receive. */
db_status_t supplies_receive_tx(tx_t *tx, void *arg);

#endif
