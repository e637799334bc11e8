-- Returns (issue 14 item 2, F12): inventory's return.received tells the
-- order that the warehouse took its goods back. Once every unit shipped
-- has come back the order moves to returned — from delivered or completed,
-- the one system move out of the final "complete" group (facts.c).
INSERT INTO transitions (from_status, to_status, role) VALUES
    ('delivered', 'returned', 'system'),
    ('completed', 'returned', 'system')
ON CONFLICT DO NOTHING;
