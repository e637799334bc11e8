/*
 * utf8.c — repairing text that must be UTF-8 (utf8.h).
 */
#include "common/utf8.h"

#include <stddef.h>

/* The length of the well-formed character at p, 0 if none. */
static size_t char_len(const unsigned char *p)
{
    if (p[0] < 0x80)
        return 1;
    size_t len = p[0] >= 0xC2 && p[0] <= 0xDF   ? 2
                 : p[0] >= 0xE0 && p[0] <= 0xEF ? 3
                 : p[0] >= 0xF0 && p[0] <= 0xF4 ? 4
                                                : 0;
    for (size_t i = 1; i < len; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0; /* a NUL ends the check here, before reading past it */
    if ((p[0] == 0xE0 && p[1] < 0xA0) || (p[0] == 0xED && p[1] > 0x9F) ||
        (p[0] == 0xF0 && p[1] < 0x90) || (p[0] == 0xF4 && p[1] > 0x8F))
        return 0;
    return len;
}

void utf8_repair(char *text)
{
    unsigned char *p = (unsigned char *)text;
    while (*p) {
        size_t len = char_len(p);
        if (len == 0) {
            *p++ = '?';
            continue;
        }
        p += len;
    }
}
