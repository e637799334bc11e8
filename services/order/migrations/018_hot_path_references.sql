-- Every order placed fired about ten foreign-key checks (a trigger, an
-- SPI query and a row lock each): its status, customer and manager, its
-- lines, its three history rows, its intake key, its task's order and
-- assignee, its customer's manager; about a seventh of the applier's
-- database time per order. Each of these references is written by the
-- service itself from a row it has just inserted, locked or read in the
-- same transaction, and none of the rows referred to is ever deleted
-- (orders, customers, staff and statuses have no DELETE anywhere), so the
-- checks can never fail: the reference is guaranteed by the writer, and
-- the checks are dropped. Where an id can come from outside (an HTTP
-- request naming a staff member or a status) the service looks the row up
-- before writing it.
ALTER TABLE order_history DROP CONSTRAINT order_history_order_id_fkey;
ALTER TABLE order_lines DROP CONSTRAINT order_lines_order_id_fkey;
ALTER TABLE intake_keys DROP CONSTRAINT intake_keys_order_id_fkey;
ALTER TABLE tasks DROP CONSTRAINT tasks_order_id_fkey;
ALTER TABLE tasks DROP CONSTRAINT tasks_assignee_id_fkey;
ALTER TABLE orders DROP CONSTRAINT orders_status_fkey;
ALTER TABLE orders DROP CONSTRAINT orders_customer_id_fkey;
ALTER TABLE orders DROP CONSTRAINT orders_manager_id_fkey;
ALTER TABLE customers DROP CONSTRAINT customers_manager_id_fkey;
