/*
 * outbox.c — appending events to the outbox, and turning numbered outbox
 * rows back into envelopes for the relay and the replay server (outbox.h).
 *
 * Appends inside a transaction are buffered per session and inserted by
 * one call of outbox_insert(...) with a column array each just before
 * COMMIT (bulk.h): a handler that emits one event per applied event, in a
 * batch of hundreds, pays for one statement instead of hundreds (the
 * producer side of the durable throughput target), and the rows are still
 * the last statement before COMMIT, in append order, as DESIGN.md asks.
 * outbox_insert (kit migrations 002-004, 006) numbers a big transaction's
 * events under the stream's counter row lock, held to COMMIT, and a small
 * one's when db_commit flushes them and the lock is free: one more reason
 * for them to come last. A big batch of one stream with no caused event
 * goes in by COPY instead, its seqs reserved just before by
 * outbox_reserve under the same lock (migration 010; outbox_flush).
 */
#include "common/outbox.h"

#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/envelope.h"
#include "common/log.h"
#include "common/bulk.h"

/* The outbox's columns, in the order of outbox_spec's arrays. */
enum {
    COL_ID,
    COL_STREAM,
    COL_TYPE,
    COL_CORRELATION,
    COL_CAUSATION,
    COL_VERSION,
    COL_AT,
    COL_PAYLOAD,
    COL_COUNT
};

/* A batch this big of one stream, none of it caused, goes in by COPY
 * numbered here (migration 010); smaller ones and caused ones by
 * outbox_insert. The same threshold as outbox_insert's numbering at
 * insert (006): below it a transaction not at its commit leaves its
 * events unnumbered, without the counter row's lock. */
#define OUTBOX_COPY_MIN 64

static db_status_t outbox_flush(db_t *db, bulk_t *rows);

static const bulk_spec_t outbox_spec = {
    .stmt = "outbox_insert",
    /* numbered as they are inserted when there are many (common/migrations/004) */
    .sql = "SELECT outbox_insert($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], "
           "$6::int4[], $7::int8[], $8::bytea[])",
    .column_oids = {PG_OID_UUID, PG_OID_TEXT, PG_OID_TEXT, PG_OID_TEXT, PG_OID_TEXT, PG_OID_INT4,
                    PG_OID_INT8, PG_OID_BYTEA},
    .column_count = COL_COUNT,
    .order = 1000, /* after every other bulk: the outbox is the last statement */
    /* flushed by db_commit: a small transaction's events are numbered as
     * inserted too when the stream's counter row is free (migration 006) */
    .stmt_at_commit = "outbox_insert_at_commit",
    .sql_at_commit = "SELECT outbox_insert($1::uuid[], $2::text[], $3::text[], $4::text[], "
                     "$5::text[], $6::int4[], $7::int8[], $8::bytea[], true)",
    .flush = outbox_flush,
};

#define OUTBOX_RESERVE_STMT "outbox_reserve"
#define OUTBOX_RESERVE_SQL  "SELECT stream_epoch, base_seq FROM outbox_reserve($1, $2)"
#define OUTBOX_COPY_SQL                                                                            \
    "COPY outbox (event_id, stream, type, correlation_id, causation_id, schema_version, "          \
    "occurred_at_ms, payload, epoch, seq) FROM STDIN (FORMAT binary)"

/* Whether the array has elements and all of them are the same bytes (none
 * NULL); *first_out and *first_len_out are those bytes. */
static bool elements_all_equal(const pg_array_t *array, const uint8_t **first_out,
                               size_t *first_len_out)
{
    const uint8_t *first = NULL, *value = NULL;
    size_t first_len = 0, len = 0, at = 0;
    int got;
    while ((got = pg_array_next(array, &at, &value, &len)) == 1) {
        if (!value || (first && (len != first_len || memcmp(value, first, len) != 0)))
            return false;
        if (!first) {
            first = value;
            first_len = len;
        }
    }
    *first_out = first;
    *first_len_out = first_len;
    return got == 0 && first != NULL;
}

/* The flush of a transaction's appended events: a big batch of one stream
 * with no caused event by outbox_reserve (the stream's counter row locked
 * to COMMIT, n seqs reserved) then COPY of the rows numbered base+1..base+n
 * in append order (issue 15 item 2: no unnest executor work per row);
 * anything else by outbox_insert. A COPY that fails fails the transaction,
 * and the reservation is rolled back with it. */
