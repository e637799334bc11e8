/*
 * test_txlock.c — Redis locks that live as long as a database transaction
 * (txlock.h), against the real Redis at TEST_REDIS_URL and the real
 * PostgreSQL at TEST_DATABASE_URL (a schema of this run's own,
 * t_txlock_<pid>, holding one table to write to; dropped at the end).
 *
 * Proves: a lock taken with txlock_hold is held (another locker gets
 * LOCK_BUSY) for the rest of the transaction, across statements and across
 * a rollback to a savepoint, and is released right after COMMIT, after
 * ROLLBACK, and after a COMMIT that the database refused; a second hold of
 * the same key in the same transaction is a no-op that leaves one lock;
 * several keys in one transaction are all released at its end; the next
 * transaction starts with nothing held; a key another holder keeps past
 * wait_ms is LOCK_BUSY and leaves that holder's lock alone; with Redis
 * unreachable txlock_hold answers LOCK_UNAVAILABLE within the locker's
 * timeout and the transaction goes on and commits.
 *
 * Keys are "t_txlock_<pid>_<random>:<name>" so runs never collide.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/db.h"
#include "common/lock.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/migrate.h"
#include "common/txlock.h"

static const char *redis_url;
static char prefix[64];
static char schema[64];
static db_t *db;           /* the session whose transactions hold the locks */
static locker_t *holder;   /* the locker txlock_hold uses */
static locker_t *observer; /* another replica, probing whether a key is free */

/* --- helpers ------------------------------------------------------------------ */

static const char *key_of(const char *name)
{
    static char key[4][128];
    static int next;
    char *out = key[next++ % 4];
    snprintf(out, sizeof key[0], "%s:%s", prefix, name);
    return out;
}

static void sql(const char *text)
{
    if (db_run_sql(db, text, NULL, NULL) != DB_OK)
        fail_msg("%s: %s", text, db_errmsg(db));
}

/* Whether another locker could take the key now (it is released at once). */
static bool key_is_free(const char *name)
{
    const char *keys[1] = {key_of(name)};
    lock_t *lock = NULL;
    lock_status_t status = locker_acquire(observer, keys, 1, 5000, 0, &lock);
    if (status == LOCK_UNAVAILABLE)
        fail_msg("redis unavailable: %s", locker_error(observer));
    if (status == LOCK_OK) {
        locker_release(observer, &lock);
        return true;
    }
    return false;
}

static void hold(const char *name, lock_status_t expect)
{
    lock_status_t status = txlock_hold(db, holder, key_of(name), 10000, 0);
    if (status != expect)
        fail_msg("txlock_hold %s: %d, expected %d (%s)", name, status, expect,
                 locker_error(holder));
}

/* --- tests -------------------------------------------------------------------- */

static void test_held_until_commit(void **state)
{
    (void)state;
    assert_int_equal(db_begin(db), DB_OK);
    hold("commit", LOCK_OK);
    assert_false(key_is_free("commit"));
    sql("INSERT INTO decisions (what) VALUES ('first')");
    assert_false(key_is_free("commit")); /* statements do not end it */
    assert_int_equal(db_commit(db), DB_OK);
    assert_true(key_is_free("commit"));

    /* the next transaction starts with nothing held and can take it again */
    assert_int_equal(db_begin(db), DB_OK);
    assert_true(key_is_free("commit"));
    hold("commit", LOCK_OK);
    assert_false(key_is_free("commit"));
    assert_int_equal(db_commit(db), DB_OK);
    assert_true(key_is_free("commit"));
}

static void test_released_after_rollback(void **state)
{
    (void)state;
    assert_int_equal(db_begin(db), DB_OK);
    hold("rollback", LOCK_OK);
    sql("INSERT INTO decisions (what) VALUES ('undone')");
    assert_false(key_is_free("rollback"));
    db_rollback(db);
    assert_true(key_is_free("rollback"));
}

