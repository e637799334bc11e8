/*
 * test_relay.c — the leader that numbers and publishes the outbox
 * (relay.h), against the real PostgreSQL at TEST_DATABASE_URL: the kit's
 * migrations go into a schema of this run's own (t_relay_<pid>, dropped at
 * the end). The test plays busd: it binds a SUB socket on an ephemeral
 * loopback port and hands that endpoint to each relay as its pub_endpoint.
 *
 * Proves: a relay takes the leader lock and starts an epoch (a counter row
 * under the database's system identifier and timeline, seq 0) and at once
 * publishes a heartbeat; committed outbox rows leave as [topic][Envelope]
 * frames, a run of them as batch frames that pass busd's check, every
 * event passing the consumers' checks, with every field of the row and
 * a dense seq 1..n in commit order, also when two sessions inserted small
 * transactions' rows in one order and committed them in the other; a big
 * transaction's rows (BIG events or more) are numbered as inserted and the
 * transaction that numbered first commits first (another session's commit
 * waits for it); a big transaction numbers the small ones committed before
 * it first; six producers committing small and big transactions at once,
 * a quarter of them rolled back (half of those after their rows were
 * inserted), never show a snapshot with a hole in the seqs, and the relay
 * publishes every committed event exactly once, seq 1..n in order, and
 * nothing else; a rolled-back row is never published and leaves no gap,
 * also when it was numbered and another transaction waited behind it;
 * heartbeats ($hb, payload Heartbeat with the last seq published) arrive
 * about every heartbeat_ms; published_seq is written for the next leader,
 * never past last_seq; relay_numbered_total counts the events only the
 * relay numbered; relay_committed wakes a leader at once,
 * directly or through NOTIFY from a replica that does not lead, also when
 * the NOTIFY reaches the leader while one of its own statements runs
 * (libpq then holds it, not the socket); a second relay on the same schema
 * does not lead while the first holds the lock and takes over, in the same
 * epoch and from the next seq, after the first is destroyed; a relay that
 * finds the counter row under another identity starts a new, greater
 * epoch at seq 1; a relay that starts while a producer's first
 * transaction starts the stream leads in that epoch as soon as it
 * commits; purging removes published rows older than the retention (and
 * only those), also an earlier epoch's, and records purged_through, which heartbeats then carry;
 * numbering goes on from the head after everything was purged.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "common/busbatch.h"
#include "common/clock.h"
#include "common/db.h"
#include "common/envelope.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/migrate.h"
#include "common/outbox.h"
#include "common/relay.h"
#include "common/uuid.h"
#include "conveyor/envelope.pb-c.h"

#define STREAM "rly"
/* this schema's advisory locks (keyed by its oid) */
#define SCHEMA_OID "(SELECT oid FROM pg_namespace WHERE nspname = current_schema())"
#define SCHEMA_LOCKS                                                                               \
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = " SCHEMA_OID

static const char *base_url;
static char schema[64];
static char dsn[1024];
static db_t *db;  /* a producer's session */
static db_t *db2; /* another producer's session, to interleave transactions */
static db_t *db3; /* looks on while both are inside transactions */
static void *zctx;
static void *sub;     /* plays busd's XSUB: every relay connects here */
static void *monitor; /* the SUB's handshakes */
static char sub_endpoint[256];

/* --- the bus side --------------------------------------------------------------- */

typedef struct {
    char topic[BUS_TOPIC_MAX + 1];
    Conveyor__Envelope *env; /* owned */
    int64_t at_ms;           /* when it arrived (monotonic) */
} bus_msg_t;

static void bus_msg_clear(bus_msg_t *msg)
{
    if (msg->env)
        conveyor__envelope__free_unpacked(msg->env, NULL);
    msg->env = NULL;
}

/* The batch frame being handed out event by event, as busd forwards it. */
static zmq_msg_t batch_frame;
static bus_batch_view_t batch_view;
static size_t batch_next; /* the next event of batch_view to hand out */
static bool batch_open;
static int batches_seen;  /* batch frames received */
static size_t batch_most; /* the most events seen in one */

/* The [topic][Envelope] pair into msg; it must pass bus_frame_parse. */
static void take_pair(const void *topic, size_t topic_len, const void *body, size_t body_len,
                      bus_msg_t *msg)
{
    bus_frame_t frame;
    frame_status_t status = bus_frame_parse(topic, topic_len, body, body_len, &frame);
    if (status != FRAME_OK)
        fail_msg("relay published a frame that does not parse: %s", frame_status_code(status));
    snprintf(msg->topic, sizeof msg->topic, "%.*s", (int)topic_len, (const char *)topic);
    msg->env = frame.env;
    msg->at_ms = clock_mono_ms();
}

/* The next event of the batch in hand, as busd forwards it; false when
 * none is left. */
static bool take_batched(bus_msg_t *msg)
{
    if (!batch_open)
        return false;
    if (batch_next == batch_view.count) {
        zmq_msg_close(&batch_frame);
        batch_open = false;
        return false;
    }
    char topic[BUS_TOPIC_MAX + 1];
    int topic_len = bus_batch_topic(&batch_view, batch_next, topic, sizeof topic);
    assert_true(topic_len > 0);
    const bus_batch_event_t *event = &batch_view.events[batch_next++];
    take_pair(topic, (size_t)topic_len, event->envelope, event->envelope_len, msg);
    return true;
}

/* Receives one [topic][Envelope] within timeout_ms, or the next event of
 * a batch frame (which must pass busd's check, bus_batch_parse); it must
 * pass bus_frame_parse. false on timeout. */
static bool recv_msg(int64_t timeout_ms, bus_msg_t *msg)
{
    memset(msg, 0, sizeof *msg);
    if (take_batched(msg))
        return true;
    zmq_pollitem_t item = {sub, 0, ZMQ_POLLIN, 0};
    int ready = zmq_poll(&item, 1, (long)(timeout_ms > 0 ? timeout_ms : 0));
    if (ready <= 0)
        return false;
    zmq_msg_t topic, body;
    zmq_msg_init(&topic);
    assert_true(zmq_msg_recv(&topic, sub, 0) >= 0);
    if (!zmq_msg_more(&topic)) {
        /* a batch: more than one event of the relay's stream */
        batch_status_t status =
            bus_batch_parse(zmq_msg_data(&topic), zmq_msg_size(&topic), &batch_view);
        if (status != BATCH_OK)
            fail_msg("relay published a batch busd refuses: %s", batch_status_code(status));
        assert_true(batch_view.count > 1);
        batches_seen++;
        if (batch_view.count > batch_most)
            batch_most = batch_view.count;
        batch_frame = topic;
        batch_open = true;
        batch_next = 0;
        assert_true(take_batched(msg));
        return true;
    }
    zmq_msg_init(&body);
    assert_true(zmq_msg_recv(&body, sub, 0) >= 0);
    assert_false(zmq_msg_more(&body));
    take_pair(zmq_msg_data(&topic), zmq_msg_size(&topic), zmq_msg_data(&body), zmq_msg_size(&body),
              msg);
    zmq_msg_close(&topic);
    zmq_msg_close(&body);
    return true;
}

static bool is_heartbeat(const bus_msg_t *msg)
{
    return strcmp(msg->env->type, BUS_TYPE_HEARTBEAT) == 0;
}

