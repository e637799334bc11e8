-- The customer's name as order.confirmed gives it, for the invoice's PDF
-- (DOMAIN.md F32). Orders confirmed before this column came have none.
ALTER TABLE orders ADD COLUMN customer_name text
    CHECK (octet_length(customer_name) <= 400);
