/*
 * zap.c — the ZAP handler (zap.h).
 */
#include "common/zap.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "common/log.h"
#include "common/metrics.h"

#define ZAP_ENDPOINT   "inproc://zeromq.zap.01"
#define ZAP_FRAMES_MAX 8
#define REFUSAL_LOG_MS 60000

struct zap {
    void *rep;
    buskeys_t *keys;
    zap_allow_fn allow;
    void *allow_arg;
    char owner[32];
    log_throttle_keyed_t refusal_log;
    unsigned long long allowed_count, refused_count;
    metrics_counter_t *allowed_total;
    metrics_counter_t *refused_total;
};

zap_t *zap_new(void *ctx, buskeys_t *keys, zap_allow_fn allow, void *allow_arg, const char *owner)
{
    zap_t *zap = calloc(1, sizeof *zap);
    if (!zap)
        return NULL;
    zap->keys = keys;
    zap->allow = allow;
    zap->allow_arg = allow_arg;
    snprintf(zap->owner, sizeof zap->owner, "%s", owner);
    zap->rep = zmq_socket(ctx, ZMQ_REP);
    int linger = 0;
    if (!zap->rep || zmq_setsockopt(zap->rep, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        zmq_bind(zap->rep, ZAP_ENDPOINT) != 0) {
        log_error("could not bind the ZAP handler", LF_STR("owner", owner),
                  LF_STR("error", zmq_strerror(errno)), LF_ERR("bind_failed"));
        zap_destroy(&zap);
        return NULL;
    }
    char labels[64];
    snprintf(labels, sizeof labels, "owner=\"%s\"", zap->owner);
    zap->allowed_total = metrics_counter("bus_connections_allowed_total", labels,
                                         "Bus connections whose key was accepted (ZAP 200).");
    zap->refused_total = metrics_counter("bus_connections_refused_total", labels,
                                         "Bus connections refused: unknown key or wrong role.");
    return zap;
}

void zap_destroy(zap_t **self_p)
{
    zap_t *zap = *self_p;
    if (!zap)
        return;
    if (zap->rep)
        zmq_close(zap->rep);
    free(zap);
    *self_p = NULL;
}

void *zap_socket(zap_t *zap)
{
    return zap->rep;
}

unsigned long long zap_allowed(const zap_t *zap)
{
    return zap->allowed_count;
}

unsigned long long zap_refused(const zap_t *zap)
{
    return zap->refused_count;
}

/* Logs a refusal, at most once per key per minute. */
static void log_refusal(zap_t *zap, const char *domain, const char *key_z85, const buskey_t *known,
                        const char *address)
{
    unsigned long long held_back = 0;
    if (!log_throttle_keyed_allow(&zap->refusal_log, key_z85, REFUSAL_LOG_MS, &held_back))
        return;
    log_warn(known ? "refused a bus connection: its key may not do this here"
                   : "refused a bus connection: the key is not trusted",
             LF_STR("owner", zap->owner), LF_STR("domain", domain), LF_STR("key", key_z85),
             LF_STR("role", known ? buskey_role_name(known->role) : NULL),
             LF_STR("name", known ? known->name : NULL), LF_STR("address", address),
             LF_INT("refused_since_last_line", (long long)held_back), LF_ERR("bus_key_refused"));
}

static void reply(zap_t *zap, const zmq_msg_t *request_id, const char *status, const char *text,
                  const char *user_id)
{
    zmq_msg_t *id = (zmq_msg_t *)(uintptr_t)request_id;
    zmq_send(zap->rep, "1.0", 3, ZMQ_SNDMORE);
    zmq_send(zap->rep, zmq_msg_data(id), zmq_msg_size(id), ZMQ_SNDMORE);
    zmq_send(zap->rep, status, strlen(status), ZMQ_SNDMORE);
    zmq_send(zap->rep, text, strlen(text), ZMQ_SNDMORE);
    zmq_send(zap->rep, user_id, strlen(user_id), ZMQ_SNDMORE);
    zmq_send(zap->rep, "", 0, 0);
}

/* Copies frame into a NUL-terminated text of at most size-1 bytes. */
static void frame_text(zmq_msg_t *frame, char *out, size_t size)
{
    size_t len = zmq_msg_size(frame);
    if (len >= size)
        len = size - 1;
    memcpy(out, zmq_msg_data(frame), len);
    out[len] = '\0';
}

/* Reads one request and answers it; false when none was waiting. */
static bool serve_one(zap_t *zap)
{
    zmq_msg_t frames[ZAP_FRAMES_MAX];
    int count = 0, received = 0;
    bool more = true;
    while (more) {
        zmq_msg_t frame;
        zmq_msg_init(&frame);
        if (zmq_msg_recv(&frame, zap->rep, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&frame);
            break;
        }
        more = zmq_msg_more(&frame);
        received++;
        if (count < ZAP_FRAMES_MAX)
            frames[count++] = frame;
        else
            zmq_msg_close(&frame);
    }
    if (received == 0)
        return false;
    /* [version][request id][domain][address][identity][mechanism][credentials];
     * a REP socket must answer whatever came, or it answers nothing more */
    zmq_msg_t no_id;
    zmq_msg_init(&no_id);
    const zmq_msg_t *request_id = count >= 2 ? &frames[1] : &no_id;
    {
        char domain[64] = "", address[64] = "", mechanism[16] = "";
        char key_z85[BUSKEY_Z85_LEN + 1] = "";
        bool curve = false;
        if (count == 7 && received == 7) {
            frame_text(&frames[2], domain, sizeof domain);
            frame_text(&frames[3], address, sizeof address);
            frame_text(&frames[5], mechanism, sizeof mechanism);
            curve = strcmp(mechanism, "CURVE") == 0 && zmq_msg_size(&frames[6]) == 32 &&
                    zmq_z85_encode(key_z85, zmq_msg_data(&frames[6]), 32) != NULL;
        }
        buskey_t key;
        bool known = curve && buskeys_find(zap->keys, key_z85, &key);
        /* issued a moment ago? a refused client does not come back by itself */
        if (curve && !known && buskeys_refresh_now(zap->keys) == 1)
            known = buskeys_find(zap->keys, key_z85, &key);
        if (known && zap->allow(domain, &key, zap->allow_arg)) {
            zap->allowed_count++;
            metrics_counter_add(zap->allowed_total, 1);
            log_debug("bus connection allowed", LF_STR("owner", zap->owner),
                      LF_STR("domain", domain), LF_STR("role", buskey_role_name(key.role)),
                      LF_STR("name", key.name));
            reply(zap, request_id, "200", "OK", key_z85);
        } else {
            zap->refused_count++;
            metrics_counter_add(zap->refused_total, 1);
            log_refusal(zap, domain, curve ? key_z85 : mechanism, known ? &key : NULL, address);
            reply(zap, request_id, "400", "not allowed", "");
        }
    }
    zmq_msg_close(&no_id);
    for (int i = 0; i < count; i++)
        zmq_msg_close(&frames[i]);
    return true;
}

void zap_serve(zap_t *zap)
{
    for (int n = 0; n < 1000 && serve_one(zap); n++)
        ;
}
