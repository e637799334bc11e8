-- orderfeed: the test producer of the order stream (tests/integration/kit/
-- orderfeed.c). It remembers the orders it placed and the last version it
-- published for each, so that a cancel or a delivery carries the next one.
CREATE TABLE orderfeed_state (
    id          integer PRIMARY KEY CHECK (id = 1),
    last_number bigint  NOT NULL DEFAULT 0
);
INSERT INTO orderfeed_state (id, last_number) VALUES (1, 0);

CREATE TABLE orderfeed_orders (
    order_id   uuid    PRIMARY KEY,
    number     bigint  NOT NULL,
    version    bigint  NOT NULL,
    lines      integer NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
