/*
 * imports.h — applying a catalogue import (F9): all rows or none.
 *
 * The rows come read and checked one by one (import.h); here they are
 * checked against the catalogue as it stands, under the products' row
 * locks (an external code held by another product, stock below what is
 * reserved), then created or updated in two statements, the stock they
 * change written to the ledger, the import recorded, stock.low published
 * for each crossing, and new stock offered to the orders that wait. A
 * transaction body for the kit's runner (service_tx): it may run again and
 * resets what it fills. Any wrong row refuses the whole import with every
 * mistake listed (the reading's and the catalogue's together).
 */
#ifndef INVENTORY_IMPORTS_H
#define INVENTORY_IMPORTS_H

#include <jansson.h>
#include <stdint.h>

#include "common/tx.h"
#include "services/inventory/import.h"
#include "services/inventory/inventory.h"
#include "services/inventory/refusal.h"

typedef struct {
    inventory_app_t *app;
    import_t *import;           /* the rows read */
    const json_t *parse_errors; /* what reading the rows found; reported with the rest */
    const char *actor;
    /* out */
    int64_t import_id;
    int created, updated, stock_changed, low_alerts;
    refusal_t refusal; /* the caller clears it */
} import_apply_t;

/* POST /v1/imports. */
db_status_t imports_apply_tx(tx_t *tx, void *arg);

#endif
