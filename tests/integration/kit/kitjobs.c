/*
 * kitjobs.c — the kit's job-queue exerciser, for tests/integration/test_jobs.sh:
 * real processes enqueueing and running common/jobs.h jobs, every effect
 * recorded in kit_job_effects so the test can prove "exactly once" with SQL.
 *
 *   kitjobs enqueue N
 *       enqueues jobs 1..N of kind "kit_effect" (dedup key kitjobs-<n>, so
 *       running it again adds nothing) in transactions of 500, on the
 *       runtime role's DATABASE_URL. Job n fails on purpose:
 *         n % 1000 == 7  always (max_attempts 3): it must end dead;
 *         n % 10 == 3    on its first 2 attempts, then succeeds;
 *       the others succeed at once. Payload {"n", "fail_times",
 *       "enqueued_at_ms"}. Prints one "enqueued ..." line.
 *   kitjobs serve
 *       a service on common/service.h whose job workers run "kit_effect":
 *       wait KITJOBS_WORK_MS (the outside call), fail as planned, or open
 *       the completion transaction and insert the effect row in it. With
 *       KITJOBS_BATCH=N (> 0) the kind is a batch kind (jobs_register_batch):
 *       a worker takes up to N jobs at once, keeps their leases alive
 *       together, waits KITJOBS_WORK_MS once for all and completes each
 *       (jobs_complete); the effect row says how many the batch held.
 *       With KITJOBS_TOGETHER=true as well, the batch records the effects of
 *       all its jobs in one completion transaction (jobs_begin_finish_many,
 *       jobs_finish_many), and gives the last job of a batch of several
 *       back unstarted once (jobs_release, noted in kit_job_released).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/jobs.h"
#include "common/log.h"
#include "common/numparse.h"
#include "common/service.h"

extern const migration_set_t app_migrations;

#define KIND            "kit_effect"
#define ENQUEUE_BATCH   500
#define DYING_EVERY     1000
#define DYING_REMAINDER 7
#define DYING_ATTEMPTS  3
#define FLAKY_EVERY     10
#define FLAKY_REMAINDER 3
#define FLAKY_FAILURES  2

static const config_spec_t kitjobs_specs[] = {
    {"KITJOBS_WORK_MS", "0", false, "how long each job's pretend outside call takes"},
    {"KITJOBS_BATCH", "0", false, "0: one job per call; N: up to N jobs per batch"},
    {"KITJOBS_TOGETHER", "false", false,
     "a batch's effects in one transaction, and a job given back unstarted now and then"},
    CONFIG_SPEC_END,
};

typedef struct {
    int64_t work_ms;
    int64_t batch;
    bool together;
} kitjobs_t;

/* ------------------------------------------------------------------ */
/* serve                                                                */

static int prepare(db_t *db, void *arg)
{
    (void)arg;
    if (db_prepare(db, "kitjobs_released",
                   "INSERT INTO kit_job_released (job_id, attempt) VALUES ($1, $2) "
                   "ON CONFLICT DO NOTHING RETURNING 1") != 0)
        return -1;
    return db_prepare(db, "kitjobs_effect",
                      "INSERT INTO kit_job_effects (job_id, n, worker_pid, attempt, resumed, "
                      "run_at_ms, batch_size) VALUES ($1, $2, $3, $4, $5, $6, $7)");
}

static void pause_ms(int64_t ms)
{
    if (ms > 0) {
        struct timespec pause = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
        nanosleep(&pause, NULL);
    }
}

static job_outcome_t record_effect(job_run_t *run, json_int_t n, size_t batch_size);

/* One job: fail as planned or record its effect (batch_size: of its batch;
 * 0 when it runs alone and waits its own work_ms). together: only decide,
 * JOB_DONE meaning "record its effect" (*n_out) in the batch's transaction. */
static job_outcome_t kit_effect(job_run_t *run, size_t batch_size, bool together, json_int_t *n_out)
{
    const kitjobs_t *kit = job_run_arg(run);
    const job_t *job = job_run_job(run);
    json_error_t error;
    json_t *payload = json_loads(job->payload, 0, &error);
    json_int_t n = json_integer_value(json_object_get(payload, "n"));
    *n_out = n;
    json_t *fail_times = json_object_get(payload, "fail_times");
    job_outcome_t outcome = JOB_DONE;
    if (!payload || n < 1 || !json_is_integer(fail_times)) {
        job_run_error(run, "bad_payload", "job %lld has no n or fail_times", (long long)job->id);
        outcome = JOB_FAIL;
        goto done;
    }
    if (batch_size == 0)
        pause_ms(kit->work_ms);
    json_int_t failures = json_integer_value(fail_times);
    if (failures < 0 || job->attempt <= failures) {
        job_run_error(run, "kit_planned_failure", "job %lld fails on purpose on attempt %d",
                      (long long)n, job->attempt);
        outcome = JOB_RETRY;
        goto done;
    }
    if (together) {
        outcome = JOB_DONE; /* the caller opened the transaction; the effect next */
        goto done;
    }
    db_status_t status = jobs_begin_finish(run);
    if (status != DB_OK) {
        /* DB_ERROR: the lease is lost and the kit says so; transient: later */
        if (status == DB_TRANSIENT)
            job_run_error(run, "pg_unavailable", "%s", db_errmsg(job_run_db(run)));
        outcome = JOB_RETRY;
        goto done;
    }
    outcome = record_effect(run, n, batch_size);
done:
    json_decref(payload);
    return outcome;
}