static db_status_t outbox_flush(db_t *db, bulk_t *rows)
{
    int32_t n = bulk_rows(rows);
    const uint8_t *stream = NULL, *causation = NULL;
    size_t stream_len = 0, causation_len = 0;
    char stream_text[BUS_TOPIC_MAX + 1];
    /* none caused: every causation id is the same empty text */
    if (n < OUTBOX_COPY_MIN ||
        !elements_all_equal(bulk_column(rows, COL_CAUSATION), &causation, &causation_len) ||
        causation_len != 0 ||
        !elements_all_equal(bulk_column(rows, COL_STREAM), &stream, &stream_len) ||
        stream_len >= sizeof stream_text)
        return bulk_run_statement(db, rows);
    memcpy(stream_text, stream, stream_len);
    stream_text[stream_len] = '\0';
    if (db_prepare(db, OUTBOX_RESERVE_STMT, OUTBOX_RESERVE_SQL) != 0)
        return DB_ERROR;
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, stream_text);
    db_param_i64(&params, n);
    PGresult *res = NULL;
    db_status_t status = db_run(db, OUTBOX_RESERVE_STMT, &params, &res);
    if (status != DB_OK)
        return status;
    int64_t epoch = 0, base = -1;
    if (db_get_i64(res, 0, 0, &epoch) != 0 || db_get_i64(res, 0, 1, &base) != 0 || epoch <= 0 ||
        base < 0) {
        PQclear(res);
        log_error("outbox_reserve answered no seqs", LF_STR("stream", stream_text),
                  LF_ERR("outbox_reserve"));
        return DB_ERROR;
    }
    PQclear(res);
    pg_array_t numbers[2];
    pg_array_init(&numbers[0], PG_OID_INT8);
    pg_array_init(&numbers[1], PG_OID_INT8);
    status = DB_OK;
    for (int32_t i = 0; status == DB_OK && i < n; i++)
        if (pg_array_add_i64(&numbers[0], epoch) != 0 ||
            pg_array_add_i64(&numbers[1], base + 1 + i) != 0)
            status = DB_ERROR;
    if (status == DB_OK)
        status = bulk_copy_in(db, rows, OUTBOX_COPY_SQL, numbers, 2);
    else
        log_error("out of memory numbering events", LF_ERR("out_of_memory"));
    pg_array_release(&numbers[0]);
    pg_array_release(&numbers[1]);
    return status;
}

int outbox_prepare(db_t *db)
{
    return bulk_of(db, &outbox_spec) ? 0 : -1;
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
    /* a row whose topic cannot be formed would never be published, and
     * consumers would wait at its seq forever: refuse it here */
    char topic[BUS_TOPIC_MAX + 1];
    if (!meta->stream || !meta->type ||
        bus_topic_format(topic, sizeof topic, meta->stream, meta->type) != 0) {
        log_error("an event's stream or type cannot make a topic", LF_STR("stream", meta->stream),
                  LF_STR("type", meta->type), LF_ERR("bad_topic"));
        return DB_ERROR;
    }
    bulk_t *rows = bulk_of(db, &outbox_spec);
    if (!rows)
        return DB_ERROR;
    if (pg_array_add_uuid(bulk_column(rows, COL_ID), event_id) != 0 ||
        pg_array_add_text(bulk_column(rows, COL_STREAM), meta->stream) != 0 ||
        pg_array_add_text(bulk_column(rows, COL_TYPE), meta->type) != 0 ||
        pg_array_add_text(bulk_column(rows, COL_CORRELATION),
                          meta->correlation_id ? meta->correlation_id : "") != 0 ||
        pg_array_add_text(bulk_column(rows, COL_CAUSATION), cause) != 0 ||
        pg_array_add_i32(bulk_column(rows, COL_VERSION),
                         meta->schema_version ? (int32_t)meta->schema_version : 1) != 0 ||
        pg_array_add_i64(bulk_column(rows, COL_AT),
                         meta->occurred_at_ms ? meta->occurred_at_ms : clock_now_ms()) != 0 ||
        pg_array_add(bulk_column(rows, COL_PAYLOAD), payload ? payload : "", payload_len) != 0) {
        bulk_row_abandon(rows);
        log_error("out of memory buffering an event", LF_STR("type", meta->type),
                  LF_ERR("out_of_memory"));
        return DB_ERROR;
    }
    db_status_t status = bulk_row_done(db, rows);
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
    const unsigned char *payload = NULL;
    unsigned char *payload_copy = NULL;
    size_t payload_len = 0;
    int rc = -1;
    /* either format (db_run or db_run_binary): the text columns read the
     * same in both, the integers and the payload as db_get_i64 and
     * db_cell_bytes read either */
    const char *type = db_value(res, row, 2);
    if (db_get_i64(res, row, 0, &seq) != 0 || db_get_i64(res, row, 5, &schema_version) != 0 ||
        db_get_i64(res, row, 6, &occurred_at_ms) != 0 || !type || !db_value(res, row, 1) ||
        !db_value(res, row, 3) || !db_value(res, row, 4) ||
        db_cell_bytes(res, row, 7, &payload, &payload_len, &payload_copy) != 0) {
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
    env.payload.data = (uint8_t *)(uintptr_t)payload; /* lent: pack only reads it */
    env.payload.len = payload_len;
    if (envelope_pack_alloc(&env, envelope_out, envelope_len_out) != 0)
        goto done;
    *seq_out = (uint64_t)seq;
    rc = 0;
done:
    free(payload_copy);
    return rc;
}
