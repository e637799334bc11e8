/*
 * kitprod.c — the kit's test producer: a service built on common/service.h
 * that produces numbered "kit.tick" events on its stream "kitprod".
 *
 * The integration tests and the bus benchmark drive it:
 *
 *   kitprod serve                 the service; with KITPROD_COUNT > 0 a
 *                                 producer thread commits ticks 1..COUNT in
 *                                 transactions of KITPROD_BATCH, at
 *                                 KITPROD_RATE ticks/s (0: flat out),
 *                                 continuing where it stopped after a
 *                                 restart; POST /v1/produce adds more
 *   kitprod publish-external KEY COUNT
 *                                 publishes one seq-less "ext/kit.external"
 *                                 event COUNT times (as an outside system
 *                                 that retries would)
 *   kitprod publish-raw TOPIC     publishes a frame whose envelope does not
 *                                 parse
 *
 * Tick n carries correlation id "tick-<n mod 100>" unless produced over
 * HTTP with an explicit one.
 */
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "common/clock.h"
#include "common/curve.h"
#include "common/envelope.h"
#include "common/log.h"
#include "common/numparse.h"
#include "common/outbox.h"
#include "common/service.h"
#include "conveyor/testing.pb-c.h"

extern const migration_set_t app_migrations;

#define STREAM "kitprod"

static const config_spec_t kitprod_specs[] = {
    {"KITPROD_COUNT", "0", false, "ticks the producer thread commits in all"},
    {"KITPROD_BATCH", "100", false, "ticks per producer transaction"},
    {"KITPROD_RATE", "0", false, "ticks per second (0: as fast as it can)"},
    {"KITPROD_FILLER", "0", false, "bytes of filler per tick (benchmarks)"},
    CONFIG_SPEC_END,
};

typedef struct {
    service_t *svc;
    int64_t count, batch, rate, filler;
    pthread_t thread;
    bool threaded; /* the thread runs: joined by producer_stop */
    atomic_bool stop;
} producer_t;

/* service_on_stopping: the producer thread ends while the relay it wakes
 * still exists */
static void producer_stop(void *arg)
{
    producer_t *producer = arg;
    atomic_store(&producer->stop, true);
    if (producer->threaded)
        pthread_join(producer->thread, NULL);
    producer->threaded = false;
}

static int prepare(db_t *db, void *arg)
{
    (void)arg;
    return db_prepare(db, "kitprod_claim",
                      "UPDATE kitprod_state SET produced = produced + $1 WHERE id = 1 "
                      "RETURNING produced") |
           db_prepare(db, "kitprod_produced", "SELECT produced FROM kitprod_state WHERE id = 1") |
           db_prepare(db, "kitprod_commit_mark",
                      "INSERT INTO kitprod_commits (first_n, last_n) VALUES ($1, $2)") |
           outbox_prepare(db);
}

/* Commits `count` ticks in one transaction; first_out gets the first n.
 * With mark, the transaction also records its ticks in kitprod_commits
 * (the latency bench reads its commit time there). */
static db_status_t produce(db_t *db, int64_t count, const char *correlation, bool poison,
                           int64_t filler, bool mark, int64_t *first_out)
{
    PGresult *res = NULL;
    uint8_t *filler_bytes = NULL;
    db_status_t status = db_begin(db);
    if (status != DB_OK)
        return status;
    db_params_t params;
    db_params_init(&params);
    db_param_i64(&params, count);
    status = db_run(db, "kitprod_claim", &params, &res);
    if (status != DB_OK)
        goto done;
    int64_t last = 0;
    db_get_i64(res, 0, 0, &last);
    int64_t first = last - count + 1;
    if (mark) {
        db_params_t marks;
        db_params_init(&marks);
        db_param_i64(&marks, first);
        db_param_i64(&marks, last);
        status = db_run(db, "kitprod_commit_mark", &marks, NULL);
        if (status != DB_OK)
            goto done;
    }
    if (filler > 0)
        filler_bytes = calloc(1, (size_t)filler);
    for (int64_t n = first; n <= last && status == DB_OK; n++) {
        Conveyor__KitTick tick = CONVEYOR__KIT_TICK__INIT;
        tick.n = (uint64_t)n;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        tick.committed_at_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
        tick.poison = poison;
        if (filler_bytes) {
            tick.filler.data = filler_bytes;
            tick.filler.len = (size_t)filler;
        }
        char default_correlation[32];
        snprintf(default_correlation, sizeof default_correlation, "tick-%lld",
                 (long long)(n % 100));
        outbox_meta_t meta = {
            .stream = STREAM,
            .type = "kit.tick",
            .correlation_id = correlation ? correlation : default_correlation,
        };
        status = outbox_append_msg(db, &meta, &tick.base, NULL);
    }
    if (status == DB_OK)
        status = db_commit(db);
    if (status == DB_OK)
        *first_out = first;
done:
    if (status != DB_OK)
        db_rollback(db);
    PQclear(res);
    free(filler_bytes);
    return status;
}

