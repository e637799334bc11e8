/*
 * test_outbox.c — producing events, against the real PostgreSQL at
 * TEST_DATABASE_URL: the kit's migrations (kit_migrations, through
 * migrate_run) go into a schema of this run's own (t_outbox_<pid>, dropped
 * at the end).
 *
 * Proves: a root event gets a random v4 id and its row carries every field
 * given (defaults filled in: schema version 1, occurred_at now on the
 * business clock, "" for no correlation or cause) and the payload byte for
 * byte, numbered as inserted by a small transaction alone at its commit; a
 * caused event's id is UUIDv5(cause, index), so appending it again leaves
 * one row as first written, also in a transaction big enough to be
 * numbered as inserted, where it takes no seq and the seqs stay dense,
 * the event committed unnumbered before numbered first; a bad causation id is refused; an event
 * of a rolled-back transaction never existed; a protobuf payload is packed;
 * outbox_row_envelope turns a numbered row into a packed Envelope whose
 * every field unpacks to what was stored, and refuses rows that are not
 * numbered or whose type cannot make a topic; outbox_append refuses such a
 * type in the first place (its row would never be published).
 *
 * A big batch of one stream with no caused event goes in by COPY, its seqs
 * reserved by outbox_reserve (migration 010), and proves: it is numbered
 * contiguously after the rows already committed, the one committed
 * unnumbered first, every field stored as given, in append order; a big
 * batch with a caused event (or of two streams) still goes through
 * outbox_insert and dedups; a COPY batch rolled back, or whose COPY fails,
 * leaves no gap; a new database identity starts a new epoch at seq 1; two
 * producers committing big and small batches at once commit in seq order
 * (a reader never sees a numbered seq before a smaller one), each
 * producer's events numbered in its commit order, no seq skipped or given
 * twice, nothing of a rolled-back batch kept; a big batch whose caused id
 * another transaction inserted unnumbered and commits while the batch
 * waits on it leaves that event out (its plain insert undone, migration
 * 012) and commits with dense seqs, the event stored once.
 *
 * The outbox functions plan for the outbox as it is (migration 011), and
 * prove it in schemas of their own: after every way of appending (small
 * and big, caused and not, flushed early or at the commit, numbered by the
 * relay's outbox_number_committed) ran eight times on a nearly empty
 * outbox, and the outbox grew to 50,000 rows, the same calls scan no
 * outbox sequentially nor read the caused ids' index through (the plans
 * cached while it was small would: migration 009's lesson), and number
 * every event once; also in a session that asks for generic plans, as
 * inventory's do. A schema migrated to 010, with an event left
 * unnumbered, takes 011 under a session that has its statements prepared:
 * no outbox function but outbox_number_committed carries a setting, the
 * event left is numbered first,
 * a caused event stored before the migration is not stored again.
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
#include <unistd.h>

#include "common/clock.h"
#include "common/db.h"
#include "common/envelope.h"
#include "common/log.h"
#include "common/migrate.h"
#include "common/outbox.h"
#include "common/uuid.h"
#include "conveyor/envelope.pb-c.h"

static const char *base_url;
static char schema[64];
static char url[1024]; /* the schema's, for the sessions of concurrent producers */
static db_t *db;       /* the producer's session, inside the schema */

/* --- helpers ------------------------------------------------------------------ */

static int64_t count_where_event(const char *event_id)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, event_id);
    PGresult *res = NULL;
    assert_int_equal(
        db_run_sql(db, "SELECT count(*) FROM outbox WHERE event_id = $1::uuid", &params, &res),
        DB_OK);
    int64_t count = -1;
    assert_int_equal(db_get_i64(res, 0, 0, &count), 0);
    PQclear(res);
    return count;
}

static int64_t outbox_rows(void)
{
    PGresult *res = NULL;
    assert_int_equal(db_run_sql(db, "SELECT count(*) FROM outbox", NULL, &res), DB_OK);
    int64_t count = -1;
    assert_int_equal(db_get_i64(res, 0, 0, &count), 0);
    PQclear(res);
    return count;
}

/* Appends in a transaction of its own and commits. */
static void append_committed(const outbox_meta_t *meta, const void *payload, size_t len,
                             char event_id[UUID_TEXT_SIZE])
{
    assert_int_equal(db_begin(db), DB_OK);
    db_status_t status = outbox_append(db, meta, payload, len, event_id);
    if (status != DB_OK)
        fail_msg("outbox_append: %d %s", status, db_errmsg(db));
    assert_int_equal(db_commit(db), DB_OK);
}

/* The URL of a session whose search_path is schema_name. */
static int schema_url(char *out, size_t size, const char *schema_name)
{
    int n;
    if (strstr(base_url, "://"))
        n = snprintf(out, size, "%s%coptions=-csearch_path%%3D%s", base_url,
                     strchr(base_url, '?') ? '&' : '?', schema_name);
    else
        n = snprintf(out, size, "%s options=-csearch_path=%s", base_url, schema_name);
    return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* --- fixtures ----------------------------------------------------------------- */

static int group_setup(void **state)
{
    (void)state;
    log_init("test_outbox", LOG_WARN);
    snprintf(schema, sizeof schema, "t_outbox_%d", (int)getpid());
    if (schema_url(url, sizeof url, schema) != 0)
        return -1;
    db = db_new(url, "test_outbox");
    if (!db)
        return -1;
    char sql[128];
    snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE", schema);
    if (db_run_sql(db, sql, NULL, NULL) != DB_OK)
        return -1;
    const migration_set_t *sets[] = {&kit_migrations};
    if (migrate_run(db, schema, sets, 1) != 0)
        return -1;
    /* which outbox function a flush called: pg_stat_xact_user_functions */
    if (db_run_sql(db, "SET track_functions = 'pl'", NULL, NULL) != DB_OK)
        return -1;
    return outbox_prepare(db);
}

static int group_teardown(void **state)
{
    (void)state;
    char sql[256];
    /* with those a failed test left of its own */
    snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s, %s_grows, %s_upgraded CASCADE", schema,
             schema, schema);
    db_status_t status = db_run_sql(db, sql, NULL, NULL);
    if (status != DB_OK)
        fprintf(stderr, "test_outbox: cannot drop %s: %s\n", schema, db_errmsg(db));
    db_destroy(&db);
    return status == DB_OK ? 0 : -1;
}

static int empty_outbox(void **state)
{
    (void)state;
    db_rollback(db); /* what a failed test left open, and its locks */
    return db_run_sql(db, "DELETE FROM outbox; DELETE FROM outbox_streams", NULL, NULL) == DB_OK
               ? 0
               : -1;
}

/* --- tests -------------------------------------------------------------------- */

static const unsigned char payload_bytes[] = {0x08, 0x00, 0x12, 0x00, 0xff, 0x00, 'p', '\\'};

