/*
 * dbjson.h — answers that PostgreSQL builds as JSON.
 *
 * A service's read API is mostly "run this query and send what it
 * returns": when the query builds the answer itself (json_build_object,
 * json_agg), the answer's shape is written once, next to the query, and
 * the C only passes it on. These run such a prepared statement and parse
 * its JSON.
 */
#ifndef CONVEYOR_DBJSON_H
#define CONVEYOR_DBJSON_H

#include <jansson.h>

#include "common/db.h"

/* The first row's first cell parsed as JSON (any JSON value) into *out,
 * owned by the caller; *out is NULL when there is no row or the cell is
 * NULL. DB_ERROR if the cell is not JSON. */
db_status_t db_run_json(db_t *db, const char *stmt, const db_params_t *params, json_t **out);

/* Every row's first cell parsed as JSON, as a new array in *out (caller
 * owns it; empty when no rows). */
db_status_t db_run_json_rows(db_t *db, const char *stmt, const db_params_t *params, json_t **out);

#endif
