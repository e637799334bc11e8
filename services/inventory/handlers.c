/*
 * handlers.c — the order stream's facts, applied to the stock (F10-F12).
 *
 * One function per consumed topic, run by the kit's applier inside its
 * transaction (inbox.h): order.placed holds every line or makes the order
 * wait, order.cancelled releases, order.delivered writes off.
 *
 * Versions: inventory keeps per order the last version it applied
 * (orders.version, read under the order's row lock). A fact with an older
 * or equal version was already applied — the producer said it again — and
 * is skipped. A fact about an order inventory never heard of (a cancel
 * that overtook its placement, say) is recorded with its version, so the
 * late placement, being older, is then skipped rather than holding stock
 * for a cancelled order. Facts that make no sense for where the order
 * stands (a delivery after a cancel) are recorded and logged for a person,
 * never rejected: only a payload that cannot be read, or names no order,
 * is parked (REJECT).
 *
 * Failures: a transient database failure asks the applier to retry the
 * batch (RETRY); any other database error leaves the transaction aborted,
 * so it is a REJECT — the kit re-applies the batch event by event and
 * parks just this one with the database's message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/uuid.h"
#include "conveyor/order.pb-c.h"
#include "services/inventory/inventory.h"
#include "services/inventory/orderstock.h"
#include "services/inventory/stockcache.h"

#define ORDER_STREAM "order"

static handler_result_t db_failure(inbox_event_t *event, db_status_t status, const char *what,
                                   const char *order_id)
{
    if (status == DB_TRANSIENT)
        return inbox_retry(event, "pg_unavailable", "%s for order %s: %s", what, order_id,
                           db_errmsg(event->db));
    return inbox_reject(event, "pg_error", "%s for order %s: %s (sqlstate %s)", what, order_id,
                        db_errmsg(event->db), db_sqlstate(event->db));
}

static bool is_uuid(const char *text)
{
    uint8_t bytes[16];
    return text && uuid_parse(text, bytes) == 0;
}

/* Checks and copies the lines of an order.placed; a reason into why when
 * they are malformed. */
