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
 * and records (set, name, sha256 of the text). 0 ok; -1 after logging what
 * failed: the migration, the database's message, or a changed checksum. */
int migrate_run(struct db *owner_db, const char *schema, const migration_set_t *const *sets,
                size_t set_count);

#endif
