/*
 * returns.c — goods received back at the warehouse (returns.h).
 */
#include "services/inventory/returns.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/inventory/events.h"
#include "services/inventory/offer.h"
#include "services/inventory/orderstock.h"
#include "services/inventory/stockcache.h"

static const returnable_line_t *find_line(const returnable_line_t *lines, size_t count,
                                          uint32_t line_no)
{
    for (size_t i = 0; i < count; i++)
        if (lines[i].line_no == line_no)
            return &lines[i];
    return NULL;
}

/* Checks every line against what the order shipped and fills in its SKU;
 * false: refused (the refusal says which line and why). */
static bool within_shipped(tx_t *tx, return_receipt_t *ctx, const returnable_line_t *shipped,
                           size_t shipped_count)
{
    for (size_t i = 0; i < ctx->line_count; i++) {
        return_line_t *line = &ctx->lines[i];
        const returnable_line_t *sent = find_line(shipped, shipped_count, line->line_no);
        if (!sent) {
            refuse(tx, &ctx->refusal, REFUSED_INVALID, "unknown_line",
                   "the return names a line the order did not ship", "order %s shipped no line %u",
                   ctx->order_id, line->line_no);
            return false;
        }
        int64_t asked = 0;
        for (size_t j = 0; j < ctx->line_count; j++)
            if (ctx->lines[j].line_no == line->line_no)
                asked += ctx->lines[j].quantity;
        if (sent->returned + asked > sent->shipped) {
            refuse(tx, &ctx->refusal, REFUSED_CONFLICT, "exceeds_shipped",
                   "the return is more than the order shipped",
                   "order %s line %u (%s): %lld shipped, %lld already returned, %lld more "
                   "cannot come back",
                   ctx->order_id, line->line_no, sent->sku, (long long)sent->shipped,
                   (long long)sent->returned, (long long)asked);
            return false;
        }
        snprintf(line->sku, sizeof line->sku, "%s", sent->sku);
    }
    return true;
}

/* The stock change of one returned line. Delivered (its stock written
 * off): a sellable line comes back on hand, a damaged one changes nothing.
 * Held (a parcel not delivered): a sellable line's reservation is released,
 * a damaged one is written off. *kind_out: the ledger's kind. */
static void line_change(const return_line_t *line, bool held, int64_t *on_hand_delta,
                        int64_t *reserved_delta, const char **kind_out)
{
    *on_hand_delta = held ? (line->damaged ? -line->quantity : 0) : line->quantity;
    *reserved_delta = held ? -line->quantity : 0;
    *kind_out = !held ? "return" : line->damaged ? "write_off" : "release";
}

/* Puts the lines back where they belong, through the ledger, and offers
 * what became available to the orders that wait. */
static db_status_t restock(tx_t *tx, return_receipt_t *ctx, bool held, const char *ref)
{
    db_t *db = tx->db;
    stockcache_t *cache = stockcache_of(db, ctx->app);
    if (!cache)
        return db_fail(db, DB_STATE_OUT_OF_MEMORY, "no room for the stock cache of return %s",
                       ctx->return_id);
    const char *skus[RETURN_LINES_MAX];
    product_row_t *rows[RETURN_LINES_MAX];
    size_t count = 0;
    for (size_t i = 0; i < ctx->line_count; i++)
        if (held || !ctx->lines[i].damaged)
            skus[count++] = ctx->lines[i].sku;
    if (count == 0)
        return DB_OK;
    db_status_t status = stockcache_hold(cache, db, skus, count, NULL, rows, NULL);
    for (size_t i = 0, k = 0; status == DB_OK && i < ctx->line_count; i++) {
        const return_line_t *line = &ctx->lines[i];
        if (!held && line->damaged)
            continue;
        product_row_t *product = rows[k++];
        if (!product)
            return db_fail(db, DB_STATE_BAD_DATA,
                           "return %s: product %s of order %s line %u is gone", ctx->return_id,
                           line->sku, ctx->order_id, line->line_no);
        int64_t on_hand_delta, reserved_delta;
        const char *kind;
        line_change(line, held, &on_hand_delta, &reserved_delta, &kind);
        stock_after_t after;
        if (stock_change(&product->level, on_hand_delta, reserved_delta, &after) != STOCK_OK)
            return db_fail(db, DB_STATE_BAD_DATA,
                           "return %s: %+lld on hand, %+lld reserved of %s does not fit the stock",
                           ctx->return_id, (long long)on_hand_delta, (long long)reserved_delta,
                           line->sku);
        if (after.low_alert) {
            emitter_t em = emitter_root(db, service_name(ctx->app->svc));
            status = events_stock_low(&em, product, &after);
            metrics_counter_add(ctx->app->low_alerts_total, 1);
        }
        stockcache_set(cache, product, &after);
        movement_t movement = {.sku = line->sku,
                               .on_hand_delta = on_hand_delta,
                               .reserved_delta = reserved_delta,
                               .cause = "return",
                               .kind = kind,
                               .ref = ref,
                               .line_no = line->line_no,
                               .actor = ctx->actor,
                               .note = ctx->kind};
        if (status == DB_OK)
            status = store_movement_add(db, &movement);
    }
    if (status == DB_OK)
        status = offer_enqueue(db, skus, count, 0, ref);
    return status;
}

