/*
 * test_busbatch.c — the batch publish frame (common/busbatch.h): what the
 * relay writes comes back whole, and busd's check refuses every frame it
 * must not forward, with the reason it logs, at the exact bounds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/busbatch.h"

/* Packs an envelope of stream and type with payload_len bytes of payload;
 * the caller frees *buf. */
static size_t pack_env(const char *stream, const char *type, uint64_t seq, size_t payload_len,
                       uint8_t **buf)
{
    Conveyor__Envelope env = CONVEYOR__ENVELOPE__INIT;
    env.event_id = pb_lend("0123abcd-4567-89ef-0123-456789abcdef");
    env.stream = pb_lend(stream);
    env.type = pb_lend(type);
    env.seq = seq;
    env.epoch = 1700000000000ULL;
    env.schema_version = 1;
    uint8_t *payload = calloc(1, payload_len + 1);
    assert_non_null(payload);
    memset(payload, 'p', payload_len);
    env.payload.data = payload;
    env.payload.len = payload_len;
    size_t len = 0;
    assert_int_equal(envelope_pack_alloc(&env, buf, &len), 0);
    free(payload);
    return len;
}

/* Adds an envelope of stream/type to batch; asserts it fit. */
static void add_env(bus_batch_t *batch, const char *stream, const char *type, uint64_t seq)
{
    uint8_t *buf = NULL;
    size_t len = pack_env(stream, type, seq, 16, &buf);
    assert_int_equal(bus_batch_add(batch, buf, len), 0);
    free(buf);
}

static batch_status_t parse(const bus_batch_t *batch)
{
    static bus_batch_view_t view;
    return bus_batch_parse(batch->buf, batch->len, &view);
}

static void test_round_trip_keeps_every_envelope_in_order(void **state)
{
    (void)state;
    bus_batch_t *batch = bus_batch_new();
    assert_non_null(batch);
    const char *types[] = {"order.placed", "order.status_changed", "intake.accepted"};
    uint8_t *packed[3];
    size_t packed_len[3];
    for (int i = 0; i < 3; i++) {
        packed_len[i] = pack_env("order", types[i], (uint64_t)i + 1, 10 * (size_t)i, &packed[i]);
        assert_true(bus_batch_fits(batch, packed_len[i]));
        assert_int_equal(bus_batch_add(batch, packed[i], packed_len[i]), 0);
    }
    assert_int_equal(batch->count, 3);

    /* it is EnvelopeBatch's wire form: protobuf-c reads the same */
    Conveyor__EnvelopeBatch *decoded =
        conveyor__envelope_batch__unpack(NULL, batch->len, batch->buf);
    assert_non_null(decoded);
    assert_int_equal(decoded->n_envelopes, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(decoded->envelopes[i].len, packed_len[i]);
        assert_memory_equal(decoded->envelopes[i].data, packed[i], packed_len[i]);
    }
    conveyor__envelope_batch__free_unpacked(decoded, NULL);

    bus_batch_view_t *view = malloc(sizeof *view);
    assert_non_null(view);
    assert_int_equal(bus_batch_parse(batch->buf, batch->len, view), BATCH_OK);
    assert_string_equal(view->stream, "order");
    assert_int_equal(view->count, 3);
    size_t bytes = 0;
    for (size_t i = 0; i < 3; i++) {
        /* bytes unchanged, pointing into the frame */
        assert_int_equal(view->events[i].envelope_len, packed_len[i]);
        assert_memory_equal(view->events[i].envelope, packed[i], packed_len[i]);
        assert_true(view->events[i].envelope >= batch->buf &&
                    view->events[i].envelope < batch->buf + batch->len);
        char topic[BUS_TOPIC_MAX + 1], expected[BUS_TOPIC_MAX + 1];
        snprintf(expected, sizeof expected, "order/%s", types[i]);
        assert_int_equal(bus_batch_topic(view, i, topic, sizeof topic), (int)strlen(expected));
        assert_string_equal(topic, expected);
        bytes += packed_len[i];
    }
    assert_int_equal(view->envelope_bytes, bytes);
    char topic[BUS_TOPIC_MAX + 1];
    assert_int_equal(bus_batch_topic(view, 3, topic, sizeof topic), -1);
    assert_int_equal(bus_batch_topic(view, 0, topic, 5), -1);

    bus_batch_reset(batch);
    assert_int_equal(batch->count, 0);
    assert_int_equal(batch->len, 0);
    assert_int_equal(parse(batch), BATCH_EMPTY);
    for (int i = 0; i < 3; i++)
        free(packed[i]);
    free(view);
    bus_batch_destroy(&batch);
    assert_null(batch);
    bus_batch_destroy(&batch);
}

