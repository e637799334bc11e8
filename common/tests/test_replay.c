/*
 * test_replay.c — the replay server (replay.h, proto/conveyor/replay.proto)
 * against the real PostgreSQL at TEST_DATABASE_URL: the kit's migrations go
 * into a schema of this run's own (t_replay_<pid>, dropped at the end),
 * whose outbox the test fills with 1,200 rows and numbers itself (seq,
 * epoch and the counter row, as a relay would have), and the test talks
 * to the server over tcp with a DEALER, as a consumer does.
 *
 * Proves: a range comes back as EVENT frames [topic][Envelope] in seq
 * order, each the stored row (id, type, payload, epoch) and passing the
 * consumers' frame checks, then one END with status OK, the request id,
 * the stream, the epoch, head_seq and last_sent_seq; a consumer that
 * follows no epoch yet (0) is served the current one; at most 1,000 events
 * per request, whatever max_events asks; from_seq beyond the head is OK
 * with no events; another epoch is EPOCH_CHANGED naming the current one; a
 * range reaching below purged_through is TRUNCATED; a hole in the rows
 * stops the batch (PARTIAL) at the last seq before it; a stream the server
 * does not serve is UNKNOWN_STREAM, naming the stream that was asked for;
 * a stream whose counter row does not exist yet is UNAVAILABLE; malformed
 * requests (a missing frame, another command, bytes that do not unpack, an
 * oversized request, a fourth frame, a stream that is no stream name, 300
 * bytes of one among them) get no answer and the server goes on answering;
 * head_only answers the epoch and head without events; an
 * endpoint already bound is refused.
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

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zmq.h>

#include "common/clock.h"
#include "common/db.h"
#include "common/envelope.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/migrate.h"
#include "common/outbox.h"
#include "common/replay.h"
#include "common/uuid.h"
#include "conveyor/envelope.pb-c.h"
#include "conveyor/replay.pb-c.h"

#define STREAM    "rpl"
#define ROWS      1200
#define EPOCH     1790000000000ULL
#define END_OK    CONVEYOR__REPLAY_END__STATUS__OK
#define ANSWER_MS 5000

static const char *base_url;
static char schema[64];
static char dsn[1024];
static char endpoint[64];
static db_t *db;
static replay_server_t *server;
static void *zctx;
static void *dealer; /* the consumer's side, one per test */
static char event_ids[ROWS + 1][UUID_TEXT_SIZE];

/* --- the outbox, numbered by hand ----------------------------------------------- */

static void sql(const char *text)
{
    if (db_run_sql(db, text, NULL, NULL) != DB_OK)
        fail_msg("%s: %s", text, db_errmsg(db));
}

static const char *type_of(uint64_t seq)
{
    return seq % 2 ? "thing.made" : "thing.moved";
}

/* ROWS events, numbered 1..ROWS in EPOCH, and the counter row. */
static int fill_outbox(void)
{
    if (db_run_sql(db, "DELETE FROM outbox; DELETE FROM outbox_streams", NULL, NULL) != DB_OK ||
        db_begin(db) != DB_OK)
        return -1;
    for (uint64_t seq = 1; seq <= ROWS; seq++) {
        char payload[32], correlation[16];
        snprintf(payload, sizeof payload, "payload-%llu", (unsigned long long)seq);
        snprintf(correlation, sizeof correlation, "c-%llu", (unsigned long long)(seq % 7));
        outbox_meta_t meta = {
            .stream = STREAM, .type = type_of(seq), .correlation_id = correlation};
        if (outbox_append(db, &meta, payload, strlen(payload), event_ids[seq]) != DB_OK) {
            db_rollback(db);
            return -1;
        }
    }
    if (db_commit(db) != DB_OK)
        return -1;
    char numbering[512];
    snprintf(numbering, sizeof numbering,
             "UPDATE outbox o SET epoch = %llu, seq = r.n FROM (SELECT id, row_number()"
             " OVER (ORDER BY id) AS n FROM outbox) r WHERE o.id = r.id;"
             " UPDATE outbox_streams SET epoch = %llu, last_seq = %d,"
             " system_identifier = 'test', timeline = 1 WHERE stream = '" STREAM "'",
             EPOCH, EPOCH, ROWS);
    return db_run_sql(db, numbering, NULL, NULL) == DB_OK ? 0 : -1;
}

/* --- the consumer's side -------------------------------------------------------- */