static void test_root_event_row_holds_what_was_given(void **state)
{
    (void)state;
    outbox_meta_t meta = {.stream = "order", .type = "order.placed", .correlation_id = "order-17"};
    char event_id[UUID_TEXT_SIZE] = "";
    int64_t before = clock_now_ms();
    append_committed(&meta, payload_bytes, sizeof payload_bytes, event_id);
    int64_t after = clock_now_ms();
    uint8_t bytes[16];
    assert_int_equal(uuid_parse(event_id, bytes), 0);
    assert_int_equal(event_id[14], '4');

    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, event_id);
    PGresult *res = NULL;
    assert_int_equal(db_run_sql(db,
                                "SELECT stream, type, correlation_id, causation_id,"
                                " schema_version, occurred_at_ms, payload, seq, epoch"
                                " FROM outbox WHERE event_id = $1::uuid",
                                &params, &res),
                     DB_OK);
    assert_int_equal(PQntuples(res), 1);
    assert_string_equal(db_value(res, 0, 0), "order");
    assert_string_equal(db_value(res, 0, 1), "order.placed");
    assert_string_equal(db_value(res, 0, 2), "order-17");
    assert_string_equal(db_value(res, 0, 3), "");
    assert_string_equal(db_value(res, 0, 4), "1");
    int64_t occurred = 0;
    assert_int_equal(db_get_i64(res, 0, 5, &occurred), 0);
    assert_true(occurred >= before && occurred <= after);
    unsigned char *payload = NULL;
    size_t len = 0;
    assert_int_equal(db_get_bytes(res, 0, 6, &payload, &len), 0);
    assert_int_equal(len, sizeof payload_bytes);
    assert_memory_equal(payload, payload_bytes, len);
    free(payload);
    PQclear(res);
    /* a transaction of few events, committed while no other transaction
     * numbers the stream: numbered as inserted, the first of its epoch */
    assert_int_equal(
        db_run_sql(db, "SELECT seq, epoch FROM outbox WHERE event_id = $1::uuid", &params, &res),
        DB_OK);
    assert_string_equal(db_value(res, 0, 0), "1");
    assert_non_null(db_value(res, 0, 1));
    PQclear(res);

    /* another root event gets another id; no correlation is "" */
    outbox_meta_t bare = {
        .stream = "order", .type = "order.placed", .schema_version = 3, .occurred_at_ms = 1234};
    char other[UUID_TEXT_SIZE];
    append_committed(&bare, NULL, 0, other);
    assert_string_not_equal(other, event_id);
    assert_int_equal(outbox_rows(), 2);
    db_params_init(&params);
    db_param_text(&params, other);
    assert_int_equal(db_run_sql(db,
                                "SELECT correlation_id, schema_version, occurred_at_ms,"
                                " length(payload) FROM outbox WHERE event_id = $1::uuid",
                                &params, &res),
                     DB_OK);
    assert_string_equal(db_value(res, 0, 0), "");
    assert_string_equal(db_value(res, 0, 1), "3");
    assert_string_equal(db_value(res, 0, 2), "1234");
    assert_string_equal(db_value(res, 0, 3), "0");
    PQclear(res);
}

static void test_caused_event_id_is_stable(void **state)
{
    (void)state;
    char cause[UUID_TEXT_SIZE];
    assert_int_equal(uuid_v4(cause), 0);
    outbox_meta_t meta = {.stream = "inventory",
                          .type = "stock.reserved",
                          .correlation_id = "order-18",
                          .causation_id = cause,
                          .emit_index = 2};
    char first[UUID_TEXT_SIZE], again[UUID_TEXT_SIZE], expected[UUID_TEXT_SIZE];
    assert_int_equal(uuid_v5_index(cause, 2, expected), 0);
    append_committed(&meta, "first", 5, first);
    assert_string_equal(first, expected);

    /* the handler runs again after a crash: same id, no second row, the
     * row stays as first written, and it takes no seq — also in a
     * transaction big enough to be numbered as inserted (64 events), where
     * a skipped event must not leave a hole: the earlier event, committed
     * unnumbered, is numbered first, then the 63 new ones */
    assert_int_equal(db_begin(db), DB_OK);
    assert_int_equal(outbox_append(db, &meta, "second", 6, again), DB_OK);
    outbox_meta_t more = meta;
    for (uint32_t i = 0; i < 63; i++) {
        more.emit_index = 100 + i;
        assert_int_equal(outbox_append(db, &more, "more", 4, NULL), DB_OK);
    }
    assert_int_equal(db_commit(db), DB_OK);
    assert_string_equal(again, first);
    assert_int_equal(count_where_event(first), 1);
    assert_int_equal(outbox_rows(), 64);
    PGresult *res = NULL;
    assert_int_equal(db_run_sql(db,
                                "SELECT count(DISTINCT o.seq) = 64 AND min(o.seq) = 1"
                                " AND max(o.seq) = max(s.last_seq) AND count(o.seq) = 64"
                                " FROM outbox o JOIN outbox_streams s ON s.stream = o.stream"
                                " WHERE o.stream = 'inventory'",
                                NULL, &res),
                     DB_OK);
    assert_string_equal(db_value(res, 0, 0), "t");
    PQclear(res);
    db_params_t first_seq;
    db_params_init(&first_seq);
    db_param_text(&first_seq, first);
    assert_int_equal(
        db_run_sql(db, "SELECT seq FROM outbox WHERE event_id = $1::uuid", &first_seq, &res),
        DB_OK);
    assert_string_equal(db_value(res, 0, 0), "1");
    PQclear(res);
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, first);
    assert_int_equal(db_run_sql(db,
                                "SELECT convert_from(payload, 'UTF8'), causation_id"
                                " FROM outbox WHERE event_id = $1::uuid",
                                &params, &res),
                     DB_OK);
    assert_string_equal(db_value(res, 0, 0), "first");
    assert_string_equal(db_value(res, 0, 1), cause);
    PQclear(res);

    /* the next effect of the same cause is another event */
    meta.emit_index = 3;
    char next[UUID_TEXT_SIZE];
    append_committed(&meta, "next", 4, next);
    assert_string_not_equal(next, first);
    assert_int_equal(outbox_rows(), 65);
    /* an empty causation id is a root event */
    meta.causation_id = "";
    char root[UUID_TEXT_SIZE];
    append_committed(&meta, "root", 4, root);
    assert_int_equal(root[14], '4');
    assert_int_equal(outbox_rows(), 66);
}

static void test_bad_causation_id_is_refused(void **state)
{
    (void)state;
    outbox_meta_t meta = {.stream = "order", .type = "order.placed", .causation_id = "not-a-uuid"};
    char event_id[UUID_TEXT_SIZE] = "untouched";
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    assert_non_null(out);
    log_set_output(out);
    assert_int_equal(db_begin(db), DB_OK);
    db_status_t status = outbox_append(db, &meta, "x", 1, event_id);
    db_rollback(db);
    log_set_output(NULL);
    fclose(out);
    assert_int_equal(status, DB_ERROR);
    assert_non_null(strstr(text, "\"err\":\"bad_causation_id\""));
    free(text);
    assert_string_equal(event_id, "untouched");
    assert_int_equal(outbox_rows(), 0);
}

static void test_rolled_back_event_never_existed(void **state)
{
    (void)state;
    outbox_meta_t meta = {.stream = "order", .type = "order.cancelled"};
    char event_id[UUID_TEXT_SIZE];
    assert_int_equal(db_begin(db), DB_OK);
    assert_int_equal(outbox_append(db, &meta, "x", 1, event_id), DB_OK);
    /* buffered until the commit: the insert is the transaction's last statement */
    assert_int_equal(count_where_event(event_id), 0);
    db_rollback(db);
    assert_int_equal(count_where_event(event_id), 0);
}