/* The next message of epoch (any epoch when 0) that is (or is not) a
 * heartbeat, within timeout_ms; others are dropped. false on timeout. */
static bool next_of(bool heartbeat, uint64_t epoch, int64_t timeout_ms, bus_msg_t *msg)
{
    int64_t deadline = clock_mono_ms() + timeout_ms;
    for (;;) {
        if (!recv_msg(deadline - clock_mono_ms(), msg))
            return false;
        if (is_heartbeat(msg) == heartbeat && (epoch == 0 || msg->env->epoch == epoch))
            return true;
        bus_msg_clear(msg);
    }
}

static void expect_event(uint64_t epoch, uint64_t seq, const char *event_id, const char *payload)
{
    bus_msg_t msg;
    if (!next_of(false, epoch, 3000, &msg))
        fail_msg("no event seq %llu within 3 s", (unsigned long long)seq);
    if (msg.env->seq != seq)
        fail_msg("expected seq %llu (%s), got seq %llu (%.*s)", (unsigned long long)seq, payload,
                 (unsigned long long)msg.env->seq, (int)msg.env->payload.len,
                 (const char *)msg.env->payload.data);
    assert_string_equal(msg.env->event_id, event_id);
    assert_string_equal(msg.env->stream, STREAM);
    assert_true(msg.env->epoch == epoch);
    assert_int_equal(msg.env->payload.len, strlen(payload));
    assert_memory_equal(msg.env->payload.data, payload, strlen(payload));
    char topic[BUS_TOPIC_MAX + 1];
    assert_int_equal(bus_topic_format(topic, sizeof topic, STREAM, msg.env->type), 0);
    assert_string_equal(msg.topic, topic);
    bus_msg_clear(&msg);
}

/* Nothing but heartbeats arrives for quiet_ms. */
static void expect_no_event(int64_t quiet_ms)
{
    bus_msg_t msg;
    if (next_of(false, 0, quiet_ms, &msg))
        fail_msg("unexpected event seq %llu (%.*s)", (unsigned long long)msg.env->seq,
                 (int)msg.env->payload.len, (const char *)msg.env->payload.data);
}

/* The next heartbeat of epoch: its last_seq (envelope and payload agree). */
static uint64_t expect_heartbeat(uint64_t epoch, uint64_t *purged_through_out)
{
    bus_msg_t msg;
    if (!next_of(true, epoch, 3000, &msg))
        fail_msg("no heartbeat of epoch %llu within 3 s", (unsigned long long)epoch);
    char topic[BUS_TOPIC_MAX + 1];
    assert_int_equal(bus_topic_format(topic, sizeof topic, STREAM, BUS_TYPE_HEARTBEAT), 0);
    assert_string_equal(msg.topic, topic);
    Conveyor__Heartbeat *beat =
        conveyor__heartbeat__unpack(NULL, msg.env->payload.len, msg.env->payload.data);
    assert_non_null(beat);
    assert_true(beat->last_seq == msg.env->seq);
    uint64_t last_seq = beat->last_seq;
    if (purged_through_out)
        *purged_through_out = beat->purged_through;
    conveyor__heartbeat__free_unpacked(beat, NULL);
    bus_msg_clear(&msg);
    return last_seq;
}

static void drain_bus(void)
{
    bus_msg_t msg;
    while (recv_msg(0, &msg))
        bus_msg_clear(&msg);
}

/* --- the database side ---------------------------------------------------------- */

static void sql(db_t *session, const char *text)
{
    if (db_run_sql(session, text, NULL, NULL) != DB_OK)
        fail_msg("%s: %s", text, db_errmsg(session));
}

/* One number read on session (NULL: -1). */
static int64_t scalar_on(db_t *session, const char *text)
{
    PGresult *res = NULL;
    if (db_run_sql(session, text, NULL, &res) != DB_OK)
        fail_msg("%s: %s", text, db_errmsg(session));
    int64_t value = -1;
    if (db_get_i64(res, 0, 0, &value) != 0)
        value = -1; /* NULL */
    PQclear(res);
    return value;
}

static int64_t scalar(const char *text)
{
    return scalar_on(db, text);
}

/* Appends one event inside the session's open transaction. */
static void append(db_t *session, const char *payload, char event_id[UUID_TEXT_SIZE])
{
    outbox_meta_t meta = {.stream = STREAM, .type = "thing.happened", .correlation_id = "c-1"};
    db_status_t status = outbox_append(session, &meta, payload, strlen(payload), event_id);
    if (status != DB_OK)
        fail_msg("outbox_append: %s", db_errmsg(session));
}

/* Appends one event in a transaction of its own and commits. */
static void append_committed(db_t *session, const char *payload, char event_id[UUID_TEXT_SIZE])
{
    assert_int_equal(db_begin(session), DB_OK);
    append(session, payload, event_id);
    assert_int_equal(db_commit(session), DB_OK);
}

/* One transaction of count events on another thread (no cmocka there:
 * the test thread checks status once it has joined). */
typedef struct {
    db_t *session;
    const char *label;
    int count;
    char (*ids)[UUID_TEXT_SIZE];
    db_status_t status;
    atomic_bool done;
} committer_t;

static void *commit_many(void *arg)
{
    committer_t *c = arg;
    outbox_meta_t meta = {.stream = STREAM, .type = "thing.happened", .correlation_id = "c-1"};
    c->status = db_begin(c->session);
    for (int i = 0; c->status == DB_OK && i < c->count; i++) {
        char payload[32];
        snprintf(payload, sizeof payload, "%s-%d", c->label, i);
        c->status = outbox_append(c->session, &meta, payload, strlen(payload), c->ids[i]);
    }
    if (c->status == DB_OK)
        c->status = db_commit(c->session);
    else
        db_rollback(c->session);
    atomic_store(&c->done, true);
    return NULL;
}

/* --- relays ----------------------------------------------------------------------- */

/* relay_numbered_total of this stream (the process's, all relays) */
static uint64_t relay_numbered(void)
{
    return metrics_counter_value(
        metrics_counter("relay_numbered_total", "stream=\"" STREAM "\"", ""));
}

static relay_config_t quick_config(void)
{
    return (relay_config_t){
        .dsn = dsn,
        .schema = schema,
        .stream = STREAM,
        .pub_endpoint = sub_endpoint,
        .app_name = "test_relay",
        .poll_ms = 50,
        .heartbeat_ms = 100,
        .leader_retry_ms = 50,
        .maintenance_ms = 100,
    };
}

/* Every relay a test started, so that a failed test leaves none running
 * (it would keep the lock from the next test). */
static relay_t *running[4];

static relay_t *start_relay(const relay_config_t *config)
{
    relay_t *relay = relay_new(config);
    assert_non_null(relay);
    size_t slot = 0;
    while (slot < 4 && running[slot])
        slot++;
    if (slot < 4)
        running[slot] = relay;
    else
        fail_msg("more than 4 relays at once");
    assert_int_equal(relay_start(relay), 0);
    return relay;
}

/* relay_destroy for a relay of start_relay. */
static void stop_relay(relay_t **relay_p)
{
    for (size_t slot = 0; slot < 4; slot++)
        if (running[slot] == *relay_p)
            running[slot] = NULL;
    relay_destroy(relay_p);
}

