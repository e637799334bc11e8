/*
 * relay.c — the leader thread of a service: epoch, numbering, publishing,
 * heartbeats and outbox retention (relay.h).
 *
 * One thread with its own libpq session (which holds the leader lock, so
 * losing the session loses leadership at once) and its own PUB socket
 * connected to busd. It sleeps in poll() on an eventfd (relay_wake) and
 * the session's socket (NOTIFY from other replicas), never longer than the
 * poll interval.
 *
 * A read of many rows goes to busd as batch frames (common/busbatch.h):
 * one frame for up to 256 events of the stream instead of two frames for
 * each, since CURVE and libzmq cost per message. A run of one, and an
 * event too big for a frame, go as the ordinary [topic][envelope];
 * heartbeats always do.
 */
#include "common/relay.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <zmq.h>

#include "common/busbatch.h"
#include "common/clock.h"
#include "common/envelope.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/outbox.h"
#include "conveyor/envelope.pb-c.h"

#define STMT_IDENTITY      "relay_identity"
#define STMT_STREAM_LOCK   "relay_stream_lock"
#define STMT_STREAM_INSERT "relay_stream_insert"
#define STMT_NEW_EPOCH     "relay_new_epoch"
#define STMT_NUMBER        "relay_number"
#define STMT_READ          "relay_read"
#define STMT_PUBLISHED     "relay_published"
#define STMT_HEAD          "relay_head"
#define STMT_PURGE_BATCH   "relay_purge_batch"
#define STMT_PURGE_OLD     "relay_purge_old_epochs"
#define STMT_OLDEST        "relay_oldest"
#define STMT_PURGED        "relay_purged_through"

/* Messages queued toward busd before the PUB socket drops them (consumers
 * then take the events by replay). Most are batch frames of up to 256
 * events and 256 KiB, so 1,000 of them hold up to ~256,000 events and at
 * most 256 MiB: a busd that stops reading cannot make a relay take
 * gigabytes (100,000 frames of 256 KiB would be 25 GiB). */
#define PUB_HWM 1000

struct relay {
    relay_config_t config;
    char *dsn, *schema, *stream, *pub_endpoint, *app_name;
    char channel[96]; /* NOTIFY channel of this schema */
    pthread_t thread;
    bool started;
    int wake_fd;
    atomic_bool stop;
    atomic_bool leader;
    atomic_bool tried; /* it has asked for the lead at least once */
    _Atomic uint64_t epoch;

    /* owned by the thread */
    bool heard; /* busd subscribed to the XPUB: what is sent now reaches the bus */
    db_t *db;
    void *pub;
    void *zmq_ctx;
    curve_watch_t *watch; /* reconnects the PUB busd refused */
    uint64_t lock_generation;
    int commits;
    uint64_t published_seq; /* the last seq of the epoch published (or found published) */
    uint64_t persisted_seq; /* the last published seq written to outbox_streams */
    bus_batch_t *batch;     /* the batch frame being filled */
    char batch_topic[BUS_TOPIC_MAX + 1]; /* the topic of its first event */
    size_t batch_first_len;              /* and that event's envelope bytes */

    metrics_counter_t *published;
    metrics_counter_t *batches;
    metrics_counter_t *numbered;
    metrics_counter_t *heartbeats;
    metrics_counter_t *purged;
    metrics_gauge_t *is_leader;
    metrics_gauge_t *head_seq;
    metrics_histogram_t *batch_latency;
};

static char *dup_or_null(const char *text)
{
    return text ? strdup(text) : NULL;
}

relay_t *relay_new(const relay_config_t *config)
{
    relay_t *relay = calloc(1, sizeof *relay);
    if (!relay)
        return NULL;
    relay->config = *config;
    relay->dsn = dup_or_null(config->dsn);
    relay->schema = dup_or_null(config->schema);
    relay->stream = dup_or_null(config->stream);
    relay->pub_endpoint = dup_or_null(config->pub_endpoint);
    relay->app_name = dup_or_null(config->app_name ? config->app_name : "relay");
    relay->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    relay->batch = bus_batch_new();
    if (!relay->dsn || !relay->schema || !relay->stream || !relay->pub_endpoint ||
        !relay->app_name || relay->wake_fd < 0 || !relay->batch) {
        relay_destroy(&relay);
        return NULL;
    }
    relay_config_t *c = &relay->config;
    if (c->batch_max <= 0)
        c->batch_max = 1000;
    if (c->poll_ms <= 0)
        c->poll_ms = 200;
    if (c->heartbeat_ms <= 0)
        c->heartbeat_ms = 1000;
    if (c->leader_retry_ms <= 0)
        c->leader_retry_ms = 1000;
    if (c->retention_ms <= 0)
        c->retention_ms = 7LL * 24 * 3600 * 1000;
    if (c->maintenance_ms <= 0)
        c->maintenance_ms = 60000;
    snprintf(relay->channel, sizeof relay->channel, "conveyor_outbox_%s", relay->schema);

    char labels[128];
    snprintf(labels, sizeof labels, "stream=\"%s\"", relay->stream);
    relay->published =
        metrics_counter("relay_published_total", labels, "Events published by the relay.");
    relay->batches = metrics_counter("relay_batches_total", labels,
                                     "Numbering transactions committed by the relay.");
    relay->numbered = metrics_counter(
        "relay_numbered_total", labels,
        "Events the relay numbered after their commit (a small transaction that found the "
        "stream's counter row locked): each waited for the relay's own commit and flush.");
    relay->heartbeats = metrics_counter("relay_heartbeats_total", labels, "Heartbeats published.");
    relay->purged = metrics_counter("relay_purged_total", labels,
                                    "Published outbox rows purged after the retention.");
    relay->is_leader = metrics_gauge("relay_leader", labels,
                                     "1 while this replica holds the service's leader lock.");
    relay->head_seq =
        metrics_gauge("relay_head_seq", labels, "The last seq published in the current epoch.");
    relay->batch_latency = metrics_histogram("relay_batch_duration_seconds", labels,
                                             "Numbering commit plus publishing of one batch.");
    return relay;
}