static void test_protobuf_payload_is_packed(void **state)
{
    (void)state;
    Conveyor__Heartbeat beat = CONVEYOR__HEARTBEAT__INIT;
    beat.last_seq = 99;
    beat.purged_through = 7;
    outbox_meta_t meta = {.stream = "order", .type = "order.heartbeat_like"};
    char event_id[UUID_TEXT_SIZE];
    assert_int_equal(db_begin(db), DB_OK);
    assert_int_equal(outbox_append_msg(db, &meta, &beat.base, event_id), DB_OK);
    assert_int_equal(db_commit(db), DB_OK);
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, event_id);
    PGresult *res = NULL;
    assert_int_equal(
        db_run_sql(db, "SELECT payload FROM outbox WHERE event_id = $1::uuid", &params, &res),
        DB_OK);
    unsigned char *payload = NULL;
    size_t len = 0;
    assert_int_equal(db_get_bytes(res, 0, 0, &payload, &len), 0);
    PQclear(res);
    Conveyor__Heartbeat *back = conveyor__heartbeat__unpack(NULL, len, payload);
    free(payload);
    assert_non_null(back);
    assert_int_equal(back->last_seq, 99);
    assert_int_equal(back->purged_through, 7);
    conveyor__heartbeat__free_unpacked(back, NULL);
}

/* Numbers the event's row (epoch, seq) as the relay would and selects it
 * with the envelope columns. Caller owns the result. */
static PGresult *numbered_row(const char *event_id, int64_t epoch, int64_t seq)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, event_id);
    db_param_i64(&params, epoch);
    db_param_i64(&params, seq);
    assert_int_equal(db_run_sql(db,
                                "UPDATE outbox SET epoch = $2, seq = $3"
                                " WHERE event_id = $1::uuid",
                                &params, NULL),
                     DB_OK);
    db_params_init(&params);
    db_param_text(&params, event_id);
    PGresult *res = NULL;
    assert_int_equal(
        db_run_sql(db, "SELECT " OUTBOX_ENVELOPE_COLUMNS " FROM outbox WHERE event_id = $1::uuid",
                   &params, &res),
        DB_OK);
    assert_int_equal(PQntuples(res), 1);
    return res;
}

static void test_row_envelope_round_trips(void **state)
{
    (void)state;
    char cause[UUID_TEXT_SIZE];
    assert_int_equal(uuid_v4(cause), 0);
    outbox_meta_t meta = {.stream = "order",
                          .type = "order.placed",
                          .correlation_id = "order-19",
                          .causation_id = cause,
                          .emit_index = 0,
                          .schema_version = 2,
                          .occurred_at_ms = 1795341600123LL};
    char event_id[UUID_TEXT_SIZE];
    append_committed(&meta, payload_bytes, sizeof payload_bytes, event_id);
    const int64_t epoch = 1795000000000LL;
    PGresult *res = numbered_row(event_id, epoch, 41);

    uint64_t seq = 0;
    char topic[BUS_TOPIC_MAX + 1];
    uint8_t *envelope = NULL;
    size_t envelope_len = 0;
    assert_int_equal(outbox_row_envelope(res, 0, "order", (uint64_t)epoch, &seq, topic,
                                         sizeof topic, &envelope, &envelope_len),
                     0);
    PQclear(res);
    assert_int_equal(seq, 41);
    assert_string_equal(topic, "order/order.placed");
    assert_non_null(envelope);

    Conveyor__Envelope *env = conveyor__envelope__unpack(NULL, envelope_len, envelope);
    assert_non_null(env);
    assert_string_equal(env->event_id, event_id);
    assert_string_equal(env->stream, "order");
    assert_int_equal(env->seq, 41);
    assert_true(env->epoch == (uint64_t)epoch);
    assert_string_equal(env->type, "order.placed");
    assert_true(env->occurred_at_ms == 1795341600123LL);
    assert_string_equal(env->correlation_id, "order-19");
    assert_string_equal(env->causation_id, cause);
    assert_int_equal(env->schema_version, 2);
    assert_int_equal(env->payload.len, sizeof payload_bytes);
    assert_memory_equal(env->payload.data, payload_bytes, sizeof payload_bytes);
    /* and the frame passes the consumers' checks */
    bus_frame_t frame;
    assert_int_equal(bus_frame_parse(topic, strlen(topic), envelope, envelope_len, &frame),
                     FRAME_OK);
    bus_frame_clear(&frame);
    conveyor__envelope__free_unpacked(env, NULL);

    /* the relay and replay read the row in the binary format
     * (db_run_binary): the same envelope, byte for byte */
    assert_int_equal(db_prepare(db, "row_binary",
                                "SELECT " OUTBOX_ENVELOPE_COLUMNS
                                " FROM outbox WHERE event_id = $1::uuid"),
                     0);
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, event_id);
    assert_int_equal(db_run_binary(db, "row_binary", &params, &res), DB_OK);
    assert_int_equal(PQfformat(res, 7), 1);
    uint8_t *binary_envelope = NULL;
    size_t binary_len = 0;
    uint64_t binary_seq = 0;
    char binary_topic[BUS_TOPIC_MAX + 1];
    assert_int_equal(outbox_row_envelope(res, 0, "order", (uint64_t)epoch, &binary_seq,
                                         binary_topic, sizeof binary_topic, &binary_envelope,
                                         &binary_len),
                     0);
    PQclear(res);
    assert_int_equal(binary_seq, 41);
    assert_string_equal(binary_topic, topic);
    assert_int_equal(binary_len, envelope_len);
    assert_memory_equal(binary_envelope, envelope, envelope_len);
    free(binary_envelope);
    free(envelope);
}

static void test_row_envelope_refuses_damaged_rows(void **state)
{
    (void)state;
    outbox_meta_t meta = {.stream = "order", .type = "order.placed"};
    char event_id[UUID_TEXT_SIZE];
    append_committed(&meta, "x", 1, event_id);
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, event_id);
    PGresult *res = NULL;
    /* not numbered (as rows written before numbering at insert): seq is NULL */
    assert_int_equal(db_run_sql(db,
                                "UPDATE outbox SET seq = NULL, epoch = NULL"
                                " WHERE event_id = $1::uuid",
                                &params, NULL),
                     DB_OK);
    assert_int_equal(
        db_run_sql(db, "SELECT " OUTBOX_ENVELOPE_COLUMNS " FROM outbox WHERE event_id = $1::uuid",
                   &params, &res),
        DB_OK);
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    assert_non_null(out);
    log_set_output(out);
    uint64_t seq = 0;
    char topic[BUS_TOPIC_MAX + 1];
    uint8_t *envelope = NULL;
    size_t envelope_len = 0;
    int damaged = outbox_row_envelope(res, 0, "order", 1, &seq, topic, sizeof topic, &envelope,
                                      &envelope_len);
    PQclear(res);

    /* a type that cannot make a topic: outbox_append refuses it ... */
    outbox_meta_t bad = {.stream = "order", .type = "has space"};
    char bad_id[UUID_TEXT_SIZE] = "";
    assert_int_equal(db_begin(db), DB_OK);
    assert_int_equal(outbox_append(db, &bad, "x", 1, bad_id), DB_ERROR);
    db_rollback(db);
    /* ... and a row written some other way is refused when read */
    assert_int_equal(uuid_v4(bad_id), 0);
    db_params_t bad_params;
    db_params_init(&bad_params);
    db_param_text(&bad_params, bad_id);
    assert_int_equal(db_run_sql(db,
                                "INSERT INTO outbox (event_id, stream, type, occurred_at_ms, "
                                "payload) VALUES ($1::uuid, 'order', 'has space', 1, '\\x78')",
                                &bad_params, NULL),
                     DB_OK);
    res = numbered_row(bad_id, 1, 1);
    int bad_topic = outbox_row_envelope(res, 0, "order", 1, &seq, topic, sizeof topic, &envelope,
                                        &envelope_len);
    PQclear(res);
    log_set_output(NULL);
    fclose(out);
    assert_int_equal(damaged, -1);
    assert_int_equal(bad_topic, -1);
    assert_non_null(strstr(text, "\"err\":\"outbox_damaged\""));
    assert_non_null(strstr(text, "\"err\":\"bad_topic\""));
    free(text);
}

