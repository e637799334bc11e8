/*
 * test_config.c — configuration from the environment: the environment
 * overrides a default (even with ""), values are copied at declaration,
 * the first declaration of a name wins; the typed getters refuse junk,
 * out-of-range numbers, bad durations and bad booleans (logging which
 * variable) and accept good ones; config_mask_secret never lets a password
 * through in any DSN form we accept (URL with and without password, a
 * password in the query, key=value plain and quoted, redis with a password
 * holding '@' or '/'); config_log writes one JSON line with every variable
 * and no secret in clear.
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
#include <jansson.h>

#include "common/config.h"
#include "common/log.h"

/* Output captured in memory for one test. */
typedef struct {
    char *text;
    size_t len;
    FILE *stream;
} capture_t;

static void capture_begin(capture_t *cap)
{
    cap->text = NULL;
    cap->len = 0;
    cap->stream = open_memstream(&cap->text, &cap->len);
    assert_non_null(cap->stream);
    log_set_output(cap->stream);
}

static void capture_end(capture_t *cap)
{
    log_set_output(NULL);
    assert_int_equal(fclose(cap->stream), 0);
    cap->stream = NULL;
}

static const config_spec_t specs[] = {
    {"TCFG_DEFAULTED", "5s", false, "a duration with a default"},
    {"TCFG_OVERRIDDEN", "default", false, "set by the test"},
    {"TCFG_EMPTY", "default", false, "set to the empty string"},
    {"TCFG_UNSET", NULL, false, "no default, not set"},
    {"TCFG_INT", NULL, false, "an integer"},
    {"TCFG_DURATION", NULL, false, "a duration"},
    {"TCFG_BOOL", NULL, false, "a boolean"},
    {"TCFG_DATABASE_URL", NULL, true, "a secret URL"},
    {"TCFG_REDIS_URL", NULL, true, "a secret redis URL"},
    {"TCFG_TOKEN", NULL, true, "a plain secret"},
    CONFIG_SPEC_END,
};

static const config_spec_t again[] = {
    {"TCFG_OVERRIDDEN", "second default", true, "declared twice"},
    CONFIG_SPEC_END,
};

static int setup(void **state)
{
    (void)state;
    log_init("test_config", LOG_INFO);
    for (const config_spec_t *spec = specs; spec->name; spec++)
        unsetenv(spec->name);
    return 0;
}

/* A configuration of specs read from the environment now. */
static config_t *load(void)
{
    config_t *cfg = config_new();
    assert_non_null(cfg);
    assert_int_equal(config_declare(cfg, specs), 0);
    return cfg;
}

static void test_environment_overrides_defaults(void **state)
{
    (void)state;
    setenv("TCFG_OVERRIDDEN", "from env", 1);
    setenv("TCFG_EMPTY", "", 1);
    config_t *cfg = load();
    assert_string_equal(config_get(cfg, "TCFG_DEFAULTED"), "5s");
    assert_string_equal(config_get(cfg, "TCFG_OVERRIDDEN"), "from env");
    assert_string_equal(config_get(cfg, "TCFG_EMPTY"), "");
    assert_null(config_get(cfg, "TCFG_UNSET"));
    assert_null(config_get(cfg, "TCFG_NEVER_DECLARED"));
    /* values were copied: a later change to the environment is not seen */
    setenv("TCFG_OVERRIDDEN", "changed later", 1);
    unsetenv("TCFG_EMPTY");
    assert_string_equal(config_get(cfg, "TCFG_OVERRIDDEN"), "from env");
    assert_string_equal(config_get(cfg, "TCFG_EMPTY"), "");
    /* a second declaration of a name keeps the first */
    assert_int_equal(config_declare(cfg, again), 0);
    assert_string_equal(config_get(cfg, "TCFG_OVERRIDDEN"), "from env");
    config_destroy(&cfg);
    assert_null(cfg);
    config_destroy(&cfg); /* NULL is fine */
    unsetenv("TCFG_OVERRIDDEN");
}

static void test_int_getter(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int ok;
        int64_t value;
    } cases[] = {
        {"12", 1, 12},       {"1", 1, 1},
        {"65535", 1, 65535}, {"12abc", 0, 0},
        {"0", 0, 0},         {"65536", 0, 0},
        {"-1", 0, 0},        {"", 0, 0},
        {" 12", 0, 0},       {"12 ", 0, 0},
        {"0x10", 0, 0},      {"+12", 0, 0},
        {"1e3", 0, 0},       {"99999999999999999999", 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        setenv("TCFG_INT", cases[i].text, 1);
        config_t *cfg = load();
        int64_t value = -777;
        capture_t cap;
        capture_begin(&cap);
        int rc = config_get_int(cfg, "TCFG_INT", 1, 65535, &value);
        capture_end(&cap);
        if (cases[i].ok) {
            assert_int_equal(rc, 0);
            assert_int_equal(value, cases[i].value);
            assert_int_equal(cap.len, 0);
        } else {
            assert_int_equal(rc, -1);
            assert_int_equal(value, -777);
            /* the refusal names the variable and the stable code */
            assert_non_null(strstr(cap.text, "\"name\":\"TCFG_INT\""));
            assert_non_null(strstr(cap.text, "\"err\":\"bad_config\""));
        }
        free(cap.text);
        config_destroy(&cfg);
    }
    unsetenv("TCFG_INT");
    /* missing entirely */
    config_t *cfg = load();
    int64_t value = -777;
    capture_t cap;
    capture_begin(&cap);
    assert_int_equal(config_get_int(cfg, "TCFG_INT", 1, 10, &value), -1);
    assert_int_equal(config_get_int(cfg, "TCFG_NEVER_DECLARED", 1, 10, &value), -1);
    capture_end(&cap);
    free(cap.text);
    assert_int_equal(value, -777);
    config_destroy(&cfg);
}

