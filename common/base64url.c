/*
 * base64url.c — RFC 4648 §5 base64 without padding (base64url.h).
 */
#include "common/base64url.h"

#include <stdint.h>

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int value_of(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

size_t base64url_encode(const void *in, size_t len, char *out, size_t out_size)
{
    const unsigned char *bytes = in;
    size_t need = len / 3 * 4 + (len % 3 ? len % 3 + 1 : 0);
    if (out_size == 0)
        return 0;
    if (need + 1 > out_size) {
        out[0] = '\0';
        return 0;
    }
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t chunk = (uint32_t)bytes[i] << 16;
        if (i + 1 < len)
            chunk |= (uint32_t)bytes[i + 1] << 8;
        if (i + 2 < len)
            chunk |= bytes[i + 2];
        out[o++] = alphabet[(chunk >> 18) & 63];
        out[o++] = alphabet[(chunk >> 12) & 63];
        if (i + 1 < len)
            out[o++] = alphabet[(chunk >> 6) & 63];
        if (i + 2 < len)
            out[o++] = alphabet[chunk & 63];
    }
    out[o] = '\0';
    return o;
}

int base64url_decode(const char *text, size_t text_len, unsigned char *out, size_t out_size,
                     size_t *len_out)
{
    if (text_len % 4 == 1)
        return -1; /* no encoder ends with a single character */
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < text_len; i++) {
        int v = value_of(text[i]);
        if (v < 0)
            return -1;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o + 1 >= out_size)
                return -1;
            out[o++] = (unsigned char)((acc >> bits) & 0xff);
        }
    }
    if (out_size == 0)
        return -1;
    out[o] = '\0';
    if (len_out)
        *len_out = o;
    return 0;
}
