/*
 * lock.c — Redis locks over hiredis 0.14's synchronous API (lock.h).
 *
 * Each key is taken with SET lock:<key> <token> NX PX <ttl>, all keys of a
 * request pipelined in sorted order; if any is busy, every key still
 * holding our token is given back (Lua compare-and-delete) and the whole
 * set is retried with jittered exponential backoff, so a lock is all or
 * nothing and two holders of overlapping sets cannot deadlock. Renewal and
 * release are Lua scripts (EVALSHA, EVAL after NOSCRIPT) that touch a key
 * only while it still holds our token.
 *
 * The connection is made lazily with the configured timeout, which also
 * bounds every read and write. A hiredis context that saw an error is dead:
 * it is freed and the next call connects again, so a Redis outage costs
 * each call at most about one timeout and never crashes the caller (SIGPIPE
 * is blocked around our writes, as libpq does). A connection kept from an
 * earlier call that turns out closed by the server (Redis restarted) is
 * replaced once within the same call instead of failing it.
 */
#include "common/hex.h"
#include "common/lock.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/numparse.h"

#define KEY_PREFIX       "lock:"
#define DEFAULT_TIMEOUT  500
#define REDIS_PORT       6379
#define HOST_MAX         256
#define TOKEN_BYTES      16
#define TOKEN_HEX        (TOKEN_BYTES * 2 + 1)
#define SHA_HEX          41
#define BACKOFF_FIRST_MS 2
#define BACKOFF_MAX_MS   50
#define ERROR_MAX        512

/* KEYS: the lock's keys; ARGV[1] token, ARGV[2] ttl ms. 1 if every key was
 * ours and now lives ttl ms more; 0 (nothing extended) if any is not ours. */
static const char renew_lua[] = "for i = 1, #KEYS do\n"
                                "  if redis.call('GET', KEYS[i]) ~= ARGV[1] then return 0 end\n"
                                "end\n"
                                "for i = 1, #KEYS do\n"
                                "  redis.call('PEXPIRE', KEYS[i], ARGV[2])\n"
                                "end\n"
                                "return 1\n";

/* KEYS: the lock's keys; ARGV[1] token. Deletes each key still holding the
 * token and answers how many it deleted. */
static const char release_lua[] = "local deleted = 0\n"
                                  "for i = 1, #KEYS do\n"
                                  "  if redis.call('GET', KEYS[i]) == ARGV[1] then\n"
                                  "    deleted = deleted + redis.call('DEL', KEYS[i])\n"
                                  "  end\n"
                                  "end\n"
                                  "return deleted\n";

typedef struct {
    const char *source;
    char sha[SHA_HEX]; /* "" until SCRIPT LOAD answered; kept across reconnects */
} script_t;

struct locker {
    char host[HOST_MAX]; /* without the brackets of an IPv6 literal */
    int port;
    int db;
    char *password; /* NULL: no AUTH; never logged, wiped on destroy */
    int timeout_ms;
    redisContext *ctx; /* NULL until connected, and after any error */
    script_t renew_script;
    script_t release_script;
    uint64_t rng; /* xorshift state for backoff jitter */
    char error[ERROR_MAX];
};

struct lock {
    char token[TOKEN_HEX];
    int ttl_ms;
    int64_t renewed_at_ms; /* monotonic: acquisition or last renewal */
    size_t key_count;
    char **keys; /* "lock:<key>", sorted, unique */
};

/* One command of a pipeline; argv strings are NUL-terminated. */
typedef struct {
    int argc;
    const char **argv;
} redis_cmd_t;

static void set_error(locker_t *self, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_error(locker_t *self, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(self->error, sizeof self->error, fmt, ap); /* a cut message is still useful */
    va_end(ap);
}

/* --- redis:// URLs ---------------------------------------------------------- */

/* Percent-decodes [from, to) into a fresh string; NULL on a bad escape,
 * an encoded NUL or out of memory (*reason says which). */
static char *percent_decode(const char *from, const char *to, const char **reason)
{
    char *out = malloc((size_t)(to - from) + 1);
    if (!out) {
        *reason = "out of memory";
        return NULL;
    }
    size_t n = 0;
    for (const char *p = from; p < to; p++) {
        if (*p != '%') {
            out[n++] = *p;
            continue;
        }
        int hi = to - p >= 3 ? hex_value(p[1]) : -1;
        int lo = hi >= 0 ? hex_value(p[2]) : -1;
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
            free(out);
            *reason = "the password has a bad %-escape";
            return NULL;
        }
        out[n++] = (char)(hi * 16 + lo);
        p += 2;
    }
    out[n] = '\0';
    return out;
}

