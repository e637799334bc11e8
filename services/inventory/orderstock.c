/*
 * orderstock.c — holding, releasing and writing off an order's stock
 * (orderstock.h).
 */
#include "services/inventory/orderstock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "services/inventory/offer.h"
#include "services/inventory/reserve.h"
#include "services/inventory/stockcache.h"

#define ACTOR_SYSTEM "system"

/* The order's stock.shortage: each line that cannot be held, with the
 * next expected supply of its SKU when one is recorded. */
static db_status_t announce_shortage(db_t *db, const emitter_t *em, const order_ref_t *order,
                                     const order_line_t *lines, size_t line_count,
                                     const reserve_plan_t *plan, uint64_t kept_version)
{
    short_line_t *shorts = calloc(line_count, sizeof *shorts);
    const char **skus = calloc(line_count, sizeof *skus);
    next_supply_t *supplies = calloc(line_count, sizeof *supplies);
    db_status_t status = DB_OK;
    size_t short_count = 0, supply_count = 0;
    if (!shorts || !skus || !supplies) {
        status = db_fail(db, DB_STATE_OUT_OF_MEMORY, "no room for the shortage of order %s",
                         order->order_id);
        goto done;
    }
    for (size_t i = 0; i < line_count; i++)
        if (plan->lines[i].verdict != RESERVE_LINE_OK)
            skus[short_count++] = lines[i].sku;
    status = store_next_supplies(db, skus, short_count, supplies, &supply_count);
    if (status != DB_OK)
        goto done;
    short_count = 0;
    for (size_t i = 0; i < line_count; i++) {
        const reserve_line_result_t *verdict = &plan->lines[i];
        if (verdict->verdict == RESERVE_LINE_OK)
            continue;
        short_line_t *line = &shorts[short_count++];
        line->line_no = lines[i].line_no;
        line->sku = lines[i].sku;
        line->requested = lines[i].quantity;
        line->available = verdict->available;
        line->reason = reserve_reason(verdict->verdict);
        line->expected_date = "";
        for (size_t s = 0; s < supply_count; s++)
            if (strcmp(supplies[s].sku, lines[i].sku) == 0) {
                line->expected_date = supplies[s].expected_date;
                line->supply_id = supplies[s].supply_id;
            }
    }
    status = events_stock_shortage(em, order, shorts, short_count, kept_version);
done:
    free(shorts);
    free(skus);
    free(supplies);
    return status;
}

/* Holds the order: the products' new stock in the cache, the order's
 * rows deferred, the ledger, the answer, the low alerts. */
static db_status_t hold(inventory_app_t *app, db_t *db, stockcache_t *cache, const emitter_t *em,
                        const order_ref_t *order, order_line_t *lines, size_t line_count,
                        product_row_t **products, const reserve_plan_t *plan)
{
    const char **names = calloc(line_count, sizeof *names);
    db_status_t status = DB_OK;
    if (!names) {
        status = db_fail(db, DB_STATE_OUT_OF_MEMORY, "no room to hold order %s", order->order_id);
        goto done;
    }
    for (size_t i = 0; i < line_count; i++) {
        const product_row_t *row = products[plan->lines[i].product];
        lines[i].unit_price_minor = row->price_minor;
        lines[i].vat_rate_bp = row->vat_rate_bp;
        lines[i].weight_g = row->weight_g;
        names[i] = row->name;
    }
    /* events first: they need the products as they were for stock.low */
    const char *currency =
        order->currency && order->currency[0] ? order->currency : products[0]->currency;
    status = events_stock_reserved(em, order, lines, names, line_count, currency);
    for (size_t t = 0; t < plan->take_count && status == DB_OK; t++) {
        const reserve_take_t *take = &plan->takes[t];
        if (take->after.low_alert) {
            status = events_stock_low(em, products[take->product], &take->after);
            metrics_counter_add(app->low_alerts_total, 1);
        }
        stockcache_set(cache, products[take->product], &take->after);
    }
    if (status == DB_OK)
        status = store_hold_deferred(db, order, lines, line_count);
    for (size_t i = 0; i < line_count && status == DB_OK; i++) {
        movement_t movement = {
            .sku = lines[i].sku,
            .reserved_delta = lines[i].quantity,
            .cause = "order",
            .kind = "reserve",
            .ref = order->order_id,
            .line_no = lines[i].line_no,
            .actor = ACTOR_SYSTEM,
        };
        status = store_movement_add(db, &movement);
    }
    if (status == DB_OK && stockcache_order_add(cache, order->order_id) != 0)
        status =
            db_fail(db, DB_STATE_OUT_OF_MEMORY, "no room to remember order %s", order->order_id);
done:
    free(names);
    return status;
}