/* --- big batches by COPY (migration 010) -------------------------------------- */

static void sql_ok(db_t *session, const char *sql)
{
    if (db_run_sql(session, sql, NULL, NULL) != DB_OK)
        fail_msg("%s: %s", sql, db_errmsg(session));
}

/* The first column of the first row of sql, a number. */
static int64_t sql_i64(db_t *session, const char *sql)
{
    PGresult *res = NULL;
    if (db_run_sql(session, sql, NULL, &res) != DB_OK)
        fail_msg("%s: %s", sql, db_errmsg(session));
    int64_t value = -1;
    assert_int_equal(PQntuples(res), 1);
    assert_int_equal(db_get_i64(res, 0, 0, &value), 0);
    PQclear(res);
    return value;
}

/* Asserts that stream order holds total events numbered 1..total, each
 * seq once (none NULL), and that its counter row says total. */
static void assert_numbered_once(db_t *session, int64_t total)
{
    char sql[384];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM outbox_streams s WHERE s.stream = 'order' AND s.last_seq = %lld"
             " AND (SELECT count(*) FROM outbox WHERE stream = 'order') = %lld"
             " AND (SELECT count(DISTINCT seq) FROM outbox WHERE stream = 'order') = %lld"
             " AND (SELECT max(seq) FROM outbox WHERE stream = 'order') = %lld",
             (long long)total, (long long)total, (long long)total, (long long)total);
    assert_int_equal(sql_i64(session, sql), 1);
}

/* Appends n events of stream (type order.placed, payload "<tag>.<i>", i
 * from 0) to the open transaction of session. */
static void append_tagged(db_t *session, const char *stream, const char *tag, int n)
{
    outbox_meta_t meta = {.stream = stream, .type = "order.placed"};
    for (int i = 0; i < n; i++) {
        char payload[64];
        int len = snprintf(payload, sizeof payload, "%s.%d", tag, i);
        db_status_t status = outbox_append(session, &meta, payload, (size_t)len, NULL);
        if (status != DB_OK)
            fail_msg("outbox_append: %d %s", status, db_errmsg(session));
    }
}

static void commit_tagged(const char *stream, const char *tag, int n)
{
    assert_int_equal(db_begin(db), DB_OK);
    append_tagged(db, stream, tag, n);
    if (db_commit(db) != DB_OK)
        fail_msg("commit: %s", db_errmsg(db));
}

/* How many times the session has called the schema's function, as its
 * pending statistics say (track_functions: group_setup): the transaction's
 * calls and those of earlier ones not yet reported, which do not change
 * inside a transaction, so that the difference of two readings in one
 * transaction is the calls made in between. */
static int64_t calls_so_far(const char *function)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT coalesce(sum(calls), 0) FROM pg_stat_xact_user_functions"
             " WHERE schemaname = current_schema() AND funcname = '%s'",
             function);
    return sql_i64(db, sql);
}

/* The rows of tag whose seq is not base + 1 + their index (0 when the
 * batch is numbered base+1.. in append order). */
static int64_t misnumbered(const char *tag, int64_t base)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM outbox WHERE convert_from(payload, 'UTF8') LIKE '%s.%%'"
             " AND seq IS DISTINCT FROM %lld + 1"
             " + split_part(convert_from(payload, 'UTF8'), '.', 2)::int",
             tag, (long long)base);
    return sql_i64(db, sql);
}

static void test_big_batch_is_copied_after_committed_rows(void **state)
{
    (void)state;
    /* two events committed alone, numbered 1 and 2 at their commit, and one
     * committed unnumbered (a small transaction's while another numbered) */
    commit_tagged("order", "alone", 2);
    sql_ok(db, "INSERT INTO outbox (event_id, stream, type, occurred_at_ms, payload)"
               " VALUES (gen_random_uuid(), 'order', 'order.placed', 1, 'pending')");

    assert_int_equal(db_begin(db), DB_OK);
    int64_t reserves = calls_so_far("outbox_reserve"), inserts = calls_so_far("outbox_insert");
    outbox_meta_t meta = {.stream = "order",
                          .type = "order.shipped",
                          .correlation_id = "order-20",
                          .schema_version = 4,
                          .occurred_at_ms = 1795341600999LL};
    char last_id[UUID_TEXT_SIZE] = "";
    for (int i = 0; i < 100; i++) {
        char payload[32];
        int len = snprintf(payload, sizeof payload, "big.%d", i);
        assert_int_equal(outbox_append(db, &meta, payload, (size_t)len, last_id), DB_OK);
    }
    /* a savepoint flushes the batch: by outbox_reserve and COPY */
    assert_int_equal(db_savepoint(db, "flushed"), DB_OK);
    assert_int_equal(calls_so_far("outbox_reserve") - reserves, 1);
    assert_int_equal(calls_so_far("outbox_insert") - inserts, 0);
    assert_int_equal(db_commit(db), DB_OK);

    assert_int_equal(outbox_rows(), 103);
    assert_int_equal(sql_i64(db, "SELECT seq FROM outbox WHERE payload = 'pending'"), 3);
    assert_int_equal(misnumbered("alone", 0), 0);
    assert_int_equal(misnumbered("big", 3), 0);
    /* every field as given, in the stream's epoch */
    assert_int_equal(sql_i64(db, "SELECT count(*) FROM outbox o JOIN outbox_streams s USING"
                                 " (stream) WHERE o.epoch = s.epoch AND o.type = 'order.shipped'"
                                 " AND o.correlation_id = 'order-20' AND o.causation_id = ''"
                                 " AND o.schema_version = 4 AND o.occurred_at_ms = 1795341600999"
                                 " AND convert_from(o.payload, 'UTF8') LIKE 'big.%'"),
                     100);
    assert_int_equal(count_where_event(last_id), 1);
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, last_id);
    PGresult *res = NULL;
    assert_int_equal(db_run_sql(db,
                                "SELECT seq, convert_from(payload, 'UTF8') FROM outbox"
                                " WHERE event_id = $1::uuid",
                                &params, &res),
                     DB_OK);
    assert_string_equal(db_value(res, 0, 0), "103");
    assert_string_equal(db_value(res, 0, 1), "big.99");
    PQclear(res);
    assert_int_equal(sql_i64(db, "SELECT last_seq FROM outbox_streams WHERE stream = 'order'"),
                     103);
    /* the next small transaction follows */
    commit_tagged("order", "after", 1);
    assert_int_equal(misnumbered("after", 103), 0);
}

