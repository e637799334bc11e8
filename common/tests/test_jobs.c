/*
 * test_jobs.c — the job queue (common/jobs.h) against a real PostgreSQL
 * (TEST_DATABASE_URL, a superuser): running once, dedup keys, retries with
 * backoff, death after the last attempt, outcome_unknown, unknown kinds,
 * timers and Retry-After that wait for business time, a job made due now
 * (jobs_run_now) queued or while it runs, NOTIFY waking a
 * worker that would otherwise poll late, a lease that runs out (the job
 * resumes elsewhere and the first worker can no longer complete), effects
 * committed atomically with "done", and a stop that lets a handler finish.
 *
 * Every test gets its own schema test_jobs_<pid>_<n> with the kit's
 * migrations and a table of effects, and drops it afterwards. Business time
 * is moved with clock_advance_ms, never waited for; every wait polls with a
 * deadline.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/db.h"
#include "common/jobs.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/migrate.h"

#define WAIT_MS     15000 /* generous: the sanitizer build is slow */
#define LEASE_MS    5000
#define HOUR_MS     (3600LL * 1000)
#define MAX_TRACKED 16

static const char *super_url;
static int schema_counter;

/* What the handlers saw; reset by each test's setup. */
typedef struct {
    atomic_int calls;
    atomic_int resumed_calls;
    atomic_int blocked;        /* handlers waiting for release */
    atomic_bool release;       /* lets blocked handlers go on */
    atomic_int first_returned; /* the blocked first attempt has returned */
    atomic_int keepalive_status;
    atomic_int finish_status;
    _Atomic int64_t run_at_ms[MAX_TRACKED]; /* per attempt, as the handler saw it */
} probe_t;

typedef struct {
    char schema[64];
    char dsn[1024];
    db_t *admin; /* superuser, for the schema itself */
    db_t *db;    /* the schema, as the code sees it */
    jobs_t *jobs;
    probe_t probe;
} fixture_t;

/* ------------------------------------------------------------------ */
/* helpers                                                              */

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A DSN for the same server whose sessions work in schema. */
static int schema_dsn(const char *base, const char *schema, char *out, size_t size)
{
    int n;
    if (strncmp(base, "postgres://", 11) == 0 || strncmp(base, "postgresql://", 13) == 0)
        n = snprintf(out, size, "%s%soptions=-csearch_path%%3D%s", base,
                     strchr(base, '?') ? "&" : "?", schema);
    else
        n = snprintf(out, size, "%s options='-csearch_path=%s'", base, schema);
    return n > 0 && (size_t)n < size ? 0 : -1;
}

/* The first cell of sql's result as text into out ("<null>" for NULL). */
static void query_text(fixture_t *fx, const char *sql, char *out, size_t size)
{
    PGresult *res = NULL;
    db_status_t status = db_run_sql(fx->db, sql, NULL, &res);
    if (status != DB_OK)
        fail_msg("query failed: %s: %s", sql, db_errmsg(fx->db));
    const char *value = db_value(res, 0, 0);
    snprintf(out, size, "%s", value ? value : "<null>");
    PQclear(res);
}

static int64_t query_i64(fixture_t *fx, const char *sql)
{
    char text[64];
    query_text(fx, sql, text, sizeof text);
    char *end = NULL;
    long long value = strtoll(text, &end, 10);
    if (!end || *end)
        fail_msg("not a number from %s: %s", sql, text);
    return value;
}

/* Polls until sql's first cell reads expected, or fails after WAIT_MS. */
static void wait_for_sql(fixture_t *fx, const char *sql, const char *expected)
{
    char text[256] = "";
    int64_t deadline = clock_mono_ms() + WAIT_MS;
    while (clock_mono_ms() < deadline) {
        query_text(fx, sql, text, sizeof text);
        if (strcmp(text, expected) == 0)
            return;
        sleep_ms(20);
    }
    fail_msg("timed out waiting for %s to be %s (last %s)", sql, expected, text);
}

static void wait_for_int(atomic_int *value, int expected)
{
    int64_t deadline = clock_mono_ms() + WAIT_MS;
    while (atomic_load(value) != expected) {
        if (clock_mono_ms() >= deadline)
            fail_msg("timed out waiting for a counter to reach %d (it is %d)", expected,
                     atomic_load(value));
        sleep_ms(10);
    }
}

static void job_state(fixture_t *fx, int64_t id, const char *column, char *out, size_t size)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT %s FROM jobs WHERE id = %lld", column, (long long)id);
    query_text(fx, sql, out, size);
}

static void assert_job(fixture_t *fx, int64_t id, const char *column, const char *expected)
{
    char text[512];
    job_state(fx, id, column, text, sizeof text);
    if (strcmp(text, expected) != 0)
        fail_msg("job %lld: %s is '%s', expected '%s'", (long long)id, column, text, expected);
}