static void test_heartbeat_and_unknown_fields_pass(void **state)
{
    (void)state;
    bus_batch_t *batch = bus_batch_new();
    add_env(batch, "order", BUS_TYPE_HEARTBEAT, 7);
    /* a newer writer's field 11 (varint) and 12 (fixed64) and 13 (fixed32)
     * are skipped, as protobuf-c skips them */
    uint8_t *buf = NULL;
    size_t len = pack_env("order", "order.placed", 8, 4, &buf);
    uint8_t *longer = malloc(len + 32);
    memcpy(longer, buf, len);
    size_t n = len;
    longer[n++] = (11 << 3) | 0;
    longer[n++] = 0x96;
    longer[n++] = 0x01;
    longer[n++] = (12 << 3) | 1;
    memset(longer + n, 0xee, 8);
    n += 8;
    longer[n++] = (13 << 3) | 5;
    memset(longer + n, 0xdd, 4);
    n += 4;
    assert_int_equal(bus_batch_add(batch, longer, n), 0);
    assert_int_equal(parse(batch), BATCH_OK);
    free(buf);
    free(longer);
    bus_batch_destroy(&batch);
}

static void test_stream_and_type_last_occurrence_counts(void **state)
{
    (void)state;
    /* protobuf's rule: a repeated singular field's last value wins, so a
     * second stream field after "order" is the stream busd checks */
    bus_batch_t *batch = bus_batch_new();
    uint8_t *buf = NULL;
    size_t len = pack_env("order", "order.placed", 1, 0, &buf);
    uint8_t *more = malloc(len + 16);
    memcpy(more, buf, len);
    size_t n = len;
    more[n++] = (2 << 3) | 2;
    more[n++] = 5;
    memcpy(more + n, "other", 5);
    n += 5;
    assert_int_equal(bus_batch_add(batch, buf, len), 0);
    assert_int_equal(bus_batch_add(batch, more, n), 0);
    assert_int_equal(parse(batch), BATCH_MIXED);
    Conveyor__Envelope *env = conveyor__envelope__unpack(NULL, n, more);
    assert_non_null(env);
    assert_string_equal(env->stream, "other");
    conveyor__envelope__free_unpacked(env, NULL);
    free(buf);
    free(more);
    bus_batch_destroy(&batch);
}

static void test_event_count_bound(void **state)
{
    (void)state;
    bus_batch_t *batch = bus_batch_new();
    uint8_t *buf = NULL;
    size_t len = pack_env("inventory", "stock.reserved", 1, 8, &buf);
    for (int i = 0; i < BUS_BATCH_EVENTS_MAX; i++)
        assert_int_equal(bus_batch_add(batch, buf, len), 0);
    assert_int_equal(batch->count, 256);
    bus_batch_view_t *view = malloc(sizeof *view);
    assert_int_equal(bus_batch_parse(batch->buf, batch->len, view), BATCH_OK);
    assert_int_equal(view->count, 256);
    assert_string_equal(view->stream, "inventory");

    /* the writer refuses the 257th; a frame that has one anyway is refused */
    assert_false(bus_batch_fits(batch, len));
    size_t before = batch->len;
    assert_int_equal(bus_batch_add(batch, buf, len), -1);
    assert_int_equal(batch->len, before);
    uint8_t *frame = malloc(batch->len + len + 8);
    memcpy(frame, batch->buf, batch->len);
    size_t n = batch->len;
    frame[n++] = 0x0a;
    frame[n++] = (uint8_t)len; /* < 128 */
    assert_true(len < 128);
    memcpy(frame + n, buf, len);
    n += len;
    assert_int_equal(bus_batch_parse(frame, n, view), BATCH_TOO_MANY);
    assert_string_equal(batch_status_code(BATCH_TOO_MANY), "batch_too_many");
    free(frame);
    free(view);
    free(buf);
    bus_batch_destroy(&batch);
}