static bool wait_leader(const relay_t *relay, int64_t timeout_ms)
{
    int64_t deadline = clock_mono_ms() + timeout_ms;
    while (!relay_is_leader(relay)) {
        if (clock_mono_ms() > deadline)
            return false;
        struct timespec pause = {0, 5 * 1000000L};
        nanosleep(&pause, NULL);
    }
    return true;
}

/* Waits for the monitor of our SUB to report a completed handshake (a
 * relay's PUB connected); false after timeout_ms. */
static bool wait_handshake(int64_t timeout_ms)
{
    int64_t deadline = clock_mono_ms() + timeout_ms;
    for (;;) {
        zmq_pollitem_t item = {monitor, 0, ZMQ_POLLIN, 0};
        int64_t left = deadline - clock_mono_ms();
        if (left <= 0 || zmq_poll(&item, 1, (long)left) <= 0)
            return false;
        uint8_t event[6];
        char address[256];
        int n = zmq_recv(monitor, event, sizeof event, 0);
        assert_true(n == (int)sizeof event);
        assert_true(zmq_recv(monitor, address, sizeof address, 0) >= 0);
        uint16_t id = 0;
        memcpy(&id, event, sizeof id);
        if (id == ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
            return true;
    }
}

/* Takes the leader lock on db2 for the test, waiting up to timeout_ms: a
 * relay just stopped may still hold it, since its session's backend
 * releases the lock when it exits, a little after the client hung up
 * (long enough on a loaded machine to be seen); false if never free. */
static bool take_leader_lock(int64_t timeout_ms)
{
    int64_t deadline = clock_mono_ms() + timeout_ms;
    for (;;) {
        bool acquired = false;
        assert_int_equal(db_try_advisory_lock(db2, schema, DB_LOCK_LEADER, &acquired), DB_OK);
        if (acquired)
            return true;
        if (clock_mono_ms() > deadline)
            return false;
        struct timespec pause = {0, 10 * 1000000L};
        nanosleep(&pause, NULL);
    }
}

/* Starts a relay, waits until it leads and a heartbeat of it has come
 * through, so the PUB/SUB pipe is up and nothing published later is lost
 * to the slow-joiner window. The relay's first heartbeat goes out as soon
 * as it leads; with a long heartbeat_ms there is no second one to wait
 * for, so the test holds the leader lock until the relay's PUB has
 * connected (and starts it again should the heartbeat still be lost). */
static relay_t *start_leader(const relay_config_t *config, uint64_t *epoch_out)
{
    bool gated = config->heartbeat_ms >= 1000;
    for (int attempt = 0; attempt < 5; attempt++) {
        if (gated) {
            if (!take_leader_lock(5000))
                fail_msg("the leader lock was not free within 5 s");
            while (wait_handshake(0))
                ; /* earlier relays' connections */
        }
        relay_t *relay = start_relay(config);
        if (gated) {
            bool connected = wait_handshake(3000);
            /* the SUB attaches the new pipe, and sends its subscription
             * down it, only when our thread works the socket: work it a
             * little (it answers its commands in zmq_poll) before the
             * relay may lead */
            int64_t until = clock_mono_ms() + 100;
            while (connected && clock_mono_ms() < until) {
                zmq_pollitem_t item = {sub, 0, ZMQ_POLLIN, 0};
                zmq_poll(&item, 1, 10);
            }
            assert_int_equal(db_advisory_unlock(db2, schema, DB_LOCK_LEADER), DB_OK);
            assert_true(connected);
        }
        if (!wait_leader(relay, 3000))
            fail_msg("relay did not lead within 3 s");
        uint64_t epoch = relay_epoch(relay);
        assert_true(epoch > 0);
        bus_msg_t msg;
        if (next_of(true, epoch, gated ? 1000 : 3000, &msg)) {
            bus_msg_clear(&msg);
            *epoch_out = epoch;
            return relay;
        }
        stop_relay(&relay);
    }
    fail_msg("no heartbeat came through in 5 starts of the relay");
    return NULL;
}

/* Waits until the query's single number is want; false after 3 s. */
static bool wait_scalar_on(db_t *session, const char *query, int64_t want)
{
    int64_t deadline = clock_mono_ms() + 3000;
    while (scalar_on(session, query) != want) {
        if (clock_mono_ms() > deadline)
            return false;
        struct timespec pause = {0, 20 * 1000000L};
        nanosleep(&pause, NULL);
    }
    return true;
}

static bool wait_scalar(const char *query, int64_t want)
{
    return wait_scalar_on(db, query, want);
}

/* Waits until db2 waits for a lock (seen from db3: a session inside a
 * transaction sees pg_stat_activity as it was when the transaction began). */
static bool wait_db2_blocked(void)
{
    return wait_scalar_on(db3,
                          "SELECT count(*) FROM pg_stat_activity WHERE application_name ="
                          " 'test_relay_producer2' AND wait_event_type = 'Lock'",
                          1);
}

/* --- tests ------------------------------------------------------------------------ */

static void test_leader_starts_an_epoch(void **state)
{
    (void)state;
    relay_config_t config = quick_config();
    int64_t before = clock_now_ms();
    relay_t *relay = start_relay(&config);
    assert_true(wait_leader(relay, 3000));
    uint64_t epoch = relay_epoch(relay);
    assert_true(epoch >= (uint64_t)before && epoch <= (uint64_t)clock_now_ms());

    PGresult *res = NULL;
    assert_int_equal(db_run_sql(db,
                                "SELECT s.epoch, s.last_seq, s.purged_through,"
                                " s.system_identifier = c.system_identifier::text,"
                                " s.timeline = (SELECT timeline_id FROM pg_control_checkpoint())"
                                " FROM outbox_streams s, pg_control_system() c"
                                " WHERE s.stream = '" STREAM "'",
                                NULL, &res),
                     DB_OK);
    assert_int_equal(PQntuples(res), 1);
    int64_t stored_epoch = 0;
    assert_int_equal(db_get_i64(res, 0, 0, &stored_epoch), 0);
    assert_true((uint64_t)stored_epoch == epoch);
    assert_string_equal(db_value(res, 0, 1), "0");
    assert_string_equal(db_value(res, 0, 2), "0");
    assert_string_equal(db_value(res, 0, 3), "t");
    assert_string_equal(db_value(res, 0, 4), "t");
    PQclear(res);

    /* the lock is the leader advisory lock (schema oid, DB_LOCK_LEADER),
     * held by the relay's own session */
    assert_int_equal(scalar("SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a"
                            " ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted"
                            " AND l.classid = " SCHEMA_OID " AND l.objid = 2"
                            " AND a.application_name = 'test_relay'"),
                     1);
    assert_int_equal(scalar(SCHEMA_LOCKS), 1);
    /* a heartbeat at once: nothing numbered yet */
    assert_int_equal(expect_heartbeat(epoch, NULL), 0);
    stop_relay(&relay);
    assert_null(relay);
    /* destroying it closes the session, which releases the lock */
    assert_true(wait_scalar(SCHEMA_LOCKS, 0));
}

static void test_committed_rows_are_published_in_commit_order(void **state)
{
    (void)state;
    relay_config_t config = quick_config();
    uint64_t epoch = 0;
    relay_t *relay = start_leader(&config, &epoch);

    /* three rows of one transaction: seq in append order */
    char ids[5][UUID_TEXT_SIZE];
    assert_int_equal(db_begin(db), DB_OK);
    append(db, "one", ids[0]);
    append(db, "two", ids[1]);
    append(db, "three", ids[2]);
    assert_int_equal(db_commit(db), DB_OK);
    relay_wake(relay);
    expect_event(epoch, 1, ids[0], "one");
    expect_event(epoch, 2, ids[1], "two");
    expect_event(epoch, 3, ids[2], "three");

    /* "late" is inserted first (a savepoint flushes the buffered row, so its
     * id is the lower one) but commits after "early" */
    assert_int_equal(db_begin(db), DB_OK);
    append(db, "late", ids[3]);
    assert_int_equal(db_savepoint(db, "flushed"), DB_OK);
    /* to everyone else the row does not exist yet */
    assert_int_equal(scalar_on(db2, "SELECT count(*) FROM outbox"), 3);
    append_committed(db2, "early", ids[4]);
    relay_wake(relay);
    expect_event(epoch, 4, ids[4], "early");
    assert_int_equal(db_commit(db), DB_OK);
    relay_wake(relay);
    expect_event(epoch, 5, ids[3], "late");

    /* the rows say the same, and the counter row moved with them */
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, ids[3]);
    db_param_text(&params, ids[4]);
    PGresult *res = NULL;
    assert_int_equal(db_run_sql(db,
                                "SELECT (SELECT id FROM outbox WHERE event_id = $1::uuid) <"
                                " (SELECT id FROM outbox WHERE event_id = $2::uuid)",
                                &params, &res),
                     DB_OK);
    assert_string_equal(db_value(res, 0, 0), "t"); /* inserted in the other order */
    PQclear(res);
    assert_int_equal(scalar("SELECT count(*) FROM outbox WHERE seq IS NULL"), 0);
    assert_int_equal(scalar("SELECT count(DISTINCT seq) FROM outbox WHERE seq BETWEEN 1 AND 5"), 5);
    assert_int_equal(scalar("SELECT last_seq FROM outbox_streams"), 5);
    assert_int_equal(expect_heartbeat(epoch, NULL), 5);
    stop_relay(&relay);
}

