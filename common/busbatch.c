/*
 * busbatch.c — EnvelopeBatch frames: written by the relay, checked by busd
 * (busbatch.h says why and how).
 */
#include "common/busbatch.h"

#include <stdlib.h>
#include <string.h>

#define TAG_ENVELOPES 0x0a /* field 1, wire type 2 (length-delimited) */
#define VARINT_MAX    10

enum { WIRE_VARINT = 0, WIRE_I64 = 1, WIRE_LEN = 2, WIRE_I32 = 5 };

static size_t varint_size(uint64_t value)
{
    size_t n = 1;
    while (value >= 0x80) {
        value >>= 7;
        n++;
    }
    return n;
}

static size_t varint_put(uint8_t *out, uint64_t value)
{
    size_t n = 0;
    while (value >= 0x80) {
        out[n++] = (uint8_t)(value | 0x80);
        value >>= 7;
    }
    out[n++] = (uint8_t)value;
    return n;
}

/* Reads a varint of at most 10 bytes from [*at, end); -1 when it runs past
 * the end, is longer, or holds more than 64 bits. */
static int varint_get(const uint8_t **at, const uint8_t *end, uint64_t *value)
{
    uint64_t result = 0;
    const uint8_t *p = *at;
    for (unsigned shift = 0, i = 0; i < VARINT_MAX; i++, shift += 7) {
        if (p >= end)
            return -1;
        uint8_t byte = *p++;
        if (i == VARINT_MAX - 1 && byte > 1)
            return -1; /* more than 64 bits */
        result |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80)) {
            *at = p;
            *value = result;
            return 0;
        }
    }
    return -1;
}

bus_batch_t *bus_batch_new(void)
{
    bus_batch_t *batch = calloc(1, sizeof *batch);
    if (batch && !(batch->buf = malloc(BUS_BATCH_BYTES_MAX))) {
        free(batch);
        return NULL;
    }
    return batch;
}

void bus_batch_destroy(bus_batch_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->buf);
    free(*self_p);
    *self_p = NULL;
}

bool bus_batch_fits(const bus_batch_t *batch, size_t envelope_len)
{
    if (batch->count >= BUS_BATCH_EVENTS_MAX || envelope_len > BUS_BATCH_BYTES_MAX)
        return false;
    size_t need = 1 + varint_size(envelope_len) + envelope_len;
    return need <= BUS_BATCH_BYTES_MAX - batch->len;
}

int bus_batch_add(bus_batch_t *batch, const void *envelope, size_t envelope_len)
{
    if (!bus_batch_fits(batch, envelope_len))
        return -1;
    uint8_t *out = batch->buf + batch->len;
    *out++ = TAG_ENVELOPES;
    out += varint_put(out, envelope_len);
    if (envelope_len)
        memcpy(out, envelope, envelope_len);
    batch->len = (size_t)(out + envelope_len - batch->buf);
    batch->count++;
    return 0;
}

void bus_batch_reset(bus_batch_t *batch)
{
    batch->len = 0;
    batch->count = 0;
}

const char *batch_status_code(batch_status_t status)
{
    switch (status) {
    case BATCH_OK:
        return "ok";
    case BATCH_TOO_LARGE:
        return "batch_too_large";
    case BATCH_TOO_MANY:
        return "batch_too_many";
    case BATCH_EMPTY:
        return "batch_empty";
    case BATCH_MALFORMED:
        return "batch_malformed";
    case BATCH_BAD_ENVELOPE:
        return "batch_bad_envelope";
    case BATCH_BAD_TOPIC:
        return "batch_bad_topic";
    case BATCH_MIXED:
        return "batch_mixed_streams";
    case BATCH_EXT:
        return "batch_ext";
    }
    return "unknown";
}

/* The wire type each field of Envelope has (envelope.proto); -1 unknown. */
static int envelope_wire_type(uint64_t field)
{
    switch (field) {
    case 1:  /* event_id */
    case 2:  /* stream */
    case 5:  /* type */
    case 7:  /* correlation_id */
    case 8:  /* causation_id */
    case 10: /* payload */
        return WIRE_LEN;
    case 3: /* seq */
    case 4: /* epoch */
    case 6: /* occurred_at_ms */
    case 9: /* schema_version */
        return WIRE_VARINT;
    default:
        return -1;
    }
}

/* Walks one packed Envelope field by field, as protobuf-c would unpack it:
 * every field well-formed and within the bytes, a known field only with
 * its own wire type, the last stream and type the ones that count
 * (protobuf's rule for a repeated singular field). 0 with both found and
 * non-empty, else -1. */
static int envelope_walk(const uint8_t *at, const uint8_t *end, const uint8_t **stream,
                         size_t *stream_len, const uint8_t **type, size_t *type_len)
{
    *stream = *type = NULL;
    *stream_len = *type_len = 0;
    while (at < end) {
        uint64_t key = 0, value = 0;
        if (varint_get(&at, end, &key) != 0)
            return -1;
        uint64_t field = key >> 3;
        int wire = (int)(key & 7);
        if (field == 0 || field > 0x1fffffff)
            return -1;
        int known = envelope_wire_type(field);
        if (known >= 0 && known != wire)
            return -1;
        switch (wire) {
        case WIRE_VARINT:
            if (varint_get(&at, end, &value) != 0)
                return -1;
            break;
        case WIRE_I64:
            if ((size_t)(end - at) < 8)
                return -1;
            at += 8;
            break;
        case WIRE_I32:
            if ((size_t)(end - at) < 4)
                return -1;
            at += 4;
            break;
        case WIRE_LEN:
            if (varint_get(&at, end, &value) != 0 || value > (uint64_t)(end - at))
                return -1;
            if (field == 2) {
                *stream = at;
                *stream_len = (size_t)value;
            } else if (field == 5) {
                *type = at;
                *type_len = (size_t)value;
            }
            at += value;
            break;
        default: /* groups (3, 4) and the unused 6, 7 */
            return -1;
        }
    }
    return *stream_len > 0 && *type_len > 0 ? 0 : -1;
}

