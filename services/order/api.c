/*
 * api.c — the order service's HTTP routes: parse, authorise, call the
 * domain inside one transaction (service_tx: the kit's one retry policy),
 * answer. No SQL and no domain decision lives here.
 *
 *   POST /v1/auth/token, /v1/auth/refresh        staff tokens (F: identity)
 *   POST /v1/orders                              intake, JSON, Idempotency-Key
 *   POST /v1/intake/form                         intake, site builders' form webhook
 *   GET  /v1/orders, /v1/orders/{id}             reading (F31)
 *   GET  /v1/orders/{id}/document.pdf            the order as a PDF (F32)
 *   POST /v1/orders/{id}/status, /take           the funnel (F6)
 *   POST /v1/orders/{id}/edit                    a manager's edit (editing.h)
 *   GET  /v1/statuses, /v1/transitions           the funnel as data
 *   GET  /v1/rejections                          rejected submissions (F2)
 *   /v1/staff ...                                managers and shifts (F5)
 *   POST /v1/sources                             intake sources and their API keys
 *   GET  /v1/tasks, POST /v1/tasks/{id}/done     tasks (F8)
 *   GET  /v1/reports/sales, /v1/reports/people   analytics (F31)
 *   /v1/orders/{id}/claims, /v1/claims ...        claims (F30), GET /v1/reports/claims;
 *                                                the order card (GET /v1/orders/{id}) lists them
 *
 * Who may call what: intake takes a source's API key (the X-Api-Key
 * header, never the URL) or a manager's/admin's token (a call centre
 * entering an order); staff and
 * sources are administered by admins; everything else takes any staff
 * token, and the funnel's matrix decides which moves a role may make.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/auth.h"
#include "common/clock.h"
#include "common/digest.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/numparse.h"
#include "common/page.h"
#include "common/service.h"
#include "common/uuid.h"
#include "services/order/assignment.h"
#include "services/order/calendar.h"
#include "services/order/claiming.h"
#include "services/order/document.h"
#include "services/order/editing.h"
#include "services/order/form.h"
#include "services/order/funnel.h"
#include "services/order/identity.h"
#include "services/order/order.h"
#include "services/order/placing.h"
#include "services/order/store.h"
#include "services/order/submission.h"

/* ------------------------------------------------------------------ */
/* plumbing                                                             */

static const auth_t *auth_of(const order_app_t *app)
{
    return service_auth(app->svc);
}

static db_t *session(order_app_t *app, http_response_t *res)
{
    return service_session(app->svc, res, SERVICE_SESSION_WAIT_MS);
}

static void release(order_app_t *app, db_t **db)
{
    service_session_release(app->svc, db);
}

/* Root events of a route, in the transaction on db. */
static emitter_t root_emitter(const order_app_t *app, db_t *db)
{
    return emitter_root(db, order_stream(app));
}

/* Answers a JSON value from the store: 200, or 404 when absent. */
static void answer_json(http_response_t *res, db_t *db, db_status_t status, json_t *value,
                        const char *what)
{
    if (status != DB_OK) {
        service_answer_db_failure(res, db, status, what);
        json_decref(value);
        return;
    }
    if (!value) {
        http_res_problem(res, 404, "not_found", "no such thing", what);
        return;
    }
    http_res_json_take(res, 200, value);
}

/* A list page from the store's {"items": [...], "last": cursor key}: the
 * kit's one paging answer, next_cursor null on the last page. */
static void answer_page(http_response_t *res, db_t *db, db_status_t status, json_t *page_value,
                        const page_t *page, const char *what)
{
    if (status != DB_OK || !page_value) {
        answer_json(res, db, status, page_value, what);
        return;
    }
    json_t *items = json_incref(json_object_get(page_value, "items"));
    const char *last_key = json_string_value(json_object_get(page_value, "last"));
    char cursor[PAGE_CURSOR_SIZE];
    bool more = last_key && json_array_size(items) == (size_t)page->limit;
    if (more) {
        json_t *last = json_array_get(items, json_array_size(items) - 1);
        page_cursor(last_key, json_string_value(json_object_get(last, "id")), cursor);
    }
    json_decref(page_value);
    page_answer_take(res, items, more ? cursor : NULL); /* NULL items: 500 */
}

typedef db_status_t (*json_reader_fn)(db_t *db, const char *key, json_t **out);

/* The shape of every read: a session, one JSON value from the store,
 * answered (wrapped as {"<wrap>": value} when wrap is given) or 404, 503. */
static void serve_json(order_app_t *app, http_response_t *res, json_reader_fn read, const char *key,
                       const char *wrap, const char *what)
{
    db_t *db = session(app, res);
    if (!db)
        return;
    json_t *value = NULL;
    db_status_t status = read(db, key, &value);
    if (status == DB_OK && value && wrap)
        value = json_pack("{s:o}", wrap, value);
    answer_json(res, db, status, value, what);
    release(app, &db);
}

/* Reads a time bound: "YYYY-MM-DD" (midnight in STORE_TZ) or unix ms.
 * 0 when absent; -1 (answered 400) when malformed. */
static int time_param(const http_request_t *req, http_response_t *res, const char *name,
                      int64_t *ms_out)
{
    *ms_out = 0;
    const char *text = http_req_query(req, name);
    if (!text || !text[0])
        return 0;
    civil_day_t day = 0;
    if (calendar_parse_day(text, &day) == 0) {
        struct tm tm = {0};
        char date[11];
        calendar_format_day(day, date);
        tm.tm_year = (int)strtol(date, NULL, 10) - 1900;
        tm.tm_mon = (int)strtol(date + 5, NULL, 10) - 1;
        tm.tm_mday = (int)strtol(date + 8, NULL, 10);
        tm.tm_isdst = -1;
        *ms_out = (int64_t)mktime(&tm) * 1000;
        return 0;
    }
    if (numparse_i64(text, ms_out) == 0 && *ms_out > 0)
        return 0;
    char detail[128];
    snprintf(detail, sizeof detail, "%s is a date (YYYY-MM-DD) or unix milliseconds", name);
    http_res_problem(res, 400, "bad_time", "a time parameter is malformed", detail);
    return -1;
}

/* ------------------------------------------------------------------ */
/* identity                                                             */

static metrics_counter_t *login_counter(const char *outcome)
{
    char labels[64];
    snprintf(labels, sizeof labels, "outcome=\"%s\"", outcome);
    return metrics_counter("login_attempts_total", labels,
                           "POST /v1/auth/token attempts by outcome (rate_limited, refused, ok).");
}

typedef struct {
    order_app_t *app;
    login_attempt_t attempt;
} login_ctx_t;

static db_status_t tx_login_admit(tx_t *tx, void *arg)
{
    login_ctx_t *ctx = arg;
    return identity_login_admit(ctx->app, tx->db, &ctx->attempt);
}

static db_status_t tx_login_settle(tx_t *tx, void *arg)
{
    login_ctx_t *ctx = arg;
    return identity_login_settle(ctx->app, tx->db, &ctx->attempt);
}

/* POST /v1/auth/token: identity.h's three steps, one answer for every
 * refusal but the rate limit's. */
static void route_auth_token(const http_request_t *req, http_response_t *res, void *arg)
{
    order_app_t *app = arg;
    json_t *body = http_req_json(req, res);
    if (!body)
        return;
    login_ctx_t ctx = {.app = app,
                       .attempt = {.login = json_string_value(json_object_get(body, "login")),
                                   .now_ms = clock_now_ms()}};
    login_attempt_t *attempt = &ctx.attempt;
    const char *password = json_string_value(json_object_get(body, "password"));
    if (!attempt->login || !password || !attempt->login[0] || strlen(attempt->login) > 128) {
        http_res_problem(res, 422, "required", "login and password are required",
                         "a login is at most 128 characters");
        return;
    }
    char address[HTTP_ADDR_SIZE];
    if (http_req_client(req, service_proxies(app->svc), address, sizeof address) != 0 ||
        login_client_key(address, attempt->client, sizeof attempt->client) != 0) {
        http_res_problem(res, 500, "no_client_address", "the client's address is unknown", NULL);
        return;
    }
    db_t *db = session(app, res);
    if (!db)
        return;
    db_status_t status = service_tx(app->svc, db, tx_login_admit, &ctx, NULL);
    if (status != DB_OK) {
        service_answer_db_failure(res, db, status, "login");
        goto done;
    }
    if (attempt->limited) {
        metrics_counter_add(login_counter("rate_limited"), 1);
        char seconds[24];
        snprintf(seconds, sizeof seconds, "%lld",
                 (long long)((attempt->retry_after_ms + 999) / 1000));
        http_res_header(res, "Retry-After", seconds);
        http_res_problem(res, 429, "login_rate_limited",
                         "too many login attempts from your address",
                         "try again after the seconds in Retry-After");
        goto done;
    }
    identity_login_check(app, attempt, password);
    status = service_tx(app->svc, db, tx_login_settle, &ctx, NULL);
    if (status != DB_OK) {
        service_answer_db_failure(res, db, status, "login");
    } else if (attempt->granted && attempt->answer) {
        metrics_counter_add(login_counter("ok"), 1);
        http_res_json_take(res, 200, json_incref(attempt->answer));
    } else {
        /* unknown, wrong, inactive or locked: one answer for all */
        metrics_counter_add(login_counter("refused"), 1);
        http_res_problem(res, 401, "bad_credentials", "the login or the password is wrong", NULL);
    }
done:
    identity_login_clear(attempt);
    release(app, &db);
}

typedef struct {
    order_app_t *app;
    const char *refresh;
    json_t *answer;
} refresh_ctx_t;