/* BIG events in one transaction: numbered as they are inserted. */
#define BIG 64

/* Appends n events labelled label-0.. (ids into ids[0..n)), in the
 * session's open transaction. */
static void append_many(db_t *session, const char *label, int n, char (*ids)[UUID_TEXT_SIZE])
{
    for (int i = 0; i < n; i++) {
        char payload[32];
        snprintf(payload, sizeof payload, "%s-%d", label, i);
        append(session, payload, ids[i]);
    }
}

static void expect_many(uint64_t epoch, uint64_t first_seq, const char *label, int n,
                        char (*ids)[UUID_TEXT_SIZE])
{
    for (int i = 0; i < n; i++) {
        char payload[32];
        snprintf(payload, sizeof payload, "%s-%d", label, i);
        expect_event(epoch, first_seq + (uint64_t)i, ids[i], payload);
    }
}

static void test_big_transaction_is_numbered_at_insert_and_commits_first(void **state)
{
    (void)state;
    relay_config_t config = quick_config();
    uint64_t epoch = 0;
    relay_t *relay = start_leader(&config, &epoch);

    /* "first" is inserted and numbered (a savepoint flushes the buffered
     * rows) and holds the stream's counter row until its transaction ends:
     * "second", committed meanwhile by another session, waits for it, is
     * numbered after it and commits after it */
    static char first[BIG][UUID_TEXT_SIZE], second[BIG][UUID_TEXT_SIZE];
    assert_int_equal(db_begin(db), DB_OK);
    append_many(db, "first", BIG, first);
    assert_int_equal(db_savepoint(db, "flushed"), DB_OK);
    assert_int_equal(scalar("SELECT count(*) FROM outbox WHERE seq BETWEEN 1 AND 64"), BIG);
    /* to everyone else the rows do not exist yet */
    assert_int_equal(scalar_on(db2, "SELECT count(*) FROM outbox"), 0);
    committer_t other = {.session = db2, .label = "second", .count = BIG, .ids = second};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, commit_many, &other), 0);
    assert_true(wait_db2_blocked());
    relay_wake(relay);
    expect_no_event(200);
    assert_false(atomic_load(&other.done));
    assert_int_equal(db_commit(db), DB_OK);
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_int_equal(other.status, DB_OK);
    int batches_before = batches_seen;
    relay_wake(relay);
    expect_many(epoch, 1, "first", BIG, first);
    expect_many(epoch, 1 + BIG, "second", BIG, second);
    /* read together, they left in batch frames, not one message each */
    assert_true(batches_seen > batches_before);
    assert_int_equal(scalar("SELECT count(*) FROM outbox WHERE seq IS NULL"), 0);
    assert_int_equal(scalar("SELECT last_seq FROM outbox_streams"), 2 * BIG);
    assert_int_equal(expect_heartbeat(epoch, NULL), 2 * BIG);
    stop_relay(&relay);
}

/* A big transaction first numbers the events committed unnumbered that it
 * can see: it may have read what they did, so they come before its own. */
static void test_big_transaction_numbers_earlier_small_ones_first(void **state)
{
    (void)state;
    char small[2][UUID_TEXT_SIZE];
    static char big[BIG][UUID_TEXT_SIZE];
    /* no relay: nobody numbers but the producers; outside a transaction
     * (not flushed by db_commit) a small insert is left unnumbered */
    append(db, "small-0", small[0]);
    append(db2, "small-1", small[1]);
    assert_int_equal(scalar("SELECT count(*) FROM outbox WHERE seq IS NULL"), 2);
    assert_int_equal(db_begin(db), DB_OK);
    append_many(db, "big", BIG, big);
    assert_int_equal(db_commit(db), DB_OK);
    assert_int_equal(scalar("SELECT count(*) FROM outbox WHERE seq IS NULL"), 0);
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, small[0]);
    db_param_text(&params, small[1]);
    db_param_text(&params, big[0]);
    db_param_text(&params, big[BIG - 1]);
    PGresult *res = NULL;
    assert_int_equal(db_run_sql(db,
                                "SELECT string_agg(seq::text, ' ' ORDER BY k) FROM outbox"
                                " JOIN (VALUES ($1::uuid, 1), ($2::uuid, 2), ($3::uuid, 3),"
                                " ($4::uuid, 4)) AS w (e, k) ON w.e = outbox.event_id",
                                &params, &res),
                     DB_OK);
    char want[32];
    snprintf(want, sizeof want, "1 2 3 %d", BIG + 2);
    assert_string_equal(db_value(res, 0, 0), want);
    PQclear(res);
    assert_int_equal(scalar("SELECT last_seq FROM outbox_streams"), BIG + 2);
    assert_int_equal(scalar("SELECT count(DISTINCT seq) FROM outbox"), BIG + 2);
}

/* A small transaction alone at its commit is numbered as inserted, the
 * events it could have read first; while another transaction holds the
 * stream's counter row, it neither waits for it nor takes a seq: the
 * relay numbers it once the holder has ended, after the holder's events. */
