/*
 * digest.c — SHA-256 hex and random tokens (digest.h).
 */
#include "common/digest.h"

#include <errno.h>

#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/random.h>

#include "common/hex.h"

int digest_sha256_hex(const void *bytes, size_t len, char out[DIGEST_HEX_SIZE])
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    if (EVP_Digest(bytes, len, digest, &digest_len, EVP_sha256(), NULL) != 1 || digest_len != 32)
        return -1;
    hex_encode(digest, digest_len, out);
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
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    hex_encode(bytes, n, out);
    return 0;
}
