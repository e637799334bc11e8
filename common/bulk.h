/*
 * bulk.h — rows inserted at the end of the transaction, all in one statement.
 *
 * Batching is the lever for durable throughput (DESIGN.md): an applier
 * that applies 500 events in one transaction should not pay 500 round
 * trips and 500 executor starts for rows nobody reads back in that
 * transaction (the outbox's events, a history line per event). A bulk
 * insert collects such rows per session as binary arrays and inserts them
 * with one prepared `INSERT ... SELECT FROM unnest($1::type[], ...)` just
 * before COMMIT (db.h's deferral). Outside a transaction a row is inserted
 * at once. The rows are not visible to the transaction before it commits;
 * a failure to insert them fails the commit.
 *
 *     static const bulk_spec_t applied_spec = {
 *         .stmt = "kit_applied_bulk",
 *         .sql = "INSERT INTO kit_applied (seq, n) SELECT * FROM unnest($1::int8[], $2::int8[])",
 *         .column_oids = {PG_OID_INT8, PG_OID_INT8}, .column_count = 2};
 *     bulk_t *rows = bulk_of(db, &applied_spec);
 *     pg_array_add_i64(bulk_column(rows, 0), seq);
 *     pg_array_add_i64(bulk_column(rows, 1), n);
 *     status = bulk_row_done(db, rows);
 *
 * Write the SQL so that rows keep their order where it matters: `SELECT ...
 * FROM unnest(...) WITH ORDINALITY AS r(..., n) ORDER BY n`.
 *
 * A plain insert into one table can instead name `.copy = "COPY kit_applied
 * (seq, n) FROM STDIN (FORMAT binary)"` (and no .sql): the same rows go in
 * by COPY, in the order they were added, without unnest's executor work
 * per row (issue 15). The columns arrays are then the COPY's columns.
 */
#ifndef CONVEYOR_BULK_H
#define CONVEYOR_BULK_H

#include "common/db.h"
#include "common/pgarray.h"

#define BULK_COLUMNS_MAX 16

typedef struct bulk bulk_t;

typedef struct {
    const char *stmt; /* prepared statement name */
    const char *sql;  /* takes one array parameter per column, in order */
    const char *copy; /* or: COPY ... FROM STDIN (FORMAT binary), one column each */
    uint32_t column_oids[BULK_COLUMNS_MAX];
    int column_count;
    int order; /* flush order among a session's bulks (the outbox: last) */
    /* optional, with .sql: a statement run instead when db_commit flushes
     * (the rows are then the last work before COMMIT), same parameters */
    const char *stmt_at_commit;
    const char *sql_at_commit;
    /* optional: flushes the rows itself, in place of the statement (or
     * COPY) above, by bulk_run_statement or bulk_copy_in as it sees fit
     * (the outbox: COPY for a big batch it can number itself); the rows
     * are forgotten afterwards, whatever it returns */
    db_status_t (*flush)(db_t *db, bulk_t *bulk);
} bulk_spec_t;

/* The session's collector for spec (created and registered on first use;
 * the spec is borrowed and must outlive the session). Borrowed; NULL on
 * out of memory. */
bulk_t *bulk_of(db_t *db, const bulk_spec_t *spec);

/* The array of column i, to add this row's value to. Borrowed. */
pg_array_t *bulk_column(bulk_t *bulk, int i);

/* Marks the row complete: every column must have one more value. Outside
 * a transaction the row is inserted now. DB_ERROR if a column is short. */
db_status_t bulk_row_done(db_t *db, bulk_t *bulk);

/* Forgets the row being added (after a failed pg_array_add). */
void bulk_row_abandon(bulk_t *bulk);

/* For a spec's .flush: the complete rows collected. */
int32_t bulk_rows(const bulk_t *bulk);

/* For a spec's .flush: runs the spec's statement (.sql, or .sql_at_commit
 * when db_commit flushes) with the columns' arrays. */
db_status_t bulk_run_statement(db_t *db, bulk_t *bulk);

/* For a spec's .flush: inserts the rows by copy_sql (COPY ... FROM STDIN
 * (FORMAT binary)), each row's fields being its columns' values, then the
 * extra arrays' (extra_count of them, bulk_rows elements each, borrowed). */
db_status_t bulk_copy_in(db_t *db, bulk_t *bulk, const char *copy_sql, const pg_array_t *extra,
                         int extra_count);

#endif
