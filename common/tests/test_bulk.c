/*
 * test_bulk.c — deferred multi-row inserts (bulk.h) and the binary arrays
 * they are built from (pgarray.h), against the real PostgreSQL at
 * TEST_DATABASE_URL in a schema of this run's own (t_bulk_<pid>).
 *
 * Proves: every element type round-trips through array_recv, NULLs and
 * zero bytes included, and an empty array is an empty array; pg_array_next
 * walks the elements and stops at a damaged body; rows added in
 * a transaction are invisible until COMMIT and then all there, in the
 * order added; a rollback forgets them; a rollback to a savepoint forgets
 * only the rows added after it; outside a transaction a row goes in at
 * once; a row that breaks a constraint fails the COMMIT and nothing of the
 * transaction stays; bulks flush in their order; a half-added row is
 * refused and forgotten; the same rows by COPY (.copy) go in the same:
 * in order, NULLs and zero bytes included, at COMMIT or at once outside a
 * transaction, and a bad one fails the COMMIT.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/bulk.h"
#include "common/db.h"
#include "common/pgarray.h"

static char schema[64];
static db_t *db;

static const bulk_spec_t items_spec = {
    .stmt = "t_items_bulk",
    .sql = "INSERT INTO items (k, n, note, raw, flag) SELECT k, n, note, raw, flag FROM "
           "unnest($1::text[], $2::int8[], $3::text[], $4::bytea[], $5::bool[]) WITH ORDINALITY "
           "AS r (k, n, note, raw, flag, o) ORDER BY o",
    .column_oids = {PG_OID_TEXT, PG_OID_INT8, PG_OID_TEXT, PG_OID_BYTEA, PG_OID_BOOL},
    .column_count = 5,
};

/* the same rows by COPY (bulk.h's .copy) */
static const bulk_spec_t items_copy_spec = {
    .stmt = "t_items_copy",
    .copy = "COPY items (k, n, note, raw, flag) FROM STDIN (FORMAT binary)",
    .column_oids = {PG_OID_TEXT, PG_OID_INT8, PG_OID_TEXT, PG_OID_BYTEA, PG_OID_BOOL},
    .column_count = 5,
};

/* flushes before items_spec, so its rows get lower ids in `trail` */
static const bulk_spec_t trail_first_spec = {
    .stmt = "t_trail_first",
    .sql = "INSERT INTO trail (what) SELECT 'first:' || w FROM unnest($1::text[]) AS w",
    .column_oids = {PG_OID_TEXT},
    .column_count = 1,
    .order = -1,
};
static const bulk_spec_t trail_last_spec = {
    .stmt = "t_trail_last",
    .sql = "INSERT INTO trail (what) SELECT 'last:' || w FROM unnest($1::text[]) AS w",
    .column_oids = {PG_OID_TEXT},
    .column_count = 1,
    .order = 5,
};

static void sql(const char *text)
{
    if (db_run_sql(db, text, NULL, NULL) != DB_OK)
        fail_msg("%s: %s", text, db_errmsg(db));
}

static int64_t scalar(const char *text)
{
    PGresult *res = NULL;
    if (db_run_sql(db, text, NULL, &res) != DB_OK)
        fail_msg("%s: %s", text, db_errmsg(db));
    int64_t value = -1;
    assert_int_equal(db_get_i64(res, 0, 0, &value), 0);
    PQclear(res);
    return value;
}

static void add_item_by(const bulk_spec_t *spec, const char *k, int64_t n, db_status_t expect)
{
    bulk_t *rows = bulk_of(db, spec);
    assert_non_null(rows);
    assert_int_equal(pg_array_add_text(bulk_column(rows, 0), k), 0);
    assert_int_equal(pg_array_add_i64(bulk_column(rows, 1), n), 0);
    assert_int_equal(pg_array_add_text(bulk_column(rows, 2), NULL), 0);
    assert_int_equal(pg_array_add(bulk_column(rows, 3), "a\0b", 3), 0);
    assert_int_equal(pg_array_add_bool(bulk_column(rows, 4), n % 2 == 0), 0);
    assert_int_equal(bulk_row_done(db, rows), expect);
}

static void add_item(const char *k, int64_t n, db_status_t expect)
{
    add_item_by(&items_spec, k, n, expect);
}