db_status_t orderstock_reserve(inventory_app_t *app, const emitter_t *em, const order_ref_t *order,
                               order_line_t *lines, size_t line_count, bool retry,
                               orderstock_result_t *result_out)
{
    *result_out = ORDERSTOCK_SHORT;
    int64_t started_us = clock_mono_us();
    db_t *db = emitter_db(em);
    stockcache_t *cache = stockcache_of(db, app);
    const char **skus = calloc(line_count, sizeof *skus);
    product_row_t **held = calloc(line_count, sizeof *held);
    product_row_t **products = calloc(line_count, sizeof *products);
    reserve_product_t *levels = calloc(line_count, sizeof *levels);
    reserve_line_t *asked = calloc(line_count, sizeof *asked);
    reserve_line_result_t *verdicts = calloc(line_count, sizeof *verdicts);
    reserve_take_t *takes = calloc(line_count, sizeof *takes);
    db_status_t status = DB_OK;
    size_t product_count = 0;
    if (!cache || !skus || !held || !products || !levels || !asked || !verdicts || !takes) {
        status =
            db_fail(db, DB_STATE_OUT_OF_MEMORY, "no room to reserve for order %s", order->order_id);
        goto done;
    }
    for (size_t i = 0; i < line_count; i++) {
        skus[i] = lines[i].sku;
        asked[i] = (reserve_line_t){lines[i].line_no, lines[i].sku, lines[i].quantity};
    }
    bool known = false;
    status =
        stockcache_hold(cache, db, skus, line_count, retry ? NULL : order->order_id, held, &known);
    if (status != DB_OK)
        goto done;
    if (known) {
        *result_out = ORDERSTOCK_KNOWN;
        goto done;
    }
    /* each product once, as the decision wants them */
    for (size_t i = 0; i < line_count; i++) {
        bool seen = held[i] == NULL;
        for (size_t p = 0; p < product_count && !seen; p++)
            seen = products[p] == held[i];
        if (seen)
            continue;
        products[product_count] = held[i];
        levels[product_count] = (reserve_product_t){held[i]->sku, held[i]->active, held[i]->level};
        product_count++;
    }
    reserve_plan_t plan = {.lines = verdicts, .takes = takes};
    if (reserve_decide(asked, line_count, levels, product_count, &plan) != 0) {
        status = db_fail(db, DB_STATE_BAD_DATA, "the lines of order %s cannot be decided",
                         order->order_id);
        goto done;
    }
    if (plan.ok) {
        status = hold(app, db, cache, em, order, lines, line_count, products, &plan);
        if (status == DB_OK) {
            *result_out = ORDERSTOCK_HELD;
            metrics_counter_add(retry ? app->waiting_reserved_total : app->reserved_total, 1);
        }
        goto done;
    }
    if (retry) {
        status = DB_OK; /* still short: it keeps its place in the queue */
        goto done;
    }
    status = store_wait(db, order, lines, line_count);
    if (status == DB_OK)
        status = announce_shortage(db, em, order, lines, line_count, &plan, 0);
    if (status == DB_OK)
        metrics_counter_add(app->shortages_total, 1);
done:
    free(skus);
    free(held);
    free(products);
    free(levels);
    free(asked);
    free(verdicts);
    free(takes);
    metrics_histogram_observe_us(app->reserve_latency, (uint64_t)(clock_mono_us() - started_us));
    return status;
}

