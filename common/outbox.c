/*
 * outbox.c — appending events to the outbox, and turning numbered outbox
 * rows back into envelopes for the relay and the replay server (outbox.h).
 */
#include "common/outbox.h"

#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/envelope.h"
#include "common/log.h"

#define STMT_OUTBOX_INSERT "outbox_insert"

int outbox_prepare(db_t *db)
{
    return db_prepare(db, STMT_OUTBOX_INSERT,
                      "INSERT INTO outbox (event_id, stream, type, correlation_id, causation_id, "
                      "schema_version, occurred_at_ms, payload) "
                      "VALUES ($1::uuid, $2, $3, $4, $5, $6, $7, $8) "
                      "ON CONFLICT (event_id) DO NOTHING");
}

db_status_t outbox_append(db_t *db, const outbox_meta_t *meta, const void *payload,
                          size_t payload_len, char event_id_out[UUID_TEXT_SIZE])
{
    char event_id[UUID_TEXT_SIZE];
    const char *cause = meta->causation_id ? meta->causation_id : "";
    int id_rc = cause[0] ? uuid_v5_index(cause, meta->emit_index, event_id) : uuid_v4(event_id);
    if (id_rc != 0) {
        log_error("could not make an event id", LF_STR("type", meta->type),
                  LF_STR("causation_id", cause), LF_ERR("bad_causation_id"));
        return DB_ERROR;
    }
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, event_id);
    db_param_text(&params, meta->stream);
    db_param_text(&params, meta->type);
    db_param_text(&params, meta->correlation_id ? meta->correlation_id : "");
    db_param_text(&params, cause);
    db_param_i64(&params, meta->schema_version ? meta->schema_version : 1);
    db_param_i64(&params, meta->occurred_at_ms ? meta->occurred_at_ms : clock_now_ms());
    db_param_bytes(&params, payload ? payload : "", payload_len);
    db_status_t status = db_run(db, STMT_OUTBOX_INSERT, &params, NULL);
    if (status == DB_OK && event_id_out)
        memcpy(event_id_out, event_id, UUID_TEXT_SIZE);
    return status;
}

db_status_t outbox_append_msg(db_t *db, const outbox_meta_t *meta, const ProtobufCMessage *payload,
                              char event_id_out[UUID_TEXT_SIZE])
{
    size_t len = protobuf_c_message_get_packed_size(payload);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return DB_ERROR;
    protobuf_c_message_pack(payload, buf);
    db_status_t status = outbox_append(db, meta, buf, len, event_id_out);
    free(buf);
    return status;
}

int outbox_row_envelope(const PGresult *res, int row, const char *stream, uint64_t epoch,
                        uint64_t *seq_out, char *topic_out, size_t topic_size,
                        uint8_t **envelope_out, size_t *envelope_len_out)
{
    int64_t seq = 0, schema_version = 0, occurred_at_ms = 0;
    unsigned char *payload = NULL;
    size_t payload_len = 0;
    int rc = -1;
    const char *type = db_value(res, row, 2);
    if (db_get_i64(res, row, 0, &seq) != 0 || db_get_i64(res, row, 5, &schema_version) != 0 ||
        db_get_i64(res, row, 6, &occurred_at_ms) != 0 || !type ||
        db_get_bytes(res, row, 7, &payload, &payload_len) != 0) {
        log_error("outbox row is damaged", LF_STR("stream", stream), LF_INT("row", row),
                  LF_ERR("outbox_damaged"));
        goto done;
    }
    if (bus_topic_format(topic_out, topic_size, stream, type) != 0) {
        log_error("outbox row has an invalid type", LF_STR("stream", stream), LF_STR("type", type),
                  LF_INT("seq", seq), LF_ERR("bad_topic"));
        goto done;
    }
    Conveyor__Envelope env = CONVEYOR__ENVELOPE__INIT;
    env.event_id = pb_lend(db_value(res, row, 1));
    env.stream = pb_lend(stream);
    env.seq = (uint64_t)seq;
    env.epoch = epoch;
    env.type = pb_lend(type);
    env.occurred_at_ms = occurred_at_ms;
    env.correlation_id = pb_lend(db_value(res, row, 3));
    env.causation_id = pb_lend(db_value(res, row, 4));
    env.schema_version = (uint32_t)schema_version;
    env.payload.data = payload;
    env.payload.len = payload_len;
    if (envelope_pack_alloc(&env, envelope_out, envelope_len_out) != 0)
        goto done;
    *seq_out = (uint64_t)seq;
    rc = 0;
done:
    free(payload);
    return rc;
}
