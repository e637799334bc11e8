/*
 * check_rfc2047.h — reading back what mime.c's encoded-word writer wrote
 * (services/notification/adapters/mime.h), for fuzz_rfc2047 and the
 * adapters' unit tests: an independent decoder that also says whether
 * each rule of RFC 2047 held, so a round trip checks more than equality.
 */
#ifndef CONVEYOR_CHECK_RFC2047_H
#define CONVEYOR_CHECK_RFC2047_H

#include <stdbool.h>
#include <stddef.h>

/* Decodes a header value as written at column (its folds and words) into
 * out (size bytes, NUL-terminated). Returns NULL when all held, else the
 * rule broken: a line over 76 (78 for plain text), a word over 75, a
 * word that is not whole UTF-8 characters, a fold that is not CRLF SP,
 * bad base64, or out too small. */
const char *check_rfc2047_decode(const char *value, size_t column, char *out, size_t size);

#endif
