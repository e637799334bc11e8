/*
 * busd — conveyor's bus: publishers connect to its XSUB (:5550), subscribers
 * to its XPUB (:5551), and it forwards between them.
 *
 * It stores nothing: losing it loses only messages in flight, which the
 * consumers' replay brings back (DESIGN.md "Reliability"). It forwards in
 * its own loop rather than zmq_proxy so that it can look at every message:
 * it refuses messages that are not [topic][envelope] with a well-formed
 * "<stream>/<type>" topic, counts traffic per stream, and checks who sent
 * each one (DESIGN.md "Security", "Bus keys"):
 *
 *   - both ports are CURVE servers; a ZAP handler (common/zap.h) lets in
 *     the keys of BUS_KEYS_DIR (re-read when it changes): services and
 *     outside sources may publish, anyone with a key may subscribe;
 *   - every published frame carries its sender's key (User-Id): a service
 *     key publishes only its own stream, a source key only
 *     ext/intake.order with its own name in the envelope, an operator key
 *     nothing; a key revoked since it connected publishes nothing more;
 *   - subscriptions are taken by hand (ZMQ_XPUB_MANUAL): a source key may
 *     hear only the intake answers ("order/intake."), not the customers'
 *     data the rest of the bus carries.
 *
 * A relay sends a run of its own stream's events as ONE frame, a batch
 * (common/busbatch.h): a message of one frame is read as one. busd checks
 * it whole — bounds, every envelope's stream and type, all of one stream,
 * the sender's key allowed that stream, once for the batch — and forwards
 * each envelope, bytes unchanged, as the ordinary [<stream>/<type>]
 * [envelope] message, in order: subscribers see no change. Nothing of a
 * batch that fails is forwarded.
 *
 * Every event of a service's stream is also offered in the batch form
 * (common/busbatch.h, "Delivery"): a checked batch goes on, the frame
 * unchanged, as [+<stream>/][EnvelopeBatch], and an event that came alone
 * as [+<stream>/<type>][Envelope]. The kit's consumers subscribe to
 * "+<stream>/" and so take a relay's run as one message — one CURVE box
 * and one wake-up instead of up to 256 — while any other subscriber of
 * "<stream>/" sees the ordinary form as before. libzmq matches topics
 * before it boxes anything, so the form nobody subscribed to costs only
 * that match. ext events are never batched and go in the ordinary form
 * only.
 *
 * A refused frame or subscription is counted and logged once per key per
 * minute. busd subscribes its publishers to everything once, so a
 * publisher that waits to be heard (an XPUB-based outside publisher) hears
 * that as soon as it is let in.
 *
 * High-water marks (BUS_HWM, messages per peer) bound what busd holds for
 * a peer that stops reading: 4,000 messages, at most 1 GiB even if each
 * were a full 256 KiB batch, ~250 MB of typical ones (a million before
 * batches, ~300 MB of single events). A subscriber that falls behind loses
 * messages in its own pipe only (no XPUB_NODROP, which would stall every
 * subscriber behind the slowest), and recovers them by replay.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "common/busbatch.h"
#include "common/buskeys.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/curve.h"
#include "common/envelope.h"
#include "common/http.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/zap.h"

#define STREAM_LABELS_MAX  64 /* distinct per-stream series; the rest count as "other" */
#define REFUSAL_LOG_MS     60000
#define REFUSED_TOPICS_MAX 64
/* messages (a batch counts its events) forwarded between two looks at the
 * subscriptions */
#define FORWARD_BURST_MAX 10000

#define REJECTED_HELP                                                                              \
    "Messages refused: not two frames, a bad topic, or a batch that does not check."

