#!/usr/bin/env bash
# The job queue's batch kinds (common/jobs.h jobs_register_batch): the whole
# of test_jobs.sh — exactly once across a kill -9, retries with backoff,
# death after the last attempt — with jobs claimed and completed 16 at a
# time, and most effects coming from batches of more than one.
IT_JOBS_BATCH=${IT_JOBS_BATCH:-16} exec bash "$(dirname "$0")/test_jobs.sh"
