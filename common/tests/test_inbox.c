/*
 * test_inbox.c — consuming the bus (inbox.h) against the real PostgreSQL at
 * TEST_DATABASE_URL, with two schemas of this run's own, both dropped at
 * the end: the consumer's (t_inbox_<pid>: the kit's tables and `applied`,
 * where the test's handlers write) and a producer's (t_inbox_p_<pid>: an
 * outbox the test numbers itself, served by a real replay server).
 *
 * The test plays busd: it binds an XPUB the inbox connects to and
 * publishes the producer's rows as busd delivers them to the kit's
 * consumers, in the batch form (common/busbatch.h "Delivery": one event as
 * [+<stream>/<type>][Envelope], a relay's run as [+<stream>/]
 * [EnvelopeBatch]; ext events in the ordinary form), leaving some out on
 * purpose. It waits for the inbox's subscriptions
 * before publishing anything (the slow joiner). The inbox applies only
 * while its relay leads, so each test runs a relay on the consumer schema
 * too (publishing into a SUB of the test's that nobody reads).
 *
 * Proves: a fresh consumer adopts the producer's epoch through replay;
 * events published in order are applied once each, in order, in the
 * handler's transaction, and inbox_offsets.last_seq follows; duplicates of
 * applied events are skipped, also when another applier moved the offset;
 * a gap (5 after 3) is fetched from the replay server and 4 is applied
 * before 5; HANDLER_REJECT parks the event in dead_letters with its code,
 * detail and envelope, later events of its correlation are parked behind
 * it (held_behind) and other correlations go on; HANDLER_RETRY applies
 * nothing, moves no offset, and the event is applied once the handler
 * agrees, before the events after it; a retrying handler during a replay
 * catch-up does not make the consumer ask for the same range over and
 * over; a frame whose envelope does not unpack, or disagrees with its
 * topic, is parked once by its hash and advances nothing; an external
 * event (stream "ext", seq 0) reaches its handler, which deduplicates by
 * inbox_claim_key, and is applied while a sequenced run's handler holds
 * its transaction open (the external lane); a run of a type with a batch
 * handler goes to it at once, and one it sends back is applied one event
 * at a time, the poisoned one alone parked; an event or heartbeat that merely claims a new epoch
 * halts nothing (the replay endpoint, asked, still serves the old one);
 * one the producer's replay endpoint confirms halts the stream (degraded,
 * halted_reason kept in inbox_offsets), nothing more is applied, and
 * inbox_resync (what the CLI does) makes it follow the new epoch; a
 * consumer that started before its producer and is backing off applies
 * the producer's first live event at once, not when its backoff ends; a
 * batch frame's events are applied in order, counted as live, and a batch
 * that does not check (malformed, or of another stream) is parked whole
 * by its hash and advances nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "common/busbatch.h"
#include "common/clock.h"
#include "common/db.h"
#include "common/envelope.h"
#include "common/inbox.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/migrate.h"
#include "common/outbox.h"
#include "common/relay.h"
#include "common/replay.h"
#include "common/uuid.h"
#include "conveyor/envelope.pb-c.h"

#define PRODUCER "prod"
#define EPOCH    1790000000000ULL
#define WAIT_MS  5000

static const char *base_url;
static char consumer_schema[64], producer_schema[64];
static char consumer_dsn[1024], producer_dsn[1024];
static char replay_endpoint[64];
static char replay_peers[128];
static db_t *cdb; /* the test's view of the consumer's schema */
static db_t *pdb; /* the producer's outbox */
static replay_server_t *replay;
static void *zctx;
static void *relay_sink; /* where the consumer's relay publishes; never read */
static char relay_sink_endpoint[256];

/* per test */
static void *xpub; /* busd's XPUB */
static char xpub_endpoint[256];
static relay_t *relay;
static inbox_t *inbox;

/* --- the handlers ----------------------------------------------------------------- */

static atomic_int retry_left;  /* a "retry" event is refused this many times more */
static atomic_int retry_calls; /* calls of the handler with a "retry" event */
static atomic_bool holding;    /* a "hold" event's handler is waiting inside its transaction */
static atomic_bool released;   /* ... and may go on */
static atomic_int ext_calls;   /* calls of the external handler */
static atomic_int ext_dupes;   /* ... that found their key claimed */

static handler_result_t record(inbox_event_t *event, const char *payload)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, event->stream);
    db_param_u64(&params, event->seq);
    db_param_text(&params, event->type);
    db_param_text(&params, event->correlation_id);
    db_param_text(&params, payload);
    db_param_text(&params, event->event_id);
    db_status_t status = db_run_sql(event->db,
                                    "INSERT INTO applied (stream, seq, type, correlation_id,"
                                    " payload, event_id) VALUES ($1, $2, $3, $4, $5, $6)",
                                    &params, NULL);
    if (status == DB_TRANSIENT)
        return inbox_retry(event, "pg_unavailable", "%s", db_errmsg(event->db));
    if (status != DB_OK)
        return inbox_reject(event, "pg_error", "%s", db_errmsg(event->db));
    return HANDLER_OK;
}

static void payload_text(const inbox_event_t *event, char *out, size_t size)
{
    snprintf(out, size, "%.*s", (int)event->payload_len, (const char *)event->payload);
}

/* The producer's events: the payload says what to do ("ok", "reject",
 * "retry"); what is applied lands in `applied`. */
static handler_result_t on_produced(inbox_event_t *event, void *arg)
{
    (void)arg;
    char payload[64];
    payload_text(event, payload, sizeof payload);
    if (strcmp(payload, "reject") == 0)
        return inbox_reject(event, "poison", "event %llu is poisoned on purpose",
                            (unsigned long long)event->seq);
    if (strcmp(payload, "retry") == 0) {
        atomic_fetch_add(&retry_calls, 1);
        if (atomic_fetch_sub(&retry_left, 1) > 0)
            return inbox_retry(event, "busy", "not yet");
    }
    if (strcmp(payload, "hold") == 0) {
        /* a slow handler: its run's transaction stays open until the test
         * lets it go (or twice the tests' wait, so a failure ends) */
        atomic_store(&holding, true);
        clock_pause_ms(2 * WAIT_MS, &released);
        atomic_store(&holding, false);
    }
    assert_false(event->external);
    assert_string_equal(event->topic_stream, PRODUCER);
    return record(event, payload);
}

