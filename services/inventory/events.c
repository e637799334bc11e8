/*
 * events.c — building and appending the inventory stream's messages
 * (events.h), appended through the kit's emitter. protobuf-c messages
 * here borrow the callers' strings; only the repeated-field pointer arrays
 * are allocated, and freed before returning.
 */
#include "services/inventory/events.h"

#include <stdio.h>
#include <stdlib.h>

#include "conveyor/inventory.pb-c.h"

/* protobuf-c wants char *, never writes through it */
static char *lend(const char *text)
{
    return (char *)(uintptr_t)(text ? text : "");
}

db_status_t events_stock_reserved(const emitter_t *em, const order_ref_t *order,
                                  const order_line_t *lines, const char *const *names,
                                  size_t line_count, const char *currency)
{
    Conveyor__StockReserved message = CONVEYOR__STOCK_RESERVED__INIT;
    Conveyor__ReservedLine *items = calloc(line_count ? line_count : 1, sizeof *items);
    Conveyor__ReservedLine **pointers = calloc(line_count ? line_count : 1, sizeof *pointers);
    db_status_t status = DB_ERROR;
    if (!items || !pointers)
        goto done;
    for (size_t i = 0; i < line_count; i++) {
        Conveyor__ReservedLine *item = &items[i];
        conveyor__reserved_line__init(item);
        item->line_no = lines[i].line_no;
        item->sku = lend(lines[i].sku);
        item->name = lend(names[i]);
        item->quantity = (uint32_t)lines[i].quantity;
        item->unit_price_minor = lines[i].unit_price_minor;
        item->vat_rate_bp = (uint32_t)lines[i].vat_rate_bp;
        item->unit_weight_g = (uint32_t)lines[i].weight_g;
        pointers[i] = item;
    }
    message.order_id = lend(order->order_id);
    message.order_version = order->version;
    message.n_lines = line_count;
    message.lines = pointers;
    message.currency = lend(currency);
    status = emit(em, "stock.reserved", order->order_id, &message.base);
done:
    free(items);
    free(pointers);
    return status;
}

db_status_t events_stock_shortage(const emitter_t *em, const order_ref_t *order,
                                  const short_line_t *lines, size_t line_count,
                                  uint64_t kept_version)
{
    Conveyor__StockShortage message = CONVEYOR__STOCK_SHORTAGE__INIT;
    Conveyor__ShortLine *items = calloc(line_count ? line_count : 1, sizeof *items);
    Conveyor__ShortLine **pointers = calloc(line_count ? line_count : 1, sizeof *pointers);
    char(*supply_ids)[24] = calloc(line_count ? line_count : 1, sizeof *supply_ids);
    db_status_t status = DB_ERROR;
    if (!items || !pointers || !supply_ids)
        goto done;
    for (size_t i = 0; i < line_count; i++) {
        Conveyor__ShortLine *item = &items[i];
        conveyor__short_line__init(item);
        item->line_no = lines[i].line_no;
        item->sku = lend(lines[i].sku);
        item->requested = (uint32_t)lines[i].requested;
        item->available = lines[i].available > 0 ? (uint32_t)lines[i].available : 0;
        item->reason = lend(lines[i].reason);
        item->expected_date = lend(lines[i].expected_date);
        if (lines[i].supply_id > 0)
            snprintf(supply_ids[i], sizeof supply_ids[i], "%lld", (long long)lines[i].supply_id);
        item->supply_id = supply_ids[i];
        pointers[i] = item;
    }
    message.order_id = lend(order->order_id);
    message.order_version = order->version;
    message.n_lines = line_count;
    message.lines = pointers;
    message.kept_version = kept_version;
    status = emit(em, "stock.shortage", order->order_id, &message.base);
done:
    free(items);
    free(pointers);
    free(supply_ids);
    return status;
}

