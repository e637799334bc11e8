-- The order service hears the payment and shipping streams (EVENTS.md):
-- the latest of what they reported is kept on the order (invoice and
-- payment link, paid and due amounts; carrier, tracking number, label), the
-- whole story in order_history. A fact that comes after the order's final
-- status (money for a cancelled order, a parcel delivered after a cancel)
-- is recorded and given to a person as a `late_fact` task.
ALTER TABLE orders
    ADD COLUMN payment  jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN shipment jsonb NOT NULL DEFAULT '{}';

ALTER TABLE tasks DROP CONSTRAINT tasks_kind_check;
ALTER TABLE tasks ADD CONSTRAINT tasks_kind_check
    CHECK (kind IN ('new_order', 'stock_shortage', 'payment_error', 'unpaid_reminder',
                    'not_delivered_check', 'supply_arrived', 'late_fact'));
