/*
 * events.c — the order stream's messages (events.h): plain structs in,
 * order.proto's messages out, appended with the kit's emitter.
 *
 * This is the only place the service writes wire types; strings are lent
 * to the messages (pb_lend) for the call, never copied.
 */
#include "services/order/events.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/envelope.h"
#include "conveyor/order.pb-c.h"

/* An allocation failed while building a message: recorded on the
 * emitter's session so that whoever answers reads out_of_memory. */
static db_status_t no_memory(const emitter_t *em, const char *type, const char *order_id)
{
    return db_fail(emitter_db(em), DB_STATE_OUT_OF_MEMORY, "could not build %s for order %s", type,
                   order_id ? order_id : "");
}

static const char *or_empty(const char *text)
{
    return text ? text : "";
}

/* Fills a Delivery message from the submission; strings are lent. */
static void delivery_message(const submission_t *sub, Conveyor__Delivery *delivery,
                             Conveyor__Address *address)
{
    conveyor__delivery__init(delivery);
    conveyor__address__init(address);
    delivery->method = (Conveyor__DeliveryMethod)sub->method;
    delivery->pickup_point_id = pb_lend(or_empty(sub->pickup_point_id));
    delivery->comment = pb_lend(or_empty(sub->delivery_comment));
    address->text = pb_lend(or_empty(sub->address_text));
    address->country_code = pb_lend(or_empty(sub->country_code));
    address->region = pb_lend(or_empty(sub->region));
    address->city = pb_lend(or_empty(sub->city));
    address->postal_code = pb_lend(or_empty(sub->postal_code));
    address->line1 = pb_lend(or_empty(sub->line1));
    address->line2 = pb_lend(or_empty(sub->line2));
    delivery->address = address;
}

db_status_t events_placed(const emitter_t *em, const submission_t *sub, const char *order_id,
                          uint64_t number, const char *title, const customer_t *customer,
                          int64_t placed_at_ms)
{
    size_t count = sub->item_count;
    Conveyor__OrderLine *lines = calloc(count ? count : 1, sizeof *lines);
    Conveyor__OrderLine **line_ptrs = calloc(count ? count : 1, sizeof *line_ptrs);
    Conveyor__Money *prices = calloc(count ? count : 1, sizeof *prices);
    db_status_t status = DB_OK;
    if (!lines || !line_ptrs || !prices) {
        status = no_memory(em, "order.placed", order_id);
        goto done;
    }
    for (size_t i = 0; i < count; i++) {
        conveyor__order_line__init(&lines[i]);
        lines[i].line_no = (uint32_t)(i + 1);
        lines[i].sku = pb_lend(sub->items[i].sku);
        lines[i].name = pb_lend(or_empty(sub->items[i].name));
        lines[i].quantity = (uint32_t)sub->items[i].quantity;
        if (sub->items[i].has_price) {
            conveyor__money__init(&prices[i]);
            prices[i].amount_minor = sub->items[i].price_minor;
            prices[i].currency = pb_lend("RUB");
            lines[i].sender_price = &prices[i];
        }
        line_ptrs[i] = &lines[i];
    }
    Conveyor__OrderCustomer who = CONVEYOR__ORDER_CUSTOMER__INIT;
    who.customer_id = pb_lend(customer->id);
    who.name = pb_lend(sub->customer_name);
    who.phone = pb_lend(sub->phone_e164);
    who.email = pb_lend(or_empty(sub->email_lower));
    Conveyor__Delivery delivery;
    Conveyor__Address address;
    delivery_message(sub, &delivery, &address);

    Conveyor__OrderPlaced placed = CONVEYOR__ORDER_PLACED__INIT;
    placed.order_id = pb_lend(order_id);
    placed.version = 1;
    placed.number = number;
    placed.title = pb_lend(title);
    placed.customer = &who;
    placed.delivery = &delivery;
    placed.n_lines = count;
    placed.lines = line_ptrs;
    placed.channel = pb_lend(sub->channel);
    placed.source = pb_lend(sub->source);
    placed.external_id = pb_lend(sub->external_id);
    placed.discount_bp = (uint32_t)sub->discount_bp;
    placed.currency = pb_lend(sub->currency ? sub->currency : "RUB");
    placed.placed_at_ms = placed_at_ms;
    placed.region = pb_lend(sub->region_key);
    status = emit(em, "order.placed", order_id, &placed.base);
done:
    free(lines);
    free(line_ptrs);
    free(prices);
    return status;
}

