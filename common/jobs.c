/*
 * jobs.c — the durable job queue: worker threads that lease due rows of the
 * schema's `jobs` table and record what became of them (jobs.h).
 *
 * Why a table and not the bus: a job must survive every process, be taken
 * by exactly one worker of any replica at a time, wait until a given time
 * (timers, backoff) and end in a state an operator can read. PostgreSQL
 * gives all of that with one row per job and FOR UPDATE SKIP LOCKED.
 *
 * Life of a row (every state change below is one short statement, and every
 * one after the lease is conditional on the lease token, so a worker that
 * lost its lease can no longer change anything):
 *
 *   queued  --lease-->  running  --start (started_at committed)--> handler
 *   handler JOB_DONE    -> done, outcome done (in the handler's completion
 *                          transaction when it opened one: exactly-once)
 *   handler JOB_RETRY   -> queued again at now + backoff, or dead/failed
 *                          after max_attempts
 *   handler JOB_FAIL    -> dead, outcome failed
 *   handler JOB_UNKNOWN -> dead, outcome outcome_unknown
 *   lease runs out      -> taken again by any worker; "resumed" if started
 *
 * Time: run_at, lease_until, started_at and finished_at come from the
 * business clock (clock_now_ms), passed to SQL as parameters, never from
 * the server's now(): a test that advances business time makes timers and
 * backoffs due, and expires leases, without sleeping. Replicas compare
 * leases through the table, so the clock must be a wall clock, not the
 * monotonic one.
 *
 * Threads: `workers` worker threads, each with its own session, and one
 * listener thread that LISTENs on conveyor_jobs_<schema> (NOTIFY sent by
 * jobs_enqueue, delivered at commit) and wakes the workers, refreshes the
 * due-queue gauge and purges old done jobs (DESIGN.md "Retention"; dead
 * jobs are kept for an operator). Workers otherwise poll every poll_ms.
 */
#include "common/jobs.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "common/bulk.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/strbuf.h"
#include "common/uuid.h"

#define JOBS_DEFAULT_WORKERS      2
#define JOBS_DEFAULT_LEASE_MS     60000
#define JOBS_DEFAULT_POLL_MS      500
#define JOBS_DEFAULT_BACKOFF_MS   1000
#define JOBS_DEFAULT_BACKOFF_MAX  3600000
#define JOBS_DEFAULT_MAX_ATTEMPTS 10
#define JOBS_RETENTION_MS         (7LL * 24 * 3600 * 1000) /* DESIGN.md "Retention" */
#define JOBS_PURGE_EVERY_MS       (3600LL * 1000)
#define JOBS_PURGE_FIRST_MS       (60LL * 1000)
#define JOBS_PURGE_BATCH          1000
#define JOBS_GAUGE_EVERY_MS       5000
#define JOBS_DB_AWAY_WAIT_MS      1000
#define JOBS_RECORD_PATIENCE_MS   10000
#define JOBS_KIND_MAX             64
#define JOBS_ERROR_CODE_MAX       64
#define JOBS_ERROR_DETAIL_MAX     1024

/* A business-clock time in unix ms, as a timestamptz parameter. */
#define TS(n) "to_timestamp($" #n "::float8 / 1000)"

/* The NOTIFY channel of the schema the session works in. Enqueuers know
 * only their session, so both sides derive it from current_schema(); a
 * name over PostgreSQL's 63 bytes is replaced by a hash of the schema. */
#define CHANNEL_SQL                                                                                \
    "CASE WHEN octet_length('conveyor_jobs_' || current_schema()) <= 63 "                          \
    "THEN 'conveyor_jobs_' || current_schema() "                                                   \
    "ELSE 'conveyor_jobs_' || md5(current_schema()) END"

/* Every statement of the queue, here and nowhere else. */
typedef struct {
    const char *name;
    const char *sql;
} statement_def_t;

#define COUNT_OF(array) (sizeof(array) / sizeof((array)[0]))

/* On any session an enqueuer hands us. */
static const statement_def_t enqueue_statements[] = {
    {"jobs_insert",
     "INSERT INTO jobs (kind, payload, run_at, max_attempts, dedup_key) "
     "VALUES ($1, $2::jsonb, " TS(3) ", $4, $5) "
                                     "ON CONFLICT (dedup_key) DO NOTHING RETURNING id"},
    {"jobs_find_dedup", "SELECT id FROM jobs WHERE dedup_key = $1"},
    {"jobs_notify", "SELECT pg_notify(" CHANNEL_SQL ", '')"},
    /* jobs_run_now: a queued job due now, a running one again once its
     * attempt ends (wake_requested, honoured by jobs_retry) */
    {"jobs_run_now", "UPDATE jobs SET run_at = CASE WHEN state = 'queued' THEN least(run_at, " TS(
                         3) ") ELSE run_at END, "
                            "wake_requested = (state = 'running'), updated_at = now() "
                            "WHERE kind = $1 AND dedup_key = $2 AND state IN ('queued', 'running') "
                            "RETURNING state"},
};

/* On each worker's session. */
static const statement_def_t worker_statements[] = {
    /* Expired leases first (their worker is gone), then the oldest due job;
     * each subquery walks its own partial index, so a lease costs the same
     * with ten rows due or a million. */
    {"jobs_lease", "UPDATE jobs SET state = 'running', lease_token = $2::uuid, lease_until = " TS(
                       3) ", "
                          "attempts = attempts + 1, updated_at = now() "
                          "WHERE id = COALESCE("
                          "(SELECT id FROM jobs WHERE state = 'running' AND lease_until < " TS(
                              1) " "
                                 "ORDER BY lease_until LIMIT 1 FOR UPDATE SKIP LOCKED), "
                                 "(SELECT id FROM jobs WHERE state = 'queued' AND run_at <= " TS(
                                     1) " "
                                        "ORDER BY run_at LIMIT 1 FOR UPDATE SKIP LOCKED)) "
                                        "AND ((state = 'queued' AND run_at <= " TS(
                                            1) ") "
                                               "OR (state = 'running' AND lease_until < " TS(
                                                   1) ")) "
                                                      "RETURNING id, kind, payload::text, "
                                                      "dedup_key, attempts, max_attempts, "
                                                      "started_at IS NOT NULL, (extract(epoch FROM "
                                                      "run_at) * 1000)::bigint"},
    /* More queued due jobs of one kind for a batch, leased and started in
     * one statement (queued rows were never started: not resumed). */
    {"jobs_lease_kind",
     "WITH picked AS (SELECT id FROM jobs WHERE kind = $4 AND state = 'queued' AND run_at "
     "<= " TS(1) " AND attempts < max_attempts ORDER BY run_at LIMIT $5 FOR UPDATE SKIP LOCKED) "
                 "UPDATE jobs j SET state = 'running', lease_token = $2::uuid, lease_until "
                 "= " TS(3) ", attempts = attempts + 1, started_at = " TS(
                     1) ", updated_at = now() FROM picked WHERE j.id = picked.id "
                        "RETURNING j.id, j.kind, j.payload::text, j.dedup_key, j.attempts, "
                        "j.max_attempts, false, (extract(epoch FROM j.run_at) * 1000)::bigint"},
    {"jobs_keepalive_many",
     "UPDATE jobs SET lease_until = " TS(3) ", updated_at = now() "
                                            "WHERE id = ANY($1::int8[]) AND lease_token = $2::uuid "
                                            "AND state = 'running' RETURNING id"},
    /* A batch's one completion transaction (jobs_begin_finish_many). */
    {"jobs_lock_own_many", "SELECT id FROM jobs WHERE id = ANY($1::int8[]) AND lease_token = "
                           "$2::uuid AND state = 'running' ORDER BY id FOR UPDATE"},
    {"jobs_done_many", "UPDATE jobs SET state = 'done', outcome = 'done', finished_at = " TS(
                           3) ", "
                              "lease_until = NULL, updated_at = now() "
                              "WHERE id = ANY($1::int8[]) AND lease_token = $2::uuid "
                              "AND state = 'running'"},
    /* A batch's run whose work never began, back as it was (jobs_release). */
    {"jobs_release", "UPDATE jobs SET state = 'queued', run_at = " TS(
                         3) ", lease_token = NULL, "
                            "lease_until = NULL, started_at = NULL, "
                            "attempts = greatest(attempts - 1, 0), updated_at = now() "
                            "WHERE id = $1 AND lease_token = $2::uuid AND state = 'running'"},
    /* A job leased while stopping goes back untouched: the attempt it was
     * charged is returned too. */
    {"jobs_give_back", "UPDATE jobs SET state = 'queued', lease_token = NULL, lease_until = NULL, "
                       "attempts = greatest(attempts - 1, 0), updated_at = now() "
                       "WHERE id = $1 AND lease_token = $2::uuid AND state = 'running'"},
    {"jobs_start", "UPDATE jobs SET started_at = COALESCE(started_at, " TS(
                       3) "), "
                          "updated_at = now() "
                          "WHERE id = $1 AND lease_token = $2::uuid AND state = 'running'"},
    {"jobs_lock_own", "SELECT id FROM jobs "
                      "WHERE id = $1 AND lease_token = $2::uuid AND state = 'running' FOR UPDATE"},
    {"jobs_keepalive", "UPDATE jobs SET lease_until = " TS(
                           3) ", updated_at = now() "
                              "WHERE id = $1 AND lease_token = $2::uuid AND state = 'running'"},
    {"jobs_done", "UPDATE jobs SET state = 'done', outcome = 'done', finished_at = " TS(
                      3) ", "
                         "lease_until = NULL, updated_at = now() "
                         "WHERE id = $1 AND lease_token = $2::uuid AND state = 'running'"},
    /* a wake asked while the attempt ran (jobs_run_now): due now ($6) */
    {"jobs_retry",
     "UPDATE jobs SET state = 'queued', run_at = CASE WHEN wake_requested THEN " TS(6) " ELSE " TS(
         3) " END, wake_requested = false, lease_token = NULL, "
            "lease_until = NULL, started_at = NULL, last_error = $4, "
            "last_error_detail = $5, updated_at = now() "
            "WHERE id = $1 AND lease_token = $2::uuid AND state = 'running'"},
    {"jobs_dead", "UPDATE jobs SET state = 'dead', outcome = $4, finished_at = " TS(
                      3) ", "
                         "lease_until = NULL, last_error = $5, last_error_detail = $6, "
                         "updated_at = now() "
                         "WHERE id = $1 AND lease_token = $2::uuid AND state = 'running'"},
};

