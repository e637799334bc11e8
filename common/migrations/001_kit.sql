-- The service kit's tables, created in every service's schema before the
-- service's own migrations (common/migrate.h). DESIGN.md "Reliability" and
-- "The job queue" describe how they are used; common/{outbox,relay,replay,
-- inbox,jobs}.c hold every statement that touches them.

-- Events a service produced, appended in the transaction that made the
-- change. seq and epoch are NULL until the relay numbers the row.
CREATE TABLE outbox (
    id             bigserial PRIMARY KEY,
    event_id       uuid     NOT NULL UNIQUE,
    stream         text     NOT NULL,
    type           text     NOT NULL,
    correlation_id text     NOT NULL DEFAULT '',
    causation_id   text     NOT NULL DEFAULT '',
    schema_version integer  NOT NULL DEFAULT 1,
    occurred_at_ms bigint   NOT NULL,
    payload        bytea    NOT NULL,
    epoch          bigint,
    seq            bigint,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT outbox_numbered_whole CHECK ((epoch IS NULL) = (seq IS NULL)),
    CONSTRAINT outbox_seq_positive CHECK (seq IS NULL OR seq > 0)
);
-- Replay reads ranges of one stream's epoch; a seq is given once.
CREATE UNIQUE INDEX outbox_stream_epoch_seq ON outbox (stream, epoch, seq) WHERE seq IS NOT NULL;
-- The relay's work list.
CREATE INDEX outbox_unnumbered ON outbox (id) WHERE seq IS NULL;

-- The counter row per stream: the relay numbers events from last_seq, never
-- from a serial id (ids commit out of order). epoch identifies one life of
-- the outbox and changes when the database's identity does (a restore, a
-- failover): system_identifier and timeline are what it was started under.
CREATE TABLE outbox_streams (
    stream            text   PRIMARY KEY,
    epoch             bigint NOT NULL CHECK (epoch > 0),
    last_seq          bigint NOT NULL DEFAULT 0 CHECK (last_seq >= 0),
    purged_through    bigint NOT NULL DEFAULT 0 CHECK (purged_through >= 0),
    system_identifier text   NOT NULL,
    timeline          bigint NOT NULL,
    started_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT outbox_streams_purge_behind_head CHECK (purged_through <= last_seq)
);

-- How far this service has applied each stream it consumes. An apply moves
-- last_seq from n-1 to n in the handler's own transaction, conditionally,
-- so each event takes effect once. halted_reason set: the stream is stopped
-- (a new epoch, history truncated) until an operator resyncs it.
CREATE TABLE inbox_offsets (
    stream        text   PRIMARY KEY,
    epoch         bigint NOT NULL DEFAULT 0 CHECK (epoch >= 0),
    last_seq      bigint NOT NULL DEFAULT 0 CHECK (last_seq >= 0),
    halted_reason text,
    halted_epoch  bigint,
    halted_at     timestamptz,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Events that could not be applied: a permanent handler failure, a frame
-- that does not parse, or a later event of an order that has one parked
-- (held_behind). The raw frames are kept so a retry runs today's handler
-- on exactly what arrived.
CREATE TABLE dead_letters (
    id             bigserial PRIMARY KEY,
    stream         text   NOT NULL,
    epoch          bigint,
    seq            bigint,
    event_id       uuid,
    correlation_id text   NOT NULL DEFAULT '',
    type           text   NOT NULL DEFAULT '',
    err            text   NOT NULL,
    detail         text   NOT NULL DEFAULT '',
    topic          bytea  NOT NULL,
    envelope       bytea  NOT NULL,
    frame_hash     text,
    held_behind    bigint REFERENCES dead_letters (id) ON DELETE SET NULL,
    status         text   NOT NULL DEFAULT 'open'
                   CHECK (status IN ('open', 'retry', 'resolved', 'discarded')),
    attempts       integer NOT NULL DEFAULT 1,
    created_at     timestamptz NOT NULL DEFAULT now(),
    resolved_at    timestamptz,
    CONSTRAINT dead_letters_resolved_when CHECK ((status IN ('resolved', 'discarded')) = (resolved_at IS NOT NULL))
);
CREATE UNIQUE INDEX dead_letters_position ON dead_letters (stream, epoch, seq) WHERE seq IS NOT NULL;
CREATE UNIQUE INDEX dead_letters_frame ON dead_letters (frame_hash) WHERE frame_hash IS NOT NULL;
CREATE INDEX dead_letters_unresolved ON dead_letters (correlation_id) WHERE status IN ('open', 'retry');

-- Idempotency keys of seq-less external events (and any other "at most
-- once" decision a handler wants the kit to remember). Never purged.
CREATE TABLE processed_keys (
    scope      text NOT NULL,
    key        text NOT NULL,
    event_id   uuid,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);

-- The job queue (common/jobs.h). state: queued (waiting for run_at),
-- running (leased by a worker until lease_until; started_at set once it
-- began calling out), done, dead. A running job whose lease expired is
-- taken again; if started_at is set it runs as "resumed".
CREATE TABLE jobs (
    id            bigserial PRIMARY KEY,
    kind          text    NOT NULL,
    payload       jsonb   NOT NULL DEFAULT '{}',
    dedup_key     text    UNIQUE,
    state         text    NOT NULL DEFAULT 'queued'
                  CHECK (state IN ('queued', 'running', 'done', 'dead')),
    outcome       text    CHECK (outcome IN ('done', 'failed', 'outcome_unknown', 'discarded')),
    run_at        timestamptz NOT NULL DEFAULT now(),
    attempts      integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts  integer NOT NULL DEFAULT 10 CHECK (max_attempts > 0),
    lease_token   uuid,
    lease_until   timestamptz,
    started_at    timestamptz,
    finished_at   timestamptz,
    last_error    text,
    last_error_detail text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT jobs_running_has_lease CHECK (state <> 'running' OR (lease_token IS NOT NULL AND lease_until IS NOT NULL)),
    CONSTRAINT jobs_final_has_outcome CHECK ((state IN ('done', 'dead')) = (outcome IS NOT NULL))
);
CREATE INDEX jobs_due ON jobs (run_at) WHERE state = 'queued';
CREATE INDEX jobs_lease_expiry ON jobs (lease_until) WHERE state = 'running';
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE state IN ('done', 'dead');
