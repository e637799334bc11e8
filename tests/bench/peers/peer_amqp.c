/*
 * peer_amqp.c — RabbitMQ under the bus's workload (make bench-peers,
 * tests/bench/peers/peers.sh): COUNT messages of SIZE bytes from one
 * producer to one consumer through one queue, with librabbitmq (C, so the
 * client is never the limit).
 *
 *   peer_amqp HOST PORT MODE QUEUE COUNT SIZE
 *
 * MODE classic / quorum: a durable queue of that type, persistent messages
 * (delivery mode 2), publisher confirms with at most PEER_WINDOW
 * unconfirmed, the consumer with a prefetch of PEER_WINDOW and manual acks
 * (one ack covering the last PEER_ACK_EVERY deliveries, as the bus's
 * consumer commits a batch). MODE transient: a non-durable classic queue,
 * transient messages, no confirms, same consumer — the ceiling of this
 * client, which must be faster than the durable runs.
 * The queue is declared by the consumer before the producer starts and
 * deleted at the end. Output: one line of key=value pairs (peer.h); exit 1
 * when a message is lost, duplicated or out of order.
 */
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "common/numparse.h"
#include "tests/bench/peers/peer.h"

#define PEER_WINDOW    1000
#define PEER_ACK_EVERY 100
#define PEER_WAIT_S    60

typedef struct {
    const char *host;
    int port;
    const char *mode;
    const char *queue;
    int durable; /* classic or quorum: durable queue, persistent, confirms */
    peer_workload_t w;
    peer_result_t r;
    atomic_int ready; /* 1 consuming, -1 failed */
} run_t;

/* reply_ok: 0 for a normal reply, or -1 saying what failed */
static int reply_ok(amqp_rpc_reply_t x, const char *what)
{
    if (x.reply_type == AMQP_RESPONSE_NORMAL)
        return 0;
    if (x.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION)
        fprintf(stderr, "peer_amqp: %s: %s\n", what, amqp_error_string2(x.library_error));
    else if (x.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
             x.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        const amqp_channel_close_t *m = x.reply.decoded;
        fprintf(stderr, "peer_amqp: %s: channel closed by the server: %.*s\n", what,
                (int)m->reply_text.len, (const char *)m->reply_text.bytes);
    } else
        fprintf(stderr, "peer_amqp: %s: failed (reply type %d, method 0x%08x)\n", what,
                (int)x.reply_type, (unsigned)x.reply.id);
    return -1;
}

