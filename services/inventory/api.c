/*
 * api.c — the inventory service's staff HTTP API (F9-F13).
 *
 * Every route checks the caller's staff token first (auth.h). Who may do
 * what:
 *
 *   reads (products, supplies, reservations, returns, waiting, reconciliation)
 *                                    any staff: admin, manager, warehouse, courier
 *   catalogue: create, edit, deactivate, import
 *                                    admin (prices and VAT are the store's policy)
 *   stock: record and receive supplies, post corrections, receive returns
 *                                    admin, warehouse (the people at the shelves)
 *
 * Routes:
 *   GET   /v1/products?active=&low=&q=&limit=&cursor=   keyset by SKU
 *   POST  /v1/products                                  201 + the product
 *   GET   /v1/products/{sku}
 *   PATCH /v1/products/{sku}                            edits; stock is not edited here
 *   POST  /v1/products/{sku}/deactivate
 *   POST  /v1/imports          text/csv or application/json; all or nothing
 *   GET   /v1/supplies?status=&sku=&limit=&cursor=      newest first
 *   POST  /v1/supplies         {expected_date, supplier, comment, lines:[{sku, quantity}]}
 *   GET   /v1/supplies/{id}
 *   POST  /v1/supplies/{id}/receive   [{lines:[{sku, quantity}]} when it differs]
 *   POST  /v1/stock/{sku}/corrections {delta | on_hand, reason}
 *   POST  /v1/returns  {return_id, order_id, kind, comment,
 *                       lines:[{line_no, quantity, condition, reason}]}
 *                      201 received; 200 the same return id again (nothing done);
 *                      409 exceeds_shipped, partial_parcel, not_shipped
 *   GET   /v1/returns?order_id=                         its returns, the write-offs with reasons
 *   GET   /v1/reservations?order_id=
 *   GET   /v1/waiting?limit=
 *   GET   /v1/reconciliation?products=all
 *
 * Routes only: each parses and checks its input (every mistake at once,
 * problems.h, 422), checks the caller's token, and runs the domain's
 * transaction (products.h, imports.h, supplies.h, corrections.h) through
 * the kit's runner, service_tx: it commits once — retried only when it
 * certainly did not commit, a lost COMMIT answer settled by asking the
 * database — and its events are published right after. A domain's "no" is
 * answered by its kind (404, 409, 422) and stable code; a failure by the
 * kit's one mapping (service_answer_db_failure). Nothing is ever half
 * done.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/auth.h"
#include "common/log.h"
#include "common/numparse.h"
#include "common/page.h"
#include "common/problems.h"
#include "common/uuid.h"
#include "services/inventory/catalogue.h"
#include "services/inventory/corrections.h"
#include "services/inventory/import.h"
#include "services/inventory/imports.h"
#include "services/inventory/inventory.h"
#include "services/inventory/orderstock.h"
#include "services/inventory/products.h"
#include "services/inventory/returns.h"
#include "services/inventory/supplies.h"
#include "services/inventory/store.h"

#define ROLES_READ    ROLE_ANY_STAFF
#define ROLES_CATALOG ROLE_ADMIN
#define ROLES_STOCK   (ROLE_ADMIN | ROLE_WAREHOUSE)
#define PAGE_DEFAULT  50
#define PAGE_MAX      500
#define QUERY_MAX     100
#define NOTE_MAX      500

/* ------------------------------------------------------------------ */
/* answers                                                              */

/* A domain's "no": its kind says the status, its code what to grep for. */
static void answer_refusal(http_response_t *res, refusal_t *refusal)
{
    int status = refusal->kind == REFUSED_NOT_FOUND  ? 404
                 : refusal->kind == REFUSED_CONFLICT ? 409
                                                     : 422;
    if (refusal->errors) {
        http_res_problem_errors_take(res, status, refusal->code, refusal->title, refusal->errors);
        refusal->errors = NULL;
        return;
    }
    http_res_problem(res, status, refusal->code, refusal->title,
                     refusal->detail[0] ? refusal->detail : NULL);
}

static void answer_problems(http_response_t *res, const char *title, problems_t *problems)
{
    http_res_problem_errors_take(res, 422, "invalid", title, problems_take(problems));
}

static db_t *begin_route(inventory_app_t *app, const http_request_t *req, http_response_t *res,
                         unsigned roles, auth_claims_t *claims)
{
    if (!auth_require(service_auth(app->svc), req, res, roles, claims))
        return NULL;
    return service_session(app->svc, res, SERVICE_SESSION_WAIT_MS);
}

static void end_route(inventory_app_t *app, db_t **db_p)
{
    service_session_release(app->svc, db_p);
}

/* Answers with the product as it now is. */
static void answer_product(http_response_t *res, db_t *db, const char *sku, int status_code)
{
    json_t *product = NULL;
    db_status_t status = store_product_json(db, sku, &product);
    if (status != DB_OK) {
        service_answer_db_failure(res, db, status, "read product");
        return;
    }
    if (!product) {
        http_res_problem(res, 404, "not_found", "product not found", NULL);
        return;
    }
    http_res_json_take(res, status_code, product);
}

/* A fresh dedup key for a retry job caused by a person's action. */
/* ------------------------------------------------------------------ */
/* products                                                             */

