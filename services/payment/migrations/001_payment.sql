-- The payment service's tables (DOMAIN.md F14-F18, F38). services/payment/
-- store.c holds every statement that touches them. The ledger is the
-- truth of an order's money: every movement is one row, unique by the
-- bank's own id for it, so a callback or a poll that reports the same
-- payment twice cannot record it twice; the sums on orders are kept with
-- it in the same transaction and checked against it by reconciliation.

-- What payment knows of each order: its terms and total as last confirmed
-- (an older or equal version is ignored), the sums of its ledger, and its
-- F15 status. received = payments + cash collected; refunding = refunds
-- asked of the bank and not yet settled.
CREATE TABLE orders (
    order_id        uuid    PRIMARY KEY,
    version         bigint  NOT NULL CHECK (version >= 0),
    number          bigint  NOT NULL,
    terms           text    NOT NULL CHECK (terms IN ('prepay', 'on_delivery', 'none')),
    currency        text    NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    total_minor     bigint  NOT NULL CHECK (total_minor >= 0),
    received_minor  bigint  NOT NULL DEFAULT 0 CHECK (received_minor >= 0),
    refunded_minor  bigint  NOT NULL DEFAULT 0 CHECK (refunded_minor >= 0),
    refunding_minor bigint  NOT NULL DEFAULT 0 CHECK (refunding_minor >= 0),
    status          text    NOT NULL
                    CHECK (status IN ('unpaid', 'partially_paid', 'paid', 'pay_on_delivery',
                                      'no_payment_required')),
    cancelled       boolean NOT NULL DEFAULT false,
    customer_email  text    CHECK (octet_length(customer_email) <= 200),
    customer_phone  text    CHECK (octet_length(customer_phone) <= 32),
    -- the receipt lines of the confirmed order (receipt.h), for invoices
    -- and refunds: [{name, quantity, price_minor, amount_minor, vat_rate_bp,
    -- subject, method}]
    receipt         jsonb   NOT NULL DEFAULT '[]',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT orders_refunds_within_received
        CHECK (refunded_minor + refunding_minor <= received_minor)
);

-- An invoice: a request to the bank for amount_minor with a payment link.
-- our_ref is what the bank knows us by (Sberbank's orderNumber, YooKassa's
-- Idempotence-Key); it is written before the bank is asked, so a reply
-- lost to a crash is found again by asking the bank for our_ref, never by
-- registering twice. Its status only moves forward:
--   registering -> open -> paid | expired | cancelled | failed
--   registering -> failed (the bank refused it) | cancelled
CREATE TABLE invoices (
    invoice_id      uuid    PRIMARY KEY,
    order_id        uuid    NOT NULL REFERENCES orders (order_id),
    order_version   bigint  NOT NULL,
    provider        text    NOT NULL CHECK (provider IN ('sberbank', 'yookassa')),
    our_ref         text    NOT NULL UNIQUE CHECK (octet_length(our_ref) BETWEEN 1 AND 64),
    bank_id         text    CHECK (octet_length(bank_id) BETWEEN 1 AND 100),
    amount_minor    bigint  NOT NULL CHECK (amount_minor > 0),
    currency        text    NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    payment_url     text    CHECK (octet_length(payment_url) <= 2000),
    status          text    NOT NULL
                    CHECK (status IN ('registering', 'open', 'paid', 'expired', 'cancelled',
                                      'failed')),
    receipt         jsonb   NOT NULL,
    failure_code    text,
    failure_reason  text,
    expires_at      timestamptz NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT invoices_bank_id_unique UNIQUE (provider, bank_id)
);
CREATE INDEX invoices_order ON invoices (order_id);
-- the reconciliation and expiry jobs walk what is still open
CREATE INDEX invoices_open ON invoices (expires_at) WHERE status IN ('registering', 'open');

-- Every movement of money, once: a payment from the bank, cash collected
-- on delivery, a payment recorded by hand, a refund that succeeded.
-- (provider, movement_ref) is the bank's id for that movement (a YooKassa
-- payment or refund id, Sberbank's mdOrder with the operation), or ours
-- for a manual record: a second report of it is a no-op.
CREATE TABLE ledger (
    entry_id        bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id        uuid    NOT NULL REFERENCES orders (order_id),
    invoice_id      uuid    REFERENCES invoices (invoice_id),
    kind            text    NOT NULL CHECK (kind IN ('payment', 'collected', 'manual', 'refund')),
    provider        text    NOT NULL CHECK (octet_length(provider) BETWEEN 1 AND 40),
    movement_ref    text    NOT NULL CHECK (octet_length(movement_ref) BETWEEN 1 AND 200),
    amount_minor    bigint  NOT NULL CHECK (amount_minor > 0),
    currency        text    NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    -- the order's cumulative figures right after this entry
    paid_minor      bigint  NOT NULL,
    due_minor       bigint  NOT NULL CHECK (due_minor >= 0),
    actor           text    CHECK (octet_length(actor) <= 200),
    at              timestamptz NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ledger_movement_once UNIQUE (provider, movement_ref)
);
CREATE INDEX ledger_order ON ledger (order_id, entry_id);

-- A refund asked of the bank. our_ref is our idempotency key for it,
-- written before the bank is asked (the same rule as invoices). Why:
-- cancelled (the order was cancelled after payment), excess (overpaid, or
-- paid after cancellation), requested (refund.requested: a return or a
-- manager).
--   pending -> succeeded | failed;  pending -> unknown (reported, never
--   asked again blindly: settled by asking the bank for our_ref)
CREATE TABLE refunds (
    refund_id       uuid    PRIMARY KEY,
    order_id        uuid    NOT NULL REFERENCES orders (order_id),
    invoice_id      uuid    NOT NULL REFERENCES invoices (invoice_id),
    our_ref         text    NOT NULL UNIQUE CHECK (octet_length(our_ref) BETWEEN 1 AND 64),
    bank_refund_id  text    CHECK (octet_length(bank_refund_id) BETWEEN 1 AND 100),
    amount_minor    bigint  NOT NULL CHECK (amount_minor > 0),
    reason          text    NOT NULL CHECK (reason IN ('cancelled', 'excess', 'requested')),
    claim_id        text    CHECK (octet_length(claim_id) <= 100),
    -- a refund.requested names its own id; the same request twice is one refund
    request_ref     text    UNIQUE CHECK (octet_length(request_ref) <= 200),
    receipt         jsonb   NOT NULL,
    status          text    NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed', 'unknown')),
    failure_code    text,
    failure_reason  text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refunds_order ON refunds (order_id);

-- Every callback or webhook the banks sent, stored by the provider's event
-- id before we answer, whatever it says: verified ones are applied once
-- (applied_at), refused ones kept with why (a forged or stale signature is
-- evidence). The bodies are capped by the HTTP layer before they get here.
CREATE TABLE callbacks (
    provider        text    NOT NULL CHECK (provider IN ('sberbank', 'yookassa')),
    event_id        text    NOT NULL CHECK (octet_length(event_id) BETWEEN 1 AND 300),
    body            text    NOT NULL CHECK (octet_length(body) <= 65536),
    verdict         text    NOT NULL CHECK (verdict IN ('accepted', 'refused')),
    refusal         text,
    received_at     timestamptz NOT NULL DEFAULT now(),
    applied_at      timestamptz,
    times_received  integer NOT NULL DEFAULT 1,
    PRIMARY KEY (provider, event_id)
);
