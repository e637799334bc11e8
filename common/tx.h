/*
 * tx.h — the one transaction runner of every service: routes, domain code
 * outside the applier, anything that must commit once.
 *
 * The retry policy (DESIGN.md "Security"), in full:
 *
 *   - the body runs in a transaction begun with db_begin_tracked (its id is
 *     taken inside it, in the same round trip as BEGIN);
 *   - the whole transaction is run again — up to TX_ATTEMPTS times, with a
 *     short jittered pause — only when it certainly did not commit: a
 *     statement failed with 40001 (serialization), 40P01 (deadlock) or
 *     55P03 (lock timeout), or the connection was lost before COMMIT was
 *     sent;
 *   - a COMMIT whose answer was lost is never run again: the database is
 *     asked what became of that transaction id (txid_status, db_settle).
 *     Committed: the effects happened, the caller gets DB_OK and answers
 *     as if the answer had come. Aborted: it is run again as above. Still
 *     unknown after TX_SETTLE_MS: DB_UNKNOWN (say so; never guess);
 *   - anything else (a constraint, bad data, a body's own DB_ERROR, the
 *     database away for longer than the attempts) comes back to the
 *     caller, which answers for it once (db_failure_of names it).
 *
 * A body may decide not to commit (a refusal: nothing to change, or a
 * rule says no): it calls tx_abandon and returns DB_OK; the transaction is
 * rolled back and tx_run returns DB_OK with tx->abandoned set. A body must
 * be safe to run again from the start — it decides from the database, not
 * from what an earlier attempt left in memory (reset what it fills).
 */
#ifndef CONVEYOR_TX_H
#define CONVEYOR_TX_H

#include <stdbool.h>

#include "common/db.h"

#define TX_ATTEMPTS  3
#define TX_SETTLE_MS 10000

typedef struct {
    db_t *db;
    int attempt;    /* 1, 2 ... for the body's logs */
    bool abandoned; /* the body called tx_abandon */
    bool settled;   /* the COMMIT's answer was lost and the database said "committed" */
} tx_t;

typedef db_status_t (*tx_body_fn)(tx_t *tx, void *arg);

/* Roll back instead of committing; the body still returns DB_OK. */
void tx_abandon(tx_t *tx);

/* Runs body in a transaction on db (no transaction open) by the policy
 * above. DB_OK: committed (or abandoned: tx_out->abandoned); else the
 * failure, with db_sqlstate/db_errmsg telling it. tx_out may be NULL. */
db_status_t tx_run(db_t *db, tx_body_fn body, void *arg, tx_t *tx_out);

#endif
