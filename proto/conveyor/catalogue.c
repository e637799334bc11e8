/*
 * catalogue.c — topic → message for every published event (catalogue.h).
 * Add a line here with every new event, beside its row in docs/events.md.
 */
#include "proto/conveyor/catalogue.h"

#include <string.h>

#include "conveyor/inventory.pb-c.h"
#include "conveyor/notification.pb-c.h"
#include "conveyor/order.pb-c.h"
#include "conveyor/payment.pb-c.h"
#include "conveyor/shipping.pb-c.h"

static const catalogue_topic_t topics[] = {
    {"ext", "intake.order", &conveyor__order_submitted__descriptor},
    {"order", "intake.accepted", &conveyor__intake_accepted__descriptor},
    {"order", "intake.rejected", &conveyor__intake_rejected__descriptor},
    {"order", "order.placed", &conveyor__order_placed__descriptor},
    {"order", "order.assigned", &conveyor__order_assigned__descriptor},
    {"order", "order.status_changed", &conveyor__order_status_changed__descriptor},
    {"order", "order.reserved", &conveyor__order_reserved__descriptor},
    {"order", "order.confirmed", &conveyor__order_confirmed__descriptor},
    {"order", "order.ready_to_ship", &conveyor__order_ready_to_ship__descriptor},
    {"order", "order.assembled", &conveyor__order_assembled__descriptor},
    {"order", "order.cancelled", &conveyor__order_cancelled__descriptor},
    {"order", "order.delivered", &conveyor__order_delivered__descriptor},
    {"order", "order.changed", &conveyor__order_changed__descriptor},
    {"order", "task.created", &conveyor__task_created__descriptor},
    {"order", "refund.requested", &conveyor__refund_requested__descriptor},
    {"order", "claim.created", &conveyor__claim_changed__descriptor},
    {"order", "claim.decided", &conveyor__claim_changed__descriptor},
    {"order", "claim.completed", &conveyor__claim_changed__descriptor},
    {"inventory", "stock.reserved", &conveyor__stock_reserved__descriptor},
    {"inventory", "stock.shortage", &conveyor__stock_shortage__descriptor},
    {"inventory", "stock.released", &conveyor__stock_released__descriptor},
    {"inventory", "stock.committed", &conveyor__stock_committed__descriptor},
    {"inventory", "stock.replenished", &conveyor__stock_replenished__descriptor},
    {"inventory", "stock.low", &conveyor__stock_low__descriptor},
    {"inventory", "return.received", &conveyor__return_received__descriptor},
    {"payment", "invoice.created", &conveyor__invoice_created__descriptor},
    {"payment", "invoice.cancelled", &conveyor__invoice_cancelled__descriptor},
    {"payment", "invoice.expired", &conveyor__invoice_expired__descriptor},
    {"payment", "payment.succeeded", &conveyor__payment_succeeded__descriptor},
    {"payment", "payment.failed", &conveyor__payment_failed__descriptor},
    {"payment", "payment.collected", &conveyor__payment_collected__descriptor},
    {"payment", "refund.succeeded", &conveyor__refund_succeeded__descriptor},
    {"payment", "refund.failed", &conveyor__refund_failed__descriptor},
    {"shipping", "shipment.quoted", &conveyor__shipment_quoted__descriptor},
    {"shipping", "shipment.created", &conveyor__shipment_created__descriptor},
    {"shipping", "shipment.label_created", &conveyor__shipment_label_created__descriptor},
    {"shipping", "shipment.handed_over", &conveyor__shipment_handed_over__descriptor},
    {"shipping", "shipment.status_changed", &conveyor__shipment_status_changed__descriptor},
    {"shipping", "shipment.delivered", &conveyor__shipment_delivered__descriptor},
    {"shipping", "shipment.cancelled", &conveyor__shipment_cancelled__descriptor},
    {"shipping", "shipment.cancel_refused", &conveyor__shipment_cancelled__descriptor},
    {"shipping", "shipment.returned", &conveyor__shipment_returned__descriptor},
    {"notification", "notification.sent", &conveyor__notification_result__descriptor},
    {"notification", "notification.failed", &conveyor__notification_result__descriptor},
    {"notification", "notification.outcome_unknown", &conveyor__notification_result__descriptor},
};

const catalogue_topic_t *catalogue_find(const char *stream, const char *type)
{
    for (size_t i = 0; stream && type && i < sizeof topics / sizeof topics[0]; i++)
        if (strcmp(topics[i].stream, stream) == 0 && strcmp(topics[i].type, type) == 0)
            return &topics[i];
    return NULL;
}

const catalogue_topic_t *catalogue_all(size_t *count_out)
{
    *count_out = sizeof topics / sizeof topics[0];
    return topics;
}