db_status_t events_status_changed(const emitter_t *em, const status_change_t *change)
{
    Conveyor__OrderStatusChanged msg = CONVEYOR__ORDER_STATUS_CHANGED__INIT;
    msg.order_id = pb_lend(change->order_id);
    msg.version = change->version;
    msg.number = change->number;
    msg.from_status = pb_lend(or_empty(change->from));
    msg.to_status = pb_lend(change->to);
    msg.group = pb_lend(change->group);
    msg.actor_id = pb_lend(change->actor_id);
    msg.actor_role = pb_lend(change->actor_role);
    msg.reason = pb_lend(or_empty(change->reason));
    msg.changed_at_ms = change->at_ms;
    msg.customer_id = pb_lend(change->customer_id);
    msg.channel = pb_lend(change->channel);
    msg.delivery_method = (Conveyor__DeliveryMethod)change->method;
    return emit(em, "order.status_changed", change->order_id, &msg.base);
}

db_status_t events_intake_accepted(const emitter_t *em, const char *source, const char *external_id,
                                   const char *order_id, uint64_t number, const char *title)
{
    Conveyor__IntakeAccepted msg = CONVEYOR__INTAKE_ACCEPTED__INIT;
    msg.source = pb_lend(source);
    msg.external_id = pb_lend(external_id);
    msg.order_id = pb_lend(order_id);
    msg.number = number;
    msg.title = pb_lend(title);
    return emit(em, "intake.accepted", order_id, &msg.base);
}

db_status_t events_intake_rejected(const emitter_t *em, const char *source, const char *external_id,
                                   const json_t *reasons, const char *rejection_id)
{
    size_t count = json_array_size(reasons);
    Conveyor__RejectionReason **ptrs = calloc(count ? count : 1, sizeof *ptrs);
    Conveyor__RejectionReason *items = calloc(count ? count : 1, sizeof *items);
    db_status_t status = DB_OK;
    if (!ptrs || !items) {
        status = no_memory(em, "intake.rejected", "");
        goto done;
    }
    for (size_t i = 0; i < count; i++) {
        const json_t *reason = json_array_get(reasons, i);
        conveyor__rejection_reason__init(&items[i]);
        items[i].field = pb_lend(json_string_value(json_object_get(reason, "field")));
        items[i].code = pb_lend(json_string_value(json_object_get(reason, "code")));
        items[i].message = pb_lend(json_string_value(json_object_get(reason, "message")));
        ptrs[i] = &items[i];
    }
    Conveyor__IntakeRejected msg = CONVEYOR__INTAKE_REJECTED__INIT;
    msg.source = pb_lend(or_empty(source));
    msg.external_id = pb_lend(or_empty(external_id));
    msg.n_reasons = count;
    msg.reasons = ptrs;
    msg.rejection_id = pb_lend(rejection_id);
    status = emit(em, "intake.rejected", "", &msg.base);
done:
    free(items);
    free(ptrs);
    return status;
}

db_status_t events_assigned(const emitter_t *em, const order_t *order, uint64_t version,
                            const manager_contact_t *contact, const char *previous,
                            const char *reason)
{
    Conveyor__OrderAssigned msg = CONVEYOR__ORDER_ASSIGNED__INIT;
    msg.order_id = pb_lend(order->id);
    msg.version = version;
    msg.number = order->number;
    msg.manager_id = pb_lend(contact->id);
    msg.manager_name = pb_lend(contact->name);
    msg.manager_email = pb_lend(contact->email);
    msg.manager_phone = pb_lend(contact->phone);
    msg.reassigned = previous && previous[0];
    msg.previous_manager_id = pb_lend(or_empty(previous));
    msg.reason = pb_lend(reason);
    return emit(em, "order.assigned", order->id, &msg.base);
}

