/*
 * stock.c — the inventory stream's facts about an order (stock.h).
 *
 * Inventory decides what is held; the order decides what it costs: the
 * catalogue's prices (or the sender's, where its source may set them)
 * through the totals rule (totals.h), the delivery price list, and the
 * checks that no sum wraps.
 */
#include "services/order/stock.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "services/order/events.h"
#include "services/order/funnel.h"
#include "services/order/history.h"
#include "services/order/rules.h"
#include "services/order/store.h"
#include "services/order/tasks.h"
#include "services/order/totals.h"

static const stock_held_line_t *held_line(const stock_reserved_t *fact, uint32_t line_no)
{
    const stock_held_line_t *held = NULL;
    for (size_t k = 0; k < fact->line_count; k++)
        if (fact->lines[k].line_no == line_no)
            held = &fact->lines[k];
    return held;
}

/* The lines priced and their amounts computed into rows and *totals; -1
 * when a sum does not fit int64, -2 on out of memory. */
static int price_lines(const order_t *order, const stock_reserved_t *fact, order_line_t *rows,
                       size_t count, totals_t *totals)
{
    totals_line_t *calc = calloc(count ? count : 1, sizeof *calc);
    if (!calc)
        return -2;
    for (size_t i = 0; i < count; i++) {
        const stock_held_line_t *held = held_line(fact, rows[i].line_no);
        int64_t price = held ? held->unit_price_minor : 0;
        if (order->sender_prices && rows[i].sender_price_minor >= 0)
            price = rows[i].sender_price_minor;
        calc[i].line_no = rows[i].line_no;
        calc[i].unit_price_minor = price;
        calc[i].quantity = rows[i].quantity;
        calc[i].vat_rate_bp = held ? held->vat_rate_bp : 0;
        calc[i].unit_weight_g = held ? held->unit_weight_g : 0;
        if (held && held->name && !rows[i].name[0])
            snprintf(rows[i].name, sizeof rows[i].name, "%s", held->name);
    }
    int rc = totals_compute(calc, count, order->discount_bp, 0, totals) != 0 ? -1 : 0;
    for (size_t i = 0; rc == 0 && i < count; i++) {
        rows[i].unit_price_minor = calc[i].unit_price_minor;
        rows[i].vat_rate_bp = calc[i].vat_rate_bp;
        rows[i].unit_weight_g = calc[i].unit_weight_g;
        rows[i].amount_minor = calc[i].amount_minor;
        rows[i].discount_minor = calc[i].discount_minor;
        rows[i].total_minor = calc[i].total_minor;
        rows[i].vat_minor = calc[i].vat_minor;
    }
    free(calc);
    return rc;
}

/* Back from awaiting supply: the order is new again and its manager hears. */
static db_status_t supply_arrived(order_app_t *app, const emitter_t *em, order_t *order,
                                  uint64_t version)
{
    db_status_t status = funnel_system_move(app, em, order, "new", "stock arrived");
    char title[360], dedup[100];
    snprintf(title, sizeof title, "The awaited goods of %s arrived: call the customer",
             order->title);
    snprintf(dedup, sizeof dedup, "supply_arrived:%s:%llu", order->id, (unsigned long long)version);
    if (status == DB_OK)
        status = tasks_open(em, "supply_arrived", order, order->manager_id, title, clock_now_ms(),
                            dedup, false);
    return status;
}

/* An answer about lines an edit has replaced: noted, nothing else. */
static db_status_t stale_answer(db_t *db, const order_t *order, const char *what,
                                uint64_t answered_version)
{
    char detail[160];
    snprintf(detail, sizeof detail, "{\"answered_version\":%llu,\"lines_version\":%llu}",
             (unsigned long long)answered_version, (unsigned long long)order->lines_version);
    char reason[64];
    snprintf(reason, sizeof reason, "%s for lines since edited", what);
    return history_add(db, order->id, "stock", NULL, NULL, &history_system, reason, detail);
}

