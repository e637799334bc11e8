/*
 * stock.h — what the inventory stream reports about an order's stock, and
 * what it does to the order (stock.c): held (priced, totals computed,
 * back from awaiting supply), short (waiting for supply, a task), released
 * or written off (noted).
 *
 * The reports arrive as plain structs (handlers.c reads the wire), borrowed
 * for the call.
 */
#ifndef ORDER_STOCK_H
#define ORDER_STOCK_H

#include <stddef.h>
#include <stdint.h>

#include "common/emit.h"
#include "services/order/order.h"
#include "services/order/store.h"

/* A line inventory holds, at the catalogue's price. */
typedef struct {
    uint32_t line_no;
    const char *name;
    int64_t unit_price_minor;
    uint32_t vat_rate_bp;
    uint32_t unit_weight_g;
} stock_held_line_t;

typedef struct {
    const char *order_id;
    uint64_t order_version; /* the order version whose lines are held */
    const stock_held_line_t *lines;
    size_t line_count;
} stock_reserved_t;

/* A line inventory cannot hold. */
typedef struct {
    uint32_t line_no;
    const char *sku;
    int64_t requested;
    int64_t available;
    const char *reason;
    const char *expected_date;
} stock_short_line_t;

typedef struct {
    const char *order_id;
    uint64_t order_version;
    uint64_t kept_version; /* an edit not held: the reservation of this version is kept */
    const stock_short_line_t *lines;
    size_t line_count;
} stock_shortage_t;

typedef enum {
    STOCK_APPLIED = 0,    /* recorded (or nothing to do: an unknown order) */
    STOCK_TOTALS_OVERFLOW /* the order's sums do not fit int64: refused, nothing written */
} stock_outcome_t;

/* Both answers are about the lines of order_version: one about lines an
 * edit has since replaced (order_version below the order's lines_version,
 * editing.h) is recorded in the history and changes nothing. */

/* stock.reserved: prices the lines (the sender's where its source may set
 * them), computes the totals, announces order.reserved and brings an
 * order waiting for supply back to new. An order whose sums would not fit
 * int64 is refused (*outcome, detail says which sum), never computed with
 * a wrapped sum. With `run` (a run of stock.reserved, each order once in
 * it), an order that nothing after reads back in the transaction has its
 * prices and totals added to run, for the caller to write with the run's
 * others (store_orders_set_reserved) before anything else reads them;
 * NULL writes them at once. */
db_status_t stock_on_reserved(order_app_t *app, const emitter_t *em, const stock_reserved_t *fact,
                              store_reserved_many_t *run, stock_outcome_t *outcome, char *detail,
                              size_t detail_size);

/* stock.shortage: the order waits for supply, its manager gets a task.
 * An edit that could not be held (kept_version set: inventory kept the
 * earlier reservation, the order does not wait) marks the stock short
 * without moving the order: its manager's task names the short lines. */
db_status_t stock_on_shortage(order_app_t *app, const emitter_t *em, const stock_shortage_t *fact);

/* stock.released ("released") and stock.committed ("committed"): the
 * order's stock state and a history row. */
db_status_t stock_on_closed(db_t *db, const char *order_id, const char *state);

#endif
