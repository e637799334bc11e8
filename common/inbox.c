/*
 * inbox.c — the consuming half of the bus (inbox.h).
 *
 * Two threads, three with external routes. The reader owns the SUB socket
 * and forwards whole frames to the applier over an inproc PUSH/PULL pipe
 * whose high-water mark is the queue bound (a full pipe drops the frame:
 * replay brings it back). The applier owns everything else: the database
 * session, one DEALER per replay peer, and per consumed stream a window of
 * received events keyed by seq (a ring of pending_max slots starting after
 * the applied offset), from which it applies runs of consecutive events.
 *
 * The external lane (ext_main): external events have no order to keep and
 * each handler deduplicates by its own key, so they need not wait behind
 * the sequenced streams' runs, nor those behind them. The reader forwards
 * ext/ frames over a pipe of their own to the lane, which parses them,
 * parks what does not parse, and applies the events in runs with a
 * database session of its own, at the same time as the applier applies
 * the streams (an order's intake beside the stock answers of earlier
 * orders: two sessions, two cores). The lane applies only while this
 * replica leads, as the applier does.
 */
#include "common/inbox.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
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
#include "common/replay.h"
#include "conveyor/envelope.pb-c.h"
#include "conveyor/replay.pb-c.h"

#define MAX_ROUTES  64
#define MAX_STREAMS 16
#define MAX_PEERS   16

/* What outsiders can make the inbox store or hold (inbox.h) */
#define PARK_FRAME_KEEP     4096          /* bytes of an unparsable frame kept */
#define PARK_WINDOW_MS      60000         /* parking budget per publisher and window: */
#define PARK_LETTERS_MAX    100           /*   letters */
#define PARK_BYTES_MAX      (1024 * 1024) /* bytes */
#define PUBLISHERS_TRACKED  64
#define INFLIGHT_BYTES_MAX  (256LL * 1024 * 1024) /* frames between reader and applier */
#define EXT_QUEUE_BYTES_MAX (64LL * 1024 * 1024)  /* external events waiting for a retry */
#define PEER_KEYS_MAX       4                     /* a producer's trusted keys during a rotation */
#define PEER_KEYS_CHECK_MS  5000
/* a stream whose last ask found its producer not up (no connection, its
 * stream not open yet) asks again at most this often while the producer is
 * heard live, whatever its backoff */
#define PEER_HEARD_RETRY_MS 10

#define STMT_ENSURE      "inbox_offsets_ensure"
#define STMT_LOAD        "inbox_offsets_load"
#define STMT_ADVANCE     "inbox_offsets_advance"
#define STMT_ADOPT       "inbox_offsets_adopt_epoch"
#define STMT_HALT        "inbox_offsets_halt"
#define STMT_OPEN_COUNT  "inbox_letters_open_count"
#define STMT_BLOCKING    "inbox_letters_blocking"
#define STMT_PARK        "inbox_letters_park"
#define STMT_DUE         "inbox_letters_due_for_retry"
#define STMT_LOCK_LETTER "inbox_letters_lock"
#define STMT_RESOLVE     "inbox_letters_resolve"
#define STMT_REOPEN      "inbox_letters_reopen"
#define STMT_CLAIM_KEY   "inbox_claim_key"

typedef struct {
    char stream[BUS_NAME_MAX];
    char *type; /* NULL: every type */
    inbox_handler_fn fn;
    inbox_batch_fn batch; /* a run at once (inbox_on_batch) */
    void *arg;
} route_t;

/* A producer's replay endpoint: one per consumed stream. */
typedef struct {
    char stream[BUS_NAME_MAX]; /* the only stream taken from it */
    char endpoint[256];
    void *dealer;
    /* CURVE: the server keys trusted for the producer, the one in use */
    char keys[PEER_KEYS_MAX][BUSKEY_Z85_LEN + 1];
    size_t key_count;
    size_t key_index;
} peer_t;

/* How much one publisher has had parked in the current window. */
typedef struct {
    char name[BUS_NAME_MAX];
    int64_t window_start_ms;
    int letters;
    int64_t bytes;
} park_budget_t;

typedef struct {
    uint64_t seq;
    Conveyor__Envelope *env; /* owned; NULL when empty */
} slot_t;

typedef struct {
    char name[BUS_NAME_MAX];
    peer_t *peer;
    /* persisted in inbox_offsets */
    uint64_t epoch;
    uint64_t applied;
    bool halted;
    char halted_reason[200];
    /* a newer epoch heard that no replay peer can confirm (not persisted) */
    uint64_t unconfirmed_epoch;
    /* heard from the producer */
    uint64_t received_max;
    uint64_t head;
    int heartbeats_behind;
    /* received, not yet applied: slot (seq % window_size) for applied < seq <= applied + size */
    slot_t *window;
    size_t window_size;
    size_t window_count;
    /* catch-up */
    bool want_catchup;
    bool requesting;
    uint64_t request_id;
    int64_t request_deadline;
    int64_t next_request_at;
    int64_t request_backoff;
    bool warned_no_peer;
    /* the last ask found the producer not up (no connection to its replay
     * endpoint, or UNAVAILABLE): a live frame from it (up by then) has the
     * ask made again without waiting the backoff */
    bool producer_away;
    int64_t heard_retry_at;
    /* a RETRY from a handler or the database */
    int64_t apply_not_before;
    int64_t apply_backoff;
    /* metrics */
    metrics_counter_t *applied_total;
    metrics_counter_t *skipped_total;
    metrics_counter_t *parked_total;
    metrics_counter_t *gaps_total;
    metrics_counter_t *requests_total;
    /* a frame of the batch form came: busd speaks it, and the ordinary
     * heartbeat (subscribed for an older busd) is its duplicate */
    bool batch_form_heard;
    metrics_counter_t *live_total;     /* events that came live from busd */
    metrics_counter_t *replayed_total; /* events that came by replay */
    metrics_gauge_t *lag;
    metrics_gauge_t *halted_gauge;
} stream_t;

/* external events waiting for a retry, in arrival order */
typedef struct {
    Conveyor__Envelope **items;
    size_t head, len, cap;
    int64_t bytes; /* payloads held */
    int64_t not_before;
    int64_t backoff;
} ext_queue_t;

struct inbox {
    inbox_config_t config;
    char *dsn, *schema, *app_name, *own_stream, *sub_endpoint, *replay_peers;
    route_t routes[MAX_ROUTES];
    size_t route_count;
    stream_t streams[MAX_STREAMS];
    size_t stream_count;
    peer_t peers[MAX_PEERS];
    size_t peer_count;
    char pipe_endpoint[64];

    void *ctx;
    void *sub, *push;     /* reader's */
    curve_watch_t *watch; /* reader's: reconnects the SUB busd refused */
    void *pull;           /* applier's */
    int stop_fd;
    atomic_bool stop;
    atomic_bool settled; /* it has led or stood by at least once (inbox_settled) */
    pthread_t reader, applier;
    bool reader_started, applier_started;

    /* applier state */
    db_t *db;
    bool leading;
    atomic_llong open_letters; /* the lane parks too */
    int64_t next_letters_check;
    uint64_t next_request_id;
    buskeys_t *keys; /* the applier's: replay peers' server keys (CURVE) */
    int64_t next_keys_check;

    /* the external lane's (ext_main): its thread, its pipe from the reader
     * (ext_push is the reader's end), its session and its queue */
    pthread_t ext_thread;
    bool ext_started;
    void *ext_push, *ext_pull;
    char ext_pipe_endpoint[64];
    db_t *ext_db;
    ext_queue_t ext;

    /* what the applier and the lane both park with */
    pthread_mutex_t park_lock;
    park_budget_t budgets[PUBLISHERS_TRACKED];
    log_throttle_keyed_t park_log;
    log_throttle_t foreign_log;
    atomic_llong inflight_bytes; /* queued by the reader, not yet read by the applier */
    bus_batch_view_t batch;      /* the applier's: a batch frame being taken apart */

    pthread_mutex_t status_lock;
    inbox_stream_status_t snapshot[MAX_STREAMS];
    size_t snapshot_count;

    metrics_counter_t *dropped_total;
    metrics_counter_t *malformed_total;
    metrics_counter_t *external_total;
    metrics_counter_t *park_refused_total;
    metrics_counter_t *foreign_total;
    metrics_histogram_t *batch_latency;
};

/* ------------------------------------------------------------------ */
/* handler-facing helpers                                               */

static void set_error(inbox_event_t *event, const char *code, const char *fmt, va_list ap)
{
    snprintf(event->err_code, sizeof event->err_code, "%s", code ? code : "rejected");
    vsnprintf(event->err_detail, sizeof event->err_detail, fmt, ap);
}

handler_result_t inbox_reject(inbox_event_t *event, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set_error(event, code, fmt, ap);
    va_end(ap);
    return HANDLER_REJECT;
}

handler_result_t inbox_retry(inbox_event_t *event, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set_error(event, code, fmt, ap);
    va_end(ap);
    return HANDLER_RETRY;
}

handler_result_t inbox_result(inbox_event_t *event, db_status_t status, const char *what)
{
    if (status == DB_OK)
        return HANDLER_OK;
    db_failure_t failure = db_failure_of(event->db, status);
    if (failure.transient)
        return inbox_retry(event, failure.code, "%s: %s", what, db_errmsg(event->db));
    return inbox_reject(event, failure.code, "%s: %s", what, db_errmsg(event->db));
}

db_status_t inbox_emit(inbox_event_t *event, const char *type, const char *correlation_id,
                       const ProtobufCMessage *payload)
{
    outbox_meta_t meta = {
        .stream = event->own_stream,
        .type = type,
        .correlation_id = correlation_id ? correlation_id : event->correlation_id,
        .causation_id = event->event_id,
        .emit_index = event->emitted++,
    };
    /* an external event's id is the publisher's and may not be a UUID */
    uint8_t cause[16];
    if (uuid_parse(event->event_id, cause) != 0)
        meta.causation_id = NULL;
    return outbox_append_msg(event->db, &meta, payload, NULL);
}

int inbox_claim_key(inbox_event_t *event, const char *scope, const char *key)
{
    uint8_t id[16];
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, scope);
    db_param_text(&params, key);
    db_param_text(&params, uuid_parse(event->event_id, id) == 0 ? event->event_id : NULL);
    int64_t inserted = 0;
    if (db_run_count(event->db, STMT_CLAIM_KEY, &params, &inserted) != DB_OK)
        return -1;
    return inserted == 1 ? 1 : 0;
}

/* ------------------------------------------------------------------ */
/* setup                                                                */

static char *dup_or_null(const char *text)
{
    return text ? strdup(text) : NULL;
}