db_status_t orderstock_close(inventory_app_t *app, const emitter_t *em, const order_ref_t *order,
                             bool write_off, size_t *closed_out)
{
    *closed_out = 0;
    db_t *db = emitter_db(em);
    stockcache_t *cache = stockcache_of(db, app);
    order_line_t *lines = calloc(ORDER_LINES_MAX, sizeof *lines);
    const char **skus = calloc(ORDER_LINES_MAX, sizeof *skus);
    product_row_t **held = calloc(ORDER_LINES_MAX, sizeof *held);
    stock_after_t *afters = calloc(ORDER_LINES_MAX, sizeof *afters);
    size_t line_count = 0;
    db_status_t status = DB_OK;
    if (!cache || !lines || !skus || !held || !afters) {
        status = db_fail(db, DB_STATE_OUT_OF_MEMORY, "no room to close the stock of order %s",
                         order->order_id);
        goto done;
    }
    status = store_held_lines(db, order->order_id, lines, ORDER_LINES_MAX, &line_count);
    if (status != DB_OK)
        goto done;
    for (size_t i = 0; i < line_count; i++)
        skus[i] = lines[i].sku;
    status = stockcache_hold(cache, db, skus, line_count, NULL, held, NULL);
    if (status != DB_OK)
        goto done;

    /* what each product gets back: the first line of a product carries its sum */
    for (size_t i = 0; i < line_count; i++) {
        bool first = held[i] != NULL;
        for (size_t j = 0; j < i && first; j++)
            first = held[j] != held[i];
        if (!first) {
            if (!held[i]) {
                status = db_fail(db, DB_STATE_BAD_DATA,
                                 "a reservation of order %s names product %s, which does not "
                                 "exist",
                                 order->order_id, lines[i].sku);
                goto done;
            }
            continue;
        }
        int64_t quantity = 0;
        for (size_t j = i; j < line_count; j++)
            if (held[j] == held[i])
                quantity += lines[j].quantity;
        stock_refusal_t refusal =
            stock_change(&held[i]->level, write_off ? -quantity : 0, -quantity, &afters[i]);
        if (refusal != STOCK_OK) {
            status = db_fail(db, DB_STATE_BAD_DATA,
                             "the stock order %s holds of %s does not match the product's "
                             "reserved stock (%s)",
                             order->order_id, held[i]->sku, stock_refusal_code(refusal));
            goto done;
        }
        if (afters[i].low_alert) {
            status = events_stock_low(em, held[i], &afters[i]);
            metrics_counter_add(app->low_alerts_total, 1);
            if (status != DB_OK)
                goto done;
        }
        stockcache_set(cache, held[i], &afters[i]);
    }
    int64_t closed = 0;
    status = store_reservations_close(db, order, write_off, write_off ? "committed" : "released",
                                      &closed);
    for (size_t i = 0; i < line_count && status == DB_OK; i++) {
        movement_t movement = {
            .sku = lines[i].sku,
            .on_hand_delta = write_off ? -lines[i].quantity : 0,
            .reserved_delta = -lines[i].quantity,
            .cause = "order",
            .kind = write_off ? "write_off" : "release",
            .ref = order->order_id,
            .line_no = lines[i].line_no,
            .actor = ACTOR_SYSTEM,
        };
        status = store_movement_add(db, &movement);
    }
    if (status == DB_OK)
        status = events_stock_closed(em, order, write_off, lines, line_count, "order_cancelled");
    if (status == DB_OK && !write_off && line_count > 0) {
        char dedup[96];
        snprintf(dedup, sizeof dedup, "release:%s:%llu", order->order_id,
                 (unsigned long long)order->version);
        status = offer_enqueue(db, skus, line_count, 0, dedup);
    }
    if (status == DB_OK) {
        *closed_out = (size_t)closed;
        metrics_counter_add(write_off ? app->committed_total : app->released_total, 1);
    }
done:
    free(lines);
    free(skus);
    free(held);
    free(afters);
    return status;
}

/* ------------------------------------------------------------------ */
/* the order stream's facts                                             */

