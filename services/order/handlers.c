/*
 * handlers.c — the order service's bus handlers: one function per consumed
 * topic, each unpacking its payload and handing it to orders.c inside the
 * applier's transaction.
 *
 * A payload that does not unpack is refused for good (parked in
 * dead_letters with the reason); a database that is away is a retry; a
 * rejected order is not a failure of the handler but an answer
 * (intake.rejected) and the event is done.
 */
#include "services/order/handlers.h"

#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/metrics.h"
#include "conveyor/inventory.pb-c.h"
#include "conveyor/order.pb-c.h"
#include "services/order/facts.h"

handler_result_t handlers_from_db(inbox_event_t *event, db_status_t status, const char *what)
{
    if (status == DB_OK)
        return HANDLER_OK;
    if (status == DB_TRANSIENT)
        return inbox_retry(event, "pg_unavailable", "%s: %s", what, db_errmsg(event->db));
    if (event->err_code[0])
        return HANDLER_REJECT; /* a rule refused it and said why (orders.c) */
    return inbox_reject(event, "pg_error", "%s: %s", what, db_errmsg(event->db));
}

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

/* ext/intake.order: an order from another system (F1). */
static handler_result_t on_intake_order(inbox_event_t *event, void *arg)
{
    order_app_t *app = arg;
    size_t items_sent = 0;
    bool oom = false;
    Conveyor__OrderSubmitted *msg = unpack_submission(event, &items_sent, &oom);
    if (!msg && oom)
        return inbox_retry(event, "out_of_memory", "could not read the submission");
    if (!msg)
        return inbox_reject(event, "bad_payload", "intake.order payload is not an OrderSubmitted");
    submission_t sub;
    submission_init(&sub);
    handler_result_t result = HANDLER_OK;
    intake_result_t outcome = {0};
    problems_t read_errors = {0};
    if (problems_init(&read_errors) != 0 || submission_from_proto(msg, &sub) != 0 ||
        intake_bus_source(&sub, event->stream, &read_errors) != 0) {
        result = inbox_retry(event, "out_of_memory", "could not read the submission");
        goto done;
    }
    if (items_sent > INTAKE_ITEMS_MAX)
        sub.items_over_max = items_sent; /* none were unpacked: intake_validate refuses it */
    /* the publisher is trusted with money as far as its source's row says */
    intake_source_t source = {.trust = {.may_set_prices = false, .max_discount_bp = 0}};
    bool registered = false;
    db_status_t status =
        sub.source ? store_source_by_name(event->db, sub.source, &registered, &source) : DB_OK;
    emitter_t emitter = {.cause = event};
    if (status == DB_OK)
        status = order_intake(app, event->db, &emitter, &sub, DOOR_BUS, "website", &source.trust,
                              problems_errors(&read_errors), &outcome);
    result = handlers_from_db(event, status, "intake.order");
    if (result == HANDLER_OK && outcome.outcome == INTAKE_CONFLICT)
        log_warn("an intake key was reused with another body: answered with the first order",
                 LF_STR("source", sub.source), LF_STR("external_id", sub.external_id),
                 LF_STR("order_id", outcome.order_id), LF_ERR("idempotency_key_reused"));
done:
    intake_result_clear(&outcome);
    problems_release(&read_errors);
    submission_free(&sub);
    conveyor__order_submitted__free_unpacked(msg, NULL);
    return result;
}

static handler_result_t on_stock_reserved(inbox_event_t *event, void *arg)
{
    Conveyor__StockReserved *msg =
        conveyor__stock_reserved__unpack(NULL, event->payload_len, event->payload);
    if (!msg)
        return inbox_reject(event, "bad_payload", "stock.reserved payload does not unpack");
    emitter_t emitter = {.cause = event};
    handler_result_t result = handlers_from_db(
        event, order_on_stock_reserved(arg, event->db, &emitter, msg), "stock.reserved");
    conveyor__stock_reserved__free_unpacked(msg, NULL);
    return result;
}

static handler_result_t on_stock_shortage(inbox_event_t *event, void *arg)
{
    Conveyor__StockShortage *msg =
        conveyor__stock_shortage__unpack(NULL, event->payload_len, event->payload);
    if (!msg)
        return inbox_reject(event, "bad_payload", "stock.shortage payload does not unpack");
    emitter_t emitter = {.cause = event};
    handler_result_t result = handlers_from_db(
        event, order_on_stock_shortage(arg, event->db, &emitter, msg), "stock.shortage");
    conveyor__stock_shortage__free_unpacked(msg, NULL);
    return result;
}

static handler_result_t on_stock_released(inbox_event_t *event, void *arg)
{
    Conveyor__StockReleased *msg =
        conveyor__stock_released__unpack(NULL, event->payload_len, event->payload);
    if (!msg)
        return inbox_reject(event, "bad_payload", "stock.released payload does not unpack");
    handler_result_t result = handlers_from_db(
        event, order_on_stock_note(arg, event->db, msg->order_id, "released", NULL),
        "stock.released");
    conveyor__stock_released__free_unpacked(msg, NULL);
    return result;
}

static handler_result_t on_stock_committed(inbox_event_t *event, void *arg)
{
    Conveyor__StockCommitted *msg =
        conveyor__stock_committed__unpack(NULL, event->payload_len, event->payload);
    if (!msg)
        return inbox_reject(event, "bad_payload", "stock.committed payload does not unpack");
    handler_result_t result = handlers_from_db(
        event, order_on_stock_note(arg, event->db, msg->order_id, "committed", NULL),
        "stock.committed");
    conveyor__stock_committed__free_unpacked(msg, NULL);
    return result;
}

/* stock.replenished needs nothing here: inventory itself retries the
 * waiting orders and answers each with stock.reserved, which moves it out
 * of awaiting supply. The handler only checks the payload. */
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

int handlers_register(inbox_t *inbox, order_app_t *app)
{
    return inbox_on(inbox, "ext", "intake.order", on_intake_order, app) ||
           inbox_on(inbox, "inventory", "stock.reserved", on_stock_reserved, app) ||
           inbox_on(inbox, "inventory", "stock.shortage", on_stock_shortage, app) ||
           inbox_on(inbox, "inventory", "stock.released", on_stock_released, app) ||
           inbox_on(inbox, "inventory", "stock.committed", on_stock_committed, app) ||
           inbox_on(inbox, "inventory", "stock.replenished", on_stock_replenished, app) ||
           facts_register(inbox, app);
}
