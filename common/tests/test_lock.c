/*
 * test_lock.c — Redis locks against a real Redis (TEST_REDIS_URL): mutual
 * exclusion, all-or-nothing over several keys, renewal, release that never
 * deletes someone else's key, ttl expiry, and behaviour when Redis is
 * unreachable, silent or restarted (a redis-server of our own under /tmp).
 *
 * Keys live under "lock:t_lock_<pid>_<random>:" so runs never collide.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/lock.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/numparse.h"

static const char *redis_url;
static char prefix[64];   /* "t_lock_<pid>_<random>" */
static redisContext *raw; /* our own view of the shared Redis */

/* --- a plain hiredis client for checking what the locker did ---------------- */

/* Connects to a redis:// URL (the locker's grammar) with AUTH and SELECT.
 * NULL if it cannot. */
static redisContext *raw_connect(const char *url)
{
    char host[256] = "", password[256] = "", number[16];
    int64_t port = 6379, db = 0;
    const char *p = url + strlen("redis://");
    if (strncmp(url, "redis://", 8) != 0)
        return NULL;
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
    struct timeval tv = {2, 0};
    redisContext *ctx = redisConnectWithTimeout(host, (int)port, tv);
    if (!ctx || ctx->err || redisSetTimeout(ctx, tv) != REDIS_OK)
        goto fail;
    if (password[0]) {
        redisReply *reply = redisCommand(ctx, "AUTH %s", password);
        bool ok = reply && reply->type != REDIS_REPLY_ERROR;
        if (reply)
            freeReplyObject(reply);
        if (!ok)
            goto fail;
    }
    redisReply *reply = redisCommand(ctx, "SELECT %d", (int)db);
    bool ok = reply && reply->type != REDIS_REPLY_ERROR;
    if (reply)
        freeReplyObject(reply);
    if (!ok)
        goto fail;
    return ctx;
fail:
    if (ctx)
        redisFree(ctx);
    return NULL;
}

/* Runs a command; the reply must not be an error. Caller frees. */
static redisReply *raw_cmd(redisContext *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *reply = redisvCommand(ctx, fmt, ap);
    va_end(ap);
    assert_non_null(reply);
    if (reply->type == REDIS_REPLY_ERROR)
        fail_msg("redis said %s to %s", reply->str, fmt);
    return reply;
}

/* The value of lock:<prefix>:<name> into out ("" when absent). */
static void raw_get(redisContext *ctx, const char *name, char *out, size_t out_size)
{
    redisReply *reply = raw_cmd(ctx, "GET lock:%s:%s", prefix, name);
    snprintf(out, out_size, "%s", reply->type == REDIS_REPLY_STRING ? reply->str : "");
    freeReplyObject(reply);
}

static long long raw_int(redisContext *ctx, const char *fmt, const char *name)
{
    char key[256];
    snprintf(key, sizeof key, "lock:%s:%s", prefix, name);
    redisReply *reply = raw_cmd(ctx, fmt, key);
    assert_int_equal(reply->type, REDIS_REPLY_INTEGER);
    long long value = reply->integer;
    freeReplyObject(reply);
    return value;
}

static long long raw_pttl(const char *name)
{
    return raw_int(raw, "PTTL %s", name);
}

static void raw_pexpire(const char *name, int ms)
{
    char key[256];
    snprintf(key, sizeof key, "lock:%s:%s", prefix, name);
    freeReplyObject(raw_cmd(raw, "PEXPIRE %s %d", key, ms));
}

static void assert_key_absent(const char *name)
{
    assert_int_equal(raw_int(raw, "EXISTS %s", name), 0);
}

static void assert_key_holds_in(redisContext *ctx, const char *name, const char *token)
{
    char value[128];
    raw_get(ctx, name, value, sizeof value);
    assert_string_equal(value, token);
}

static void assert_key_holds(const char *name, const char *token)
{
    assert_key_holds_in(raw, name, token);
}

/* Keys as the locker sees them: "<prefix>:<name>". */
typedef struct {
    char names[8][96];
    const char *ptrs[8];
    size_t count;
} keyset_t;

