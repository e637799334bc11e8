/*
 * api.c — the inventory service's staff HTTP API (F9-F13).
 *
 * Every route checks the caller's staff token first (auth.h). Who may do
 * what:
 *
 *   reads (products, supplies, reservations, waiting, reconciliation)
 *                                    any staff: admin, manager, warehouse, courier
 *   catalogue: create, edit, deactivate, import
 *                                    admin (prices and VAT are the store's policy)
 *   stock: record and receive supplies, post corrections
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
 *   GET   /v1/reservations?order_id=
 *   GET   /v1/waiting?limit=
 *   GET   /v1/reconciliation?products=all
 *
 * Bad input is answered with every mistake at once (problems.h, 422);
 * conflicts with the stock as it stands with 409 and a stable code;
 * nothing is ever half done. A write runs in one transaction, retried
 * (up to three times) when PostgreSQL picks it as a deadlock or
 * serialization victim — which can happen when it meets the applier's
 * batch on the same products — and its events are published right after
 * the commit (service_committed).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/auth.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/numparse.h"
#include "common/page.h"
#include "common/problems.h"
#include "common/uuid.h"
#include "services/inventory/catalogue.h"
#include "services/inventory/events.h"
#include "services/inventory/import.h"
#include "services/inventory/inventory.h"
#include "services/inventory/stockcache.h"
#include "services/inventory/store.h"

#define ROLES_READ       ROLE_ANY_STAFF
#define ROLES_CATALOG    ROLE_ADMIN
#define ROLES_STOCK      (ROLE_ADMIN | ROLE_WAREHOUSE)
#define TX_ATTEMPTS      3
#define POOL_WAIT_MS     5000
#define PAGE_DEFAULT     50
#define PAGE_MAX         500
#define SUPPLY_LINES_MAX 1000
#define QUERY_MAX        100
#define NOTE_MAX         500

/* ------------------------------------------------------------------ */
/* transactions and refusals                                            */

/* Why a request is answered without changing anything. */
typedef struct {
    int status; /* 0: go on */
    const char *code;
    char title[120];
    char detail[400];
    json_t *errors; /* owned; the 422 list */
} refusal_t;