db_status_t returns_receive_tx(tx_t *tx, void *arg)
{
    return_receipt_t *ctx = arg;
    db_t *db = tx->db;
    refusal_clear(&ctx->refusal);
    ctx->already = false;
    ctx->restocked = 0;
    ctx->written_off = 0;
    order_state_t state;
    db_status_t status = store_order_lock(db, ctx->order_id, &state);
    if (status != DB_OK)
        return status;
    if (!state.found) {
        refuse(tx, &ctx->refusal, REFUSED_NOT_FOUND, "order_not_found", "order not found",
               "inventory holds no order %s", ctx->order_id);
        return DB_OK;
    }
    char known_order[UUID_TEXT_SIZE] = "";
    bool known = false;
    status = store_return_order(db, ctx->return_id, known_order, sizeof known_order, &known);
    if (status != DB_OK)
        return status;
    if (known) {
        if (strcmp(known_order, ctx->order_id) != 0) {
            refuse(tx, &ctx->refusal, REFUSED_CONFLICT, "return_id_taken",
                   "the return id belongs to another order", "return %s was received for order %s",
                   ctx->return_id, known_order);
            return DB_OK;
        }
        ctx->already = true;
        return DB_OK;
    }
    bool held = strcmp(state.status, "reserved") == 0;
    if (!held && strcmp(state.status, "committed") != 0) {
        refuse(tx, &ctx->refusal, REFUSED_CONFLICT, "not_shipped",
               "only goods an order shipped can be returned",
               "order %s is %s in inventory: it holds no stock and none was written off",
               ctx->order_id, state.status);
        return DB_OK;
    }
    returnable_line_t *shipped = calloc(ORDER_LINES_MAX, sizeof *shipped);
    if (!shipped)
        return db_fail(db, DB_STATE_OUT_OF_MEMORY, "no room for the lines of order %s",
                       ctx->order_id);
    size_t shipped_count = 0;
    status =
        store_returnable_lines(db, ctx->order_id, held, shipped, ORDER_LINES_MAX, &shipped_count);
    bool fits = status == DB_OK && within_shipped(tx, ctx, shipped, shipped_count);
    int64_t left = 0; /* units shipped that no return brought back, this one included */
    for (size_t i = 0; fits && i < shipped_count; i++)
        left += shipped[i].shipped - shipped[i].returned;
    for (size_t i = 0; fits && i < ctx->line_count; i++)
        left -= ctx->lines[i].quantity;
    free(shipped);
    if (!fits)
        return status;
    if (held && left != 0) {
        refuse(tx, &ctx->refusal, REFUSED_CONFLICT, "partial_parcel",
               "a parcel that was not delivered comes back whole",
               "order %s was not delivered: its parcel holds %lld more units than the return names",
               ctx->order_id, (long long)left);
        return DB_OK;
    }
    char ref[64];
    snprintf(ref, sizeof ref, "return:%s", ctx->return_id);
    status = restock(tx, ctx, held, ref);
    for (size_t i = 0; i < ctx->line_count; i++) {
        if (ctx->lines[i].damaged)
            ctx->written_off += ctx->lines[i].quantity;
        else
            ctx->restocked += ctx->lines[i].quantity;
    }
    if (status == DB_OK && held) { /* the parcel is back whole: the order holds nothing */
        order_ref_t order = {.order_id = ctx->order_id, .version = (uint64_t)state.version};
        int64_t closed = 0;
        status = store_reservations_close(db, &order, false, "returned", &closed);
    }
    return_record_t record = {.return_id = ctx->return_id,
                              .order_id = ctx->order_id,
                              .kind = ctx->kind,
                              .actor = ctx->actor,
                              .comment = ctx->comment,
                              .lines = ctx->lines,
                              .line_count = ctx->line_count,
                              .whole = left == 0};
    if (status == DB_OK)
        status = store_return_record(db, &record);
    if (status == DB_OK) {
        emitter_t em = emitter_root(db, service_name(ctx->app->svc));
        status = events_return_received(&em, &record, (uint64_t)state.version);
    }
    return status;
}