db_status_t orderstock_placed(inventory_app_t *app, const emitter_t *em, const order_ref_t *order,
                              order_line_t *lines, size_t line_count)
{
    db_t *db = emitter_db(em);
    stockcache_t *cache = stockcache_of(db, app);
    if (!cache)
        return db_fail(db, DB_STATE_OUT_OF_MEMORY, "no room for the stock cache");
    if (stockcache_order_pending(cache, order->order_id)) {
        /* held earlier in this very batch: the producer said it twice */
        log_debug("order.placed already applied in this batch",
                  LF_STR("order_id", order->order_id));
        return DB_OK;
    }
    orderstock_result_t outcome;
    db_status_t status = orderstock_reserve(app, em, order, lines, line_count, false, &outcome);
    if (status != DB_OK || outcome != ORDERSTOCK_KNOWN)
        return status;
    /* inventory knows the order: look at it under its row lock */
    order_state_t state;
    status = store_order_lock(db, order->order_id, &state);
    if (status != DB_OK)
        return status;
    if ((uint64_t)state.version >= order->version) {
        log_debug("order.placed already applied", LF_STR("order_id", order->order_id),
                  LF_INT("version", (long long)order->version),
                  LF_INT("applied_version", state.version));
        return DB_OK;
    }
    /* a new placement of a known order: its lines change only through
     * order.changed; remember the version */
    log_warn("order.placed again for an order inventory knows; its lines are not re-read",
             LF_STR("order_id", order->order_id), LF_STR("status", state.status),
             LF_INT("version", (long long)order->version), LF_ERR("order_placed_again"));
    return store_order_record(db, order, state.status);
}

/* The common part of cancel and delivery: lock the order, skip what was
 * applied. *fresh_out: the fact is new; *state_out says where the order
 * stands. */
static db_status_t fresh_fact(inventory_app_t *app, db_t *db, const char *fact,
                              const order_ref_t *order, order_state_t *state_out, bool *fresh_out)
{
    *fresh_out = false;
    stockcache_t *cache = stockcache_of(db, app);
    if (!cache)
        return db_fail(db, DB_STATE_OUT_OF_MEMORY, "no room for the stock cache");
    /* an order held earlier in this batch has its rows still deferred */
    db_status_t status = DB_OK;
    if (stockcache_order_pending(cache, order->order_id))
        status = stockcache_flush_now(db);
    if (status == DB_OK)
        status = store_order_lock(db, order->order_id, state_out);
    if (status != DB_OK)
        return status;
    if (state_out->found && (uint64_t)state_out->version >= order->version) {
        log_debug("order fact already applied", LF_STR("order_id", order->order_id),
                  LF_STR("type", fact), LF_INT("version", (long long)order->version),
                  LF_INT("applied_version", state_out->version));
        return DB_OK;
    }
    *fresh_out = true;
    return DB_OK;
}

static bool status_is(const order_state_t *state, const char *status)
{
    return state->found && strcmp(state->status, status) == 0;
}

/* Whether an order in this status has its parcel with the carrier. */
static bool parcel_out(const char *from_status)
{
    return from_status && (strcmp(from_status, "handed_to_carrier") == 0 ||
                           strcmp(from_status, "rescheduled") == 0);
}

db_status_t orderstock_cancelled(inventory_app_t *app, const emitter_t *em,
                                 const order_ref_t *order, const char *from_status)
{
    db_t *db = emitter_db(em);
    order_state_t state;
    bool fresh = false;
    db_status_t status = fresh_fact(app, db, "order.cancelled", order, &state, &fresh);
    if (status != DB_OK || !fresh)
        return status;
    if (!state.found) {
        log_info("order cancelled before inventory heard of it; recorded",
                 LF_STR("order_id", order->order_id), LF_INT("version", (long long)order->version));
        return store_order_record(db, order, "cancelled");
    }
    if (status_is(&state, "reserved") && parcel_out(from_status)) {
        log_info("order cancelled while its parcel is with the carrier: its stock stays held "
                 "until the parcel is received back",
                 LF_STR("order_id", order->order_id), LF_STR("from_status", from_status));
        return store_order_record(db, order, "reserved");
    }
    if (status_is(&state, "reserved")) {
        size_t closed = 0;
        return orderstock_close(app, em, order, false, &closed);
    }
    if (status_is(&state, "waiting")) {
        /* it held nothing; it stops waiting, and the order service hears so */
        status = store_order_record(db, order, "cancelled");
        if (status == DB_OK)
            status = events_stock_closed(em, order, false, NULL, 0, "order_cancelled");
        return status;
    }
    if (status_is(&state, "committed") || status_is(&state, "delivered"))
        log_warn("order cancelled after delivery: the stock stays written off (a return "
                 "brings it back)",
                 LF_STR("order_id", order->order_id), LF_ERR("cancel_after_delivery"));
    return store_order_record(db, order, state.status);
}

