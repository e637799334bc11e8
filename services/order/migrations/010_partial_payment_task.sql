-- A partial payment leaves the order waiting and tells its manager (issue
-- 11 item 3): the task kind partial_payment, opened by payment.succeeded
-- when the payment service says the order is partially_paid.
ALTER TABLE tasks DROP CONSTRAINT tasks_kind_check;
ALTER TABLE tasks ADD CONSTRAINT tasks_kind_check
    CHECK (kind IN ('new_order', 'stock_shortage', 'payment_error', 'unpaid_reminder',
                    'not_delivered_check', 'supply_arrived', 'late_fact', 'wrong_address',
                    'refund_failed', 'partial_payment'));