static void get_product(const http_request_t *req, http_response_t *res, void *arg)
{
    inventory_app_t *app = arg;
    auth_claims_t claims;
    db_t *db = begin_route(app, req, res, ROLES_READ, &claims);
    if (!db)
        return;
    answer_product(res, db, http_req_param(req, "sku"), 200);
    end_route(app, &db);
}

/* The start of a route that takes a JSON body: the caller holds one of
 * `roles`, the body is JSON (borrowed from the request), the problem list
 * is ready (the caller frees it). false: already answered (401/403,
 * 400/413/415, 500). */
static bool json_route_begin(inventory_app_t *app, const http_request_t *req, http_response_t *res,
                             unsigned roles, auth_claims_t *claims, json_t **body,
                             problems_t *problems)
{
    if (!auth_require(service_auth(app->svc), req, res, roles, claims))
        return false;
    *body = http_req_json(req, res);
    if (!*body)
        return false;
    if (problems_init(problems) != 0) {
        http_res_problem(res, 500, "out_of_memory", "out of memory", NULL);
        return false;
    }
    return true;
}

static void list_products(const http_request_t *req, http_response_t *res, void *arg)
{
    inventory_app_t *app = arg;
    auth_claims_t claims;
    if (!auth_require(service_auth(app->svc), req, res, ROLES_READ, &claims))
        return;
    page_t page;
    if (page_from_request(req, res, PAGE_DEFAULT, PAGE_MAX, &page) != 0)
        return;
    problems_t problems;
    if (problems_init(&problems) != 0) {
        http_res_problem(res, 500, "out_of_memory", "out of memory", NULL);
        return;
    }
    product_filter_t filter = {.active = -1, .limit = page.limit + 1};
    bool flag = false;
    const char *active = http_req_query(req, "active");
    const char *low = http_req_query(req, "low");
    const char *query = http_req_query(req, "q");
    if (active && catalogue_parse_bool(active, &flag) != 0)
        problems_add(&problems, "active", "invalid", "active must be true or false");
    else if (active)
        filter.active = flag ? 1 : 0;
    if (low && catalogue_parse_bool(low, &flag) != 0)
        problems_add(&problems, "low", "invalid", "low must be true or false");
    else if (low)
        filter.low_only = flag;
    if (query && (strlen(query) > QUERY_MAX || catalogue_utf8_length(query) < 0))
        problems_add(&problems, "q", "invalid", "q must be UTF-8 text of at most %d bytes",
                     QUERY_MAX);
    else if (query && query[0])
        filter.query = query;
    if (problems_count(&problems) > 0) {
        answer_problems(res, "the filters are not valid", &problems);
        problems_release(&problems);
        return;
    }
    problems_release(&problems);
    filter.after_sku = page.has_cursor ? page.after_key : NULL;
    db_t *db = service_session(app->svc, res, SERVICE_SESSION_WAIT_MS);
    if (!db)
        return;
    json_t *items = NULL;
    db_status_t status = store_products_page(db, &filter, &items);
    if (status != DB_OK)
        service_answer_db_failure(res, db, status, "list products");
    end_route(app, &db);
    if (status != DB_OK)
        return;
    char cursor[PAGE_CURSOR_SIZE];
    bool more = json_array_size(items) > (size_t)page.limit;
    if (more) {
        json_array_remove(items, (size_t)page.limit);
        page_cursor(json_string_value(
                        json_object_get(json_array_get(items, (size_t)page.limit - 1), "sku")),
                    "", cursor);
    }
    page_answer_take(res, items, more ? cursor : NULL);
}

/* The product a create builds from its input. */
static void create_product(const http_request_t *req, http_response_t *res, void *arg)
{
    inventory_app_t *app = arg;
    auth_claims_t claims;
    json_t *body = NULL;
    problems_t problems;
    if (!json_route_begin(app, req, res, ROLES_CATALOG, &claims, &body, &problems))
        return;
    product_input_t input;
    catalogue_input_parse(body, PRODUCT_ALL, "", &input, &problems);
    catalogue_input_require(&input, PRODUCT_REQUIRED_NEW, "", &problems);
    if (problems_count(&problems) > 0) {
        answer_problems(res, "the product is not valid", &problems);
        problems_release(&problems);
        return;
    }
    problems_release(&problems);
    db_t *db = service_session(app->svc, res, SERVICE_SESSION_WAIT_MS);
    if (!db)
        return;
    product_create_t op = {.app = app, .input = &input, .actor = claims.subject};
    tx_t tx;
    db_status_t status = service_tx(app->svc, db, products_create_tx, &op, &tx);
    if (status != DB_OK)
        service_answer_db_failure(res, db, status, "create product");
    else if (tx.abandoned)
        answer_refusal(res, &op.refusal);
    else {
        log_info("product created", LF_STR("sku", input.sku), LF_STR("actor", claims.subject));
        answer_product(res, db, input.sku, 201);
    }
    refusal_clear(&op.refusal);
    end_route(app, &db);
}