static const config_spec_t busd_specs[] = {
    {"BUS_XSUB_ADDR", "tcp://0.0.0.0:5550", false, "where publishers connect (XSUB)"},
    {"BUS_XPUB_ADDR", "tcp://0.0.0.0:5551", false, "where subscribers connect (XPUB)"},
    {"HTTP_ADDR", "0.0.0.0:8080", false, "health and metrics"},
    {"BUS_HWM", "4000", false,
     "messages queued per peer before dropping (a batch of up to 256 events counts one)"},
    {"BUS_MAX_MSG_SIZE", "1052672", false, "bytes; a peer sending more is disconnected"},
    {"BUS_SECURITY", "curve", false, "curve, or off (only to measure what CURVE costs)"},
    {"BUS_CERT", NULL, false, "busd's certificate (busd.key_secret): the server key pair"},
    {"BUS_KEYS_DIR", NULL, false, "the public certificates of the keys busd lets in"},
    {"BUS_SOURCE_TYPES", "intake.order", false,
     "event types an outside source key may publish on ext/ (comma-separated)"},
    {"BUS_SOURCE_HEARS", "order/intake.", false,
     "topic prefixes an outside source key may subscribe to (comma-separated)"},
    {"LOG_LEVEL", "info", false, "debug, info, warn or error"},
    CONFIG_SPEC_END,
};

/* Why a frame or a subscription was refused: the metric's reason label. */
typedef enum {
    REFUSED_REVOKED,  /* the key is no longer trusted */
    REFUSED_STREAM,   /* a service key publishing another stream */
    REFUSED_TOPIC,    /* a source key publishing another topic */
    REFUSED_SOURCE,   /* a source key naming another source in the envelope */
    REFUSED_ENVELOPE, /* a source's envelope that does not unpack */
    REFUSED_ROLE,     /* an operator key publishing */
    REFUSED_HEARING,  /* a source key subscribing beyond the intake answers */
    REFUSED_REASONS
} refusal_t;

static const char *const refusal_codes[REFUSED_REASONS] = {
    "revoked",      "not_its_stream",  "not_its_topic", "not_its_source",
    "bad_envelope", "may_not_publish", "may_not_hear",
};

typedef struct {
    char name[BUS_NAME_MAX];
    metrics_counter_t *messages;
    metrics_counter_t *bytes;
} stream_counter_t;

typedef struct {
    char topic[BUS_TOPIC_MAX + 1];
    int count;
} refused_topic_t;

typedef struct {
    void *xsub, *xpub;
    refused_topic_t refused_topics[REFUSED_TOPICS_MAX];
    curve_t *curve;  /* NULL-safe: security off */
    buskeys_t *keys; /* the trusted keys (security on) */
    zap_t *zap;
    const char *source_types; /* BUS_SOURCE_TYPES */
    const char *source_hears; /* BUS_SOURCE_HEARS */
    log_throttle_keyed_t refusal_log;
    metrics_counter_t *refused[REFUSED_REASONS];
    metrics_counter_t *cuts;                         /* every connection closed for a revocation */
    stream_counter_t streams[STREAM_LABELS_MAX + 1]; /* the last one is "other" */
    size_t stream_count;
    metrics_counter_t *rejected_frames;
    metrics_counter_t *rejected_topic;
    metrics_counter_t *rejected_batch[BATCH_EXT + 1]; /* by batch_status_t */
    metrics_counter_t *batches;                       /* batch frames forwarded */
    bus_batch_view_t batch;                           /* the batch in hand */
    metrics_counter_t *subscribe_total;
    metrics_counter_t *unsubscribe_total;
    metrics_gauge_t *subscriptions;
    int64_t rejected_logged;
} busd_t;

static stream_counter_t *stream_counter(busd_t *bus, const char *stream)
{
    for (size_t i = 0; i < bus->stream_count; i++)
        if (strcmp(bus->streams[i].name, stream) == 0)
            return &bus->streams[i];
    size_t slot = bus->stream_count < STREAM_LABELS_MAX ? bus->stream_count++ : STREAM_LABELS_MAX;
    stream_counter_t *counter = &bus->streams[slot];
    if (counter->messages)
        return counter; /* "other", already registered */
    snprintf(counter->name, sizeof counter->name, "%s",
             slot < STREAM_LABELS_MAX ? stream : "other");
    char labels[BUS_NAME_MAX + 16];
    snprintf(labels, sizeof labels, "stream=\"%.63s\"", counter->name);
    counter->messages =
        metrics_counter("busd_forwarded_total", labels, "Messages forwarded to subscribers.");
    counter->bytes = metrics_counter("busd_forwarded_bytes_total", labels,
                                     "Envelope bytes forwarded to subscribers.");
    return counter;
}

