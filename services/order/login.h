/*
 * login.h — the rules in front of POST /v1/auth/token, as pure functions
 * over plain values. Their state (one timestamp per client, a few counts
 * per login) lives in PostgreSQL, read and written by api.c through
 * store.c, so that every replica counts the same attempts.
 *
 * Two limits, each answering a different attacker:
 *
 *   - a rate limit per client (an IPv4 address, or an IPv6 /64: one host
 *     holds a whole /64), checked before any password is hashed: Argon2id
 *     costs tens of milliseconds and 64 MiB, so it is the last thing a
 *     flood of attempts may reach. It is the generic cell rate algorithm:
 *     rate_max attempts in any window of rate_window_ms, at most rate_max
 *     at once, then one every window / rate_max; one timestamp per client
 *     (the "theoretical arrival time"), no counters to reset.
 *
 *   - a lockout of a login that does not tell whether the login exists:
 *     failures are counted under the login name as typed, for unknown
 *     names exactly as for real ones, and a locked login is answered like
 *     a wrong password (after the same Argon2id work). Against an
 *     attacker who locks a real user out on purpose, the failures count
 *     per (login, client): max_failures from one client lock that client
 *     out of that login only, for lock_ms. The login locks for every
 *     client only after max_failures_all failures from all clients
 *     together, so locking someone out takes many addresses, while a
 *     guesser spread over many addresses is still stopped. Attempts that a
 *     lock refused count nowhere (they cannot stretch a lock, and one
 *     client cannot add more than max_failures to the login's count).
 */
#ifndef ORDER_LOGIN_H
#define ORDER_LOGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    int rate_max;           /* LOGIN_RATE_MAX: attempts per client ... */
    int64_t rate_window_ms; /* ... within LOGIN_RATE_WINDOW */
    int max_failures;       /* LOGIN_MAX_FAILURES: per login and client */
    int max_failures_all;   /* LOGIN_MAX_FAILURES_ALL: per login, every client */
    int64_t lock_ms;        /* LOGIN_LOCK: how long a lock lasts, and the window
                               failures are counted in */
} login_policy_t;

/* The rate limit: whether an attempt at now_ms is let through, given the
 * client's theoretical arrival time tat_ms (0 for a client never seen).
 * When it is, *tat_out is the time to store; when not, *retry_after_ms
 * is how long until the next attempt would be (at least 1). */
bool login_rate_admit(int64_t tat_ms, int64_t now_ms, int rate_max, int64_t window_ms,
                      int64_t *tat_out, int64_t *retry_after_ms);

/* Failed attempts under one login, from one client or from all. */
typedef struct {
    int failures;
    int64_t window_start_ms; /* the first failure counted; 0 when none */
    int64_t locked_until_ms; /* 0 when not locked */
} login_guard_t;

bool login_guard_locked(const login_guard_t *guard, int64_t now_ms);

/* Counts one failure at now_ms (nothing while locked): failures older
 * than lock_ms are forgotten, and the max_failures-th locks the guard for
 * lock_ms, starting a fresh count after it. */
void login_guard_fail(login_guard_t *guard, int64_t now_ms, int max_failures, int64_t lock_ms);

/* When the guard means nothing any more (no lock, no failure counted):
 * its row may then be deleted. */
int64_t login_guard_expires_ms(const login_guard_t *guard, int64_t lock_ms);

/* The key a client is counted by: an IPv4 address as it is, an IPv6
 * address as its /64 ("2001:db8:1:2::/64"). -1 if address does not parse
 * or out is too small (64 bytes always suffice). */
int login_client_key(const char *address, char *out, size_t size);

#endif