static void refuse(refusal_t *refusal, int status, const char *code, const char *title,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void refuse(refusal_t *refusal, int status, const char *code, const char *title,
                   const char *fmt, ...)
{
    refusal->status = status;
    refusal->code = code;
    snprintf(refusal->title, sizeof refusal->title, "%s", title);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(refusal->detail, sizeof refusal->detail, fmt, ap);
    va_end(ap);
}

static void refuse_problems(refusal_t *refusal, const char *code, const char *title,
                            problems_t *problems)
{
    refusal->status = 422;
    refusal->code = code;
    snprintf(refusal->title, sizeof refusal->title, "%s", title);
    json_decref(refusal->errors);
    refusal->errors = problems_take(problems);
}

static void refusal_clear(refusal_t *refusal)
{
    json_decref(refusal->errors);
    memset(refusal, 0, sizeof *refusal);
}

static void answer_refusal(http_response_t *res, refusal_t *refusal)
{
    if (refusal->errors) {
        http_res_problem_errors_take(res, refusal->status, refusal->code, refusal->title,
                                     refusal->errors);
        refusal->errors = NULL;
        return;
    }
    http_res_problem(res, refusal->status, refusal->code, refusal->title,
                     refusal->detail[0] ? refusal->detail : NULL);
}

static void answer_problems(http_response_t *res, const char *title, problems_t *problems)
{
    http_res_problem_errors_take(res, 422, "invalid", title, problems_take(problems));
}

typedef db_status_t (*route_tx_fn)(db_t *db, void *ctx, refusal_t *refusal);

/* Runs body in a transaction and commits unless it refused; retries a
 * transaction that lost a deadlock or serialization race. DB_OK also when
 * refused (nothing committed, refusal set). */
static db_status_t transact(db_t *db, route_tx_fn body, void *ctx, refusal_t *refusal)
{
    db_status_t status = DB_ERROR;
    for (int attempt = 1; attempt <= TX_ATTEMPTS; attempt++) {
        refusal_clear(refusal);
        status = db_begin(db);
        if (status == DB_OK)
            status = body(db, ctx, refusal);
        if (status == DB_OK && refusal->status == 0)
            status = db_commit(db);
        if (status == DB_OK)
            break;
        db_rollback(db);
        const char *state = db_sqlstate(db);
        bool race =
            status == DB_TRANSIENT && (strcmp(state, "40P01") == 0 || strcmp(state, "40001") == 0 ||
                                       strcmp(state, "55P03") == 0);
        if (!race)
            break;
        log_info("transaction lost a race with another writer; trying again",
                 LF_INT("attempt", attempt), LF_STR("sqlstate", state));
    }
    if (status == DB_OK && refusal->status != 0)
        db_rollback(db);
    return status;
}

static bool sqlstate_is(const db_t *db, const char *state)
{
    return strcmp(db_sqlstate(db), state) == 0;
}

static bool error_names(const db_t *db, const char *constraint)
{
    return strstr(db_errmsg(db), constraint) != NULL;
}

/* The common start of a route: the token, then a session. NULL when the
 * answer is already set. */
static db_t *begin_route(inventory_app_t *app, const http_request_t *req, http_response_t *res,
                         unsigned roles, auth_claims_t *claims)
{
    if (!auth_require(service_auth(app->svc), req, res, roles, claims))
        return NULL;
    return service_session(app->svc, res, POOL_WAIT_MS);
}

static void end_route(inventory_app_t *app, db_t **db_p)
{
    service_session_release(app->svc, db_p);
}

/* After a commit that appended events or jobs: publish and run them now. */
static void committed(inventory_app_t *app, db_t *db)
{
    service_committed(app->svc, db);
    jobs_wake(service_jobs(app->svc));
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
static void action_key(const char *what, char out[96])
{
    char id[UUID_TEXT_SIZE];
    if (uuid_v4(id) != 0)
        snprintf(id, sizeof id, "%lld", (long long)clock_mono_us());
    snprintf(out, 96, "%s:%s", what, id);
}

static void copy_text(char *out, size_t size, const char *text)
{
    snprintf(out, size, "%s", text ? text : "");
}

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
    db_t *db = service_session(app->svc, res, POOL_WAIT_MS);
    if (!db)
        return;
    json_t *items = NULL;
    db_status_t status = store_products_page(db, &filter, &items);
    if (status != DB_OK)
        service_answer_db_failure(res, db, status, "list products");
    end_route(app, &db);
    if (status != DB_OK)
        return;
    json_t *next = json_null();
    if (json_array_size(items) > (size_t)page.limit) {
        json_array_remove(items, (size_t)page.limit);
        const char *last = json_string_value(
            json_object_get(json_array_get(items, (size_t)page.limit - 1), "sku"));
        char cursor[PAGE_CURSOR_SIZE];
        page_cursor(last, "", cursor);
        next = json_string(cursor);
    }
    http_res_json_take(res, 200, json_pack("{s:o,s:o}", "items", items, "next_cursor", next));
}

/* The product a create builds from its input. */
static void product_from_input(const product_input_t *in, product_row_t *p)
{
    memset(p, 0, sizeof *p);
    copy_text(p->sku, sizeof p->sku, in->sku);
    copy_text(p->external_code, sizeof p->external_code,
              (in->given & PRODUCT_EXTERNAL_CODE) && !(in->cleared & PRODUCT_EXTERNAL_CODE)
                  ? in->external_code
                  : "");
    copy_text(p->name, sizeof p->name, in->name);
    copy_text(p->currency, sizeof p->currency, in->currency);
    copy_text(p->buyer_id, sizeof p->buyer_id, in->cleared & PRODUCT_BUYER_ID ? "" : in->buyer_id);
    copy_text(p->buyer_name, sizeof p->buyer_name,
              in->cleared & PRODUCT_BUYER_NAME ? "" : in->buyer_name);
    copy_text(p->buyer_email, sizeof p->buyer_email,
              in->cleared & PRODUCT_BUYER_EMAIL ? "" : in->buyer_email);
    p->price_minor = in->price_minor;
    p->vat_rate_bp = in->vat_rate_bp;
    p->weight_g = in->weight_g;
    p->active = (in->given & PRODUCT_ACTIVE) ? in->active : true;
    p->level.low_threshold = (in->given & PRODUCT_THRESHOLD) ? in->low_stock_threshold : 0;
}

/* Applies the edits of a PATCH to a product. */
static void product_apply(const product_input_t *in, product_row_t *p)
{
    if (in->given & PRODUCT_EXTERNAL_CODE)
        copy_text(p->external_code, sizeof p->external_code,
                  in->cleared & PRODUCT_EXTERNAL_CODE ? "" : in->external_code);
    if (in->given & PRODUCT_NAME)
        copy_text(p->name, sizeof p->name, in->name);
    if (in->given & PRODUCT_PRICE)
        p->price_minor = in->price_minor;
    if (in->given & PRODUCT_CURRENCY)
        copy_text(p->currency, sizeof p->currency, in->currency);
    if (in->given & PRODUCT_VAT)
        p->vat_rate_bp = in->vat_rate_bp;
    if (in->given & PRODUCT_WEIGHT)
        p->weight_g = in->weight_g;
    if (in->given & PRODUCT_BUYER_ID)
        copy_text(p->buyer_id, sizeof p->buyer_id,
                  in->cleared & PRODUCT_BUYER_ID ? "" : in->buyer_id);
    if (in->given & PRODUCT_BUYER_NAME)
        copy_text(p->buyer_name, sizeof p->buyer_name,
                  in->cleared & PRODUCT_BUYER_NAME ? "" : in->buyer_name);
    if (in->given & PRODUCT_BUYER_EMAIL)
        copy_text(p->buyer_email, sizeof p->buyer_email,
                  in->cleared & PRODUCT_BUYER_EMAIL ? "" : in->buyer_email);
    if (in->given & PRODUCT_ACTIVE)
        p->active = in->active;
}

/* Maps a unique violation on products to a 409. */
static void refuse_taken(refusal_t *refusal, const db_t *db, const char *sku)
{
    if (error_names(db, "products_external_code_unique"))
        refuse(refusal, 409, "external_code_taken", "the external code belongs to another product",
               "%s", db_errmsg(db));
    else
        refuse(refusal, 409, "sku_exists", "a product with this sku exists",
               "product %s is already in the catalogue; edit it with PATCH", sku);
}

typedef struct {
    inventory_app_t *app;
    const product_input_t *input;
    const char *actor;
} create_ctx_t;

static db_status_t create_product_tx(db_t *db, void *arg, refusal_t *refusal)
{
    create_ctx_t *ctx = arg;
    product_row_t *product = calloc(1, sizeof *product);
    if (!product)
        return DB_ERROR;
    product_from_input(ctx->input, product);
    stock_level_t empty = {0, 0, product->level.low_threshold, false};
    int64_t on_hand = (ctx->input->given & PRODUCT_ON_HAND) ? ctx->input->on_hand : 0;
    stock_after_t after;
    stock_change(&empty, on_hand, 0, &after);
    product->level.on_hand = on_hand;
    product->level.low_alerted = after.low_alerted;
    emitter_t em = emitter_root(db, service_name(ctx->app->svc));
    db_status_t status = store_product_insert(db, product);
    if (status == DB_ERROR && sqlstate_is(db, STORE_UNIQUE_VIOLATION)) {
        refuse_taken(refusal, db, product->sku);
        status = DB_OK;
        goto done;
    }
    if (status == DB_OK && on_hand > 0) {
        char ref[96];
        snprintf(ref, sizeof ref, "product:%s", product->sku);
        movement_t movement = {.sku = product->sku,
                               .on_hand_delta = on_hand,
                               .cause = "correction",
                               .kind = "correction",
                               .ref = ref,
                               .actor = ctx->actor,
                               .note = "initial stock"};
        status = store_movement_add(db, &movement);
        char key[96];
        action_key("create", key);
        const char *sku = product->sku;
        if (status == DB_OK)
            status = inventory_retry_enqueue(db, &sku, 1, key);
    }
    if (status == DB_OK && after.low_alert) {
        status = events_stock_low(&em, product, &after);
        metrics_counter_add(ctx->app->low_alerts_total, 1);
    }
done:
    free(product);
    return status;
}

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
    db_t *db = service_session(app->svc, res, POOL_WAIT_MS);
    if (!db)
        return;
    create_ctx_t ctx = {app, &input, claims.subject};
    refusal_t refusal = {0};
    db_status_t status = transact(db, create_product_tx, &ctx, &refusal);
    if (status != DB_OK)
        service_answer_db_failure(res, db, status, "create product");
    else if (refusal.status)
        answer_refusal(res, &refusal);
    else {
        committed(app, db);
        log_info("product created", LF_STR("sku", input.sku), LF_STR("actor", claims.subject));
        answer_product(res, db, input.sku, 201);
    }
    refusal_clear(&refusal);
    end_route(app, &db);
}

