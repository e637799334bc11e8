/*
 * returning.h — the money of a paid order cancelled while its parcel is
 * with the carrier (issue 14, F12/F18), in the caller's transaction.
 *
 * Such an order cannot be refunded at the cancellation: the store does
 * not hold the goods yet. Its order.cancelled says refund_on_return, the
 * payment service holds what was paid, and the order shows
 * refund_state "pending_return" (and refund_held_minor) on its payment.
 * When the warehouse receives the parcel (inventory's return.received),
 * the order asks for the money back with refund.requested: once every
 * unit is back, all that is still held (no lines: the payment service
 * refunds with the invoice's own receipt, delivery included); for a part,
 * the received lines' value, capped by what is still held. Damaged lines
 * are refunded like sellable ones: the customer never had the parcel, and
 * the damage is the store's business with its carrier. Each return asks
 * once however often it is heard (order_return_refunds); an order with
 * nothing paid (cash on delivery, not yet paid) holds nothing and asks
 * nothing. A cancellation before hand-over refunds at once, as before.
 */
#ifndef ORDER_RETURNING_H
#define ORDER_RETURNING_H

#include <jansson.h>
#include <stdbool.h>

#include "common/emit.h"
#include "services/order/store.h"

/* The (locked) order is being cancelled from `from`: *refund_on_return
 * true when its parcel is with the carrier (handed_to_carrier,
 * rescheduled) and the payment service said money was paid; the hold is
 * then recorded and shown on the order's payment. */
db_status_t returning_cancelled(db_t *db, const order_t *order, const char *from,
                                bool *refund_on_return);

/* return.received (the fact as JSON: return_id, lines [{line_no,
 * quantity}], whole) about the (locked) order: refund.requested for it
 * when the order holds a refund, once per return id. */
db_status_t returning_received(const emitter_t *em, const order_t *order, const json_t *fact);

#endif
