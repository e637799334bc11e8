/*
 * fuzz_pbjson_wire.c — protobuf to JSON (common/pbjson.c) for every
 * message of the event catalogue (common/catalogue.c), as the order
 * service turns a payment or shipping fact from the bus into the JSON of
 * an order's history.
 *
 * Input: "<stream>/<type>\n" naming a catalogue topic, then the payload
 * bytes. Checks, for a payload that unpacks: it becomes JSON (NULL is for
 * out of memory only); when JSON can hold it exactly (UTF-8 strings,
 * unsigned numbers within JSON's integers, enum values that have a name)
 * that JSON reads back (pbjson_to_message) as a message that gives the
 * same JSON, and so does that message packed and unpacked again; when it
 * cannot, reading it back is refused or done without a crash or a leak.
 */
#include <stdbool.h>
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

static bool utf8_ok(const char *text)
{
    json_t *probe = json_string(text);
    json_decref(probe);
    return probe != NULL;
}

/* Whether every value of msg has a JSON form that reads back exactly. */
static bool representable(const ProtobufCMessage *msg)
{
    const ProtobufCMessageDescriptor *desc = msg->descriptor;
    for (unsigned i = 0; i < desc->n_fields; i++) {
        const ProtobufCFieldDescriptor *field = &desc->fields[i];
        const char *base = (const char *)msg + field->offset;
        size_t n = 1;
        if (field->label == PROTOBUF_C_LABEL_REPEATED) {
            n = *(const size_t *)(const void *)((const char *)msg + field->quantifier_offset);
            base = *(const char *const *)(const void *)base;
        }
        for (size_t k = 0; k < n; k++) {
            switch (field->type) {
            case PROTOBUF_C_TYPE_UINT64:
            case PROTOBUF_C_TYPE_FIXED64:
                if (((const uint64_t *)(const void *)base)[k] > INT64_MAX)
                    return false;
                break;
            case PROTOBUF_C_TYPE_ENUM:
                if (!protobuf_c_enum_descriptor_get_value(field->descriptor,
                                                          ((const int *)(const void *)base)[k]))
                    return false;
                break;
            case PROTOBUF_C_TYPE_STRING: {
                const char *text = ((const char *const *)(const void *)base)[k];
                if (text && !utf8_ok(text))
                    return false;
                break;
            }
            case PROTOBUF_C_TYPE_MESSAGE: {
                const ProtobufCMessage *sub =
                    ((const ProtobufCMessage *const *)(const void *)base)[k];
                if (sub && !representable(sub))
                    return false;
                break;
            }
            default:
                break;
            }
        }
    }
    return true;
}

static json_t *from_wire(const ProtobufCMessageDescriptor *desc, const uint8_t *bytes, size_t len)
{
    ProtobufCMessage *msg = protobuf_c_message_unpack(desc, NULL, len, bytes);
    FUZZ_CHECK(msg != NULL);
    json_t *json = pbjson_from_message(msg);
    protobuf_c_message_free_unpacked(msg, NULL);
    return json;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char topic[128];
    const uint8_t *payload;
    size_t payload_len;
    if (fuzz_split_line(data, size, topic, sizeof topic, &payload, &payload_len) != 0)
        return 0;
    char *slash = strchr(topic, '/');
    if (!slash)
        return 0;
    *slash = '\0';
    const catalogue_topic_t *entry = catalogue_find(topic, slash + 1);
    if (!entry)
        return 0;
    const ProtobufCMessageDescriptor *desc = entry->message;

    ProtobufCMessage *msg = protobuf_c_message_unpack(desc, NULL, payload_len, payload);
    if (!msg)
        return 0;
    bool exact = representable(msg);
    json_t *json = pbjson_from_message(msg);
    protobuf_c_message_free_unpacked(msg, NULL);
    /* NULL means out of memory: the order service retries a fact then */
    FUZZ_CHECK(json != NULL);

    char why[256] = "";
    ProtobufCMessage *back = pbjson_to_message(desc, json, why, sizeof why);
    if (!exact) {
        if (back)
            protobuf_c_message_free_unpacked(back, NULL);
        json_decref(json);
        return 0;
    }
    if (!back)
        fprintf(stderr, "pbjson_to_message refused its own JSON: %s\n", why);
    FUZZ_CHECK(back != NULL);
    json_t *again = pbjson_from_message(back);
    FUZZ_CHECK(again != NULL && json_equal(json, again));

    size_t len = protobuf_c_message_get_packed_size(back);
    uint8_t *wire = malloc(len ? len : 1);
    FUZZ_CHECK(wire != NULL);
    FUZZ_CHECK(protobuf_c_message_pack(back, wire) == len);
    json_t *third = from_wire(desc, wire, len);
    FUZZ_CHECK(third != NULL && json_equal(json, third));

    json_decref(third);
    free(wire);
    json_decref(again);
    protobuf_c_message_free_unpacked(back, NULL);
    json_decref(json);
    return 0;
}
