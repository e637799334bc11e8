/*
 * fuzz_replay_answer.c — what a consumer reads back from a producer's
 * replay port (common/inbox.c's drain_peer): ["EVENT", topic, Envelope]
 * through bus_frame_parse, ["END", ReplayEnd] through its unpack.
 *
 * Input: one byte giving the command frame's length and the command;
 * for EVENT, one more length byte, the topic frame and the envelope
 * frame; for END, the ReplayEnd frame. Checks: an EVENT is accepted only
 * as fuzz_frame accepts it (agreeing with its topic); an END that
 * unpacks has a stream (a NUL-terminated string, never NULL) and its
 * fields pack back into the same fields.
 */
#include <stdint.h>
#include <string.h>

#include "common/envelope.h"
#include "common/replay.h"
#include "tests/fuzz/fuzz.h"

static void read_event(const uint8_t *frames, size_t len)
{
    const uint8_t *topic, *envelope;
    size_t topic_len, envelope_len;
    fuzz_split(frames, len, &topic, &topic_len, &envelope, &envelope_len);
    bus_frame_t frame;
    if (bus_frame_parse(topic, topic_len, envelope, envelope_len, &frame) != FRAME_OK) {
        FUZZ_CHECK(frame.env == NULL);
        return;
    }
    FUZZ_CHECK(frame.env != NULL && strcmp(frame.env->type, frame.topic_type) == 0);
    bus_frame_clear(&frame);
}

static void read_end(const uint8_t *bytes, size_t len)
{
    Conveyor__ReplayEnd *end = conveyor__replay_end__unpack(NULL, len, bytes);
    if (!end)
        return;
    FUZZ_CHECK(end->stream != NULL);
    /* protobuf-c keeps unknown fields and packs them back, a field number 0
     * too (which it reads from a two-byte tag but refuses in the one-byte tag
     * it writes): a consumer never packs an END again, so only the fields it
     * reads are compared */
    unsigned n_unknown = end->base.n_unknown_fields;
    end->base.n_unknown_fields = 0;
    size_t packed_len = conveyor__replay_end__get_packed_size(end);
    uint8_t *packed = malloc(packed_len ? packed_len : 1);
    FUZZ_CHECK(packed != NULL);
    FUZZ_CHECK(conveyor__replay_end__pack(end, packed) == packed_len);
    end->base.n_unknown_fields = n_unknown;
    Conveyor__ReplayEnd *again = conveyor__replay_end__unpack(NULL, packed_len, packed);
    FUZZ_CHECK(again != NULL);
    FUZZ_CHECK(again->status == end->status && again->request_id == end->request_id &&
               strcmp(again->stream, end->stream) == 0 && again->epoch == end->epoch &&
               again->last_sent_seq == end->last_sent_seq && again->head_seq == end->head_seq &&
               again->purged_through == end->purged_through);
    conveyor__replay_end__free_unpacked(again, NULL);
    free(packed);
    conveyor__replay_end__free_unpacked(end, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *command, *rest;
    size_t command_len, rest_len;
    fuzz_split(data, size, &command, &command_len, &rest, &rest_len);
    if (command_len == strlen(REPLAY_CMD_EVENT) &&
        memcmp(command, REPLAY_CMD_EVENT, command_len) == 0)
        read_event(rest, rest_len);
    else if (command_len == strlen(REPLAY_CMD_END) &&
             memcmp(command, REPLAY_CMD_END, command_len) == 0)
        read_end(rest, rest_len);
    return 0;
}
