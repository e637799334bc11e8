/*
 * jobs.h — the durable job queue: work that takes time or calls outside.
 *
 * DESIGN.md "Work that takes time": an event handler never calls a bank, a
 * carrier or a mail server. It inserts a job (jobs_enqueue, inside its own
 * transaction) and commits; worker threads in every replica lease due jobs
 * with FOR UPDATE SKIP LOCKED, commit started_at before calling out, and
 * record success, a retry with exponential backoff and jitter, or death
 * after the last attempt. A timer is a job with a future run_at.
 *
 * Exactly-once effects: a handler that writes to the database does so in
 * the transaction that completes the job. It calls jobs_begin_finish(run),
 * which opens a transaction and checks that the lease is still ours; the
 * kit then marks the job done in that same transaction and commits. A job
 * whose lease was lost (its worker paused past the lease and another took
 * it) cannot complete, so its effects roll back.
 *
 * A job found started but never finished (its worker died mid-call) runs
 * again with run->job.resumed set: the handler must look the outcome up
 * (the payment by our key, the label by the shipment) instead of repeating
 * a paid call, or give up with JOB_UNKNOWN for an operator to decide.
 *
 * Table: <schema>.jobs, created by the kit's migrations.
 */
#ifndef CONVEYOR_JOBS_H
#define CONVEYOR_JOBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/db.h"

/* --- enqueueing (inside the caller's transaction) --- */
typedef struct {
    const char *kind;      /* registered handler name, "send_sms" */
    const char *payload;   /* JSON text; NULL means "{}" */
    int64_t run_at_ms;     /* unix ms (business clock); 0 means now */
    int max_attempts;      /* 0 means the kit default (10) */
    const char *dedup_key; /* NULL, or a key that makes a second enqueue a no-op */
} job_spec_t;

/* Inserts a job on db (normally inside the caller's transaction). With a
 * dedup_key already present, inserts nothing and sets *created_out false.
 * *job_id_out gets the id of the new or existing job (either may be NULL).
 * The job runs once the transaction commits. */
db_status_t jobs_enqueue(db_t *db, const job_spec_t *spec, bool *created_out, int64_t *job_id_out);

/* The same without a round trip: the job is inserted with the
 * transaction's other deferred rows just before COMMIT (common/bulk.h), a
 * job whose dedup_key exists being skipped then. No id and no "created"
 * come back, so use it where neither is needed (a timer for a row this
 * transaction made). Outside a transaction it is inserted at once. */
db_status_t jobs_enqueue_deferred(db_t *db, const job_spec_t *spec);

/* Makes the job of kind with dedup_key run now, on db (inside the
 * caller's transaction or not): a queued one is due at once (run_at
 * brought forward, never pushed back; other replicas woken by NOTIFY at
 * commit); a running one runs again as soon as its attempt ends, if that
 * attempt asks for a retry, whatever backoff or Retry-After it asked
 * (the wake is kept in the row, never lost while the job runs). A done
 * or dead job, or none, is left alone. *woken_out (may be NULL): a
 * queued or running job was found. */
db_status_t jobs_run_now(db_t *db, const char *kind, const char *dedup_key, bool *woken_out);

/* Wakes local workers now (after the enqueueing transaction committed);
 * other replicas are woken by NOTIFY, sent by jobs_enqueue. */
typedef struct jobs jobs_t;
void jobs_wake(jobs_t *jobs);

/* Whether the last transaction on db that ended committed jobs it enqueued
 * (so local workers are worth waking); clears it. */
bool jobs_enqueued_take(db_t *db);

/* --- running --- */
typedef struct {
    int64_t id;
    const char *kind;
    const char *payload;   /* JSON text, never NULL */
    const char *dedup_key; /* may be NULL */
    int attempt;           /* 1 on the first run */
    int max_attempts;
    bool resumed; /* an earlier attempt started and never finished */
    int64_t run_at_ms;
} job_t;