static int group_setup(void **state)
{
    (void)state;
    const char *url = getenv("TEST_DATABASE_URL");
    if (!url)
        return -1;
    snprintf(schema, sizeof schema, "t_bulk_%d", (int)getpid());
    char dsn[1024];
    snprintf(dsn, sizeof dsn, "%s&options=-csearch_path%%3D%s", url, schema);
    db = db_new(dsn, "test_bulk");
    char ddl[512];
    snprintf(ddl, sizeof ddl, "DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s", schema, schema);
    if (!db || db_run_sql(db, ddl, NULL, NULL) != DB_OK)
        return -1;
    return db_run_sql(db,
                      "CREATE TABLE items (id bigserial PRIMARY KEY, k text NOT NULL UNIQUE, "
                      "n bigint NOT NULL CHECK (n >= 0), note text, raw bytea, flag bool);"
                      "CREATE TABLE trail (id bigserial PRIMARY KEY, what text NOT NULL)",
                      NULL, NULL) == DB_OK
               ? 0
               : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    char ddl[128];
    snprintf(ddl, sizeof ddl, "DROP SCHEMA IF EXISTS %s CASCADE", schema);
    db_run_sql(db, ddl, NULL, NULL);
    db_destroy(&db);
    return 0;
}

static int empty_tables(void **state)
{
    (void)state;
    db_rollback(db);
    return db_run_sql(db, "TRUNCATE items, trail", NULL, NULL) == DB_OK ? 0 : -1;
}

static void test_array_elements_round_trip(void **state)
{
    (void)state;
    pg_array_t texts, numbers, small, blobs, flags, ids, empty;
    pg_array_init(&texts, PG_OID_TEXT);
    pg_array_init(&numbers, PG_OID_INT8);
    pg_array_init(&small, PG_OID_INT4);
    pg_array_init(&blobs, PG_OID_BYTEA);
    pg_array_init(&flags, PG_OID_BOOL);
    pg_array_init(&ids, PG_OID_UUID);
    pg_array_init(&empty, PG_OID_TEXT);
    assert_int_equal(pg_array_add_text(&texts, "a \"quoted\", {braced} \\ value"), 0);
    assert_int_equal(pg_array_add_text(&texts, NULL), 0);
    assert_int_equal(pg_array_add_text(&texts, "ünïcode"), 0);
    assert_int_equal(pg_array_add_i64(&numbers, INT64_MIN), 0);
    assert_int_equal(pg_array_add_i64(&numbers, -1), 0);
    assert_int_equal(pg_array_add_i32(&small, -2), 0);
    assert_int_equal(pg_array_add(&blobs, "\0\1\2\0", 4), 0);
    assert_int_equal(pg_array_add_bool(&flags, true), 0);
    assert_int_equal(pg_array_add_uuid(&ids, "6ba7b810-9dad-11d1-80b4-00c04fd430c8"), 0);
    assert_int_equal(pg_array_add_uuid(&ids, "not-a-uuid"), -1);

    db_params_t params;
    db_params_init(&params);
    pg_array_t *all[] = {&texts, &numbers, &small, &blobs, &flags, &ids, &empty};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        const uint8_t *wire = NULL;
        size_t len = 0;
        assert_int_equal(pg_array_wire(all[i], &wire, &len), 0);
        db_param_bytes(&params, wire, len);
    }
    PGresult *res = NULL;
    if (db_run_sql(db,
                   "SELECT $1::text[]::text, $2::int8[]::text, $3::int4[]::text, "
                   "encode(($4::bytea[])[1], 'hex'), $5::bool[]::text, $6::uuid[]::text, "
                   "cardinality($7::text[])",
                   &params, &res) != DB_OK)
        fail_msg("%s", db_errmsg(db));
    assert_string_equal(db_value(res, 0, 0),
                        "{\"a \\\"quoted\\\", {braced} \\\\ value\",NULL,ünïcode}");
    assert_string_equal(db_value(res, 0, 1), "{-9223372036854775808,-1}");
    assert_string_equal(db_value(res, 0, 2), "{-2}");
    assert_string_equal(db_value(res, 0, 3), "00010200");
    assert_string_equal(db_value(res, 0, 4), "{t}");
    assert_string_equal(db_value(res, 0, 5), "{6ba7b810-9dad-11d1-80b4-00c04fd430c8}");
    assert_string_equal(db_value(res, 0, 6), "0");
    PQclear(res);

    pg_array_truncate(&texts, 1);
    assert_int_equal(texts.count, 1);
    assert_false(texts.has_null);
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        pg_array_release(all[i]);
}

/* pg_array_next walks what was added: bytes, an empty text, a NULL; and
 * stops at a body cut short instead of reading past it. */