inbox_t *inbox_new(const inbox_config_t *config)
{
    inbox_t *inbox = calloc(1, sizeof *inbox);
    if (!inbox)
        return NULL;
    inbox->config = *config;
    inbox->dsn = dup_or_null(config->dsn);
    inbox->schema = dup_or_null(config->schema);
    inbox->app_name = dup_or_null(config->app_name ? config->app_name : "inbox");
    inbox->own_stream = dup_or_null(config->own_stream);
    inbox->sub_endpoint = dup_or_null(config->sub_endpoint);
    inbox->replay_peers = dup_or_null(config->replay_peers ? config->replay_peers : "");
    inbox->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    pthread_mutex_init(&inbox->status_lock, NULL);
    pthread_mutex_init(&inbox->park_lock, NULL);
    if (!inbox->dsn || !inbox->schema || !inbox->app_name || !inbox->own_stream ||
        !inbox->sub_endpoint || !inbox->replay_peers || inbox->stop_fd < 0 || !config->relay) {
        inbox_destroy(&inbox);
        return NULL;
    }
    inbox_config_t *c = &inbox->config;
    if (c->batch_max <= 0)
        c->batch_max = 500;
    if (c->queue_max <= 0)
        c->queue_max = 100000;
    if (c->pending_max <= 0)
        c->pending_max = 50000;
    if (c->replay_timeout_ms <= 0)
        c->replay_timeout_ms = 3000;
    snprintf(inbox->pipe_endpoint, sizeof inbox->pipe_endpoint, "inproc://inbox-%p", (void *)inbox);
    snprintf(inbox->ext_pipe_endpoint, sizeof inbox->ext_pipe_endpoint, "inproc://inbox-ext-%p",
             (void *)inbox);
    inbox->dropped_total = metrics_counter("inbox_dropped_total", NULL,
                                           "Live frames dropped because the apply queue was full.");
    inbox->malformed_total = metrics_counter("inbox_malformed_total", NULL,
                                             "Frames that could not be parsed (parked by hash).");
    inbox->external_total =
        metrics_counter("inbox_external_total", NULL, "External (seq-less) events handled.");
    inbox->batch_latency = metrics_histogram("inbox_apply_batch_duration_seconds", NULL,
                                             "One apply transaction, begin to commit.");
    inbox->park_refused_total =
        metrics_counter("inbox_park_refused_total", NULL,
                        "Unparsable frames and external events not parked: the publisher's "
                        "parking budget was spent.");
    inbox->foreign_total =
        metrics_counter("inbox_replay_foreign_total", NULL,
                        "Replay answers about a stream the peer does not serve, ignored.");
    return inbox;
}

static stream_t *find_stream(inbox_t *inbox, const char *name)
{
    for (size_t i = 0; i < inbox->stream_count; i++)
        if (strcmp(inbox->streams[i].name, name) == 0)
            return &inbox->streams[i];
    return NULL;
}

int inbox_on(inbox_t *inbox, const char *stream, const char *type, inbox_handler_fn handler,
             void *arg)
{
    if (inbox->route_count >= MAX_ROUTES || strlen(stream) >= BUS_NAME_MAX)
        return -1;
    route_t *route = &inbox->routes[inbox->route_count];
    snprintf(route->stream, sizeof route->stream, "%s", stream);
    route->type = type ? strdup(type) : NULL;
    if (type && !route->type)
        return -1;
    route->fn = handler;
    route->arg = arg;
    inbox->route_count++;
    if (strcmp(stream, BUS_STREAM_EXT) == 0 || find_stream(inbox, stream))
        return 0;
    if (inbox->stream_count >= MAX_STREAMS)
        return -1;
    stream_t *st = &inbox->streams[inbox->stream_count++];
    snprintf(st->name, sizeof st->name, "%s", stream);
    char labels[128];
    snprintf(labels, sizeof labels, "stream=\"%s\"", stream);
    st->applied_total =
        metrics_counter("inbox_applied_total", labels, "Events applied (handler answered OK).");
    st->skipped_total = metrics_counter("inbox_skipped_total", labels,
                                        "Events of types this service does not handle.");
    st->parked_total =
        metrics_counter("inbox_parked_total", labels, "Events parked in dead_letters.");
    st->gaps_total =
        metrics_counter("inbox_gaps_total", labels, "Catch-ups started by a gap or heartbeat.");
    st->requests_total =
        metrics_counter("inbox_replay_requests_total", labels, "Replay requests sent.");
    st->live_total =
        metrics_counter("inbox_live_events_total", labels,
                        "Events of the stream's current epoch that came live from busd.");
    st->replayed_total =
        metrics_counter("inbox_replayed_events_total", labels,
                        "Events of the stream's current epoch that came by replay.");
    st->lag = metrics_gauge("inbox_lag_events", labels,
                            "The producer's last seq minus the last applied seq.");
    st->halted_gauge =
        metrics_gauge("inbox_halted", labels, "1 while the stream is stopped for an operator.");
    return 0;
}

int inbox_on_batch(inbox_t *inbox, const char *stream, const char *type, inbox_batch_fn batch)
{
    for (size_t i = 0; i < inbox->route_count; i++) {
        route_t *route = &inbox->routes[i];
        if (strcmp(route->stream, stream) == 0 && route->type && strcmp(route->type, type) == 0) {
            route->batch = batch;
            return 0;
        }
    }
    return -1;
}

static const route_t *find_route(const inbox_t *inbox, const char *stream, const char *type)
{
    for (size_t i = 0; i < inbox->route_count; i++) {
        const route_t *route = &inbox->routes[i];
        if (strcmp(route->stream, stream) == 0 && (!route->type || strcmp(route->type, type) == 0))
            return route;
    }
    return NULL;
}

/* Parses "a=tcp://h:1,b=tcp://h:2" and gives each consumed stream its peer. */
static int assign_peers(inbox_t *inbox)
{
    char *list = strdup(inbox->replay_peers);
    if (!list)
        return -1;
    char *save = NULL;
    for (char *item = strtok_r(list, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        if (!eq || eq == item || !eq[1]) {
            log_error("REPLAY_PEERS item is not stream=endpoint", LF_STR("item", item),
                      LF_ERR("bad_config"));
            free(list);
            return -1;
        }
        *eq = '\0';
        stream_t *st = find_stream(inbox, item);
        if (!st || st->peer)
            continue;
        if (inbox->peer_count >= MAX_PEERS || strlen(eq + 1) >= sizeof st->peer->endpoint) {
            free(list);
            return -1;
        }
        /* one peer per stream: what it answers is taken for that stream only */
        peer_t *peer = &inbox->peers[inbox->peer_count++];
        snprintf(peer->stream, sizeof peer->stream, "%s", st->name);
        snprintf(peer->endpoint, sizeof peer->endpoint, "%s", eq + 1);
        st->peer = peer;
    }
    free(list);
    return 0;
}

static int prepare_statements(db_t *db)
{
    int rc = outbox_prepare(db);
    rc |= db_prepare(
        db, STMT_ENSURE,
        "INSERT INTO inbox_offsets (stream) VALUES ($1) ON CONFLICT (stream) DO NOTHING");
    rc |= db_prepare(db, STMT_LOAD,
                     "SELECT epoch, last_seq, halted_reason FROM inbox_offsets WHERE stream = $1");
    rc |=
        db_prepare(db, STMT_ADVANCE,
                   "UPDATE inbox_offsets SET last_seq = $4, updated_at = now() "
                   "WHERE stream = $1 AND epoch = $2 AND last_seq = $3 AND halted_reason IS NULL");
    rc |= db_prepare(db, STMT_ADOPT,
                     "UPDATE inbox_offsets SET epoch = $2, updated_at = now() "
                     "WHERE stream = $1 AND epoch = 0 AND halted_reason IS NULL");
    rc |= db_prepare(db, STMT_HALT,
                     "UPDATE inbox_offsets SET halted_reason = $2, halted_epoch = $3, "
                     "halted_at = now(), updated_at = now() WHERE stream = $1");
    rc |= db_prepare(db, STMT_OPEN_COUNT,
                     "SELECT count(*) FROM dead_letters WHERE status IN ('open', 'retry')");
    rc |= db_prepare(db, STMT_BLOCKING,
                     "SELECT min(id) FROM dead_letters WHERE correlation_id = $1 "
                     "AND seq IS NOT NULL AND status IN ('open', 'retry')");
    rc |= db_prepare(db, STMT_PARK,
                     "INSERT INTO dead_letters (stream, epoch, seq, event_id, correlation_id, "
                     "type, err, detail, topic, envelope, frame_hash, held_behind) "
                     "VALUES ($1, $2, $3, $4::uuid, $5, $6, $7, $8, $9, $10, $11, $12) "
                     "ON CONFLICT DO NOTHING");
    rc |= db_prepare(db, STMT_DUE,
                     "SELECT d.id FROM dead_letters d WHERE d.status = 'retry' AND NOT EXISTS "
                     "(SELECT 1 FROM dead_letters e WHERE e.correlation_id = d.correlation_id "
                     "AND d.correlation_id <> '' AND e.seq IS NOT NULL AND e.status = 'open' "
                     "AND e.id < d.id) "
                     "ORDER BY d.id LIMIT 100");
    rc |= db_prepare(db, STMT_LOCK_LETTER,
                     "SELECT topic, envelope FROM dead_letters WHERE id = $1 "
                     "AND status = 'retry' FOR UPDATE");
    rc |= db_prepare(db, STMT_RESOLVE,
                     "UPDATE dead_letters SET status = 'resolved', resolved_at = now() "
                     "WHERE id = $1");
    rc |= db_prepare(db, STMT_REOPEN,
                     "UPDATE dead_letters SET status = 'open', attempts = attempts + 1, "
                     "err = $2, detail = $3 WHERE id = $1");
    rc |= db_prepare(db, STMT_CLAIM_KEY,
                     "INSERT INTO processed_keys (scope, key, event_id) VALUES ($1, $2, $3::uuid) "
                     "ON CONFLICT DO NOTHING");
    return rc ? -1 : 0;
}

/* ------------------------------------------------------------------ */
/* the window of received events                                        */

static void window_clear(stream_t *st)
{
    for (size_t i = 0; st->window && i < st->window_size; i++) {
        if (st->window[i].env)
            conveyor__envelope__free_unpacked(st->window[i].env, NULL);
        st->window[i].env = NULL;
    }
    st->window_count = 0;
}

static slot_t *window_slot(const stream_t *st, uint64_t seq)
{
    return &st->window[seq % st->window_size];
}

/* Takes ownership of env. Returns true if kept. */
static bool window_put(stream_t *st, Conveyor__Envelope *env)
{
    uint64_t seq = env->seq;
    if (seq <= st->applied || seq > st->applied + st->window_size) {
        conveyor__envelope__free_unpacked(env, NULL);
        return false;
    }
    slot_t *slot = window_slot(st, seq);
    if (slot->env) {
        /* the same seq again (live and replay both brought it) */
        conveyor__envelope__free_unpacked(env, NULL);
        return false;
    }
    slot->seq = seq;
    slot->env = env;
    st->window_count++;
    return true;
}

static Conveyor__Envelope *window_get(const stream_t *st, uint64_t seq)
{
    slot_t *slot = window_slot(st, seq);
    return slot->env && slot->seq == seq ? slot->env : NULL;
}

/* Frees the slots of seqs up to and including through (they were applied). */
static void window_consume(stream_t *st, uint64_t from, uint64_t through)
{
    for (uint64_t seq = from; seq <= through; seq++) {
        slot_t *slot = window_slot(st, seq);
        if (slot->env && slot->seq == seq) {
            conveyor__envelope__free_unpacked(slot->env, NULL);
            slot->env = NULL;
            st->window_count--;
        }
    }
}

/* ------------------------------------------------------------------ */
/* offsets, halting, parking                                            */

static void stream_publish_gauges(stream_t *st)
{
    uint64_t head = st->head > st->received_max ? st->head : st->received_max;
    metrics_gauge_set(st->lag, head > st->applied ? (int64_t)(head - st->applied) : 0);
    metrics_gauge_set(st->halted_gauge, st->halted ? 1 : 0);
}

/* Reads the stream's offset row (creating it), dropping whatever was
 * buffered. -1 if the database is away. */
static int stream_load(inbox_t *inbox, stream_t *st)
{
    PGresult *res = NULL;
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, st->name);
    if (db_run(inbox->db, STMT_ENSURE, &params, NULL) != DB_OK ||
        db_run(inbox->db, STMT_LOAD, &params, &res) != DB_OK || PQntuples(res) != 1) {
        PQclear(res);
        return -1;
    }
    int64_t epoch = 0, last_seq = 0;
    db_get_i64(res, 0, 0, &epoch);
    db_get_i64(res, 0, 1, &last_seq);
    const char *reason = db_value(res, 0, 2);
    window_clear(st);
    st->epoch = (uint64_t)epoch;
    st->applied = (uint64_t)last_seq;
    st->received_max = st->applied;
    st->heartbeats_behind = 0;
    st->halted = reason != NULL;
    st->unconfirmed_epoch = 0;
    snprintf(st->halted_reason, sizeof st->halted_reason, "%s", reason ? reason : "");
    st->requesting = false;
    /* a stream never heard of and with nobody to ask waits for its first
     * frame: only then can something be missing (degraded if so) */
    st->want_catchup = !st->halted && (st->peer || st->epoch != 0);
    st->next_request_at = 0;
    PQclear(res);
    stream_publish_gauges(st);
    return 0;
}