static void test_big_batch_with_a_caused_event_dedups(void **state)
{
    (void)state;
    char cause[UUID_TEXT_SIZE], first[UUID_TEXT_SIZE], again[UUID_TEXT_SIZE];
    assert_int_equal(uuid_v4(cause), 0);
    outbox_meta_t caused = {.stream = "inventory", .type = "stock.reserved", .causation_id = cause};
    append_committed(&caused, "first", 5, first);

    /* 99 root events and the caused one again: by outbox_insert, which
     * stores the caused one once, as first written */
    assert_int_equal(db_begin(db), DB_OK);
    int64_t reserves = calls_so_far("outbox_reserve"), inserts = calls_so_far("outbox_insert");
    append_tagged(db, "inventory", "root", 50);
    assert_int_equal(outbox_append(db, &caused, "again", 5, again), DB_OK);
    outbox_meta_t root = {.stream = "inventory", .type = "order.placed"};
    for (int i = 50; i < 99; i++) {
        char payload[32];
        int len = snprintf(payload, sizeof payload, "root.%d", i);
        assert_int_equal(outbox_append(db, &root, payload, (size_t)len, NULL), DB_OK);
    }
    assert_int_equal(db_savepoint(db, "flushed"), DB_OK);
    assert_int_equal(calls_so_far("outbox_reserve") - reserves, 0);
    assert_true(calls_so_far("outbox_insert") - inserts >= 1);
    assert_int_equal(db_commit(db), DB_OK);
    assert_string_equal(again, first);
    assert_int_equal(count_where_event(first), 1);
    assert_int_equal(outbox_rows(), 100);
    assert_int_equal(sql_i64(db, "SELECT seq FROM outbox WHERE payload = 'first'"), 1);
    assert_int_equal(misnumbered("root", 1), 0);
    assert_int_equal(sql_i64(db, "SELECT last_seq FROM outbox_streams WHERE stream = 'inventory'"),
                     100);

    /* a big batch of two streams goes by outbox_insert too */
    assert_int_equal(db_begin(db), DB_OK);
    reserves = calls_so_far("outbox_reserve");
    inserts = calls_so_far("outbox_insert");
    append_tagged(db, "inventory", "inv", 60);
    append_tagged(db, "order", "ord", 40);
    assert_int_equal(db_savepoint(db, "flushed"), DB_OK);
    assert_int_equal(calls_so_far("outbox_reserve") - reserves, 0);
    assert_true(calls_so_far("outbox_insert") - inserts >= 1);
    assert_int_equal(db_commit(db), DB_OK);
    assert_int_equal(misnumbered("inv", 100), 0);
    assert_int_equal(misnumbered("ord", 0), 0);
}

static void test_copy_batch_rolled_back_leaves_no_gap(void **state)
{
    (void)state;
    commit_tagged("order", "one", 100);
    /* seqs 101-200 reserved and copied, then rolled back */
    assert_int_equal(db_begin(db), DB_OK);
    int64_t reserves = calls_so_far("outbox_reserve"), inserts = calls_so_far("outbox_insert");
    append_tagged(db, "order", "gone", 100);
    assert_int_equal(db_savepoint(db, "flushed"), DB_OK);
    assert_int_equal(calls_so_far("outbox_reserve") - reserves, 1);
    assert_int_equal(calls_so_far("outbox_insert") - inserts, 0);
    assert_int_equal(sql_i64(db, "SELECT max(seq) FROM outbox"), 200);
    db_rollback(db);
    /* a COPY that fails fails the commit, its reservation with it */
    sql_ok(db, "CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$"
               " BEGIN IF NEW.type = 'test.poison' THEN RAISE EXCEPTION 'poison'; END IF;"
               " RETURN NEW; END $$;"
               " CREATE TRIGGER refuse_poison BEFORE INSERT ON outbox"
               " FOR EACH ROW EXECUTE FUNCTION refuse_poison()");
    assert_int_equal(db_begin(db), DB_OK);
    append_tagged(db, "order", "poisoned", 99);
    outbox_meta_t poison = {.stream = "order", .type = "test.poison"};
    assert_int_equal(outbox_append(db, &poison, "poisoned.99", 11, NULL), DB_OK);
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    assert_non_null(out);
    log_set_output(out);
    db_status_t poisoned = db_commit(db);
    log_set_output(NULL);
    fclose(out);
    free(text);
    db_rollback(db);
    sql_ok(db, "DROP TRIGGER refuse_poison ON outbox; DROP FUNCTION refuse_poison()");
    assert_int_not_equal(poisoned, DB_OK);

    commit_tagged("order", "two", 100);
    assert_int_equal(outbox_rows(), 200);
    assert_int_equal(misnumbered("one", 0), 0);
    assert_int_equal(misnumbered("two", 100), 0);
    assert_int_equal(sql_i64(db, "SELECT last_seq FROM outbox_streams WHERE stream = 'order'"),
                     200);
}

static void test_identity_change_starts_a_new_epoch_by_reserve(void **state)
{
    (void)state;
    commit_tagged("order", "old", 100);
    int64_t old_epoch = sql_i64(db, "SELECT epoch FROM outbox_streams WHERE stream = 'order'");
    /* the database was restored or failed over */
    sql_ok(db, "UPDATE outbox_streams SET system_identifier = 'other'");
    assert_int_equal(db_begin(db), DB_OK);
    int64_t reserves = calls_so_far("outbox_reserve"), inserts = calls_so_far("outbox_insert");
    append_tagged(db, "order", "new", 100);
    assert_int_equal(db_savepoint(db, "flushed"), DB_OK);
    assert_int_equal(calls_so_far("outbox_reserve") - reserves, 1);
    assert_int_equal(calls_so_far("outbox_insert") - inserts, 0);
    assert_int_equal(db_commit(db), DB_OK);

    int64_t new_epoch = sql_i64(db, "SELECT epoch FROM outbox_streams WHERE stream = 'order'");
    assert_true(new_epoch > old_epoch);
    assert_int_equal(misnumbered("new", 0), 0);
    assert_int_equal(misnumbered("old", 0), 0);
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM outbox WHERE epoch = %lld"
             " AND convert_from(payload, 'UTF8') LIKE 'new.%%'",
             (long long)new_epoch);
    assert_int_equal(sql_i64(db, sql), 100);
    assert_int_equal(sql_i64(db, "SELECT count(*) FROM outbox_streams s, pg_control_system() c"
                                 " WHERE s.stream = 'order' AND s.last_seq = 100"
                                 " AND s.published_seq = 0 AND s.purged_through = 0"
                                 " AND s.system_identifier = c.system_identifier::text"),
                     1);
}

/* --- two producers at once ---------------------------------------------------- */

#define PRODUCER_TXS 40

typedef struct {
    int id;
    int64_t committed; /* events of committed transactions */
    int failures;
    char error[256];
} producer_t;

