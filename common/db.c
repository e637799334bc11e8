/*
 * db.c — libpq sessions that reconnect, prepared statements, transactions,
 * notifications, advisory locks and a small session pool (db.h).
 *
 * A session is opened lazily and replaced after the server goes away; a
 * transaction in progress is never silently continued on a new session:
 * once BEGIN ran, a lost connection makes every call answer DB_TRANSIENT
 * until the caller rolls back. Statements are registered by name and
 * prepared on each session just before their first use there.
 */
#include "common/hex.h"
#include "common/db.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/log.h"

typedef struct {
    char *name;
    char *sql;
    uint64_t prepared_generation; /* the session it is prepared on; 0: none */
} statement_t;

struct db {
    char *dsn;
    char *app_name;
    PGconn *conn;
    uint64_t generation;
    bool tx_open; /* BEGIN ran and neither COMMIT nor ROLLBACK since */
    bool tx_lost; /* the session died inside the transaction */
    bool tracked; /* begun with db_begin_tracked: txid holds its id */
    int64_t txid;
    statement_t *statements;
    size_t statement_count, statement_cap;
    char **channels;
    size_t channel_count;
    db_deferred_t *deferred[DB_DEFERRED_MAX]; /* owned, in flush order */
    size_t deferred_count;
    bool committing; /* db_commit is flushing the deferrals */
    char sqlstate[6];
    char errmsg[512];
};

/* ------------------------------------------------------------------ */
/* errors                                                               */

static void set_error(db_t *db, const char *sqlstate, const char *message)
{
    snprintf(db->sqlstate, sizeof db->sqlstate, "%s", sqlstate ? sqlstate : "");
    snprintf(db->errmsg, sizeof db->errmsg, "%s", message ? message : "unknown error");
    /* libpq messages end with a newline; logs are one line */
    size_t len = strlen(db->errmsg);
    while (len > 0 && (db->errmsg[len - 1] == '\n' || db->errmsg[len - 1] == ' '))
        db->errmsg[--len] = '\0';
}

db_status_t db_fail(db_t *db, const char *sqlstate, const char *fmt, ...)
{
    char message[sizeof db->errmsg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    set_error(db, sqlstate, message);
    return strncmp(db->sqlstate, "53", 2) == 0 ? DB_TRANSIENT : DB_ERROR;
}

db_failure_t db_failure_of(const db_t *db, db_status_t status)
{
    const char *state = db ? db->sqlstate : "";
    if (status == DB_UNKNOWN)
        return (db_failure_t){"outcome_unknown", true};
    if (strcmp(state, DB_STATE_OUT_OF_MEMORY) == 0)
        return (db_failure_t){"out_of_memory", true};
    if (status == DB_TRANSIENT)
        return (db_failure_t){"pg_unavailable", true};
    if (strcmp(state, DB_STATE_OVERFLOW) == 0)
        return (db_failure_t){"overflow", false};
    if (strncmp(state, "22", 2) == 0)
        return (db_failure_t){"bad_data", false};
    if (strncmp(state, "23", 2) == 0)
        return (db_failure_t){"constraint", false};
    return (db_failure_t){"pg_error", false};
}

static void clear_error(db_t *db)
{
    db->sqlstate[0] = '\0';
    db->errmsg[0] = '\0';
}

/* SQLSTATEs that retrying the whole transaction later can fix. */
static bool sqlstate_transient(const char *state)
{
    if (!state || !state[0])
        return true; /* no answer from the server at all */
    static const char *const transient[] = {
        "40001", /* serialization_failure */
        "40P01", /* deadlock_detected */
        "55P03", /* lock_not_available (lock_timeout) */
        "57014", /* query_canceled (statement_timeout) */
        "57P01", /* admin_shutdown */
        "57P02", /* crash_shutdown */
        "57P03", /* cannot_connect_now */
        "25P03", /* idle_in_transaction_session_timeout */
        "53300", /* too_many_connections */
    };
    if (strncmp(state, "08", 2) == 0 || strncmp(state, "53", 2) == 0)
        return true; /* connection exceptions, insufficient resources */
    for (size_t i = 0; i < sizeof transient / sizeof transient[0]; i++)
        if (strcmp(state, transient[i]) == 0)
            return true;
    return false;
}

/* Drops a session that is no longer usable. */
static void drop_connection(db_t *db)
{
    if (db->conn) {
        PQfinish(db->conn);
        db->conn = NULL;
    }
    if (db->tx_open)
        db->tx_lost = true;
}

/* Classifies a failed result (or NULL: no result at all) and records it. */
static db_status_t classify_failure(db_t *db, const PGresult *res)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *message = res ? PQresultErrorMessage(res) : NULL;
    if (!message || !message[0])
        message = db->conn ? PQerrorMessage(db->conn) : "no connection to the database";
    set_error(db, state, message);
    bool broken = !db->conn || PQstatus(db->conn) != CONNECTION_OK;
    if (broken) {
        drop_connection(db);
        return DB_TRANSIENT;
    }
    return sqlstate_transient(state) ? DB_TRANSIENT : DB_ERROR;
}

/* ------------------------------------------------------------------ */
/* sessions                                                             */

