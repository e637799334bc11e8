/*
 * envelope.h — the two frames of a bus message: [topic][Envelope].
 *
 * DESIGN.md "The event contract": the topic is "<stream>/<type>" and the
 * envelope (proto/conveyor/envelope.proto) carries the event's identity,
 * position (stream, epoch, seq) and payload. Everything that reads frames
 * from outside — consumers, the replay client, the CLI — checks them here
 * first: lengths before unpacking (protobuf-c has no limits of its own),
 * then that the envelope agrees with its topic. A frame that fails is
 * parked, never applied.
 */
#ifndef CONVEYOR_ENVELOPE_H
#define CONVEYOR_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conveyor/envelope.pb-c.h"

#define BUS_TOPIC_MAX      200           /* bytes in a topic frame */
#define BUS_NAME_MAX       64            /* bytes in a stream name */
#define BUS_ENVELOPE_MAX   (1024 * 1024) /* bytes in an envelope frame */
#define BUS_STREAM_EXT     "ext"         /* the stream external publishers use */
#define BUS_TYPE_HEARTBEAT "$hb"

/* Splits a topic frame (not NUL-terminated) into stream and type. Both
 * must be non-empty, the stream at most BUS_NAME_MAX-1 bytes of
 * [a-z0-9_.-], the type printable without spaces. 0 ok, -1 otherwise. */
int bus_topic_split(const void *topic, size_t len, char stream_out[BUS_NAME_MAX], char *type_out,
                    size_t type_size);

/* True when name is a valid stream (or source) name: 1 to BUS_NAME_MAX-1
 * bytes of [a-z0-9_.-]. */
bool bus_name_ok(const char *name);

/* "<stream>/<type>" into out; -1 if it does not fit or a part is invalid. */
int bus_topic_format(char *out, size_t size, const char *stream, const char *type);

/* Why a frame pair was refused: a stable code for dead letters and logs. */
typedef enum {
    FRAME_OK = 0,
    FRAME_BAD_TOPIC,    /* "bad_topic" */
    FRAME_TOO_LARGE,    /* "too_large" */
    FRAME_BAD_ENVELOPE, /* "bad_envelope": does not unpack */
    FRAME_MISMATCH,     /* "envelope_mismatch": stream/type/seq disagree with the topic */
} frame_status_t;

const char *frame_status_code(frame_status_t status);

/* A parsed bus message. Owns env (free with bus_frame_clear). */
typedef struct {
    char topic_stream[BUS_NAME_MAX];
    char topic_type[BUS_TOPIC_MAX];
    Conveyor__Envelope *env;
} bus_frame_t;

/* Checks and unpacks [topic][envelope]. On FRAME_OK the caller owns
 * frame->env (bus_frame_clear). Rules: sequenced streams carry seq > 0 and
 * epoch > 0 and their envelope stream equals the topic's stream; the ext
 * stream carries seq 0 and names its source in envelope stream; the type
 * always equals the topic's type. */
frame_status_t bus_frame_parse(const void *topic, size_t topic_len, const void *envelope,
                               size_t envelope_len, bus_frame_t *frame);
void bus_frame_clear(bus_frame_t *frame);

/* protobuf-c declares string fields `char *` although packing only reads
 * them; this lends a const string to a message that is only packed. */
static inline char *pb_lend(const char *text)
{
    return (char *)(uintptr_t)text;
}

/* Packs env into a malloc'd buffer; caller owns *buf_out (free()). */
int envelope_pack_alloc(const Conveyor__Envelope *env, uint8_t **buf_out, size_t *len_out);

/* SHA-256 of topic and envelope, hex, to park frames that cannot be parsed
 * exactly once however often they arrive. out must hold 65 bytes. */
void bus_frame_hash(const void *topic, size_t topic_len, const void *envelope, size_t envelope_len,
                    char out[65]);

#endif