static void wait_job_state(fixture_t *fx, int64_t id, const char *state)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT state FROM jobs WHERE id = %lld", (long long)id);
    wait_for_sql(fx, sql, state);
}

static int64_t enqueue(fixture_t *fx, const char *kind, const char *payload, int max_attempts,
                       int64_t run_at_ms)
{
    job_spec_t spec = {
        .kind = kind, .payload = payload, .max_attempts = max_attempts, .run_at_ms = run_at_ms};
    bool created = false;
    int64_t id = 0;
    db_status_t status = jobs_enqueue(fx->db, &spec, &created, &id);
    if (status != DB_OK)
        fail_msg("enqueue %s failed: %s", kind, db_errmsg(fx->db));
    assert_true(created);
    assert_true(id > 0);
    jobs_wake(fx->jobs);
    return id;
}

static uint64_t counter_value(const char *name, const char *labels)
{
    return metrics_counter_value(metrics_counter(name, labels, "test"));
}

/* ------------------------------------------------------------------ */
/* handlers                                                             */

static job_outcome_t handle_count(job_run_t *run)
{
    fixture_t *fx = job_run_arg(run);
    atomic_fetch_add(&fx->probe.calls, 1);
    return JOB_DONE;
}

static job_outcome_t handle_flaky(job_run_t *run)
{
    fixture_t *fx = job_run_arg(run);
    const job_t *job = job_run_job(run);
    atomic_fetch_add(&fx->probe.calls, 1);
    if (job->attempt < MAX_TRACKED)
        atomic_store(&fx->probe.run_at_ms[job->attempt], job->run_at_ms);
    if (job->attempt < 3) {
        job_run_error(run, "flaky", "attempt %d fails on purpose", job->attempt);
        return JOB_RETRY;
    }
    return JOB_DONE;
}

static job_outcome_t handle_always_fail(job_run_t *run)
{
    fixture_t *fx = job_run_arg(run);
    atomic_fetch_add(&fx->probe.calls, 1);
    job_run_error(run, "upstream_down", "the upstream answered 503 on attempt %d",
                  job_run_job(run)->attempt);
    return JOB_RETRY;
}

static job_outcome_t handle_unknown(job_run_t *run)
{
    fixture_t *fx = job_run_arg(run);
    atomic_fetch_add(&fx->probe.calls, 1);
    job_run_error(run, "sms_maybe_sent", "the gateway timed out after accepting the message");
    return JOB_UNKNOWN;
}

static job_outcome_t handle_fail(job_run_t *run)
{
    fixture_t *fx = job_run_arg(run);
    atomic_fetch_add(&fx->probe.calls, 1);
    return JOB_FAIL;
}

static job_outcome_t handle_retry_after(job_run_t *run)
{
    fixture_t *fx = job_run_arg(run);
    atomic_fetch_add(&fx->probe.calls, 1);
    if (job_run_job(run)->attempt == 1) {
        job_run_error(run, "rate_limited", "429 with Retry-After: 3600");
        job_run_retry_after(run, HOUR_MS);
        return JOB_RETRY;
    }
    return JOB_DONE;
}

/* Writes its effect in the completion transaction, then ends as the
 * payload's "then" says: done, fail, or retry_once (retry on attempt 1). */
static job_outcome_t handle_effect(job_run_t *run)
{
    fixture_t *fx = job_run_arg(run);
    const job_t *job = job_run_job(run);
    atomic_fetch_add(&fx->probe.calls, 1);
    json_t *payload = json_loads(job->payload, 0, NULL);
    const char *then = json_string_value(json_object_get(payload, "then"));
    job_outcome_t outcome = JOB_DONE;
    if (then && strcmp(then, "fail") == 0)
        outcome = JOB_FAIL;
    else if (then && strcmp(then, "retry_once") == 0 && job->attempt == 1)
        outcome = JOB_RETRY;
    json_decref(payload);
    if (jobs_begin_finish(run) != DB_OK)
        return JOB_RETRY;
    db_params_t params;
    db_params_init(&params);
    db_param_i64(&params, job->id);
    db_param_i64(&params, job->attempt);
    db_param_bool(&params, job->resumed);
    if (db_run(job_run_db(run), "test_effect", &params, NULL) != DB_OK) {
        job_run_error(run, "pg_error", "%s", db_errmsg(job_run_db(run)));
        return JOB_RETRY;
    }
    return outcome;
}

/* First attempt: commits nothing, waits to be released (its lease runs out
 * meanwhile), then tries to keep the lease and to complete. A resumed
 * attempt writes the effect and completes. */
