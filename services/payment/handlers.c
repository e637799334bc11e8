/*
 * handlers.c — the one table of every topic payment consumes, and the
 * reading of each off the wire (F15-F18).
 *
 * Each handler unpacks its message, checks what the domain relies on (an
 * order id that is a UUID, lines and sums that make sense), turns it into
 * plain structs and hands it to the domain (billing.h, refunds.h) in the
 * applier's transaction. A payload that cannot be read is parked
 * (bad_payload); a failure of the database or of the domain's own code is
 * answered by the kit's one mapping (inbox_result).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/emit.h"
#include "common/uuid.h"
#include "conveyor/order.pb-c.h"
#include "conveyor/shipping.pb-c.h"
#include "services/payment/billing.h"
#include "services/payment/money.h"
#include "services/payment/payment.h"
#include "services/payment/receipt.h"
#include "services/payment/refunds.h"

#define ORDER_STREAM    "order"
#define SHIPPING_STREAM "shipping"
#define CASH_REF_MAX    200 /* the ledger's reference, as for POST /v1/orders/{id}/collected */

static handler_result_t answer(inbox_event_t *event, db_status_t status, const char *order_id)
{
    char what[120];
    snprintf(what, sizeof what, "could not apply %s to order %s", event->type, order_id);
    return inbox_result(event, status, what);
}

static const char *text_or_empty(const char *text)
{
    return text ? text : "";
}

/* Checks the priced lines and copies them as receipt lines (names
 * borrowed from the message); a reason into why when they are bad. */
static int read_lines(Conveyor__PricedLine *const *wire, size_t count, receipt_order_line_t *lines,
                      char *why, size_t why_size)
{
    if (count > RECEIPT_ORDER_LINES_MAX) {
        snprintf(why, why_size, "%zu lines, more than %d", count, RECEIPT_ORDER_LINES_MAX);
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        const Conveyor__PricedLine *line = wire[i];
        if (line->quantity == 0 || line->total_minor < 0 || !line->name || !line->name[0]) {
            snprintf(why, why_size, "line %u is malformed (quantity %u, total %lld)", line->line_no,
                     line->quantity, (long long)line->total_minor);
            return -1;
        }
        lines[i] = (receipt_order_line_t){
            .name = line->name,
            .quantity = line->quantity,
            .total_minor = line->total_minor,
            .vat_rate_bp = line->vat_rate_bp,
        };
    }
    return 0;
}

static int read_terms(Conveyor__PaymentTerms wire, pay_terms_t *terms)
{
    switch (wire) {
    case CONVEYOR__PAYMENT_TERMS__PAYMENT_TERMS_PREPAY:
        *terms = PAY_TERMS_PREPAY;
        return 0;
    case CONVEYOR__PAYMENT_TERMS__PAYMENT_TERMS_ON_DELIVERY:
        *terms = PAY_TERMS_ON_DELIVERY;
        return 0;
    case CONVEYOR__PAYMENT_TERMS__PAYMENT_TERMS_NONE:
        *terms = PAY_TERMS_NONE;
        return 0;
    default:
        return -1;
    }
}