static void test_array_walk_reads_each_element_once(void **state)
{
    (void)state;
    pg_array_t array;
    pg_array_init(&array, PG_OID_TEXT);
    assert_int_equal(pg_array_add_text(&array, "order"), 0);
    assert_int_equal(pg_array_add_text(&array, ""), 0);
    assert_int_equal(pg_array_add_text(&array, NULL), 0);
    size_t at = 0, len = 99;
    const uint8_t *value = NULL;
    assert_int_equal(pg_array_next(&array, &at, &value, &len), 1);
    assert_int_equal(len, 5);
    assert_memory_equal(value, "order", 5);
    assert_int_equal(pg_array_next(&array, &at, &value, &len), 1);
    assert_non_null(value);
    assert_int_equal(len, 0);
    assert_int_equal(pg_array_next(&array, &at, &value, &len), 1);
    assert_null(value);
    assert_int_equal(pg_array_next(&array, &at, &value, &len), 0);
    assert_int_equal(at, array.body_len);
    /* the first element's length says 5 bytes; only 3 are left */
    array.body_len = 4 + 3;
    at = 0;
    assert_int_equal(pg_array_next(&array, &at, &value, &len), -1);
    array.body_len = 2; /* not even a length */
    at = 0;
    assert_int_equal(pg_array_next(&array, &at, &value, &len), -1);
    pg_array_release(&array);
}

static void test_rows_appear_at_commit_in_order(void **state)
{
    (void)state;
    assert_int_equal(db_begin(db), DB_OK);
    for (int i = 0; i < 300; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%03d", i);
        add_item(key, i, DB_OK);
    }
    assert_int_equal(scalar("SELECT count(*) FROM items"), 0);
    assert_int_equal(db_commit(db), DB_OK);
    assert_int_equal(scalar("SELECT count(*) FROM items"), 300);
    /* ids follow the order of adding */
    assert_int_equal(scalar("SELECT count(*) FROM (SELECT n - lag(n) OVER (ORDER BY id) AS step "
                            "FROM items) s WHERE step <> 1"),
                     0);
    assert_int_equal(scalar("SELECT count(*) FROM items WHERE note IS NULL AND "
                            "raw = '\\x610062'::bytea AND flag = (n % 2 = 0)"),
                     300);
}

static void test_copy_inserts_the_same_rows(void **state)
{
    (void)state;
    assert_int_equal(db_begin(db), DB_OK);
    for (int i = 0; i < 300; i++) {
        char key[16];
        snprintf(key, sizeof key, "c%03d", i);
        add_item_by(&items_copy_spec, key, i, DB_OK);
    }
    assert_int_equal(scalar("SELECT count(*) FROM items"), 0);
    assert_int_equal(db_commit(db), DB_OK);
    assert_int_equal(scalar("SELECT count(*) FROM items"), 300);
    assert_int_equal(scalar("SELECT count(*) FROM (SELECT n - lag(n) OVER (ORDER BY id) AS step "
                            "FROM items) s WHERE step <> 1"),
                     0);
    assert_int_equal(scalar("SELECT count(*) FROM items WHERE note IS NULL AND "
                            "raw = '\\x610062'::bytea AND flag = (n % 2 = 0) AND k = 'c' || "
                            "lpad(n::text, 3, '0')"),
                     300);
    /* outside a transaction at once; a row that breaks a constraint fails
     * the COMMIT, and nothing of its transaction stays */
    add_item_by(&items_copy_spec, "alone", 1000, DB_OK);
    assert_int_equal(scalar("SELECT n FROM items WHERE k = 'alone'"), 1000);
    assert_int_equal(db_begin(db), DB_OK);
    add_item_by(&items_copy_spec, "good", 1, DB_OK);
    add_item_by(&items_copy_spec, "bad", -1, DB_OK);
    assert_int_equal(db_commit(db), DB_ERROR);
    assert_int_equal(scalar("SELECT count(*) FROM items WHERE k IN ('good', 'bad')"), 0);
    assert_int_equal(scalar("SELECT count(*) FROM items"), 301);
}

static void test_rollback_forgets_rows(void **state)
{
    (void)state;
    assert_int_equal(db_begin(db), DB_OK);
    add_item("gone", 1, DB_OK);
    db_rollback(db);
    assert_int_equal(db_begin(db), DB_OK);
    add_item("kept", 2, DB_OK);
    assert_int_equal(db_commit(db), DB_OK);
    assert_int_equal(scalar("SELECT count(*) FROM items"), 1);
    assert_int_equal(scalar("SELECT n FROM items WHERE k = 'kept'"), 2);
}

