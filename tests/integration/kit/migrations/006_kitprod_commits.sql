-- kitprod, paced (KITPROD_RATE > 0, the latency bench): one row per
-- producing transaction, so that its commit time is known
-- (pg_xact_commit_timestamp of the row's xmin) even once the relay has
-- numbered the transaction's outbox rows in its own transaction.
CREATE TABLE kitprod_commits (
    first_n bigint PRIMARY KEY,
    last_n  bigint NOT NULL
);
