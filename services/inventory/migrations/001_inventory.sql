-- The inventory service's tables (DOMAIN.md F9-F13). services/inventory/
-- store.c holds every statement that touches them. The constraints here are
-- the final guard of the stock: a Redis lock only saves work (DESIGN.md
-- "Locks"); these hold even when a lock expired early or Redis is away.

-- The catalogue and its stock. available = on_hand - reserved. low_alerted
-- remembers that stock.low was published for the current crossing below
-- low_stock_threshold, so it is published once per crossing, and is
-- cleared when available rises back to the threshold.
CREATE TABLE products (
    sku                 text    PRIMARY KEY
                        CONSTRAINT products_sku_format CHECK (sku ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
    -- deferrable so that one import may swap two products' codes
    external_code       text    CONSTRAINT products_external_code_unique UNIQUE
                                DEFERRABLE INITIALLY IMMEDIATE
                        CONSTRAINT products_external_code_length
                                CHECK (octet_length(external_code) BETWEEN 1 AND 64),
    name                text    NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    price_minor         bigint  NOT NULL CHECK (price_minor >= 0),
    currency            text    NOT NULL DEFAULT 'RUB' CHECK (currency ~ '^[A-Z]{3}$'),
    vat_rate_bp         integer NOT NULL CHECK (vat_rate_bp BETWEEN 0 AND 10000),
    weight_g            integer NOT NULL CHECK (weight_g >= 0),
    low_stock_threshold bigint  NOT NULL DEFAULT 0 CHECK (low_stock_threshold >= 0),
    buyer_id            text    CHECK (octet_length(buyer_id) BETWEEN 1 AND 200),
    buyer_name          text    CHECK (octet_length(buyer_name) BETWEEN 1 AND 200),
    buyer_email         text    CHECK (octet_length(buyer_email) BETWEEN 1 AND 200),
    active              boolean NOT NULL DEFAULT true,
    on_hand             bigint  NOT NULL DEFAULT 0
                        CONSTRAINT products_on_hand_not_negative CHECK (on_hand >= 0),
    reserved            bigint  NOT NULL DEFAULT 0
                        CONSTRAINT products_reserved_not_negative CHECK (reserved >= 0),
    low_alerted         boolean NOT NULL DEFAULT false,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT products_reserved_within_on_hand CHECK (reserved <= on_hand)
) WITH (fillfactor = 80);
-- No index mentions on_hand or reserved, and pages keep room, so that the
-- stock writes of every batch are HOT updates (no index entries).

-- What inventory knows of each order: the last order version applied (an
-- older or equal version is ignored) and where its stock stands:
--   waiting    short of stock; its lines wait in waiting_lines, oldest
--              (lowest waiting_no) first
--   reserved   every line held (reservations, state held)
--   released   cancelled after it was reserved: the stock went back
--   committed  delivered: the held stock was written off
--   cancelled  cancelled while waiting, or before inventory heard of it
--   delivered  delivered without a reservation (recorded, nothing written off)
CREATE TABLE orders (
    order_id    uuid    PRIMARY KEY,
    version     bigint  NOT NULL CHECK (version >= 0),
    number      bigint,
    status      text    NOT NULL
                CHECK (status IN ('waiting', 'reserved', 'released', 'committed', 'cancelled',
                                  'delivered')),
    currency    text    NOT NULL DEFAULT '',
    waiting_no  bigint,
    placed_at   timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT orders_waiting_has_place CHECK (status <> 'waiting' OR waiting_no IS NOT NULL)
);
CREATE SEQUENCE orders_waiting_no;
CREATE INDEX orders_waiting ON orders (waiting_no) WHERE status = 'waiting';

-- The lines of waiting orders, found by SKU when stock arrives.
CREATE TABLE waiting_lines (
    order_id  uuid    NOT NULL REFERENCES orders (order_id) ON DELETE CASCADE,
    line_no   integer NOT NULL CHECK (line_no > 0),
    sku       text    NOT NULL,
    quantity  bigint  NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (order_id, line_no)
);
CREATE INDEX waiting_lines_sku ON waiting_lines (sku);

-- One row per order line held; never two for the same line. state held is
-- an open reservation (counted in products.reserved); released and
-- committed are kept as the order's history.
CREATE TABLE reservations (
    order_id         uuid    NOT NULL,
    line_no          integer NOT NULL CHECK (line_no > 0),
    sku              text    NOT NULL REFERENCES products (sku),
    quantity         bigint  NOT NULL CHECK (quantity > 0),
    unit_price_minor bigint  NOT NULL,
    vat_rate_bp      integer NOT NULL,
    weight_g         integer NOT NULL,
    order_version    bigint  NOT NULL,
    state            text    NOT NULL DEFAULT 'held'
                     CHECK (state IN ('held', 'released', 'committed')),
    created_at       timestamptz NOT NULL DEFAULT now(),
    closed_at        timestamptz,
    CONSTRAINT reservations_one_per_order_line UNIQUE (order_id, line_no),
    CONSTRAINT reservations_closed_when CHECK ((state = 'held') = (closed_at IS NULL))
);
CREATE INDEX reservations_held_sku ON reservations (sku) WHERE state = 'held';

-- Supplies: expected (with a date), then received once (adding stock).
CREATE TABLE supplies (
    id            bigserial PRIMARY KEY,
    status        text NOT NULL DEFAULT 'expected' CHECK (status IN ('expected', 'received')),
    expected_date date NOT NULL,
    supplier      text NOT NULL DEFAULT '',
    comment       text NOT NULL DEFAULT '',
    created_by    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    received_by   text,
    received_at   timestamptz,
    CONSTRAINT supplies_received_when CHECK ((status = 'received') = (received_at IS NOT NULL))
);
CREATE TABLE supply_lines (
    supply_id         bigint NOT NULL REFERENCES supplies (id),
    sku               text   NOT NULL REFERENCES products (sku),
    quantity          bigint NOT NULL CHECK (quantity > 0),
    received_quantity bigint CHECK (received_quantity >= 0),
    PRIMARY KEY (supply_id, sku)
);
CREATE INDEX supply_lines_sku ON supply_lines (sku);
CREATE INDEX supplies_expected ON supplies (expected_date, id) WHERE status = 'expected';

-- Catalogue imports, for the ledger's references.
CREATE TABLE imports (
    id            bigserial PRIMARY KEY,
    format        text    NOT NULL CHECK (format IN ('csv', 'json')),
    rows          integer NOT NULL,
    created       integer NOT NULL,
    updated       integer NOT NULL,
    stock_changed integer NOT NULL,
    actor         text    NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- The movement ledger: one row per change of a product's on_hand or
-- reserved, with its cause. For every product, on_hand and reserved equal
-- the sums of their deltas here (GET /v1/reconciliation checks it).
CREATE TABLE stock_movements (
    id             bigserial PRIMARY KEY,
    sku            text    NOT NULL,
    on_hand_delta  bigint  NOT NULL DEFAULT 0,
    reserved_delta bigint  NOT NULL DEFAULT 0,
    cause          text    NOT NULL CHECK (cause IN ('order', 'supply', 'import', 'correction')),
    kind           text    NOT NULL
                   CHECK (kind IN ('reserve', 'release', 'write_off', 'receive', 'import',
                                   'correction')),
    ref            text    NOT NULL,  -- order id, supply id, import id, correction id
    line_no        integer,           -- the order line, for order movements
    actor          text    NOT NULL,  -- the staff member, or "system" for bus facts
    note           text    NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT stock_movements_changes_something CHECK (on_hand_delta <> 0 OR reserved_delta <> 0)
);
CREATE INDEX stock_movements_sku ON stock_movements (sku, id);