static void test_duration_getter(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int ok;
        int64_t ms;
    } cases[] = {
        {"250ms", 1, 250},    {"5s", 1, 5000},   {"10m", 1, 600000}, {"2h", 1, 7200000},
        {"7d", 1, 604800000}, {"1500", 1, 1500}, {"5 s", 0, 0},      {"5sec", 0, 0},
        {"-5s", 0, 0},        {"s", 0, 0},       {"", 0, 0},         {"1.5s", 0, 0},
        {"5S", 0, 0},         {"5s5", 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        setenv("TCFG_DURATION", cases[i].text, 1);
        config_t *cfg = load();
        int64_t ms = -777;
        capture_t cap;
        capture_begin(&cap);
        int rc = config_get_duration_ms(cfg, "TCFG_DURATION", &ms);
        capture_end(&cap);
        if (cases[i].ok) {
            assert_int_equal(rc, 0);
            assert_int_equal(ms, cases[i].ms);
        } else {
            assert_int_equal(rc, -1);
            assert_int_equal(ms, -777);
            assert_non_null(strstr(cap.text, "\"name\":\"TCFG_DURATION\""));
        }
        free(cap.text);
        config_destroy(&cfg);
    }
    unsetenv("TCFG_DURATION");
    /* the default applies when the environment is silent */
    config_t *cfg = load();
    int64_t ms = 0;
    assert_int_equal(config_get_duration_ms(cfg, "TCFG_DEFAULTED", &ms), 0);
    assert_int_equal(ms, 5000);
    config_destroy(&cfg);
}

static void test_bool_getter(void **state)
{
    (void)state;
    const char *truths[] = {"1", "true", "TRUE", "yes", "Yes", "on", "ON"};
    const char *lies[] = {"0", "false", "False", "no", "NO", "off"};
    const char *junk[] = {"2", "maybe", "tru", "yess", " true", "true ", "y", "n", "-1", "o"};
    for (size_t i = 0; i < sizeof truths / sizeof truths[0]; i++) {
        setenv("TCFG_BOOL", truths[i], 1);
        config_t *cfg = load();
        bool value = false;
        assert_int_equal(config_get_bool(cfg, "TCFG_BOOL", &value), 0);
        assert_true(value);
        config_destroy(&cfg);
    }
    for (size_t i = 0; i < sizeof lies / sizeof lies[0]; i++) {
        setenv("TCFG_BOOL", lies[i], 1);
        config_t *cfg = load();
        bool value = true;
        assert_int_equal(config_get_bool(cfg, "TCFG_BOOL", &value), 0);
        assert_false(value);
        config_destroy(&cfg);
    }
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
        setenv("TCFG_BOOL", junk[i], 1);
        config_t *cfg = load();
        bool value = true;
        capture_t cap;
        capture_begin(&cap);
        assert_int_equal(config_get_bool(cfg, "TCFG_BOOL", &value), -1);
        capture_end(&cap);
        assert_true(value); /* untouched */
        assert_non_null(strstr(cap.text, "\"name\":\"TCFG_BOOL\""));
        free(cap.text);
        config_destroy(&cfg);
    }
    unsetenv("TCFG_BOOL");
    config_t *cfg = load();
    bool value = true;
    capture_t cap;
    capture_begin(&cap);
    assert_int_equal(config_get_bool(cfg, "TCFG_BOOL", &value), -1); /* missing */
    capture_end(&cap);
    free(cap.text);
    config_destroy(&cfg);
}

/* Masks value and compares with want; also checks secret (if given) is
 * nowhere in the result. */
static void check_mask(const char *value, const char *want, const char *secret)
{
    char *masked = config_mask_secret(value);
    assert_non_null(masked);
    if (want && strcmp(masked, want) != 0)
        fail_msg("config_mask_secret(\"%s\") = \"%s\", want \"%s\"", value, masked, want);
    if (secret && strstr(masked, secret))
        fail_msg("config_mask_secret(\"%s\") = \"%s\" leaks \"%s\"", value, masked, secret);
    free(masked);
}