db_status_t events_task_created(const emitter_t *em, const char *task_id, const char *kind,
                                const order_t *order, const char *assignee_id, int64_t due_at_ms,
                                const char *title)
{
    Conveyor__TaskCreated msg = CONVEYOR__TASK_CREATED__INIT;
    msg.task_id = pb_lend(task_id);
    msg.kind = pb_lend(kind);
    msg.order_id = pb_lend(order ? order->id : "");
    msg.order_number = order ? order->number : 0;
    msg.assignee_id = pb_lend(or_empty(assignee_id));
    msg.due_at_ms = due_at_ms;
    msg.title = pb_lend(title);
    return emit(em, "task.created", order ? order->id : "", &msg.base);
}

static void totals_message(const order_t *order, Conveyor__OrderTotals *totals)
{
    conveyor__order_totals__init(totals);
    totals->lines_minor = order->lines_minor;
    totals->discount_minor = order->discount_minor;
    totals->delivery_minor = order->delivery_minor;
    totals->vat_minor = order->vat_minor;
    totals->total_minor = order->total_minor;
    totals->currency = pb_lend(order->currency);
    totals->weight_g = (uint32_t)order->weight_g;
}

/* The lines as PricedLine messages: *ptrs_out and *items_out for the
 * caller to free (the strings are the rows'). -1 on out of memory. */
static int priced_messages(const order_line_t *rows, size_t count, Conveyor__PricedLine ***ptrs_out,
                           Conveyor__PricedLine **items_out)
{
    Conveyor__PricedLine *items = calloc(count ? count : 1, sizeof *items);
    Conveyor__PricedLine **ptrs = calloc(count ? count : 1, sizeof *ptrs);
    if (!items || !ptrs) {
        free(items);
        free(ptrs);
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        conveyor__priced_line__init(&items[i]);
        items[i].line_no = rows[i].line_no;
        items[i].sku = pb_lend(rows[i].sku);
        items[i].name = pb_lend(rows[i].name);
        items[i].quantity = (uint32_t)rows[i].quantity;
        items[i].unit_price_minor = rows[i].unit_price_minor;
        items[i].vat_rate_bp = rows[i].vat_rate_bp;
        items[i].unit_weight_g = rows[i].unit_weight_g;
        items[i].amount_minor = rows[i].amount_minor;
        items[i].discount_minor = rows[i].discount_minor;
        items[i].total_minor = rows[i].total_minor;
        items[i].vat_minor = rows[i].vat_minor;
        ptrs[i] = &items[i];
    }
    *ptrs_out = ptrs;
    *items_out = items;
    return 0;
}

static const char *json_text(const json_t *object, const char *name)
{
    const char *text = json_string_value(json_object_get(object, name));
    return text ? text : "";
}

/* Fills a Delivery message from the stored delivery object (strings lent
 * from it). */
static void delivery_of_json(const json_t *stored, Conveyor__Delivery *delivery,
                             Conveyor__Address *address)
{
    conveyor__delivery__init(delivery);
    conveyor__address__init(address);
    delivery_method_t method = intake_method_parse(json_text(stored, "method"));
    delivery->method = (Conveyor__DeliveryMethod)method;
    delivery->pickup_point_id = pb_lend(json_text(stored, "pickup_point_id"));
    delivery->comment = pb_lend(json_text(stored, "comment"));
    const json_t *where = json_object_get(stored, "address");
    address->text = pb_lend(json_text(where, "text"));
    address->country_code = pb_lend(json_text(where, "country_code"));
    address->region = pb_lend(json_text(where, "region"));
    address->city = pb_lend(json_text(where, "city"));
    address->postal_code = pb_lend(json_text(where, "postal_code"));
    address->line1 = pb_lend(json_text(where, "line1"));
    address->line2 = pb_lend(json_text(where, "line2"));
    delivery->address = address;
}