static db_status_t tx_refresh(tx_t *tx, void *arg)
{
    refresh_ctx_t *ctx = arg;
    json_decref(ctx->answer);
    return identity_refresh(ctx->app, tx->db, ctx->refresh, &ctx->answer);
}

static void route_auth_refresh(const http_request_t *req, http_response_t *res, void *arg)
{
    order_app_t *app = arg;
    json_t *body = http_req_json(req, res);
    if (!body)
        return;
    refresh_ctx_t ctx = {.app = app,
                         .refresh = json_string_value(json_object_get(body, "refresh_token"))};
    if (!ctx.refresh || strlen(ctx.refresh) > 128) {
        http_res_problem(res, 422, "required", "refresh_token is required", NULL);
        return;
    }
    db_t *db = session(app, res);
    if (!db)
        return;
    db_status_t status = service_tx(app->svc, db, tx_refresh, &ctx, NULL);
    if (status != DB_OK)
        service_answer_db_failure(res, db, status, "refresh");
    else if (ctx.answer)
        http_res_json_take(res, 200, json_incref(ctx.answer));
    else
        http_res_problem(res, 401, "bad_refresh_token",
                         "the refresh token is unknown, used or expired",
                         "log in again with POST /v1/auth/token");
    json_decref(ctx.answer);
    release(app, &db);
}

/* ------------------------------------------------------------------ */
/* intake                                                               */

typedef struct {
    char source[130];
    char default_channel[16];
    intake_trust_t trust; /* the source's; for staff, of the source they file under */
    bool staff;           /* a person with a token, not a source's key */
    unsigned roles;       /* staff: role_t bits */
    char staff_id[64];    /* staff: the token's subject */
} caller_t;

/* Who submits: a source by its API key, or a manager/admin by token.
 * The key is read from the X-Api-Key header only: a key in the URL ends
 * up in proxies' and servers' access logs, so one sent there is refused
 * (and should be replaced), never used. */
static bool intake_caller(order_app_t *app, const http_request_t *req, http_response_t *res,
                          db_t *db, caller_t *caller)
{
    memset(caller, 0, sizeof *caller);
    if (http_req_query(req, "api_key")) {
        http_res_problem(res, 401, "api_key_in_url", "an API key is never accepted in the URL",
                         "send it in the X-Api-Key header; a key that was sent in a URL may "
                         "be in access logs: have an admin issue a new one");
        return false;
    }
    const char *key = http_req_header(req, "X-Api-Key");
    if (key) {
        char hash[DIGEST_HEX_SIZE];
        intake_source_t source;
        bool found = false;
        db_status_t status = digest_sha256_hex(key, strlen(key), hash) == 0
                                 ? store_source_by_key(db, hash, &found, &source)
                                 : DB_ERROR;
        if (status != DB_OK) {
            service_answer_db_failure(res, db, status, "intake source");
            return false;
        }
        if (!found) {
            http_res_problem(res, 401, "bad_api_key", "the API key is not one of our sources",
                             NULL);
            return false;
        }
        snprintf(caller->source, sizeof caller->source, "%s", source.source);
        snprintf(caller->default_channel, sizeof caller->default_channel, "%s",
                 source.default_channel);
        caller->trust = source.trust;
        return true;
    }
    if (!http_req_header(req, "Authorization")) {
        http_res_header(res, "WWW-Authenticate", "Bearer realm=\"conveyor\"");
        http_res_problem(res, 401, "unauthenticated", "an API key or a staff token is required",
                         "a source sends its key in the X-Api-Key header; staff send "
                         "Authorization: Bearer <token>");
        return false;
    }
    auth_claims_t claims;
    if (!auth_require(auth_of(app), req, res, ROLE_ADMIN | ROLE_MANAGER, &claims))
        return false;
    snprintf(caller->source, sizeof caller->source, "callcenter");
    snprintf(caller->default_channel, sizeof caller->default_channel, "phone");
    caller->staff = true;
    caller->roles = claims.roles;
    snprintf(caller->staff_id, sizeof caller->staff_id, "%s", claims.subject);
    return true;
}

/* Staff file under the call centre's source; naming another takes its
 * idempotency keys and its place in the reports, so it needs an admin or
 * a grant (staff.intake_sources, set by an admin). True when allowed;
 * otherwise answered 403 (or a database failure) on res. */
static bool staff_may_file(db_t *db, http_response_t *res, const caller_t *caller,
                           const char *source)
{
    if (strcmp(source, caller->source) == 0 || (caller->roles & ROLE_ADMIN))
        return true;
    bool may = false;
    db_status_t status = uuid_valid(caller->staff_id)
                             ? store_staff_may_file(db, caller->staff_id, source, &may)
                             : DB_OK;
    if (status != DB_OK) {
        service_answer_db_failure(res, db, status, "staff grant");
        return false;
    }
    if (!may)
        http_res_problem(res, 403, "source_not_allowed",
                         "you may not file orders under this source",
                         "staff file under \"callcenter\"; another source needs an admin, or a "
                         "grant in the person's intake_sources (PATCH /v1/staff/{id})");
    return may;
}

typedef struct {
    order_app_t *app;
    submission_t *sub;
    intake_door_t door;
    const caller_t *caller;
    const json_t *read_errors;
    intake_result_t result;
} intake_ctx_t;

static db_status_t tx_intake(tx_t *tx, void *arg)
{
    intake_ctx_t *ctx = arg;
    emitter_t root = root_emitter(ctx->app, tx->db);
    return placing_intake(ctx->app, &root, ctx->sub, ctx->door, ctx->caller->default_channel,
                          &ctx->caller->trust, ctx->read_errors, &ctx->result);
}

/* Staff are trusted with money as far as the source they file under is
 * (the call centre's own row, "callcenter", when an admin made one);
 * false once it answered a database failure. */
static bool staff_trust(db_t *db, http_response_t *res, const char *source, caller_t *caller)
{
    intake_source_t row = {.trust = {.may_set_prices = false, .max_discount_bp = 0}};
    bool found = false;
    db_status_t status = source ? store_source_by_name(db, source, &found, &row) : DB_OK;
    if (status != DB_OK) {
        service_answer_db_failure(res, db, status, "intake source");
        return false;
    }
    caller->trust = row.trust;
    return true;
}

/* Files a submission and answers 201 / 200 (repeat) / 409 / 422. */
static void intake_and_answer(order_app_t *app, http_response_t *res, db_t *db, submission_t *sub,
                              intake_door_t door, const caller_t *caller, const json_t *read_errors)
{
    intake_ctx_t ctx = {
        .app = app, .sub = sub, .door = door, .caller = caller, .read_errors = read_errors};
    db_status_t status = service_tx(app->svc, db, tx_intake, &ctx, NULL);
    intake_result_t *result = &ctx.result;
    if (status != DB_OK) {
        service_answer_db_failure(res, db, status, "intake");
    } else if (result->outcome == INTAKE_REJECTED) {
        json_t *extra =
            json_pack("{s:s,s:O}", "rejection_id", result->rejection_id, "errors", result->reasons);
        http_res_problem_extra_take(res, 422, "order_rejected", "the order was not accepted",
                                    "every reason is listed in errors; the submission is kept",
                                    extra);
    } else if (result->outcome == INTAKE_CONFLICT) {
        json_t *extra = json_pack("{s:s,s:I}", "order_id", result->order_id, "number",
                                  (json_int_t)result->number);
        http_res_problem_extra_take(
            res, 409, "idempotency_key_reused", "this key was used with another order",
            "the same (source, external_id) came before with a different body", extra);
    } else {
        json_t *body = json_pack("{s:s,s:s,s:I,s:s,s:s}", "status",
                                 result->outcome == INTAKE_REPEAT ? "repeat" : "accepted",
                                 "order_id", result->order_id, "number", (json_int_t)result->number,
                                 "title", result->title, "source", sub->source);
        if (body && result->manager_id[0])
            json_object_set_new(body, "manager_id", json_string(result->manager_id));
        char location[80];
        snprintf(location, sizeof location, "/v1/orders/%s", result->order_id);
        http_res_header(res, "Location", location);
        http_res_json_take(res, result->outcome == INTAKE_REPEAT ? 200 : 201, body);
    }
    intake_result_clear(result);
}

static void route_orders_create(const http_request_t *req, http_response_t *res, void *arg)
{
    order_app_t *app = arg;
    const char *key = http_req_header(req, "Idempotency-Key");
    if (!key || !key[0] || strlen(key) > 128) {
        http_res_problem(res, 400, "idempotency_key_required",
                         "an Idempotency-Key header is required",
                         "send your own order id (1 to 128 characters): a repeat with the same "
                         "key returns the first answer");
        return;
    }
    db_t *db = session(app, res);
    if (!db)
        return;
    caller_t caller;
    submission_t sub;
    submission_init(&sub);
    problems_t read_errors;
    /* who asks comes first: nobody's body is parsed before they are known */
    if (problems_init(&read_errors) != 0 || !intake_caller(app, req, res, db, &caller))
        goto done;
    json_t *body = http_req_json(req, res);
    if (!body)
        goto done;
    if (submission_from_json(body, &sub, &read_errors) != 0) {
        http_res_problem(res, 500, "out_of_memory", "could not read the order", NULL);
        goto done;
    }
    if (sub.external_id && strcmp(sub.external_id, key) != 0)
        problems_add(&read_errors, "external_id", "mismatch",
                     "external_id differs from the Idempotency-Key header");
    free(sub.external_id);
    sub.external_id = strdup(key);
    if (caller.staff && sub.source) {
        /* a call centre files for a named source where the person may */
        if (!staff_may_file(db, res, &caller, sub.source))
            goto done;
    } else {
        if (sub.source && strcmp(sub.source, caller.source) != 0)
            problems_add(&read_errors, "source", "mismatch",
                         "source differs from the source of the API key");
        free(sub.source);
        sub.source = strdup(caller.source);
    }
    if (caller.staff && !staff_trust(db, res, sub.source, &caller))
        goto done;
    intake_and_answer(app, res, db, &sub, DOOR_HTTP, &caller, problems_errors(&read_errors));
done:
    problems_release(&read_errors);
    submission_free(&sub);
    release(app, &db);
}

