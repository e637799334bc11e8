/*
 * hex.h — hexadecimal digits, both ways.
 *
 * UUIDs, bytea's hex output, percent-escapes in URLs and forms, SHA-256
 * fingerprints and lock tokens are all hex; one pair of functions reads
 * and writes it everywhere.
 */
#ifndef CONVEYOR_HEX_H
#define CONVEYOR_HEX_H

#include <stddef.h>

/* 0..15 for '0'-'9', 'a'-'f', 'A'-'F'; -1 for anything else. */
int hex_value(char c);

/* n bytes as 2n lower-case hex digits and a NUL into out (2n + 1 bytes). */
void hex_encode(const void *bytes, size_t n, char *out);

#endif
