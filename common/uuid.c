/*
 * uuid.c — random and name-based UUIDs for event ids (uuid.h).
 */
#include "common/hex.h"
#include "common/uuid.h"

#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

int uuid_parse(const char *text, uint8_t bytes[16])
{
    if (!text || strlen(text) != 36)
        return -1;
    int b = 0;
    for (int i = 0; i < 36;) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (text[i] != '-')
                return -1;
            i++;
            continue;
        }
        int hi = hex_value(text[i]), lo = hex_value(text[i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        bytes[b++] = (uint8_t)(hi << 4 | lo);
        i += 2;
    }
    return 0;
}

void uuid_format(const uint8_t bytes[16], char out[UUID_TEXT_SIZE])
{
    static const char digits[] = "0123456789abcdef";
    int o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = digits[bytes[i] >> 4];
        out[o++] = digits[bytes[i] & 0x0f];
    }
    out[o] = '\0';
}

/* Random bytes for v4 ids, taken from the kernel a pool at a time: one
 * getrandom() call per id was ~1 % of the durable bus's CPU (a producer
 * appends tens of thousands of root events a second). The pool is the
 * thread's own, so no lock. A child after fork() starts with an empty pool
 * (random_pool_forked), so it never hands out its parent's next ids; each
 * id's bytes are wiped from the pool once taken. */
#define RANDOM_POOL_SIZE 4096
static __thread struct {
    uint8_t bytes[RANDOM_POOL_SIZE];
    size_t used; /* bytes handed out (and wiped); the pool is empty at SIZE */
    bool filled; /* false until the thread's first fill */
} random_pool;
static pthread_once_t random_pool_once = PTHREAD_ONCE_INIT;

/* pthread_atfork's child handler: runs in the child's one thread, the one
 * that forked, whose pool is the only one the child has. */
static void random_pool_forked(void)
{
    explicit_bzero(random_pool.bytes, sizeof random_pool.bytes);
    random_pool.filled = false;
}

static void random_pool_register(void)
{
    pthread_atfork(NULL, NULL, random_pool_forked);
}

static int random_take(uint8_t *out, size_t len)
{
    if (!random_pool.filled || random_pool.used + len > RANDOM_POOL_SIZE) {
        pthread_once(&random_pool_once, random_pool_register);
        size_t got = 0;
        while (got < RANDOM_POOL_SIZE) {
            ssize_t n = getrandom(random_pool.bytes + got, RANDOM_POOL_SIZE - got, 0);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                return -1;
            }
            got += (size_t)n;
        }
        random_pool.used = 0;
        random_pool.filled = true;
    }
    memcpy(out, random_pool.bytes + random_pool.used, len);
    explicit_bzero(random_pool.bytes + random_pool.used, len);
    random_pool.used += len;
    return 0;
}

int uuid_v4(char out[UUID_TEXT_SIZE])
{
    uint8_t bytes[16];
    if (random_take(bytes, sizeof bytes) != 0)
        return -1;
    bytes[6] = (uint8_t)((bytes[6] & 0x0f) | 0x40);
    bytes[8] = (uint8_t)((bytes[8] & 0x3f) | 0x80);
    uuid_format(bytes, out);
    return 0;
}

int uuid_v5_index(const char *ns, uint32_t n, char out[UUID_TEXT_SIZE])
{
    uint8_t input[16 + 10];
    if (uuid_parse(ns, input) != 0)
        return -1;
    char name[11];
    int name_len = snprintf(name, sizeof name, "%u", n);
    memcpy(input + 16, name, (size_t)name_len);

    uint8_t digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    if (EVP_Digest(input, 16 + (size_t)name_len, digest, &digest_len, EVP_sha1(), NULL) != 1)
        return -1;
    digest[6] = (uint8_t)((digest[6] & 0x0f) | 0x50);
    digest[8] = (uint8_t)((digest[8] & 0x3f) | 0x80);
    uuid_format(digest, out);
    return 0;
}

bool uuid_valid(const char *text)
{
    uint8_t bytes[16];
    return text && uuid_parse(text, bytes) == 0;
}
