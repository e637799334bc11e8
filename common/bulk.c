/*
 * bulk.c — deferred multi-row inserts (bulk.h).
 *
 * Each session holds one collector per spec, registered as a db deferral
 * keyed by the spec's address; its flush packs the column arrays and runs
 * the spec's statement once, or turns them into COPY's binary rows: an
 * array's elements and a COPY row's fields have the same form (an int32
 * length, -1 for NULL, then the type's binary value).
 */
#include "common/bulk.h"

#include <arpa/inet.h>
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

/* The rows as COPY's binary input: the signature, flags and header
 * extension, then per row the field count and each column's next element,
 * then -1. Caller frees *data_out. -1 on out of memory or damaged arrays. */
static int copy_data(const bulk_t *bulk, const pg_array_t *extra, int extra_count,
                     uint8_t **data_out, size_t *len_out)
{
    static const uint8_t header[19] = {'P', 'G', 'C', 'O', 'P', 'Y', '\n', 0xff, '\r', '\n', 0};
    int own = bulk->spec->column_count;
    int columns = own + extra_count;
    if (extra_count < 0 || columns > 2 * BULK_COLUMNS_MAX)
        return -1;
    const pg_array_t *column_of[2 * BULK_COLUMNS_MAX];
    for (int i = 0; i < columns; i++)
        column_of[i] = i < own ? &bulk->columns[i] : &extra[i - own];
    size_t len = sizeof header + 2 + (size_t)bulk->rows * 2;
    size_t at[2 * BULK_COLUMNS_MAX] = {0};
    for (int i = 0; i < columns; i++)
        len += column_of[i]->body_len;
    uint8_t *data = malloc(len);
    if (!data)
        return -1;
    memcpy(data, header, sizeof header);
    size_t out = sizeof header;
    uint16_t field_count = htons((uint16_t)columns);
    for (int32_t row = 0; row < bulk->rows; row++) {
        memcpy(data + out, &field_count, 2);
        out += 2;
        for (int i = 0; i < columns; i++) {
            /* COPY's field is the element as the array holds it: length, bytes */
            const pg_array_t *column = column_of[i];
            size_t start = at[i], value_len = 0;
            const uint8_t *value = NULL;
            if (pg_array_next(column, &at[i], &value, &value_len) != 1)
                goto damaged;
            memcpy(data + out, column->body + start, at[i] - start);
            out += at[i] - start;
        }
    }
    static const uint8_t trailer[2] = {0xff, 0xff};
    memcpy(data + out, trailer, 2);
    out += 2;
    *data_out = data;
    *len_out = out;
    return 0;
damaged:
    free(data);
    return -1;
}

db_status_t bulk_copy_in(db_t *db, bulk_t *bulk, const char *copy_sql, const pg_array_t *extra,
                         int extra_count)
{
    for (int i = 0; i < extra_count; i++) {
        if (extra[i].count != bulk->rows) {
            log_error("a bulk COPY's extra column is short", LF_STR("statement", bulk->spec->stmt),
                      LF_INT("column", bulk->spec->column_count + i), LF_ERR("bug_bulk_row"));
            return DB_ERROR;
        }
    }
    uint8_t *data = NULL;
    size_t len = 0;
    if (copy_data(bulk, extra, extra_count, &data, &len) != 0) {
        log_error("could not build a bulk COPY", LF_STR("statement", bulk->spec->stmt),
                  LF_ERR("out_of_memory"));
        return DB_ERROR;
    }
    db_status_t status = db_copy_in(db, copy_sql, data, len);
    free(data);
    return status;
}

static db_status_t bulk_flush(db_t *db, db_deferred_t *self)
{
    bulk_t *bulk = (bulk_t *)self;
    if (bulk->rows == 0)
        return DB_OK;
    db_status_t status;
    if (bulk->spec->flush)
        status = bulk->spec->flush(db, bulk);
    else if (bulk->spec->copy)
        status = bulk_copy_in(db, bulk, bulk->spec->copy, NULL, 0);
    else
        status = bulk_run_statement(db, bulk);
    bulk_discard(self);
    return status;
}

int32_t bulk_rows(const bulk_t *bulk)
{
    return bulk->rows;
}

db_status_t bulk_run_statement(db_t *db, bulk_t *bulk)
{
    db_params_t params;
    db_params_init(&params);
    for (int i = 0; i < bulk->spec->column_count; i++) {
        const uint8_t *wire = NULL;
        size_t len = 0;
        if (pg_array_wire(&bulk->columns[i], &wire, &len) != 0)
            return DB_ERROR;
        db_param_bytes(&params, wire, len);
    }
    const char *stmt = bulk->spec->stmt;
    if (bulk->spec->stmt_at_commit && db_committing(db))
        stmt = bulk->spec->stmt_at_commit;
    return db_run(db, stmt, &params, NULL);
}

bulk_t *bulk_of(db_t *db, const bulk_spec_t *spec)
{
    db_deferred_t *found = db_deferred_find(db, spec);
    if (found)
        return (bulk_t *)found;
    if (spec->column_count < 1 || spec->column_count > BULK_COLUMNS_MAX ||
        (!spec->copy && db_prepare(db, spec->stmt, spec->sql) != 0) ||
        (!spec->copy && spec->stmt_at_commit &&
         db_prepare(db, spec->stmt_at_commit, spec->sql_at_commit) != 0))
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
