/*
 * waiting.c — the waiting-order retry (waiting.h).
 */
#include "services/inventory/waiting.h"

#include <stdio.h>
#include <stdlib.h>

#include "services/inventory/offer.h"
#include "services/inventory/orderstock.h"
#include "services/inventory/stockcache.h"

db_status_t waiting_retry(inventory_app_t *app, db_t *db, const waiting_offer_t *offer,
                          size_t *tried_out, size_t *held_out)
{
    *tried_out = *held_out = 0;
    size_t sku_count = offer->sku_count;
    waiting_order_t *orders = calloc((size_t)app->retry_batch, sizeof *orders);
    order_line_t *lines = calloc(ORDER_LINES_MAX, sizeof *lines);
    product_row_t **rows = calloc(sku_count ? sku_count : 1, sizeof *rows);
    stockcache_t *cache = stockcache_of(db, app);
    db_status_t status = DB_OK;
    if (!orders || !lines || !rows || !cache) {
        status = db_fail(db, DB_STATE_OUT_OF_MEMORY, "no room to retry waiting orders");
        goto done;
    }
    /* Lock the SKUs first: a transaction still deciding orders for them
     * (the applier's batch) commits before the waiting orders are read, so
     * an order it just made wait is seen here. */
    status = stockcache_hold(cache, db, offer->skus, sku_count, NULL, rows, NULL);
    size_t count = 0;
    if (status == DB_OK)
        status = store_waiting_batch(db, offer->skus, sku_count, offer->after, app->retry_batch,
                                     orders, &count);
    emitter_t em = emitter_root(db, service_name(app->svc));
    for (size_t i = 0; i < count && status == DB_OK; i++) {
        size_t line_count = 0;
        status = store_waiting_lines(db, orders[i].order_id, lines, ORDER_LINES_MAX, &line_count);
        if (status != DB_OK || line_count == 0)
            continue;
        order_ref_t order = {orders[i].order_id, (uint64_t)orders[i].version, 0,
                             orders[i].currency};
        orderstock_result_t result;
        status = orderstock_reserve(app, &em, &order, lines, line_count, true, &result);
        *held_out += status == DB_OK && result == ORDERSTOCK_HELD;
    }
    *tried_out = count;
    if (status == DB_OK && count == (size_t)app->retry_batch) {
        char key[OFFER_KEY_SIZE];
        snprintf(key, sizeof key, "job:%lld:after:%lld", (long long)offer->job_id,
                 (long long)orders[count - 1].waiting_no);
        status = offer_enqueue(db, offer->skus, sku_count, orders[count - 1].waiting_no, key);
    }
done:
    free(orders);
    free(lines);
    free(rows);
    return status;
}