static void ignore_notice(void *arg, const char *message)
{
    (void)arg;
    log_debug("postgres notice", LF_STR("notice", message));
}

db_t *db_new(const char *dsn, const char *app_name)
{
    db_t *db = calloc(1, sizeof *db);
    if (!db)
        return NULL;
    db->dsn = strdup(dsn ? dsn : "");
    db->app_name = strdup(app_name ? app_name : "conveyor");
    if (!db->dsn || !db->app_name)
        db_destroy(&db);
    return db;
}

void db_destroy(db_t **self_p)
{
    db_t *db = *self_p;
    if (!db)
        return;
    if (db->conn)
        PQfinish(db->conn);
    for (size_t i = 0; i < db->statement_count; i++) {
        free(db->statements[i].name);
        free(db->statements[i].sql);
    }
    free(db->statements);
    for (size_t i = 0; i < db->channel_count; i++)
        free(db->channels[i]);
    free(db->channels);
    for (size_t i = 0; i < db->deferred_count; i++)
        db->deferred[i]->destroy(db->deferred[i]);
    free(db->dsn);
    free(db->app_name);
    free(db);
    *self_p = NULL;
}

static db_status_t exec_simple(db_t *db, const char *sql)
{
    PGresult *res = PQexec(db->conn, sql);
    ExecStatusType status = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    db_status_t result = DB_OK;
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
        result = classify_failure(db, res);
    PQclear(res);
    return result;
}

static db_status_t issue_listen(db_t *db, const char *channel)
{
    char *quoted = PQescapeIdentifier(db->conn, channel, strlen(channel));
    if (!quoted) {
        set_error(db, "", PQerrorMessage(db->conn));
        return DB_ERROR;
    }
    char sql[320];
    int n = snprintf(sql, sizeof sql, "LISTEN %s", quoted);
    PQfreemem(quoted);
    if (n < 0 || (size_t)n >= sizeof sql) {
        set_error(db, "", "channel name too long");
        return DB_ERROR;
    }
    return exec_simple(db, sql);
}

/* True if the server closed this idle session (a restart, a failover,
 * pg_terminate_backend): its goodbye is already waiting on the socket.
 * Only called between statements, so nothing of ours is in flight; what
 * is read (a notification) stays buffered in libpq. */
static bool closed_by_server(db_t *db)
{
    /* the server's last words (FATAL 57P01) come first and are parsed as
     * a notice; the end of the stream is seen on the next read */
    for (int reads = 0; reads < 4; reads++) {
        struct pollfd pfd = {.fd = PQsocket(db->conn), .events = POLLIN};
        if (poll(&pfd, 1, 0) <= 0)
            break;
        if (!PQconsumeInput(db->conn))
            return true;
        (void)PQisBusy(db->conn); /* parses what arrived; idle, so never busy */
    }
    return PQstatus(db->conn) != CONNECTION_OK;
}

db_status_t db_connect(db_t *db)
{
    if (db->conn && PQstatus(db->conn) == CONNECTION_OK && !closed_by_server(db))
        return DB_OK;
    drop_connection(db); /* marks an open transaction lost */
    if (db->tx_open) {
        /* never continue a transaction on another session */
        set_error(db, "08006", "the session was lost inside a transaction");
        return DB_TRANSIENT;
    }
    /* Our defaults first; the DSN, expanded in place of dbname, overrides
     * them. Keepalives make a dead peer's session, and its advisory
     * locks, go away within seconds instead of hours. */
    const char *keys[] = {"keepalives",
                          "keepalives_idle",
                          "keepalives_interval",
                          "keepalives_count",
                          "connect_timeout",
                          "application_name",
                          "fallback_application_name",
                          "dbname",
                          NULL};
    const char *values[] = {"1", "5", "2", "3", "5", db->app_name, db->app_name, db->dsn, NULL};
    /* application_name from our side must not override the DSN's: it is
     * listed before dbname, so the DSN wins when it sets one */
    db->conn = PQconnectdbParams(keys, values, 1);
    if (!db->conn || PQstatus(db->conn) != CONNECTION_OK) {
        set_error(db, "08001", db->conn ? PQerrorMessage(db->conn) : "out of memory");
        drop_connection(db);
        return DB_TRANSIENT;
    }
    PQsetNoticeProcessor(db->conn, ignore_notice, NULL);
    db->generation++;
    for (size_t i = 0; i < db->channel_count; i++) {
        db_status_t status = issue_listen(db, db->channels[i]);
        if (status != DB_OK)
            return status;
    }
    clear_error(db);
    return DB_OK;
}