/* On the listener's session. */
static const statement_def_t listener_statements[] = {
    {"jobs_channel", "SELECT " CHANNEL_SQL},
    {"jobs_due_count", "SELECT count(*) FROM jobs WHERE state = 'queued' AND run_at <= " TS(1)},
    /* Only done jobs: a dead one waits for an operator however old it is. */
    {"jobs_purge", "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs "
                   "WHERE state = 'done' AND finished_at < " TS(
                       1) " "
                          "ORDER BY finished_at LIMIT 1000 FOR UPDATE SKIP LOCKED)"},
};

static int prepare_all(db_t *db, const statement_def_t *defs, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (db_prepare(db, defs[i].name, defs[i].sql) != 0)
            return -1;
    return 0;
}

#define PREPARE_ALL(db, defs) prepare_all((db), (defs), COUNT_OF(defs))

/* Outcome columns, in the order of job_kind_t.completed. */
enum { OUTCOME_DONE = 0, OUTCOME_FAILED, OUTCOME_UNKNOWN, OUTCOME_COUNT };
static const char *const outcome_names[OUTCOME_COUNT] = {"done", "failed", "outcome_unknown"};

typedef struct {
    char *kind;
    job_fn fn;
    job_batch_fn batch_fn; /* instead of fn, for a batch kind */
    int batch_max;
    void *arg;
    job_dead_fn on_dead; /* NULL, or the kind's own record of a death (jobs_on_dead) */
    metrics_counter_t *completed[OUTCOME_COUNT];
    metrics_counter_t *retried;
    metrics_counter_t *lease_lost;
    metrics_histogram_t *duration;
} job_kind_t;

typedef struct {
    jobs_t *jobs;
    int index;
    db_t *db;
    pthread_t thread;
    bool thread_started;
    bool db_away; /* the last statement found the database away (logged once) */
    uint64_t rng;
} worker_t;

struct jobs {
    char *dsn;
    char *schema;
    char *app_name;
    int worker_count;
    int64_t lease_ms, poll_ms, backoff_base_ms, backoff_max_ms;
    db_setup_fn db_setup;
    void *db_setup_arg;
    void (*on_commit)(db_t *db, void *arg);
    void *on_commit_arg;

    job_kind_t *kinds;
    size_t kind_count, kind_cap;
    job_kind_t unknown_kind; /* metrics of rows whose kind nobody registered */

    worker_t *workers;
    db_t *listener_db;
    pthread_t listener;
    bool listener_started;
    bool started;

    pthread_mutex_t lock;
    pthread_cond_t wake;  /* wake_seq moved or stopping set */
    uint64_t wake_seq;    /* under lock */
    atomic_bool stopping; /* written under lock, read anywhere */

    metrics_gauge_t *due_gauge;
    metrics_counter_t *purged;
};

struct job_run {
    job_t job;
    worker_t *worker;
    job_kind_t *kind;
    char lease_token[UUID_TEXT_SIZE];
    bool finish_open; /* jobs_begin_finish opened the completion transaction */
    bool completed;   /* its outcome was recorded (jobs_complete) */
    bool lease_lost;  /* a conditional statement found the lease gone */
    bool held_many;   /* locked in jobs_begin_finish_many's open transaction */
    bool retry_after_set;
    int64_t retry_after_ms;
    bool error_set;
    char error_code[JOBS_ERROR_CODE_MAX];
    char error_detail[JOBS_ERROR_DETAIL_MAX];
};

/* ------------------------------------------------------------------ */
/* small helpers                                                        */

static uint64_t random_next(uint64_t *state)
{
    /* splitmix64: jitter needs spread, not secrecy */
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static uint64_t random_seed(int index)
{
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof seed, 0) != (ssize_t)sizeof seed)
        seed = (uint64_t)clock_mono_us() * 2654435761ULL;
    return seed ^ (uint64_t)index;
}

/* Full jitter (AWS's "exponential backoff and jitter"): a uniform wait in
 * [0, min(max, base * 2^(attempt-1))]. Spreads a burst of failures over the
 * whole window so they do not come back together. */
static int64_t backoff_ms(const jobs_t *jobs, int attempt, uint64_t *rng)
{
    int64_t cap = jobs->backoff_max_ms;
    int64_t window = jobs->backoff_base_ms;
    for (int i = 1; i < attempt && window < cap; i++)
        window = window > cap / 2 ? cap : window * 2;
    if (window > cap)
        window = cap;
    return (int64_t)(random_next(rng) % (uint64_t)(window + 1));
}

static void timespec_after_ms(struct timespec *ts, int64_t ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += (time_t)(ms / 1000);
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* Waits up to timeout_ms for a wake-up newer than seen_seq, or for stop. */
static void wait_for_wake(jobs_t *jobs, uint64_t seen_seq, int64_t timeout_ms)
{
    struct timespec deadline;
    timespec_after_ms(&deadline, timeout_ms);
    pthread_mutex_lock(&jobs->lock);
    while (!atomic_load(&jobs->stopping) && jobs->wake_seq == seen_seq)
        if (pthread_cond_timedwait(&jobs->wake, &jobs->lock, &deadline) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&jobs->lock);
}

static uint64_t current_wake_seq(jobs_t *jobs)
{
    pthread_mutex_lock(&jobs->lock);
    uint64_t seq = jobs->wake_seq;
    pthread_mutex_unlock(&jobs->lock);
    return seq;
}

static void params_lease(db_params_t *params, const job_run_t *run)
{
    db_params_init(params);
    db_param_i64(params, run->job.id);
    db_param_text(params, run->lease_token);
}

/* Logs the database going away once per outage of a worker, and its return. */
static void note_db_status(worker_t *worker, db_status_t status, const char *what)
{
    if (status == DB_TRANSIENT) {
        if (!worker->db_away)
            log_warn("job worker lost the database; retrying", LF_INT("worker", worker->index),
                     LF_STR("during", what), LF_STR("pg", db_errmsg(worker->db)),
                     LF_ERR("pg_unavailable"));
        worker->db_away = true;
    } else if (status == DB_OK && worker->db_away) {
        log_info("job worker has the database again", LF_INT("worker", worker->index));
        worker->db_away = false;
    }
}

static job_kind_t *find_kind(jobs_t *jobs, const char *kind)
{
    for (size_t i = 0; i < jobs->kind_count; i++)
        if (strcmp(jobs->kinds[i].kind, kind) == 0)
            return &jobs->kinds[i];
    return NULL;
}

/* Kind names become metric labels and log fields: plain names only. */
static bool plain_kind(const char *kind)
{
    size_t len = kind ? strlen(kind) : 0;
    if (len == 0 || len > JOBS_KIND_MAX)
        return false;
    for (const char *p = kind; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '.' || *p == '-' || *p == ':'))
            return false;
    return true;
}

