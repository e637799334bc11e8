/*
 * kitlock.c — the kit's lock exerciser: real processes contending for
 * common/lock.h locks, for tests/integration/test_lock.sh.
 *
 *   kitlock contend KEY ITERATIONS
 *       ITERATIONS times: acquire KEY (ttl 2000 ms, wait 5000 ms), INCR
 *       "kitlock:inside:KEY" on a connection of its own (a result above 1
 *       means two holders at once: INCR "kitlock:violations:KEY"), work
 *       0-2 ms, DECR, release, then pause 0-1 ms. Ends with one
 *       "summary ..." line; exit 0 only if every iteration ran under the
 *       lock.
 *   kitlock hold KEY TTL_MS
 *       acquires KEY for TTL_MS, prints "held at_ms=<unix ms>" and waits
 *       to be killed, never renewing or releasing.
 *   kitlock try KEY TTL_MS WAIT_MS
 *       one acquisition; prints "acquired at_ms=<unix ms>" (and releases;
 *       exit 0), "busy at_ms=<unix ms>" (exit 1) or "unavailable: <why>"
 *       (exit 2).
 *
 * REDIS_URL (redis://[:password@]host[:port][/db]) names the Redis.
 */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/lock.h"
#include "common/log.h"
#include "common/numparse.h"

#define CONTEND_TTL_MS  2000
#define CONTEND_WAIT_MS 5000
#define HOLD_WAIT_MS    5000
#define TIMEOUT_MS      1000

/* The counters' own connection: the locker's is private to it. Understands
 * the same URL grammar; the locker has already refused a bad URL. */
static redisContext *counter_connect(const char *url)
{
    char host[256], password[256] = "", number[16];
    int64_t port = 6379, db = 0;
    const char *p = url + strlen("redis://");
    const char *at = strrchr(p, '@');
    if (at) {
        snprintf(password, sizeof password, "%.*s", (int)(at - p - 1), p + 1);
        p = at + 1;
    }
    size_t host_len = strcspn(p, ":/");
    snprintf(host, sizeof host, "%.*s", (int)host_len, p);
    p += host_len;
    if (*p == ':') {
        size_t len = strcspn(++p, "/");
        snprintf(number, sizeof number, "%.*s", (int)len, p);
        if (numparse_int_range(number, 1, 65535, &port) != 0)
            return NULL;
        p += len;
    }
    if (*p == '/' && numparse_int_range(p + 1, 0, 65535, &db) != 0)
        return NULL;
    struct timeval tv = {TIMEOUT_MS / 1000, (TIMEOUT_MS % 1000) * 1000};
    redisContext *ctx = redisConnectWithTimeout(host, (int)port, tv);
    if (!ctx || ctx->err || redisSetTimeout(ctx, tv) != REDIS_OK)
        goto fail;
    redisReply *reply = password[0] ? redisCommand(ctx, "AUTH %s", password) : NULL;
    if (password[0] && (!reply || reply->type == REDIS_REPLY_ERROR))
        goto fail_reply;
    if (reply)
        freeReplyObject(reply);
    reply = redisCommand(ctx, "SELECT %d", (int)db);
    if (!reply || reply->type == REDIS_REPLY_ERROR)
        goto fail_reply;
    freeReplyObject(reply);
    return ctx;
fail_reply:
    if (reply)
        freeReplyObject(reply);
fail:
    if (ctx)
        redisFree(ctx);
    return NULL;
}

/* INCR or DECR key; 0 with the new value, -1 if Redis failed. */
static int counter_step(redisContext *ctx, const char *command, const char *key, long long *out)
{
    redisReply *reply = redisCommand(ctx, "%s %s", command, key);
    int rc = -1;
    if (reply && reply->type == REDIS_REPLY_INTEGER) {
        *out = reply->integer;
        rc = 0;
    }
    if (reply)
        freeReplyObject(reply);
    return rc;
}

