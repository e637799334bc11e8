/*
 * busbatch.h — a relay's run of its own stream's envelopes in ONE ZeroMQ
 * frame (proto/conveyor/envelope.proto EnvelopeBatch), and busd's check of
 * such a frame before it forwards anything.
 *
 * Why: CURVE and libzmq cost per message, not per byte, and every event
 * was two frames boxed on each hop (notes/bus-security.md). A relay that
 * read 1,000 rows sends busd a few frames instead of 2,000; busd checks
 * the sender's key once per frame and forwards each envelope to
 * subscribers as the ordinary [<stream>/<type>][Envelope] (DESIGN.md "The
 * event contract": subscribers see no change).
 *
 * How busd tells a batch: it is a message of exactly one frame. An
 * ordinary publication is two frames, so none is ever read as a batch,
 * and a busd older than the batch refuses it as a message of too few
 * frames (busd_rejected_total{reason="frames"}), never forwarding it.
 *
 * The frame is EnvelopeBatch's wire form and nothing else: field 1
 * (length-delimited) repeated, one packed Envelope each. Any protobuf
 * library writes it; busd reads it with the bounded, allocation-free walk
 * below rather than protobuf-c (which has no limits of its own and would
 * copy every envelope twice): size first, then every length against what
 * is left, the count against BUS_BATCH_EVENTS_MAX, and every envelope
 * walked field by field, its stream and type taken as protobuf-c would
 * take them (the last occurrence wins). Nothing is forwarded until the
 * whole frame has passed.
 */
#ifndef CONVEYOR_BUSBATCH_H
#define CONVEYOR_BUSBATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/envelope.h"

/* Events per batch frame at most: a relay's read of 1,000 rows goes in 4
 * frames, which already makes the per-frame cost (~2 us of CURVE and
 * libzmq) ~1 % of the events'; more would only lengthen the run busd
 * forwards between two looks at its subscriptions. */
#define BUS_BATCH_EVENTS_MAX 256
/* Bytes per batch frame at most, framing included: the memory one frame
 * may hold in busd, well under its BUS_MAX_MSG_SIZE (1 MiB + 4 KiB). An
 * envelope too big for it goes alone as [topic][Envelope]. */
#define BUS_BATCH_BYTES_MAX (256 * 1024)

/* --- writing (the relay) --- */

/* A batch being filled. buf holds BUS_BATCH_BYTES_MAX bytes. */
typedef struct {
    uint8_t *buf;
    size_t len;
    size_t count;
} bus_batch_t;

/* Caller owns the result (bus_batch_destroy); NULL when out of memory. */
bus_batch_t *bus_batch_new(void);
void bus_batch_destroy(bus_batch_t **self_p);

/* Whether an envelope of len bytes still fits (count and bytes). */
bool bus_batch_fits(const bus_batch_t *batch, size_t envelope_len);

/* Appends a packed envelope; -1 (nothing appended) when it does not fit. */
int bus_batch_add(bus_batch_t *batch, const void *envelope, size_t envelope_len);

/* Empties it for the next frame. */
void bus_batch_reset(bus_batch_t *batch);

/* --- reading (busd) --- */

typedef enum {
    BATCH_OK = 0,
    BATCH_TOO_LARGE,    /* "batch_too_large": more than BUS_BATCH_BYTES_MAX bytes */
    BATCH_TOO_MANY,     /* "batch_too_many": more than BUS_BATCH_EVENTS_MAX envelopes */
    BATCH_EMPTY,        /* "batch_empty" */
    BATCH_MALFORMED,    /* "batch_malformed": not field 1 length-delimited throughout */
    BATCH_BAD_ENVELOPE, /* "batch_bad_envelope": an envelope that does not walk, or names
                           no stream or no type */
    BATCH_BAD_TOPIC,    /* "batch_bad_topic": stream and type make no valid topic */
    BATCH_MIXED,        /* "batch_mixed_streams": envelopes of two streams */
    BATCH_EXT,          /* "batch_ext": the ext stream, whose events are published one by one */
} batch_status_t;

const char *batch_status_code(batch_status_t status);

/* One envelope of a checked batch: pointers into the frame. */
typedef struct {
    const uint8_t *envelope;
    size_t envelope_len;
    const char *type; /* not NUL-terminated */
    size_t type_len;
} bus_batch_event_t;

/* What a checked batch holds; points into the frame, which must outlive it. */
typedef struct {
    char stream[BUS_NAME_MAX];
    size_t count;
    size_t envelope_bytes;
    bus_batch_event_t events[BUS_BATCH_EVENTS_MAX];
} bus_batch_view_t;

/* Checks a whole batch frame; on BATCH_OK, view describes every envelope,
 * all of view->stream, each with a type that makes a valid topic. */
batch_status_t bus_batch_parse(const void *frame, size_t len, bus_batch_view_t *view);

/* "<stream>/<type>" of event i of a checked view; its length, or -1 when it
 * does not fit out (never for a view bus_batch_parse accepted and out of
 * BUS_TOPIC_MAX + 1 bytes). */
int bus_batch_topic(const bus_batch_view_t *view, size_t i, char *out, size_t size);

/* --- delivery (busd to the kit's consumers) ---
 *
 * busd offers every event of a service's stream in a second form as well,
 * under topics that begin with BUS_BATCH_DELIVERY_MARK (never a stream
 * name's character, so no ordinary subscription matches them):
 *   [+<stream>/][EnvelopeBatch]      a relay's checked batch, unchanged
 *   [+<stream>/<type>][Envelope]     an event that came alone (a run of
 *                                    one, a heartbeat, a big envelope)
 * A consumer that subscribes to "+<stream>/" takes both, in the stream's
 * order, and no ordinary message of it; one that subscribes to
 * "<stream>/" sees only the ordinary form. (A subscriber of everything
 * sees each event twice, once per form.) */
#define BUS_BATCH_DELIVERY_MARK '+'

/* "+<stream>/" (type NULL) or "+<stream>/<type>" into out, NUL-terminated;
 * its length, or -1 when a part is invalid or it does not fit. */
int bus_batch_delivery_topic(const char *stream, const char *type, char *out, size_t size);

/* What a topic of the batch form holds: 1 for a batch ("+<stream>/", the
 * stream copied to stream_out), 0 for one event ("+<stream>/<type>": the
 * ordinary topic is the same bytes after the mark), -1 for a topic that is
 * not of the batch form or not valid. */
int bus_batch_delivery_split(const void *topic, size_t len, char stream_out[BUS_NAME_MAX]);

#endif