static keyset_t keys_of(const char *a, const char *b, const char *c, const char *d)
{
    keyset_t set = {.count = 0};
    const char *names[] = {a, b, c, d};
    for (size_t i = 0; i < 4 && names[i]; i++) {
        snprintf(set.names[i], sizeof set.names[i], "%s:%s", prefix, names[i]);
        set.count++;
    }
    return set;
}

/* The key array to pass to the locker (points into set). */
static const char *const *key_ptrs(keyset_t *set)
{
    for (size_t i = 0; i < set->count; i++)
        set->ptrs[i] = set->names[i];
    return set->ptrs;
}

static locker_t *new_locker(void)
{
    locker_t *locker = locker_new(redis_url, 500);
    assert_non_null(locker);
    return locker;
}

static void delete_prefix(redisContext *ctx)
{
    redisReply *keys = raw_cmd(ctx, "KEYS lock:%s:*", prefix);
    for (size_t i = 0; i < keys->elements; i++)
        freeReplyObject(raw_cmd(ctx, "DEL %s", keys->element[i]->str));
    freeReplyObject(keys);
}

/* --- a redis-server of our own to stop and restart -------------------------- */

typedef struct {
    pid_t pid;
    int port;
    char dir[64];
    char url[128]; /* with password and db 3 */
} own_redis_t;

#define OWN_PASSWORD "pw-Xq7s3cret"

static own_redis_t own_srv; /* stopped by teardown should a test fail midway */

/* A loopback port nobody listens on right now. */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    socklen_t len = sizeof addr;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
    close(fd);
    return ntohs(addr.sin_port);
}

static void own_redis_start(own_redis_t *srv)
{
    char port[16], logfile[96];
    snprintf(port, sizeof port, "%d", srv->port);
    snprintf(logfile, sizeof logfile, "%s/redis.log", srv->dir);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive a crashed test */
        execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--dir", srv->dir, "--logfile", logfile, "--requirepass",
               OWN_PASSWORD, (char *)NULL);
        _exit(127);
    }
    srv->pid = pid;
    int64_t deadline_ms = clock_mono_ms() + 10000;
    redisContext *ctx = NULL;
    while (!(ctx = raw_connect(srv->url))) {
        int status = 0;
        if (waitpid(pid, &status, WNOHANG) == pid)
            fail_msg("redis-server on port %d exited (is it installed? see %s)", srv->port,
                     logfile);
        if (clock_mono_ms() > deadline_ms)
            fail_msg("redis-server on port %d did not answer within 10 s", srv->port);
        struct timespec pause = {0, 10 * 1000000L};
        nanosleep(&pause, NULL);
    }
    redisFree(ctx);
}

static void own_redis_stop(own_redis_t *srv)
{
    if (srv->pid <= 0)
        return;
    kill(srv->pid, SIGTERM);
    int64_t deadline_ms = clock_mono_ms() + 10000;
    int status = 0;
    while (waitpid(srv->pid, &status, WNOHANG) == 0) {
        if (clock_mono_ms() > deadline_ms)
            kill(srv->pid, SIGKILL);
        struct timespec pause = {0, 5 * 1000000L};
        nanosleep(&pause, NULL);
    }
    srv->pid = 0;
}

/* --- tests ------------------------------------------------------------------ */