/* open_channel: a logged-in connection with channel 1 open, or NULL */
static amqp_connection_state_t open_channel(const run_t *run, const char *who)
{
    amqp_connection_state_t c = amqp_new_connection();
    amqp_socket_t *sock = c ? amqp_tcp_socket_new(c) : NULL;
    if (!sock || amqp_socket_open(sock, run->host, run->port) != AMQP_STATUS_OK) {
        fprintf(stderr, "peer_amqp: %s: cannot connect to %s:%d\n", who, run->host, run->port);
        if (c)
            amqp_destroy_connection(c);
        return NULL;
    }
    if (reply_ok(amqp_login(c, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest"),
                 "login") != 0 ||
        (amqp_channel_open(c, 1), reply_ok(amqp_get_rpc_reply(c), "channel.open")) != 0) {
        amqp_destroy_connection(c);
        return NULL;
    }
    return c;
}

static void close_channel(amqp_connection_state_t c)
{
    amqp_channel_close(c, 1, AMQP_REPLY_SUCCESS);
    amqp_connection_close(c, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(c);
}

static int declare_queue(amqp_connection_state_t c, const run_t *run)
{
    amqp_table_entry_t type = {.key = amqp_cstring_bytes("x-queue-type"),
                               .value = {.kind = AMQP_FIELD_KIND_UTF8}};
    type.value.value.bytes =
        amqp_cstring_bytes(strcmp(run->mode, "quorum") == 0 ? "quorum" : "classic");
    amqp_table_t args = {.num_entries = 1, .entries = &type};
    amqp_queue_declare(c, 1, amqp_cstring_bytes(run->queue), 0, run->durable, 0, 0, args);
    return reply_ok(amqp_get_rpc_reply(c), "queue.declare");
}

static void *consume(void *arg)
{
    run_t *run = arg;
    amqp_connection_state_t c = open_channel(run, "consumer");
    if (!c || declare_queue(c, run) != 0) {
        atomic_store(&run->ready, -1);
        if (c)
            close_channel(c);
        return NULL;
    }
    amqp_basic_qos(c, 1, 0, PEER_WINDOW, 0);
    if (reply_ok(amqp_get_rpc_reply(c), "basic.qos") != 0 ||
        (amqp_basic_consume(c, 1, amqp_cstring_bytes(run->queue), amqp_empty_bytes, 0, 0, 0,
                            amqp_empty_table),
         reply_ok(amqp_get_rpc_reply(c), "basic.consume")) != 0) {
        atomic_store(&run->ready, -1);
        close_channel(c);
        return NULL;
    }
    atomic_store(&run->ready, 1);
    struct timeval wait = {.tv_sec = PEER_WAIT_S};
    while (run->r.received < run->w.count) {
        amqp_envelope_t env;
        amqp_maybe_release_buffers(c);
        amqp_rpc_reply_t x = amqp_consume_message(c, &env, &wait, 0);
        if (x.reply_type != AMQP_RESPONSE_NORMAL) {
            fprintf(stderr, "peer_amqp: consumer: nothing for %d s after %lld messages\n",
                    PEER_WAIT_S, (long long)run->r.received);
            break;
        }
        peer_payload_check(&run->r, env.message.body.bytes, env.message.body.len);
        if (run->r.received % PEER_ACK_EVERY == 0 || run->r.received == run->w.count)
            amqp_basic_ack(c, 1, env.delivery_tag, 1);
        amqp_destroy_envelope(&env);
    }
    close_channel(c);
    return NULL;
}

/* confirms: the broker's publisher confirms, tag by tag (tags 1..count) */
typedef struct {
    unsigned char *acked; /* one byte a tag */
    int64_t low;          /* every tag up to low is confirmed */
    int64_t count;        /* confirmed tags */
    int64_t total;        /* tags there will be */
} confirms_t;

/* confirms_wait: reads frames until every tag up to UNTIL is confirmed */
static int confirms_wait(amqp_connection_state_t c, confirms_t *cf, int64_t until)
{
    for (;;) {
        while (cf->low < cf->total && cf->acked[cf->low + 1])
            cf->low++;
        if (cf->low >= until)
            return 0;
        amqp_frame_t f;
        struct timeval wait = {.tv_sec = PEER_WAIT_S};
        int rc = amqp_simple_wait_frame_noblock(c, &f, &wait);
        if (rc != AMQP_STATUS_OK) {
            fprintf(stderr, "peer_amqp: producer: waiting for confirms: %s\n",
                    amqp_error_string2(rc));
            return -1;
        }
        if (f.frame_type != AMQP_FRAME_METHOD)
            continue;
        if (f.payload.method.id == AMQP_BASIC_ACK_METHOD) {
            const amqp_basic_ack_t *a = f.payload.method.decoded;
            int64_t tag = (int64_t)a->delivery_tag;
            if (tag < 1 || tag > cf->total) {
                fprintf(stderr, "peer_amqp: producer: a confirm for tag %lld, never sent\n",
                        (long long)tag);
                return -1;
            }
            int64_t from = a->multiple ? cf->low + 1 : tag;
            for (int64_t t = from; t <= tag; t++)
                if (!cf->acked[t]) {
                    cf->acked[t] = 1;
                    cf->count++;
                }
        } else {
            fprintf(stderr,
                    "peer_amqp: producer: the broker answered method 0x%08x (nack or "
                    "close) instead of a confirm\n",
                    (unsigned)f.payload.method.id);
            return -1;
        }
        amqp_maybe_release_buffers(c);
    }
}

static int produce(run_t *run)
{
    amqp_connection_state_t c = open_channel(run, "producer");
    if (!c)
        return -1;
    int status = 0;
    confirms_t cf = {.acked = calloc((size_t)run->w.count + 2, 1), .total = run->w.count};
    unsigned char *body = malloc(run->w.size);
    if (!cf.acked || !body) {
        fprintf(stderr, "peer_amqp: out of memory\n");
        status = -1;
        goto out;
    }
    if (run->durable) {
        amqp_confirm_select(c, 1);
        if (reply_ok(amqp_get_rpc_reply(c), "confirm.select") != 0) {
            status = -1;
            goto out;
        }
    }
    amqp_basic_properties_t props = {._flags = AMQP_BASIC_DELIVERY_MODE_FLAG,
                                     .delivery_mode = run->durable ? 2 : 1};
    run->r.first_send_us = peer_now_us();
    for (int64_t i = 0; i < run->w.count; i++) {
        if (run->durable && i - cf.low >= PEER_WINDOW &&
            confirms_wait(c, &cf, i - PEER_WINDOW + 1) != 0) {
            status = -1;
            goto out;
        }
        peer_payload_fill(body, run->w.size, i);
        amqp_bytes_t b = {.len = run->w.size, .bytes = body};
        int rc = amqp_basic_publish(c, 1, amqp_empty_bytes, amqp_cstring_bytes(run->queue), 0, 0,
                                    &props, b);
        if (rc != AMQP_STATUS_OK) {
            fprintf(stderr, "peer_amqp: producer: publish %lld: %s\n", (long long)i,
                    amqp_error_string2(rc));
            status = -1;
            goto out;
        }
        run->r.sent++;
    }
    if (run->durable && confirms_wait(c, &cf, run->w.count) != 0)
        status = -1;
out:
    free(body);
    free(cf.acked);
    close_channel(c);
    return status;
}

static void delete_queue(const run_t *run)
{
    amqp_connection_state_t c = open_channel(run, "cleanup");
    if (!c)
        return;
    amqp_queue_delete(c, 1, amqp_cstring_bytes(run->queue), 0, 0);
    reply_ok(amqp_get_rpc_reply(c), "queue.delete");
    close_channel(c);
}

int main(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: peer_amqp HOST PORT classic|quorum|transient QUEUE COUNT SIZE\n");
        return 2;
    }
    run_t run = {.host = argv[1], .mode = argv[3], .queue = argv[4]};
    int64_t port;
    if (numparse_int_range(argv[2], 1, 65535, &port) != 0) {
        fprintf(stderr, "peer_amqp: PORT '%s' is not a port\n", argv[2]);
        return 2;
    }
    run.port = (int)port;
    if (strcmp(run.mode, "classic") == 0 || strcmp(run.mode, "quorum") == 0)
        run.durable = 1;
    else if (strcmp(run.mode, "transient") != 0) {
        fprintf(stderr, "peer_amqp: MODE '%s' is not classic, quorum or transient\n", run.mode);
        return 2;
    }
    if (peer_workload_parse(argv[5], argv[6], &run.w) != 0)
        return 2;
    pthread_t consumer;
    if (pthread_create(&consumer, NULL, consume, &run) != 0) {
        fprintf(stderr, "peer_amqp: cannot start the consumer thread\n");
        return 1;
    }
    while (atomic_load(&run.ready) == 0) {
        struct timespec ms = {.tv_nsec = 1000000};
        nanosleep(&ms, NULL);
    }
    int status = atomic_load(&run.ready) == 1 ? produce(&run) : -1;
    pthread_join(consumer, NULL);
    delete_queue(&run);
    if (status != 0)
        return 1;
    return peer_report("rabbitmq", run.mode, &run.w, &run.r) == 0 ? 0 : 1;
}