/* Logs a refused message, at most one line per 1000 refusals. */
static void log_rejected(busd_t *bus, const char *why, size_t parts)
{
    if (bus->rejected_logged++ % 1000 == 0)
        log_warn("refused a message that is neither [<stream>/<type>][envelope] nor a batch of "
                 "one stream's envelopes",
                 LF_STR("reason", why), LF_INT("parts", (long long)parts),
                 LF_INT("refused_so_far", bus->rejected_logged), LF_ERR("bad_frame"));
}

/* Whether text is one of the comma-separated items of list (exactly, or
 * as a prefix when prefix is set). */
static bool listed(const char *list, const char *text, bool prefix)
{
    size_t text_len = strlen(text);
    for (const char *item = list; item && *item;) {
        const char *end = strchr(item, ',');
        size_t len = end ? (size_t)(end - item) : strlen(item);
        if (len > 0 && (prefix ? text_len >= len : text_len == len) && memcmp(item, text, len) == 0)
            return true;
        item = end ? end + 1 : NULL;
    }
    return false;
}

/* Who may connect where: services and sources publish, every key reads. */
static bool busd_allow(const char *domain, const buskey_t *key, void *arg)
{
    (void)arg;
    if (strcmp(domain, "publish") == 0)
        return key->role == BUSKEY_SERVICE || key->role == BUSKEY_SOURCE;
    return strcmp(domain, "subscribe") == 0;
}

/* Counts a refusal and logs it, once per key and minute. */
static void refuse(busd_t *bus, refusal_t why, const char *key_z85, const buskey_t *key,
                   const char *what)
{
    metrics_counter_add(bus->refused[why], 1);
    unsigned long long held_back = 0;
    if (!log_throttle_keyed_allow(&bus->refusal_log, key_z85 ? key_z85 : "-", REFUSAL_LOG_MS,
                                  &held_back))
        return;
    log_warn("refused what a key may not do", LF_STR("key", key_z85),
             LF_STR("role", key ? buskey_role_name(key->role) : NULL),
             LF_STR("name", key ? key->name : NULL), LF_STR("what", what),
             LF_INT("refused_since_last_line", (long long)held_back), LF_ERR(refusal_codes[why]));
}

/* May the sender of msg publish on stream: an event of type, whose
 * envelope is body, or a batch (type and body NULL: busbatch.h never lets
 * one be of ext, the one stream whose check reads the envelope)? A
 * refusal names what (NULL: "<stream>/<type>"). With security off,
 * anyone. */
static bool may_publish(busd_t *bus, zmq_msg_t *msg, zmq_msg_t *body, const char *stream,
                        const char *type, const char *what)
{
    if (!curve_enabled(bus->curve))
        return true;
    const char *sender = zmq_msg_gets(msg, "User-Id");
    buskey_t key;
    char topic[BUS_NAME_MAX + BUS_TOPIC_MAX + 2];
    if (!what) {
        snprintf(topic, sizeof topic, "%s/%s", stream, type ? type : "");
        what = topic;
    }
    if (!sender || !buskeys_find(bus->keys, sender, &key)) {
        refuse(bus, REFUSED_REVOKED, sender, NULL, what);
        return false;
    }
    if (key.role == BUSKEY_SERVICE) {
        if (strcmp(stream, key.name) == 0)
            return true;
        refuse(bus, REFUSED_STREAM, sender, &key, what);
        return false;
    }
    if (key.role != BUSKEY_SOURCE) {
        refuse(bus, REFUSED_ROLE, sender, &key, what);
        return false;
    }
    if (strcmp(stream, BUS_STREAM_EXT) != 0 || !type || !body ||
        !listed(bus->source_types, type, false)) {
        refuse(bus, REFUSED_TOPIC, sender, &key, what);
        return false;
    }
    /* the envelope names the source: it must be the key's own */
    Conveyor__Envelope *env =
        conveyor__envelope__unpack(NULL, zmq_msg_size(body), zmq_msg_data(body));
    if (!env) {
        refuse(bus, REFUSED_ENVELOPE, sender, &key, what);
        return false;
    }
    bool own = strcmp(env->stream, key.name) == 0;
    conveyor__envelope__free_unpacked(env, NULL);
    if (!own)
        refuse(bus, REFUSED_SOURCE, sender, &key, what);
    return own;
}

