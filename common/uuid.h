/*
 * uuid.h — event ids.
 *
 * Every event gets a UUID. A root event (an HTTP request, a timer) gets a
 * random one (v4); an event a handler emits gets UUIDv5(causation_id, n)
 * (DESIGN.md), where n is its index among the events that one cause
 * emitted, written as decimal text. A handler that runs again after a crash
 * therefore emits the same ids, and the outbox's UNIQUE(event_id) makes the
 * repeat recognisable.
 */
#ifndef CONVEYOR_UUID_H
#define CONVEYOR_UUID_H

#include <stdbool.h>
#include <stdint.h>

#define UUID_TEXT_SIZE 37 /* 36 characters + NUL */

/* A random (version 4) UUID in lower-case text form. 0 ok, -1 if the
 * kernel's random source failed. */
int uuid_v4(char out[UUID_TEXT_SIZE]);

/* UUIDv5 (SHA-1) of the name "n" (decimal) in the namespace ns (UUID text).
 * -1 if ns is not a UUID. */
int uuid_v5_index(const char *ns, uint32_t n, char out[UUID_TEXT_SIZE]);

/* Parses canonical UUID text (any case) into 16 bytes; 0 ok, -1 invalid. */
int uuid_parse(const char *text, uint8_t bytes[16]);

/* True when text is a UUID in text form (uuid_parse would take it): the
 * one check of ids that come from outside (a path, a payload). */
bool uuid_valid(const char *text);

/* Formats 16 bytes as lower-case canonical text. */
void uuid_format(const uint8_t bytes[16], char out[UUID_TEXT_SIZE]);

#endif
