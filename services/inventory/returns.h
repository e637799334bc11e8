/*
 * returns.h — goods of a shipped order received back at the warehouse
 * (F12): a parcel refused or returned by the carrier, or goods the
 * customer brought back.
 *
 * Inventory owns this because the return is a change of stock: the
 * sellable lines go back on hand through the ledger and return.received is
 * published in the same transaction (EVENTS.md: the inventory stream, heard
 * by the order service). Damaged lines stay written off — their stock left
 * at delivery — and are recorded with their reason as the write-off.
 *
 * Rules: a delivered order (status committed: its stock written off)
 * takes returns, in parts; per order line, all its returns together never
 * exceed what was shipped (refused whole, naming the line). A parcel not
 * delivered (refused, or sent back by the carrier: status reserved, its
 * stock still held) comes back whole, in one return: sellable units are
 * released, damaged ones written off, and the order holds nothing after
 * (status returned). Either way a return id is applied once — the same
 * id again for the same order answers what was done, changing nothing; for
 * another order it is refused. The order's row
 * lock is taken first, so two receipts of one order never interleave.
 */
#ifndef INVENTORY_RETURNS_H
#define INVENTORY_RETURNS_H

#include <stdbool.h>
#include <stdint.h>

#include "common/tx.h"
#include "common/uuid.h"
#include "services/inventory/inventory.h"
#include "services/inventory/refusal.h"
#include "services/inventory/store.h"

#define RETURN_LINES_MAX 50

typedef struct {
    inventory_app_t *app;
    const char *return_id;
    const char *order_id;
    const char *kind; /* refused, returned, brought_back */
    const char *actor;
    const char *comment;
    return_line_t lines[RETURN_LINES_MAX];
    size_t line_count;
    bool already;        /* out: this return id was received before; nothing done */
    int64_t restocked;   /* out: units back on hand */
    int64_t written_off; /* out: units written off as damaged */
    refusal_t refusal;   /* out; the caller clears it */
} return_receipt_t;

/* POST /v1/returns: a transaction body for service_tx. */
db_status_t returns_receive_tx(tx_t *tx, void *arg);

#endif
