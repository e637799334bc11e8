#!/usr/bin/env bash
# The job queue's batches with one completion transaction for all their
# jobs (common/jobs.h jobs_begin_finish_many, jobs_finish_many) and jobs
# given back unstarted (jobs_release): the whole of test_jobs.sh — exactly
# once across a kill -9, retries with backoff, death after the last attempt
# — with 16 jobs claimed at a time and their effects committed together.
IT_JOBS_BATCH=${IT_JOBS_BATCH:-16} IT_JOBS_TOGETHER=true exec bash "$(dirname "$0")/test_jobs.sh"