static int prepare_statements(db_t *db)
{
    int rc = 0;
    rc |= db_prepare(db, STMT_IDENTITY,
                     "SELECT system_identifier::text, "
                     "(SELECT timeline_id FROM pg_control_checkpoint())::bigint "
                     "FROM pg_control_system()");
    rc |= db_prepare(db, STMT_STREAM_LOCK,
                     "SELECT epoch, last_seq, system_identifier, timeline, purged_through, "
                     "published_seq FROM outbox_streams WHERE stream = $1 FOR UPDATE");
    /* a producer's first transaction may start the stream at the same
     * moment (outbox_insert): then its row is the one (read again) */
    rc |= db_prepare(db, STMT_STREAM_INSERT,
                     "INSERT INTO outbox_streams (stream, epoch, system_identifier, timeline) "
                     "VALUES ($1, $2, $3, $4) ON CONFLICT (stream) DO NOTHING");
    rc |= db_prepare(db, STMT_NEW_EPOCH,
                     "UPDATE outbox_streams SET epoch = greatest($2::bigint, epoch + 1), "
                     "last_seq = 0, published_seq = 0, purged_through = 0, system_identifier = $3, "
                     "timeline = $4, "
                     "started_at = now() WHERE stream = $1 RETURNING epoch");
    /* rows inserted unnumbered (few a transaction, common/migrations/004;
     * before 002, or by an older binary): numbered and committed in one
     * call (005) */
    rc |= db_prepare(db, STMT_NUMBER, "SELECT * FROM outbox_number_committed($1, $2)");
    /* what is visible of a stream is a prefix of its seqs (numbered under
     * the counter row lock, held to commit): the rows after the last one
     * published are the next to publish, in order */
    rc |= db_prepare(db, STMT_READ,
                     "SELECT " OUTBOX_ENVELOPE_COLUMNS " FROM outbox WHERE stream = $1 "
                     "AND epoch = $2 AND seq > $3 ORDER BY seq LIMIT $4");
    rc |= db_prepare(db, STMT_PUBLISHED,
                     "UPDATE outbox_streams SET published_seq = $3 WHERE stream = $1 "
                     "AND epoch = $2 AND published_seq < $3 AND last_seq >= $3");
    rc |= db_prepare(db, STMT_HEAD,
                     "SELECT epoch, last_seq, purged_through, published_seq FROM outbox_streams "
                     "WHERE stream = $1");
    /* only a prefix of the history goes: the oldest rows by seq, up to the
     * first one still inside the retention (created_at is a transaction's
     * start, so a higher seq may be older than a lower one). When the
     * oldest row is inside the retention (the usual case) nothing more is
     * read: one index entry, not 5,000 rows on the publishing thread. */
    rc |= db_prepare(db, STMT_PURGE_BATCH,
                     "WITH head AS (SELECT id, seq, created_at FROM outbox WHERE stream = $1 "
                     "AND epoch = $2 AND seq IS NOT NULL AND (SELECT o.created_at FROM outbox o "
                     "WHERE o.stream = $1 AND o.epoch = $2 AND o.seq IS NOT NULL ORDER BY o.seq "
                     "LIMIT 1) < now() - $3::bigint * interval '1 millisecond' "
                     "ORDER BY seq LIMIT 5000), "
                     "keep AS (SELECT min(seq) AS seq FROM head WHERE created_at >= now() - "
                     "$3::bigint * interval '1 millisecond') "
                     "DELETE FROM outbox WHERE id IN (SELECT id FROM head WHERE seq < "
                     "coalesce((SELECT seq FROM keep), 9223372036854775807))");
    /* earlier epochs' rows past the retention, a batch at a time, through
     * the (stream, epoch, seq) index: `epoch <> $2` was served by no index,
     * and every purge (the first 5 s after taking the lead, then every
     * maintenance interval) read the whole outbox on the publishing thread.
     * Epochs only grow, so the earlier ones are those below; a newer one
     * (a producer started it and the relay adopts it at its next beat) is
     * not the relay's to purge. */
    rc |= db_prepare(db, STMT_PURGE_OLD,
                     "DELETE FROM outbox WHERE id = ANY (ARRAY(SELECT id FROM outbox "
                     "WHERE stream = $1 AND seq IS NOT NULL AND epoch < $2 "
                     "AND created_at < now() - $3::bigint * interval '1 millisecond' "
                     "ORDER BY epoch, seq LIMIT 5000))");
    rc |= db_prepare(db, STMT_OLDEST,
                     "SELECT min(seq) FROM outbox WHERE stream = $1 AND epoch = $2 "
                     "AND seq IS NOT NULL");
    rc |= db_prepare(db, STMT_PURGED,
                     "UPDATE outbox_streams SET purged_through = greatest(purged_through, $2) "
                     "WHERE stream = $1");
    return rc ? -1 : 0;
}