/* Checks a batch frame whole and forwards each of its envelopes as the
 * ordinary two-frame message, in order; nothing of one that fails. Returns
 * the messages it stood for (its envelopes, at least 1). */
static size_t forward_batch(busd_t *bus, zmq_msg_t *frame)
{
    bus_batch_view_t *view = &bus->batch;
    batch_status_t status = bus_batch_parse(zmq_msg_data(frame), zmq_msg_size(frame), view);
    if (status != BATCH_OK) {
        metrics_counter_add(bus->rejected_batch[status], 1);
        log_rejected(bus, batch_status_code(status), 1);
        return 1;
    }
    char what[BUS_NAME_MAX + 48];
    snprintf(what, sizeof what, "%s/ (a batch of %zu)", view->stream, view->count);
    if (!may_publish(bus, frame, NULL, view->stream, NULL, what))
        return view->count;
    size_t sent = 0, bytes = 0;
    for (size_t i = 0; i < view->count; i++) {
        char topic[BUS_TOPIC_MAX + 1];
        int topic_len = bus_batch_topic(view, i, topic, sizeof topic);
        const bus_batch_event_t *event = &view->events[i];
        /* XPUB never blocks: a full subscriber pipe drops for that subscriber only */
        if (topic_len > 0 &&
            zmq_send(bus->xpub, topic, (size_t)topic_len, ZMQ_SNDMORE) == topic_len &&
            zmq_send(bus->xpub, event->envelope, event->envelope_len, 0) >= 0) {
            sent++;
            bytes += event->envelope_len;
        }
    }
    /* and the frame itself, unchanged, to the subscribers of the batch form */
    char batch_topic[BUS_NAME_MAX + 2];
    int batch_topic_len =
        bus_batch_delivery_topic(view->stream, NULL, batch_topic, sizeof batch_topic);
    if (batch_topic_len > 0 &&
        zmq_send(bus->xpub, batch_topic, (size_t)batch_topic_len, ZMQ_SNDMORE) == batch_topic_len)
        zmq_msg_send(frame, bus->xpub, 0);
    stream_counter_t *counter = stream_counter(bus, view->stream);
    metrics_counter_add(counter->messages, sent);
    metrics_counter_add(counter->bytes, bytes);
    metrics_counter_add(bus->batches, 1);
    return view->count;
}

/* May the sender of this subscription hear what it asks for? */
static bool may_hear(busd_t *bus, zmq_msg_t *msg, const char *prefix)
{
    if (!curve_enabled(bus->curve))
        return true;
    const char *sender = zmq_msg_gets(msg, "User-Id");
    buskey_t key;
    if (!sender || !buskeys_find(bus->keys, sender, &key)) {
        refuse(bus, REFUSED_REVOKED, sender, NULL, prefix);
        return false;
    }
    /* the batch form of a topic ("+order/intake.") is heard as the topic */
    const char *heard = prefix[0] == BUS_BATCH_DELIVERY_MARK ? prefix + 1 : prefix;
    if (key.role != BUSKEY_SOURCE || listed(bus->source_hears, heard, true))
        return true;
    refuse(bus, REFUSED_HEARING, sender, &key, prefix);
    return false;
}

/* Forwards one message from publishers to subscribers, or refuses it;
 * returns the messages it stood for (a batch: its envelopes), 0 when none
 * was waiting. */
