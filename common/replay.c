/*
 * replay.c — the replay server: a ROUTER answering history requests from
 * the outbox (replay.h).
 */
#include "common/replay.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <zmq.h>

#include "common/clock.h"
#include "common/db.h"
#include "common/envelope.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/outbox.h"
#include "common/zap.h"

#define STMT_HEAD  "replay_head"
#define STMT_RANGE "replay_range"

#define ROUTER_HWM (REPLAY_BATCH_MAX * 4)

struct replay_server {
    char *dsn, *bind, *stream, *app_name;
    void *ctx;
    void *router;
    int stop_fd;
    pthread_t thread;
    bool started;
    atomic_bool open; /* serving; until then every request is "unavailable" */
    db_t *db;
    metrics_counter_t *requests;
    metrics_counter_t *events_sent;
    metrics_counter_t *partial;
    metrics_counter_t *refused;
    log_throttle_t refused_log;
    const curve_t *curve;
    buskeys_t *keys; /* the replay thread's; security on */
    zap_t *zap;
};

/* The answer under construction for one request. */
typedef struct {
    Conveyor__ReplayEnd end;
    bool peer_gone;
} answer_t;

static int send_frame(void *socket, const void *data, size_t len, int flags)
{
    return zmq_send(socket, data, len, flags | ZMQ_DONTWAIT) < 0 ? -1 : 0;
}

/* Sends one EVENT to the requester. 0 sent, 1 pipe full, -1 peer gone. */
static int send_event(replay_server_t *server, const zmq_msg_t *identity, const char *topic,
                      const uint8_t *envelope, size_t envelope_len)
{
    const void *id = zmq_msg_data((zmq_msg_t *)(uintptr_t)identity);
    size_t id_len = zmq_msg_size((zmq_msg_t *)(uintptr_t)identity);
    if (send_frame(server->router, id, id_len, ZMQ_SNDMORE) != 0)
        return errno == EAGAIN ? 1 : -1;
    /* once the identity frame is accepted the rest of the message is queued whole */
    if (send_frame(server->router, REPLAY_CMD_EVENT, strlen(REPLAY_CMD_EVENT), ZMQ_SNDMORE) != 0 ||
        send_frame(server->router, topic, strlen(topic), ZMQ_SNDMORE) != 0 ||
        send_frame(server->router, envelope, envelope_len, 0) != 0)
        return -1;
    return 0;
}

/* The END is packed into a buffer sized from the message, never a fixed
 * one: it carries the stream name the request named. */
static void send_end(replay_server_t *server, const zmq_msg_t *identity, const answer_t *answer)
{
    size_t len = conveyor__replay_end__get_packed_size(&answer->end);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return; /* the requester times out and asks again */
    conveyor__replay_end__pack(&answer->end, buf);
    const void *id = zmq_msg_data((zmq_msg_t *)(uintptr_t)identity);
    size_t id_len = zmq_msg_size((zmq_msg_t *)(uintptr_t)identity);
    if (send_frame(server->router, id, id_len, ZMQ_SNDMORE) == 0 &&
        send_frame(server->router, REPLAY_CMD_END, strlen(REPLAY_CMD_END), ZMQ_SNDMORE) == 0)
        send_frame(server->router, buf, len, 0);
    free(buf);
}

const char *replay_request_status_code(replay_request_status_t status)
{
    switch (status) {
    case REPLAY_REQUEST_OK:
        return "ok";
    case REPLAY_REQUEST_BAD_COMMAND:
        return "bad_command";
    case REPLAY_REQUEST_TOO_LARGE:
        return "too_large";
    case REPLAY_REQUEST_BAD_PROTO:
        return "bad_request";
    case REPLAY_REQUEST_BAD_STREAM:
        return "bad_stream";
    case REPLAY_REQUEST_REVOKED:
        return "revoked";
    }
    return "unknown";
}