static void test_small_transaction_numbered_when_the_counter_is_free(void **state)
{
    (void)state;
    char early[UUID_TEXT_SIZE], alone[UUID_TEXT_SIZE], beside[UUID_TEXT_SIZE];
    static char big[BIG][UUID_TEXT_SIZE];
    relay_config_t config = quick_config();
    uint64_t epoch = 0;
    relay_t *relay = start_leader(&config, &epoch);
    append(db, "early", early); /* outside a transaction: unnumbered */
    append_committed(db, "alone", alone);
    assert_int_equal(scalar("SELECT count(*) FROM outbox WHERE seq IS NULL"), 0);
    assert_int_equal(scalar("SELECT last_seq FROM outbox_streams"), 2);

    /* a big transaction flushed by a savepoint holds the counter row */
    assert_int_equal(db_begin(db), DB_OK);
    append_many(db, "big", BIG, big);
    assert_int_equal(db_savepoint(db, "flushed"), DB_OK);
    uint64_t numbered_before = relay_numbered();
    int64_t started = clock_mono_ms();
    append_committed(db2, "beside", beside);
    assert_true(clock_mono_ms() - started < 2000); /* it did not wait */
    assert_int_equal(scalar("SELECT count(*) FROM outbox WHERE seq IS NULL"), 1);
    assert_int_equal(db_commit(db), DB_OK);
    relay_wake(relay);
    expect_event(epoch, 1, early, "early");
    expect_event(epoch, 2, alone, "alone");
    expect_many(epoch, 3, "big", BIG, big);
    expect_event(epoch, BIG + 3, beside, "beside");
    assert_int_equal(scalar("SELECT count(*) FROM outbox WHERE seq IS NULL"), 0);
    assert_int_equal(scalar("SELECT last_seq FROM outbox_streams"), BIG + 3);
    /* only "beside" waited for the relay's numbering ("early" was numbered
     * by the commit of "alone"): the metric says how many paid for it */
    assert_int_equal(relay_numbered() - numbered_before, 1);
    stop_relay(&relay);
}

/* How far the relay published is written to the counter row for the next
 * leader, as heartbeats go, by the relay's own session; published_seq
 * never passes last_seq, and the relay keeps publishing after it (the
 * write leaves its session idle: no transaction block left open). */
static void test_published_seq_is_written_for_the_next_leader(void **state)
{
    (void)state;
    relay_config_t config = quick_config();
    uint64_t epoch = 0;
    relay_t *relay = start_leader(&config, &epoch);
    char first[UUID_TEXT_SIZE], second[UUID_TEXT_SIZE], third[UUID_TEXT_SIZE];
    append_committed(db, "first", first);
    append_committed(db, "second", second);
    relay_wake(relay);
    expect_event(epoch, 1, first, "first");
    expect_event(epoch, 2, second, "second");
    assert_true(wait_scalar("SELECT published_seq FROM outbox_streams", 2));
    append_committed(db, "third", third);
    relay_wake(relay);
    expect_event(epoch, 3, third, "third");
    assert_true(wait_scalar("SELECT published_seq FROM outbox_streams", 3));
    assert_int_equal(scalar("SELECT count(*) FROM outbox_streams WHERE published_seq > last_seq"),
                     0);
    assert_int_equal(scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                            "'test_relay' AND state LIKE 'idle in transaction%'"),
                     0);
    stop_relay(&relay);
}

/* --- many producers at once ----------------------------------------------------- */

#define PRODUCERS       6
#define TX_PER_PRODUCER 20
#define EVENTS_MAX      (BIG + 6) /* per transaction */

typedef struct {
    db_t *session;
    unsigned seed;
    char ids[TX_PER_PRODUCER * EVENTS_MAX][UUID_TEXT_SIZE]; /* the committed events */
    int committed;
    int failures;
} producer_t;

/* Transactions of 1..4 events (numbered as inserted when the counter row
 * is free, else inserted unnumbered and numbered by the relay)
 * or BIG..EVENTS_MAX (numbered as inserted), half each; one in four rolls
 * back, half of those after a savepoint has inserted (and numbered) its
 * events. */
static void *produce_many(void *arg)
{
    producer_t *p = arg;
    outbox_meta_t meta = {.stream = STREAM, .type = "thing.happened", .correlation_id = "c-1"};
    for (int tx = 0; tx < TX_PER_PRODUCER; tx++) {
        int events = rand_r(&p->seed) % 2 ? 1 + (int)(rand_r(&p->seed) % 4)
                                          : BIG + (int)(rand_r(&p->seed) % (EVENTS_MAX - BIG + 1));
        int fate = (int)(rand_r(&p->seed) % 8); /* 0: roll back, 1: flush then roll back */
        char ids[EVENTS_MAX][UUID_TEXT_SIZE];
        bool ok = db_begin(p->session) == DB_OK;
        for (int i = 0; ok && i < events; i++)
            ok = outbox_append(p->session, &meta, "x", 1, ids[i]) == DB_OK;
        if (ok && fate == 1)
            ok = db_savepoint(p->session, "numbered") == DB_OK;
        if (ok && fate <= 1) {
            db_rollback(p->session);
            continue;
        }
        if (ok && db_commit(p->session) == DB_OK) {
            for (int i = 0; i < events; i++)
                memcpy(p->ids[p->committed++], ids[i], UUID_TEXT_SIZE);
        } else {
            db_rollback(p->session);
            p->failures++;
        }
    }
    return NULL;
}

typedef struct {
    db_t *session;
    atomic_bool stop;
    int checks;
    int holes; /* snapshots that saw a seq without every lower one */
} watcher_t;

/* Reads the stream over and over: in every snapshot the visible seqs must
 * be 1..n, nothing missing below the highest (commits in seq order). */
static void *watch_prefix(void *arg)
{
    watcher_t *w = arg;
    while (!atomic_load(&w->stop)) {
        PGresult *res = NULL;
        if (db_run_sql(
                w->session,
                "SELECT count(seq), coalesce(max(seq), 0) FROM outbox WHERE stream = '" STREAM "'",
                NULL, &res) == DB_OK) {
            int64_t count = -1, max = -2;
            db_get_i64(res, 0, 0, &count);
            db_get_i64(res, 0, 1, &max);
            w->checks++;
            if (count != max)
                w->holes++;
        }
        PQclear(res);
    }
    return NULL;
}

