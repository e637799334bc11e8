/*
 * test_migrate.c — migrate_run against the real PostgreSQL at
 * TEST_DATABASE_URL, each test in fresh schemas of its own
 * (t_migrate_<pid>_<n>, dropped after the test).
 *
 * Proves: migrations apply in order into a schema that did not exist and
 * are recorded with their set, name and SHA-256; a second run is a no-op
 * and a later run applies only what was added; a failing migration rolls
 * back whole, leaves the earlier ones recorded, stops the later ones, and
 * the next run goes on from there; a recorded migration whose text changed
 * makes migrate_run fail with "migration_changed" and apply nothing more;
 * a session lost between two migrations (and the lock with it) stops the
 * run before anything else is written, and the next run goes on; replicas running migrate_run at
 * the same moment on the same new schema all succeed and apply each migration exactly once.
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

#include <poll.h>
#include <pthread.h>
#include <sys/types.h>
#include <unistd.h>

#include "common/db.h"
#include "common/log.h"
#include "common/migrate.h"

static const char *base_url;
static db_t *admin;        /* superuser, for checking and dropping */
static char schema[64];    /* the current test's schema */
static int schema_counter; /* makes each test's schema new */

/* --- helpers ------------------------------------------------------------------ */

/* A URL (or key=value DSN) of base_url with search_path = name. */
static void url_for(const char *name, char *out, size_t size)
{
    int n;
    if (strstr(base_url, "://"))
        n = snprintf(out, size, "%s%coptions=-csearch_path%%3D%s", base_url,
                     strchr(base_url, '?') ? '&' : '?', name);
    else
        n = snprintf(out, size, "%s options=-csearch_path=%s", base_url, name);
    assert_true(n > 0 && (size_t)n < size);
}

/* An owner session for the current schema. Caller owns it. */
static db_t *owner_session(void)
{
    char url[1024];
    url_for(schema, url, sizeof url);
    db_t *db = db_new(url, "test_migrate");
    assert_non_null(db);
    return db;
}

/* The single integer admin gets for the SQL formatted from format (only
 * our own names, never outside data, are formatted in). */
static int64_t admin_int(const char *format, ...) __attribute__((format(printf, 1, 2)));
static int64_t admin_int(const char *format, ...)
{
    char sql[512];
    va_list ap;
    va_start(ap, format);
    int n = vsnprintf(sql, sizeof sql, format, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof sql);
    PGresult *res = NULL;
    db_status_t status = db_run_sql(admin, sql, NULL, &res);
    if (status != DB_OK)
        fail_msg("%s: %s", sql, db_errmsg(admin));
    int64_t value = -1;
    assert_int_equal(db_get_i64(res, 0, 0, &value), 0);
    PQclear(res);
    return value;
}

static bool table_exists(const char *table)
{
    return admin_int("SELECT count(*) FROM pg_tables WHERE schemaname = '%s' AND tablename = '%s'",
                     schema, table) == 1;
}

/* Migrations recorded in the schema for set (0 if there is no table). */
static int64_t recorded(const char *set)
{
    if (!table_exists("schema_migrations"))
        return 0;
    return admin_int("SELECT count(*) FROM %s.schema_migrations WHERE set_name = '%s'", schema,
                     set);
}

static bool is_recorded(const char *set, const char *name)
{
    if (!table_exists("schema_migrations"))
        return false;
    return admin_int("SELECT count(*) FROM %s.schema_migrations WHERE set_name = '%s' AND"
                     " name = '%s'",
                     schema, set, name) == 1;
}

static int64_t count_rows(const char *table)
{
    return admin_int("SELECT count(*) FROM %s.%s", schema, table);
}

static int run(db_t *db, const migration_set_t *set)
{
    const migration_set_t *sets[] = {set};
    return migrate_run(db, schema, sets, 1);
}

/* --- fixtures ----------------------------------------------------------------- */