static void run_edit(inventory_app_t *app, const http_request_t *req, http_response_t *res,
                     const product_input_t *input, const char *actor)
{
    const char *sku = http_req_param(req, "sku");
    db_t *db = service_session(app->svc, res, SERVICE_SESSION_WAIT_MS);
    if (!db)
        return;
    product_edit_t op = {.app = app, .sku = sku, .input = input};
    tx_t tx;
    db_status_t status = service_tx(app->svc, db, products_edit_tx, &op, &tx);
    if (status != DB_OK)
        service_answer_db_failure(res, db, status, "edit product");
    else if (tx.abandoned)
        answer_refusal(res, &op.refusal);
    else {
        log_info(input ? "product edited" : "product deactivated", LF_STR("sku", sku),
                 LF_STR("actor", actor));
        answer_product(res, db, sku, 200);
    }
    refusal_clear(&op.refusal);
    end_route(app, &db);
}

static void patch_product(const http_request_t *req, http_response_t *res, void *arg)
{
    inventory_app_t *app = arg;
    auth_claims_t claims;
    json_t *body = NULL;
    problems_t problems;
    if (!json_route_begin(app, req, res, ROLES_CATALOG, &claims, &body, &problems))
        return;
    product_input_t input;
    catalogue_input_parse(body, PRODUCT_EDITABLE, "", &input, &problems);
    if (input.present == 0 && problems_count(&problems) == 0)
        problems_add(&problems, "", "required", "the body names no field to change");
    if (problems_count(&problems) > 0) {
        answer_problems(res, "the changes are not valid", &problems);
        problems_release(&problems);
        return;
    }
    problems_release(&problems);
    run_edit(app, req, res, &input, claims.subject);
}

static void deactivate_product(const http_request_t *req, http_response_t *res, void *arg)
{
    inventory_app_t *app = arg;
    auth_claims_t claims;
    if (!auth_require(service_auth(app->svc), req, res, ROLES_CATALOG, &claims))
        return;
    run_edit(app, req, res, NULL, claims.subject);
}

/* ------------------------------------------------------------------ */
/* imports                                                              */

static void media_type(const char *header, char *out, size_t size)
{
    size_t len = header ? strcspn(header, ";") : 0;
    while (len > 0 && header[len - 1] == ' ')
        len--;
    if (len >= size)
        len = size - 1;
    for (size_t i = 0; i < len; i++)
        out[i] = (char)(header[i] >= 'A' && header[i] <= 'Z' ? header[i] + 32 : header[i]);
    out[len] = '\0';
}

static void post_import(const http_request_t *req, http_response_t *res, void *arg)
{
    inventory_app_t *app = arg;
    auth_claims_t claims;
    if (!auth_require(service_auth(app->svc), req, res, ROLES_CATALOG, &claims))
        return;
    char type[64];
    media_type(http_req_header(req, "Content-Type"), type, sizeof type);
    problems_t problems;
    if (problems_init(&problems) != 0) {
        http_res_problem(res, 500, "out_of_memory", "out of memory", NULL);
        return;
    }
    import_t import = {0};
    int parsed = -1;
    if (strcmp(type, "text/csv") == 0 || strcmp(type, "application/csv") == 0) {
        size_t len = 0;
        const char *body = http_req_body(req, &len);
        parsed = import_parse_csv(body, len, &import, &problems);
    } else if (strcmp(type, "application/json") == 0) {
        json_t *body = http_req_json(req, res);
        if (!body)
            goto done;
        parsed = import_parse_json(body, &import, &problems);
    } else {
        http_res_problem(res, 415, "unsupported_media_type", "unsupported media type",
                         "send the import as text/csv or application/json");
        goto done;
    }
    if (parsed < 0) {
        http_res_problem(res, 500, "out_of_memory", "out of memory reading the import", NULL);
        goto done;
    }
    if (parsed > 0 && import.count == 0) {
        /* nothing readable to check against the catalogue */
        log_info("import refused", LF_STR("actor", claims.subject),
                 LF_INT("problems", problems_count(&problems)), LF_ERR("import_invalid"));
        http_res_problem_errors_take(res, 422, "import_invalid",
                                     "the import was not applied: rows are wrong",
                                     problems_take(&problems));
        goto done;
    }
    db_t *db = service_session(app->svc, res, SERVICE_SESSION_WAIT_MS);
    if (!db)
        goto done;
    import_apply_t ctx = {.app = app,
                          .import = &import,
                          .parse_errors = problems_errors(&problems),
                          .actor = claims.subject};
    tx_t tx;
    db_status_t status = service_tx(app->svc, db, imports_apply_tx, &ctx, &tx);
    if (status != DB_OK)
        service_answer_db_failure(res, db, status, "import");
    else if (tx.abandoned) {
        log_info("import refused", LF_STR("actor", claims.subject), LF_ERR(ctx.refusal.code));
        answer_refusal(res, &ctx.refusal);
    } else {
        log_info("import applied", LF_INT("import_id", ctx.import_id), LF_INT("rows", import.count),
                 LF_INT("created", ctx.created), LF_INT("updated", ctx.updated),
                 LF_STR("actor", claims.subject));
        http_res_json_take(
            res, 200,
            json_pack("{s:I,s:s,s:I,s:i,s:i,s:i,s:i}", "import_id", (json_int_t)ctx.import_id,
                      "format", import.csv ? "csv" : "json", "rows", (json_int_t)import.count,
                      "created", ctx.created, "updated", ctx.updated, "stock_changed",
                      ctx.stock_changed, "low_alerts", ctx.low_alerts));
    }
    refusal_clear(&ctx.refusal);
    end_route(app, &db);
done:
    import_release(&import);
    problems_release(&problems);
}

