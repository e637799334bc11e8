/*
 * handlers.c — the one table of every topic shipping consumes, and the
 * reading of each off the wire (F22-F29).
 *
 *   order/order.reserved       quote the parcel (shipments_reserved)
 *   order/order.ready_to_ship  on the warehouse's list
 *   order/order.status_changed off it again when it is to be paid first
 *   order/order.assembled      buy the label
 *   order/order.cancelled      cancel or void
 *
 * Each handler unpacks its message, checks what the domain relies on (an
 * order id that is a UUID, a known delivery method, bounded text), turns
 * it into plain structs and hands it to the domain in the applier's
 * transaction. A payload that cannot be read is parked (bad_payload).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/emit.h"
#include "common/strbuf.h"
#include "common/utf8.h"
#include "common/uuid.h"
#include "conveyor/order.pb-c.h"
#include "services/shipping/rules.h"
#include "services/shipping/shipments.h"
#include "services/shipping/shipping.h"

#define ORDER_STREAM "order"
#define TEXT_MAX     512 /* bytes of one address part or line name we keep */
#define LINES_MAX    500 /* lines of one order kept for its packing slip (all are weighed) */

static handler_result_t answer(inbox_event_t *event, db_status_t status, const char *order_id)
{
    char what[120];
    snprintf(what, sizeof what, "could not apply %s to order %s", event->type, order_id);
    return inbox_result(event, status, what);
}

static const char *method_name(Conveyor__DeliveryMethod method)
{
    switch (method) {
    case CONVEYOR__DELIVERY_METHOD__DELIVERY_METHOD_COURIER:
        return "courier";
    case CONVEYOR__DELIVERY_METHOD__DELIVERY_METHOD_POST:
        return "post";
    case CONVEYOR__DELIVERY_METHOD__DELIVERY_METHOD_PICKUP_POINT:
        return "pickup_point";
    case CONVEYOR__DELIVERY_METHOD__DELIVERY_METHOD_SELF_PICKUP:
        return "self_pickup";
    default:
        return NULL;
    }
}

/* Sets name to text when it is short enough; -1 when it is not. */
static int put(json_t *object, const char *name, const char *text)
{
    if (!text)
        text = "";
    if (strlen(text) > TEXT_MAX)
        return -1;
    return json_object_set_new(object, name, json_string(text)) == 0 ? 0 : -1;
}

/* Sets name to text for printing only (a line's SKU or name on the slip):
 * cut to TEXT_MAX bytes on a character, made well-formed UTF-8, never a
 * reason to refuse the parcel. -1 only when out of memory. */
static int put_printed(json_t *object, const char *name, const char *text)
{
    char kept[TEXT_MAX + 1];
    size_t len = text ? strnlen(text, TEXT_MAX + 1) : 0;
    if (len > TEXT_MAX) {
        len = TEXT_MAX;
        while (len > 0 && ((unsigned char)text[len] & 0xC0) == 0x80)
            len--;
    }
    if (len)
        memcpy(kept, text, len);
    kept[len] = '\0';
    utf8_repair(kept);
    return json_object_set_new(object, name, json_string(kept)) == 0 ? 0 : -1;
}

static handler_result_t on_reserved(inbox_event_t *event, void *arg)
{
    shipping_app_t *app = arg;
    Conveyor__OrderReserved *wire =
        conveyor__order_reserved__unpack(NULL, event->payload_len, event->payload);
    if (!wire)
        return inbox_reject(event, "bad_payload", "order.reserved payload does not unpack");
    handler_result_t result = HANDLER_OK;
    json_t *address = json_object(), *recipient = json_object(), *lines = json_array();
    uint32_t *weights = calloc(wire->n_lines ? wire->n_lines : 1, sizeof *weights);
    uint32_t *quantities = calloc(wire->n_lines ? wire->n_lines : 1, sizeof *quantities);
    const Conveyor__Delivery *delivery = wire->delivery;
    const char *method = delivery ? method_name(delivery->method) : NULL;
    const Conveyor__Address *where = delivery ? delivery->address : NULL;
    const Conveyor__OrderCustomer *who = wire->customer;
    if (!address || !recipient || !lines || !weights || !quantities) {
        result = inbox_retry(event, "out_of_memory", "no room for order.reserved");
        goto done;
    }
    if (!uuid_valid(wire->order_id)) {
        result = inbox_reject(event, "bad_payload", "order.reserved names no order");
        goto done;
    }
    if (!method) {
        result = inbox_reject(event, "bad_payload", "order %s: no delivery method", wire->order_id);
        goto done;
    }
    if ((where && (put(address, "text", where->text) || put(address, "line1", where->line1) ||
                   put(address, "line2", where->line2) || put(address, "city", where->city) ||
                   put(address, "region", where->region) ||
                   put(address, "postal_code", where->postal_code) ||
                   put(address, "country_code", where->country_code))) ||
        (delivery && put(address, "pickup_point_id", delivery->pickup_point_id)) ||
        (who && (put(recipient, "name", who->name) || put(recipient, "phone", who->phone) ||
                 put(recipient, "email", who->email)))) {
        result = inbox_reject(event, "bad_payload", "order %s: an address part is too long",
                              wire->order_id);
        goto done;
    }
    for (size_t i = 0; i < wire->n_lines; i++) {
        const Conveyor__PricedLine *line = wire->lines[i];
        weights[i] = line->unit_weight_g;
        quantities[i] = line->quantity;
        if (i >= LINES_MAX)
            continue; /* weighed, not printed */
        json_t *kept =
            json_pack("{s:I, s:I, s:I}", "line_no", (json_int_t)line->line_no, "quantity",
                      (json_int_t)line->quantity, "unit_weight_g", (json_int_t)line->unit_weight_g);
        if (!kept || json_array_append_new(lines, kept) != 0 ||
            put_printed(kept, "sku", line->sku) || put_printed(kept, "name", line->name)) {
            result = inbox_retry(event, "out_of_memory", "no room for order.reserved");
            goto done;
        }
    }
    int64_t weight = rules_weight(weights, quantities, wire->n_lines);
    if (weight < 0) {
        result =
            inbox_reject(event, "bad_payload", "order %s: the weight overflows", wire->order_id);
        goto done;
    }
    reserved_order_t order = {.order_id = wire->order_id,
                              .version = wire->version,
                              .number = wire->number,
                              .method = method,
                              .region = where && where->region ? where->region : "",
                              .address = address,
                              .recipient = recipient,
                              .lines = lines,
                              .weight_g = weight};
    emitter_t em = emitter_of_event(event);
    result = answer(event, shipments_reserved(app, &em, &order), wire->order_id);
done:
    json_decref(address);
    json_decref(recipient);
    json_decref(lines);
    free(weights);
    free(quantities);
    conveyor__order_reserved__free_unpacked(wire, NULL);
    return result;
}