typedef enum {
    JOB_DONE = 0, /* finished: mark done (in the handler's transaction if it opened one) */
    JOB_RETRY,    /* transient failure: back off and try again, dead after max_attempts */
    JOB_FAIL,     /* permanent failure: dead now */
    JOB_UNKNOWN,  /* the outcome of an outside call cannot be known: dead, marked
                     outcome_unknown for an operator to decide */
} job_outcome_t;

typedef struct job_run job_run_t;

/* The job being run, the worker's own session, and the handler's arg. */
const job_t *job_run_job(const job_run_t *run);
db_t *job_run_db(job_run_t *run);
void *job_run_arg(const job_run_t *run);

/* Records why the job failed (a stable code and a message), kept in the
 * jobs row and logged once by the kit. */
void job_run_error(job_run_t *run, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The one mapping from a failed database call to a job's outcome
 * (db_failure_of), with the failure recorded (job_run_error): DB_OK is
 * JOB_DONE, a transient failure JOB_RETRY, any other JOB_FAIL with its
 * stable code and "<what>: <the database's message>". */
job_outcome_t jobs_result(job_run_t *run, db_status_t status, const char *what);

/* Asks for the next attempt no sooner than delay_ms (a 429's Retry-After). */
void job_run_retry_after(job_run_t *run, int64_t delay_ms);

/* Opens the completion transaction: BEGIN and lock the job row, checking
 * that the lease is still ours. DB_OK: write the job's effects on
 * job_run_db() and return JOB_DONE; the kit marks it done and commits.
 * DB_ERROR means the lease is lost: return JOB_RETRY without writing. */
db_status_t jobs_begin_finish(job_run_t *run);

/* Extends the lease during a long sequence of calls (each call's own
 * timeout must stay under half the lease). DB_ERROR if the lease is lost. */
db_status_t jobs_keepalive(job_run_t *run);

typedef job_outcome_t (*job_fn)(job_run_t *run);

/* A kind whose jobs stand for rows of its own (a message to send) records
 * their death itself: fn runs whenever a job of the kind dies (its handler
 * gave up: JOB_FAIL, JOB_UNKNOWN, its last JOB_RETRY; or the kit did: its
 * attempts ran out unfinished, its workers lost) in the transaction that
 * marks it dead, on job_run_db(), the job row locked under the lease, so
 * its row ends with the job and never waits for a job that will not come
 * back. outcome is "failed" or "outcome_unknown" as the kit records it;
 * code and detail say why. DB_OK: the kit marks the job dead and commits;
 * anything else rolls back and leaves the job running, taken again when
 * its lease runs out (and dying again, fn with it). Register after the
 * kind, before start; 0 ok, -1 an unknown kind. */
typedef db_status_t (*job_dead_fn)(job_run_t *run, const char *outcome, const char *code,
                                   const char *detail);
int jobs_on_dead(jobs_t *jobs, const char *kind, job_dead_fn fn);

/* --- batches ---
 * A kind whose jobs are cheaper together (N calls to the same bank made
 * concurrently instead of one after another) registers a batch handler.
 * A worker that leases one due job of the kind claims up to max - 1 more
 * queued due jobs of it at once (expired leases still come one at a time),
 * each with its own row, attempt count and "resumed", started_at committed
 * for all before the handler runs. The handler gets them all and completes
 * each individually with jobs_complete: done (after jobs_begin_finish(run)
 * and its effects, one completion transaction per job on the worker's one
 * session: finish one before beginning the next), retry with backoff, or
 * dead; or the done ones all in one completion transaction
 * (jobs_begin_finish_many, jobs_finish_many); or a run whose work it never
 * began back to the queue as it was (jobs_release). A run it leaves
 * uncompleted is retried ("batch_no_outcome"). A worker that dies mid-batch
 * leaves every run it had not completed started: each comes back resumed. */
#define JOBS_BATCH_MAX 256

typedef void (*job_batch_fn)(job_run_t *const *runs, size_t count, void *arg);

/* Registers a batch handler for a kind before start (max 1..JOBS_BATCH_MAX;
 * max 1 runs one job per call). 0 ok, -1 bad/duplicate. job_run_arg()
 * gives arg too. */
int jobs_register_batch(jobs_t *jobs, const char *kind, int max, job_batch_fn fn, void *arg);

/* Records what became of one job of a batch, as a handler's return would
 * (its completion transaction committed when open and outcome is
 * JOB_DONE, rolled back otherwise). Once per run; later calls are ignored. */
void jobs_complete(job_run_t *run, job_outcome_t outcome);

/* Whether a statement found the run's lease gone (another worker has the
 * job now): its outside call must not be made. */
bool job_run_lease_lost(const job_run_t *run);

/* Extends the leases of count runs (of one batch) in one statement.
 * DB_ERROR when any was lost (those are marked lost and cannot complete). */
db_status_t jobs_keepalive_many(job_run_t *const *runs, size_t count);

/* One completion transaction for several runs of one batch, instead of one
 * each (a batch whose ends are cheaper recorded together: N rows updated by
 * one statement, one COMMIT). jobs_begin_finish_many opens it: BEGIN and
 * lock, in one statement, the rows of the runs not yet completed whose
 * lease is still ours; a run whose lease is lost is marked so
 * (job_run_lease_lost: write nothing for it). DB_OK: write the effects of
 * the runs held on job_run_db(), complete no run of the list on its own
 * meanwhile, then call jobs_finish_many. DB_ERROR when none is held (all
 * lost), or the failure; nothing is open then. */
db_status_t jobs_begin_finish_many(job_run_t *const *runs, size_t count);

/* Marks every run held by jobs_begin_finish_many done in one statement and
 * commits: their effects and "done" are one fact. Then each of them is
 * completed, and each run of the list found lost is completed as lost.
 * On a failure everything is rolled back, no run is completed, and the
 * status is returned: complete each run on its own then (its own
 * jobs_begin_finish, or an outcome). */
db_status_t jobs_finish_many(job_run_t *const *runs, size_t count);

/* Puts a run of a batch whose work the handler did not begin (no outside
 * call was made for it: it ran out of time, or the batch stopped) back in
 * the queue as it was before it was leased: queued, due now, its attempt
 * returned, not started. Completes the run. A resumed run cannot go back
 * (an earlier attempt may have called out): it is retried instead. */
void jobs_release(job_run_t *run);

typedef struct {
    const char *dsn;    /* runtime role of the schema */
    const char *schema; /* for NOTIFY channel naming */
    const char *app_name;
    int workers;             /* threads; 0 means 2 */
    int64_t lease_ms;        /* 0 means 60000 */
    int64_t poll_ms;         /* 0 means 500 */
    int64_t backoff_base_ms; /* 0 means 1000: attempt n waits base * 2^(n-1), full jitter */
    int64_t backoff_max_ms;  /* 0 means 3600000 */
    db_setup_fn db_setup;    /* registers the handlers' statements on each worker's session */
    void *db_setup_arg;
    /* Called after a completion transaction the handler opened committed
     * (its effects may include outbox rows: wake the relay). May be NULL. */
    void (*on_commit)(db_t *db, void *arg);
    void *on_commit_arg;
} jobs_config_t;

/* Caller owns the result. Nothing runs until jobs_start. */
jobs_t *jobs_new(const jobs_config_t *config);

/* Registers a handler for a kind before start; 0 ok, -1 OOM/duplicate. */
int jobs_register(jobs_t *jobs, const char *kind, job_fn fn, void *arg);

/* Starts the workers; 0 ok. */
int jobs_start(jobs_t *jobs);

/* Stops: lets each running handler finish, gives back leases of jobs not
 * started, joins the threads, frees. NULL-safe. */
void jobs_destroy(jobs_t **self_p);

#endif
