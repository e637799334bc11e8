/*
 * test_service_table.c — a service's schema and ports come from
 * deploy/services.tsv, built into the kit (common/service_table.h), so that
 * its main.c names only the service.
 *
 * Proves: a row is found by its name and gives the schema and the
 * addresses "0.0.0.0:<http>" and "tcp://0.0.0.0:<replay>"; an unknown or
 * NULL name, or an empty table, finds nothing; filling a service_def_t's
 * fields sets only those left NULL, keeps the ones main.c names, and needs
 * no row when main.c names them all; the built-in table holds every row of
 * the file, each found by its name, with the services built today running;
 * service_new refuses to start a service that names no schema or ports
 * and has no row, saying so (unknown_service), and takes a known one past
 * that check.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/log.h"
#include "common/service.h"
#include "common/service_table.h"

static const service_row_t rows[] = {
    {"order", "orders", 8081, 5561, true},
    {"payment", "payment", 18083, 15563, false},
};
static const service_table_t table = {rows, 2};

static void test_find_by_name(void **state)
{
    (void)state;
    const service_row_t *row = service_table_find(&table, "payment");
    assert_non_null(row);
    assert_string_equal(row->schema, "payment");
    assert_int_equal(row->http_port, 18083);
    assert_int_equal(row->replay_port, 15563);
    assert_false(row->running);
    assert_ptr_equal(service_table_find(&table, "order"), &rows[0]);
}

static void test_unknown_name_finds_nothing(void **state)
{
    (void)state;
    assert_null(service_table_find(&table, "shipping"));
    assert_null(service_table_find(&table, "orders")); /* a schema is not a name */
    assert_null(service_table_find(&table, "orde"));
    assert_null(service_table_find(&table, ""));
    assert_null(service_table_find(&table, NULL));
    static const service_table_t empty = {NULL, 0};
    assert_null(service_table_find(&empty, "order"));
    service_defaults_t out;
    memset(&out, 0, sizeof out);
    assert_int_equal(service_table_defaults(&table, "shipping", &out), -1);
    assert_null(out.schema);
}

static void test_defaults_are_the_rows_addresses(void **state)
{
    (void)state;
    service_defaults_t out;
    assert_int_equal(service_table_defaults(&table, "payment", &out), 0);
    assert_string_equal(out.schema, "payment");
    assert_string_equal(out.http_addr, "0.0.0.0:18083");
    assert_string_equal(out.replay_addr, "tcp://0.0.0.0:15563");
}

static void test_fill_sets_only_what_is_null(void **state)
{
    (void)state;
    service_defaults_t storage;
    const char *schema = NULL, *http = NULL, *replay = NULL;
    assert_int_equal(service_table_fill(&table, "order", &storage, &schema, &http, &replay), 0);
    assert_string_equal(schema, "orders");
    assert_string_equal(http, "0.0.0.0:8081");
    assert_string_equal(replay, "tcp://0.0.0.0:5561");

    /* what main.c names is kept (the services' explicit fields today) */
    schema = "inventory";
    http = "127.0.0.1:28131";
    replay = NULL;
    assert_int_equal(service_table_fill(&table, "order", &storage, &schema, &http, &replay), 0);
    assert_string_equal(schema, "inventory");
    assert_string_equal(http, "127.0.0.1:28131");
    assert_string_equal(replay, "tcp://0.0.0.0:5561");
}

static void test_fill_of_unknown_name(void **state)
{
    (void)state;
    service_defaults_t storage;
    /* all named: the table is not needed (the kit's test programs) */
    const char *schema = "kitprod", *http = "127.0.0.1:28091", *replay = "tcp://127.0.0.1:25591";
    assert_int_equal(service_table_fill(&table, "kitprod", &storage, &schema, &http, &replay), 0);
    assert_string_equal(schema, "kitprod");
    assert_string_equal(replay, "tcp://127.0.0.1:25591");
    /* one missing and no row: refused, nothing changed */
    replay = NULL;
    assert_int_equal(service_table_fill(&table, "kitprod", &storage, &schema, &http, &replay), -1);
    assert_string_equal(schema, "kitprod");
    assert_string_equal(http, "127.0.0.1:28091");
    assert_null(replay);
}