static void kind_metrics(job_kind_t *kind, const char *label_kind)
{
    char labels[160];
    for (int i = 0; i < OUTCOME_COUNT; i++) {
        snprintf(labels, sizeof labels, "kind=\"%s\",outcome=\"%s\"", label_kind, outcome_names[i]);
        kind->completed[i] =
            metrics_counter("jobs_completed_total", labels, "Jobs that reached a final state.");
    }
    snprintf(labels, sizeof labels, "kind=\"%s\"", label_kind);
    kind->retried =
        metrics_counter("jobs_retried_total", labels, "Job attempts that asked to be retried.");
    kind->lease_lost = metrics_counter("jobs_lease_lost_total", labels,
                                       "Job results dropped because another worker took the job.");
    kind->duration =
        metrics_histogram("jobs_duration_seconds", labels, "Time a job handler ran, per attempt.");
}

/* ------------------------------------------------------------------ */
/* enqueueing                                                           */

/* One NOTIFY per transaction that enqueued jobs, sent as the transaction's
 * deferred work (db.h) just before COMMIT. */
typedef struct {
    db_deferred_t base;
    bool pending;
    bool sent;      /* the NOTIFY went in this transaction */
    bool committed; /* the last transaction enqueued and committed (jobs_enqueued_take) */
} notify_once_t;

static const int notify_marker = 0;

static db_status_t notify_flush(db_t *db, db_deferred_t *self)
{
    notify_once_t *once = (notify_once_t *)self;
    if (!once->pending)
        return DB_OK;
    once->pending = false;
    once->sent = true;
    return db_run(db, "jobs_notify", NULL, NULL);
}

static void notify_after_end(db_deferred_t *self, bool committed)
{
    notify_once_t *once = (notify_once_t *)self;
    once->committed = committed && once->sent;
    once->sent = false;
}

bool jobs_enqueued_take(db_t *db)
{
    notify_once_t *once = db ? (notify_once_t *)db_deferred_find(db, &notify_marker) : NULL;
    bool committed = once && once->committed;
    if (once)
        once->committed = false;
    return committed;
}

static void notify_discard(db_deferred_t *self)
{
    ((notify_once_t *)self)->pending = false;
}

static void notify_destroy(db_deferred_t *self)
{
    free(self);
}

static db_status_t notify_at_commit(db_t *db)
{
    if (!db_in_tx(db))
        return db_run(db, "jobs_notify", NULL, NULL);
    notify_once_t *once = (notify_once_t *)db_deferred_find(db, &notify_marker);
    if (!once) {
        once = calloc(1, sizeof *once);
        if (!once)
            return DB_ERROR;
        once->base.key = &notify_marker;
        once->base.order = 900; /* before the outbox (1000): any order works */
        once->base.flush = notify_flush;
        once->base.discard = notify_discard;
        once->base.after_end = notify_after_end;
        once->base.destroy = notify_destroy;
        if (db_deferred_add_take(db, &once->base) != 0)
            return DB_ERROR;
    }
    once->pending = true;
    return DB_OK;
}

db_status_t jobs_enqueue(db_t *db, const job_spec_t *spec, bool *created_out, int64_t *job_id_out)
{
    if (created_out)
        *created_out = false;
    if (job_id_out)
        *job_id_out = 0;
    if (!db || !spec || !spec->kind || !spec->kind[0] || spec->max_attempts < 0) {
        log_error("a job was enqueued without a kind or with negative max_attempts",
                  LF_STR("kind", spec ? spec->kind : NULL), LF_ERR("bug_bad_job_spec"));
        return DB_ERROR;
    }
    /* The caller's session may belong to anyone (an HTTP handler's pool, the
     * applier): register our statements on it; registering the same text
     * again is free. */
    if (PREPARE_ALL(db, enqueue_statements) != 0) {
        log_error("out of memory registering job statements", LF_ERR("out_of_memory"));
        return DB_ERROR;
    }
    PGresult *res = NULL;
    db_status_t status = DB_OK;
    bool created = false;
    int64_t job_id = 0;
    /* A dedup conflict with a row purged in between finds nothing: insert again. */
    for (int round = 0; round < 3; round++) {
        db_params_t params;
        db_params_init(&params);
        db_param_text(&params, spec->kind);
        db_param_text(&params, spec->payload ? spec->payload : "{}");
        db_param_i64(&params, spec->run_at_ms > 0 ? spec->run_at_ms : clock_now_ms());
        db_param_i64(&params,
                     spec->max_attempts > 0 ? spec->max_attempts : JOBS_DEFAULT_MAX_ATTEMPTS);
        db_param_text(&params, spec->dedup_key);
        status = db_run(db, "jobs_insert", &params, &res);
        if (status != DB_OK)
            goto done;
        if (PQntuples(res) == 1) {
            created = db_get_i64(res, 0, 0, &job_id) == 0;
            break;
        }
        PQclear(res);
        res = NULL;
        db_params_init(&params);
        db_param_text(&params, spec->dedup_key);
        status = db_run(db, "jobs_find_dedup", &params, &res);
        if (status != DB_OK)
            goto done;
        if (PQntuples(res) == 1 && db_get_i64(res, 0, 0, &job_id) == 0)
            break;
        PQclear(res);
        res = NULL;
    }
    if (job_id == 0) {
        log_error("could not insert or find a job by its dedup key", LF_STR("kind", spec->kind),
                  LF_STR("dedup_key", spec->dedup_key), LF_ERR("job_dedup_race"));
        status = DB_TRANSIENT;
        goto done;
    }
    if (created) {
        /* delivered when the caller's transaction commits, never before;
         * once per transaction, however many jobs it enqueues */
        status = notify_at_commit(db);
        if (status != DB_OK)
            goto done;
    }
    if (created_out)
        *created_out = created;
    if (job_id_out)
        *job_id_out = job_id;
done:
    PQclear(res);
    return status;
}

db_status_t jobs_run_now(db_t *db, const char *kind, const char *dedup_key, bool *woken_out)
{
    if (woken_out)
        *woken_out = false;
    if (!db || !kind || !kind[0] || !dedup_key) {
        log_error("a job was woken without a kind or a dedup key", LF_STR("kind", kind),
                  LF_ERR("bug_bad_job_spec"));
        return DB_ERROR;
    }
    if (PREPARE_ALL(db, enqueue_statements) != 0) {
        log_error("out of memory registering job statements", LF_ERR("out_of_memory"));
        return DB_ERROR;
    }
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, kind);
    db_param_text(&params, dedup_key);
    db_param_i64(&params, clock_now_ms());
    PGresult *res = NULL;
    db_status_t status = db_run(db, "jobs_run_now", &params, &res);
    bool woken = status == DB_OK && PQntuples(res) == 1;
    bool queued = woken && strcmp(db_value(res, 0, 0), "queued") == 0;
    PQclear(res);
    if (queued) /* other replicas' workers: a running job is retried by its own */
        status = notify_at_commit(db);
    if (status == DB_OK && woken_out)
        *woken_out = woken;
    return status;
}

static const bulk_spec_t deferred_jobs_spec = {
    .stmt = "jobs_insert_deferred",
    .sql = "INSERT INTO jobs (kind, payload, run_at, max_attempts, dedup_key) "
           "SELECT k, p::jsonb, to_timestamp(r::float8 / 1000), m, d FROM unnest($1::text[], "
           "$2::text[], $3::int8[], $4::int4[], $5::text[]) WITH ORDINALITY AS j (k, p, r, m, d, "
           "n) ORDER BY n ON CONFLICT (dedup_key) DO NOTHING",
    .column_oids = {PG_OID_TEXT, PG_OID_TEXT, PG_OID_INT8, PG_OID_INT4, PG_OID_TEXT},
    .column_count = 5,
    .order = 800,
};

db_status_t jobs_enqueue_deferred(db_t *db, const job_spec_t *spec)
{
    if (!db || !spec || !spec->kind || !spec->kind[0] || spec->max_attempts < 0) {
        log_error("a job was enqueued without a kind or with negative max_attempts",
                  LF_STR("kind", spec ? spec->kind : NULL), LF_ERR("bug_bad_job_spec"));
        return DB_ERROR;
    }
    if (PREPARE_ALL(db, enqueue_statements) != 0)
        return DB_ERROR;
    bulk_t *rows = bulk_of(db, &deferred_jobs_spec);
    if (!rows)
        return DB_ERROR;
    if (pg_array_add_text(bulk_column(rows, 0), spec->kind) != 0 ||
        pg_array_add_text(bulk_column(rows, 1), spec->payload ? spec->payload : "{}") != 0 ||
        pg_array_add_i64(bulk_column(rows, 2),
                         spec->run_at_ms > 0 ? spec->run_at_ms : clock_now_ms()) != 0 ||
        pg_array_add_i32(bulk_column(rows, 3),
                         spec->max_attempts > 0 ? spec->max_attempts : JOBS_DEFAULT_MAX_ATTEMPTS) !=
            0 ||
        pg_array_add_text(bulk_column(rows, 4), spec->dedup_key) != 0) {
        bulk_row_abandon(rows);
        return DB_ERROR;
    }
    db_status_t status = bulk_row_done(db, rows);
    return status == DB_OK ? notify_at_commit(db) : status;
}