/* Copies [from, to) into buf and parses it as an int in [min, max]. */
static int parse_int_part(const char *from, const char *to, int64_t min, int64_t max, int *out)
{
    char buf[16];
    size_t len = (size_t)(to - from);
    if (len == 0 || len >= sizeof buf)
        return -1;
    memcpy(buf, from, len);
    buf[len] = '\0';
    int64_t value = 0;
    if (numparse_int_range(buf, min, max, &value) != 0)
        return -1;
    *out = (int)value;
    return 0;
}

static bool is_host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-' || c == '_';
}

static bool is_ipv6_char(char c)
{
    return hex_value(c) >= 0 || c == ':' || c == '.';
}

/* redis://[:password@]host[:port][/db] into self; -1 with *reason. */
static int parse_url(locker_t *self, const char *url, const char **reason)
{
    static const char scheme[] = "redis://";
    if (!url || strncmp(url, scheme, sizeof scheme - 1) != 0) {
        *reason = "the url must start with redis://";
        return -1;
    }
    const char *p = url + sizeof scheme - 1;
    const char *at = strrchr(p, '@');
    if (at) {
        if (p[0] != ':') {
            *reason = "only a password may come before @ (redis://:password@host)";
            return -1;
        }
        if (at == p + 1) {
            *reason = "the password is empty";
            return -1;
        }
        self->password = percent_decode(p + 1, at, reason);
        if (!self->password)
            return -1;
        p = at + 1;
    }
    const char *host_from, *host_to;
    if (*p == '[') {
        host_from = ++p;
        while (is_ipv6_char(*p))
            p++;
        if (*p != ']' || p == host_from) {
            *reason = "bad IPv6 address in brackets";
            return -1;
        }
        host_to = p++;
    } else {
        host_from = p;
        while (is_host_char(*p))
            p++;
        host_to = p;
        if (host_to == host_from) {
            *reason = "the host is missing";
            return -1;
        }
    }
    if ((size_t)(host_to - host_from) >= sizeof self->host) {
        *reason = "the host name is too long";
        return -1;
    }
    memcpy(self->host, host_from, (size_t)(host_to - host_from));
    self->host[host_to - host_from] = '\0';
    self->port = REDIS_PORT;
    self->db = 0;
    if (*p == ':') {
        const char *from = ++p;
        while (*p && *p != '/')
            p++;
        if (parse_int_part(from, p, 1, 65535, &self->port) != 0) {
            *reason = "the port must be a number 1..65535";
            return -1;
        }
    }
    if (*p == '/') {
        const char *from = ++p;
        p += strlen(p);
        if (parse_int_part(from, p, 0, INT_MAX, &self->db) != 0) {
            *reason = "the database must be a number after /";
            return -1;
        }
    }
    if (*p != '\0') {
        *reason = "unexpected text after the host";
        return -1;
    }
    return 0;
}

/* --- randomness ------------------------------------------------------------- */