static void test_built_in_table(void **state)
{
    (void)state;
    assert_true(service_table.count >= 2);
    for (size_t i = 0; i < service_table.count; i++) {
        const service_row_t *row = &service_table.rows[i];
        assert_ptr_equal(service_table_find(&service_table, row->name), row);
        assert_true(row->schema[0] != '\0');
        assert_true(row->http_port > 0 && row->http_port <= 65535);
        assert_true(row->replay_port > 0 && row->replay_port <= 65535);
        service_defaults_t out;
        char want[64];
        assert_int_equal(service_table_defaults(&service_table, row->name, &out), 0);
        snprintf(want, sizeof want, "0.0.0.0:%d", row->http_port);
        assert_string_equal(out.http_addr, want);
        snprintf(want, sizeof want, "tcp://0.0.0.0:%d", row->replay_port);
        assert_string_equal(out.replay_addr, want);
    }
    /* the services this tree builds are running rows */
    const char *built[] = {"order", "inventory"};
    for (size_t i = 0; i < sizeof built / sizeof built[0]; i++) {
        const service_row_t *row = service_table_find(&service_table, built[i]);
        assert_non_null(row);
        assert_true(row->running);
    }
    assert_null(service_table_find(&service_table, "nosuchservice"));
}

/* Runs service_new on def with the log written to a file; returns what it
 * logged (caller frees) and whether it returned a service. */
static char *service_new_log(const service_def_t *def, bool *started_out)
{
    FILE *out = tmpfile();
    assert_non_null(out);
    log_set_output(out);
    char arg0[] = "test_service_table";
    char *argv[] = {arg0, NULL};
    service_t *svc = service_new(def, 1, argv);
    log_set_output(NULL);
    *started_out = svc != NULL;
    service_destroy(&svc);
    long size = ftell(out);
    assert_true(size >= 0);
    char *text = calloc(1, (size_t)size + 1);
    assert_non_null(text);
    rewind(out);
    assert_int_equal(fread(text, 1, (size_t)size, out), (size_t)size);
    fclose(out);
    return text;
}

static void test_service_new_refuses_an_unknown_name(void **state)
{
    (void)state;
    unsetenv("DATABASE_URL"); /* a known name then stops at the next check */
    service_def_t unknown = {.name = "nosuchservice"};
    bool started = true;
    char *log = service_new_log(&unknown, &started);
    assert_false(started);
    assert_non_null(strstr(log, "\"err\":\"unknown_service\""));
    assert_non_null(strstr(log, "nosuchservice"));
    assert_non_null(strstr(log, "deploy/services.tsv"));
    free(log);

    /* a known name passes the lookup: what stops it is the next check */
    service_def_t known = {.name = "inventory"};
    log = service_new_log(&known, &started);
    assert_false(started);
    assert_null(strstr(log, "unknown_service"));
    assert_non_null(strstr(log, "DATABASE_URL is not set"));
    free(log);

    /* an unknown name that names its schema and ports needs no row */
    service_def_t named = {.name = "nosuchservice",
                           .schema = "nosuch",
                           .http_addr = "127.0.0.1:1",
                           .replay_addr = "tcp://127.0.0.1:2"};
    log = service_new_log(&named, &started);
    assert_false(started);
    assert_null(strstr(log, "unknown_service"));
    assert_non_null(strstr(log, "DATABASE_URL is not set"));
    free(log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_find_by_name),
        cmocka_unit_test(test_unknown_name_finds_nothing),
        cmocka_unit_test(test_defaults_are_the_rows_addresses),
        cmocka_unit_test(test_fill_sets_only_what_is_null),
        cmocka_unit_test(test_fill_of_unknown_name),
        cmocka_unit_test(test_built_in_table),
        cmocka_unit_test(test_service_new_refuses_an_unknown_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
