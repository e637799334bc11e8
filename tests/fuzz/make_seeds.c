/*
 * make_seeds.c — writes the binary seeds of the fuzz corpus (make
 * fuzz-seeds), so that every payload, envelope, replay frame and token
 * in tests/fuzz/corpus/ is what conveyor's own code packs and signs today.
 *
 * The catalogue events are written by hand as JSON, one per topic, in
 * corpus/pbjson_json/ ("<stream>/<type>\n{...}"); from each this packs
 * the payload (pbjson_wire, and intake_bus for ext/intake.order), wraps
 * it in an envelope as a relay or an outside publisher would (frame, and
 * an EVENT answer for replay_answer, and a batch frame of each stream's
 * envelopes for batch), and adds heartbeats, replay
 * requests and ENDs and staff tokens signed with fuzz_token's keys. Run it
 * again when a proto changes; the files it writes are committed.
 *
 *     build/bin/fuzz-seeds tests/fuzz/corpus
 */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/auth.h"
#include "common/base64url.h"
#include "common/busbatch.h"
#include "proto/conveyor/catalogue.h"
#include "common/envelope.h"
#include "common/pbjson.h"
#include "common/replay.h"
#include "tests/fuzz/fuzz.h"

#define EPOCH_MS 1767225600000ULL /* 2026-01-01, the epoch of the seeds' streams */

static const char *corpus;
static int failures;

/* Writes the parts one after the other into corpus/<target>/<name>. */
static void put(const char *target, const char *name, const void *const *parts, const size_t *lens,
                size_t count)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", corpus, target);
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "make_seeds: cannot create %s: %s\n", path, strerror(errno));
        failures++;
        return;
    }
    snprintf(path, sizeof path, "%s/%s/%s", corpus, target, name);
    FILE *file = fopen(path, "wb");
    bool ok = file != NULL;
    for (size_t i = 0; ok && i < count; i++)
        ok = lens[i] == 0 || fwrite(parts[i], 1, lens[i], file) == lens[i];
    if (file && fclose(file) != 0)
        ok = false;
    if (!ok) {
        fprintf(stderr, "make_seeds: cannot write %s\n", path);
        failures++;
    }
}

static void put2(const char *target, const char *name, const void *a, size_t a_len, const void *b,
                 size_t b_len)
{
    const void *parts[] = {a, b};
    size_t lens[] = {a_len, b_len};
    put(target, name, parts, lens, 2);
}

/* A packed message; caller frees *bytes_out. */
static void pack(const ProtobufCMessage *msg, uint8_t **bytes_out, size_t *len_out)
{
    *len_out = protobuf_c_message_get_packed_size(msg);
    *bytes_out = malloc(*len_out ? *len_out : 1);
    FUZZ_CHECK(*bytes_out != NULL);
    protobuf_c_message_pack(msg, *bytes_out);
}

/* [one length byte][first][second]: how fuzz_split cuts an input. */
static uint8_t *length_prefixed(const void *first, size_t first_len, const void *second,
                                size_t second_len, size_t *len_out)
{
    FUZZ_CHECK(first_len <= 255);
    *len_out = 1 + first_len + second_len;
    uint8_t *bytes = malloc(*len_out);
    FUZZ_CHECK(bytes != NULL);
    bytes[0] = (uint8_t)first_len;
    memcpy(bytes + 1, first, first_len);
    if (second_len)
        memcpy(bytes + 1 + first_len, second, second_len);
    return bytes;
}

#define SEED_BATCHES 8

/* A batch frame (fuzz_batch) per stream of the frames seeded, and one of
 * every envelope (mixed streams). */
static struct {
    char stream[BUS_NAME_MAX];
    bus_batch_t *batch;
} batches[SEED_BATCHES];
static bus_batch_t *mixed_batch;

static void batch_seed_add(const char *stream, const uint8_t *packed, size_t packed_len)
{
    if (!mixed_batch)
        mixed_batch = bus_batch_new();
    FUZZ_CHECK(mixed_batch != NULL);
    if (bus_batch_fits(mixed_batch, packed_len))
        bus_batch_add(mixed_batch, packed, packed_len);
    for (size_t i = 0; i < SEED_BATCHES; i++) {
        if (!batches[i].batch) {
            snprintf(batches[i].stream, sizeof batches[i].stream, "%s", stream);
            batches[i].batch = bus_batch_new();
            FUZZ_CHECK(batches[i].batch != NULL);
        }
        if (strcmp(batches[i].stream, stream) == 0) {
            if (bus_batch_fits(batches[i].batch, packed_len))
                bus_batch_add(batches[i].batch, packed, packed_len);
            return;
        }
    }
}