/* ------------------------------------------------------------------ */
/* supplies                                                             */

/* Reads [{sku, quantity}] into lines; each mistake into problems.
 * min_quantity: 1 for an expected supply, 0 for what was received. */
static size_t read_supply_lines(const json_t *list, int64_t min_quantity, supply_line_t *lines,
                                problems_t *problems)
{
    size_t count = 0;
    if (!json_is_array(list) || json_array_size(list) == 0 ||
        json_array_size(list) > SUPPLY_LINES_MAX) {
        problems_add(problems, "lines", "required",
                     "lines must be an array of 1 to %d {sku, quantity}", SUPPLY_LINES_MAX);
        return 0;
    }
    for (size_t i = 0; i < json_array_size(list); i++) {
        const json_t *item = json_array_get(list, i);
        const char *sku = json_string_value(json_object_get(item, "sku"));
        const json_t *quantity = json_object_get(item, "quantity");
        char field[48];
        snprintf(field, sizeof field, "lines[%zu].sku", i);
        if (!catalogue_sku_valid(sku)) {
            problems_add(problems, field, sku ? "invalid" : "required", "a line needs a valid sku");
            continue;
        }
        bool twice = false;
        for (size_t j = 0; j < count && !twice; j++)
            twice = strcmp(lines[j].sku, sku) == 0;
        if (twice) {
            problems_add(problems, field, "duplicate", "sku %s is on another line", sku);
            continue;
        }
        snprintf(field, sizeof field, "lines[%zu].quantity", i);
        if (!json_is_integer(quantity) || json_integer_value(quantity) < min_quantity ||
            json_integer_value(quantity) > CATALOGUE_QUANTITY_MAX) {
            problems_add(problems, field, "invalid", "quantity must be a whole number from %lld",
                         (long long)min_quantity);
            continue;
        }
        snprintf(lines[count].sku, sizeof lines[count].sku, "%s", sku);
        lines[count].quantity = json_integer_value(quantity);
        count++;
    }
    return count;
}

static void answer_supply(http_response_t *res, db_t *db, int64_t id, int status_code)
{
    json_t *supply = NULL;
    db_status_t status = store_supply_json(db, id, &supply);
    if (status != DB_OK)
        service_answer_db_failure(res, db, status, "read supply");
    else if (!supply)
        http_res_problem(res, 404, "not_found", "supply not found", NULL);
    else
        http_res_json_take(res, status_code, supply);
}

static const char *optional_text(const json_t *body, const char *key, size_t max,
                                 problems_t *problems)
{
    const json_t *value = json_object_get(body, key);
    if (!value || json_is_null(value))
        return "";
    const char *text = json_string_value(value);
    if (!text || strlen(text) > max) {
        problems_add(problems, key, "invalid", "%s must be text of at most %zu bytes", key, max);
        return "";
    }
    return text;
}

static void create_supply(const http_request_t *req, http_response_t *res, void *arg)
{
    inventory_app_t *app = arg;
    auth_claims_t claims;
    json_t *body = NULL;
    problems_t problems;
    if (!json_route_begin(app, req, res, ROLES_STOCK, &claims, &body, &problems))
        return;
    supply_line_t *lines = calloc(SUPPLY_LINES_MAX, sizeof *lines);
    if (!lines) {
        problems_release(&problems);
        http_res_problem(res, 500, "out_of_memory", "out of memory", NULL);
        return;
    }
    const char *key;
    json_t *value;
    json_object_foreach(body, key, value)
    {
        if (strcmp(key, "expected_date") != 0 && strcmp(key, "supplier") != 0 &&
            strcmp(key, "comment") != 0 && strcmp(key, "lines") != 0)
            problems_add(&problems, key, "unknown", "a supply has no field %.60s", key);
    }
    const char *date = json_string_value(json_object_get(body, "expected_date"));
    if (!catalogue_date_valid(date))
        problems_add(&problems, "expected_date", date ? "invalid" : "required",
                     "expected_date must be a date, YYYY-MM-DD");
    supply_record_t ctx = {
        .expected_date = date,
        .supplier = optional_text(body, "supplier", 200, &problems),
        .comment = optional_text(body, "comment", NOTE_MAX, &problems),
        .actor = claims.subject,
        .lines = lines,
    };
    ctx.line_count = read_supply_lines(json_object_get(body, "lines"), 1, lines, &problems);
    if (problems_count(&problems) > 0) {
        answer_problems(res, "the supply is not valid", &problems);
        goto done;
    }
    db_t *db = service_session(app->svc, res, SERVICE_SESSION_WAIT_MS);
    if (!db)
        goto done;
    tx_t tx;
    db_status_t status = service_tx(app->svc, db, supplies_record_tx, &ctx, &tx);
    if (status != DB_OK)
        service_answer_db_failure(res, db, status, "record supply");
    else if (tx.abandoned)
        answer_refusal(res, &ctx.refusal);
    else {
        log_info("supply recorded", LF_INT("supply_id", ctx.id), LF_STR("expected_date", date),
                 LF_INT("lines", ctx.line_count), LF_STR("actor", claims.subject));
        answer_supply(res, db, ctx.id, 201);
    }
    refusal_clear(&ctx.refusal);
    end_route(app, &db);
done:
    problems_release(&problems);
    free(lines);
}

