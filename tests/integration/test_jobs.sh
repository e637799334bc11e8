#!/usr/bin/env bash
# The job queue (common/jobs.h) between real processes: IT_JOBS jobs (10000
# by default) run by two `kitjobs serve` replicas, one killed -9 midway.
# Every done job's effect exists exactly once (the effect commits with
# "done", so a job the dead replica had in hand runs again on the other
# without a duplicate); jobs that fail a few times retry with backoff and
# succeed; jobs that always fail end dead after their last attempt with the
# error recorded. The survivor's business clock is moved past the lease
# (CLOCK_TEST) so the dead replica's leases run out without waiting a
# minute.
# IT_JOBS_BATCH=N (test_jobs_batch.sh) runs the same with the kind
# registered as a batch kind (jobs_register_batch): the same rules hold
# when up to N jobs are claimed and completed together. IT_JOBS_TOGETHER=true
# (test_jobs_together.sh) also records a batch's effects in one transaction
# and gives one job of a batch back unstarted now and then (jobs_release):
# it comes back as if never leased, and runs once.
source "$(dirname "$0")/lib.sh"

JOBS=${IT_JOBS:-10000}
LEASE_MS=60000 # the kit's default lease: service.c does not set one
eval "$(it_service_db kitjobs)"
S=$DB_SCHEMA

# kitjobs_start NAME N [VAR=VALUE ...]: replica N (1, 2) of kitjobs serve
kitjobs_start() {
    local name=$1 n=$2
    shift 2
    it_start "$name" env DATABASE_URL="$DATABASE_URL" DATABASE_OWNER_URL="$DATABASE_OWNER_URL" \
        DB_SCHEMA="$S" HTTP_ADDR=127.0.0.1:2811$n REPLAY_ADDR=tcp://127.0.0.1:2561$n \
        BUS_PUB_ENDPOINT=tcp://127.0.0.1:25650 BUS_SUB_ENDPOINT=tcp://127.0.0.1:25651 \
        REDIS_URL="$TEST_REDIS_URL" JOB_WORKERS=4 KITJOBS_WORK_MS=1 KITJOBS_BATCH="${IT_JOBS_BATCH:-0}" \
        KITJOBS_TOGETHER="${IT_JOBS_TOGETHER:-false}" \
        BUS_CERT="$(it_key service kitjobs)" "$@" "$IT_BIN/kitjobs" serve
}

# ready PORT: /readyz says 200 once the replica has its schema (migrations
# applied); /healthz answers from the first instant, before the jobs table
# exists
ready() {
    curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$1/readyz"
}

count() {
    it_psql "SELECT count(*) FROM $S.$1"
}

effects_at_least() {
    [ "$(count kit_job_effects)" -ge "$1" ]
}

all_final() {
    [ "$(it_psql "SELECT count(*) FROM $S.jobs WHERE state IN ('done', 'dead')")" -eq "$JOBS" ]
}

started=$SECONDS
kitjobs_start jobsA 1
it_wait_until 30 "replica A up" ready 28111 # A applies the migrations first
kitjobs_start jobsB 2 CLOCK_TEST=true
it_wait_until 30 "replica B up" ready 28112

# enqueued while both run: NOTIFY wakes them
out=$(DATABASE_URL=$DATABASE_URL "$IT_BIN/kitjobs" enqueue "$JOBS") || it_fail "enqueue: $out"
it_log "$out"
flaky=$(it_psql "SELECT count(*) FROM $S.jobs WHERE (payload->>'fail_times')::int > 0")
dying=$(it_psql "SELECT count(*) FROM $S.jobs WHERE (payload->>'fail_times')::int < 0")
it_assert_eq "$JOBS" "$(count jobs)" "jobs enqueued"
[ "$dying" -ge 1 ] || it_fail "no always-failing job among $JOBS (need at least 7)"

# --- kill A midway -----------------------------------------------------------
it_wait_until 60 "half the effects" effects_at_least $((JOBS / 2))
pid_a=$(it_pid jobsA)
it_kill jobsA KILL
# what A held when it died (B's own running jobs are counted too)
held=$(it_psql "SELECT count(*) FROM $S.jobs WHERE state = 'running'")
by_a=$(it_psql "SELECT count(*) FROM $S.kit_job_effects WHERE worker_pid = $pid_a")
it_log "killed A (pid $pid_a) after $by_a effects; $held jobs were running then"
# A's leases end in B's business time: move it past them
it_http POST http://127.0.0.1:28112/v1/test/clock "{\"advance_ms\":$((LEASE_MS + 1000))}" |
    grep -q '^200 ' || it_fail "B's test clock did not move"

it_wait_until 120 "every job done or dead" all_final
took=$((SECONDS - started))

# --- exactly once --------------------------------------------------------------
done_jobs=$(it_psql "SELECT count(*) FROM $S.jobs WHERE state = 'done'")
it_assert_eq $((JOBS - dying)) "$done_jobs" "jobs done (all but the always-failing ones)"
it_assert_eq "$done_jobs" "$(count kit_job_effects)" "effect rows"
it_assert_eq 0 "$(it_psql "SELECT count(*) FROM $S.jobs j WHERE state = 'done' AND
    (SELECT count(*) FROM $S.kit_job_effects e WHERE e.job_id = j.id) <> 1")" \
    "done jobs whose effect is not there exactly once"
it_assert_eq 0 "$(it_psql "SELECT count(*) FROM $S.kit_job_effects e JOIN $S.jobs j
    ON j.id = e.job_id WHERE j.state <> 'done' OR e.n <> (j.payload->>'n')::bigint")" \
    "effects of jobs not done, or of the wrong job"