db_status_t orderstock_delivered(inventory_app_t *app, const emitter_t *em,
                                 const order_ref_t *order)
{
    db_t *db = emitter_db(em);
    order_state_t state;
    bool fresh = false;
    db_status_t status = fresh_fact(app, db, "order.delivered", order, &state, &fresh);
    if (status != DB_OK || !fresh)
        return status;
    if (status_is(&state, "reserved")) {
        size_t closed = 0;
        return orderstock_close(app, em, order, true, &closed);
    }
    if (status_is(&state, "committed") || status_is(&state, "delivered"))
        return store_order_record(db, order, state.status);
    /* nothing is held: record it for a person to look at */
    log_warn("order delivered without stock held for it; nothing written off",
             LF_STR("order_id", order->order_id),
             LF_STR("status", state.found ? state.status : "unknown"),
             LF_ERR("delivered_without_reservation"));
    const char *keep = status_is(&state, "released") || status_is(&state, "cancelled") ||
                               status_is(&state, "returned")
                           ? state.status
                           : "delivered";
    return store_order_record(db, order, keep);
}

/* The stock an edit gives back before its new lines are decided: every
 * product the old reservation holds, in the transaction's cache, and the
 * ledger's release rows. */
static db_status_t give_back(db_t *db, stockcache_t *cache, const order_ref_t *order,
                             const order_line_t *old, size_t old_count, product_row_t **old_rows)
{
    db_status_t status = DB_OK;
    for (size_t i = 0; i < old_count && status == DB_OK; i++) {
        bool first = old_rows[i] != NULL;
        for (size_t j = 0; j < i && first; j++)
            first = old_rows[j] != old_rows[i];
        if (!old_rows[i])
            return db_fail(db, DB_STATE_BAD_DATA,
                           "a reservation of order %s names product %s, which does not exist",
                           order->order_id, old[i].sku);
        if (!first)
            continue;
        int64_t quantity = 0;
        for (size_t j = i; j < old_count; j++)
            if (old_rows[j] == old_rows[i])
                quantity += old[j].quantity;
        stock_after_t after;
        stock_refusal_t refusal = stock_change(&old_rows[i]->level, 0, -quantity, &after);
        if (refusal != STOCK_OK)
            return db_fail(db, DB_STATE_BAD_DATA,
                           "the stock order %s holds of %s does not match the product's "
                           "reserved stock (%s)",
                           order->order_id, old_rows[i]->sku, stock_refusal_code(refusal));
        stockcache_set(cache, old_rows[i], &after);
    }
    if (status == DB_OK)
        status = store_reservations_drop(db, order->order_id);
    for (size_t i = 0; i < old_count && status == DB_OK; i++) {
        movement_t movement = {
            .sku = old[i].sku,
            .reserved_delta = -old[i].quantity,
            .cause = "order",
            .kind = "release",
            .ref = order->order_id,
            .line_no = old[i].line_no,
            .actor = ACTOR_SYSTEM,
        };
        status = store_movement_add(db, &movement);
    }
    return status;
}

