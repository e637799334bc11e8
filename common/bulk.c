/*
 * bulk.c — deferred multi-row inserts (bulk.h).
 *
 * Each session holds one collector per spec, registered as a db deferral
 * keyed by the spec's address; its flush packs the column arrays and runs
 * the spec's statement once.
 */
#include "common/bulk.h"

#include <stdlib.h>
#include <string.h>

#include "common/log.h"

struct bulk {
    db_deferred_t base;
    const bulk_spec_t *spec;
    pg_array_t columns[BULK_COLUMNS_MAX];
    int32_t rows;
};

static void bulk_discard(db_deferred_t *self)
{
    bulk_t *bulk = (bulk_t *)self;
    for (int i = 0; i < bulk->spec->column_count; i++)
        pg_array_reset(&bulk->columns[i]);
    bulk->rows = 0;
}

static void bulk_destroy(db_deferred_t *self)
{
    bulk_t *bulk = (bulk_t *)self;
    for (int i = 0; i < bulk->spec->column_count; i++)
        pg_array_release(&bulk->columns[i]);
    free(bulk);
}

static db_status_t bulk_flush(db_t *db, db_deferred_t *self)
{
    bulk_t *bulk = (bulk_t *)self;
    if (bulk->rows == 0)
        return DB_OK;
    db_params_t params;
    db_params_init(&params);
    db_status_t status = DB_OK;
    for (int i = 0; i < bulk->spec->column_count; i++) {
        const uint8_t *wire = NULL;
        size_t len = 0;
        if (pg_array_wire(&bulk->columns[i], &wire, &len) != 0) {
            status = DB_ERROR;
            goto done;
        }
        db_param_bytes(&params, wire, len);
    }
    status = db_run(db, bulk->spec->stmt, &params, NULL);
done:
    bulk_discard(self);
    return status;
}

bulk_t *bulk_of(db_t *db, const bulk_spec_t *spec)
{
    db_deferred_t *found = db_deferred_find(db, spec);
    if (found)
        return (bulk_t *)found;
    if (spec->column_count < 1 || spec->column_count > BULK_COLUMNS_MAX ||
        db_prepare(db, spec->stmt, spec->sql) != 0)
        return NULL;
    bulk_t *bulk = calloc(1, sizeof *bulk);
    if (!bulk)
        return NULL;
    bulk->base.key = spec;
    bulk->base.order = spec->order;
    bulk->base.flush = bulk_flush;
    bulk->base.discard = bulk_discard;
    bulk->base.destroy = bulk_destroy;
    bulk->spec = spec;
    for (int i = 0; i < spec->column_count; i++)
        pg_array_init(&bulk->columns[i], spec->column_oids[i]);
    if (db_deferred_add_take(db, &bulk->base) != 0) {
        log_error("too many bulk inserts on one session", LF_STR("statement", spec->stmt),
                  LF_ERR("bug_too_many_bulks"));
        return NULL;
    }
    return bulk;
}

pg_array_t *bulk_column(bulk_t *bulk, int i)
{
    return &bulk->columns[i];
}

db_status_t bulk_row_done(db_t *db, bulk_t *bulk)
{
    for (int i = 0; i < bulk->spec->column_count; i++) {
        if (bulk->columns[i].count != bulk->rows + 1) {
            log_error("a bulk row is missing a column", LF_STR("statement", bulk->spec->stmt),
                      LF_INT("column", i), LF_ERR("bug_bulk_row"));
            bulk_row_abandon(bulk);
            return DB_ERROR;
        }
    }
    bulk->rows++;
    return db_in_tx(db) ? DB_OK : bulk_flush(db, &bulk->base);
}

void bulk_row_abandon(bulk_t *bulk)
{
    /* drop the partial row: rebuild each column without its last element */
    for (int i = 0; i < bulk->spec->column_count; i++) {
        pg_array_t *column = &bulk->columns[i];
        if (column->count > bulk->rows)
            pg_array_truncate(column, bulk->rows);
    }
}