static int random_bytes(void *buf, size_t len)
{
    unsigned char *out = buf;
    size_t got = 0;
    while (got < len) {
        ssize_t n = getrandom(out + got, len - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        got += (size_t)n;
    }
    return 0;
}

static int make_token(char out[TOKEN_HEX])
{
    unsigned char raw[TOKEN_BYTES];
    if (random_bytes(raw, sizeof raw) != 0)
        return -1;
    hex_encode(raw, sizeof raw, out);
    return 0;
}

/* xorshift64*: jitter needs spread, not secrecy. */
static uint64_t next_random(locker_t *self)
{
    uint64_t x = self->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    self->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* --- the connection --------------------------------------------------------- */

/* Blocks SIGPIPE in this thread while we write to a socket the server may
 * have closed, and swallows one it raised (libpq's technique), so that a
 * Redis going away never kills the process whatever its signal setup. */
typedef struct {
    sigset_t old_mask;
    bool was_pending;
    bool blocked;
} sigpipe_guard_t;

static bool sigpipe_pending(void)
{
    sigset_t pending;
    return sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1;
}

static void sigpipe_block(sigpipe_guard_t *guard)
{
    sigset_t pipe_only;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    guard->blocked = pthread_sigmask(SIG_BLOCK, &pipe_only, &guard->old_mask) == 0;
    guard->was_pending = guard->blocked && sigpipe_pending();
}

static void sigpipe_restore(sigpipe_guard_t *guard)
{
    if (!guard->blocked)
        return;
    if (!guard->was_pending && sigpipe_pending()) {
        sigset_t pipe_only;
        sigemptyset(&pipe_only);
        sigaddset(&pipe_only, SIGPIPE);
        struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_only, NULL, &zero) < 0 && errno == EINTR)
            ;
    }
    pthread_sigmask(SIG_SETMASK, &guard->old_mask, NULL);
}

static void drop_connection(locker_t *self)
{
    if (self->ctx) {
        redisFree(self->ctx);
        self->ctx = NULL;
    }
}

/* Words for a dead context: a read or write that hit SO_RCVTIMEO/SNDTIMEO
 * says EAGAIN, which reads better as the timeout it is. */
static void set_io_error(locker_t *self, const redisContext *ctx)
{
    if (ctx->err == REDIS_ERR_IO && strcmp(ctx->errstr, strerror(EAGAIN)) == 0)
        set_error(self, "redis unavailable: no answer within %d ms", self->timeout_ms);
    else
        set_error(self, "redis unavailable: %s", ctx->errstr[0] ? ctx->errstr : "connection error");
}

/* Sends one command on a fresh context during setup. 0 ok; -1 with the
 * error set (the context is then dropped by the caller). */
static int setup_command(locker_t *self, const char *what, int argc, const char **argv)
{
    redisReply *reply = redisCommandArgv(self->ctx, argc, argv, NULL);
    if (!reply) {
        set_io_error(self, self->ctx);
        return -1;
    }
    int rc = 0;
    if (reply->type == REDIS_REPLY_ERROR) {
        /* Redis never echoes the password in an AUTH error */
        set_error(self, "redis %s failed: %s", what, reply->str);
        rc = -1;
    }
    freeReplyObject(reply);
    return rc;
}

static int connect_redis(locker_t *self)
{
    struct timeval tv = {self->timeout_ms / 1000, (self->timeout_ms % 1000) * 1000};
    self->ctx = redisConnectWithTimeout(self->host, self->port, tv);
    if (!self->ctx) {
        set_error(self, "redis unavailable: out of memory");
        return -1;
    }
    if (self->ctx->err) {
        set_io_error(self, self->ctx);
        goto fail;
    }
    if (redisSetTimeout(self->ctx, tv) != REDIS_OK || redisEnableKeepAlive(self->ctx) != REDIS_OK) {
        set_io_error(self, self->ctx);
        goto fail;
    }
    if (self->password) {
        const char *argv[] = {"AUTH", self->password};
        if (setup_command(self, "auth", 2, argv) != 0)
            goto fail;
    }
    if (self->db != 0) {
        char db_text[16];
        snprintf(db_text, sizeof db_text, "%d", self->db);
        const char *argv[] = {"SELECT", db_text};
        if (setup_command(self, "select", 2, argv) != 0)
            goto fail;
    }
    return 0;
fail:
    drop_connection(self);
    return -1;
}

static void free_replies(redisReply **replies, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (replies[i])
            freeReplyObject(replies[i]);
        replies[i] = NULL;
    }
}

/* One try of run_pipeline; *stale_out tells whether the failure was a
 * connection from an earlier call found closed by the server. */
