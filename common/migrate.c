/*
 * migrate.c — applies embedded migrations at start (migrate.h).
 *
 * Replicas starting together serialise on the schema's migration advisory
 * lock; the first applies, the others find everything recorded. Each
 * migration runs in its own transaction with its record, so a failure
 * leaves the schema at the last good migration and the next start goes on
 * from there.
 */
#include "common/migrate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/db.h"
#include "common/digest.h"
#include "common/log.h"

#define STMT_RECORDED "migrate_recorded"
#define STMT_RECORD   "migrate_record"

/* 1 if the schema exists, 0 if not, -1 if the database did not answer. */
static int schema_exists(db_t *db, const char *schema)
{
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, schema);
    PGresult *res = NULL;
    if (db_run_sql(db, "SELECT to_regnamespace($1) IS NOT NULL", &params, &res) != DB_OK)
        return -1;
    int exists = db_value(res, 0, 0) && db_value(res, 0, 0)[0] == 't';
    PQclear(res);
    return exists;
}

/* Makes sure the schema exists and this session works inside it;
 * MIGRATE_UNAVAILABLE when the database does not answer (not logged: the
 * caller waits and says so), MIGRATE_FAILED after logging. Replicas starting together may all try
 * to create the schema: the ones that lose the race find it there and go on. (The advisory lock is
 * keyed by the schema's oid, so it cannot be taken before this.) */
static int enter_schema(db_t *db, const char *schema)
{
    PGconn *conn = NULL;
    if (db_connect(db) != DB_OK || !(conn = db_conn(db)))
        return MIGRATE_UNAVAILABLE;
    char *quoted = PQescapeIdentifier(conn, schema, strlen(schema));
    if (!quoted) {
        log_error("could not quote the schema name", LF_STR("schema", schema),
                  LF_STR("pg", PQerrorMessage(conn)), LF_ERR("migration_failed"));
        return MIGRATE_FAILED;
    }
    char sql[256];
    int rc = MIGRATE_FAILED;
    int exists = schema_exists(db, schema);
    if (exists < 0) {
        rc = MIGRATE_UNAVAILABLE;
        goto done;
    }
    if (exists == 0) {
        snprintf(sql, sizeof sql, "CREATE SCHEMA IF NOT EXISTS %s", quoted);
        if (db_run_sql(db, sql, NULL, NULL) != DB_OK && schema_exists(db, schema) != 1) {
            log_error("the service's schema does not exist and cannot be created: provision it "
                      "(scripts/pg.sh) or grant CREATE on the database",
                      LF_STR("schema", schema), LF_STR("pg", db_errmsg(db)), LF_ERR("no_schema"));
            goto done;
        }
    }
    snprintf(sql, sizeof sql, "SET search_path TO %s", quoted);
    db_status_t entered = db_run_sql(db, sql, NULL, NULL);
    if (entered == DB_TRANSIENT) {
        rc = MIGRATE_UNAVAILABLE;
        goto done;
    }
    if (entered != DB_OK) {
        log_error("migrations could not enter the schema", LF_STR("schema", schema),
                  LF_STR("pg", db_errmsg(db)), LF_ERR("migration_failed"));
        goto done;
    }
    rc = MIGRATE_OK;
done:
    PQfreemem(quoted);
    return rc;
}

/* Applies one migration unless recorded; MIGRATE_UNAVAILABLE when the
 * database went away (not logged), MIGRATE_FAILED after logging.
 * generation is the session that holds the migration lock and the
 * search_path. */