static job_outcome_t handle_blocking(job_run_t *run)
{
    fixture_t *fx = job_run_arg(run);
    const job_t *job = job_run_job(run);
    atomic_fetch_add(&fx->probe.calls, 1);
    if (job->resumed) {
        atomic_fetch_add(&fx->probe.resumed_calls, 1);
        return handle_effect(run);
    }
    atomic_fetch_add(&fx->probe.blocked, 1);
    int64_t deadline = clock_mono_ms() + WAIT_MS;
    while (!atomic_load(&fx->probe.release) && clock_mono_ms() < deadline)
        sleep_ms(5);
    atomic_store(&fx->probe.keepalive_status, jobs_keepalive(run));
    db_status_t finish = jobs_begin_finish(run);
    atomic_store(&fx->probe.finish_status, finish);
    if (finish == DB_OK) {
        /* the lease was not lost after all: the test will fail on this */
        db_params_t params;
        db_params_init(&params);
        db_param_i64(&params, job->id);
        db_param_i64(&params, job->attempt);
        db_param_bool(&params, job->resumed);
        db_run(job_run_db(run), "test_effect", &params, NULL);
    }
    atomic_fetch_add(&fx->probe.first_returned, 1);
    return finish == DB_OK ? JOB_DONE : JOB_RETRY;
}

/* A kind whose death is its own to record (jobs_on_dead): fails for good,
 * then its hook writes the effect in the death's transaction, resumed
 * standing for "outcome_unknown"; a payload {"refuse":true} makes the hook
 * fail, so the job must not be dead. */
static job_outcome_t handle_mortal(job_run_t *run)
{
    fixture_t *fx = job_run_arg(run);
    atomic_fetch_add(&fx->probe.calls, 1);
    job_run_error(run, "upstream_down", "the upstream said no");
    return JOB_FAIL;
}

static db_status_t mortal_dead(job_run_t *run, const char *outcome, const char *code,
                               const char *detail)
{
    fixture_t *fx = job_run_arg(run);
    const job_t *job = job_run_job(run);
    (void)detail;
    if (strstr(job->payload, "refuse")) {
        atomic_fetch_add(&fx->probe.blocked, 1);
        return db_fail(job_run_db(run), DB_STATE_BAD_DATA, "the death is refused on purpose");
    }
    if (strcmp(code, "upstream_down") != 0 && strcmp(code, "attempts_exhausted") != 0)
        return db_fail(job_run_db(run), DB_STATE_BAD_DATA, "unexpected code %s", code);
    db_params_t params;
    db_params_init(&params);
    db_param_i64(&params, job->id);
    db_param_i64(&params, job->attempt);
    db_param_bool(&params, strcmp(outcome, "outcome_unknown") == 0);
    return db_run(job_run_db(run), "test_effect", &params, NULL);
}

/* First attempt: waits to be released, then asks for a retry an hour
 * later (a long poll); the next attempt is done. */
static job_outcome_t handle_slow_poll(job_run_t *run)
{
    fixture_t *fx = job_run_arg(run);
    atomic_fetch_add(&fx->probe.calls, 1);
    if (job_run_job(run)->attempt > 1)
        return JOB_DONE;
    atomic_fetch_add(&fx->probe.blocked, 1);
    int64_t deadline = clock_mono_ms() + WAIT_MS;
    while (!atomic_load(&fx->probe.release) && clock_mono_ms() < deadline)
        sleep_ms(5);
    job_run_error(run, "still_working", "the upstream is still at it: look again in an hour");
    job_run_retry_after(run, HOUR_MS);
    atomic_fetch_add(&fx->probe.first_returned, 1);
    return JOB_RETRY;
}

static int setup_statements(db_t *db, void *arg)
{
    (void)arg;
    return db_prepare(db, "test_effect",
                      "INSERT INTO effects (job_id, attempt, resumed) VALUES ($1, $2, $3)");
}

/* ------------------------------------------------------------------ */
/* fixture                                                              */

static int teardown(void **state);

/* A fresh schema with the kit's tables and a table of effects. */
static int setup(void **state)
{
    fixture_t *fx = calloc(1, sizeof *fx);
    if (!fx)
        return -1;
    *state = fx;
    snprintf(fx->schema, sizeof fx->schema, "test_jobs_%d_%d", (int)getpid(), ++schema_counter);
    if (schema_dsn(super_url, fx->schema, fx->dsn, sizeof fx->dsn) != 0) {
        fprintf(stderr, "test_jobs: TEST_DATABASE_URL is too long\n");
        goto fail;
    }
    fx->admin = db_new(super_url, "test_jobs");
    const migration_set_t *sets[] = {&kit_migrations};
    if (!fx->admin || migrate_run(fx->admin, fx->schema, sets, 1) != 0) {
        fprintf(stderr, "test_jobs: migrations failed in %s\n", fx->schema);
        goto fail;
    }
    fx->db = db_new(fx->dsn, "test_jobs");
    if (!fx->db || db_run_sql(fx->db,
                              "CREATE TABLE effects (job_id bigint NOT NULL, attempt int NOT NULL, "
                              "resumed boolean NOT NULL)",
                              NULL, NULL) != DB_OK) {
        fprintf(stderr, "test_jobs: cannot use schema %s: %s\n", fx->schema,
                fx->db ? db_errmsg(fx->db) : "out of memory");
        goto fail;
    }
    return 0;
fail:
    teardown(state);
    return -1;
}

