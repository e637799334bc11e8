/*
 * orderstock.h — what inventory does with an order's stock (F10-F12),
 * inside the caller's transaction: hold every line or none, make a short
 * order wait, release or write off what it holds.
 *
 * The order.placed fact and the waiting-order retry (waiting.c) both hold
 * stock for orders, and the cancel and delivery facts both close
 * reservations; this is the one place that does it, so both paths lock,
 * check, write the ledger and answer the same way:
 *
 *   1. hold the order's products in the transaction's stock cache
 *      (stockcache.h): the first use of a product in the transaction takes
 *      its Redis lock (kept until COMMIT; going on without when Redis is
 *      away) and its row lock FOR UPDATE, in SKU order;
 *   2. decide from plain structs (reserve.h, stock.h) against the stock as
 *      this transaction has it — every earlier order of the batch included;
 *   3. record the decision: the products' new stock in the cache, the
 *      order's and its reservation rows and the ledger's rows as bulk
 *      inserts, the answer (stock.reserved, stock.shortage, ...) and any
 *      stock.low crossing in the outbox — all written in a few statements
 *      just before COMMIT, the stock only where it still is what was read
 *      under the row lock; the CHECKs on products and one reservation row
 *      per order line are the database's last word.
 *
 * The database decides, the locks only keep replicas from piling up on the
 * same rows; with Redis locks expiring at once or Redis stopped the row
 * locks alone serialise writers (tests/integration/test_inventory_race.sh).
 *
 * The order's row lock (store_order_lock here, store_waiting_batch in the
 * retry) is taken before its stock, so that facts about one order never
 * interleave. Failures of this code's own (out of memory, stock that does
 * not add up) are recorded with db_fail, so whoever answers for them
 * (inbox_result, jobs_result) reads the right code.
 */
#ifndef INVENTORY_ORDERSTOCK_H
#define INVENTORY_ORDERSTOCK_H

#include <stdbool.h>
#include <stddef.h>

#include "services/inventory/events.h"
#include "services/inventory/inventory.h"
#include "services/inventory/store.h"

#define ORDER_LINES_MAX 200

typedef enum {
    ORDERSTOCK_HELD = 0, /* every line is held: stock.reserved was published */
    ORDERSTOCK_SHORT,    /* not all lines can be held: nothing changed in stock */
    ORDERSTOCK_KNOWN,    /* a placement of an order inventory knows: nothing done */
} orderstock_result_t;

/* Tries to hold every line of the order. lines carry line_no, sku and
 * quantity; the catalogue's price, VAT and weight are filled in. A new
 * order (retry false) is first checked to be new (ORDERSTOCK_KNOWN
 * otherwise: the caller looks at it under its row lock); one that is short
 * is made to wait and stock.shortage is published. A waiting order retried
 * (retry true, the caller holds its row lock) that is still short stays as
 * it is, silently. */
db_status_t orderstock_reserve(inventory_app_t *app, const emitter_t *em, const order_ref_t *order,
                               order_line_t *lines, size_t line_count, bool retry,
                               orderstock_result_t *result_out);

/* Closes what the order holds: released (write_off false: cancelled; the
 * freed stock is offered to waiting orders, offer.h) or written off
 * (delivered). Publishes stock.released / stock.committed with the lines
 * closed (none when nothing was held). *closed_out: lines closed. */
db_status_t orderstock_close(inventory_app_t *app, const emitter_t *em, const order_ref_t *order,
                             bool write_off, size_t *closed_out);

/* The order stream's facts (handlers.c reads them off the wire), applied in
 * the applier's transaction on emitter_db(em). Versions: inventory keeps
 * per order the last version it applied (orders.version, read under the
 * order's row lock); a fact with an older or equal version was already
 * applied — the producer said it again — and is skipped. A fact about an
 * order inventory never heard of (a cancel that overtook its placement) is
 * recorded with its version, so the late placement, being older, is then
 * skipped rather than holding stock for a cancelled order. Facts that make
 * no sense for where the order stands (a delivery after a cancel) are
 * recorded and logged for a person, never refused. */

/* order.placed: hold every line, or make the order wait and say what is
 * short (lines as orderstock_reserve). */
db_status_t orderstock_placed(inventory_app_t *app, const emitter_t *em, const order_ref_t *order,
                              order_line_t *lines, size_t line_count);

/* order.changed: the order's new lines (lines as orderstock_reserve),
 * all or nothing. An order that holds stock has its new lines decided
 * against the stock with what it holds given back: every line can be
 * held -> its old reservation rows are released and the new ones held in
 * this transaction, stock.reserved for the new version; one cannot ->
 * nothing changes in stock, stock.shortage names the short lines with
 * kept_version (the old reservation is kept; the order does not wait).
 * A waiting order takes the new lines into its place in the queue and is
 * tried at once (stock.reserved, or stock.shortage and it waits on). An
 * order inventory never heard of is held as a placement would be; one
 * that no longer holds or waits (released, committed, cancelled) is
 * recorded at the version and logged. An edit that left the lines as
 * they were (lines_changed false: its delivery or discount) is only
 * recorded at its version: stock has nothing to answer. */
db_status_t orderstock_changed(inventory_app_t *app, const emitter_t *em, const order_ref_t *order,
                               order_line_t *lines, size_t line_count, bool lines_changed);

/* order.cancelled: release what it holds; a waiting order stops waiting.
 * An order cancelled from a status where its parcel is with the carrier
 * (from_status handed_to_carrier or rescheduled) keeps its reservation: the
 * goods are not on the shelf; the warehouse's receipt of the parcel
 * (returns.h) closes it, the sellable released and the damaged written off. */
db_status_t orderstock_cancelled(inventory_app_t *app, const emitter_t *em,
                                 const order_ref_t *order, const char *from_status);

/* order.delivered: write the held stock off. */
db_status_t orderstock_delivered(inventory_app_t *app, const emitter_t *em,
                                 const order_ref_t *order);

#endif
