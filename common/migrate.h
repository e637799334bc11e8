/*
 * migrate.h — apply a program's migrations at start, once, in order.
 *
 * DESIGN.md: migrations live in services/<name>/migrations/NNN_title.sql,
 * are applied at start under an advisory lock and recorded in
 * <schema>.schema_migrations; an applied one is never edited. The SQL is
 * embedded in the binary at build time (tools/embed_sql.c), so the kit's
 * own tables (common/migrations, set "kit") and the program's (set named
 * after it) travel with it. Each migration runs in its own transaction
 * together with its record; a recorded migration whose text changed stops
 * the start with a clear error rather than running against a schema that
 * does not match the code.
 */
#ifndef CONVEYOR_MIGRATE_H
#define CONVEYOR_MIGRATE_H

#include <stddef.h>

typedef struct {
    const char *name; /* file name, "001_outbox.sql" */
    const char *sql;  /* the whole file; may hold several statements */
} migration_t;

typedef struct {
    const char *set; /* "kit", or the program's name */
    const migration_t *items;
    size_t count;
} migration_set_t;

/* The kit's own migrations (generated from common/migrations/). */
extern const migration_set_t kit_migrations;

struct db;

/* Applies every migration of every set not yet recorded, sets in the order
 * given and each set in file order, on a connection of the schema's owner
 * role. Takes the schema's migration advisory lock (waits for another
 * replica doing the same), creates <schema>.schema_migrations if needed,
 * and records (set, name, sha256 of the text).
 *   MIGRATE_OK           done;
 *   MIGRATE_UNAVAILABLE  the database did not answer or the session was
 *                        lost midway (not logged: the caller waits and tries
 *                        again; what was applied stays, each migration is
 *                        one transaction);
 *   MIGRATE_FAILED       after logging what failed: a migration, the
 *                        database's message, a changed checksum — trying
 *                        again will not help. */
enum { MIGRATE_OK = 0, MIGRATE_FAILED = -1, MIGRATE_UNAVAILABLE = -2 };
int migrate_run(struct db *owner_db, const char *schema, const migration_set_t *const *sets,
                size_t set_count);

#endif