static handler_result_t on_ready(inbox_event_t *event, void *arg)
{
    (void)arg;
    Conveyor__OrderReadyToShip *wire =
        conveyor__order_ready_to_ship__unpack(NULL, event->payload_len, event->payload);
    if (!wire)
        return inbox_reject(event, "bad_payload", "order.ready_to_ship payload does not unpack");
    handler_result_t result;
    if (!uuid_valid(wire->order_id)) {
        result = inbox_reject(event, "bad_payload", "order.ready_to_ship names no order");
    } else {
        emitter_t em = emitter_of_event(event);
        result = answer(event, shipments_ready(&em, wire->order_id), wire->order_id);
    }
    conveyor__order_ready_to_ship__free_unpacked(wire, NULL);
    return result;
}

/* order.status_changed: only a move to awaiting_payment concerns the
 * warehouse (an edit made an order on its list prepaid); every other
 * status has its own fact event. */
static handler_result_t on_status_changed(inbox_event_t *event, void *arg)
{
    (void)arg;
    Conveyor__OrderStatusChanged *wire =
        conveyor__order_status_changed__unpack(NULL, event->payload_len, event->payload);
    if (!wire)
        return inbox_reject(event, "bad_payload", "order.status_changed payload does not unpack");
    handler_result_t result = HANDLER_OK;
    if (!wire->to_status || strcmp(wire->to_status, "awaiting_payment") != 0) {
        result = HANDLER_OK;
    } else if (!uuid_valid(wire->order_id)) {
        result = inbox_reject(event, "bad_payload", "order.status_changed names no order");
    } else {
        emitter_t em = emitter_of_event(event);
        result = answer(event, shipments_awaiting_payment(&em, wire->order_id), wire->order_id);
    }
    conveyor__order_status_changed__free_unpacked(wire, NULL);
    return result;
}

static handler_result_t on_assembled(inbox_event_t *event, void *arg)
{
    (void)arg;
    Conveyor__OrderAssembled *wire =
        conveyor__order_assembled__unpack(NULL, event->payload_len, event->payload);
    if (!wire)
        return inbox_reject(event, "bad_payload", "order.assembled payload does not unpack");
    handler_result_t result;
    if (!uuid_valid(wire->order_id)) {
        result = inbox_reject(event, "bad_payload", "order.assembled names no order");
    } else {
        emitter_t em = emitter_of_event(event);
        result =
            answer(event, shipments_assembled(&em, wire->order_id, wire->weight_g), wire->order_id);
    }
    conveyor__order_assembled__free_unpacked(wire, NULL);
    return result;
}

static handler_result_t on_cancelled(inbox_event_t *event, void *arg)
{
    (void)arg;
    Conveyor__OrderCancelled *wire =
        conveyor__order_cancelled__unpack(NULL, event->payload_len, event->payload);
    if (!wire)
        return inbox_reject(event, "bad_payload", "order.cancelled payload does not unpack");
    handler_result_t result;
    if (!uuid_valid(wire->order_id)) {
        result = inbox_reject(event, "bad_payload", "order.cancelled names no order");
    } else {
        char reason[256];
        str_copy_to(reason, sizeof reason, wire->reason);
        emitter_t em = emitter_of_event(event);
        result = answer(event, shipments_cancelled(&em, wire->order_id, reason), wire->order_id);
    }
    conveyor__order_cancelled__free_unpacked(wire, NULL);
    return result;
}

int handlers_register(inbox_t *inbox, shipping_app_t *app)
{
    static const struct {
        const char *stream, *type;
        inbox_handler_fn fn;
    } table[] = {
        {ORDER_STREAM, "order.reserved", on_reserved},
        {ORDER_STREAM, "order.ready_to_ship", on_ready},
        {ORDER_STREAM, "order.status_changed", on_status_changed},
        {ORDER_STREAM, "order.assembled", on_assembled},
        {ORDER_STREAM, "order.cancelled", on_cancelled},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (inbox_on(inbox, table[i].stream, table[i].type, table[i].fn, app) != 0)
            return -1;
    return 0;
}
