-- F14: a source is trusted with an order's money as far as an admin says,
-- whichever door it uses (the bus by the envelope's stream, HTTP and the
-- form by the API key, staff by the source they file under):
-- may_set_prices lets its line prices stand, max_discount_bp is the
-- largest order discount it may give (basis points; 0, the default, none).
-- A larger discount is rejected with its reason, never cut down.
ALTER TABLE intake_sources
    ADD COLUMN max_discount_bp integer NOT NULL DEFAULT 0
        CHECK (max_discount_bp BETWEEN 0 AND 10000);
