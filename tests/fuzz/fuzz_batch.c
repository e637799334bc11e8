/*
 * fuzz_batch.c — busd's check of a batch publish frame (common/busbatch.c:
 * bus_batch_parse), the one decoder busd runs on every frame a relay
 * sends it before forwarding anything.
 *
 * Input: the frame itself (one ZeroMQ frame of EnvelopeBatch's wire form).
 * Checks: every status has a code; an accepted frame is at most 256 KiB
 * and 1..256 envelopes, of one valid stream that is not ext; every
 * envelope lies inside the frame, in order and without overlap, and makes
 * a topic "<stream>/<type>" that splits back to the same stream and type;
 * protobuf-c reads the frame as EnvelopeBatch with the same envelopes, and
 * an envelope protobuf-c unpacks names the stream and type the walk took;
 * the relay's writer packs the same envelopes into a frame accepted again
 * the same, and no longer than the input. The same bytes read as a topic
 * of the batch form (bus_batch_delivery_split, what a consumer runs on
 * every topic frame busd delivers): a batch topic names a valid stream
 * and is made again the same; a single one is "+" and a valid ordinary
 * topic.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "common/busbatch.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

static bus_batch_view_t view, again;

/* The envelope of an accepted batch as a consumer unpacks it: when it
 * unpacks, it names the same stream and type. */
static void check_envelope(const bus_batch_event_t *event, const char *stream, const char *type)
{
    Conveyor__Envelope *env =
        conveyor__envelope__unpack(NULL, event->envelope_len, event->envelope);
    if (!env)
        return;
    FUZZ_CHECK(strcmp(env->stream, stream) == 0);
    FUZZ_CHECK(strcmp(env->type, type) == 0);
    conveyor__envelope__free_unpacked(env, NULL);
}

/* The input as a topic of the batch form. */
static void check_delivery_topic(const uint8_t *data, size_t size)
{
    char stream[BUS_NAME_MAX], type[BUS_TOPIC_MAX], again_topic[BUS_TOPIC_MAX + 2];
    int kind = bus_batch_delivery_split(data, size, stream);
    FUZZ_CHECK(kind >= -1 && kind <= 1);
    if (kind == 1) {
        FUZZ_CHECK(bus_name_ok(stream));
        int len = bus_batch_delivery_topic(stream, NULL, again_topic, sizeof again_topic);
        FUZZ_CHECK(len > 0 && (size_t)len == size && memcmp(again_topic, data, size) == 0);
    } else if (kind == 0) {
        FUZZ_CHECK(data[0] == BUS_BATCH_DELIVERY_MARK);
        char ordinary_stream[BUS_NAME_MAX];
        FUZZ_CHECK(bus_topic_split(data + 1, size - 1, ordinary_stream, type, sizeof type) == 0);
        FUZZ_CHECK(strcmp(ordinary_stream, stream) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_delivery_topic(data, size);
    batch_status_t status = bus_batch_parse(data, size, &view);
    FUZZ_CHECK(strcmp(batch_status_code(status), "unknown") != 0);
    if (status != BATCH_OK)
        return 0;
    FUZZ_CHECK(size <= BUS_BATCH_BYTES_MAX);
    FUZZ_CHECK(view.count >= 1 && view.count <= BUS_BATCH_EVENTS_MAX);
    FUZZ_CHECK(bus_name_ok(view.stream) && strcmp(view.stream, BUS_STREAM_EXT) != 0);
    FUZZ_CHECK(view.envelope_bytes <= size);

    Conveyor__EnvelopeBatch *decoded = conveyor__envelope_batch__unpack(NULL, size, data);
    FUZZ_CHECK(decoded != NULL && decoded->n_envelopes == view.count);
    bus_batch_t *rebuilt = bus_batch_new();
    FUZZ_CHECK(rebuilt != NULL);
    const uint8_t *previous_end = data;
    for (size_t i = 0; i < view.count; i++) {
        const bus_batch_event_t *event = &view.events[i];
        FUZZ_CHECK(event->envelope >= previous_end && event->envelope_len <= size &&
                   event->envelope + event->envelope_len <= data + size);
        previous_end = event->envelope + event->envelope_len;
        FUZZ_CHECK(decoded->envelopes[i].len == event->envelope_len);
        FUZZ_CHECK(memcmp(decoded->envelopes[i].data, event->envelope, event->envelope_len) == 0);

        char topic[BUS_TOPIC_MAX + 1], stream[BUS_NAME_MAX], type[BUS_TOPIC_MAX];
        int topic_len = bus_batch_topic(&view, i, topic, sizeof topic);
        FUZZ_CHECK(topic_len > 0 && (size_t)topic_len == strlen(topic));
        FUZZ_CHECK(bus_topic_split(topic, (size_t)topic_len, stream, type, sizeof type) == 0);
        FUZZ_CHECK(strcmp(stream, view.stream) == 0);
        FUZZ_CHECK(strlen(type) == event->type_len &&
                   memcmp(type, event->type, event->type_len) == 0);
        check_envelope(event, stream, type);
        FUZZ_CHECK(bus_batch_add(rebuilt, event->envelope, event->envelope_len) == 0);
    }
    conveyor__envelope_batch__free_unpacked(decoded, NULL);

    /* the writer's frame: canonical lengths, so never longer */
    FUZZ_CHECK(rebuilt->count == view.count && rebuilt->len <= size);
    FUZZ_CHECK(bus_batch_parse(rebuilt->buf, rebuilt->len, &again) == BATCH_OK);
    FUZZ_CHECK(again.count == view.count && strcmp(again.stream, view.stream) == 0);
    for (size_t i = 0; i < again.count; i++)
        FUZZ_CHECK(again.events[i].envelope_len == view.events[i].envelope_len &&
                   memcmp(again.events[i].envelope, view.events[i].envelope,
                          view.events[i].envelope_len) == 0);
    bus_batch_destroy(&rebuilt);
    return 0;
}
