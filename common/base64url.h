/*
 * base64url.h — URL-safe base64 without padding (RFC 4648 §5).
 *
 * JWT headers (auth.c) and the opaque paging cursors (page.c) travel in
 * URLs and headers as base64url; one encoder and one strict decoder serve
 * both.
 */
#ifndef CONVEYOR_BASE64URL_H
#define CONVEYOR_BASE64URL_H

#include <stddef.h>

/* Encodes len bytes into out (NUL-terminated). Returns the length written,
 * or 0 if out_size cannot hold it all (out is then ""). */
size_t base64url_encode(const void *in, size_t len, char *out, size_t out_size);

/* Decodes text (no padding, no white space) into out and NUL-terminates
 * it; *len_out gets the byte count. -1 on a character outside the
 * alphabet, an impossible length, or when out_size is too small. */
int base64url_decode(const char *text, size_t text_len, unsigned char *out, size_t out_size,
                     size_t *len_out);

#endif