/* Stops a stream until an operator resyncs it; said once, loudly. */
static void stream_halt(inbox_t *inbox, stream_t *st, uint64_t epoch_seen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void stream_halt(inbox_t *inbox, stream_t *st, uint64_t epoch_seen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->halted_reason, sizeof st->halted_reason, fmt, ap);
    va_end(ap);
    st->halted = true;
    st->requesting = false;
    st->want_catchup = false;
    window_clear(st);
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, st->name);
    db_param_text(&params, st->halted_reason);
    db_param_u64(&params, epoch_seen);
    db_run(inbox->db, STMT_HALT, &params, NULL); /* reloaded from memory if this fails */
    log_error("stream stopped: an operator must resync it", LF_STR("stream", st->name),
              LF_STR("reason", st->halted_reason), LF_INT("epoch", (long long)st->epoch),
              LF_INT("epoch_seen", (long long)epoch_seen),
              LF_INT("applied_seq", (long long)st->applied), LF_ERR("stream_halted"));
    stream_publish_gauges(st);
}

/* Takes one letter of bytes from publisher's parking budget: false (counted,
 * logged once a minute per publisher) when the window's budget is spent.
 * Only what outsiders can send in any amount is budgeted: unparsable
 * frames and external events. A sequenced producer's rejected events are
 * always parked: dropping one would lose it. The applier and the lane
 * both take from it (park_lock). */
static bool park_budget_take(inbox_t *inbox, const char *publisher, int64_t bytes)
{
    int64_t now = clock_mono_ms();
    pthread_mutex_lock(&inbox->park_lock);
    park_budget_t *slot = NULL, *oldest = &inbox->budgets[0];
    for (size_t i = 0; i < PUBLISHERS_TRACKED && !slot; i++) {
        park_budget_t *budget = &inbox->budgets[i];
        if (budget->window_start_ms != 0 && strcmp(budget->name, publisher) == 0)
            slot = budget;
        else if (budget->window_start_ms < oldest->window_start_ms)
            oldest = budget;
    }
    if (!slot) {
        slot = oldest;
        memset(slot, 0, sizeof *slot);
        snprintf(slot->name, sizeof slot->name, "%s", publisher);
    }
    if (slot->window_start_ms == 0 || now - slot->window_start_ms >= PARK_WINDOW_MS) {
        slot->window_start_ms = now;
        slot->letters = 0;
        slot->bytes = 0;
    }
    if (slot->letters < PARK_LETTERS_MAX && slot->bytes + bytes <= PARK_BYTES_MAX) {
        slot->letters++;
        slot->bytes += bytes;
        pthread_mutex_unlock(&inbox->park_lock);
        return true;
    }
    metrics_counter_add(inbox->park_refused_total, 1);
    unsigned long long held_back = 0;
    bool log_it = log_throttle_keyed_allow(&inbox->park_log, publisher, 60000, &held_back);
    pthread_mutex_unlock(&inbox->park_lock);
    if (log_it)
        log_warn("not parking more from this publisher: its budget for the minute is spent",
                 LF_STR("publisher", publisher), LF_INT("letters_max", PARK_LETTERS_MAX),
                 LF_INT("bytes_max", PARK_BYTES_MAX),
                 LF_INT("refused_since_last_line", (long long)held_back),
                 LF_ERR("park_budget_spent"));
    return false;
}

/* Parks an event with db's session (inside its transaction when one is
 * open). */
static db_status_t park_letter(inbox_t *inbox, db_t *db, const char *stream, const char *topic,
                               const Conveyor__Envelope *env, const char *err, const char *detail,
                               int64_t held_behind, bool by_hash)
{
    uint8_t *envelope = NULL;
    size_t envelope_len = 0;
    if (envelope_pack_alloc(env, &envelope, &envelope_len) != 0)
        return DB_ERROR;
    char hash[65];
    bus_frame_hash(topic, strlen(topic), envelope, envelope_len, hash);
    uint8_t id[16];
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, stream);
    if (env->seq > 0) {
        db_param_u64(&params, env->epoch);
        db_param_u64(&params, env->seq);
    } else {
        db_param_null(&params);
        db_param_null(&params);
    }
    db_param_text(&params, uuid_parse(env->event_id, id) == 0 ? env->event_id : NULL);
    db_param_text(&params, env->correlation_id);
    db_param_text(&params, env->type);
    db_param_text(&params, err);
    db_param_text(&params, detail);
    db_param_bytes(&params, topic, strlen(topic));
    db_param_bytes(&params, envelope, envelope_len);
    db_param_text(&params, by_hash ? hash : NULL);
    if (held_behind > 0)
        db_param_i64(&params, held_behind);
    else
        db_param_null(&params);
    db_status_t status = db_run(db, STMT_PARK, &params, NULL);
    free(envelope);
    if (status == DB_OK)
        inbox->open_letters++;
    return status;
}

/* A frame that cannot be parsed: parked by its hash with its first
 * PARK_FRAME_KEEP bytes (within the publisher's budget), nothing advances.
 * why is the stable code (frame_status_code, batch_status_code). */
static void park_malformed(inbox_t *inbox, db_t *db, const void *topic_data, size_t topic_len,
                           const void *body_data, size_t body_len, const char *why)
{
    metrics_counter_add(inbox->malformed_total, 1);
    size_t kept_len = body_len < PARK_FRAME_KEEP ? body_len : PARK_FRAME_KEEP;
    char stream[BUS_NAME_MAX], type[BUS_TOPIC_MAX];
    if (bus_topic_split(topic_data, topic_len, stream, type, sizeof type) != 0 &&
        bus_batch_delivery_split(topic_data, topic_len, stream) < 0)
        snprintf(stream, sizeof stream, "?");
    if (!park_budget_take(inbox, stream, (int64_t)(topic_len + kept_len)))
        return;
    char hash[65], detail[160];
    bus_frame_hash(topic_data, topic_len, body_data, body_len, hash);
    snprintf(detail, sizeof detail,
             "the frame could not be parsed as [topic][Envelope] or [topic][EnvelopeBatch]; "
             "%zu bytes, the first %zu kept",
             body_len, kept_len);
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, stream);
    db_param_null(&params);
    db_param_null(&params);
    db_param_null(&params);
    db_param_text(&params, "");
    db_param_text(&params, "");
    db_param_text(&params, why);
    db_param_text(&params, detail);
    db_param_bytes(&params, topic_data, topic_len);
    db_param_bytes(&params, body_data, kept_len);
    db_param_text(&params, hash);
    db_param_null(&params);
    if (db_run(db, STMT_PARK, &params, NULL) == DB_OK)
        inbox->open_letters++;
    unsigned long long held_back = 0;
    pthread_mutex_lock(&inbox->park_lock);
    bool log_it = log_throttle_keyed_allow(&inbox->park_log, stream, 60000, &held_back);
    pthread_mutex_unlock(&inbox->park_lock);
    if (log_it)
        log_warn("parked a frame that cannot be parsed", LF_STR("stream", stream),
                 LF_STR("frame_hash", hash), LF_INT("bytes", (long long)body_len),
                 LF_INT("unlogged_since_last_line", (long long)held_back), LF_ERR(why));
}

/* The id of the oldest unresolved letter of this correlation, 0 if none,
 * -1 if the database is away. */
static int64_t blocking_letter(inbox_t *inbox, db_t *db, const char *correlation_id)
{
    if (inbox->open_letters <= 0 || !correlation_id || !correlation_id[0])
        return 0;
    PGresult *res = NULL;
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, correlation_id);
    if (db_run(db, STMT_BLOCKING, &params, &res) != DB_OK)
        return -1;
    int64_t id = 0;
    if (db_get_i64(res, 0, 0, &id) != 0)
        id = 0;
    PQclear(res);
    return id;
}

/* ------------------------------------------------------------------ */
/* applying                                                             */

static void event_from_envelope(inbox_t *inbox, db_t *db, const char *topic_stream,
                                const Conveyor__Envelope *env, inbox_event_t *event)
{
    memset(event, 0, sizeof *event);
    event->topic_stream = topic_stream;
    event->stream = env->stream;
    event->type = env->type;
    event->event_id = env->event_id;
    event->correlation_id = env->correlation_id;
    event->causation_id = env->causation_id;
    event->epoch = env->epoch;
    event->seq = env->seq;
    event->occurred_at_ms = env->occurred_at_ms;
    event->schema_version = env->schema_version;
    event->payload = env->payload.data;
    event->payload_len = env->payload.len;
    event->external = strcmp(topic_stream, BUS_STREAM_EXT) == 0;
    event->db = db;
    event->own_stream = inbox->own_stream;
}

typedef enum { APPLY_DONE, APPLY_RETRY, APPLY_MOVED, APPLY_REJECTED } apply_outcome_t;

/* Runs one event's handler inside db's open transaction (the applier's
 * session, or the lane's for an external event). With careful set the
 * handler runs under a savepoint and a rejection parks just this event;
 * without, a rejection returns APPLY_REJECTED and the caller rolls the
 * whole run back and tries again carefully. parked counts the letters
 * parked in this run. */
static apply_outcome_t apply_one(inbox_t *inbox, db_t *db, const char *topic_stream,
                                 const Conveyor__Envelope *env, bool careful, int *parked)
{
    const route_t *route = find_route(inbox, topic_stream, env->type);
    stream_t *st = find_stream(inbox, topic_stream);
    if (!route) {
        if (st)
            metrics_counter_add(st->skipped_total, 1);
        return APPLY_DONE;
    }
    char topic[BUS_TOPIC_MAX + 1];
    bus_topic_format(topic, sizeof topic, topic_stream, env->type);

    /* an outside publisher chooses its correlation id: its events neither
     * hold nor are held (only a sequenced producer's order is kept) */
    int64_t blocker = env->seq > 0 ? blocking_letter(inbox, db, env->correlation_id) : 0;
    if (blocker < 0)
        return APPLY_RETRY;
    if (blocker > 0) {
        char detail[128];
        snprintf(detail, sizeof detail, "held behind dead letter %lld of the same correlation",
                 (long long)blocker);
        if (park_letter(inbox, db, env->stream, topic, env, "held_behind", detail, blocker,
                        env->seq == 0) != DB_OK)
            return APPLY_RETRY;
        (*parked)++;
        log_warn("event held behind a dead letter", LF_STR("stream", env->stream),
                 LF_INT("seq", (long long)env->seq), LF_STR("type", env->type),
                 LF_STR("correlation_id", env->correlation_id), LF_INT("dead_letter", blocker),
                 LF_ERR("held_behind"));
        return APPLY_DONE;
    }

    inbox_event_t event;
    event_from_envelope(inbox, db, topic_stream, env, &event);
    if (careful && db_savepoint(db, "inbox_event") != DB_OK)
        return APPLY_RETRY;
    handler_result_t result = route->fn(&event, route->arg);
    if (result == HANDLER_OK) {
        if (careful && db_release_savepoint(db, "inbox_event") != DB_OK)
            return APPLY_RETRY;
        if (st)
            metrics_counter_add(st->applied_total, 1);
        return APPLY_DONE;
    }
    if (result == HANDLER_RETRY) {
        log_warn("handler asked to retry", LF_STR("stream", env->stream),
                 LF_INT("seq", (long long)env->seq), LF_STR("type", env->type),
                 LF_STR("detail", event.err_detail),
                 LF_ERR(event.err_code[0] ? event.err_code : "retry"));
        return APPLY_RETRY;
    }
    if (!careful)
        return APPLY_REJECTED;
    if (db_rollback_to_savepoint(db, "inbox_event") != DB_OK)
        return APPLY_RETRY;
    if (env->seq == 0 &&
        !park_budget_take(inbox, env->stream,
                          (int64_t)(conveyor__envelope__get_packed_size(env) + strlen(topic))))
        return APPLY_DONE; /* counted and dropped: the publisher hears no answer and retries */
    if (park_letter(inbox, db, env->stream, topic, env,
                    event.err_code[0] ? event.err_code : "rejected", event.err_detail, 0,
                    env->seq == 0) != DB_OK)
        return APPLY_RETRY;
    (*parked)++;
    if (st)
        metrics_counter_add(st->parked_total, 1);
    log_error("event parked in dead_letters", LF_STR("stream", env->stream),
              LF_INT("seq", (long long)env->seq), LF_STR("type", env->type),
              LF_STR("event_id", env->event_id), LF_STR("correlation_id", env->correlation_id),
              LF_STR("detail", event.err_detail),
              LF_ERR(event.err_code[0] ? event.err_code : "rejected"));
    return APPLY_DONE;
}