static void send_request(const char *stream, uint64_t epoch, uint64_t from_seq, uint32_t max_events,
                         uint64_t request_id)
{
    Conveyor__ReplayRequest request = CONVEYOR__REPLAY_REQUEST__INIT;
    request.stream = pb_lend(stream);
    request.epoch = epoch;
    request.from_seq = from_seq;
    request.max_events = max_events;
    request.request_id = request_id;
    static uint8_t buf[1024];
    size_t len = conveyor__replay_request__get_packed_size(&request);
    assert_true(len <= sizeof buf);
    conveyor__replay_request__pack(&request, buf);
    assert_int_equal(zmq_send(dealer, REPLAY_CMD_REQUEST, strlen(REPLAY_CMD_REQUEST), ZMQ_SNDMORE),
                     (int)strlen(REPLAY_CMD_REQUEST));
    assert_int_equal(zmq_send(dealer, buf, len, 0), (int)len);
}

/* Sends the frames given as a request message, whatever they are. */
static void send_raw(const void *const *frames, const size_t *lens, int count)
{
    for (int i = 0; i < count; i++)
        assert_true(zmq_send(dealer, frames[i], lens[i], i + 1 < count ? ZMQ_SNDMORE : 0) >= 0);
}

typedef struct {
    uint64_t first_seq; /* of the events received */
    uint64_t count;
    Conveyor__ReplayEnd *end; /* owned */
} answer_t;

static void answer_clear(answer_t *answer)
{
    if (answer->end)
        conveyor__replay_end__free_unpacked(answer->end, NULL);
    answer->end = NULL;
}

/* Receives one message (all its frames, up to 4) within the deadline; the
 * frame count, or 0 on timeout. */
static int recv_message(zmq_msg_t parts[4], int64_t deadline)
{
    zmq_pollitem_t item = {dealer, 0, ZMQ_POLLIN, 0};
    int64_t left = deadline - clock_mono_ms();
    if (zmq_poll(&item, 1, (long)(left > 0 ? left : 0)) <= 0)
        return 0;
    int count = 0;
    bool more = true;
    while (more) {
        assert_true(count < 4);
        zmq_msg_init(&parts[count]);
        assert_true(zmq_msg_recv(&parts[count], dealer, 0) >= 0);
        more = zmq_msg_more(&parts[count]);
        count++;
    }
    return count;
}

static bool frame_is(const zmq_msg_t *part, const char *text)
{
    zmq_msg_t *msg = (zmq_msg_t *)(uintptr_t)part;
    return zmq_msg_size(msg) == strlen(text) && memcmp(zmq_msg_data(msg), text, strlen(text)) == 0;
}

/* Reads EVENTs until the END of request_id; each EVENT must be the stored
 * row of the next seq. The first message must belong to this request. */
static void read_answer(uint64_t request_id, answer_t *answer)
{
    memset(answer, 0, sizeof *answer);
    int64_t deadline = clock_mono_ms() + ANSWER_MS;
    uint64_t expected = 0;
    for (;;) {
        zmq_msg_t parts[4];
        int count = recv_message(parts, deadline);
        if (count == 0)
            fail_msg("no END for request %llu within %d ms (%llu events)",
                     (unsigned long long)request_id, ANSWER_MS, (unsigned long long)answer->count);
        if (frame_is(&parts[0], REPLAY_CMD_END)) {
            assert_int_equal(count, 2);
            answer->end = conveyor__replay_end__unpack(NULL, zmq_msg_size(&parts[1]),
                                                       zmq_msg_data(&parts[1]));
            assert_non_null(answer->end);
            for (int i = 0; i < count; i++)
                zmq_msg_close(&parts[i]);
            assert_int_equal(answer->end->request_id, request_id);
            if (answer->count > 0)
                assert_true(answer->end->last_sent_seq == answer->first_seq + answer->count - 1);
            return;
        }
        assert_true(frame_is(&parts[0], REPLAY_CMD_EVENT));
        assert_int_equal(count, 3);
        bus_frame_t frame;
        assert_int_equal(bus_frame_parse(zmq_msg_data(&parts[1]), zmq_msg_size(&parts[1]),
                                         zmq_msg_data(&parts[2]), zmq_msg_size(&parts[2]), &frame),
                         FRAME_OK);
        const Conveyor__Envelope *env = frame.env;
        if (answer->count == 0)
            expected = answer->first_seq = env->seq;
        if (env->seq != expected)
            fail_msg("event seq %llu where %llu was due", (unsigned long long)env->seq,
                     (unsigned long long)expected);
        assert_true(env->seq >= 1 && env->seq <= ROWS);
        assert_true(env->epoch == EPOCH);
        assert_string_equal(env->stream, STREAM);
        assert_string_equal(frame.topic_stream, STREAM);
        assert_string_equal(env->type, type_of(env->seq));
        assert_string_equal(env->event_id, event_ids[env->seq]);
        char payload[32];
        snprintf(payload, sizeof payload, "payload-%llu", (unsigned long long)env->seq);
        assert_int_equal(env->payload.len, strlen(payload));
        assert_memory_equal(env->payload.data, payload, strlen(payload));
        bus_frame_clear(&frame);
        for (int i = 0; i < count; i++)
            zmq_msg_close(&parts[i]);
        expected++;
        answer->count++;
    }
}

