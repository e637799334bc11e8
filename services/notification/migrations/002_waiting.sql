-- Messages to a customer heard before the order that names them (issue 12):
-- stock.shortage (the inventory stream), invoice.created (payment) and the
-- shipping events can be applied before order.placed (the order stream),
-- when the service knows no email or phone yet. Each waits here, per event
-- and trigger, with the event's facts, and runs once order.placed is kept
-- (dispatch.c), in that transaction.
CREATE TABLE waiting (
    event_id       text   NOT NULL,
    trigger_id     text   NOT NULL,
    event_type     text   NOT NULL,
    order_id       uuid   NOT NULL,
    facts          jsonb  NOT NULL,
    occurred_at_ms bigint NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, trigger_id)
);
CREATE INDEX waiting_order ON waiting (order_id);
