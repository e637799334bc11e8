-- The parcel's contents as order.reserved named them, for the warehouse's
-- packing slip (F22): [{line_no, sku, name, quantity, unit_weight_g}].
-- Orders reserved before this column came have none ('[]'): their slip
-- says so.
ALTER TABLE shipments ADD COLUMN lines jsonb NOT NULL DEFAULT '[]'
    CHECK (jsonb_typeof(lines) = 'array');
