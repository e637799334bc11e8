/*
 * relay.h — numbers committed outbox rows that wait for it, publishes them
 * in seq order; leads.
 *
 * DESIGN.md "Producing", steps 2–4. One relay per service runs in the
 * replica holding the service's leader advisory lock (DB_LOCK_LEADER, on
 * the relay's own session). Every seq is given from the counter row in
 * outbox_streams, under its lock, held until the numbering transaction
 * ends, so transactions commit in seq order and what the relay can see of
 * its stream is always a prefix of its seqs. A transaction of many events
 * is numbered as it is inserted (outbox.h); one of few is inserted
 * unnumbered, and the relay numbers such rows once committed, in insert
 * order (as every row was before kit migration 002). Woken in-process
 * after a local commit (relay_wake), by NOTIFY from other replicas, or by
 * a short poll, it numbers what is waiting, reads the rows after the last
 * seq it published, in batches, and publishes [topic][envelope] to busd.
 * How far it got is written to the counter row about once a second
 * (published_seq, a hint written without waiting for its flush, so that
 * it holds the row no longer than the write): a new leader starts there,
 * at worst publishing some events again, which consumers ignore. A crash before publishing loses
 * nothing: the heartbeat it publishes every second carries the last seq
 * published, consumers see they are behind and replay.
 *
 * Epochs: on taking the lock the relay compares the database's system
 * identifier and timeline with those stored beside the epoch; after a
 * restore or failover they differ and it starts a new epoch (unix ms,
 * always greater than the old one) at seq 1.
 *
 * The lock also elects the applier (inbox.h): the replica whose relay
 * leads is the one that consumes. relay_is_leader() says whether that is
 * this process.
 */
#ifndef CONVEYOR_RELAY_H
#define CONVEYOR_RELAY_H

#include <stdbool.h>
#include <stdint.h>

#include "common/curve.h"
#include "common/db.h"

typedef struct {
    const char *dsn;          /* the service's runtime role */
    const char *schema;       /* for the advisory lock key and NOTIFY channel */
    const char *stream;       /* the service's stream, "order" */
    const char *pub_endpoint; /* busd's XSUB, "tcp://127.0.0.1:5550" */
    const curve_t *curve;     /* the service's bus keys (borrowed; NULL or off: plain) */
    const char *app_name;
    int batch_max;           /* rows per publishing batch; 0 means 1000 */
    int64_t poll_ms;         /* 0 means 200 */
    int64_t heartbeat_ms;    /* 0 means 1000 */
    int64_t leader_retry_ms; /* how often a follower tries the lock; 0 means 1000 */
    int64_t retention_ms;    /* published rows older than this are purged; 0 means 7 days */
    int64_t maintenance_ms;  /* purge interval; 0 means 60000 */
    /* Fault injection for tests: after this many batches read, the
     * process kills itself (SIGKILL) before publishing the batch. 0: off. */
    int fault_kill_after_commits;
} relay_config_t;

typedef struct relay relay_t;

/* Caller owns the result; nothing runs until relay_start. */
relay_t *relay_new(const relay_config_t *config);

/* Starts the relay thread; 0 ok, -1 (logged). */
int relay_start(relay_t *relay);

/* Stops the thread (finishing the batch in hand), releases the lock,
 * frees. NULL-safe. */
void relay_destroy(relay_t **self_p);

/* Thread-safe: publish what was just committed. */
void relay_wake(relay_t *relay);

/* After a transaction that appended outbox rows committed on db: wakes the
 * local relay if it leads, else sends NOTIFY so the leading replica's
 * relay wakes. db must not be inside a transaction. */
void relay_committed(relay_t *relay, db_t *db);

/* Whether this process holds the leader lock right now. */
bool relay_is_leader(const relay_t *relay);

/* Whether it has asked for the lead at least once: until then "not the
 * leader" means "not yet known", not "another replica leads". */
bool relay_has_tried(const relay_t *relay);

/* The stream's current epoch as last seen by this relay (0 before it led). */
uint64_t relay_epoch(const relay_t *relay);

#endif