static void test_savepoint_rollback_forgets_only_later_rows(void **state)
{
    (void)state;
    assert_int_equal(db_begin(db), DB_OK);
    add_item("before", 1, DB_OK);
    assert_int_equal(db_savepoint(db, "sp"), DB_OK);
    add_item("after", 2, DB_OK);
    assert_int_equal(db_rollback_to_savepoint(db, "sp"), DB_OK);
    add_item("again", 3, DB_OK);
    assert_int_equal(db_commit(db), DB_OK);
    assert_int_equal(scalar("SELECT count(*) FROM items WHERE k IN ('before', 'again')"), 2);
    assert_int_equal(scalar("SELECT count(*) FROM items"), 2);
}

static void test_outside_a_transaction_inserts_at_once(void **state)
{
    (void)state;
    add_item("now", 7, DB_OK);
    assert_int_equal(scalar("SELECT n FROM items WHERE k = 'now'"), 7);
}

static void test_bad_row_fails_the_commit(void **state)
{
    (void)state;
    assert_int_equal(db_begin(db), DB_OK);
    sql("INSERT INTO trail (what) VALUES ('same transaction')");
    add_item("fine", 1, DB_OK);
    add_item("negative", -5, DB_OK); /* the CHECK fails only at the flush */
    assert_int_equal(db_commit(db), DB_ERROR);
    assert_string_equal(db_sqlstate(db), "23514");
    assert_false(db_in_tx(db));
    assert_int_equal(scalar("SELECT count(*) FROM items"), 0);
    assert_int_equal(scalar("SELECT count(*) FROM trail"), 0);
    /* the session and the bulk are usable afterwards */
    assert_int_equal(db_begin(db), DB_OK);
    add_item("fine", 1, DB_OK);
    assert_int_equal(db_commit(db), DB_OK);
    assert_int_equal(scalar("SELECT count(*) FROM items"), 1);
}

static void add_trail(const bulk_spec_t *spec, const char *what)
{
    bulk_t *rows = bulk_of(db, spec);
    assert_non_null(rows);
    assert_int_equal(pg_array_add_text(bulk_column(rows, 0), what), 0);
    assert_int_equal(bulk_row_done(db, rows), DB_OK);
}

static void test_bulks_flush_in_their_order(void **state)
{
    (void)state;
    assert_int_equal(db_begin(db), DB_OK);
    add_trail(&trail_last_spec, "x");
    add_trail(&trail_first_spec, "y");
    add_trail(&trail_last_spec, "z");
    assert_int_equal(db_commit(db), DB_OK);
    PGresult *res = NULL;
    assert_int_equal(
        db_run_sql(db, "SELECT string_agg(what, ' ' ORDER BY id) FROM trail", NULL, &res), DB_OK);
    assert_string_equal(db_value(res, 0, 0), "first:y last:x last:z");
    PQclear(res);
}

static void test_half_added_row_is_refused(void **state)
{
    (void)state;
    bulk_t *rows = bulk_of(db, &items_spec);
    assert_int_equal(db_begin(db), DB_OK);
    assert_int_equal(pg_array_add_text(bulk_column(rows, 0), "half"), 0);
    assert_int_equal(pg_array_add_i64(bulk_column(rows, 1), 1), 0);
    assert_int_equal(bulk_row_done(db, rows), DB_ERROR); /* three columns short */
    add_item("whole", 2, DB_OK);
    assert_int_equal(db_commit(db), DB_OK);
    assert_int_equal(scalar("SELECT count(*) FROM items"), 1);
    assert_int_equal(scalar("SELECT n FROM items WHERE k = 'whole'"), 2);
}

int main(void)
{
    if (!getenv("TEST_DATABASE_URL")) {
        fprintf(stderr, "test_bulk: TEST_DATABASE_URL is not set (tests/run.sh sets it)\n");
        return 1;
    }
#define BULK_TEST(f) cmocka_unit_test_setup(f, empty_tables)
    const struct CMUnitTest tests[] = {
        BULK_TEST(test_array_elements_round_trip),
        BULK_TEST(test_array_walk_reads_each_element_once),
        BULK_TEST(test_rows_appear_at_commit_in_order),
        BULK_TEST(test_copy_inserts_the_same_rows),
        BULK_TEST(test_rollback_forgets_rows),
        BULK_TEST(test_savepoint_rollback_forgets_only_later_rows),
        BULK_TEST(test_outside_a_transaction_inserts_at_once),
        BULK_TEST(test_bad_row_fails_the_commit),
        BULK_TEST(test_bulks_flush_in_their_order),
        BULK_TEST(test_half_added_row_is_refused),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
