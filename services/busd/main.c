/*
 * busd — conveyor's bus: publishers connect to its XSUB (:5550), subscribers
 * to its XPUB (:5551), and it forwards between them.
 *
 * It stores nothing: losing it loses only messages in flight, which the
 * consumers' replay brings back (DESIGN.md "Reliability"). It forwards in
 * its own loop rather than zmq_proxy so that it can look at every message:
 * today it refuses messages that are not [topic][envelope] with a
 * well-formed "<stream>/<type>" topic and counts traffic per stream;
 * later it will check that a CURVE identity publishes only its own stream.
 * Subscriptions flow the other way, so publishers that wait for a
 * subscriber (XPUB-based outside publishers) see them.
 *
 * High-water marks are raised far above the default 1000 so a burst does
 * not drop at the proxy; a subscriber that falls behind anyway loses
 * messages in its own pipe only (no XPUB_NODROP, which would stall every
 * subscriber behind the slowest), and recovers them by replay.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>
#include <zmq.h>

#include "common/config.h"
#include "common/envelope.h"
#include "common/http.h"
#include "common/log.h"
#include "common/metrics.h"

#define STREAM_LABELS_MAX 64 /* distinct per-stream series; the rest count as "other" */

static const config_spec_t busd_specs[] = {
    {"BUS_XSUB_ADDR", "tcp://0.0.0.0:5550", false, "where publishers connect (XSUB)"},
    {"BUS_XPUB_ADDR", "tcp://0.0.0.0:5551", false, "where subscribers connect (XPUB)"},
    {"HTTP_ADDR", "0.0.0.0:8080", false, "health and metrics"},
    {"BUS_HWM", "1000000", false, "messages queued per peer before dropping"},
    {"BUS_MAX_MSG_SIZE", "1052672", false, "bytes; a peer sending more is disconnected"},
    {"LOG_LEVEL", "info", false, "debug, info, warn or error"},
    CONFIG_SPEC_END,
};

typedef struct {
    char name[BUS_NAME_MAX];
    metrics_counter_t *messages;
    metrics_counter_t *bytes;
} stream_counter_t;

typedef struct {
    void *xsub, *xpub;
    stream_counter_t streams[STREAM_LABELS_MAX + 1]; /* the last one is "other" */
    size_t stream_count;
    metrics_counter_t *rejected_frames;
    metrics_counter_t *rejected_topic;
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
        log_warn("refused a message that is not [<stream>/<type>][envelope]", LF_STR("reason", why),
                 LF_INT("parts", (long long)parts), LF_INT("refused_so_far", bus->rejected_logged),
                 LF_ERR("bad_frame"));
}

/* Forwards one message from publishers to subscribers, or refuses it;
 * false when none was waiting. */
static bool forward_publication(busd_t *bus)
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
        return false;
    size_t kept = count < 2 ? count : 2;
    char stream[BUS_NAME_MAX], type[BUS_TOPIC_MAX];
    if (count != 2) {
        metrics_counter_add(bus->rejected_frames, 1);
        log_rejected(bus, count < 2 ? "too few frames" : "too many frames", count);
    } else if (bus_topic_split(zmq_msg_data(&parts[0]), zmq_msg_size(&parts[0]), stream, type,
                               sizeof type) != 0) {
        metrics_counter_add(bus->rejected_topic, 1);
        log_rejected(bus, "topic is not <stream>/<type>", count);
    } else {
        size_t body_len = zmq_msg_size(&parts[1]);
        /* XPUB never blocks: a full subscriber pipe drops for that subscriber only */
        if (zmq_msg_send(&parts[0], bus->xpub, ZMQ_SNDMORE) >= 0 &&
            zmq_msg_send(&parts[1], bus->xpub, 0) >= 0) {
            stream_counter_t *counter = stream_counter(bus, stream);
            metrics_counter_add(counter->messages, 1);
            metrics_counter_add(counter->bytes, body_len);
        }
    }
    for (size_t i = 0; i < kept; i++)
        zmq_msg_close(&parts[i]);
    return true;
}

/* Passes a subscribe/unsubscribe from a subscriber up to the publishers;
 * false when none was waiting. */