static size_t forward_publication(busd_t *bus)
{
    zmq_msg_t parts[2];
    size_t count = 0;
    bool more = true;
    while (more) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        if (zmq_msg_recv(&part, bus->xsub, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&part);
            break;
        }
        more = zmq_msg_more(&part);
        if (count < 2)
            parts[count] = part;
        else
            zmq_msg_close(&part);
        count++;
    }
    if (count == 0)
        return 0;
    size_t kept = count < 2 ? count : 2, stood_for = 1;
    char stream[BUS_NAME_MAX], type[BUS_TOPIC_MAX];
    if (count == 1) {
        stood_for = forward_batch(bus, &parts[0]);
    } else if (count != 2) {
        metrics_counter_add(bus->rejected_frames, 1);
        log_rejected(bus, "too many frames", count);
    } else if (bus_topic_split(zmq_msg_data(&parts[0]), zmq_msg_size(&parts[0]), stream, type,
                               sizeof type) != 0) {
        metrics_counter_add(bus->rejected_topic, 1);
        log_rejected(bus, "topic is not <stream>/<type>", count);
    } else if (may_publish(bus, &parts[0], &parts[1], stream, type, NULL)) {
        size_t body_len = zmq_msg_size(&parts[1]);
        /* a service's event alone goes in the batch form too (an ext one
         * never: its subscribers take the ordinary form only); the copy
         * shares the envelope's bytes */
        zmq_msg_t single;
        zmq_msg_init(&single);
        char single_topic[BUS_TOPIC_MAX + 2];
        int single_topic_len =
            strcmp(stream, BUS_STREAM_EXT) == 0
                ? -1
                : bus_batch_delivery_topic(stream, type, single_topic, sizeof single_topic);
        if (single_topic_len > 0 && zmq_msg_copy(&single, &parts[1]) != 0)
            single_topic_len = -1;
        /* XPUB never blocks: a full subscriber pipe drops for that subscriber only */
        if (zmq_msg_send(&parts[0], bus->xpub, ZMQ_SNDMORE) >= 0 &&
            zmq_msg_send(&parts[1], bus->xpub, 0) >= 0) {
            stream_counter_t *counter = stream_counter(bus, stream);
            metrics_counter_add(counter->messages, 1);
            metrics_counter_add(counter->bytes, body_len);
        }
        if (single_topic_len > 0 && zmq_send(bus->xpub, single_topic, (size_t)single_topic_len,
                                             ZMQ_SNDMORE) == single_topic_len)
            zmq_msg_send(&single, bus->xpub, 0);
        zmq_msg_close(&single);
    }
    for (size_t i = 0; i < kept; i++)
        zmq_msg_close(&parts[i]);
    return stood_for;
}

/* Counts a refused subscription of topic (dir +1), or takes one back for
 * an unsubscription (dir -1); false when none was refused. libzmq reports
 * every subscription of a pipe that ends as an unsubscription, refused
 * ones too: they must not count against the accepted. */
static bool refused_topic(busd_t *bus, const char *topic, int dir)
{
    refused_topic_t *free_slot = NULL;
    for (size_t i = 0; i < REFUSED_TOPICS_MAX; i++) {
        refused_topic_t *slot = &bus->refused_topics[i];
        if (slot->count > 0 && strcmp(slot->topic, topic) == 0) {
            slot->count += dir;
            return true;
        }
        if (slot->count == 0 && !free_slot)
            free_slot = slot;
    }
    if (dir > 0 && free_slot) {
        snprintf(free_slot->topic, sizeof free_slot->topic, "%s", topic);
        free_slot->count = 1;
    }
    return false;
}

/* Takes a subscribe/unsubscribe from a subscriber: with CURVE on, applied
 * by hand to the subscriber's pipe when its key may hear the topic. It is
 * not passed up: busd's XSUB subscribes to everything once (open_sockets),
 * so what one subscriber asks or leaves never changes what publishers
 * send — a refused subscription that ends could otherwise unsubscribe a
 * topic others still hear. False when none was waiting. */
static bool take_subscription(busd_t *bus)
{
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    if (zmq_msg_recv(&msg, bus->xpub, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&msg);
        return false;
    }
    const unsigned char *data = zmq_msg_data(&msg);
    size_t len = zmq_msg_size(&msg);
    if (len >= 1 && len - 1 <= BUS_TOPIC_MAX && (data[0] == 0 || data[0] == 1)) {
        bool subscribe = data[0] == 1;
        char topic[BUS_TOPIC_MAX + 1];
        memcpy(topic, data + 1, len - 1);
        topic[len - 1] = '\0';
        if (subscribe && !may_hear(bus, &msg, topic)) {
            refused_topic(bus, topic, +1);
            zmq_msg_close(&msg);
            return true;
        }
        if (!subscribe && refused_topic(bus, topic, -1)) {
            zmq_msg_close(&msg);
            return true;
        }
        /* taken by hand: applied to the pipe it came from (none when the
         * pipe ended: libzmq has removed its subscriptions then) */
        if (curve_enabled(bus->curve))
            zmq_setsockopt(bus->xpub, subscribe ? ZMQ_SUBSCRIBE : ZMQ_UNSUBSCRIBE, data + 1,
                           len - 1);
        metrics_counter_add(subscribe ? bus->subscribe_total : bus->unsubscribe_total, 1);
        if (subscribe || metrics_gauge_value(bus->subscriptions) > 0)
            metrics_gauge_add(bus->subscriptions, subscribe ? 1 : -1);
        log_debug(subscribe ? "subscription" : "unsubscription", LF_STR("topic", topic));
    }
    zmq_msg_close(&msg);
    return true;
}