static void *producer_main(void *arg)
{
    producer_t *producer = arg;
    db_t *db = db_pool_acquire(service_db_pool(producer->svc), 10000);
    if (!db) {
        log_error("producer has no database session", LF_ERR("pg_unavailable"));
        return NULL;
    }
    int64_t started = clock_mono_us(), produced_here = 0;
    /* how many ticks exist: read once, then from each transaction's claim
     * (which counts those POST /v1/produce added too), so that a
     * transaction costs the bench no extra round trip */
    int64_t produced = -1;
    while (!atomic_load(&producer->stop)) {
        if (produced < 0) {
            PGresult *res = NULL;
            if (db_run(db, "kitprod_produced", NULL, &res) != DB_OK) {
                usleep(100000);
                continue;
            }
            db_get_i64(res, 0, 0, &produced);
            PQclear(res);
        }
        if (produced >= producer->count)
            break;
        int64_t count = producer->batch;
        if (count > producer->count - produced)
            count = producer->count - produced;
        int64_t first = 0;
        if (produce(db, count, NULL, false, producer->filler, producer->rate > 0, &first) !=
            DB_OK) {
            log_warn("producer transaction failed; retrying", LF_STR("pg", db_errmsg(db)),
                     LF_ERR("pg_unavailable"));
            usleep(100000);
            produced = -1;
            continue;
        }
        service_committed(producer->svc, db);
        produced_here += count;
        produced = first + count - 1;
        if (producer->rate > 0) {
            int64_t due = started + produced_here * 1000000 / producer->rate;
            int64_t now = clock_mono_us();
            if (due > now)
                usleep((useconds_t)(due - now));
        }
    }
    log_info("producer finished", LF_INT("produced", produced_here));
    db_pool_release(service_db_pool(producer->svc), &db);
    return NULL;
}

/* POST /v1/produce {"count": n, "correlation_id": "...", "poison": false} */
static void route_produce(const http_request_t *req, http_response_t *res, void *arg)
{
    producer_t *producer = arg;
    json_t *body = http_req_json(req, res);
    if (!body)
        return;
    json_int_t count = json_integer_value(json_object_get(body, "count"));
    const char *correlation = json_string_value(json_object_get(body, "correlation_id"));
    bool poison = json_is_true(json_object_get(body, "poison"));
    if (count < 1 || count > 100000) {
        http_res_problem(res, 422, "invalid", "count must be 1..100000", NULL);
        return;
    }
    db_t *db = db_pool_acquire(service_db_pool(producer->svc), 5000);
    if (!db) {
        http_res_problem(res, 503, "pg_unavailable", "no database session", NULL);
        return;
    }
    int64_t first = 0;
    db_status_t status = produce(db, count, correlation, poison, 0, false, &first);
    if (status == DB_OK)
        service_committed(producer->svc, db);
    db_pool_release(service_db_pool(producer->svc), &db);
    if (status != DB_OK) {
        http_res_problem(res, 503, "pg_unavailable", "could not commit", NULL);
        return;
    }
    http_res_json_take(res, 201,
                       json_pack("{s:I,s:I}", "first_n", (json_int_t)first, "last_n",
                                 (json_int_t)(first + count - 1)));
}

/* An outside publisher: an XPUB connected to busd's XSUB, so that it can
 * wait until busd has told it about a subscriber before publishing (a
 * plain PUB would drop everything sent before that: the slow joiner). */
