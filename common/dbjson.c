/*
 * dbjson.c — JSON built by PostgreSQL, parsed once (dbjson.h).
 */
#include "common/dbjson.h"

#include "common/log.h"

db_status_t db_run_json(db_t *db, const char *stmt, const db_params_t *params, json_t **out)
{
    *out = NULL;
    PGresult *res = NULL;
    db_status_t status = db_run(db, stmt, params, &res);
    if (status != DB_OK)
        return status;
    const char *text = db_value(res, 0, 0);
    if (text) {
        json_error_t error;
        *out = json_loads(text, JSON_DECODE_ANY, &error);
        if (!*out) {
            log_error("a query's JSON does not parse", LF_STR("statement", stmt),
                      LF_STR("error", error.text), LF_ERR("bad_json_from_db"));
            status = DB_ERROR;
        }
    }
    PQclear(res);
    return status;
}

db_status_t db_run_json_rows(db_t *db, const char *stmt, const db_params_t *params, json_t **out)
{
    *out = NULL;
    PGresult *res = NULL;
    db_status_t status = db_run(db, stmt, params, &res);
    if (status != DB_OK)
        return status;
    json_t *items = json_array();
    for (int i = 0; items && i < PQntuples(res); i++) {
        json_error_t error;
        const char *text = db_value(res, i, 0);
        json_t *item = text ? json_loads(text, JSON_DECODE_ANY, &error) : json_null();
        if (!item || json_array_append_new(items, item) != 0) {
            log_error("a query's JSON does not parse", LF_STR("statement", stmt),
                      LF_ERR("bad_json_from_db"));
            json_decref(items);
            items = NULL;
        }
    }
    PQclear(res);
    if (!items)
        return DB_ERROR;
    *out = items;
    return DB_OK;
}