/* External intake: the payload is the idempotency key. */
static handler_result_t on_intake(inbox_event_t *event, void *arg)
{
    (void)arg;
    char key[64];
    payload_text(event, key, sizeof key);
    atomic_fetch_add(&ext_calls, 1);
    assert_true(event->external);
    assert_int_equal(event->seq, 0);
    assert_string_equal(event->topic_stream, BUS_STREAM_EXT);
    int claimed = inbox_claim_key(event, "test.intake", key);
    if (claimed < 0)
        return inbox_retry(event, "pg_unavailable", "%s", db_errmsg(event->db));
    if (claimed == 0) {
        atomic_fetch_add(&ext_dupes, 1);
        return HANDLER_OK;
    }
    return record(event, key);
}

/* ext/intake.bulk, one at a time (the careful way): the payload is the
 * key; "poison" is rejected. */
static handler_result_t on_bulk_one(inbox_event_t *event, void *arg)
{
    (void)arg;
    char key[64], tagged[80];
    payload_text(event, key, sizeof key);
    if (strcmp(key, "poison") == 0)
        return inbox_reject(event, "poison", "bulk event %s is poisoned on purpose", key);
    int claimed = inbox_claim_key(event, "test.bulk", key);
    if (claimed < 0)
        return inbox_retry(event, "pg_unavailable", "%s", db_errmsg(event->db));
    snprintf(tagged, sizeof tagged, "one:%s", key);
    return claimed ? record(event, tagged) : HANDLER_OK;
}

static atomic_int bulk_batches; /* calls of the batch handler */

/* ext/intake.bulk, a run at once: every key recorded as "batch:<key>", or
 * the whole run sent back to be applied one at a time when it holds the
 * poison. */
static handler_result_t on_bulk_many(inbox_event_t *events, size_t count, void *arg)
{
    (void)arg;
    atomic_fetch_add(&bulk_batches, 1);
    for (size_t i = 0; i < count; i++) {
        char key[64], tagged[80];
        payload_text(&events[i], key, sizeof key);
        if (strcmp(key, "poison") == 0)
            return HANDLER_REJECT;
        int claimed = inbox_claim_key(&events[i], "test.bulk", key);
        if (claimed < 0)
            return inbox_retry(&events[i], "pg_unavailable", "%s", db_errmsg(events[i].db));
        snprintf(tagged, sizeof tagged, "batch:%s", key);
        if (claimed && record(&events[i], tagged) != HANDLER_OK)
            return HANDLER_RETRY;
    }
    return HANDLER_OK;
}

/* --- helpers: the database ---------------------------------------------------------- */

static void sql(db_t *session, const char *text)
{
    if (db_run_sql(session, text, NULL, NULL) != DB_OK)
        fail_msg("%s: %s", text, db_errmsg(session));
}

/* The first cell as text into out ("<null>" for NULL). */
static void text_of(const char *query, char *out, size_t size)
{
    PGresult *res = NULL;
    if (db_run_sql(cdb, query, NULL, &res) != DB_OK)
        fail_msg("%s: %s", query, db_errmsg(cdb));
    const char *value = PQntuples(res) > 0 ? db_value(res, 0, 0) : NULL;
    snprintf(out, size, "%s", value ? value : "<null>");
    PQclear(res);
}

static void pause_ms(long ms)
{
    struct timespec pause = {0, ms * 1000000L};
    nanosleep(&pause, NULL);
}

/* Waits until the query's first cell reads want. */
static void wait_text(const char *query, const char *want)
{
    int64_t deadline = clock_mono_ms() + WAIT_MS;
    char got[1024];
    for (;;) {
        text_of(query, got, sizeof got);
        if (strcmp(got, want) == 0)
            return;
        if (clock_mono_ms() > deadline)
            fail_msg("%s: still %s after %d ms, waiting for %s", query, got, WAIT_MS, want);
        pause_ms(10);
    }
}

#define APPLIED_SEQS                                                                               \
    "SELECT coalesce(string_agg(seq::text, ',' ORDER BY id), '') FROM applied"                     \
    " WHERE stream = '" PRODUCER "'"
#define OFFSET "SELECT last_seq FROM inbox_offsets WHERE stream = '" PRODUCER "'"

static void assert_text(const char *query, const char *want)
{
    char got[1024];
    text_of(query, got, sizeof got);
    if (strcmp(got, want) != 0)
        fail_msg("%s: %s, expected %s", query, got, want);
}

/* --- helpers: the producer ------------------------------------------------------------ */

/* Appends an event to the producer's outbox in a transaction of its own
 * (alone, it is numbered as inserted: common/migrations/006); returns the
 * seq. Nothing is published. */
static uint64_t produce(const char *correlation_id, const char *payload)
{
    outbox_meta_t meta = {
        .stream = PRODUCER, .type = "thing.made", .correlation_id = correlation_id};
    char event_id[UUID_TEXT_SIZE];
    assert_int_equal(db_begin(pdb), DB_OK);
    assert_int_equal(outbox_append(pdb, &meta, payload, strlen(payload), event_id), DB_OK);
    assert_int_equal(db_commit(pdb), DB_OK);
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, event_id);
    PGresult *res = NULL;
    if (db_run_sql(pdb, "SELECT seq FROM outbox WHERE event_id = $1::uuid", &params, &res) != DB_OK)
        fail_msg("reading the seq: %s", db_errmsg(pdb));
    int64_t seq = 0;
    assert_int_equal(db_get_i64(res, 0, 0, &seq), 0);
    PQclear(res);
    return (uint64_t)seq;
}

/* Publishes [topic][envelope] as busd delivers it: a service stream's
 * event in the batch form ("+" before its ordinary topic), ext as it is. */
static void publish_frames(const char *topic, const void *envelope, size_t envelope_len)
{
    char delivered[BUS_TOPIC_MAX + 2];
    snprintf(delivered, sizeof delivered, "%s%s",
             strncmp(topic, BUS_STREAM_EXT "/", strlen(BUS_STREAM_EXT "/")) == 0 ? "" : "+", topic);
    assert_int_equal(zmq_send(xpub, delivered, strlen(delivered), ZMQ_SNDMORE),
                     (int)strlen(delivered));
    assert_int_equal(zmq_send(xpub, envelope, envelope_len, 0), (int)envelope_len);
}

