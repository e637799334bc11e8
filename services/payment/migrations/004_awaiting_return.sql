-- An order cancelled while its paid parcel is with the carrier
-- (order.cancelled with refund_on_return, issue 14): the store does not
-- yet hold the goods, so what was paid is not refunded at the
-- cancellation. It is held, not excess, until the order asks for it back
-- on request (refund.requested when the warehouse receives the parcel);
-- only money beyond the order's total is refunded by itself meanwhile
-- (services/payment/ledger.h).
ALTER TABLE orders ADD COLUMN awaiting_return boolean NOT NULL DEFAULT false;
