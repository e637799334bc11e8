/*
 * test_log.c — the JSON-lines logger: every call writes exactly one line
 * that jansson parses, with ts, level, svc and msg first; quotes,
 * backslashes, newlines and every control character are escaped so the
 * text round-trips; NULL strings are JSON null; integers keep their full
 * range; levels below the minimum are dropped; a line over 16 KiB is cut,
 * marked "truncated":true and still valid JSON wherever the cut falls
 * (inside a plain value, an escaped one, a multi-byte character or a key).
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

#include "common/log.h"

#define LINE_MAX_BYTES 16384

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

/* Stops capturing; cap->text holds everything written. */
static void capture_end(capture_t *cap)
{
    log_set_output(NULL);
    assert_int_equal(fclose(cap->stream), 0);
    cap->stream = NULL;
}

static size_t count_lines(const char *text)
{
    size_t lines = 0;
    for (const char *p = text; *p; p++)
        lines += *p == '\n';
    return lines;
}

/* Parses line number `index` (0-based) of text; fails the test if it is
 * not one valid JSON object. Caller owns the result (json_decref). */
static json_t *parse_line(const char *text, size_t index)
{
    const char *start = text;
    for (size_t i = 0; i < index; i++) {
        start = strchr(start, '\n');
        assert_non_null(start);
        start++;
    }
    const char *end = strchr(start, '\n');
    assert_non_null(end);
    size_t len = (size_t)(end - start);
    assert_true(len + 1 <= LINE_MAX_BYTES);
    json_error_t error;
    json_t *obj = json_loadb(start, len, 0, &error);
    if (!obj)
        fail_msg("line %zu is not JSON: %s at %d: %.200s", index, error.text, error.position,
                 start);
    assert_true(json_is_object(obj));
    return obj;
}

static const char *get_str(const json_t *obj, const char *key)
{
    const json_t *value = json_object_get(obj, key);
    assert_non_null(value);
    assert_true(json_is_string(value));
    return json_string_value(value);
}

static int setup(void **state)
{
    (void)state;
    log_init("test_log", LOG_DEBUG);
    return 0;
}

static void test_one_json_line_per_call(void **state)
{
    (void)state;
    capture_t cap;
    capture_begin(&cap);
    log_info("first", LF_STR("order_id", "o-1"));
    log_warn("second");
    log_error("third", LF_ERR("stock_short"), LF_INT("qty", 3));
    capture_end(&cap);
    assert_int_equal(count_lines(cap.text), 3);
    assert_int_equal(cap.text[cap.len - 1], '\n');

    json_t *first = parse_line(cap.text, 0);
    assert_string_equal(get_str(first, "level"), "info");
    assert_string_equal(get_str(first, "svc"), "test_log");
    assert_string_equal(get_str(first, "msg"), "first");
    assert_string_equal(get_str(first, "order_id"), "o-1");
    const char *ts = get_str(first, "ts");
    assert_int_equal(strlen(ts), 24); /* 2026-11-22T10:00:00.123Z */
    assert_int_equal(ts[10], 'T');
    assert_int_equal(ts[23], 'Z');
    /* the fixed fields come first, in this order */
    assert_memory_equal(cap.text, "{\"ts\":\"", 7);
    assert_non_null(
        strstr(cap.text, "Z\",\"level\":\"info\",\"svc\":\"test_log\",\"msg\":\"first\""));
    json_decref(first);

    json_t *third = parse_line(cap.text, 2);
    assert_string_equal(get_str(third, "level"), "error");
    assert_string_equal(get_str(third, "err"), "stock_short");
    assert_int_equal(json_integer_value(json_object_get(third, "qty")), 3);
    json_decref(third);
    free(cap.text);
}

static void test_escaping_round_trips(void **state)
{
    (void)state;
    const char *nasty = "say \"hi\"\\ back\nline2\r\ttab \x01\x1f\x7f end é ☃";
    capture_t cap;
    capture_begin(&cap);
    log_info(nasty, LF_STR("k\"ey\n", nasty), LF_STR("null_value", NULL));
    capture_end(&cap);
    assert_int_equal(count_lines(cap.text), 1);
    /* no raw control character made it into the line */
    for (size_t i = 0; i + 1 < cap.len; i++)
        assert_true((unsigned char)cap.text[i] >= 0x20);
    json_t *obj = parse_line(cap.text, 0);
    assert_string_equal(get_str(obj, "msg"), nasty);
    assert_string_equal(get_str(obj, "k\"ey\n"), nasty);
    assert_true(json_is_null(json_object_get(obj, "null_value")));
    json_decref(obj);
    free(cap.text);
}

static void test_every_control_character_is_escaped(void **state)
{
    (void)state;
    char controls[32];
    for (int c = 1; c < 32; c++)
        controls[c - 1] = (char)c;
    controls[31] = '\0';
    capture_t cap;
    capture_begin(&cap);
    log_info("controls", LF_STR("value", controls));
    capture_end(&cap);
    json_t *obj = parse_line(cap.text, 0);
    assert_string_equal(get_str(obj, "value"), controls);
    json_decref(obj);
    free(cap.text);
}