void jobs_wake(jobs_t *jobs)
{
    if (!jobs)
        return;
    pthread_mutex_lock(&jobs->lock);
    jobs->wake_seq++;
    pthread_cond_broadcast(&jobs->wake);
    pthread_mutex_unlock(&jobs->lock);
}

/* ------------------------------------------------------------------ */
/* what a handler may call                                              */

const job_t *job_run_job(const job_run_t *run)
{
    return &run->job;
}

db_t *job_run_db(job_run_t *run)
{
    return run->worker->db;
}

void *job_run_arg(const job_run_t *run)
{
    return run->kind ? run->kind->arg : NULL;
}

void job_run_error(job_run_t *run, const char *code, const char *fmt, ...)
{
    snprintf(run->error_code, sizeof run->error_code, "%s", code && code[0] ? code : "unknown");
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(run->error_detail, sizeof run->error_detail, fmt, ap);
    va_end(ap);
    if (n < 0)
        run->error_detail[0] = '\0';
    run->error_set = true;
}

job_outcome_t jobs_result(job_run_t *run, db_status_t status, const char *what)
{
    if (status == DB_OK)
        return JOB_DONE;
    db_t *db = job_run_db(run);
    db_failure_t failure = db_failure_of(db, status);
    job_run_error(run, failure.code, "%s: %s", what, db_errmsg(db));
    return failure.transient ? JOB_RETRY : JOB_FAIL;
}

void job_run_retry_after(job_run_t *run, int64_t delay_ms)
{
    run->retry_after_set = true;
    run->retry_after_ms = delay_ms > 0 ? delay_ms : 0;
}

db_status_t jobs_begin_finish(job_run_t *run)
{
    db_t *db = run->worker->db;
    if (run->finish_open && db_in_tx(db))
        return DB_OK;
    db_status_t status = db_begin(db);
    if (status != DB_OK)
        return status;
    PGresult *res = NULL;
    db_params_t params;
    params_lease(&params, run);
    status = db_run(db, "jobs_lock_own", &params, &res);
    if (status == DB_OK && PQntuples(res) == 1) {
        run->finish_open = true;
        goto done;
    }
    db_rollback(db);
    if (status == DB_OK) {
        run->lease_lost = true; /* logged once, when the kit records the outcome */
        status = DB_ERROR;
    }
done:
    PQclear(res);
    return status;
}

db_status_t jobs_keepalive(job_run_t *run)
{
    jobs_t *jobs = run->worker->jobs;
    db_params_t params;
    params_lease(&params, run);
    db_param_i64(&params, clock_now_ms() + jobs->lease_ms);
    int64_t rows = 0;
    db_status_t status = db_run_count(run->worker->db, "jobs_keepalive", &params, &rows);
    if (status == DB_OK && rows != 1) {
        run->lease_lost = true;
        status = DB_ERROR;
    }
    return status;
}

/* ------------------------------------------------------------------ */
/* recording what became of a job                                       */

/* Runs a conditional completion statement outside any transaction, trying
 * again while the database is away for up to half the lease (10 s at
 * most): the lease token makes a repeat harmless. *rows_out: rows changed (0: lease lost). */
static db_status_t run_conditional(job_run_t *run, const char *stmt, const db_params_t *params,
                                   int64_t *rows_out)
{
    worker_t *worker = run->worker;
    int64_t patience_ms = worker->jobs->lease_ms / 2;
    if (patience_ms > JOBS_RECORD_PATIENCE_MS)
        patience_ms = JOBS_RECORD_PATIENCE_MS; /* a stop must not wait on an outage for long */
    int64_t give_up_at = clock_mono_ms() + patience_ms;
    for (;;) {
        db_status_t status = db_run_count(worker->db, stmt, params, rows_out);
        note_db_status(worker, status, stmt);
        if (status != DB_TRANSIENT || clock_mono_ms() >= give_up_at)
            return status;
        struct timespec pause = {0, 200 * 1000000L};
        nanosleep(&pause, NULL);
    }
}

static void count_completed(job_run_t *run, int outcome_index)
{
    job_kind_t *kind = run->kind ? run->kind : &run->worker->jobs->unknown_kind;
    metrics_counter_add(kind->completed[outcome_index], 1);
}

static void report_lease_lost(job_run_t *run, const char *outcome)
{
    job_kind_t *kind = run->kind ? run->kind : &run->worker->jobs->unknown_kind;
    metrics_counter_add(kind->lease_lost, 1);
    log_warn("job lease was lost before its result was recorded; another worker owns it",
             LF_INT("job_id", run->job.id), LF_STR("kind", run->job.kind),
             LF_INT("attempt", run->job.attempt), LF_STR("outcome", outcome), LF_ERR("lease_lost"));
}

static void record_done(job_run_t *run)
{
    db_params_t params;
    params_lease(&params, run);
    db_param_i64(&params, clock_now_ms());
    int64_t rows = 0;
    db_status_t status = run_conditional(run, "jobs_done", &params, &rows);
    if (status != DB_OK) {
        log_error("could not record a finished job; it will run again, resumed",
                  LF_INT("job_id", run->job.id), LF_STR("kind", run->job.kind),
                  LF_STR("pg", db_errmsg(run->worker->db)), LF_ERR("job_record_failed"));
        return;
    }
    if (rows != 1) {
        report_lease_lost(run, "done");
        return;
    }
    count_completed(run, OUTCOME_DONE);
    log_debug("job done", LF_INT("job_id", run->job.id), LF_STR("kind", run->job.kind),
              LF_INT("attempt", run->job.attempt));
}

/* The kind's own record of the death (jobs_on_dead) and "dead" in one
 * transaction, the job row locked under our lease first. *rows_out 0: the
 * lease is lost (nothing written). A failure leaves the job running: its
 * lease runs out and it is taken again, and dies again the same way. */
static db_status_t dead_with_effects(job_run_t *run, const char *outcome, const char *code,
                                     const char *detail, const db_params_t *params,
                                     int64_t *rows_out)
{
    db_t *db = run->worker->db;
    *rows_out = 0;
    db_params_t lock;
    params_lease(&lock, run);
    int64_t held = 0;
    db_status_t status = db_begin(db);
    if (status == DB_OK)
        status = db_run_count(db, "jobs_lock_own", &lock, &held);
    if (status == DB_OK && held == 1)
        status = run->kind->on_dead(run, outcome, code, detail);
    if (status == DB_OK && held == 1)
        status = db_run_count(db, "jobs_dead", params, rows_out);
    if (status == DB_OK && held == 1)
        status = db_commit(db);
    note_db_status(run->worker, status, "jobs_dead");
    if (status != DB_OK || held != 1) {
        if (db_in_tx(db))
            db_rollback(db);
        *rows_out = 0;
        return status;
    }
    if (run->worker->jobs->on_commit)
        run->worker->jobs->on_commit(db, run->worker->jobs->on_commit_arg);
    return DB_OK;
}

/* Marks the job dead with outcome_index (failed or outcome_unknown). */
static void record_dead(job_run_t *run, int outcome_index, const char *default_code,
                        const char *default_detail)
{
    const char *code = run->error_set ? run->error_code : default_code;
    const char *detail = run->error_set ? run->error_detail : default_detail;
    db_params_t params;
    params_lease(&params, run);
    db_param_i64(&params, clock_now_ms());
    db_param_text(&params, outcome_names[outcome_index]);
    db_param_text(&params, code);
    db_param_text(&params, detail);
    int64_t rows = 0;
    db_status_t status =
        run->kind && run->kind->on_dead
            ? dead_with_effects(run, outcome_names[outcome_index], code, detail, &params, &rows)
            : run_conditional(run, "jobs_dead", &params, &rows);
    if (status != DB_OK) {
        log_error("could not record a dead job; it will be taken again",
                  LF_INT("job_id", run->job.id), LF_STR("kind", run->job.kind),
                  LF_STR("pg", db_errmsg(run->worker->db)), LF_ERR("job_record_failed"));
        return;
    }
    if (rows != 1) {
        report_lease_lost(run, outcome_names[outcome_index]);
        return;
    }
    count_completed(run, outcome_index);
    log_error(outcome_index == OUTCOME_UNKNOWN ? "job outcome is unknown; an operator must decide"
                                               : "job failed for good",
              LF_INT("job_id", run->job.id), LF_STR("kind", run->job.kind),
              LF_INT("attempt", run->job.attempt), LF_INT("max_attempts", run->job.max_attempts),
              LF_STR("outcome", outcome_names[outcome_index]), LF_STR("detail", detail),
              LF_ERR(code));
}