/* The producer's event seq as busd delivers it: alone, or (batch_out not
 * NULL) appended to a batch frame the caller publishes. */
static void publish_or_add(uint64_t seq, bus_batch_t *batch_out)
{
    db_params_t params;
    db_params_init(&params);
    db_param_u64(&params, seq);
    PGresult *res = NULL;
    assert_int_equal(db_run_sql(pdb,
                                "SELECT " OUTBOX_ENVELOPE_COLUMNS
                                " FROM outbox WHERE stream = '" PRODUCER "' AND seq = $1",
                                &params, &res),
                     DB_OK);
    assert_int_equal(PQntuples(res), 1);
    char topic[BUS_TOPIC_MAX + 1];
    uint8_t *envelope = NULL;
    size_t envelope_len = 0;
    uint64_t got = 0;
    assert_int_equal(outbox_row_envelope(res, 0, PRODUCER, EPOCH, &got, topic, sizeof topic,
                                         &envelope, &envelope_len),
                     0);
    PQclear(res);
    if (batch_out)
        assert_int_equal(bus_batch_add(batch_out, envelope, envelope_len), 0);
    else
        publish_frames(topic, envelope, envelope_len);
    free(envelope);
}

/* Publishes the producer's event seq live, alone, as busd would. */
static void publish(uint64_t seq)
{
    publish_or_add(seq, NULL);
}

static uint64_t produce_and_publish(const char *correlation_id, const char *payload)
{
    uint64_t seq = produce(correlation_id, payload);
    publish(seq);
    return seq;
}

/* Publishes an envelope built here (not from the outbox). */
static void publish_envelope(const char *topic, const Conveyor__Envelope *env)
{
    uint8_t *envelope = NULL;
    size_t envelope_len = 0;
    assert_int_equal(envelope_pack_alloc(env, &envelope, &envelope_len), 0);
    publish_frames(topic, envelope, envelope_len);
    free(envelope);
}

static void publish_external(const char *type, const char *event_id, const char *key)
{
    char topic[64];
    snprintf(topic, sizeof topic, "ext/%s", type);
    Conveyor__Envelope env = CONVEYOR__ENVELOPE__INIT;
    env.event_id = pb_lend(event_id);
    env.stream = pb_lend("web");
    env.type = pb_lend(type);
    env.correlation_id = pb_lend(key);
    env.schema_version = 1;
    env.payload.data = (uint8_t *)(uintptr_t)key;
    env.payload.len = strlen(key);
    publish_envelope(topic, &env);
}

static void publish_intake(const char *event_id, const char *key)
{
    publish_external("intake.order", event_id, key);
}

/* --- helpers: the inbox ---------------------------------------------------------------- */

/* The consumed stream's snapshot (zeros before the applier's first round). */
static inbox_stream_status_t stream_status(void)
{
    inbox_stream_status_t status[4];
    memset(status, 0, sizeof status);
    assert_true(inbox_status(inbox, status, 4) <= 1);
    return status[0];
}

static uint64_t counter_value(const char *name)
{
    return metrics_counter_value(metrics_counter(name, "stream=\"" PRODUCER "\"", ""));
}

/* Waits until the XPUB has heard the inbox subscribe to every prefix. */
static void wait_subscribed(void)
{
    bool stream = false, external = false;
    int64_t deadline = clock_mono_ms() + WAIT_MS;
    while (!stream || !external) {
        zmq_pollitem_t item = {xpub, 0, ZMQ_POLLIN, 0};
        int64_t left = deadline - clock_mono_ms();
        if (left <= 0 || zmq_poll(&item, 1, (long)left) <= 0)
            fail_msg("the inbox did not subscribe within %d ms", WAIT_MS);
        char buf[64];
        int n = zmq_recv(xpub, buf, sizeof buf - 1, 0);
        assert_true(n > 0);
        buf[n] = '\0';
        if (buf[0] == 1 && strcmp(buf + 1, "+" PRODUCER "/") == 0)
            stream = true;
        if (buf[0] == 1 && strcmp(buf + 1, BUS_STREAM_EXT "/") == 0)
            external = true;
    }
}

/* Starts relay and inbox against a fresh XPUB and waits until the inbox
 * subscribed. */
static void start_subscribed_consumer(void)
{
    xpub = zmq_socket(zctx, ZMQ_XPUB);
    assert_non_null(xpub);
    int linger = 0;
    zmq_setsockopt(xpub, ZMQ_LINGER, &linger, sizeof linger);
    assert_int_equal(zmq_bind(xpub, "tcp://127.0.0.1:*"), 0);
    size_t len = sizeof xpub_endpoint;
    assert_int_equal(zmq_getsockopt(xpub, ZMQ_LAST_ENDPOINT, xpub_endpoint, &len), 0);

    relay_config_t relay_config = {
        .dsn = consumer_dsn,
        .schema = consumer_schema,
        .stream = "cons",
        .pub_endpoint = relay_sink_endpoint,
        .app_name = "test_inbox_relay",
        .poll_ms = 50,
        .heartbeat_ms = 200,
        .leader_retry_ms = 50,
    };
    relay = relay_new(&relay_config);
    assert_non_null(relay);
    inbox_config_t config = {
        .dsn = consumer_dsn,
        .schema = consumer_schema,
        .app_name = "test_inbox",
        .own_stream = "cons",
        .sub_endpoint = xpub_endpoint,
        .replay_peers = replay_peers,
        .relay = relay,
        .replay_timeout_ms = 1000,
    };
    inbox = inbox_new(&config);
    assert_non_null(inbox);
    assert_int_equal(inbox_on(inbox, PRODUCER, NULL, on_produced, NULL), 0);
    assert_int_equal(inbox_on(inbox, BUS_STREAM_EXT, "intake.order", on_intake, NULL), 0);
    assert_int_equal(inbox_on(inbox, BUS_STREAM_EXT, "intake.bulk", on_bulk_one, NULL), 0);
    assert_int_equal(inbox_on_batch(inbox, BUS_STREAM_EXT, "intake.bulk", on_bulk_many), 0);
    assert_int_equal(inbox_on_batch(inbox, BUS_STREAM_EXT, "no.such.type", on_bulk_many), -1);
    assert_int_equal(relay_start(relay), 0);
    assert_int_equal(inbox_start(inbox), 0);
    wait_subscribed();
}

