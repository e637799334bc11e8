-- An order's messages reach each recipient in the order of the events that
-- caused them, per channel (dispatch.c): a message queued behind an earlier
-- pending one of the same order, channel and recipient gets no send job
-- until that one ends (jobs.c queues it then). seq is the order the
-- messages were recorded in, taken under the order's lock; the index finds
-- an order's pending messages.
ALTER TABLE deliveries ADD COLUMN seq bigserial;
CREATE INDEX deliveries_pending_order ON deliveries (order_id, channel, recipient, seq)
    WHERE status = 'pending' AND order_id IS NOT NULL;