/* Starts or continues the stream's epoch after taking the lock: a missing
 * counter row starts epoch now at seq 0; a row written under another
 * database identity (restore, failover) starts a new epoch. */
static db_status_t relay_open_epoch(relay_t *relay)
{
    PGresult *identity = NULL, *row = NULL, *renewed = NULL;
    db_status_t status = db_begin(relay->db);
    if (status != DB_OK)
        return status;
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, relay->stream);
    status = db_run(relay->db, STMT_IDENTITY, NULL, &identity);
    if (status == DB_OK)
        status = db_run(relay->db, STMT_STREAM_LOCK, &params, &row);
    if (status != DB_OK)
        goto done;
    const char *sysid = db_value(identity, 0, 0);
    int64_t timeline = 0, epoch = 0, last_seq = 0, published = 0;
    db_get_i64(identity, 0, 1, &timeline);
    bool started = false;
    if (PQntuples(row) == 0) {
        epoch = clock_now_ms();
        db_params_t insert;
        db_params_init(&insert);
        db_param_text(&insert, relay->stream);
        db_param_i64(&insert, epoch);
        db_param_text(&insert, sysid);
        db_param_i64(&insert, timeline);
        int64_t inserted = 0;
        status = db_run_count(relay->db, STMT_STREAM_INSERT, &insert, &inserted);
        if (status != DB_OK)
            goto done;
        started = inserted == 1;
        if (started) {
            log_info("relay started the stream's first epoch", LF_STR("stream", relay->stream),
                     LF_INT("epoch", epoch));
        } else {
            /* the producer's row, committed meanwhile: continued like any */
            PQclear(row);
            row = NULL;
            status = db_run(relay->db, STMT_STREAM_LOCK, &params, &row);
            if (status == DB_OK && PQntuples(row) != 1)
                status = DB_ERROR;
            if (status != DB_OK)
                goto done;
        }
    }
    if (!started) {
        int64_t stored_timeline = 0;
        db_get_i64(row, 0, 0, &epoch);
        db_get_i64(row, 0, 1, &last_seq);
        db_get_i64(row, 0, 3, &stored_timeline);
        db_get_i64(row, 0, 5, &published);
        const char *stored_sysid = db_value(row, 0, 2);
        if (strcmp(stored_sysid, sysid) != 0 || stored_timeline != timeline) {
            int64_t old_epoch = epoch;
            db_params_t renew;
            db_params_init(&renew);
            db_param_text(&renew, relay->stream);
            db_param_i64(&renew, clock_now_ms());
            db_param_text(&renew, sysid);
            db_param_i64(&renew, timeline);
            status = db_run(relay->db, STMT_NEW_EPOCH, &renew, &renewed);
            if (status != DB_OK)
                goto done;
            db_get_i64(renewed, 0, 0, &epoch);
            log_warn("database identity changed: relay starts a new epoch at seq 1",
                     LF_STR("stream", relay->stream), LF_INT("old_epoch", old_epoch),
                     LF_INT("epoch", epoch), LF_INT("old_last_seq", last_seq),
                     LF_STR("system_identifier", sysid), LF_INT("timeline", timeline));
            last_seq = 0;
            published = 0;
        }
    }
    status = db_commit(relay->db);
    if (status == DB_OK) {
        atomic_store(&relay->epoch, (uint64_t)epoch);
        relay->published_seq = relay->persisted_seq = (uint64_t)published;
        metrics_gauge_set(relay->head_seq, published);
    }
done:
    if (status != DB_OK)
        db_rollback(relay->db);
    PQclear(identity);
    PQclear(row);
    PQclear(renewed);
    return status;
}