/* order.confirmed: bill it (prepay) or note how it is paid. */
static handler_result_t on_order_confirmed(inbox_event_t *event, void *arg)
{
    payment_app_t *app = arg;
    Conveyor__OrderConfirmed *wire =
        conveyor__order_confirmed__unpack(NULL, event->payload_len, event->payload);
    if (!wire)
        return inbox_reject(event, "bad_payload", "order.confirmed payload does not unpack");
    handler_result_t result;
    receipt_order_line_t *lines = calloc(wire->n_lines ? wire->n_lines : 1, sizeof *lines);
    char why[200];
    pay_terms_t terms;
    const Conveyor__OrderTotals *totals = wire->totals;
    const char *currency = totals ? text_or_empty(totals->currency) : "";
    if (!lines) {
        result = inbox_retry(event, "out_of_memory", "no room for the order's lines");
    } else if (!uuid_valid(wire->order_id)) {
        result = inbox_reject(event, "bad_payload", "order.confirmed names no order");
    } else if (!totals || totals->total_minor < 0 || totals->delivery_minor < 0 ||
               strlen(currency) != 3) {
        result = inbox_reject(event, "bad_payload", "order %s: totals missing or malformed",
                              wire->order_id);
    } else if (read_terms(wire->payment_terms, &terms) != 0) {
        result = inbox_reject(event, "bad_payload", "order %s: payment terms %d unknown",
                              wire->order_id, (int)wire->payment_terms);
    } else if (read_lines(wire->lines, wire->n_lines, lines, why, sizeof why) != 0) {
        result = inbox_reject(event, "bad_payload", "order %s: %s", wire->order_id, why);
    } else {
        const Conveyor__OrderCustomer *customer = wire->customer;
        confirmed_order_t order = {
            .order_id = wire->order_id,
            .version = wire->version,
            .number = (int64_t)wire->number,
            .terms = terms,
            .currency = currency,
            .total_minor = totals->total_minor,
            .delivery_minor = totals->delivery_minor,
            .customer_email = customer ? text_or_empty(customer->email) : "",
            .customer_phone = customer ? text_or_empty(customer->phone) : "",
            .customer_name = customer ? text_or_empty(customer->name) : "",
            .lines = lines,
            .line_count = wire->n_lines,
        };
        emitter_t em = emitter_of_event(event);
        result = answer(event, billing_confirmed(app, &em, &order), wire->order_id);
    }
    free(lines);
    conveyor__order_confirmed__free_unpacked(wire, NULL);
    return result;
}

/* order.cancelled: void what is open, refund what was paid (or hold it
 * while the parcel comes back: refund_on_return). */
static handler_result_t on_order_cancelled(inbox_event_t *event, void *arg)
{
    payment_app_t *app = arg;
    Conveyor__OrderCancelled *wire =
        conveyor__order_cancelled__unpack(NULL, event->payload_len, event->payload);
    if (!wire)
        return inbox_reject(event, "bad_payload", "order.cancelled payload does not unpack");
    handler_result_t result;
    if (!uuid_valid(wire->order_id)) {
        result = inbox_reject(event, "bad_payload", "order.cancelled names no order");
    } else {
        emitter_t em = emitter_of_event(event);
        result = answer(event,
                        billing_cancelled(app, &em, wire->order_id, wire->version,
                                          (int64_t)wire->number, wire->refund_on_return),
                        wire->order_id);
    }
    conveyor__order_cancelled__free_unpacked(wire, NULL);
    return result;
}

/* refund.requested: give money back. */
static handler_result_t on_refund_requested(inbox_event_t *event, void *arg)
{
    payment_app_t *app = arg;
    Conveyor__RefundRequested *wire =
        conveyor__refund_requested__unpack(NULL, event->payload_len, event->payload);
    if (!wire)
        return inbox_reject(event, "bad_payload", "refund.requested payload does not unpack");
    handler_result_t result;
    receipt_order_line_t *lines = calloc(wire->n_lines ? wire->n_lines : 1, sizeof *lines);
    json_t *receipt_lines = NULL;
    char why[200];
    if (!lines) {
        result = inbox_retry(event, "out_of_memory", "no room for the refund's lines");
        goto done;
    }
    if (!uuid_valid(wire->order_id) || !uuid_valid(wire->request_id)) {
        result = inbox_reject(event, "bad_payload", "refund.requested names no order or request");
        goto done;
    }
    if (read_lines(wire->lines, wire->n_lines, lines, why, sizeof why) != 0) {
        result = inbox_reject(event, "bad_payload", "refund for order %s: %s", wire->order_id, why);
        goto done;
    }
    if (wire->n_lines > 0) {
        /* the returned goods, as the refund receipt's lines */
        receipt_t receipt;
        receipt_refusal_t refusal =
            receipt_for_order(lines, wire->n_lines, 0, 0, RECEIPT_METHOD_FULL_PAYMENT, &receipt);
        if (refusal != RECEIPT_OK) {
            result = inbox_reject(event, "bad_payload", "refund for order %s: lines: %s",
                                  wire->order_id, receipt_refusal_code(refusal));
            goto done;
        }
        if (receipt.total_minor != wire->amount_minor) {
            receipt_clear(&receipt);
            result = inbox_reject(
                event, "bad_payload", "refund for order %s: lines total %lld, amount %lld",
                wire->order_id, (long long)receipt.total_minor, (long long)wire->amount_minor);
            goto done;
        }
        receipt_lines = receipt_json(&receipt);
        receipt_clear(&receipt);
        if (!receipt_lines) {
            result = inbox_retry(event, "out_of_memory", "no room for the refund's receipt");
            goto done;
        }
    }
    refund_request_t request = {
        .order_id = wire->order_id,
        .request_id = wire->request_id,
        .claim_id = text_or_empty(wire->claim_id),
        .amount_minor = wire->amount_minor,
        .receipt = receipt_lines,
    };
    emitter_t em = emitter_of_event(event);
    result = answer(event, refunds_requested(app, &em, &request), wire->order_id);
done:
    json_decref(receipt_lines);
    free(lines);
    conveyor__refund_requested__free_unpacked(wire, NULL);
    return result;
}