/* One request, its whole answer. */
static void ask(const char *stream, uint64_t epoch, uint64_t from_seq, uint32_t max_events,
                answer_t *answer)
{
    static uint64_t request_id = 100;
    request_id++;
    send_request(stream, epoch, from_seq, max_events, request_id);
    read_answer(request_id, answer);
}

static void assert_end(const answer_t *answer, int status, uint64_t last_sent_seq,
                       uint64_t head_seq)
{
    const Conveyor__ReplayEnd *end = answer->end;
    if ((int)end->status != status)
        fail_msg("END status %d, expected %d", (int)end->status, status);
    assert_string_equal(end->stream, STREAM);
    assert_true(end->epoch == EPOCH);
    assert_true(end->last_sent_seq == last_sent_seq);
    assert_true(end->head_seq == head_seq);
}

/* --- tests ------------------------------------------------------------------------ */

static void test_range_comes_in_order(void **state)
{
    (void)state;
    answer_t answer;
    ask(STREAM, EPOCH, 1, 10, &answer);
    assert_int_equal(answer.first_seq, 1);
    assert_int_equal(answer.count, 10);
    assert_end(&answer, END_OK, 10, ROWS);
    assert_int_equal(answer.end->purged_through, 0);
    answer_clear(&answer);

    /* the tail: fewer than asked */
    ask(STREAM, EPOCH, ROWS - 5, 10, &answer);
    assert_int_equal(answer.first_seq, ROWS - 5);
    assert_int_equal(answer.count, 6);
    assert_end(&answer, END_OK, ROWS, ROWS);
    answer_clear(&answer);

    /* a consumer following no epoch yet learns the current one */
    ask(STREAM, 0, 5, 2, &answer);
    assert_int_equal(answer.first_seq, 5);
    assert_int_equal(answer.count, 2);
    assert_end(&answer, END_OK, 6, ROWS);
    answer_clear(&answer);

    /* from_seq 0 means from the start */
    ask(STREAM, EPOCH, 0, 3, &answer);
    assert_int_equal(answer.first_seq, 1);
    assert_int_equal(answer.count, 3);
    assert_end(&answer, END_OK, 3, ROWS);
    answer_clear(&answer);
}

static void test_at_most_a_thousand(void **state)
{
    (void)state;
    answer_t answer;
    ask(STREAM, EPOCH, 1, 0, &answer); /* 0: as many as allowed */
    assert_int_equal(answer.count, REPLAY_BATCH_MAX);
    assert_end(&answer, END_OK, REPLAY_BATCH_MAX, ROWS);
    answer_clear(&answer);
    ask(STREAM, EPOCH, 1, 5000, &answer);
    assert_int_equal(answer.count, REPLAY_BATCH_MAX);
    assert_end(&answer, END_OK, REPLAY_BATCH_MAX, ROWS);
    answer_clear(&answer);
    /* the consumer asks again from last_sent_seq + 1 */
    ask(STREAM, EPOCH, REPLAY_BATCH_MAX + 1, 5000, &answer);
    assert_int_equal(answer.first_seq, REPLAY_BATCH_MAX + 1);
    assert_int_equal(answer.count, ROWS - REPLAY_BATCH_MAX);
    assert_end(&answer, END_OK, ROWS, ROWS);
    answer_clear(&answer);
}

static void test_beyond_head_is_ok_with_none(void **state)
{
    (void)state;
    answer_t answer;
    ask(STREAM, EPOCH, ROWS + 1, 10, &answer);
    assert_int_equal(answer.count, 0);
    assert_end(&answer, END_OK, ROWS, ROWS);
    answer_clear(&answer);
    ask(STREAM, EPOCH, 5000, 10, &answer);
    assert_int_equal(answer.count, 0);
    assert_end(&answer, END_OK, 4999, ROWS); /* from_seq - 1: nothing sent */
    answer_clear(&answer);
}

