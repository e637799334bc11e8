-- The order service's schema: orders, customers, staff, the status funnel,
-- intake keys, tasks and the business calendar (issue 3; DOMAIN.md F1–F8,
-- F14, F31). Every SQL statement that touches these tables is in
-- services/order/store.c.

-- F6/F7: statuses come in groups; which status may follow which, and which
-- role may make that move, is data (transitions), not code.
CREATE TABLE status_groups (
    code     text    PRIMARY KEY,
    name     text    NOT NULL,
    ordering integer NOT NULL UNIQUE,
    final    boolean NOT NULL DEFAULT false -- complete and cancel: no move leaves them but admin's
);
INSERT INTO status_groups (code, name, ordering, final) VALUES
    ('new', 'New', 1, false),
    ('approval', 'Approval', 2, false),
    ('assembling', 'Assembling', 3, false),
    ('delivery', 'Delivery', 4, false),
    ('complete', 'Complete', 5, true),
    ('cancel', 'Cancelled', 6, true);

CREATE TABLE statuses (
    code       text    PRIMARY KEY,
    name       text    NOT NULL,
    group_code text    NOT NULL REFERENCES status_groups (code),
    ordering   integer NOT NULL UNIQUE,
    active     boolean NOT NULL DEFAULT true
);
INSERT INTO statuses (code, name, group_code, ordering) VALUES
    ('new', 'New', 'new', 10),
    ('no_answer', 'No answer', 'approval', 20),
    ('awaiting_supply', 'Awaiting supply', 'approval', 30),
    ('confirmed', 'Confirmed', 'approval', 40),
    ('awaiting_payment', 'Awaiting payment', 'approval', 50),
    ('payment_error', 'Payment error', 'approval', 60),
    ('payment_received', 'Payment received', 'assembling', 70),
    ('prepare_for_delivery', 'Prepare for delivery', 'assembling', 80),
    ('assembled', 'Assembled', 'assembling', 90),
    ('handed_to_carrier', 'Handed to carrier', 'delivery', 100),
    ('rescheduled', 'Rescheduled', 'delivery', 110),
    ('delivered', 'Delivered', 'complete', 120),
    ('completed', 'Completed', 'complete', 130),
    ('cancelled', 'Cancelled', 'cancel', 140),
    ('returned', 'Returned', 'cancel', 150);

-- (from, to, role): the role may move an order from `from` to `to`.
-- `system` is conveyor itself reacting to stock, payment and shipping facts.
CREATE TABLE transitions (
    from_status text NOT NULL REFERENCES statuses (code),
    to_status   text NOT NULL REFERENCES statuses (code),
    role        text NOT NULL CHECK (role IN ('admin', 'manager', 'warehouse', 'courier', 'system')),
    PRIMARY KEY (from_status, to_status, role),
    CHECK (from_status <> to_status)
);
INSERT INTO transitions (from_status, to_status, role)
SELECT f, t, r FROM (VALUES
    -- the manager works the order with the customer
    ('new', 'no_answer', 'manager'),
    ('new', 'confirmed', 'manager'),
    ('new', 'cancelled', 'manager'),
    ('no_answer', 'confirmed', 'manager'),
    ('no_answer', 'cancelled', 'manager'),
    ('awaiting_supply', 'cancelled', 'manager'),
    ('confirmed', 'cancelled', 'manager'),
    ('awaiting_payment', 'cancelled', 'manager'),
    ('payment_error', 'awaiting_payment', 'manager'),
    ('payment_error', 'cancelled', 'manager'),
    ('payment_received', 'cancelled', 'manager'),
    ('prepare_for_delivery', 'cancelled', 'manager'),
    ('rescheduled', 'handed_to_carrier', 'manager'),
    ('delivered', 'completed', 'manager'),
    -- the warehouse packs and hands over
    ('prepare_for_delivery', 'assembled', 'warehouse'),
    ('assembled', 'handed_to_carrier', 'warehouse'),
    -- a city courier without an API reports by hand (F29)
    ('handed_to_carrier', 'delivered', 'courier'),
    ('handed_to_carrier', 'rescheduled', 'courier'),
    ('rescheduled', 'delivered', 'courier'),
    ('handed_to_carrier', 'returned', 'courier'),
    -- conveyor itself, on facts from the other services
    ('new', 'awaiting_supply', 'system'),
    ('no_answer', 'awaiting_supply', 'system'),
    ('awaiting_supply', 'new', 'system'),
    ('confirmed', 'awaiting_payment', 'system'),
    ('confirmed', 'prepare_for_delivery', 'system'),
    ('awaiting_payment', 'payment_received', 'system'),
    ('awaiting_payment', 'payment_error', 'system'),
    ('payment_error', 'payment_received', 'system'),
    ('payment_received', 'prepare_for_delivery', 'system'),
    ('awaiting_payment', 'cancelled', 'system'),
    ('assembled', 'handed_to_carrier', 'system'),
    ('handed_to_carrier', 'delivered', 'system'),
    ('rescheduled', 'delivered', 'system'),
    ('handed_to_carrier', 'returned', 'system'),
    ('delivered', 'completed', 'system')
) AS seed (f, t, r);
-- an admin may make every move a manager, the warehouse or a courier may
INSERT INTO transitions (from_status, to_status, role)
SELECT DISTINCT from_status, to_status, 'admin' FROM transitions WHERE role <> 'system';