/* Stops the queue and drops the schema (if it got as far as existing). */
static int teardown(void **state)
{
    fixture_t *fx = *state;
    jobs_destroy(&fx->jobs);
    db_destroy(&fx->db);
    char sql[128];
    snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS \"%s\" CASCADE", fx->schema);
    db_status_t status = fx->admin ? db_run_sql(fx->admin, sql, NULL, NULL) : DB_OK;
    if (status != DB_OK)
        fprintf(stderr, "test_jobs: could not drop %s: %s\n", fx->schema, db_errmsg(fx->admin));
    db_destroy(&fx->admin);
    free(fx);
    return status == DB_OK ? 0 : -1;
}

/* Starts the queue with every test kind; the config may be adjusted first. */
static void start_jobs_with(fixture_t *fx, jobs_config_t config)
{
    config.dsn = fx->dsn;
    config.schema = fx->schema;
    config.app_name = "test_jobs";
    config.db_setup = setup_statements;
    fx->jobs = jobs_new(&config);
    assert_non_null(fx->jobs);
    assert_int_equal(jobs_register(fx->jobs, "count", handle_count, fx), 0);
    assert_int_equal(jobs_register(fx->jobs, "flaky", handle_flaky, fx), 0);
    assert_int_equal(jobs_register(fx->jobs, "always_fail", handle_always_fail, fx), 0);
    assert_int_equal(jobs_register(fx->jobs, "unknown", handle_unknown, fx), 0);
    assert_int_equal(jobs_register(fx->jobs, "fail", handle_fail, fx), 0);
    assert_int_equal(jobs_register(fx->jobs, "retry_after", handle_retry_after, fx), 0);
    assert_int_equal(jobs_register(fx->jobs, "effect", handle_effect, fx), 0);
    assert_int_equal(jobs_register(fx->jobs, "blocking", handle_blocking, fx), 0);
    assert_int_equal(jobs_register(fx->jobs, "mortal", handle_mortal, fx), 0);
    assert_int_equal(jobs_on_dead(fx->jobs, "mortal", mortal_dead), 0);
    assert_int_equal(jobs_on_dead(fx->jobs, "nobody_registered_this", mortal_dead), -1);
    assert_int_equal(jobs_register(fx->jobs, "slow_poll", handle_slow_poll, fx), 0);
    assert_int_equal(jobs_register(fx->jobs, "count", handle_count, fx), -1); /* duplicate */
    assert_int_equal(jobs_start(fx->jobs), 0);
}

static void start_jobs(fixture_t *fx)
{
    jobs_config_t config = {.workers = 2,
                            .lease_ms = LEASE_MS,
                            .poll_ms = 50,
                            .backoff_base_ms = 20,
                            .backoff_max_ms = 100};
    start_jobs_with(fx, config);
}

/* ------------------------------------------------------------------ */
/* tests                                                                */

static void test_enqueue_runs_once(void **state)
{
    fixture_t *fx = *state;
    start_jobs(fx);
    /* a job enqueued in a transaction that rolls back never existed */
    job_spec_t spec = {.kind = "count"};
    assert_int_equal(db_begin(fx->db), DB_OK);
    int64_t ghost = 0;
    assert_int_equal(jobs_enqueue(fx->db, &spec, NULL, &ghost), DB_OK);
    db_rollback(fx->db);

    int64_t id = enqueue(fx, "count", "{\"to\":\"+79990000000\"}", 0, 0);
    wait_job_state(fx, id, "done");
    assert_int_equal(atomic_load(&fx->probe.calls), 1);
    assert_job(fx, id, "outcome", "done");
    assert_job(fx, id, "attempts", "1");
    assert_job(fx, id, "max_attempts", "10");
    assert_job(fx, id, "started_at IS NOT NULL AND finished_at >= started_at", "t");
    assert_job(fx, id, "lease_until IS NULL", "t");
    assert_job(fx, id, "payload->>'to'", "+79990000000");
    assert_int_equal(query_i64(fx, "SELECT count(*) FROM jobs"), 1);
    assert_true(counter_value("jobs_completed_total", "kind=\"count\",outcome=\"done\"") >= 1);
}