int db_prepare(db_t *db, const char *name, const char *sql)
{
    for (size_t i = 0; i < db->statement_count; i++) {
        statement_t *stmt = &db->statements[i];
        if (strcmp(stmt->name, name) == 0) {
            if (strcmp(stmt->sql, sql) == 0)
                return 0; /* the same text again: keep what is prepared */
            char *copy = strdup(sql);
            if (!copy)
                return -1;
            free(stmt->sql);
            stmt->sql = copy;
            bool prepared_here = db->conn && stmt->prepared_generation == db->generation;
            stmt->prepared_generation = 0; /* a different text: prepare again */
            if (prepared_here) {
                /* the old text is prepared on this session. Only then: a
                 * DEALLOCATE that fails would abort an open transaction */
                char deallocate[160];
                char *quoted = PQescapeIdentifier(db->conn, name, strlen(name));
                if (quoted) {
                    snprintf(deallocate, sizeof deallocate, "DEALLOCATE %s", quoted);
                    PQfreemem(quoted);
                    PQclear(PQexec(db->conn, deallocate));
                }
            }
            return 0;
        }
    }
    if (db->statement_count == db->statement_cap) {
        size_t cap = db->statement_cap ? db->statement_cap * 2 : 16;
        statement_t *grown = realloc(db->statements, cap * sizeof *grown);
        if (!grown)
            return -1;
        db->statements = grown;
        db->statement_cap = cap;
    }
    statement_t *stmt = &db->statements[db->statement_count];
    stmt->name = strdup(name);
    stmt->sql = strdup(sql);
    stmt->prepared_generation = 0;
    if (!stmt->name || !stmt->sql) {
        free(stmt->name);
        free(stmt->sql);
        return -1;
    }
    db->statement_count++;
    return 0;
}

static statement_t *find_statement(db_t *db, const char *name)
{
    for (size_t i = 0; i < db->statement_count; i++)
        if (strcmp(db->statements[i].name, name) == 0)
            return &db->statements[i];
    return NULL;
}

/* Connects if needed; refuses when a transaction was lost. */
static db_status_t ensure_session(db_t *db)
{
    if (db->tx_lost) {
        set_error(db, "08006", "the session was lost inside a transaction; roll back");
        return DB_TRANSIENT;
    }
    return db_connect(db);
}

/* ------------------------------------------------------------------ */
/* parameters                                                           */

void db_params_init(db_params_t *params)
{
    params->count = 0;
    params->overflow = false;
}

static int next_param(db_params_t *params)
{
    if (params->count >= DB_MAX_PARAMS) {
        params->overflow = true;
        return -1;
    }
    int i = params->count++;
    params->lengths[i] = 0;
    params->formats[i] = 0;
    return i;
}

void db_param_text(db_params_t *params, const char *text)
{
    int i = next_param(params);
    if (i >= 0)
        params->values[i] = text;
}

void db_param_i64(db_params_t *params, int64_t value)
{
    int i = next_param(params);
    if (i < 0)
        return;
    snprintf(params->numbers[i], sizeof params->numbers[i], "%" PRId64, value);
    params->values[i] = params->numbers[i];
}

void db_param_u64(db_params_t *params, uint64_t value)
{
    int i = next_param(params);
    if (i < 0)
        return;
    snprintf(params->numbers[i], sizeof params->numbers[i], "%" PRIu64, value);
    params->values[i] = params->numbers[i];
}

void db_param_bool(db_params_t *params, bool value)
{
    db_param_text(params, value ? "true" : "false");
}

void db_param_bytes(db_params_t *params, const void *bytes, size_t len)
{
    int i = next_param(params);
    if (i < 0)
        return;
    params->values[i] = bytes ? (const char *)bytes : "";
    params->lengths[i] = (int)len;
    params->formats[i] = 1;
}

void db_param_null(db_params_t *params)
{
    db_param_text(params, NULL);
}

/* ------------------------------------------------------------------ */
/* running statements                                                   */

static db_status_t check_result(db_t *db, PGresult *res, PGresult **res_out)
{
    ExecStatusType status = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
        clear_error(db);
        if (res_out)
            *res_out = res;
        else
            PQclear(res);
        return DB_OK;
    }
    db_status_t result = classify_failure(db, res);
    PQclear(res);
    return result;
}

static db_status_t run_prepared(db_t *db, const char *stmt_name, const db_params_t *params,
                                PGresult **res_out, int result_format)
{
    if (res_out)
        *res_out = NULL;
    statement_t *stmt = find_statement(db, stmt_name);
    if (!stmt) {
        set_error(db, "26000", "statement was never registered with db_prepare");
        log_error("unknown prepared statement", LF_STR("statement", stmt_name),
                  LF_ERR("bug_unknown_statement"));
        return DB_ERROR;
    }
    if (params && params->overflow) {
        set_error(db, "54023", "too many parameters for DB_MAX_PARAMS");
        return DB_ERROR;
    }
    db_status_t status = ensure_session(db);
    if (status != DB_OK)
        return status;
    if (stmt->prepared_generation != db->generation) {
        PGresult *prepared = PQprepare(db->conn, stmt->name, stmt->sql, 0, NULL);
        status = check_result(db, prepared, NULL);
        if (status != DB_OK) {
            if (status == DB_ERROR)
                log_error("could not prepare statement", LF_STR("statement", stmt->name),
                          LF_STR("pg", db->errmsg), LF_ERR("bad_sql"));
            return status;
        }
        stmt->prepared_generation = db->generation;
    }
    PGresult *res = PQexecPrepared(db->conn, stmt->name, params ? params->count : 0,
                                   params ? params->values : NULL, params ? params->lengths : NULL,
                                   params ? params->formats : NULL, result_format);
    return check_result(db, res, res_out);
}