static void route_healthz(const http_request_t *req, http_response_t *res, void *arg)
{
    (void)req;
    (void)arg;
    http_res_json_take(res, 200, json_pack("{s:s}", "status", "ok"));
}

static void route_readyz(const http_request_t *req, http_response_t *res, void *arg)
{
    (void)req;
    busd_t *bus = arg;
    http_res_json_take(res, 200,
                       json_pack("{s:s,s:s,s:I,s:s,s:I}", "status", "ready", "service", "busd",
                                 "subscriptions",
                                 (json_int_t)metrics_gauge_value(bus->subscriptions), "security",
                                 curve_enabled(bus->curve) ? "curve" : "off", "keys",
                                 (json_int_t)(bus->keys ? buskeys_count(bus->keys) : 0)));
}

static void route_metrics(const http_request_t *req, http_response_t *res, void *arg)
{
    (void)req;
    (void)arg;
    char *text = metrics_render();
    if (!text) {
        http_res_problem(res, 500, "out_of_memory", "could not render metrics", NULL);
        return;
    }
    http_res_text(res, 200, "text/plain; version=0.0.4; charset=utf-8", text);
    free(text);
}

/* Binds, waiting up to 2 s while the endpoint is still held by the socket
 * just closed (libzmq's I/O thread lets go of it asynchronously). */