static void record_retry(job_run_t *run)
{
    if (run->job.attempt >= run->job.max_attempts) {
        record_dead(run, OUTCOME_FAILED, "handler_retry", "the handler gave no reason");
        return;
    }
    worker_t *worker = run->worker;
    int64_t delay_ms = run->retry_after_set
                           ? run->retry_after_ms
                           : backoff_ms(worker->jobs, run->job.attempt, &worker->rng);
    const char *code = run->error_set ? run->error_code : "handler_retry";
    const char *detail = run->error_set ? run->error_detail : "the handler gave no reason";
    db_params_t params;
    params_lease(&params, run);
    db_param_i64(&params, clock_now_ms() + delay_ms);
    db_param_text(&params, code);
    db_param_text(&params, detail);
    db_param_i64(&params, clock_now_ms());
    int64_t rows = 0;
    db_status_t status = run_conditional(run, "jobs_retry", &params, &rows);
    if (status != DB_OK) {
        log_error("could not schedule a job's retry; it will be taken again when its lease ends",
                  LF_INT("job_id", run->job.id), LF_STR("kind", run->job.kind),
                  LF_STR("pg", db_errmsg(worker->db)), LF_ERR("job_record_failed"));
        return;
    }
    if (rows != 1) {
        report_lease_lost(run, "retry");
        return;
    }
    metrics_counter_add(run->kind->retried, 1);
    log_warn("job will be retried", LF_INT("job_id", run->job.id), LF_STR("kind", run->job.kind),
             LF_INT("attempt", run->job.attempt), LF_INT("max_attempts", run->job.max_attempts),
             LF_INT("delay_ms", delay_ms), LF_STR("detail", detail), LF_ERR(code));
}

/* The handler returned with the completion transaction open: mark the job
 * done in it and commit, so its effects and "done" are one fact. On any
 * failure the effects are gone (or, if the commit's answer was lost,
 * committed together with done): record a retry, which the lease token
 * turns into a no-op in the second case. */
static void finish_in_transaction(job_run_t *run)
{
    db_t *db = run->worker->db;
    db_params_t params;
    params_lease(&params, run);
    db_param_i64(&params, clock_now_ms());
    int64_t rows = 0;
    db_status_t status = db_run_count(db, "jobs_done", &params, &rows);
    if (status == DB_OK && rows != 1) {
        /* cannot happen while we hold the row lock; treat as lost */
        db_rollback(db);
        report_lease_lost(run, "done");
        return;
    }
    if (status == DB_OK)
        status = db_commit(db);
    if (status == DB_OK) {
        count_completed(run, OUTCOME_DONE);
        if (run->worker->jobs->on_commit)
            run->worker->jobs->on_commit(db, run->worker->jobs->on_commit_arg);
        log_debug("job done", LF_INT("job_id", run->job.id), LF_STR("kind", run->job.kind),
                  LF_INT("attempt", run->job.attempt));
        return;
    }
    db_rollback(db);
    note_db_status(run->worker, status, "jobs_done");
    job_run_error(run, status == DB_TRANSIENT ? "pg_unavailable" : "job_commit_failed",
                  "could not commit the job's completion: %s", db_errmsg(db));
    record_retry(run);
}

/* ------------------------------------------------------------------ */
/* the worker                                                           */

/* Copies leased row into run->job; strings stay in res. */
static int read_leased_row(const PGresult *res, int row, job_run_t *run)
{
    int64_t attempt = 0, max_attempts = 0, run_at_ms = 0;
    const char *resumed = db_value(res, row, 6);
    if (db_get_i64(res, row, 0, &run->job.id) != 0 || !db_value(res, row, 1) ||
        !db_value(res, row, 2) || db_get_i64(res, row, 4, &attempt) != 0 ||
        db_get_i64(res, row, 5, &max_attempts) != 0 || db_get_i64(res, row, 7, &run_at_ms) != 0 ||
        !resumed)
        return -1;
    run->job.kind = db_value(res, row, 1);
    run->job.payload = db_value(res, row, 2);
    run->job.dedup_key = db_value(res, row, 3);
    run->job.attempt = (int)attempt;
    run->job.max_attempts = (int)max_attempts;
    run->job.resumed = resumed[0] == 't';
    run->job.run_at_ms = run_at_ms;
    return 0;
}

static void give_back(job_run_t *run)
{
    db_params_t params;
    params_lease(&params, run);
    db_status_t status = db_run(run->worker->db, "jobs_give_back", &params, NULL);
    if (status != DB_OK)
        log_warn("could not give back a job's lease while stopping; it is free when the lease "
                 "ends",
                 LF_INT("job_id", run->job.id), LF_STR("pg", db_errmsg(run->worker->db)),
                 LF_ERR("pg_unavailable"));
}

/* Records what became of a job its handler ran. */
static void record_outcome(job_run_t *run, job_outcome_t outcome)
{
    db_t *db = run->worker->db;
    run->completed = true;
    if (run->finish_open && db_in_tx(db) && outcome == JOB_DONE) {
        finish_in_transaction(run);
        return;
    }
    if (db_in_tx(db)) {
        db_rollback(db);
        if (!run->finish_open) {
            /* its own transaction: its effects are gone, so "done" would lie */
            log_error("job handler left a transaction open; rolled back",
                      LF_INT("job_id", run->job.id), LF_STR("kind", run->job.kind),
                      LF_ERR("bug_open_transaction"));
            if (outcome == JOB_DONE) {
                job_run_error(run, "bug_open_transaction",
                              "the handler returned done with its own transaction open");
                outcome = JOB_RETRY;
            }
        }
    }
    if (run->lease_lost) {
        report_lease_lost(run, outcome == JOB_DONE ? "done" : "not done");
        return;
    }
    switch (outcome) {
    case JOB_DONE:
        record_done(run);
        break;
    case JOB_RETRY:
        record_retry(run);
        break;
    case JOB_UNKNOWN:
        record_dead(run, OUTCOME_UNKNOWN, "outcome_unknown",
                    "the handler could not tell whether its call took effect");
        break;
    case JOB_FAIL:
    default:
        record_dead(run, OUTCOME_FAILED, "handler_failed", "the handler gave no reason");
        break;
    }
}

/* Calls the handler and records its outcome. */
static void run_handler(job_run_t *run)
{
    int64_t started_us = clock_mono_us();
    job_outcome_t outcome = run->kind->fn(run);
    metrics_histogram_observe_us(run->kind->duration, (uint64_t)(clock_mono_us() - started_us));
    record_outcome(run, outcome);
}

bool job_run_lease_lost(const job_run_t *run)
{
    return run->lease_lost;
}

void jobs_complete(job_run_t *run, job_outcome_t outcome)
{
    if (!run || run->completed)
        return;
    record_outcome(run, outcome);
}

db_status_t jobs_keepalive_many(job_run_t *const *runs, size_t count)
{
    if (count == 0)
        return DB_OK;
    worker_t *worker = runs[0]->worker;
    /* one statement for the runs sharing the first one's lease (a batch);
     * any other alone */
    strbuf_t ids;
    strbuf_init(&ids, 24 * count + 2);
    bool any_lost = false;
    db_status_t status = DB_OK;
    if (strbuf_append_str(&ids, "{") != 0) {
        strbuf_release(&ids);
        return DB_ERROR;
    }
    size_t together = 0;
    for (size_t i = 0; i < count; i++) {
        if (strcmp(runs[i]->lease_token, runs[0]->lease_token) != 0 || runs[i]->completed) {
            if (!runs[i]->completed && jobs_keepalive(runs[i]) != DB_OK)
                any_lost = any_lost || runs[i]->lease_lost;
            continue;
        }
        if (strbuf_appendf(&ids, "%s%lld", together ? "," : "", (long long)runs[i]->job.id) != 0) {
            strbuf_release(&ids);
            return DB_ERROR;
        }
        together++;
    }
    if (together > 0 && strbuf_append_str(&ids, "}") == 0) {
        db_params_t params;
        db_params_init(&params);
        db_param_text(&params, ids.ptr);
        db_param_text(&params, runs[0]->lease_token);
        db_param_i64(&params, clock_now_ms() + worker->jobs->lease_ms);
        PGresult *res = NULL;
        status = db_run(worker->db, "jobs_keepalive_many", &params, &res);
        if (status == DB_OK) {
            for (size_t i = 0; i < count; i++) {
                if (runs[i]->completed || strcmp(runs[i]->lease_token, runs[0]->lease_token) != 0)
                    continue;
                bool kept = false;
                for (int row = 0; row < PQntuples(res) && !kept; row++) {
                    int64_t id = 0;
                    kept = db_get_i64(res, row, 0, &id) == 0 && id == runs[i]->job.id;
                }
                if (!kept) {
                    runs[i]->lease_lost = true;
                    any_lost = true;
                }
            }
        }
        PQclear(res);
    }
    strbuf_release(&ids);
    if (status == DB_OK && any_lost)
        status = DB_ERROR;
    return status;
}

