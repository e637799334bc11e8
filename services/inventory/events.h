/*
 * events.h — the inventory stream's messages (docs/events.md,
 * proto/conveyor/inventory.proto), built from the service's plain structs
 * and appended to the outbox in the caller's transaction.
 *
 * The emitter is the kit's (common/emit.h): inside an event handler the
 * event ids derive from the cause (emitter_of_event), elsewhere (HTTP,
 * jobs) they are root events of the inventory stream (emitter_root).
 * Either way the event exists only if the transaction commits.
 *
 * Correlation: answers about an order carry the order id; stock.low and
 * stock.replenished are about a product, not an order, and carry none, so
 * that a consumer never parks them behind an order's dead letter.
 */
#ifndef INVENTORY_EVENTS_H
#define INVENTORY_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "common/db.h"
#include "common/emit.h"
#include "services/inventory/store.h"

/* A line of stock.shortage. */
typedef struct {
    uint32_t line_no;
    const char *sku;
    int64_t requested;
    int64_t available;
    const char *reason;        /* insufficient, unknown_sku, inactive */
    const char *expected_date; /* "" when no supply is recorded */
    int64_t supply_id;         /* 0 when none */
} short_line_t;

/* stock.reserved: lines priced from the catalogue; names[i] is line i's
 * product name. */
db_status_t events_stock_reserved(const emitter_t *em, const order_ref_t *order,
                                  const order_line_t *lines, const char *const *names,
                                  size_t line_count, const char *currency);

/* stock.shortage: the short lines; kept_version, for an edit of an order
 * that holds stock, the earlier version whose reservation is kept (0:
 * nothing held, the order waits). */
db_status_t events_stock_shortage(const emitter_t *em, const order_ref_t *order,
                                  const short_line_t *lines, size_t line_count,
                                  uint64_t kept_version);

/* stock.released (write_off false, with reason) or stock.committed. */
db_status_t events_stock_closed(const emitter_t *em, const order_ref_t *order, bool write_off,
                                const order_line_t *lines, size_t line_count, const char *reason);

db_status_t events_stock_replenished(const emitter_t *em, const char *sku, int64_t quantity,
                                     int64_t supply_id, int64_t on_hand, int64_t available,
                                     uint32_t waiting_orders);

/* stock.low for a product whose stock is now `after`. */
db_status_t events_stock_low(const emitter_t *em, const product_row_t *product,
                             const stock_after_t *after);

/* return.received: the return as recorded, about the order at the
 * version inventory last applied. */
db_status_t events_return_received(const emitter_t *em, const return_record_t *record,
                                   uint64_t order_version);

#endif