static void test_url_parsing(void **state)
{
    (void)state;
    char *captured = NULL;
    size_t captured_len = 0;
    FILE *out = open_memstream(&captured, &captured_len);
    assert_non_null(out);
    log_set_output(out);
    const char *bad[] = {
        "http://127.0.0.1:6379", "redis://",
        "redis://:6379",         "redis://host:0",
        "redis://host:65536",    "redis://host:12x",
        "redis://host:",         "redis://host/",
        "redis://host/x",        "redis://host/1/2",
        "redis://host?db=1",     "redis://user:topsecret1@host",
        "redis://:@host",        "redis://:top%zzsecret@host",
        "redis://:topsecret2@",  "redis://:topsecret3@host:99999",
        "redis://[::1",          "redis://ho st",
        "REDIS://host",          "redis://:topsecret4@host/db",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        locker_t *locker = locker_new(bad[i], 100);
        if (locker)
            fail_msg("accepted the bad url %s", bad[i]);
    }
    assert_null(locker_new(redis_url, -1));
    const char *good[] = {"redis://h", "redis://h:1", "redis://:p%40ss@h.example:6390/2",
                          "redis://[::1]:6379/0", "redis://10.0.0.1/15"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        locker_t *locker = locker_new(good[i], 100);
        if (!locker)
            fail_msg("refused the good url %s", good[i]);
        locker_destroy(&locker);
        assert_null(locker);
    }
    locker_destroy(NULL);
    fflush(out);
    log_set_output(NULL);
    fclose(out);
    assert_non_null(strstr(captured, "invalid redis url"));
    assert_null(strstr(captured, "topsecret"));
    free(captured);
}

static void test_acquire_and_release(void **state)
{
    (void)state;
    locker_t *locker = new_locker();
    keyset_t keys = keys_of("single", NULL, NULL, NULL);
    lock_t *lock = NULL;
    assert_int_equal(locker_acquire(locker, key_ptrs(&keys), keys.count, 3000, 0, &lock), LOCK_OK);
    assert_non_null(lock);
    const char *token = lock_token(lock);
    assert_int_equal(strlen(token), 32);
    assert_int_equal(strspn(token, "0123456789abcdef"), 32);
    assert_key_holds("single", token);
    long long pttl = raw_pttl("single");
    assert_true(pttl > 2000 && pttl <= 3000);
    char first_token[40];
    snprintf(first_token, sizeof first_token, "%s", token);
    locker_release(locker, &lock);
    assert_null(lock);
    assert_key_absent("single");
    /* a new lock gets a new token */
    assert_int_equal(locker_acquire(locker, key_ptrs(&keys), keys.count, 3000, 0, &lock), LOCK_OK);
    assert_string_not_equal(lock_token(lock), first_token);
    locker_release(locker, &lock);
    assert_key_absent("single");
    locker_release(locker, &lock); /* NULL-safe */
    locker_release(locker, NULL);
    locker_destroy(&locker);
}

static void test_held_key_is_busy_after_wait(void **state)
{
    (void)state;
    locker_t *a = new_locker(), *b = new_locker();
    keyset_t keys = keys_of("held", NULL, NULL, NULL);
    lock_t *lock_a = NULL, *lock_b = NULL;
    assert_int_equal(locker_acquire(a, key_ptrs(&keys), keys.count, 10000, 0, &lock_a), LOCK_OK);

    int64_t started = clock_mono_ms();
    assert_int_equal(locker_acquire(b, key_ptrs(&keys), keys.count, 10000, 0, &lock_b), LOCK_BUSY);
    assert_true(clock_mono_ms() - started < 200);
    assert_null(lock_b);

    started = clock_mono_ms();
    assert_int_equal(locker_acquire(b, key_ptrs(&keys), keys.count, 10000, 300, &lock_b),
                     LOCK_BUSY);
    int64_t waited = clock_mono_ms() - started;
    assert_true(waited >= 300);
    assert_true(waited < 800);
    assert_null(lock_b);
    assert_non_null(strstr(locker_error(b), "busy"));
    assert_key_holds("held", lock_token(lock_a));

    /* released while b waits: b gets it well before its wait is over */
    started = clock_mono_ms();
    locker_release(a, &lock_a);
    assert_int_equal(locker_acquire(b, key_ptrs(&keys), keys.count, 10000, 5000, &lock_b), LOCK_OK);
    assert_true(clock_mono_ms() - started < 1000);
    assert_key_holds("held", lock_token(lock_b));
    locker_release(b, &lock_b);
    assert_key_absent("held");
    locker_destroy(&a);
    locker_destroy(&b);
}