/* The effect row of job n, in the open completion transaction. */
static job_outcome_t record_effect(job_run_t *run, json_int_t n, size_t batch_size)
{
    const job_t *job = job_run_job(run);
    db_params_t params;
    db_params_init(&params);
    db_param_i64(&params, job->id);
    db_param_i64(&params, n);
    db_param_i64(&params, getpid());
    db_param_i64(&params, job->attempt);
    db_param_bool(&params, job->resumed);
    db_param_i64(&params, job->run_at_ms);
    db_param_i64(&params, batch_size > 0 ? (int64_t)batch_size : 1);
    db_status_t status = db_run(job_run_db(run), "kitjobs_effect", &params, NULL);
    if (status != DB_OK) {
        job_run_error(run, status == DB_TRANSIENT ? "pg_unavailable" : "pg_error",
                      "could not record the effect of job %lld: %s", (long long)n,
                      db_errmsg(job_run_db(run)));
        return JOB_RETRY;
    }
    return JOB_DONE;
}

static job_outcome_t run_kit_effect(job_run_t *run)
{
    json_int_t n = 0;
    return kit_effect(run, 0, false, &n);
}

/* Gives run back unstarted unless it was once already: true if it went. */
static bool release_once(job_run_t *run)
{
    db_params_t params;
    db_params_init(&params);
    db_param_i64(&params, job_run_job(run)->id);
    db_param_i64(&params, job_run_job(run)->attempt);
    int64_t rows = 0;
    if (db_run_count(job_run_db(run), "kitjobs_released", &params, &rows) != DB_OK || rows != 1)
        return false;
    jobs_release(run);
    return true;
}

/* The effects of a batch in one completion transaction. */
static void run_together(job_run_t *const *runs, size_t count)
{
    job_run_t *ending[JOBS_BATCH_MAX];
    json_int_t numbers[JOBS_BATCH_MAX];
    size_t ends = 0;
    for (size_t i = 0; i < count; i++) {
        if (count > 1 && i == count - 1 && !job_run_job(runs[i])->resumed && release_once(runs[i]))
            continue;
        json_int_t n = 0;
        job_outcome_t outcome = kit_effect(runs[i], count, true, &n);
        if (outcome != JOB_DONE) {
            jobs_complete(runs[i], outcome);
            continue;
        }
        numbers[ends] = n;
        ending[ends++] = runs[i];
    }
    if (ends == 0)
        return;
    db_status_t status = jobs_begin_finish_many(ending, ends);
    for (size_t i = 0; status == DB_OK && i < ends; i++)
        if (!job_run_lease_lost(ending[i]) &&
            record_effect(ending[i], numbers[i], count) != JOB_DONE)
            status = DB_ERROR;
    if (status == DB_OK)
        status = jobs_finish_many(ending, ends);
    if (status == DB_OK)
        return;
    if (db_in_tx(job_run_db(ending[0])))
        db_rollback(job_run_db(ending[0]));
    /* each on its own then (a lost lease: the kit says so) */
    for (size_t i = 0; i < ends; i++) {
        if (job_run_lease_lost(ending[i])) {
            jobs_complete(ending[i], JOB_RETRY);
            continue;
        }
        json_int_t n = 0;
        jobs_complete(ending[i], kit_effect(ending[i], count, false, &n));
    }
}

static void run_kit_batch(job_run_t *const *runs, size_t count, void *arg)
{
    const kitjobs_t *kit = arg;
    pause_ms(kit->work_ms); /* the calls of the whole batch at once */
    if (jobs_keepalive_many(runs, count) == DB_TRANSIENT) {
        for (size_t i = 0; i < count; i++) {
            job_run_error(runs[i], "pg_unavailable", "the batch's keepalive failed");
            jobs_complete(runs[i], JOB_RETRY);
        }
        return;
    }
    if (kit->together) {
        run_together(runs, count);
        return;
    }
    /* a run whose lease was lost cannot complete: the kit says so */
    for (size_t i = 0; i < count; i++) {
        json_int_t n = 0;
        jobs_complete(runs[i], kit_effect(runs[i], count, false, &n));
    }
}