/* "{id,id,...}" of the runs of one batch (sharing runs[0]'s lease) that
 * pick says; *taken_out: how many. -1 out of memory. */
static int batch_ids(strbuf_t *ids, job_run_t *const *runs, size_t count, bool held_only,
                     size_t *taken_out)
{
    *taken_out = 0;
    if (strbuf_append_str(ids, "{") != 0)
        return -1;
    for (size_t i = 0; i < count; i++) {
        const job_run_t *run = runs[i];
        if (run->completed || strcmp(run->lease_token, runs[0]->lease_token) != 0 ||
            (held_only && !run->held_many))
            continue;
        if (strbuf_appendf(ids, "%s%lld", *taken_out ? "," : "", (long long)run->job.id) != 0)
            return -1;
        (*taken_out)++;
    }
    return strbuf_append_str(ids, "}");
}

db_status_t jobs_begin_finish_many(job_run_t *const *runs, size_t count)
{
    if (count == 0)
        return DB_ERROR;
    db_t *db = runs[0]->worker->db;
    strbuf_t ids;
    strbuf_init(&ids, 24 * count + 2);
    size_t asked = 0;
    if (batch_ids(&ids, runs, count, false, &asked) != 0) {
        strbuf_release(&ids);
        return db_fail(db, DB_STATE_OUT_OF_MEMORY, "no room for a batch's %zu job ids", count);
    }
    for (size_t i = 0; i < count; i++)
        runs[i]->held_many = false;
    db_status_t status = db_begin(db);
    PGresult *res = NULL;
    if (status == DB_OK) {
        db_params_t params;
        db_params_init(&params);
        db_param_text(&params, ids.ptr);
        db_param_text(&params, runs[0]->lease_token);
        status = db_run(db, "jobs_lock_own_many", &params, &res);
    }
    strbuf_release(&ids);
    note_db_status(runs[0]->worker, status, "jobs_lock_own_many");
    size_t held = 0;
    for (size_t i = 0; status == DB_OK && i < count; i++) {
        job_run_t *run = runs[i];
        if (run->completed)
            continue;
        for (int row = 0; row < PQntuples(res) && !run->held_many; row++) {
            int64_t id = 0;
            run->held_many = strcmp(run->lease_token, runs[0]->lease_token) == 0 &&
                             db_get_i64(res, row, 0, &id) == 0 && id == run->job.id;
        }
        if (run->held_many)
            held++;
        else
            run->lease_lost = true; /* reported when it is completed */
    }
    PQclear(res);
    if (status == DB_OK && held > 0)
        return DB_OK;
    if (db_in_tx(db))
        db_rollback(db);
    for (size_t i = 0; i < count; i++)
        runs[i]->held_many = false;
    return status == DB_OK ? DB_ERROR : status;
}

db_status_t jobs_finish_many(job_run_t *const *runs, size_t count)
{
    if (count == 0)
        return DB_ERROR;
    worker_t *worker = runs[0]->worker;
    db_t *db = worker->db;
    strbuf_t ids;
    strbuf_init(&ids, 24 * count + 2);
    size_t held = 0;
    db_status_t status = DB_OK;
    if (!db_in_tx(db))
        status = db_fail(db, DB_STATE_BAD_DATA,
                         "jobs_finish_many without jobs_begin_finish_many's transaction");
    else if (batch_ids(&ids, runs, count, true, &held) != 0)
        status = db_fail(db, DB_STATE_OUT_OF_MEMORY, "no room for a batch's %zu job ids", count);
    int64_t rows = 0;
    if (status == DB_OK && held > 0) {
        db_params_t params;
        db_params_init(&params);
        db_param_text(&params, ids.ptr);
        db_param_text(&params, runs[0]->lease_token);
        db_param_i64(&params, clock_now_ms());
        status = db_run_count(db, "jobs_done_many", &params, &rows);
        /* cannot fall short while we hold the rows' locks */
        if (status == DB_OK && rows != (int64_t)held)
            status = db_fail(db, DB_STATE_BAD_DATA, "a batch marked %lld of its %zu held jobs done",
                             (long long)rows, held);
    }
    strbuf_release(&ids);
    if (status == DB_OK)
        status = db_commit(db);
    note_db_status(worker, status, "jobs_done_many");
    if (status != DB_OK) {
        if (db_in_tx(db))
            db_rollback(db);
        for (size_t i = 0; i < count; i++)
            runs[i]->held_many = false;
        return status;
    }
    for (size_t i = 0; i < count; i++) {
        job_run_t *run = runs[i];
        if (run->completed)
            continue;
        if (!run->held_many) {
            run->completed = true;
            report_lease_lost(run, "done");
            continue;
        }
        run->held_many = false;
        run->completed = true;
        count_completed(run, OUTCOME_DONE);
        log_debug("job done", LF_INT("job_id", run->job.id), LF_STR("kind", run->job.kind),
                  LF_INT("attempt", run->job.attempt));
    }
    if (held > 0 && worker->jobs->on_commit)
        worker->jobs->on_commit(db, worker->jobs->on_commit_arg);
    return DB_OK;
}

void jobs_release(job_run_t *run)
{
    if (!run || run->completed)
        return;
    if (run->job.resumed || run->lease_lost) {
        job_run_error(run, "batch_released", "the batch gave the job back unstarted");
        record_outcome(run, JOB_RETRY);
        return;
    }
    run->completed = true;
    if (db_in_tx(run->worker->db))
        db_rollback(run->worker->db);
    db_params_t params;
    params_lease(&params, run);
    db_param_i64(&params, clock_now_ms());
    int64_t rows = 0;
    db_status_t status = run_conditional(run, "jobs_release", &params, &rows);
    if (status != DB_OK) {
        log_error("could not give a batch's unstarted job back; it is taken again when its "
                  "lease ends",
                  LF_INT("job_id", run->job.id), LF_STR("kind", run->job.kind),
                  LF_STR("pg", db_errmsg(run->worker->db)), LF_ERR("job_record_failed"));
        return;
    }
    if (rows != 1)
        report_lease_lost(run, "released");
}

/* Leases up to kind->batch_max - 1 more due jobs of first's kind under
 * its lease token and runs them all through the batch handler. first is
 * leased and started already. */
static void run_batch(job_run_t *first, const int64_t now_ms)
{
    worker_t *worker = first->worker;
    jobs_t *jobs = worker->jobs;
    job_kind_t *kind = first->kind;
    job_run_t *runs = calloc((size_t)kind->batch_max, sizeof *runs);
    job_run_t **list = calloc((size_t)kind->batch_max, sizeof *list);
    PGresult *res = NULL;
    size_t count = 1;
    if (!runs || !list) {
        free(runs);
        free(list);
        /* out of memory: the one job alone */
        job_run_t *one = first;
        kind->batch_fn(&one, 1, kind->arg);
        if (!first->completed) {
            job_run_error(first, "batch_no_outcome",
                          "the batch handler left the job without an "
                          "outcome");
            record_outcome(first, JOB_RETRY);
        }
        return;
    }
    runs[0] = *first;
    if (kind->batch_max > 1 && !atomic_load(&jobs->stopping)) {
        db_params_t params;
        db_params_init(&params);
        db_param_i64(&params, now_ms);
        db_param_text(&params, first->lease_token);
        db_param_i64(&params, now_ms + jobs->lease_ms);
        db_param_text(&params, kind->kind);
        db_param_i64(&params, kind->batch_max - 1);
        db_status_t status = db_run(worker->db, "jobs_lease_kind", &params, &res);
        note_db_status(worker, status, "jobs_lease_kind");
        for (int row = 0; status == DB_OK && row < PQntuples(res); row++) {
            job_run_t *run = &runs[count];
            run->worker = worker;
            run->kind = kind;
            memcpy(run->lease_token, first->lease_token, sizeof run->lease_token);
            if (read_leased_row(res, row, run) != 0) {
                log_error("a leased job row does not read back", LF_ERR("bug_job_row"));
                continue; /* its lease runs out and it is taken again */
            }
            count++;
        }
    }
    for (size_t i = 0; i < count; i++)
        list[i] = &runs[i];
    int64_t started_us = clock_mono_us();
    kind->batch_fn(list, count, kind->arg);
    metrics_histogram_observe_us(kind->duration, (uint64_t)(clock_mono_us() - started_us));
    for (size_t i = 0; i < count; i++) {
        if (runs[i].completed)
            continue;
        job_run_error(&runs[i], "batch_no_outcome",
                      "the batch handler left the job without an outcome");
        record_outcome(&runs[i], JOB_RETRY);
    }
    log_debug("job batch ran", LF_STR("kind", kind->kind), LF_INT("jobs", (long long)count));
    PQclear(res);
    free(list);
    free(runs);
}