/* "<stream>/<type>" of one event into out; its length, or -1. */
static int topic_of(const bus_batch_view_t *view, const bus_batch_event_t *event, char *out,
                    size_t size)
{
    size_t stream_len = strlen(view->stream);
    size_t len = stream_len + 1 + event->type_len;
    if (len >= size || len > BUS_TOPIC_MAX)
        return -1;
    memcpy(out, view->stream, stream_len);
    out[stream_len] = '/';
    memcpy(out + stream_len + 1, event->type, event->type_len);
    out[len] = '\0';
    return (int)len;
}

batch_status_t bus_batch_parse(const void *frame, size_t len, bus_batch_view_t *view)
{
    view->stream[0] = '\0';
    view->count = 0;
    view->envelope_bytes = 0;
    if (len > BUS_BATCH_BYTES_MAX)
        return BATCH_TOO_LARGE;
    if (!frame || len == 0)
        return BATCH_EMPTY;
    const uint8_t *at = frame, *end = at + len;
    while (at < end) {
        uint64_t envelope_len = 0;
        if (*at++ != TAG_ENVELOPES || varint_get(&at, end, &envelope_len) != 0 ||
            envelope_len > (uint64_t)(end - at))
            return BATCH_MALFORMED;
        if (view->count == BUS_BATCH_EVENTS_MAX)
            return BATCH_TOO_MANY;
        const uint8_t *stream = NULL, *type = NULL;
        size_t stream_len = 0, type_len = 0;
        if (envelope_walk(at, at + envelope_len, &stream, &stream_len, &type, &type_len) != 0)
            return BATCH_BAD_ENVELOPE;
        if (view->count == 0) {
            if (stream_len >= BUS_NAME_MAX)
                return BATCH_BAD_TOPIC;
            memcpy(view->stream, stream, stream_len);
            view->stream[stream_len] = '\0';
            if (!bus_name_ok(view->stream))
                return BATCH_BAD_TOPIC;
            if (strcmp(view->stream, BUS_STREAM_EXT) == 0)
                return BATCH_EXT;
        } else if (stream_len != strlen(view->stream) ||
                   memcmp(stream, view->stream, stream_len) != 0) {
            return BATCH_MIXED;
        }
        bus_batch_event_t *event = &view->events[view->count];
        event->envelope = at;
        event->envelope_len = (size_t)envelope_len;
        event->type = (const char *)type;
        event->type_len = type_len;
        char topic[BUS_TOPIC_MAX + 1], split_stream[BUS_NAME_MAX], split_type[BUS_TOPIC_MAX];
        int topic_len = topic_of(view, event, topic, sizeof topic);
        if (topic_len < 0 ||
            bus_topic_split(topic, (size_t)topic_len, split_stream, split_type,
                            sizeof split_type) != 0 ||
            strcmp(split_stream, view->stream) != 0)
            return BATCH_BAD_TOPIC;
        view->count++;
        view->envelope_bytes += (size_t)envelope_len;
        at += envelope_len;
    }
    return BATCH_OK;
}

int bus_batch_topic(const bus_batch_view_t *view, size_t i, char *out, size_t size)
{
    return i < view->count ? topic_of(view, &view->events[i], out, size) : -1;
}

int bus_batch_delivery_topic(const char *stream, const char *type, char *out, size_t size)
{
    if (!bus_name_ok(stream) || size < 2)
        return -1;
    out[0] = BUS_BATCH_DELIVERY_MARK;
    if (type) {
        if (bus_topic_format(out + 1, size - 1, stream, type) != 0)
            return -1;
        return (int)strlen(out);
    }
    size_t len = strlen(stream);
    if (len + 3 > size)
        return -1;
    memcpy(out + 1, stream, len);
    out[len + 1] = '/';
    out[len + 2] = '\0';
    return (int)len + 2;
}

int bus_batch_delivery_split(const void *topic, size_t len, char stream_out[BUS_NAME_MAX])
{
    const char *text = topic;
    if (!topic || len < 3 || len > BUS_TOPIC_MAX + 1 || text[0] != BUS_BATCH_DELIVERY_MARK)
        return -1;
    if (text[len - 1] == '/') {
        /* "+<stream>/": the stream alone */
        size_t stream_len = len - 2;
        if (stream_len >= BUS_NAME_MAX)
            return -1;
        char name[BUS_NAME_MAX];
        memcpy(name, text + 1, stream_len);
        name[stream_len] = '\0';
        if (strlen(name) != stream_len || !bus_name_ok(name))
            return -1;
        memcpy(stream_out, name, stream_len + 1);
        return 1;
    }
    char type[BUS_TOPIC_MAX];
    return bus_topic_split(text + 1, len - 1, stream_out, type, sizeof type) == 0 ? 0 : -1;
}
