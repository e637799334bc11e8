-- The shipping service's tables (DOMAIN.md F22-F29). services/shipping/
-- store.c holds every statement that touches them.

-- Which carrier, service and package a parcel goes with, by delivery
-- method, region and weight (F24): data, not code. The first row by
-- priority whose method and region match and whose weight range holds
-- the parcel wins. carrier_id is the carrier API's id; NULL for a carrier
-- without an API (a city courier, reporting by hand: F29), whose cost is
-- fixed_cost_minor.
CREATE TABLE weight_rules (
    id               bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    priority         integer NOT NULL,
    method           text    NOT NULL CHECK (method IN ('courier', 'post', 'pickup_point')),
    region           text    NOT NULL DEFAULT '*',   -- lower-cased, or '*' for any
    min_weight_g     integer NOT NULL DEFAULT 0 CHECK (min_weight_g >= 0),
    max_weight_g     integer CHECK (max_weight_g IS NULL OR max_weight_g > min_weight_g),
    carrier          text    NOT NULL CHECK (carrier ~ '^[a-z_]{2,32}$'),
    carrier_id       text,
    service          text    NOT NULL CHECK (octet_length(service) BETWEEN 1 AND 48),
    package          text    NOT NULL CHECK (octet_length(package) BETWEEN 1 AND 32),
    fixed_cost_minor bigint  CHECK (fixed_cost_minor IS NULL OR fixed_cost_minor >= 0),
    days_min         integer NOT NULL DEFAULT 1,
    days_max         integer NOT NULL DEFAULT 7,
    CHECK (carrier_id IS NOT NULL OR fixed_cost_minor IS NOT NULL)
);

-- The store's defaults: under 16 oz (454 g) a letter by post, above a
-- parcel; couriers by CDEK, in the store's own city its courier service.
INSERT INTO weight_rules (priority, method, region, min_weight_g, max_weight_g, carrier,
                          carrier_id, service, package, fixed_cost_minor, days_min, days_max)
VALUES (10, 'post', '*', 0, 454, 'russian_post', 'se-russian-post', 'letter_first', 'envelope',
        NULL, 5, 9),
       (20, 'post', '*', 0, NULL, 'russian_post', 'se-russian-post', 'parcel_online', 'box',
        NULL, 4, 8),
       (10, 'courier', 'moscow', 0, 20000, 'city_courier', NULL, 'same_day', 'bag', 30000, 0, 1),
       (20, 'courier', '*', 0, NULL, 'cdek', 'se-cdek', 'cdek_courier', 'box', NULL, 2, 4),
       (10, 'pickup_point', '*', 0, NULL, 'cdek', 'se-cdek', 'cdek_pickup', 'box', NULL, 2, 5);

-- One shipment per order (its current round: a returned parcel shipped
-- again starts round 2, its earlier rounds kept in shipment_log).
CREATE TABLE shipments (
    order_id          uuid    PRIMARY KEY,
    order_version     bigint  NOT NULL,
    order_number      bigint  NOT NULL,
    round             integer NOT NULL DEFAULT 1 CHECK (round >= 1),
    method            text    NOT NULL,
    region            text    NOT NULL DEFAULT '',
    address           jsonb   NOT NULL DEFAULT '{}',   -- as the order gave it
    matched_address   jsonb,                           -- the carrier's correction
    recipient         jsonb   NOT NULL DEFAULT '{}',   -- {name, phone, email}
    weight_g          integer NOT NULL DEFAULT 0 CHECK (weight_g >= 0),
    -- the quote
    quote_state       text    NOT NULL DEFAULT 'quoting'
                      CHECK (quote_state IN ('quoting', 'quoted', 'failed', 'overridden',
                                             'not_needed')),
    address_verdict   text    NOT NULL DEFAULT 'unknown'
                      CHECK (address_verdict IN ('valid', 'corrected', 'wrong', 'unknown')),
    carrier           text,
    carrier_id        text,
    service           text,
    package           text,
    carrier_cost_minor bigint CHECK (carrier_cost_minor IS NULL OR carrier_cost_minor >= 0),
    days_min          integer,
    days_max          integer,
    quote_error       text,
    -- the warehouse (F22): prepare_for_delivery, assembled, handed_to_carrier
    warehouse_status  text    CHECK (warehouse_status IN ('prepare_for_delivery', 'assembled',
                                                          'handed_to_carrier')),
    -- the carrier's shipment and label (F26)
    state             text    NOT NULL DEFAULT 'new'
                      CHECK (state IN ('new', 'to_label', 'labelled', 'label_failed',
                                       'handed_over', 'delivered', 'returned', 'cancelled')),
    cancel_requested  boolean NOT NULL DEFAULT false,
    external_ref      text,                            -- ours at the carrier: order id + round
    carrier_shipment_id text,
    label_id          text,
    tracking_number   text,
    label_url         text,
    label_cost_minor  bigint,
    label_error       text,
    tracking_status   text    NOT NULL DEFAULT 'NY',
    tracking_rank     integer NOT NULL DEFAULT 0,
    handed_over_at    timestamptz,
    delivered_at      timestamptz,
    batch_number      text,
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX shipments_tracking ON shipments (tracking_number)
    WHERE tracking_number IS NOT NULL;
CREATE INDEX shipments_warehouse ON shipments (warehouse_status, method)
    WHERE warehouse_status IS NOT NULL;

-- Everything that happened to an order's parcel, every round: its whole
-- history, kept when a returned parcel ships again.
CREATE TABLE shipment_log (
    id        bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id  uuid        NOT NULL,
    round     integer     NOT NULL,
    kind      text        NOT NULL,
    detail    jsonb       NOT NULL DEFAULT '{}',
    at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX shipment_log_order ON shipment_log (order_id, id);

-- Tracking events as the carrier sent them (webhooks, polls, the
-- courier's reports), one row per event id: a repeat changes nothing.
CREATE TABLE tracking_events (
    event_id        text        PRIMARY KEY CHECK (octet_length(event_id) BETWEEN 1 AND 128),
    tracking_number text        NOT NULL,
    status_code     text        NOT NULL,
    description     text        NOT NULL DEFAULT '',
    occurred_at     timestamptz,
    source          text        NOT NULL CHECK (source IN ('webhook', 'poll', 'courier')),
    applied         boolean     NOT NULL,
    received_at     timestamptz NOT NULL DEFAULT now()
);

-- Batches (F25): numbered by the store's date and a sequence,
-- 20261205001; a shipment is in at most one open batch.
CREATE TABLE batches (
    number            text    PRIMARY KEY CHECK (number ~ '^[0-9]{11,}$'),
    store_date        date    NOT NULL,
    seq               integer NOT NULL CHECK (seq >= 1),
    status            text    NOT NULL DEFAULT 'open'
                      CHECK (status IN ('open', 'processing', 'closed')),
    carrier_batch_id  text,
    manifest_id       text,
    manifest_url      text,
    created_by        text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (store_date, seq)
);

CREATE TABLE batch_shipments (
    batch_number text    NOT NULL REFERENCES batches (number),
    order_id     uuid    NOT NULL REFERENCES shipments (order_id),
    round        integer NOT NULL,
    added_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (batch_number, order_id)
);
