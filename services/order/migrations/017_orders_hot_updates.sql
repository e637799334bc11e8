-- An order's row is updated within moments of its insert (stock.reserved
-- writes its totals and stock state, then every status move), and so are
-- its lines (their prices and amounts). Packed full by the inserts, the
-- page has no room for the new version: each such update was a non-HOT
-- one, a new entry in every index of the table (seven on orders) and a
-- dead tuple to vacuum. No index covers the columns these updates
-- change, so with room left on the page they stay HOT. Applies to the
-- pages written from now on.
ALTER TABLE orders SET (fillfactor = 70);
ALTER TABLE order_lines SET (fillfactor = 70);