static int serve(int argc, char **argv)
{
    service_def_t def = {
        .name = "kitjobs",
        .schema = "kitjobs",
        .http_addr = "127.0.0.1:28111",
        .replay_addr = "tcp://127.0.0.1:25611",
        .config = kitjobs_specs,
        .migrations = &app_migrations,
        .db_setup = prepare,
    };
    service_t *svc = service_new(&def, argc, argv);
    if (!svc)
        return 1;
    kitjobs_t kit = {0};
    if (config_get_int(service_config(svc), "KITJOBS_WORK_MS", 0, 60000, &kit.work_ms) != 0 ||
        config_get_int(service_config(svc), "KITJOBS_BATCH", 0, JOBS_BATCH_MAX, &kit.batch) != 0 ||
        config_get_bool(service_config(svc), "KITJOBS_TOGETHER", &kit.together) != 0 ||
        (kit.batch > 0
             ? jobs_register_batch(service_jobs(svc), KIND, (int)kit.batch, run_kit_batch, &kit)
             : jobs_register(service_jobs(svc), KIND, run_kit_effect, &kit)) != 0) {
        service_destroy(&svc);
        return 1;
    }
    int status = service_run(svc);
    service_destroy(&svc);
    return status;
}

/* ------------------------------------------------------------------ */
/* enqueue                                                              */

/* Enqueues jobs first..last in one transaction; adds to the counters only
 * once it committed. */
static db_status_t enqueue_batch(db_t *db, int64_t first, int64_t last, int64_t *created_out,
                                 int64_t *flaky_out, int64_t *dying_out)
{
    int64_t created = 0, flaky = 0, dying = 0;
    db_status_t status = db_begin(db);
    for (int64_t n = first; n <= last && status == DB_OK; n++) {
        int fail_times = 0, max_attempts = 0;
        if (n % DYING_EVERY == DYING_REMAINDER) {
            fail_times = -1;
            max_attempts = DYING_ATTEMPTS;
        } else if (n % FLAKY_EVERY == FLAKY_REMAINDER) {
            fail_times = FLAKY_FAILURES;
        }
        char payload[128], dedup_key[64];
        snprintf(payload, sizeof payload, "{\"n\":%lld,\"fail_times\":%d,\"enqueued_at_ms\":%lld}",
                 (long long)n, fail_times, (long long)clock_now_ms());
        snprintf(dedup_key, sizeof dedup_key, "kitjobs-%lld", (long long)n);
        job_spec_t spec = {
            .kind = KIND, .payload = payload, .max_attempts = max_attempts, .dedup_key = dedup_key};
        bool created_now = false;
        status = jobs_enqueue(db, &spec, &created_now, NULL);
        if (created_now) {
            created++;
            flaky += fail_times > 0;
            dying += fail_times < 0;
        }
    }
    if (status == DB_OK)
        status = db_commit(db);
    if (status != DB_OK) {
        db_rollback(db);
        return status;
    }
    *created_out += created;
    *flaky_out += flaky;
    *dying_out += dying;
    return DB_OK;
}

static int enqueue(const char *count_text)
{
    int64_t count = 0;
    if (numparse_int_range(count_text, 1, 10000000, &count) != 0) {
        fprintf(stderr, "kitjobs: N must be a number from 1 to 10000000, not %s\n", count_text);
        return 2;
    }
    const char *dsn = getenv("DATABASE_URL");
    if (!dsn || !dsn[0]) {
        fprintf(stderr, "kitjobs: DATABASE_URL is not set\n");
        return 2;
    }
    log_init("kitjobs", LOG_INFO);
    db_t *db = db_new(dsn, "kitjobs-enqueue");
    if (!db)
        return 1;
    int rc = 0, transient_failures = 0;
    int64_t created = 0, flaky = 0, dying = 0, started_ms = clock_mono_ms();
    for (int64_t first = 1; first <= count;) {
        int64_t last = first + ENQUEUE_BATCH - 1 < count ? first + ENQUEUE_BATCH - 1 : count;
        db_status_t status = enqueue_batch(db, first, last, &created, &flaky, &dying);
        if (status == DB_TRANSIENT && ++transient_failures < 20) {
            usleep(250000);
            continue; /* the same batch again: dedup keys make it safe */
        }
        if (status != DB_OK) {
            log_error("could not enqueue jobs", LF_INT("first", first), LF_INT("last", last),
                      LF_STR("pg", db_errmsg(db)), LF_ERR("pg_error"));
            rc = 1;
            break;
        }
        first = last + 1;
    }
    db_destroy(&db);
    printf("enqueued total=%lld created=%lld flaky=%lld dying=%lld ms=%lld\n", (long long)count,
           (long long)created, (long long)flaky, (long long)dying,
           (long long)(clock_mono_ms() - started_ms));
    return rc;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "enqueue") == 0)
        return enqueue(argv[2]);
    if (argc >= 2 && (strcmp(argv[1], "serve") == 0 || strcmp(argv[1], "--help") == 0))
        return serve(argc, argv);
    fprintf(stderr, "usage: kitjobs serve | kitjobs enqueue N\n");
    return 2;
}