replay_request_status_t replay_request_decode(const void *command, size_t command_len,
                                              const void *request, size_t request_len,
                                              Conveyor__ReplayRequest **request_out)
{
    *request_out = NULL;
    if (!command || command_len != strlen(REPLAY_CMD_REQUEST) ||
        memcmp(command, REPLAY_CMD_REQUEST, command_len) != 0)
        return REPLAY_REQUEST_BAD_COMMAND;
    if (request_len > REPLAY_REQUEST_MAX)
        return REPLAY_REQUEST_TOO_LARGE;
    Conveyor__ReplayRequest *unpacked =
        conveyor__replay_request__unpack(NULL, request_len, request);
    if (!unpacked)
        return REPLAY_REQUEST_BAD_PROTO;
    if (!bus_name_ok(unpacked->stream)) {
        conveyor__replay_request__free_unpacked(unpacked, NULL);
        return REPLAY_REQUEST_BAD_STREAM;
    }
    *request_out = unpacked;
    return REPLAY_REQUEST_OK;
}

/* Streams the requested range; fills answer->end. */
static void serve_range(replay_server_t *server, const zmq_msg_t *identity,
                        const Conveyor__ReplayRequest *request, answer_t *answer)
{
    PGresult *head = NULL, *range = NULL;
    Conveyor__ReplayEnd *end = &answer->end;
    if (!atomic_load(&server->open)) {
        /* the service has not migrated its schema yet: nothing to read */
        end->status = CONVEYOR__REPLAY_END__STATUS__UNAVAILABLE;
        return;
    }
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, server->stream);
    if (db_run(server->db, STMT_HEAD, &params, &head) != DB_OK) {
        end->status = CONVEYOR__REPLAY_END__STATUS__UNAVAILABLE;
        goto done;
    }
    if (PQntuples(head) != 1) {
        /* the relay has not opened the stream yet */
        end->status = CONVEYOR__REPLAY_END__STATUS__UNAVAILABLE;
        goto done;
    }
    int64_t epoch = 0, last_seq = 0, purged_through = 0;
    db_get_i64(head, 0, 0, &epoch);
    db_get_i64(head, 0, 1, &last_seq);
    db_get_i64(head, 0, 2, &purged_through);
    end->epoch = (uint64_t)epoch;
    end->head_seq = (uint64_t)last_seq;
    end->purged_through = (uint64_t)purged_through;
    uint64_t from = request->from_seq ? request->from_seq : 1;
    end->last_sent_seq = from - 1;
    if (request->epoch != 0 && request->epoch != (uint64_t)epoch) {
        end->status = CONVEYOR__REPLAY_END__STATUS__EPOCH_CHANGED;
        goto done;
    }
    if (from <= (uint64_t)purged_through) {
        end->status = CONVEYOR__REPLAY_END__STATUS__TRUNCATED;
        goto done;
    }
    end->status = CONVEYOR__REPLAY_END__STATUS__OK;
    if (request->head_only || from > (uint64_t)last_seq)
        goto done;
    uint32_t max = request->max_events;
    if (max == 0 || max > REPLAY_BATCH_MAX)
        max = REPLAY_BATCH_MAX;
    uint64_t to = from + max - 1;
    if (to > (uint64_t)last_seq)
        to = (uint64_t)last_seq;

    db_params_t range_params;
    db_params_init(&range_params);
    db_param_text(&range_params, server->stream);
    db_param_i64(&range_params, epoch);
    db_param_u64(&range_params, from);
    db_param_u64(&range_params, to);
    if (db_run_binary(server->db, STMT_RANGE, &range_params, &range) != DB_OK) {
        end->status = CONVEYOR__REPLAY_END__STATUS__UNAVAILABLE;
        goto done;
    }
    uint64_t expected = from;
    for (int row = 0; row < PQntuples(range); row++) {
        char topic[BUS_TOPIC_MAX + 1];
        uint8_t *envelope = NULL;
        size_t envelope_len = 0;
        uint64_t seq = 0;
        if (outbox_row_envelope(range, row, server->stream, (uint64_t)epoch, &seq, topic,
                                sizeof topic, &envelope, &envelope_len) != 0 ||
            seq != expected) {
            /* a hole (purged meanwhile) or a damaged row: stop here; the
             * next request from last_sent_seq + 1 gets TRUNCATED if purged */
            free(envelope);
            end->status = CONVEYOR__REPLAY_END__STATUS__PARTIAL;
            break;
        }
        int sent = send_event(server, identity, topic, envelope, envelope_len);
        free(envelope);
        if (sent != 0) {
            answer->peer_gone = sent < 0;
            end->status = CONVEYOR__REPLAY_END__STATUS__PARTIAL;
            metrics_counter_add(server->partial, 1);
            break;
        }
        end->last_sent_seq = seq;
        expected = seq + 1;
        metrics_counter_add(server->events_sent, 1);
    }