/* Hands the run of envs[0..count) of topic_stream that starts with a type
 * having a batch handler, up to the first event of another type, to that
 * handler inside db's open transaction. Returns how many it took (0:
 * envs[0]'s type has no batch handler, nothing done), *outcome what came
 * of them. */
static size_t apply_batch(inbox_t *inbox, db_t *db, const char *topic_stream,
                          Conveyor__Envelope **envs, size_t count, apply_outcome_t *outcome)
{
    const route_t *route = find_route(inbox, topic_stream, envs[0]->type);
    if (!route || !route->batch)
        return 0;
    size_t n = 1;
    while (n < count && find_route(inbox, topic_stream, envs[n]->type) == route)
        n++;
    inbox_event_t *events = calloc(n, sizeof *events);
    if (!events) {
        *outcome = APPLY_RETRY;
        return n;
    }
    for (size_t i = 0; i < n; i++)
        event_from_envelope(inbox, db, topic_stream, envs[i], &events[i]);
    handler_result_t result = route->batch(events, n, route->arg);
    if (result == HANDLER_OK) {
        *outcome = APPLY_DONE;
    } else if (result == HANDLER_RETRY) {
        const inbox_event_t *said = &events[0];
        for (size_t i = 1; i < n && !said->err_code[0]; i++)
            said = &events[i];
        log_warn("batch handler asked to retry", LF_STR("type", envs[0]->type),
                 LF_INT("events", (long long)n), LF_STR("detail", said->err_detail),
                 LF_ERR(said->err_code[0] ? said->err_code : "retry"));
        *outcome = APPLY_RETRY;
    } else {
        *outcome = APPLY_REJECTED; /* applied again, one at a time */
    }
    free(events);
    return n;
}

/* Applies events [first, first+count) of a stream in one transaction. */
static apply_outcome_t apply_run(inbox_t *inbox, stream_t *st, Conveyor__Envelope **envs,
                                 size_t count, bool careful)
{
    uint64_t first = envs[0]->seq, last = envs[count - 1]->seq;
    int parked = 0;
    if (db_begin(inbox->db) != DB_OK)
        return APPLY_RETRY;
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, st->name);
    db_param_u64(&params, st->epoch);
    db_param_u64(&params, first - 1);
    db_param_u64(&params, last);
    int64_t moved = 0;
    if (db_run_count(inbox->db, STMT_ADVANCE, &params, &moved) != DB_OK) {
        db_rollback(inbox->db);
        return APPLY_RETRY;
    }
    if (moved != 1) {
        db_rollback(inbox->db);
        return APPLY_MOVED;
    }
    for (size_t i = 0; i < count;) {
        apply_outcome_t outcome = APPLY_DONE;
        /* a dead letter open may hold any event behind it: each is then
         * looked at alone (apply_one) */
        size_t ran = careful || inbox->open_letters > 0
                         ? 0
                         : apply_batch(inbox, inbox->db, st->name, envs + i, count - i, &outcome);
        if (ran == 0) {
            outcome = apply_one(inbox, inbox->db, st->name, envs[i], careful, &parked);
            ran = 1;
        } else if (outcome == APPLY_DONE) {
            metrics_counter_add(st->applied_total, ran);
        }
        if (outcome != APPLY_DONE) {
            db_rollback(inbox->db);
            inbox->open_letters -= parked;
            return outcome;
        }
        i += ran;
    }
    db_status_t committed = db_commit(inbox->db);
    if (committed != DB_OK) {
        db_rollback(inbox->db);
        inbox->open_letters -= parked;
        /* a handler that swallowed an SQL error leaves an aborted transaction */
        return committed == DB_ERROR && !careful ? APPLY_REJECTED : APPLY_RETRY;
    }
    return APPLY_DONE;
}

static int64_t next_backoff(int64_t current, int64_t first, int64_t max)
{
    int64_t next = current ? current * 2 : first;
    if (next > max)
        next = max;
    /* jitter: 50–100 % of the step */
    return next / 2 + (int64_t)((uint64_t)rand() % (uint64_t)(next / 2 + 1));
}

/* Applies every run of consecutive events that is ready. */
static void stream_apply_ready(inbox_t *inbox, stream_t *st, int64_t now)
{
    if (st->halted || st->epoch == 0 || now < st->apply_not_before)
        return;
    Conveyor__Envelope **envs = malloc(sizeof *envs * (size_t)inbox->config.batch_max);
    if (!envs)
        return;
    for (;;) {
        size_t count = 0;
        while (count < (size_t)inbox->config.batch_max) {
            Conveyor__Envelope *env = window_get(st, st->applied + 1 + count);
            if (!env)
                break;
            envs[count++] = env;
        }
        if (count == 0)
            break;
        int64_t started = clock_mono_us();
        apply_outcome_t outcome = apply_run(inbox, st, envs, count, false);
        if (outcome == APPLY_REJECTED)
            outcome = apply_run(inbox, st, envs, count, true);
        if (outcome == APPLY_MOVED) {
            log_info("offset moved under the applier: reloading", LF_STR("stream", st->name),
                     LF_INT("applied_seq", (long long)st->applied));
            if (stream_load(inbox, st) != 0)
                st->apply_not_before = now + 500;
            break;
        }
        if (outcome != APPLY_DONE) {
            st->apply_backoff = next_backoff(st->apply_backoff, 100, 5000);
            st->apply_not_before = clock_mono_ms() + st->apply_backoff;
            log_warn("apply will be retried", LF_STR("stream", st->name),
                     LF_INT("seq", (long long)(st->applied + 1)),
                     LF_INT("backoff_ms", st->apply_backoff), LF_STR("pg", db_errmsg(inbox->db)),
                     LF_ERR("apply_retry"));
            break;
        }
        metrics_histogram_observe_us(inbox->batch_latency, (uint64_t)(clock_mono_us() - started));
        st->apply_backoff = 0;
        uint64_t from = st->applied + 1;
        st->applied += count;
        window_consume(st, from, st->applied);
        relay_wake(inbox->config.relay);
    }
    free(envs);
    /* something received beyond a hole: fetch the hole */
    if (st->window_count > 0 && !window_get(st, st->applied + 1) && !st->want_catchup &&
        !st->requesting) {
        st->want_catchup = true;
        metrics_counter_add(st->gaps_total, 1);
    }
    stream_publish_gauges(st);
}

/* ------------------------------------------------------------------ */
/* external events                                                      */

/* Applies external events envs[0..count) in one transaction of the lane's
 * session: first without savepoints; if one is rejected, again with a
 * savepoint per event so only it is parked (as sequenced runs are). Each
 * handler deduplicates by its own key, so a batch is as safe as single
 * events and commits once. Returns how many are done (applied, skipped or
 * parked): count, or 0 to retry later. */
static size_t apply_external_run(inbox_t *inbox, Conveyor__Envelope **envs, size_t count)
{
    db_t *db = inbox->ext_db;
    for (int careful = 0; careful <= 1; careful++) {
        int parked = 0;
        if (db_begin(db) != DB_OK)
            return 0;
        apply_outcome_t outcome = APPLY_DONE;
        for (size_t i = 0; i < count && outcome == APPLY_DONE;) {
            size_t ran =
                careful ? 0 : apply_batch(inbox, db, BUS_STREAM_EXT, envs + i, count - i, &outcome);
            if (ran == 0) {
                outcome = apply_one(inbox, db, BUS_STREAM_EXT, envs[i], careful, &parked);
                ran = 1;
            }
            i += ran;
        }
        db_status_t committed = outcome == APPLY_DONE ? db_commit(db) : DB_ERROR;
        if (outcome == APPLY_DONE && committed == DB_OK) {
            metrics_counter_add(inbox->external_total, count);
            relay_wake(inbox->config.relay);
            return count;
        }
        db_rollback(db);
        inbox->open_letters -= parked;
        /* a rejection, or a commit refused over a handler's swallowed error:
         * once more, carefully; a retry or a lost database: later */
        bool again = !careful && (outcome == APPLY_REJECTED ||
                                  (outcome == APPLY_DONE && committed == DB_ERROR));
        if (!again)
            return 0;
    }
    return 0;
}

/* Frees the first count queued events. */
static void ext_pop(ext_queue_t *q, size_t count)
{
    for (size_t i = 0; i < count && q->len > 0; i++) {
        q->bytes -= (int64_t)q->items[q->head]->payload.len;
        conveyor__envelope__free_unpacked(q->items[q->head], NULL);
        q->head = (q->head + 1) % q->cap;
        q->len--;
    }
}

/* Queues an external event. Takes ownership of env. */
static void ext_push(inbox_t *inbox, Conveyor__Envelope *env)
{
    ext_queue_t *q = &inbox->ext;
    int64_t bytes = (int64_t)env->payload.len;
    if (q->bytes + bytes > EXT_QUEUE_BYTES_MAX) {
        /* the publisher retries until it hears an answer */
        metrics_counter_add(inbox->dropped_total, 1);
        conveyor__envelope__free_unpacked(env, NULL);
        return;
    }
    if (q->len == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 64;
        if (cap > 100000) {
            /* the publisher retries until it hears an answer */
            metrics_counter_add(inbox->dropped_total, 1);
            conveyor__envelope__free_unpacked(env, NULL);
            return;
        }
        Conveyor__Envelope **items = malloc(sizeof *items * cap);
        if (!items) {
            conveyor__envelope__free_unpacked(env, NULL);
            return;
        }
        for (size_t i = 0; i < q->len; i++)
            items[i] = q->items[(q->head + i) % q->cap];
        free(q->items);
        q->items = items;
        q->head = 0;
        q->cap = cap;
    }
    q->items[(q->head + q->len) % q->cap] = env;
    q->len++;
    q->bytes += bytes;
}

static void ext_apply_ready(inbox_t *inbox, int64_t now)
{
    ext_queue_t *q = &inbox->ext;
    if (now < q->not_before || q->len == 0)
        return;
    Conveyor__Envelope **run = malloc(sizeof *run * (size_t)inbox->config.batch_max);
    if (!run)
        return;
    while (q->len > 0) {
        size_t count = 0;
        while (count < q->len && count < (size_t)inbox->config.batch_max) {
            run[count] = q->items[(q->head + count) % q->cap];
            count++;
        }
        if (apply_external_run(inbox, run, count) != count) {
            q->backoff = next_backoff(q->backoff, 100, 5000);
            q->not_before = clock_mono_ms() + q->backoff;
            break;
        }
        q->backoff = 0;
        ext_pop(q, count);
    }
    free(run);
}

