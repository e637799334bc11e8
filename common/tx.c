/*
 * tx.c — run a transaction once, however the connection behaves (tx.h).
 */
#include "common/tx.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"

void tx_abandon(tx_t *tx)
{
    tx->abandoned = true;
}

/* Lost to another writer: certainly not committed, and worth another go. */
static bool lost_a_race(const db_t *db)
{
    const char *state = db_sqlstate(db);
    return strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 ||
           strcmp(state, "55P03") == 0;
}

/* The connection went before COMMIT was sent (or before the body ended):
 * what was done is rolled back with the session. No SQLSTATE at all means
 * the server never answered. */
static bool lost_the_session(const db_t *db, db_status_t status)
{
    const char *state = db_sqlstate(db);
    return status == DB_TRANSIENT && (state[0] == '\0' || strncmp(state, "08", 2) == 0);
}

static void pause_before(int attempt)
{
    long ms = 20L * attempt + rand() % 30;
    struct timespec pause = {0, ms * 1000 * 1000};
    nanosleep(&pause, NULL);
}

db_status_t tx_run(db_t *db, tx_body_fn body, void *arg, tx_t *tx_out)
{
    tx_t tx = {.db = db};
    db_status_t status = DB_ERROR;
    for (int attempt = 1; attempt <= TX_ATTEMPTS; attempt++) {
        tx.attempt = attempt;
        tx.abandoned = false;
        status = db_begin_tracked(db);
        if (status == DB_OK)
            status = body(&tx, arg);
        if (status == DB_OK && !tx.abandoned)
            status = db_commit(db);
        if (status == DB_UNKNOWN) {
            bool committed = false;
            status = db_settle(db, TX_SETTLE_MS, &committed);
            if (status == DB_OK && committed) {
                tx.settled = true;
                log_warn("a COMMIT's answer was lost; the database says it committed",
                         LF_INT("attempt", attempt), LF_ERR("commit_settled"));
                break;
            }
            if (status != DB_OK)
                break;             /* still unknown: the caller says so */
            status = DB_TRANSIENT; /* aborted: as if never sent */
            log_info("a COMMIT's answer was lost; the database says it rolled back: running "
                     "it again",
                     LF_INT("attempt", attempt));
            continue;
        }
        if (status == DB_OK) {
            if (tx.abandoned)
                db_rollback(db);
            break;
        }
        db_rollback(db);
        if (!lost_a_race(db) && !lost_the_session(db, status))
            break;
        log_info("transaction certainly did not commit; running it again",
                 LF_INT("attempt", attempt), LF_STR("sqlstate", db_sqlstate(db)));
        if (attempt < TX_ATTEMPTS)
            pause_before(attempt);
    }
    if (tx_out)
        *tx_out = tx;
    return status;
}
