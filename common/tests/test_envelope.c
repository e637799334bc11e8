/*
 * test_envelope.c — the checks every bus frame passes before it is
 * applied: topic syntax, size limits, envelope/topic agreement.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/envelope.h"

static void test_topic_split_accepts_stream_and_type(void **state)
{
    (void)state;
    char stream[BUS_NAME_MAX], type[BUS_TOPIC_MAX];
    const char *topic = "order/order.placed";
    assert_int_equal(bus_topic_split(topic, strlen(topic), stream, type, sizeof type), 0);
    assert_string_equal(stream, "order");
    assert_string_equal(type, "order.placed");
    topic = "order/$hb";
    assert_int_equal(bus_topic_split(topic, strlen(topic), stream, type, sizeof type), 0);
    assert_string_equal(type, "$hb");
}

static void test_topic_split_rejects_bad_topics(void **state)
{
    (void)state;
    char stream[BUS_NAME_MAX], type[BUS_TOPIC_MAX];
    const char *bad[] = {"order",    "/order.placed", "order/",    "Order/x",
                         "or der/x", "order/a b",     "order/a/b", "a/"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(bus_topic_split(bad[i], strlen(bad[i]), stream, type, sizeof type), -1);
    /* not NUL-terminated input is read only up to len */
    assert_int_equal(bus_topic_split("order/x.y", 7, stream, type, sizeof type), 0);
    assert_string_equal(type, "x");
    char huge[BUS_TOPIC_MAX + 10];
    memset(huge, 'a', sizeof huge);
    huge[3] = '/';
    assert_int_equal(bus_topic_split(huge, sizeof huge, stream, type, sizeof type), -1);
}

static void test_topic_format_round_trips(void **state)
{
    (void)state;
    char topic[BUS_TOPIC_MAX + 1];
    assert_int_equal(bus_topic_format(topic, sizeof topic, "inventory", "stock.reserved"), 0);
    assert_string_equal(topic, "inventory/stock.reserved");
    assert_int_equal(bus_topic_format(topic, 8, "inventory", "stock.reserved"), -1);
    assert_int_equal(bus_topic_format(topic, sizeof topic, "Bad Stream", "x"), -1);
}

/* packs an envelope; the caller frees *buf */
static size_t pack(const char *stream, uint64_t seq, uint64_t epoch, const char *type,
                   uint8_t **buf)
{
    Conveyor__Envelope env = CONVEYOR__ENVELOPE__INIT;
    env.event_id = pb_lend("0123abcd-4567-89ef-0123-456789abcdef");
    env.stream = pb_lend(stream);
    env.seq = seq;
    env.epoch = epoch;
    env.type = pb_lend(type);
    size_t len = 0;
    assert_int_equal(envelope_pack_alloc(&env, buf, &len), 0);
    return len;
}

static frame_status_t parse(const char *topic, const char *stream, uint64_t seq, uint64_t epoch,
                            const char *type)
{
    uint8_t *buf = NULL;
    size_t len = pack(stream, seq, epoch, type, &buf);
    bus_frame_t frame;
    frame_status_t status = bus_frame_parse(topic, strlen(topic), buf, len, &frame);
    if (status == FRAME_OK) {
        assert_non_null(frame.env);
        assert_int_equal(frame.env->seq, seq);
        bus_frame_clear(&frame);
        assert_null(frame.env);
    }
    free(buf);
    return status;
}

static void test_frame_parse_checks_agreement(void **state)
{
    (void)state;
    assert_int_equal(parse("order/order.placed", "order", 5, 7, "order.placed"), FRAME_OK);
    assert_int_equal(parse("order/$hb", "order", 0, 7, "$hb"), FRAME_OK);
    assert_int_equal(parse("ext/intake.order", "site-main", 0, 0, "intake.order"), FRAME_OK);
    /* the envelope claims another stream or type than its topic */
    assert_int_equal(parse("order/order.placed", "inventory", 5, 7, "order.placed"),
                     FRAME_MISMATCH);
    assert_int_equal(parse("order/order.placed", "order", 5, 7, "order.changed"), FRAME_MISMATCH);
    /* sequenced streams need seq and epoch; external ones no seq but a source */
    assert_int_equal(parse("order/order.placed", "order", 0, 7, "order.placed"), FRAME_MISMATCH);
    assert_int_equal(parse("order/order.placed", "order", 5, 0, "order.placed"), FRAME_MISMATCH);
    assert_int_equal(parse("ext/intake.order", "site-main", 3, 0, "intake.order"), FRAME_MISMATCH);
    assert_int_equal(parse("ext/intake.order", "", 0, 0, "intake.order"), FRAME_MISMATCH);
}

static void test_frame_parse_rejects_garbage_and_size(void **state)
{
    (void)state;
    bus_frame_t frame;
    static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x12, 0x34};
    const char *topic = "order/order.placed";
    assert_int_equal(bus_frame_parse(topic, strlen(topic), garbage, sizeof garbage, &frame),
                     FRAME_BAD_ENVELOPE);
    assert_null(frame.env);
    assert_int_equal(bus_frame_parse("nonsense", 8, garbage, sizeof garbage, &frame),
                     FRAME_BAD_TOPIC);
    uint8_t *big = calloc(1, BUS_ENVELOPE_MAX + 1);
    assert_int_equal(bus_frame_parse(topic, strlen(topic), big, BUS_ENVELOPE_MAX + 1, &frame),
                     FRAME_TOO_LARGE);
    free(big);
    assert_string_equal(frame_status_code(FRAME_BAD_ENVELOPE), "bad_envelope");
    assert_string_equal(frame_status_code(FRAME_MISMATCH), "envelope_mismatch");
}

static void test_frame_hash_is_stable_and_distinguishes(void **state)
{
    (void)state;
    char a[65], b[65], c[65];
    bus_frame_hash("t/x", 3, "abc", 3, a);
    bus_frame_hash("t/x", 3, "abc", 3, b);
    bus_frame_hash("t/x", 3, "abd", 3, c);
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
    assert_int_equal(strlen(a), 64);
}

static void test_name_ok_bounds_names(void **state)
{
    (void)state;
    assert_true(bus_name_ok("order"));
    assert_true(bus_name_ok("site-main.v2_x"));
    char longest[BUS_NAME_MAX];
    memset(longest, 'a', sizeof longest - 1);
    longest[sizeof longest - 1] = '\0';
    assert_true(bus_name_ok(longest));
    char too_long[BUS_NAME_MAX + 1];
    memset(too_long, 'a', sizeof too_long - 1);
    too_long[sizeof too_long - 1] = '\0';
    assert_false(bus_name_ok(too_long));
    const char *bad[] = {"", "Order", "a b", "a/b", "o\xc3\xa9", "a\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(bus_name_ok(bad[i]));
    assert_false(bus_name_ok(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topic_split_accepts_stream_and_type),
        cmocka_unit_test(test_topic_split_rejects_bad_topics),
        cmocka_unit_test(test_topic_format_round_trips),
        cmocka_unit_test(test_frame_parse_checks_agreement),
        cmocka_unit_test(test_frame_parse_rejects_garbage_and_size),
        cmocka_unit_test(test_frame_hash_is_stable_and_distinguishes),
        cmocka_unit_test(test_name_ok_bounds_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