static void test_concurrent_producers_are_published_once_in_seq_order(void **state)
{
    (void)state;
    relay_config_t config = quick_config();
    uint64_t epoch = 0;
    relay_t *relay = start_leader(&config, &epoch);

    static producer_t producers[PRODUCERS];
    pthread_t threads[PRODUCERS], watcher_thread;
    watcher_t watcher = {.session = db_new(dsn, "test_relay_watcher")};
    assert_non_null(watcher.session);
    for (int i = 0; i < PRODUCERS; i++) {
        memset(&producers[i], 0, sizeof producers[i]);
        producers[i].seed = (unsigned)(getpid() * 31 + i);
        producers[i].session = db_new(dsn, "test_relay_concurrent");
        assert_non_null(producers[i].session);
        assert_int_equal(outbox_prepare(producers[i].session), 0);
    }
    assert_int_equal(pthread_create(&watcher_thread, NULL, watch_prefix, &watcher), 0);
    for (int i = 0; i < PRODUCERS; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, produce_many, &producers[i]), 0);
    int total = 0, failures = 0;
    for (int i = 0; i < PRODUCERS; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        total += producers[i].committed;
        failures += producers[i].failures;
    }
    atomic_store(&watcher.stop, true);
    assert_int_equal(pthread_join(watcher_thread, NULL), 0);
    db_destroy(&watcher.session);
    assert_int_equal(failures, 0);
    assert_true(watcher.checks > 0);
    assert_int_equal(watcher.holes, 0);
    assert_true(total > 0);

    /* every committed event once, seq 1..total in order, nothing else */
    relay_wake(relay);
    static bool seen[PRODUCERS][TX_PER_PRODUCER * EVENTS_MAX];
    memset(seen, 0, sizeof seen);
    for (int seq = 1; seq <= total; seq++) {
        bus_msg_t msg;
        if (!next_of(false, epoch, 3000, &msg))
            fail_msg("no event seq %d of %d within 3 s", seq, total);
        if (msg.env->seq != (uint64_t)seq)
            fail_msg("expected seq %d, got %llu", seq, (unsigned long long)msg.env->seq);
        bool found = false;
        for (int p = 0; p < PRODUCERS && !found; p++)
            for (int i = 0; i < producers[p].committed && !found; i++)
                if (strcmp(producers[p].ids[i], msg.env->event_id) == 0) {
                    if (seen[p][i])
                        fail_msg("event %s published twice", msg.env->event_id);
                    seen[p][i] = found = true;
                }
        if (!found)
            fail_msg("seq %d is event %s, which no producer committed", seq, msg.env->event_id);
        bus_msg_clear(&msg);
    }
    expect_no_event(300);
    assert_int_equal(scalar("SELECT last_seq FROM outbox_streams"), total);
    assert_int_equal(scalar("SELECT count(*) FROM outbox"), total);
    assert_int_equal(expect_heartbeat(epoch, NULL), total);
    for (int i = 0; i < PRODUCERS; i++)
        db_destroy(&producers[i].session);
    stop_relay(&relay);
}

static void test_rolled_back_row_is_never_published(void **state)
{
    (void)state;
    relay_config_t config = quick_config();
    uint64_t epoch = 0;
    relay_t *relay = start_leader(&config, &epoch);

    char doomed[UUID_TEXT_SIZE], first[UUID_TEXT_SIZE], second[UUID_TEXT_SIZE];
    assert_int_equal(db_begin(db), DB_OK);
    append(db, "doomed", doomed);
    assert_int_equal(db_savepoint(db, "flushed"), DB_OK); /* the row exists, uncommitted */
    append_committed(db2, "first", first);
    relay_wake(relay);
    expect_event(epoch, 1, first, "first");
    db_rollback(db);
    append_committed(db2, "second", second);
    relay_wake(relay);
    expect_event(epoch, 2, second, "second"); /* no gap where "doomed" was */
    expect_no_event(300);
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, doomed);
    PGresult *res = NULL;
    assert_int_equal(
        db_run_sql(db, "SELECT count(*) FROM outbox WHERE event_id = $1::uuid", &params, &res),
        DB_OK);
    assert_string_equal(db_value(res, 0, 0), "0");
    PQclear(res);
    assert_int_equal(expect_heartbeat(epoch, NULL), 2);
    stop_relay(&relay);
}

static void test_numbered_then_rolled_back_leaves_no_gap(void **state)
{
    (void)state;
    relay_config_t config = quick_config();
    uint64_t epoch = 0;
    relay_t *relay = start_leader(&config, &epoch);

    static char doomed[BIG][UUID_TEXT_SIZE], kept[BIG][UUID_TEXT_SIZE];
    assert_int_equal(db_begin(db), DB_OK);
    append_many(db, "doomed", BIG, doomed);
    /* the rows exist, uncommitted, numbered 1..BIG; "kept" waits for them */
    assert_int_equal(db_savepoint(db, "flushed"), DB_OK);
    assert_int_equal(scalar("SELECT max(seq) FROM outbox"), BIG);
    committer_t other = {.session = db2, .label = "kept", .count = BIG, .ids = kept};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, commit_many, &other), 0);
    assert_true(wait_db2_blocked());
    db_rollback(db); /* gives numbers 1..BIG back */
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_int_equal(other.status, DB_OK);
    relay_wake(relay);
    expect_many(epoch, 1, "kept", BIG, kept);
    expect_no_event(300);
    assert_int_equal(scalar("SELECT count(*) FROM outbox"), BIG);
    assert_int_equal(expect_heartbeat(epoch, NULL), BIG);
    stop_relay(&relay);
}

static void test_heartbeats_every_interval(void **state)
{
    (void)state;
    relay_config_t config = quick_config();
    uint64_t epoch = 0;
    relay_t *relay = start_leader(&config, &epoch);
    char id[UUID_TEXT_SIZE];
    append_committed(db, "beat", id);
    relay_wake(relay);
    expect_event(epoch, 1, id, "beat");

    /* six heartbeats: five intervals of about heartbeat_ms (100) each */
    int64_t first_at = 0, last_at = 0;
    for (int i = 0; i < 6; i++) {
        bus_msg_t msg;
        if (!next_of(true, epoch, 2000, &msg))
            fail_msg("heartbeat %d did not come within 2 s", i);
        assert_int_equal(msg.env->seq, 1);
        if (i == 0)
            first_at = msg.at_ms;
        last_at = msg.at_ms;
        bus_msg_clear(&msg);
    }
    int64_t mean_ms = (last_at - first_at) / 5;
    if (mean_ms < 60 || mean_ms > 300)
        fail_msg("heartbeats came every %lld ms on average; configured 100", (long long)mean_ms);
    stop_relay(&relay);
}

static void test_committed_wakes_the_leader(void **state)
{
    (void)state;
    /* with a 10 s poll and heartbeat, only a wake can publish quickly; the
     * purge runs on every round (maintenance_ms 1) */
    relay_config_t slow = quick_config();
    slow.poll_ms = 10000;
    slow.heartbeat_ms = 10000;
    slow.maintenance_ms = 1;
    slow.retention_ms = 60000;
    uint64_t epoch = 0;
    relay_t *leader = start_leader(&slow, &epoch);
    relay_config_t config = quick_config();
    config.app_name = "test_relay_follower";
    relay_t *follower = start_relay(&config);

    char id[UUID_TEXT_SIZE];
    append_committed(db, "direct", id);
    int64_t started = clock_mono_ms();
    relay_committed(leader, db); /* this process leads: an in-process wake */
    expect_event(epoch, 1, id, "direct");
    assert_true(clock_mono_ms() - started < 2000);

    assert_false(relay_is_leader(follower));
    append_committed(db, "notified", id);
    started = clock_mono_ms();
    relay_committed(follower, db); /* another replica leads: NOTIFY */
    expect_event(epoch, 2, id, "notified");
    assert_true(clock_mono_ms() - started < 2000);

    /* A NOTIFY that reaches the leader while one of its statements runs is
     * read off the socket by libpq with that statement's answer: it must
     * still wake the relay. Hold the leader in its purge (a purgeable row
     * locked by another session), notify, then let the purge finish. The
     * leader purges on every round: the row is made purgeable only once
     * the leader has gone back to its wait (its sessions idle for a while),
     * or the tail of the round that published event 2 could purge it
     * before the other session locks it, and no purge would ever block. */
    assert_true(wait_scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name ="
                            " 'test_relay' AND (state <> 'idle' OR"
                            " clock_timestamp() - state_change < interval '200 ms')",
                            0));
    sql(db, "UPDATE outbox SET created_at = now() - interval '1 hour' WHERE seq = 1");
    assert_int_equal(db_begin(db2), DB_OK);
    sql(db2, "SELECT id FROM outbox WHERE seq = 1 FOR UPDATE");
    relay_wake(leader);
    assert_true(wait_scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name ="
        " 'test_relay' AND wait_event_type = 'Lock' AND query LIKE '%DELETE FROM outbox%'",
        1));
    append_committed(db, "notified while busy", id);
    relay_committed(follower, db);
    db_rollback(db2);
    expect_event(epoch, 3, id, "notified while busy");
    assert_int_equal(scalar("SELECT count(*) FROM outbox WHERE seq = 1"), 0); /* purged */
    stop_relay(&follower);
    stop_relay(&leader);
}