static void batch_seeds(void)
{
    for (size_t i = 0; i < SEED_BATCHES && batches[i].batch; i++) {
        put2("batch", batches[i].stream, batches[i].batch->buf, batches[i].batch->len, NULL, 0);
        bus_batch_destroy(&batches[i].batch);
    }
    if (mixed_batch)
        put2("batch", "mixed-streams", mixed_batch->buf, mixed_batch->len, NULL, 0);
    bus_batch_destroy(&mixed_batch);
}

/* A frame and the replay EVENT that carries it. */
static void put_frame(const char *name, const char *topic, const Conveyor__Envelope *env)
{
    uint8_t *packed;
    size_t packed_len, frame_len, event_len;
    pack(&env->base, &packed, &packed_len);
    batch_seed_add(env->stream, packed, packed_len);
    uint8_t *frame = length_prefixed(topic, strlen(topic), packed, packed_len, &frame_len);
    put2("frame", name, frame, frame_len, NULL, 0);
    uint8_t *event =
        length_prefixed(REPLAY_CMD_EVENT, strlen(REPLAY_CMD_EVENT), frame, frame_len, &event_len);
    char event_name[300];
    snprintf(event_name, sizeof event_name, "event-%s", name);
    put2("replay_answer", event_name, event, event_len, NULL, 0);
    free(event);
    free(frame);
    free(packed);
}

/* One catalogue event written as JSON: its payload and its envelope. */
static void from_json_seed(const char *name, const char *text, uint64_t seq)
{
    const char *newline = strchr(text, '\n');
    char topic[128];
    if (!newline || (size_t)(newline - text) >= sizeof topic)
        return;
    memcpy(topic, text, (size_t)(newline - text));
    topic[newline - text] = '\0';
    char stream[BUS_NAME_MAX], type[BUS_TOPIC_MAX];
    if (bus_topic_split(topic, strlen(topic), stream, type, sizeof type) != 0)
        return;
    const catalogue_topic_t *entry = catalogue_find(stream, type);
    json_t *json = json_loads(newline + 1, 0, NULL);
    char why[256] = "";
    ProtobufCMessage *msg =
        entry && json ? pbjson_to_message(entry->message, json, why, sizeof why) : NULL;
    if (!msg) {
        fprintf(stderr, "make_seeds: %s is not a %s event: %s\n", name, topic, why);
        failures++;
        json_decref(json);
        return;
    }
    uint8_t *payload;
    size_t payload_len;
    pack(msg, &payload, &payload_len);

    char line[130];
    int line_len = snprintf(line, sizeof line, "%s\n", topic);
    put2("pbjson_wire", name, line, (size_t)line_len, payload, payload_len);
    bool external = strcmp(stream, BUS_STREAM_EXT) == 0;
    if (external && strcmp(type, "intake.order") == 0)
        put2("intake_bus", name, payload, payload_len, NULL, 0);

    char event_id[40];
    snprintf(event_id, sizeof event_id, "0195d2a4-0000-7000-8000-%012llx", (unsigned long long)seq);
    const char *order_id = json_string_value(json_object_get(json, "order_id"));
    const char *source = json_string_value(json_object_get(json, "source"));
    Conveyor__Envelope env = CONVEYOR__ENVELOPE__INIT;
    env.event_id = event_id;
    env.stream = pb_lend(external ? (source ? source : "site-main") : stream);
    env.seq = external ? 0 : seq;
    env.epoch = external ? 0 : EPOCH_MS;
    env.type = type;
    env.occurred_at_ms = (int64_t)EPOCH_MS + (int64_t)seq * 1000;
    env.correlation_id = pb_lend(order_id ? order_id : "");
    env.causation_id = pb_lend(external ? "" : "0195d2a4-0000-7000-8000-000000000001");
    env.schema_version = 1;
    env.payload.data = payload;
    env.payload.len = payload_len;
    put_frame(name, topic, &env);

    free(payload);
    protobuf_c_message_free_unpacked(msg, NULL);
    json_decref(json);
}

static int skip_dot(const struct dirent *entry)
{
    return entry->d_name[0] != '.';
}

static void catalogue_seeds(void)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/pbjson_json", corpus);
    struct dirent **entries = NULL;
    int n = scandir(dir, &entries, skip_dot, alphasort);
    if (n < 0) {
        fprintf(stderr, "make_seeds: cannot list %s: %s\n", dir, strerror(errno));
        failures++;
        return;
    }
    for (int i = 0; i < n; i++) {
        char path[1400];
        snprintf(path, sizeof path, "%s/%s", dir, entries[i]->d_name);
        FILE *file = fopen(path, "rb");
        char text[16384];
        size_t len = file ? fread(text, 1, sizeof text - 1, file) : 0;
        if (file)
            fclose(file);
        text[len] = '\0';
        char name[300];
        snprintf(name, sizeof name, "%s", entries[i]->d_name);
        char *dot = strrchr(name, '.');
        if (dot && strcmp(dot, ".json") == 0)
            *dot = '\0';
        from_json_seed(name, text, (uint64_t)(i + 2));
        free(entries[i]);
    }
    free(entries);
}