/* One ext/ frame from the reader: parked by its hash if it does not parse,
 * queued if this replica leads and a handler takes its type, else let go
 * (the publisher retries until the leader answers). */
static void ext_on_frame(inbox_t *inbox, zmq_msg_t *topic, zmq_msg_t *body, bool leading)
{
    bus_frame_t frame;
    frame_status_t status = bus_frame_parse(zmq_msg_data(topic), zmq_msg_size(topic),
                                            zmq_msg_data(body), zmq_msg_size(body), &frame);
    if (status != FRAME_OK) {
        if (leading)
            park_malformed(inbox, inbox->ext_db, zmq_msg_data(topic), zmq_msg_size(topic),
                           zmq_msg_data(body), zmq_msg_size(body), frame_status_code(status));
        return;
    }
    if (leading && strcmp(frame.topic_stream, BUS_STREAM_EXT) == 0 &&
        find_route(inbox, BUS_STREAM_EXT, frame.topic_type)) {
        ext_push(inbox, frame.env);
        frame.env = NULL;
    }
    bus_frame_clear(&frame);
}

/* What takes a frame from a pipe of the reader's (drain_pipe). */
typedef void (*pipe_frame_fn)(inbox_t *inbox, zmq_msg_t *topic, zmq_msg_t *body, bool leading);

/* Reads the frames the reader forwarded on pull (up to a bound, so runs
 * are applied in between), each to on_frame. */
static void drain_pipe(inbox_t *inbox, void *pull, bool leading, pipe_frame_fn on_frame)
{
    for (int n = 0; n < 20000; n++) {
        zmq_msg_t topic, body;
        zmq_msg_init(&topic);
        zmq_msg_init(&body);
        if (zmq_msg_recv(&topic, pull, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&topic);
            zmq_msg_close(&body);
            return;
        }
        if (zmq_msg_more(&topic) && zmq_msg_recv(&body, pull, 0) >= 0) {
            atomic_fetch_sub(&inbox->inflight_bytes,
                             (long long)(zmq_msg_size(&topic) + zmq_msg_size(&body)));
            on_frame(inbox, &topic, &body, leading);
        }
        zmq_msg_close(&topic);
        zmq_msg_close(&body);
    }
}

/* The external lane's thread: reads its pipe, applies what is queued
 * while this replica leads (dropping it when it stops leading: the
 * publishers retry until the leader answers), until the stop. */
static void *ext_main(void *arg)
{
    inbox_t *inbox = arg;
    while (!atomic_load(&inbox->stop)) {
        int64_t now = clock_mono_ms();
        long timeout = 1000;
        if (inbox->ext.len > 0 && inbox->ext.not_before - now < timeout)
            timeout = inbox->ext.not_before > now ? (long)(inbox->ext.not_before - now) : 0;
        zmq_pollitem_t items[2] = {
            {inbox->ext_pull, 0, ZMQ_POLLIN, 0},
            {NULL, inbox->stop_fd, ZMQ_POLLIN, 0},
        };
        if (zmq_poll(items, 2, timeout) < 0 && errno != EINTR)
            break;
        if (items[1].revents & ZMQ_POLLIN)
            break;
        bool leading = relay_is_leader(inbox->config.relay);
        drain_pipe(inbox, inbox->ext_pull, leading, ext_on_frame);
        if (!leading) {
            metrics_counter_add(inbox->dropped_total, inbox->ext.len);
            ext_pop(&inbox->ext, inbox->ext.len);
            continue;
        }
        ext_apply_ready(inbox, clock_mono_ms());
    }
    return NULL;
}

/* ------------------------------------------------------------------ */
/* live frames                                                          */

/* Something on the bus claims the producer is in a newer epoch. It is not
 * believed on its word: the producer's replay endpoint is asked (a request
 * in the epoch followed answers EPOCH_CHANGED only if the producer really
 * moved on, and on_replay_end halts then). Without a replay peer nothing
 * can confirm it: the stream reports it, degraded, and halts nothing. */
static void epoch_claimed(inbox_t *inbox, stream_t *st, uint64_t epoch, bool heartbeat)
{
    if (st->peer) {
        if (!st->requesting && !st->want_catchup) {
            st->want_catchup = true;
            metrics_counter_add(st->gaps_total, 1);
        }
        return;
    }
    if (heartbeat && epoch > st->unconfirmed_epoch) {
        st->unconfirmed_epoch = epoch;
        log_error("the producer's heartbeat names a new epoch and no replay peer can confirm it "
                  "(set REPLAY_PEERS): events of that epoch are not applied",
                  LF_STR("stream", st->name), LF_INT("epoch", (long long)st->epoch),
                  LF_INT("epoch_heard", (long long)epoch), LF_ERR("epoch_unconfirmed"));
    }
    (void)inbox;
}

static void on_heartbeat(inbox_t *inbox, stream_t *st, const Conveyor__Envelope *env)
{
    if (st->halted)
        return;
    if (st->epoch == 0) {
        st->want_catchup = true;
        return;
    }
    if (env->epoch < st->epoch)
        return;
    if (env->epoch > st->epoch) {
        epoch_claimed(inbox, st, env->epoch, true);
        return;
    }
    st->head = env->seq;
    uint64_t known = st->received_max > st->applied ? st->received_max : st->applied;
    if (env->seq > known) {
        if (++st->heartbeats_behind >= 2 && !st->requesting && !st->want_catchup) {
            st->want_catchup = true;
            metrics_counter_add(st->gaps_total, 1);
        }
    } else {
        st->heartbeats_behind = 0;
    }
}

/* Takes ownership of env. */
static void on_event(inbox_t *inbox, stream_t *st, Conveyor__Envelope *env, bool live)
{
    if (st->halted || st->epoch == 0 || env->epoch < st->epoch) {
        if (st->epoch == 0 && !st->halted)
            st->want_catchup = true;
        conveyor__envelope__free_unpacked(env, NULL);
        return;
    }
    if (env->epoch > st->epoch) {
        uint64_t seen = env->epoch;
        conveyor__envelope__free_unpacked(env, NULL);
        if (live)
            epoch_claimed(inbox, st, seen, false);
        return;
    }
    if (live && env->seq > st->received_max)
        st->received_max = env->seq;
    metrics_counter_add(live ? st->live_total : st->replayed_total, 1);
    window_put(st, env);
}

/* A live frame of the stream came: its producer is up, and so, most likely,
 * its replay endpoint. An ask that found it away (no connection, its stream
 * not open yet) is not left to its backoff (200 ms doubling up to 5 s: a
 * consumer started before its producer held the producer's first events
 * that long); it is made again now, at most every PEER_HEARD_RETRY_MS. */
static void stream_heard(stream_t *st)
{
    if (!st->producer_away || !st->want_catchup || st->requesting)
        return;
    int64_t now = clock_mono_ms();
    if (now < st->heard_retry_at || st->next_request_at <= now)
        return;
    st->next_request_at = now;
    st->heard_retry_at = now + PEER_HEARD_RETRY_MS;
}

/* Routes one live event: an ordinary topic and its envelope's bytes,
 * delivered in the batch form or (ext, and the heartbeat for an older
 * busd) the ordinary one. */
static void on_live_event(inbox_t *inbox, const void *topic, size_t topic_len, const void *body,
                          size_t body_len, bool batch_form)
{
    bus_frame_t frame;
    frame_status_t status = bus_frame_parse(topic, topic_len, body, body_len, &frame);
    if (status != FRAME_OK) {
        park_malformed(inbox, inbox->db, topic, topic_len, body, body_len,
                       frame_status_code(status));
        return;
    }
    stream_t *st = find_stream(inbox, frame.topic_stream);
    if (!st) {
        bus_frame_clear(&frame);
        return;
    }
    if (batch_form) {
        st->batch_form_heard = true;
    } else if (st->batch_form_heard) {
        bus_frame_clear(&frame); /* the ordinary heartbeat's twin came in the batch form */
        return;
    }
    stream_heard(st);
    if (strcmp(frame.topic_type, BUS_TYPE_HEARTBEAT) == 0) {
        on_heartbeat(inbox, st, frame.env);
        bus_frame_clear(&frame);
        return;
    }
    on_event(inbox, st, frame.env, true);
    frame.env = NULL;
}

/* A relay's batch in the batch form ([+<stream>/][EnvelopeBatch]): checked
 * whole as busd checked it, then each envelope routed as if it had come
 * alone under its ordinary topic, in order. One that does not check is
 * parked whole. */
static void on_live_batch(inbox_t *inbox, const char *stream, const void *topic, size_t topic_len,
                          const void *body, size_t body_len)
{
    batch_status_t status = bus_batch_parse(body, body_len, &inbox->batch);
    if (status == BATCH_OK && strcmp(inbox->batch.stream, stream) != 0)
        status = BATCH_MIXED; /* a batch of another stream under this topic */
    if (status != BATCH_OK) {
        park_malformed(inbox, inbox->db, topic, topic_len, body, body_len,
                       batch_status_code(status));
        return;
    }
    for (size_t i = 0; i < inbox->batch.count; i++) {
        char event_topic[BUS_TOPIC_MAX + 1];
        int event_topic_len = bus_batch_topic(&inbox->batch, i, event_topic, sizeof event_topic);
        const bus_batch_event_t *event = &inbox->batch.events[i];
        if (event_topic_len > 0)
            on_live_event(inbox, event_topic, (size_t)event_topic_len, event->envelope,
                          event->envelope_len, true);
    }
}

/* Routes one live frame from the reader: the batch form of a service's
 * stream (common/busbatch.h "Delivery"), or the ordinary form (ext). */
static void on_live_frame(inbox_t *inbox, zmq_msg_t *topic, zmq_msg_t *body)
{
    const char *topic_data = zmq_msg_data(topic), *body_data = zmq_msg_data(body);
    size_t topic_len = zmq_msg_size(topic), body_len = zmq_msg_size(body);
    char stream[BUS_NAME_MAX];
    switch (topic_len > 0 && topic_data[0] == BUS_BATCH_DELIVERY_MARK
                ? bus_batch_delivery_split(topic_data, topic_len, stream)
                : 2) {
    case 1:
        on_live_batch(inbox, stream, topic_data, topic_len, body_data, body_len);
        return;
    case 0: /* one event: its ordinary topic follows the mark */
        on_live_event(inbox, topic_data + 1, topic_len - 1, body_data, body_len, true);
        return;
    case 2:
        on_live_event(inbox, topic_data, topic_len, body_data, body_len, false);
        return;
    default:
        park_malformed(inbox, inbox->db, topic_data, topic_len, body_data, body_len,
                       frame_status_code(FRAME_BAD_TOPIC));
    }
}

/* ------------------------------------------------------------------ */
/* catch-up through replay                                              */

/* (Re)opens a peer's DEALER with the server key in use. A CURVE peer with
 * no trusted key gets none (stream_request reports it). -1 on a socket
 * failure. */