done:
    PQclear(head);
    PQclear(range);
}

/* Reads one request message and answers it. */
static void serve_one(replay_server_t *server)
{
    zmq_msg_t parts[3];
    int count = 0, received = 0; /* parts kept, parts received */
    bool more = true;
    while (more) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        if (zmq_msg_recv(&part, server->router, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&part);
            break;
        }
        more = zmq_msg_more(&part);
        received++;
        if (count < 3)
            parts[count++] = part;
        else
            zmq_msg_close(&part);
    }
    if (count == 0)
        goto done;
    metrics_counter_add(server->requests, 1);
    Conveyor__ReplayRequest *request = NULL;
    replay_request_status_t why =
        received != 3
            ? REPLAY_REQUEST_BAD_COMMAND
            : replay_request_decode(zmq_msg_data(&parts[1]), zmq_msg_size(&parts[1]),
                                    zmq_msg_data(&parts[2]), zmq_msg_size(&parts[2]), &request);
    /* a key revoked since it connected is heard no more (the routing id
     * frame a ROUTER makes up carries no metadata: the command frame does) */
    if (why == REPLAY_REQUEST_OK && curve_enabled(server->curve) &&
        !buskeys_find(server->keys, zmq_msg_gets(&parts[1], "User-Id"), NULL)) {
        conveyor__replay_request__free_unpacked(request, NULL);
        request = NULL;
        why = REPLAY_REQUEST_REVOKED;
    }
    if (why != REPLAY_REQUEST_OK) {
        metrics_counter_add(server->refused, 1);
        unsigned long long held_back = 0;
        if (log_throttle_allow(&server->refused_log, 60000, &held_back))
            log_warn("replay server ignored a malformed request", LF_INT("parts", received),
                     LF_INT("ignored_since_last_line", (long long)held_back),
                     LF_ERR(replay_request_status_code(why)));
        goto done;
    }
    answer_t answer = {.end = CONVEYOR__REPLAY_END__INIT};
    answer.end.request_id = request->request_id;
    answer.end.stream = server->stream;
    if (strcmp(request->stream, server->stream) != 0) {
        /* name the stream asked for: the consumer finds its request by it */
        answer.end.stream = request->stream;
        answer.end.status = CONVEYOR__REPLAY_END__STATUS__UNKNOWN_STREAM;
    } else {
        serve_range(server, &parts[0], request, &answer);
    }
    if (!answer.peer_gone)
        send_end(server, &parts[0], &answer);
    conveyor__replay_request__free_unpacked(request, NULL);
done:
    for (int i = 0; i < count; i++)
        zmq_msg_close(&parts[i]);
}

/* Services and operators may ask for history; outside sources may not. */
static bool replay_allow(const char *domain, const buskey_t *key, void *arg)
{
    (void)arg;
    return strcmp(domain, "replay") == 0 &&
           (key->role == BUSKEY_SERVICE || key->role == BUSKEY_OPERATOR);
}