static void test_integers_keep_their_range(void **state)
{
    (void)state;
    capture_t cap;
    capture_begin(&cap);
    log_info("numbers", LF_INT("zero", 0), LF_INT("minus", -1),
             LF_INT("max", 9223372036854775807LL), LF_INT("min", -9223372036854775807LL - 1));
    capture_end(&cap);
    json_t *obj = parse_line(cap.text, 0);
    assert_true(json_is_integer(json_object_get(obj, "zero")));
    assert_int_equal(json_integer_value(json_object_get(obj, "zero")), 0);
    assert_true(json_integer_value(json_object_get(obj, "minus")) == -1);
    assert_true(json_integer_value(json_object_get(obj, "max")) == INT64_MAX);
    assert_true(json_integer_value(json_object_get(obj, "min")) == INT64_MIN);
    json_decref(obj);
    free(cap.text);
}

static void test_levels_below_the_minimum_are_dropped(void **state)
{
    (void)state;
    log_init("test_log", LOG_WARN);
    assert_false(log_enabled(LOG_DEBUG));
    assert_false(log_enabled(LOG_INFO));
    assert_true(log_enabled(LOG_WARN));
    assert_true(log_enabled(LOG_ERROR));
    capture_t cap;
    capture_begin(&cap);
    log_debug("dropped debug");
    log_info("dropped info");
    log_warn("kept warn");
    log_error("kept error");
    log_field_t field = LF_STR("a", "b");
    log_emit_fields(LOG_INFO, "dropped fields", &field, 1);
    capture_end(&cap);
    log_init("test_log", LOG_DEBUG);
    assert_int_equal(count_lines(cap.text), 2);
    assert_null(strstr(cap.text, "dropped"));
    json_t *obj = parse_line(cap.text, 0);
    assert_string_equal(get_str(obj, "level"), "warn");
    json_decref(obj);
    obj = parse_line(cap.text, 1);
    assert_string_equal(get_str(obj, "level"), "error");
    json_decref(obj);
    free(cap.text);

    log_level_t level = LOG_ERROR;
    assert_int_equal(log_level_parse("DEBUG", &level), 0);
    assert_int_equal(level, LOG_DEBUG);
    assert_int_equal(log_level_parse("warning", &level), 0);
    assert_int_equal(level, LOG_WARN);
    assert_int_equal(log_level_parse("Info", &level), 0);
    assert_int_equal(level, LOG_INFO);
    assert_int_equal(log_level_parse("loud", &level), -1);
    assert_int_equal(log_level_parse(NULL, &level), -1);
    assert_int_equal(level, LOG_INFO);
}

/* Logs msg and one field; checks the line is cut, marked and valid, and
 * returns it parsed (caller owns it). */
static json_t *log_truncated(const char *msg, const char *key, const char *value)
{
    capture_t cap;
    capture_begin(&cap);
    log_info(msg, LF_STR(key, value), LF_INT("after", 1));
    capture_end(&cap);
    assert_int_equal(count_lines(cap.text), 1);
    assert_true(cap.len <= LINE_MAX_BYTES);
    json_t *obj = parse_line(cap.text, 0);
    assert_true(json_is_true(json_object_get(obj, "truncated")));
    assert_null(json_object_get(obj, "after"));
    free(cap.text);
    return obj;
}

static char *repeat(const char *unit, size_t times)
{
    size_t unit_len = strlen(unit);
    char *text = malloc(unit_len * times + 1);
    assert_non_null(text);
    for (size_t i = 0; i < times; i++)
        memcpy(text + i * unit_len, unit, unit_len);
    text[unit_len * times] = '\0';
    return text;
}

static void test_long_lines_are_cut_and_stay_valid(void **state)
{
    (void)state;
    /* a long plain value: what is kept is a prefix of it */
    char *plain = repeat("a", 40000);
    json_t *obj = log_truncated("long value", "body", plain);
    const char *kept = get_str(obj, "body");
    assert_true(strlen(kept) > 1000);
    assert_memory_equal(kept, plain, strlen(kept));
    assert_string_equal(get_str(obj, "msg"), "long value");
    json_decref(obj);

    /* a long message */
    obj = log_truncated(plain, "k", "v");
    assert_true(strlen(get_str(obj, "msg")) > 1000);
    json_decref(obj);
    free(plain);

    /* escaped characters: each cut position between and inside escapes */
    for (int shift = 0; shift < 6; shift++) {
        char *prefix = repeat("b", (size_t)shift);
        char *quotes = repeat("\"\\\n\x01", 8000);
        size_t total = strlen(prefix) + strlen(quotes) + 1;
        char *value = malloc(total);
        assert_non_null(value);
        snprintf(value, total, "%s%s", prefix, quotes);
        obj = log_truncated("escapes", "body", value);
        kept = get_str(obj, "body");
        assert_memory_equal(kept, value, strlen(kept));
        json_decref(obj);
        free(value);
        free(quotes);
        free(prefix);
    }

    /* multi-byte UTF-8 characters are never split */
    for (int shift = 0; shift < 4; shift++) {
        char *prefix = repeat("c", (size_t)shift);
        char *snowmen = repeat("☃é", 6000);
        size_t total = strlen(prefix) + strlen(snowmen) + 1;
        char *value = malloc(total);
        assert_non_null(value);
        snprintf(value, total, "%s%s", prefix, snowmen);
        obj = log_truncated("utf-8", "body", value);
        kept = get_str(obj, "body");
        assert_memory_equal(kept, value, strlen(kept));
        json_decref(obj);
        free(value);
        free(snowmen);
        free(prefix);
    }
}

