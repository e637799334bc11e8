-- kitjobs' batch mode (KITJOBS_BATCH, common/jobs.h jobs_register_batch):
-- how many jobs the batch that recorded an effect held.
ALTER TABLE kit_job_effects ADD COLUMN batch_size integer NOT NULL DEFAULT 1;
