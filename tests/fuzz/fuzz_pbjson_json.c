/*
 * fuzz_pbjson_json.c — JSON to protobuf (common/pbjson.c) for every
 * message of the event catalogue (common/catalogue.c), as tools and tests
 * publish events written as JSON (tests/integration/kit/factfeed.c).
 *
 * Input: "<stream>/<type>\n" naming a catalogue topic, then JSON text.
 * Checks: a refusal says why; a message read from JSON is complete
 * enough to pack (no hole where a sub-message belongs), and its JSON form
 * is the same whether taken directly, after the wire (pack and unpack) or
 * after reading that JSON again.
 */
#include <stdint.h>
#include <string.h>

#include "proto/conveyor/catalogue.h"
#include "common/pbjson.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    json_object_seed(1); /* the same input takes the same path every run */
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char topic[128];
    const uint8_t *text;
    size_t text_len;
    if (fuzz_split_line(data, size, topic, sizeof topic, &text, &text_len) != 0)
        return 0;
    char *slash = strchr(topic, '/');
    if (!slash)
        return 0;
    *slash = '\0';
    const catalogue_topic_t *entry = catalogue_find(topic, slash + 1);
    if (!entry)
        return 0;
    const ProtobufCMessageDescriptor *desc = entry->message;
    json_t *in = json_loadb((const char *)text, text_len, 0, NULL);
    if (!in)
        return 0;

    char why[256] = "";
    ProtobufCMessage *msg = pbjson_to_message(desc, in, why, sizeof why);
    /* without a buffer for the reason it must decide the same */
    ProtobufCMessage *quiet = pbjson_to_message(desc, in, NULL, 0);
    FUZZ_CHECK((msg == NULL) == (quiet == NULL));
    if (quiet)
        protobuf_c_message_free_unpacked(quiet, NULL);
    json_decref(in);
    if (!msg) {
        FUZZ_CHECK(why[0] != '\0');
        return 0;
    }
    FUZZ_CHECK(protobuf_c_message_check(msg));
    json_t *json = pbjson_from_message(msg);
    FUZZ_CHECK(json != NULL);

    size_t len = protobuf_c_message_get_packed_size(msg);
    uint8_t *wire = malloc(len ? len : 1);
    FUZZ_CHECK(wire != NULL);
    FUZZ_CHECK(protobuf_c_message_pack(msg, wire) == len);
    ProtobufCMessage *unpacked = protobuf_c_message_unpack(desc, NULL, len, wire);
    FUZZ_CHECK(unpacked != NULL);
    json_t *after_wire = pbjson_from_message(unpacked);
    FUZZ_CHECK(after_wire != NULL && json_equal(json, after_wire));

    ProtobufCMessage *again = pbjson_to_message(desc, json, why, sizeof why);
    if (!again)
        fprintf(stderr, "pbjson_to_message refused its own JSON: %s\n", why);
    FUZZ_CHECK(again != NULL);
    json_t *after_json = pbjson_from_message(again);
    FUZZ_CHECK(after_json != NULL && json_equal(json, after_json));

    json_decref(after_json);
    protobuf_c_message_free_unpacked(again, NULL);
    json_decref(after_wire);
    protobuf_c_message_free_unpacked(unpacked, NULL);
    free(wire);
    json_decref(json);
    protobuf_c_message_free_unpacked(msg, NULL);
    return 0;
}
