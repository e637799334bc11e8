-- Tables of the kit's own test programs (kitprod, kitcons): what the
-- producer has produced and what the consumer has applied, so the
-- integration tests can prove "exactly once, in order" with SQL.

-- kitprod: how many ticks it has committed (it continues after a restart).
CREATE TABLE kitprod_state (
    id       integer PRIMARY KEY CHECK (id = 1),
    produced bigint  NOT NULL DEFAULT 0
);
INSERT INTO kitprod_state (id, produced) VALUES (1, 0);

-- kitcons: one row per applied tick, deliberately without a unique
-- constraint so that a duplicate apply would show.
CREATE TABLE kit_applied (
    id             bigserial PRIMARY KEY,
    stream         text   NOT NULL,
    seq            bigint NOT NULL,
    n              bigint NOT NULL,
    correlation_id text   NOT NULL,
    applied_by     integer NOT NULL,
    produced_at_us bigint NOT NULL, -- wall clock when the producer committed it
    latency_us     bigint NOT NULL, -- from then to the handler's run
    applied_at     timestamptz NOT NULL DEFAULT now()
);

-- kitcons: effects of external (seq-less) events, again without a unique
-- constraint: the idempotency key must do the work.
CREATE TABLE kit_external (
    id         bigserial PRIMARY KEY,
    key        text NOT NULL,
    event_id   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