static void test_dedup_key(void **state)
{
    fixture_t *fx = *state;
    start_jobs(fx);
    job_spec_t spec = {.kind = "count", .dedup_key = "sms:order-42:confirmed"};
    bool created = false;
    int64_t first = 0, second = 0;
    assert_int_equal(jobs_enqueue(fx->db, &spec, &created, &first), DB_OK);
    assert_true(created);
    assert_int_equal(jobs_enqueue(fx->db, &spec, &created, &second), DB_OK);
    assert_false(created);
    assert_int_equal(first, second);
    jobs_wake(fx->jobs);
    wait_job_state(fx, first, "done");
    /* once done, the key still makes a repeat a no-op */
    assert_int_equal(jobs_enqueue(fx->db, &spec, &created, &second), DB_OK);
    assert_false(created);
    assert_int_equal(first, second);
    assert_int_equal(query_i64(fx, "SELECT count(*) FROM jobs"), 1);
    assert_int_equal(atomic_load(&fx->probe.calls), 1);
}

static void test_deferred_enqueue_waits_for_commit(void **state)
{
    fixture_t *fx = *state;
    start_jobs(fx);
    job_spec_t spec = {.kind = "count", .dedup_key = "deferred:1"};
    assert_int_equal(db_begin(fx->db), DB_OK);
    assert_int_equal(jobs_enqueue_deferred(fx->db, &spec), DB_OK);
    assert_int_equal(jobs_enqueue_deferred(fx->db, &spec), DB_OK); /* the same key again */
    job_spec_t other = {.kind = "count", .dedup_key = "deferred:2"};
    assert_int_equal(jobs_enqueue_deferred(fx->db, &other), DB_OK);
    /* nothing is there before COMMIT ... */
    assert_int_equal(query_i64(fx, "SELECT count(*) FROM jobs"), 0);
    assert_int_equal(db_commit(fx->db), DB_OK);
    /* ... then one job per key, and both run */
    assert_int_equal(query_i64(fx, "SELECT count(*) FROM jobs"), 2);
    int64_t id = query_i64(fx, "SELECT id FROM jobs WHERE dedup_key = 'deferred:2'");
    wait_job_state(fx, id, "done");
    wait_job_state(fx, query_i64(fx, "SELECT id FROM jobs WHERE dedup_key = 'deferred:1'"), "done");
    assert_int_equal(atomic_load(&fx->probe.calls), 2);
    /* a rolled-back transaction enqueues nothing */
    job_spec_t lost = {.kind = "count", .dedup_key = "deferred:3"};
    assert_int_equal(db_begin(fx->db), DB_OK);
    assert_int_equal(jobs_enqueue_deferred(fx->db, &lost), DB_OK);
    db_rollback(fx->db);
    assert_int_equal(query_i64(fx, "SELECT count(*) FROM jobs"), 2);
}

static void test_retry_with_backoff_then_success(void **state)
{
    fixture_t *fx = *state;
    start_jobs(fx);
    uint64_t retried_before = counter_value("jobs_retried_total", "kind=\"flaky\"");
    int64_t id = enqueue(fx, "flaky", NULL, 5, 0);
    wait_job_state(fx, id, "done");
    assert_int_equal(atomic_load(&fx->probe.calls), 3);
    assert_job(fx, id, "attempts", "3");
    assert_job(fx, id, "outcome", "done");
    /* the last failure is kept for the record */
    assert_job(fx, id, "last_error", "flaky");
    assert_job(fx, id, "last_error_detail", "attempt 2 fails on purpose");
    /* each retry moved run_at forward from when the attempt failed */
    int64_t first = atomic_load(&fx->probe.run_at_ms[1]);
    int64_t second = atomic_load(&fx->probe.run_at_ms[2]);
    int64_t third = atomic_load(&fx->probe.run_at_ms[3]);
    assert_true(first > 0 && second > first && third > second);
    /* full jitter under a 20 ms base and a 100 ms cap */
    assert_true(third - second <= 100 + 1000);
    assert_int_equal(counter_value("jobs_retried_total", "kind=\"flaky\"") - retried_before, 2);
}

static void test_always_failing_dies_after_max_attempts(void **state)
{
    fixture_t *fx = *state;
    start_jobs(fx);
    int64_t id = enqueue(fx, "always_fail", NULL, 3, 0);
    wait_job_state(fx, id, "dead");
    assert_int_equal(atomic_load(&fx->probe.calls), 3);
    assert_job(fx, id, "attempts", "3");
    assert_job(fx, id, "outcome", "failed");
    assert_job(fx, id, "last_error", "upstream_down");
    assert_job(fx, id, "last_error_detail", "the upstream answered 503 on attempt 3");
    assert_job(fx, id, "finished_at IS NOT NULL", "t");
}