static int group_setup(void **state)
{
    (void)state;
    log_init("test_migrate", LOG_WARN);
    admin = db_new(base_url, "test_migrate_admin");
    return admin && db_connect(admin) == DB_OK ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    db_destroy(&admin);
    return 0;
}

static void drop_schema(const char *name)
{
    char sql[128];
    snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE", name);
    if (db_run_sql(admin, sql, NULL, NULL) != DB_OK)
        fprintf(stderr, "test_migrate: cannot drop %s: %s\n", name, db_errmsg(admin));
}

/* Each test gets a schema name that does not exist yet. */
static int test_setup(void **state)
{
    (void)state;
    snprintf(schema, sizeof schema, "t_migrate_%d_%d", (int)getpid(), ++schema_counter);
    drop_schema(schema);
    return 0;
}

static int test_teardown(void **state)
{
    (void)state;
    drop_schema(schema);
    return 0;
}

/* --- tests -------------------------------------------------------------------- */

static const migration_t first_two[] = {
    {"001_items.sql", "CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL);"},
    {"002_seed.sql", "INSERT INTO items VALUES (1, 'one');\n"
                     "CREATE TABLE notes (body text);\n"
                     "INSERT INTO notes VALUES ('multi-statement');"},
};
static const migration_t all_three[] = {
    {"001_items.sql", "CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL);"},
    {"002_seed.sql", "INSERT INTO items VALUES (1, 'one');\n"
                     "CREATE TABLE notes (body text);\n"
                     "INSERT INTO notes VALUES ('multi-statement');"},
    {"003_more.sql", "INSERT INTO items VALUES (2, 'two');"},
};

static void test_applies_to_a_fresh_schema_and_records_checksums(void **state)
{
    (void)state;
    const migration_set_t set = {"app", first_two, 2};
    db_t *db = owner_session();
    assert_int_equal(admin_int("SELECT count(*) FROM pg_namespace WHERE nspname = '%s'", schema),
                     0);
    assert_int_equal(run(db, &set), 0);
    assert_true(table_exists("items"));
    assert_true(table_exists("notes"));
    assert_int_equal(count_rows("items"), 1);
    assert_int_equal(count_rows("notes"), 1);
    assert_int_equal(recorded("app"), 2);
    /* the checksum is the SHA-256 of the text, as PostgreSQL computes it */
    for (size_t i = 0; i < 2; i++) {
        db_params_t params;
        db_params_init(&params);
        db_param_text(&params, first_two[i].name);
        db_param_text(&params, first_two[i].sql);
        char sql[256];
        snprintf(sql, sizeof sql,
                 "SELECT sha256 = encode(sha256(convert_to($2, 'UTF8')), 'hex')"
                 " FROM %s.schema_migrations WHERE set_name = 'app' AND name = $1",
                 schema);
        PGresult *res = NULL;
        assert_int_equal(db_run_sql(admin, sql, &params, &res), DB_OK);
        assert_string_equal(db_value(res, 0, 0), "t");
        PQclear(res);
    }
    db_destroy(&db);
}

static void test_second_run_is_a_no_op_and_later_ones_apply_what_is_new(void **state)
{
    (void)state;
    const migration_set_t two = {"app", first_two, 2};
    const migration_set_t three = {"app", all_three, 3};
    db_t *db = owner_session();
    assert_int_equal(run(db, &two), 0);
#define LAST_APPLIED_US                                                                            \
    "SELECT (extract(epoch FROM max(applied_at)) * 1e6)::bigint FROM %s.schema_migrations"
    int64_t applied_at = admin_int(LAST_APPLIED_US, schema);

    assert_int_equal(run(db, &two), 0);
    assert_int_equal(count_rows("items"), 1); /* the INSERT did not run again */
    assert_int_equal(recorded("app"), 2);
    assert_int_equal(admin_int(LAST_APPLIED_US, schema), applied_at);

    /* a new session (a restart) applies only the new migration */
    db_destroy(&db);
    db = owner_session();
    assert_int_equal(run(db, &three), 0);
    assert_int_equal(count_rows("items"), 2);
    assert_int_equal(recorded("app"), 3);
    assert_int_equal(run(db, &three), 0);
    assert_int_equal(count_rows("items"), 2);
    db_destroy(&db);
}

