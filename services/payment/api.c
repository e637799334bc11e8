/*
 * api.c — the payment service's HTTP routes (docs/payment-api.md): parse,
 * authorise, call the domain in one transaction, answer.
 *
 *   GET|POST /v1/webhooks/sberbank   the bank's callback (no token: its checksum)
 *   POST     /v1/webhooks/yookassa   the bank's webhook (no token: re-fetched at the bank)
 *   GET      /v1/orders/{id}/payment the order's money: status, invoices, ledger, refunds
 *   GET      /v1/invoices/{id}       one invoice with its receipt
 *   GET      /v1/invoices/{id}/document.pdf  the invoice as a PDF (F32)
 *   POST     /v1/orders/{id}/payments  a payment recorded by hand (admin)
 *   POST     /v1/orders/{id}/collected cash collected on delivery (courier, admin, system)
 *   POST     /v1/orders/{id}/refunds   a refund asked by a manager (manager, admin)
 *   POST     /v1/orders/{id}/invoices  a new payment link for what is due (manager, admin)
 *
 * A notification is believed only when the adapter verifies it; it is
 * kept by the bank's event id before we answer, in the transaction that
 * applies it (a batch of them: notices.c), so a second delivery finds it
 * applied and changes nothing, and 100 concurrent deliveries are applied
 * once. A refused one changes nothing, answers 400, and is counted (not
 * stored: anyone can send them, and they must not fill the database).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/auth.h"
#include "common/clock.h"
#include "common/emit.h"
#include "common/log.h"
#include "common/tx.h"
#include "common/uuid.h"
#include "services/payment/bank.h"
#include "services/payment/billing.h"
#include "services/payment/document.h"
#include "services/payment/money.h"
#include "services/payment/notices.h"
#include "services/payment/payment.h"
#include "services/payment/refunds.h"
#include "services/payment/store.h"

#define ROLES_READ    (ROLE_ADMIN | ROLE_MANAGER)
#define ROLES_RECORD  ROLE_ADMIN
#define ROLES_COLLECT (ROLE_ADMIN | ROLE_COURIER | ROLE_SYSTEM)
#define ROLES_REFUND  (ROLE_ADMIN | ROLE_MANAGER)
#define ROLES_BILL    (ROLE_ADMIN | ROLE_MANAGER)
#define NOTICE_MAX    65536 /* a bank's notification is a few hundred bytes */
#define REFERENCE_MAX 200

/* ------------------------------------------------------------------ */
/* notifications from the bank (notices.c)                              */

static void webhook_sberbank(const http_request_t *req, http_response_t *res, void *arg)
{
    payment_app_t *app = arg;
    notices_webhook(app->notices, req, res, "sberbank");
}

static void webhook_yookassa(const http_request_t *req, http_response_t *res, void *arg)
{
    payment_app_t *app = arg;
    notices_webhook(app->notices, req, res, "yookassa");
}

/* ------------------------------------------------------------------ */
/* reading                                                              */

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

static const char *path_uuid(const http_request_t *req, http_response_t *res)
{
    const char *id = http_req_param(req, "id");
    if (!uuid_valid(id)) {
        http_res_problem(res, 400, "invalid_id", "the id in the path is not a UUID", NULL);
        return NULL;
    }
    return id;
}

static void get_order_money(const http_request_t *req, http_response_t *res, void *arg)
{
    payment_app_t *app = arg;
    auth_claims_t claims;
    if (!auth_require(service_auth(app->svc), req, res, ROLES_READ, &claims))
        return;
    const char *id = path_uuid(req, res);
    db_t *db = id ? service_session(app->svc, res, SERVICE_SESSION_WAIT_MS) : NULL;
    if (!db)
        return;
    json_t *body = NULL;
    db_status_t status = store_order_money_json(db, id, &body);
    answer_json(res, db, status, body, "no payment record of that order");
    service_session_release(app->svc, &db);
}

