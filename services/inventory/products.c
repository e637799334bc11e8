/*
 * products.c — creating, editing and deactivating a product (products.h).
 */
#include "services/inventory/products.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/strbuf.h"
#include "services/inventory/events.h"
#include "services/inventory/offer.h"

void product_from_input(const product_input_t *in, product_row_t *p)
{
    memset(p, 0, sizeof *p);
    str_copy_to(p->sku, sizeof p->sku, in->sku);
    str_copy_to(p->external_code, sizeof p->external_code,
                (in->given & PRODUCT_EXTERNAL_CODE) && !(in->cleared & PRODUCT_EXTERNAL_CODE)
                    ? in->external_code
                    : "");
    str_copy_to(p->name, sizeof p->name, in->name);
    str_copy_to(p->currency, sizeof p->currency, in->currency);
    str_copy_to(p->buyer_id, sizeof p->buyer_id,
                in->cleared & PRODUCT_BUYER_ID ? "" : in->buyer_id);
    str_copy_to(p->buyer_name, sizeof p->buyer_name,
                in->cleared & PRODUCT_BUYER_NAME ? "" : in->buyer_name);
    str_copy_to(p->buyer_email, sizeof p->buyer_email,
                in->cleared & PRODUCT_BUYER_EMAIL ? "" : in->buyer_email);
    p->price_minor = in->price_minor;
    p->vat_rate_bp = in->vat_rate_bp;
    p->weight_g = in->weight_g;
    p->active = (in->given & PRODUCT_ACTIVE) ? in->active : true;
    p->level.low_threshold = (in->given & PRODUCT_THRESHOLD) ? in->low_stock_threshold : 0;
}

/* Applies the edits of a PATCH to a product. */
void product_apply(const product_input_t *in, product_row_t *p)
{
    if (in->given & PRODUCT_EXTERNAL_CODE)
        str_copy_to(p->external_code, sizeof p->external_code,
                    in->cleared & PRODUCT_EXTERNAL_CODE ? "" : in->external_code);
    if (in->given & PRODUCT_NAME)
        str_copy_to(p->name, sizeof p->name, in->name);
    if (in->given & PRODUCT_PRICE)
        p->price_minor = in->price_minor;
    if (in->given & PRODUCT_CURRENCY)
        str_copy_to(p->currency, sizeof p->currency, in->currency);
    if (in->given & PRODUCT_VAT)
        p->vat_rate_bp = in->vat_rate_bp;
    if (in->given & PRODUCT_WEIGHT)
        p->weight_g = in->weight_g;
    if (in->given & PRODUCT_BUYER_ID)
        str_copy_to(p->buyer_id, sizeof p->buyer_id,
                    in->cleared & PRODUCT_BUYER_ID ? "" : in->buyer_id);
    if (in->given & PRODUCT_BUYER_NAME)
        str_copy_to(p->buyer_name, sizeof p->buyer_name,
                    in->cleared & PRODUCT_BUYER_NAME ? "" : in->buyer_name);
    if (in->given & PRODUCT_BUYER_EMAIL)
        str_copy_to(p->buyer_email, sizeof p->buyer_email,
                    in->cleared & PRODUCT_BUYER_EMAIL ? "" : in->buyer_email);
    if (in->given & PRODUCT_ACTIVE)
        p->active = in->active;
}

/* A unique violation on products: the SKU or the external code is taken. */
static void refuse_taken(tx_t *tx, refusal_t *refusal, const db_t *db, const char *sku)
{
    if (strstr(db_errmsg(db), "products_external_code_unique"))
        refuse(tx, refusal, REFUSED_CONFLICT, "external_code_taken",
               "the external code belongs to another product", "%s", db_errmsg(db));
    else
        refuse(tx, refusal, REFUSED_CONFLICT, "sku_exists", "a product with this sku exists",
               "product %s is already in the catalogue; edit it with PATCH", sku);
}

