/*
 * check_rfc2047.c — an independent reader of mime_header_text's output
 * (check_rfc2047.h).
 */
#include "tests/fuzz/check_rfc2047.h"

#include <string.h>

static int b64_value(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

static bool whole_utf8(const unsigned char *p, size_t len)
{
    size_t i = 0;
    while (i < len) {
        size_t need = p[i] < 0x80             ? 0
                      : (p[i] & 0xE0) == 0xC0 ? 1
                      : (p[i] & 0xF0) == 0xE0 ? 2
                      : (p[i] & 0xF8) == 0xF0 ? 3
                                              : 9;
        if (need == 9 || (need > 0 && i + need >= len))
            return false;
        for (size_t k = 1; k <= need; k++)
            if ((p[i + k] & 0xC0) != 0x80)
                return false;
        i += need + 1;
    }
    return true;
}

const char *check_rfc2047_decode(const char *value, size_t column, char *out, size_t size)
{
    size_t n = 0;
    if (size == 0)
        return "no room";
    out[0] = '\0';
    if (value[0] == '\0')
        return NULL;
    if (strncmp(value, "=?", 2) != 0 && strncmp(value, "\r\n =?", 5) != 0) {
        /* written as it is: one line of printable ASCII */
        size_t len = strlen(value);
        if (column + len > 78)
            return "a plain line over 78";
        for (size_t i = 0; i < len; i++)
            if ((unsigned char)value[i] < 0x20 || (unsigned char)value[i] > 0x7E)
                return "a plain value with a control or 8-bit byte";
        if (len >= size)
            return "no room";
        memcpy(out, value, len + 1);
        return NULL;
    }
    const char *p = value;
    size_t line = column;
    while (*p) {
        if (strncmp(p, "\r\n ", 3) == 0) {
            p += 3;
            line = 1;
            continue;
        }
        if (strncmp(p, "\r", 1) == 0 || strncmp(p, "\n", 1) == 0)
            return "a fold that is not CRLF SP";
        if (strncmp(p, "=?UTF-8?B?", 10) != 0)
            return "text between words that is not a fold";
        const char *end = strstr(p + 10, "?=");
        if (!end)
            return "an unterminated word";
        size_t word = (size_t)(end + 2 - p);
        if (word > 75)
            return "a word over 75";
        line += word;
        if (line > 76)
            return "a line over 76";
        size_t start = n;
        unsigned acc = 0;
        int bits = 0;
        const char *q = p + 10;
        for (; q < end && *q != '='; q++) {
            int v = b64_value((unsigned char)*q);
            if (v < 0)
                return "bad base64";
            acc = (acc << 6) | (unsigned)v;
            bits += 6;
            if (bits >= 8) {
                bits -= 8;
                if (n + 1 >= size)
                    return "no room";
                out[n++] = (char)((acc >> bits) & 0xFF);
            }
        }
        if ((size_t)(end - (p + 10)) % 4 != 0)
            return "base64 not padded to 4";
        if (!whole_utf8((const unsigned char *)out + start, n - start))
            return "a word that splits a UTF-8 sequence";
        if (n == start)
            return "an empty word";
        p = end + 2;
    }
    out[n] = '\0';
    return NULL;
}
