/*
 * api.c — the notification service's HTTP routes (docs/notification-api.md):
 * parse, authorise, call the store or the domain, answer.
 *
 *   GET    /v1/triggers                       every trigger (admin, manager)
 *   GET    /v1/triggers/{id}                  one
 *   PUT    /v1/triggers/{id}                  create or replace; {"enabled": false} switches off
 * (admin) DELETE /v1/triggers/{id}                  (admin) GET    /v1/templates every template
 * (admin, manager) GET    /v1/templates/{name}/{channel}/{language} PUT
 * /v1/templates/{name}/{channel}/{language}   refused when it names an unknown placeholder or does
 * not parse (admin) DELETE /v1/templates/{name}/{channel}/{language}   (admin) POST
 * /v1/templates/{name}/{channel}/{language}/preview  {"order_id"}: rendered against that order as
 * the service knows it GET    /v1/orders/{id}/deliveries         the delivery log of an order
 * (admin, manager) GET    /v1/customers/{id}/deliveries      of a customer GET
 * /v1/optout?customer=&channel=&token=  the link in every email (no token: its signature)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/auth.h"
#include "common/log.h"
#include "common/uuid.h"
#include "services/notification/dispatch.h"
#include "services/notification/documents.h"
#include "services/notification/notification.h"
#include "services/notification/optout.h"
#include "services/notification/render.h"
#include "services/notification/rules.h"
#include "services/notification/store.h"

#define ROLES_READ  (ROLE_ADMIN | ROLE_MANAGER)
#define ROLES_WRITE ROLE_ADMIN
#define LOG_LIMIT   500

static const char *text_of(const json_t *object, const char *key)
{
    const char *text = json_string_value(json_object_get(object, key));
    return text ? text : "";
}

static void answer_json(http_response_t *res, db_t *db, db_status_t status, json_t *body,
                        const char *what)
{
    if (status != DB_OK)
        service_answer_db_failure(res, db, status, what);
    else if (!body)
        http_res_problem(res, 404, "not_found", "not found", what);
    else
        http_res_json_take(res, 200, body);
}

/* [a-z0-9_.-]{1,64}, as the tables say */
static bool name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') ||
              name[i] == '_' || name[i] == '.' || name[i] == '-'))
            return false;
    return true;
}

static bool one_of(const char *text, const char *const *list)
{
    for (size_t i = 0; text && list[i]; i++)
        if (strcmp(text, list[i]) == 0)
            return true;
    return false;
}

static const char *const CHANNELS[] = {"email", "sms", "telegram", NULL};
static const char *const RECIPIENTS[] = {"customer", "manager", "purchaser", "staff", NULL};

typedef void (*with_db_fn)(notification_app_t *app, const http_request_t *req, http_response_t *res,
                           db_t *db);

static void with_db(const http_request_t *req, http_response_t *res, notification_app_t *app,
                    unsigned roles, with_db_fn fn)
{
    auth_claims_t claims;
    if (!auth_require(service_auth(app->svc), req, res, roles, &claims))
        return;
    db_t *db = service_session(app->svc, res, SERVICE_SESSION_WAIT_MS);
    if (!db)
        return;
    fn(app, req, res, db);
    service_session_release(app->svc, &db);
}

/* ------------------------------------------------------------------ */
/* triggers                                                             */

static void list_triggers(notification_app_t *app, const http_request_t *req, http_response_t *res,
                          db_t *db)
{
    (void)app;
    (void)req;
    json_t *body = NULL;
    /* called before body is read: C leaves the order of arguments open */
    db_status_t status = store_triggers_json(db, &body);
    answer_json(res, db, status, body, "the triggers");
}

static void get_trigger_db(notification_app_t *app, const http_request_t *req, http_response_t *res,
                           db_t *db)
{
    (void)app;
    json_t *body = NULL;
    db_status_t status = store_trigger_json(db, http_req_param(req, "id"), &body);
    answer_json(res, db, status, body, "no such trigger");
}

/* A trigger's attachments: absent, or an array of distinct documents
 * (documents.h: "order", "invoice"), for email only. 0 ok, -1 with why. */
static int attachments_valid(const json_t *attachments, const char *channel, char *why)
{
    if (!attachments || (json_is_array(attachments) && json_array_size(attachments) == 0))
        return 0;
    if (!json_is_array(attachments) || json_array_size(attachments) > DOCUMENTS_MAX) {
        snprintf(why, RULES_WHY_SIZE,
                 "attachments is an array of at most %d of \"order\", "
                 "\"invoice\"",
                 DOCUMENTS_MAX);
        return -1;
    }
    if (strcmp(channel, "email") != 0) {
        snprintf(why, RULES_WHY_SIZE, "only an email carries attachments, not %s", channel);
        return -1;
    }
    for (size_t i = 0; i < json_array_size(attachments); i++) {
        const char *kind = json_string_value(json_array_get(attachments, i));
        if (!documents_kind_ok(kind)) {
            snprintf(why, RULES_WHY_SIZE, "unknown attachment: %s (order or invoice)",
                     kind ? kind : "not a string");
            return -1;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(kind, json_string_value(json_array_get(attachments, j))) == 0) {
                snprintf(why, RULES_WHY_SIZE, "attachment %s named twice", kind);
                return -1;
            }
    }
    return 0;
}