/* start_subscribed_consumer, then waits until the inbox follows the
 * producer's epoch (through replay). */
static void start_consumer(void)
{
    start_subscribed_consumer();
    int64_t deadline = clock_mono_ms() + WAIT_MS;
    while (stream_status().epoch != EPOCH) {
        if (clock_mono_ms() > deadline)
            fail_msg("the inbox did not adopt the producer's epoch within %d ms", WAIT_MS);
        pause_ms(10);
    }
    assert_text("SELECT epoch FROM inbox_offsets WHERE stream = '" PRODUCER "'", "1790000000000");
}

/* Stops what start_consumer started (also half of it). */
static void stop_consumer(void)
{
    inbox_destroy(&inbox);
    relay_destroy(&relay);
    if (xpub)
        zmq_close(xpub);
    xpub = NULL;
}

/* --- tests -------------------------------------------------------------------------------- */

static void test_events_applied_once_in_order(void **state)
{
    (void)state;
    inbox_stream_status_t status = stream_status();
    assert_int_equal(status.applied_seq, 0);
    assert_false(status.halted);
    assert_false(inbox_degraded(inbox));
    for (int i = 1; i <= 5; i++) {
        char correlation[16];
        snprintf(correlation, sizeof correlation, "o-%d", i % 2);
        produce_and_publish(correlation, "ok");
    }
    wait_text(OFFSET, "5");
    assert_text(APPLIED_SEQS, "1,2,3,4,5");
    assert_text("SELECT string_agg(correlation_id || ':' || type || ':' || payload, ','"
                " ORDER BY id) FROM applied WHERE seq IN (1, 2)",
                "o-1:thing.made:ok,o-0:thing.made:ok");
    /* the handler saw each event as produced */
    char query[256];
    snprintf(query, sizeof query,
             "SELECT count(*) FROM applied a JOIN %s.outbox o ON o.seq = a.seq"
             " AND o.event_id::text = a.event_id AND o.correlation_id = a.correlation_id",
             producer_schema);
    assert_text(query, "5");

    /* duplicates, live: skipped */
    publish(2);
    publish(5);
    publish(5);
    produce_and_publish("o-0", "ok");
    wait_text(OFFSET, "6");
    assert_text(APPLIED_SEQS, "1,2,3,4,5,6");
    int64_t deadline = clock_mono_ms() + WAIT_MS;
    while (stream_status().applied_seq != 6) {
        assert_true(clock_mono_ms() < deadline);
        pause_ms(5);
    }

    /* another applier got to 7 first (its offset moved): 7 is skipped here */
    uint64_t seven = produce("o-1", "ok");
    sql(cdb, "UPDATE inbox_offsets SET last_seq = 7");
    publish(seven);
    produce_and_publish("o-1", "ok");
    wait_text(OFFSET, "8");
    assert_text(APPLIED_SEQS, "1,2,3,4,5,6,8");
}

/* A relay's run comes as one batch frame ([+prod/][EnvelopeBatch]): every
 * event applied once, in order, counted as live; a batch that does not
 * check is parked whole by its hash and advances nothing. */
static void test_batch_frames_applied_in_order(void **state)
{
    (void)state;
    uint64_t live_before = counter_value("inbox_live_events_total");
    bus_batch_t *batch = bus_batch_new();
    assert_non_null(batch);
    for (int i = 1; i <= 4; i++)
        publish_or_add(produce(i % 2 ? "o-1" : "o-2", "ok"), batch);
    const char *topic = "+" PRODUCER "/";
    assert_int_equal(zmq_send(xpub, topic, strlen(topic), ZMQ_SNDMORE), (int)strlen(topic));
    assert_int_equal(zmq_send(xpub, batch->buf, batch->len, 0), (int)batch->len);
    wait_text(OFFSET, "4");
    assert_text(APPLIED_SEQS, "1,2,3,4");
    assert_true(counter_value("inbox_live_events_total") - live_before >= 4);

    /* a frame that is no batch, and a batch of another stream under this
     * stream's topic: each parked once, by its hash, under its code */
    static const uint8_t garbage[] = {0x0a, 0x50, 'r'};
    char hash[65];
    bus_frame_hash(topic, strlen(topic), garbage, sizeof garbage, hash);
    assert_int_equal(zmq_send(xpub, topic, strlen(topic), ZMQ_SNDMORE), (int)strlen(topic));
    assert_int_equal(zmq_send(xpub, garbage, sizeof garbage, 0), (int)sizeof garbage);
    char query[256];
    snprintf(query, sizeof query,
             "SELECT err || ':' || stream || ':' || status FROM dead_letters"
             " WHERE frame_hash = '%s'",
             hash);
    wait_text(query, "batch_malformed:" PRODUCER ":open");
    bus_batch_reset(batch);
    Conveyor__Envelope env = CONVEYOR__ENVELOPE__INIT;
    env.event_id = pb_lend("6f1c3d52-1a2b-4c3d-8e4f-5a6b7c8d9e0f");
    env.stream = pb_lend("someone-else");
    env.seq = 5;
    env.epoch = EPOCH;
    env.type = pb_lend("thing.made");
    uint8_t *packed = NULL;
    size_t packed_len = 0;
    assert_int_equal(envelope_pack_alloc(&env, &packed, &packed_len), 0);
    assert_int_equal(bus_batch_add(batch, packed, packed_len), 0);
    assert_int_equal(bus_batch_add(batch, packed, packed_len), 0);
    free(packed);
    assert_int_equal(zmq_send(xpub, topic, strlen(topic), ZMQ_SNDMORE), (int)strlen(topic));
    assert_int_equal(zmq_send(xpub, batch->buf, batch->len, 0), (int)batch->len);
    wait_text("SELECT count(*) FROM dead_letters WHERE err = 'batch_mixed_streams'", "1");
    bus_batch_destroy(&batch);

    /* nothing advanced: the next event is 5 */
    produce_and_publish("o-1", "ok");
    wait_text(OFFSET, "5");
    assert_text(APPLIED_SEQS, "1,2,3,4,5");
    assert_text("SELECT count(*) FROM dead_letters", "2");
}

/* Behind a busd older than the batch form, nothing of the stream comes
 * live but its heartbeat, in the ordinary form ("prod/$hb", which the
 * inbox subscribes to for this): the beats say the producer is ahead and
 * the consumer catches up by replay. */
