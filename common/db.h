/*
 * db.h — PostgreSQL connections that survive the database going away.
 *
 * A db_t is one libpq session used by one thread at a time. It connects
 * lazily, reconnects on the next call after the server went away, and
 * re-prepares its statements and re-issues its LISTENs on the new session.
 * Callers learn that a session was replaced through db_generation(): a
 * session-level advisory lock held on the old one is gone.
 *
 * Every call returns a db_status_t that tells the caller what to do:
 *   DB_OK         go on;
 *   DB_TRANSIENT  the database is away, restarting, too busy, or the
 *                 transaction lost a serialization/deadlock/timeout race:
 *                 roll back (db_rollback) and try the whole transaction
 *                 again later — a handler answers HANDLER_RETRY;
 *   DB_ERROR      this statement failed for a reason retrying will not fix
 *                 (a constraint, bad input, a bug); db_sqlstate() says which.
 * Errors are not logged here: the caller knows what failed and logs once.
 *
 * Statements are prepared by name (db_prepare) and run with parameters
 * built in a db_params_t; outside data never becomes SQL text (STYLE.md).
 * Connection strings get TCP keepalives and a connect timeout added so a
 * dead peer's session, and the advisory locks it held, are released.
 */
#ifndef CONVEYOR_DB_H
#define CONVEYOR_DB_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* DB_UNKNOWN: a COMMIT was sent and its answer was lost — only from a
 * transaction begun with db_begin_tracked, whose outcome db_settle then
 * asks the database for (common/tx.h does both). */
typedef enum { DB_OK = 0, DB_ERROR = -1, DB_TRANSIENT = -2, DB_UNKNOWN = -3 } db_status_t;

typedef struct db db_t;

/* A session for dsn (a URL or key=value string). app_name is shown in
 * pg_stat_activity. Does not connect yet; NULL only on out of memory.
 * Caller owns the result. */
db_t *db_new(const char *dsn, const char *app_name);
void db_destroy(db_t **self_p);

/* Connects now if not connected; DB_OK or DB_TRANSIENT. */
db_status_t db_connect(db_t *db);

/* Registers a named statement; it is prepared on each session before its
 * first use. Registering a name twice replaces the SQL. 0 ok, -1 OOM. */
int db_prepare(db_t *db, const char *name, const char *sql);

/* Parameters of one call. Values are borrowed until the call returns,
 * except numbers, which are formatted into the struct itself. */
#define DB_MAX_PARAMS 24
typedef struct {
    int count;
    const char *values[DB_MAX_PARAMS];
    int lengths[DB_MAX_PARAMS];
    int formats[DB_MAX_PARAMS]; /* 0 text, 1 binary (bytea) */
    char numbers[DB_MAX_PARAMS][24];
    bool overflow; /* more than DB_MAX_PARAMS were added: the call fails */
} db_params_t;

void db_params_init(db_params_t *params);
void db_param_text(db_params_t *params, const char *text); /* NULL is SQL NULL */
void db_param_i64(db_params_t *params, int64_t value);
void db_param_u64(db_params_t *params, uint64_t value);
void db_param_bool(db_params_t *params, bool value);
void db_param_bytes(db_params_t *params, const void *bytes, size_t len); /* bytea, binary */
void db_param_null(db_params_t *params);

/* Runs a prepared statement. On DB_OK and res_out != NULL, *res_out is the
 * result and the caller owns it (PQclear); otherwise *res_out is NULL.
 * params may be NULL for none. */
db_status_t db_run(db_t *db, const char *stmt_name, const db_params_t *params, PGresult **res_out);

/* db_run with the result in PostgreSQL's binary format: integers come as
 * big-endian bytes, bytea as its raw bytes (no hex to encode on the server
 * and decode here), text as it is. For the hot reads whose every row is
 * turned into bytes at once (the relay's and replay's outbox rows); read
 * the cells with db_get_i64, db_get_bytes or db_cell_bytes, which take
 * either format (db_value and the other helpers read text only). */
db_status_t db_run_binary(db_t *db, const char *stmt_name, const db_params_t *params,
                          PGresult **res_out);

/* Runs a prepared statement and reports the rows it changed or returned. */
db_status_t db_run_count(db_t *db, const char *stmt_name, const db_params_t *params,
                         int64_t *rows_out);

/* Runs SQL text that is not prepared: with params NULL it may hold several
 * statements (migrations, setup); otherwise one statement with $n. Same
 * ownership of *res_out as db_run. Never build sql from outside data. */
db_status_t db_run_sql(db_t *db, const char *sql, const db_params_t *params, PGresult **res_out);

/* Runs `COPY ... FROM STDIN` (sql, fixed text) and sends data as its whole
 * input (bulk.h builds it in the binary format). Same statuses as db_run;
 * DB_ERROR if sql is not a COPY FROM STDIN. */