static void test_several_keys_all_or_nothing(void **state)
{
    (void)state;
    locker_t *a = new_locker(), *b = new_locker();
    lock_t *lock_a = NULL, *lock_b = NULL;

    /* a holds b; b asks for c, a, b, a (unsorted, with a duplicate) */
    keyset_t middle = keys_of("b", NULL, NULL, NULL);
    keyset_t wanted = keys_of("c", "a", "b", "a");
    assert_int_equal(locker_acquire(a, key_ptrs(&middle), middle.count, 10000, 0, &lock_a),
                     LOCK_OK);
    assert_int_equal(locker_acquire(b, key_ptrs(&wanted), wanted.count, 10000, 50, &lock_b),
                     LOCK_BUSY);
    assert_null(lock_b);
    assert_key_absent("a");
    assert_key_absent("c");
    assert_key_holds("b", lock_token(lock_a));
    locker_release(a, &lock_a);

    /* half-overlapping sets: {x, y} held, {y, z} wanted */
    keyset_t xy = keys_of("x", "y", NULL, NULL), yz = keys_of("z", "y", NULL, NULL);
    assert_int_equal(locker_acquire(a, key_ptrs(&xy), xy.count, 10000, 0, &lock_a), LOCK_OK);
    assert_int_equal(locker_acquire(b, key_ptrs(&yz), yz.count, 10000, 0, &lock_b), LOCK_BUSY);
    assert_key_absent("z");
    assert_key_holds("x", lock_token(lock_a));
    assert_key_holds("y", lock_token(lock_a));
    locker_release(a, &lock_a);
    assert_key_absent("x");
    assert_key_absent("y");

    /* free: all of them, duplicates are no obstacle */
    assert_int_equal(locker_acquire(b, key_ptrs(&wanted), wanted.count, 10000, 0, &lock_b),
                     LOCK_OK);
    assert_key_holds("a", lock_token(lock_b));
    assert_key_holds("b", lock_token(lock_b));
    assert_key_holds("c", lock_token(lock_b));
    keyset_t just_c = keys_of("c", NULL, NULL, NULL);
    assert_int_equal(locker_acquire(a, key_ptrs(&just_c), just_c.count, 10000, 0, &lock_a),
                     LOCK_BUSY);
    locker_release(b, &lock_b);
    assert_key_absent("a");
    assert_key_absent("b");
    assert_key_absent("c");

    /* nonsense requests are refused, not crashed on */
    const char *with_null[] = {key_ptrs(&wanted)[0], NULL};
    assert_int_equal(locker_acquire(a, with_null, 2, 1000, 0, &lock_a), LOCK_UNAVAILABLE);
    assert_int_equal(locker_acquire(a, key_ptrs(&wanted), 0, 1000, 0, &lock_a), LOCK_UNAVAILABLE);
    assert_int_equal(locker_acquire(a, key_ptrs(&wanted), 1, 0, 0, &lock_a), LOCK_UNAVAILABLE);
    assert_null(lock_a);
    locker_destroy(&a);
    locker_destroy(&b);
}

static void test_renew_extends_ttl(void **state)
{
    (void)state;
    locker_t *locker = new_locker();
    keyset_t keys = keys_of("r1", "r2", NULL, NULL);
    lock_t *lock = NULL;
    assert_int_equal(locker_acquire(locker, key_ptrs(&keys), keys.count, 5000, 0, &lock), LOCK_OK);
    raw_pexpire("r1", 1000);
    raw_pexpire("r2", 1000);
    assert_int_equal(locker_renew(locker, lock), LOCK_OK);
    assert_true(raw_pttl("r1") > 4000);
    assert_true(raw_pttl("r2") > 4000);

    /* just renewed: renew_due leaves it alone */
    raw_pexpire("r1", 1000);
    assert_int_equal(locker_renew_due(locker, lock), LOCK_OK);
    assert_true(raw_pttl("r1") <= 1000);
    locker_release(locker, &lock);

    /* once a third of the ttl has passed, renew_due renews */
    assert_int_equal(locker_acquire(locker, key_ptrs(&keys), keys.count, 300, 0, &lock), LOCK_OK);
    int64_t deadline = clock_mono_ms() + 2000;
    while (raw_pttl("r1") > 180)
        assert_true(clock_mono_ms() < deadline);
    assert_int_equal(locker_renew_due(locker, lock), LOCK_OK);
    assert_true(raw_pttl("r1") > 250);
    assert_true(raw_pttl("r2") > 250);
    locker_release(locker, &lock);
    assert_key_absent("r1");
    locker_destroy(&locker);
}

