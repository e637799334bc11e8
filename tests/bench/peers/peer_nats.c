/*
 * peer_nats.c — NATS JetStream under the bus's workload (make
 * bench-peers, tests/bench/peers/peers.sh): COUNT messages of SIZE bytes
 * from one producer to one consumer through one stream, with libnats (C,
 * so the client is never the limit).
 *
 *   peer_nats URL MODE STREAM COUNT SIZE
 *
 * The stream has file storage and one replica; the producer publishes
 * asynchronously with at most PEER_WINDOW acknowledgements outstanding and
 * waits for every one; the consumer is a durable pull consumer with
 * explicit acks, fetching PEER_BATCH at a time and acking each message.
 * How often the server syncs its files is the server's (its store
 * directory: peers.sh); MODE only names the run. The stream is created by
 * the consumer before the producer starts and deleted at the end. Output:
 * one line of key=value pairs (peer.h); exit 1 when a message is lost,
 * duplicated or out of order.
 */
#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tests/bench/peers/peer.h"

#define PEER_WINDOW  1000
#define PEER_BATCH   500
#define PEER_WAIT_MS 60000

typedef struct {
    const char *url;
    const char *mode;
    const char *stream;
    char subject[128];
    peer_workload_t w;
    peer_result_t r;
    atomic_int ready; /* 1 consuming, -1 failed */
    atomic_llong publish_errors;
} run_t;

static int failed(natsStatus s, jsErrCode jerr, const char *what)
{
    if (s == NATS_OK)
        return 0;
    fprintf(stderr, "peer_nats: %s: %s (JetStream error %d)\n", what, natsStatus_GetText(s),
            (int)jerr);
    return -1;
}

/* connect_js: a connection and its JetStream context with OPTS, or -1 */
static int connect_js(const run_t *run, jsOptions *opts, natsConnection **nc, jsCtx **js)
{
    *nc = NULL;
    *js = NULL;
    if (failed(natsConnection_ConnectTo(nc, run->url), 0, "connect") != 0)
        return -1;
    if (failed(natsConnection_JetStream(js, *nc, opts), 0, "JetStream context") != 0) {
        natsConnection_Destroy(*nc);
        *nc = NULL;
        return -1;
    }
    return 0;
}

static void disconnect_js(natsConnection *nc, jsCtx *js)
{
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
}

static void *consume(void *arg)
{
    run_t *run = arg;
    natsConnection *nc;
    jsCtx *js;
    natsSubscription *sub = NULL;
    jsErrCode jerr = 0;
    if (connect_js(run, NULL, &nc, &js) != 0) {
        atomic_store(&run->ready, -1);
        return NULL;
    }
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    const char *subjects[] = {run->subject};
    cfg.Name = run->stream;
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_FileStorage;
    cfg.Replicas = 1;
    jsStreamInfo *si = NULL;
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Config.AckPolicy = js_AckExplicit;
    so.Config.MaxAckPending = PEER_WINDOW;
    if (failed(js_AddStream(&si, js, &cfg, NULL, &jerr), jerr, "create the stream") != 0 ||
        failed(js_PullSubscribe(&sub, js, run->subject, "consumer", NULL, &so, &jerr), jerr,
               "pull subscribe") != 0) {
        jsStreamInfo_Destroy(si);
        atomic_store(&run->ready, -1);
        disconnect_js(nc, js);
        return NULL;
    }
    jsStreamInfo_Destroy(si);
    atomic_store(&run->ready, 1);
    int64_t idle_since = peer_now_us();
    while (run->r.received < run->w.count) {
        natsMsgList list = {0};
        int64_t left = run->w.count - run->r.received;
        natsStatus s = natsSubscription_Fetch(
            &list, sub, left < PEER_BATCH ? (int)left : PEER_BATCH, 1000, &jerr);
        if (s == NATS_TIMEOUT) {
            if (peer_now_us() - idle_since > (int64_t)PEER_WAIT_MS * 1000) {
                fprintf(stderr, "peer_nats: consumer: nothing for %d s after %lld messages\n",
                        PEER_WAIT_MS / 1000, (long long)run->r.received);
                break;
            }
            continue;
        }
        if (failed(s, jerr, "fetch") != 0)
            break;
        for (int i = 0; i < list.Count; i++) {
            peer_payload_check(&run->r, natsMsg_GetData(list.Msgs[i]),
                               (size_t)natsMsg_GetDataLength(list.Msgs[i]));
            natsMsg_Ack(list.Msgs[i], NULL);
        }
        natsMsgList_Destroy(&list);
        idle_since = peer_now_us();
    }
    natsSubscription_Destroy(sub);
    disconnect_js(nc, js);
    return NULL;
}