db_status_t db_copy_in(db_t *db, const char *sql, const void *data, size_t len);

/* Transactions. db_begin fails with DB_ERROR if one is already open.
 * db_rollback is safe to call in any state (no-op outside a transaction,
 * and it never fails: a lost session has rolled back anyway). */
db_status_t db_begin(db_t *db);
db_status_t db_commit(db_t *db);
void db_rollback(db_t *db);
bool db_in_tx(const db_t *db);

/* A transaction whose COMMIT can be settled: BEGIN and txid_current() in
 * one round trip. Its db_commit tells apart a COMMIT that was never sent
 * (the connection was lost before: DB_TRANSIENT, nothing committed) from
 * one whose answer was lost (DB_UNKNOWN). */
db_status_t db_begin_tracked(db_t *db);

/* After DB_UNKNOWN: asks the database what became of that transaction
 * (txid_status of the id taken inside it, on a new session), waiting up to
 * wait_ms for the database to answer and the transaction to end.
 * *committed_out: true committed, false aborted. DB_OK when known,
 * DB_UNKNOWN when the database did not tell within wait_ms. */
db_status_t db_settle(db_t *db, int wait_ms, bool *committed_out);

/* Savepoints inside a transaction; names are plain identifiers of ours. */
db_status_t db_savepoint(db_t *db, const char *name);
db_status_t db_release_savepoint(db_t *db, const char *name);
db_status_t db_rollback_to_savepoint(db_t *db, const char *name);

/* Work deferred to the end of the transaction: a multi-row INSERT that
 * collects the rows of many calls (common/bulk.h; the outbox's rows are
 * the last statement before COMMIT, DESIGN.md). db_commit flushes every
 * deferral, in ascending `order`, before COMMIT (a failure fails the
 * commit); db_savepoint flushes before the savepoint, so a rollback to it
 * only has to discard what was deferred since; db_rollback and
 * db_rollback_to_savepoint discard. `key` identifies the deferral on the
 * session (db_deferred_find). */
#define DB_DEFERRED_MAX 16
typedef struct db_deferred db_deferred_t;
struct db_deferred {
    const void *key;
    int order;
    db_status_t (*flush)(db_t *db, db_deferred_t *self);
    void (*discard)(db_deferred_t *self);
    /* Optional: after COMMIT (committed true) or ROLLBACK finished; for what
     * must outlive the transaction exactly, such as a lock (txlock.h). */
    void (*after_end)(db_deferred_t *self, bool committed);
    void (*destroy)(db_deferred_t *self);
};

/* The session's deferral with this key, or NULL; borrowed. */
db_deferred_t *db_deferred_find(const db_t *db, const void *key);

/* True while db_commit flushes the deferrals: what a flush runs now is the
 * transaction's last work before COMMIT (a savepoint's flush is not). */
bool db_committing(const db_t *db);

/* Adds a deferral; the session owns it (destroyed in db_destroy, or at
 * once when the session already has DB_DEFERRED_MAX: then -1, and the
 * session's error, DB_STATE_PROGRAM_LIMIT, says so). */
int db_deferred_add_take(db_t *db, db_deferred_t *deferred);

/* A memo of the session's: what its transaction has read and may use
 * again (a manager's open slots, orders read ahead), forgotten when the
 * transaction ends or rolls back to a savepoint: clear(self) empties it
 * then (and before it is freed with the session). The caller's struct of
 * size bytes begins with DB_MEMO_HEAD; it is created zeroed on the first
 * call with size (0 only finds it). Borrowed; NULL when absent, or out of
 * memory or room (the session's error says so). */
#define DB_MEMO_HEAD                                                                               \
    db_deferred_t base;                                                                            \
    void (*clear)(db_deferred_t * self)
db_deferred_t *db_memo_of(db_t *db, const void *key, size_t size, void (*clear)(db_deferred_t *));

/* The last error: SQLSTATE ("23505"; "" when the connection failed before
 * the server answered) and the server's or libpq's message (never NULL).
 * Valid until the next call on db. */
const char *db_sqlstate(const db_t *db);
const char *db_errmsg(const db_t *db);

/* A failure of the caller's own, not the server's, recorded on db as if
 * the database had said it, so that whoever answers for it reads the
 * right code and message instead of a stale one: out of memory
 * (DB_STATE_OUT_OF_MEMORY, transient), an arithmetic overflow
 * (DB_STATE_OVERFLOW), bad data (DB_STATE_BAD_DATA). Returns DB_TRANSIENT
 * for class 53 (resources), DB_ERROR otherwise. */