static void *replay_main(void *arg)
{
    replay_server_t *server = arg;
    for (;;) {
        zmq_pollitem_t items[3] = {
            {server->router, 0, ZMQ_POLLIN, 0},
            {NULL, server->stop_fd, ZMQ_POLLIN, 0},
            {server->zap ? zap_socket(server->zap) : NULL, 0, ZMQ_POLLIN, 0},
        };
        if (zmq_poll(items, server->zap ? 3 : 2, 1000) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (items[1].revents & ZMQ_POLLIN)
            break;
        if (server->keys)
            buskeys_refresh(server->keys);
        if (server->zap && (items[2].revents & ZMQ_POLLIN))
            zap_serve(server->zap);
        if (items[0].revents & ZMQ_POLLIN)
            serve_one(server);
    }
    return NULL;
}

replay_server_t *replay_server_new(const replay_config_t *config)
{
    replay_server_t *server = calloc(1, sizeof *server);
    if (!server)
        return NULL;
    server->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    server->dsn = strdup(config->dsn);
    server->bind = strdup(config->bind);
    server->stream = strdup(config->stream);
    server->app_name = strdup(config->app_name ? config->app_name : "replay");
    atomic_init(&server->open, !config->opens_later);
    if (server->stop_fd < 0 || !server->dsn || !server->bind || !server->stream ||
        !server->app_name)
        goto fail;
    server->db = db_new(server->dsn, server->app_name);
    if (!server->db ||
        db_prepare(server->db, STMT_HEAD,
                   "SELECT epoch, last_seq, purged_through FROM outbox_streams "
                   "WHERE stream = $1") != 0 ||
        db_prepare(server->db, STMT_RANGE,
                   "SELECT " OUTBOX_ENVELOPE_COLUMNS " FROM outbox WHERE stream = $1 "
                   "AND epoch = $2 AND seq BETWEEN $3 AND $4 ORDER BY seq") != 0)
        goto fail;
    server->ctx = zmq_ctx_new();
    server->router = server->ctx ? zmq_socket(server->ctx, ZMQ_ROUTER) : NULL;
    if (!server->router)
        goto fail;
    int one = 1, hwm = ROUTER_HWM, linger = 0;
    int64_t max_request = REPLAY_REQUEST_MAX + 256;
    zmq_setsockopt(server->router, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    zmq_setsockopt(server->router, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(server->router, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(server->router, ZMQ_MAXMSGSIZE, &max_request, sizeof max_request);
    server->curve = config->curve;
    if (curve_enabled(server->curve)) {
        server->keys = buskeys_new(curve_keys_dir(server->curve));
        server->zap =
            server->keys ? zap_new(server->ctx, server->keys, replay_allow, NULL, "replay") : NULL;
        if (!server->zap || curve_server(server->curve, server->router, "replay") != 0)
            goto fail;
    }
    if (zmq_bind(server->router, server->bind) != 0) {
        log_error("replay server could not bind", LF_STR("endpoint", server->bind),
                  LF_STR("error", zmq_strerror(errno)), LF_ERR("bind_failed"));
        goto fail;
    }
    char labels[128];
    snprintf(labels, sizeof labels, "stream=\"%s\"", server->stream);
    server->requests = metrics_counter("replay_requests_total", labels, "Replay requests served.");
    server->events_sent =
        metrics_counter("replay_events_sent_total", labels, "Events sent by the replay server.");
    server->partial = metrics_counter("replay_partial_total", labels,
                                      "Replay batches cut short by a full requester pipe.");
    server->refused = metrics_counter("replay_refused_total", labels,
                                      "Replay requests ignored: malformed or oversized.");
    if (pthread_create(&server->thread, NULL, replay_main, server) != 0)
        goto fail;
    server->started = true;
    log_info("replay server listening", LF_STR("endpoint", server->bind),
             LF_STR("stream", server->stream));
    return server;
fail:
    replay_server_destroy(&server);
    return NULL;
}

void replay_server_open(replay_server_t *server)
{
    atomic_store(&server->open, true);
}

void replay_server_destroy(replay_server_t **self_p)
{
    replay_server_t *server = *self_p;
    if (!server)
        return;
    if (server->started) {
        uint64_t one = 1;
        ssize_t written = write(server->stop_fd, &one, sizeof one);
        (void)written;
        pthread_join(server->thread, NULL);
    }
    if (server->router)
        zmq_close(server->router);
    zap_destroy(&server->zap);
    buskeys_destroy(&server->keys);
    if (server->ctx)
        zmq_ctx_term(server->ctx);
    db_destroy(&server->db);
    if (server->stop_fd >= 0)
        close(server->stop_fd);
    free(server->dsn);
    free(server->bind);
    free(server->stream);
    free(server->app_name);
    free(server);
    *self_p = NULL;
}

int replay_query_head(const curve_t *curve, const char *endpoint, const char *server_key,
                      const char *stream, int timeout_ms, Conveyor__ReplayEnd **end_out)
{
    *end_out = NULL;
    int rc = -1, linger = 0;
    void *ctx = zmq_ctx_new();
    void *dealer = ctx ? zmq_socket(ctx, ZMQ_DEALER) : NULL;
    uint8_t *buf = NULL;
    if (!dealer)
        goto done;
    zmq_setsockopt(dealer, ZMQ_LINGER, &linger, sizeof linger);
    if (curve_client(curve, dealer, server_key) != 0 || zmq_connect(dealer, endpoint) != 0) {
        log_error("could not reach the replay endpoint", LF_STR("endpoint", endpoint),
                  LF_STR("error", zmq_strerror(errno)), LF_ERR("bad_endpoint"));
        goto done;
    }
    Conveyor__ReplayRequest request = CONVEYOR__REPLAY_REQUEST__INIT;
    request.stream = pb_lend(stream);
    request.from_seq = 1;
    request.head_only = true;
    request.request_id = (uint64_t)clock_mono_ms();
    size_t len = conveyor__replay_request__get_packed_size(&request);
    buf = malloc(len ? len : 1);
    if (!buf)
        goto done;
    conveyor__replay_request__pack(&request, buf);
    if (zmq_send(dealer, REPLAY_CMD_REQUEST, strlen(REPLAY_CMD_REQUEST), ZMQ_SNDMORE) < 0 ||
        zmq_send(dealer, buf, len, 0) < 0)
        goto done;
    int64_t deadline = clock_mono_ms() + timeout_ms;
    while (!*end_out) {
        int64_t left = deadline - clock_mono_ms();
        zmq_pollitem_t item = {dealer, 0, ZMQ_POLLIN, 0};
        if (left <= 0 || zmq_poll(&item, 1, (long)left) <= 0)
            break;
        zmq_msg_t command, body;
        zmq_msg_init(&command);
        zmq_msg_init(&body);
        if (zmq_msg_recv(&command, dealer, 0) >= 0 && zmq_msg_more(&command) &&
            zmq_msg_recv(&body, dealer, 0) >= 0 && !zmq_msg_more(&body) &&
            zmq_msg_size(&command) == strlen(REPLAY_CMD_END) &&
            memcmp(zmq_msg_data(&command), REPLAY_CMD_END, strlen(REPLAY_CMD_END)) == 0) {
            Conveyor__ReplayEnd *end =
                conveyor__replay_end__unpack(NULL, zmq_msg_size(&body), zmq_msg_data(&body));
            if (end && end->request_id == request.request_id && strcmp(end->stream, stream) == 0)
                *end_out = end;
            else if (end)
                conveyor__replay_end__free_unpacked(end, NULL);
        }
        zmq_msg_close(&command);
        zmq_msg_close(&body);
    }
    if (*end_out)
        rc = 0;
    else
        log_error("the replay endpoint did not answer (is it running, and is the key right?)",
                  LF_STR("endpoint", endpoint), LF_STR("stream", stream),
                  LF_INT("timeout_ms", timeout_ms), LF_ERR("replay_timeout"));
done:
    free(buf);
    if (dealer)
        zmq_close(dealer);
    if (ctx)
        zmq_ctx_term(ctx);
    return rc;
}