static void put_trigger_db(notification_app_t *app, const http_request_t *req, http_response_t *res,
                           db_t *db)
{
    (void)app;
    const char *id = http_req_param(req, "id");
    json_t *body = http_req_json(req, res);
    if (!body)
        return;
    char why[RULES_WHY_SIZE] = "";
    json_t *condition = json_object_get(body, "condition");
    const json_t *enabled = json_object_get(body, "enabled");
    const char *event_type = text_of(body, "event_type");
    if (!name_ok(event_type) || !name_ok(text_of(body, "template")) ||
        !one_of(text_of(body, "channel"), CHANNELS) ||
        !one_of(text_of(body, "recipient"), RECIPIENTS) || (enabled && !json_is_boolean(enabled)) ||
        strlen(text_of(body, "description")) > 500) {
        http_res_problem(res, 400, "invalid_trigger",
                         "a trigger needs event_type, template, channel (email, sms, telegram) "
                         "and recipient (customer, manager, purchaser, staff)",
                         "enabled is a boolean; description at most 500 bytes");
        return;
    }
    if (condition && rules_condition_valid(condition, why) != 0) {
        http_res_problem(res, 400, "invalid_condition", why, NULL);
        return;
    }
    if (attachments_valid(json_object_get(body, "attachments"), text_of(body, "channel"), why) !=
        0) {
        http_res_problem(res, 400, "invalid_attachments", why, NULL);
        return;
    }
    db_status_t status = store_trigger_put(db, id, body);
    json_t *saved = NULL;
    if (status == DB_OK)
        status = store_trigger_json(db, id, &saved);
    if (status == DB_OK)
        log_info("trigger saved", LF_STR("trigger_id", id), LF_STR("event_type", event_type),
                 LF_STR("enabled", json_is_false(enabled) ? "false" : "true"));
    answer_json(res, db, status, saved, "the trigger");
}

static void delete_trigger_db(notification_app_t *app, const http_request_t *req,
                              http_response_t *res, db_t *db)
{
    (void)app;
    bool found = false;
    db_status_t status = store_trigger_delete(db, http_req_param(req, "id"), &found);
    if (status != DB_OK)
        service_answer_db_failure(res, db, status, "delete a trigger");
    else if (!found)
        http_res_problem(res, 404, "not_found", "no such trigger", NULL);
    else
        http_res_json_take(res, 200, json_pack("{s:b}", "deleted", 1));
}

static bool trigger_id_ok(const http_request_t *req, http_response_t *res)
{
    if (name_ok(http_req_param(req, "id")))
        return true;
    http_res_problem(res, 400, "invalid_id", "a trigger id is 1-64 of [a-z0-9_.-]", NULL);
    return false;
}

static void get_triggers(const http_request_t *req, http_response_t *res, void *arg)
{
    with_db(req, res, arg, ROLES_READ, list_triggers);
}

static void get_trigger(const http_request_t *req, http_response_t *res, void *arg)
{
    if (trigger_id_ok(req, res))
        with_db(req, res, arg, ROLES_READ, get_trigger_db);
}

static void put_trigger(const http_request_t *req, http_response_t *res, void *arg)
{
    if (trigger_id_ok(req, res))
        with_db(req, res, arg, ROLES_WRITE, put_trigger_db);
}

static void delete_trigger(const http_request_t *req, http_response_t *res, void *arg)
{
    if (trigger_id_ok(req, res))
        with_db(req, res, arg, ROLES_WRITE, delete_trigger_db);
}

/* ------------------------------------------------------------------ */
/* templates                                                            */

static bool template_key_ok(const http_request_t *req, http_response_t *res)
{
    const char *language = http_req_param(req, "language");
    if (name_ok(http_req_param(req, "name")) && one_of(http_req_param(req, "channel"), CHANNELS) &&
        language && strlen(language) == 2 && language[0] >= 'a' && language[0] <= 'z' &&
        language[1] >= 'a' && language[1] <= 'z')
        return true;
    http_res_problem(res, 400, "invalid_template_key",
                     "a template is named by name (1-64 of [a-z0-9_.-]), channel (email, sms, "
                     "telegram) and language (two letters)",
                     NULL);
    return false;
}