static void get_invoice(const http_request_t *req, http_response_t *res, void *arg)
{
    payment_app_t *app = arg;
    auth_claims_t claims;
    if (!auth_require(service_auth(app->svc), req, res, ROLES_READ, &claims))
        return;
    const char *id = path_uuid(req, res);
    db_t *db = id ? service_session(app->svc, res, SERVICE_SESSION_WAIT_MS) : NULL;
    if (!db)
        return;
    json_t *body = NULL;
    db_status_t status = store_invoice_json(db, id, &body);
    answer_json(res, db, status, body, "no such invoice");
    service_session_release(app->svc, &db);
}

/* The invoice as a PDF (F32): read, the session given back, then drawn. */
/* The invoice as a PDF (F32), for staff and for the notification service
 * (role system), which attaches it where a trigger asks for it. */
static void get_invoice_document(const http_request_t *req, http_response_t *res, void *arg)
{
    payment_app_t *app = arg;
    auth_claims_t claims;
    if (!auth_require(service_auth(app->svc), req, res, ROLES_READ | ROLE_SYSTEM, &claims))
        return;
    const char *id = path_uuid(req, res);
    db_t *db = id ? service_session(app->svc, res, SERVICE_SESSION_WAIT_MS) : NULL;
    if (!db)
        return;
    json_t *invoice = NULL;
    db_status_t status = store_invoice_document_json(db, id, &invoice);
    if (status != DB_OK)
        service_answer_db_failure(res, db, status, "read an invoice for its document");
    service_session_release(app->svc, &db);
    unsigned char *pdf = NULL;
    size_t len = 0;
    char why[INVOICE_DOCUMENT_WHY_SIZE] = "";
    if (status != DB_OK) {
        /* answered */
    } else if (!invoice) {
        http_res_problem(res, 404, "not_found", "no such invoice", NULL);
    } else if (invoice_document(&app->fonts, invoice, &pdf, &len, why) != 0) {
        log_error("an invoice's document could not be rendered", LF_ERR("pdf_failed"),
                  LF_STR("invoice_id", id), LF_STR("why", why));
        http_res_problem(res, 500, "pdf_failed", "the document could not be rendered", why);
    } else {
        char disposition[96];
        snprintf(disposition, sizeof disposition, "inline; filename=\"invoice-%lld.pdf\"",
                 (long long)json_integer_value(json_object_get(invoice, "order_number")));
        http_res_bytes_take(res, 200, "application/pdf", pdf, len);
        http_res_header(res, "Content-Disposition", disposition);
    }
    json_decref(invoice);
}

/* ------------------------------------------------------------------ */
/* recording                                                            */

/* {"amount_minor": >0, "reference": "..."}: 0, or -1 answered 400. */
static int read_amount_and_reference(http_response_t *res, const json_t *body, int64_t *amount,
                                     const char **reference)
{
    const json_t *value = json_object_get(body, "amount_minor");
    *reference = json_string_value(json_object_get(body, "reference"));
    if (!json_is_integer(value) || json_integer_value(value) <= 0) {
        http_res_problem(res, 400, "invalid_amount", "amount_minor must be a positive integer",
                         "kopecks, e.g. 150000 for 1,500.00");
        return -1;
    }
    if (!*reference || !(*reference)[0] || strlen(*reference) > REFERENCE_MAX) {
        http_res_problem(res, 400, "invalid_reference",
                         "reference must name the payment, 1 to 200 bytes",
                         "the receipt or slip number: the same reference twice is one payment");
        return -1;
    }
    *amount = json_integer_value(value);
    return 0;
}

typedef struct {
    payment_app_t *app;
    cash_report_t report;
    bool known;
} cash_op_t;

static db_status_t cash_tx(tx_t *tx, void *arg)
{
    cash_op_t *op = arg;
    emitter_t em = emitter_root(tx->db, "payment");
    db_status_t status = money_cash(op->app, &em, &op->report, &op->known);
    if (status == DB_OK && !op->known)
        tx_abandon(tx);
    return status;
}

