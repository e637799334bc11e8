/*
 * pbjson.c — protobuf-c messages to JSON and back (pbjson.h).
 *
 * Walks the descriptor's fields. Messages built from JSON are allocated
 * the way protobuf_c_message_unpack allocates them (the default
 * allocator, every string, array and sub-message malloc'd), so
 * protobuf_c_message_free_unpacked frees them.
 */
#include "common/pbjson.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64url.h"
#include "common/utf8.h"

/* a field of a message at a descriptor's offset, to read or to write */
#define READ(type, msg, offset)   (*(const type *)(const void *)((const char *)(msg) + (offset)))
#define MEMBER(type, msg, offset) (*(type *)(void *)((char *)(msg) + (offset)))

/* ------------------------------------------------------------------ */
/* message -> JSON                                                      */

static json_t *value_to_json(const ProtobufCFieldDescriptor *field, const void *slot)
{
    switch (field->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        return json_integer(*(const int32_t *)slot);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return json_integer(*(const uint32_t *)slot);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        return json_integer(*(const int64_t *)slot);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: {
        uint64_t v = *(const uint64_t *)slot;
        return v <= INT64_MAX ? json_integer((json_int_t)v) : json_real((double)v);
    }
    case PROTOBUF_C_TYPE_FLOAT:
        return json_real(*(const float *)slot);
    case PROTOBUF_C_TYPE_DOUBLE:
        return json_real(*(const double *)slot);
    case PROTOBUF_C_TYPE_BOOL:
        return json_boolean(*(const protobuf_c_boolean *)slot);
    case PROTOBUF_C_TYPE_ENUM: {
        int v = *(const int *)slot;
        const ProtobufCEnumValue *named =
            protobuf_c_enum_descriptor_get_value(field->descriptor, v);
        return named ? json_string(named->name) : json_integer(v);
    }
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)slot;
        json_t *out = json_string(s ? s : "");
        if (out || !s)
            return out;
        /* protobuf-c does not hold proto3 strings to UTF-8: such text is
         * written with '?' for its bad bytes rather than lost with the
         * whole message (NULL means out of memory to callers) */
        char *repaired = strdup(s);
        if (!repaired)
            return NULL;
        utf8_repair(repaired);
        out = json_string(repaired);
        free(repaired);
        return out;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *b = slot;
        char *text = malloc(b->len * 4 / 3 + 4);
        if (!text)
            return NULL;
        base64url_encode(b->data, b->len, text, b->len * 4 / 3 + 4);
        json_t *out = json_string(text);
        free(text);
        return out;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *sub = *(ProtobufCMessage *const *)slot;
        return sub ? pbjson_from_message(sub) : json_null();
    }
    }
    return NULL;
}

static size_t slot_size(const ProtobufCFieldDescriptor *field)
{
    switch (field->type) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return sizeof(uint64_t);
    case PROTOBUF_C_TYPE_DOUBLE:
        return sizeof(double);
    case PROTOBUF_C_TYPE_FLOAT:
        return sizeof(float);
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_ENUM:
        return sizeof(int);
    case PROTOBUF_C_TYPE_STRING:
        return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(ProtobufCMessage *);
    default:
        return sizeof(uint32_t);
    }
}