typedef struct {
    inventory_app_t *app;
    const char *sku;
    const product_input_t *input; /* NULL: deactivate */
} edit_ctx_t;

static db_status_t edit_product_tx(db_t *db, void *arg, refusal_t *refusal)
{
    edit_ctx_t *ctx = arg;
    product_row_t *product = calloc(1, sizeof *product);
    if (!product)
        return DB_ERROR;
    size_t found = 0;
    db_status_t status = store_products_lock(db, &ctx->sku, 1, product, &found);
    if (status != DB_OK)
        goto done;
    if (found == 0) {
        refuse(refusal, 404, "not_found", "product not found", "no product with sku %.64s",
               ctx->sku);
        goto done;
    }
    bool was_active = product->active;
    stock_after_t after;
    if (ctx->input) {
        product_apply(ctx->input, product);
        int64_t threshold = (ctx->input->given & PRODUCT_THRESHOLD)
                                ? ctx->input->low_stock_threshold
                                : product->level.low_threshold;
        stock_rethreshold(&product->level, threshold, &after);
        product->level.low_threshold = threshold;
    } else {
        product->active = false;
        stock_rethreshold(&product->level, product->level.low_threshold, &after);
    }
    product->level.low_alerted = after.low_alerted;
    status = store_product_write(db, product);
    if (status == DB_ERROR && sqlstate_is(db, STORE_UNIQUE_VIOLATION)) {
        refuse_taken(refusal, db, product->sku);
        status = DB_OK;
        goto done;
    }
    emitter_t em = emitter_root(db, service_name(ctx->app->svc));
    if (status == DB_OK && after.low_alert) {
        status = events_stock_low(&em, product, &after);
        metrics_counter_add(ctx->app->low_alerts_total, 1);
    }
    if (status == DB_OK && !was_active && product->active) {
        /* back in the catalogue: orders waiting for it may now be held */
        char key[96];
        action_key("activate", key);
        status = inventory_retry_enqueue(db, &ctx->sku, 1, key);
    }
done:
    free(product);
    return status;
}

