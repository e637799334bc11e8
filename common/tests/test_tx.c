/*
 * test_tx.c — the transaction runner (tx.h) against the real PostgreSQL at
 * TEST_DATABASE_URL, reached through pgcut (tests/integration/kit/pgcut.c),
 * a TCP proxy that loses the connection on cue, in a schema of this run's
 * own (t_tx_<pid>, dropped at the end).
 *
 * Proves: a COMMIT whose answer is lost after the server committed is not
 * run again — the database is asked (txid_status), the caller gets DB_OK,
 * the row exists once and the body ran once; a connection lost before
 * COMMIT was sent runs the transaction again and the row exists once; a
 * constraint violation is not retried and is named "constraint"; an
 * abandoned body commits nothing; db_fail names the caller's own
 * failures (out of memory: transient; overflow: permanent) so that no
 * stale message is reported.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "common/clock.h"
#include "common/db.h"
#include "common/log.h"
#include "common/tx.h"

static char schema[64], control[256], proxy_dsn[1024];
static pid_t proxy_pid;
static db_t *direct; /* the test's own session, not through the proxy */

static void sql(const char *text)
{
    assert_int_equal(db_run_sql(direct, text, NULL, NULL), DB_OK);
}

static long long count_rows(const char *where)
{
    char query[256];
    snprintf(query, sizeof query, "SELECT count(*) FROM %s.items WHERE %s", schema, where);
    PGresult *res = NULL;
    assert_int_equal(db_run_sql(direct, query, NULL, &res), DB_OK);
    long long n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return n;
}

static void cue(const char *what)
{
    FILE *file = fopen(control, "w");
    assert_non_null(file);
    fputs(what, file);
    fclose(file);
}

static bool cue_taken(void)
{
    FILE *file = fopen(control, "r");
    if (!file)
        return true;
    int c = fgetc(file);
    fclose(file);
    return c == EOF;
}

typedef struct {
    const char *name;
    int runs;
    bool abandon;
} insert_t;

static db_status_t insert_body(tx_t *tx, void *arg)
{
    insert_t *insert = arg;
    insert->runs++;
    char query[256];
    snprintf(query, sizeof query, "INSERT INTO %s.items (name) VALUES ($1) /* tx_marker */",
             schema);
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, insert->name);
    db_status_t status = db_run_sql(tx->db, query, &params, NULL);
    if (status == DB_OK && insert->abandon)
        tx_abandon(tx);
    return status;
}

static void test_lost_commit_answer_is_settled_not_rerun(void **state)
{
    (void)state;
    db_t *db = db_new(proxy_dsn, "test_tx");
    cue("drop-commit-answer");
    insert_t insert = {.name = "settled"};
    tx_t tx;
    assert_int_equal(tx_run(db, insert_body, &insert, &tx), DB_OK);
    assert_true(cue_taken());
    assert_true(tx.settled);
    assert_int_equal(insert.runs, 1);
    assert_int_equal(count_rows("name = 'settled'"), 1);
    db_destroy(&db);
}

static void test_lost_session_before_commit_runs_again(void **state)
{
    (void)state;
    db_t *db = db_new(proxy_dsn, "test_tx");
    cue("drop-before tx_marker");
    insert_t insert = {.name = "again"};
    tx_t tx;
    assert_int_equal(tx_run(db, insert_body, &insert, &tx), DB_OK);
    assert_true(cue_taken());
    assert_false(tx.settled);
    assert_int_equal(insert.runs, 2);
    assert_int_equal(tx.attempt, 2);
    assert_int_equal(count_rows("name = 'again'"), 1);
    db_destroy(&db);
}

static void test_constraint_is_not_retried(void **state)
{
    (void)state;
    db_t *db = db_new(proxy_dsn, "test_tx");
    insert_t first = {.name = "unique"}, second = {.name = "unique"};
    assert_int_equal(tx_run(db, insert_body, &first, NULL), DB_OK);
    db_status_t status = tx_run(db, insert_body, &second, NULL);
    assert_int_equal(status, DB_ERROR);
    assert_int_equal(second.runs, 1);
    assert_string_equal(db_failure_of(db, status).code, "constraint");
    assert_false(db_failure_of(db, status).transient);
    assert_int_equal(count_rows("name = 'unique'"), 1);
    db_destroy(&db);
}

static void test_abandoned_body_commits_nothing(void **state)
{
    (void)state;
    db_t *db = db_new(proxy_dsn, "test_tx");
    insert_t insert = {.name = "abandoned", .abandon = true};
    tx_t tx;
    assert_int_equal(tx_run(db, insert_body, &insert, &tx), DB_OK);
    assert_true(tx.abandoned);
    assert_int_equal(count_rows("name = 'abandoned'"), 0);
    assert_false(db_in_tx(db));
    db_destroy(&db);
}