db_status_t db_run(db_t *db, const char *stmt_name, const db_params_t *params, PGresult **res_out)
{
    return run_prepared(db, stmt_name, params, res_out, 0);
}

db_status_t db_run_binary(db_t *db, const char *stmt_name, const db_params_t *params,
                          PGresult **res_out)
{
    return run_prepared(db, stmt_name, params, res_out, 1);
}

db_status_t db_run_count(db_t *db, const char *stmt_name, const db_params_t *params,
                         int64_t *rows_out)
{
    PGresult *res = NULL;
    db_status_t status = db_run(db, stmt_name, params, &res);
    if (status != DB_OK)
        return status;
    int64_t rows = PQntuples(res);
    const char *affected = PQcmdTuples(res);
    if (PQresultStatus(res) == PGRES_COMMAND_OK && affected && affected[0])
        rows = strtoll(affected, NULL, 10);
    PQclear(res);
    if (rows_out)
        *rows_out = rows;
    return DB_OK;
}

db_status_t db_copy_in(db_t *db, const char *sql, const void *data, size_t len)
{
    db_status_t status = ensure_session(db);
    if (status != DB_OK)
        return status;
    PGresult *res = PQexec(db->conn, sql);
    ExecStatusType started = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (started != PGRES_COPY_IN) {
        if (started == PGRES_COMMAND_OK || started == PGRES_TUPLES_OK) {
            PQclear(res);
            set_error(db, "42601", "not a COPY ... FROM STDIN");
            return DB_ERROR;
        }
        return check_result(db, res, NULL);
    }
    PQclear(res);
    /* PQputCopyData takes an int: send big inputs in pieces */
    const char *bytes = data;
    bool sent = true;
    for (size_t off = 0; sent && off < len;) {
        size_t piece = len - off < (1u << 30) ? len - off : (1u << 30);
        sent = PQputCopyData(db->conn, bytes + off, (int)piece) == 1;
        off += piece;
    }
    if (PQputCopyEnd(db->conn, sent ? NULL : "the rows could not be sent") != 1)
        sent = false;
    /* the COPY's own result, then NULL */
    PGresult *last = NULL, *next;
    while ((next = PQgetResult(db->conn)) != NULL) {
        PQclear(last);
        last = next;
    }
    if (!last && !sent) {
        set_error(db, "08006", PQerrorMessage(db->conn));
        drop_connection(db);
        return DB_TRANSIENT;
    }
    return check_result(db, last, NULL);
}

db_status_t db_run_sql(db_t *db, const char *sql, const db_params_t *params, PGresult **res_out)
{
    if (res_out)
        *res_out = NULL;
    if (params && params->overflow) {
        set_error(db, "54023", "too many parameters for DB_MAX_PARAMS");
        return DB_ERROR;
    }
    db_status_t status = ensure_session(db);
    if (status != DB_OK)
        return status;
    PGresult *res;
    if (!params)
        res = PQexec(db->conn, sql);
    else
        res = PQexecParams(db->conn, sql, params->count, NULL, params->values, params->lengths,
                           params->formats, 0);
    return check_result(db, res, res_out);
}

/* ------------------------------------------------------------------ */
/* transactions                                                         */

bool db_committing(const db_t *db)
{
    return db->committing;
}

static db_status_t flush_deferred(db_t *db)
{
    for (size_t i = 0; i < db->deferred_count; i++) {
        db_status_t status = db->deferred[i]->flush(db, db->deferred[i]);
        if (status != DB_OK) {
            for (size_t j = i + 1; j < db->deferred_count; j++)
                db->deferred[j]->discard(db->deferred[j]);
            return status;
        }
    }
    return DB_OK;
}

static void discard_deferred(db_t *db)
{
    for (size_t i = 0; i < db->deferred_count; i++)
        db->deferred[i]->discard(db->deferred[i]);
}

static void end_deferred(db_t *db, bool committed)
{
    for (size_t i = 0; i < db->deferred_count; i++)
        if (db->deferred[i]->after_end)
            db->deferred[i]->after_end(db->deferred[i], committed);
}

db_status_t db_begin(db_t *db)
{
    if (db->tx_open) {
        set_error(db, "25001", "a transaction is already open on this session");
        return DB_ERROR;
    }
    db_status_t status = ensure_session(db);
    if (status != DB_OK)
        return status;
    status = exec_simple(db, "BEGIN");
    if (status == DB_OK) {
        db->tx_open = true;
        db->tx_lost = false;
    }
    return status;
}

db_status_t db_begin_tracked(db_t *db)
{
    if (db->tx_open) {
        set_error(db, "25001", "a transaction is already open on this session");
        return DB_ERROR;
    }
    db_status_t status = ensure_session(db);
    if (status != DB_OK)
        return status;
    /* one round trip: the simple protocol runs both, the last result is ours */
    PGresult *res = PQexec(db->conn, "BEGIN; SELECT txid_current()");
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        status = classify_failure(db, res);
        PQclear(res);
        if (db->conn && PQtransactionStatus(db->conn) != PQTRANS_IDLE)
            PQclear(PQexec(db->conn, "ROLLBACK"));
        return status;
    }
    db->txid = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    db->tx_open = true;
    db->tx_lost = false;
    db->tracked = true;
    return DB_OK;
}