static void test_ordinary_heartbeat_catches_up_behind_an_older_busd(void **state)
{
    (void)state;
    int64_t deadline = clock_mono_ms() + WAIT_MS;
    for (inbox_stream_status_t st = stream_status(); st.epoch != EPOCH || st.catching_up;
         st = stream_status()) {
        assert_true(clock_mono_ms() < deadline);
        pause_ms(5);
    }
    uint64_t gaps_before = counter_value("inbox_gaps_total");
    for (int i = 0; i < 3; i++)
        produce("o-1", "ok"); /* never delivered live */
    Conveyor__Envelope env = CONVEYOR__ENVELOPE__INIT;
    env.stream = pb_lend(PRODUCER);
    env.seq = 3;
    env.epoch = EPOCH;
    env.type = pb_lend(BUS_TYPE_HEARTBEAT);
    uint8_t *envelope = NULL;
    size_t envelope_len = 0;
    assert_int_equal(envelope_pack_alloc(&env, &envelope, &envelope_len), 0);
    const char *topic = PRODUCER "/" BUS_TYPE_HEARTBEAT;
    deadline = clock_mono_ms() + WAIT_MS;
    while (counter_value("inbox_gaps_total") == gaps_before) {
        assert_true(clock_mono_ms() < deadline);
        assert_int_equal(zmq_send(xpub, topic, strlen(topic), ZMQ_SNDMORE), (int)strlen(topic));
        assert_int_equal(zmq_send(xpub, envelope, envelope_len, 0), (int)envelope_len);
        pause_ms(50);
    }
    free(envelope);
    wait_text(OFFSET, "3");
    assert_text(APPLIED_SEQS, "1,2,3");
}

static void test_gap_is_fetched_by_replay(void **state)
{
    (void)state;
    uint64_t gaps_before = counter_value("inbox_gaps_total");
    produce_and_publish("o-1", "ok");
    produce_and_publish("o-1", "ok");
    produce_and_publish("o-1", "ok");
    wait_text(OFFSET, "3");
    produce("o-1", "ok"); /* 4: lost on the way */
    produce_and_publish("o-1", "ok");
    wait_text(OFFSET, "5");
    assert_text(APPLIED_SEQS, "1,2,3,4,5");
    assert_true(counter_value("inbox_gaps_total") > gaps_before);
}

static void test_rejected_event_is_parked_and_holds_its_correlation(void **state)
{
    (void)state;
    produce_and_publish("o-1", "ok");     /* 1 */
    produce_and_publish("o-1", "reject"); /* 2: parked */
    produce_and_publish("o-1", "ok");     /* 3: held behind 2 */
    produce_and_publish("o-2", "ok");     /* 4: another order goes on */
    produce_and_publish("o-1", "ok");     /* 5: held behind 2 */
    wait_text(OFFSET, "5");
    assert_text(APPLIED_SEQS, "1,4");
    assert_text("SELECT string_agg(seq || ':' || err || ':' || status || ':' || correlation_id"
                " || ':' || coalesce((held_behind = (SELECT id FROM dead_letters WHERE seq = 2))"
                "::text, '-'), ',' ORDER BY seq) FROM dead_letters",
                "2:poison:open:o-1:-,3:held_behind:open:o-1:true,5:held_behind:open:o-1:true");
    assert_text("SELECT detail FROM dead_letters WHERE seq = 2", "event 2 is poisoned on purpose");
    assert_text("SELECT epoch = 1790000000000 AND stream = '" PRODUCER "' AND type ="
                " 'thing.made' AND convert_from(topic, 'UTF8') = '" PRODUCER "/thing.made'"
                " AND frame_hash IS NULL FROM dead_letters WHERE seq = 2",
                "t");

    /* the parked envelope is the event as it arrived */
    PGresult *res = NULL;
    assert_int_equal(db_run_sql(cdb,
                                "SELECT envelope, event_id::text FROM dead_letters WHERE seq = 2",
                                NULL, &res),
                     DB_OK);
    unsigned char *bytes = NULL;
    size_t len = 0;
    assert_int_equal(db_get_bytes(res, 0, 0, &bytes, &len), 0);
    Conveyor__Envelope *env = conveyor__envelope__unpack(NULL, len, bytes);
    free(bytes);
    assert_non_null(env);
    assert_int_equal(env->seq, 2);
    assert_string_equal(env->event_id, db_value(res, 0, 1));
    assert_int_equal(env->payload.len, 6);
    assert_memory_equal(env->payload.data, "reject", 6);
    conveyor__envelope__free_unpacked(env, NULL);
    PQclear(res);

    /* later: o-2 still applies, o-1 is still held */
    produce_and_publish("o-2", "ok"); /* 6 */
    produce_and_publish("o-1", "ok"); /* 7 */
    wait_text(OFFSET, "7");
    assert_text(APPLIED_SEQS, "1,4,6");
    assert_text("SELECT count(*) FROM dead_letters WHERE held_behind IS NOT NULL", "3");
}

static void test_retry_applies_nothing_then_retries(void **state)
{
    (void)state;
    produce_and_publish("o-1", "ok");
    wait_text(OFFSET, "1");
    atomic_store(&retry_left, 2);
    atomic_store(&retry_calls, 0);
    produce_and_publish("o-1", "retry"); /* 2 */
    produce_and_publish("o-2", "ok");    /* 3: after it, so it waits too */
    int64_t deadline = clock_mono_ms() + WAIT_MS;
    while (atomic_load(&retry_calls) < 2) {
        assert_true(clock_mono_ms() < deadline);
        pause_ms(2);
    }
    /* refused twice so far: nothing moved, nothing applied, nothing parked */
    assert_text(OFFSET, "1");
    assert_text(APPLIED_SEQS, "1");
    assert_text("SELECT count(*) FROM dead_letters", "0");
    wait_text(OFFSET, "3");
    assert_text(APPLIED_SEQS, "1,2,3");
    assert_int_equal(atomic_load(&retry_calls), 3);
    assert_text("SELECT count(*) FROM dead_letters", "0");
}