static void record_cash(const http_request_t *req, http_response_t *res, payment_app_t *app,
                        unsigned roles, bool collected)
{
    auth_claims_t claims;
    if (!auth_require(service_auth(app->svc), req, res, roles, &claims))
        return;
    const char *id = path_uuid(req, res);
    json_t *body = id ? http_req_json(req, res) : NULL;
    if (!body)
        return;
    int64_t amount = 0;
    const char *reference = NULL;
    if (read_amount_and_reference(res, body, &amount, &reference) != 0)
        return;
    db_t *db = service_session(app->svc, res, SERVICE_SESSION_WAIT_MS);
    if (!db)
        return;
    cash_op_t op = {.app = app,
                    .report = {.order_id = id,
                               .collected = collected,
                               .by = claims.subject,
                               .reference = reference,
                               .amount_minor = amount,
                               .at_ms = clock_now_ms()}};
    tx_t tx;
    db_status_t status = service_tx(app->svc, db, cash_tx, &op, &tx);
    if (status != DB_OK) {
        service_answer_db_failure(res, db, status, "record a payment");
    } else if (!op.known) {
        http_res_problem(res, 404, "not_found", "payment has no record of that order",
                         "an order is known once it is confirmed");
    } else {
        json_t *money = NULL;
        status = store_order_money_json(db, id, &money);
        log_info(collected ? "cash collected" : "payment recorded by hand", LF_STR("order_id", id),
                 LF_INT("amount_minor", amount), LF_STR("actor", claims.subject));
        if (status == DB_OK && money)
            http_res_json_take(res, 201, money);
        else
            answer_json(res, db, status, money, "the order's money");
    }
    service_session_release(app->svc, &db);
}

static void post_payment(const http_request_t *req, http_response_t *res, void *arg)
{
    record_cash(req, res, arg, ROLES_RECORD, false);
}

static void post_collected(const http_request_t *req, http_response_t *res, void *arg)
{
    record_cash(req, res, arg, ROLES_COLLECT, true);
}

typedef struct {
    payment_app_t *app;
    refund_request_t request;
} refund_op_t;

static db_status_t refund_tx(tx_t *tx, void *arg)
{
    refund_op_t *op = arg;
    emitter_t em = emitter_root(tx->db, "payment");
    return refunds_requested(op->app, &em, &op->request);
}

static void post_refund(const http_request_t *req, http_response_t *res, void *arg)
{
    payment_app_t *app = arg;
    auth_claims_t claims;
    if (!auth_require(service_auth(app->svc), req, res, ROLES_REFUND, &claims))
        return;
    const char *id = path_uuid(req, res);
    json_t *body = id ? http_req_json(req, res) : NULL;
    if (!body)
        return;
    const json_t *amount = json_object_get(body, "amount_minor");
    const char *request_id = json_string_value(json_object_get(body, "request_id"));
    if (!json_is_integer(amount) || json_integer_value(amount) <= 0) {
        http_res_problem(res, 400, "invalid_amount", "amount_minor must be a positive integer",
                         NULL);
        return;
    }
    if (!uuid_valid(request_id)) {
        http_res_problem(res, 400, "invalid_request_id",
                         "request_id must be a UUID of the caller's making",
                         "the same request_id twice is one refund");
        return;
    }
    db_t *db = service_session(app->svc, res, SERVICE_SESSION_WAIT_MS);
    if (!db)
        return;
    refund_op_t op = {.app = app,
                      .request = {.order_id = id,
                                  .request_id = request_id,
                                  .claim_id = "",
                                  .amount_minor = json_integer_value(amount)}};
    tx_t tx;
    db_status_t status = service_tx(app->svc, db, refund_tx, &op, &tx);
    if (status != DB_OK) {
        service_answer_db_failure(res, db, status, "request a refund");
    } else {
        json_t *money = NULL;
        status = store_order_money_json(db, id, &money);
        log_info("refund requested", LF_STR("order_id", id),
                 LF_INT("amount_minor", (int64_t)json_integer_value(amount)),
                 LF_STR("actor", claims.subject));
        if (status == DB_OK && money)
            http_res_json_take(res, 202, money);
        else
            answer_json(res, db, status, money, "payment has no record of that order");
    }
    service_session_release(app->svc, &db);
}

typedef struct {
    payment_app_t *app;
    const char *order_id;
    billing_request_outcome_t outcome;
} bill_op_t;