db_status_t db_settle(db_t *db, int wait_ms, bool *committed_out)
{
    int64_t txid = db->txid;
    db_rollback(db); /* the lost session's state, if any */
    int64_t deadline = clock_mono_ms() + wait_ms;
    char txid_text[24];
    snprintf(txid_text, sizeof txid_text, "%lld", (long long)txid);
    for (;;) {
        db_params_t params;
        db_params_init(&params);
        db_param_text(&params, txid_text);
        PGresult *res = NULL;
        if (db_run_sql(db, "SELECT txid_status($1::bigint)", &params, &res) == DB_OK) {
            const char *state = db_value(res, 0, 0);
            bool known =
                state && (strcmp(state, "committed") == 0 || strcmp(state, "aborted") == 0);
            if (known)
                *committed_out = strcmp(state, "committed") == 0;
            bool gone = !state; /* too old to tell: never for a moment-old transaction */
            PQclear(res);
            if (known)
                return DB_OK;
            if (gone)
                break;
        }
        if (clock_mono_ms() >= deadline)
            break;
        struct timespec pause = {0, 100 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    set_error(db, "08006", "the outcome of a COMMIT whose answer was lost is still unknown");
    return DB_UNKNOWN;
}

db_status_t db_commit(db_t *db)
{
    if (!db->tx_open) {
        set_error(db, "25P01", "no transaction is open on this session");
        return DB_ERROR;
    }
    if (db->tx_lost || !db->conn) {
        set_error(db, "08006", "the session was lost inside the transaction");
        return DB_TRANSIENT;
    }
    db->committing = true;
    db_status_t result = flush_deferred(db);
    db->committing = false;
    if (result != DB_OK) {
        db_rollback(db);
        return result;
    }
    /* sent or not decides what a lost connection means: before COMMIT went
     * out nothing is committed; after, nobody knows until it is asked */
    bool sent = PQsendQuery(db->conn, "COMMIT") == 1;
    PGresult *res = NULL, *next;
    while (sent && (next = PQgetResult(db->conn)) != NULL) {
        PQclear(res);
        res = next;
    }
    ExecStatusType status = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (!sent) {
        set_error(db, "08006", PQerrorMessage(db->conn));
        drop_connection(db);
        result = DB_TRANSIENT;
    } else if (status != PGRES_COMMAND_OK) {
        /* a COMMIT whose answer was lost: a tracked transaction is settled
         * by its caller (db_settle); the others' conditional writes make a
         * retry safe */
        result = classify_failure(db, res);
        if (db->tracked && !db->conn)
            result = DB_UNKNOWN;
    } else if (strcmp(PQcmdStatus(res), "COMMIT") != 0) {
        /* an aborted transaction "commits" as ROLLBACK */
        set_error(db, "25P02", "the transaction was aborted by an earlier error and rolled back");
        result = DB_ERROR;
    }
    PQclear(res);
    if (result == DB_OK || !db->tx_lost) {
        db->tx_open = false;
        db->tx_lost = false;
    }
    if (result == DB_OK)
        db->tracked = false;
    if (result != DB_OK && db->conn && PQtransactionStatus(db->conn) != PQTRANS_IDLE)
        PQclear(PQexec(db->conn, "ROLLBACK"));
    if (!db->tx_open)
        end_deferred(db, result == DB_OK);
    return result;
}

void db_rollback(db_t *db)
{
    db->tracked = false;
    discard_deferred(db);
    if (db->conn && PQtransactionStatus(db->conn) != PQTRANS_IDLE) {
        PGresult *res = PQexec(db->conn, "ROLLBACK");
        if (!res || PQstatus(db->conn) != CONNECTION_OK)
            drop_connection(db);
        PQclear(res);
    }
    bool was_open = db->tx_open;
    db->tx_open = false;
    db->tx_lost = false;
    if (was_open)
        end_deferred(db, false);
}

bool db_in_tx(const db_t *db)
{
    return db->tx_open;
}

/* Savepoint names are ours, never outside data: plain identifiers only. */
static bool plain_identifier(const char *name)
{
    if (!name || !name[0] || strlen(name) > 63)
        return false;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
            return false;
    return true;
}

static db_status_t savepoint_command(db_t *db, const char *verb, const char *name)
{
    if (!plain_identifier(name)) {
        set_error(db, "42602", "savepoint name is not a plain identifier");
        return DB_ERROR;
    }
    if (!db->tx_open || db->tx_lost || !db->conn) {
        set_error(db, "08006", "no live transaction for a savepoint");
        return db->tx_lost ? DB_TRANSIENT : DB_ERROR;
    }
    char sql[128];
    snprintf(sql, sizeof sql, "%s %s", verb, name);
    return exec_simple(db, sql);
}

db_status_t db_savepoint(db_t *db, const char *name)
{
    /* what was deferred before the savepoint must survive a rollback to it */
    if (db->tx_open && !db->tx_lost) {
        db_status_t status = flush_deferred(db);
        if (status != DB_OK)
            return status;
    }
    return savepoint_command(db, "SAVEPOINT", name);
}

db_status_t db_release_savepoint(db_t *db, const char *name)
{
    return savepoint_command(db, "RELEASE SAVEPOINT", name);
}

db_status_t db_rollback_to_savepoint(db_t *db, const char *name)
{
    /* everything deferred now was deferred after the last savepoint */
    discard_deferred(db);
    return savepoint_command(db, "ROLLBACK TO SAVEPOINT", name);
}

db_deferred_t *db_deferred_find(const db_t *db, const void *key)
{
    for (size_t i = 0; i < db->deferred_count; i++)
        if (db->deferred[i]->key == key)
            return db->deferred[i];
    return NULL;
}

/* A memo (db_memo_of): flushes nothing, forgets at every end. */
typedef struct {
    db_deferred_t base;
    void (*clear)(db_deferred_t *self);
} memo_head_t;

static db_status_t memo_flush(db_t *db, db_deferred_t *self)
{
    (void)db;
    (void)self;
    return DB_OK;
}

static void memo_discard(db_deferred_t *self)
{
    ((memo_head_t *)(void *)self)->clear(self);
}

static void memo_after_end(db_deferred_t *self, bool committed)
{
    (void)committed;
    memo_discard(self);
}

static void memo_destroy(db_deferred_t *self)
{
    memo_discard(self);
    free(self);
}

db_deferred_t *db_memo_of(db_t *db, const void *key, size_t size, void (*clear)(db_deferred_t *))
{
    db_deferred_t *found = db_deferred_find(db, key);
    if (found || size < sizeof(memo_head_t))
        return found;
    memo_head_t *memo = calloc(1, size);
    if (!memo)
        return NULL;
    memo->base.key = key;
    memo->base.flush = memo_flush;
    memo->base.discard = memo_discard;
    memo->base.after_end = memo_after_end;
    memo->base.destroy = memo_destroy;
    memo->clear = clear;
    return db_deferred_add_take(db, &memo->base) == 0 ? &memo->base : NULL;
}

int db_deferred_add_take(db_t *db, db_deferred_t *deferred)
{
    if (db->deferred_count == DB_DEFERRED_MAX) {
        deferred->destroy(deferred);
        /* the caller fails its work with DB_ERROR: the session's error says
         * why (a parked event's reason, a job's last error) */
        char message[96];
        snprintf(message, sizeof message,
                 "the session has no room for another deferral (DB_DEFERRED_MAX %d)",
                 DB_DEFERRED_MAX);
        set_error(db, DB_STATE_PROGRAM_LIMIT, message);
        return -1;
    }
    /* keep them sorted by flush order; equal orders keep arrival order */
    size_t at = db->deferred_count;
    while (at > 0 && db->deferred[at - 1]->order > deferred->order) {
        db->deferred[at] = db->deferred[at - 1];
        at--;
    }
    db->deferred[at] = deferred;
    db->deferred_count++;
    return 0;
}

const char *db_sqlstate(const db_t *db)
{
    return db->sqlstate;
}

const char *db_errmsg(const db_t *db)
{
    return db->errmsg;
}

uint64_t db_generation(const db_t *db)
{
    return db->generation;
}

PGconn *db_conn(db_t *db)
{
    return db->conn && PQstatus(db->conn) == CONNECTION_OK ? db->conn : NULL;
}

/* ------------------------------------------------------------------ */
/* notifications                                                        */

db_status_t db_listen(db_t *db, const char *channel)
{
    bool known = false;
    for (size_t i = 0; i < db->channel_count; i++)
        known |= strcmp(db->channels[i], channel) == 0;
    if (!known) {
        char **grown = realloc(db->channels, (db->channel_count + 1) * sizeof *grown);
        if (!grown)
            return DB_ERROR;
        db->channels = grown;
        db->channels[db->channel_count] = strdup(channel);
        if (!db->channels[db->channel_count])
            return DB_ERROR;
        db->channel_count++;
    }
    /* a fresh session LISTENs to every channel while connecting */
    uint64_t before = db->generation;
    db_status_t status = ensure_session(db);
    if (status != DB_OK || db->generation != before)
        return status;
    return issue_listen(db, channel);
}

int db_wait_notify(db_t *db, int timeout_ms, char *channel_out, size_t channel_size)
{
    if (ensure_session(db) != DB_OK)
        return -1;
    int got = 0;
    int64_t deadline = clock_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        if (!PQconsumeInput(db->conn)) {
            set_error(db, "08006", PQerrorMessage(db->conn));
            drop_connection(db);
            return -1;
        }
        PGnotify *note;
        while ((note = PQnotifies(db->conn)) != NULL) {
            if (!got && channel_out && channel_size)
                snprintf(channel_out, channel_size, "%s", note->relname);
            got = 1;
            PQfreemem(note);
        }
        if (got)
            return 1;
        int64_t left = deadline - clock_mono_ms();
        if (left <= 0)
            return 0;
        struct pollfd pfd = {.fd = PQsocket(db->conn), .events = POLLIN};
        int ready = poll(&pfd, 1, (int)left);
        if (ready < 0 && errno != EINTR)
            return -1;
        if (ready == 0)
            return 0;
    }
}

/* ------------------------------------------------------------------ */
/* advisory locks                                                       */

static db_status_t advisory(db_t *db, const char *function, const char *schema, int purpose,
                            bool *result_out)
{
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT %s(to_regnamespace($1)::oid::int4, $2::int4)", function);
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, schema);
    db_param_i64(&params, purpose);
    PGresult *res = NULL;
    db_status_t status = db_run_sql(db, sql, &params, &res);
    if (status != DB_OK)
        return status;
    const char *value = db_value(res, 0, 0);
    if (!value) {
        set_error(db, "3F000", "schema does not exist: no advisory lock key");
        PQclear(res);
        return DB_ERROR;
    }
    if (result_out)
        *result_out = value[0] == 't';
    PQclear(res);
    return DB_OK;
}