static void test_mask_secret(void **state)
{
    (void)state;
    /* URLs with a password */
    check_mask("postgres://order:s3cret@db.example:5432/conveyor",
               "postgres://order:***@db.example:5432/conveyor", "s3cret");
    check_mask("postgresql://order_owner:s3cret@127.0.0.1:25432/conveyor?sslmode=disable",
               "postgresql://order_owner:***@127.0.0.1:25432/conveyor?sslmode=disable", "s3cret");
    /* URLs without a password are shown as they are */
    check_mask("postgresql://order@db.example/conveyor", "postgresql://order@db.example/conveyor",
               NULL);
    check_mask("postgresql:///conveyor?host=/run/pg&port=25432&user=postgres",
               "postgresql:///conveyor?host=/run/pg&port=25432&user=postgres", NULL);
    /* a password in the query of a URL, with or without a user name */
    check_mask("postgresql:///conveyor?host=/run/pg&password=s3cret", NULL, "s3cret");
    check_mask("postgresql://order@db.example/conveyor?password=s3cret", NULL, "s3cret");
    check_mask("postgresql://order:pw1@db.example/conveyor?password=s3cret", NULL, "s3cret");
    /* libpq key=value */
    check_mask("host=db.example user=order password=s3cret dbname=conveyor",
               "host=db.example user=order password=*** dbname=conveyor", "s3cret");
    check_mask("password=s3cret", "password=***", "s3cret");
    check_mask("host=db.example password=s3cret", "host=db.example password=***", "s3cret");
    check_mask("host=db password='s3 cr\\'et' dbname=c", "host=db password=*** dbname=c", "cr");
    check_mask("host=db dbname=c", NULL, NULL);
    /* redis */
    check_mask("redis://:s3cret@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0", "s3cret");
    check_mask("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0", NULL);
    /* the redis client takes the last '@': a password may hold '@' or '/' */
    check_mask("redis://:p@ss@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0", "ss");
    check_mask("redis://:pa/ss@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0", "pa/ss");
    /* a plain secret */
    check_mask("s3cret", "***", "s3cret");
    check_mask("", "", NULL);
    assert_null(config_mask_secret(NULL));
}

static void test_config_log_is_one_line_with_secrets_masked(void **state)
{
    (void)state;
    setenv("TCFG_DATABASE_URL", "postgres://order:hunter2@db:5432/conveyor", 1);
    setenv("TCFG_REDIS_URL", "redis://:swordfish@127.0.0.1:6379/0", 1);
    setenv("TCFG_TOKEN", "opensesame", 1);
    setenv("TCFG_INT", "42", 1);
    config_t *cfg = load();
    capture_t cap;
    capture_begin(&cap);
    config_log(cfg);
    capture_end(&cap);
    config_destroy(&cfg);
    unsetenv("TCFG_DATABASE_URL");
    unsetenv("TCFG_REDIS_URL");
    unsetenv("TCFG_TOKEN");
    unsetenv("TCFG_INT");

    /* exactly one line */
    assert_true(cap.len > 0);
    assert_int_equal(cap.text[cap.len - 1], '\n');
    assert_ptr_equal(strchr(cap.text, '\n'), cap.text + cap.len - 1);
    assert_null(strstr(cap.text, "hunter2"));
    assert_null(strstr(cap.text, "swordfish"));
    assert_null(strstr(cap.text, "opensesame"));

    json_error_t error;
    json_t *obj = json_loadb(cap.text, cap.len - 1, 0, &error);
    if (!obj)
        fail_msg("not JSON: %s: %s", error.text, cap.text);
    assert_string_equal(json_string_value(json_object_get(obj, "msg")), "effective configuration");
    assert_string_equal(json_string_value(json_object_get(obj, "level")), "info");
    assert_string_equal(json_string_value(json_object_get(obj, "TCFG_DATABASE_URL")),
                        "postgres://order:***@db:5432/conveyor");
    assert_string_equal(json_string_value(json_object_get(obj, "TCFG_REDIS_URL")),
                        "redis://:***@127.0.0.1:6379/0");
    assert_string_equal(json_string_value(json_object_get(obj, "TCFG_TOKEN")), "***");
    assert_string_equal(json_string_value(json_object_get(obj, "TCFG_INT")), "42");
    assert_string_equal(json_string_value(json_object_get(obj, "TCFG_DEFAULTED")), "5s");
    /* every declared variable is listed; unset ones as null */
    for (const config_spec_t *spec = specs; spec->name; spec++)
        assert_non_null(json_object_get(obj, spec->name));
    assert_true(json_is_null(json_object_get(obj, "TCFG_UNSET")));
    json_decref(obj);
    free(cap.text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_environment_overrides_defaults, setup),
        cmocka_unit_test_setup(test_int_getter, setup),
        cmocka_unit_test_setup(test_duration_getter, setup),
        cmocka_unit_test_setup(test_bool_getter, setup),
        cmocka_unit_test(test_mask_secret),
        cmocka_unit_test_setup(test_config_log_is_one_line_with_secrets_masked, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