static void test_sets_apply_in_order_each_under_its_name(void **state)
{
    (void)state;
    static const migration_t kit_items[] = {
        {"001_kit.sql", "CREATE TABLE kit_table (id int PRIMARY KEY);"},
    };
    /* the app's migration depends on the kit's table */
    static const migration_t app_items[] = {
        {"001_kit.sql", "INSERT INTO kit_table VALUES (7);"},
    };
    const migration_set_t kit = {"kit", kit_items, 1};
    const migration_set_t app = {"app", app_items, 1};
    const migration_set_t *sets[] = {&kit, NULL, &app};
    db_t *db = owner_session();
    assert_int_equal(migrate_run(db, schema, sets, 3), 0);
    assert_int_equal(count_rows("kit_table"), 1);
    assert_true(is_recorded("kit", "001_kit.sql"));
    assert_true(is_recorded("app", "001_kit.sql"));
    assert_int_equal(migrate_run(db, schema, sets, 3), 0);
    assert_int_equal(count_rows("kit_table"), 1);
    db_destroy(&db);
}

static void test_a_failing_migration_rolls_back_and_keeps_earlier_ones(void **state)
{
    (void)state;
    static const migration_t broken[] = {
        {"001_items.sql", "CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL);"},
        /* the first statement works, the second fails: neither may stay */
        {"002_broken.sql", "CREATE TABLE half (id int);\n"
                           "INSERT INTO items VALUES (1, 'one');\n"
                           "INSERT INTO no_such_table VALUES (1);"},
        {"003_after.sql", "CREATE TABLE after_broken (id int);"},
    };
    static const migration_t repaired[] = {
        {"001_items.sql", "CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL);"},
        {"002_broken.sql", "CREATE TABLE half (id int);\n"
                           "INSERT INTO items VALUES (1, 'one');"},
        {"003_after.sql", "CREATE TABLE after_broken (id int);"},
    };
    const migration_set_t bad = {"app", broken, 3};
    const migration_set_t good = {"app", repaired, 3};
    db_t *db = owner_session();
    assert_int_equal(run(db, &bad), -1);
    assert_true(table_exists("items"));
    assert_true(is_recorded("app", "001_items.sql"));
    assert_false(is_recorded("app", "002_broken.sql"));
    assert_false(table_exists("half"));
    assert_int_equal(count_rows("items"), 0);
    assert_false(is_recorded("app", "003_after.sql"));
    assert_false(table_exists("after_broken"));
    assert_false(db_in_tx(db));

    /* the same failure again changes nothing */
    assert_int_equal(run(db, &bad), -1);
    assert_int_equal(recorded("app"), 1);

    /* the next start with the migration repaired goes on from there */
    assert_int_equal(run(db, &good), 0);
    assert_true(table_exists("half"));
    assert_true(table_exists("after_broken"));
    assert_int_equal(count_rows("items"), 1);
    assert_int_equal(recorded("app"), 3);
    db_destroy(&db);
}