db_status_t orderstock_changed(inventory_app_t *app, const emitter_t *em, const order_ref_t *order,
                               order_line_t *lines, size_t line_count, bool lines_changed)
{
    db_t *db = emitter_db(em);
    order_state_t state;
    bool fresh = false;
    db_status_t status = fresh_fact(app, db, "order.changed", order, &state, &fresh);
    if (status != DB_OK || !fresh)
        return status;
    if (!lines_changed && state.found)
        return store_order_record(db, order, state.status);
    if (!state.found) {
        /* the edit overtook the placement: its lines are the order's now */
        log_info("order.changed for an order inventory never heard of; held as placed",
                 LF_STR("order_id", order->order_id), LF_INT("version", (long long)order->version));
        orderstock_result_t outcome;
        return orderstock_reserve(app, em, order, lines, line_count, false, &outcome);
    }
    bool reserved = status_is(&state, "reserved"), waiting = status_is(&state, "waiting");
    if (!reserved && !waiting) {
        log_warn("order.changed for an order that neither holds nor waits; nothing held",
                 LF_STR("order_id", order->order_id), LF_STR("status", state.status),
                 LF_INT("version", (long long)order->version), LF_ERR("change_after_close"));
        return store_order_record(db, order, state.status);
    }
    stockcache_t *cache = stockcache_of(db, app);
    order_line_t *old = calloc(ORDER_LINES_MAX, sizeof *old);
    const char **skus = calloc(ORDER_LINES_MAX + line_count, sizeof *skus);
    product_row_t **rows = calloc(ORDER_LINES_MAX + line_count, sizeof *rows);
    product_row_t **products = calloc(line_count, sizeof *products);
    reserve_product_t *levels = calloc(line_count, sizeof *levels);
    reserve_line_t *asked = calloc(line_count, sizeof *asked);
    reserve_line_result_t *verdicts = calloc(line_count, sizeof *verdicts);
    reserve_take_t *takes = calloc(line_count, sizeof *takes);
    size_t old_count = 0, product_count = 0;
    uint64_t kept_version = 0;
    if (!cache || !old || !skus || !rows || !products || !levels || !asked || !verdicts || !takes) {
        status = db_fail(db, DB_STATE_OUT_OF_MEMORY, "no room to change the stock of order %s",
                         order->order_id);
        goto done;
    }
    if (reserved)
        status = store_held_lines(db, order->order_id, old, ORDER_LINES_MAX, &old_count);
    if (status == DB_OK && reserved)
        status = store_held_version(db, order->order_id, &kept_version);
    if (status != DB_OK)
        goto done;
    /* the new lines first, then the old: rows[0 .. line_count) are the new */
    for (size_t i = 0; i < line_count; i++) {
        skus[i] = lines[i].sku;
        asked[i] = (reserve_line_t){lines[i].line_no, lines[i].sku, lines[i].quantity};
    }
    for (size_t i = 0; i < old_count; i++)
        skus[line_count + i] = old[i].sku;
    status = stockcache_hold(cache, db, skus, line_count + old_count, NULL, rows, NULL);
    if (status != DB_OK)
        goto done;
    for (size_t i = 0; i < line_count; i++) {
        bool seen = rows[i] == NULL;
        for (size_t p = 0; p < product_count && !seen; p++)
            seen = products[p] == rows[i];
        if (seen)
            continue;
        products[product_count] = rows[i];
        levels[product_count] = (reserve_product_t){rows[i]->sku, rows[i]->active, rows[i]->level};
        /* what the order holds of it counts as available to it */
        for (size_t j = 0; j < old_count; j++)
            if (rows[line_count + j] == rows[i])
                levels[product_count].level.reserved -= old[j].quantity;
        product_count++;
    }
    reserve_plan_t plan = {.lines = verdicts, .takes = takes};
    if (reserve_decide(asked, line_count, levels, product_count, &plan) != 0) {
        status = db_fail(db, DB_STATE_BAD_DATA, "the new lines of order %s cannot be decided",
                         order->order_id);
        goto done;
    }
    if (plan.ok) {
        status = give_back(db, cache, order, old, old_count, rows + line_count);
        if (status == DB_OK)
            status = hold(app, db, cache, em, order, lines, line_count, products, &plan);
        if (status == DB_OK)
            metrics_counter_add(app->reserved_total, 1);
        goto done;
    }
    if (reserved) {
        /* all or nothing: the old reservation stays, the order does not wait */
        status = announce_shortage(db, em, order, lines, line_count, &plan, kept_version);
        if (status == DB_OK)
            status = store_order_record(db, order, "reserved");
    } else {
        status = store_waiting_lines_drop(db, order->order_id);
        if (status == DB_OK)
            status = store_wait(db, order, lines, line_count);
        if (status == DB_OK)
            status = announce_shortage(db, em, order, lines, line_count, &plan, 0);
    }
    if (status == DB_OK)
        metrics_counter_add(app->shortages_total, 1);
done:
    free(old);
    free(skus);
    free(rows);
    free(products);
    free(levels);
    free(asked);
    free(verdicts);
    free(takes);
    return status;
}