static void relay_set_leader(relay_t *relay, bool leader)
{
    atomic_store(&relay->leader, leader);
    metrics_gauge_set(relay->is_leader, leader ? 1 : 0);
}

/* Tries to become leader; on success opens the epoch and listens. */
static void relay_try_lead(relay_t *relay)
{
    bool acquired = false;
    if (db_try_advisory_lock(relay->db, relay->schema, DB_LOCK_LEADER, &acquired) != DB_OK ||
        !acquired)
        return;
    relay->lock_generation = db_generation(relay->db);
    if (relay_open_epoch(relay) != DB_OK) {
        log_error("relay could not open its epoch", LF_STR("stream", relay->stream),
                  LF_STR("pg", db_errmsg(relay->db)), LF_ERR("pg_unavailable"));
        db_advisory_unlock(relay->db, relay->schema, DB_LOCK_LEADER);
        return;
    }
    relay_set_leader(relay, true);
    log_info("this replica leads: relay and applier active", LF_STR("stream", relay->stream),
             LF_INT("epoch", (long long)atomic_load(&relay->epoch)));
}

/* The stream moved to another epoch under the relay: a producer found the
 * database's identity changed (outbox_insert) and started it. The new
 * epoch is published from its published_seq (0: all of it). */
static void relay_adopt_epoch(relay_t *relay, int64_t epoch, int64_t published)
{
    log_warn("epoch changed under the relay: publishing the new one",
             LF_STR("stream", relay->stream),
             LF_INT("old_epoch", (long long)atomic_load(&relay->epoch)), LF_INT("epoch", epoch),
             LF_INT("published_seq", published), LF_ERR("epoch_changed"));
    atomic_store(&relay->epoch, (uint64_t)epoch);
    relay->published_seq = relay->persisted_seq = (uint64_t)published;
    metrics_gauge_set(relay->head_seq, published);
}

/* Numbers committed rows inserted unnumbered (a transaction of few events,
 * kit migration 004; before migration 002, or by an older binary), a batch
 * at a time: from the counter row, under its lock, in insert order, in
 * one call that commits (kit migration 005: one round trip, not six).
 * Returns the rows numbered, -1 on a database failure. The rows are then
 * published like any other. */
static int relay_number_committed(relay_t *relay)
{
    PGresult *numbered = NULL;
    int result = -1;
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, relay->stream);
    db_param_i64(&params, relay->config.batch_max);
    if (db_run(relay->db, STMT_NUMBER, &params, &numbered) != DB_OK || PQntuples(numbered) != 1)
        goto done;
    int64_t epoch = 0, published = 0, rows = 0;
    db_get_i64(numbered, 0, 2, &rows);
    if (rows < 0) {
        log_error("outbox counter row is missing", LF_STR("stream", relay->stream),
                  LF_ERR("outbox_damaged"));
        goto done;
    }
    if (rows > 0 && db_get_i64(numbered, 0, 0, &epoch) == 0 &&
        db_get_i64(numbered, 0, 1, &published) == 0 &&
        (uint64_t)epoch != atomic_load(&relay->epoch))
        relay_adopt_epoch(relay, epoch, published);
    metrics_counter_add(relay->numbered, (uint64_t)rows);
    result = (int)rows;
done:
    if (result < 0)
        log_warn("relay could not number events", LF_STR("stream", relay->stream),
                 LF_STR("pg", db_errmsg(relay->db)), LF_ERR("pg_unavailable"));
    PQclear(numbered);
    return result;
}

/* Sends one event as the ordinary [topic][envelope]; 1 sent, 0 not. */
static int relay_send_one(relay_t *relay, const char *topic, const void *envelope, size_t len)
{
    return zmq_send(relay->pub, topic, strlen(topic), ZMQ_SNDMORE) >= 0 &&
           zmq_send(relay->pub, envelope, len, 0) >= 0;
}

/* Sends the batch in hand and empties it: a run of one as the ordinary
 * message, more as one batch frame. Returns the events sent. */
static int relay_flush_batch(relay_t *relay)
{
    bus_batch_t *batch = relay->batch;
    int sent = 0;
    if (batch->count == 1)
        sent = relay_send_one(relay, relay->batch_topic,
                              batch->buf + batch->len - relay->batch_first_len,
                              relay->batch_first_len);
    else if (batch->count > 1 && zmq_send(relay->pub, batch->buf, batch->len, 0) >= 0)
        sent = (int)batch->count;
    bus_batch_reset(batch);
    return sent;
}

/* Adds one event to the batch in hand, sending that first when it is
 * full; an event too big for any batch goes alone, after it. Returns the
 * events sent. */
static int relay_queue_event(relay_t *relay, const char *topic, const uint8_t *envelope, size_t len)
{
    bus_batch_t *batch = relay->batch;
    int sent = 0;
    if (!bus_batch_fits(batch, len))
        sent += relay_flush_batch(relay);
    if (!bus_batch_fits(batch, len))
        return sent + relay_send_one(relay, topic, envelope, len);
    if (batch->count == 0) {
        snprintf(relay->batch_topic, sizeof relay->batch_topic, "%s", topic);
        relay->batch_first_len = len;
    }
    bus_batch_add(batch, envelope, len);
    return sent;
}

