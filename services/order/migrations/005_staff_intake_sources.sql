-- Staff file orders over POST /v1/orders as the call centre (source
-- "callcenter"). Filing under another source's name takes that source's
-- idempotency keys and its place in the reports, so it is a grant: the
-- sources a person may name, set by an admin (admins may name any).
ALTER TABLE staff ADD COLUMN intake_sources text[] NOT NULL DEFAULT '{}';