static int apply_one(db_t *db, const char *schema, uint64_t generation, const char *set,
                     const migration_t *item)
{
    char checksum[65];
    if (digest_sha256_hex(item->sql, strlen(item->sql), checksum) != 0)
        return MIGRATE_FAILED;
    db_params_t params;
    db_params_init(&params);
    db_param_text(&params, set);
    db_param_text(&params, item->name);
    PGresult *res = NULL;
    db_status_t read = db_run(db, STMT_RECORDED, &params, &res);
    if (read == DB_TRANSIENT)
        return MIGRATE_UNAVAILABLE;
    if (read != DB_OK) {
        log_error("could not read schema_migrations", LF_STR("schema", schema),
                  LF_STR("pg", db_errmsg(db)), LF_ERR("migration_failed"));
        return MIGRATE_FAILED;
    }
    const char *recorded = db_value(res, 0, 0);
    if (recorded) {
        int same = strcmp(recorded, checksum) == 0;
        if (!same)
            log_error("an applied migration was edited: never edit one, add a new migration",
                      LF_STR("schema", schema), LF_STR("set", set), LF_STR("migration", item->name),
                      LF_STR("recorded_sha256", recorded), LF_STR("sha256", checksum),
                      LF_ERR("migration_changed"));
        PQclear(res);
        return same ? MIGRATE_OK : MIGRATE_FAILED;
    }
    PQclear(res);

    db_params_t record;
    db_params_init(&record);
    db_param_text(&record, set);
    db_param_text(&record, item->name);
    db_param_text(&record, checksum);
    db_status_t status = db_begin(db);
    if (status == DB_OK && db_generation(db) != generation) {
        /* reconnected since the lock was taken: nothing is written
         * without the lock, or outside the schema; the next try goes on */
        db_rollback(db);
        return MIGRATE_UNAVAILABLE;
    }
    if (status == DB_OK)
        status = db_run_sql(db, item->sql, NULL, NULL);
    if (status == DB_OK)
        status = db_run(db, STMT_RECORD, &record, NULL);
    if (status == DB_OK)
        status = db_commit(db);
    if (status != DB_OK) {
        db_rollback(db);
        if (status == DB_TRANSIENT)
            return MIGRATE_UNAVAILABLE;
        log_error("migration failed", LF_STR("schema", schema), LF_STR("set", set),
                  LF_STR("migration", item->name), LF_STR("pg", db_errmsg(db)),
                  LF_STR("sqlstate", db_sqlstate(db)), LF_ERR("migration_failed"));
        return MIGRATE_FAILED;
    }
    log_info("migration applied", LF_STR("schema", schema), LF_STR("set", set),
             LF_STR("migration", item->name));
    return 0;
}

int migrate_run(struct db *owner_db, const char *schema, const migration_set_t *const *sets,
                size_t set_count)
{
    int entered = enter_schema(owner_db, schema);
    if (entered != MIGRATE_OK)
        return entered;
    /* The search_path, and soon the lock, live in this session: if it is
     * replaced while we work, stop rather than go on without them. */
    uint64_t generation = db_generation(owner_db);
    if (db_prepare(owner_db, STMT_RECORDED,
                   "SELECT sha256 FROM schema_migrations WHERE set_name = $1 AND name = $2") != 0 ||
        db_prepare(owner_db, STMT_RECORD,
                   "INSERT INTO schema_migrations (set_name, name, sha256) VALUES ($1, $2, $3)") !=
            0)
        return MIGRATE_FAILED;
    db_status_t locked = db_advisory_lock(owner_db, schema, DB_LOCK_MIGRATIONS);
    if (locked == DB_TRANSIENT || (locked == DB_OK && db_generation(owner_db) != generation))
        return MIGRATE_UNAVAILABLE;
    if (locked != DB_OK) {
        log_error("could not take the migration lock", LF_STR("schema", schema),
                  LF_STR("pg", db_errmsg(owner_db)), LF_ERR("migration_failed"));
        return MIGRATE_FAILED;
    }
    /* under the lock: concurrent CREATE ... IF NOT EXISTS can collide */
    db_status_t created = db_run_sql(owner_db,
                                     "CREATE TABLE IF NOT EXISTS schema_migrations ("
                                     " set_name text NOT NULL, name text NOT NULL,"
                                     " sha256 text NOT NULL,"
                                     " applied_at timestamptz NOT NULL DEFAULT now(),"
                                     " PRIMARY KEY (set_name, name))",
                                     NULL, NULL);
    if (created != DB_OK) {
        if (created != DB_TRANSIENT)
            log_error("could not create schema_migrations", LF_STR("schema", schema),
                      LF_STR("pg", db_errmsg(owner_db)), LF_ERR("migration_failed"));
        db_advisory_unlock(owner_db, schema, DB_LOCK_MIGRATIONS);
        return created == DB_TRANSIENT ? MIGRATE_UNAVAILABLE : MIGRATE_FAILED;
    }
    int rc = MIGRATE_OK;
    for (size_t s = 0; s < set_count && rc == MIGRATE_OK; s++) {
        const migration_set_t *set = sets[s];
        if (!set)
            continue;
        for (size_t i = 0; i < set->count && rc == MIGRATE_OK; i++)
            rc = apply_one(owner_db, schema, generation, set->set, &set->items[i]);
    }
    if (db_generation(owner_db) == generation)
        db_advisory_unlock(owner_db, schema, DB_LOCK_MIGRATIONS);
    return rc;
}
