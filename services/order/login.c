/*
 * login.c — the rate limit and the lockout of POST /v1/auth/token
 * (login.h): decisions only, the database keeps the state.
 */
#include "services/order/login.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

bool login_rate_admit(int64_t tat_ms, int64_t now_ms, int rate_max, int64_t window_ms,
                      int64_t *tat_out, int64_t *retry_after_ms)
{
    /* one attempt every `interval`, up to rate_max of them at once: the
     * next theoretical arrival may run ahead of now by at most the window */
    int64_t interval = rate_max > 0 ? window_ms / rate_max : window_ms;
    if (interval < 1)
        interval = 1;
    int64_t next = (tat_ms > now_ms ? tat_ms : now_ms) + interval;
    if (next - now_ms <= window_ms) {
        *tat_out = next;
        return true;
    }
    *retry_after_ms = next - now_ms - window_ms;
    return false;
}

bool login_guard_locked(const login_guard_t *guard, int64_t now_ms)
{
    return guard->locked_until_ms > now_ms;
}

void login_guard_fail(login_guard_t *guard, int64_t now_ms, int max_failures, int64_t lock_ms)
{
    if (login_guard_locked(guard, now_ms))
        return; /* refused by the lock: counted nowhere */
    if (guard->failures <= 0 || guard->window_start_ms + lock_ms <= now_ms) {
        guard->failures = 0;
        guard->window_start_ms = now_ms;
    }
    guard->failures++;
    if (guard->failures >= max_failures) {
        guard->locked_until_ms = now_ms + lock_ms;
        guard->failures = 0;
        guard->window_start_ms = 0;
    }
}

int64_t login_guard_expires_ms(const login_guard_t *guard, int64_t lock_ms)
{
    int64_t counting = guard->failures > 0 ? guard->window_start_ms + lock_ms : 0;
    return counting > guard->locked_until_ms ? counting : guard->locked_until_ms;
}

int login_client_key(const char *address, char *out, size_t size)
{
    unsigned char bytes[16];
    char text[INET6_ADDRSTRLEN];
    if (!address)
        return -1;
    if (inet_pton(AF_INET, address, bytes) == 1) {
        if (!inet_ntop(AF_INET, bytes, text, sizeof text))
            return -1;
    } else if (inet_pton(AF_INET6, address, bytes) == 1) {
        memset(bytes + 8, 0, 8); /* one host holds a whole /64 */
        if (!inet_ntop(AF_INET6, bytes, text, sizeof text))
            return -1;
    } else {
        return -1;
    }
    int n = snprintf(out, size, "%s%s", text, strchr(text, ':') ? "/64" : "");
    return n > 0 && (size_t)n < size ? 0 : -1;
}
