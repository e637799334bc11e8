-- A shipment quoted with a wrong address (issue 13: the carrier cannot
-- find it) opens a task for the order's manager: a task kind of its own.
ALTER TABLE tasks DROP CONSTRAINT tasks_kind_check;
ALTER TABLE tasks ADD CONSTRAINT tasks_kind_check
    CHECK (kind IN ('new_order', 'stock_shortage', 'payment_error', 'unpaid_reminder',
                    'not_delivered_check', 'supply_arrived', 'late_fact', 'wrong_address'));