static void list_templates(notification_app_t *app, const http_request_t *req, http_response_t *res,
                           db_t *db)
{
    (void)app;
    (void)req;
    json_t *body = NULL;
    /* called before body is read: C leaves the order of arguments open */
    db_status_t status = store_templates_json(db, &body);
    answer_json(res, db, status, body, "the templates");
}

static void get_template_db(notification_app_t *app, const http_request_t *req,
                            http_response_t *res, db_t *db)
{
    (void)app;
    json_t *body = NULL;
    db_status_t status =
        store_template_json(db, http_req_param(req, "name"), http_req_param(req, "channel"),
                            http_req_param(req, "language"), &body);
    answer_json(res, db, status, body, "no such template");
}

static void put_template_db(notification_app_t *app, const http_request_t *req,
                            http_response_t *res, db_t *db)
{
    (void)app;
    json_t *body = http_req_json(req, res);
    if (!body)
        return;
    const char *channel = http_req_param(req, "channel");
    const char *subject = text_of(body, "subject"), *text = text_of(body, "body"),
               *html = text_of(body, "html");
    if (!text[0] || strlen(text) > 65536 || strlen(subject) > 1000 || strlen(html) > 131072 ||
        (strcmp(channel, "email") != 0 && (subject[0] || html[0]))) {
        http_res_problem(res, 400, "invalid_template",
                         "a template needs a body (at most 64 KiB); subject (1000 bytes) and "
                         "html (128 KiB) are for email only",
                         NULL);
        return;
    }
    static const char *const parts[] = {"subject", "body", "html"};
    for (size_t i = 0; i < 3; i++) {
        char why[RENDER_WHY_SIZE];
        if (render_check(text_of(body, parts[i]), why) != 0) {
            http_res_problem_extra_take(res, 422, "template_refused", why, NULL,
                                        json_pack("{s:s}", "part", parts[i]));
            return;
        }
    }
    const char *name = http_req_param(req, "name"), *language = http_req_param(req, "language");
    db_status_t status = store_template_put(db, name, channel, language, subject, text, html);
    json_t *saved = NULL;
    if (status == DB_OK)
        status = store_template_json(db, name, channel, language, &saved);
    if (status == DB_OK)
        log_info("template saved", LF_STR("template", name), LF_STR("channel", channel),
                 LF_STR("language", language));
    answer_json(res, db, status, saved, "the template");
}

static void delete_template_db(notification_app_t *app, const http_request_t *req,
                               http_response_t *res, db_t *db)
{
    (void)app;
    bool found = false;
    db_status_t status =
        store_template_delete(db, http_req_param(req, "name"), http_req_param(req, "channel"),
                              http_req_param(req, "language"), &found);
    if (status != DB_OK)
        service_answer_db_failure(res, db, status, "delete a template");
    else if (!found)
        http_res_problem(res, 404, "not_found", "no such template", NULL);
    else
        http_res_json_take(res, 200, json_pack("{s:b}", "deleted", 1));
}

static void preview_db(notification_app_t *app, const http_request_t *req, http_response_t *res,
                       db_t *db)
{
    json_t *body = http_req_json(req, res);
    if (!body)
        return;
    const char *order_id = text_of(body, "order_id");
    if (!uuid_valid(order_id)) {
        http_res_problem(res, 400, "invalid_order_id", "order_id must be an order's UUID", NULL);
        return;
    }
    json_t *tmpl = NULL, *order = NULL, *rendered = NULL;
    const char *language = http_req_param(req, "language");
    db_status_t status = store_template_json(db, http_req_param(req, "name"),
                                             http_req_param(req, "channel"), language, &tmpl);
    if (status == DB_OK && tmpl)
        status = store_order_json(db, order_id, &order);
    char why[RENDER_WHY_SIZE + 16] = "", unsubscribe[OPTOUT_URL_SIZE] = "";
    if (status == DB_OK && order) {
        optout_url(app->public_url, app->optout_key, text_of(order, "customer_id"),
                   http_req_param(req, "channel"), unsubscribe);
        rendered = dispatch_render(app, db, tmpl, order, json_object_get(order, "extra"), language,
                                   unsubscribe, why, sizeof why, &status);
    }
    if (status != DB_OK)
        service_answer_db_failure(res, db, status, "preview a template");
    else if (!tmpl)
        http_res_problem(res, 404, "not_found", "no such template", NULL);
    else if (!order)
        http_res_problem(res, 404, "unknown_order",
                         "the notification service has not heard of "
                         "that order",
                         NULL);
    else if (!rendered)
        http_res_problem(res, 422, "template_refused", why, NULL);
    else
        http_res_json_take(res, 200, json_incref(rendered));
    json_decref(rendered);
    json_decref(order);
    json_decref(tmpl);
}