static void test_retry_during_catch_up_does_not_spin(void **state)
{
    (void)state;
    /* three events the consumer never heard live; the first is refused
     * three times (about 0.35 to 0.7 s of backoff) */
    atomic_store(&retry_left, 3);
    atomic_store(&retry_calls, 0);
    produce("o-1", "retry");
    produce("o-1", "ok");
    uint64_t requests_before = counter_value("inbox_replay_requests_total");
    produce_and_publish("o-1", "ok"); /* 3 arrives: 1 and 2 are missing */
    wait_text(OFFSET, "3");
    assert_text(APPLIED_SEQS, "1,2,3");
    assert_int_equal(atomic_load(&retry_calls), 4);
    /* the events were here all along: asking again for them while the
     * handler backs off only loads the producer */
    uint64_t requests = counter_value("inbox_replay_requests_total") - requests_before;
    if (requests > 10)
        fail_msg("%llu replay requests for one catch-up of 3 events", (unsigned long long)requests);
}

static void test_unparsable_frames_are_parked_by_hash(void **state)
{
    (void)state;
    static const uint8_t garbage[] = {0x0a, 0x50, 'r'}; /* a string of 80 bytes, 1 there */
    const char *topic = PRODUCER "/thing.made";
    char hash[65];
    bus_frame_hash(topic, strlen(topic), garbage, sizeof garbage, hash);
    publish_frames(topic, garbage, sizeof garbage);
    char query[256];
    snprintf(query, sizeof query,
             "SELECT err || ':' || stream || ':' || coalesce(seq::text, 'no seq') || ':' ||"
             " status FROM dead_letters WHERE frame_hash = '%s'",
             hash);
    wait_text(query, "bad_envelope:" PRODUCER ":no seq:open");

    /* an envelope that disagrees with its topic (another stream) */
    Conveyor__Envelope env = CONVEYOR__ENVELOPE__INIT;
    env.event_id = pb_lend("6f1c3d52-1a2b-4c3d-8e4f-5a6b7c8d9e0f");
    env.stream = pb_lend("someone-else");
    env.seq = 1;
    env.epoch = EPOCH;
    env.type = pb_lend("thing.made");
    publish_envelope(topic, &env);
    wait_text("SELECT count(*) FROM dead_letters WHERE err = 'envelope_mismatch'", "1");

    /* the same garbage again: still one letter; nothing advanced */
    publish_frames(topic, garbage, sizeof garbage);
    produce_and_publish("o-1", "ok");
    wait_text(OFFSET, "1");
    assert_text(APPLIED_SEQS, "1");
    assert_text("SELECT count(*) FROM dead_letters", "2");
}

static void test_external_events_deduplicate_by_key(void **state)
{
    (void)state;
    atomic_store(&ext_calls, 0);
    atomic_store(&ext_dupes, 0);
    char first_id[UUID_TEXT_SIZE];
    assert_int_equal(uuid_v4(first_id), 0);
    publish_intake(first_id, "web-42");
    wait_text("SELECT count(*) FROM applied WHERE stream = 'web'", "1");
    /* the publisher heard nothing and sends again (a new envelope) */
    publish_intake("web-42-again", "web-42");
    int64_t deadline = clock_mono_ms() + WAIT_MS;
    while (atomic_load(&ext_calls) < 2) {
        assert_true(clock_mono_ms() < deadline);
        pause_ms(5);
    }
    publish_intake("web-43", "web-43");
    wait_text("SELECT string_agg(payload || ':' || seq, ',' ORDER BY id) FROM applied"
              " WHERE stream = 'web'",
              "web-42:0,web-43:0");
    assert_int_equal(atomic_load(&ext_dupes), 1);
    assert_int_equal(atomic_load(&ext_calls), 3);
    char query[256];
    snprintf(query, sizeof query,
             "SELECT string_agg(key || ':' || coalesce(event_id::text, '-'), ',' ORDER BY key)"
             " FROM processed_keys WHERE scope = 'test.intake'");
    char want[256];
    snprintf(want, sizeof want, "web-42:%s,web-43:-", first_id);
    assert_text(query, want);
    /* external events have no offset */
    assert_text(OFFSET, "0");
}

/* External events do not wait behind a sequenced run: while a handler of
 * the producer's stream holds its transaction open, an external event is
 * applied and committed by the external lane, and the held event is
 * applied after, in its place. */
static void test_external_events_do_not_wait_behind_a_stream(void **state)
{
    (void)state;
    atomic_store(&released, false);
    atomic_store(&holding, false);
    produce_and_publish("o-1", "hold");
    int64_t deadline = clock_mono_ms() + WAIT_MS;
    while (!atomic_load(&holding)) {
        assert_true(clock_mono_ms() < deadline);
        pause_ms(2);
    }
    publish_intake("web-77", "web-77");
    wait_text("SELECT string_agg(payload, ',') FROM applied WHERE stream = 'web'", "web-77");
    /* the sequenced run is still open: nothing of it committed */
    assert_true(atomic_load(&holding));
    assert_text(OFFSET, "0");
    assert_text(APPLIED_SEQS, "");
    atomic_store(&released, true);
    wait_text(OFFSET, "1");
    assert_text(APPLIED_SEQS, "1");
    produce_and_publish("o-1", "ok");
    wait_text(OFFSET, "2");
    assert_text(APPLIED_SEQS, "1,2");
}

/* A run of external events of a type with a batch handler goes to it at
 * once; a run it sends back (the poison in it) is applied again one event
 * at a time, where the poison alone is parked and the others are applied
 * once each. */
static void test_external_batch_handler_and_its_fallback(void **state)
{
    (void)state;
    atomic_store(&bulk_batches, 0);
    publish_external("intake.bulk", "bulk-1", "b-1");
    publish_external("intake.bulk", "bulk-2", "b-2");
    wait_text("SELECT string_agg(payload, ',' ORDER BY payload) FROM applied WHERE stream = 'web'",
              "batch:b-1,batch:b-2");
    assert_true(atomic_load(&bulk_batches) >= 1);
    publish_external("intake.bulk", "bulk-3", "b-3");
    publish_external("intake.bulk", "bulk-p", "poison");
    publish_external("intake.bulk", "bulk-4", "b-4");
    wait_text("SELECT count(*) FROM dead_letters WHERE type = 'intake.bulk'", "1");
    wait_text("SELECT count(*) FROM applied WHERE stream = 'web'", "4");
    /* each key once, whichever way it went (the run may have come apart) */
    assert_text("SELECT string_agg(substr(payload, strpos(payload, ':') + 1), ',' ORDER BY"
                " substr(payload, strpos(payload, ':') + 1)) FROM applied WHERE stream = 'web'",
                "b-1,b-2,b-3,b-4");
    assert_text("SELECT err FROM dead_letters WHERE type = 'intake.bulk'", "poison");
    assert_text("SELECT count(*) FROM processed_keys WHERE scope = 'test.bulk'", "4");
}

