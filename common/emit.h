/*
 * emit.h — appending a service's events: the one emitter of every service.
 *
 * Inside a handler, events are effects of the event being applied: their
 * ids derive from it (inbox_emit: UUIDv5(cause, n)), so an event applied
 * again emits the same ids. Anywhere else (an HTTP route, a job, a timer)
 * they are root events of the service's own stream, appended to the
 * caller's transaction on db. Either way an event exists only if the
 * transaction commits (DESIGN.md "Producing").
 *
 *     emitter_t em = emitter_of_event(event);             in a handler
 *     emitter_t em = emitter_root(db, service_name(svc));  in a route or job
 *     emit(&em, "order.placed", order_id, &placed.base);
 */
#ifndef CONVEYOR_EMIT_H
#define CONVEYOR_EMIT_H

#include <protobuf-c/protobuf-c.h>

#include "common/db.h"
#include "common/inbox.h"

typedef struct {
    inbox_event_t *cause; /* set: effects of this event, in its transaction */
    db_t *db;             /* the session whose transaction the events join */
    const char *stream;   /* the service's stream, for root events */
} emitter_t;

/* Effects of the event being applied (borrowed for the handler call). */
emitter_t emitter_of_event(inbox_event_t *event);

/* Root events of stream, in db's transaction. */
emitter_t emitter_root(db_t *db, const char *stream);

/* The session the emitter's events are written on (to run the rest of the
 * transaction on it). */
db_t *emitter_db(const emitter_t *emitter);

/* Appends one event about correlation_id (an order id; NULL: the cause's,
 * or none for a root event). */
db_status_t emit(const emitter_t *emitter, const char *type, const char *correlation_id,
                 const ProtobufCMessage *payload);

#endif