static int peer_connect(inbox_t *inbox, peer_t *peer)
{
    if (peer->dealer)
        zmq_close(peer->dealer);
    peer->dealer = NULL;
    const curve_t *curve = inbox->config.curve;
    if (curve_enabled(curve) && peer->key_count == 0)
        return 0;
    peer->dealer = zmq_socket(inbox->ctx, ZMQ_DEALER);
    if (!peer->dealer)
        return -1;
    int immediate = 1, rcvhwm = REPLAY_BATCH_MAX * 4, linger = 0;
    int64_t max_msg = BUS_ENVELOPE_MAX + 4096;
    zmq_setsockopt(peer->dealer, ZMQ_IMMEDIATE, &immediate, sizeof immediate);
    zmq_setsockopt(peer->dealer, ZMQ_RCVHWM, &rcvhwm, sizeof rcvhwm);
    zmq_setsockopt(peer->dealer, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(peer->dealer, ZMQ_MAXMSGSIZE, &max_msg, sizeof max_msg);
    if ((curve_enabled(curve) && curve_client(curve, peer->dealer, peer->keys[peer->key_index])) ||
        zmq_connect(peer->dealer, peer->endpoint) != 0) {
        log_error("inbox could not connect to a replay peer", LF_STR("endpoint", peer->endpoint),
                  LF_STR("error", zmq_strerror(errno)), LF_ERR("bad_endpoint"));
        return -1;
    }
    return 0;
}

/* Takes the producer's trusted keys from the directory; reconnects when the
 * key in use is gone (revoked after a rotation) or there was none. */
static void peer_load_keys(inbox_t *inbox, peer_t *peer)
{
    char keys[PEER_KEYS_MAX][BUSKEY_Z85_LEN + 1];
    size_t count = buskeys_of_service(inbox->keys, peer->stream, keys, PEER_KEYS_MAX);
    if (count > PEER_KEYS_MAX)
        count = PEER_KEYS_MAX;
    const char *in_use = peer->key_count > 0 ? peer->keys[peer->key_index] : "";
    size_t keep = count;
    for (size_t i = 0; i < count && keep == count; i++)
        if (strcmp(keys[i], in_use) == 0)
            keep = i;
    bool reconnect = keep == count || !peer->dealer;
    memcpy(peer->keys, keys, sizeof keys);
    peer->key_count = count;
    peer->key_index = keep < count ? keep : 0;
    if (reconnect && inbox->ctx)
        peer_connect(inbox, peer);
    /* a stream that could not catch up for want of a key asks at once */
    stream_t *st = find_stream(inbox, peer->stream);
    if (st && st->warned_no_peer && peer->dealer && !st->halted) {
        st->want_catchup = true;
        st->next_request_at = 0;
    }
}

/* A request timed out: during a key rotation the peer may hold the other
 * trusted key, so the next request tries it; and a connection the peer
 * refused (our key not trusted yet) never comes back by itself, so the
 * socket is made anew. */
static void peer_try_next_key(inbox_t *inbox, peer_t *peer)
{
    if (!curve_enabled(inbox->config.curve))
        return;
    if (peer->key_count > 1) {
        peer->key_index = (peer->key_index + 1) % peer->key_count;
        log_info("asking a replay peer with its other trusted key", LF_STR("stream", peer->stream),
                 LF_STR("peer", peer->endpoint), LF_STR("key", peer->keys[peer->key_index]));
    }
    peer_connect(inbox, peer);
}

static void stream_request(inbox_t *inbox, stream_t *st, int64_t now)
{
    if (!st->want_catchup || st->requesting || st->halted || now < st->next_request_at)
        return;
    if (!st->peer || !st->peer->dealer) {
        if (!st->warned_no_peer && !st->peer)
            log_error("no replay peer configured for a consumed stream: lost events cannot be "
                      "fetched (set REPLAY_PEERS)",
                      LF_STR("stream", st->name), LF_ERR("no_replay_peer"));
        else if (!st->warned_no_peer)
            log_error("no trusted key for the producer of a consumed stream (a certificate "
                      "with service = <stream> in BUS_KEYS_DIR): its replay endpoint cannot be "
                      "asked",
                      LF_STR("stream", st->name), LF_ERR("no_replay_key"));
        st->warned_no_peer = true;
        st->want_catchup = false;
        if (st->epoch == 0) {
            /* nothing to replay from: follow the live epoch from now on */
            st->next_request_at = now + 5000;
        }
        return;
    }
    st->warned_no_peer = false;
    Conveyor__ReplayRequest request = CONVEYOR__REPLAY_REQUEST__INIT;
    request.stream = st->name;
    request.epoch = st->epoch;
    request.from_seq = st->applied + 1;
    request.max_events = REPLAY_BATCH_MAX;
    request.request_id = ++inbox->next_request_id;
    size_t len = conveyor__replay_request__get_packed_size(&request);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return;
    conveyor__replay_request__pack(&request, buf);
    bool sent = zmq_send(st->peer->dealer, REPLAY_CMD_REQUEST, strlen(REPLAY_CMD_REQUEST),
                         ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0 &&
                zmq_send(st->peer->dealer, buf, len, ZMQ_DONTWAIT) >= 0;
    free(buf);
    if (!sent) {
        /* no connection to the peer yet (ZMQ_IMMEDIATE): try again soon,
         * or as soon as the producer is heard (stream_heard) */
        st->request_backoff = next_backoff(st->request_backoff, 200, 5000);
        st->next_request_at = now + st->request_backoff;
        st->producer_away = true;
        return;
    }
    st->producer_away = false;
    metrics_counter_add(st->requests_total, 1);
    st->requesting = true;
    st->want_catchup = false;
    st->request_id = request.request_id;
    st->request_deadline = now + inbox->config.replay_timeout_ms;
}

static void on_replay_end(inbox_t *inbox, const Conveyor__ReplayEnd *end, int64_t now)
{
    log_debug("replay end", LF_STR("stream", end->stream), LF_INT("status", end->status),
              LF_INT("epoch", (long long)end->epoch), LF_INT("head_seq", (long long)end->head_seq),
              LF_INT("request_id", (long long)end->request_id));
    stream_t *st = find_stream(inbox, end->stream);
    if (!st || !st->requesting || end->request_id != st->request_id)
        return; /* an answer to a request we gave up on */
    st->requesting = false;
    switch (end->status) {
    case CONVEYOR__REPLAY_END__STATUS__OK:
    case CONVEYOR__REPLAY_END__STATUS__PARTIAL:
    case CONVEYOR__REPLAY_END__STATUS__EPOCH_CHANGED:
        if (st->epoch == 0) {
            db_params_t params;
            db_params_init(&params);
            db_param_text(&params, st->name);
            db_param_u64(&params, end->epoch);
            if (db_run(inbox->db, STMT_ADOPT, &params, NULL) != DB_OK) {
                st->want_catchup = true;
                st->next_request_at = now + 1000;
                return;
            }
            st->epoch = end->epoch;
            log_info("following the producer's epoch", LF_STR("stream", st->name),
                     LF_INT("epoch", (long long)st->epoch));
            st->want_catchup = true;
            return;
        }
        if (end->status == CONVEYOR__REPLAY_END__STATUS__EPOCH_CHANGED) {
            if (end->epoch > st->epoch)
                stream_halt(inbox, st, end->epoch,
                            "the producer started a new epoch %llu (following %llu, applied "
                            "through seq %llu): its database was restored or replaced",
                            (unsigned long long)end->epoch, (unsigned long long)st->epoch,
                            (unsigned long long)st->applied);
            return;
        }
        if (end->head_seq > st->head)
            st->head = end->head_seq;
        st->request_backoff = 0;
        stream_apply_ready(inbox, st, now);
        if (st->applied < end->head_seq) {
            st->want_catchup = true;
            /* nothing came although more exists: do not spin */
            if (end->last_sent_seq < st->applied + 1 &&
                end->status != CONVEYOR__REPLAY_END__STATUS__OK)
                st->next_request_at = now + 100;
            /* what came is waiting for a handler's or the database's RETRY
             * backoff: asking again before it ends would fetch the same
             * events over and over */
            if (window_get(st, st->applied + 1) && st->apply_not_before > st->next_request_at)
                st->next_request_at = st->apply_not_before;
        }
        return;
    case CONVEYOR__REPLAY_END__STATUS__TRUNCATED:
        stream_halt(inbox, st, end->epoch,
                    "history truncated: need seq %llu but the producer purged through %llu",
                    (unsigned long long)(st->applied + 1), (unsigned long long)end->purged_through);
        return;
    case CONVEYOR__REPLAY_END__STATUS__UNKNOWN_STREAM:
        log_error("replay peer does not serve this stream: check REPLAY_PEERS",
                  LF_STR("stream", st->name), LF_STR("peer", st->peer ? st->peer->endpoint : ""),
                  LF_ERR("bad_config"));
        st->want_catchup = true;
        st->next_request_at = now + 5000;
        return;
    default:
        st->want_catchup = true;
        st->request_backoff = next_backoff(st->request_backoff, 200, 5000);
        st->next_request_at = now + st->request_backoff;
        st->producer_away = end->status == CONVEYOR__REPLAY_END__STATUS__UNAVAILABLE;
        return;
    }
}

/* A replay peer answered about a stream it does not serve: ignored. */
static void note_foreign(inbox_t *inbox, const peer_t *peer, const char *stream)
{
    metrics_counter_add(inbox->foreign_total, 1);
    unsigned long long held_back = 0;
    if (log_throttle_allow(&inbox->foreign_log, 60000, &held_back))
        log_warn("a replay peer answered about a stream it does not serve: ignored",
                 LF_STR("peer", peer->endpoint), LF_STR("serves", peer->stream),
                 LF_STR("stream", stream), LF_INT("ignored_since_last_line", (long long)held_back),
                 LF_ERR("replay_foreign"));
}

/* Reads every complete answer waiting on a peer's DEALER. */
static void drain_peer(inbox_t *inbox, peer_t *peer, int64_t now)
{
    for (int n = 0; n < 5000; n++) {
        zmq_msg_t parts[3];
        int count = 0;
        bool more = true, got = false;
        while (more) {
            zmq_msg_t part;
            zmq_msg_init(&part);
            if (zmq_msg_recv(&part, peer->dealer, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(&part);
                break;
            }
            got = true;
            more = zmq_msg_more(&part);
            if (count < 3)
                parts[count++] = part;
            else
                zmq_msg_close(&part);
        }
        if (!got)
            return;
        size_t cmd_len = count > 0 ? zmq_msg_size(&parts[0]) : 0;
        const char *cmd = count > 0 ? zmq_msg_data(&parts[0]) : "";
        if (count == 3 && cmd_len == strlen(REPLAY_CMD_EVENT) &&
            memcmp(cmd, REPLAY_CMD_EVENT, cmd_len) == 0) {
            bus_frame_t frame;
            if (bus_frame_parse(zmq_msg_data(&parts[1]), zmq_msg_size(&parts[1]),
                                zmq_msg_data(&parts[2]), zmq_msg_size(&parts[2]),
                                &frame) == FRAME_OK) {
                /* a peer speaks for its own stream only */
                stream_t *st = strcmp(frame.topic_stream, peer->stream) == 0
                                   ? find_stream(inbox, frame.topic_stream)
                                   : NULL;
                if (!st)
                    note_foreign(inbox, peer, frame.topic_stream);
                else if (strcmp(frame.topic_type, BUS_TYPE_HEARTBEAT) != 0) {
                    on_event(inbox, st, frame.env, false);
                    frame.env = NULL;
                }
                bus_frame_clear(&frame);
            }
        } else if (count == 2 && cmd_len == strlen(REPLAY_CMD_END) &&
                   memcmp(cmd, REPLAY_CMD_END, cmd_len) == 0) {
            Conveyor__ReplayEnd *end = conveyor__replay_end__unpack(NULL, zmq_msg_size(&parts[1]),
                                                                    zmq_msg_data(&parts[1]));
            if (end && strcmp(end->stream, peer->stream) != 0)
                note_foreign(inbox, peer, end->stream);
            else if (end)
                on_replay_end(inbox, end, now);
            if (end)
                conveyor__replay_end__free_unpacked(end, NULL);
        }
        for (int i = 0; i < count; i++)
            zmq_msg_close(&parts[i]);
    }
}

/* ------------------------------------------------------------------ */
/* dead letters an operator asked to retry                              */

static void retry_letter(inbox_t *inbox, int64_t id)
{
    PGresult *res = NULL;
    unsigned char *topic = NULL, *body = NULL;
    size_t topic_len = 0, body_len = 0;
    bus_frame_t frame = {.env = NULL};
    if (db_begin(inbox->db) != DB_OK)
        return;
    db_params_t params;
    db_params_init(&params);
    db_param_i64(&params, id);
    if (db_run(inbox->db, STMT_LOCK_LETTER, &params, &res) != DB_OK || PQntuples(res) != 1 ||
        db_get_bytes(res, 0, 0, &topic, &topic_len) != 0 ||
        db_get_bytes(res, 0, 1, &body, &body_len) != 0)
        goto fail;
    frame_status_t status = bus_frame_parse(topic, topic_len, body, body_len, &frame);
    const char *err = frame_status_code(status);
    char detail[400] = "the frame could not be parsed as [topic][Envelope]";
    bool done = false;
    if (status == FRAME_OK) {
        const route_t *route = find_route(inbox, frame.topic_stream, frame.env->type);
        if (!route) {
            done = true; /* nobody handles it any more */
        } else {
            inbox_event_t event;
            event_from_envelope(inbox, inbox->db, frame.topic_stream, frame.env, &event);
            event.from_dead_letter = true;
            if (db_savepoint(inbox->db, "inbox_letter") != DB_OK)
                goto fail;
            handler_result_t result = route->fn(&event, route->arg);
            if (result == HANDLER_RETRY)
                goto fail;
            if (result == HANDLER_OK) {
                if (db_release_savepoint(inbox->db, "inbox_letter") != DB_OK)
                    goto fail;
                done = true;
            } else {
                if (db_rollback_to_savepoint(inbox->db, "inbox_letter") != DB_OK)
                    goto fail;
                err = event.err_code[0] ? event.err_code : "rejected";
                snprintf(detail, sizeof detail, "%s", event.err_detail);
            }
        }
    }
    db_params_t update;
    db_params_init(&update);
    db_param_i64(&update, id);
    if (!done) {
        db_param_text(&update, err);
        db_param_text(&update, detail);
    }
    if (db_run(inbox->db, done ? STMT_RESOLVE : STMT_REOPEN, &update, NULL) != DB_OK ||
        db_commit(inbox->db) != DB_OK)
        goto fail;
    relay_wake(inbox->config.relay);
    log_info(done ? "dead letter retried and resolved" : "dead letter retried and parked again",
             LF_INT("dead_letter", id), LF_ERR(done ? "ok" : err));
    goto out;
fail:
    db_rollback(inbox->db);
out:
    bus_frame_clear(&frame);
    free(topic);
    free(body);
    PQclear(res);
}

static void check_letters(inbox_t *inbox, int64_t now)
{
    if (now < inbox->next_letters_check)
        return;
    inbox->next_letters_check = now + 1000;
    PGresult *count = NULL, *due = NULL;
    int64_t open_letters = 0;
    if (db_run(inbox->db, STMT_OPEN_COUNT, NULL, &count) == DB_OK &&
        db_get_i64(count, 0, 0, &open_letters) == 0)
        inbox->open_letters = open_letters;
    PQclear(count);
    if (inbox->open_letters <= 0)
        return;
    if (db_run(inbox->db, STMT_DUE, NULL, &due) != DB_OK)
        return;
    for (int i = 0; i < PQntuples(due); i++) {
        int64_t id = 0;
        if (db_get_i64(due, i, 0, &id) == 0)
            retry_letter(inbox, id);
    }
    PQclear(due);
}

/* ------------------------------------------------------------------ */
/* threads                                                              */

/* Makes the SUB to busd (and its watch), subscribed to whole streams
 * only; or makes it anew (reader thread) after busd refused the old one's
 * handshake: what it missed meanwhile comes back by replay. */
static int open_sub(inbox_t *inbox)
{
    curve_watch_t *previous = inbox->watch;
    inbox->watch = NULL;
    if (inbox->sub)
        zmq_close(inbox->sub);
    inbox->sub = zmq_socket(inbox->ctx, ZMQ_SUB);
    int rc = -1;
    if (!inbox->sub)
        goto done;
    /* messages, some of them batches of up to 256 events (256 KiB): the
     * reader drains the socket as it comes, this bounds what it can hold
     * if it stalls (1 GiB at worst) */
    int sub_hwm = 4000, linger = 0;
    int64_t max_msg = BUS_ENVELOPE_MAX + 4096;
    zmq_setsockopt(inbox->sub, ZMQ_RCVHWM, &sub_hwm, sizeof sub_hwm);
    zmq_setsockopt(inbox->sub, ZMQ_MAXMSGSIZE, &max_msg, sizeof max_msg);
    zmq_setsockopt(inbox->sub, ZMQ_LINGER, &linger, sizeof linger);
    bool wants_ext = false;
    for (size_t i = 0; i < inbox->route_count; i++)
        wants_ext |= strcmp(inbox->routes[i].stream, BUS_STREAM_EXT) == 0;
    /* a service's stream in the batch form ("+order/": a relay's run is one
     * message), and its heartbeat in the ordinary form too ("order/$hb"):
     * a busd older than the batch form forwards that one, so a consumer
     * behind it still learns the producer's head and catches up by replay
     * (with a new busd each beat comes twice, which changes nothing); ext
     * in the ordinary form (never batched) */
    for (size_t i = 0; i < inbox->stream_count + (wants_ext ? 1 : 0); i++) {
        char prefix[BUS_TOPIC_MAX + 2];
        if (i < inbox->stream_count) {
            bus_batch_delivery_topic(inbox->streams[i].name, NULL, prefix, sizeof prefix);
            zmq_setsockopt(inbox->sub, ZMQ_SUBSCRIBE, prefix, strlen(prefix));
            bus_topic_format(prefix, sizeof prefix, inbox->streams[i].name, BUS_TYPE_HEARTBEAT);
        } else {
            snprintf(prefix, sizeof prefix, "%s/", BUS_STREAM_EXT);
        }
        zmq_setsockopt(inbox->sub, ZMQ_SUBSCRIBE, prefix, strlen(prefix));
    }
    if (curve_client(inbox->config.curve, inbox->sub, NULL) != 0)
        goto done;
    inbox->watch =
        curve_watch_new(inbox->config.curve, inbox->ctx, inbox->sub, inbox->sub_endpoint, "inbox");
    curve_watch_inherit(inbox->watch, previous);
    if (zmq_connect(inbox->sub, inbox->sub_endpoint) != 0) {
        log_error("inbox could not connect to the bus", LF_STR("endpoint", inbox->sub_endpoint),
                  LF_STR("error", zmq_strerror(errno)), LF_ERR("bad_endpoint"));
        goto done;
    }
    rc = 0;
done:
    curve_watch_destroy(&previous);
    return rc;
}

static void *reader_main(void *arg)
{
    inbox_t *inbox = arg;
    while (!atomic_load(&inbox->stop)) {
        zmq_pollitem_t items[2] = {
            {inbox->sub, 0, ZMQ_POLLIN, 0},
            {NULL, inbox->stop_fd, ZMQ_POLLIN, 0},
        };
        if (zmq_poll(items, 2, 1000) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (curve_watch_check(inbox->watch))
            open_sub(inbox); /* logged if it fails; the next refusal tries again */
        if (!(items[0].revents & ZMQ_POLLIN))
            continue;
        for (int n = 0; n < 10000; n++) {
            zmq_msg_t parts[2];
            int count = 0;
            bool more = true, got = false;
            while (more) {
                zmq_msg_t part;
                zmq_msg_init(&part);
                if (zmq_msg_recv(&part, inbox->sub, ZMQ_DONTWAIT) < 0) {
                    zmq_msg_close(&part);
                    break;
                }
                got = true;
                more = zmq_msg_more(&part);
                if (count < 2)
                    parts[count++] = part;
                else {
                    zmq_msg_close(&part);
                    count = 3;
                }
            }
            if (!got)
                break;
            bool well_formed = count == 2 && zmq_msg_size(&parts[0]) <= BUS_TOPIC_MAX &&
                               zmq_msg_size(&parts[1]) <= BUS_ENVELOPE_MAX;
            long long bytes =
                well_formed ? (long long)(zmq_msg_size(&parts[0]) + zmq_msg_size(&parts[1])) : 0;
            /* ext/ (the ordinary form: never batched) to the external
             * lane, everything else to the applier */
            void *to = well_formed && inbox->ext_push &&
                               zmq_msg_size(&parts[0]) > strlen(BUS_STREAM_EXT) &&
                               memcmp(zmq_msg_data(&parts[0]), BUS_STREAM_EXT "/",
                                      strlen(BUS_STREAM_EXT) + 1) == 0
                           ? inbox->ext_push
                           : inbox->push;
            if (!well_formed) {
                metrics_counter_add(inbox->malformed_total, 1);
            } else if (atomic_load(&inbox->inflight_bytes) + bytes > INFLIGHT_BYTES_MAX ||
                       zmq_msg_send(&parts[0], to, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
                /* that far behind: replay brings it back, an outside
                 * publisher sends again */
                metrics_counter_add(inbox->dropped_total, 1);
            } else {
                atomic_fetch_add(&inbox->inflight_bytes, bytes);
                zmq_msg_send(&parts[1], to, ZMQ_DONTWAIT);
            }
            for (int i = 0; i < (count < 2 ? count : 2); i++)
                zmq_msg_close(&parts[i]);
        }
    }
    return NULL;
}

/* A live frame from the applier's pipe: routed while this replica leads. */
static void on_piped_frame(inbox_t *inbox, zmq_msg_t *topic, zmq_msg_t *body, bool leading)
{
    if (leading)
        on_live_frame(inbox, topic, body);
}

static void publish_status(inbox_t *inbox)
{
    pthread_mutex_lock(&inbox->status_lock);
    inbox->snapshot_count = inbox->stream_count;
    for (size_t i = 0; i < inbox->stream_count; i++) {
        const stream_t *st = &inbox->streams[i];
        inbox_stream_status_t *out = &inbox->snapshot[i];
        snprintf(out->stream, sizeof out->stream, "%s", st->name);
        out->epoch = st->epoch;
        out->applied_seq = st->applied;
        out->head_seq = st->head > st->received_max ? st->head : st->received_max;
        out->catching_up = st->requesting || st->want_catchup;
        out->halted = st->halted || st->warned_no_peer || st->unconfirmed_epoch > st->epoch;
        if (st->halted)
            snprintf(out->halted_reason, sizeof out->halted_reason, "%s", st->halted_reason);
        else if (st->warned_no_peer && !st->peer)
            snprintf(out->halted_reason, sizeof out->halted_reason, "%s",
                     "no replay peer configured for this stream (REPLAY_PEERS): missed "
                     "events cannot be fetched");
        else if (st->warned_no_peer)
            snprintf(out->halted_reason, sizeof out->halted_reason, "%s",
                     "no trusted key for the producer's replay endpoint (BUS_KEYS_DIR): missed "
                     "events cannot be fetched");
        else if (st->unconfirmed_epoch > st->epoch)
            snprintf(out->halted_reason, sizeof out->halted_reason,
                     "the producer's heartbeat names epoch %llu and no replay peer can confirm "
                     "it",
                     (unsigned long long)st->unconfirmed_epoch);
        else
            out->halted_reason[0] = '\0';
    }
    pthread_mutex_unlock(&inbox->status_lock);
}

/* Becomes the applier (loads offsets, starts catching up) or stops being it. */
static void set_leading(inbox_t *inbox, bool leading)
{
    if (leading) {
        for (size_t i = 0; i < inbox->stream_count; i++) {
            if (stream_load(inbox, &inbox->streams[i]) != 0)
                return; /* database away: try again next round */
        }
        inbox->next_letters_check = 0;
        /* the first events applied must see letters parked by an earlier leader */
        PGresult *count = NULL;
        int64_t open_letters = 0;
        if (db_run(inbox->db, STMT_OPEN_COUNT, NULL, &count) != DB_OK ||
            db_get_i64(count, 0, 0, &open_letters) != 0) {
            PQclear(count);
            return;
        }
        PQclear(count);
        inbox->open_letters = open_letters;
        log_info("applier active", LF_STR("schema", inbox->schema),
                 LF_INT("streams", (long long)inbox->stream_count));
    } else {
        for (size_t i = 0; i < inbox->stream_count; i++) {
            window_clear(&inbox->streams[i]);
            inbox->streams[i].requesting = false;
        }
        log_info("applier standing by: another replica leads", LF_STR("schema", inbox->schema));
    }
    inbox->leading = leading;
    atomic_store(&inbox->settled, true);
}

/* Halted streams are re-read every few seconds: a resync clears them. */
static void check_halted(inbox_t *inbox, int64_t now, int64_t *next_check)
{
    if (now < *next_check)
        return;
    *next_check = now + 2000;
    for (size_t i = 0; i < inbox->stream_count; i++) {
        stream_t *st = &inbox->streams[i];
        if (!st->halted)
            continue;
        if (stream_load(inbox, st) == 0 && !st->halted)
            log_info("stream resynced by an operator: resuming", LF_STR("stream", st->name),
                     LF_INT("epoch", (long long)st->epoch),
                     LF_INT("applied_seq", (long long)st->applied));
    }
}

static void *applier_main(void *arg)
{
    inbox_t *inbox = arg;
    int64_t next_halt_check = 0;
    while (!atomic_load(&inbox->stop)) {
        int64_t now = clock_mono_ms();
        bool leader = relay_is_leader(inbox->config.relay);
        if (leader != inbox->leading)
            set_leading(inbox, leader);
        else if (!leader && relay_has_tried(inbox->config.relay))
            atomic_store(&inbox->settled, true); /* standing by from the start */

        zmq_pollitem_t items[2 + MAX_PEERS];
        int count = 0;
        items[count++] = (zmq_pollitem_t){inbox->pull, 0, ZMQ_POLLIN, 0};
        items[count++] = (zmq_pollitem_t){NULL, inbox->stop_fd, ZMQ_POLLIN, 0};
        for (size_t i = 0; i < inbox->peer_count; i++)
            if (inbox->peers[i].dealer)
                items[count++] = (zmq_pollitem_t){inbox->peers[i].dealer, 0, ZMQ_POLLIN, 0};

        long timeout = 200;
        if (inbox->leading) {
            for (size_t i = 0; i < inbox->stream_count; i++) {
                const stream_t *st = &inbox->streams[i];
                int64_t due = INT64_MAX;
                if (st->requesting)
                    due = st->request_deadline;
                else if (st->want_catchup)
                    due = st->next_request_at;
                /* a handler's or the database's retry is due */
                if (st->apply_not_before > now && window_get(st, st->applied + 1) &&
                    st->apply_not_before < due)
                    due = st->apply_not_before;
                if (due - now < timeout)
                    timeout = due > now ? (long)(due - now) : 0;
            }
        }
        if (zmq_poll(items, count, timeout) < 0 && errno != EINTR)
            break;
        if (items[1].revents & ZMQ_POLLIN)
            break;
        now = clock_mono_ms();
        /* up to a bound, so replay answers interleave */
        drain_pipe(inbox, inbox->pull, inbox->leading, on_piped_frame);
        for (size_t i = 0; i < inbox->peer_count; i++)
            if (inbox->peers[i].dealer)
                drain_peer(inbox, &inbox->peers[i], now);
        if (inbox->keys && buskeys_refresh(inbox->keys) == 1)
            for (size_t i = 0; i < inbox->peer_count; i++)
                peer_load_keys(inbox, &inbox->peers[i]);
        if (inbox->leading) {
            for (size_t i = 0; i < inbox->stream_count; i++) {
                stream_t *st = &inbox->streams[i];
                if (st->requesting && now >= st->request_deadline) {
                    st->requesting = false;
                    st->want_catchup = true;
                    st->request_backoff = next_backoff(st->request_backoff, 200, 5000);
                    st->next_request_at = now + st->request_backoff;
                    log_warn("replay request timed out", LF_STR("stream", st->name),
                             LF_STR("peer", st->peer ? st->peer->endpoint : ""),
                             LF_ERR("replay_timeout"));
                    if (st->peer)
                        peer_try_next_key(inbox, st->peer);
                }
                stream_apply_ready(inbox, st, now);
                stream_request(inbox, st, now);
            }
            check_letters(inbox, now);
            check_halted(inbox, now, &next_halt_check);
        }
        publish_status(inbox);
    }
    return NULL;
}

/* A pipe from the reader (its *push) to the applier or the lane (its
 * *pull), bounded by the queue: a full pipe drops the frame. 0, or -1. */
static int open_pipe(inbox_t *inbox, const char *endpoint, void **push, void **pull)
{
    *push = zmq_socket(inbox->ctx, ZMQ_PUSH);
    *pull = zmq_socket(inbox->ctx, ZMQ_PULL);
    if (!*push || !*pull)
        return -1;
    int hwm = inbox->config.queue_max / 2, linger = 0;
    zmq_setsockopt(*push, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(*push, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(*pull, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(*pull, ZMQ_LINGER, &linger, sizeof linger);
    return zmq_bind(*pull, endpoint) == 0 && zmq_connect(*push, endpoint) == 0 ? 0 : -1;
}

/* A session of the inbox's: the applier's, or the external lane's. */
static db_t *session_new(inbox_t *inbox)
{
    db_t *db = db_new(inbox->dsn, inbox->app_name);
    if (db &&
        (prepare_statements(db) != 0 ||
         (inbox->config.db_setup && inbox->config.db_setup(db, inbox->config.db_setup_arg) != 0)))
        db_destroy(&db);
    return db;
}

int inbox_start(inbox_t *inbox)
{
    if (assign_peers(inbox) != 0)
        return -1;
    inbox->db = session_new(inbox);
    if (!inbox->db)
        return -1;
    bool wants_ext = false;
    for (size_t i = 0; i < inbox->route_count; i++)
        wants_ext |= strcmp(inbox->routes[i].stream, BUS_STREAM_EXT) == 0;
    if (wants_ext && !(inbox->ext_db = session_new(inbox)))
        return -1;
    for (size_t i = 0; i < inbox->stream_count; i++) {
        stream_t *st = &inbox->streams[i];
        st->window_size = (size_t)inbox->config.pending_max;
        st->window = calloc(st->window_size, sizeof *st->window);
        if (!st->window)
            return -1;
    }
    inbox->ctx = zmq_ctx_new();
    if (!inbox->ctx)
        return -1;
    if (open_pipe(inbox, inbox->pipe_endpoint, &inbox->push, &inbox->pull) != 0 ||
        (inbox->ext_db &&
         open_pipe(inbox, inbox->ext_pipe_endpoint, &inbox->ext_push, &inbox->ext_pull) != 0))
        return -1;
    /* subscribe first, then catch up (the Clone order) */
    if (open_sub(inbox) != 0)
        return -1;
    if (curve_enabled(inbox->config.curve)) {
        inbox->keys = buskeys_new(curve_keys_dir(inbox->config.curve));
        if (!inbox->keys)
            return -1;
    }
    for (size_t i = 0; i < inbox->peer_count; i++) {
        peer_t *peer = &inbox->peers[i];
        if (inbox->keys)
            peer_load_keys(inbox, peer);
        if (!peer->dealer && peer_connect(inbox, peer) != 0)
            return -1;
    }
    if (pthread_create(&inbox->reader, NULL, reader_main, inbox) != 0)
        return -1;
    inbox->reader_started = true;
    if (pthread_create(&inbox->applier, NULL, applier_main, inbox) != 0)
        return -1;
    inbox->applier_started = true;
    if (inbox->ext_db) {
        if (pthread_create(&inbox->ext_thread, NULL, ext_main, inbox) != 0)
            return -1;
        inbox->ext_started = true;
    }
    return 0;
}

size_t inbox_status(inbox_t *inbox, inbox_stream_status_t *out, size_t max)
{
    pthread_mutex_lock(&inbox->status_lock);
    size_t count = inbox->snapshot_count;
    for (size_t i = 0; i < count && i < max; i++)
        out[i] = inbox->snapshot[i];
    pthread_mutex_unlock(&inbox->status_lock);
    return count;
}

bool inbox_settled(inbox_t *inbox)
{
    return atomic_load(&inbox->settled);
}

bool inbox_degraded(inbox_t *inbox)
{
    bool degraded = false;
    pthread_mutex_lock(&inbox->status_lock);
    for (size_t i = 0; i < inbox->snapshot_count; i++)
        degraded |= inbox->snapshot[i].halted;
    pthread_mutex_unlock(&inbox->status_lock);
    return degraded;
}

void inbox_destroy(inbox_t **self_p)
{
    inbox_t *inbox = *self_p;
    if (!inbox)
        return;
    atomic_store(&inbox->stop, true);
    if (inbox->stop_fd >= 0) {
        uint64_t one = 1;
        ssize_t written = write(inbox->stop_fd, &one, sizeof one);
        (void)written;
    }
    if (inbox->reader_started)
        pthread_join(inbox->reader, NULL);
    if (inbox->applier_started)
        pthread_join(inbox->applier, NULL);
    if (inbox->ext_started)
        pthread_join(inbox->ext_thread, NULL);
    curve_watch_destroy(&inbox->watch);
    if (inbox->sub)
        zmq_close(inbox->sub);
    if (inbox->push)
        zmq_close(inbox->push);
    if (inbox->pull)
        zmq_close(inbox->pull);
    if (inbox->ext_push)
        zmq_close(inbox->ext_push);
    if (inbox->ext_pull)
        zmq_close(inbox->ext_pull);
    for (size_t i = 0; i < inbox->peer_count; i++)
        if (inbox->peers[i].dealer)
            zmq_close(inbox->peers[i].dealer);
    if (inbox->ctx)
        zmq_ctx_term(inbox->ctx);
    for (size_t i = 0; i < inbox->stream_count; i++) {
        window_clear(&inbox->streams[i]);
        free(inbox->streams[i].window);
    }
    for (size_t i = 0; i < inbox->route_count; i++)
        free(inbox->routes[i].type);
    ext_pop(&inbox->ext, inbox->ext.len);
    free(inbox->ext.items);
    db_destroy(&inbox->ext_db);
    buskeys_destroy(&inbox->keys);
    db_destroy(&inbox->db);
    if (inbox->stop_fd >= 0)
        close(inbox->stop_fd);
    pthread_mutex_destroy(&inbox->status_lock);
    pthread_mutex_destroy(&inbox->park_lock);
    free(inbox->dsn);
    free(inbox->schema);
    free(inbox->app_name);
    free(inbox->own_stream);
    free(inbox->sub_endpoint);
    free(inbox->replay_peers);
    free(inbox);
    *self_p = NULL;
}

int inbox_resync(db_t *db, const char *stream, uint64_t epoch, uint64_t after_seq, bool force)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, stream);
    db_param_u64(&params, epoch);
    db_param_u64(&params, after_seq);
    db_param_bool(&params, force);
    PGresult *res = NULL;
    db_status_t status =
        db_run_sql(db,
                   "UPDATE inbox_offsets SET epoch = $2, last_seq = $3, halted_reason = NULL, "
                   "halted_epoch = NULL, halted_at = NULL, updated_at = now() "
                   "WHERE stream = $1 AND (halted_reason IS NOT NULL OR $4::bool) RETURNING stream",
                   &params, &res);
    int rc = status != DB_OK ? -1 : PQntuples(res) == 1 ? 1 : 0;
    PQclear(res);
    return rc;
}
