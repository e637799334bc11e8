/*
 * bench_zmq.c — the baseline beside the durable figure: raw ZeroMQ
 * PUB/SUB messages per second through busd, same size, same machine, same
 * run (tests/bench/run.sh). Nothing is stored and nothing is retried, so
 * whatever the subscriber misses is simply lost: both the rate and the
 * loss are printed.
 *
 *   bench_zmq PUB_ENDPOINT SUB_ENDPOINT COUNT SIZE
 *
 * Both sockets use the key in BUS_CERT (a service key "bench": it may
 * publish its stream and read), or none with BUS_SECURITY=off, so CURVE's
 * cost shows here too. The publisher sends "bench/warm" until the
 * subscriber hears one (its subscription has reached busd: no
 * slow-joiner loss), then the counted "bench/raw" messages.
 * Output: one line of key=value pairs.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "common/curve.h"
#include "common/log.h"
#include "common/numparse.h"

typedef struct {
    void *ctx;
    const curve_t *curve;
    atomic_bool ready; /* a warm-up message arrived */
    const char *endpoint;
    int64_t expected;
    int64_t received;
    int64_t first_us, last_us;
} subscriber_t;

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void *subscriber_main(void *arg)
{
    subscriber_t *sub = arg;
    void *socket = zmq_socket(sub->ctx, ZMQ_SUB);
    int hwm = 100000, timeout = 2000;
    zmq_setsockopt(socket, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(socket, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt(socket, ZMQ_SUBSCRIBE, "bench/", 6);
    if (curve_client(sub->curve, socket, NULL) != 0)
        exit(1);
    zmq_connect(socket, sub->endpoint);
    char buf[65536];
    bool warm = false;
    int silent = 0;
    while (sub->received < sub->expected) {
        int len = zmq_recv(socket, buf, sizeof buf, 0);
        if (len < 0) {
            if (atomic_load(&sub->ready) || ++silent > 5)
                break; /* 2 s of silence: the rest was lost */
            continue;
        }
        int more = 0;
        size_t more_size = sizeof more;
        zmq_getsockopt(socket, ZMQ_RCVMORE, &more, &more_size);
        if (more) {
            warm = len == 10 && memcmp(buf, "bench/warm", 10) == 0;
            continue; /* the topic frame; count the body */
        }
        if (warm) {
            atomic_store(&sub->ready, true);
            continue;
        }
        if (sub->received == 0)
            sub->first_us = now_us();
        sub->received++;
        sub->last_us = now_us();
    }
    zmq_close(socket);
    return NULL;
}

int main(int argc, char **argv)
{
    int64_t count = 0, size = 0;
    if (argc != 5 || numparse_int_range(argv[3], 1, 100000000, &count) != 0 ||
        numparse_int_range(argv[4], 1, 65536, &size) != 0) {
        fprintf(stderr, "usage: bench_zmq PUB_ENDPOINT SUB_ENDPOINT COUNT SIZE\n");
        return 2;
    }
    log_init("bench_zmq", LOG_WARN);
    log_set_output(stderr); /* stdout is the one line of figures */
    curve_t *curve = curve_from_env(true, false);
    if (!curve)
        return 2;
    void *ctx = zmq_ctx_new();
    subscriber_t sub = {.ctx = ctx, .curve = curve, .endpoint = argv[2], .expected = count};
    pthread_t thread;
    pthread_create(&thread, NULL, subscriber_main, &sub);

    void *pub = zmq_socket(ctx, ZMQ_XPUB);
    int hwm = 100000, timeout = 10000;
    zmq_setsockopt(pub, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(pub, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    if (curve_client(curve, pub, NULL) != 0)
        return 1;
    zmq_connect(pub, argv[1]);
    char subscription[64];
    if (zmq_recv(pub, subscription, sizeof subscription, 0) < 1) {
        fprintf(stderr, "bench_zmq: busd never let the publisher in\n");
        return 1;
    }
    /* warm up until the subscriber hears us */
    for (int i = 0; i < 1000 && !atomic_load(&sub.ready); i++) {
        zmq_send(pub, "bench/warm", 10, ZMQ_SNDMORE);
        zmq_send(pub, "w", 1, 0);
        struct timespec pause = {0, 10 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    if (!atomic_load(&sub.ready)) {
        fprintf(stderr, "bench_zmq: the subscriber never heard the publisher\n");
        return 1;
    }
    char *body = calloc(1, (size_t)size);
    int64_t started = now_us();
    for (int64_t i = 0; i < count; i++) {
        memcpy(body, &i, sizeof i < (size_t)size ? sizeof i : (size_t)size);
        zmq_send(pub, "bench/raw", 9, ZMQ_SNDMORE);
        zmq_send(pub, body, (size_t)size, 0);
    }
    int64_t sent_us = now_us() - started;
    pthread_join(thread, NULL);
    double seconds = (double)(sub.last_us - sub.first_us) / 1e6;
    printf("raw_zmq_pubsub size=%lld sent=%lld send_rate=%.0f received=%lld loss_pct=%.1f "
           "receive_rate=%.0f\n",
           (long long)size, (long long)count, (double)count / ((double)sent_us / 1e6),
           (long long)sub.received, 100.0 * (double)(count - sub.received) / (double)count,
           seconds > 0 ? (double)sub.received / seconds : 0.0);
    free(body);
    zmq_close(pub);
    zmq_ctx_term(ctx);
    curve_destroy(&curve);
    return 0;
}