static int parse_supply_id(const http_request_t *req, http_response_t *res, int64_t *id_out)
{
    if (numparse_int_range(http_req_param(req, "id"), 1, INT64_MAX, id_out) != 0) {
        http_res_problem(res, 404, "not_found", "supply not found",
                         "a supply id is a whole number");
        return -1;
    }
    return 0;
}

static void receive_supply(const http_request_t *req, http_response_t *res, void *arg)
{
    inventory_app_t *app = arg;
    auth_claims_t claims;
    if (!auth_require(service_auth(app->svc), req, res, ROLES_STOCK, &claims))
        return;
    int64_t id = 0;
    if (parse_supply_id(req, res, &id) != 0)
        return;
    supply_line_t *received = NULL;
    size_t received_count = 0;
    size_t body_len = 0;
    http_req_body(req, &body_len);
    problems_t problems;
    if (problems_init(&problems) != 0) {
        http_res_problem(res, 500, "out_of_memory", "out of memory", NULL);
        return;
    }
    if (body_len > 0) {
        json_t *body = http_req_json(req, res);
        if (!body)
            goto done;
        const json_t *list = json_object_get(body, "lines");
        if (list) {
            received = calloc(SUPPLY_LINES_MAX, sizeof *received);
            if (!received) {
                http_res_problem(res, 500, "out_of_memory", "out of memory", NULL);
                goto done;
            }
            received_count = read_supply_lines(list, 0, received, &problems);
        }
        if (problems_count(&problems) > 0) {
            answer_problems(res, "the received lines are not valid", &problems);
            goto done;
        }
    }
    db_t *db = service_session(app->svc, res, SERVICE_SESSION_WAIT_MS);
    if (!db)
        goto done;
    supply_receive_t op = {.app = app,
                           .id = id,
                           .actor = claims.subject,
                           .received = received,
                           .received_count = received_count};
    tx_t tx;
    db_status_t status = service_tx(app->svc, db, supplies_receive_tx, &op, &tx);
    if (status != DB_OK)
        service_answer_db_failure(res, db, status, "receive supply");
    else if (tx.abandoned)
        answer_refusal(res, &op.refusal);
    else {
        log_info("supply received", LF_INT("supply_id", id), LF_STR("actor", claims.subject));
        answer_supply(res, db, id, 200);
    }
    refusal_clear(&op.refusal);
    end_route(app, &db);
done:
    problems_release(&problems);
    free(received);
}

static void get_supply(const http_request_t *req, http_response_t *res, void *arg)
{
    inventory_app_t *app = arg;
    auth_claims_t claims;
    if (!auth_require(service_auth(app->svc), req, res, ROLES_READ, &claims))
        return;
    int64_t id = 0;
    if (parse_supply_id(req, res, &id) != 0)
        return;
    db_t *db = service_session(app->svc, res, SERVICE_SESSION_WAIT_MS);
    if (!db)
        return;
    answer_supply(res, db, id, 200);
    end_route(app, &db);
}

static void list_supplies(const http_request_t *req, http_response_t *res, void *arg)
{
    inventory_app_t *app = arg;
    auth_claims_t claims;
    if (!auth_require(service_auth(app->svc), req, res, ROLES_READ, &claims))
        return;
    page_t page;
    if (page_from_request(req, res, PAGE_DEFAULT, PAGE_MAX, &page) != 0)
        return;
    const char *state = http_req_query(req, "status");
    const char *sku = http_req_query(req, "sku");
    int64_t before = 0;
    if (state && strcmp(state, "expected") != 0 && strcmp(state, "received") != 0) {
        http_res_problem(res, 400, "invalid", "status must be expected or received", NULL);
        return;
    }
    if (sku && !catalogue_sku_valid(sku)) {
        http_res_problem(res, 400, "invalid", "sku is not a valid sku", NULL);
        return;
    }
    if (page.has_cursor && numparse_int_range(page.after_key, 1, INT64_MAX, &before) != 0) {
        http_res_problem(res, 400, "bad_cursor", "the cursor is not one this API gave out", NULL);
        return;
    }
    db_t *db = service_session(app->svc, res, SERVICE_SESSION_WAIT_MS);
    if (!db)
        return;
    json_t *items = NULL;
    db_status_t status = store_supplies_page(db, state, sku, before, page.limit + 1, &items);
    if (status != DB_OK) {
        service_answer_db_failure(res, db, status, "list supplies");
        end_route(app, &db);
        return;
    }
    end_route(app, &db);
    char cursor[PAGE_CURSOR_SIZE];
    bool more = json_array_size(items) > (size_t)page.limit;
    if (more) {
        json_array_remove(items, (size_t)page.limit);
        char key[24];
        snprintf(key, sizeof key, "%lld",
                 (long long)json_integer_value(
                     json_object_get(json_array_get(items, (size_t)page.limit - 1), "id")));
        page_cursor(key, "", cursor);
    }
    page_answer_take(res, items, more ? cursor : NULL);
}

/* ------------------------------------------------------------------ */
/* corrections                                                          */