static void test_renew_and_release_after_theft(void **state)
{
    (void)state;
    locker_t *locker = new_locker();
    keyset_t keys = keys_of("s1", "s2", NULL, NULL);
    lock_t *lock = NULL;
    assert_int_equal(locker_acquire(locker, key_ptrs(&keys), keys.count, 5000, 0, &lock), LOCK_OK);
    freeReplyObject(raw_cmd(raw, "DEL lock:%s:s1", prefix));
    freeReplyObject(raw_cmd(raw, "SET lock:%s:s1 someone-else PX 10000", prefix));
    raw_pexpire("s2", 1000);
    assert_int_equal(locker_renew(locker, lock), LOCK_BUSY);
    assert_non_null(strstr(locker_error(locker), "lost"));
    assert_true(raw_pttl("s2") <= 1000); /* nothing extended */
    /* not due yet, so not even asked */
    assert_int_equal(locker_renew_due(locker, lock), LOCK_OK);
    locker_release(locker, &lock);
    assert_null(lock);
    assert_key_holds("s1", "someone-else");
    assert_key_absent("s2");
    freeReplyObject(raw_cmd(raw, "DEL lock:%s:s1", prefix));
    locker_destroy(&locker);
}

static void test_release_all_in_one_round_trip(void **state)
{
    (void)state;
    locker_t *locker = new_locker();
    keyset_t first = keys_of("m1", "m2", NULL, NULL);
    keyset_t second = keys_of("m3", NULL, NULL, NULL);
    keyset_t third = keys_of("m4", NULL, NULL, NULL);
    lock_t *locks[5] = {NULL};
    assert_int_equal(locker_acquire(locker, key_ptrs(&first), first.count, 5000, 0, &locks[0]),
                     LOCK_OK);
    assert_int_equal(locker_acquire(locker, key_ptrs(&second), second.count, 5000, 0, &locks[2]),
                     LOCK_OK);
    assert_int_equal(locker_acquire(locker, key_ptrs(&third), third.count, 5000, 0, &locks[4]),
                     LOCK_OK);
    /* m4 expired and someone else took it: it must stay theirs */
    freeReplyObject(raw_cmd(raw, "SET lock:%s:m4 someone-else PX 10000", prefix));
    locker_release_all(locker, locks, 5);
    for (size_t i = 0; i < 5; i++)
        assert_null(locks[i]);
    assert_key_absent("m1");
    assert_key_absent("m2");
    assert_key_absent("m3");
    assert_key_holds("m4", "someone-else");
    freeReplyObject(raw_cmd(raw, "DEL lock:%s:m4", prefix));
    locker_release_all(locker, locks, 5); /* all NULL: nothing to do */
    locker_release_all(locker, NULL, 0);
    locker_destroy(&locker);
}

static void test_ttl_expiry_frees_the_key(void **state)
{
    (void)state;
    locker_t *a = new_locker(), *b = new_locker();
    keyset_t keys = keys_of("expiring", NULL, NULL, NULL);
    lock_t *lock_a = NULL, *lock_b = NULL;
    int64_t held_at = clock_mono_ms();
    assert_int_equal(locker_acquire(a, key_ptrs(&keys), keys.count, 400, 0, &lock_a), LOCK_OK);
    assert_int_equal(locker_acquire(b, key_ptrs(&keys), keys.count, 5000, 0, &lock_b), LOCK_BUSY);
    assert_int_equal(locker_acquire(b, key_ptrs(&keys), keys.count, 5000, 3000, &lock_b), LOCK_OK);
    int64_t took = clock_mono_ms() - held_at;
    assert_true(took >= 380);
    assert_true(took < 1500);
    /* a's late release and renewal leave b's key alone */
    assert_int_equal(locker_renew(a, lock_a), LOCK_BUSY);
    locker_release(a, &lock_a);
    assert_key_holds("expiring", lock_token(lock_b));
    locker_release(b, &lock_b);
    assert_key_absent("expiring");
    locker_destroy(&a);
    locker_destroy(&b);
}

