/*
 * digest.c — SHA-256 hex and random tokens (digest.h).
 */
#include "common/digest.h"

#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/random.h>

static void to_hex(const unsigned char *bytes, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * n] = '\0';
}

int digest_sha256_hex(const void *bytes, size_t len, char out[DIGEST_HEX_SIZE])
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    if (EVP_Digest(bytes, len, digest, &digest_len, EVP_sha256(), NULL) != 1 || digest_len != 32)
        return -1;
    to_hex(digest, digest_len, out);
    return 0;
}

int digest_random_hex(size_t n, char *out)
{
    unsigned char bytes[64];
    if (n > sizeof bytes)
        return -1;
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom(bytes + got, n - got, 0);
        if (r < 0)
            return -1;
        got += (size_t)r;
    }
    to_hex(bytes, n, out);
    return 0;
}