/* The site builders' webhook. The caller is known before a byte of the
 * body is parsed (its key is in a header), and the body was already held
 * to the route's own limit (INTAKE_FORM_MAX_BYTES) by the HTTP kit; what
 * parsing holds is proportional to the body (form.h). */
static void route_intake_form(const http_request_t *req, http_response_t *res, void *arg)
{
    order_app_t *app = arg;
    form_t form = {0};
    form_order_t order;
    memset(&order, 0, sizeof order);
    submission_t sub;
    submission_init(&sub);
    problems_t read_errors = {0};
    caller_t caller;
    db_t *db = session(app, res);
    if (!db || problems_init(&read_errors) != 0 || !intake_caller(app, req, res, db, &caller))
        goto done;
    size_t len = 0;
    const char *text = http_req_body(req, &len);
    if (form_parse(text ? text : "", len, &form) != 0) {
        http_res_problem(res, 400, "bad_form", "the body is not an url-encoded form",
                         "UTF-8 text, %XX escapes, at most 8192 fields");
        goto done;
    }
    if (form_order_read(&form, &app->form_map, &order) != 0) {
        http_res_problem(res, 400, "bad_form", "the form's cart cannot be read",
                         "payment is neither bracketed fields nor JSON");
        goto done;
    }
    if (order.is_test) {
        /* the site builder checks the webhook when it is connected */
        http_res_json_take(res, 200, json_pack("{s:s}", "status", "ok"));
        goto done;
    }
    if (caller.staff || !caller.default_channel[0])
        snprintf(caller.default_channel, sizeof caller.default_channel, "landing");
    if (submission_from_form(&order, &sub, &read_errors) != 0) {
        http_res_problem(res, 500, "out_of_memory", "could not read the order", NULL);
        goto done;
    }
    sub.source = strdup(caller.source);
    if (caller.staff && !staff_trust(db, res, sub.source, &caller))
        goto done;
    sub.external_id = order.tranid ? strdup(order.tranid) : NULL;
    if (!order.tranid)
        problems_add(&read_errors, "tranid", "required",
                     "the form's submission id (tranid) is required");
    intake_and_answer(app, res, db, &sub, DOOR_FORM, &caller, problems_errors(&read_errors));
done:
    problems_release(&read_errors);
    submission_free(&sub);
    form_order_free(&order);
    form_free(&form);
    if (db)
        release(app, &db);
}

/* ------------------------------------------------------------------ */
/* reading                                                              */

static void route_orders_list(const http_request_t *req, http_response_t *res, void *arg)
{
    order_app_t *app = arg;
    auth_claims_t claims;
    page_t page;
    order_filter_t filter = {
        .status = http_req_query(req, "status"),
        .group = http_req_query(req, "group"),
        .manager_id = http_req_query(req, "manager"),
        .delivery_method = http_req_query(req, "delivery_method"),
        .channel = http_req_query(req, "channel"),
        .source = http_req_query(req, "source"),
    };
    if (!auth_require(auth_of(app), req, res, ROLE_ANY_STAFF, &claims) ||
        page_from_request(req, res, 50, 500, &page) != 0 ||
        time_param(req, res, "from", &filter.from_ms) != 0 ||
        time_param(req, res, "to", &filter.to_ms) != 0)
        return;
    if (filter.manager_id && strcmp(filter.manager_id, "me") == 0)
        filter.manager_id = claims.subject;
    if (filter.manager_id && !uuid_valid(filter.manager_id)) {
        http_res_problem(res, 400, "bad_manager", "manager is a staff id or \"me\"", NULL);
        return;
    }
    if (page.has_cursor && !uuid_valid(page.after_id)) {
        http_res_problem(res, 400, "bad_cursor", "the cursor is not one this API gave out", NULL);
        return;
    }
    db_t *db = session(app, res);
    if (!db)
        return;
    json_t *value = NULL;
    db_status_t status = store_orders_json(db, &filter, &page, &value);
    answer_page(res, db, status, value, &page, "orders");
    release(app, &db);
}

/* The order card: the order and its claims (F30: id, name, type, reason,
 * status, created, decided, completed; oldest first, the first
 * ORDER_CARD_CLAIMS; GET /v1/orders/{id}/claims pages them all), read in
 * one session, so a manager sees the claims where they look. */
#define ORDER_CARD_CLAIMS 100
static db_status_t read_order_card(db_t *db, const char *order_id, json_t **out)
{
    db_status_t status = store_order_json(db, order_id, out);
    if (status != DB_OK || !*out)
        return status;
    json_t *claims = NULL;
    status = store_order_claims_json(db, order_id, ORDER_CARD_CLAIMS, &claims);
    if (status == DB_OK && json_object_set_new(*out, "claims", claims ? claims : json_array()) != 0)
        status =
            db_fail(db, DB_STATE_OUT_OF_MEMORY, "no room for the claims of order %s", order_id);
    if (status != DB_OK) {
        json_decref(*out);
        *out = NULL;
    }
    return status;
}

static void route_order_get(const http_request_t *req, http_response_t *res, void *arg)
{
    auth_claims_t claims;
    if (!auth_require(auth_of(arg), req, res, ROLE_ANY_STAFF, &claims))
        return;
    const char *id = http_req_param(req, "id");
    if (!uuid_valid(id))
        http_res_problem(res, 404, "not_found", "no such order", "an order id is a UUID");
    else
        serve_json(arg, res, read_order_card, id, NULL, "order");
}

/* The order as a PDF (F32): read, the session given back, then drawn.
 * Staff download it; the notification service (role system) attaches it
 * to the customer's confirmation email. */
static void route_order_document(const http_request_t *req, http_response_t *res, void *arg)
{
    order_app_t *app = arg;
    auth_claims_t claims;
    if (!auth_require(auth_of(app), req, res, ROLE_ANY_STAFF | ROLE_SYSTEM, &claims))
        return;
    const char *id = http_req_param(req, "id");
    if (!uuid_valid(id)) {
        http_res_problem(res, 404, "not_found", "no such order", "an order id is a UUID");
        return;
    }
    db_t *db = session(app, res);
    if (!db)
        return;
    json_t *order = NULL;
    db_status_t status = store_order_json(db, id, &order);
    if (status != DB_OK)
        service_answer_db_failure(res, db, status, "order");
    release(app, &db);
    unsigned char *pdf = NULL;
    size_t len = 0;
    char why[ORDER_DOCUMENT_WHY_SIZE] = "";
    if (status != DB_OK) {
        /* answered */
    } else if (!order) {
        http_res_problem(res, 404, "not_found", "no such order", NULL);
    } else if (order_document(&app->fonts, order, &pdf, &len, why) != 0) {
        log_error("an order's document could not be rendered", LF_ERR("pdf_failed"),
                  LF_STR("order_id", id), LF_STR("why", why));
        http_res_problem(res, 500, "pdf_failed", "the document could not be rendered", why);
    } else {
        char disposition[96];
        snprintf(disposition, sizeof disposition, "inline; filename=\"order-%lld.pdf\"",
                 (long long)json_integer_value(json_object_get(order, "number")));
        http_res_bytes_take(res, 200, "application/pdf", pdf, len);
        http_res_header(res, "Content-Disposition", disposition);
    }
    json_decref(order);
}

/* ------------------------------------------------------------------ */
/* the funnel                                                           */

typedef struct {
    order_app_t *app;
    const char *order_id, *to, *reason;
    uint64_t expected_version;
    actor_t actor;
    move_result_t result;
} move_ctx_t;

static db_status_t tx_move(tx_t *tx, void *arg)
{
    move_ctx_t *ctx = arg;
    emitter_t root = root_emitter(ctx->app, tx->db);
    db_status_t status = funnel_move(ctx->app, &root, ctx->order_id, ctx->to, &ctx->actor,
                                     ctx->reason, ctx->expected_version, &ctx->result);
    if (status == DB_OK && ctx->result.outcome != MOVE_OK)
        tx_abandon(tx); /* a refusal changes nothing */
    return status;
}