static void test_other_epoch_is_epoch_changed(void **state)
{
    (void)state;
    answer_t answer;
    ask(STREAM, EPOCH - 1, 1, 10, &answer);
    assert_int_equal(answer.count, 0);
    assert_end(&answer, CONVEYOR__REPLAY_END__STATUS__EPOCH_CHANGED, 0, ROWS);
    answer_clear(&answer);
    ask(STREAM, EPOCH + 1, 7, 10, &answer);
    assert_int_equal(answer.count, 0);
    assert_end(&answer, CONVEYOR__REPLAY_END__STATUS__EPOCH_CHANGED, 6, ROWS);
    answer_clear(&answer);
}

static void test_purged_range_is_truncated(void **state)
{
    (void)state;
    sql("DELETE FROM outbox WHERE seq <= 100; UPDATE outbox_streams SET purged_through = 100");
    answer_t answer;
    ask(STREAM, EPOCH, 50, 10, &answer);
    assert_int_equal(answer.count, 0);
    assert_end(&answer, CONVEYOR__REPLAY_END__STATUS__TRUNCATED, 49, ROWS);
    assert_int_equal(answer.end->purged_through, 100);
    answer_clear(&answer);
    ask(STREAM, EPOCH, 100, 10, &answer);
    assert_int_equal(answer.count, 0);
    assert_end(&answer, CONVEYOR__REPLAY_END__STATUS__TRUNCATED, 99, ROWS);
    answer_clear(&answer);
    /* history from the oldest retained row on is served */
    ask(STREAM, EPOCH, 101, 10, &answer);
    assert_int_equal(answer.first_seq, 101);
    assert_int_equal(answer.count, 10);
    assert_end(&answer, END_OK, 110, ROWS);
    assert_int_equal(answer.end->purged_through, 100);
    answer_clear(&answer);
}

static void test_hole_stops_the_batch(void **state)
{
    (void)state;
    sql("DELETE FROM outbox WHERE seq = 5");
    answer_t answer;
    ask(STREAM, EPOCH, 1, 10, &answer);
    assert_int_equal(answer.first_seq, 1);
    assert_int_equal(answer.count, 4);
    assert_end(&answer, CONVEYOR__REPLAY_END__STATUS__PARTIAL, 4, ROWS);
    answer_clear(&answer);
}

static void test_unknown_stream(void **state)
{
    (void)state;
    answer_t answer;
    ask("elsewhere", EPOCH, 1, 10, &answer);
    assert_int_equal(answer.count, 0);
    assert_int_equal(answer.end->status, CONVEYOR__REPLAY_END__STATUS__UNKNOWN_STREAM);
    /* the END names the stream asked for: a consumer matches it to its own */
    assert_string_equal(answer.end->stream, "elsewhere");
    answer_clear(&answer);
    ask(STREAM, EPOCH, 1, 1, &answer);
    assert_end(&answer, END_OK, 1, ROWS);
    answer_clear(&answer);
}

/* What an operator's resync asks: the epoch and head, no events. */
static void test_head_only_sends_no_events(void **state)
{
    (void)state;
    Conveyor__ReplayRequest request = CONVEYOR__REPLAY_REQUEST__INIT;
    request.stream = pb_lend(STREAM);
    request.from_seq = 1;
    request.request_id = 4242;
    request.head_only = true;
    uint8_t buf[64];
    size_t len = conveyor__replay_request__pack(&request, buf);
    const void *frames[] = {REPLAY_CMD_REQUEST, buf};
    size_t lens[] = {strlen(REPLAY_CMD_REQUEST), len};
    send_raw(frames, lens, 2);
    answer_t answer;
    read_answer(4242, &answer);
    assert_int_equal(answer.count, 0);
    assert_end(&answer, END_OK, 0, ROWS);
    answer_clear(&answer);
}

static void test_stream_not_opened_is_unavailable(void **state)
{
    (void)state;
    sql("DELETE FROM outbox_streams");
    answer_t answer;
    ask(STREAM, 0, 1, 10, &answer);
    assert_int_equal(answer.count, 0);
    assert_int_equal(answer.end->status, CONVEYOR__REPLAY_END__STATUS__UNAVAILABLE);
    answer_clear(&answer);
}