db_status_t db_try_advisory_lock(db_t *db, const char *schema, int purpose, bool *acquired_out)
{
    *acquired_out = false;
    return advisory(db, "pg_try_advisory_lock", schema, purpose, acquired_out);
}

db_status_t db_advisory_lock(db_t *db, const char *schema, int purpose)
{
    PGresult *res = NULL;
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, schema);
    db_param_i64(&params, purpose);
    db_status_t status =
        db_run_sql(db, "SELECT pg_advisory_lock(to_regnamespace($1)::oid::int4, $2::int4) IS NULL",
                   &params, &res);
    /* the function is strict: an unknown schema means no key and no lock */
    if (status == DB_OK && (!db_value(res, 0, 0) || db_value(res, 0, 0)[0] != 'f')) {
        set_error(db, "3F000", "schema does not exist: no advisory lock key");
        status = DB_ERROR;
    }
    PQclear(res);
    return status;
}

db_status_t db_advisory_unlock(db_t *db, const char *schema, int purpose)
{
    bool released = false;
    return advisory(db, "pg_advisory_unlock", schema, purpose, &released);
}

/* ------------------------------------------------------------------ */
/* results                                                              */

const char *db_value(const PGresult *res, int row, int col)
{
    if (!res || row < 0 || row >= PQntuples(res) || col < 0 || col >= PQnfields(res) ||
        PQgetisnull(res, row, col))
        return NULL;
    return PQgetvalue(res, row, col);
}