static void route_order_status(const http_request_t *req, http_response_t *res, void *arg)
{
    order_app_t *app = arg;
    auth_claims_t claims;
    if (!auth_require(auth_of(app), req, res, ROLE_ANY_STAFF, &claims))
        return;
    json_t *body = http_req_json(req, res);
    if (!body)
        return;
    move_ctx_t ctx = {.app = app,
                      .order_id = http_req_param(req, "id"),
                      .to = json_string_value(json_object_get(body, "to")),
                      .reason = json_string_value(json_object_get(body, "reason")),
                      .actor = {.id = claims.subject, .name = claims.name, .roles = claims.roles}};
    json_t *expected = json_object_get(body, "expected_version");
    if (!ctx.to || (expected && !json_is_integer(expected))) {
        http_res_problem(res, 422, "invalid", "to (a status) is required",
                         "expected_version, when given, is the order's version");
        return;
    }
    ctx.expected_version = expected ? (uint64_t)json_integer_value(expected) : 0;
    if (!uuid_valid(ctx.order_id)) {
        http_res_problem(res, 404, "not_found", "no such order", NULL);
        return;
    }
    db_t *db = session(app, res);
    if (!db)
        return;
    db_status_t status = service_tx(app->svc, db, tx_move, &ctx, NULL);
    move_result_t *result = &ctx.result;
    if (status != DB_OK) {
        service_answer_db_failure(res, db, status, "status move");
    } else if (result->outcome == MOVE_NOT_FOUND) {
        http_res_problem(res, 404, "not_found", "no such order", NULL);
    } else if (result->outcome == MOVE_NOT_ALLOWED) {
        char detail[160];
        snprintf(detail, sizeof detail, "your role may not move an order from %s to %s",
                 result->from, result->to);
        json_t *extra = json_pack("{s:s,s:O}", "from", result->from, "allowed",
                                  result->moves ? result->moves : json_array());
        http_res_problem_extra_take(res, 409, "move_not_allowed", "this move is not allowed",
                                    detail, extra);
    } else if (result->outcome == MOVE_NEEDS_REASON) {
        http_res_problem(res, 422, "reason_required", "this move needs a reason", result->detail);
    } else if (result->outcome == MOVE_STALE) {
        http_res_problem(res, 409, "version_conflict", "the order changed meanwhile",
                         result->detail);
    } else if (result->outcome == MOVE_NOT_READY) {
        http_res_problem(res, 409, "not_ready", "the order is not ready for this move",
                         result->detail);
    } else {
        http_res_json_take(res, 200,
                           json_pack("{s:s,s:s,s:s,s:I}", "order_id", ctx.order_id, "from",
                                     result->from, "status", result->to, "version",
                                     (json_int_t)result->version));
    }
    move_result_clear(result);
    release(app, &db);
}

/* ------------------------------------------------------------------ */
/* editing (editing.h)                                                  */

typedef struct {
    order_app_t *app;
    const char *order_id;
    const order_edit_t *edit;
    uint64_t expected_version;
    actor_t actor;
    edit_result_t result;
} edit_ctx_t;

static db_status_t tx_edit(tx_t *tx, void *arg)
{
    edit_ctx_t *ctx = arg;
    emitter_t root = root_emitter(ctx->app, tx->db);
    db_status_t status = editing_apply(ctx->app, &root, ctx->order_id, ctx->edit, &ctx->actor,
                                       ctx->expected_version, &ctx->result);
    if (status == DB_OK && ctx->result.outcome != EDIT_OK)
        tx_abandon(tx); /* a refusal or no change writes nothing */
    return status;
}

/* The version the caller saw: If-Match ("7", W/"7" or 7) or the body's
 * expected_version. false (answered) when neither is usable. */
static bool edit_version(const http_request_t *req, http_response_t *res, const json_t *body,
                         uint64_t *version_out)
{
    const char *header = http_req_header(req, "If-Match");
    const json_t *given = json_object_get(body, "expected_version");
    if (header) {
        char digits[32];
        const char *text = strncmp(header, "W/", 2) == 0 ? header + 2 : header;
        size_t len = strlen(text);
        if (len >= 2 && text[0] == '"' && text[len - 1] == '"') {
            text++;
            len -= 2;
        }
        if (len == 0 || len >= sizeof digits) {
            http_res_problem(res, 400, "bad_if_match", "If-Match is not an order version",
                             "If-Match carries the order's version, e.g. \"7\"");
            return false;
        }
        memcpy(digits, text, len);
        digits[len] = '\0';
        if (numparse_u64(digits, version_out) != 0 || *version_out == 0) {
            http_res_problem(res, 400, "bad_if_match", "If-Match is not an order version",
                             "If-Match carries the order's version, e.g. \"7\"");
            return false;
        }
        return true;
    }
    if (given) {
        if (!json_is_integer(given) || json_integer_value(given) <= 0) {
            http_res_problem(res, 422, "invalid", "expected_version is the order's version",
                             "a positive integer");
            return false;
        }
        *version_out = (uint64_t)json_integer_value(given);
        return true;
    }
    http_res_problem(res, 428, "version_required", "name the version you edit",
                     "send If-Match with the order's version (GET /v1/orders/{id} shows it)");
    return false;
}

static void route_order_edit(const http_request_t *req, http_response_t *res, void *arg)
{
    order_app_t *app = arg;
    auth_claims_t claims;
    if (!auth_require(auth_of(app), req, res, ROLE_MANAGER | ROLE_ADMIN, &claims))
        return;
    const char *order_id = http_req_param(req, "id");
    if (!uuid_valid(order_id)) {
        http_res_problem(res, 404, "not_found", "no such order", "an order id is a UUID");
        return;
    }
    json_t *body = http_req_json(req, res);
    if (!body)
        return;
    submission_t sub;
    submission_init(&sub);
    order_edit_t edit = {0};
    uint64_t expected = 0;
    db_t *db = NULL;
    json_t *errors = NULL;
    if (!edit_version(req, res, body, &expected))
        goto done;
    if (editing_read(body, &sub, &edit, &errors) != 0) {
        http_res_problem(res, 500, "out_of_memory", "could not read the edit", NULL);
        goto done;
    }
    if (json_array_size(errors) > 0) {
        http_res_problem_errors_take(res, 422, "invalid", "the edit is not valid", errors);
        errors = NULL;
        goto done;
    }
    db = session(app, res);
    if (!db)
        goto done;
    edit_ctx_t ctx = {.app = app,
                      .order_id = order_id,
                      .edit = &edit,
                      .expected_version = expected,
                      .actor = {.id = claims.subject, .name = claims.name, .roles = claims.roles}};
    db_status_t status = service_tx(app->svc, db, tx_edit, &ctx, NULL);
    const edit_result_t *result = &ctx.result;
    if (status != DB_OK) {
        service_answer_db_failure(res, db, status, "order edit");
    } else if (result->outcome == EDIT_NOT_FOUND) {
        http_res_problem(res, 404, "not_found", "no such order", NULL);
    } else if (result->outcome == EDIT_STALE) {
        http_res_problem_extra_take(res, 409, "version_conflict", "the order changed meanwhile",
                                    result->detail,
                                    json_pack("{s:I}", "version", (json_int_t)result->version));
    } else if (result->outcome == EDIT_NOT_EDITABLE) {
        http_res_problem_extra_take(res, 409, "not_editable", "the order can no longer be changed",
                                    result->detail,
                                    json_pack("{s:s}", "order_status", result->status));
    } else if (result->outcome == EDIT_TERMS_CHANGE) {
        http_res_problem(res, 409, "terms_would_change", "the change would change how it is paid",
                         result->detail);
    } else if (result->outcome == EDIT_DISCOUNT_NOT_ALLOWED) {
        json_t *extra = json_pack("{s:s,s:I,s:I,s:[{s:s,s:s,s:s}]}", "source", result->source,
                                  "max_discount_bp", (json_int_t)result->max_discount_bp,
                                  "discount_bp", (json_int_t)result->discount_bp, "errors", "field",
                                  "discount_bp", "code", "not_allowed", "message", result->detail);
        http_res_problem_extra_take(res, 422, "discount_not_allowed",
                                    "the discount is above what the order's source may give",
                                    result->detail, extra);
    } else if (result->outcome == EDIT_INVALID) {
        http_res_problem(res, 422, "invalid", "the edit is not valid", result->detail);
    } else {
        json_t *changed = json_array();
        for (size_t i = 0; changed && i < result->changed_count; i++)
            json_array_append_new(changed, json_string(result->changed[i]));
        http_res_json_take(res, 200,
                           json_pack("{s:s,s:I,s:s,s:s,s:o*,s:{s:I,s:I,s:I,s:I,s:I}}", "order_id",
                                     order_id, "version", (json_int_t)result->version, "status",
                                     result->status, "stock_state", result->stock_state, "changed",
                                     changed, "totals", "lines_minor",
                                     (json_int_t)result->lines_minor, "discount_minor",
                                     (json_int_t)result->discount_minor, "delivery_minor",
                                     (json_int_t)result->delivery_minor, "vat_minor",
                                     (json_int_t)result->vat_minor, "total_minor",
                                     (json_int_t)result->total_minor));
        char etag[32];
        snprintf(etag, sizeof etag, "\"%llu\"", (unsigned long long)result->version);
        http_res_header(res, "ETag", etag);
    }
done:
    if (db)
        release(app, &db);
    json_decref(errors);
    submission_free(&sub);
}

typedef struct {
    const char *order_id;
    actor_t actor;
    bool found;
} take_ctx_t;

static db_status_t tx_take(tx_t *tx, void *arg)
{
    take_ctx_t *ctx = arg;
    return assignment_take_up(tx->db, ctx->order_id, &ctx->actor, &ctx->found);
}

static void route_order_take(const http_request_t *req, http_response_t *res, void *arg)
{
    order_app_t *app = arg;
    auth_claims_t claims;
    if (!auth_require(auth_of(app), req, res, ROLE_MANAGER | ROLE_ADMIN, &claims))
        return;
    take_ctx_t ctx = {.order_id = http_req_param(req, "id"),
                      .actor = {.id = claims.subject, .name = claims.name, .roles = claims.roles}};
    if (!uuid_valid(ctx.order_id)) {
        http_res_problem(res, 404, "not_found", "no such order", NULL);
        return;
    }
    db_t *db = session(app, res);
    if (!db)
        return;
    db_status_t status = service_tx(app->svc, db, tx_take, &ctx, NULL);
    if (status != DB_OK)
        service_answer_db_failure(res, db, status, "take up");
    else if (!ctx.found)
        http_res_problem(res, 404, "not_found", "no such order", NULL);
    else
        http_res_json_take(res, 200,
                           json_pack("{s:s,s:b}", "order_id", ctx.order_id, "taken_up", 1));
    release(app, &db);
}

