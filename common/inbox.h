/*
 * inbox.h — consuming the bus: every event applied once, in order.
 *
 * DESIGN.md "Consuming" and "Parking". A service registers one handler per
 * (stream, type) it consumes; the inbox subscribes to those whole streams
 * and runs the handlers in the replica that leads (relay.h), one event or
 * a run of consecutive events per transaction:
 *
 *   - a reader thread receives frames from busd, checks their sizes and
 *     queues them (bounded; beyond the bound they are dropped and replay
 *     brings them back); nothing slow ever runs there;
 *   - the applier thread, with its own database session, keeps per stream
 *     the epoch and last applied seq (inbox_offsets). Each transaction
 *     starts by moving the offset conditionally from n-1 to n, so an event
 *     already applied by anyone is skipped, however often it arrives;
 *   - a gap in seq, or heartbeats announcing more than was received,
 *     starts a catch-up from the producer's replay endpoint: one request
 *     outstanding per stream, the next after applying the last; live
 *     events are buffered meanwhile;
 *   - a new epoch or a truncated history stops that stream (log, metric,
 *     /readyz degraded) until an operator resyncs it; never silently. A
 *     new epoch is believed only from the producer's own heartbeat (busd
 *     lets only the producer's key publish its stream) and only once the
 *     producer's replay endpoint — a CURVE server holding the producer's
 *     key — confirms it: an event or a beat that merely claims one halts
 *     nothing;
 *   - with CURVE on, a replay peer is reached with the producer's public
 *     key from the trusted directory (buskeys.h); during a key rotation
 *     two may be trusted, and a request that times out tries the next;
 *     only events of the peer's own stream are taken from it;
 *   - a handler answers HANDLER_OK, HANDLER_RETRY (transient: nothing
 *     advances, try again after a backoff) or HANDLER_REJECT (permanent:
 *     the event is parked in dead_letters with the reason and the offset
 *     moves on). Later events about the same correlation id are parked
 *     behind it, so one order's facts never apply out of order (only a
 *     parked event of a sequenced stream holds others: an outside
 *     publisher's rejected frame holds nothing). A frame that cannot be
 *     parsed is parked by its hash with its first 4 KiB;
 *   - what outsiders can make the inbox store or hold is bounded: parking
 *     of unparsable frames and of external events is capped per publisher
 *     (100 letters and 1 MiB a minute; the rest is counted and dropped),
 *     frames waiting for the applier by bytes (256 MiB), external events
 *     waiting for a retry by bytes (64 MiB);
 *   - external events (stream "ext", seq 0) have no order and no offset:
 *     the handler deduplicates each by its idempotency key
 *     (inbox_claim_key); they are applied in runs by a lane of their own
 *     (a thread and a database session), at the same time as the
 *     sequenced streams' runs, so an external handler and a sequenced one
 *     may run at once and must share nothing but what is thread-safe (as
 *     the HTTP handlers that run beside the applier already must).
 *
 * Handlers get the applying session inside the transaction: they read and
 * write with it, emit events with inbox_emit (same transaction), never
 * commit, and never call outside systems (enqueue a job instead).
 * A run of events is first applied without savepoints; if one is
 * rejected, the transaction is rolled back and the run applied again with
 * a savepoint per event, so handlers must decide from the database and the
 * event alone.
 */
#ifndef CONVEYOR_INBOX_H
#define CONVEYOR_INBOX_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/curve.h"
#include "common/db.h"
#include "common/relay.h"
#include "common/uuid.h"

typedef enum { HANDLER_OK = 0, HANDLER_RETRY, HANDLER_REJECT } handler_result_t;

/* One event being applied. Everything is borrowed for the handler call. */
typedef struct {
    const char *topic_stream; /* the topic's stream: the producer, or "ext" */
    const char *stream;       /* the envelope's stream: the producer, or the external source */
    const char *type;
    const char *event_id;
    const char *correlation_id;
    const char *causation_id;
    uint64_t epoch;
    uint64_t seq; /* 0 for external events */
    int64_t occurred_at_ms;
    uint32_t schema_version;
    const uint8_t *payload;
    size_t payload_len;
    bool external;         /* seq-less: deduplicate with inbox_claim_key */
    bool from_dead_letter; /* an operator's retry of a parked event */
    db_t *db;              /* the applier's session, inside the transaction */

    /* the kit's own: */
    const char *own_stream;
    uint32_t emitted;
    char err_code[48];
    char err_detail[400];
} inbox_event_t;

typedef handler_result_t (*inbox_handler_fn)(inbox_event_t *event, void *arg);

/* Record why the event is refused and return HANDLER_REJECT / RETRY:
 *     return inbox_reject(ev, "bad_payload", "order %s has no lines", id); */
