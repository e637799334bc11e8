/*
 * handlers.c — the one table of every topic the order service consumes
 * (docs/adding-a-service.md): each handler reads its wire message, turns
 * it into the plain structs the domain takes, and calls the domain inside
 * the applier's transaction.
 *
 *   ext/intake.order            placing.c   an order from another system (F1)
 *   inventory/stock.*           stock.c     held, short, released, written off
 *   payment/..., shipping/...   facts.c     invoices, payments, refunds, parcels
 *   inventory/return.received   facts.c     goods taken back by the warehouse
 *
 * A payload that does not unpack is refused for good (parked in
 * dead_letters with the reason); every other failure is answered by the
 * kit's one mapping (inbox_result): the database away or memory short is
 * a retry, the rest is parked with its stable code. A rejected order is
 * not a failure of the handler but an answer (intake.rejected).
 */
#include <stdlib.h>
#include <string.h>

#include "common/emit.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/pbjson.h"
#include "conveyor/inventory.pb-c.h"
#include "conveyor/order.pb-c.h"
#include "proto/conveyor/catalogue.h"
#include "services/order/facts.h"
#include "services/order/order.h"
#include "services/order/placing.h"
#include "services/order/stock.h"
#include "services/order/store.h"

/* Unpacks an OrderSubmitted. With more than INTAKE_ITEMS_MAX items the
 * items are left out before unpacking (protobuf-c would allocate every
 * one of them first) and *items_sent says how many there were. NULL if
 * the payload is not an OrderSubmitted, or out of memory (*oom). */
static Conveyor__OrderSubmitted *unpack_submission(const inbox_event_t *event, size_t *items_sent,
                                                   bool *oom)
{
    *items_sent = 0;
    *oom = false;
    if (intake_proto_item_count(event->payload, event->payload_len, items_sent) != 0 ||
        *items_sent <= INTAKE_ITEMS_MAX)
        return conveyor__order_submitted__unpack(NULL, event->payload_len, event->payload);
    uint8_t *trimmed = malloc(event->payload_len);
    size_t trimmed_len = 0;
    Conveyor__OrderSubmitted *msg = NULL;
    if (!trimmed)
        *oom = true;
    else if (intake_proto_without_items(event->payload, event->payload_len, trimmed,
                                        &trimmed_len) == 0)
        msg = conveyor__order_submitted__unpack(NULL, trimmed_len, trimmed);
    free(trimmed);
    return msg;
}

/* An intake.order as read from its event: the submission, the problems
 * found while reading it, and what its source is trusted with. */
typedef struct {
    Conveyor__OrderSubmitted *msg; /* the submission's strings are copies */
    submission_t sub;
    problems_t read_errors;
    intake_source_t source;
} intake_read_t;

static void intake_read_release(intake_read_t *read)
{
    problems_release(&read->read_errors);
    submission_free(&read->sub);
    if (read->msg)
        conveyor__order_submitted__free_unpacked(read->msg, NULL);
    read->msg = NULL;
}

/* Reads an intake.order event into read (released by
 * intake_read_release, also on failure): HANDLER_OK, or the answer. */
static handler_result_t intake_read(inbox_event_t *event, intake_read_t *read)
{
    memset(read, 0, sizeof *read);
    submission_init(&read->sub);
    size_t items_sent = 0;
    bool oom = false;
    read->msg = unpack_submission(event, &items_sent, &oom);
    if (!read->msg && oom)
        return inbox_retry(event, "out_of_memory", "could not read the submission");
    if (!read->msg)
        return inbox_reject(event, "bad_payload", "intake.order payload is not an OrderSubmitted");
    if (problems_init(&read->read_errors) != 0 ||
        submission_from_proto(read->msg, &read->sub) != 0 ||
        intake_bus_source(&read->sub, event->stream, &read->read_errors) != 0)
        return inbox_retry(event, "out_of_memory", "could not read the submission");
    if (items_sent > INTAKE_ITEMS_MAX)
        read->sub.items_over_max = items_sent; /* none were unpacked: intake_validate refuses it */
    /* the publisher is trusted with money as far as its source's row says */
    read->source = (intake_source_t){.trust = {.may_set_prices = false, .max_discount_bp = 0}};
    bool registered = false;
    db_status_t status = read->sub.source ? store_source_by_name(event->db, read->sub.source,
                                                                 &registered, &read->source)
                                          : DB_OK;
    return inbox_result(event, status, "intake.order");
}