static db_status_t read_statuses(db_t *db, const char *key, json_t **out)
{
    (void)key;
    return store_statuses_json(db, out);
}

static void route_statuses(const http_request_t *req, http_response_t *res, void *arg)
{
    auth_claims_t claims;
    if (auth_require(auth_of(arg), req, res, ROLE_ANY_STAFF, &claims))
        serve_json(arg, res, read_statuses, NULL, NULL, "statuses");
}

static db_status_t read_transitions(db_t *db, const char *key, json_t **out)
{
    (void)key;
    return store_transitions_json(db, out);
}

static void route_transitions(const http_request_t *req, http_response_t *res, void *arg)
{
    auth_claims_t claims;
    if (auth_require(auth_of(arg), req, res, ROLE_ANY_STAFF, &claims))
        serve_json(arg, res, read_transitions, NULL, "transitions", "transitions");
}

static void route_rejections(const http_request_t *req, http_response_t *res, void *arg)
{
    order_app_t *app = arg;
    auth_claims_t claims;
    page_t page;
    if (!auth_require(auth_of(app), req, res, ROLE_ADMIN | ROLE_MANAGER, &claims) ||
        page_from_request(req, res, 50, 500, &page) != 0)
        return;
    if (page.has_cursor && !uuid_valid(page.after_id)) {
        http_res_problem(res, 400, "bad_cursor", "the cursor is not one this API gave out", NULL);
        return;
    }
    db_t *db = session(app, res);
    if (!db)
        return;
    json_t *value = NULL;
    db_status_t status = store_rejections_json(db, http_req_query(req, "source"), &page, &value);
    answer_page(res, db, status, value, &page, "rejections");
    release(app, &db);
}

/* ------------------------------------------------------------------ */
/* staff, shifts and sources                                            */

static bool string_array(const json_t *value)
{
    size_t i;
    json_t *item;
    if (!json_is_array(value))
        return false;
    json_array_foreach(value, i, item) if (!json_is_string(item)) return false;
    return true;
}

static void route_staff_create(const http_request_t *req, http_response_t *res, void *arg)
{
    order_app_t *app = arg;
    auth_claims_t claims;
    if (!auth_require(auth_of(app), req, res, ROLE_ADMIN, &claims))
        return;
    json_t *body = http_req_json(req, res);
    if (!body)
        return;
    problems_t problems;
    if (problems_init(&problems) != 0)
        return;
    const char *login = json_string_value(json_object_get(body, "login"));
    const char *name = json_string_value(json_object_get(body, "name"));
    const char *role = json_string_value(json_object_get(body, "role"));
    const char *password = json_string_value(json_object_get(body, "password"));
    json_t *regions = json_object_get(body, "regions");
    json_t *capacity = json_object_get(body, "capacity");
    json_t *intake_sources = json_object_get(body, "intake_sources");
    if (!login)
        problems_add(&problems, "login", "required", "login is required");
    if (!name)
        problems_add(&problems, "name", "required", "name is required");
    if (!role || !(auth_role_parse(role) & ROLE_ANY_STAFF))
        problems_add(&problems, "role", "invalid", "role is admin, manager, warehouse or courier");
    if (password && strlen(password) < 8)
        problems_add(&problems, "password", "too_short", "a password has at least 8 characters");
    if (regions && !string_array(regions))
        problems_add(&problems, "regions", "invalid", "regions is an array of region names");
    if (intake_sources && !string_array(intake_sources))
        problems_add(&problems, "intake_sources", "invalid",
                     "intake_sources is an array of source names the person may file under");
    if (capacity && (!json_is_integer(capacity) || json_integer_value(capacity) < 0 ||
                     json_integer_value(capacity) > 100000))
        problems_add(&problems, "capacity", "invalid", "capacity is 0 to 100000 open orders");
    if (problems_count(&problems) > 0) {
        http_res_problem_errors_take(res, 422, "invalid", "the staff member is not valid",
                                     problems_take(&problems));
        problems_release(&problems);
        return;
    }
    problems_release(&problems);
    char id[UUID_TEXT_SIZE], hash[AUTH_HASH_SIZE];
    if (uuid_v4(id) != 0 || (password && auth_password_hash(password, hash) != 0)) {
        http_res_problem(res, 500, "out_of_memory", "could not create the staff member", NULL);
        return;
    }
    char *regions_text = regions ? json_dumps(regions, JSON_COMPACT) : NULL;
    char *sources_text = intake_sources ? json_dumps(intake_sources, JSON_COMPACT) : NULL;
    staff_insert_t staff = {
        .id = id,
        .login = login,
        .name = name,
        .email = json_string_value(json_object_get(body, "email")),
        .phone = json_string_value(json_object_get(body, "phone")),
        .role = role,
        .regions_json = regions_text,
        .capacity = capacity ? json_integer_value(capacity) : 50,
        .password_hash = password ? hash : NULL,
        .intake_sources_json = sources_text,
    };
    db_t *db = session(app, res);
    if (!db) {
        free(regions_text);
        free(sources_text);
        return;
    }
    bool conflict = false;
    db_status_t status = store_staff_insert(db, &staff, &conflict);
    free(regions_text);
    free(sources_text);
    if (status == DB_ERROR && strcmp(db_sqlstate(db), "23514") == 0)
        http_res_problem(res, 422, "invalid", "the staff member breaks a rule",
                         "login is 2-64 of a-z 0-9 . _ @ -; name 1-200 characters");
    else if (status != DB_OK)
        service_answer_db_failure(res, db, status, "staff create");
    else if (conflict)
        http_res_problem(res, 409, "login_taken", "this login is taken", NULL);
    else {
        json_t *value = NULL;
        status = store_staff_json(db, id, &value);
        if (status == DB_OK && value)
            http_res_json_take(res, 201, value);
        else
            answer_json(res, db, status, value, "staff");
    }
    release(app, &db);
}

static db_status_t read_staff_list(db_t *db, const char *key, json_t **out)
{
    (void)key;
    return store_staff_list_json(db, out);
}

static void route_staff_list(const http_request_t *req, http_response_t *res, void *arg)
{
    auth_claims_t claims;
    if (auth_require(auth_of(arg), req, res, ROLE_ANY_STAFF, &claims))
        serve_json(arg, res, read_staff_list, NULL, "items", "staff");
}

static void route_staff_get(const http_request_t *req, http_response_t *res, void *arg)
{
    auth_claims_t claims;
    if (!auth_require(auth_of(arg), req, res, ROLE_ANY_STAFF, &claims))
        return;
    const char *id = http_req_param(req, "id");
    if (strcmp(id, "me") == 0)
        id = claims.subject;
    if (!uuid_valid(id))
        http_res_problem(res, 404, "not_found", "no such staff member", NULL);
    else
        serve_json(arg, res, store_staff_json, id, NULL, "staff member");
}

static void route_staff_patch(const http_request_t *req, http_response_t *res, void *arg)
{
    order_app_t *app = arg;
    auth_claims_t claims;
    if (!auth_require(auth_of(app), req, res, ROLE_ADMIN, &claims))
        return;
    json_t *body = http_req_json(req, res);
    if (!body)
        return;
    const char *id = http_req_param(req, "id");
    json_t *regions = json_object_get(body, "regions");
    json_t *capacity = json_object_get(body, "capacity");
    json_t *active = json_object_get(body, "active");
    json_t *intake_sources = json_object_get(body, "intake_sources");
    if (!uuid_valid(id)) {
        http_res_problem(res, 404, "not_found", "no such staff member", NULL);
        return;
    }
    if ((regions && !string_array(regions)) || (capacity && !json_is_integer(capacity)) ||
        (active && !json_is_boolean(active)) || (intake_sources && !string_array(intake_sources))) {
        http_res_problem(res, 422, "invalid", "a field has the wrong type",
                         "regions, intake_sources: arrays of strings; capacity: integer; "
                         "active: boolean");
        return;
    }
    char *patch = json_dumps(body, JSON_COMPACT);
    db_t *db = session(app, res);
    if (!db || !patch) {
        free(patch);
        if (db)
            release(app, &db);
        return;
    }
    bool found = false;
    db_status_t status = store_staff_patch(db, id, patch, &found);
    free(patch);
    if (status == DB_ERROR && strcmp(db_sqlstate(db), "23514") == 0)
        http_res_problem(res, 409, "capacity_below_load",
                         "capacity cannot go below the open orders the person holds", NULL);
    else if (status != DB_OK)
        service_answer_db_failure(res, db, status, "staff patch");
    else if (!found)
        http_res_problem(res, 404, "not_found", "no such staff member", NULL);
    else {
        json_t *value = NULL;
        status = store_staff_json(db, id, &value);
        answer_json(res, db, status, value, "staff member");
    }
    release(app, &db);
}

typedef struct {
    const char *id;
    bool on_shift;
    bool found;
} shift_ctx_t;

static db_status_t tx_shift(tx_t *tx, void *arg)
{
    shift_ctx_t *ctx = arg;
    return assignment_shift(tx->db, ctx->id, ctx->on_shift, &ctx->found);
}