static void test_unknown_outcome_and_permanent_failure(void **state)
{
    fixture_t *fx = *state;
    start_jobs(fx);
    int64_t unknown = enqueue(fx, "unknown", NULL, 5, 0);
    int64_t failed = enqueue(fx, "fail", NULL, 5, 0);
    wait_job_state(fx, unknown, "dead");
    wait_job_state(fx, failed, "dead");
    assert_job(fx, unknown, "outcome", "outcome_unknown");
    assert_job(fx, unknown, "attempts", "1");
    assert_job(fx, unknown, "last_error", "sms_maybe_sent");
    assert_job(fx, failed, "outcome", "failed");
    assert_job(fx, failed, "attempts", "1");
    assert_job(fx, failed, "last_error", "handler_failed");
    assert_int_equal(atomic_load(&fx->probe.calls), 2);
}

static void test_unknown_kind_is_dead(void **state)
{
    fixture_t *fx = *state;
    start_jobs(fx);
    int64_t id = enqueue(fx, "nobody_handles_this", NULL, 5, 0);
    wait_job_state(fx, id, "dead");
    assert_job(fx, id, "outcome", "failed");
    assert_job(fx, id, "last_error", "unknown_kind");
    assert_job(fx, id, "last_error_detail",
               "no handler is registered for job kind nobody_handles_this");
    assert_int_equal(atomic_load(&fx->probe.calls), 0);
}

static void test_a_kinds_death_commits_with_its_effects(void **state)
{
    fixture_t *fx = *state;
    start_jobs(fx);
    /* the handler gives up: the hook's effect and "dead" are one commit */
    int64_t failed = enqueue(fx, "mortal", NULL, 5, 0);
    wait_job_state(fx, failed, "dead");
    assert_job(fx, failed, "outcome", "failed");
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM effects WHERE job_id = %lld AND NOT resumed",
             (long long)failed);
    assert_int_equal(query_i64(fx, sql), 1);
    /* the kit gives up (its workers lost through every attempt, the last one
     * started): the hook runs though the handler never does, outcome_unknown */
    int64_t lost = query_i64(
        fx, "INSERT INTO jobs (kind, state, attempts, max_attempts, lease_token, lease_until, "
            "started_at) VALUES ('mortal', 'running', 2, 2, gen_random_uuid(), "
            "now() - interval '1 minute', now() - interval '2 minutes') RETURNING id");
    jobs_wake(fx->jobs);
    wait_job_state(fx, lost, "dead");
    assert_job(fx, lost, "outcome", "outcome_unknown");
    assert_job(fx, lost, "last_error", "attempts_exhausted");
    snprintf(sql, sizeof sql, "SELECT count(*) FROM effects WHERE job_id = %lld AND resumed",
             (long long)lost);
    assert_int_equal(query_i64(fx, sql), 1);
    assert_int_equal(atomic_load(&fx->probe.calls), 1);
    /* a hook that fails leaves the job undead: taken again when its lease ends */
    int64_t refused = enqueue(fx, "mortal", "{\"refuse\":true}", 5, 0);
    wait_for_int(&fx->probe.blocked, 1);
    sleep_ms(200);
    assert_job(fx, refused, "state", "running");
    snprintf(sql, sizeof sql, "SELECT count(*) FROM effects WHERE job_id = %lld",
             (long long)refused);
    assert_int_equal(query_i64(fx, sql), 0);
}

static void test_timer_waits_for_business_time(void **state)
{
    fixture_t *fx = *state;
    start_jobs(fx);
    int64_t timer = enqueue(fx, "count", NULL, 0, clock_now_ms() + HOUR_MS);
    int64_t now = enqueue(fx, "count", NULL, 0, 0);
    wait_job_state(fx, now, "done");
    /* the workers have leased since the timer was queued: several polls
     * later it still waits */
    for (int i = 0; i < 5; i++) {
        assert_job(fx, timer, "state", "queued");
        sleep_ms(50);
    }
    assert_job(fx, timer, "attempts", "0");
    assert_int_equal(atomic_load(&fx->probe.calls), 1);

    assert_int_equal(clock_advance_ms(HOUR_MS + 1000), 0);
    jobs_wake(fx->jobs);
    wait_job_state(fx, timer, "done");
    assert_int_equal(atomic_load(&fx->probe.calls), 2);
}

static void test_retry_after_is_honoured(void **state)
{
    fixture_t *fx = *state;
    start_jobs(fx);
    int64_t asked_at = clock_now_ms();
    int64_t id = enqueue(fx, "retry_after", NULL, 0, 0);
    wait_for_int(&fx->probe.calls, 1);
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT run_at >= to_timestamp(%lld / 1000.0) FROM jobs WHERE id = %lld AND "
             "attempts = 1",
             (long long)(asked_at + HOUR_MS), (long long)id);
    wait_for_sql(fx, sql, "t");
    assert_job(fx, id, "last_error", "rate_limited");
    assert_int_equal(clock_advance_ms(HOUR_MS + 1000), 0);
    jobs_wake(fx->jobs);
    wait_job_state(fx, id, "done");
    assert_job(fx, id, "attempts", "2");
}