static void test_released_after_refused_commit(void **state)
{
    (void)state;
    assert_int_equal(db_begin(db), DB_OK);
    hold("refused", LOCK_OK);
    /* a failed statement aborts the transaction: COMMIT answers ROLLBACK */
    assert_int_equal(db_run_sql(db, "INSERT INTO decisions (what) VALUES (NULL)", NULL, NULL),
                     DB_ERROR);
    assert_false(key_is_free("refused"));
    assert_int_equal(db_commit(db), DB_ERROR);
    assert_false(db_in_tx(db));
    assert_true(key_is_free("refused"));
}

static void test_reentrant_within_the_transaction(void **state)
{
    (void)state;
    assert_int_equal(db_begin(db), DB_OK);
    hold("again", LOCK_OK);
    hold("again", LOCK_OK); /* an applier deciding for a whole batch */
    hold("again", LOCK_OK);
    assert_false(key_is_free("again"));
    hold("other", LOCK_OK);
    assert_false(key_is_free("other"));
    assert_int_equal(db_commit(db), DB_OK);
    /* one lock per key: a second one would have been left behind here */
    assert_true(key_is_free("again"));
    assert_true(key_is_free("other"));
}

static void test_savepoint_rollback_keeps_it(void **state)
{
    (void)state;
    assert_int_equal(db_begin(db), DB_OK);
    hold("before", LOCK_OK);
    assert_int_equal(db_savepoint(db, "one_event"), DB_OK);
    hold("inside", LOCK_OK);
    sql("INSERT INTO decisions (what) VALUES ('rolled back to the savepoint')");
    assert_int_equal(db_rollback_to_savepoint(db, "one_event"), DB_OK);
    /* the transaction goes on: both stay held (the inside one is released
     * with the transaction, never early) */
    assert_false(key_is_free("before"));
    assert_false(key_is_free("inside"));
    hold("before", LOCK_OK);
    sql("INSERT INTO decisions (what) VALUES ('kept')");
    assert_int_equal(db_commit(db), DB_OK);
    assert_true(key_is_free("before"));
    assert_true(key_is_free("inside"));
    PGresult *res = NULL;
    assert_int_equal(db_run_sql(db, "SELECT string_agg(what, ',') FROM decisions", NULL, &res),
                     DB_OK);
    assert_string_equal(db_value(res, 0, 0), "kept");
    PQclear(res);
}

static void test_busy_key_is_busy(void **state)
{
    (void)state;
    const char *keys[1] = {key_of("taken")};
    lock_t *theirs = NULL;
    assert_int_equal(locker_acquire(observer, keys, 1, 10000, 0, &theirs), LOCK_OK);
    assert_int_equal(db_begin(db), DB_OK);
    int64_t started = clock_mono_ms();
    assert_int_equal(txlock_hold(db, holder, key_of("taken"), 10000, 150), LOCK_BUSY);
    int64_t took = clock_mono_ms() - started;
    assert_true(took >= 100);
    assert_true(took < 2000);
    hold("free", LOCK_OK); /* a refused key does not spoil the transaction's other locks */
    assert_int_equal(db_commit(db), DB_OK);
    /* our commit released only what we held: theirs is still theirs */
    assert_true(key_is_free("free"));
    assert_int_equal(locker_renew(observer, theirs), LOCK_OK);
    locker_release(observer, &theirs);
    assert_true(key_is_free("taken"));
}

/* A loopback port nobody listens on right now. */
static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    socklen_t len = sizeof addr;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
    close(fd);
    return ntohs(addr.sin_port);
}

static void test_unreachable_redis_is_unavailable_quickly(void **state)
{
    (void)state;
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", closed_port());
    locker_t *away = locker_new(url, 300);
    assert_non_null(away);
    assert_int_equal(db_begin(db), DB_OK);
    for (int i = 0; i < 2; i++) {
        int64_t started = clock_mono_ms();
        assert_int_equal(txlock_hold(db, away, key_of("nowhere"), 10000, 5000), LOCK_UNAVAILABLE);
        assert_true(clock_mono_ms() - started < 300);
    }
    /* the database is the guard: the work goes on and commits */
    sql("INSERT INTO decisions (what) VALUES ('without the lock')");
    assert_int_equal(db_commit(db), DB_OK);
    locker_destroy(&away);

    /* and a later transaction with a reachable Redis locks as before */
    assert_int_equal(db_begin(db), DB_OK);
    hold("after", LOCK_OK);
    assert_false(key_is_free("after"));
    db_rollback(db);
    assert_true(key_is_free("after"));
}