static void publish_failed(jsCtx *js, jsPubAckErr *pae, void *closure)
{
    (void)js;
    run_t *run = closure;
    if (atomic_fetch_add(&run->publish_errors, 1) == 0)
        fprintf(stderr, "peer_nats: producer: a publish failed: %s\n",
                pae->ErrText ? pae->ErrText : natsStatus_GetText(pae->Err));
}

static int produce(run_t *run)
{
    jsOptions opts;
    jsOptions_Init(&opts);
    opts.PublishAsync.MaxPending = PEER_WINDOW;
    opts.PublishAsync.StallWait = PEER_WAIT_MS;
    opts.PublishAsync.ErrHandler = publish_failed;
    opts.PublishAsync.ErrHandlerClosure = run;
    natsConnection *nc;
    jsCtx *js;
    if (connect_js(run, &opts, &nc, &js) != 0)
        return -1;
    int status = 0;
    unsigned char *body = malloc(run->w.size);
    if (!body) {
        fprintf(stderr, "peer_nats: out of memory\n");
        disconnect_js(nc, js);
        return -1;
    }
    run->r.first_send_us = peer_now_us();
    for (int64_t i = 0; i < run->w.count; i++) {
        peer_payload_fill(body, run->w.size, i);
        natsStatus s = js_PublishAsync(js, run->subject, body, (int)run->w.size, NULL);
        if (failed(s, 0, "publish") != 0) {
            status = -1;
            break;
        }
        run->r.sent++;
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = PEER_WAIT_MS;
    if (failed(js_PublishAsyncComplete(js, &po), 0, "wait for the acknowledgements") != 0)
        status = -1;
    if (atomic_load(&run->publish_errors) > 0) {
        fprintf(stderr, "peer_nats: producer: %lld publishes failed\n",
                (long long)atomic_load(&run->publish_errors));
        status = -1;
    }
    free(body);
    disconnect_js(nc, js);
    return status;
}

static void delete_stream(const run_t *run)
{
    natsConnection *nc;
    jsCtx *js;
    jsErrCode jerr = 0;
    if (connect_js(run, NULL, &nc, &js) != 0)
        return;
    failed(js_DeleteStream(js, run->stream, NULL, &jerr), jerr, "delete the stream");
    disconnect_js(nc, js);
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: peer_nats URL MODE STREAM COUNT SIZE\n");
        return 2;
    }
    run_t run = {.url = argv[1], .mode = argv[2], .stream = argv[3]};
    int n = snprintf(run.subject, sizeof run.subject, "peer.%s", run.stream);
    if (n < 0 || (size_t)n >= sizeof run.subject || strpbrk(run.stream, ".*> \t") != NULL) {
        fprintf(stderr, "peer_nats: STREAM '%s' is not a plain name under 100 bytes\n", run.stream);
        return 2;
    }
    if (peer_workload_parse(argv[4], argv[5], &run.w) != 0)
        return 2;
    pthread_t consumer;
    if (pthread_create(&consumer, NULL, consume, &run) != 0) {
        fprintf(stderr, "peer_nats: cannot start the consumer thread\n");
        return 1;
    }
    while (atomic_load(&run.ready) == 0) {
        struct timespec ms = {.tv_nsec = 1000000};
        nanosleep(&ms, NULL);
    }
    int status = atomic_load(&run.ready) == 1 ? produce(&run) : -1;
    pthread_join(consumer, NULL);
    delete_stream(&run);
    nats_Close();
    if (status != 0)
        return 1;
    return peer_report("nats", run.mode, &run.w, &run.r) == 0 ? 0 : 1;
}