/* jobs_run_now: a timer an hour away runs now; a job woken while it runs
 * runs again as soon as its attempt ends, not after the hour its attempt
 * asked for; a done job, another kind or an unknown key is left alone. */
static void test_run_now(void **state)
{
    fixture_t *fx = *state;
    start_jobs(fx);
    job_spec_t timer = {
        .kind = "count", .dedup_key = "poll:timer", .run_at_ms = clock_now_ms() + HOUR_MS};
    int64_t timer_id = 0;
    assert_int_equal(jobs_enqueue(fx->db, &timer, NULL, &timer_id), DB_OK);
    bool woken = true;
    assert_int_equal(jobs_run_now(fx->db, "count", "poll:none", &woken), DB_OK);
    assert_false(woken);
    assert_int_equal(jobs_run_now(fx->db, "flaky", "poll:timer", &woken), DB_OK);
    assert_false(woken); /* the key is another kind's */
    assert_job(fx, timer_id, "state", "queued");
    assert_int_equal(jobs_run_now(fx->db, "count", "poll:timer", &woken), DB_OK);
    assert_true(woken);
    wait_job_state(fx, timer_id, "done"); /* no business time moved */
    assert_int_equal(jobs_run_now(fx->db, "count", "poll:timer", &woken), DB_OK);
    assert_false(woken); /* done: left alone */
    assert_job(fx, timer_id, "attempts", "1");

    job_spec_t poll = {.kind = "slow_poll", .dedup_key = "poll:running"};
    int64_t poll_id = 0;
    assert_int_equal(jobs_enqueue(fx->db, &poll, NULL, &poll_id), DB_OK);
    jobs_wake(fx->jobs);
    wait_for_int(&fx->probe.blocked, 1);
    assert_job(fx, poll_id, "state", "running");
    assert_int_equal(jobs_run_now(fx->db, "slow_poll", "poll:running", &woken), DB_OK);
    assert_true(woken);
    atomic_store(&fx->probe.release, true);
    wait_for_int(&fx->probe.first_returned, 1);
    /* the attempt asked for an hour; the wake it got meanwhile wins */
    wait_job_state(fx, poll_id, "done");
    assert_job(fx, poll_id, "attempts", "2");
    assert_job(fx, poll_id, "wake_requested", "f");
}

static void test_notify_wakes_a_polling_worker(void **state)
{
    fixture_t *fx = *state;
    jobs_config_t config = {.workers = 1, .poll_ms = 60000};
    start_jobs_with(fx, config);
    /* enqueued on another session and never jobs_wake()d: only NOTIFY (or
     * the listener's wake once it listens) can bring the worker */
    job_spec_t spec = {.kind = "count"};
    int64_t id = 0;
    int64_t started = clock_mono_ms();
    assert_int_equal(jobs_enqueue(fx->db, &spec, NULL, &id), DB_OK);
    wait_job_state(fx, id, "done");
    assert_true(clock_mono_ms() - started < 10000);
    /* and again, once the listener surely listens */
    int64_t second = 0;
    started = clock_mono_ms();
    assert_int_equal(jobs_enqueue(fx->db, &spec, NULL, &second), DB_OK);
    wait_job_state(fx, second, "done");
    assert_true(clock_mono_ms() - started < 10000);
}

static void test_effects_commit_with_done(void **state)
{
    fixture_t *fx = *state;
    start_jobs(fx);
    int64_t done = enqueue(fx, "effect", "{\"then\":\"done\"}", 0, 0);
    int64_t failed = enqueue(fx, "effect", "{\"then\":\"fail\"}", 0, 0);
    int64_t again = enqueue(fx, "effect", "{\"then\":\"retry_once\"}", 0, 0);
    wait_job_state(fx, done, "done");
    wait_job_state(fx, failed, "dead");
    wait_job_state(fx, again, "done");
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM effects WHERE job_id = %lld", (long long)done);
    assert_int_equal(query_i64(fx, sql), 1);
    /* the effect of a job that failed rolled back with it */
    snprintf(sql, sizeof sql, "SELECT count(*) FROM effects WHERE job_id = %lld",
             (long long)failed);
    assert_int_equal(query_i64(fx, sql), 0);
    assert_job(fx, failed, "outcome", "failed");
    /* the effect of the attempt that asked for a retry rolled back too */
    snprintf(sql, sizeof sql,
             "SELECT string_agg(attempt::text, ',') FROM effects WHERE job_id = %lld",
             (long long)again);
    char attempts[64];
    query_text(fx, sql, attempts, sizeof attempts);
    assert_string_equal(attempts, "2");
    assert_job(fx, again, "attempts", "2");
}

