/*
 * txlock.h — a Redis lock held until the database transaction ends.
 *
 * A lock that keeps concurrent work fair across replicas (F5's manager
 * assignment) must be held until the decision is committed: released
 * earlier, another replica decides on data that does not yet show the
 * first decision. txlock ties a lock to the session's open transaction: it
 * is taken once (again within the same transaction is a no-op, so an
 * applier deciding for many events in one batch takes it once) and
 * released right after COMMIT or ROLLBACK. The database stays the guard:
 * when Redis is away the caller goes on and counts the bypass.
 */
#ifndef CONVEYOR_TXLOCK_H
#define CONVEYOR_TXLOCK_H

#include "common/db.h"
#include "common/lock.h"

/* Holds key (Redis "lock:<key>") for the rest of db's open transaction.
 * LOCK_OK when held (now or already); LOCK_BUSY when another holder kept
 * it past wait_ms; LOCK_UNAVAILABLE when Redis is away. locker is borrowed
 * and must outlive the transaction (service_locker of this thread). */
lock_status_t txlock_hold(db_t *db, locker_t *locker, const char *key, int ttl_ms, int wait_ms);

#endif