static void log_conflict(const submission_t *sub, const intake_result_t *outcome)
{
    if (outcome->outcome == INTAKE_CONFLICT)
        log_warn("an intake key was reused with another body: answered with the first order",
                 LF_STR("source", sub->source), LF_STR("external_id", sub->external_id),
                 LF_STR("order_id", outcome->order_id), LF_ERR("idempotency_key_reused"));
}

/* ext/intake.order: an order from another system (F1). */
static handler_result_t on_intake_order(inbox_event_t *event, void *arg)
{
    order_app_t *app = arg;
    intake_read_t read;
    intake_result_t outcome = {0};
    handler_result_t result = intake_read(event, &read);
    if (result == HANDLER_OK) {
        emitter_t em = emitter_of_event(event);
        db_status_t status =
            placing_intake(app, &em, &read.sub, DOOR_BUS, "website", &read.source.trust,
                           problems_errors(&read.read_errors), &outcome);
        result = inbox_result(event, status, "intake.order");
        if (result == HANDLER_OK)
            log_conflict(&read.sub, &outcome);
    }
    intake_result_clear(&outcome);
    intake_read_release(&read);
    return result;
}

/* ext/intake.order, a run of them at once (placing_intake_batch): one that
 * cannot be read sends the run back to be applied one by one, where it
 * alone is parked. */
static handler_result_t on_intake_orders(inbox_event_t *events, size_t count, void *arg)
{
    order_app_t *app = arg;
    intake_read_t *reads = calloc(count, sizeof *reads);
    emitter_t *ems = calloc(count, sizeof *ems);
    intake_batch_item_t *items = calloc(count, sizeof *items);
    handler_result_t result = HANDLER_OK;
    size_t read_count = 0;
    if (!reads || !ems || !items)
        result = inbox_retry(&events[0], "out_of_memory", "could not read %zu submissions", count);
    for (; result == HANDLER_OK && read_count < count; read_count++) {
        result = intake_read(&events[read_count], &reads[read_count]);
        ems[read_count] = emitter_of_event(&events[read_count]);
        items[read_count] = (intake_batch_item_t){
            .em = &ems[read_count],
            .sub = &reads[read_count].sub,
            .trust = &reads[read_count].source.trust,
            .read_errors = problems_errors(&reads[read_count].read_errors),
        };
    }
    if (result == HANDLER_OK) {
        size_t batched = 0;
        db_status_t status = placing_intake_batch(app, items, count, &batched);
        result = inbox_result(&events[0], status, "intake.order");
        if (result == HANDLER_OK)
            metrics_counter_add(
                metrics_counter("intake_batched_orders_total", "",
                                "Orders from the bus placed by the intake's batch statements "
                                "(a run of ext/intake.order at once)."),
                batched);
        for (size_t i = 0; result == HANDLER_OK && i < count; i++)
            log_conflict(&reads[i].sub, &items[i].result);
    }
    for (size_t i = 0; i < read_count; i++) {
        intake_result_clear(&items[i].result);
        intake_read_release(&reads[i]);
    }
    free(reads);
    free(ems);
    free(items);
    return result;
}