static db_status_t bill_tx(tx_t *tx, void *arg)
{
    bill_op_t *op = arg;
    emitter_t em = emitter_root(tx->db, "payment");
    db_status_t status = billing_requested(op->app, &em, op->order_id, &op->outcome);
    if (status == DB_OK && op->outcome != BILLING_REQUEST_OPENED)
        tx_abandon(tx);
    return status;
}

/* A new link for what is due now: after the bank declined the card more
 * often than PAYMENT_DECLINE_REBILLS, or whenever the customer lost the
 * one they had and nothing is open. Its body, if any, is ignored. */
static void post_invoice(const http_request_t *req, http_response_t *res, void *arg)
{
    payment_app_t *app = arg;
    auth_claims_t claims;
    if (!auth_require(service_auth(app->svc), req, res, ROLES_BILL, &claims))
        return;
    const char *id = path_uuid(req, res);
    db_t *db = id ? service_session(app->svc, res, SERVICE_SESSION_WAIT_MS) : NULL;
    if (!db)
        return;
    bill_op_t op = {.app = app, .order_id = id};
    tx_t tx;
    db_status_t status = service_tx(app->svc, db, bill_tx, &op, &tx);
    if (status != DB_OK) {
        service_answer_db_failure(res, db, status, "open an invoice");
    } else {
        switch (op.outcome) {
        case BILLING_REQUEST_UNKNOWN_ORDER:
            http_res_problem(res, 404, "not_found", "payment has no record of that order",
                             "an order is known once it is confirmed");
            break;
        case BILLING_REQUEST_CANCELLED:
            http_res_problem(res, 409, "order_cancelled", "the order is cancelled", NULL);
            break;
        case BILLING_REQUEST_NOT_PREPAID:
            http_res_problem(res, 409, "not_prepaid", "the order is not paid in advance",
                             "cash on delivery is recorded at /v1/orders/{id}/collected");
            break;
        case BILLING_REQUEST_NOTHING_DUE:
            http_res_problem(res, 409, "nothing_due", "nothing is due on the order", NULL);
            break;
        case BILLING_REQUEST_LIVE:
            http_res_problem(res, 409, "invoice_open", "a payment link is open already",
                             "its link is in GET /v1/orders/{id}/payment");
            break;
        case BILLING_REQUEST_OPENED: {
            json_t *money = NULL;
            status = store_order_money_json(db, id, &money);
            log_info("a new payment link asked for", LF_STR("order_id", id),
                     LF_STR("actor", claims.subject));
            if (status == DB_OK && money)
                http_res_json_take(res, 202, money);
            else
                answer_json(res, db, status, money, "the order's money");
            break;
        }
        }
    }
    service_session_release(app->svc, &db);
}

int api_register(http_server_t *http, payment_app_t *app)
{
    app->notices = notices_new(app);
    if (!app->notices)
        return -1;
    static const struct {
        const char *method, *pattern;
        http_handler_fn handler;
    } routes[] = {
        {"GET", "/v1/webhooks/sberbank", webhook_sberbank},
        {"POST", "/v1/webhooks/sberbank", webhook_sberbank},
        {"POST", "/v1/webhooks/yookassa", webhook_yookassa},
        {"GET", "/v1/orders/{id}/payment", get_order_money},
        {"GET", "/v1/invoices/{id}", get_invoice},
        {"GET", "/v1/invoices/{id}/document.pdf", get_invoice_document},
        {"POST", "/v1/orders/{id}/payments", post_payment},
        {"POST", "/v1/orders/{id}/collected", post_collected},
        {"POST", "/v1/orders/{id}/refunds", post_refund},
        {"POST", "/v1/orders/{id}/invoices", post_invoice},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (http_route(http, routes[i].method, routes[i].pattern, routes[i].handler, app) != 0)
            return -1;
    if (http_route_body_limit(http, "POST", "/v1/webhooks/yookassa", NOTICE_MAX) != 0 ||
        http_route_body_limit(http, "POST", "/v1/webhooks/sberbank", NOTICE_MAX) != 0)
        return -1;
    return 0;
}