db_status_t events_reserved(const emitter_t *em, const order_t *order, const order_line_t *lines,
                            size_t count, const char *delivery_json,
                            const customer_contact_t *contact)
{
    Conveyor__PricedLine **ptrs = NULL, *items = NULL;
    if (priced_messages(lines, count, &ptrs, &items) != 0)
        return no_memory(em, "order.reserved", order->id);
    json_t *stored = delivery_json ? json_loads(delivery_json, 0, NULL) : NULL;
    Conveyor__Delivery delivery;
    Conveyor__Address address;
    Conveyor__OrderTotals totals;
    totals_message(order, &totals);
    Conveyor__OrderCustomer who = CONVEYOR__ORDER_CUSTOMER__INIT;
    who.customer_id = pb_lend(order->customer_id);
    who.name = pb_lend(contact ? contact->name : "");
    who.phone = pb_lend(contact ? contact->phone : "");
    who.email = pb_lend(contact ? contact->email : "");
    Conveyor__OrderReserved msg = CONVEYOR__ORDER_RESERVED__INIT;
    msg.order_id = pb_lend(order->id);
    msg.version = order->version;
    msg.number = order->number;
    msg.n_lines = count;
    msg.lines = ptrs;
    msg.totals = &totals;
    msg.customer = &who;
    if (json_is_object(stored)) {
        delivery_of_json(stored, &delivery, &address);
        msg.delivery = &delivery;
    }
    db_status_t status = emit(em, "order.reserved", order->id, &msg.base);
    json_decref(stored);
    free(ptrs);
    free(items);
    return status;
}

db_status_t events_confirmed(const emitter_t *em, const order_t *order,
                             const customer_contact_t *contact, const order_line_t *lines,
                             size_t count)
{
    Conveyor__PricedLine **ptrs = NULL, *items = NULL;
    if (priced_messages(lines, count, &ptrs, &items) != 0)
        return no_memory(em, "order.confirmed", order->id);
    const char *terms = order->payment_terms;
    Conveyor__OrderTotals totals;
    totals_message(order, &totals);
    Conveyor__OrderCustomer who = CONVEYOR__ORDER_CUSTOMER__INIT;
    who.customer_id = pb_lend(order->customer_id);
    who.name = pb_lend(contact->name);
    who.phone = pb_lend(contact->phone);
    who.email = pb_lend(contact->email);
    Conveyor__OrderConfirmed msg = CONVEYOR__ORDER_CONFIRMED__INIT;
    msg.order_id = pb_lend(order->id);
    msg.version = order->version;
    msg.number = order->number;
    msg.customer = &who;
    msg.n_lines = count;
    msg.lines = ptrs;
    msg.totals = &totals;
    msg.payment_terms = strcmp(terms, "prepay") == 0 ? CONVEYOR__PAYMENT_TERMS__PAYMENT_TERMS_PREPAY
                        : strcmp(terms, "none") == 0
                            ? CONVEYOR__PAYMENT_TERMS__PAYMENT_TERMS_NONE
                            : CONVEYOR__PAYMENT_TERMS__PAYMENT_TERMS_ON_DELIVERY;
    msg.due_minor = strcmp(terms, "prepay") == 0 ? order->total_minor : 0;
    db_status_t status = emit(em, "order.confirmed", order->id, &msg.base);
    free(ptrs);
    free(items);
    return status;
}

db_status_t events_ready_to_ship(const emitter_t *em, const order_t *order)
{
    Conveyor__OrderTotals totals;
    totals_message(order, &totals);
    Conveyor__OrderReadyToShip msg = CONVEYOR__ORDER_READY_TO_SHIP__INIT;
    msg.order_id = pb_lend(order->id);
    msg.version = order->version;
    msg.number = order->number;
    msg.cod_minor = strcmp(order->payment_terms, "on_delivery") == 0 ? order->total_minor : 0;
    msg.totals = &totals;
    return emit(em, "order.ready_to_ship", order->id, &msg.base);
}

db_status_t events_assembled(const emitter_t *em, const order_t *order)
{
    Conveyor__OrderAssembled msg = CONVEYOR__ORDER_ASSEMBLED__INIT;
    msg.order_id = pb_lend(order->id);
    msg.version = order->version;
    msg.number = order->number;
    msg.weight_g = (uint32_t)order->weight_g;
    return emit(em, "order.assembled", order->id, &msg.base);
}

db_status_t events_delivered(const emitter_t *em, const order_t *order)
{
    Conveyor__OrderDelivered msg = CONVEYOR__ORDER_DELIVERED__INIT;
    msg.order_id = pb_lend(order->id);
    msg.version = order->version;
    msg.number = order->number;
    return emit(em, "order.delivered", order->id, &msg.base);
}

