/*
 * events.h — plain structs -> the shipping stream's messages
 * (proto/conveyor/shipping.proto, docs/events.md), appended through the
 * kit's emitter. Every fact names its order; the correlation id is the
 * order id.
 */
#ifndef SHIPPING_EVENTS_H
#define SHIPPING_EVENTS_H

#include <stdint.h>

#include "common/emit.h"
#include "services/shipping/store.h"

/* shipment.quoted from the row's quote; suggestions: the carrier's
 * corrected address as one line each (may be NULL / 0). */
db_status_t events_quoted(const emitter_t *em, const shipment_row_t *row,
                          const char *const *suggestions, size_t suggestion_count);
db_status_t events_created(const emitter_t *em, const shipment_row_t *row);
db_status_t events_label_created(const emitter_t *em, const shipment_row_t *row,
                                 const char *tracking_url);
db_status_t events_handed_over(const emitter_t *em, const shipment_row_t *row, int64_t at_ms);
db_status_t events_status_changed(const emitter_t *em, const shipment_row_t *row, const char *code,
                                  const char *description, int64_t at_ms);
/* shipment.status_changed "cash_collected": the courier's cash, with its
 * amount and a reference of the shipment's own, once per shipment, for
 * the payment service's ledger. */
db_status_t events_cash_collected(const emitter_t *em, const shipment_row_t *row,
                                  int64_t amount_minor, const char *description, int64_t at_ms);
db_status_t events_delivered(const emitter_t *em, const shipment_row_t *row, int64_t at_ms);
/* shipment.cancelled (the label voided, or none was bought) or
 * shipment.cancel_refused (refused: too late). */
db_status_t events_cancelled(const emitter_t *em, const shipment_row_t *row, bool refused,
                             const char *reason);
db_status_t events_returned(const emitter_t *em, const shipment_row_t *row, const char *reason,
                            int64_t at_ms);

#endif