static void test_malformed_requests_are_ignored(void **state)
{
    (void)state;
    Conveyor__ReplayRequest good = CONVEYOR__REPLAY_REQUEST__INIT;
    good.stream = pb_lend(STREAM);
    good.epoch = EPOCH;
    good.from_seq = 1;
    good.max_events = 2;
    good.request_id = 1;
    uint8_t packed[256];
    size_t packed_len = conveyor__replay_request__pack(&good, packed);
    static const uint8_t truncated[] = {0x0a, 0x50, 'r'}; /* a string of 80 bytes, 1 there */
    static uint8_t oversized[4200];
    memset(oversized, 0, sizeof oversized);
    oversized[0] = 0x0a; /* stream, 4,197 bytes: a valid message, but too big */
    oversized[1] = 0xe5;
    oversized[2] = 0x20;
    memset(oversized + 3, 'x', sizeof oversized - 3);

    /* the command alone */
    const void *only_cmd[] = {REPLAY_CMD_REQUEST};
    size_t only_cmd_len[] = {strlen(REPLAY_CMD_REQUEST)};
    send_raw(only_cmd, only_cmd_len, 1);
    /* another command with a good request */
    const void *other_cmd[] = {"REPLAY_ALL", packed};
    size_t other_cmd_len[] = {10, packed_len};
    send_raw(other_cmd, other_cmd_len, 2);
    /* bytes that do not unpack */
    const void *garbage[] = {REPLAY_CMD_REQUEST, truncated};
    size_t garbage_len[] = {strlen(REPLAY_CMD_REQUEST), sizeof truncated};
    send_raw(garbage, garbage_len, 2);
    /* a request over the size limit */
    const void *big[] = {REPLAY_CMD_REQUEST, oversized};
    size_t big_len[] = {strlen(REPLAY_CMD_REQUEST), sizeof oversized};
    send_raw(big, big_len, 2);
    /* a good request with a fourth frame */
    const void *extra[] = {REPLAY_CMD_REQUEST, packed, "more"};
    size_t extra_len[] = {strlen(REPLAY_CMD_REQUEST), packed_len, 4};
    send_raw(extra, extra_len, 3);
    /* regression: a 300-byte stream name was echoed into a 256-byte stack
     * buffer (stack smashing, the service gone); an empty name and one
     * with characters no stream has are not stream names either */
    char long_name[301];
    memset(long_name, 's', 300);
    long_name[300] = '\0';
    const char *bad_names[] = {long_name, "", "Order", "order/x", "a b"};
    for (size_t i = 0; i < sizeof bad_names / sizeof *bad_names; i++)
        send_request(bad_names[i], EPOCH, 1, 2, 900 + i);

    /* none of them is answered: the first answer is the good request's */
    answer_t answer;
    ask(STREAM, EPOCH, 1, 2, &answer);
    assert_int_equal(answer.count, 2);
    assert_end(&answer, END_OK, 2, ROWS);
    answer_clear(&answer);
    zmq_pollitem_t item = {dealer, 0, ZMQ_POLLIN, 0};
    assert_int_equal(zmq_poll(&item, 1, 100), 0);
}

/* A loopback port nobody listens on right now. */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    socklen_t len = sizeof addr;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
    close(fd);
    return ntohs(addr.sin_port);
}

static void test_bound_endpoint_is_refused(void **state)
{
    (void)state;
    FILE *quiet = tmpfile();
    log_set_output(quiet);
    replay_config_t config = {.dsn = dsn, .bind = endpoint, .stream = STREAM};
    replay_server_t *second = replay_server_new(&config);
    log_set_output(NULL);
    fclose(quiet);
    assert_null(second);
    /* and the first goes on */
    answer_t answer;
    ask(STREAM, EPOCH, 1, 1, &answer);
    assert_end(&answer, END_OK, 1, ROWS);
    answer_clear(&answer);
}

/* A server of STREAM on a free loopback port, its endpoint into
 * endpoint_out (64 bytes): a port found free may be taken before it is
 * bound, so a few are tried. NULL if none could be bound. */
static replay_server_t *server_on_free_port(bool opens_later, char endpoint_out[64])
{
    replay_server_t *made = NULL;
    for (int attempt = 0; attempt < 5 && !made; attempt++) {
        snprintf(endpoint_out, 64, "tcp://127.0.0.1:%d", free_port());
        replay_config_t config = {.dsn = dsn,
                                  .bind = endpoint_out,
                                  .stream = STREAM,
                                  .app_name = "test_replay_server",
                                  .opens_later = opens_later};
        made = replay_server_new(&config);
    }
    return made;
}