static bool forward_subscription(busd_t *bus)
{
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    if (zmq_msg_recv(&msg, bus->xpub, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&msg);
        return false;
    }
    const unsigned char *data = zmq_msg_data(&msg);
    size_t len = zmq_msg_size(&msg);
    if (len >= 1 && (data[0] == 0 || data[0] == 1)) {
        bool subscribe = data[0] == 1;
        metrics_counter_add(subscribe ? bus->subscribe_total : bus->unsubscribe_total, 1);
        metrics_gauge_add(bus->subscriptions, subscribe ? 1 : -1);
        char topic[BUS_TOPIC_MAX + 1];
        size_t topic_len = len - 1 < BUS_TOPIC_MAX ? len - 1 : BUS_TOPIC_MAX;
        memcpy(topic, data + 1, topic_len);
        topic[topic_len] = '\0';
        log_debug(subscribe ? "subscription" : "unsubscription", LF_STR("topic", topic));
        zmq_msg_send(&msg, bus->xsub, ZMQ_DONTWAIT);
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
                       json_pack("{s:s,s:s,s:I}", "status", "ready", "service", "busd",
                                 "subscriptions",
                                 (json_int_t)metrics_gauge_value(bus->subscriptions)));
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
    const char *xsub_addr = config_get(config, "BUS_XSUB_ADDR");
    const char *xpub_addr = config_get(config, "BUS_XPUB_ADDR");
    if (zmq_bind(bus->xsub, xsub_addr) != 0) {
        log_error("could not bind the publishers' endpoint", LF_STR("endpoint", xsub_addr),
                  LF_STR("error", zmq_strerror(errno)), LF_ERR("bind_failed"));
        return -1;
    }
    if (zmq_bind(bus->xpub, xpub_addr) != 0) {
        log_error("could not bind the subscribers' endpoint", LF_STR("endpoint", xpub_addr),
                  LF_STR("error", zmq_strerror(errno)), LF_ERR("bind_failed"));
        return -1;
    }
    return 0;
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

    bus.rejected_frames = metrics_counter("busd_rejected_total", "reason=\"frames\"",
                                          "Messages refused: not two frames, or a bad topic.");
    bus.rejected_topic = metrics_counter("busd_rejected_total", "reason=\"topic\"",
                                         "Messages refused: not two frames, or a bad topic.");
    bus.subscribe_total =
        metrics_counter("busd_subscribe_total", NULL, "Subscriptions passed to publishers.");
    bus.unsubscribe_total =
        metrics_counter("busd_unsubscribe_total", NULL, "Unsubscriptions passed to publishers.");
    bus.subscriptions = metrics_gauge("busd_subscriptions", NULL,
                                      "Distinct topic prefixes subscribed at the moment.");

    ctx = zmq_ctx_new();
    stop_fd = signalfd(-1, &stop_signals, SFD_CLOEXEC | SFD_NONBLOCK);
    if (!ctx || stop_fd < 0 || open_sockets(&bus, ctx, config) != 0)
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
             LF_INT("http_port", (long long)http_server_port(http)));

    for (;;) {
        zmq_pollitem_t items[3] = {
            {bus.xsub, 0, ZMQ_POLLIN, 0},
            {bus.xpub, 0, ZMQ_POLLIN, 0},
            {NULL, stop_fd, ZMQ_POLLIN, 0},
        };
        if (zmq_poll(items, 3, -1) < 0) {
            if (errno == EINTR)
                continue;
            log_error("poll failed", LF_STR("error", zmq_strerror(errno)), LF_ERR("poll_failed"));
            goto done;
        }
        if (items[2].revents & ZMQ_POLLIN)
            break;
        /* bounded bursts so subscriptions are never starved by traffic */
        for (int n = 0; n < 10000 && forward_publication(&bus); n++)
            ;
        for (int n = 0; n < 1000 && forward_subscription(&bus); n++)
            ;
    }
    log_info("busd stopping");
    status = 0;
done:
    http_server_destroy(&http);
    if (bus.xsub)
        zmq_close(bus.xsub);
    if (bus.xpub)
        zmq_close(bus.xpub);
    if (ctx)
        zmq_ctx_term(ctx);
    if (stop_fd >= 0)
        close(stop_fd);
    config_destroy(&config);
    metrics_shutdown();
    return status;
}
