-- Returns (DOMAIN.md F12, POST /v1/returns): goods of a delivered order
-- received back at the warehouse. Each return is recorded once under the
-- id its sender chose (a repeated POST changes nothing); its lines say how
-- many of which order line came back and in what condition. Sellable
-- lines go back on hand through the ledger (cause and kind 'return');
-- damaged ones stay written off (their stock left at delivery) and are
-- kept here with the reason: the write-off record.
CREATE TABLE returns (
    return_id  uuid PRIMARY KEY,
    order_id   uuid NOT NULL REFERENCES orders (order_id),
    kind       text NOT NULL CHECK (kind IN ('refused', 'returned', 'brought_back')),
    actor      text NOT NULL,
    comment    text NOT NULL DEFAULT '' CHECK (octet_length(comment) <= 500),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX returns_order ON returns (order_id);

CREATE TABLE return_lines (
    return_id uuid    NOT NULL REFERENCES returns (return_id),
    line_no   integer NOT NULL CHECK (line_no > 0),
    condition text    NOT NULL CHECK (condition IN ('sellable', 'damaged')),
    sku       text    NOT NULL,
    quantity  bigint  NOT NULL CHECK (quantity > 0),
    reason    text    NOT NULL DEFAULT '' CHECK (octet_length(reason) <= 500),
    restocked boolean NOT NULL,
    PRIMARY KEY (return_id, line_no, condition),
    CONSTRAINT return_lines_damaged_has_reason CHECK (condition = 'sellable' OR reason <> ''),
    CONSTRAINT return_lines_restocked_sellable CHECK (restocked = (condition = 'sellable'))
);

ALTER TABLE stock_movements DROP CONSTRAINT stock_movements_cause_check;
ALTER TABLE stock_movements ADD CONSTRAINT stock_movements_cause_check
    CHECK (cause IN ('order', 'supply', 'import', 'correction', 'return'));
ALTER TABLE stock_movements DROP CONSTRAINT stock_movements_kind_check;
ALTER TABLE stock_movements ADD CONSTRAINT stock_movements_kind_check
    CHECK (kind IN ('reserve', 'release', 'write_off', 'receive', 'import', 'correction',
                    'return'));
