/*
 * fuzz_frame.c — the two frames of a bus message (common/envelope.c:
 * bus_topic_split, bus_frame_parse), what every consumer, the replay
 * client and the CLI check first, then the payload as its consumer reads
 * it (the catalogue's message, as JSON for the order service's facts).
 *
 * Input: one byte giving the topic frame's length, the topic frame, then
 * the envelope frame. Checks: a split topic is a valid stream name and a
 * type that format back into the very same frame; a refused pair leaves
 * no envelope; an accepted one agrees with its topic (type, stream or
 * source, seq and epoch by the stream's rules), packs back into an
 * envelope that is accepted again with the same fields, and its hash is
 * stable.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "proto/conveyor/catalogue.h"
#include "common/envelope.h"
#include "common/pbjson.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    json_object_seed(1); /* the same input takes the same path every run */
    return 0;
}

static void check_topic(const uint8_t *topic, size_t topic_len)
{
    char stream[BUS_NAME_MAX], type[BUS_TOPIC_MAX];
    if (bus_topic_split(topic, topic_len, stream, type, sizeof type) != 0)
        return;
    FUZZ_CHECK(bus_name_ok(stream));
    FUZZ_CHECK(type[0] != '\0' && strchr(type, '/') == NULL);
    char formatted[BUS_TOPIC_MAX + 1];
    FUZZ_CHECK(bus_topic_format(formatted, sizeof formatted, stream, type) == 0);
    FUZZ_CHECK(strlen(formatted) == topic_len && memcmp(formatted, topic, topic_len) == 0);
}

static bool same_envelope(const Conveyor__Envelope *a, const Conveyor__Envelope *b)
{
    return strcmp(a->event_id, b->event_id) == 0 && strcmp(a->stream, b->stream) == 0 &&
           a->seq == b->seq && a->epoch == b->epoch && strcmp(a->type, b->type) == 0 &&
           a->occurred_at_ms == b->occurred_at_ms &&
           strcmp(a->correlation_id, b->correlation_id) == 0 &&
           strcmp(a->causation_id, b->causation_id) == 0 &&
           a->schema_version == b->schema_version && a->payload.len == b->payload.len &&
           (a->payload.len == 0 || memcmp(a->payload.data, b->payload.data, a->payload.len) == 0);
}

/* The payload as the consumer of its topic reads it. */
static void read_payload(const bus_frame_t *frame)
{
    const catalogue_topic_t *entry = catalogue_find(frame->topic_stream, frame->topic_type);
    if (!entry)
        return;
    ProtobufCMessage *msg = protobuf_c_message_unpack(entry->message, NULL, frame->env->payload.len,
                                                      frame->env->payload.data);
    if (!msg)
        return;
    json_t *json = pbjson_from_message(msg);
    json_decref(json);
    protobuf_c_message_free_unpacked(msg, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *topic, *envelope;
    size_t topic_len, envelope_len;
    fuzz_split(data, size, &topic, &topic_len, &envelope, &envelope_len);
    check_topic(topic, topic_len);

    bus_frame_t frame;
    frame_status_t status = bus_frame_parse(topic, topic_len, envelope, envelope_len, &frame);
    FUZZ_CHECK(strcmp(frame_status_code(status), "unknown") != 0);
    char hash[65], hash_again[65];
    bus_frame_hash(topic, topic_len, envelope, envelope_len, hash);
    bus_frame_hash(topic, topic_len, envelope, envelope_len, hash_again);
    FUZZ_CHECK(strlen(hash) == 64 && strcmp(hash, hash_again) == 0);
    if (status != FRAME_OK) {
        FUZZ_CHECK(frame.env == NULL);
        return 0;
    }
    const Conveyor__Envelope *env = frame.env;
    FUZZ_CHECK(env != NULL);
    FUZZ_CHECK(strcmp(env->type, frame.topic_type) == 0);
    if (strcmp(frame.topic_stream, BUS_STREAM_EXT) == 0) {
        FUZZ_CHECK(env->seq == 0 && env->stream[0] != '\0');
    } else {
        FUZZ_CHECK(strcmp(env->stream, frame.topic_stream) == 0);
        FUZZ_CHECK(env->epoch > 0);
        FUZZ_CHECK(env->seq > 0 || strcmp(env->type, BUS_TYPE_HEARTBEAT) == 0);
    }

    uint8_t *packed = NULL;
    size_t packed_len = 0;
    FUZZ_CHECK(envelope_pack_alloc(env, &packed, &packed_len) == 0);
    FUZZ_CHECK(packed_len <= envelope_len); /* unknown fields and repeats are dropped */
    bus_frame_t again;
    FUZZ_CHECK(bus_frame_parse(topic, topic_len, packed, packed_len, &again) == FRAME_OK);
    FUZZ_CHECK(same_envelope(env, again.env));
    bus_frame_clear(&again);
    FUZZ_CHECK(again.env == NULL);
    free(packed);

    read_payload(&frame);
    bus_frame_clear(&frame);
    FUZZ_CHECK(frame.env == NULL);
    return 0;
}