static void test_own_failures_have_their_codes(void **state)
{
    (void)state;
    db_t *db = db_new(proxy_dsn, "test_tx");
    /* a stale server error first: it must not show through */
    assert_int_equal(db_run_sql(db, "SELECT 1/0", NULL, NULL), DB_ERROR);
    db_status_t status = db_fail(db, DB_STATE_OUT_OF_MEMORY, "no room for %d lines", 7);
    assert_int_equal(status, DB_TRANSIENT);
    assert_string_equal(db_failure_of(db, status).code, "out_of_memory");
    assert_true(db_failure_of(db, status).transient);
    assert_string_equal(db_errmsg(db), "no room for 7 lines");
    status = db_fail(db, DB_STATE_OVERFLOW, "the total of order %s does not fit", "o-1");
    assert_int_equal(status, DB_ERROR);
    assert_string_equal(db_failure_of(db, status).code, "overflow");
    assert_false(db_failure_of(db, status).transient);
    assert_string_equal(db_failure_of(db, DB_UNKNOWN).code, "outcome_unknown");
    assert_int_equal(db_run_sql(db, "SELECT 'x'::int", NULL, NULL), DB_ERROR);
    assert_string_equal(db_failure_of(db, DB_ERROR).code, "bad_data");
    db_destroy(&db);
}

/* --- fixtures ------------------------------------------------------------------------ */

static int setup(void **state)
{
    (void)state;
    const char *url = getenv("TEST_DATABASE_URL");
    const char *bin = getenv("IT_BIN");
    if (!url || !bin) {
        fprintf(stderr, "TEST_DATABASE_URL and IT_BIN are set by tests/run.sh\n");
        return -1;
    }
    log_init("test_tx", LOG_WARN);
    direct = db_new(url, "test_tx");
    snprintf(schema, sizeof schema, "t_tx_%d", (int)getpid());
    char ddl[256];
    snprintf(ddl, sizeof ddl, "CREATE SCHEMA %s; CREATE TABLE %s.items (name text UNIQUE)", schema,
             schema);
    sql(ddl);

    /* pgcut between libpq and the server, over TCP */
    PQconninfoOption *options = PQconninfoParse(url, NULL);
    if (!options)
        return -1;
    const char *port = "5432", *passfile = "", *dbname = "conveyor", *user = "postgres";
    for (PQconninfoOption *o = options; o->keyword; o++) {
        if (!o->val)
            continue;
        if (strcmp(o->keyword, "port") == 0)
            port = o->val;
        else if (strcmp(o->keyword, "passfile") == 0)
            passfile = o->val;
        else if (strcmp(o->keyword, "dbname") == 0)
            dbname = o->val;
        else if (strcmp(o->keyword, "user") == 0)
            user = o->val;
    }
    snprintf(control, sizeof control, "/tmp/test_tx_%d.cue", (int)getpid());
    char pgcut[512], port_copy[16];
    snprintf(pgcut, sizeof pgcut, "%s/pgcut", bin);
    snprintf(port_copy, sizeof port_copy, "%s", port);
    char dbname_copy[128], user_copy[128], passfile_copy[512];
    snprintf(dbname_copy, sizeof dbname_copy, "%s", dbname);
    snprintf(user_copy, sizeof user_copy, "%s", user);
    snprintf(passfile_copy, sizeof passfile_copy, "%s", passfile);
    PQconninfoFree(options);
    /* a port picked from the pid can be taken (by the harness's own
     * servers, or another test): pgcut then exits at once, and the next
     * port is tried */
    for (int attempt = 0; attempt < 8; attempt++) {
        int listen_port = 40000 + (int)((getpid() + attempt * 2311) % 20000);
        snprintf(proxy_dsn, sizeof proxy_dsn,
                 "host=127.0.0.1 port=%d dbname=%s user=%s passfile=%s sslmode=disable "
                 "connect_timeout=5",
                 listen_port, dbname_copy, user_copy, passfile_copy);
        char listen_text[16];
        snprintf(listen_text, sizeof listen_text, "%d", listen_port);
        proxy_pid = fork();
        if (proxy_pid == 0) {
            execl(pgcut, pgcut, listen_text, port_copy, control, (char *)NULL);
            _exit(127);
        }
        if (proxy_pid < 0)
            return -1;
        /* ready when a session gets through it */
        int64_t deadline = clock_mono_ms() + 5000;
        bool exited = false;
        for (;;) {
            int status;
            if (waitpid(proxy_pid, &status, WNOHANG) == proxy_pid) {
                exited = true;
                break;
            }
            db_t *probe = db_new(proxy_dsn, "test_tx");
            bool up = db_run_sql(probe, "SELECT 1", NULL, NULL) == DB_OK;
            db_destroy(&probe);
            if (up)
                return 0;
            if (clock_mono_ms() > deadline)
                return -1;
            usleep(50 * 1000);
        }
        if (!exited)
            return -1;
    }
    return -1;
}

static int teardown(void **state)
{
    (void)state;
    if (proxy_pid > 0) {
        kill(proxy_pid, SIGTERM);
        waitpid(proxy_pid, NULL, 0);
    }
    unlink(control);
    char ddl[128];
    snprintf(ddl, sizeof ddl, "DROP SCHEMA %s CASCADE", schema);
    db_run_sql(direct, ddl, NULL, NULL);
    db_destroy(&direct);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lost_commit_answer_is_settled_not_rerun),
        cmocka_unit_test(test_lost_session_before_commit_runs_again),
        cmocka_unit_test(test_constraint_is_not_retried),
        cmocka_unit_test(test_abandoned_body_commits_nothing),
        cmocka_unit_test(test_own_failures_have_their_codes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
