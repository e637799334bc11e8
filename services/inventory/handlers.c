/*
 * handlers.c — the one table of every topic inventory consumes, and the
 * reading of each off the wire (F10-F12).
 *
 * Each handler unpacks its message, checks what the domain relies on (an
 * order id that is a UUID, lines that make sense), turns it into plain
 * structs (order_ref_t, order_line_t) and hands it to the domain
 * (orderstock.h), in the applier's transaction (inbox.h). Only a payload
 * that cannot be read, or names no order, is refused here (parked,
 * bad_payload); everything else is the domain's to decide, and a failure
 * of the database or of the domain's own code is answered by the kit's
 * one mapping (inbox_result: transient -> retry the batch, permanent ->
 * park this event with its stable code).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/emit.h"
#include "common/uuid.h"
#include "conveyor/order.pb-c.h"
#include "services/inventory/inventory.h"
#include "services/inventory/orderstock.h"

#define ORDER_STREAM "order"

/* Checks and copies the lines of an order.placed; a reason into why when
 * they are malformed. */
static int read_lines(size_t n_lines, Conveyor__OrderLine *const *wire_lines, order_line_t *lines,
                      char *why, size_t why_size)
{
    if (n_lines == 0) {
        snprintf(why, why_size, "the order has no lines");
        return -1;
    }
    if (n_lines > ORDER_LINES_MAX) {
        snprintf(why, why_size, "the order has %zu lines, more than %d", n_lines, ORDER_LINES_MAX);
        return -1;
    }
    for (size_t i = 0; i < n_lines; i++) {
        const Conveyor__OrderLine *line = wire_lines[i];
        const char *sku = line->sku ? line->sku : "";
        size_t sku_len = strlen(sku);
        if (line->line_no == 0 || line->quantity == 0 || sku_len == 0 ||
            sku_len > STORE_ORDER_SKU_MAX || line->quantity > CATALOGUE_QUANTITY_MAX) {
            snprintf(why, why_size,
                     "line %zu is malformed (line_no %u, sku of %zu bytes, quantity %u)", i + 1,
                     line->line_no, sku_len, line->quantity);
            return -1;
        }
        for (size_t j = 0; j < i; j++)
            if (lines[j].line_no == line->line_no) {
                snprintf(why, why_size, "line_no %u appears twice", line->line_no);
                return -1;
            }
        memset(&lines[i], 0, sizeof lines[i]);
        lines[i].line_no = line->line_no;
        memcpy(lines[i].sku, sku, sku_len + 1);
        lines[i].quantity = line->quantity;
    }
    return 0;
}

static handler_result_t answer(inbox_event_t *event, db_status_t status, const char *order_id)
{
    char what[120];
    snprintf(what, sizeof what, "could not apply %s to order %s", event->type, order_id);
    return inbox_result(event, status, what);
}

/* order.placed: hold every line, or make the order wait. */
static handler_result_t on_order_placed(inbox_event_t *event, void *arg)
{
    inventory_app_t *app = arg;
    Conveyor__OrderPlaced *placed =
        conveyor__order_placed__unpack(NULL, event->payload_len, event->payload);
    if (!placed)
        return inbox_reject(event, "bad_payload", "order.placed payload does not unpack");
    handler_result_t result = HANDLER_OK;
    size_t room = placed->n_lines > 0 && placed->n_lines <= ORDER_LINES_MAX ? placed->n_lines : 1;
    order_line_t *lines = calloc(room, sizeof *lines);
    char why[200];
    if (!lines) {
        result = inbox_retry(event, "out_of_memory", "no room for the order's lines");
        goto done;
    }
    if (!uuid_valid(placed->order_id)) {
        result = inbox_reject(event, "bad_payload", "order.placed names no order (order_id %.40s)",
                              placed->order_id ? placed->order_id : "");
        goto done;
    }
    if (read_lines(placed->n_lines, placed->lines, lines, why, sizeof why) != 0) {
        result = inbox_reject(event, "bad_payload", "order %s: %s", placed->order_id, why);
        goto done;
    }
    order_ref_t order = {placed->order_id, placed->version, placed->number, placed->currency};
    emitter_t em = emitter_of_event(event);
    result = answer(event, orderstock_placed(app, &em, &order, lines, placed->n_lines),
                    placed->order_id);
done:
    free(lines);
    conveyor__order_placed__free_unpacked(placed, NULL);
    return result;
}