-- F5: staff. A manager serves regions ('{}' serves every region) and holds
-- at most `capacity` open orders: the database refuses more, whatever the
-- locks did.
CREATE TABLE staff (
    id               uuid    PRIMARY KEY,
    login            text    NOT NULL UNIQUE CHECK (login ~ '^[a-z0-9._@-]{2,64}$'),
    name             text    NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    email            text,
    phone            text,
    role             text    NOT NULL CHECK (role IN ('admin', 'manager', 'warehouse', 'courier')),
    active           boolean NOT NULL DEFAULT true,
    on_shift         boolean NOT NULL DEFAULT false,
    shift_changed_at timestamptz,
    regions          text[]  NOT NULL DEFAULT '{}',
    capacity         integer NOT NULL DEFAULT 50 CHECK (capacity BETWEEN 0 AND 100000),
    open_orders      integer NOT NULL DEFAULT 0 CHECK (open_orders >= 0),
    last_assigned_at timestamptz,
    password_hash    text,
    failed_logins    integer NOT NULL DEFAULT 0,
    locked_until     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT staff_capacity_holds CHECK (open_orders <= capacity)
);
CREATE INDEX staff_assignable ON staff (open_orders, last_assigned_at)
    WHERE role = 'manager' AND active AND on_shift;

-- Refresh tokens: only their SHA-256 is kept.
CREATE TABLE refresh_tokens (
    token_sha256 text PRIMARY KEY,
    staff_id     uuid NOT NULL REFERENCES staff (id),
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- F4: a customer is found by E.164 phone or lower-cased email.
CREATE TABLE customers (
    id                uuid    PRIMARY KEY,
    name              text    NOT NULL,
    phone             text    UNIQUE,
    email             text    UNIQUE,
    manager_id        uuid    REFERENCES staff (id),
    order_count       integer NOT NULL DEFAULT 0,
    total_spent_minor bigint  NOT NULL DEFAULT 0,
    category          text    NOT NULL DEFAULT 'regular' CHECK (category IN ('regular', 'vip')),
    created_at        timestamptz NOT NULL DEFAULT now(),
    CHECK (phone IS NOT NULL OR email IS NOT NULL)
);

-- F3: gap-tolerant numbers.
CREATE SEQUENCE order_numbers START 10001;

CREATE TABLE orders (
    id                 uuid    PRIMARY KEY,
    number             bigint  NOT NULL UNIQUE,
    title              text    NOT NULL,
    source             text    NOT NULL,
    external_id        text    NOT NULL,
    channel            text    NOT NULL,
    customer_id        uuid    NOT NULL REFERENCES customers (id),
    manager_id         uuid    REFERENCES staff (id),
    assigned_at        timestamptz,
    taken_up_at        timestamptz, -- the assigned manager acted on it
    status             text    NOT NULL REFERENCES statuses (code),
    status_changed_at  timestamptz NOT NULL,
    version            bigint  NOT NULL DEFAULT 1 CHECK (version > 0),
    region             text    NOT NULL DEFAULT '',
    delivery_method    text    NOT NULL
                       CHECK (delivery_method IN ('courier', 'post', 'pickup_point', 'self_pickup')),
    delivery           jsonb   NOT NULL,
    discount_bp        integer NOT NULL DEFAULT 0 CHECK (discount_bp BETWEEN 0 AND 10000),
    currency           text    NOT NULL DEFAULT 'RUB' CHECK (currency ~ '^[A-Z]{3}$'),
    comment            text    NOT NULL DEFAULT '',
    attributes         jsonb   NOT NULL DEFAULT '{}',
    stock_state        text    NOT NULL DEFAULT 'pending'
                       CHECK (stock_state IN ('pending', 'reserved', 'short', 'released', 'committed')),
    lines_minor        bigint,
    discount_minor     bigint,
    delivery_minor     bigint,
    vat_minor          bigint,
    total_minor        bigint,
    weight_g           bigint,
    delivery_price_override_minor bigint CHECK (delivery_price_override_minor >= 0),
    sender_prices      boolean NOT NULL DEFAULT false, -- the source may set line prices
    payment_terms      text    CHECK (payment_terms IN ('prepay', 'on_delivery', 'none')),
    cancel_reason      text,
    placed_at          timestamptz NOT NULL,
    UNIQUE (source, external_id)
);
CREATE INDEX orders_placed ON orders (placed_at DESC, id DESC);
CREATE INDEX orders_status ON orders (status, placed_at DESC);
CREATE INDEX orders_manager ON orders (manager_id, placed_at DESC);
CREATE INDEX orders_unassigned ON orders (placed_at, id) WHERE manager_id IS NULL;

CREATE TABLE order_lines (
    order_id           uuid    NOT NULL REFERENCES orders (id),
    line_no            integer NOT NULL CHECK (line_no > 0),
    sku                text    NOT NULL,
    name               text    NOT NULL DEFAULT '',
    quantity           integer NOT NULL CHECK (quantity > 0),
    sender_price_minor bigint,
    unit_price_minor   bigint,  -- from the catalogue, at reservation
    vat_rate_bp        integer,
    unit_weight_g      integer,
    amount_minor       bigint,
    discount_minor     bigint,
    total_minor        bigint,
    vat_minor          bigint,
    PRIMARY KEY (order_id, line_no)
);

-- F6: the order's whole journey: status moves, assignment, stock, payment
-- and shipment facts.
CREATE TABLE order_history (
    id          bigserial PRIMARY KEY,
    order_id    uuid   NOT NULL REFERENCES orders (id),
    at          timestamptz NOT NULL,
    kind        text   NOT NULL, -- status, assigned, stock, note ...
    from_status text,
    to_status   text,
    actor_id    text   NOT NULL,
    actor_role  text   NOT NULL,
    reason      text   NOT NULL DEFAULT '',
    detail      jsonb  NOT NULL DEFAULT '{}'
);
CREATE INDEX order_history_order ON order_history (order_id, id);
CREATE INDEX order_history_status_at ON order_history (at) WHERE kind = 'status';

-- F1: who may submit orders over HTTP: a source and the SHA-256 of its API
-- key (the key itself is shown once, when it is made). may_set_prices: the
-- sender's line prices are used instead of the catalogue's.
CREATE TABLE intake_sources (
    source         text    PRIMARY KEY CHECK (source ~ '^[a-z0-9][a-z0-9_.-]{0,63}$'),
    api_key_sha256 text    NOT NULL UNIQUE,
    default_channel text   NOT NULL DEFAULT 'website'
                   CHECK (default_channel IN ('website', 'landing', 'phone', 'marketplace')),
    may_set_prices boolean NOT NULL DEFAULT false,
    active         boolean NOT NULL DEFAULT true,
    created_at     timestamptz NOT NULL DEFAULT now()
);

-- F1: the idempotency key of every intake door, never purged. The row is
-- the claim on the key (taken before the order is written, so a repeat in
-- the same batch sees it) and holds what the first answer is made of; the
-- body's hash tells a repeat from a reuse of the key with another body.
CREATE TABLE intake_keys (
    source       text   NOT NULL,
    external_id  text   NOT NULL,
    body_sha256  text   NOT NULL,
    order_id     uuid   NOT NULL UNIQUE
                 REFERENCES orders (id) DEFERRABLE INITIALLY DEFERRED,
    number       bigint NOT NULL,
    door         text   NOT NULL CHECK (door IN ('bus', 'http', 'form')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, external_id)
);

-- F2: rejected submissions are kept and listable; a repeat of the same
-- rejected body is counted, not stored again.
CREATE TABLE rejections (
    id          uuid   PRIMARY KEY,
    source      text   NOT NULL,
    external_id text   NOT NULL,
    body_sha256 text   NOT NULL,
    door        text   NOT NULL CHECK (door IN ('bus', 'http', 'form')),
    reasons     jsonb  NOT NULL,
    submission  jsonb  NOT NULL,
    repeats     integer NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (source, external_id, body_sha256)
);
CREATE INDEX rejections_created ON rejections (created_at DESC, id DESC);

-- F8: tasks for people.
CREATE TABLE tasks (
    id          uuid   PRIMARY KEY,
    kind        text   NOT NULL CHECK (kind IN ('new_order', 'stock_shortage', 'payment_error',
                           'unpaid_reminder', 'not_delivered_check', 'supply_arrived')),
    order_id    uuid   REFERENCES orders (id),
    assignee_id uuid   REFERENCES staff (id),
    title       text   NOT NULL,
    due_at      timestamptz NOT NULL,
    status      text   NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'done')),
    dedup_key   text   UNIQUE,
    created_at  timestamptz NOT NULL,
    done_at     timestamptz,
    done_by     text,
    CHECK ((status = 'done') = (done_at IS NOT NULL))
);
CREATE INDEX tasks_assignee ON tasks (assignee_id, status, due_at);

