/*
 * corrections.c — correcting a product's stock by hand (corrections.h).
 */
#include "services/inventory/corrections.h"

#include <stdio.h>
#include <string.h>

#include "common/uuid.h"
#include "services/inventory/events.h"
#include "services/inventory/offer.h"
#include "services/inventory/stockcache.h"

db_status_t corrections_post_tx(tx_t *tx, void *arg)
{
    correction_t *ctx = arg;
    db_t *db = tx->db;
    refusal_t *refusal = &ctx->refusal;
    refusal_clear(refusal);
    stockcache_t *cache = stockcache_of(db, ctx->app);
    product_row_t *product = NULL;
    if (!cache)
        return db_fail(db, DB_STATE_OUT_OF_MEMORY, "no room for the stock cache");
    db_status_t status = stockcache_hold(cache, db, &ctx->sku, 1, NULL, &product, NULL);
    if (status != DB_OK)
        return status;
    if (!product) {
        refuse(tx, refusal, REFUSED_NOT_FOUND, "not_found", "product not found",
               "no product with sku %.64s", ctx->sku);
        return DB_OK;
    }
    int64_t delta = ctx->absolute ? ctx->value - product->level.on_hand : ctx->value;
    if (delta == 0) {
        refuse(tx, refusal, REFUSED_CONFLICT, "no_change", "the correction changes nothing",
               "product %s already has %lld on hand", product->sku,
               (long long)product->level.on_hand);
        return DB_OK;
    }
    stock_after_t after;
    stock_refusal_t why = stock_change(&product->level, delta, 0, &after);
    if (why != STOCK_OK) {
        refuse(tx, refusal, REFUSED_CONFLICT, stock_refusal_code(why),
               "the correction would break the stock",
               "product %s has %lld on hand and %lld reserved for orders; %+lld would leave "
               "%s",
               product->sku, (long long)product->level.on_hand, (long long)product->level.reserved,
               (long long)delta,
               why == STOCK_OVER_RESERVED ? "less than is reserved" : "a negative stock");
        return DB_OK;
    }
    if (uuid_v4(ctx->correction_id) != 0)
        return db_fail(db, "58000", "no id for the correction of %s: the random source failed",
                       product->sku);
    emitter_t em = emitter_root(db, service_name(ctx->app->svc));
    if (after.low_alert) {
        status = events_stock_low(&em, product, &after);
        metrics_counter_add(ctx->app->low_alerts_total, 1);
    }
    stockcache_set(cache, product, &after);
    char ref[64];
    snprintf(ref, sizeof ref, "correction:%s", ctx->correction_id);
    movement_t movement = {.sku = product->sku,
                           .on_hand_delta = delta,
                           .cause = "correction",
                           .kind = "correction",
                           .ref = ref,
                           .actor = ctx->actor,
                           .note = ctx->reason};
    if (status == DB_OK)
        status = store_movement_add(db, &movement);
    if (status == DB_OK && delta > 0)
        status = offer_enqueue(db, &ctx->sku, 1, 0, ref);
    return status;
}