static void sleep_us(long micros)
{
    struct timespec ts = {micros / 1000000, (micros % 1000000) * 1000};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static int contend(locker_t *locker, const char *url, const char *key, int64_t iterations)
{
    char inside_key[300], violations_key[300];
    snprintf(inside_key, sizeof inside_key, "kitlock:inside:%s", key);
    snprintf(violations_key, sizeof violations_key, "kitlock:violations:%s", key);
    redisContext *counters = counter_connect(url);
    if (!counters) {
        log_error("could not connect the counters", LF_ERR("redis_unavailable"));
        return 2;
    }
    unsigned seed = 0;
    if (getrandom(&seed, sizeof seed, 0) != (ssize_t)sizeof seed)
        seed = (unsigned)getpid();
    const char *keys[] = {key};
    int64_t done = 0, busy = 0, unavailable = 0, overlaps = 0, max_wait_ms = 0;
    int64_t started_ms = clock_mono_ms();
    int rc = 0;
    for (int64_t i = 0; i < iterations; i++) {
        lock_t *lock = NULL;
        int64_t asked_ms = clock_mono_ms();
        lock_status_t status =
            locker_acquire(locker, keys, 1, CONTEND_TTL_MS, CONTEND_WAIT_MS, &lock);
        int64_t waited_ms = clock_mono_ms() - asked_ms;
        if (waited_ms > max_wait_ms)
            max_wait_ms = waited_ms;
        if (status != LOCK_OK) {
            log_warn("lock not acquired", LF_STR("key", key), LF_INT("iteration", i),
                     LF_STR("why", locker_error(locker)),
                     LF_ERR(status == LOCK_BUSY ? "lock_busy" : "redis_unavailable"));
            if (status == LOCK_BUSY)
                busy++;
            else
                unavailable++;
            continue;
        }
        long long inside = 0, ignored = 0;
        if (counter_step(counters, "INCR", inside_key, &inside) != 0) {
            locker_release(locker, &lock);
            rc = 2;
            break;
        }
        if (inside > 1) {
            overlaps++;
            if (counter_step(counters, "INCR", violations_key, &ignored) != 0)
                rc = 2;
        }
        sleep_us((long)(rand_r(&seed) % 2001));
        if (counter_step(counters, "DECR", inside_key, &ignored) != 0)
            rc = 2;
        locker_release(locker, &lock);
        if (rc != 0)
            break;
        done++;
        /* a moment outside the lock, as real work has: without it the
         * holder takes the key back within microseconds and the other
         * contender, backing off up to 50 ms, would hardly ever see it free */
        sleep_us((long)(rand_r(&seed) % 1001));
    }
    if (rc != 0)
        log_error("counter update failed", LF_STR("key", key), LF_STR("why", counters->errstr),
                  LF_ERR("redis_unavailable"));
    printf("summary key=%s iterations=%lld done=%lld busy=%lld unavailable=%lld overlaps=%lld "
           "max_wait_ms=%lld took_ms=%lld\n",
           key, (long long)iterations, (long long)done, (long long)busy, (long long)unavailable,
           (long long)overlaps, (long long)max_wait_ms, (long long)(clock_mono_ms() - started_ms));
    fflush(stdout);
    redisFree(counters);
    if (rc == 0 && done != iterations)
        rc = 1;
    return rc;
}

static int hold(locker_t *locker, const char *key, int ttl_ms)
{
    const char *keys[] = {key};
    lock_t *lock = NULL;
    if (locker_acquire(locker, keys, 1, ttl_ms, HOLD_WAIT_MS, &lock) != LOCK_OK) {
        log_error("could not take the lock to hold", LF_STR("key", key),
                  LF_STR("why", locker_error(locker)), LF_ERR("lock_busy"));
        return 1;
    }
    printf("held at_ms=%lld\n", (long long)clock_now_ms());
    fflush(stdout);
    for (;;)
        pause(); /* until SIGKILL: the ttl alone frees the key */
}

static int try_once(locker_t *locker, const char *key, int ttl_ms, int wait_ms)
{
    const char *keys[] = {key};
    lock_t *lock = NULL;
    lock_status_t status = locker_acquire(locker, keys, 1, ttl_ms, wait_ms, &lock);
    long long at_ms = (long long)clock_now_ms();
    switch (status) {
    case LOCK_OK:
        printf("acquired at_ms=%lld\n", at_ms);
        locker_release(locker, &lock);
        return 0;
    case LOCK_BUSY:
        printf("busy at_ms=%lld\n", at_ms);
        return 1;
    case LOCK_UNAVAILABLE:
        break;
    }
    printf("unavailable: %s\n", locker_error(locker));
    return 2;
}

static int usage(void)
{
    fprintf(stderr, "usage: kitlock contend KEY ITERATIONS\n"
                    "       kitlock hold KEY TTL_MS\n"
                    "       kitlock try KEY TTL_MS WAIT_MS\n");
    return 64;
}

int main(int argc, char **argv)
{
    log_init("kitlock", LOG_INFO);
    const char *url = getenv("REDIS_URL");
    if (!url || !url[0]) {
        fprintf(stderr, "kitlock: REDIS_URL is not set\n");
        return 64;
    }
    if (argc < 4)
        return usage();
    const char *mode = argv[1], *key = argv[2];
    int64_t first = 0, second = 0;
    if (numparse_int_range(argv[3], 1, 100000000, &first) != 0)
        return usage();
    if (strcmp(mode, "try") == 0 &&
        (argc != 5 || numparse_int_range(argv[4], 0, 100000000, &second) != 0))
        return usage();
    if (strcmp(mode, "try") != 0 && argc != 4)
        return usage();
    locker_t *locker = locker_new(url, TIMEOUT_MS);
    if (!locker)
        return 64;
    int rc;
    if (strcmp(mode, "contend") == 0)
        rc = contend(locker, url, key, first);
    else if (strcmp(mode, "hold") == 0)
        rc = hold(locker, key, (int)first);
    else if (strcmp(mode, "try") == 0)
        rc = try_once(locker, key, (int)first, (int)second);
    else
        rc = usage();
    locker_destroy(&locker);
    return rc;
}
