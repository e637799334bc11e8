-- A paid order cancelled while its parcel is with the carrier (issue 14):
-- the refund waits for the parcel. order_refund_holds keeps what the
-- payment service holds for it (order.cancelled with refund_on_return);
-- order_return_refunds keeps, per return the warehouse received
-- (return.received), the refund asked for it (refund.requested), so the
-- same return heard twice or replayed asks once (returning.c).
CREATE TABLE order_refund_holds (
    order_id     uuid   PRIMARY KEY REFERENCES orders (id),
    held_minor   bigint NOT NULL CHECK (held_minor > 0),
    asked_minor  bigint NOT NULL DEFAULT 0 CHECK (asked_minor >= 0 AND asked_minor <= held_minor),
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE order_return_refunds (
    order_id     uuid   NOT NULL REFERENCES orders (id),
    return_id    text   NOT NULL CHECK (octet_length(return_id) <= 100),
    request_id   uuid   NOT NULL UNIQUE,
    amount_minor bigint NOT NULL CHECK (amount_minor >= 0),
    at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (order_id, return_id)
);