db_status_t events_cancelled(const emitter_t *em, const order_t *order, const char *reason,
                             const char *actor_id, const char *from, bool refund_on_return)
{
    Conveyor__OrderCancelled msg = CONVEYOR__ORDER_CANCELLED__INIT;
    msg.order_id = pb_lend(order->id);
    msg.version = order->version;
    msg.number = order->number;
    msg.reason = pb_lend(or_empty(reason));
    msg.actor_id = pb_lend(actor_id);
    msg.from_status = pb_lend(from);
    msg.refund_on_return = refund_on_return;
    return emit(em, "order.cancelled", order->id, &msg.base);
}

/* The claim's lines (claims.c's shape) as ClaimLine and PricedLine
 * messages; strings lent from the JSON. -1 on out of memory. */
typedef struct {
    size_t count;
    Conveyor__ClaimLine *claim_items;
    Conveyor__ClaimLine **claim_ptrs;
    Conveyor__PricedLine *priced_items;
    Conveyor__PricedLine **priced_ptrs;
} claim_lines_t;

static void claim_lines_clear(claim_lines_t *lines)
{
    free(lines->claim_items);
    free(lines->claim_ptrs);
    free(lines->priced_items);
    free(lines->priced_ptrs);
}

static int claim_lines_of(const json_t *claim, claim_lines_t *out)
{
    const json_t *rows = json_object_get(claim, "lines");
    size_t count = json_array_size(rows);
    size_t room = count ? count : 1;
    *out = (claim_lines_t){
        .count = count,
        .claim_items = calloc(room, sizeof *out->claim_items),
        .claim_ptrs = calloc(room, sizeof *out->claim_ptrs),
        .priced_items = calloc(room, sizeof *out->priced_items),
        .priced_ptrs = calloc(room, sizeof *out->priced_ptrs),
    };
    if (!out->claim_items || !out->claim_ptrs || !out->priced_items || !out->priced_ptrs) {
        claim_lines_clear(out);
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        const json_t *row = json_array_get(rows, i);
        uint32_t line_no = (uint32_t)json_integer_value(json_object_get(row, "line_no"));
        uint32_t quantity = (uint32_t)json_integer_value(json_object_get(row, "quantity"));
        int64_t total = json_integer_value(json_object_get(row, "total_minor"));
        uint32_t vat = (uint32_t)json_integer_value(json_object_get(row, "vat_rate_bp"));
        Conveyor__ClaimLine *line = &out->claim_items[i];
        conveyor__claim_line__init(line);
        line->line_no = line_no;
        line->sku = pb_lend(json_text(row, "sku"));
        line->name = pb_lend(json_text(row, "name"));
        line->quantity = quantity;
        line->total_minor = total;
        line->vat_rate_bp = vat;
        out->claim_ptrs[i] = line;
        Conveyor__PricedLine *priced = &out->priced_items[i];
        conveyor__priced_line__init(priced);
        priced->line_no = line_no;
        priced->sku = line->sku;
        priced->name = line->name;
        priced->quantity = quantity;
        priced->unit_price_minor = quantity ? total / quantity : 0;
        priced->vat_rate_bp = vat;
        priced->amount_minor = total;
        priced->total_minor = total;
        out->priced_ptrs[i] = priced;
    }
    return 0;
}

db_status_t events_claim_changed(const emitter_t *em, const char *type,
                                 const claim_change_t *change)
{
    const json_t *claim = change->claim;
    const char *order_id = json_text(claim, "order_id");
    claim_lines_t lines;
    if (claim_lines_of(claim, &lines) != 0)
        return no_memory(em, type, order_id);
    Conveyor__ClaimChanged msg = CONVEYOR__CLAIM_CHANGED__INIT;
    msg.claim_id = pb_lend(json_text(claim, "id"));
    msg.order_id = pb_lend(order_id);
    msg.order_number = (uint64_t)json_integer_value(json_object_get(claim, "order_number"));
    msg.name = pb_lend(json_text(claim, "name"));
    msg.type = pb_lend(json_text(claim, "type"));
    msg.reason = pb_lend(json_text(claim, "reason"));
    msg.n_lines = lines.count;
    msg.lines = lines.claim_ptrs;
    msg.amount_minor = json_integer_value(json_object_get(claim, "amount_minor"));
    msg.status = pb_lend(json_text(claim, "status"));
    msg.decision = pb_lend(json_text(claim, "decision"));
    msg.comment = pb_lend(or_empty(change->comment));
    msg.actor_id = pb_lend(or_empty(change->actor_id));
    msg.actor_role = pb_lend(or_empty(change->actor_role));
    msg.at_ms = change->at_ms;
    msg.customer_id = pb_lend(json_text(claim, "customer_id"));
    msg.replacement_order_id = pb_lend(json_text(claim, "replacement_order_id"));
    msg.refund_request_id = pb_lend(json_text(claim, "refund_request_id"));
    db_status_t status = emit(em, type, order_id, &msg.base);
    claim_lines_clear(&lines);
    return status;
}