static int bind_endpoint(void *socket, const char *endpoint, const char *what)
{
    int64_t deadline = clock_mono_ms() + 2000;
    while (zmq_bind(socket, endpoint) != 0) {
        if (errno != EADDRINUSE || clock_mono_ms() >= deadline) {
            log_error("could not bind", LF_STR("what", what), LF_STR("endpoint", endpoint),
                      LF_STR("error", zmq_strerror(errno)), LF_ERR("bind_failed"));
            return -1;
        }
        struct timespec pause = {0, 20 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    return 0;
}

static void close_sockets(busd_t *bus)
{
    if (bus->xsub)
        zmq_close(bus->xsub);
    if (bus->xpub)
        zmq_close(bus->xpub);
    bus->xsub = bus->xpub = NULL;
}

/* Makes and binds both ports. Called again to cut every connection (a key
 * was revoked): peers reconnect by themselves, those still trusted are let
 * in again, and consumers fetch what the pause cost them by replay. */
static int open_sockets(busd_t *bus, void *ctx, const config_t *config)
{
    int64_t hwm = 0, max_size = 0;
    if (config_get_int(config, "BUS_HWM", 0, INT32_MAX, &hwm) != 0 ||
        config_get_int(config, "BUS_MAX_MSG_SIZE", 1024, INT32_MAX, &max_size) != 0)
        return -1;
    int hwm_int = (int)hwm, linger = 0;
    int64_t sub_max = 4096;
    bus->xsub = zmq_socket(ctx, ZMQ_XSUB);
    bus->xpub = zmq_socket(ctx, ZMQ_XPUB);
    if (!bus->xsub || !bus->xpub)
        return -1;
    zmq_setsockopt(bus->xsub, ZMQ_RCVHWM, &hwm_int, sizeof hwm_int);
    zmq_setsockopt(bus->xsub, ZMQ_SNDHWM, &hwm_int, sizeof hwm_int);
    zmq_setsockopt(bus->xsub, ZMQ_MAXMSGSIZE, &max_size, sizeof max_size);
    zmq_setsockopt(bus->xsub, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(bus->xpub, ZMQ_SNDHWM, &hwm_int, sizeof hwm_int);
    zmq_setsockopt(bus->xpub, ZMQ_RCVHWM, &hwm_int, sizeof hwm_int);
    zmq_setsockopt(bus->xpub, ZMQ_MAXMSGSIZE, &sub_max, sizeof sub_max);
    zmq_setsockopt(bus->xpub, ZMQ_LINGER, &linger, sizeof linger);
    if (curve_enabled(bus->curve)) {
        int manual = 1;
        if (curve_server(bus->curve, bus->xsub, "publish") != 0 ||
            curve_server(bus->curve, bus->xpub, "subscribe") != 0 ||
            zmq_setsockopt(bus->xpub, ZMQ_XPUB_MANUAL, &manual, sizeof manual) != 0)
            return -1;
    }
    if (bind_endpoint(bus->xsub, config_get(config, "BUS_XSUB_ADDR"), "publishers") != 0 ||
        bind_endpoint(bus->xpub, config_get(config, "BUS_XPUB_ADDR"), "subscribers") != 0)
        return -1;
    /* publishers send busd everything; subscribers' filters live in XPUB */
    static const char everything[] = {1};
    if (zmq_send(bus->xsub, everything, sizeof everything, 0) != 1)
        return -1;
    memset(bus->refused_topics, 0, sizeof bus->refused_topics);
    metrics_gauge_set(bus->subscriptions, 0);
    return 0;
}

/* The trusted keys and the ZAP handler (CURVE on). */
static int open_keys(busd_t *bus, void *ctx)
{
    if (!curve_enabled(bus->curve))
        return 0;
    bus->keys = buskeys_new(curve_keys_dir(bus->curve));
    bus->zap = bus->keys ? zap_new(ctx, bus->keys, busd_allow, bus, "busd") : NULL;
    return bus->zap ? 0 : -1;
}

int main(int argc, char **argv)
{
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    int status = 1;
    void *ctx = NULL;
    http_server_t *http = NULL;
    busd_t bus = {0};
    int stop_fd = -1;
    config_t *config = config_new();
    if (!config || config_declare(config, busd_specs) != 0)
        goto done;
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("%s — conveyor's bus forwarder. Configuration (environment):\n", argv[0]);
        config_print_help(config);
        status = 0;
        goto done;
    }
    log_level_t level = LOG_INFO;
    if (log_level_parse(config_get(config, "LOG_LEVEL"), &level) != 0)
        fprintf(stderr, "LOG_LEVEL is not one of debug, info, warn, error; using info\n");
    log_init("busd", level);
    config_log(config);

    bus.rejected_frames =
        metrics_counter("busd_rejected_total", "reason=\"frames\"", REJECTED_HELP);
    bus.rejected_topic = metrics_counter("busd_rejected_total", "reason=\"topic\"", REJECTED_HELP);
    for (int i = BATCH_OK + 1; i <= BATCH_EXT; i++) {
        char labels[64];
        snprintf(labels, sizeof labels, "reason=\"%s\"", batch_status_code((batch_status_t)i));
        bus.rejected_batch[i] = metrics_counter("busd_rejected_total", labels, REJECTED_HELP);
    }
    bus.batches = metrics_counter("busd_batches_total", NULL,
                                  "Batch frames checked and forwarded as their envelopes.");
    bus.subscribe_total =
        metrics_counter("busd_subscribe_total", NULL, "Subscriptions taken from subscribers.");
    bus.unsubscribe_total =
        metrics_counter("busd_unsubscribe_total", NULL, "Unsubscriptions taken from subscribers.");
    bus.subscriptions = metrics_gauge("busd_subscriptions", NULL,
                                      "Distinct topic prefixes subscribed at the moment.");

    for (int i = 0; i < REFUSED_REASONS; i++) {
        char labels[64];
        snprintf(labels, sizeof labels, "reason=\"%s\"", refusal_codes[i]);
        bus.refused[i] = metrics_counter("busd_refused_total", labels,
                                         "Frames and subscriptions a key was not allowed.");
    }
    bus.cuts = metrics_counter("busd_revocation_cuts_total", NULL,
                               "Times every connection was closed because a key was revoked.");
    bus.source_types = config_get(config, "BUS_SOURCE_TYPES");
    bus.source_hears = config_get(config, "BUS_SOURCE_HEARS");
    curve_config_t curve_config = {
        .security = config_get(config, "BUS_SECURITY"),
        .cert = config_get(config, "BUS_CERT"),
        .keys_dir = config_get(config, "BUS_KEYS_DIR"),
        .needs_keys_dir = true,
    };
    bus.curve = curve_new(&curve_config);
    ctx = zmq_ctx_new();
    stop_fd = signalfd(-1, &stop_signals, SFD_CLOEXEC | SFD_NONBLOCK);
    if (!bus.curve || !ctx || stop_fd < 0 || open_keys(&bus, ctx) != 0 ||
        open_sockets(&bus, ctx, config) != 0)
        goto done;

    http_config_t http_config = {
        .addr = config_get(config, "HTTP_ADDR"), .threads = 2, .svc = "busd"};
    http = http_server_new(&http_config);
    if (!http || http_route(http, "GET", "/healthz", route_healthz, &bus) != 0 ||
        http_route(http, "GET", "/readyz", route_readyz, &bus) != 0 ||
        http_route(http, "GET", "/metrics", route_metrics, &bus) != 0 ||
        http_server_start(http) != 0)
        goto done;
    log_info("busd forwarding", LF_STR("publishers", config_get(config, "BUS_XSUB_ADDR")),
             LF_STR("subscribers", config_get(config, "BUS_XPUB_ADDR")),
             LF_STR("security", curve_enabled(bus.curve) ? "curve" : "off"),
             LF_STR("public_key", curve_public_key(bus.curve)),
             LF_INT("http_port", (long long)http_server_port(http)));

    uint64_t revocations_seen = bus.keys ? buskeys_revocations(bus.keys) : 0;
    int64_t reopen_at = 0, last_reopen = 0;
    for (;;) {
        zmq_pollitem_t items[4] = {
            {bus.xsub, 0, ZMQ_POLLIN, 0},
            {bus.xpub, 0, ZMQ_POLLIN, 0},
            {NULL, stop_fd, ZMQ_POLLIN, 0},
            {bus.zap ? zap_socket(bus.zap) : NULL, 0, ZMQ_POLLIN, 0},
        };
        if (zmq_poll(items, bus.zap ? 4 : 3, reopen_at ? 200 : 1000) < 0) {
            if (errno == EINTR)
                continue;
            log_error("poll failed", LF_STR("error", zmq_strerror(errno)), LF_ERR("poll_failed"));
            goto done;
        }
        if (items[2].revents & ZMQ_POLLIN)
            break;
        if (bus.keys)
            buskeys_refresh(bus.keys); /* the ZAP handler may re-read it too */
        if (bus.keys && buskeys_revocations(bus.keys) != revocations_seen) {
            /* a connection let in stays in until closed: cut them all, the
             * trusted come back by themselves. A second later, to take
             * the revocations of one rotation together, and at most once
             * every 5 s, so reconnecting clients are not cut again while
             * they shake hands */
            revocations_seen = buskeys_revocations(bus.keys);
            int64_t due = clock_mono_ms() + 1000;
            reopen_at = due > last_reopen + 5000 ? due : last_reopen + 5000;
        }
        if (reopen_at != 0 && clock_mono_ms() >= reopen_at) {
            log_warn("a bus key was revoked: closing every connection so that it is heard no "
                     "more; the others reconnect",
                     LF_ERR("bus_key_revoked"));
            reopen_at = 0;
            last_reopen = clock_mono_ms();
            metrics_counter_add(bus.cuts, 1);
            close_sockets(&bus);
            if (open_sockets(&bus, ctx, config) != 0)
                goto done;
            continue;
        }
        if (bus.zap && (items[3].revents & ZMQ_POLLIN))
            zap_serve(bus.zap);
        /* bounded bursts so subscriptions are never starved by traffic */
        for (size_t n = 0, got = 1; n < FORWARD_BURST_MAX && got > 0; n += got)
            got = forward_publication(&bus);
        for (int n = 0; n < 1000 && take_subscription(&bus); n++)
            ;
    }
    log_info("busd stopping");
    status = 0;
done:
    http_server_destroy(&http);
    close_sockets(&bus);
    zap_destroy(&bus.zap);
    buskeys_destroy(&bus.keys);
    curve_destroy(&bus.curve);
    if (ctx)
        zmq_ctx_term(ctx);
    if (stop_fd >= 0)
        close(stop_fd);
    config_destroy(&config);
    metrics_shutdown();
    return status;
}