/* Leases one due job and runs it. 1: a job was taken, 0: none due,
 * -1: the database is away or refused. */
static int lease_and_run(worker_t *worker)
{
    jobs_t *jobs = worker->jobs;
    job_run_t run = {.worker = worker};
    PGresult *res = NULL;
    int result = 0;
    if (uuid_v4(run.lease_token) != 0) {
        log_error("no random lease token: the kernel's random source failed",
                  LF_ERR("no_randomness"));
        return -1;
    }
    int64_t now_ms = clock_now_ms();
    db_params_t params;
    db_params_init(&params);
    db_param_i64(&params, now_ms);
    db_param_text(&params, run.lease_token);
    db_param_i64(&params, now_ms + jobs->lease_ms);
    db_status_t status = db_run(worker->db, "jobs_lease", &params, &res);
    note_db_status(worker, status, "jobs_lease");
    if (status != DB_OK) {
        if (status == DB_ERROR)
            log_error("could not lease a job", LF_INT("worker", worker->index),
                      LF_STR("pg", db_errmsg(worker->db)), LF_ERR("job_lease_failed"));
        result = -1;
        goto done;
    }
    if (PQntuples(res) == 0)
        goto done;
    result = 1;
    if (read_leased_row(res, 0, &run) != 0) {
        log_error("a leased job row does not read back", LF_ERR("bug_job_row"));
        goto done;
    }
    if (atomic_load(&jobs->stopping)) {
        give_back(&run);
        goto done;
    }
    run.kind = find_kind(jobs, run.job.kind);
    if (!run.kind) {
        job_run_error(&run, "unknown_kind", "no handler is registered for job kind %s",
                      run.job.kind);
        record_dead(&run, OUTCOME_FAILED, "unknown_kind", "");
        goto done;
    }
    if (run.job.attempt > run.job.max_attempts) {
        /* its last attempts ended without a result (workers died or lost
         * the lease): it cannot go on forever. If one had started, its call
         * may have gone out. */
        job_run_error(&run, "attempts_exhausted",
                      "attempt %d of %d found the earlier ones unfinished", run.job.attempt,
                      run.job.max_attempts);
        record_dead(&run, run.job.resumed ? OUTCOME_UNKNOWN : OUTCOME_FAILED, "", "");
        goto done;
    }
    /* started_at is committed before the handler calls out (DESIGN.md) */
    params_lease(&params, &run);
    db_param_i64(&params, now_ms);
    int64_t rows = 0;
    status = db_run_count(worker->db, "jobs_start", &params, &rows);
    note_db_status(worker, status, "jobs_start");
    if (status != DB_OK) {
        if (status == DB_ERROR)
            log_error("could not mark a job started", LF_INT("job_id", run.job.id),
                      LF_STR("pg", db_errmsg(worker->db)), LF_ERR("job_start_failed"));
        result = -1; /* the lease runs out and someone takes it again */
        goto done;
    }
    if (rows != 1) {
        report_lease_lost(&run, "not started");
        goto done;
    }
    if (run.kind->batch_fn)
        run_batch(&run, now_ms);
    else
        run_handler(&run);
done:
    PQclear(res);
    return result;
}

static void *worker_main(void *arg)
{
    worker_t *worker = arg;
    jobs_t *jobs = worker->jobs;
    while (!atomic_load(&jobs->stopping)) {
        uint64_t seen = current_wake_seq(jobs);
        int taken = lease_and_run(worker);
        if (taken > 0)
            continue;
        int64_t wait_ms = jobs->poll_ms;
        if (taken < 0 && wait_ms < JOBS_DB_AWAY_WAIT_MS)
            wait_ms = JOBS_DB_AWAY_WAIT_MS;
        wait_for_wake(jobs, seen, wait_ms);
    }
    return NULL;
}

/* ------------------------------------------------------------------ */
/* the listener: NOTIFY, the due gauge, retention                        */

static db_status_t listen_channel(jobs_t *jobs)
{
    PGresult *res = NULL;
    db_status_t status = db_run(jobs->listener_db, "jobs_channel", NULL, &res);
    const char *channel = status == DB_OK ? db_value(res, 0, 0) : NULL;
    if (status == DB_OK && !channel) {
        log_error("job listener's session has no schema in its search_path; workers will only "
                  "poll",
                  LF_STR("schema", jobs->schema), LF_ERR("no_schema"));
        status = DB_ERROR;
        goto done;
    }
    if (status != DB_OK)
        goto failed;
    if (jobs->schema) {
        char expected[128];
        int n = snprintf(expected, sizeof expected, "conveyor_jobs_%s", jobs->schema);
        if (n > 0 && n <= 63 && strcmp(expected, channel) != 0)
            log_warn("the configured schema is not the session's current schema; listening on "
                     "the session's, where enqueuers notify",
                     LF_STR("schema", jobs->schema), LF_STR("channel", channel),
                     LF_ERR("schema_mismatch"));
    }
    status = db_listen(jobs->listener_db, channel);
failed:
    if (status == DB_ERROR)
        log_error("job listener could not LISTEN; workers will only poll",
                  LF_STR("pg", db_errmsg(jobs->listener_db)), LF_ERR("job_listen_failed"));
done:
    PQclear(res);
    return status;
}

static void refresh_due_gauge(jobs_t *jobs)
{
    PGresult *res = NULL;
    db_params_t params;
    db_params_init(&params);
    db_param_i64(&params, clock_now_ms());
    int64_t due = 0;
    if (db_run(jobs->listener_db, "jobs_due_count", &params, &res) == DB_OK &&
        db_get_i64(res, 0, 0, &due) == 0)
        metrics_gauge_set(jobs->due_gauge, due);
    PQclear(res);
}

/* Deletes done jobs older than the retention, a batch per statement so each
 * stays far under the role's statement_timeout. */
static void purge_done(jobs_t *jobs)
{
    int64_t total = 0, rows = JOBS_PURGE_BATCH;
    while (rows == JOBS_PURGE_BATCH && !atomic_load(&jobs->stopping)) {
        db_params_t params;
        db_params_init(&params);
        db_param_i64(&params, clock_now_ms() - JOBS_RETENTION_MS);
        db_status_t status = db_run_count(jobs->listener_db, "jobs_purge", &params, &rows);
        if (status != DB_OK) {
            log_warn("could not purge old done jobs; trying again later",
                     LF_STR("pg", db_errmsg(jobs->listener_db)), LF_ERR("job_purge_failed"));
            break;
        }
        total += rows;
    }
    metrics_counter_add(jobs->purged, (uint64_t)total);
    if (total > 0)
        log_info("purged old done jobs", LF_INT("jobs", total));
}

/* Wakes the workers on NOTIFY; keeps the gauge and the purge going. When
 * LISTEN itself is refused (logged) the workers still poll. */
static void *listener_main(void *arg)
{
    jobs_t *jobs = arg;
    bool listening = false, listen_refused = false;
    uint64_t generation = 0;
    int64_t next_gauge_ms = 0;
    uint64_t rng = random_seed(-1);
    /* replicas started together should not purge together */
    int64_t next_purge_ms =
        clock_mono_ms() + JOBS_PURGE_FIRST_MS + (int64_t)(random_next(&rng) % 60000);
    while (!atomic_load(&jobs->stopping)) {
        if (!listening && !listen_refused) {
            db_status_t status = listen_channel(jobs);
            listening = status == DB_OK;
            listen_refused = status == DB_ERROR;
            if (listening) {
                generation = db_generation(jobs->listener_db);
                jobs_wake(jobs); /* whatever was notified while we were not listening */
            }
        }
        if (listening) {
            int got = db_wait_notify(jobs->listener_db, 250, NULL, 0);
            if (got > 0)
                jobs_wake(jobs);
            /* a new session LISTENs again by itself; say so to the workers */
            if (got < 0 || db_generation(jobs->listener_db) != generation)
                listening = false;
        } else {
            wait_for_wake(jobs, current_wake_seq(jobs),
                          listen_refused ? 250 : JOBS_DB_AWAY_WAIT_MS);
        }
        int64_t now = clock_mono_ms();
        if (now >= next_gauge_ms) {
            refresh_due_gauge(jobs);
            next_gauge_ms = now + JOBS_GAUGE_EVERY_MS;
        }
        if (now >= next_purge_ms) {
            purge_done(jobs);
            next_purge_ms = now + JOBS_PURGE_EVERY_MS;
        }
    }
    return NULL;
}