/* inventory/stock.reserved: every line held, at the catalogue's prices. */
static handler_result_t apply_stock_reserved(inbox_event_t *event,
                                             const Conveyor__StockReserved *msg,
                                             store_reserved_many_t *run, void *arg)
{
    handler_result_t result = HANDLER_OK;
    stock_held_line_t *lines = calloc(msg->n_lines ? msg->n_lines : 1, sizeof *lines);
    if (!lines) {
        result = inbox_retry(event, "out_of_memory", "could not read stock.reserved");
        goto done;
    }
    for (size_t i = 0; i < msg->n_lines; i++)
        lines[i] = (stock_held_line_t){.line_no = msg->lines[i]->line_no,
                                       .name = msg->lines[i]->name,
                                       .unit_price_minor = msg->lines[i]->unit_price_minor,
                                       .vat_rate_bp = msg->lines[i]->vat_rate_bp,
                                       .unit_weight_g = msg->lines[i]->unit_weight_g};
    stock_reserved_t fact = {.order_id = msg->order_id,
                             .order_version = msg->order_version,
                             .lines = lines,
                             .line_count = msg->n_lines};
    emitter_t em = emitter_of_event(event);
    stock_outcome_t outcome = STOCK_APPLIED;
    char detail[256] = "";
    db_status_t status = stock_on_reserved(arg, &em, &fact, run, &outcome, detail, sizeof detail);
    if (status == DB_OK && outcome == STOCK_TOTALS_OVERFLOW)
        result = inbox_reject(event, "totals_overflow", "%s", detail);
    else
        result = inbox_result(event, status, "stock.reserved");
done:
    free(lines);
    return result;
}

static handler_result_t on_stock_reserved(inbox_event_t *event, void *arg)
{
    Conveyor__StockReserved *msg =
        conveyor__stock_reserved__unpack(NULL, event->payload_len, event->payload);
    if (!msg)
        return inbox_reject(event, "bad_payload", "stock.reserved payload does not unpack");
    handler_result_t result = apply_stock_reserved(event, msg, NULL, arg);
    conveyor__stock_reserved__free_unpacked(msg, NULL);
    return result;
}

/* inventory/stock.reserved, a run at once: when each order is once in the
 * run, its orders are locked and read in one round trip first, every
 * answer is applied as alone but for the orders' prices and totals, which
 * are written for the run in one statement at its end; else each is
 * applied as alone (and a run of one is). One that cannot be read sends
 * the run back to be applied one by one, where it alone is parked. */
static handler_result_t on_stock_reserved_many(inbox_event_t *events, size_t count, void *arg)
{
    if (count == 1)
        return on_stock_reserved(&events[0], arg); /* nothing to share */
    const char **ids = calloc(count, sizeof *ids);
    Conveyor__StockReserved **msgs = calloc(count, sizeof *msgs);
    handler_result_t result = HANDLER_OK;
    size_t read = 0;
    if (!ids || !msgs)
        result = inbox_retry(&events[0], "out_of_memory", "could not read %zu answers", count);
    for (; result == HANDLER_OK && read < count; read++) {
        msgs[read] =
            conveyor__stock_reserved__unpack(NULL, events[read].payload_len, events[read].payload);
        if (!msgs[read])
            result = HANDLER_REJECT;
        else
            ids[read] = msgs[read]->order_id;
    }
    bool once = result == HANDLER_OK;
    for (size_t i = 0; once && i < count; i++)
        for (size_t j = 0; once && j < i; j++)
            once = strcmp(ids[i], ids[j]) != 0;
    store_reserved_many_t run;
    store_reserved_many_init(&run);
    if (once) {
        db_status_t status = store_orders_lock_reach_ahead(events[0].db, ids, count);
        result = inbox_result(&events[0], status, "stock.reserved");
    }
    for (size_t i = 0; result == HANDLER_OK && i < count; i++)
        result = apply_stock_reserved(&events[i], msgs[i], once ? &run : NULL, arg);
    if (result == HANDLER_OK)
        result = inbox_result(&events[0], store_orders_set_reserved(events[0].db, &run),
                              "stock.reserved");
    store_reserved_many_release(&run);
    for (size_t i = 0; i < read; i++)
        if (msgs[i])
            conveyor__stock_reserved__free_unpacked(msgs[i], NULL);
    free(msgs);
    free(ids);
    return result;
}