typedef struct {
    int stop;
    int64_t looks;
    int64_t out_of_order; /* snapshots where the numbered seqs were not 1..n */
    char seen[128];
} watcher_t;

/* PRODUCER_TXS transactions of stream order, big (64-263 events: COPY) and
 * small (1-5) in turn, every fourth big one rolled back after its COPY;
 * payloads "<producer>.<tx>.<i>". */
static void *produce(void *arg)
{
    producer_t *self = arg;
    db_t *session = db_new(url, "test_outbox_producer");
    if (!session || outbox_prepare(session) != 0) {
        self->failures++;
        snprintf(self->error, sizeof self->error, "no session");
        db_destroy(&session);
        return NULL;
    }
    outbox_meta_t meta = {.stream = "order", .type = "order.placed"};
    for (int t = 0; t < PRODUCER_TXS; t++) {
        int n = t % 2 == 0 ? 64 + (t * 37 + self->id * 11) % 200 : 1 + t % 5;
        db_status_t status = db_begin(session);
        for (int i = 0; status == DB_OK && i < n; i++) {
            char payload[64];
            int len = snprintf(payload, sizeof payload, "%d.%d.%d", self->id, t, i);
            status = outbox_append(session, &meta, payload, (size_t)len, NULL);
        }
        if (status == DB_OK && t % 8 == 6) {
            status = db_savepoint(session, "flushed");
            db_rollback(session);
            if (status == DB_OK)
                continue;
        } else if (status == DB_OK) {
            status = db_commit(session);
        }
        if (status != DB_OK) {
            if (!self->failures++)
                snprintf(self->error, sizeof self->error, "tx %d: %s", t, db_errmsg(session));
            db_rollback(session);
        } else {
            self->committed += n;
        }
    }
    db_destroy(&session);
    return NULL;
}

/* Reads the numbered seqs of stream order again and again until told to
 * stop: every snapshot must show 1..n, each once. */
static void *watch(void *arg)
{
    watcher_t *self = arg;
    db_t *session = db_new(url, "test_outbox_watcher");
    while (session && !__atomic_load_n(&self->stop, __ATOMIC_ACQUIRE)) {
        PGresult *res = NULL;
        if (db_run_sql(session,
                       "SELECT count(seq), coalesce(max(seq), 0), count(DISTINCT seq)"
                       " FROM outbox WHERE stream = 'order' AND seq IS NOT NULL",
                       NULL, &res) != DB_OK)
            break;
        int64_t count = 0, max = 0, distinct = 0;
        if (db_get_i64(res, 0, 0, &count) != 0 || db_get_i64(res, 0, 1, &max) != 0 ||
            db_get_i64(res, 0, 2, &distinct) != 0 || count != max || distinct != count) {
            if (!self->out_of_order++)
                snprintf(self->seen, sizeof self->seen, "count %lld, max %lld, distinct %lld",
                         (long long)count, (long long)max, (long long)distinct);
        }
        PQclear(res);
        self->looks++;
        usleep(500);
    }
    db_destroy(&session);
    return NULL;
}

static void test_concurrent_producers_commit_in_seq_order(void **state)
{
    (void)state;
    producer_t producers[2] = {{.id = 1}, {.id = 2}};
    watcher_t watcher = {0};
    pthread_t threads[2], watcher_thread;
    assert_int_equal(pthread_create(&watcher_thread, NULL, watch, &watcher), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, produce, &producers[i]), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_join(threads[i], NULL), 0);
    /* the last small transactions' events may wait unnumbered for the next
     * numbering: a last big batch numbers them, before its own */
    commit_tagged("order", "9.0", 100);
    __atomic_store_n(&watcher.stop, 1, __ATOMIC_RELEASE);
    assert_int_equal(pthread_join(watcher_thread, NULL), 0);
    for (int i = 0; i < 2; i++)
        if (producers[i].failures)
            fail_msg("producer %d: %d failed, first %s", producers[i].id, producers[i].failures,
                     producers[i].error);
    if (watcher.out_of_order)
        fail_msg("%lld of %lld snapshots saw seqs out of commit order, first %s",
                 (long long)watcher.out_of_order, (long long)watcher.looks, watcher.seen);
    assert_true(watcher.looks > 0);

    int64_t total = producers[0].committed + producers[1].committed + 100;
    assert_int_equal(outbox_rows(), total);
    /* every event numbered, 1..total, each seq once */
    assert_numbered_once(db, total);
    /* nothing of a rolled-back transaction */
    assert_int_equal(sql_i64(db, "SELECT count(*) FROM outbox WHERE split_part("
                                 "convert_from(payload, 'UTF8'), '.', 2)::int % 8 = 6"
                                 " AND convert_from(payload, 'UTF8') NOT LIKE '9.%'"),
                     0);
    /* each producer's events numbered in the order it committed them */
    assert_int_equal(sql_i64(db, "SELECT count(*) FROM (SELECT seq, lag(seq) OVER (PARTITION BY"
                                 " split_part(p, '.', 1) ORDER BY split_part(p, '.', 2)::int,"
                                 " split_part(p, '.', 3)::int) AS prev FROM (SELECT seq,"
                                 " convert_from(payload, 'UTF8') AS p FROM outbox) x) y"
                                 " WHERE prev >= seq"),
                     0);
    /* and the two producers' transactions did interleave */
    assert_true(sql_i64(db, "SELECT count(*) FROM (SELECT split_part(convert_from(payload,"
                            " 'UTF8'), '.', 1) AS p, lag(split_part(convert_from(payload,"
                            " 'UTF8'), '.', 1)) OVER (ORDER BY seq) AS prev FROM outbox) x"
                            " WHERE p <> prev") > 4);
}

/* --- plans for the outbox as it is (migration 011) ------------------------------ */

/* A session of a schema of its own (the group's name and suffix), made
 * afresh with the kit's migrations in set, ready to append. */
static db_t *schema_session_new(const char *suffix, const migration_set_t *set, char *name_out,
                                size_t name_size)
{
    char session_url[1024], sql[160];
    snprintf(name_out, name_size, "%s_%s", schema, suffix);
    if (schema_url(session_url, sizeof session_url, name_out) != 0)
        return NULL;
    db_t *session = db_new(session_url, "test_outbox_schema");
    snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE", name_out);
    const migration_set_t *sets[] = {set};
    if (!session || db_run_sql(session, sql, NULL, NULL) != DB_OK ||
        migrate_run(session, name_out, sets, 1) != 0 || outbox_prepare(session) != 0) {
        db_destroy(&session);
        return NULL;
    }
    return session;
}

static void schema_session_destroy(db_t **session, const char *name)
{
    char sql[160];
    snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE", name);
    sql_ok(*session, sql);
    db_destroy(session);
}

static void commit_or_fail(db_t *session)
{
    if (db_commit(session) != DB_OK)
        fail_msg("commit: %s", db_errmsg(session));
}

/* Appends a caused event of stream order, caused by cause, to the open
 * transaction of session. */
static void append_caused(db_t *session, const char *cause, uint32_t index)
{
    outbox_meta_t meta = {
        .stream = "order", .type = "order.confirmed", .causation_id = cause, .emit_index = index};
    if (outbox_append(session, &meta, "caused", 6, NULL) != DB_OK)
        fail_msg("outbox_append: %s", db_errmsg(session));
}