json_t *pbjson_from_message(const ProtobufCMessage *msg)
{
    const ProtobufCMessageDescriptor *desc = msg->descriptor;
    json_t *out = json_object();
    for (unsigned i = 0; out && i < desc->n_fields; i++) {
        const ProtobufCFieldDescriptor *field = &desc->fields[i];
        json_t *value = NULL;
        if ((field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            READ(uint32_t, msg, field->quantifier_offset) != field->id)
            continue; /* another member of its oneof is the one set */
        if (field->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = READ(size_t, msg, field->quantifier_offset);
            const char *items = *(char *const *)(const void *)((const char *)msg + field->offset);
            value = json_array();
            for (size_t k = 0; value && k < n; k++) {
                if (json_array_append_new(
                        value, value_to_json(field, items + k * slot_size(field))) != 0) {
                    json_decref(value);
                    value = NULL;
                }
            }
        } else {
            value = value_to_json(field, (const char *)msg + field->offset);
        }
        if (!value || json_object_set_new(out, field->name, value) != 0) {
            json_decref(out);
            out = NULL;
        }
    }
    return out;
}

/* ------------------------------------------------------------------ */
/* JSON -> message                                                      */

static bool fail(char *why, size_t why_size, const char *path, const char *what)
{
    if (why && why_size)
        snprintf(why, why_size, "%s: %s", path, what);
    return false;
}

static bool integer_in(const json_t *json, json_int_t min, json_int_t max, json_int_t *out)
{
    if (!json_is_integer(json))
        return false;
    *out = json_integer_value(json);
    return *out >= min && *out <= max;
}

static bool value_from_json(const ProtobufCFieldDescriptor *field, const json_t *json, void *slot,
                            const char *path, char *why, size_t why_size)
{
    json_int_t v = 0;
    switch (field->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        if (!integer_in(json, INT32_MIN, INT32_MAX, &v))
            return fail(why, why_size, path, "must be an integer within 32 bits");
        *(int32_t *)slot = (int32_t)v;
        return true;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        if (!integer_in(json, 0, UINT32_MAX, &v))
            return fail(why, why_size, path, "must be a non-negative integer within 32 bits");
        *(uint32_t *)slot = (uint32_t)v;
        return true;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        if (!json_is_integer(json))
            return fail(why, why_size, path, "must be an integer");
        *(int64_t *)slot = json_integer_value(json);
        return true;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        if (!integer_in(json, 0, INT64_MAX, &v))
            return fail(why, why_size, path, "must be a non-negative integer");
        *(uint64_t *)slot = (uint64_t)v;
        return true;
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE:
        if (!json_is_number(json))
            return fail(why, why_size, path, "must be a number");
        if (field->type == PROTOBUF_C_TYPE_FLOAT)
            *(float *)slot = (float)json_number_value(json);
        else
            *(double *)slot = json_number_value(json);
        return true;
    case PROTOBUF_C_TYPE_BOOL:
        if (!json_is_boolean(json))
            return fail(why, why_size, path, "must be true or false");
        *(protobuf_c_boolean *)slot = json_is_true(json);
        return true;
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumValue *named = NULL;
        if (json_is_string(json))
            named = protobuf_c_enum_descriptor_get_value_by_name(field->descriptor,
                                                                 json_string_value(json));
        else if (integer_in(json, INT32_MIN, INT32_MAX, &v))
            named = protobuf_c_enum_descriptor_get_value(field->descriptor, (int)v);
        if (!named)
            return fail(why, why_size, path, "is not a value of its enum");
        *(int *)slot = named->value;
        return true;
    }
    case PROTOBUF_C_TYPE_STRING: {
        if (!json_is_string(json))
            return fail(why, why_size, path, "must be a string");
        char *copy = strdup(json_string_value(json));
        if (!copy)
            return fail(why, why_size, path, "out of memory");
        *(char **)slot = copy;
        return true;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const char *text = json_string_value(json);
        if (!text)
            return fail(why, why_size, path, "must be a base64url string");
        size_t len = strlen(text), got = 0;
        uint8_t *data = malloc(len + 1);
        if (!data || base64url_decode(text, len, data, len + 1, &got) != 0) {
            free(data);
            return fail(why, why_size, path, "is not base64url without padding");
        }
        ProtobufCBinaryData *b = slot;
        b->data = data;
        b->len = got;
        return true;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        if (json_is_null(json))
            return true;
        char inner[256] = "";
        ProtobufCMessage *sub = pbjson_to_message(field->descriptor, json, inner, sizeof inner);
        if (!sub) {
            if (why && why_size)
                snprintf(why, why_size, "%s.%s", path, inner);
            return false;
        }
        *(ProtobufCMessage **)slot = sub;
        return true;
    }
    }
    return fail(why, why_size, path, "has a type this reader does not know");
}

/* Fills one field of msg from json; false (why set) if it does not fit. */
static bool field_from_json(ProtobufCMessage *msg, const ProtobufCFieldDescriptor *field,
                            const json_t *json, char *why, size_t why_size)
{
    if (field->label != PROTOBUF_C_LABEL_REPEATED) {
        if (!value_from_json(field, json, (char *)msg + field->offset, field->name, why, why_size))
            return false;
        if (field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
            MEMBER(uint32_t, msg, field->quantifier_offset) = field->id;
        else if (field->label == PROTOBUF_C_LABEL_OPTIONAL && field->quantifier_offset &&
                 field->type != PROTOBUF_C_TYPE_MESSAGE && field->type != PROTOBUF_C_TYPE_STRING)
            MEMBER(protobuf_c_boolean, msg, field->quantifier_offset) = 1;
        return true;
    }
    if (!json_is_array(json))
        return fail(why, why_size, field->name, "must be an array");
    size_t n = json_array_size(json);
    if (n == 0)
        return true;
    char *items = calloc(n, slot_size(field));
    if (!items)
        return fail(why, why_size, field->name, "out of memory");
    /* owned by msg from here on, so a failure midway is freed with it */
    MEMBER(char *, msg, field->offset) = items;
    for (size_t k = 0; k < n; k++) {
        char path[160];
        snprintf(path, sizeof path, "%s[%zu]", field->name, k);
        /* null leaves a sub-message out, but a list has no hole to leave:
         * protobuf-c would follow the NULL when it packs */
        if (field->type == PROTOBUF_C_TYPE_MESSAGE && json_is_null(json_array_get(json, k)))
            return fail(why, why_size, path, "must be an object, not null");
        if (!value_from_json(field, json_array_get(json, k), items + k * slot_size(field), path,
                             why, why_size))
            return false;
        MEMBER(size_t, msg, field->quantifier_offset) = k + 1;
    }
    return true;
}

ProtobufCMessage *pbjson_to_message(const ProtobufCMessageDescriptor *desc, const json_t *json,
                                    char *why, size_t why_size)
{
    if (!json_is_object(json)) {
        fail(why, why_size, desc->short_name, "must be a JSON object");
        return NULL;
    }
    ProtobufCMessage *msg = malloc(desc->sizeof_message);
    if (!msg) {
        fail(why, why_size, desc->short_name, "out of memory");
        return NULL;
    }
    desc->message_init(msg);
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)(uintptr_t)json, key, value)
    {
        const ProtobufCFieldDescriptor *field =
            protobuf_c_message_descriptor_get_field_by_name(desc, key);
        if (!field) {
            char what[200];
            snprintf(what, sizeof what, "is not a field of %s", desc->short_name);
            fail(why, why_size, key, what);
            protobuf_c_message_free_unpacked(msg, NULL);
            return NULL;
        }
        if (!field_from_json(msg, field, value, why, why_size)) {
            protobuf_c_message_free_unpacked(msg, NULL);
            return NULL;
        }
    }
    return msg;
}