static int run_pipeline_once(locker_t *self, const redis_cmd_t *cmds, size_t n,
                             redisReply **replies, bool *stale_out)
{
    *stale_out = false;
    bool reused = self->ctx != NULL;
    if (!self->ctx && connect_redis(self) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (redisAppendCommandArgv(self->ctx, cmds[i].argc, cmds[i].argv, NULL) != REDIS_OK)
            goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        void *reply = NULL;
        if (redisGetReply(self->ctx, &reply) != REDIS_OK || !reply)
            goto fail;
        replies[i] = reply;
    }
    return 0;
fail:;
    int saved_errno = errno;
    set_io_error(self, self->ctx);
    *stale_out =
        reused &&
        (self->ctx->err == REDIS_ERR_EOF ||
         (self->ctx->err == REDIS_ERR_IO && (saved_errno == ECONNRESET || saved_errno == EPIPE)));
    free_replies(replies, n);
    drop_connection(self);
    return -1;
}

/* Sends the commands pipelined and reads one reply each into replies
 * (error replies included; caller frees them). -1 if the connection failed:
 * the error is set, the context dropped and replies are all NULL. */
static int run_pipeline(locker_t *self, const redis_cmd_t *cmds, size_t n, redisReply **replies)
{
    memset(replies, 0, n * sizeof *replies);
    sigpipe_guard_t guard;
    sigpipe_block(&guard);
    bool stale = false;
    int rc = run_pipeline_once(self, cmds, n, replies, &stale);
    if (rc != 0 && stale)
        rc = run_pipeline_once(self, cmds, n, replies, &stale);
    sigpipe_restore(&guard);
    return rc;
}

static redisReply *run_command(locker_t *self, int argc, const char **argv)
{
    redis_cmd_t cmd = {argc, argv};
    redisReply *reply = NULL;
    return run_pipeline(self, &cmd, 1, &reply) == 0 ? reply : NULL;
}

/* --- scripts ---------------------------------------------------------------- */

static int load_script(locker_t *self, script_t *script)
{
    const char *argv[] = {"SCRIPT", "LOAD", script->source};
    redisReply *reply = run_command(self, 3, argv);
    if (!reply)
        return -1;
    int rc = -1;
    if (reply->type == REDIS_REPLY_ERROR)
        set_error(self, "redis error: %s", reply->str);
    else if (reply->type != REDIS_REPLY_STRING || reply->len != SHA_HEX - 1)
        set_error(self, "redis error: unexpected answer to SCRIPT LOAD");
    else {
        memcpy(script->sha, reply->str, SHA_HEX);
        rc = 0;
    }
    freeReplyObject(reply);
    return rc;
}

/* Runs the script over the lock's keys with ARGV args; LOCK_OK with the
 * integer it answered in *result_out, or LOCK_UNAVAILABLE (error set). */
static lock_status_t run_script(locker_t *self, script_t *script, const lock_t *lock,
                                const char *const *args, size_t arg_count, long long *result_out)
{
    lock_status_t status = LOCK_UNAVAILABLE;
    redisReply *reply = NULL;
    char numkeys[24];
    snprintf(numkeys, sizeof numkeys, "%zu", lock->key_count);
    size_t argc = 3 + lock->key_count + arg_count;
    const char **argv = malloc(argc * sizeof *argv);
    if (!argv) {
        set_error(self, "out of memory");
        goto done;
    }
    argv[2] = numkeys;
    for (size_t i = 0; i < lock->key_count; i++)
        argv[3 + i] = lock->keys[i];
    for (size_t i = 0; i < arg_count; i++)
        argv[3 + lock->key_count + i] = args[i];
    if (!script->sha[0] && load_script(self, script) != 0)
        goto done;
    argv[0] = "EVALSHA";
    argv[1] = script->sha;
    reply = run_command(self, (int)argc, argv);
    if (reply && reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "NOSCRIPT", 8) == 0) {
        /* Redis restarted or SCRIPT FLUSH: EVAL caches it again */
        freeReplyObject(reply);
        argv[0] = "EVAL";
        argv[1] = script->source;
        reply = run_command(self, (int)argc, argv);
    }
    if (!reply)
        goto done;
    if (reply->type == REDIS_REPLY_ERROR) {
        set_error(self, "redis error: %s", reply->str);
        goto done;
    }
    if (reply->type != REDIS_REPLY_INTEGER) {
        set_error(self, "redis error: unexpected answer from a lock script");
        goto done;
    }
    *result_out = reply->integer;
    status = LOCK_OK;
done:
    if (reply)
        freeReplyObject(reply);
    free(argv);
    return status;
}