/* Publishes rows of a read result, in seq order, from published + 1 on;
 * stops at a hole (there is none unless the outbox was written past
 * outbox_insert: logged). Returns how many were taken as published. */
static int relay_publish_rows(relay_t *relay, const PGresult *res, uint64_t epoch)
{
    int rows = PQntuples(res), taken = 0, sent = 0;
    for (int i = 0; i < rows; i++) {
        char topic[BUS_TOPIC_MAX + 1];
        uint8_t *envelope = NULL;
        size_t envelope_len = 0;
        uint64_t seq = 0;
        int64_t row_seq = 0;
        if (db_get_i64(res, i, 0, &row_seq) != 0 || (uint64_t)row_seq != relay->published_seq + 1) {
            log_error("hole in the outbox: publishing waits", LF_STR("stream", relay->stream),
                      LF_INT("expected_seq", (long long)(relay->published_seq + 1)),
                      LF_INT("found_seq", row_seq), LF_ERR("outbox_damaged"));
            break;
        }
        relay->published_seq++;
        taken++;
        /* a damaged row (logged) is not sent: consumers ask for it again
         * and park what they get */
        if (outbox_row_envelope(res, i, relay->stream, epoch, &seq, topic, sizeof topic, &envelope,
                                &envelope_len) != 0)
            continue;
        sent += relay_queue_event(relay, topic, envelope, envelope_len);
        free(envelope);
    }
    sent += relay_flush_batch(relay);
    metrics_counter_add(relay->published, (uint64_t)sent);
    return taken;
}

/* Publishes the next batch of committed rows. Returns the number of rows
 * published, or -1 on a database failure (leadership may be gone). */
static int relay_publish_batch(relay_t *relay)
{
    int64_t started_us = clock_mono_us();
    PGresult *rows = NULL;
    uint64_t epoch = atomic_load(&relay->epoch);
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, relay->stream);
    db_param_u64(&params, epoch);
    db_param_u64(&params, relay->published_seq);
    db_param_i64(&params, relay->config.batch_max);
    if (db_run_binary(relay->db, STMT_READ, &params, &rows) != DB_OK) {
        log_warn("relay could not read the outbox", LF_STR("stream", relay->stream),
                 LF_STR("pg", db_errmsg(relay->db)), LF_ERR("pg_unavailable"));
        return -1;
    }
    if (PQntuples(rows) == 0) {
        PQclear(rows);
        return 0;
    }
    metrics_counter_add(relay->batches, 1);
    if (relay->config.fault_kill_after_commits > 0 &&
        ++relay->commits >= relay->config.fault_kill_after_commits) {
        log_warn("fault injection: killing the process between commit and publish",
                 LF_STR("stream", relay->stream),
                 LF_INT("published_seq", (long long)relay->published_seq));
        raise(SIGKILL);
    }
    int published = relay_publish_rows(relay, rows, epoch);
    PQclear(rows);
    metrics_gauge_set(relay->head_seq, (int64_t)relay->published_seq);
    metrics_histogram_observe_us(relay->batch_latency, (uint64_t)(clock_mono_us() - started_us));
    return published;
}

/* Writes how far the epoch is published, so that a new leader starts
 * there (best effort: one that starts earlier publishes some twice, which
 * consumers ignore). The write locks the counter row, and a small
 * transaction committing meanwhile finds it locked and leaves its events
 * unnumbered (migration 006), for the relay's own numbering commit: a
 * second flush in their way, during which the next producer's commit
 * finds the row locked again, and so on (issue 15, item 3: runs of up to
 * 25 such transactions after a heartbeat, each event a flush later, at
 * 10,000 events/s). So the hint does not wait for the WAL flush while it
 * holds the row (SET LOCAL synchronous_commit = off: this transaction
 * only; the next flush of anyone's commit carries it, and a crash that
 * loses it only starts the next leader a little earlier); the row is
 * held from the UPDATE's answer to the COMMIT, one round trip on loopback,
 * never a flush. */
static void relay_persist_published(relay_t *relay)
{
    if (relay->published_seq <= relay->persisted_seq)
        return;
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, relay->stream);
    db_param_u64(&params, atomic_load(&relay->epoch));
    db_param_u64(&params, relay->published_seq);
    db_status_t status = db_begin(relay->db);
    if (status == DB_OK)
        status = db_run_sql(relay->db, "SET LOCAL synchronous_commit = off", NULL, NULL);
    if (status == DB_OK)
        status = db_run(relay->db, STMT_PUBLISHED, &params, NULL);
    if (status == DB_OK)
        status = db_commit(relay->db);
    if (status != DB_OK)
        db_rollback(relay->db);
    if (status == DB_OK)
        relay->persisted_seq = relay->published_seq;
}

