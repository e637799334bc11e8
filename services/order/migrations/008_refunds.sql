-- The payment service's refunds (issue 11 item 4, F18) as the order hears
-- them: refund.succeeded and refund.failed, one row per refund, so that
-- the same news heard twice changes nothing and a refund that failed and
-- then went through ends succeeded (never the other way round). The key is
-- the payment service's refund id, or "request:<id>" for a refund request
-- it refused before opening any refund. A failed refund opens a
-- `refund_failed` task for the order's manager: a task kind of its own.
CREATE TABLE order_refunds (
    order_id     uuid   NOT NULL REFERENCES orders (id),
    refund_key   text   NOT NULL,
    status       text   NOT NULL CHECK (status IN ('succeeded', 'failed')),
    amount_minor bigint NOT NULL,
    reason       text   NOT NULL,
    reason_code  text   NOT NULL,
    reason_text  text   NOT NULL,
    at           timestamptz NOT NULL,
    PRIMARY KEY (order_id, refund_key)
);

ALTER TABLE tasks DROP CONSTRAINT tasks_kind_check;
ALTER TABLE tasks ADD CONSTRAINT tasks_kind_check
    CHECK (kind IN ('new_order', 'stock_shortage', 'payment_error', 'unpaid_reminder',
                    'not_delivered_check', 'supply_arrived', 'late_fact', 'wrong_address',
                    'refund_failed'));
