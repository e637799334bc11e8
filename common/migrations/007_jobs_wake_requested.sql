-- jobs_run_now (common/jobs.h) asks for a job to run now. A queued job's
-- run_at is brought forward; a running one cannot be (its attempt will
-- set run_at when it ends), so the ask is kept here and the attempt's
-- retry, when it asks for one, is due at once instead of after its
-- backoff or Retry-After: a wake that comes while the job runs is not
-- lost. Cleared by that retry.
ALTER TABLE jobs ADD COLUMN wake_requested boolean NOT NULL DEFAULT false;