/* shipment.status_changed: only "cash_collected" (a courier without an
 * API took the cash at the door) moves money: recorded once per the
 * fact's reference, payment.collected. Every other tracking status is
 * none of payment's business. */
static handler_result_t on_shipment_status(inbox_event_t *event, void *arg)
{
    payment_app_t *app = arg;
    Conveyor__ShipmentStatusChanged *wire =
        conveyor__shipment_status_changed__unpack(NULL, event->payload_len, event->payload);
    if (!wire)
        return inbox_reject(event, "bad_payload",
                            "shipment.status_changed payload does not unpack");
    handler_result_t result = HANDLER_OK;
    const char *reference = text_or_empty(wire->reference);
    if (!wire->tracking_status || strcmp(wire->tracking_status, "cash_collected") != 0) {
        result = HANDLER_OK;
    } else if (!uuid_valid(wire->order_id)) {
        result = inbox_reject(event, "bad_payload", "cash_collected names no order");
    } else if (wire->amount_minor <= 0 || !reference[0] || strlen(reference) > CASH_REF_MAX) {
        result = inbox_reject(event, "bad_payload",
                              "order %s: cash_collected without an amount or a reference (1 to "
                              "%d bytes)",
                              wire->order_id, CASH_REF_MAX);
    } else {
        cash_report_t report = {
            .order_id = wire->order_id,
            .collected = true,
            .by = "courier",
            .reference = reference,
            .amount_minor = wire->amount_minor,
            .at_ms = wire->at_ms > 0 ? wire->at_ms : event->occurred_at_ms,
        };
        emitter_t em = emitter_of_event(event);
        bool known = false;
        db_status_t status = money_cash(app, &em, &report, &known);
        if (status == DB_OK && !known)
            result = inbox_reject(event, "unknown_order",
                                  "cash collected for order %s, which payment never heard of",
                                  wire->order_id);
        else
            result = answer(event, status, wire->order_id);
    }
    conveyor__shipment_status_changed__free_unpacked(wire, NULL);
    return result;
}

int handlers_register(inbox_t *inbox, payment_app_t *app)
{
    static const struct {
        const char *stream, *type;
        inbox_handler_fn handler;
    } topics[] = {
        {ORDER_STREAM, "order.confirmed", on_order_confirmed},
        {ORDER_STREAM, "order.cancelled", on_order_cancelled},
        {ORDER_STREAM, "refund.requested", on_refund_requested},
        {SHIPPING_STREAM, "shipment.status_changed", on_shipment_status},
    };
    for (size_t i = 0; i < sizeof topics / sizeof topics[0]; i++)
        if (inbox_on(inbox, topics[i].stream, topics[i].type, topics[i].handler, app) != 0)
            return -1;
    return 0;
}