static void test_lease_expiry_resumes_and_the_old_worker_cannot_complete(void **state)
{
    fixture_t *fx = *state;
    start_jobs(fx);
    uint64_t lost_before = counter_value("jobs_lease_lost_total", "kind=\"blocking\"");
    int64_t id = enqueue(fx, "blocking", NULL, 0, 0);
    wait_for_int(&fx->probe.blocked, 1);
    /* started_at was committed before the handler was called */
    assert_job(fx, id, "state", "running");
    assert_job(fx, id, "started_at IS NOT NULL", "t");

    /* the lease runs out in business time; the other worker takes the job */
    assert_int_equal(clock_advance_ms(LEASE_MS + 1000), 0);
    jobs_wake(fx->jobs);
    wait_job_state(fx, id, "done");
    assert_int_equal(atomic_load(&fx->probe.resumed_calls), 1);
    assert_job(fx, id, "attempts", "2");

    /* the first worker wakes up: it can neither keep nor complete the job */
    atomic_store(&fx->probe.release, true);
    wait_for_int(&fx->probe.first_returned, 1);
    assert_int_equal(atomic_load(&fx->probe.keepalive_status), DB_ERROR);
    assert_int_equal(atomic_load(&fx->probe.finish_status), DB_ERROR);
    int64_t deadline = clock_mono_ms() + WAIT_MS;
    while (counter_value("jobs_lease_lost_total", "kind=\"blocking\"") == lost_before &&
           clock_mono_ms() < deadline)
        sleep_ms(10);
    assert_int_equal(counter_value("jobs_lease_lost_total", "kind=\"blocking\"") - lost_before, 1);
    /* its JOB_RETRY changed nothing */
    assert_job(fx, id, "state", "done");
    assert_job(fx, id, "outcome", "done");
    assert_job(fx, id, "attempts", "2");
    assert_int_equal(query_i64(fx, "SELECT count(*) FROM effects"), 1);
    assert_int_equal(query_i64(fx, "SELECT count(*) FROM effects WHERE resumed AND attempt = 2"),
                     1);
}

static void *destroy_thread(void *arg)
{
    fixture_t *fx = arg;
    jobs_destroy(&fx->jobs);
    return NULL;
}

static void test_stop_lets_the_running_handler_finish(void **state)
{
    fixture_t *fx = *state;
    start_jobs(fx);
    int64_t id = enqueue(fx, "blocking", "{\"then\":\"done\"}", 0, 0);
    int64_t later = enqueue(fx, "count", NULL, 0, clock_now_ms() + HOUR_MS);
    wait_for_int(&fx->probe.blocked, 1);
    pthread_t stopper;
    assert_int_equal(pthread_create(&stopper, NULL, destroy_thread, fx), 0);
    /* the handler still owns its lease while the stop waits for it */
    sleep_ms(100);
    assert_job(fx, id, "state", "running");
    atomic_store(&fx->probe.release, true);
    pthread_join(stopper, NULL);
    assert_null(fx->jobs);
    assert_int_equal(atomic_load(&fx->probe.first_returned), 1);
    /* it completed (its lease held) and nothing else was left leased */
    assert_job(fx, id, "state", "done");
    assert_int_equal(atomic_load(&fx->probe.finish_status), DB_OK);
    assert_job(fx, later, "state", "queued");
    assert_int_equal(query_i64(fx, "SELECT count(*) FROM jobs WHERE state = 'running'"), 0);
}

int main(void)
{
    super_url = getenv("TEST_DATABASE_URL");
    if (!super_url || !super_url[0]) {
        fprintf(stderr, "test_jobs: TEST_DATABASE_URL is not set (a superuser's URL)\n");
        return 1;
    }
    log_init("test_jobs", LOG_WARN);
    clock_enable_test_offset(true);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_enqueue_runs_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dedup_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_now, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deferred_enqueue_waits_for_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_with_backoff_then_success, setup, teardown),
        cmocka_unit_test_setup_teardown(test_always_failing_dies_after_max_attempts, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_unknown_outcome_and_permanent_failure, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_unknown_kind_is_dead, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_kinds_death_commits_with_its_effects, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_timer_waits_for_business_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_after_is_honoured, setup, teardown),
        cmocka_unit_test_setup_teardown(test_notify_wakes_a_polling_worker, setup, teardown),
        cmocka_unit_test_setup_teardown(test_effects_commit_with_done, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_lease_expiry_resumes_and_the_old_worker_cannot_complete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_lets_the_running_handler_finish, setup, teardown),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    metrics_shutdown();
    return failed;
}
