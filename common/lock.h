/*
 * lock.h — Redis locks that save work, never the only guard.
 *
 * DESIGN.md "Locks": SET key token NX PX ttl with a 128-bit random token,
 * renewal at ttl/3 (compare-and-PEXPIRE), release by compare-and-delete,
 * several keys locked in sorted order so two holders of overlapping sets
 * cannot deadlock. A lock only serialises work across replicas; PostgreSQL
 * constraints keep the data right when a lock expires early or Redis is
 * away. When Redis is away, locker_acquire answers LOCK_UNAVAILABLE with a
 * clear message at once (after the connect/command timeout), the caller
 * goes on with the database as the guard and counts it in
 * lock_bypassed_total (locker_count_bypass).
 *
 * A locker_t owns one Redis connection and is used by one thread. A
 * lock_t records what it holds; renewal is explicit (locker_renew_due at
 * convenient points) because conveyor holds these locks for milliseconds.
 */
#ifndef CONVEYOR_LOCK_H
#define CONVEYOR_LOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    LOCK_OK = 0,
    LOCK_BUSY = 1,         /* someone else holds a key past our wait, or renewal found it lost */
    LOCK_UNAVAILABLE = -1, /* Redis cannot be reached or answered an error */
} lock_status_t;

typedef struct locker locker_t;
typedef struct lock lock_t;

/* url: redis://[:password@]host[:port][/db]. timeout_ms bounds connect and
 * each command (0 means 500 ms). Connects lazily and reconnects after an
 * error. Caller owns the result; NULL if the URL does not parse (logged). */
locker_t *locker_new(const char *url, int timeout_ms);
void locker_destroy(locker_t **self_p);

/* Locks all keys or none, in sorted order, each for ttl_ms, retrying with
 * jittered backoff for up to wait_ms (0: one attempt). On LOCK_OK the
 * caller owns *lock_out and must release it. On failure nothing is held.
 * Keys are prefixed with "lock:" in Redis. */
lock_status_t locker_acquire(locker_t *locker, const char *const *keys, size_t key_count,
                             int ttl_ms, int wait_ms, lock_t **lock_out);

/* Extends every key by the lock's ttl if we still hold it (token compare).
 * LOCK_BUSY if any key is no longer ours: treat the lock as lost. */
lock_status_t locker_renew(locker_t *locker, lock_t *lock);

/* Renews only if a third of the ttl has passed since the last renewal. */
lock_status_t locker_renew_due(locker_t *locker, lock_t *lock);

/* Deletes each key that still holds our token, frees the lock and sets
 * *lock_p to NULL. NULL-safe; failures are ignored (the ttl frees it). */
void locker_release(locker_t *locker, lock_t **lock_p);

/* Releases several locks in one round trip (their compare-and-deletes
 * pipelined), frees each and sets its slot NULL; NULL slots are skipped.
 * For work that holds many locks until a transaction ends (a batch).
 * Failures are ignored (the ttl frees the keys). */
void locker_release_all(locker_t *locker, lock_t **locks, size_t count);

/* The last error in words ("redis unavailable: Connection refused"). */
const char *locker_error(const locker_t *locker);

/* Counts one unit of work done without the lock (lock_bypassed_total,
 * labelled by purpose, e.g. "stock"). */
void locker_count_bypass(const char *purpose);

/* The token of a held lock, hex (fencing/diagnostics). Borrowed. */
const char *lock_token(const lock_t *lock);

#endif
