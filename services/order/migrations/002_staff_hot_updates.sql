-- Every assignment updates its manager's open_orders and last_assigned_at;
-- an index on those columns made each update a non-HOT one (a new index
-- entry and a dead tuple per order, many per row inside one batch), while
-- the few dozen managers of a store are read faster without it.
DROP INDEX IF EXISTS staff_assignable;