db_status_t events_refund_requested(const emitter_t *em, const json_t *claim,
                                    const char *request_id, const char *actor_id)
{
    const char *order_id = json_text(claim, "order_id");
    claim_lines_t lines;
    if (claim_lines_of(claim, &lines) != 0)
        return no_memory(em, "refund.requested", order_id);
    Conveyor__RefundRequested msg = CONVEYOR__REFUND_REQUESTED__INIT;
    msg.order_id = pb_lend(order_id);
    msg.request_id = pb_lend(request_id);
    msg.claim_id = pb_lend(json_text(claim, "id"));
    msg.n_lines = lines.count;
    msg.lines = lines.priced_ptrs;
    msg.amount_minor = json_integer_value(json_object_get(claim, "amount_minor"));
    msg.reason = pb_lend(json_text(claim, "name"));
    msg.actor_id = pb_lend(or_empty(actor_id));
    db_status_t status = emit(em, "refund.requested", order_id, &msg.base);
    claim_lines_clear(&lines);
    return status;
}

db_status_t events_changed(const emitter_t *em, const order_change_t *change)
{
    const order_t *order = change->order;
    size_t count = change->line_count;
    Conveyor__OrderLine *lines = calloc(count ? count : 1, sizeof *lines);
    Conveyor__OrderLine **line_ptrs = calloc(count ? count : 1, sizeof *line_ptrs);
    Conveyor__Money *prices = calloc(count ? count : 1, sizeof *prices);
    json_t *stored = change->delivery_json ? json_loads(change->delivery_json, 0, NULL) : NULL;
    db_status_t status = DB_OK;
    if (!lines || !line_ptrs || !prices) {
        status = no_memory(em, "order.changed", order->id);
        goto done;
    }
    for (size_t i = 0; i < count; i++) {
        const order_line_t *row = &change->lines[i];
        conveyor__order_line__init(&lines[i]);
        lines[i].line_no = row->line_no;
        lines[i].sku = pb_lend(row->sku);
        lines[i].name = pb_lend(row->name);
        lines[i].quantity = (uint32_t)row->quantity;
        if (row->sender_price_minor >= 0) {
            conveyor__money__init(&prices[i]);
            prices[i].amount_minor = row->sender_price_minor;
            prices[i].currency = pb_lend(order->currency);
            lines[i].sender_price = &prices[i];
        }
        line_ptrs[i] = &lines[i];
    }
    Conveyor__Delivery delivery;
    Conveyor__Address address;
    Conveyor__OrderTotals totals;
    totals_message(order, &totals);
    Conveyor__OrderChanged msg = CONVEYOR__ORDER_CHANGED__INIT;
    msg.order_id = pb_lend(order->id);
    msg.version = order->version;
    msg.number = order->number;
    msg.n_lines = count;
    msg.lines = line_ptrs;
    if (json_is_object(stored)) {
        delivery_of_json(stored, &delivery, &address);
        msg.delivery = &delivery;
    }
    msg.discount_bp = order->discount_bp;
    msg.totals = &totals;
    msg.actor_id = pb_lend(change->actor_id);
    msg.actor_role = pb_lend(change->actor_role);
    msg.n_changed = change->changed_count;
    msg.changed = (char **)(uintptr_t)change->changed;
    msg.reason = pb_lend(or_empty(change->reason));
    msg.status = pb_lend(order->status);
    msg.region = pb_lend(order->region);
    msg.currency = pb_lend(order->currency);
    msg.changed_at_ms = change->at_ms;
    status = emit(em, "order.changed", order->id, &msg.base);
done:
    json_decref(stored);
    free(lines);
    free(line_ptrs);
    free(prices);
    return status;
}