static void test_byte_bound_exactly_and_one_over(void **state)
{
    (void)state;
    /* one envelope whose tag, length and bytes fill the frame exactly:
     * 1 tag byte + 3 length bytes + the envelope */
    size_t target = BUS_BATCH_BYTES_MAX - 4, payload = target - 200, len = 0;
    uint8_t *buf = NULL;
    for (int round = 0; round < 5; round++) {
        len = pack_env("shipping", "shipment.created", 3, payload, &buf);
        if (len == target)
            break;
        payload = payload + target - len;
        free(buf);
        buf = NULL;
    }
    assert_int_equal(len, target);
    bus_batch_t *batch = bus_batch_new();
    assert_true(bus_batch_fits(batch, len));
    assert_false(bus_batch_fits(batch, len + 1));
    assert_int_equal(bus_batch_add(batch, buf, len), 0);
    assert_int_equal(batch->len, BUS_BATCH_BYTES_MAX);
    assert_int_equal(parse(batch), BATCH_OK);
    /* nothing more fits, not even an empty envelope */
    assert_false(bus_batch_fits(batch, 0));
    free(buf);

    /* one byte over: refused by size before anything is read */
    uint8_t *over = calloc(1, BUS_BATCH_BYTES_MAX + 1);
    memcpy(over, batch->buf, BUS_BATCH_BYTES_MAX);
    bus_batch_view_t *view = malloc(sizeof *view);
    assert_int_equal(bus_batch_parse(over, BUS_BATCH_BYTES_MAX + 1, view), BATCH_TOO_LARGE);
    assert_int_equal(view->count, 0);
    assert_string_equal(batch_status_code(BATCH_TOO_LARGE), "batch_too_large");
    /* an envelope bigger than a whole frame never fits: it goes alone */
    bus_batch_reset(batch);
    assert_false(bus_batch_fits(batch, BUS_BATCH_BYTES_MAX));
    assert_false(bus_batch_fits(batch, BUS_BATCH_BYTES_MAX - 3));
    assert_true(bus_batch_fits(batch, BUS_BATCH_BYTES_MAX - 4));
    free(over);
    free(view);
    bus_batch_destroy(&batch);
}

static void test_malformed_frames(void **state)
{
    (void)state;
    bus_batch_view_t *view = malloc(sizeof *view);
    uint8_t *env = NULL;
    size_t env_len = pack_env("order", "order.placed", 1, 4, &env);
    assert_true(env_len < 128);
    uint8_t frame[512];

    assert_int_equal(bus_batch_parse(frame, 0, view), BATCH_EMPTY);
    assert_int_equal(bus_batch_parse(NULL, 0, view), BATCH_EMPTY);
    assert_string_equal(batch_status_code(BATCH_EMPTY), "batch_empty");

    /* a field other than 1, or field 1 with another wire type */
    frame[0] = 0x12;
    frame[1] = (uint8_t)env_len;
    memcpy(frame + 2, env, env_len);
    assert_int_equal(bus_batch_parse(frame, env_len + 2, view), BATCH_MALFORMED);
    frame[0] = 0x08;
    assert_int_equal(bus_batch_parse(frame, env_len + 2, view), BATCH_MALFORMED);
    assert_string_equal(batch_status_code(BATCH_MALFORMED), "batch_malformed");

    /* a length past what is left: truncated by one byte */
    frame[0] = 0x0a;
    assert_int_equal(bus_batch_parse(frame, env_len + 2, view), BATCH_OK);
    assert_int_equal(bus_batch_parse(frame, env_len + 1, view), BATCH_MALFORMED);
    /* a tag with no length after it, and a length cut in its middle */
    assert_int_equal(bus_batch_parse(frame, 1, view), BATCH_MALFORMED);
    frame[1] = 0x80;
    assert_int_equal(bus_batch_parse(frame, 2, view), BATCH_MALFORMED);
    /* a good envelope, then a second whose length runs past the end */
    frame[1] = (uint8_t)env_len;
    size_t n = env_len + 2;
    frame[n++] = 0x0a;
    frame[n++] = 0xff;
    frame[n++] = 0x7f; /* 16383 */
    memcpy(frame + n, env, env_len);
    n += env_len;
    assert_int_equal(bus_batch_parse(frame, n, view), BATCH_MALFORMED);
    /* a huge length that would wrap a pointer */
    n = env_len + 2;
    frame[n++] = 0x0a;
    for (int i = 0; i < 9; i++)
        frame[n++] = 0xff;
    frame[n++] = 0x01; /* 2^64 - 1 */
    assert_int_equal(bus_batch_parse(frame, n, view), BATCH_MALFORMED);
    /* a varint of 11 bytes, and one of 10 holding more than 64 bits */
    n = 0;
    frame[n++] = 0x0a;
    for (int i = 0; i < 10; i++)
        frame[n++] = 0x80;
    frame[n++] = 0x00;
    assert_int_equal(bus_batch_parse(frame, n, view), BATCH_MALFORMED);
    n = 0;
    frame[n++] = 0x0a;
    for (int i = 0; i < 9; i++)
        frame[n++] = 0x80;
    frame[n++] = 0x02;
    assert_int_equal(bus_batch_parse(frame, n, view), BATCH_MALFORMED);
    assert_int_equal(view->count, 0);
    free(env);
    free(view);
}

