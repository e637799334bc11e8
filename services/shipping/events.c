/*
 * events.c — plain structs -> the shipping stream's messages (events.h).
 * The messages borrow the rows' strings.
 */
#include "services/shipping/events.h"

#include <stdint.h>
#include <stdio.h>

#include "conveyor/shipping.pb-c.h"

/* protobuf-c wants char *, never writes through it */
static char *lend(const char *text)
{
    return (char *)(uintptr_t)(text ? text : "");
}

/* The carrier's id of the shipment, or the carrier's name for one without
 * an API (a city courier's parcel has no id but our reference). */
static const char *shipment_id_of(const shipment_row_t *row)
{
    return row->carrier_shipment_id[0] ? row->carrier_shipment_id : row->external_ref;
}

db_status_t events_quoted(const emitter_t *em, const shipment_row_t *row,
                          const char *const *suggestions, size_t suggestion_count)
{
    Conveyor__ShipmentQuoted msg = CONVEYOR__SHIPMENT_QUOTED__INIT;
    msg.order_id = lend(row->order_id);
    msg.order_version = row->order_version;
    msg.carrier = lend(row->carrier);
    msg.service = lend(row->service);
    msg.package = lend(row->package);
    msg.weight_g = (uint32_t)row->weight_g;
    msg.carrier_cost_minor = row->carrier_cost_minor > 0 ? row->carrier_cost_minor : 0;
    msg.address_verdict = lend(row->address_verdict);
    msg.n_suggestions = suggestion_count;
    msg.suggestions = (char **)(uintptr_t)suggestions;
    msg.days_min = (uint32_t)(row->days_min > 0 ? row->days_min : 0);
    msg.days_max = (uint32_t)(row->days_max > 0 ? row->days_max : 0);
    return emit(em, "shipment.quoted", row->order_id, &msg.base);
}

db_status_t events_created(const emitter_t *em, const shipment_row_t *row)
{
    Conveyor__ShipmentCreated msg = CONVEYOR__SHIPMENT_CREATED__INIT;
    msg.order_id = lend(row->order_id);
    msg.shipment_id = lend(shipment_id_of(row));
    msg.carrier = lend(row->carrier);
    return emit(em, "shipment.created", row->order_id, &msg.base);
}

db_status_t events_label_created(const emitter_t *em, const shipment_row_t *row,
                                 const char *tracking_url)
{
    Conveyor__ShipmentLabelCreated msg = CONVEYOR__SHIPMENT_LABEL_CREATED__INIT;
    msg.order_id = lend(row->order_id);
    msg.shipment_id = lend(shipment_id_of(row));
    msg.carrier = lend(row->carrier);
    msg.tracking_number = lend(row->tracking_number);
    msg.tracking_url = lend(tracking_url);
    msg.label_url = lend(row->label_url);
    msg.batch_number = lend(row->batch_number);
    return emit(em, "shipment.label_created", row->order_id, &msg.base);
}

db_status_t events_handed_over(const emitter_t *em, const shipment_row_t *row, int64_t at_ms)
{
    Conveyor__ShipmentHandedOver msg = CONVEYOR__SHIPMENT_HANDED_OVER__INIT;
    msg.order_id = lend(row->order_id);
    msg.shipment_id = lend(shipment_id_of(row));
    msg.carrier = lend(row->carrier);
    msg.at_ms = at_ms;
    return emit(em, "shipment.handed_over", row->order_id, &msg.base);
}

db_status_t events_status_changed(const emitter_t *em, const shipment_row_t *row, const char *code,
                                  const char *description, int64_t at_ms)
{
    Conveyor__ShipmentStatusChanged msg = CONVEYOR__SHIPMENT_STATUS_CHANGED__INIT;
    msg.order_id = lend(row->order_id);
    msg.shipment_id = lend(shipment_id_of(row));
    msg.tracking_status = lend(code);
    msg.description = lend(description);
    msg.at_ms = at_ms;
    return emit(em, "shipment.status_changed", row->order_id, &msg.base);
}

db_status_t events_cash_collected(const emitter_t *em, const shipment_row_t *row,
                                  int64_t amount_minor, const char *description, int64_t at_ms)
{
    char reference[200];
    snprintf(reference, sizeof reference, "cash_collected:%s", shipment_id_of(row));
    Conveyor__ShipmentStatusChanged msg = CONVEYOR__SHIPMENT_STATUS_CHANGED__INIT;
    msg.order_id = lend(row->order_id);
    msg.shipment_id = lend(shipment_id_of(row));
    msg.tracking_status = lend("cash_collected");
    msg.description = lend(description);
    msg.at_ms = at_ms;
    msg.amount_minor = amount_minor;
    msg.reference = reference;
    return emit(em, "shipment.status_changed", row->order_id, &msg.base);
}

db_status_t events_delivered(const emitter_t *em, const shipment_row_t *row, int64_t at_ms)
{
    Conveyor__ShipmentDelivered msg = CONVEYOR__SHIPMENT_DELIVERED__INIT;
    msg.order_id = lend(row->order_id);
    msg.shipment_id = lend(shipment_id_of(row));
    msg.at_ms = at_ms;
    return emit(em, "shipment.delivered", row->order_id, &msg.base);
}

db_status_t events_cancelled(const emitter_t *em, const shipment_row_t *row, bool refused,
                             const char *reason)
{
    Conveyor__ShipmentCancelled msg = CONVEYOR__SHIPMENT_CANCELLED__INIT;
    msg.order_id = lend(row->order_id);
    msg.shipment_id = lend(shipment_id_of(row));
    msg.reason = lend(reason);
    return emit(em, refused ? "shipment.cancel_refused" : "shipment.cancelled", row->order_id,
                &msg.base);
}

db_status_t events_returned(const emitter_t *em, const shipment_row_t *row, const char *reason,
                            int64_t at_ms)
{
    Conveyor__ShipmentReturned msg = CONVEYOR__SHIPMENT_RETURNED__INIT;
    msg.order_id = lend(row->order_id);
    msg.shipment_id = lend(shipment_id_of(row));
    msg.reason = lend(reason);
    msg.at_ms = at_ms;
    return emit(em, "shipment.returned", row->order_id, &msg.base);
}