-- F8: days that are not business days besides weekends (the store's own
-- calendar, STORE_TZ); `workday` marks a Saturday or Sunday that is worked.
CREATE TABLE calendar_days (
    day     date    PRIMARY KEY,
    workday boolean NOT NULL,
    name    text    NOT NULL DEFAULT ''
);
-- Russian public holidays and transfers of 2026 and 2027.
INSERT INTO calendar_days (day, workday, name) VALUES
    ('2026-01-01', false, 'New Year'), ('2026-01-02', false, 'New Year'),
    ('2026-01-05', false, 'New Year'), ('2026-01-06', false, 'New Year'),
    ('2026-01-07', false, 'Christmas'), ('2026-01-08', false, 'New Year'),
    ('2026-01-09', false, 'New Year'), ('2026-02-23', false, 'Defender of the Fatherland Day'),
    ('2026-03-09', false, 'International Women''s Day (transferred)'),
    ('2026-05-01', false, 'Spring and Labour Day'), ('2026-05-11', false, 'Victory Day (transferred)'),
    ('2026-06-12', false, 'Russia Day'), ('2026-11-04', false, 'Unity Day'),
    ('2026-12-31', false, 'New Year''s Eve (transferred)'),
    ('2027-01-01', false, 'New Year'), ('2027-01-04', false, 'New Year'),
    ('2027-01-05', false, 'New Year'), ('2027-01-06', false, 'New Year'),
    ('2027-01-07', false, 'Christmas'), ('2027-01-08', false, 'New Year'),
    ('2027-02-23', false, 'Defender of the Fatherland Day'),
    ('2027-03-08', false, 'International Women''s Day'),
    ('2027-05-03', false, 'Spring and Labour Day (transferred)'),
    ('2027-05-10', false, 'Victory Day (transferred)'),
    ('2027-06-14', false, 'Russia Day (transferred)'), ('2027-11-04', false, 'Unity Day');

-- F14/EVENTS.md: what the customer pays for delivery, by method x region x
-- order total; the most specific matching rule wins (a region over '*', the
-- highest min_total not above the order's total).
CREATE TABLE delivery_prices (
    method          text   NOT NULL
                    CHECK (method IN ('courier', 'post', 'pickup_point', 'self_pickup')),
    region          text   NOT NULL DEFAULT '*',
    min_total_minor bigint NOT NULL DEFAULT 0 CHECK (min_total_minor >= 0),
    price_minor     bigint NOT NULL CHECK (price_minor >= 0),
    PRIMARY KEY (method, region, min_total_minor)
);
INSERT INTO delivery_prices (method, region, min_total_minor, price_minor) VALUES
    ('courier', '*', 0, 49000), ('courier', '*', 700000, 29000),
    ('courier', 'moscow', 0, 30000), ('courier', 'moscow', 500000, 0),
    ('post', '*', 0, 35000), ('post', '*', 1000000, 0),
    ('pickup_point', '*', 0, 25000), ('pickup_point', '*', 500000, 0),
    ('self_pickup', '*', 0, 0);