/* A frame of one envelope given as raw bytes. */
static batch_status_t parse_one(const uint8_t *env, size_t len)
{
    static uint8_t frame[600];
    static bus_batch_view_t view;
    assert_true(len < 128);
    frame[0] = 0x0a;
    frame[1] = (uint8_t)len;
    memcpy(frame + 2, env, len);
    return bus_batch_parse(frame, len + 2, &view);
}

static void test_bad_envelopes(void **state)
{
    (void)state;
    /* no stream, no type, neither */
    const uint8_t only_type[] = {0x2a, 3, 'a', '.', 'b'};
    const uint8_t only_stream[] = {0x12, 5, 'o', 'r', 'd', 'e', 'r'};
    const uint8_t empty_type[] = {0x12, 5, 'o', 'r', 'd', 'e', 'r', 0x2a, 0};
    assert_int_equal(parse_one(only_type, sizeof only_type), BATCH_BAD_ENVELOPE);
    assert_int_equal(parse_one(only_stream, sizeof only_stream), BATCH_BAD_ENVELOPE);
    assert_int_equal(parse_one(empty_type, sizeof empty_type), BATCH_BAD_ENVELOPE);
    assert_int_equal(parse_one(only_type, 0), BATCH_BAD_ENVELOPE);
    assert_string_equal(batch_status_code(BATCH_BAD_ENVELOPE), "batch_bad_envelope");

    const uint8_t good[] = {0x12, 5, 'o', 'r', 'd', 'e', 'r', 0x2a, 3, 'a', '.', 'b'};
    assert_int_equal(parse_one(good, sizeof good), BATCH_OK);
    uint8_t bad[64];
    /* a known field with the wrong wire type: seq (3) length-delimited */
    memcpy(bad, good, sizeof good);
    bad[sizeof good] = 0x1a;
    bad[sizeof good + 1] = 0;
    assert_int_equal(parse_one(bad, sizeof good + 2), BATCH_BAD_ENVELOPE);
    /* stream (2) as a varint */
    const uint8_t stream_varint[] = {0x10, 1, 0x2a, 3, 'a', '.', 'b'};
    assert_int_equal(parse_one(stream_varint, sizeof stream_varint), BATCH_BAD_ENVELOPE);
    /* a field's length past the envelope's end (inside the frame) */
    const uint8_t long_type[] = {0x12, 5, 'o', 'r', 'd', 'e', 'r', 0x2a, 9, 'a', '.', 'b'};
    assert_int_equal(parse_one(long_type, sizeof long_type), BATCH_BAD_ENVELOPE);
    /* a varint cut at the envelope's end; a fixed64 and fixed32 cut short */
    memcpy(bad, good, sizeof good);
    bad[sizeof good] = 0x18;
    bad[sizeof good + 1] = 0x80;
    assert_int_equal(parse_one(bad, sizeof good + 2), BATCH_BAD_ENVELOPE);
    bad[sizeof good] = (15 << 3) | 1;
    assert_int_equal(parse_one(bad, sizeof good + 5), BATCH_BAD_ENVELOPE);
    bad[sizeof good] = (15 << 3) | 5;
    assert_int_equal(parse_one(bad, sizeof good + 3), BATCH_BAD_ENVELOPE);
    /* groups, wire types 6 and 7, field 0 */
    for (uint8_t wire = 3; wire <= 7; wire++) {
        if (wire == 5)
            continue;
        bad[sizeof good] = (uint8_t)((15 << 3) | wire);
        bad[sizeof good + 1] = 0;
        assert_int_equal(parse_one(bad, sizeof good + 2), BATCH_BAD_ENVELOPE);
    }
    bad[sizeof good] = 0x00;
    assert_int_equal(parse_one(bad, sizeof good + 2), BATCH_BAD_ENVELOPE);
}