/* ------------------------------------------------------------------ */
/* life cycle                                                           */

jobs_t *jobs_new(const jobs_config_t *config)
{
    if (!config || !config->dsn) {
        log_error("the job queue needs a DSN", LF_ERR("bad_config"));
        return NULL;
    }
    jobs_t *jobs = calloc(1, sizeof *jobs);
    if (!jobs)
        return NULL;
    jobs->dsn = strdup(config->dsn);
    jobs->schema = config->schema ? strdup(config->schema) : NULL;
    jobs->app_name = strdup(config->app_name ? config->app_name : "conveyor");
    jobs->worker_count = config->workers > 0 ? config->workers : JOBS_DEFAULT_WORKERS;
    jobs->lease_ms = config->lease_ms > 0 ? config->lease_ms : JOBS_DEFAULT_LEASE_MS;
    jobs->poll_ms = config->poll_ms > 0 ? config->poll_ms : JOBS_DEFAULT_POLL_MS;
    jobs->backoff_base_ms =
        config->backoff_base_ms > 0 ? config->backoff_base_ms : JOBS_DEFAULT_BACKOFF_MS;
    jobs->backoff_max_ms =
        config->backoff_max_ms > 0 ? config->backoff_max_ms : JOBS_DEFAULT_BACKOFF_MAX;
    if (jobs->backoff_max_ms < jobs->backoff_base_ms)
        jobs->backoff_max_ms = jobs->backoff_base_ms;
    jobs->db_setup = config->db_setup;
    jobs->db_setup_arg = config->db_setup_arg;
    jobs->on_commit = config->on_commit;
    jobs->on_commit_arg = config->on_commit_arg;
    pthread_mutex_init(&jobs->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&jobs->wake, &attr);
    pthread_condattr_destroy(&attr);
    atomic_init(&jobs->stopping, false);
    kind_metrics(&jobs->unknown_kind, "unknown");
    jobs->due_gauge = metrics_gauge("jobs_due", NULL, "Queued jobs whose run_at has come.");
    jobs->purged = metrics_counter("jobs_purged_total", NULL, "Done jobs deleted after retention.");
    if (!jobs->dsn || (config->schema && !jobs->schema) || !jobs->app_name) {
        jobs_destroy(&jobs);
        return NULL;
    }
    return jobs;
}

/* Adds a kind with fn or batch_fn. */
static int add_kind(jobs_t *jobs, const char *kind, job_fn fn, job_batch_fn batch_fn, int batch_max,
                    void *arg)
{
    if (!jobs || (!fn && !batch_fn) || !plain_kind(kind) || jobs->started ||
        find_kind(jobs, kind)) {
        log_error("could not register a job kind: bad or duplicate name, or workers running",
                  LF_STR("kind", kind), LF_ERR("bug_job_register"));
        return -1;
    }
    if (jobs->kind_count == jobs->kind_cap) {
        size_t cap = jobs->kind_cap ? jobs->kind_cap * 2 : 8;
        job_kind_t *grown = realloc(jobs->kinds, cap * sizeof *grown);
        if (!grown)
            return -1;
        jobs->kinds = grown;
        jobs->kind_cap = cap;
    }
    job_kind_t *entry = &jobs->kinds[jobs->kind_count];
    memset(entry, 0, sizeof *entry);
    entry->kind = strdup(kind);
    if (!entry->kind)
        return -1;
    entry->fn = fn;
    entry->batch_fn = batch_fn;
    entry->batch_max = batch_max;
    entry->arg = arg;
    kind_metrics(entry, kind);
    jobs->kind_count++;
    return 0;
}

int jobs_register(jobs_t *jobs, const char *kind, job_fn fn, void *arg)
{
    return add_kind(jobs, kind, fn, NULL, 0, arg);
}

int jobs_on_dead(jobs_t *jobs, const char *kind, job_dead_fn fn)
{
    job_kind_t *entry = jobs && !jobs->started && kind ? find_kind(jobs, kind) : NULL;
    if (!entry || !fn) {
        log_error("could not register a job kind's death: unknown kind, or workers running",
                  LF_STR("kind", kind), LF_ERR("bug_job_register"));
        return -1;
    }
    entry->on_dead = fn;
    return 0;
}

int jobs_register_batch(jobs_t *jobs, const char *kind, int max, job_batch_fn fn, void *arg)
{
    if (max < 1 || max > JOBS_BATCH_MAX) {
        log_error("a batch job kind needs a batch of 1 to 256", LF_STR("kind", kind),
                  LF_INT("max", max), LF_ERR("bug_job_register"));
        return -1;
    }
    return add_kind(jobs, kind, NULL, fn, max, arg);
}

/* A worker's session with the kit's and the service's statements. */
static db_t *worker_db_new(jobs_t *jobs)
{
    db_t *db = db_new(jobs->dsn, jobs->app_name);
    if (!db)
        return NULL;
    if (PREPARE_ALL(db, worker_statements) != 0 || PREPARE_ALL(db, enqueue_statements) != 0 ||
        (jobs->db_setup && jobs->db_setup(db, jobs->db_setup_arg) != 0))
        db_destroy(&db);
    return db;
}

int jobs_start(jobs_t *jobs)
{
    if (!jobs || jobs->started)
        return -1;
    jobs->workers = calloc((size_t)jobs->worker_count, sizeof *jobs->workers);
    jobs->listener_db = db_new(jobs->dsn, jobs->app_name);
    if (!jobs->workers || !jobs->listener_db || PREPARE_ALL(jobs->listener_db, listener_statements))
        goto fail;
    for (int i = 0; i < jobs->worker_count; i++) {
        worker_t *worker = &jobs->workers[i];
        worker->jobs = jobs;
        worker->index = i;
        worker->rng = random_seed(i);
        worker->db = worker_db_new(jobs);
        if (!worker->db)
            goto fail;
    }
    jobs->started = true;
    for (int i = 0; i < jobs->worker_count; i++) {
        worker_t *worker = &jobs->workers[i];
        if (pthread_create(&worker->thread, NULL, worker_main, worker) != 0)
            goto fail;
        worker->thread_started = true;
    }
    if (pthread_create(&jobs->listener, NULL, listener_main, jobs) != 0)
        goto fail;
    jobs->listener_started = true;
    log_info("job workers started", LF_INT("workers", jobs->worker_count),
             LF_INT("kinds", (long long)jobs->kind_count), LF_INT("lease_ms", jobs->lease_ms),
             LF_INT("poll_ms", jobs->poll_ms));
    return 0;
fail:
    /* jobs_destroy stops and joins whatever did start */
    log_error("could not start the job workers (setup of a session failed or out of resources)",
              LF_ERR("start_failed"));
    return -1;
}

void jobs_destroy(jobs_t **self_p)
{
    jobs_t *jobs = self_p ? *self_p : NULL;
    if (!jobs)
        return;
    pthread_mutex_lock(&jobs->lock);
    atomic_store(&jobs->stopping, true);
    pthread_cond_broadcast(&jobs->wake);
    pthread_mutex_unlock(&jobs->lock);
    /* each worker finishes the handler in hand and gives back a lease it
     * took after the stop; then the sessions can go */
    for (int i = 0; jobs->workers && i < jobs->worker_count; i++) {
        if (jobs->workers[i].thread_started)
            pthread_join(jobs->workers[i].thread, NULL);
        db_destroy(&jobs->workers[i].db);
    }
    if (jobs->listener_started)
        pthread_join(jobs->listener, NULL);
    db_destroy(&jobs->listener_db);
    if (jobs->started)
        log_info("job workers stopped", LF_INT("workers", jobs->worker_count));
    free(jobs->workers);
    for (size_t i = 0; i < jobs->kind_count; i++)
        free(jobs->kinds[i].kind);
    free(jobs->kinds);
    pthread_cond_destroy(&jobs->wake);
    pthread_mutex_destroy(&jobs->lock);
    free(jobs->dsn);
    free(jobs->schema);
    free(jobs->app_name);
    free(jobs);
    *self_p = NULL;
}