static void test_an_edited_migration_stops_the_run(void **state)
{
    (void)state;
    static const migration_t original[] = {
        {"001_items.sql", "CREATE TABLE items (id int PRIMARY KEY);"},
    };
    static const migration_t edited[] = {
        {"001_items.sql", "CREATE TABLE items (id int PRIMARY KEY, extra text);"},
        {"002_more.sql", "CREATE TABLE more_items (id int);"},
    };
    const migration_set_t before = {"app", original, 1};
    const migration_set_t after = {"app", edited, 2};
    db_t *db = owner_session();
    assert_int_equal(run(db, &before), 0);

    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    assert_non_null(out);
    log_set_output(out);
    int rc = run(db, &after);
    log_set_output(NULL);
    fclose(out);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(text, "\"err\":\"migration_changed\""));
    assert_non_null(strstr(text, "\"migration\":\"001_items.sql\""));
    free(text);
    /* nothing after it ran, and the record is unchanged */
    assert_false(table_exists("more_items"));
    assert_int_equal(recorded("app"), 1);
    /* the original text still passes */
    assert_int_equal(run(db, &before), 0);
    db_destroy(&db);
}

/* --- a session lost between two migrations ---------------------------------------- */

/* The log stream of the next test: when the owner logs that the first
 * migration was applied (between two migrations, nothing in flight), the
 * server kills the owner's session, and the write waits until the socket
 * is closed. */
typedef struct {
    db_t *owner;
    bool killed;
    bool kill_failed;
    char seen[8192];
    size_t seen_len;
} killer_t;

static ssize_t kill_on_first_applied(void *cookie, const char *buf, size_t size)
{
    killer_t *killer = cookie;
    size_t room = sizeof killer->seen - 1 - killer->seen_len;
    size_t keep = size < room ? size : room;
    memcpy(killer->seen + killer->seen_len, buf, keep);
    killer->seen_len += keep;
    killer->seen[killer->seen_len] = '\0';
    if (killer->killed || !strstr(killer->seen, "\"msg\":\"migration applied\"") ||
        !strstr(killer->seen, "\"migration\":\"001_first.sql\""))
        return (ssize_t)size;
    killer->killed = true;
    PGconn *conn = db_conn(killer->owner);
    if (!conn) {
        killer->kill_failed = true;
        return (ssize_t)size;
    }
    int fd = PQsocket(conn);
    db_params_t params;
    db_params_init(&params);
    db_param_i64(&params, PQbackendPID(conn));
    if (db_run_sql(admin, "SELECT pg_terminate_backend($1::int4)", &params, NULL) != DB_OK) {
        killer->kill_failed = true;
        return (ssize_t)size;
    }
    struct pollfd pfd = {.fd = fd, .events = POLLRDHUP};
    if (poll(&pfd, 1, 10000) != 1)
        killer->kill_failed = true;
    return (ssize_t)size;
}

static void test_a_session_lost_between_migrations_stops_the_run(void **state)
{
    (void)state;
    static const migration_t items[] = {
        {"001_first.sql", "CREATE TABLE first_table (id int);"},
        {"002_second.sql", "CREATE TABLE second_table (id int);"},
    };
    const migration_set_t set = {"app", items, 2};
    killer_t killer = {.owner = owner_session()};
    cookie_io_functions_t io = {.write = kill_on_first_applied};
    FILE *out = fopencookie(&killer, "w", io);
    assert_non_null(out);
    log_init("test_migrate", LOG_INFO);
    log_set_output(out);
    int rc = run(killer.owner, &set);
    log_set_output(NULL);
    log_init("test_migrate", LOG_WARN);
    fclose(out);
    assert_true(killer.killed);
    assert_false(killer.kill_failed);
    /* the second migration did not run on a session without the lock; the
     * run says the database was unavailable (the caller waits and tries
     * again) rather than failed */
    assert_int_equal(rc, MIGRATE_UNAVAILABLE);
    assert_true(is_recorded("app", "001_first.sql"));
    assert_false(is_recorded("app", "002_second.sql"));
    assert_false(table_exists("second_table"));
    /* the next start goes on */
    assert_int_equal(run(killer.owner, &set), 0);
    assert_true(table_exists("second_table"));
    db_destroy(&killer.owner);
}

/* --- replicas starting together ----------------------------------------------------- */

typedef struct {
    pthread_barrier_t *start;
    const char *url;
    const migration_set_t *set;
    int rc;
} replica_t;