static void get_templates(const http_request_t *req, http_response_t *res, void *arg)
{
    with_db(req, res, arg, ROLES_READ, list_templates);
}

static void get_template(const http_request_t *req, http_response_t *res, void *arg)
{
    if (template_key_ok(req, res))
        with_db(req, res, arg, ROLES_READ, get_template_db);
}

static void put_template(const http_request_t *req, http_response_t *res, void *arg)
{
    if (template_key_ok(req, res))
        with_db(req, res, arg, ROLES_WRITE, put_template_db);
}

static void delete_template(const http_request_t *req, http_response_t *res, void *arg)
{
    if (template_key_ok(req, res))
        with_db(req, res, arg, ROLES_WRITE, delete_template_db);
}

static void post_preview(const http_request_t *req, http_response_t *res, void *arg)
{
    if (template_key_ok(req, res))
        with_db(req, res, arg, ROLES_READ, preview_db);
}

/* ------------------------------------------------------------------ */
/* the delivery log                                                     */

static void order_log(notification_app_t *app, const http_request_t *req, http_response_t *res,
                      db_t *db)
{
    (void)app;
    json_t *body = NULL;
    db_status_t status = store_deliveries_of_order(db, http_req_param(req, "id"), LOG_LIMIT, &body);
    answer_json(res, db, status, body, "the order's deliveries");
}

static void customer_log(notification_app_t *app, const http_request_t *req, http_response_t *res,
                         db_t *db)
{
    (void)app;
    json_t *body = NULL;
    db_status_t status =
        store_deliveries_of_customer(db, http_req_param(req, "id"), LOG_LIMIT, &body);
    answer_json(res, db, status, body, "the customer's deliveries");
}

static void get_order_log(const http_request_t *req, http_response_t *res, void *arg)
{
    if (!uuid_valid(http_req_param(req, "id"))) {
        http_res_problem(res, 400, "invalid_id", "the id in the path is not a UUID", NULL);
        return;
    }
    with_db(req, res, arg, ROLES_READ, order_log);
}

static void get_customer_log(const http_request_t *req, http_response_t *res, void *arg)
{
    if (!uuid_valid(http_req_param(req, "id"))) {
        http_res_problem(res, 400, "invalid_id", "the id in the path is not a UUID", NULL);
        return;
    }
    with_db(req, res, arg, ROLES_READ, customer_log);
}

/* ------------------------------------------------------------------ */
/* opt-out                                                              */

static void optout(const http_request_t *req, http_response_t *res, void *arg)
{
    notification_app_t *app = arg;
    const char *customer = http_req_query(req, "customer");
    const char *channel = http_req_query(req, "channel");
    const char *token = http_req_query(req, "token");
    if (!optout_link_valid(app->optout_key, customer, channel, token)) {
        http_res_problem(res, 403, "bad_link", "this opt-out link is not valid", NULL);
        return;
    }
    db_t *db = service_session(app->svc, res, SERVICE_SESSION_WAIT_MS);
    if (!db)
        return;
    db_status_t status = store_optout_add(db, customer, channel);
    if (status != DB_OK) {
        service_answer_db_failure(res, db, status, "record an opt-out");
    } else {
        log_info("customer opted out", LF_STR("customer_id", customer), LF_STR("channel", channel));
        http_res_text(res, 200, "text/plain; charset=utf-8",
                      "Вы отписаны от этих сообщений. You are unsubscribed.\n");
    }
    service_session_release(app->svc, &db);
}

int api_register(http_server_t *http, notification_app_t *app)
{
    static const struct {
        const char *method, *pattern;
        http_handler_fn handler;
    } routes[] = {
        {"GET", "/v1/triggers", get_triggers},
        {"GET", "/v1/triggers/{id}", get_trigger},
        {"PUT", "/v1/triggers/{id}", put_trigger},
        {"DELETE", "/v1/triggers/{id}", delete_trigger},
        {"GET", "/v1/templates", get_templates},
        {"GET", "/v1/templates/{name}/{channel}/{language}", get_template},
        {"PUT", "/v1/templates/{name}/{channel}/{language}", put_template},
        {"DELETE", "/v1/templates/{name}/{channel}/{language}", delete_template},
        {"POST", "/v1/templates/{name}/{channel}/{language}/preview", post_preview},
        {"GET", "/v1/orders/{id}/deliveries", get_order_log},
        {"GET", "/v1/customers/{id}/deliveries", get_customer_log},
        {"GET", "/v1/optout", optout},
        {"POST", "/v1/optout", optout},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (http_route(http, routes[i].method, routes[i].pattern, routes[i].handler, app) != 0)
            return -1;
    return 0;
}