/* --- fixtures ----------------------------------------------------------------- */

static int group_setup(void **state)
{
    (void)state;
    const char *url = getenv("TEST_DATABASE_URL");
    snprintf(schema, sizeof schema, "t_txlock_%d", (int)getpid());
    char dsn[1024];
    int n = snprintf(dsn, sizeof dsn, "%s%coptions=-csearch_path%%3D%s", url,
                     strchr(url, '?') ? '&' : '?', schema);
    if (n < 0 || (size_t)n >= sizeof dsn)
        return -1;
    db = db_new(dsn, "test_txlock");
    if (!db)
        return -1;
    char ddl[256];
    snprintf(ddl, sizeof ddl, "DROP SCHEMA IF EXISTS %s CASCADE", schema);
    if (db_run_sql(db, ddl, NULL, NULL) != DB_OK)
        return -1;
    const migration_set_t *sets[] = {&kit_migrations};
    if (migrate_run(db, schema, sets, 1) != 0 ||
        db_run_sql(db, "CREATE TABLE decisions (what text NOT NULL)", NULL, NULL) != DB_OK)
        return -1;
    holder = locker_new(redis_url, 500);
    observer = locker_new(redis_url, 500);
    return holder && observer ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    locker_destroy(&holder);
    locker_destroy(&observer);
    char ddl[128];
    snprintf(ddl, sizeof ddl, "DROP SCHEMA IF EXISTS %s CASCADE", schema);
    db_status_t status = db_run_sql(db, ddl, NULL, NULL);
    if (status != DB_OK)
        fprintf(stderr, "test_txlock: cannot drop %s: %s\n", schema, db_errmsg(db));
    db_destroy(&db);
    return status == DB_OK ? 0 : -1;
}

/* Each test starts outside a transaction with an empty table. */
static int empty_table(void **state)
{
    (void)state;
    db_rollback(db);
    return db_run_sql(db, "DELETE FROM decisions", NULL, NULL) == DB_OK ? 0 : -1;
}

int main(void)
{
    redis_url = getenv("TEST_REDIS_URL");
    const char *db_url = getenv("TEST_DATABASE_URL");
    if (!redis_url || !redis_url[0] || !db_url || !db_url[0]) {
        fprintf(stderr, "test_txlock: TEST_REDIS_URL and TEST_DATABASE_URL must be set "
                        "(tests/run.sh sets them)\n");
        return 1;
    }
    unsigned seed = 0;
    FILE *urandom = fopen("/dev/urandom", "rb");
    if (!urandom || fread(&seed, sizeof seed, 1, urandom) != 1)
        seed = (unsigned)clock_mono_us();
    if (urandom)
        fclose(urandom);
    snprintf(prefix, sizeof prefix, "t_txlock_%d_%08x", (int)getpid(), seed);
    log_init("test_txlock", LOG_ERROR);
#define TXLOCK_TEST(f) cmocka_unit_test_setup(f, empty_table)
    const struct CMUnitTest tests[] = {
        TXLOCK_TEST(test_held_until_commit),
        TXLOCK_TEST(test_released_after_rollback),
        TXLOCK_TEST(test_released_after_refused_commit),
        TXLOCK_TEST(test_reentrant_within_the_transaction),
        TXLOCK_TEST(test_savepoint_rollback_keeps_it),
        TXLOCK_TEST(test_busy_key_is_busy),
        TXLOCK_TEST(test_unreachable_redis_is_unavailable_quickly),
    };
    int failed = cmocka_run_group_tests(tests, group_setup, group_teardown);
    metrics_shutdown();
    return failed;
}