/* order.changed: hold the order's new lines instead, all or nothing. */
static handler_result_t on_order_changed(inbox_event_t *event, void *arg)
{
    inventory_app_t *app = arg;
    Conveyor__OrderChanged *changed =
        conveyor__order_changed__unpack(NULL, event->payload_len, event->payload);
    if (!changed)
        return inbox_reject(event, "bad_payload", "order.changed payload does not unpack");
    handler_result_t result = HANDLER_OK;
    size_t room =
        changed->n_lines > 0 && changed->n_lines <= ORDER_LINES_MAX ? changed->n_lines : 1;
    order_line_t *lines = calloc(room, sizeof *lines);
    char why[200];
    if (!lines) {
        result = inbox_retry(event, "out_of_memory", "no room for the order's lines");
        goto done;
    }
    if (!uuid_valid(changed->order_id)) {
        result = inbox_reject(event, "bad_payload", "order.changed names no order (order_id %.40s)",
                              changed->order_id ? changed->order_id : "");
        goto done;
    }
    if (read_lines(changed->n_lines, changed->lines, lines, why, sizeof why) != 0) {
        result = inbox_reject(event, "bad_payload", "order %s: %s", changed->order_id, why);
        goto done;
    }
    bool lines_changed = false;
    for (size_t i = 0; i < changed->n_changed; i++)
        lines_changed = lines_changed || strcmp(changed->changed[i], "lines") == 0;
    order_ref_t order = {changed->order_id, changed->version, changed->number, changed->currency};
    emitter_t em = emitter_of_event(event);
    result =
        answer(event, orderstock_changed(app, &em, &order, lines, changed->n_lines, lines_changed),
               changed->order_id);
done:
    free(lines);
    conveyor__order_changed__free_unpacked(changed, NULL);
    return result;
}

/* order.cancelled: release what it holds (a parcel with the carrier: held
 * until it is received back). */
static handler_result_t on_order_cancelled(inbox_event_t *event, void *arg)
{
    inventory_app_t *app = arg;
    Conveyor__OrderCancelled *cancelled =
        conveyor__order_cancelled__unpack(NULL, event->payload_len, event->payload);
    if (!cancelled)
        return inbox_reject(event, "bad_payload", "order.cancelled payload does not unpack");
    handler_result_t result;
    if (!uuid_valid(cancelled->order_id)) {
        result = inbox_reject(event, "bad_payload", "order.cancelled names no order");
    } else {
        order_ref_t order = {cancelled->order_id, cancelled->version, cancelled->number, ""};
        emitter_t em = emitter_of_event(event);
        result = answer(event, orderstock_cancelled(app, &em, &order, cancelled->from_status),
                        cancelled->order_id);
    }
    conveyor__order_cancelled__free_unpacked(cancelled, NULL);
    return result;
}

/* order.delivered: write the held stock off. */
static handler_result_t on_order_delivered(inbox_event_t *event, void *arg)
{
    inventory_app_t *app = arg;
    Conveyor__OrderDelivered *delivered =
        conveyor__order_delivered__unpack(NULL, event->payload_len, event->payload);
    if (!delivered)
        return inbox_reject(event, "bad_payload", "order.delivered payload does not unpack");
    handler_result_t result;
    if (!uuid_valid(delivered->order_id)) {
        result = inbox_reject(event, "bad_payload", "order.delivered names no order");
    } else {
        order_ref_t order = {delivered->order_id, delivered->version, delivered->number, ""};
        emitter_t em = emitter_of_event(event);
        result = answer(event, orderstock_delivered(app, &em, &order), delivered->order_id);
    }
    conveyor__order_delivered__free_unpacked(delivered, NULL);
    return result;
}

int handlers_register(inbox_t *inbox, inventory_app_t *app)
{
    static const struct {
        const char *stream, *type;
        inbox_handler_fn handler;
    } topics[] = {
        {ORDER_STREAM, "order.placed", on_order_placed},
        {ORDER_STREAM, "order.changed", on_order_changed},
        {ORDER_STREAM, "order.cancelled", on_order_cancelled},
        {ORDER_STREAM, "order.delivered", on_order_delivered},
    };
    for (size_t i = 0; i < sizeof topics / sizeof topics[0]; i++)
        if (inbox_on(inbox, topics[i].stream, topics[i].type, topics[i].handler, app) != 0)
            return -1;
    return 0;
}