static void test_a_cut_inside_a_key_stays_valid(void **state)
{
    (void)state;
    /* many fields: the cut falls in keys, values or between them */
    char *key = repeat("k", 300);
    char *value = repeat("v", 200);
    for (size_t fields = 30; fields < 40; fields++) {
        log_field_t list[LOG_FIELDS_MAX];
        char keys[40][320];
        for (size_t i = 0; i < fields; i++) {
            snprintf(keys[i], sizeof keys[i], "%zu_%s", i, key + i % 7);
            list[i] = LF_STR(keys[i], value + i % 13);
        }
        capture_t cap;
        capture_begin(&cap);
        log_emit_fields(LOG_INFO, "many fields", list, fields);
        capture_end(&cap);
        assert_int_equal(count_lines(cap.text), 1);
        assert_true(cap.len <= LINE_MAX_BYTES);
        json_t *obj = parse_line(cap.text, 0);
        /* either every field is there, or the line says it was cut */
        bool cut = json_is_true(json_object_get(obj, "truncated"));
        bool last_there = json_object_get(obj, keys[fields - 1]) != NULL;
        assert_true(cut != last_there);
        if (cut)
            assert_true(cap.len > LINE_MAX_BYTES - 600);
        assert_string_equal(get_str(obj, "msg"), "many fields");
        json_decref(obj);
        free(cap.text);
    }
    free(key);
    free(value);
}

static void test_short_lines_are_not_marked(void **state)
{
    (void)state;
    capture_t cap;
    capture_begin(&cap);
    char *value = repeat("x", 15000);
    log_info("fits", LF_STR("body", value));
    capture_end(&cap);
    json_t *obj = parse_line(cap.text, 0);
    assert_null(json_object_get(obj, "truncated"));
    assert_string_equal(get_str(obj, "body"), value);
    json_decref(obj);
    free(value);
    free(cap.text);
}

/* A line an outsider can provoke is written once per interval, then says
 * how many were held back; per key, each key on its own. */
static void test_throttle_holds_back_and_counts(void **state)
{
    (void)state;
    log_throttle_t throttle = {0};
    unsigned long long held_back = 99;
    assert_true(log_throttle_allow(&throttle, 60000, &held_back));
    assert_int_equal(held_back, 0);
    for (int i = 0; i < 5; i++)
        assert_false(log_throttle_allow(&throttle, 60000, &held_back));
    throttle.next_ms = 1; /* the interval is over */
    assert_true(log_throttle_allow(&throttle, 60000, &held_back));
    assert_int_equal(held_back, 5);

    static log_throttle_keyed_t keyed;
    assert_true(log_throttle_keyed_allow(&keyed, "key-a", 60000, &held_back));
    assert_false(log_throttle_keyed_allow(&keyed, "key-a", 60000, &held_back));
    assert_true(log_throttle_keyed_allow(&keyed, "key-b", 60000, &held_back));
    /* more keys than slots: the quiet ones make room, nothing crashes */
    char key[32];
    for (int i = 0; i < 3 * LOG_THROTTLE_KEYS; i++) {
        snprintf(key, sizeof key, "many-%d", i);
        assert_true(log_throttle_keyed_allow(&keyed, key, 60000, &held_back));
    }
    char longest[200];
    memset(longest, 'k', sizeof longest - 1);
    longest[sizeof longest - 1] = '\0';
    assert_true(log_throttle_keyed_allow(&keyed, longest, 60000, &held_back));
    assert_false(log_throttle_keyed_allow(&keyed, longest, 60000, &held_back));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_json_line_per_call),
        cmocka_unit_test(test_throttle_holds_back_and_counts),
        cmocka_unit_test(test_escaping_round_trips),
        cmocka_unit_test(test_every_control_character_is_escaped),
        cmocka_unit_test(test_integers_keep_their_range),
        cmocka_unit_test(test_levels_below_the_minimum_are_dropped),
        cmocka_unit_test(test_long_lines_are_cut_and_stay_valid),
        cmocka_unit_test(test_a_cut_inside_a_key_stays_valid),
        cmocka_unit_test(test_short_lines_are_not_marked),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