static void heartbeat_seed(void)
{
    Conveyor__Heartbeat beat = CONVEYOR__HEARTBEAT__INIT;
    beat.last_seq = 4812;
    beat.purged_through = 1000;
    uint8_t *payload;
    size_t payload_len;
    pack(&beat.base, &payload, &payload_len);
    Conveyor__Envelope env = CONVEYOR__ENVELOPE__INIT;
    env.event_id = pb_lend("0195d2a4-0000-7000-8000-0000000012cc");
    env.stream = pb_lend("order");
    env.seq = 4812;
    env.epoch = EPOCH_MS;
    env.type = pb_lend(BUS_TYPE_HEARTBEAT);
    env.occurred_at_ms = (int64_t)EPOCH_MS + 86400000;
    env.schema_version = 1;
    env.payload.data = payload;
    env.payload.len = payload_len;
    put_frame("order-hb", "order/$hb", &env);
    free(payload);
}

static void replay_seeds(void)
{
    static const struct {
        const char *name, *stream;
        uint64_t epoch, from_seq;
        uint32_t max_events;
        uint64_t request_id;
        bool head_only;
    } requests[] = {
        {"order-from-start", "order", 0, 1, 0, 1, false},
        {"inventory-catch-up", "inventory", EPOCH_MS, 1001, 500, 77, false},
        {"payment-head-only", "payment", EPOCH_MS, 0, 0, 9001, true},
        {"shipping-far-seq", "shipping", EPOCH_MS, 18446744073709551615ULL, 1000, 3, false},
    };
    for (size_t i = 0; i < sizeof requests / sizeof requests[0]; i++) {
        Conveyor__ReplayRequest request = CONVEYOR__REPLAY_REQUEST__INIT;
        request.stream = pb_lend(requests[i].stream);
        request.epoch = requests[i].epoch;
        request.from_seq = requests[i].from_seq;
        request.max_events = requests[i].max_events;
        request.request_id = requests[i].request_id;
        request.head_only = requests[i].head_only;
        uint8_t *packed, *input;
        size_t packed_len, input_len;
        pack(&request.base, &packed, &packed_len);
        input = length_prefixed(REPLAY_CMD_REQUEST, strlen(REPLAY_CMD_REQUEST), packed, packed_len,
                                &input_len);
        put2("replay_request", requests[i].name, input, input_len, NULL, 0);
        free(input);
        free(packed);
    }

    static const struct {
        const char *name;
        Conveyor__ReplayEnd__Status status;
        uint64_t last_sent_seq, head_seq, purged_through;
    } ends[] = {
        {"end-ok", CONVEYOR__REPLAY_END__STATUS__OK, 2000, 2000, 0},
        {"end-partial", CONVEYOR__REPLAY_END__STATUS__PARTIAL, 1312, 4812, 1000},
        {"end-truncated", CONVEYOR__REPLAY_END__STATUS__TRUNCATED, 0, 4812, 1000},
        {"end-epoch-changed", CONVEYOR__REPLAY_END__STATUS__EPOCH_CHANGED, 0, 12, 0},
        {"end-unknown-stream", CONVEYOR__REPLAY_END__STATUS__UNKNOWN_STREAM, 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof ends / sizeof ends[0]; i++) {
        Conveyor__ReplayEnd end = CONVEYOR__REPLAY_END__INIT;
        end.status = ends[i].status;
        end.request_id = 77;
        end.stream = pb_lend("inventory");
        end.epoch = EPOCH_MS;
        end.last_sent_seq = ends[i].last_sent_seq;
        end.head_seq = ends[i].head_seq;
        end.purged_through = ends[i].purged_through;
        uint8_t *packed, *input;
        size_t packed_len, input_len;
        pack(&end.base, &packed, &packed_len);
        input =
            length_prefixed(REPLAY_CMD_END, strlen(REPLAY_CMD_END), packed, packed_len, &input_len);
        put2("replay_answer", ends[i].name, input, input_len, NULL, 0);
        free(input);
        free(packed);
    }
}

static void token_seeds(void)
{
    /* mode 0: tokens as conveyor issues them, valid for a century */
    auth_config_t config = {.keys = "fuzz-1:" FUZZ_JWT_KEY_1 ",fuzz-2:" FUZZ_JWT_KEY_2,
                            .ttl_ms = 100LL * 365 * 86400 * 1000};
    auth_t *auth = auth_new(&config);
    FUZZ_CHECK(auth != NULL);
    static const struct {
        const char *name, *subject, *display;
        unsigned roles;
    } people[] = {
        {"issued-admin", "staff-1", "Анна Кузнецова", ROLE_ADMIN},
        {"issued-manager", "staff-17", "Ольга Петрова", ROLE_MANAGER},
        {"issued-warehouse-courier", "staff-40", "Игорь Смирнов", ROLE_WAREHOUSE | ROLE_COURIER},
        {"issued-system", "system", "", ROLE_SYSTEM},
    };
    const uint8_t mode0 = 0;
    for (size_t i = 0; i < sizeof people / sizeof people[0]; i++) {
        char *token = auth_issue(auth, people[i].subject, people[i].display, people[i].roles);
        FUZZ_CHECK(token != NULL);
        put2("token", people[i].name, &mode0, 1, token, strlen(token));
        free(token);
    }
    auth_destroy(&auth);

    /* unsigned ("none"), and one cut short after its claims' first bytes */
    static const char none_header[] = "{\"alg\":\"none\",\"typ\":\"JWT\"}";
    static const char none_claims[] = "{\"sub\":\"staff-1\",\"aud\":\"conveyor\",\"iss\":"
                                      "\"conveyor\",\"exp\":4102444800,\"roles\":[\"admin\"]}";
    char token[512];
    size_t n = base64url_encode(none_header, strlen(none_header), token, sizeof token);
    token[n++] = '.';
    n += base64url_encode(none_claims, strlen(none_claims), token + n, sizeof token - n);
    token[n++] = '.';
    put2("token", "alg-none", &mode0, 1, token, n);
    put2("token", "truncated", &mode0, 1, token, n / 2);

    /* mode 1: our header, these claims */
    static const char *const claims[][2] = {
        {"claims-manager", "{\"sub\":\"staff-17\",\"name\":\"Ольга Петрова\",\"aud\":\"conveyor\","
                           "\"iss\":\"conveyor\",\"iat\":1767225600,\"exp\":4102444800,"
                           "\"roles\":[\"manager\"]}"},
        {"claims-expired", "{\"sub\":\"staff-17\",\"aud\":\"conveyor\",\"iss\":\"conveyor\","
                           "\"exp\":1767225600,\"roles\":[\"admin\"]}"},
        {"claims-other-audience", "{\"sub\":\"staff-2\",\"aud\":\"billing\",\"iss\":\"conveyor\","
                                  "\"exp\":4102444800,\"roles\":[\"admin\",\"courier\"]}"},
        {"claims-no-roles", "{\"sub\":\"staff-3\",\"aud\":\"conveyor\",\"iss\":\"conveyor\","
                            "\"exp\":4102444800,\"roles\":[\"owner\"]}"},
        {"claims-exp-text", "{\"sub\":\"staff-3\",\"aud\":\"conveyor\",\"iss\":\"conveyor\","
                            "\"exp\":\"4102444800\",\"roles\":[\"admin\"]}"},
    };
    const uint8_t mode1 = 1;
    for (size_t i = 0; i < sizeof claims / sizeof claims[0]; i++)
        put2("token", claims[i][0], &mode1, 1, claims[i][1], strlen(claims[i][1]));

    /* mode 2: a header of the sender's choosing too */
    static const char *const headers[][3] = {
        {"header-kid-2", "{\"alg\":\"HS256\", \"typ\":\"JWT\",\"kid\":\"fuzz-2\"}",
         "{\"sub\":\"staff-1\",\"aud\":\"conveyor\",\"iss\":\"conveyor\",\"exp\":4102444800,"
         "\"roles\":[\"admin\"]}"},
        {"header-rs256", "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"fuzz-1\"}",
         "{\"sub\":\"staff-1\",\"aud\":\"conveyor\",\"iss\":\"conveyor\",\"exp\":4102444800,"
         "\"roles\":[\"admin\"]}"},
        {"header-no-kid", "{\"alg\":\"HS256\"}",
         "{\"sub\":\"staff-1\",\"aud\":\"conveyor\",\"iss\":\"conveyor\",\"exp\":4102444800,"
         "\"roles\":[\"admin\"]}"},
    };
    for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++) {
        /* the length byte's low bit picks the key: fuzz-2's for an odd length */
        size_t input_len;
        uint8_t *input = length_prefixed(headers[i][1], strlen(headers[i][1]), headers[i][2],
                                         strlen(headers[i][2]), &input_len);
        const uint8_t mode2 = 2;
        put2("token", headers[i][0], &mode2, 1, input, input_len);
        free(input);
    }
}

int main(int argc, char **argv)
{
    corpus = argc > 1 ? argv[1] : "tests/fuzz/corpus";
    json_object_seed(1);
    catalogue_seeds();
    heartbeat_seed();
    replay_seeds();
    token_seeds();
    batch_seeds();
    if (failures)
        fprintf(stderr, "make_seeds: %d seeds could not be written\n", failures);
    return failures ? 1 : 0;
}