handler_result_t inbox_reject(inbox_event_t *event, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
handler_result_t inbox_retry(inbox_event_t *event, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The one mapping from a failed database call to a handler's answer
 * (db_failure_of): DB_OK is HANDLER_OK; a transient failure (the database
 * away, out of memory, a COMMIT's outcome unknown) is HANDLER_RETRY; any
 * other is HANDLER_REJECT with its stable code (overflow, bad_data,
 * constraint, pg_error) and "<what>: <the database's message>". */
handler_result_t inbox_result(inbox_event_t *event, db_status_t status, const char *what);

/* Appends an event caused by this one to the service's outbox, in the
 * handler's transaction; its id is UUIDv5(event_id, n) for the n-th emit.
 * correlation_id NULL means the cause's. */
db_status_t inbox_emit(inbox_event_t *event, const char *type, const char *correlation_id,
                       const ProtobufCMessage *payload);

/* Records an idempotency key in processed_keys, in the handler's
 * transaction: 1 if this is its first use (apply the event), 0 if it was
 * seen before (skip: return HANDLER_OK), -1 on a database failure (return
 * HANDLER_RETRY). */
int inbox_claim_key(inbox_event_t *event, const char *scope, const char *key);

typedef struct {
    const char *dsn; /* the service's runtime role */
    const char *schema;
    const char *app_name;
    const char *own_stream;    /* the stream inbox_emit appends to */
    const char *sub_endpoint;  /* busd's XPUB, "tcp://127.0.0.1:5551" */
    const char *replay_peers;  /* "order=tcp://order:5561,inventory=tcp://..." */
    const curve_t *curve;      /* the service's bus keys (borrowed; NULL or off: plain) */
    relay_t *relay;            /* borrowed: who leads, and whom to wake after a commit */
    int batch_max;             /* events per transaction; 0 means 500 */
    int queue_max;             /* frames between reader and applier; 0 means 100000 */
    int pending_max;           /* buffered out-of-order events per stream; 0 means 50000 */
    int64_t replay_timeout_ms; /* 0 means 3000 */
    db_setup_fn db_setup;      /* registers the handlers' statements on the applier's session */
    void *db_setup_arg;
} inbox_config_t;

typedef struct inbox inbox_t;

/* Caller owns the result; nothing runs until inbox_start. */
inbox_t *inbox_new(const inbox_config_t *config);

/* Registers a handler before start. type NULL handles every type of the
 * stream (heartbeats excepted). Events of types without a handler are
 * skipped (the offset moves past them). 0 ok, -1 OOM or too many. */
int inbox_on(inbox_t *inbox, const char *stream, const char *type, inbox_handler_fn handler,
             void *arg);

/* A run of consecutive events of one type, applied together (one
 * statement for many rows rather than one each): the handler applies
 * every event in the open transaction, in order, and answers HANDLER_OK;
 * HANDLER_RETRY retries the run later; HANDLER_REJECT has the inbox roll
 * the run back and apply it again one event at a time with the type's
 * handler, which stays the way an event is applied carefully (and from a
 * dead letter, and whenever a dead letter is open: it may hold an event
 * behind it). events are borrowed for the call; each carries its own
 * emitting context. */
typedef handler_result_t (*inbox_batch_fn)(inbox_event_t *events, size_t count, void *arg);

/* Gives the handler of stream's type (inbox_on(inbox, stream, type, ...),
 * called first) a batch handler, before start; it gets the same arg.
 * 0 ok, -1 no such handler. */
int inbox_on_batch(inbox_t *inbox, const char *stream, const char *type, inbox_batch_fn batch);

/* Starts the reader and applier threads; 0 ok, -1 (logged). */
int inbox_start(inbox_t *inbox);

/* Stops after the transaction in hand, joins the threads, frees. NULL-safe. */
void inbox_destroy(inbox_t **self_p);

/* A snapshot of one consumed stream, for /readyz and the CLI. */
typedef struct {
    char stream[64];
    uint64_t epoch;
    uint64_t applied_seq;
    uint64_t head_seq; /* the producer's last seq as last heard */
    bool catching_up;
    bool halted;
    char halted_reason[200];
} inbox_stream_status_t;

/* Copies up to max stream snapshots into out; returns how many streams
 * there are. Thread-safe. */
size_t inbox_status(inbox_t *inbox, inbox_stream_status_t *out, size_t max);

/* True while any stream is halted. Thread-safe. */
bool inbox_degraded(inbox_t *inbox);

/* True once the applier has taken its place: leading (applying what it
 * hears) or standing by for another replica. Before that a live frame is
 * not applied, and an external one (ext/, which nothing replays) is lost
 * until its publisher sends it again: not ready. Thread-safe. */
bool inbox_settled(inbox_t *inbox);

/* What an operator's resync does once it asked the producer for its epoch
 * and head (replay_query_head): the stream follows epoch from seq
 * after_seq + 1 and its halt is cleared; the running applier picks it up
 * within seconds. Only a halted stream is moved unless force. 1 done, 0
 * not halted (nothing changed), -1 the database failed (db_errmsg). */
int inbox_resync(db_t *db, const char *stream, uint64_t epoch, uint64_t after_seq, bool force);

#endif