static void route_staff_shift(const http_request_t *req, http_response_t *res, void *arg)
{
    order_app_t *app = arg;
    auth_claims_t claims;
    if (!auth_require(auth_of(app), req, res, ROLE_ANY_STAFF, &claims))
        return;
    json_t *body = http_req_json(req, res);
    if (!body)
        return;
    shift_ctx_t ctx = {.id = http_req_param(req, "id")};
    if (strcmp(ctx.id, "me") == 0)
        ctx.id = claims.subject;
    json_t *on = json_object_get(body, "on_shift");
    if (!json_is_boolean(on)) {
        http_res_problem(res, 422, "invalid", "on_shift (true or false) is required", NULL);
        return;
    }
    if (!(claims.roles & ROLE_ADMIN) && strcmp(ctx.id, claims.subject) != 0) {
        http_res_problem(res, 403, "forbidden", "only an admin changes someone else's shift", NULL);
        return;
    }
    if (!uuid_valid(ctx.id)) {
        http_res_problem(res, 404, "not_found", "no such staff member", NULL);
        return;
    }
    ctx.on_shift = json_is_true(on);
    db_t *db = session(app, res);
    if (!db)
        return;
    db_status_t status = service_tx(app->svc, db, tx_shift, &ctx, NULL);
    if (status != DB_OK)
        service_answer_db_failure(res, db, status, "shift");
    else if (!ctx.found)
        http_res_problem(res, 404, "not_found", "no such staff member", NULL);
    else {
        json_t *value = NULL;
        status = store_staff_json(db, ctx.id, &value);
        answer_json(res, db, status, value, "staff member");
    }
    release(app, &db);
}

static void route_sources_create(const http_request_t *req, http_response_t *res, void *arg)
{
    order_app_t *app = arg;
    auth_claims_t claims;
    if (!auth_require(auth_of(app), req, res, ROLE_ADMIN, &claims))
        return;
    json_t *body = http_req_json(req, res);
    if (!body)
        return;
    const char *source = json_string_value(json_object_get(body, "source"));
    const char *channel = json_string_value(json_object_get(body, "default_channel"));
    const char *given_key = json_string_value(json_object_get(body, "api_key"));
    json_t *max_discount = json_object_get(body, "max_discount_bp");
    intake_trust_t trust = {
        .may_set_prices = json_is_true(json_object_get(body, "may_set_prices")),
        .max_discount_bp = max_discount ? json_integer_value(max_discount) : 0,
    };
    if (!source || (given_key && strlen(given_key) < 24)) {
        http_res_problem(res, 422, "invalid", "source is required",
                         "api_key, when you bring your own, has at least 24 characters");
        return;
    }
    if (max_discount && (!json_is_integer(max_discount) || trust.max_discount_bp < 0 ||
                         trust.max_discount_bp > 10000)) {
        http_res_problem(res, 422, "invalid", "max_discount_bp is 0 to 10000",
                         "the largest order discount the source may give, in hundredths of a "
                         "percent (1000 = 10 %)");
        return;
    }
    char key[65], hash[DIGEST_HEX_SIZE];
    if (given_key)
        snprintf(key, sizeof key, "%s", given_key);
    else if (digest_random_hex(24, key) != 0) {
        http_res_problem(res, 500, "no_random", "could not make a key", NULL);
        return;
    }
    if (digest_sha256_hex(key, strlen(key), hash) != 0)
        return;
    db_t *db = session(app, res);
    if (!db)
        return;
    db_status_t status =
        store_source_upsert(db, source, hash, channel ? channel : "website", &trust);
    if (status == DB_ERROR && strcmp(db_sqlstate(db), "23514") == 0)
        http_res_problem(res, 422, "invalid", "the source breaks a rule",
                         "source is a-z 0-9 _ . - (1-64); default_channel is website, landing, "
                         "phone or marketplace");
    else if (status == DB_ERROR && strcmp(db_sqlstate(db), "23505") == 0)
        http_res_problem(res, 409, "key_taken", "this API key belongs to another source", NULL);
    else if (status != DB_OK)
        service_answer_db_failure(res, db, status, "source");
    else
        http_res_json_take(res, 201,
                           json_pack("{s:s,s:s,s:s,s:b,s:I}", "source", source, "api_key", key,
                                     "default_channel", channel ? channel : "website",
                                     "may_set_prices", trust.may_set_prices, "max_discount_bp",
                                     (json_int_t)trust.max_discount_bp));
    release(app, &db);
}

/* ------------------------------------------------------------------ */
/* tasks                                                                */

static void route_tasks(const http_request_t *req, http_response_t *res, void *arg)
{
    order_app_t *app = arg;
    auth_claims_t claims;
    page_t page;
    if (!auth_require(auth_of(app), req, res, ROLE_ANY_STAFF, &claims) ||
        page_from_request(req, res, 50, 500, &page) != 0)
        return;
    const char *assignee = http_req_query(req, "assignee");
    if (assignee && strcmp(assignee, "me") == 0)
        assignee = claims.subject;
    const char *status_filter = http_req_query(req, "status");
    if ((assignee && !uuid_valid(assignee)) ||
        (status_filter && strcmp(status_filter, "open") != 0 &&
         strcmp(status_filter, "done") != 0)) {
        http_res_problem(res, 400, "bad_filter",
                         "assignee is a staff id or me; status open or done", NULL);
        return;
    }
    if (page.has_cursor &&
        (!uuid_valid(page.after_id) || numparse_i64(page.after_key, &(int64_t){0}) != 0)) {
        http_res_problem(res, 400, "bad_cursor", "the cursor is not one this API gave out", NULL);
        return;
    }
    db_t *db = session(app, res);
    if (!db)
        return;
    json_t *value = NULL;
    db_status_t status = store_tasks_json(db, assignee, status_filter, &page, &value);
    answer_page(res, db, status, value, &page, "tasks");
    release(app, &db);
}

static void route_task_done(const http_request_t *req, http_response_t *res, void *arg)
{
    order_app_t *app = arg;
    auth_claims_t claims;
    if (!auth_require(auth_of(app), req, res, ROLE_ANY_STAFF, &claims))
        return;
    const char *id = http_req_param(req, "id");
    if (!uuid_valid(id)) {
        http_res_problem(res, 404, "not_found", "no such task", NULL);
        return;
    }
    db_t *db = session(app, res);
    if (!db)
        return;
    bool done = false;
    db_status_t status =
        store_task_done(db, id, claims.subject, claims.roles & ROLE_ADMIN, clock_now_ms(), &done);
    if (status != DB_OK)
        service_answer_db_failure(res, db, status, "task done");
    else if (!done)
        http_res_problem(res, 404, "not_found", "no open task of yours with this id", NULL);
    else
        http_res_json_take(res, 200, json_pack("{s:s,s:s}", "id", id, "status", "done"));
    release(app, &db);
}

/* ------------------------------------------------------------------ */
/* reports                                                              */

static bool report_period(const http_request_t *req, http_response_t *res, int64_t *from,
                          int64_t *to)
{
    if (time_param(req, res, "from", from) != 0 || time_param(req, res, "to", to) != 0)
        return false;
    if (!*to)
        *to = clock_now_ms() + 1;
    if (!*from)
        *from = *to - 30LL * 24 * 3600 * 1000;
    if (*from >= *to) {
        http_res_problem(res, 400, "bad_period", "from must be before to", NULL);
        return false;
    }
    return true;
}

static void route_report_sales(const http_request_t *req, http_response_t *res, void *arg)
{
    order_app_t *app = arg;
    auth_claims_t claims;
    int64_t from = 0, to = 0;
    if (!auth_require(auth_of(app), req, res, ROLE_ADMIN | ROLE_MANAGER, &claims) ||
        !report_period(req, res, &from, &to))
        return;
    const char *by = http_req_query(req, "by");
    if (!by)
        by = "region";
    if (strcmp(by, "region") != 0 && strcmp(by, "manager") != 0 && strcmp(by, "channel") != 0 &&
        strcmp(by, "source") != 0) {
        http_res_problem(res, 400, "bad_by", "by is region, manager, channel or source", NULL);
        return;
    }
    db_t *db = session(app, res);
    if (!db)
        return;
    json_t *value = NULL;
    db_status_t status = store_report_sales_json(db, by, from, to, &value);
    if (status == DB_OK && value)
        value = json_pack("{s:s,s:I,s:I,s:o}", "by", by, "from_ms", (json_int_t)from, "to_ms",
                          (json_int_t)to, "rows", value);
    answer_json(res, db, status, value, "report");
    release(app, &db);
}

static void route_report_people(const http_request_t *req, http_response_t *res, void *arg)
{
    order_app_t *app = arg;
    auth_claims_t claims;
    int64_t from = 0, to = 0;
    if (!auth_require(auth_of(app), req, res, ROLE_ADMIN | ROLE_MANAGER, &claims) ||
        !report_period(req, res, &from, &to))
        return;
    db_t *db = session(app, res);
    if (!db)
        return;
    json_t *value = NULL;
    db_status_t status = store_report_people_json(db, from, to, &value);
    if (status == DB_OK && value)
        value = json_pack("{s:I,s:I,s:o}", "from_ms", (json_int_t)from, "to_ms", (json_int_t)to,
                          "rows", value);
    answer_json(res, db, status, value, "report");
    release(app, &db);
}

/* ------------------------------------------------------------------ */
/* claims (F30; claiming.h)                                             */

/* Attachments within app->claim_limits (CLAIM_ATTACHMENT_MAX_BYTES ...):
 * a claim filed with base64 attachments in its JSON has its body refused
 * unread past what base64 of the total can take; a raw upload past one
 * attachment's bytes. */
static size_t claim_body_limit(const order_app_t *app)
{
    size_t total = app->claim_limits.max_total;
    return total > (SIZE_MAX - 64 * 1024) / 4 * 3 ? SIZE_MAX / 2 : total / 3 * 4 + 64 * 1024;
}

static actor_t actor_of(const auth_claims_t *claims)
{
    return (actor_t){.id = claims->subject, .name = claims->name, .roles = claims->roles};
}

typedef struct {
    order_app_t *app;
    claim_request_t request;
    const char *claim_id, *to, *comment;
    actor_t actor;
    claiming_result_t result;
} claim_ctx_t;

