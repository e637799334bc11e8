/*
 * supplies.c — recording an expected supply and receiving it (supplies.h).
 */
#include "services/inventory/supplies.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/inventory/events.h"
#include "services/inventory/offer.h"
#include "services/inventory/stockcache.h"

db_status_t supplies_record_tx(tx_t *tx, void *arg)
{
    supply_record_t *ctx = arg;
    db_t *db = tx->db;
    refusal_t *refusal = &ctx->refusal;
    refusal_clear(refusal);
    const char **skus = calloc(ctx->line_count, sizeof *skus);
    json_t *missing = NULL;
    db_status_t status = DB_OK;
    if (!skus) {
        status = db_fail(db, DB_STATE_OUT_OF_MEMORY, "no room to record a supply");
        goto done;
    }
    for (size_t i = 0; i < ctx->line_count; i++)
        skus[i] = ctx->lines[i].sku;
    status = store_unknown_skus(db, skus, ctx->line_count, &missing);
    if (status != DB_OK)
        goto done;
    if (json_array_size(missing) > 0) {
        problems_t problems;
        if (problems_init(&problems) != 0) {
            status = db_fail(db, DB_STATE_OUT_OF_MEMORY, "no room to list the unknown products");
            goto done;
        }
        for (size_t m = 0; m < json_array_size(missing); m++) {
            const char *sku = json_string_value(json_array_get(missing, m));
            for (size_t i = 0; i < ctx->line_count; i++) {
                if (strcmp(ctx->lines[i].sku, sku) != 0)
                    continue;
                char field[48];
                snprintf(field, sizeof field, "lines[%zu].sku", i);
                problems_add(&problems, field, "unknown", "no product with sku %s", sku);
            }
        }
        refuse_problems(tx, refusal, "invalid", "the supply names products that do not exist",
                        &problems);
        problems_release(&problems);
        goto done;
    }
    status = store_supply_insert(db, ctx->expected_date, ctx->supplier, ctx->comment, ctx->actor,
                                 ctx->lines, ctx->line_count, &ctx->id);
done:
    json_decref(missing);
    free(skus);
    return status;
}

db_status_t supplies_receive_tx(tx_t *tx, void *arg)
{
    supply_receive_t *ctx = arg;
    db_t *db = tx->db;
    refusal_t *refusal = &ctx->refusal;
    refusal_clear(refusal);
    char state[16];
    stockcache_t *cache = stockcache_of(db, ctx->app);
    supply_line_t *lines = calloc(SUPPLY_LINES_MAX, sizeof *lines);
    const char **skus = calloc(SUPPLY_LINES_MAX, sizeof *skus);
    product_row_t **held = calloc(SUPPLY_LINES_MAX, sizeof *held);
    int64_t *waiting = calloc(SUPPLY_LINES_MAX, sizeof *waiting);
    const char **raised = calloc(SUPPLY_LINES_MAX, sizeof *raised);
    size_t count = 0, raised_count = 0;
    db_status_t status = DB_OK;
    if (!cache || !lines || !skus || !held || !waiting || !raised) {
        status = db_fail(db, DB_STATE_OUT_OF_MEMORY, "no room to receive supply %lld",
                         (long long)ctx->id);
        goto done;
    }
    status = store_supply_lock(db, ctx->id, state, lines, SUPPLY_LINES_MAX, &count);
    if (status != DB_OK)
        goto done;
    if (!state[0]) {
        refuse(tx, refusal, REFUSED_NOT_FOUND, "not_found", "supply not found", "no supply %lld",
               (long long)ctx->id);
        goto done;
    }
    if (strcmp(state, "received") == 0) {
        refuse(tx, refusal, REFUSED_CONFLICT, "already_received", "the supply was already received",
               "supply %lld was received before; its stock is in", (long long)ctx->id);
        goto done;
    }
    /* what actually came */
    for (size_t r = 0; r < ctx->received_count; r++) {
        bool listed = false;
        for (size_t i = 0; i < count; i++)
            if (strcmp(lines[i].sku, ctx->received[r].sku) == 0) {
                lines[i].quantity = ctx->received[r].quantity;
                listed = true;
            }
        if (!listed) {
            refuse(tx, refusal, REFUSED_INVALID, "not_in_supply",
                   "a received line is not in the supply", "sku %s is not in supply %lld",
                   ctx->received[r].sku, (long long)ctx->id);
            goto done;
        }
    }
    for (size_t i = 0; i < count; i++)
        skus[i] = lines[i].sku;
    status = stockcache_hold(cache, db, skus, count, NULL, held, NULL);
    if (status == DB_OK)
        status = store_waiting_counts(db, skus, count, waiting);
    if (status == DB_OK)
        status = store_supply_received(db, ctx->id, ctx->actor, lines, count);
    char ref[48];
    snprintf(ref, sizeof ref, "supply:%lld", (long long)ctx->id);
    emitter_t em = emitter_root(db, service_name(ctx->app->svc));
    for (size_t i = 0; i < count && status == DB_OK; i++) {
        if (!held[i] || lines[i].quantity == 0)
            continue; /* supply lines name catalogue products (foreign key) */
        stock_after_t after;
        if (stock_change(&held[i]->level, lines[i].quantity, 0, &after) != STOCK_OK) {
            refuse(tx, refusal, REFUSED_CONFLICT, "too_large", "the stock would be too large",
                   "sku %s", held[i]->sku);
            goto done;
        }
        stockcache_set(cache, held[i], &after);
        movement_t movement = {.sku = held[i]->sku,
                               .on_hand_delta = lines[i].quantity,
                               .cause = "supply",
                               .kind = "receive",
                               .ref = ref,
                               .actor = ctx->actor};
        status = store_movement_add(db, &movement);
        if (status == DB_OK)
            status = events_stock_replenished(&em, held[i]->sku, lines[i].quantity, ctx->id,
                                              after.on_hand, after.on_hand - after.reserved,
                                              (uint32_t)waiting[i]);
        raised[raised_count++] = held[i]->sku;
        metrics_counter_add(ctx->app->replenished_total, 1);
    }
    if (status == DB_OK && raised_count > 0)
        status = offer_enqueue(db, raised, raised_count, 0, ref);
done:
    free(lines);
    free(skus);
    free(held);
    free(waiting);
    free(raised);
    return status;
}
