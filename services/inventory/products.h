/*
 * products.h — the catalogue's writes by a person (F9): creating a
 * product, editing it, taking it out of the catalogue.
 *
 * Each is a transaction body for the kit's runner (service_tx, tx.h) and
 * may run again from the start: it decides from the database and resets
 * what it fills. A "no" (no such product, a SKU or external code taken)
 * abandons the transaction and says why in the refusal. Stock given to a
 * new product, or a product switched back on, is offered to the orders
 * that wait (offer.h); a crossing of the low-stock threshold publishes
 * stock.low.
 */
#ifndef INVENTORY_PRODUCTS_H
#define INVENTORY_PRODUCTS_H

#include "common/tx.h"
#include "services/inventory/catalogue.h"
#include "services/inventory/inventory.h"
#include "services/inventory/refusal.h"
#include "services/inventory/store.h"

typedef struct {
    inventory_app_t *app;
    const product_input_t *input; /* checked: catalogue_input_require(PRODUCT_REQUIRED_NEW) */
    const char *actor;
    refusal_t refusal; /* out; the caller clears it */
} product_create_t;

/* POST /v1/products: a new product, with its initial stock in the ledger. */
db_status_t products_create_tx(tx_t *tx, void *arg);

typedef struct {
    inventory_app_t *app;
    const char *sku;
    const product_input_t *input; /* the edits; NULL: deactivate */
    refusal_t refusal;            /* out; the caller clears it */
} product_edit_t;

/* PATCH /v1/products/{sku} and its deactivation. Stock is never edited
 * here (corrections.h). */
db_status_t products_edit_tx(tx_t *tx, void *arg);

/* The product a create (or an import's new row) builds from its input. */
void product_from_input(const product_input_t *in, product_row_t *product);

/* Applies the given fields of an edit (or an import's row) to a product. */
void product_apply(const product_input_t *in, product_row_t *product);

#endif
