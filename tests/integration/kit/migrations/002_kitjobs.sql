-- kitjobs: one row per job effect, written by the job's handler in the
-- transaction that marks the job done (jobs_begin_finish). Deliberately
-- without a unique constraint on job_id, so that an effect applied twice
-- would show as two rows.
CREATE TABLE kit_job_effects (
    id         bigserial PRIMARY KEY,
    job_id     bigint  NOT NULL,
    n          bigint  NOT NULL,
    worker_pid integer NOT NULL,
    attempt    integer NOT NULL,
    resumed    boolean NOT NULL,
    run_at_ms  bigint  NOT NULL, -- the job's run_at as the successful attempt saw it
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX kit_job_effects_job ON kit_job_effects (job_id);