/* Publishes the heartbeat: the epoch and the last seq published. It also
 * notices an epoch a producer started, and writes how far the relay got. */
static void relay_heartbeat(relay_t *relay)
{
    PGresult *head = NULL;
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, relay->stream);
    if (db_run(relay->db, STMT_HEAD, &params, &head) != DB_OK || PQntuples(head) != 1) {
        PQclear(head);
        return;
    }
    int64_t epoch = 0, purged_through = 0, published = 0;
    db_get_i64(head, 0, 0, &epoch);
    db_get_i64(head, 0, 2, &purged_through);
    db_get_i64(head, 0, 3, &published);
    PQclear(head);
    if ((uint64_t)epoch != atomic_load(&relay->epoch)) {
        relay_adopt_epoch(relay, epoch, published);
        return; /* the next round publishes the new epoch, then beats */
    }
    relay_persist_published(relay);
    int64_t last_seq = (int64_t)relay->published_seq;

    Conveyor__Heartbeat beat = CONVEYOR__HEARTBEAT__INIT;
    beat.last_seq = (uint64_t)last_seq;
    beat.purged_through = (uint64_t)purged_through;
    uint8_t beat_buf[32]; /* two varints: 22 bytes at most, checked */
    if (conveyor__heartbeat__get_packed_size(&beat) > sizeof beat_buf)
        return;
    size_t beat_len = conveyor__heartbeat__pack(&beat, beat_buf);

    Conveyor__Envelope env = CONVEYOR__ENVELOPE__INIT;
    env.stream = relay->stream;
    env.seq = (uint64_t)last_seq;
    env.epoch = (uint64_t)epoch;
    env.type = pb_lend(BUS_TYPE_HEARTBEAT);
    env.occurred_at_ms = clock_now_ms();
    env.schema_version = 1;
    env.payload.data = beat_buf;
    env.payload.len = beat_len;
    uint8_t *envelope = NULL;
    size_t envelope_len = 0;
    char topic[BUS_TOPIC_MAX + 1];
    if (bus_topic_format(topic, sizeof topic, relay->stream, BUS_TYPE_HEARTBEAT) != 0 ||
        envelope_pack_alloc(&env, &envelope, &envelope_len) != 0)
        return;
    if (zmq_send(relay->pub, topic, strlen(topic), ZMQ_SNDMORE) >= 0 &&
        zmq_send(relay->pub, envelope, envelope_len, 0) >= 0)
        metrics_counter_add(relay->heartbeats, 1);
    free(envelope);
}

/* Purges published rows older than the retention, oldest seq first, and
 * records how far history now reaches (replay answers TRUNCATED below). */
static void relay_purge(relay_t *relay)
{
    uint64_t epoch = atomic_load(&relay->epoch);
    int64_t total = 0;
    for (int round = 0; round < 100; round++) {
        db_params_t params;
        db_params_init(&params);
        db_param_text(&params, relay->stream);
        db_param_u64(&params, epoch);
        db_param_i64(&params, relay->config.retention_ms);
        int64_t deleted = 0;
        if (db_run_count(relay->db, STMT_PURGE_BATCH, &params, &deleted) != DB_OK)
            return;
        total += deleted;
        if (deleted < 5000)
            break;
    }
    for (int round = 0; round < 100; round++) {
        db_params_t old;
        db_params_init(&old);
        db_param_text(&old, relay->stream);
        db_param_u64(&old, epoch);
        db_param_i64(&old, relay->config.retention_ms);
        int64_t old_deleted = 0;
        if (db_run_count(relay->db, STMT_PURGE_OLD, &old, &old_deleted) != DB_OK)
            return;
        total += old_deleted;
        if (old_deleted < 5000)
            break;
    }
    if (total == 0)
        return;

    /* history now starts at the oldest remaining row; with none left, all
     * numbered rows are gone */
    PGresult *oldest = NULL, *head = NULL;
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, relay->stream);
    db_param_u64(&params, epoch);
    db_params_t stream_only;
    db_params_init(&stream_only);
    db_param_text(&stream_only, relay->stream);
    if (db_run(relay->db, STMT_OLDEST, &params, &oldest) == DB_OK &&
        db_run(relay->db, STMT_HEAD, &stream_only, &head) == DB_OK && PQntuples(head) == 1) {
        int64_t purged_through = 0, min_seq = 0;
        if (db_get_i64(oldest, 0, 0, &min_seq) == 0)
            purged_through = min_seq - 1;
        else
            db_get_i64(head, 0, 1, &purged_through);
        db_params_t update;
        db_params_init(&update);
        db_param_text(&update, relay->stream);
        db_param_i64(&update, purged_through);
        db_run(relay->db, STMT_PURGED, &update, NULL);
    }
    PQclear(oldest);
    PQclear(head);
    metrics_counter_add(relay->purged, (uint64_t)total);
    log_info("outbox purged", LF_STR("stream", relay->stream), LF_INT("rows", total));
}

