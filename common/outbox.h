/*
 * outbox.h — producing an event: one row in the service's outbox.
 *
 * DESIGN.md "Producing": a service never publishes directly. It appends
 * the event to its outbox table in the same transaction as the state
 * change, as the last statement before COMMIT, after the rows it changed
 * are locked. The relay (relay.h) publishes it once the transaction has
 * committed, numbered from the stream's counter row: in a transaction of
 * many events (64 or more) as it is inserted, the transaction then holding
 * the counter row's lock until it ends, so that the events' second row
 * version is saved; in one of few, as inserted too when db_commit flushes
 * them and no other transaction holds the counter row (so that they need
 * not wait for a second commit, the relay's: migration 006), else by the
 * relay after the commit, so that many small transactions at once are not
 * serialized. If the transaction rolls back, the event never existed and
 * leaves no gap.
 *
 * Event ids: a root event gets a random UUID; an event emitted because of
 * another gets UUIDv5(causation_id, emit_index), so re-emitting after a
 * crash produces the same id, and the insert is then a no-op.
 *
 * After committing a transaction that appended events, call relay_wake()
 * (the kit's applier and service_committed() do) so the event leaves now
 * rather than at the next poll.
 */
#ifndef CONVEYOR_OUTBOX_H
#define CONVEYOR_OUTBOX_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "common/db.h"
#include "common/uuid.h"

typedef struct {
    const char *stream;         /* the producing service's stream, "order" */
    const char *type;           /* "order.placed" */
    const char *correlation_id; /* the order it is about; NULL or "" for none */
    const char *causation_id;   /* event_id of the cause; NULL or "" for a root event */
    uint32_t emit_index;        /* with a cause: this event's index among its effects */
    uint32_t schema_version;    /* 0 means 1 */
    int64_t occurred_at_ms;     /* 0 means now (business clock) */
} outbox_meta_t;

/* Registers the outbox statements on db (once per db_t). 0 ok, -1 OOM. */
int outbox_prepare(db_t *db);

/* Appends an event with payload bytes to the outbox, inside the caller's
 * transaction. event_id_out (may be NULL) receives the event's id. The row
 * is buffered on db and inserted with the transaction's other events just
 * before COMMIT (db_commit; a savepoint flushes too), so a failure to
 * insert shows as a failed commit; outside a transaction it is inserted at
 * once. An event with the same id already present is left as it was. */
db_status_t outbox_append(db_t *db, const outbox_meta_t *meta, const void *payload,
                          size_t payload_len, char event_id_out[UUID_TEXT_SIZE]);

/* The same with a protobuf-c message as payload (packed here). */
db_status_t outbox_append_msg(db_t *db, const outbox_meta_t *meta, const ProtobufCMessage *payload,
                              char event_id_out[UUID_TEXT_SIZE]);

/* The columns every reader of numbered rows selects, in this order, so
 * that relay and replay build identical envelopes. */
#define OUTBOX_ENVELOPE_COLUMNS                                                                    \
    "seq, event_id::text, type, correlation_id, causation_id, schema_version, occurred_at_ms, "    \
    "payload"

/* Builds the packed envelope of row `row` of a result selected with
 * OUTBOX_ENVELOPE_COLUMNS. Caller owns *envelope_out (free()) and gets the
 * topic in topic_out. 0 ok, -1 if the row is damaged (logged). */
int outbox_row_envelope(const PGresult *res, int row, const char *stream, uint64_t epoch,
                        uint64_t *seq_out, char *topic_out, size_t topic_size,
                        uint8_t **envelope_out, size_t *envelope_len_out);

#endif