/* An event and a heartbeat of another epoch, arriving on the bus. */
static void publish_new_epoch_claims(void)
{
    Conveyor__Envelope env = CONVEYOR__ENVELOPE__INIT;
    env.event_id = pb_lend("0b9d6f5e-2c1a-4e8b-9f3d-7a6c5b4e3d2c");
    env.stream = pb_lend(PRODUCER);
    env.seq = 1;
    env.epoch = EPOCH + 1;
    env.type = pb_lend("thing.made");
    env.payload.data = (uint8_t *)(uintptr_t) "ok";
    env.payload.len = 2;
    publish_envelope(PRODUCER "/thing.made", &env);
    env.type = pb_lend(BUS_TYPE_HEARTBEAT);
    publish_envelope(PRODUCER "/" BUS_TYPE_HEARTBEAT, &env);
}

/* A frame that merely claims a new epoch is not believed: the replay
 * endpoint, asked, still serves the epoch followed, so nothing halts and
 * the stream goes on. */
static void test_claimed_epoch_is_not_believed(void **state)
{
    (void)state;
    produce_and_publish("o-1", "ok");
    wait_text(OFFSET, "1");
    publish_new_epoch_claims();
    produce_and_publish("o-2", "ok");
    wait_text(OFFSET, "2");
    assert_text(APPLIED_SEQS, "1,2");
    pause_ms(300); /* the confirming request was answered by now */
    assert_false(inbox_degraded(inbox));
    assert_text("SELECT coalesce(halted_reason, '-') FROM inbox_offsets WHERE stream = '" PRODUCER
                "'",
                "-");
}

/* The producer really started a new epoch (its outbox says so, as its
 * replay endpoint answers): the heartbeat is confirmed and the stream
 * halts until an operator resyncs it. */
static void test_new_epoch_halts_the_stream(void **state)
{
    (void)state;
    produce_and_publish("o-1", "ok");
    wait_text(OFFSET, "1");
    /* the producer's database was restored: its relay starts epoch + 1 */
    sql(pdb, "UPDATE outbox_streams SET epoch = epoch + 1, last_seq = 0");
    publish_new_epoch_claims();
    int64_t deadline = clock_mono_ms() + WAIT_MS;
    while (!inbox_degraded(inbox)) {
        assert_true(clock_mono_ms() < deadline);
        pause_ms(5);
    }
    inbox_stream_status_t status = stream_status();
    assert_true(status.halted);
    assert_true(status.epoch == EPOCH);
    assert_int_equal(status.applied_seq, 1);
    assert_non_null(strstr(status.halted_reason, "new epoch 1790000000001"));
    assert_text("SELECT halted_epoch || ':' || (halted_reason LIKE '%new epoch%') FROM"
                " inbox_offsets WHERE stream = '" PRODUCER "'",
                "1790000000001:true");

    /* nothing more is applied, of either epoch */
    publish_new_epoch_claims();
    pause_ms(300);
    assert_text(OFFSET, "1");
    assert_text(APPLIED_SEQS, "1");
    assert_true(inbox_degraded(inbox));

    /* an operator resyncs (what conveyor resync does after asking the
     * producer): the new epoch's events are applied from its first */
    assert_int_equal(inbox_resync(cdb, PRODUCER, EPOCH + 1, 0, false), 1);
    assert_int_equal(inbox_resync(cdb, PRODUCER, EPOCH + 1, 0, false), 0); /* not halted now */
    deadline = clock_mono_ms() + WAIT_MS;
    while (inbox_degraded(inbox)) {
        assert_true(clock_mono_ms() < deadline);
        pause_ms(5);
    }
}

/* A consumer started before its producer: its asks find the producer's
 * stream not open yet (UNAVAILABLE) and it backs off, each wait at least
 * as long as the one before. The producer's first live event has it ask
 * again at once: the event is applied well before the ask its backoff
 * would have waited for (it waited up to 5 s). */
static void test_producer_heard_live_ends_the_backoff(void **state)
{
    (void)state;
    stop_consumer();
    sql(cdb, "DELETE FROM inbox_offsets");
    sql(pdb, "DELETE FROM outbox_streams");
    uint64_t asked = counter_value("inbox_replay_requests_total");
    start_subscribed_consumer();
    /* until two asks are 800 ms apart: the next one is at least that far */
    int64_t deadline = clock_mono_ms() + 20000, last_ask = clock_mono_ms(), gap = 0;
    while (gap < 800) {
        if (clock_mono_ms() > deadline)
            fail_msg("the consumer's asks never came 800 ms apart");
        uint64_t now_asked = counter_value("inbox_replay_requests_total");
        if (now_asked != asked) {
            int64_t now = clock_mono_ms();
            gap = now - last_ask;
            last_ask = now;
            asked = now_asked;
        }
        pause_ms(2);
    }
    pause_ms(20); /* the last ask's answer is in */
    assert_true(stream_status().epoch == 0);
    int64_t started = clock_mono_ms();
    sql(pdb, "INSERT INTO outbox_streams (stream, epoch, system_identifier, timeline)"
             " SELECT '" PRODUCER "', 1790000000000, system_identifier::text,"
             " (SELECT timeline_id FROM pg_control_checkpoint()) FROM pg_control_system()");
    produce_and_publish("o-1", "ok");
    wait_text(OFFSET, "1");
    int64_t took = clock_mono_ms() - started;
    if (took >= 500)
        fail_msg("the producer's first event was applied %lld ms after it was heard",
                 (long long)took);
    assert_text(APPLIED_SEQS, "1");
}

/* --- fixtures ------------------------------------------------------------------------------ */

static int make_schema(db_t *session, const char *name)
{
    char ddl[128];
    snprintf(ddl, sizeof ddl, "DROP SCHEMA IF EXISTS %s CASCADE", name);
    const migration_set_t *sets[] = {&kit_migrations};
    return db_run_sql(session, ddl, NULL, NULL) == DB_OK && migrate_run(session, name, sets, 1) == 0
               ? 0
               : -1;
}