/* inventory/stock.shortage: some line cannot be held. */
static handler_result_t on_stock_shortage(inbox_event_t *event, void *arg)
{
    Conveyor__StockShortage *msg =
        conveyor__stock_shortage__unpack(NULL, event->payload_len, event->payload);
    if (!msg)
        return inbox_reject(event, "bad_payload", "stock.shortage payload does not unpack");
    handler_result_t result = HANDLER_OK;
    stock_short_line_t *lines = calloc(msg->n_lines ? msg->n_lines : 1, sizeof *lines);
    if (!lines) {
        result = inbox_retry(event, "out_of_memory", "could not read stock.shortage");
        goto done;
    }
    for (size_t i = 0; i < msg->n_lines; i++)
        lines[i] = (stock_short_line_t){.line_no = msg->lines[i]->line_no,
                                        .sku = msg->lines[i]->sku,
                                        .requested = msg->lines[i]->requested,
                                        .available = msg->lines[i]->available,
                                        .reason = msg->lines[i]->reason,
                                        .expected_date = msg->lines[i]->expected_date};
    stock_shortage_t fact = {.order_id = msg->order_id,
                             .order_version = msg->order_version,
                             .kept_version = msg->kept_version,
                             .lines = lines,
                             .line_count = msg->n_lines};
    emitter_t em = emitter_of_event(event);
    result = inbox_result(event, stock_on_shortage(arg, &em, &fact), "stock.shortage");
done:
    free(lines);
    conveyor__stock_shortage__free_unpacked(msg, NULL);
    return result;
}

/* inventory/stock.released: the order's reservation is gone. */
static handler_result_t on_stock_released(inbox_event_t *event, void *arg)
{
    (void)arg;
    Conveyor__StockReleased *msg =
        conveyor__stock_released__unpack(NULL, event->payload_len, event->payload);
    if (!msg)
        return inbox_reject(event, "bad_payload", "stock.released payload does not unpack");
    handler_result_t result = inbox_result(
        event, stock_on_closed(event->db, msg->order_id, "released"), "stock.released");
    conveyor__stock_released__free_unpacked(msg, NULL);
    return result;
}

/* inventory/stock.committed: the order's stock written off (delivered). */
static handler_result_t on_stock_committed(inbox_event_t *event, void *arg)
{
    (void)arg;
    Conveyor__StockCommitted *msg =
        conveyor__stock_committed__unpack(NULL, event->payload_len, event->payload);
    if (!msg)
        return inbox_reject(event, "bad_payload", "stock.committed payload does not unpack");
    handler_result_t result = inbox_result(
        event, stock_on_closed(event->db, msg->order_id, "committed"), "stock.committed");
    conveyor__stock_committed__free_unpacked(msg, NULL);
    return result;
}

/* inventory/stock.replenished needs nothing here: inventory itself retries
 * the waiting orders and answers each with stock.reserved, which moves it
 * out of awaiting supply. The handler only checks the payload. */
static handler_result_t on_stock_replenished(inbox_event_t *event, void *arg)
{
    (void)arg;
    Conveyor__StockReplenished *msg =
        conveyor__stock_replenished__unpack(NULL, event->payload_len, event->payload);
    if (!msg)
        return inbox_reject(event, "bad_payload", "stock.replenished payload does not unpack");
    log_info("supply received", LF_STR("sku", msg->sku), LF_INT("quantity", msg->quantity),
             LF_INT("available", msg->available));
    conveyor__stock_replenished__free_unpacked(msg, NULL);
    return HANDLER_OK;
}

/* payment/..., shipping/... and notification/...: unpacked by the catalogue's message for the
 * topic and handed to facts.c as JSON (the keys it keeps are the
 * message's field names). */
