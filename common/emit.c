/*
 * emit.c — the emitter (emit.h).
 */
#include "common/emit.h"

#include "common/outbox.h"

emitter_t emitter_of_event(inbox_event_t *event)
{
    return (emitter_t){.cause = event, .db = event->db, .stream = event->own_stream};
}

emitter_t emitter_root(db_t *db, const char *stream)
{
    return (emitter_t){.cause = NULL, .db = db, .stream = stream};
}

db_t *emitter_db(const emitter_t *emitter)
{
    return emitter->db;
}

db_status_t emit(const emitter_t *emitter, const char *type, const char *correlation_id,
                 const ProtobufCMessage *payload)
{
    if (emitter->cause)
        return inbox_emit(emitter->cause, type, correlation_id, payload);
    outbox_meta_t meta = {
        .stream = emitter->stream, .type = type, .correlation_id = correlation_id};
    return outbox_append_msg(emitter->db, &meta, payload, NULL);
}