/* The big batch of test_caused_id_committed_meanwhile_is_left_out, on
 * the suite's session in a thread of its own: 70 events caused by cause,
 * committed (the flush waits on the other session's insert of index 0). */
typedef struct {
    const char *cause;
    db_status_t committed;
    char error[256];
} big_caused_t;

static void *commit_big_caused(void *arg)
{
    big_caused_t *self = arg;
    outbox_meta_t meta = {
        .stream = "order", .type = "order.confirmed", .causation_id = self->cause};
    self->committed = db_begin(db);
    for (uint32_t i = 0; self->committed == DB_OK && i < 70; i++) {
        meta.emit_index = i;
        self->committed = outbox_append(db, &meta, "caused", 6, NULL);
    }
    if (self->committed == DB_OK)
        self->committed = db_commit(db);
    if (self->committed != DB_OK) {
        snprintf(self->error, sizeof self->error, "%s", db_errmsg(db));
        db_rollback(db);
    }
    return NULL;
}

/* A caused event inserted unnumbered by another transaction (a small one's
 * early flush, without the counter row's lock) that commits while a big
 * batch holding the same caused id waits on it: the batch's plain insert
 * fails on the id and is undone (migration 012), the careful way then
 * finds the id stored and leaves it out, and the batch commits with no
 * hole in its seqs; the event is stored once, numbered after the batch. */
static void test_caused_id_committed_meanwhile_is_left_out(void **state)
{
    (void)state;
    char cause[UUID_TEXT_SIZE];
    assert_int_equal(uuid_v4(cause), 0);
    db_t *other = db_new(url, "test_outbox_other");
    db_t *probe = db_new(url, "test_outbox_probe");
    assert_non_null(other);
    assert_non_null(probe);
    assert_int_equal(outbox_prepare(other), 0);
    assert_int_equal(db_begin(other), DB_OK);
    append_caused(other, cause, 0);
    assert_int_equal(db_savepoint(other, "flushed"), DB_OK); /* inserted, unnumbered */

    big_caused_t big = {.cause = cause};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, commit_big_caused, &big), 0);
    /* the batch's insert waits on the other transaction's row */
    int64_t deadline = clock_mono_ms() + 5000;
    while (sql_i64(probe, "SELECT count(*) FROM pg_stat_activity WHERE application_name ="
                          " 'test_outbox' AND wait_event_type = 'Lock'") == 0) {
        if (clock_mono_ms() > deadline)
            fail_msg("the big batch did not wait on the other transaction's caused event");
        usleep(2000);
    }
    assert_int_equal(db_commit(other), DB_OK);
    assert_int_equal(pthread_join(thread, NULL), 0);
    if (big.committed != DB_OK)
        fail_msg("the big batch did not commit: %s", big.error);

    /* stored once; the batch's 69 others numbered 1..69 without a hole */
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM outbox WHERE causation_id = '%s' AND seq IS NULL", cause);
    assert_int_equal(sql_i64(probe, sql), 1);
    assert_int_equal(sql_i64(probe, "SELECT count(*) FROM outbox WHERE seq IS NOT NULL"), 69);
    assert_int_equal(sql_i64(probe, "SELECT max(seq) FROM outbox"), 69);
    /* the relay numbers the other one after them */
    assert_int_equal(
        sql_i64(probe, "SELECT out_numbered FROM outbox_number_committed('order', 100)"), 1);
    assert_numbered_once(probe, 70);
    db_destroy(&probe);
    db_destroy(&other);
}

/* One round of every way an event enters stream order: a small
 * transaction's event flushed early (unnumbered, by outbox_insert of eight
 * arguments), one at its commit numbered with that one (outbox_insert's
 * numbering of pending rows), a caused event appended again and a new one
 * at a commit (the look-up of stored caused ids), a big batch (COPY after
 * outbox_reserve), a big batch with a caused event flushed early (the
 * numbering under the waited lock, the look-up of many), and an event committed
 * unnumbered numbered by the relay's outbox_number_committed. causes[]
 * holds one cause a round. */
static void outbox_round(db_t *session, char causes[][UUID_TEXT_SIZE], int round)
{
    assert_int_equal(uuid_v4(causes[round]), 0);
    assert_int_equal(db_begin(session), DB_OK);
    append_tagged(session, "order", "early", 1);
    assert_int_equal(db_savepoint(session, "flushed"), DB_OK);
    commit_or_fail(session);

    assert_int_equal(db_begin(session), DB_OK);
    append_tagged(session, "order", "small", 1);
    commit_or_fail(session);

    assert_int_equal(db_begin(session), DB_OK);
    append_caused(session, causes[round], 0);
    if (round > 0)
        append_caused(session, causes[round - 1], 0);
    commit_or_fail(session);

    assert_int_equal(db_begin(session), DB_OK);
    append_tagged(session, "order", "big", 100);
    commit_or_fail(session);

    assert_int_equal(db_begin(session), DB_OK);
    append_tagged(session, "order", "mixed", 30);
    for (uint32_t i = 1; i <= 70; i++)
        append_caused(session, causes[round], i);
    append_caused(session, causes[round], 0); /* stored already */
    assert_int_equal(db_savepoint(session, "flushed"), DB_OK);
    commit_or_fail(session);

    assert_int_equal(db_begin(session), DB_OK);
    append_tagged(session, "order", "relayed", 1);
    assert_int_equal(db_savepoint(session, "flushed"), DB_OK);
    commit_or_fail(session);
    assert_int_equal(
        sql_i64(session, "SELECT out_numbered FROM outbox_number_committed('order', 100)"), 1);
}

/* The events one round adds to stream order: 1 + 1 + 1 (the other caused
 * one is stored already) + 100 + 100 + 1, ROUND_CAUSED of them caused. */
#define ROUND_EVENTS 204
#define ROUND_CAUSED 71

/* The scans of outbox so far as the statistics say, this session's flushed
 * first: sequential scans, and entries read of the caused ids' index. */
static void outbox_scans(db_t *session, int64_t *seq_scans, int64_t *caused_reads)
{
    /* flushed when the session goes idle after this statement */
    sql_ok(session, "SELECT pg_stat_force_next_flush()");
    *seq_scans = sql_i64(session, "SELECT seq_scan FROM pg_stat_user_tables"
                                  " WHERE relid = 'outbox'::regclass");
    *caused_reads = sql_i64(session, "SELECT idx_tup_read FROM pg_stat_user_indexes"
                                     " WHERE indexrelid = 'outbox_caused_event_id'::regclass");
}

#define PLAN_ROUNDS 8 /* PL/pgSQL goes generic after five calls of a statement */

/* Every way of appending, PLAN_ROUNDS times on a nearly empty outbox,
 * then as many again once it holds 50,000 rows more, in a session whose
 * plan_cache_mode is mode. */