static void test_unreachable_redis_is_unavailable_quickly(void **state)
{
    (void)state;
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", free_port());
    locker_t *locker = locker_new(url, 300);
    assert_non_null(locker);
    keyset_t keys = keys_of("nowhere", NULL, NULL, NULL);
    lock_t *lock = NULL;
    for (int i = 0; i < 2; i++) {
        int64_t started = clock_mono_ms();
        assert_int_equal(locker_acquire(locker, key_ptrs(&keys), keys.count, 1000, 5000, &lock),
                         LOCK_UNAVAILABLE);
        assert_true(clock_mono_ms() - started < 300);
        assert_null(lock);
        assert_string_equal(locker_error(locker), "redis unavailable: Connection refused");
    }
    locker_destroy(&locker);

    /* a server that accepts connections and never answers: the timeout bounds each call */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    assert_int_equal(listen(fd, 16), 0);
    socklen_t len = sizeof addr;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", ntohs(addr.sin_port));
    locker = locker_new(url, 200);
    assert_non_null(locker);
    int64_t started = clock_mono_ms();
    assert_int_equal(locker_acquire(locker, key_ptrs(&keys), keys.count, 1000, 5000, &lock),
                     LOCK_UNAVAILABLE);
    int64_t took = clock_mono_ms() - started;
    assert_true(took >= 180);
    assert_true(took < 600);
    assert_string_equal(locker_error(locker), "redis unavailable: no answer within 200 ms");
    locker_destroy(&locker);
    close(fd);
}

static void test_restarted_redis_works_again(void **state)
{
    (void)state;
    own_srv.port = free_port();
    assert_true(mkdir(own_srv.dir, 0700) == 0 || errno == EEXIST);
    snprintf(own_srv.url, sizeof own_srv.url, "redis://:%s@127.0.0.1:%d/3", OWN_PASSWORD,
             own_srv.port);
    own_redis_start(&own_srv);
    redisContext *own = raw_connect(own_srv.url);
    assert_non_null(own);

    /* a wrong password is a clear error that does not repeat it */
    char url[160];
    snprintf(url, sizeof url, "redis://:not-%s@127.0.0.1:%d/3", OWN_PASSWORD, own_srv.port);
    locker_t *locker = locker_new(url, 300);
    keyset_t keys = keys_of("restart", NULL, NULL, NULL);
    lock_t *lock = NULL;
    assert_int_equal(locker_acquire(locker, key_ptrs(&keys), keys.count, 5000, 0, &lock),
                     LOCK_UNAVAILABLE);
    assert_non_null(strstr(locker_error(locker), "redis auth failed"));
    assert_null(strstr(locker_error(locker), OWN_PASSWORD));
    locker_destroy(&locker);

    /* AUTH and SELECT 3 from the url */
    locker = locker_new(own_srv.url, 300);
    assert_int_equal(locker_acquire(locker, key_ptrs(&keys), keys.count, 5000, 0, &lock), LOCK_OK);
    assert_key_absent("restart"); /* not in the shared Redis */
    assert_key_holds_in(own, "restart", lock_token(lock));
    assert_int_equal(locker_renew(locker, lock), LOCK_OK);
    locker_release(locker, &lock);
    assert_int_equal(raw_int(own, "EXISTS %s", "restart"), 0);
    redisFree(own);

    /* restarted behind the locker's back: the stale connection is replaced
     * within the call, and the lost scripts are sent again (NOSCRIPT) */
    own_redis_stop(&own_srv);
    own_redis_start(&own_srv);
    assert_int_equal(locker_acquire(locker, key_ptrs(&keys), keys.count, 5000, 0, &lock), LOCK_OK);
    assert_int_equal(locker_renew(locker, lock), LOCK_OK);

    /* down: quick, clear failures; renew and release do not crash */
    own_redis_stop(&own_srv);
    int64_t started = clock_mono_ms();
    lock_t *lock2 = NULL;
    assert_int_equal(locker_acquire(locker, key_ptrs(&keys), keys.count, 5000, 2000, &lock2),
                     LOCK_UNAVAILABLE);
    assert_true(clock_mono_ms() - started < 300);
    assert_string_equal(locker_error(locker), "redis unavailable: Connection refused");
    assert_int_equal(locker_renew(locker, lock), LOCK_UNAVAILABLE);
    locker_release(locker, &lock);
    assert_null(lock);

    /* back: the same locker works again */
    own_redis_start(&own_srv);
    assert_int_equal(locker_acquire(locker, key_ptrs(&keys), keys.count, 5000, 0, &lock), LOCK_OK);
    own = raw_connect(own_srv.url);
    assert_non_null(own);
    assert_key_holds_in(own, "restart", lock_token(lock));
    locker_release(locker, &lock);
    assert_int_equal(raw_int(own, "EXISTS %s", "restart"), 0);
    redisFree(own);
    locker_destroy(&locker);
    own_redis_stop(&own_srv);
}

