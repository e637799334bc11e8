-- Claims (issue 14 item 3, F30): a customer's request for an exchange, a
-- refund or a repair of some of a delivered order's lines, its decision by
-- a manager or an admin, its effects and its end. A claim has its own
-- statuses (claims.c holds the machine), its own history and its
-- attachments (photos, scans), kept here as bytes, bounded by the routes.
CREATE TABLE claims (
    id                   uuid   PRIMARY KEY,
    order_id             uuid   NOT NULL REFERENCES orders (id),
    name                 text   NOT NULL,
    type                 text   NOT NULL CHECK (type IN ('exchange', 'refund', 'repair')),
    reason               text   NOT NULL,
    comment              text   NOT NULL DEFAULT '',
    status               text   NOT NULL CHECK (status IN ('under_review', 'needs_clarification',
                                    'approved', 'rejected', 'in_repair', 'completed')),
    lines                jsonb  NOT NULL, -- [{line_no, sku, name, quantity, total_minor, vat_rate_bp}]
    amount_minor         bigint NOT NULL,
    decision             text,
    decision_comment     text   NOT NULL DEFAULT '',
    replacement_order_id uuid   REFERENCES orders (id),
    refund_request_id    uuid,
    created_by           text   NOT NULL,
    created_at           timestamptz NOT NULL,
    decided_at           timestamptz,
    completed_at         timestamptz
);
CREATE INDEX claims_order ON claims (order_id, created_at);
CREATE INDEX claims_created ON claims (created_at, id);

CREATE TABLE claim_attachments (
    id           uuid    PRIMARY KEY,
    claim_id     uuid    NOT NULL REFERENCES claims (id),
    filename     text    NOT NULL,
    content_type text    NOT NULL,
    size_bytes   integer NOT NULL,
    data         bytea   NOT NULL,
    created_at   timestamptz NOT NULL
);
CREATE INDEX claim_attachments_claim ON claim_attachments (claim_id);

CREATE TABLE claim_history (
    id          bigserial PRIMARY KEY,
    claim_id    uuid   NOT NULL REFERENCES claims (id),
    at          timestamptz NOT NULL,
    from_status text,
    to_status   text   NOT NULL,
    actor_id    text   NOT NULL,
    actor_role  text   NOT NULL,
    comment     text   NOT NULL DEFAULT ''
);
CREATE INDEX claim_history_claim ON claim_history (claim_id, id);
