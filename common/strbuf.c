/*
 * strbuf.c — growable, capped, NUL-terminated byte buffer (strbuf.h).
 */
#include "common/strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void strbuf_init(strbuf_t *buf, size_t max)
{
    buf->ptr = NULL;
    buf->len = 0;
    buf->cap = 0;
    buf->max = max;
}

/* Makes room for len + extra bytes plus the NUL; 0 ok, -1 over cap/OOM. */
static int strbuf_reserve(strbuf_t *buf, size_t extra)
{
    if (extra > buf->max || buf->len > buf->max - extra)
        return -1;
    size_t need = buf->len + extra + 1;
    if (need <= buf->cap)
        return 0;
    size_t cap = buf->cap ? buf->cap : 64;
    while (cap < need)
        cap *= 2;
    char *grown = realloc(buf->ptr, cap);
    if (!grown)
        return -1;
    buf->ptr = grown;
    buf->cap = cap;
    return 0;
}

int strbuf_append(strbuf_t *buf, const void *bytes, size_t n)
{
    if (strbuf_reserve(buf, n) != 0)
        return -1;
    if (n)
        memcpy(buf->ptr + buf->len, bytes, n);
    buf->len += n;
    buf->ptr[buf->len] = '\0';
    return 0;
}

int strbuf_append_str(strbuf_t *buf, const char *text)
{
    return strbuf_append(buf, text, strlen(text));
}

int strbuf_appendf(strbuf_t *buf, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int need = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (need < 0 || strbuf_reserve(buf, (size_t)need) != 0)
        return -1;
    va_start(ap, fmt);
    vsnprintf(buf->ptr + buf->len, (size_t)need + 1, fmt, ap);
    va_end(ap);
    buf->len += (size_t)need;
    return 0;
}

void strbuf_reset(strbuf_t *buf)
{
    buf->len = 0;
    if (buf->ptr)
        buf->ptr[0] = '\0';
}

char *strbuf_take(strbuf_t *buf)
{
    char *text = buf->ptr;
    if (!text) {
        text = malloc(1);
        if (!text)
            return NULL;
        text[0] = '\0';
    }
    buf->ptr = NULL;
    buf->len = 0;
    buf->cap = 0;
    return text;
}

void strbuf_release(strbuf_t *buf)
{
    free(buf->ptr);
    buf->ptr = NULL;
    buf->len = 0;
    buf->cap = 0;
}

void str_copy_to(char *field, size_t size, const char *text)
{
    if (size == 0)
        return;
    size_t len = text ? strnlen(text, size - 1) : 0;
    memcpy(field, text ? text : "", len);
    field[len] = '\0';
}