/* Sleeps until woken, notified, or timeout_ms passed. */
static void relay_wait(relay_t *relay, int64_t timeout_ms)
{
    struct pollfd fds[2];
    int nfds = 0;
    fds[nfds].fd = relay->wake_fd;
    fds[nfds++].events = POLLIN;
    PGconn *conn = db_conn(relay->db);
    /* a NOTIFY that arrived while a statement ran was read off the socket
     * then and waits in libpq: polling the socket would not see it */
    bool notified = false;
    PGnotify *pending;
    while (conn && (pending = PQnotifies(conn)) != NULL) {
        PQfreemem(pending);
        notified = true;
    }
    if (notified)
        return;
    int pg_fd = conn ? PQsocket(conn) : -1;
    if (pg_fd >= 0) {
        fds[nfds].fd = pg_fd;
        fds[nfds++].events = POLLIN;
    }
    if (poll(fds, (nfds_t)nfds, (int)(timeout_ms > 0 ? timeout_ms : 0)) <= 0)
        return;
    if (fds[0].revents & POLLIN) {
        uint64_t count;
        ssize_t got = read(relay->wake_fd, &count, sizeof count);
        (void)got; /* EAGAIN just means another reader drained it */
    }
    if (nfds > 1 && (fds[1].revents & POLLIN) && PQconsumeInput(conn)) {
        PGnotify *note;
        while ((note = PQnotifies(conn)) != NULL)
            PQfreemem(note);
    }
}

static int open_pub(relay_t *relay);

/* Reads busd's (un)subscriptions off the XPUB. A PUB drops what it sends
 * before its peer's subscription arrives (the slow joiner); for a consumer
 * that only costs a replay, but a live listener — an outside system
 * waiting for intake.accepted — would miss the answer. So the relay
 * numbers and publishes only while busd is subscribed; until then the
 * outbox waits (nothing is lost: numbering is what publishing needs). */
static void relay_hear_bus(relay_t *relay)
{
    uint8_t note[BUS_TOPIC_MAX + 2];
    for (int i = 0; i < 64; i++) {
        int len = zmq_recv(relay->pub, note, sizeof note, ZMQ_DONTWAIT);
        if (len < 1)
            return;
        bool heard = note[0] == 1;
        if (heard != relay->heard)
            log_info(heard ? "busd hears the relay" : "busd no longer hears the relay",
                     LF_STR("stream", relay->stream));
        relay->heard = heard;
    }
}

static void *relay_main(void *arg)
{
    relay_t *relay = arg;
    int64_t next_lead_try = 0, next_heartbeat = 0, next_maintenance = 0;
    int64_t retry_delay = 0;
    bool listening = false, full_batch = false;

    while (!atomic_load(&relay->stop)) {
        int64_t now = clock_mono_ms();
        bool leader = atomic_load(&relay->leader);
        if (leader && db_generation(relay->db) != relay->lock_generation) {
            relay_set_leader(relay, false);
            leader = false;
            log_warn("relay lost its database session: no longer leading",
                     LF_STR("stream", relay->stream), LF_ERR("leader_lost"));
        }
        if (!leader && now >= next_lead_try) {
            next_lead_try = now + relay->config.leader_retry_ms;
            relay_try_lead(relay);
            atomic_store(&relay->tried, true);
            leader = atomic_load(&relay->leader);
            if (leader) {
                listening = db_listen(relay->db, relay->channel) == DB_OK;
                /* the first purge waits a little after taking the lead,
                 * never longer than the configured interval */
                next_maintenance =
                    now +
                    (relay->config.maintenance_ms < 5000 ? relay->config.maintenance_ms : 5000);
            }
        }
        if (leader && !listening)
            listening = db_listen(relay->db, relay->channel) == DB_OK;

        int64_t wait_ms = relay->config.poll_ms;
        relay_hear_bus(relay);
        if (leader && !relay->heard) {
            /* connecting to busd, or busd away: listen again soon */
            if (wait_ms > 20)
                wait_ms = 20;
        } else if (leader) {
            /* in a streak of full batches (big transactions, numbered as
             * inserted) the look for unnumbered rows waits for the beat;
             * a big transaction numbers those it can see anyway */
            int numbered = 0;
            if (!full_batch || now >= next_heartbeat)
                numbered = relay_number_committed(relay);
            int published = numbered < 0 ? -1 : relay_publish_batch(relay);
            full_batch = published >= relay->config.batch_max;
            if (published < 0) {
                retry_delay = retry_delay ? retry_delay * 2 : 100;
                if (retry_delay > 2000)
                    retry_delay = 2000;
                wait_ms = retry_delay;
            } else {
                retry_delay = 0;
                if (published >= relay->config.batch_max || numbered >= relay->config.batch_max)
                    wait_ms = 0; /* more is waiting */
            }
            now = clock_mono_ms();
            if (now >= next_heartbeat) {
                relay_heartbeat(relay);
                next_heartbeat = now + relay->config.heartbeat_ms;
            }
            if (now >= next_maintenance) {
                relay_purge(relay);
                next_maintenance = now + relay->config.maintenance_ms;
            }
            if (wait_ms > next_heartbeat - now)
                wait_ms = next_heartbeat - now;
        } else {
            if (wait_ms > next_lead_try - now)
                wait_ms = next_lead_try - now;
        }
        if (curve_watch_check(relay->watch))
            open_pub(relay); /* logged if it fails; the next refusal tries again */
        if (wait_ms > 0)
            relay_wait(relay, wait_ms);
    }
    /* one last batch so a clean stop leaves nothing unpublished */
    if (atomic_load(&relay->leader)) {
        if (relay->heard && relay_number_committed(relay) >= 0 && relay_publish_batch(relay) >= 0)
            relay_persist_published(relay);
        relay_set_leader(relay, false);
    }
    return NULL;
}