static void test_second_relay_takes_over(void **state)
{
    (void)state;
    relay_config_t config = quick_config();
    uint64_t epoch = 0;
    relay_t *first = start_leader(&config, &epoch);
    relay_config_t second_config = quick_config();
    second_config.app_name = "test_relay_second";
    relay_t *second = start_relay(&second_config);

    char id[UUID_TEXT_SIZE];
    append_committed(db, "from the first", id);
    relay_wake(first);
    expect_event(epoch, 1, id, "from the first");
    /* several lock attempts of the second pass while the first leads */
    int64_t until = clock_mono_ms() + 300;
    while (clock_mono_ms() < until) {
        assert_false(relay_is_leader(second));
        assert_int_equal(relay_epoch(second), 0);
        struct timespec pause = {0, 10 * 1000000L};
        nanosleep(&pause, NULL);
    }
    assert_true(relay_is_leader(first));

    stop_relay(&first);
    if (!wait_leader(second, 3000))
        fail_msg("the second relay did not take over within 3 s");
    assert_true(relay_epoch(second) == epoch); /* same database: same epoch */
    assert_int_equal(expect_heartbeat(epoch, NULL), 1);
    append_committed(db, "from the second", id);
    relay_wake(second);
    expect_event(epoch, 2, id, "from the second");
    stop_relay(&second);
}

static void test_identity_change_starts_a_new_epoch(void **state)
{
    (void)state;
    relay_config_t config = quick_config();
    uint64_t old_epoch = 0;
    relay_t *relay = start_leader(&config, &old_epoch);
    char id[UUID_TEXT_SIZE], id2[UUID_TEXT_SIZE];
    append_committed(db, "old life 1", id);
    append_committed(db, "old life 2", id2);
    relay_wake(relay);
    expect_event(old_epoch, 1, id, "old life 1");
    expect_event(old_epoch, 2, id2, "old life 2");
    stop_relay(&relay);
    assert_int_equal(scalar("SELECT last_seq FROM outbox_streams"), 2);

    /* what a restore from another cluster looks like to the relay */
    sql(db, "UPDATE outbox_streams SET system_identifier = 'other'");
    uint64_t epoch = 0;
    relay = start_leader(&config, &epoch);
    assert_true(epoch > old_epoch);
    PGresult *res = NULL;
    assert_int_equal(db_run_sql(db,
                                "SELECT s.epoch, s.last_seq, s.purged_through,"
                                " s.system_identifier = c.system_identifier::text"
                                " FROM outbox_streams s, pg_control_system() c",
                                NULL, &res),
                     DB_OK);
    int64_t stored = 0;
    assert_int_equal(db_get_i64(res, 0, 0, &stored), 0);
    assert_true((uint64_t)stored == epoch);
    assert_string_equal(db_value(res, 0, 1), "0");
    assert_string_equal(db_value(res, 0, 2), "0");
    assert_string_equal(db_value(res, 0, 3), "t");
    PQclear(res);

    append_committed(db, "new life", id);
    relay_wake(relay);
    expect_event(epoch, 1, id, "new life");
    assert_int_equal(expect_heartbeat(epoch, NULL), 1);
    stop_relay(&relay);

    /* the same identity again: the epoch simply continues */
    relay = start_leader(&config, &old_epoch);
    assert_true(old_epoch == epoch);
    stop_relay(&relay);
}

/* A producer's first transaction starts the stream (inserts its counter
 * row) while the relay, starting at the same moment, found no row: the
 * relay waits for that transaction and leads in its epoch at once, not
 * after a failed try and leader_retry_ms (it was a duplicate key, and a
 * second of the producer's first events unpublished). */
static void test_relay_starting_beside_a_producer_leads_in_its_epoch(void **state)
{
    (void)state;
    relay_config_t config = quick_config();
    config.leader_retry_ms = 60000; /* a failed try would not be retried within the test */
    assert_int_equal(db_begin(db), DB_OK);
    /* what outbox_insert does for a stream with no counter row
     * (common/migrations/006), held open; the event goes in at commit */
    sql(db, "INSERT INTO outbox_streams (stream, epoch, system_identifier, timeline)"
            " SELECT '" STREAM "', (extract(epoch FROM clock_timestamp()) * 1000)::bigint,"
            " system_identifier::text, (SELECT timeline_id FROM pg_control_checkpoint())"
            " FROM pg_control_system()");
    int64_t epoch = scalar("SELECT epoch FROM outbox_streams WHERE stream = '" STREAM "'");
    assert_true(epoch > 0);
    char id[UUID_TEXT_SIZE];
    append(db, "first", id);
    relay_t *relay = start_relay(&config);
    /* the relay found no row and its insert waits for the producer's */
    assert_true(wait_scalar_on(db3,
                               "SELECT count(*) FROM pg_stat_activity WHERE application_name ="
                               " 'test_relay' AND wait_event_type = 'Lock'",
                               1));
    assert_false(relay_is_leader(relay));
    assert_int_equal(db_commit(db), DB_OK);
    assert_true(wait_leader(relay, 3000));
    assert_true(relay_epoch(relay) == (uint64_t)epoch);
    relay_wake(relay);
    expect_event((uint64_t)epoch, 1, id, "first");
    stop_relay(&relay);
}