db_status_t products_create_tx(tx_t *tx, void *arg)
{
    product_create_t *ctx = arg;
    db_t *db = tx->db;
    refusal_t *refusal = &ctx->refusal;
    refusal_clear(refusal);
    product_row_t *product = calloc(1, sizeof *product);
    if (!product)
        return db_fail(db, DB_STATE_OUT_OF_MEMORY, "no room for product %s", ctx->input->sku);
    product_from_input(ctx->input, product);
    stock_level_t empty = {0, 0, product->level.low_threshold, false};
    int64_t on_hand = (ctx->input->given & PRODUCT_ON_HAND) ? ctx->input->on_hand : 0;
    stock_after_t after;
    stock_change(&empty, on_hand, 0, &after);
    product->level.on_hand = on_hand;
    product->level.low_alerted = after.low_alerted;
    emitter_t em = emitter_root(db, service_name(ctx->app->svc));
    db_status_t status = store_product_insert(db, product);
    if (status == DB_ERROR && strcmp(db_sqlstate(db), STORE_UNIQUE_VIOLATION) == 0) {
        refuse_taken(tx, refusal, db, product->sku);
        status = DB_OK;
        goto done;
    }
    if (status == DB_OK && on_hand > 0) {
        char ref[96];
        snprintf(ref, sizeof ref, "product:%s", product->sku);
        movement_t movement = {.sku = product->sku,
                               .on_hand_delta = on_hand,
                               .cause = "correction",
                               .kind = "correction",
                               .ref = ref,
                               .actor = ctx->actor,
                               .note = "initial stock"};
        status = store_movement_add(db, &movement);
        char key[OFFER_KEY_SIZE];
        offer_action_key("create", key);
        const char *sku = product->sku;
        if (status == DB_OK)
            status = offer_enqueue(db, &sku, 1, 0, key);
    }
    if (status == DB_OK && after.low_alert) {
        status = events_stock_low(&em, product, &after);
        metrics_counter_add(ctx->app->low_alerts_total, 1);
    }
done:
    free(product);
    return status;
}

db_status_t products_edit_tx(tx_t *tx, void *arg)
{
    product_edit_t *ctx = arg;
    db_t *db = tx->db;
    refusal_t *refusal = &ctx->refusal;
    refusal_clear(refusal);
    product_row_t *product = calloc(1, sizeof *product);
    if (!product)
        return db_fail(db, DB_STATE_OUT_OF_MEMORY, "no room for product %s", ctx->sku);
    size_t found = 0;
    db_status_t status = store_products_lock(db, &ctx->sku, 1, product, &found);
    if (status != DB_OK)
        goto done;
    if (found == 0) {
        refuse(tx, refusal, REFUSED_NOT_FOUND, "not_found", "product not found",
               "no product with sku %.64s", ctx->sku);
        goto done;
    }
    bool was_active = product->active;
    stock_after_t after;
    if (ctx->input) {
        product_apply(ctx->input, product);
        int64_t threshold = (ctx->input->given & PRODUCT_THRESHOLD)
                                ? ctx->input->low_stock_threshold
                                : product->level.low_threshold;
        stock_rethreshold(&product->level, threshold, &after);
        product->level.low_threshold = threshold;
    } else {
        product->active = false;
        stock_rethreshold(&product->level, product->level.low_threshold, &after);
    }
    product->level.low_alerted = after.low_alerted;
    status = store_product_write(db, product);
    if (status == DB_ERROR && strcmp(db_sqlstate(db), STORE_UNIQUE_VIOLATION) == 0) {
        refuse_taken(tx, refusal, db, product->sku);
        status = DB_OK;
        goto done;
    }
    emitter_t em = emitter_root(db, service_name(ctx->app->svc));
    if (status == DB_OK && after.low_alert) {
        status = events_stock_low(&em, product, &after);
        metrics_counter_add(ctx->app->low_alerts_total, 1);
    }
    if (status == DB_OK && !was_active && product->active) {
        /* back in the catalogue: orders waiting for it may now be held */
        char key[OFFER_KEY_SIZE];
        offer_action_key("activate", key);
        status = offer_enqueue(db, &ctx->sku, 1, 0, key);
    }
done:
    free(product);
    return status;
}
