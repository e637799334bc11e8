-- A parcel refused or sent back before delivery (POST /v1/returns on an
-- order whose stock is still held): its reservation is closed as it comes
-- back — sellable units released, damaged ones written off — and the order
-- is recorded as returned: it holds no stock.
ALTER TABLE orders DROP CONSTRAINT orders_status_check;
ALTER TABLE orders ADD CONSTRAINT orders_status_check
    CHECK (status IN ('waiting', 'reserved', 'released', 'committed', 'cancelled', 'delivered',
                      'returned'));