static int read_lines(const Conveyor__OrderPlaced *placed, order_line_t *lines, char *why,
                      size_t why_size)
{
    if (placed->n_lines == 0) {
        snprintf(why, why_size, "the order has no lines");
        return -1;
    }
    if (placed->n_lines > ORDER_LINES_MAX) {
        snprintf(why, why_size, "the order has %zu lines, more than %d", placed->n_lines,
                 ORDER_LINES_MAX);
        return -1;
    }
    for (size_t i = 0; i < placed->n_lines; i++) {
        const Conveyor__OrderLine *line = placed->lines[i];
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

/* order.placed: hold every line, or make the order wait and say what is
 * short. */
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
    if (!is_uuid(placed->order_id)) {
        result = inbox_reject(event, "bad_payload", "order.placed names no order (order_id %.40s)",
                              placed->order_id ? placed->order_id : "");
        goto done;
    }
    if (read_lines(placed, lines, why, sizeof why) != 0) {
        result = inbox_reject(event, "bad_payload", "order %s: %s", placed->order_id, why);
        goto done;
    }
    order_ref_t order = {placed->order_id, placed->version, placed->number, placed->currency};
    stockcache_t *cache = stockcache_of(event->db, app);
    if (!cache) {
        result = inbox_retry(event, "out_of_memory", "no room for the stock cache");
        goto done;
    }
    if (stockcache_order_pending(cache, placed->order_id)) {
        /* held earlier in this very batch: the producer said it twice */
        log_debug("order.placed already applied in this batch",
                  LF_STR("order_id", placed->order_id));
        goto done;
    }
    emitter_t em = emitter_of_event(event);
    orderstock_result_t outcome;
    db_status_t status =
        orderstock_reserve(app, event->db, &em, &order, lines, placed->n_lines, false, &outcome);
    if (status != DB_OK) {
        result = db_failure(event, status, "could not reserve stock", placed->order_id);
        goto done;
    }
    if (outcome != ORDERSTOCK_KNOWN)
        goto done;
    /* inventory knows the order: look at it under its row lock */
    order_state_t state;
    status = store_order_lock(event->db, placed->order_id, &state);
    if (status != DB_OK) {
        result = db_failure(event, status, "could not read the order", placed->order_id);
        goto done;
    }
    if ((uint64_t)state.version >= placed->version) {
        log_debug("order.placed already applied", LF_STR("order_id", placed->order_id),
                  LF_INT("version", (long long)placed->version),
                  LF_INT("applied_version", state.version));
        goto done;
    }
    /* a new placement of a known order: its lines change only through
     * order.changed; remember the version */
    log_warn("order.placed again for an order inventory knows; its lines are not re-read",
             LF_STR("order_id", placed->order_id), LF_STR("status", state.status),
             LF_INT("version", (long long)placed->version), LF_ERR("order_placed_again"));
    status = store_order_record(event->db, &order, state.status);
    if (status != DB_OK)
        result = db_failure(event, status, "could not record the order", placed->order_id);
done:
    free(lines);
    conveyor__order_placed__free_unpacked(placed, NULL);
    return result;
}

/* The common part of cancel and delivery: lock the order, skip what was
 * applied. Returns true when the fact is new; *state_out says where the
 * order stands. */
static bool fresh_fact(inventory_app_t *app, inbox_event_t *event, const char *order_id,
                       uint64_t version, order_state_t *state_out, handler_result_t *result_out)
{
    *result_out = HANDLER_OK;
    stockcache_t *cache = stockcache_of(event->db, app);
    if (!cache) {
        *result_out = inbox_retry(event, "out_of_memory", "no room for the stock cache");
        return false;
    }
    /* an order held earlier in this batch has its rows still deferred */
    db_status_t status = DB_OK;
    if (stockcache_order_pending(cache, order_id))
        status = stockcache_flush_now(event->db);
    if (status == DB_OK)
        status = store_order_lock(event->db, order_id, state_out);
    if (status != DB_OK) {
        *result_out = db_failure(event, status, "could not read the order", order_id);
        return false;
    }
    if (state_out->found && (uint64_t)state_out->version >= version) {
        log_debug("order fact already applied", LF_STR("order_id", order_id),
                  LF_STR("type", event->type), LF_INT("version", (long long)version),
                  LF_INT("applied_version", state_out->version));
        return false;
    }
    return true;
}

/* Records the order's new version and a status that holds nothing. */
static handler_result_t record(inbox_event_t *event, const order_ref_t *order,
                               const char *status_text)
{
    db_status_t status = store_order_record(event->db, order, status_text);
    return status == DB_OK
               ? HANDLER_OK
               : db_failure(event, status, "could not record the order", order->order_id);
}

/* order.cancelled: release what it holds; a waiting order stops waiting. */
static handler_result_t on_order_cancelled(inbox_event_t *event, void *arg)
{
    inventory_app_t *app = arg;
    Conveyor__OrderCancelled *cancelled =
        conveyor__order_cancelled__unpack(NULL, event->payload_len, event->payload);
    if (!cancelled)
        return inbox_reject(event, "bad_payload", "order.cancelled payload does not unpack");
    handler_result_t result = HANDLER_OK;
    order_state_t state;
    emitter_t em = emitter_of_event(event);
    order_ref_t order = {cancelled->order_id, cancelled->version, cancelled->number, ""};
    if (!is_uuid(cancelled->order_id)) {
        result = inbox_reject(event, "bad_payload", "order.cancelled names no order");
        goto done;
    }
    if (!fresh_fact(app, event, cancelled->order_id, cancelled->version, &state, &result))
        goto done;
    if (!state.found) {
        log_info("order cancelled before inventory heard of it; recorded",
                 LF_STR("order_id", cancelled->order_id),
                 LF_INT("version", (long long)cancelled->version));
        result = record(event, &order, "cancelled");
    } else if (strcmp(state.status, "reserved") == 0) {
        size_t closed = 0;
        db_status_t status = orderstock_close(app, event->db, &em, &order, false, &closed);
        if (status != DB_OK)
            result = db_failure(event, status, "could not release stock", cancelled->order_id);
    } else if (strcmp(state.status, "waiting") == 0) {
        /* it held nothing; it stops waiting, and the order service hears so */
        result = record(event, &order, "cancelled");
        if (result == HANDLER_OK) {
            db_status_t status =
                events_stock_closed(&em, &order, false, NULL, 0, "order_cancelled");
            if (status != DB_OK)
                result = db_failure(event, status, "could not answer", cancelled->order_id);
        }
    } else {
        if (strcmp(state.status, "committed") == 0 || strcmp(state.status, "delivered") == 0)
            log_warn("order cancelled after delivery: the stock stays written off (a return "
                     "brings it back)",
                     LF_STR("order_id", cancelled->order_id), LF_ERR("cancel_after_delivery"));
        result = record(event, &order, state.status);
    }
done:
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
    handler_result_t result = HANDLER_OK;
    order_state_t state;
    emitter_t em = emitter_of_event(event);
    order_ref_t order = {delivered->order_id, delivered->version, delivered->number, ""};
    if (!is_uuid(delivered->order_id)) {
        result = inbox_reject(event, "bad_payload", "order.delivered names no order");
        goto done;
    }
    if (!fresh_fact(app, event, delivered->order_id, delivered->version, &state, &result))
        goto done;
    if (state.found && strcmp(state.status, "reserved") == 0) {
        size_t closed = 0;
        db_status_t status = orderstock_close(app, event->db, &em, &order, true, &closed);
        if (status != DB_OK)
            result = db_failure(event, status, "could not write stock off", delivered->order_id);
    } else if (state.found &&
               (strcmp(state.status, "committed") == 0 || strcmp(state.status, "delivered") == 0)) {
        result = record(event, &order, state.status);
    } else {
        /* nothing is held: record it for a person to look at */
        log_warn("order delivered without stock held for it; nothing written off",
                 LF_STR("order_id", delivered->order_id),
                 LF_STR("status", state.found ? state.status : "unknown"),
                 LF_ERR("delivered_without_reservation"));
        const char *keep = state.found && (strcmp(state.status, "released") == 0 ||
                                           strcmp(state.status, "cancelled") == 0)
                               ? state.status
                               : "delivered";
        result = record(event, &order, keep);
    }
done:
    conveyor__order_delivered__free_unpacked(delivered, NULL);
    return result;
}

int handlers_register(inbox_t *inbox, inventory_app_t *app)
{
    if (inbox_on(inbox, ORDER_STREAM, "order.placed", on_order_placed, app) != 0 ||
        inbox_on(inbox, ORDER_STREAM, "order.cancelled", on_order_cancelled, app) != 0 ||
        inbox_on(inbox, ORDER_STREAM, "order.delivered", on_order_delivered, app) != 0)
        return -1;
    return 0;
}