/* A replica's start; no cmocka assertions off the main thread. */
static void *replica_main(void *arg)
{
    replica_t *replica = arg;
    db_t *db = db_new(replica->url, "test_migrate_replica");
    /* connect first, so the race is in migrate_run rather than connecting */
    if (!db || db_connect(db) != DB_OK) {
        replica->rc = -2;
        db_destroy(&db);
        pthread_barrier_wait(replica->start);
        return NULL;
    }
    pthread_barrier_wait(replica->start);
    const migration_set_t *sets[] = {replica->set};
    replica->rc = migrate_run(db, schema, sets, 1);
    db_destroy(&db);
    return NULL;
}

static void test_concurrent_runs_apply_each_migration_once(void **state)
{
    (void)state;
    static const migration_t items[] = {
        {"001_runs.sql", "CREATE TABLE runs (migration text NOT NULL);"},
        {"002_slow.sql", "SELECT pg_sleep(0.2); INSERT INTO runs VALUES ('002');"},
        {"003_once.sql", "INSERT INTO runs VALUES ('003');"},
    };
    const migration_set_t set = {"app", items, 3};
    enum { REPLICAS = 4, ROUNDS = 3 };
    for (int round = 0; round < ROUNDS; round++) {
        /* rounds alternate: a schema not there yet, and one provisioned
         * empty beforehand (as scripts/pg.sh does) */
        if (round > 0) {
            drop_schema(schema);
            snprintf(schema, sizeof schema, "t_migrate_%d_%d", (int)getpid(), ++schema_counter);
        }
        if (round % 2 == 1) {
            char sql[128];
            snprintf(sql, sizeof sql, "CREATE SCHEMA %s", schema);
            assert_int_equal(db_run_sql(admin, sql, NULL, NULL), DB_OK);
        }
        char url[1024];
        url_for(schema, url, sizeof url);
        pthread_barrier_t start;
        assert_int_equal(pthread_barrier_init(&start, NULL, REPLICAS), 0);
        replica_t replicas[REPLICAS];
        pthread_t threads[REPLICAS];
        for (int i = 0; i < REPLICAS; i++) {
            replicas[i] = (replica_t){.start = &start, .url = url, .set = &set, .rc = -3};
            assert_int_equal(pthread_create(&threads[i], NULL, replica_main, &replicas[i]), 0);
        }
        for (int i = 0; i < REPLICAS; i++)
            assert_int_equal(pthread_join(threads[i], NULL), 0);
        pthread_barrier_destroy(&start);
        for (int i = 0; i < REPLICAS; i++)
            if (replicas[i].rc != 0)
                fail_msg("round %d: replica %d: migrate_run returned %d", round, i, replicas[i].rc);
        assert_int_equal(count_rows("runs"), 2);
        assert_int_equal(recorded("app"), 3);
    }
}

int main(void)
{
    base_url = getenv("TEST_DATABASE_URL");
    if (!base_url || !base_url[0]) {
        fprintf(stderr, "test_migrate: TEST_DATABASE_URL is not set (tests/run.sh sets it)\n");
        return 1;
    }
#define MIGRATE_TEST(f) cmocka_unit_test_setup_teardown(f, test_setup, test_teardown)
    const struct CMUnitTest tests[] = {
        MIGRATE_TEST(test_applies_to_a_fresh_schema_and_records_checksums),
        MIGRATE_TEST(test_second_run_is_a_no_op_and_later_ones_apply_what_is_new),
        MIGRATE_TEST(test_sets_apply_in_order_each_under_its_name),
        MIGRATE_TEST(test_a_failing_migration_rolls_back_and_keeps_earlier_ones),
        MIGRATE_TEST(test_an_edited_migration_stops_the_run),
        MIGRATE_TEST(test_a_session_lost_between_migrations_stops_the_run),
        MIGRATE_TEST(test_concurrent_runs_apply_each_migration_once),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
