/*
 * envelope.c — checking, splitting and packing bus frames (envelope.h).
 */
#include "common/envelope.h"
#include "common/hex.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

static bool stream_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

static bool type_char_ok(char c)
{
    return c > ' ' && c < 0x7f && c != '/';
}

bool bus_name_ok(const char *name)
{
    size_t len = name ? strnlen(name, BUS_NAME_MAX) : 0;
    if (len == 0 || len >= BUS_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!stream_char_ok(name[i]))
            return false;
    return true;
}

int bus_topic_split(const void *topic, size_t len, char stream_out[BUS_NAME_MAX], char *type_out,
                    size_t type_size)
{
    const char *text = topic;
    if (!topic || len < 3 || len > BUS_TOPIC_MAX)
        return -1;
    const char *slash = memchr(text, '/', len);
    if (!slash)
        return -1;
    size_t stream_len = (size_t)(slash - text);
    size_t type_len = len - stream_len - 1;
    if (stream_len == 0 || stream_len >= BUS_NAME_MAX || type_len == 0 || type_len >= type_size)
        return -1;
    for (size_t i = 0; i < stream_len; i++)
        if (!stream_char_ok(text[i]))
            return -1;
    for (size_t i = 0; i < type_len; i++)
        if (!type_char_ok(slash[1 + i]))
            return -1;
    memcpy(stream_out, text, stream_len);
    stream_out[stream_len] = '\0';
    memcpy(type_out, slash + 1, type_len);
    type_out[type_len] = '\0';
    return 0;
}

int bus_topic_format(char *out, size_t size, const char *stream, const char *type)
{
    size_t stream_len = strlen(stream), type_len = strlen(type);
    if (stream_len + 1 + type_len >= size || stream_len + 1 + type_len > BUS_TOPIC_MAX)
        return -1;
    memcpy(out, stream, stream_len);
    out[stream_len] = '/';
    memcpy(out + stream_len + 1, type, type_len + 1);
    char check_stream[BUS_NAME_MAX], check_type[BUS_TOPIC_MAX];
    return bus_topic_split(out, stream_len + 1 + type_len, check_stream, check_type,
                           sizeof check_type);
}

const char *frame_status_code(frame_status_t status)
{
    switch (status) {
    case FRAME_OK:
        return "ok";
    case FRAME_BAD_TOPIC:
        return "bad_topic";
    case FRAME_TOO_LARGE:
        return "too_large";
    case FRAME_BAD_ENVELOPE:
        return "bad_envelope";
    case FRAME_MISMATCH:
        return "envelope_mismatch";
    }
    return "unknown";
}

frame_status_t bus_frame_parse(const void *topic, size_t topic_len, const void *envelope,
                               size_t envelope_len, bus_frame_t *frame)
{
    frame->env = NULL;
    if (bus_topic_split(topic, topic_len, frame->topic_stream, frame->topic_type,
                        sizeof frame->topic_type) != 0)
        return FRAME_BAD_TOPIC;
    if (envelope_len > BUS_ENVELOPE_MAX)
        return FRAME_TOO_LARGE;
    Conveyor__Envelope *env = conveyor__envelope__unpack(NULL, envelope_len, envelope);
    if (!env)
        return FRAME_BAD_ENVELOPE;
    /* protobuf-c reads field number 0 from a two-byte tag and keeps it as
     * an unknown field, but refuses the one-byte tag it packs it back as:
     * such an envelope, parked (packed again), could never be read again */
    for (size_t i = 0; i < env->base.n_unknown_fields; i++) {
        if (env->base.unknown_fields[i].tag == 0) {
            conveyor__envelope__free_unpacked(env, NULL);
            return FRAME_BAD_ENVELOPE;
        }
    }

    bool external = strcmp(frame->topic_stream, BUS_STREAM_EXT) == 0;
    bool ok = strcmp(env->type, frame->topic_type) == 0;
    if (external)
        ok = ok && env->seq == 0 && env->stream[0] != '\0';
    else
        ok = ok && strcmp(env->stream, frame->topic_stream) == 0 && env->epoch > 0 &&
             (env->seq > 0 || strcmp(env->type, BUS_TYPE_HEARTBEAT) == 0);
    if (!ok) {
        conveyor__envelope__free_unpacked(env, NULL);
        return FRAME_MISMATCH;
    }
    frame->env = env;
    return FRAME_OK;
}

void bus_frame_clear(bus_frame_t *frame)
{
    if (frame->env)
        conveyor__envelope__free_unpacked(frame->env, NULL);
    frame->env = NULL;
}

int envelope_pack_alloc(const Conveyor__Envelope *env, uint8_t **buf_out, size_t *len_out)
{
    size_t len = conveyor__envelope__get_packed_size(env);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return -1;
    conveyor__envelope__pack(env, buf);
    *buf_out = buf;
    *len_out = len;
    return 0;
}

void bus_frame_hash(const void *topic, size_t topic_len, const void *envelope, size_t envelope_len,
                    char out[65])
{
    uint8_t digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
        EVP_DigestUpdate(ctx, topic, topic_len) != 1 || EVP_DigestUpdate(ctx, "\n", 1) != 1 ||
        EVP_DigestUpdate(ctx, envelope, envelope_len) != 1 ||
        EVP_DigestFinal_ex(ctx, digest, &digest_len) != 1)
        digest_len = 0;
    EVP_MD_CTX_free(ctx);
    if (digest_len != 32)
        memset(digest, 0, 32);
    hex_encode(digest, 32, out);
}
