/*
 * busprobe.c — an outsider on the bus, for the security tests: it does what
 * an attacker (or a careless client) would, with whatever key the
 * environment gives it (BUS_CERT, BUS_SERVER_KEY; BUS_SECURITY=off for no
 * key at all), and prints what came of it. It never asserts: the test
 * reading its output does.
 *
 *   busprobe listen ENDPOINT PREFIX MS
 *       subscribes to PREFIX at busd's XPUB for MS milliseconds;
 *       prints "received N"
 *   busprobe publish ENDPOINT TOPIC STREAM SEQ EPOCH COUNT [CORRELATION]
 *       publishes COUNT kit.tick-shaped events on TOPIC whose envelope
 *       names STREAM, seq SEQ, SEQ+1 ... (0: seq-less), EPOCH; prints
 *       "sent N heard_subscriber yes|no"
 *   busprobe batch ENDPOINT STREAM TYPE SEQ EPOCH COUNT CORRELATION [cut|mixed]
 *       publishes COUNT events of STREAM/TYPE as ONE batch frame
 *       (common/busbatch.h), as a relay does: kit.tick-shaped, or for
 *       $hb heartbeats of last_seq SEQ, all of seq SEQ; "cut" drops the
 *       frame's last byte, "mixed" names another stream in the last
 *       envelope; prints "sent N heard_subscriber yes|no"
 *   busprobe garbage ENDPOINT TOPIC COUNT SIZE
 *       publishes COUNT frames of SIZE bytes that are no envelope
 *   busprobe replay ENDPOINT STREAM|@LEN [FROM_SEQ]
 *       asks a replay endpoint (server key: BUS_PEER_KEY) for STREAM, or
 *       for a stream name of LEN bytes; prints "answered status S events
 *       N" or "no answer"
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "common/busbatch.h"
#include "common/clock.h"
#include "common/curve.h"
#include "common/envelope.h"
#include "common/log.h"
#include "common/numparse.h"
#include "common/replay.h"
#include "common/uuid.h"
#include "conveyor/testing.pb-c.h"

static curve_t *curve;

static void *open_socket(void *ctx, int type, const char *server_key)
{
    void *socket = zmq_socket(ctx, type);
    int linger = 1000;
    zmq_setsockopt(socket, ZMQ_LINGER, &linger, sizeof linger);
    if (curve_client(curve, socket, server_key) != 0)
        exit(1);
    return socket;
}

static int listen_for(void *ctx, const char *endpoint, const char *prefix, int64_t ms)
{
    void *sub = open_socket(ctx, ZMQ_SUB, NULL);
    zmq_setsockopt(sub, ZMQ_SUBSCRIBE, prefix, strlen(prefix));
    zmq_connect(sub, endpoint);
    long long received = 0;
    int64_t deadline = clock_mono_ms() + ms;
    for (int64_t left = ms; left > 0; left = deadline - clock_mono_ms()) {
        zmq_pollitem_t item = {sub, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, (long)left) <= 0)
            continue;
        zmq_msg_t part;
        zmq_msg_init(&part);
        while (zmq_msg_recv(&part, sub, ZMQ_DONTWAIT) >= 0)
            if (!zmq_msg_more(&part))
                received++;
        zmq_msg_close(&part);
    }
    printf("received %lld\n", received);
    zmq_close(sub);
    return 0;
}

/* An XPUB publisher that waits up to 3 s for busd to pass a subscription
 * on (it never does for a key busd refused). */