static void post_correction(const http_request_t *req, http_response_t *res, void *arg)
{
    inventory_app_t *app = arg;
    auth_claims_t claims;
    json_t *body = NULL;
    problems_t problems;
    if (!json_route_begin(app, req, res, ROLES_STOCK, &claims, &body, &problems))
        return;
    correction_t ctx = {.app = app, .sku = http_req_param(req, "sku"), .actor = claims.subject};
    const json_t *delta = json_object_get(body, "delta");
    const json_t *on_hand = json_object_get(body, "on_hand");
    const char *key;
    json_t *value;
    json_object_foreach(body, key, value)
    {
        if (strcmp(key, "delta") != 0 && strcmp(key, "on_hand") != 0 && strcmp(key, "reason") != 0)
            problems_add(&problems, key, "unknown", "a correction has no field %.60s", key);
    }
    if ((delta != NULL) == (on_hand != NULL))
        problems_add(&problems, "delta", "required", "give either delta or on_hand");
    else if (delta && (!json_is_integer(delta) || json_integer_value(delta) == 0 ||
                       json_integer_value(delta) > CATALOGUE_QUANTITY_MAX ||
                       json_integer_value(delta) < -CATALOGUE_QUANTITY_MAX))
        problems_add(&problems, "delta", "invalid", "delta must be a non-zero whole number");
    else if (on_hand && (!json_is_integer(on_hand) || json_integer_value(on_hand) < 0 ||
                         json_integer_value(on_hand) > CATALOGUE_QUANTITY_MAX))
        problems_add(&problems, "on_hand", "invalid", "on_hand must be a whole number >= 0");
    ctx.absolute = on_hand != NULL;
    ctx.value = json_integer_value(delta ? delta : on_hand);
    ctx.reason = json_string_value(json_object_get(body, "reason"));
    if (!ctx.reason || !ctx.reason[0] || strlen(ctx.reason) > NOTE_MAX)
        problems_add(&problems, "reason", "required",
                     "say why the stock is corrected (at most %d bytes)", NOTE_MAX);
    if (problems_count(&problems) > 0) {
        answer_problems(res, "the correction is not valid", &problems);
        problems_release(&problems);
        return;
    }
    problems_release(&problems);
    db_t *db = service_session(app->svc, res, SERVICE_SESSION_WAIT_MS);
    if (!db)
        return;
    tx_t tx;
    db_status_t status = service_tx(app->svc, db, corrections_post_tx, &ctx, &tx);
    if (status != DB_OK)
        service_answer_db_failure(res, db, status, "correct stock");
    else if (tx.abandoned)
        answer_refusal(res, &ctx.refusal);
    else {
        log_info("stock corrected", LF_STR("sku", ctx.sku),
                 LF_STR("correction_id", ctx.correction_id), LF_STR("actor", claims.subject));
        json_t *product = NULL;
        status = store_product_json(db, ctx.sku, &product);
        if (status != DB_OK)
            service_answer_db_failure(res, db, status, "read product");
        else
            http_res_json_take(res, 200,
                               json_pack("{s:s,s:o}", "correction_id", ctx.correction_id, "product",
                                         product ? product : json_null()));
    }
    refusal_clear(&ctx.refusal);
    end_route(app, &db);
}

/* ------------------------------------------------------------------ */
/* reads for people and tests                                           */

static void get_reservations(const http_request_t *req, http_response_t *res, void *arg)
{
    inventory_app_t *app = arg;
    auth_claims_t claims;
    if (!auth_require(service_auth(app->svc), req, res, ROLES_READ, &claims))
        return;
    const char *order_id = http_req_query(req, "order_id");
    if (!uuid_valid(order_id)) {
        http_res_problem(res, 400, "invalid", "order_id must be an order's UUID", NULL);
        return;
    }
    db_t *db = service_session(app->svc, res, SERVICE_SESSION_WAIT_MS);
    if (!db)
        return;
    json_t *order = NULL;
    db_status_t status = store_order_json(db, order_id, &order);
    if (status != DB_OK)
        service_answer_db_failure(res, db, status, "read reservations");
    else if (!order)
        http_res_problem(res, 404, "not_found", "inventory has not heard of this order", NULL);
    else
        http_res_json_take(res, 200, order);
    end_route(app, &db);
}

static void get_returns(const http_request_t *req, http_response_t *res, void *arg)
{
    inventory_app_t *app = arg;
    auth_claims_t claims;
    if (!auth_require(service_auth(app->svc), req, res, ROLES_READ, &claims))
        return;
    const char *order_id = http_req_query(req, "order_id");
    if (!uuid_valid(order_id)) {
        http_res_problem(res, 400, "invalid", "order_id must be an order's UUID", NULL);
        return;
    }
    db_t *db = service_session(app->svc, res, SERVICE_SESSION_WAIT_MS);
    if (!db)
        return;
    json_t *returns = NULL;
    db_status_t status = store_returns_json(db, order_id, &returns);
    if (status != DB_OK)
        service_answer_db_failure(res, db, status, "read returns");
    else if (!returns)
        http_res_problem(res, 404, "not_found", "inventory has not heard of this order", NULL);
    else
        http_res_json_take(res, 200, returns);
    end_route(app, &db);
}