static handler_result_t on_fact(inbox_event_t *event, void *arg)
{
    const catalogue_topic_t *topic = catalogue_find(event->topic_stream, event->type);
    if (!topic) /* registration checked every topic of the table */
        return inbox_reject(event, "unknown_topic", "no message for %s/%s", event->topic_stream,
                            event->type);
    ProtobufCMessage *msg =
        protobuf_c_message_unpack(topic->message, NULL, event->payload_len, event->payload);
    if (!msg)
        return inbox_reject(event, "bad_payload", "%s payload is not a %s", event->type,
                            topic->message->short_name);
    handler_result_t result = HANDLER_OK;
    json_t *fact = pbjson_from_message(msg);
    if (!fact) {
        result = inbox_retry(event, "out_of_memory", "could not write %s as JSON", event->type);
        goto done;
    }
    emitter_t em = emitter_of_event(event);
    fact_outcome_t outcome = FACT_APPLIED;
    db_status_t status = facts_apply(arg, &em, event->topic_stream, event->type, fact, &outcome);
    if (status == DB_OK && outcome == FACT_NO_ORDER &&
        strcmp(event->topic_stream, "notification") == 0)
        result = HANDLER_OK; /* a message about no order (stock.low): nothing to record */
    else if (status == DB_OK && outcome == FACT_NO_ORDER)
        result = inbox_reject(event, "bad_payload", "%s names no order", event->type);
    else if (status == DB_OK && outcome == FACT_UNKNOWN_ORDER)
        /* it answers something this service published: a fact about an
         * order it never had is someone's bug, parked for an operator */
        result = inbox_reject(event, "unknown_order", "%s is about order %s, which does not exist",
                              event->type, json_string_value(json_object_get(fact, "order_id")));
    else
        result = inbox_result(event, status, event->type);
done:
    json_decref(fact);
    protobuf_c_message_free_unpacked(msg, NULL);
    return result;
}

typedef struct {
    const char *stream;
    const char *type;
    inbox_handler_fn handler;
} consumed_topic_t;

static const consumed_topic_t consumed[] = {
    {"ext", "intake.order", on_intake_order},
    {"inventory", "stock.reserved", on_stock_reserved},
    {"inventory", "stock.shortage", on_stock_shortage},
    {"inventory", "stock.released", on_stock_released},
    {"inventory", "stock.committed", on_stock_committed},
    {"inventory", "stock.replenished", on_stock_replenished},
    {"payment", "invoice.created", on_fact},
    {"payment", "invoice.cancelled", on_fact},
    {"payment", "invoice.expired", on_fact},
    {"payment", "payment.succeeded", on_fact},
    {"payment", "payment.failed", on_fact},
    {"payment", "payment.collected", on_fact},
    {"payment", "refund.succeeded", on_fact},
    {"payment", "refund.failed", on_fact},
    {"shipping", "shipment.quoted", on_fact},
    {"shipping", "shipment.created", on_fact},
    {"shipping", "shipment.label_created", on_fact},
    {"shipping", "shipment.handed_over", on_fact},
    {"shipping", "shipment.status_changed", on_fact},
    {"shipping", "shipment.delivered", on_fact},
    {"shipping", "shipment.cancelled", on_fact},
    {"shipping", "shipment.cancel_refused", on_fact},
    {"shipping", "shipment.returned", on_fact},
    {"inventory", "return.received", on_fact},
    {"notification", "notification.sent", on_fact},
    {"notification", "notification.failed", on_fact},
    {"notification", "notification.outcome_unknown", on_fact},
};

int handlers_register(inbox_t *inbox, order_app_t *app)
{
    for (size_t i = 0; i < sizeof consumed / sizeof consumed[0]; i++) {
        const consumed_topic_t *topic = &consumed[i];
        if (topic->handler == on_fact && (!catalogue_find(topic->stream, topic->type) ||
                                          !facts_known(topic->stream, topic->type))) {
            log_error("a consumed fact has no message in the catalogue or no rule in facts.c",
                      LF_STR("stream", topic->stream), LF_STR("type", topic->type),
                      LF_ERR("unknown_topic"));
            return -1;
        }
        if (inbox_on(inbox, topic->stream, topic->type, topic->handler, app) != 0)
            return -1;
    }
    /* a run of intake orders is placed at once, a run of stock answers
     * read at once */
    if (inbox_on_batch(inbox, "ext", "intake.order", on_intake_orders) != 0)
        return -1;
    return inbox_on_batch(inbox, "inventory", "stock.reserved", on_stock_reserved_many);
}
