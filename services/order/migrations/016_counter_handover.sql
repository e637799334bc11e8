-- A self-pickup order handed to its customer at the store's counter
-- (issue 14): the warehouse hands it over at shipping's counter once it is
-- assembled, and shipping tells shipment.delivered without a hand-over to
-- a carrier (there is none, and no "in transit" message). The order hears
-- it as a fact (facts.c) and goes from assembled straight to delivered.
INSERT INTO transitions (from_status, to_status, role) VALUES
    ('assembled', 'delivered', 'system')
ON CONFLICT DO NOTHING;
