-- Issue 14 item 1: a manager edits an order before it is assembled
-- (services/order/editing.c). lines_version is the order version whose
-- lines inventory must answer: the placement's (1) until an edit changes
-- the lines, then that edit's. A stock.reserved or stock.shortage about an
-- older version answers lines the order no longer has and changes nothing.
ALTER TABLE orders ADD COLUMN lines_version bigint NOT NULL DEFAULT 1 CHECK (lines_version > 0);