static void *open_publisher(void *ctx, const char *endpoint, bool *heard)
{
    void *pub = open_socket(ctx, ZMQ_XPUB, NULL);
    int timeout = 3000;
    zmq_setsockopt(pub, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    zmq_connect(pub, endpoint);
    char subscription[256];
    *heard = zmq_recv(pub, subscription, sizeof subscription, 0) > 0;
    return pub;
}

/* A packed envelope of one event of stream, with a fresh id and payload's
 * bytes; caller frees *out. 0, or -1 when out of memory. */
static int probe_envelope_pack(const char *stream, const char *type, uint64_t seq, uint64_t epoch,
                               const char *correlation, uint8_t *payload, size_t payload_len,
                               uint8_t **out, size_t *out_len)
{
    char event_id[UUID_TEXT_SIZE];
    uuid_v4(event_id);
    Conveyor__Envelope env = CONVEYOR__ENVELOPE__INIT;
    env.event_id = event_id;
    env.stream = pb_lend(stream);
    env.seq = seq;
    env.epoch = epoch;
    env.type = pb_lend(type);
    env.correlation_id = pb_lend(correlation);
    env.occurred_at_ms = clock_now_ms();
    env.schema_version = 1;
    env.payload.data = payload;
    env.payload.len = payload_len;
    return envelope_pack_alloc(&env, out, out_len);
}

static int publish(void *ctx, char **argv, int argc)
{
    const char *endpoint = argv[0], *topic = argv[1], *stream = argv[2];
    int64_t seq = 0, epoch = 0, count = 0;
    if (numparse_int_range(argv[3], 0, INT64_MAX, &seq) != 0 ||
        numparse_int_range(argv[4], 0, INT64_MAX, &epoch) != 0 ||
        numparse_int_range(argv[5], 1, 1000000, &count) != 0)
        return 2;
    const char *slash = strchr(topic, '/');
    if (!slash)
        return 2;
    bool heard = false;
    void *pub = open_publisher(ctx, endpoint, &heard);
    for (int64_t i = 0; i < count; i++) {
        Conveyor__KitTick tick = CONVEYOR__KIT_TICK__INIT;
        tick.n = (uint64_t)(seq ? seq + i : i + 1);
        tick.committed_at_us = clock_now_ms() * 1000;
        uint8_t payload[64];
        size_t payload_len = conveyor__kit_tick__pack(&tick, payload);
        uint8_t *envelope = NULL;
        size_t envelope_len = 0;
        if (probe_envelope_pack(stream, slash + 1, (uint64_t)(seq ? seq + i : 0), (uint64_t)epoch,
                                argc > 6 ? argv[6] : "probe", payload, payload_len, &envelope,
                                &envelope_len) != 0)
            return 1;
        zmq_send(pub, topic, strlen(topic), ZMQ_SNDMORE);
        zmq_send(pub, envelope, envelope_len, 0);
        free(envelope);
    }
    printf("sent %lld heard_subscriber %s\n", (long long)count, heard ? "yes" : "no");
    zmq_close(pub);
    return 0;
}

static int batch(void *ctx, char **argv, int argc)
{
    const char *endpoint = argv[0], *stream = argv[1], *type = argv[2], *correlation = argv[6];
    const char *how = argc > 7 ? argv[7] : "";
    int64_t seq = 0, epoch = 0, count = 0;
    if (numparse_int_range(argv[3], 0, INT64_MAX, &seq) != 0 ||
        numparse_int_range(argv[4], 0, INT64_MAX, &epoch) != 0 ||
        numparse_int_range(argv[5], 1, BUS_BATCH_EVENTS_MAX, &count) != 0)
        return 2;
    bool heartbeat = strcmp(type, BUS_TYPE_HEARTBEAT) == 0;
    bus_batch_t *frame = bus_batch_new();
    if (!frame)
        return 1;
    for (int64_t i = 0; i < count; i++) {
        uint8_t payload[64];
        size_t payload_len;
        if (heartbeat) {
            Conveyor__Heartbeat beat = CONVEYOR__HEARTBEAT__INIT;
            beat.last_seq = (uint64_t)seq;
            payload_len = conveyor__heartbeat__pack(&beat, payload);
        } else {
            Conveyor__KitTick tick = CONVEYOR__KIT_TICK__INIT;
            tick.n = (uint64_t)(seq + i);
            tick.committed_at_us = clock_now_ms() * 1000;
            payload_len = conveyor__kit_tick__pack(&tick, payload);
        }
        uint8_t *envelope = NULL;
        size_t envelope_len = 0;
        if (probe_envelope_pack(i == count - 1 && strcmp(how, "mixed") == 0 ? "kitother" : stream,
                                type, (uint64_t)(heartbeat ? seq : seq + i), (uint64_t)epoch,
                                correlation, payload, payload_len, &envelope, &envelope_len) != 0 ||
            bus_batch_add(frame, envelope, envelope_len) != 0)
            return 1;
        free(envelope);
    }
    bool heard = false;
    void *pub = open_publisher(ctx, endpoint, &heard);
    size_t len = frame->len - (strcmp(how, "cut") == 0 ? 1 : 0);
    int sent = zmq_send(pub, frame->buf, len, 0) == (int)len;
    printf("sent %lld heard_subscriber %s\n", sent ? (long long)count : 0LL, heard ? "yes" : "no");
    bus_batch_destroy(&frame);
    zmq_close(pub);
    return 0;
}

static int garbage(void *ctx, char **argv)
{
    int64_t count = 0, size = 0;
    if (numparse_int_range(argv[2], 1, 1000000, &count) != 0 ||
        numparse_int_range(argv[3], 1, 1 << 20, &size) != 0)
        return 2;
    bool heard = false;
    void *pub = open_publisher(ctx, argv[0], &heard);
    uint8_t *body = malloc((size_t)size);
    if (!body)
        return 1;
    for (int64_t i = 0; i < count; i++) {
        memset(body, 0xff, (size_t)size);
        memcpy(body, &i, sizeof i < (size_t)size ? sizeof i : (size_t)size);
        zmq_send(pub, argv[1], strlen(argv[1]), ZMQ_SNDMORE);
        zmq_send(pub, body, (size_t)size, 0);
    }
    free(body);
    printf("sent %lld heard_subscriber %s\n", (long long)count, heard ? "yes" : "no");
    zmq_close(pub);
    return 0;
}

static int replay(void *ctx, char **argv, int argc)
{
    char *stream = argv[1];
    int64_t len = 0, from = 1;
    if (stream[0] == '@') {
        if (numparse_int_range(stream + 1, 1, 4000, &len) != 0)
            return 2;
        stream = malloc((size_t)len + 1);
        memset(stream, 's', (size_t)len);
        stream[len] = '\0';
    }
    if (argc > 2 && numparse_int_range(argv[2], 1, INT64_MAX, &from) != 0)
        return 2;
    void *dealer = open_socket(ctx, ZMQ_DEALER, getenv("BUS_PEER_KEY"));
    zmq_connect(dealer, argv[0]);
    Conveyor__ReplayRequest request = CONVEYOR__REPLAY_REQUEST__INIT;
    request.stream = stream;
    request.from_seq = (uint64_t)from;
    request.request_id = 7;
    size_t packed_len = conveyor__replay_request__get_packed_size(&request);
    uint8_t *packed = malloc(packed_len + 1);
    conveyor__replay_request__pack(&request, packed);
    zmq_send(dealer, REPLAY_CMD_REQUEST, strlen(REPLAY_CMD_REQUEST), ZMQ_SNDMORE);
    zmq_send(dealer, packed, packed_len, 0);
    free(packed);
    long long events = 0;
    int status = -1;
    int64_t deadline = clock_mono_ms() + 3000;
    while (status < 0) {
        int64_t left = deadline - clock_mono_ms();
        zmq_pollitem_t item = {dealer, 0, ZMQ_POLLIN, 0};
        if (left <= 0 || zmq_poll(&item, 1, (long)left) <= 0)
            break;
        zmq_msg_t parts[4];
        int count = 0;
        bool more = true;
        while (more && count < 4) {
            zmq_msg_init(&parts[count]);
            if (zmq_msg_recv(&parts[count], dealer, 0) < 0) {
                zmq_msg_close(&parts[count]);
                break;
            }
            more = zmq_msg_more(&parts[count]);
            count++;
        }
        if (count == 2 && zmq_msg_size(&parts[0]) == 3 &&
            memcmp(zmq_msg_data(&parts[0]), "END", 3) == 0) {
            Conveyor__ReplayEnd *answer = conveyor__replay_end__unpack(
                NULL, zmq_msg_size(&parts[1]), zmq_msg_data(&parts[1]));
            status = answer ? (int)answer->status : 99;
            if (answer)
                conveyor__replay_end__free_unpacked(answer, NULL);
        } else {
            events++;
        }
        for (int i = 0; i < count; i++)
            zmq_msg_close(&parts[i]);
    }
    if (status >= 0)
        printf("answered status %d events %lld\n", status, events);
    else
        printf("no answer\n");
    if (stream != argv[1])
        free(stream);
    zmq_close(dealer);
    return 0;
}

int main(int argc, char **argv)
{
    log_init("busprobe", LOG_WARN);
    log_set_output(stderr); /* stdout is the one line a test reads */
    curve = curve_from_env(true, false);
    if (!curve)
        return 2;
    void *ctx = zmq_ctx_new();
    int rc = 2;
    if (argc == 5 && strcmp(argv[1], "listen") == 0) {
        int64_t ms = 0;
        if (numparse_int_range(argv[4], 1, 600000, &ms) == 0)
            rc = listen_for(ctx, argv[2], argv[3], ms);
    } else if ((argc == 8 || argc == 9) && strcmp(argv[1], "publish") == 0) {
        rc = publish(ctx, argv + 2, argc - 2);
    } else if ((argc == 9 || argc == 10) && strcmp(argv[1], "batch") == 0) {
        rc = batch(ctx, argv + 2, argc - 2);
    } else if (argc == 6 && strcmp(argv[1], "garbage") == 0) {
        rc = garbage(ctx, argv + 2);
    } else if ((argc == 4 || argc == 5) && strcmp(argv[1], "replay") == 0) {
        rc = replay(ctx, argv + 2, argc - 2);
    } else {
        fprintf(stderr,
                "usage: busprobe listen|publish|batch|garbage|replay ... (see busprobe.c)\n");
    }
    zmq_ctx_term(ctx);
    curve_destroy(&curve);
    return rc;
}