static db_status_t tx_claim_create(tx_t *tx, void *arg)
{
    claim_ctx_t *ctx = arg;
    emitter_t root = root_emitter(ctx->app, tx->db);
    db_status_t status = claiming_create(ctx->app, &root, &ctx->request, &ctx->actor, &ctx->result);
    if (status == DB_OK && ctx->result.outcome != CLAIMING_OK)
        tx_abandon(tx);
    return status;
}

static db_status_t tx_claim_move(tx_t *tx, void *arg)
{
    claim_ctx_t *ctx = arg;
    emitter_t root = root_emitter(ctx->app, tx->db);
    db_status_t status = claiming_move(ctx->app, &root, ctx->claim_id, ctx->to, ctx->comment,
                                       &ctx->actor, &ctx->result);
    if (status == DB_OK && ctx->result.outcome != CLAIMING_OK)
        tx_abandon(tx);
    return status;
}

/* The answer of a claim route that ran its transaction; 201 or 200 with
 * the claim as it is now. */
static void answer_claim(order_app_t *app, http_response_t *res, db_t *db, db_status_t status,
                         claim_ctx_t *ctx, int ok_status)
{
    claiming_result_t *result = &ctx->result;
    if (status != DB_OK) {
        service_answer_db_failure(res, db, status, "claim");
        return;
    }
    char detail[160];
    switch (result->outcome) {
    case CLAIMING_NOT_FOUND:
        http_res_problem(res, 404, "not_found", ctx->claim_id ? "no such claim" : "no such order",
                         NULL);
        return;
    case CLAIMING_NOT_DELIVERED:
        http_res_problem(res, 409, "not_delivered", "the order was never delivered",
                         "a claim is filed for a delivered, completed or returned order");
        return;
    case CLAIMING_INVALID:
        http_res_problem_errors_take(res, 422, "invalid", "the claim is not valid",
                                     json_incref(result->problems));
        return;
    case CLAIMING_NOT_ALLOWED:
        snprintf(detail, sizeof detail, "a claim cannot move from %s to %s", result->from, ctx->to);
        http_res_problem(res, 409, "move_not_allowed", "this move is not allowed", detail);
        return;
    case CLAIMING_FORBIDDEN:
        snprintf(detail, sizeof detail, "your role may not move a claim from %s to %s",
                 result->from, ctx->to);
        http_res_problem(res, 403, "role_not_allowed", "your role may not make this move", detail);
        return;
    case CLAIMING_REPLACEMENT_REFUSED:
        http_res_problem_errors_take(res, 409, "replacement_refused",
                                     "the exchange's replacement order was refused",
                                     json_incref(result->problems));
        return;
    case CLAIMING_CLOSED:
        snprintf(detail, sizeof detail, "the claim is %s: nothing more is added to it",
                 result->status);
        http_res_problem(res, 409, "claim_closed", "the claim is closed", detail);
        return;
    case CLAIMING_TOO_LARGE:
        http_res_problem(res, 413, "attachments_too_large", "the attachments are too large",
                         result->detail);
        return;
    case CLAIMING_OK:
        break;
    }
    (void)app;
    json_t *value = NULL;
    status = store_claim_json(db, result->claim_id, &value);
    if (status == DB_OK && value) {
        http_res_json_take(res, ok_status, value);
        return;
    }
    answer_json(res, db, status, value, "claim");
}

static void route_claim_create(const http_request_t *req, http_response_t *res, void *arg)
{
    order_app_t *app = arg;
    auth_claims_t claims;
    if (!auth_require(auth_of(app), req, res, ROLE_ANY_STAFF, &claims))
        return;
    const char *order_id = http_req_param(req, "id");
    if (!uuid_valid(order_id)) {
        http_res_problem(res, 404, "not_found", "no such order", "an order id is a UUID");
        return;
    }
    json_t *body = http_req_json(req, res);
    if (!body)
        return;
    problems_t problems;
    if (problems_init(&problems) != 0) {
        http_res_problem(res, 503, "out_of_memory", "no room for the request", NULL);
        return;
    }
    claim_attachment_t *files = NULL;
    size_t file_count = 0;
    char why[160];
    claims_attach_t read =
        claims_read_attachments(json_object_get(body, "attachments"), &app->claim_limits, &files,
                                &file_count, &problems, why, sizeof why);
    const json_t *comment = json_object_get(body, "comment");
    if (comment && !json_is_string(comment) && !json_is_null(comment))
        problems_add(&problems, "comment", "invalid", "the customer's words, as text");
    if (read == CLAIMS_ATTACH_TOO_LARGE) {
        http_res_problem(res, 413, "attachment_too_large", "an attachment is too large", why);
    } else if (read == CLAIMS_ATTACH_TOTAL_TOO_LARGE) {
        http_res_problem(res, 413, "attachments_too_large", "the attachments are too large", why);
    } else if (read == CLAIMS_ATTACH_NO_MEMORY) {
        http_res_problem(res, 503, "out_of_memory", "no room for the attachments", NULL);
    } else if (problems_count(&problems) > 0) {
        http_res_problem_errors_take(res, 422, "invalid", "the claim is not valid",
                                     problems_take(&problems));
    } else {
        claim_ctx_t ctx = {.app = app,
                           .request = {.order_id = order_id,
                                       .type = json_string_value(json_object_get(body, "type")),
                                       .reason = json_string_value(json_object_get(body, "reason")),
                                       .comment = json_string_value(comment),
                                       .lines = json_object_get(body, "lines"),
                                       .attachments = files,
                                       .attachment_count = file_count},
                           .actor = actor_of(&claims)};
        db_t *db = session(app, res);
        if (db) {
            db_status_t status = service_tx(app->svc, db, tx_claim_create, &ctx, NULL);
            answer_claim(app, res, db, status, &ctx, 201);
            release(app, &db);
        }
        claiming_result_clear(&ctx.result);
    }
    claims_attachments_free(&files, file_count);
    problems_release(&problems);
}

/* POST /v1/claims/{id}/decision, /status, /complete: one move each. */
static void claim_move_route(const http_request_t *req, http_response_t *res, order_app_t *app,
                             const char *to_field, const char *fixed_to)
{
    auth_claims_t claims;
    if (!auth_require(auth_of(app), req, res, ROLE_ANY_STAFF, &claims))
        return;
    const char *claim_id = http_req_param(req, "id");
    if (!uuid_valid(claim_id)) {
        http_res_problem(res, 404, "not_found", "no such claim", "a claim id is a UUID");
        return;
    }
    json_t *body = http_req_json(req, res);
    if (!body)
        return;
    claim_ctx_t ctx = {.app = app,
                       .claim_id = claim_id,
                       .to =
                           fixed_to ? fixed_to : json_string_value(json_object_get(body, to_field)),
                       .comment = json_string_value(json_object_get(body, "comment")),
                       .actor = actor_of(&claims)};
    if (!ctx.to || !claims_status_valid(ctx.to) ||
        (strcmp(to_field, "decision") == 0 && !claims_is_decision(ctx.to))) {
        char detail[128];
        snprintf(detail, sizeof detail, "%s is %s", to_field,
                 strcmp(to_field, "decision") == 0
                     ? "approved, rejected or needs_clarification"
                     : "a claim status (in_repair, under_review, completed ...)");
        http_res_problem(res, 422, "invalid", "the move is not valid", detail);
        return;
    }
    db_t *db = session(app, res);
    if (!db)
        return;
    db_status_t status = service_tx(app->svc, db, tx_claim_move, &ctx, NULL);
    answer_claim(app, res, db, status, &ctx, 200);
    claiming_result_clear(&ctx.result);
    release(app, &db);
}

static void route_claim_decision(const http_request_t *req, http_response_t *res, void *arg)
{
    claim_move_route(req, res, arg, "decision", NULL);
}

static void route_claim_status(const http_request_t *req, http_response_t *res, void *arg)
{
    claim_move_route(req, res, arg, "to", NULL);
}

static void route_claim_complete(const http_request_t *req, http_response_t *res, void *arg)
{
    claim_move_route(req, res, arg, "to", "completed");
}

static void claims_list(const http_request_t *req, http_response_t *res, order_app_t *app,
                        const char *order_id)
{
    auth_claims_t claims;
    page_t page;
    if (!auth_require(auth_of(app), req, res, ROLE_ANY_STAFF, &claims) ||
        page_from_request(req, res, 50, 500, &page) != 0)
        return;
    claim_filter_t filter = {.order_id = order_id,
                             .status = http_req_query(req, "status"),
                             .type = http_req_query(req, "type")};
    if ((filter.status && !claims_status_valid(filter.status)) ||
        (filter.type && !claims_type_valid(filter.type))) {
        http_res_problem(res, 400, "bad_filter",
                         "status is a claim status; type exchange, "
                         "refund or repair",
                         NULL);
        return;
    }
    if (page.has_cursor &&
        (!uuid_valid(page.after_id) || numparse_i64(page.after_key, &(int64_t){0}) != 0)) {
        http_res_problem(res, 400, "bad_cursor", "the cursor is not one this API gave out", NULL);
        return;
    }
    db_t *db = session(app, res);
    if (!db)
        return;
    json_t *value = NULL;
    db_status_t status = store_claims_json(db, &filter, &page, &value);
    answer_page(res, db, status, value, &page, "claims");
    release(app, &db);
}

static void route_order_claims(const http_request_t *req, http_response_t *res, void *arg)
{
    const char *order_id = http_req_param(req, "id");
    if (!uuid_valid(order_id)) {
        http_res_problem(res, 404, "not_found", "no such order", "an order id is a UUID");
        return;
    }
    claims_list(req, res, arg, order_id);
}