/* A service's endpoint is up before its schema is migrated: until opened
 * it answers "unavailable" and reads nothing, then serves. */
static void test_unavailable_until_opened(void **state)
{
    (void)state;
    char later_endpoint[64];
    replay_server_t *later = server_on_free_port(true, later_endpoint);
    assert_non_null(later);
    assert_int_equal(zmq_disconnect(dealer, endpoint), 0);
    assert_int_equal(zmq_connect(dealer, later_endpoint), 0);
    answer_t answer;
    ask(STREAM, EPOCH, 1, 10, &answer);
    assert_int_equal(answer.count, 0);
    assert_int_equal(answer.end->status, CONVEYOR__REPLAY_END__STATUS__UNAVAILABLE);
    answer_clear(&answer);
    replay_server_open(later);
    ask(STREAM, EPOCH, 1, 10, &answer);
    assert_end(&answer, END_OK, 10, ROWS);
    answer_clear(&answer);
    replay_server_destroy(&later);
}

/* --- fixtures --------------------------------------------------------------------- */

static int group_setup(void **state)
{
    (void)state;
    log_init("test_replay", LOG_ERROR);
    snprintf(schema, sizeof schema, "t_replay_%d", (int)getpid());
    int n = snprintf(dsn, sizeof dsn, "%s%coptions=-csearch_path%%3D%s", base_url,
                     strchr(base_url, '?') ? '&' : '?', schema);
    if (n < 0 || (size_t)n >= sizeof dsn)
        return -1;
    db = db_new(dsn, "test_replay");
    if (!db)
        return -1;
    char ddl[128];
    snprintf(ddl, sizeof ddl, "DROP SCHEMA IF EXISTS %s CASCADE", schema);
    if (db_run_sql(db, ddl, NULL, NULL) != DB_OK)
        return -1;
    const migration_set_t *sets[] = {&kit_migrations};
    if (migrate_run(db, schema, sets, 1) != 0 || outbox_prepare(db) != 0)
        return -1;
    server = server_on_free_port(false, endpoint);
    zctx = zmq_ctx_new();
    return server && zctx ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    replay_server_destroy(&server);
    if (zctx)
        zmq_ctx_term(zctx);
    char ddl[128];
    snprintf(ddl, sizeof ddl, "DROP SCHEMA IF EXISTS %s CASCADE", schema);
    db_status_t status = db_run_sql(db, ddl, NULL, NULL);
    if (status != DB_OK)
        fprintf(stderr, "test_replay: cannot drop %s: %s\n", schema, db_errmsg(db));
    db_destroy(&db);
    return status == DB_OK ? 0 : -1;
}

/* Each test gets the full numbered outbox and a DEALER of its own. */
static int setup(void **state)
{
    (void)state;
    if (fill_outbox() != 0)
        return -1;
    dealer = zmq_socket(zctx, ZMQ_DEALER);
    if (!dealer)
        return -1;
    int linger = 0, hwm = 10000;
    zmq_setsockopt(dealer, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(dealer, ZMQ_RCVHWM, &hwm, sizeof hwm);
    return zmq_connect(dealer, endpoint);
}

static int teardown(void **state)
{
    (void)state;
    if (dealer)
        zmq_close(dealer);
    dealer = NULL;
    return 0;
}

int main(void)
{
    base_url = getenv("TEST_DATABASE_URL");
    if (!base_url || !base_url[0]) {
        fprintf(stderr, "test_replay: TEST_DATABASE_URL is not set (tests/run.sh sets it)\n");
        return 1;
    }
    alarm(120); /* a hang fails the run instead of stalling it */
#define REPLAY_TEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        REPLAY_TEST(test_range_comes_in_order),
        REPLAY_TEST(test_at_most_a_thousand),
        REPLAY_TEST(test_beyond_head_is_ok_with_none),
        REPLAY_TEST(test_other_epoch_is_epoch_changed),
        REPLAY_TEST(test_purged_range_is_truncated),
        REPLAY_TEST(test_hole_stops_the_batch),
        REPLAY_TEST(test_unknown_stream),
        REPLAY_TEST(test_stream_not_opened_is_unavailable),
        REPLAY_TEST(test_malformed_requests_are_ignored),
        REPLAY_TEST(test_head_only_sends_no_events),
        REPLAY_TEST(test_bound_endpoint_is_refused),
        REPLAY_TEST(test_unavailable_until_opened),
    };
    int failed = cmocka_run_group_tests(tests, group_setup, group_teardown);
    metrics_shutdown();
    return failed;
}