static int dsn_for(const char *name, char *out, size_t size)
{
    int n = snprintf(out, size, "%s%coptions=-csearch_path%%3D%s", base_url,
                     strchr(base_url, '?') ? '&' : '?', name);
    return n > 0 && (size_t)n < size ? 0 : -1;
}

/* A loopback port nobody listens on right now. */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) == 0 &&
        getsockname(fd, (struct sockaddr *)&addr, &len) == 0)
        port = ntohs(addr.sin_port);
    close(fd);
    return port;
}

static int group_setup(void **state)
{
    (void)state;
    log_init("test_inbox", LOG_ERROR);
    snprintf(consumer_schema, sizeof consumer_schema, "t_inbox_%d", (int)getpid());
    snprintf(producer_schema, sizeof producer_schema, "t_inbox_p_%d", (int)getpid());
    if (dsn_for(consumer_schema, consumer_dsn, sizeof consumer_dsn) != 0 ||
        dsn_for(producer_schema, producer_dsn, sizeof producer_dsn) != 0)
        return -1;
    cdb = db_new(consumer_dsn, "test_inbox_check");
    pdb = db_new(producer_dsn, "test_inbox_producer");
    if (!cdb || !pdb || make_schema(cdb, consumer_schema) != 0 ||
        make_schema(pdb, producer_schema) != 0 || outbox_prepare(pdb) != 0 ||
        db_run_sql(cdb,
                   "CREATE TABLE applied (id bigserial PRIMARY KEY, stream text NOT NULL,"
                   " seq bigint NOT NULL, type text NOT NULL, correlation_id text NOT NULL,"
                   " payload text NOT NULL, event_id text NOT NULL)",
                   NULL, NULL) != DB_OK)
        return -1;
    for (int attempt = 0; attempt < 5 && !replay; attempt++) {
        snprintf(replay_endpoint, sizeof replay_endpoint, "tcp://127.0.0.1:%d", free_port());
        replay_config_t config = {.dsn = producer_dsn,
                                  .bind = replay_endpoint,
                                  .stream = PRODUCER,
                                  .app_name = "test_inbox_replay"};
        replay = replay_server_new(&config);
    }
    if (!replay)
        return -1;
    snprintf(replay_peers, sizeof replay_peers, PRODUCER "=%s", replay_endpoint);
    zctx = zmq_ctx_new();
    relay_sink = zctx ? zmq_socket(zctx, ZMQ_SUB) : NULL;
    if (!relay_sink)
        return -1;
    int linger = 0;
    zmq_setsockopt(relay_sink, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_bind(relay_sink, "tcp://127.0.0.1:*") != 0)
        return -1;
    size_t len = sizeof relay_sink_endpoint;
    return zmq_getsockopt(relay_sink, ZMQ_LAST_ENDPOINT, relay_sink_endpoint, &len);
}

static int group_teardown(void **state)
{
    (void)state;
    stop_consumer();
    replay_server_destroy(&replay);
    if (relay_sink)
        zmq_close(relay_sink);
    if (zctx)
        zmq_ctx_term(zctx);
    int rc = 0;
    const char *schemas[] = {consumer_schema, producer_schema};
    for (int i = 0; i < 2; i++) {
        char ddl[128];
        snprintf(ddl, sizeof ddl, "DROP SCHEMA IF EXISTS %s CASCADE", schemas[i]);
        if (db_run_sql(cdb, ddl, NULL, NULL) != DB_OK) {
            fprintf(stderr, "test_inbox: cannot drop %s: %s\n", schemas[i], db_errmsg(cdb));
            rc = -1;
        }
    }
    db_destroy(&cdb);
    db_destroy(&pdb);
    return rc;
}

/* Each test: empty consumer tables, a producer at epoch EPOCH with nothing
 * numbered yet, and a consumer that follows it. */
static int setup(void **state)
{
    (void)state;
    stop_consumer(); /* what a failed setup left (cmocka skips its teardown) */
    if (db_run_sql(cdb,
                   "DELETE FROM applied; DELETE FROM dead_letters; DELETE FROM processed_keys;"
                   " DELETE FROM inbox_offsets; DELETE FROM outbox; DELETE FROM outbox_streams",
                   NULL, NULL) != DB_OK ||
        db_run_sql(pdb,
                   "DELETE FROM outbox; DELETE FROM outbox_streams;"
                   " INSERT INTO outbox_streams (stream, epoch, system_identifier, timeline)"
                   " SELECT '" PRODUCER "', 1790000000000, system_identifier::text,"
                   " (SELECT timeline_id FROM pg_control_checkpoint()) FROM pg_control_system()",
                   NULL, NULL) != DB_OK)
        return -1;
    atomic_store(&retry_left, 0);
    atomic_store(&retry_calls, 0);
    start_consumer();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    stop_consumer();
    return 0;
}

int main(void)
{
    base_url = getenv("TEST_DATABASE_URL");
    if (!base_url || !base_url[0]) {
        fprintf(stderr, "test_inbox: TEST_DATABASE_URL is not set (tests/run.sh sets it)\n");
        return 1;
    }
    alarm(120); /* a hang fails the run instead of stalling it */
#define INBOX_TEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        INBOX_TEST(test_events_applied_once_in_order),
        INBOX_TEST(test_batch_frames_applied_in_order),
        INBOX_TEST(test_ordinary_heartbeat_catches_up_behind_an_older_busd),
        INBOX_TEST(test_gap_is_fetched_by_replay),
        INBOX_TEST(test_rejected_event_is_parked_and_holds_its_correlation),
        INBOX_TEST(test_retry_applies_nothing_then_retries),
        INBOX_TEST(test_retry_during_catch_up_does_not_spin),
        INBOX_TEST(test_unparsable_frames_are_parked_by_hash),
        INBOX_TEST(test_external_events_deduplicate_by_key),
        INBOX_TEST(test_external_events_do_not_wait_behind_a_stream),
        INBOX_TEST(test_external_batch_handler_and_its_fallback),
        INBOX_TEST(test_claimed_epoch_is_not_believed),
        INBOX_TEST(test_new_epoch_halts_the_stream),
        INBOX_TEST(test_producer_heard_live_ends_the_backoff),
    };
    int failed = cmocka_run_group_tests(tests, group_setup, group_teardown);
    metrics_shutdown();
    return failed;
}
