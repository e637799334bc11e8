/*
 * digest.h — SHA-256 as lower-case hex, the one way conveyor fingerprints
 * text: migration checksums, request bodies for idempotency, API keys and
 * refresh tokens kept only as their hash.
 */
#ifndef CONVEYOR_DIGEST_H
#define CONVEYOR_DIGEST_H

#include <stddef.h>

#define DIGEST_HEX_SIZE 65

/* 0 ok, -1 if the digest failed (out of memory). */
int digest_sha256_hex(const void *bytes, size_t len, char out[DIGEST_HEX_SIZE]);

/* n random bytes as lower-case hex into out (2n + 1 bytes); -1 if the
 * kernel's random source failed. For API keys and refresh tokens. */
int digest_random_hex(size_t n, char *out);

#endif