static void test_bad_topics(void **state)
{
    (void)state;
    bus_batch_t *batch = bus_batch_new();
    add_env(batch, "Order", "order.placed", 1);
    assert_int_equal(parse(batch), BATCH_BAD_TOPIC);
    bus_batch_reset(batch);
    add_env(batch, "order", "order placed", 1);
    assert_int_equal(parse(batch), BATCH_BAD_TOPIC);
    bus_batch_reset(batch);
    add_env(batch, "order", "order/placed", 1);
    assert_int_equal(parse(batch), BATCH_BAD_TOPIC);
    /* a bad type after good events refuses the whole frame */
    bus_batch_reset(batch);
    add_env(batch, "order", "order.placed", 1);
    add_env(batch, "order", "order.placed", 2);
    add_env(batch, "order", "bad\ttype", 3);
    assert_int_equal(parse(batch), BATCH_BAD_TOPIC);
    /* a stream of 64 bytes (BUS_NAME_MAX) is one too long */
    char stream[BUS_NAME_MAX + 1];
    memset(stream, 's', BUS_NAME_MAX);
    stream[BUS_NAME_MAX] = '\0';
    bus_batch_reset(batch);
    add_env(batch, stream, "x", 1);
    assert_int_equal(parse(batch), BATCH_BAD_TOPIC);
    stream[BUS_NAME_MAX - 1] = '\0';
    bus_batch_reset(batch);
    add_env(batch, stream, "x", 1);
    assert_int_equal(parse(batch), BATCH_OK);
    /* a topic longer than BUS_TOPIC_MAX */
    char type[BUS_TOPIC_MAX + 1];
    memset(type, 't', BUS_TOPIC_MAX);
    type[BUS_TOPIC_MAX - 6] = '\0'; /* "order/" + 194 = 200: fits */
    bus_batch_reset(batch);
    add_env(batch, "order", type, 1);
    assert_int_equal(parse(batch), BATCH_OK);
    type[BUS_TOPIC_MAX - 6] = 't';
    type[BUS_TOPIC_MAX - 5] = '\0';
    bus_batch_reset(batch);
    add_env(batch, "order", type, 1);
    assert_int_equal(parse(batch), BATCH_BAD_TOPIC);
    assert_string_equal(batch_status_code(BATCH_BAD_TOPIC), "batch_bad_topic");
    bus_batch_destroy(&batch);
}

