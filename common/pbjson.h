/*
 * pbjson.h — protobuf-c messages to JSON and back, by their descriptors.
 *
 * A fact from another service lands in an order's history as JSON, and
 * tests and tools publish catalogue events written as JSON; both sides go
 * through the generated descriptors, so no message needs hand-written
 * conversion code. Field names are the .proto names; enums are written by
 * their value name and read by name or number; 64-bit integers are JSON
 * integers; bytes are base64url (no padding). A string that is not UTF-8
 * (protobuf-c does not check) is written with '?' for each bad byte.
 */
#ifndef CONVEYOR_PBJSON_H
#define CONVEYOR_PBJSON_H

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

/* Every field of msg (defaults included) as a new JSON object the caller
 * owns; NULL when out of memory. */
json_t *pbjson_from_message(const ProtobufCMessage *msg);

/* A new message of type desc from a JSON object; the caller frees it with
 * protobuf_c_message_free_unpacked(msg, NULL). Unknown fields, wrong JSON
 * types, out-of-range numbers, unknown enum names and null in a list of
 * messages are refused: NULL,
 * with the offending field's path and the reason in why. */
ProtobufCMessage *pbjson_to_message(const ProtobufCMessageDescriptor *desc, const json_t *json,
                                    char *why, size_t why_size);

#endif