static void run_edit(inventory_app_t *app, const http_request_t *req, http_response_t *res,
                     const product_input_t *input, const char *actor)
{
    const char *sku = http_req_param(req, "sku");
    db_t *db = service_session(app->svc, res, POOL_WAIT_MS);
    if (!db)
        return;
    edit_ctx_t ctx = {app, sku, input};
    refusal_t refusal = {0};
    db_status_t status = transact(db, edit_product_tx, &ctx, &refusal);
    if (status != DB_OK)
        service_answer_db_failure(res, db, status, "edit product");
    else if (refusal.status)
        answer_refusal(res, &refusal);
    else {
        committed(app, db);
        log_info(input ? "product edited" : "product deactivated", LF_STR("sku", sku),
                 LF_STR("actor", actor));
        answer_product(res, db, sku, 200);
    }
    refusal_clear(&refusal);
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

typedef struct {
    inventory_app_t *app;
    import_t *import;
    const json_t *parse_errors; /* what reading the rows found; reported with the rest */
    const char *actor;
    /* results */
    int64_t import_id;
    int created, updated, stock_changed, low_alerts;
} import_ctx_t;

/* The product an import row leaves behind, for stock.low. */
static void import_merged(const import_row_t *row, const product_row_t *old, product_row_t *out)
{
    if (old)
        *out = *old;
    else
        product_from_input(&row->input, out);
    if (old)
        product_apply(&row->input, out);
    if (row->input.given & PRODUCT_THRESHOLD)
        out->level.low_threshold = row->input.low_stock_threshold;
}

static const product_row_t *find_row(const product_row_t *rows, size_t count, const char *sku)
{
    size_t lo = 0, hi = count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int cmp = strcmp(rows[mid].sku, sku);
        if (cmp == 0)
            return &rows[mid];
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static int compare_rows(const void *a, const void *b)
{
    return strcmp(((const product_row_t *)a)->sku, ((const product_row_t *)b)->sku);
}

static import_sql_row_t sql_row_of(const product_input_t *in)
{
    import_sql_row_t r = {
        .sku = in->sku,
        .external_code = in->external_code,
        .name = in->name,
        .currency = (in->given & PRODUCT_CURRENCY) ? in->currency : NULL,
        .buyer_id = in->buyer_id,
        .buyer_name = in->buyer_name,
        .buyer_email = in->buyer_email,
        .clear_external_code = (in->cleared & PRODUCT_EXTERNAL_CODE) != 0,
        .clear_buyer_id = (in->cleared & PRODUCT_BUYER_ID) != 0,
        .clear_buyer_name = (in->cleared & PRODUCT_BUYER_NAME) != 0,
        .clear_buyer_email = (in->cleared & PRODUCT_BUYER_EMAIL) != 0,
        .has_price = (in->given & PRODUCT_PRICE) != 0,
        .has_vat = (in->given & PRODUCT_VAT) != 0,
        .has_weight = (in->given & PRODUCT_WEIGHT) != 0,
        .has_threshold = (in->given & PRODUCT_THRESHOLD) != 0,
        .has_active = (in->given & PRODUCT_ACTIVE) != 0,
        .has_on_hand = (in->given & PRODUCT_ON_HAND) != 0,
        .price_minor = in->price_minor,
        .low_stock_threshold = in->low_stock_threshold,
        .on_hand = in->on_hand,
        .vat_rate_bp = in->vat_rate_bp,
        .weight_g = in->weight_g,
        .active = in->active,
    };
    if (in->cleared & PRODUCT_EXTERNAL_CODE)
        r.external_code = NULL;
    return r;
}

static db_status_t import_tx(db_t *db, void *arg, refusal_t *refusal)
{
    import_ctx_t *ctx = arg;
    import_t *import = ctx->import;
    size_t n = import->count;
    ctx->created = ctx->updated = ctx->stock_changed = ctx->low_alerts = 0;
    const char **skus = calloc(n, sizeof *skus);
    const char **codes = calloc(n, sizeof *codes);
    import_known_t *known = NULL;
    import_code_t *held = NULL;
    store_code_t *codes_held = NULL;
    product_row_t *rows = NULL, *merged = NULL;
    import_sql_row_t *inserts = calloc(n, sizeof *inserts);
    import_sql_row_t *updates = calloc(n, sizeof *updates);
    stock_after_t *afters = calloc(n, sizeof *afters);
    const char **raised = calloc(n, sizeof *raised);
    size_t row_count = 0, code_count = 0, held_count = 0, insert_count = 0, update_count = 0,
           raised_count = 0;
    problems_t problems = {0};
    db_status_t status = DB_ERROR;
    if (!skus || !codes || !inserts || !updates || !afters || !raised ||
        problems_init(&problems) != 0 ||
        json_array_extend(problems.errors, (json_t *)(uintptr_t)ctx->parse_errors) != 0)
        goto done;
    size_t sku_count = 0;
    for (size_t i = 0; i < n; i++) {
        const product_input_t *in = &import->rows[i].input;
        if (in->given & PRODUCT_SKU)
            skus[sku_count++] = in->sku;
        if ((in->given & PRODUCT_EXTERNAL_CODE) && !(in->cleared & PRODUCT_EXTERNAL_CODE))
            codes[code_count++] = in->external_code;
    }
    status = store_products_lock_many(db, skus, sku_count, &rows, &row_count);
    if (status != DB_OK)
        goto done;
    qsort(rows, row_count, sizeof *rows, compare_rows);
    status = store_codes_held(db, codes, code_count, &codes_held, &held_count);
    if (status != DB_OK)
        goto done;
    known = calloc(row_count ? row_count : 1, sizeof *known);
    held = calloc(held_count ? held_count : 1, sizeof *held);
    status = DB_ERROR;
    if (!known || !held)
        goto done;
    for (size_t i = 0; i < row_count; i++)
        known[i] = (import_known_t){rows[i].sku, rows[i].level.on_hand, rows[i].level.reserved};
    for (size_t i = 0; i < held_count; i++)
        held[i] = (import_code_t){codes_held[i].external_code, codes_held[i].sku};
    status = DB_OK;
    import_check_catalogue(import, known, row_count, held, held_count, &problems);
    if (problems_count(&problems) > 0) {
        refuse_problems(refusal, "import_invalid", "the import was not applied: rows are wrong",
                        &problems);
        goto done;
    }

    /* what each row leaves behind: stock, low flags, ledger deltas */
    for (size_t i = 0; i < n; i++) {
        const import_row_t *row = &import->rows[i];
        const product_input_t *in = &row->input;
        const product_row_t *old = row->exists ? find_row(rows, row_count, in->sku) : NULL;
        stock_level_t level = old ? old->level : (stock_level_t){0, 0, 0, false};
        if (in->given & PRODUCT_THRESHOLD)
            level.low_threshold = in->low_stock_threshold;
        int64_t delta = (in->given & PRODUCT_ON_HAND) ? in->on_hand - level.on_hand : 0;
        if (stock_change(&level, delta, 0, &afters[i]) != STOCK_OK) {
            status = DB_ERROR; /* import_check_catalogue refused these */
            goto done;
        }
        import_sql_row_t sql = sql_row_of(in);
        sql.low_alerted = afters[i].low_alerted;
        if (old)
            updates[update_count++] = sql;
        else
            inserts[insert_count++] = sql;
        bool activated = old && !old->active && (in->given & PRODUCT_ACTIVE) && in->active;
        if (delta > 0 || activated || (!old && afters[i].on_hand > 0))
            raised[raised_count++] = in->sku;
    }
    status = store_import_insert(db, inserts, insert_count);
    if (status == DB_OK)
        status = store_import_update(db, updates, update_count);
    if (status == DB_ERROR && sqlstate_is(db, STORE_UNIQUE_VIOLATION)) {
        refuse(refusal, 409, "external_code_taken",
               "the import was not applied: external codes collide", "%s", db_errmsg(db));
        status = DB_OK;
        goto done;
    }
    if (status != DB_OK)
        goto done;
    ctx->created = (int)insert_count;
    ctx->updated = (int)update_count;
    for (size_t i = 0; i < n; i++) {
        const import_row_t *row = &import->rows[i];
        const product_row_t *old = row->exists ? find_row(rows, row_count, row->input.sku) : NULL;
        if (afters[i].on_hand != (old ? old->level.on_hand : 0))
            ctx->stock_changed++;
    }
    status = store_import_record(db, import->csv, (int)n, ctx->created, ctx->updated,
                                 ctx->stock_changed, ctx->actor, &ctx->import_id);
    char ref[48];
    snprintf(ref, sizeof ref, "import:%lld", (long long)ctx->import_id);
    merged = calloc(1, sizeof *merged);
    if (!merged)
        status = DB_ERROR;
    emitter_t em = emitter_root(db, service_name(ctx->app->svc));
    for (size_t i = 0; i < n && status == DB_OK; i++) {
        const import_row_t *row = &import->rows[i];
        const product_row_t *old = row->exists ? find_row(rows, row_count, row->input.sku) : NULL;
        int64_t delta = afters[i].on_hand - (old ? old->level.on_hand : 0);
        if (delta != 0) {
            movement_t movement = {.sku = row->input.sku,
                                   .on_hand_delta = delta,
                                   .cause = "import",
                                   .kind = "import",
                                   .ref = ref,
                                   .actor = ctx->actor};
            status = store_movement_add(db, &movement);
        }
        if (status == DB_OK && afters[i].low_alert) {
            import_merged(row, old, merged);
            status = events_stock_low(&em, merged, &afters[i]);
            ctx->low_alerts++;
            metrics_counter_add(ctx->app->low_alerts_total, 1);
        }
    }
    if (status == DB_OK && raised_count > 0)
        status = inventory_retry_enqueue(db, raised, raised_count, ref);
done:
    problems_release(&problems);
    free(skus);
    free(codes);
    free(known);
    free(held);
    store_codes_free(codes_held, held_count);
    free(rows);
    free(merged);
    free(inserts);
    free(updates);
    free(afters);
    free(raised);
    return status;
}

/* The media type without parameters, lower-cased, into out. */
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
    db_t *db = service_session(app->svc, res, POOL_WAIT_MS);
    if (!db)
        goto done;
    import_ctx_t ctx = {.app = app,
                        .import = &import,
                        .parse_errors = problems_errors(&problems),
                        .actor = claims.subject};
    refusal_t refusal = {0};
    db_status_t status = transact(db, import_tx, &ctx, &refusal);
    if (status != DB_OK)
        service_answer_db_failure(res, db, status, "import");
    else if (refusal.status) {
        log_info("import refused", LF_STR("actor", claims.subject), LF_ERR(refusal.code));
        answer_refusal(res, &refusal);
    } else {
        committed(app, db);
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
    refusal_clear(&refusal);
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
        copy_text(lines[count].sku, sizeof lines[count].sku, sku);
        lines[count].quantity = json_integer_value(quantity);
        count++;
    }
    return count;
}

typedef struct {
    const char *expected_date, *supplier, *comment, *actor;
    supply_line_t *lines;
    size_t line_count;
    int64_t id;
} supply_ctx_t;

static db_status_t create_supply_tx(db_t *db, void *arg, refusal_t *refusal)
{
    supply_ctx_t *ctx = arg;
    const char **skus = calloc(ctx->line_count, sizeof *skus);
    json_t *missing = NULL;
    db_status_t status = DB_ERROR;
    if (!skus)
        goto done;
    for (size_t i = 0; i < ctx->line_count; i++)
        skus[i] = ctx->lines[i].sku;
    status = store_unknown_skus(db, skus, ctx->line_count, &missing);
    if (status != DB_OK)
        goto done;
    if (json_array_size(missing) > 0) {
        problems_t problems;
        if (problems_init(&problems) != 0) {
            status = DB_ERROR;
            goto done;
        }
        for (size_t m = 0; m < json_array_size(missing); m++) {
            const char *sku = json_string_value(json_array_get(missing, m));
            for (size_t i = 0; i < ctx->line_count; i++) {
                if (strcmp(ctx->lines[i].sku, sku) != 0)
                    continue;
                char field[48];
                snprintf(field, sizeof field, "lines[%zu].sku", i);
                problems_add(&problems, field, "unknown", "no product with sku %s", sku);
            }
        }
        refuse_problems(refusal, "invalid", "the supply names products that do not exist",
                        &problems);
        problems_release(&problems);
        goto done;
    }
    status = store_supply_insert(db, ctx->expected_date, ctx->supplier, ctx->comment, ctx->actor,
                                 ctx->lines, ctx->line_count, &ctx->id);
done:
    json_decref(missing);
    free(skus);
    return status;
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
    supply_ctx_t ctx = {
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
    db_t *db = service_session(app->svc, res, POOL_WAIT_MS);
    if (!db)
        goto done;
    refusal_t refusal = {0};
    db_status_t status = transact(db, create_supply_tx, &ctx, &refusal);
    if (status != DB_OK)
        service_answer_db_failure(res, db, status, "record supply");
    else if (refusal.status)
        answer_refusal(res, &refusal);
    else {
        log_info("supply recorded", LF_INT("supply_id", ctx.id), LF_STR("expected_date", date),
                 LF_INT("lines", ctx.line_count), LF_STR("actor", claims.subject));
        answer_supply(res, db, ctx.id, 201);
    }
    refusal_clear(&refusal);
    end_route(app, &db);
done:
    problems_release(&problems);
    free(lines);
}

typedef struct {
    inventory_app_t *app;
    int64_t id;
    const char *actor;
    const supply_line_t *received; /* NULL: as expected */
    size_t received_count;
} receive_ctx_t;

static db_status_t receive_supply_tx(db_t *db, void *arg, refusal_t *refusal)
{
    receive_ctx_t *ctx = arg;
    char state[16];
    stockcache_t *cache = stockcache_of(db, ctx->app);
    supply_line_t *lines = calloc(SUPPLY_LINES_MAX, sizeof *lines);
    const char **skus = calloc(SUPPLY_LINES_MAX, sizeof *skus);
    product_row_t **held = calloc(SUPPLY_LINES_MAX, sizeof *held);
    int64_t *waiting = calloc(SUPPLY_LINES_MAX, sizeof *waiting);
    const char **raised = calloc(SUPPLY_LINES_MAX, sizeof *raised);
    size_t count = 0, raised_count = 0;
    db_status_t status = DB_ERROR;
    if (!cache || !lines || !skus || !held || !waiting || !raised)
        goto done;
    status = store_supply_lock(db, ctx->id, state, lines, SUPPLY_LINES_MAX, &count);
    if (status != DB_OK)
        goto done;
    if (!state[0]) {
        refuse(refusal, 404, "not_found", "supply not found", "no supply %lld", (long long)ctx->id);
        goto done;
    }
    if (strcmp(state, "received") == 0) {
        refuse(refusal, 409, "already_received", "the supply was already received",
               "supply %lld was received before; its stock is in", (long long)ctx->id);
        goto done;
    }
    /* what actually came */
    for (size_t r = 0; r < ctx->received_count; r++) {
        bool listed = false;
        for (size_t i = 0; i < count; i++)
            if (strcmp(lines[i].sku, ctx->received[r].sku) == 0) {
                lines[i].quantity = ctx->received[r].quantity;
                listed = true;
            }
        if (!listed) {
            refuse(refusal, 422, "not_in_supply", "a received line is not in the supply",
                   "sku %s is not in supply %lld", ctx->received[r].sku, (long long)ctx->id);
            goto done;
        }
    }
    for (size_t i = 0; i < count; i++)
        skus[i] = lines[i].sku;
    status = stockcache_hold(cache, db, skus, count, NULL, held, NULL);
    if (status == DB_OK)
        status = store_waiting_counts(db, skus, count, waiting);
    if (status == DB_OK)
        status = store_supply_received(db, ctx->id, ctx->actor, lines, count);
    char ref[48];
    snprintf(ref, sizeof ref, "supply:%lld", (long long)ctx->id);
    emitter_t em = emitter_root(db, service_name(ctx->app->svc));
    for (size_t i = 0; i < count && status == DB_OK; i++) {
        if (!held[i] || lines[i].quantity == 0)
            continue; /* supply lines name catalogue products (foreign key) */
        stock_after_t after;
        if (stock_change(&held[i]->level, lines[i].quantity, 0, &after) != STOCK_OK) {
            refuse(refusal, 409, "too_large", "the stock would be too large", "sku %s",
                   held[i]->sku);
            goto done;
        }
        stockcache_set(cache, held[i], &after);
        movement_t movement = {.sku = held[i]->sku,
                               .on_hand_delta = lines[i].quantity,
                               .cause = "supply",
                               .kind = "receive",
                               .ref = ref,
                               .actor = ctx->actor};
        status = store_movement_add(db, &movement);
        if (status == DB_OK)
            status = events_stock_replenished(&em, held[i]->sku, lines[i].quantity, ctx->id,
                                              after.on_hand, after.on_hand - after.reserved,
                                              (uint32_t)waiting[i]);
        raised[raised_count++] = held[i]->sku;
        metrics_counter_add(ctx->app->replenished_total, 1);
    }
    if (status == DB_OK && raised_count > 0)
        status = inventory_retry_enqueue(db, raised, raised_count, ref);
done:
    free(lines);
    free(skus);
    free(held);
    free(waiting);
    free(raised);
    return status;
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
    db_t *db = service_session(app->svc, res, POOL_WAIT_MS);
    if (!db)
        goto done;
    receive_ctx_t ctx = {app, id, claims.subject, received, received_count};
    refusal_t refusal = {0};
    db_status_t status = transact(db, receive_supply_tx, &ctx, &refusal);
    if (status != DB_OK)
        service_answer_db_failure(res, db, status, "receive supply");
    else if (refusal.status)
        answer_refusal(res, &refusal);
    else {
        committed(app, db);
        log_info("supply received", LF_INT("supply_id", id), LF_STR("actor", claims.subject));
        answer_supply(res, db, id, 200);
    }
    refusal_clear(&refusal);
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
    db_t *db = service_session(app->svc, res, POOL_WAIT_MS);
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
    db_t *db = service_session(app->svc, res, POOL_WAIT_MS);
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
    json_t *next = json_null();
    if (json_array_size(items) > (size_t)page.limit) {
        json_array_remove(items, (size_t)page.limit);
        char key[24], cursor[PAGE_CURSOR_SIZE];
        snprintf(key, sizeof key, "%lld",
                 (long long)json_integer_value(
                     json_object_get(json_array_get(items, (size_t)page.limit - 1), "id")));
        page_cursor(key, "", cursor);
        next = json_string(cursor);
    }
    http_res_json_take(res, 200, json_pack("{s:o,s:o}", "items", items, "next_cursor", next));
}

/* ------------------------------------------------------------------ */
/* corrections                                                          */

typedef struct {
    inventory_app_t *app;
    const char *sku;
    bool absolute;
    int64_t value; /* the delta, or the new on hand */
    const char *reason;
    const char *actor;
    char correction_id[UUID_TEXT_SIZE];
} correction_ctx_t;

static db_status_t correction_tx(db_t *db, void *arg, refusal_t *refusal)
{
    correction_ctx_t *ctx = arg;
    stockcache_t *cache = stockcache_of(db, ctx->app);
    product_row_t *product = NULL;
    if (!cache)
        return DB_ERROR;
    db_status_t status = stockcache_hold(cache, db, &ctx->sku, 1, NULL, &product, NULL);
    if (status != DB_OK)
        return status;
    if (!product) {
        refuse(refusal, 404, "not_found", "product not found", "no product with sku %.64s",
               ctx->sku);
        return DB_OK;
    }
    int64_t delta = ctx->absolute ? ctx->value - product->level.on_hand : ctx->value;
    if (delta == 0) {
        refuse(refusal, 409, "no_change", "the correction changes nothing",
               "product %s already has %lld on hand", product->sku,
               (long long)product->level.on_hand);
        return DB_OK;
    }
    stock_after_t after;
    stock_refusal_t why = stock_change(&product->level, delta, 0, &after);
    if (why != STOCK_OK) {
        refuse(refusal, 409, stock_refusal_code(why), "the correction would break the stock",
               "product %s has %lld on hand and %lld reserved for orders; %+lld would leave "
               "%s",
               product->sku, (long long)product->level.on_hand, (long long)product->level.reserved,
               (long long)delta,
               why == STOCK_OVER_RESERVED ? "less than is reserved" : "a negative stock");
        return DB_OK;
    }
    if (uuid_v4(ctx->correction_id) != 0)
        return DB_ERROR;
    emitter_t em = emitter_root(db, service_name(ctx->app->svc));
    if (after.low_alert) {
        status = events_stock_low(&em, product, &after);
        metrics_counter_add(ctx->app->low_alerts_total, 1);
    }
    stockcache_set(cache, product, &after);
    char ref[64];
    snprintf(ref, sizeof ref, "correction:%s", ctx->correction_id);
    movement_t movement = {.sku = product->sku,
                           .on_hand_delta = delta,
                           .cause = "correction",
                           .kind = "correction",
                           .ref = ref,
                           .actor = ctx->actor,
                           .note = ctx->reason};
    if (status == DB_OK)
        status = store_movement_add(db, &movement);
    if (status == DB_OK && delta > 0)
        status = inventory_retry_enqueue(db, &ctx->sku, 1, ref);
    return status;
}

static void post_correction(const http_request_t *req, http_response_t *res, void *arg)
{
    inventory_app_t *app = arg;
    auth_claims_t claims;
    json_t *body = NULL;
    problems_t problems;
    if (!json_route_begin(app, req, res, ROLES_STOCK, &claims, &body, &problems))
        return;
    correction_ctx_t ctx = {.app = app, .sku = http_req_param(req, "sku"), .actor = claims.subject};
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
    db_t *db = service_session(app->svc, res, POOL_WAIT_MS);
    if (!db)
        return;
    refusal_t refusal = {0};
    db_status_t status = transact(db, correction_tx, &ctx, &refusal);
    if (status != DB_OK)
        service_answer_db_failure(res, db, status, "correct stock");
    else if (refusal.status)
        answer_refusal(res, &refusal);
    else {
        committed(app, db);
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
    refusal_clear(&refusal);
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
    uint8_t bytes[16];
    if (!order_id || uuid_parse(order_id, bytes) != 0) {
        http_res_problem(res, 400, "invalid", "order_id must be an order's UUID", NULL);
        return;
    }
    db_t *db = service_session(app->svc, res, POOL_WAIT_MS);
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

static void get_waiting(const http_request_t *req, http_response_t *res, void *arg)
{
    inventory_app_t *app = arg;
    auth_claims_t claims;
    if (!auth_require(service_auth(app->svc), req, res, ROLES_READ, &claims))
        return;
    page_t page;
    if (page_from_request(req, res, 100, 1000, &page) != 0)
        return;
    db_t *db = service_session(app->svc, res, POOL_WAIT_MS);
    if (!db)
        return;
    json_t *items = NULL;
    db_status_t status = store_waiting_json(db, page.limit, &items);
    if (status != DB_OK)
        service_answer_db_failure(res, db, status, "read waiting orders");
    else
        http_res_json_take(res, 200, json_pack("{s:o}", "items", items ? items : json_array()));
    end_route(app, &db);
}

static void get_reconciliation(const http_request_t *req, http_response_t *res, void *arg)
{
    inventory_app_t *app = arg;
    auth_claims_t claims;
    if (!auth_require(service_auth(app->svc), req, res, ROLES_READ, &claims))
        return;
    const char *which = http_req_query(req, "products");
    db_t *db = service_session(app->svc, res, POOL_WAIT_MS);
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
        {"GET", "/v1/reservations", get_reservations},
        {"GET", "/v1/waiting", get_waiting},
        {"GET", "/v1/reconciliation", get_reconciliation},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (http_route(http, routes[i].method, routes[i].pattern, routes[i].handler, app) != 0)
            return -1;
    return 0;
}