it_assert_eq "$done_jobs" "$(it_psql "SELECT count(DISTINCT n) FROM $S.kit_job_effects")" \
    "distinct job numbers with an effect"
it_assert_eq 0 "$(it_psql "SELECT count(*) FROM $S.jobs WHERE state = 'done' AND
    (outcome <> 'done' OR finished_at IS NULL OR started_at IS NULL)")" "done jobs not marked so"
by_b=$(it_psql "SELECT count(*) FROM $S.kit_job_effects WHERE worker_pid <> $pid_a")
[ "$by_a" -gt 0 ] && [ "$by_b" -gt 0 ] || it_fail "both replicas should have worked: A $by_a, B $by_b"

# --- retries with backoff ------------------------------------------------------
it_assert_eq 0 "$(it_psql "SELECT count(*) FROM $S.jobs j JOIN $S.kit_job_effects e ON
    e.job_id = j.id WHERE (j.payload->>'fail_times')::int > 0 AND NOT (
        j.attempts > (j.payload->>'fail_times')::int AND e.attempt > (j.payload->>'fail_times')::int
        AND e.run_at_ms > (j.payload->>'enqueued_at_ms')::bigint
        AND j.last_error = 'kit_planned_failure')")" \
    "flaky jobs that did not retry with a later run_at before succeeding"
it_assert_eq "$flaky" "$(it_psql "SELECT count(*) FROM $S.jobs
    WHERE (payload->>'fail_times')::int > 0 AND state = 'done'")" "flaky jobs done"
# A job runs twice only when its lease ran out in someone's hands: A's when
# it died, or B's own in flight when B's clock jumped past their leases.
it_assert_eq 0 "$(it_psql "SELECT count(*) FROM $S.jobs WHERE (payload->>'fail_times')::int = 0
    AND attempts > 2")" "never-failing jobs that ran more than twice"

# --- death after the last attempt ------------------------------------------------
# The rule: dead after attempt 3, outcome failed, the handler's error kept.
# A job whose third attempt was in hand when its lease ran out (the kill,
# the clock jump) is found at attempt 4 unfinished: dead all the same, as
# attempts_exhausted, outcome_unknown since its call may have gone out.
by_rule=$(it_psql "SELECT count(*) FROM $S.jobs WHERE (payload->>'fail_times')::int < 0
    AND state = 'dead' AND outcome = 'failed' AND attempts = 3
    AND last_error = 'kit_planned_failure'
    AND last_error_detail = 'job ' || (payload->>'n') || ' fails on purpose on attempt 3'")
exhausted=$(it_psql "SELECT count(*) FROM $S.jobs WHERE (payload->>'fail_times')::int < 0
    AND state = 'dead' AND attempts = 4 AND last_error = 'attempts_exhausted'
    AND outcome IN ('failed', 'outcome_unknown')")
it_assert_eq "$dying" "$((by_rule + exhausted))" \
    "always-failing jobs dead after their last attempt ($by_rule by the rule, $exhausted exhausted)"
[ "$by_rule" -ge 1 ] || it_fail "no always-failing job died by the rule"
it_assert_eq 0 "$(it_psql "SELECT count(*) FROM $S.jobs WHERE state = 'dead' AND
    (last_error IS NULL OR last_error_detail IS NULL OR finished_at IS NULL)")" \
    "dead jobs without a recorded error"
it_assert_eq 0 "$(it_psql "SELECT count(*) FROM $S.jobs WHERE lease_until IS NOT NULL")" \
    "final jobs still holding a lease"

if [ "${IT_JOBS_BATCH:-0}" -gt 1 ]; then
    batched=$(it_psql "SELECT count(*) FROM $S.kit_job_effects WHERE batch_size > 1")
    largest=$(it_psql "SELECT max(batch_size) FROM $S.kit_job_effects")
    [ "$batched" -gt $((JOBS / 2)) ] || it_fail "only $batched of $done_jobs effects came from batches"
    [ "$largest" -le "$IT_JOBS_BATCH" ] || it_fail "a batch of $largest, over $IT_JOBS_BATCH"
    it_log "$batched effects from batches, the largest of $largest"
fi
if [ "${IT_JOBS_TOGETHER:-false}" = true ]; then
    released=$(count kit_job_released)
    [ "$released" -gt 0 ] || it_fail "no job was given back unstarted"
    # given back at attempt k, it is not charged for it: a job that never fails
    # and was not caught by the kill or the clock jump ran once, at attempt k
    it_assert_eq 0 "$(it_psql "SELECT count(*) FROM $S.kit_job_released r
        JOIN $S.jobs j ON j.id = r.job_id JOIN $S.kit_job_effects e ON e.job_id = j.id
        WHERE (j.payload->>'fail_times')::int = 0 AND NOT e.resumed AND j.attempts = e.attempt
        AND e.attempt <> r.attempt")" "jobs charged an attempt for being given back"
    it_assert_eq 0 "$(it_psql "SELECT count(*) FROM $S.kit_job_released r JOIN $S.jobs j
        ON j.id = r.job_id WHERE j.state <> 'done' AND (j.payload->>'fail_times')::int >= 0")" \
        "jobs given back that did not end done"
    it_log "$released jobs given back unstarted, each run once afterwards"
fi
resumed=$(it_psql "SELECT count(*) FROM $S.kit_job_effects WHERE resumed")
retried=$(it_psql "SELECT coalesce(sum(attempts - 1), 0) FROM $S.jobs")
it_log "$JOBS jobs ($flaky flaky, $dying always failing) in ${took}s; A did $by_a, B $by_b;" \
    "$resumed resumed after the kill; $retried retries in all"
exit 0