#define DB_STATE_OUT_OF_MEMORY "53200"
#define DB_STATE_OVERFLOW      "22003"
#define DB_STATE_BAD_DATA      "22000"
#define DB_STATE_PROGRAM_LIMIT "54000" /* program_limit_exceeded: ours, a session full */
db_status_t db_fail(db_t *db, const char *sqlstate, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* What a failed call means for whoever answers for it — a handler
 * (inbox_result), a job (jobs_result), an HTTP route
 * (service_answer_db_failure): one stable code and whether trying again
 * later can help.
 *   pg_unavailable   the database is away, busy, or a race was lost: retry
 *   out_of_memory    the database or this process ran out: retry
 *   outcome_unknown  a COMMIT's answer was lost and not settled: retry only
 *                    what is idempotent (a handler: its offset makes it so)
 *   overflow         a number does not fit (22003): permanent
 *   bad_data         other data exceptions (22xxx): permanent
 *   constraint       an integrity rule refused it (23xxx): permanent
 *   pg_error         anything else: permanent */
typedef struct {
    const char *code;
    bool transient;
} db_failure_t;
db_failure_t db_failure_of(const db_t *db, db_status_t status);

/* Incremented each time a new session is established (first connect
 * included); compare to detect that session state was lost. */
uint64_t db_generation(const db_t *db);

/* The live connection, or NULL when not connected. Borrowed: do not close
 * it, do not leave it in another state than you found it. */
PGconn *db_conn(db_t *db);

/* Notifications. db_listen registers a channel (re-issued after every
 * reconnect). db_wait_notify waits up to timeout_ms for one; returns 1 if
 * at least one arrived (all pending are drained; the first channel name is
 * copied into channel_out if given), 0 on timeout, -1 if the session is
 * down (it will reconnect on the next call). */
db_status_t db_listen(db_t *db, const char *channel);
int db_wait_notify(db_t *db, int timeout_ms, char *channel_out, size_t channel_size);

/* Session-level advisory locks keyed (schema oid, purpose), so that two
 * services in one database never collide. The schema's oid is looked up
 * once per session. *acquired_out tells whether this session now holds it.
 * The lock dies with the session: watch db_generation(). */
enum {
    DB_LOCK_MIGRATIONS = 1, /* migrate_run */
    DB_LOCK_LEADER = 2,     /* the relay + applier of a service */
};
db_status_t db_try_advisory_lock(db_t *db, const char *schema, int purpose, bool *acquired_out);
db_status_t db_advisory_lock(db_t *db, const char *schema, int purpose); /* waits */
db_status_t db_advisory_unlock(db_t *db, const char *schema, int purpose);

/* Result helpers. db_value: the text of a cell, NULL for SQL NULL (lives
 * with res). db_get_i64: 0 ok, -1 for NULL or not a number. db_get_bytes:
 * decodes a bytea cell; caller owns *bytes_out (free()); -1 for NULL.
 * db_get_i64 and db_get_bytes read a result in either format (db_run's
 * text, db_run_binary's binary); the others read text only. */
const char *db_value(const PGresult *res, int row, int col);
int db_get_i64(const PGresult *res, int row, int col, int64_t *out);
/* The same for columns a query guarantees: the fallback when NULL or not a
 * number; true only for a boolean 't'; the text copied into out ("" for
 * NULL, cut to size). */
int64_t db_get_i64_or(const PGresult *res, int row, int col, int64_t fallback);
bool db_get_bool(const PGresult *res, int row, int col);
void db_copy_value(const PGresult *res, int row, int col, char *out, size_t size);
int db_get_bytes(const PGresult *res, int row, int col, unsigned char **bytes_out, size_t *len_out);

/* A bytea cell of a result in either format, without a copy when the
 * result is binary (*bytes_out points into res, *owned_out NULL); as
 * db_get_bytes when it is text (*owned_out is the copy, the caller frees
 * it). 0 ok, -1 for NULL or bad hex. */
int db_cell_bytes(const PGresult *res, int row, int col, const unsigned char **bytes_out,
                  size_t *len_out, unsigned char **owned_out);

/* A fixed set of sessions shared by threads that each need one for a
 * while (HTTP handlers). setup runs on every new db_t (register statements,
 * listens); it may be NULL. */
typedef struct db_pool db_pool_t;
typedef int (*db_setup_fn)(db_t *db, void *arg);

/* Caller owns the result. Sessions are created lazily, at most size. */
db_pool_t *db_pool_new(const char *dsn, const char *app_name, int size, db_setup_fn setup,
                       void *setup_arg);
void db_pool_destroy(db_pool_t **self_p);

/* Borrows a session, waiting up to wait_ms for one to be free; NULL on
 * timeout. The caller must give it back with db_pool_release. */
db_t *db_pool_acquire(db_pool_t *pool, int wait_ms);

/* Gives a session back (rolling back a transaction left open) and sets
 * *db_p to NULL. */
void db_pool_release(db_pool_t *pool, db_t **db_p);

#endif