static lock_status_t release_keys(locker_t *self, const lock_t *lock)
{
    const char *args[] = {lock->token};
    long long deleted = 0;
    return run_script(self, &self->release_script, lock, args, 1, &deleted);
}

/* --- lockers ---------------------------------------------------------------- */

locker_t *locker_new(const char *url, int timeout_ms)
{
    if (timeout_ms < 0) {
        log_error("invalid redis timeout", LF_INT("timeout_ms", timeout_ms),
                  LF_ERR("bad_redis_timeout"));
        return NULL;
    }
    locker_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    const char *reason = NULL;
    if (parse_url(self, url, &reason) != 0) {
        /* never the url itself: it may carry the password */
        log_error("invalid redis url", LF_STR("reason", reason), LF_ERR("bad_redis_url"));
        locker_destroy(&self);
        return NULL;
    }
    self->timeout_ms = timeout_ms ? timeout_ms : DEFAULT_TIMEOUT;
    self->renew_script.source = renew_lua;
    self->release_script.source = release_lua;
    if (random_bytes(&self->rng, sizeof self->rng) != 0)
        self->rng = (uint64_t)clock_mono_us() ^ ((uint64_t)getpid() << 32);
    if (self->rng == 0)
        self->rng = 0x9E3779B97F4A7C15ULL;
    return self;
}

void locker_destroy(locker_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    locker_t *self = *self_p;
    drop_connection(self);
    if (self->password) {
        explicit_bzero(self->password, strlen(self->password));
        free(self->password);
    }
    free(self);
    *self_p = NULL;
}

const char *locker_error(const locker_t *locker)
{
    return locker ? locker->error : "no locker";
}

/* --- locks ------------------------------------------------------------------ */

static void lock_free(lock_t **lock_p)
{
    lock_t *lock = *lock_p;
    if (!lock)
        return;
    for (size_t i = 0; i < lock->key_count; i++)
        free(lock->keys[i]);
    free(lock->keys);
    free(lock);
    *lock_p = NULL;
}

static int compare_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A lock for the sorted, unique, prefixed keys with a fresh token; NULL
 * with the error set. */