db_status_t stock_on_reserved(order_app_t *app, const emitter_t *em, const stock_reserved_t *fact,
                              store_reserved_many_t *run, stock_outcome_t *outcome, char *detail,
                              size_t detail_size)
{
    db_t *db = emitter_db(em);
    *outcome = STOCK_APPLIED;
    order_t order;
    bool found = false;
    order_line_t *rows = NULL;
    size_t count = 0;
    char *delivery_json = NULL;
    customer_contact_t contact;
    const char *overflowing = NULL;
    int64_t goods = 0, delivery = 0, total = 0;
    /* the order locked and its lines read in one round trip: they are
     * needed unless the answer comes late, which is rare */
    db_status_t status = store_order_lock_reach(db, fact->order_id, &found, &order, &rows, &count,
                                                &delivery_json, &contact);
    if (status != DB_OK || !found)
        goto done;
    if (rules_group_final(order.group)) {
        /* a late fact: recorded; inventory releases on the cancellation it also sees */
        status = history_add(db, order.id, "stock", NULL, NULL, &history_system,
                             "reserved after the order was closed", NULL);
        goto done;
    }
    if (fact->order_version < order.lines_version) {
        status = stale_answer(db, &order, "reserved", fact->order_version);
        goto done;
    }
    totals_t totals;
    int priced = price_lines(&order, fact, rows, count, &totals);
    delivery = order.delivery_override_minor;
    if (priced == -2) {
        status = db_fail(db, DB_STATE_OUT_OF_MEMORY, "could not price order %s", order.id);
        goto done;
    }
    if (priced == -1) {
        overflowing = "the lines' amounts";
        goto done;
    }
    goods = totals.lines_minor - totals.discount_minor;
    if (delivery < 0)
        status = store_delivery_price(db, order.method, order.region, goods, &delivery);
    if (status != DB_OK)
        goto done;
    if (__builtin_add_overflow(goods, delivery, &total)) {
        overflowing = "the goods and the delivery";
        goto done;
    }
    order_totals_row_t row = {.lines_minor = totals.lines_minor,
                              .discount_minor = totals.discount_minor,
                              .delivery_minor = delivery,
                              .vat_minor = totals.vat_minor,
                              .total_minor = total,
                              .weight_g = totals.weight_g};
    /* the lines as stored are the priced lines funnel_priced_lines would
     * read back (the same amounts from the same prices), unless a price is
     * negative, which it reads back as 0 */
    bool as_stored = true;
    for (size_t i = 0; i < count; i++)
        as_stored = as_stored && rows[i].unit_price_minor >= 0;
    bool awaiting = strcmp(order.status, "awaiting_supply") == 0;
    bool reconfirm = order.lines_version > 1 && funnel_was_confirmed(&order);
    uint64_t version = 0;
    if (run && as_stored && !awaiting && !reconfirm) {
        /* nothing below reads the order back: written with the run */
        version = order.version + 1;
        if (store_reserved_many_add(run, order.id, order.version, rows, count, &row) != 0)
            status = db_fail(db, DB_STATE_OUT_OF_MEMORY, "could not price order %s", order.id);
    } else {
        status = store_order_set_reserved(db, order.id, rows, count, &row, &version);
    }
    if (status != DB_OK)
        goto done;
    order.version = version;
    order.lines_minor = row.lines_minor;
    order.discount_minor = row.discount_minor;
    order.delivery_minor = row.delivery_minor;
    order.vat_minor = row.vat_minor;
    order.total_minor = row.total_minor;
    order.weight_g = row.weight_g;
    snprintf(order.stock_state, sizeof order.stock_state, "reserved");
    status = history_add(db, order.id, "stock", NULL, NULL, &history_system, "reserved", NULL);
    if (!as_stored) {
        free(rows);
        rows = NULL;
        if (status == DB_OK)
            status = funnel_priced_lines(db, &order, &rows, &count);
    }
    if (status == DB_OK)
        status = events_reserved(em, &order, rows, count, delivery_json, &contact);
    if (status == DB_OK && awaiting)
        status = supply_arrived(app, em, &order, version);
    /* an edit of a confirmed order: billed again once its new lines are priced */
    if (status == DB_OK && reconfirm)
        status = funnel_reconfirm(app, em, &order);
done:
    if (overflowing) {
        /* catalogue prices past any real shop: refused for good, for a
         * person to look at */
        *outcome = STOCK_TOTALS_OVERFLOW;
        snprintf(detail, detail_size, "order %s: %s add up to more than %lld kopecks", order.id,
                 overflowing, (long long)INT64_MAX);
    }
    free(rows);
    free(delivery_json);
    return status;
}

db_status_t stock_on_shortage(order_app_t *app, const emitter_t *em, const stock_shortage_t *fact)
{
    db_t *db = emitter_db(em);
    order_t order;
    bool found = false;
    db_status_t status = store_order_lock(db, fact->order_id, &found, &order);
    if (status != DB_OK || !found)
        return status;
    if (fact->order_version < order.lines_version)
        return stale_answer(db, &order, "shortage", fact->order_version);
    json_t *lines = json_array();
    for (size_t i = 0; lines && i < fact->line_count; i++) {
        const stock_short_line_t *line = &fact->lines[i];
        json_array_append_new(lines,
                              json_pack("{s:i,s:s,s:i,s:i,s:s,s:s}", "line_no", (int)line->line_no,
                                        "sku", line->sku, "requested", (int)line->requested,
                                        "available", (int)line->available, "reason", line->reason,
                                        "expected_date", line->expected_date));
    }
    json_t *wrapped = json_pack("{s:o}", "lines", lines ? lines : json_array());
    char *detail_text = wrapped ? json_dumps(wrapped, JSON_COMPACT) : NULL;
    json_decref(wrapped);
    bool final = rules_group_final(order.group);
    uint64_t version = 0;
    if (!final)
        status = store_order_set_stock(db, order.id, "short", NULL, &version);
    if (status == DB_OK)
        status = history_add(db, order.id, "stock", NULL, NULL, &history_system, "shortage",
                             detail_text);
    free(detail_text);
    if (status != DB_OK || final)
        return status;
    order.version = version;
    bool edit_kept = fact->kept_version > 0; /* an edit not held: it does not wait */
    if (!edit_kept && (strcmp(order.status, "new") == 0 || strcmp(order.status, "no_answer") == 0))
        status = funnel_system_move(app, em, &order, "awaiting_supply", "stock shortage");
    if (status == DB_OK && order.manager_id[0]) {
        char title[420], dedup[100];
        if (edit_kept)
            snprintf(title, sizeof title,
                     "The change of %s cannot be held (%zu line(s) short): change it again or "
                     "cancel",
                     order.title, fact->line_count);
        else
            snprintf(title, sizeof title, "Stock is short for %s: tell the customer when it is due",
                     order.title);
        snprintf(dedup, sizeof dedup, "stock_shortage:%s:%llu", order.id,
                 (unsigned long long)fact->order_version);
        status = tasks_open(em, "stock_shortage", &order, order.manager_id, title, clock_now_ms(),
                            dedup, false);
    }
    return status;
}

db_status_t stock_on_closed(db_t *db, const char *order_id, const char *state)
{
    order_t order;
    bool found = false;
    db_status_t status = store_order_lock(db, order_id, &found, &order);
    if (status != DB_OK || !found)
        return status;
    uint64_t version = 0;
    status = store_order_set_stock(db, order_id, state, NULL, &version);
    if (status == DB_OK)
        status = history_add(db, order_id, "stock", NULL, NULL, &history_system, state, NULL);
    return status;
}