static void get_waiting(const http_request_t *req, http_response_t *res, void *arg)
{
    inventory_app_t *app = arg;
    auth_claims_t claims;
    if (!auth_require(service_auth(app->svc), req, res, ROLES_READ, &claims))
        return;
    page_t page;
    if (page_from_request(req, res, 100, 1000, &page) != 0)
        return;
    db_t *db = service_session(app->svc, res, SERVICE_SESSION_WAIT_MS);
    if (!db)
        return;
    json_t *items = NULL;
    db_status_t status = store_waiting_json(db, page.limit, &items);
    if (status != DB_OK)
        service_answer_db_failure(res, db, status, "read waiting orders");
    else
        page_answer_take(res, items ? items : json_array(), NULL);
    end_route(app, &db);
}

static void get_reconciliation(const http_request_t *req, http_response_t *res, void *arg)
{
    inventory_app_t *app = arg;
    auth_claims_t claims;
    if (!auth_require(service_auth(app->svc), req, res, ROLES_READ, &claims))
        return;
    const char *which = http_req_query(req, "products");
    db_t *db = service_session(app->svc, res, SERVICE_SESSION_WAIT_MS);
    if (!db)
        return;
    json_t *report = NULL;
    db_status_t status = store_reconciliation(db, which && strcmp(which, "all") == 0, &report);
    if (status != DB_OK || !report) {
        service_answer_db_failure(res, db, status == DB_OK ? DB_ERROR : status, "reconciliation");
    } else {
        bool clean = json_array_size(json_object_get(report, "mismatches")) == 0 &&
                     json_array_size(json_object_get(report, "orders")) == 0 &&
                     json_integer_value(json_object_get(report, "ledger_without_product")) == 0;
        json_object_set_new(report, "clean", json_boolean(clean));
        if (!json_object_get(report, "products") ||
            json_is_null(json_object_get(report, "products")))
            json_object_del(report, "products");
        if (!clean)
            log_warn("reconciliation found differences",
                     LF_INT("products", json_array_size(json_object_get(report, "mismatches"))),
                     LF_INT("orders", json_array_size(json_object_get(report, "orders"))),
                     LF_ERR("reconciliation_mismatch"));
        http_res_json_take(res, 200, report);
    }
    end_route(app, &db);
}

/* ------------------------------------------------------------------ */
/* returns                                                              */

static bool known_field(const char *key, const char *const *fields)
{
    for (size_t i = 0; fields[i]; i++)
        if (strcmp(key, fields[i]) == 0)
            return true;
    return false;
}

/* The lines of a return: each names an order line, a quantity, a
 * condition and (damaged) a reason; a line and condition at most once. */
static void parse_return_lines(json_t *lines, return_receipt_t *ctx, problems_t *problems)
{
    static const char *const fields[] = {"line_no", "quantity", "condition", "reason", NULL};
    if (!json_is_array(lines) || json_array_size(lines) == 0 ||
        json_array_size(lines) > RETURN_LINES_MAX) {
        problems_add(problems, "lines", "invalid", "lines must be a list of 1 to %d lines",
                     RETURN_LINES_MAX);
        return;
    }
    size_t index;
    json_t *item;
    json_array_foreach(lines, index, item)
    {
        char field[48];
        snprintf(field, sizeof field, "lines[%zu]", index);
        if (!json_is_object(item)) {
            problems_add(problems, field, "invalid", "a line is an object");
            continue;
        }
        const char *key;
        json_t *value;
        json_object_foreach(item, key, value)
        {
            if (!known_field(key, fields))
                problems_add(problems, field, "unknown", "a return line has no field %.60s", key);
        }
        return_line_t *line = &ctx->lines[ctx->line_count];
        memset(line, 0, sizeof *line);
        const json_t *line_no = json_object_get(item, "line_no");
        const json_t *quantity = json_object_get(item, "quantity");
        const char *condition = json_string_value(json_object_get(item, "condition"));
        const char *reason = json_string_value(json_object_get(item, "reason"));
        if (!json_is_integer(line_no) || json_integer_value(line_no) < 1 ||
            json_integer_value(line_no) > ORDER_LINES_MAX)
            problems_add(problems, field, "invalid", "line_no must be an order line (1-%d)",
                         ORDER_LINES_MAX);
        if (!json_is_integer(quantity) || json_integer_value(quantity) < 1 ||
            json_integer_value(quantity) > CATALOGUE_QUANTITY_MAX)
            problems_add(problems, field, "invalid", "quantity must be a whole number >= 1");
        bool damaged = condition && strcmp(condition, "damaged") == 0;
        if (!condition || (!damaged && strcmp(condition, "sellable") != 0))
            problems_add(problems, field, "invalid", "condition must be sellable or damaged");
        if (json_object_get(item, "reason") && !reason)
            problems_add(problems, field, "invalid", "reason must be text");
        else if (damaged && (!reason || !reason[0] || strlen(reason) > NOTE_MAX ||
                             catalogue_utf8_length(reason) < 0))
            problems_add(problems, field, "required",
                         "say why the goods are damaged (UTF-8, at most %d bytes)", NOTE_MAX);
        else if (!damaged && reason && reason[0])
            problems_add(problems, field, "invalid", "a sellable line has no reason");
        line->line_no = (uint32_t)json_integer_value(line_no);
        line->quantity = json_integer_value(quantity);
        line->damaged = damaged;
        line->reason = damaged ? reason : "";
        for (size_t j = 0; j < ctx->line_count; j++)
            if (ctx->lines[j].line_no == line->line_no && ctx->lines[j].damaged == damaged)
                problems_add(problems, field, "duplicate",
                             "line %u is already returned as %s in this return", line->line_no,
                             damaged ? "damaged" : "sellable");
        ctx->line_count++;
    }
}