/* An integer cell of a binary result: its 2, 4 or 8 big-endian bytes. */
static int binary_i64(const PGresult *res, int row, int col, int64_t *out)
{
    if (PQgetisnull(res, row, col))
        return -1;
    const unsigned char *cell = (const unsigned char *)PQgetvalue(res, row, col);
    int len = PQgetlength(res, row, col);
    if (len != 2 && len != 4 && len != 8)
        return -1;
    uint64_t value = 0;
    for (int i = 0; i < len; i++)
        value = value << 8 | cell[i];
    /* sign-extend int2 and int4 (two's complement) */
    int shift = 64 - 8 * len;
    *out = shift ? (int64_t)(value << shift) >> shift : (int64_t)value;
    return 0;
}

int db_get_i64(const PGresult *res, int row, int col, int64_t *out)
{
    if (PQfformat(res, col) == 1)
        return binary_i64(res, row, col, out);
    const char *text = db_value(res, row, col);
    if (!text || !text[0])
        return -1;
    char *end = NULL;
    errno = 0;
    long long value = strtoll(text, &end, 10);
    if (errno != 0 || *end != '\0')
        return -1;
    *out = (int64_t)value;
    return 0;
}

int64_t db_get_i64_or(const PGresult *res, int row, int col, int64_t fallback)
{
    int64_t value = 0;
    return db_get_i64(res, row, col, &value) == 0 ? value : fallback;
}

bool db_get_bool(const PGresult *res, int row, int col)
{
    const char *value = db_value(res, row, col);
    return value && value[0] == 't' && value[1] == '\0';
}

void db_copy_value(const PGresult *res, int row, int col, char *out, size_t size)
{
    const char *value = db_value(res, row, col);
    if (size > 0)
        snprintf(out, size, "%s", value ? value : "");
}

int db_get_bytes(const PGresult *res, int row, int col, unsigned char **bytes_out, size_t *len_out)
{
    *bytes_out = NULL;
    *len_out = 0;
    if (PQfformat(res, col) == 1) {
        if (PQgetisnull(res, row, col))
            return -1;
        size_t len = (size_t)PQgetlength(res, row, col);
        unsigned char *bytes = malloc(len ? len : 1);
        if (!bytes)
            return -1;
        memcpy(bytes, PQgetvalue(res, row, col), len);
        *bytes_out = bytes;
        *len_out = len;
        return 0;
    }
    const char *text = db_value(res, row, col);
    if (!text)
        return -1;
    size_t text_len = strlen(text);
    if (text_len >= 2 && text[0] == '\\' && text[1] == 'x') {
        /* hex format, the server's default since 9.0 */
        size_t len = (text_len - 2) / 2;
        unsigned char *bytes = malloc(len ? len : 1);
        if (!bytes)
            return -1;
        for (size_t i = 0; i < len; i++) {
            int hi = hex_value(text[2 + 2 * i]), lo = hex_value(text[3 + 2 * i]);
            if (hi < 0 || lo < 0) {
                free(bytes);
                return -1;
            }
            bytes[i] = (unsigned char)(hi << 4 | lo);
        }
        *bytes_out = bytes;
        *len_out = len;
        return 0;
    }
    size_t len = 0;
    unsigned char *unescaped = PQunescapeBytea((const unsigned char *)text, &len);
    if (!unescaped)
        return -1;
    unsigned char *bytes = malloc(len ? len : 1);
    if (bytes && len)
        memcpy(bytes, unescaped, len);
    PQfreemem(unescaped);
    if (!bytes)
        return -1;
    *bytes_out = bytes;
    *len_out = len;
    return 0;
}