static void *open_publisher(void **ctx_out)
{
    const char *endpoint = getenv("BUS_PUB_ENDPOINT");
    if (!endpoint)
        endpoint = "tcp://127.0.0.1:5550";
    void *ctx = zmq_ctx_new();
    void *pub = zmq_socket(ctx, ZMQ_XPUB);
    int linger = 2000, timeout = 10000;
    zmq_setsockopt(pub, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(pub, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    /* the key from BUS_CERT: a source's for external events, the stream's
     * own service key for a malformed frame on it */
    curve_t *curve = curve_from_env(true, false);
    if (!curve || curve_client(curve, pub, NULL) != 0)
        exit(1);
    curve_destroy(&curve);
    if (zmq_connect(pub, endpoint) != 0) {
        fprintf(stderr, "kitprod: cannot connect to %s\n", endpoint);
        exit(1);
    }
    char subscription[256];
    int len = zmq_recv(pub, subscription, sizeof subscription, 0);
    if (len < 1 || subscription[0] != 1) {
        fprintf(stderr, "kitprod: no subscriber reached us through %s\n", endpoint);
        exit(1);
    }
    *ctx_out = ctx;
    return pub;
}

static int publish_external(const char *key, int64_t count)
{
    void *ctx = NULL;
    void *pub = open_publisher(&ctx);
    char event_id[UUID_TEXT_SIZE];
    uuid_v4(event_id);
    Conveyor__KitTick tick = CONVEYOR__KIT_TICK__INIT;
    tick.n = 1;
    uint8_t payload[64];
    size_t payload_len = conveyor__kit_tick__pack(&tick, payload);
    Conveyor__Envelope env = CONVEYOR__ENVELOPE__INIT;
    env.event_id = event_id;
    env.stream = pb_lend("kitsource");
    env.type = pb_lend("kit.external");
    env.correlation_id = pb_lend(key);
    env.occurred_at_ms = clock_now_ms();
    env.schema_version = 1;
    env.payload.data = payload;
    env.payload.len = payload_len;
    uint8_t *envelope = NULL;
    size_t envelope_len = 0;
    if (envelope_pack_alloc(&env, &envelope, &envelope_len) != 0)
        return 1;
    const char *topic = "ext/kit.external";
    for (int64_t i = 0; i < count; i++) {
        zmq_send(pub, topic, strlen(topic), ZMQ_SNDMORE);
        zmq_send(pub, envelope, envelope_len, 0);
        usleep(200000);
    }
    free(envelope);
    zmq_close(pub);
    zmq_ctx_term(ctx);
    printf("published %lld times, event_id %s\n", (long long)count, event_id);
    return 0;
}

static int publish_raw(const char *topic)
{
    void *ctx = NULL;
    void *pub = open_publisher(&ctx);
    static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x12, 0x34};
    zmq_send(pub, topic, strlen(topic), ZMQ_SNDMORE);
    zmq_send(pub, garbage, sizeof garbage, 0);
    zmq_close(pub);
    zmq_ctx_term(ctx);
    printf("published a malformed frame on %s\n", topic);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 4 && strcmp(argv[1], "publish-external") == 0) {
        int64_t count = 0;
        if (numparse_int_range(argv[3], 1, 1000, &count) != 0)
            return 2;
        return publish_external(argv[2], count);
    }
    if (argc >= 3 && strcmp(argv[1], "publish-raw") == 0)
        return publish_raw(argv[2]);
    if (argc >= 2 && strcmp(argv[1], "serve") != 0 && strcmp(argv[1], "--help") != 0) {
        fprintf(stderr, "usage: kitprod serve | publish-external KEY COUNT | publish-raw TOPIC\n");
        return 2;
    }

    service_def_t def = {
        .name = STREAM,
        .schema = "kitprod",
        .http_addr = "127.0.0.1:28091",
        .replay_addr = "tcp://127.0.0.1:25591",
        .config = kitprod_specs,
        .migrations = &app_migrations,
        .db_setup = prepare,
    };
    service_t *svc = service_new(&def, argc, argv);
    if (!svc)
        return 1;
    producer_t producer = {.svc = svc};
    const config_t *config = service_config(svc);
    if (config_get_int(config, "KITPROD_COUNT", 0, INT64_MAX, &producer.count) != 0 ||
        config_get_int(config, "KITPROD_BATCH", 1, 10000, &producer.batch) != 0 ||
        config_get_int(config, "KITPROD_RATE", 0, 10000000, &producer.rate) != 0 ||
        config_get_int(config, "KITPROD_FILLER", 0, 65536, &producer.filler) != 0 ||
        http_route(service_http(svc), "POST", "/v1/produce", route_produce, &producer) != 0) {
        service_destroy(&svc);
        return 1;
    }
    producer.threaded =
        producer.count > 0 && pthread_create(&producer.thread, NULL, producer_main, &producer) == 0;
    service_on_stopping(svc, producer_stop, &producer);
    int status = service_run(svc);
    producer_stop(&producer); /* service_run may end without a signal */
    service_destroy(&svc);
    return status;
}
