/*
 * imports.c — applying a catalogue import, all or nothing (imports.h).
 * Reading the file (CSV or JSON) and checking each row on its own is
 * import.c's, a pure rule; this checks the rows against the catalogue as
 * it stands under lock and writes them.
 */
#include "services/inventory/imports.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/inventory/events.h"
#include "services/inventory/offer.h"
#include "services/inventory/products.h"

static void import_merged(const import_row_t *row, const product_row_t *old, product_row_t *out)
{
    if (old)
        *out = *old;
    else
        product_from_input(&row->input, out);
    if (old)
        product_apply(&row->input, out);
    if (row->input.given & PRODUCT_THRESHOLD)
        out->level.low_threshold = row->input.low_stock_threshold;
}

static const product_row_t *find_row(const product_row_t *rows, size_t count, const char *sku)
{
    size_t lo = 0, hi = count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int cmp = strcmp(rows[mid].sku, sku);
        if (cmp == 0)
            return &rows[mid];
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static int compare_rows(const void *a, const void *b)
{
    return strcmp(((const product_row_t *)a)->sku, ((const product_row_t *)b)->sku);
}

static import_sql_row_t sql_row_of(const product_input_t *in)
{
    import_sql_row_t r = {
        .sku = in->sku,
        .external_code = in->external_code,
        .name = in->name,
        .currency = (in->given & PRODUCT_CURRENCY) ? in->currency : NULL,
        .buyer_id = in->buyer_id,
        .buyer_name = in->buyer_name,
        .buyer_email = in->buyer_email,
        .clear_external_code = (in->cleared & PRODUCT_EXTERNAL_CODE) != 0,
        .clear_buyer_id = (in->cleared & PRODUCT_BUYER_ID) != 0,
        .clear_buyer_name = (in->cleared & PRODUCT_BUYER_NAME) != 0,
        .clear_buyer_email = (in->cleared & PRODUCT_BUYER_EMAIL) != 0,
        .has_price = (in->given & PRODUCT_PRICE) != 0,
        .has_vat = (in->given & PRODUCT_VAT) != 0,
        .has_weight = (in->given & PRODUCT_WEIGHT) != 0,
        .has_threshold = (in->given & PRODUCT_THRESHOLD) != 0,
        .has_active = (in->given & PRODUCT_ACTIVE) != 0,
        .has_on_hand = (in->given & PRODUCT_ON_HAND) != 0,
        .price_minor = in->price_minor,
        .low_stock_threshold = in->low_stock_threshold,
        .on_hand = in->on_hand,
        .vat_rate_bp = in->vat_rate_bp,
        .weight_g = in->weight_g,
        .active = in->active,
    };
    if (in->cleared & PRODUCT_EXTERNAL_CODE)
        r.external_code = NULL;
    return r;
}

db_status_t imports_apply_tx(tx_t *tx, void *arg)
{
    import_apply_t *ctx = arg;
    db_t *db = tx->db;
    refusal_t *refusal = &ctx->refusal;
    refusal_clear(refusal);
    import_t *import = ctx->import;
    size_t n = import->count;
    ctx->created = ctx->updated = ctx->stock_changed = ctx->low_alerts = 0;
    const char **skus = calloc(n, sizeof *skus);
    const char **codes = calloc(n, sizeof *codes);
    import_known_t *known = NULL;
    import_code_t *held = NULL;
    store_code_t *codes_held = NULL;
    product_row_t *rows = NULL, *merged = NULL;
    import_sql_row_t *inserts = calloc(n, sizeof *inserts);
    import_sql_row_t *updates = calloc(n, sizeof *updates);
    stock_after_t *afters = calloc(n, sizeof *afters);
    const char **raised = calloc(n, sizeof *raised);
    size_t row_count = 0, code_count = 0, held_count = 0, insert_count = 0, update_count = 0,
           raised_count = 0;
    problems_t problems = {0};
    db_status_t status = DB_OK;
    if (!skus || !codes || !inserts || !updates || !afters || !raised ||
        problems_init(&problems) != 0 ||
        json_array_extend(problems.errors, (json_t *)(uintptr_t)ctx->parse_errors) != 0) {
        status = db_fail(db, DB_STATE_OUT_OF_MEMORY, "no room to apply an import of %zu rows", n);
        goto done;
    }
    size_t sku_count = 0;
    for (size_t i = 0; i < n; i++) {
        const product_input_t *in = &import->rows[i].input;
        if (in->given & PRODUCT_SKU)
            skus[sku_count++] = in->sku;
        if ((in->given & PRODUCT_EXTERNAL_CODE) && !(in->cleared & PRODUCT_EXTERNAL_CODE))
            codes[code_count++] = in->external_code;
    }
    status = store_products_lock_many(db, skus, sku_count, &rows, &row_count);
    if (status != DB_OK)
        goto done;
    qsort(rows, row_count, sizeof *rows, compare_rows);
    status = store_codes_held(db, codes, code_count, &codes_held, &held_count);
    if (status != DB_OK)
        goto done;
    known = calloc(row_count ? row_count : 1, sizeof *known);
    held = calloc(held_count ? held_count : 1, sizeof *held);
    if (!known || !held) {
        status = db_fail(db, DB_STATE_OUT_OF_MEMORY, "no room to check an import of %zu rows", n);
        goto done;
    }
    for (size_t i = 0; i < row_count; i++)
        known[i] = (import_known_t){rows[i].sku, rows[i].level.on_hand, rows[i].level.reserved};
    for (size_t i = 0; i < held_count; i++)
        held[i] = (import_code_t){codes_held[i].external_code, codes_held[i].sku};
    import_check_catalogue(import, known, row_count, held, held_count, &problems);
    if (problems_count(&problems) > 0) {
        refuse_problems(tx, refusal, "import_invalid", "the import was not applied: rows are wrong",
                        &problems);
        goto done;
    }

    /* what each row leaves behind: stock, low flags, ledger deltas */
    for (size_t i = 0; i < n; i++) {
        const import_row_t *row = &import->rows[i];
        const product_input_t *in = &row->input;
        const product_row_t *old = row->exists ? find_row(rows, row_count, in->sku) : NULL;
        stock_level_t level = old ? old->level : (stock_level_t){0, 0, 0, false};
        if (in->given & PRODUCT_THRESHOLD)
            level.low_threshold = in->low_stock_threshold;
        int64_t delta = (in->given & PRODUCT_ON_HAND) ? in->on_hand - level.on_hand : 0;
        if (stock_change(&level, delta, 0, &afters[i]) != STOCK_OK) {
            /* import_check_catalogue refused these: never here */
            status =
                db_fail(db, DB_STATE_BAD_DATA, "the import's row for %s breaks its stock", in->sku);
            goto done;
        }
        import_sql_row_t sql = sql_row_of(in);
        sql.low_alerted = afters[i].low_alerted;
        if (old)
            updates[update_count++] = sql;
        else
            inserts[insert_count++] = sql;
        bool activated = old && !old->active && (in->given & PRODUCT_ACTIVE) && in->active;
        if (delta > 0 || activated || (!old && afters[i].on_hand > 0))
            raised[raised_count++] = in->sku;
    }
    status = store_import_insert(db, inserts, insert_count);
    if (status == DB_OK)
        status = store_import_update(db, updates, update_count);
    if (status == DB_ERROR && strcmp(db_sqlstate(db), STORE_UNIQUE_VIOLATION) == 0) {
        refuse(tx, refusal, REFUSED_CONFLICT, "external_code_taken",
               "the import was not applied: external codes collide", "%s", db_errmsg(db));
        status = DB_OK;
        goto done;
    }
    if (status != DB_OK)
        goto done;
    ctx->created = (int)insert_count;
    ctx->updated = (int)update_count;
    for (size_t i = 0; i < n; i++) {
        const import_row_t *row = &import->rows[i];
        const product_row_t *old = row->exists ? find_row(rows, row_count, row->input.sku) : NULL;
        if (afters[i].on_hand != (old ? old->level.on_hand : 0))
            ctx->stock_changed++;
    }
    status = store_import_record(db, import->csv, (int)n, ctx->created, ctx->updated,
                                 ctx->stock_changed, ctx->actor, &ctx->import_id);
    char ref[48];
    snprintf(ref, sizeof ref, "import:%lld", (long long)ctx->import_id);
    merged = calloc(1, sizeof *merged);
    if (status == DB_OK && !merged)
        status = db_fail(db, DB_STATE_OUT_OF_MEMORY, "no room for a product of the import");
    emitter_t em = emitter_root(db, service_name(ctx->app->svc));
    for (size_t i = 0; i < n && status == DB_OK; i++) {
        const import_row_t *row = &import->rows[i];
        const product_row_t *old = row->exists ? find_row(rows, row_count, row->input.sku) : NULL;
        int64_t delta = afters[i].on_hand - (old ? old->level.on_hand : 0);
        if (delta != 0) {
            movement_t movement = {.sku = row->input.sku,
                                   .on_hand_delta = delta,
                                   .cause = "import",
                                   .kind = "import",
                                   .ref = ref,
                                   .actor = ctx->actor};
            status = store_movement_add(db, &movement);
        }
        if (status == DB_OK && afters[i].low_alert) {
            import_merged(row, old, merged);
            status = events_stock_low(&em, merged, &afters[i]);
            ctx->low_alerts++;
            metrics_counter_add(ctx->app->low_alerts_total, 1);
        }
    }
    if (status == DB_OK && raised_count > 0)
        status = offer_enqueue(db, raised, raised_count, 0, ref);
done:
    problems_release(&problems);
    free(skus);
    free(codes);
    free(known);
    free(held);
    store_codes_free(codes_held, held_count);
    free(rows);
    free(merged);
    free(inserts);
    free(updates);
    free(afters);
    free(raised);
    return status;
}

/* The media type without parameters, lower-cased, into out. */