static void test_purge_removes_old_published_rows(void **state)
{
    (void)state;
    relay_config_t config = quick_config();
    config.retention_ms = 60000;
    uint64_t epoch = 0;
    relay_t *relay = start_leader(&config, &epoch);
    char ids[3][UUID_TEXT_SIZE];
    append_committed(db, "p1", ids[0]);
    append_committed(db, "p2", ids[1]);
    append_committed(db, "p3", ids[2]);
    relay_wake(relay);
    expect_event(epoch, 1, ids[0], "p1");
    expect_event(epoch, 2, ids[1], "p2");
    expect_event(epoch, 3, ids[2], "p3");

    /* within the retention nothing goes, however often maintenance runs */
    expect_no_event(300);
    assert_int_equal(scalar("SELECT count(*) FROM outbox"), 3);
    assert_int_equal(scalar("SELECT purged_through FROM outbox_streams"), 0);

    /* rows an earlier epoch left (the database was restored): those past
     * the retention go, the others stay */
    char earlier[512];
    snprintf(earlier, sizeof earlier,
             "INSERT INTO outbox (event_id, stream, type, occurred_at_ms, payload, epoch, seq,"
             " created_at) SELECT gen_random_uuid(), '" STREAM "', 'thing.happened', 1, 'old',"
             " %llu, g, now() - CASE WHEN g <= 7 THEN interval '1 hour' ELSE interval '0' END"
             " FROM generate_series(1, 9) g",
             (unsigned long long)(epoch - 1));
    sql(db, earlier);
    snprintf(earlier, sizeof earlier,
             "SELECT coalesce(string_agg(seq::text, ',' ORDER BY seq), '') FROM outbox"
             " WHERE epoch = %llu",
             (unsigned long long)(epoch - 1));
    if (!wait_scalar("SELECT count(*) FROM outbox", 5))
        fail_msg("the earlier epoch's old rows were not purged within 3 s");
    PGresult *res = NULL;
    assert_int_equal(db_run_sql(db, earlier, NULL, &res), DB_OK);
    assert_string_equal(db_value(res, 0, 0), "8,9");
    PQclear(res);
    sql(db, "DELETE FROM outbox WHERE seq > 3");

    /* seq 1 and 2 grow old: they go, seq 3 stays, history starts at 3 */
    sql(db, "UPDATE outbox SET created_at = now() - interval '1 hour' WHERE seq <= 2");
    if (!wait_scalar("SELECT purged_through FROM outbox_streams", 2))
        fail_msg("purged_through did not reach 2 within 3 s (it is %lld)",
                 (long long)scalar("SELECT purged_through FROM outbox_streams"));
    assert_int_equal(scalar("SELECT count(*) FROM outbox"), 1);
    assert_int_equal(scalar("SELECT seq FROM outbox"), 3);
    /* heartbeats tell consumers how far history reaches */
    uint64_t purged = 0;
    int64_t deadline = clock_mono_ms() + 3000;
    do {
        assert_true(clock_mono_ms() < deadline);
        assert_int_equal(expect_heartbeat(epoch, &purged), 3);
    } while (purged != 2);

    /* all old: history is gone through the head */
    sql(db, "UPDATE outbox SET created_at = now() - interval '1 hour'");
    if (!wait_scalar("SELECT purged_through FROM outbox_streams", 3))
        fail_msg("purged_through did not reach 3 within 3 s");
    assert_int_equal(scalar("SELECT count(*) FROM outbox"), 0);
    assert_int_equal(scalar("SELECT last_seq FROM outbox_streams"), 3);

    /* numbering goes on after the head, not after what remains */
    char id[UUID_TEXT_SIZE];
    append_committed(db, "p4", id);
    relay_wake(relay);
    expect_event(epoch, 4, id, "p4");
    stop_relay(&relay);
}

/* --- fixtures --------------------------------------------------------------------- */

static int group_setup(void **state)
{
    (void)state;
    log_init("test_relay", LOG_ERROR);
    snprintf(schema, sizeof schema, "t_relay_%d", (int)getpid());
    int n = snprintf(dsn, sizeof dsn, "%s%coptions=-csearch_path%%3D%s", base_url,
                     strchr(base_url, '?') ? '&' : '?', schema);
    if (n < 0 || (size_t)n >= sizeof dsn)
        return -1;
    db = db_new(dsn, "test_relay_producer");
    db2 = db_new(dsn, "test_relay_producer2");
    db3 = db_new(dsn, "test_relay_observer");
    if (!db || !db2 || !db3)
        return -1;
    char ddl[128];
    snprintf(ddl, sizeof ddl, "DROP SCHEMA IF EXISTS %s CASCADE", schema);
    if (db_run_sql(db, ddl, NULL, NULL) != DB_OK)
        return -1;
    const migration_set_t *sets[] = {&kit_migrations};
    if (migrate_run(db, schema, sets, 1) != 0 || outbox_prepare(db) != 0 ||
        outbox_prepare(db2) != 0)
        return -1;

    zctx = zmq_ctx_new();
    sub = zctx ? zmq_socket(zctx, ZMQ_SUB) : NULL;
    if (!sub)
        return -1;
    int linger = 0, hwm = 100000;
    zmq_setsockopt(sub, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(sub, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "", 0);
    if (zmq_socket_monitor(sub, "inproc://test_relay_monitor", ZMQ_EVENT_HANDSHAKE_SUCCEEDED) !=
            0 ||
        !(monitor = zmq_socket(zctx, ZMQ_PAIR)) ||
        zmq_setsockopt(monitor, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        zmq_connect(monitor, "inproc://test_relay_monitor") != 0 ||
        zmq_bind(sub, "tcp://127.0.0.1:*") != 0)
        return -1;
    size_t len = sizeof sub_endpoint;
    return zmq_getsockopt(sub, ZMQ_LAST_ENDPOINT, sub_endpoint, &len);
}

static int group_teardown(void **state)
{
    (void)state;
    if (sub) {
        zmq_socket_monitor(sub, NULL, 0);
        zmq_close(sub);
    }
    if (monitor)
        zmq_close(monitor);
    if (zctx)
        zmq_ctx_term(zctx);
    char ddl[128];
    snprintf(ddl, sizeof ddl, "DROP SCHEMA IF EXISTS %s CASCADE", schema);
    db_status_t status = db_run_sql(db, ddl, NULL, NULL);
    if (status != DB_OK)
        fprintf(stderr, "test_relay: cannot drop %s: %s\n", schema, db_errmsg(db));
    db_destroy(&db);
    db_destroy(&db2);
    db_destroy(&db3);
    return status == DB_OK ? 0 : -1;
}

static int stop_relays(void **state)
{
    (void)state;
    for (size_t slot = 0; slot < 4; slot++)
        relay_destroy(&running[slot]);
    return 0;
}

/* Each test starts with no outbox and no stream: the first relay to lead
 * opens a fresh epoch. Frames of earlier tests' relays are dropped. */
static int fresh_stream(void **state)
{
    (void)state;
    db_rollback(db);
    db_rollback(db2);
    if (db_run_sql(db, "DELETE FROM outbox; DELETE FROM outbox_streams", NULL, NULL) != DB_OK)
        return -1;
    drain_bus();
    return 0;
}

int main(void)
{
    base_url = getenv("TEST_DATABASE_URL");
    if (!base_url || !base_url[0]) {
        fprintf(stderr, "test_relay: TEST_DATABASE_URL is not set (tests/run.sh sets it)\n");
        return 1;
    }
    alarm(120); /* a hang fails the run instead of stalling it */
#define RELAY_TEST(f) cmocka_unit_test_setup_teardown(f, fresh_stream, stop_relays)
    const struct CMUnitTest tests[] = {
        RELAY_TEST(test_leader_starts_an_epoch),
        RELAY_TEST(test_committed_rows_are_published_in_commit_order),
        RELAY_TEST(test_big_transaction_is_numbered_at_insert_and_commits_first),
        RELAY_TEST(test_big_transaction_numbers_earlier_small_ones_first),
        RELAY_TEST(test_small_transaction_numbered_when_the_counter_is_free),
        RELAY_TEST(test_concurrent_producers_are_published_once_in_seq_order),
        RELAY_TEST(test_rolled_back_row_is_never_published),
        RELAY_TEST(test_numbered_then_rolled_back_leaves_no_gap),
        RELAY_TEST(test_heartbeats_every_interval),
        RELAY_TEST(test_published_seq_is_written_for_the_next_leader),
        RELAY_TEST(test_committed_wakes_the_leader),
        RELAY_TEST(test_second_relay_takes_over),
        RELAY_TEST(test_identity_change_starts_a_new_epoch),
        RELAY_TEST(test_relay_starting_beside_a_producer_leads_in_its_epoch),
        RELAY_TEST(test_purge_removes_old_published_rows),
    };
    int failed = cmocka_run_group_tests(tests, group_setup, group_teardown);
    metrics_shutdown();
    return failed;
}