db_status_t events_stock_closed(const emitter_t *em, const order_ref_t *order, bool write_off,
                                const order_line_t *lines, size_t line_count, const char *reason)
{
    Conveyor__StockLine *items = calloc(line_count ? line_count : 1, sizeof *items);
    Conveyor__StockLine **pointers = calloc(line_count ? line_count : 1, sizeof *pointers);
    db_status_t status = DB_ERROR;
    if (!items || !pointers)
        goto done;
    for (size_t i = 0; i < line_count; i++) {
        conveyor__stock_line__init(&items[i]);
        items[i].line_no = lines[i].line_no;
        items[i].sku = lend(lines[i].sku);
        items[i].quantity = (uint32_t)lines[i].quantity;
        pointers[i] = &items[i];
    }
    if (write_off) {
        Conveyor__StockCommitted message = CONVEYOR__STOCK_COMMITTED__INIT;
        message.order_id = lend(order->order_id);
        message.order_version = order->version;
        message.n_lines = line_count;
        message.lines = pointers;
        status = emit(em, "stock.committed", order->order_id, &message.base);
    } else {
        Conveyor__StockReleased message = CONVEYOR__STOCK_RELEASED__INIT;
        message.order_id = lend(order->order_id);
        message.order_version = order->version;
        message.n_lines = line_count;
        message.lines = pointers;
        message.reason = lend(reason);
        status = emit(em, "stock.released", order->order_id, &message.base);
    }
done:
    free(items);
    free(pointers);
    return status;
}

db_status_t events_stock_replenished(const emitter_t *em, const char *sku, int64_t quantity,
                                     int64_t supply_id, int64_t on_hand, int64_t available,
                                     uint32_t waiting_orders)
{
    char supply[24];
    snprintf(supply, sizeof supply, "%lld", (long long)supply_id);
    Conveyor__StockReplenished message = CONVEYOR__STOCK_REPLENISHED__INIT;
    message.sku = lend(sku);
    message.quantity = (uint32_t)quantity;
    message.supply_id = supply;
    message.on_hand = on_hand;
    message.available = available;
    message.waiting_orders = waiting_orders;
    return emit(em, "stock.replenished", "", &message.base);
}

db_status_t events_stock_low(const emitter_t *em, const product_row_t *product,
                             const stock_after_t *after)
{
    Conveyor__StockLow message = CONVEYOR__STOCK_LOW__INIT;
    message.sku = lend(product->sku);
    message.name = lend(product->name);
    message.on_hand = after->on_hand;
    message.available = after->on_hand - after->reserved;
    message.threshold = product->level.low_threshold;
    message.buyer_id = lend(product->buyer_id);
    message.buyer_name = lend(product->buyer_name);
    message.buyer_email = lend(product->buyer_email);
    return emit(em, "stock.low", "", &message.base);
}

db_status_t events_return_received(const emitter_t *em, const return_record_t *record,
                                   uint64_t order_version)
{
    size_t count = record->line_count;
    Conveyor__ReturnLine *items = calloc(count ? count : 1, sizeof *items);
    Conveyor__ReturnLine **pointers = calloc(count ? count : 1, sizeof *pointers);
    db_status_t status = DB_ERROR;
    if (!items || !pointers)
        goto done;
    for (size_t i = 0; i < count; i++) {
        const return_line_t *line = &record->lines[i];
        conveyor__return_line__init(&items[i]);
        items[i].line_no = line->line_no;
        items[i].sku = lend(line->sku);
        items[i].quantity = (uint32_t)line->quantity;
        items[i].condition = lend(line->damaged ? "damaged" : "sellable");
        items[i].reason = lend(line->reason);
        items[i].restocked = !line->damaged;
        pointers[i] = &items[i];
    }
    Conveyor__ReturnReceived message = CONVEYOR__RETURN_RECEIVED__INIT;
    message.return_id = lend(record->return_id);
    message.order_id = lend(record->order_id);
    message.order_version = order_version;
    message.kind = lend(record->kind);
    message.n_lines = count;
    message.lines = pointers;
    message.actor = lend(record->actor);
    message.comment = lend(record->comment);
    message.whole = record->whole;
    status = emit(em, "return.received", record->order_id, &message.base);
done:
    free(items);
    free(pointers);
    return status;
}