static void plans_follow_the_outbox(const char *mode)
{
    char name[96], causes[2 * PLAN_ROUNDS][UUID_TEXT_SIZE], sql[96];
    db_t *session = schema_session_new("grows", &kit_migrations, name, sizeof name);
    assert_non_null(session);
    snprintf(sql, sizeof sql, "SET plan_cache_mode = %s", mode);
    sql_ok(session, sql);
    /* no ANALYZE to replan for us meanwhile */
    sql_ok(session, "ALTER TABLE outbox SET (autovacuum_enabled = false)");
    /* every statement of the outbox functions run several times while the
     * outbox holds a few hundred rows */
    for (int round = 0; round < PLAN_ROUNDS; round++)
        outbox_round(session, causes, round);
    /* 50,000 events of another stream, half of them caused */
    sql_ok(session, "INSERT INTO outbox (event_id, stream, type, causation_id, occurred_at_ms,"
                    " payload, epoch, seq) SELECT gen_random_uuid(), 'grown', 'order.placed',"
                    " CASE WHEN g % 2 = 0 THEN 'cause-' || g ELSE '' END, 1, 'grown', 1, g"
                    " FROM generate_series(1, 50000) g");
    int64_t seq_scans = 0, caused_reads = 0, seq_scans_after = 0, caused_reads_after = 0;
    outbox_scans(session, &seq_scans, &caused_reads);
    for (int round = PLAN_ROUNDS; round < 2 * PLAN_ROUNDS; round++)
        outbox_round(session, causes, round);
    outbox_scans(session, &seq_scans_after, &caused_reads_after);
    /* no call read the outbox through, nor the caused ids' index (25,000
     * entries now): the plans are the big table's. Each round's mixed
     * batch holds a stored caused id, so its plain insert (migration 012)
     * fails and is undone, and the careful look-up then reads the entries
     * that attempt left (dead) beside the stored one: ROUND_CAUSED and a
     * few a round, not thousands */
    assert_int_equal(seq_scans_after, seq_scans);
    if (caused_reads_after - caused_reads > (ROUND_CAUSED + 10) * PLAN_ROUNDS)
        fail_msg("%lld caused ids read in %d rounds",
                 (long long)(caused_reads_after - caused_reads), PLAN_ROUNDS);
    /* and every event is numbered once, no seq skipped */
    assert_numbered_once(session, 2 * PLAN_ROUNDS * ROUND_EVENTS);
    assert_int_equal(sql_i64(session, "SELECT count(*) FROM outbox WHERE causation_id <> ''"
                                      " AND stream = 'order'"),
                     2 * PLAN_ROUNDS * ROUND_CAUSED);
    schema_session_destroy(&session, name);
}

/* The order service's sessions: PostgreSQL's choice, generic plans after
 * five calls of a statement when they look no dearer. */
static void test_plans_follow_the_outbox_as_it_grows(void **state)
{
    (void)state;
    plans_follow_the_outbox("auto");
}

/* Inventory's sessions ask for generic plans of every statement
 * (services/inventory/main.c), and the outbox functions no longer carry a
 * setting of their own to override that. */
static void test_plans_follow_the_outbox_under_generic_plans(void **state)
{
    (void)state;
    plans_follow_the_outbox("force_generic_plan");
}

static void test_migration_011_applies_to_a_running_outbox(void **state)
{
    (void)state;
    /* the kit as 010 left it */
    size_t before_011 = 0;
    while (before_011 < kit_migrations.count &&
           strncmp(kit_migrations.items[before_011].name, "011", 3) < 0)
        before_011++;
    assert_true(before_011 == 10);
    migration_set_t upto_010 = {.set = "kit", .items = kit_migrations.items, .count = before_011};
    char name[96], causes[3][UUID_TEXT_SIZE];
    db_t *session = schema_session_new("upgraded", &upto_010, name, sizeof name);
    assert_non_null(session);
    assert_int_equal(sql_i64(session, "SELECT count(*) FROM pg_proc WHERE proname ="
                                      " 'outbox_stream_lock' AND pronamespace ="
                                      " current_schema()::regnamespace"),
                     0);
    outbox_round(session, causes, 0);
    /* what the relay has not numbered yet when the new binary starts */
    assert_int_equal(db_begin(session), DB_OK);
    append_tagged(session, "order", "left", 1);
    assert_int_equal(db_savepoint(session, "flushed"), DB_OK);
    commit_or_fail(session);

    /* the new binary migrates, with this session's statements prepared */
    const migration_set_t *sets[] = {&kit_migrations};
    assert_int_equal(migrate_run(session, name, sets, 1), MIGRATE_OK);
    /* the outbox functions plan their statements as they go, none with a
     * setting but the relay's outbox_number_committed (migration 011) */
    assert_int_equal(sql_i64(session, "SELECT count(*) FROM pg_proc WHERE proname LIKE 'outbox%'"
                                      " AND pronamespace = current_schema()::regnamespace"),
                     5);
    assert_int_equal(sql_i64(session, "SELECT count(*) FROM pg_proc WHERE proname LIKE 'outbox%'"
                                      " AND pronamespace = current_schema()::regnamespace"
                                      " AND proconfig IS NOT NULL"
                                      " AND proname <> 'outbox_number_committed'"),
                     0);
    /* the row left unnumbered comes first, then two rounds more */
    int64_t last = sql_i64(session, "SELECT last_seq FROM outbox_streams WHERE stream = 'order'");
    assert_int_equal(last, ROUND_EVENTS);
    outbox_round(session, causes, 1);
    assert_int_equal(sql_i64(session, "SELECT seq FROM outbox WHERE payload = 'left.0'"),
                     ROUND_EVENTS + 1);
    outbox_round(session, causes, 2);
    assert_numbered_once(session, 3 * ROUND_EVENTS + 1);
    /* a caused event of before the migration is still stored once */
    assert_int_equal(sql_i64(session, "SELECT count(*) FROM outbox WHERE causation_id <> ''"),
                     3 * ROUND_CAUSED);
    schema_session_destroy(&session, name);
}

int main(void)
{
    base_url = getenv("TEST_DATABASE_URL");
    if (!base_url || !base_url[0]) {
        fprintf(stderr, "test_outbox: TEST_DATABASE_URL is not set (tests/run.sh sets it)\n");
        return 1;
    }
#define OUTBOX_TEST(f) cmocka_unit_test_setup(f, empty_outbox)
    const struct CMUnitTest tests[] = {
        OUTBOX_TEST(test_root_event_row_holds_what_was_given),
        OUTBOX_TEST(test_caused_event_id_is_stable),
        OUTBOX_TEST(test_bad_causation_id_is_refused),
        OUTBOX_TEST(test_rolled_back_event_never_existed),
        OUTBOX_TEST(test_protobuf_payload_is_packed),
        OUTBOX_TEST(test_row_envelope_round_trips),
        OUTBOX_TEST(test_row_envelope_refuses_damaged_rows),
        OUTBOX_TEST(test_big_batch_is_copied_after_committed_rows),
        OUTBOX_TEST(test_big_batch_with_a_caused_event_dedups),
        OUTBOX_TEST(test_copy_batch_rolled_back_leaves_no_gap),
        OUTBOX_TEST(test_identity_change_starts_a_new_epoch_by_reserve),
        OUTBOX_TEST(test_concurrent_producers_commit_in_seq_order),
        OUTBOX_TEST(test_caused_id_committed_meanwhile_is_left_out),
        OUTBOX_TEST(test_plans_follow_the_outbox_as_it_grows),
        OUTBOX_TEST(test_plans_follow_the_outbox_under_generic_plans),
        OUTBOX_TEST(test_migration_011_applies_to_a_running_outbox),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