static void route_claims(const http_request_t *req, http_response_t *res, void *arg)
{
    claims_list(req, res, arg, NULL);
}

static void route_claim_get(const http_request_t *req, http_response_t *res, void *arg)
{
    auth_claims_t claims;
    if (!auth_require(auth_of(arg), req, res, ROLE_ANY_STAFF, &claims))
        return;
    const char *id = http_req_param(req, "id");
    if (!uuid_valid(id))
        http_res_problem(res, 404, "not_found", "no such claim", "a claim id is a UUID");
    else
        serve_json(arg, res, store_claim_json, id, NULL, "claim");
}

static void route_claim_attachment(const http_request_t *req, http_response_t *res, void *arg)
{
    order_app_t *app = arg;
    auth_claims_t claims;
    if (!auth_require(auth_of(app), req, res, ROLE_ANY_STAFF, &claims))
        return;
    const char *claim_id = http_req_param(req, "id");
    const char *attachment_id = http_req_param(req, "attachment_id");
    if (!uuid_valid(claim_id) || !uuid_valid(attachment_id)) {
        http_res_problem(res, 404, "not_found", "no such attachment", NULL);
        return;
    }
    db_t *db = session(app, res);
    if (!db)
        return;
    bool found = false;
    char filename[CLAIMS_FILENAME_MAX + 1], type[CLAIMS_CONTENT_TYPE_MAX + 1];
    unsigned char *data = NULL;
    size_t len = 0;
    db_status_t status = store_claim_attachment(db, claim_id, attachment_id, &found, filename,
                                                sizeof filename, type, sizeof type, &data, &len);
    if (status != DB_OK) {
        service_answer_db_failure(res, db, status, "attachment");
    } else if (!found) {
        http_res_problem(res, 404, "not_found", "no such attachment", NULL);
    } else {
        char disposition[CLAIMS_FILENAME_MAX + 40];
        snprintf(disposition, sizeof disposition, "attachment; filename=\"%s\"", filename);
        http_res_bytes_take(res, 200, type, data, len);
        data = NULL;
        http_res_header(res, "Content-Disposition", disposition);
        http_res_header(res, "X-Content-Type-Options", "nosniff");
    }
    free(data);
    release(app, &db);
}

typedef struct {
    const char *claim_id;
    const claim_upload_file_t *file;
    const claims_limits_t *limits;
    claiming_result_t result;
} claim_upload_t;

static db_status_t tx_claim_upload(tx_t *tx, void *arg)
{
    claim_upload_t *up = arg;
    db_status_t status = claiming_attach(tx->db, up->claim_id, up->file, up->limits, &up->result);
    if (status == DB_OK && up->result.outcome != CLAIMING_OK)
        tx_abandon(tx);
    return status;
}

/* POST /v1/claims/{id}/attachments?filename=photo.jpg: one file as the
 * raw body, its media type the Content-Type (CLAIM_ATTACHMENT_TYPES, 415
 * otherwise). A body past CLAIM_ATTACHMENT_MAX_BYTES is refused 413 by
 * its Content-Length before it is read (the route's body limit); the
 * claim's count and total are judged in the transaction. 201 with the
 * claim as it is now. */
static void route_claim_upload(const http_request_t *req, http_response_t *res, void *arg)
{
    order_app_t *app = arg;
    auth_claims_t claims;
    if (!auth_require(auth_of(app), req, res, ROLE_ANY_STAFF, &claims))
        return;
    const char *claim_id = http_req_param(req, "id");
    if (!uuid_valid(claim_id)) {
        http_res_problem(res, 404, "not_found", "no such claim", "a claim id is a UUID");
        return;
    }
    char type[CLAIMS_CONTENT_TYPE_MAX + 1];
    if (!claims_media_type_allowed(app->claim_types, http_req_header(req, "Content-Type"), type,
                                   sizeof type)) {
        char detail[600];
        snprintf(detail, sizeof detail, "an attachment is uploaded as one of: %s",
                 app->claim_types);
        http_res_problem(res, 415, "unsupported_media_type",
                         "this kind of file is not taken as an attachment", detail);
        return;
    }
    const char *filename = http_req_query(req, "filename");
    size_t len = 0;
    const char *body = http_req_body(req, &len);
    if (!claims_filename_valid(filename) || !body || len == 0) {
        http_res_problem(res, 422, "invalid", "the attachment is not valid",
                         "the file as the body (not empty) and ?filename= of 1 to 255 bytes, "
                         "no path separator, quote or control character");
        return;
    }
    if (len > app->claim_limits.max_bytes) { /* a chunked body the route's limit let by */
        http_res_problem(res, 413, "attachment_too_large", "an attachment is too large", NULL);
        return;
    }
    claim_upload_file_t file = {.filename = filename,
                                .content_type = type,
                                .data = (const unsigned char *)body,
                                .len = len};
    claim_upload_t up = {.claim_id = claim_id, .file = &file, .limits = &app->claim_limits};
    claim_ctx_t ctx = {.app = app, .claim_id = claim_id};
    db_t *db = session(app, res);
    if (!db)
        return;
    db_status_t status = service_tx(app->svc, db, tx_claim_upload, &up, NULL);
    ctx.result = up.result;
    answer_claim(app, res, db, status, &ctx, 201);
    claiming_result_clear(&ctx.result);
    release(app, &db);
}

static void route_report_claims(const http_request_t *req, http_response_t *res, void *arg)
{
    order_app_t *app = arg;
    auth_claims_t claims;
    int64_t from = 0, to = 0;
    if (!auth_require(auth_of(app), req, res, ROLE_ADMIN | ROLE_MANAGER, &claims) ||
        !report_period(req, res, &from, &to))
        return;
    db_t *db = session(app, res);
    if (!db)
        return;
    json_t *value = NULL;
    db_status_t status = store_report_claims_json(db, from, to, &value);
    if (status == DB_OK && value) {
        json_object_set_new(value, "from_ms", json_integer(from));
        json_object_set_new(value, "to_ms", json_integer(to));
    }
    answer_json(res, db, status, value, "report");
    release(app, &db);
}

static int claim_routes_register(http_server_t *http, order_app_t *app)
{
    static const struct {
        const char *method, *pattern;
        http_handler_fn fn;
    } routes[] = {
        {"POST", "/v1/orders/{id}/claims", route_claim_create},
        {"GET", "/v1/orders/{id}/claims", route_order_claims},
        {"GET", "/v1/claims", route_claims},
        {"GET", "/v1/claims/{id}", route_claim_get},
        {"GET", "/v1/claims/{id}/attachments/{attachment_id}", route_claim_attachment},
        {"POST", "/v1/claims/{id}/attachments", route_claim_upload},
        {"POST", "/v1/claims/{id}/decision", route_claim_decision},
        {"POST", "/v1/claims/{id}/status", route_claim_status},
        {"POST", "/v1/claims/{id}/complete", route_claim_complete},
        {"GET", "/v1/reports/claims", route_report_claims},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (http_route(http, routes[i].method, routes[i].pattern, routes[i].fn, app) != 0)
            return -1;
    return http_route_body_limit(http, "POST", "/v1/orders/{id}/claims", claim_body_limit(app)) !=
                       0 ||
                   http_route_body_limit(http, "POST", "/v1/claims/{id}/attachments",
                                         app->claim_limits.max_bytes) != 0
               ? -1
               : 0;
}

/* ------------------------------------------------------------------ */

int api_register(http_server_t *http, order_app_t *app)
{
    static const struct {
        const char *method, *pattern;
        http_handler_fn fn;
    } routes[] = {
        {"POST", "/v1/auth/token", route_auth_token},
        {"POST", "/v1/auth/refresh", route_auth_refresh},
        {"POST", "/v1/orders", route_orders_create},
        {"GET", "/v1/orders", route_orders_list},
        {"GET", "/v1/orders/{id}", route_order_get},
        {"GET", "/v1/orders/{id}/document.pdf", route_order_document},
        {"POST", "/v1/orders/{id}/status", route_order_status},
        {"POST", "/v1/orders/{id}/take", route_order_take},
        {"POST", "/v1/orders/{id}/edit", route_order_edit},
        {"POST", "/v1/intake/form", route_intake_form},
        {"GET", "/v1/statuses", route_statuses},
        {"GET", "/v1/transitions", route_transitions},
        {"GET", "/v1/rejections", route_rejections},
        {"POST", "/v1/staff", route_staff_create},
        {"GET", "/v1/staff", route_staff_list},
        {"GET", "/v1/staff/{id}", route_staff_get},
        {"PATCH", "/v1/staff/{id}", route_staff_patch},
        {"POST", "/v1/staff/{id}/shift", route_staff_shift},
        {"POST", "/v1/sources", route_sources_create},
        {"GET", "/v1/tasks", route_tasks},
        {"POST", "/v1/tasks/{id}/done", route_task_done},
        {"GET", "/v1/reports/sales", route_report_sales},
        {"GET", "/v1/reports/people", route_report_people},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (http_route(http, routes[i].method, routes[i].pattern, routes[i].fn, app) != 0)
            return -1;
    if (claim_routes_register(http, app) != 0)
        return -1;
    /* a form is a few kilobytes: a megabyte of one is refused unread; a
     * login or a refresh is a few hundred bytes */
    return http_route_body_limit(http, "POST", "/v1/intake/form", app->form_max_bytes) != 0 ||
                   http_route_body_limit(http, "POST", "/v1/auth/token", 4096) != 0 ||
                   http_route_body_limit(http, "POST", "/v1/auth/refresh", 4096) != 0 ||
                   http_route_body_limit(http, "POST", "/v1/orders/{id}/edit", 256 * 1024) != 0
               ? -1
               : 0;
}