static lock_t *lock_prepare(locker_t *self, const char *const *keys, size_t key_count, int ttl_ms)
{
    const char **sorted = NULL;
    lock_t *lock = NULL;
    if (!keys || key_count == 0 || ttl_ms <= 0) {
        set_error(self, "invalid lock request: %s",
                  ttl_ms <= 0 ? "ttl must be positive" : "no keys");
        goto done;
    }
    sorted = malloc(key_count * sizeof *sorted);
    lock = calloc(1, sizeof *lock);
    if (!sorted || !lock || !(lock->keys = calloc(key_count, sizeof *lock->keys))) {
        set_error(self, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < key_count; i++) {
        if (!keys[i] || !keys[i][0]) {
            set_error(self, "invalid lock request: key %zu is %s", i, keys[i] ? "empty" : "NULL");
            goto fail;
        }
        sorted[i] = keys[i];
    }
    qsort(sorted, key_count, sizeof *sorted, compare_keys);
    for (size_t i = 0; i < key_count; i++) {
        if (i > 0 && strcmp(sorted[i], sorted[i - 1]) == 0)
            continue;
        size_t len = sizeof KEY_PREFIX + strlen(sorted[i]);
        char *key = malloc(len);
        if (!key) {
            set_error(self, "out of memory");
            goto fail;
        }
        snprintf(key, len, KEY_PREFIX "%s", sorted[i]);
        lock->keys[lock->key_count++] = key;
    }
    if (make_token(lock->token) != 0) {
        set_error(self, "could not make a lock token: %s", strerror(errno));
        goto fail;
    }
    lock->ttl_ms = ttl_ms;
    goto done;
fail:
    lock_free(&lock);
done:
    free(sorted);
    return lock;
}

/* One pipelined round of SET NX PX over every key. On anything but
 * LOCK_OK, every key holding our token is given back (including any a lost
 * reply of an earlier round left behind). */
static lock_status_t acquire_once(locker_t *self, lock_t *lock)
{
    lock_status_t status = LOCK_UNAVAILABLE;
    size_t n = lock->key_count;
    char ttl_text[16];
    snprintf(ttl_text, sizeof ttl_text, "%d", lock->ttl_ms);
    const char **argvs = malloc(n * 6 * sizeof *argvs);
    redis_cmd_t *cmds = malloc(n * sizeof *cmds);
    redisReply **replies = calloc(n, sizeof *replies);
    if (!argvs || !cmds || !replies) {
        set_error(self, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        const char **argv = argvs + 6 * i;
        argv[0] = "SET";
        argv[1] = lock->keys[i];
        argv[2] = lock->token;
        argv[3] = "NX";
        argv[4] = "PX";
        argv[5] = ttl_text;
        cmds[i] = (redis_cmd_t){6, argv};
    }
    if (run_pipeline(self, cmds, n, replies) != 0)
        goto done; /* what the lost replies took expires with the ttl */
    const char *busy_key = NULL;
    const char *error_text = NULL;
    size_t taken = 0;
    for (size_t i = 0; i < n; i++) {
        const redisReply *reply = replies[i];
        if (reply->type == REDIS_REPLY_STATUS && strcmp(reply->str, "OK") == 0)
            taken++;
        else if (reply->type == REDIS_REPLY_NIL) {
            if (!busy_key)
                busy_key = lock->keys[i];
        } else if (!error_text)
            error_text = reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected answer to SET";
    }
    if (taken == n) {
        status = LOCK_OK;
        goto done;
    }
    if (error_text) {
        set_error(self, "redis error: %s", error_text);
        (void)release_keys(self, lock); /* best effort: the ttl frees the rest */
        goto done;
    }
    if (release_keys(self, lock) != LOCK_OK)
        goto done;
    set_error(self, "lock busy: %s is held by someone else", busy_key);
    status = LOCK_BUSY;
done:
    if (replies)
        free_replies(replies, n);
    free(replies);
    free(cmds);
    free(argvs);
    return status;
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

lock_status_t locker_acquire(locker_t *locker, const char *const *keys, size_t key_count,
                             int ttl_ms, int wait_ms, lock_t **lock_out)
{
    if (!locker || !lock_out)
        return LOCK_UNAVAILABLE;
    *lock_out = NULL;
    lock_t *lock = lock_prepare(locker, keys, key_count, ttl_ms);
    if (!lock)
        return LOCK_UNAVAILABLE;
    int64_t deadline_ms = clock_mono_ms() + (wait_ms > 0 ? wait_ms : 0);
    int64_t backoff_ms = BACKOFF_FIRST_MS;
    lock_status_t status;
    for (;;) {
        /* the ttl counts from when Redis ran the SETs, no earlier than this */
        lock->renewed_at_ms = clock_mono_ms();
        status = acquire_once(locker, lock);
        if (status != LOCK_BUSY)
            break;
        int64_t left_ms = deadline_ms - clock_mono_ms();
        if (left_ms <= 0)
            break;
        /* equal jitter: half the step fixed, half random, so that
         * contenders spread out yet none waits much longer than needed */
        int64_t pause_ms =
            backoff_ms / 2 + (int64_t)(next_random(locker) % (uint64_t)(backoff_ms / 2 + 1));
        sleep_ms(pause_ms < left_ms ? pause_ms : left_ms);
        backoff_ms = backoff_ms * 2 < BACKOFF_MAX_MS ? backoff_ms * 2 : BACKOFF_MAX_MS;
    }
    if (status == LOCK_OK) {
        *lock_out = lock;
        return LOCK_OK;
    }
    lock_free(&lock);
    return status;
}

lock_status_t locker_renew(locker_t *locker, lock_t *lock)
{
    if (!locker || !lock)
        return LOCK_UNAVAILABLE;
    int64_t started_ms = clock_mono_ms();
    char ttl_text[16];
    snprintf(ttl_text, sizeof ttl_text, "%d", lock->ttl_ms);
    const char *args[] = {lock->token, ttl_text};
    long long renewed = 0;
    lock_status_t status = run_script(locker, &locker->renew_script, lock, args, 2, &renewed);
    if (status != LOCK_OK)
        return status;
    if (renewed != 1) {
        set_error(locker, "lock lost: %s no longer holds our token%s", lock->keys[0],
                  lock->key_count > 1 ? " (or another of its keys)" : "");
        return LOCK_BUSY;
    }
    /* the ttl counts from when Redis ran the script, no earlier than this */
    lock->renewed_at_ms = started_ms;
    return LOCK_OK;
}

lock_status_t locker_renew_due(locker_t *locker, lock_t *lock)
{
    if (!locker || !lock)
        return LOCK_UNAVAILABLE;
    if (clock_mono_ms() - lock->renewed_at_ms < lock->ttl_ms / 3)
        return LOCK_OK;
    return locker_renew(locker, lock);
}

void locker_release(locker_t *locker, lock_t **lock_p)
{
    if (!lock_p || !*lock_p)
        return;
    if (locker)
        (void)release_keys(locker, *lock_p); /* on failure the ttl frees the keys */
    lock_free(lock_p);
}

void locker_release_all(locker_t *locker, lock_t **locks, size_t count)
{
    size_t live = 0, argc_total = 0;
    for (size_t i = 0; i < count; i++)
        if (locks[i]) {
            live++;
            argc_total += 4 + locks[i]->key_count;
        }
    redis_cmd_t *cmds = NULL;
    const char **argvs = NULL;
    char(*numkeys)[24] = NULL;
    redisReply **replies = NULL;
    if (!locker || live == 0 ||
        (!locker->release_script.sha[0] && load_script(locker, &locker->release_script) != 0))
        goto done;
    cmds = malloc(live * sizeof *cmds);
    argvs = malloc(argc_total * sizeof *argvs);
    numkeys = malloc(live * sizeof *numkeys);
    replies = calloc(live, sizeof *replies);
    if (!cmds || !argvs || !numkeys || !replies)
        goto done;
    size_t n = 0, used = 0;
    for (size_t i = 0; i < count; i++) {
        const lock_t *lock = locks[i];
        if (!lock)
            continue;
        const char **argv = argvs + used;
        snprintf(numkeys[n], sizeof numkeys[n], "%zu", lock->key_count);
        argv[0] = "EVALSHA";
        argv[1] = locker->release_script.sha;
        argv[2] = numkeys[n];
        for (size_t k = 0; k < lock->key_count; k++)
            argv[3 + k] = lock->keys[k];
        argv[3 + lock->key_count] = lock->token;
        cmds[n] = (redis_cmd_t){(int)(4 + lock->key_count), argv};
        used += 4 + lock->key_count;
        n++;
    }
    if (run_pipeline(locker, cmds, n, replies) != 0)
        goto done; /* the connection failed: the ttl frees the keys */
    n = 0;
    for (size_t i = 0; i < count; i++) {
        if (!locks[i])
            continue;
        const redisReply *reply = replies[n++];
        /* Redis restarted since the script was loaded: one at a time, with EVAL */
        if (reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "NOSCRIPT", 8) == 0)
            (void)release_keys(locker, locks[i]);
    }
    free_replies(replies, live);
done:
    free(replies);
    free(numkeys);
    free(argvs);
    free(cmds);
    for (size_t i = 0; i < count; i++)
        lock_free(&locks[i]);
}

const char *lock_token(const lock_t *lock)
{
    return lock ? lock->token : "";
}

void locker_count_bypass(const char *purpose)
{
    static const char head[] = "purpose=\"";
    char labels[128];
    const char *text = purpose && purpose[0] ? purpose : "unknown";
    memcpy(labels, head, sizeof head - 1);
    size_t n = sizeof head - 1;
    for (const char *p = text; *p; p++) {
        bool escape = *p == '"' || *p == '\\' || *p == '\n';
        if (n + (escape ? 2 : 1) + 2 > sizeof labels) {
            n = 0; /* too long for a label: count it apart */
            break;
        }
        if (escape)
            labels[n++] = '\\';
        labels[n++] = *p == '\n' ? 'n' : *p;
    }
    if (n == 0)
        snprintf(labels, sizeof labels, "purpose=\"other\"");
    else {
        labels[n++] = '"';
        labels[n] = '\0';
    }
    metrics_counter_add(metrics_counter("lock_bypassed_total", labels,
                                        "Units of work done without the Redis lock "
                                        "(Redis away), by purpose"),
                        1);
}
