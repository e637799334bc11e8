-- kitjobs' together mode (KITJOBS_TOGETHER, common/jobs.h
-- jobs_begin_finish_many / jobs_release): the jobs a batch gave back
-- unstarted, once each, so the test can follow them.
CREATE TABLE kit_job_released (
    job_id     bigint PRIMARY KEY,
    attempt    integer NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