static void test_count_bypass(void **state)
{
    (void)state;
    metrics_counter_t *stock = metrics_counter("lock_bypassed_total", "purpose=\"stock\"", "");
    metrics_counter_t *manager = metrics_counter("lock_bypassed_total", "purpose=\"manager\"", "");
    uint64_t stock_before = metrics_counter_value(stock);
    uint64_t manager_before = metrics_counter_value(manager);
    locker_count_bypass("stock");
    locker_count_bypass("stock");
    locker_count_bypass("manager");
    assert_int_equal(metrics_counter_value(stock), stock_before + 2);
    assert_int_equal(metrics_counter_value(manager), manager_before + 1);
}

static int setup(void **state)
{
    (void)state;
    raw = raw_connect(redis_url);
    if (!raw) {
        fprintf(stderr, "test_lock: cannot connect to TEST_REDIS_URL\n");
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    own_redis_stop(&own_srv);
    char logfile[96];
    snprintf(logfile, sizeof logfile, "%s/redis.log", own_srv.dir);
    unlink(logfile);
    rmdir(own_srv.dir);
    delete_prefix(raw);
    redisFree(raw);
    return 0;
}

int main(void)
{
    redis_url = getenv("TEST_REDIS_URL");
    if (!redis_url || !redis_url[0]) {
        fprintf(stderr, "test_lock: TEST_REDIS_URL is not set (e.g. redis://127.0.0.1:6390/0)\n");
        return 1;
    }
    unsigned seed = 0;
    FILE *urandom = fopen("/dev/urandom", "rb");
    if (!urandom || fread(&seed, sizeof seed, 1, urandom) != 1)
        seed = (unsigned)clock_mono_us();
    if (urandom)
        fclose(urandom);
    snprintf(prefix, sizeof prefix, "t_lock_%d_%08x", (int)getpid(), seed);
    snprintf(own_srv.dir, sizeof own_srv.dir, "/tmp/test_lock_%d", (int)getpid());
    log_init("test_lock", LOG_INFO);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_parsing),
        cmocka_unit_test(test_acquire_and_release),
        cmocka_unit_test(test_held_key_is_busy_after_wait),
        cmocka_unit_test(test_several_keys_all_or_nothing),
        cmocka_unit_test(test_renew_extends_ttl),
        cmocka_unit_test(test_renew_and_release_after_theft),
        cmocka_unit_test(test_release_all_in_one_round_trip),
        cmocka_unit_test(test_ttl_expiry_frees_the_key),
        cmocka_unit_test(test_unreachable_redis_is_unavailable_quickly),
        cmocka_unit_test(test_restarted_redis_works_again),
        cmocka_unit_test(test_count_bypass),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