/* Makes the XPUB to busd (and its watch), or makes it anew after busd
 * refused the old one's handshake; what was published on the old one and
 * never arrived is replayed by the consumers. */
static int open_pub(relay_t *relay)
{
    curve_watch_t *previous = relay->watch;
    relay->watch = NULL;
    if (relay->pub)
        zmq_close(relay->pub);
    relay->pub = zmq_socket(relay->zmq_ctx, ZMQ_XPUB);
    relay->heard = false;
    int rc = -1;
    if (!relay->pub) {
        log_error("relay could not create its socket", LF_STR("error", zmq_strerror(errno)));
        goto done;
    }
    int hwm = PUB_HWM, linger = 500;
    zmq_setsockopt(relay->pub, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(relay->pub, ZMQ_LINGER, &linger, sizeof linger);
    if (curve_client(relay->config.curve, relay->pub, NULL) != 0)
        goto done;
    relay->watch = curve_watch_new(relay->config.curve, relay->zmq_ctx, relay->pub,
                                   relay->pub_endpoint, "relay");
    curve_watch_inherit(relay->watch, previous);
    if (zmq_connect(relay->pub, relay->pub_endpoint) != 0) {
        log_error("relay could not connect to the bus", LF_STR("endpoint", relay->pub_endpoint),
                  LF_STR("error", zmq_strerror(errno)), LF_ERR("bad_endpoint"));
        goto done;
    }
    rc = 0;
done:
    curve_watch_destroy(&previous);
    return rc;
}

int relay_start(relay_t *relay)
{
    relay->db = db_new(relay->dsn, relay->app_name);
    if (!relay->db || prepare_statements(relay->db) != 0 || outbox_prepare(relay->db) != 0)
        return -1;
    relay->zmq_ctx = zmq_ctx_new();
    if (!relay->zmq_ctx || open_pub(relay) != 0)
        return -1;
    if (pthread_create(&relay->thread, NULL, relay_main, relay) != 0)
        return -1;
    relay->started = true;
    return 0;
}

void relay_wake(relay_t *relay)
{
    uint64_t one = 1;
    ssize_t written = write(relay->wake_fd, &one, sizeof one);
    (void)written; /* EAGAIN: the counter is saturated, a wake is pending anyway */
}

void relay_committed(relay_t *relay, db_t *db)
{
    if (atomic_load(&relay->leader)) {
        relay_wake(relay);
        return;
    }
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, relay->channel);
    /* best effort: the leader's poll picks the rows up anyway */
    db_run_sql(db, "SELECT pg_notify($1, '')", &params, NULL);
}

bool relay_has_tried(const relay_t *relay)
{
    return relay && atomic_load(&relay->tried);
}

bool relay_is_leader(const relay_t *relay)
{
    return atomic_load(&relay->leader);
}

uint64_t relay_epoch(const relay_t *relay)
{
    return atomic_load(&relay->epoch);
}

void relay_destroy(relay_t **self_p)
{
    relay_t *relay = *self_p;
    if (!relay)
        return;
    if (relay->started) {
        atomic_store(&relay->stop, true);
        relay_wake(relay);
        pthread_join(relay->thread, NULL);
    }
    curve_watch_destroy(&relay->watch);
    if (relay->pub)
        zmq_close(relay->pub);
    if (relay->zmq_ctx)
        zmq_ctx_term(relay->zmq_ctx);
    db_destroy(&relay->db); /* closing the session releases the leader lock */
    if (relay->wake_fd >= 0)
        close(relay->wake_fd);
    free(relay->dsn);
    free(relay->schema);
    free(relay->stream);
    free(relay->pub_endpoint);
    free(relay->app_name);
    bus_batch_destroy(&relay->batch);
    free(relay);
    *self_p = NULL;
}
