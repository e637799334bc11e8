/*
 * strbuf.h — a growable byte buffer with a hard size cap.
 *
 * Everything conveyor fills from outside (HTTP bodies, bank replies, JSON
 * it builds from user data) goes through a strbuf so that no input can
 * grow memory without bound: curl's dynbuf idea. The content is always
 * NUL-terminated so text can be used directly.
 */
#ifndef CONVEYOR_STRBUF_H
#define CONVEYOR_STRBUF_H

#include <stddef.h>

typedef struct {
    char *ptr;  /* NUL-terminated content, or NULL while empty */
    size_t len; /* bytes in use, not counting the NUL */
    size_t cap; /* bytes allocated */
    size_t max; /* the cap: len never exceeds it */
} strbuf_t;

/* Starts an empty buffer that will never hold more than max bytes. */
void strbuf_init(strbuf_t *buf, size_t max);

/* Appends; 0 ok, -1 if it would exceed the cap or memory ran out (the
 * buffer is unchanged then). */
int strbuf_append(strbuf_t *buf, const void *bytes, size_t n);
int strbuf_append_str(strbuf_t *buf, const char *text);
int strbuf_appendf(strbuf_t *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Empties the buffer, keeping its memory. */
void strbuf_reset(strbuf_t *buf);

/* Hands the content over: caller owns the result (free it); never NULL on
 * success, "" for an empty buffer; NULL on out of memory. The buffer is
 * left empty and reusable. */
char *strbuf_take(strbuf_t *buf);

/* Frees the memory; the buffer is left empty and reusable. */
void strbuf_release(strbuf_t *buf);

/* Copies text (NULL: "") into a fixed field of size bytes, cut to fit and
 * always terminated: for the plain structs domain code fills from
 * messages and rows, whose bounds were checked where they came in. */
void str_copy_to(char *field, size_t size, const char *text);

#endif