static void test_mixed_streams_and_ext(void **state)
{
    (void)state;
    bus_batch_t *batch = bus_batch_new();
    add_env(batch, "order", "order.placed", 1);
    add_env(batch, "inventory", "stock.reserved", 1);
    assert_int_equal(parse(batch), BATCH_MIXED);
    /* a stream that only shares a prefix is another stream */
    bus_batch_reset(batch);
    add_env(batch, "order", "order.placed", 1);
    add_env(batch, "orders", "order.placed", 2);
    assert_int_equal(parse(batch), BATCH_MIXED);
    bus_batch_reset(batch);
    add_env(batch, "orders", "order.placed", 1);
    add_env(batch, "order", "order.placed", 2);
    assert_int_equal(parse(batch), BATCH_MIXED);
    assert_string_equal(batch_status_code(BATCH_MIXED), "batch_mixed_streams");

    bus_batch_reset(batch);
    add_env(batch, "ext", "intake.order", 0);
    assert_int_equal(parse(batch), BATCH_EXT);
    bus_batch_reset(batch);
    add_env(batch, "ext", "intake.order", 0);
    add_env(batch, "ext", "intake.order", 0);
    assert_int_equal(parse(batch), BATCH_EXT);
    /* an ext event after the stream's own: another stream */
    bus_batch_reset(batch);
    add_env(batch, "order", "order.placed", 1);
    add_env(batch, "ext", "intake.order", 0);
    assert_int_equal(parse(batch), BATCH_MIXED);
    assert_string_equal(batch_status_code(BATCH_EXT), "batch_ext");
    assert_string_equal(batch_status_code(BATCH_OK), "ok");
    assert_string_equal(batch_status_code((batch_status_t)99), "unknown");
    bus_batch_destroy(&batch);
}

/* The batch form's topics: made and read back, and nothing else read as
 * one (an ordinary topic, a bad stream, a missing mark or slash). */
static void test_delivery_topics(void **state)
{
    (void)state;
    char topic[BUS_TOPIC_MAX + 2], stream[BUS_NAME_MAX];
    assert_int_equal(bus_batch_delivery_topic("order", NULL, topic, sizeof topic), 7);
    assert_string_equal(topic, "+order/");
    assert_int_equal(bus_batch_delivery_split(topic, 7, stream), 1);
    assert_string_equal(stream, "order");
    assert_int_equal(bus_batch_delivery_topic("order", "order.placed", topic, sizeof topic), 19);
    assert_string_equal(topic, "+order/order.placed");
    assert_int_equal(bus_batch_delivery_split(topic, 19, stream), 0);
    assert_string_equal(stream, "order");
    assert_int_equal(bus_batch_delivery_topic("order", "$hb", topic, sizeof topic), 10);
    assert_int_equal(bus_batch_delivery_split(topic, 10, stream), 0);
    /* refused to make */
    assert_int_equal(bus_batch_delivery_topic("Order", NULL, topic, sizeof topic), -1);
    assert_int_equal(bus_batch_delivery_topic("", NULL, topic, sizeof topic), -1);
    assert_int_equal(bus_batch_delivery_topic("order", "a b", topic, sizeof topic), -1);
    assert_int_equal(bus_batch_delivery_topic("order", NULL, topic, 7), -1);
    /* refused to read */
    assert_int_equal(bus_batch_delivery_split("order/order.placed", 18, stream), -1);
    assert_int_equal(bus_batch_delivery_split("+/", 2, stream), -1);
    assert_int_equal(bus_batch_delivery_split("+/x", 3, stream), -1);
    assert_int_equal(bus_batch_delivery_split("+Order/", 7, stream), -1);
    assert_int_equal(bus_batch_delivery_split("+order", 6, stream), -1);
    assert_int_equal(bus_batch_delivery_split("+ord\0r/", 7, stream), -1);
    assert_int_equal(bus_batch_delivery_split("++order/", 8, stream), -1);
    char long_stream[BUS_NAME_MAX + 3];
    memset(long_stream, 'a', sizeof long_stream);
    long_stream[0] = '+';
    long_stream[BUS_NAME_MAX + 1] = '/';
    assert_int_equal(bus_batch_delivery_split(long_stream, BUS_NAME_MAX + 2, stream), -1);
    assert_int_equal(bus_batch_delivery_split(long_stream, BUS_NAME_MAX, stream), -1);
    assert_int_equal(bus_batch_delivery_split(NULL, 0, stream), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_keeps_every_envelope_in_order),
        cmocka_unit_test(test_heartbeat_and_unknown_fields_pass),
        cmocka_unit_test(test_stream_and_type_last_occurrence_counts),
        cmocka_unit_test(test_event_count_bound),
        cmocka_unit_test(test_byte_bound_exactly_and_one_over),
        cmocka_unit_test(test_malformed_frames),
        cmocka_unit_test(test_bad_envelopes),
        cmocka_unit_test(test_bad_topics),
        cmocka_unit_test(test_mixed_streams_and_ext),
        cmocka_unit_test(test_delivery_topics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