int db_cell_bytes(const PGresult *res, int row, int col, const unsigned char **bytes_out,
                  size_t *len_out, unsigned char **owned_out)
{
    *bytes_out = NULL;
    *len_out = 0;
    *owned_out = NULL;
    if (PQfformat(res, col) == 0) {
        if (db_get_bytes(res, row, col, owned_out, len_out) != 0)
            return -1;
        *bytes_out = *owned_out;
        return 0;
    }
    if (PQgetisnull(res, row, col))
        return -1;
    *bytes_out = (const unsigned char *)PQgetvalue(res, row, col);
    *len_out = (size_t)PQgetlength(res, row, col);
    return 0;
}

/* ------------------------------------------------------------------ */
/* the pool                                                             */

struct db_pool {
    char *dsn;
    char *app_name;
    int size;
    db_setup_fn setup;
    void *setup_arg;
    pthread_mutex_t lock;
    pthread_cond_t freed;
    db_t **sessions; /* NULL until first needed */
    bool *in_use;
};

db_pool_t *db_pool_new(const char *dsn, const char *app_name, int size, db_setup_fn setup,
                       void *setup_arg)
{
    db_pool_t *pool = calloc(1, sizeof *pool);
    if (!pool)
        return NULL;
    pool->size = size > 0 ? size : 1;
    pool->dsn = strdup(dsn ? dsn : "");
    pool->app_name = strdup(app_name ? app_name : "conveyor");
    pool->setup = setup;
    pool->setup_arg = setup_arg;
    pool->sessions = calloc((size_t)pool->size, sizeof *pool->sessions);
    pool->in_use = calloc((size_t)pool->size, sizeof *pool->in_use);
    pthread_mutex_init(&pool->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&pool->freed, &attr);
    pthread_condattr_destroy(&attr);
    if (!pool->dsn || !pool->app_name || !pool->sessions || !pool->in_use)
        db_pool_destroy(&pool);
    return pool;
}

void db_pool_destroy(db_pool_t **self_p)
{
    db_pool_t *pool = *self_p;
    if (!pool)
        return;
    for (int i = 0; pool->sessions && i < pool->size; i++)
        db_destroy(&pool->sessions[i]);
    free(pool->sessions);
    free(pool->in_use);
    pthread_mutex_destroy(&pool->lock);
    pthread_cond_destroy(&pool->freed);
    free(pool->dsn);
    free(pool->app_name);
    free(pool);
    *self_p = NULL;
}

db_t *db_pool_acquire(db_pool_t *pool, int wait_ms)
{
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += wait_ms / 1000;
    deadline.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&pool->lock);
    for (;;) {
        int free_slot = -1;
        /* prefer a session that exists (connected, statements prepared) */
        for (int i = 0; i < pool->size; i++) {
            if (!pool->in_use[i] && pool->sessions[i]) {
                free_slot = i;
                break;
            }
        }
        if (free_slot < 0)
            for (int i = 0; i < pool->size && free_slot < 0; i++)
                if (!pool->in_use[i])
                    free_slot = i;
        if (free_slot >= 0) {
            pool->in_use[free_slot] = true;
            db_t *db = pool->sessions[free_slot];
            pthread_mutex_unlock(&pool->lock);
            if (!db) {
                db = db_new(pool->dsn, pool->app_name);
                if (db && pool->setup && pool->setup(db, pool->setup_arg) != 0)
                    db_destroy(&db);
                pthread_mutex_lock(&pool->lock);
                if (!db) {
                    pool->in_use[free_slot] = false;
                    pthread_cond_signal(&pool->freed);
                    pthread_mutex_unlock(&pool->lock);
                    return NULL;
                }
                pool->sessions[free_slot] = db;
                pthread_mutex_unlock(&pool->lock);
            }
            return db;
        }
        if (pthread_cond_timedwait(&pool->freed, &pool->lock, &deadline) == ETIMEDOUT) {
            pthread_mutex_unlock(&pool->lock);
            return NULL;
        }
    }
}

void db_pool_release(db_pool_t *pool, db_t **db_p)
{
    db_t *db = *db_p;
    if (!db)
        return;
    if (db_in_tx(db))
        db_rollback(db);
    pthread_mutex_lock(&pool->lock);
    for (int i = 0; i < pool->size; i++) {
        if (pool->sessions[i] == db) {
            pool->in_use[i] = false;
            break;
        }
    }
    pthread_cond_signal(&pool->freed);
    pthread_mutex_unlock(&pool->lock);
    *db_p = NULL;
}