static void post_return(const http_request_t *req, http_response_t *res, void *arg)
{
    static const char *const fields[] = {"return_id", "order_id", "kind", "comment", "lines", NULL};
    inventory_app_t *app = arg;
    auth_claims_t claims;
    json_t *body = NULL;
    problems_t problems;
    if (!json_route_begin(app, req, res, ROLES_STOCK, &claims, &body, &problems))
        return;
    return_receipt_t *ctx = calloc(1, sizeof *ctx);
    if (!ctx) {
        problems_release(&problems);
        http_res_problem(res, 500, "out_of_memory", "out of memory", NULL);
        return;
    }
    ctx->app = app;
    ctx->actor = claims.subject;
    const char *key;
    json_t *value;
    json_object_foreach(body, key, value)
    {
        if (!known_field(key, fields))
            problems_add(&problems, key, "unknown", "a return has no field %.60s", key);
    }
    ctx->return_id = json_string_value(json_object_get(body, "return_id"));
    ctx->order_id = json_string_value(json_object_get(body, "order_id"));
    ctx->kind = json_string_value(json_object_get(body, "kind"));
    ctx->comment = json_string_value(json_object_get(body, "comment"));
    if (!ctx->return_id || !uuid_valid(ctx->return_id))
        problems_add(&problems, "return_id", "invalid",
                     "return_id must be a UUID chosen by the sender (a retry sends the same)");
    if (!ctx->order_id || !uuid_valid(ctx->order_id))
        problems_add(&problems, "order_id", "invalid", "order_id must be a UUID");
    if (!ctx->kind || (strcmp(ctx->kind, "refused") != 0 && strcmp(ctx->kind, "returned") != 0 &&
                       strcmp(ctx->kind, "brought_back") != 0))
        problems_add(&problems, "kind", "invalid",
                     "kind must be refused, returned or brought_back");
    if (json_object_get(body, "comment") && (!ctx->comment || strlen(ctx->comment) > NOTE_MAX ||
                                             catalogue_utf8_length(ctx->comment) < 0))
        problems_add(&problems, "comment", "invalid",
                     "comment must be UTF-8 text of at most %d bytes", NOTE_MAX);
    parse_return_lines(json_object_get(body, "lines"), ctx, &problems);
    if (problems_count(&problems) > 0) {
        answer_problems(res, "the return is not valid", &problems);
        problems_release(&problems);
        free(ctx);
        return;
    }
    problems_release(&problems);
    db_t *db = service_session(app->svc, res, SERVICE_SESSION_WAIT_MS);
    if (!db) {
        free(ctx);
        return;
    }
    tx_t tx;
    db_status_t status = service_tx(app->svc, db, returns_receive_tx, ctx, &tx);
    if (status != DB_OK)
        service_answer_db_failure(res, db, status, "receive return");
    else if (tx.abandoned)
        answer_refusal(res, &ctx->refusal);
    else {
        if (!ctx->already)
            log_info("return received", LF_STR("return_id", ctx->return_id),
                     LF_STR("order_id", ctx->order_id), LF_STR("actor", claims.subject));
        http_res_json_take(res, ctx->already ? 200 : 201,
                           json_pack("{s:s,s:s,s:b,s:I,s:I}", "return_id", ctx->return_id,
                                     "order_id", ctx->order_id, "already_received", ctx->already,
                                     "restocked", (json_int_t)ctx->restocked, "written_off",
                                     (json_int_t)ctx->written_off));
    }
    end_route(app, &db);
    free(ctx);
}

int api_register(http_server_t *http, inventory_app_t *app)
{
    static const struct {
        const char *method, *pattern;
        http_handler_fn handler;
    } routes[] = {
        {"GET", "/v1/products", list_products},
        {"POST", "/v1/products", create_product},
        {"GET", "/v1/products/{sku}", get_product},
        {"PATCH", "/v1/products/{sku}", patch_product},
        {"POST", "/v1/products/{sku}/deactivate", deactivate_product},
        {"POST", "/v1/imports", post_import},
        {"GET", "/v1/supplies", list_supplies},
        {"POST", "/v1/supplies", create_supply},
        {"GET", "/v1/supplies/{id}", get_supply},
        {"POST", "/v1/supplies/{id}/receive", receive_supply},
        {"POST", "/v1/stock/{sku}/corrections", post_correction},
        {"POST", "/v1/returns", post_return},
        {"GET", "/v1/returns", get_returns},
        {"GET", "/v1/reservations", get_reservations},
        {"GET", "/v1/waiting", get_waiting},
        {"GET", "/v1/reconciliation", get_reconciliation},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (http_route(http, routes[i].method, routes[i].pattern, routes[i].handler, app) != 0)
            return -1;
    return 0;
}
