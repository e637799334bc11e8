/*
 * api.c — the shipping service's HTTP routes (docs/shipping-api.md):
 * parse, authorise, call the domain in one transaction, answer.
 *
 *   POST   /v1/webhooks/carrier                  the carrier's tracking or batch webhook (no
 *                                                token: its secret header, compared in
 *                                                constant time)
 *   GET    /v1/shipments/{id}                    an order's parcel with its whole history
 *   POST   /v1/shipments/{id}/quote              a person's choice over the rules (manager)
 *   POST   /v1/shipments/{id}/courier            a city courier's report (courier)
 *   POST   /v1/shipments/{id}/returned           back at the warehouse (warehouse)
 *   POST   /v1/shipments/{id}/handover           a self-pickup order handed over at the
 *                                                counter (warehouse)
 *   GET    /v1/warehouse/orders?method=          the warehouse's list (warehouse; self_pickup:
 *                                                the counter's)
 *   POST   /v1/batches                           a new batch, numbered 20261205001 (warehouse)
 *   GET    /v1/batches/{number}                  a batch and its parcels
 *   POST   /v1/batches/{number}/shipments        {order_id}: add (a returned parcel ships again)
 *   DELETE /v1/batches/{number}/shipments/{id}   remove
 *   POST   /v1/batches/{number}/process          labels for every parcel, then the manifest
 *   GET    /v1/shipments/{id}/packing-slip.pdf   the warehouse's paper (PDF, warehouse):
 *   GET    /v1/shipments/{id}/sticker.pdf        a parcel's slip and sticker,
 *   GET    /v1/batches/{number}/manifest.pdf     a batch's manifest
 *
 * A webhook is kept by its event id in the transaction that applies it:
 * a repeat finds it and changes nothing; a late one (IT after DE) is kept
 * and not applied. A batch webhook only makes the batch job's next poll
 * now. A refused webhook (no or wrong secret, not a tracking or batch
 * body) is counted, not stored.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/auth.h"
#include "common/clock.h"
#include "common/emit.h"
#include "common/jobs.h"
#include "common/log.h"
#include "common/tx.h"
#include "common/uuid.h"
#include "services/shipping/documents.h"
#include "services/shipping/shipments.h"
#include "services/shipping/shipping.h"
#include "services/shipping/store.h"

#define SHIPPING_STREAM "shipping"
#define ROLES_READ      (ROLE_ADMIN | ROLE_MANAGER | ROLE_WAREHOUSE)
#define ROLES_OVERRIDE  (ROLE_ADMIN | ROLE_MANAGER)
#define ROLES_COURIER   (ROLE_ADMIN | ROLE_COURIER)
#define ROLES_WAREHOUSE (ROLE_ADMIN | ROLE_WAREHOUSE)
#define NAME_MAX_BYTES  48

/* --- helpers ---------------------------------------------------------------------- */

static const char *path_uuid(const http_request_t *req, http_response_t *res, const char *name)
{
    const char *id = http_req_param(req, name);
    if (!uuid_valid(id)) {
        http_res_problem(res, 400, "invalid_id", "the id in the path is not a UUID", NULL);
        return NULL;
    }
    return id;
}

static const char *path_batch(const http_request_t *req, http_response_t *res)
{
    const char *number = http_req_param(req, "number");
    size_t len = number ? strlen(number) : 0;
    bool digits = len >= 11 && len <= 16;
    for (size_t i = 0; digits && i < len; i++)
        digits = number[i] >= '0' && number[i] <= '9';
    if (!digits) {
        http_res_problem(res, 400, "invalid_batch", "a batch number is 11 to 16 digits", NULL);
        return NULL;
    }
    return number;
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

/* A bounded name ([a-z0-9_-], 1..48) from body; NULL when bad. */
static const char *name_of(const json_t *body, const char *member)
{
    const char *text = json_string_value(json_object_get(body, member));
    size_t len = text ? strlen(text) : 0;
    if (len == 0 || len > NAME_MAX_BYTES)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return NULL;
    }
    return text;
}

/* --- the carrier's webhook ------------------------------------------------------------ */

typedef struct {
    shipping_app_t *app;
    const track_news_t *news;
    track_outcome_t outcome;
} track_op_t;

static db_status_t track_tx(tx_t *tx, void *arg)
{
    track_op_t *op = arg;
    emitter_t em = emitter_root(tx->db, SHIPPING_STREAM);
    return shipments_track(op->app, &em, op->news, &op->outcome);
}

static const char *outcome_name(track_outcome_t outcome)
{
    switch (outcome) {
    case TRACK_APPLIED:
        return "applied";
    case TRACK_REPEATED:
        return "repeated";
    case TRACK_STALE:
        return "stale";
    default:
        return "unknown";
    }
}

/* Applies news in a transaction and answers {ok, applied}. */
static void apply_news(shipping_app_t *app, http_response_t *res, const track_news_t *news,
                       int not_found_status)
{
    db_t *db = service_session(app->svc, res, SERVICE_SESSION_WAIT_MS);
    if (!db)
        return;
    track_op_t op = {.app = app, .news = news};
    db_status_t status = service_tx(app->svc, db, track_tx, &op, NULL);
    if (status != DB_OK)
        service_answer_db_failure(res, db, status, "apply a tracking event");
    else if (op.outcome == TRACK_UNKNOWN && not_found_status != 200)
        http_res_problem(res, not_found_status, "not_found", "no such parcel out", NULL);
    else
        http_res_json_take(res, 200,
                           json_pack("{s:b, s:s}", "ok", 1, "applied", outcome_name(op.outcome)));
    service_session_release(app->svc, &db);
}

/* A carrier batch finished (its batch webhook): the batch job polls it
 * now rather than at its next poll; what the batch bought is read from
 * the carrier's API by the job, as when it polls. */
static void batch_webhook(shipping_app_t *app, http_response_t *res, const char *batch_id)
{
    db_t *db = service_session(app->svc, res, SERVICE_SESSION_WAIT_MS);
    if (!db)
        return;
    bool woken = false;
    db_status_t status = shipments_batch_wake(db, batch_id, &woken);
    if (status != DB_OK) {
        service_answer_db_failure(res, db, status, "wake the batch job");
    } else {
        metrics_counter_add(app->webhooks_total, 1);
        log_info("the carrier's batch webhook", LF_STR("carrier_batch_id", batch_id),
                 LF_INT("woken", woken ? 1 : 0));
        http_res_json_take(
            res, 200, json_pack("{s:b, s:s}", "ok", 1, "applied", woken ? "batch" : "unknown"));
    }
    service_session_release(app->svc, &db);
}

static void webhook_carrier(const http_request_t *req, http_response_t *res, void *arg)
{
    shipping_app_t *app = arg;
    if (!carrier_webhook_verify(app->webhook_secret, http_req_header(req, app->webhook_header))) {
        metrics_counter_add(app->webhooks_refused, 1);
        log_warn("a carrier webhook without the secret was refused", LF_ERR("bad_secret"));
        http_res_problem(res, 401, "bad_secret", "the webhook is not believed", NULL);
        return;
    }
    size_t len = 0;
    const char *body = http_req_body(req, &len);
    char batch_id[CARRIER_ID_SIZE];
    if (carrier_batch_webhook_parse(body, len, batch_id) == 0) {
        batch_webhook(app, res, batch_id);
        return;
    }
    carrier_track_t event;
    if (carrier_webhook_parse(body, len, &event) != 0 || !event.event_id[0]) {
        metrics_counter_add(app->webhooks_refused, 1);
        http_res_problem(res, 400, "bad_webhook", "not a tracking event with an id", NULL);
        return;
    }
    metrics_counter_add(app->webhooks_total, 1);
    track_news_t news = {.tracking_number = event.tracking_number,
                         .event_id = event.event_id,
                         .code = event.status_code,
                         .description = event.description,
                         .at_ms = event.at_ms,
                         .source = "webhook"};
    apply_news(app, res, &news, 200); /* unknown parcels: 200, or the carrier retries for ever */
}

/* --- reading ----------------------------------------------------------------------------- */

static void get_shipment(const http_request_t *req, http_response_t *res, void *arg)
{
    shipping_app_t *app = arg;
    auth_claims_t claims;
    if (!auth_require(service_auth(app->svc), req, res, ROLES_READ, &claims))
        return;
    const char *id = path_uuid(req, res, "id");
    db_t *db = id ? service_session(app->svc, res, SERVICE_SESSION_WAIT_MS) : NULL;
    if (!db)
        return;
    json_t *body = NULL;
    db_status_t status = store_shipment_json(db, id, &body);
    answer_json(res, db, status, body, "no shipment for that order");
    service_session_release(app->svc, &db);
}

static void get_warehouse(const http_request_t *req, http_response_t *res, void *arg)
{
    shipping_app_t *app = arg;
    auth_claims_t claims;
    if (!auth_require(service_auth(app->svc), req, res, ROLES_READ, &claims))
        return;
    const char *method = http_req_query(req, "method");
    static const char *const methods[] = {"courier", "post", "pickup_point", "self_pickup"};
    bool known = !method;
    for (size_t i = 0; method && i < sizeof methods / sizeof methods[0]; i++)
        known = known || strcmp(method, methods[i]) == 0;
    if (!known) {
        http_res_problem(res, 400, "invalid_method",
                         "method: courier, post, pickup_point or self_pickup", NULL);
        return;
    }
    db_t *db = service_session(app->svc, res, SERVICE_SESSION_WAIT_MS);
    if (!db)
        return;
    json_t *items = NULL;
    db_status_t status = store_warehouse_json(db, method, &items);
    if (status != DB_OK)
        service_answer_db_failure(res, db, status, "read the warehouse list");
    else
        http_res_json_take(res, 200, json_pack("{s:o}", "items", items));
    service_session_release(app->svc, &db);
}

/* --- the warehouse's paper -------------------------------------------------------------- */

typedef int (*document_fn)(const pdf_fonts_t *fonts, const json_t *source, unsigned char **pdf,
                           size_t *len, char why[DOCUMENT_WHY_SIZE]);

/* Renders source (read already; the session given back) and answers
 * application/pdf, or 500 pdf_failed saying why. */
static void answer_document(shipping_app_t *app, http_response_t *res, document_fn render,
                            const json_t *source, const char *name, const char *key)
{
    unsigned char *pdf = NULL;
    size_t len = 0;
    char why[DOCUMENT_WHY_SIZE] = "";
    if (render(&app->fonts, source, &pdf, &len, why) != 0) {
        log_error("a document could not be rendered", LF_ERR("pdf_failed"),
                  LF_STR("document", name), LF_STR("key", key), LF_STR("why", why));
        http_res_problem(res, 500, "pdf_failed", "the document could not be rendered", why);
        return;
    }
    metrics_counter_add(app->documents_total, 1);
    char disposition[96];
    snprintf(disposition, sizeof disposition, "inline; filename=\"%s-%s.pdf\"", name, key);
    http_res_bytes_take(res, 200, "application/pdf", pdf, len);
    http_res_header(res, "Content-Disposition", disposition);
}

static void parcel_document(const http_request_t *req, http_response_t *res, shipping_app_t *app,
                            document_fn render, const char *name)
{
    auth_claims_t claims;
    if (!auth_require(service_auth(app->svc), req, res, ROLES_WAREHOUSE, &claims))
        return;
    const char *id = path_uuid(req, res, "id");
    db_t *db = id ? service_session(app->svc, res, SERVICE_SESSION_WAIT_MS) : NULL;
    if (!db)
        return;
    json_t *parcel = NULL;
    db_status_t status = store_parcel_document_json(db, id, &parcel);
    if (status != DB_OK)
        service_answer_db_failure(res, db, status, "read a parcel for its document");
    service_session_release(app->svc, &db);
    if (status == DB_OK && !parcel)
        http_res_problem(res, 404, "not_found", "no shipment for that order", NULL);
    else if (status == DB_OK)
        answer_document(app, res, render, parcel, name, id);
    json_decref(parcel);
}

static void get_packing_slip(const http_request_t *req, http_response_t *res, void *arg)
{
    parcel_document(req, res, arg, documents_packing_slip, "packing-slip");
}

static void get_sticker(const http_request_t *req, http_response_t *res, void *arg)
{
    parcel_document(req, res, arg, documents_sticker, "sticker");
}

static void get_manifest(const http_request_t *req, http_response_t *res, void *arg)
{
    shipping_app_t *app = arg;
    auth_claims_t claims;
    if (!auth_require(service_auth(app->svc), req, res, ROLES_WAREHOUSE, &claims))
        return;
    const char *number = path_batch(req, res);
    db_t *db = number ? service_session(app->svc, res, SERVICE_SESSION_WAIT_MS) : NULL;
    if (!db)
        return;
    json_t *batch = NULL;
    db_status_t status = store_batch_document_json(db, number, app->timezone, &batch);
    if (status != DB_OK)
        service_answer_db_failure(res, db, status, "read a batch for its manifest");
    service_session_release(app->svc, &db);
    if (status == DB_OK && !batch)
        http_res_problem(res, 404, "not_found", "no such batch", NULL);
    else if (status == DB_OK)
        answer_document(app, res, documents_manifest, batch, "manifest", number);
    json_decref(batch);
}

/* --- a person's quote ------------------------------------------------------------------- */

typedef struct {
    const char *order_id;
    quote_override_t choice;
    bool found;
} override_op_t;

static db_status_t override_tx(tx_t *tx, void *arg)
{
    override_op_t *op = arg;
    emitter_t em = emitter_root(tx->db, SHIPPING_STREAM);
    return shipments_override(&em, op->order_id, &op->choice, &op->found);
}

static void post_quote(const http_request_t *req, http_response_t *res, void *arg)
{
    shipping_app_t *app = arg;
    auth_claims_t claims;
    if (!auth_require(service_auth(app->svc), req, res, ROLES_OVERRIDE, &claims))
        return;
    const char *id = path_uuid(req, res, "id");
    json_t *body = id ? http_req_json(req, res) : NULL;
    if (!body)
        return;
    const json_t *cost = json_object_get(body, "carrier_cost_minor");
    const char *carrier_id = json_string_value(json_object_get(body, "carrier_id"));
    override_op_t op = {
        .order_id = id,
        .choice = {.carrier = name_of(body, "carrier"),
                   .carrier_id = carrier_id ? carrier_id : "",
                   .service = name_of(body, "service"),
                   .package = name_of(body, "package"),
                   .cost_minor = json_is_integer(cost) ? (int64_t)json_integer_value(cost) : -1,
                   .actor = claims.subject}};
    if (!op.choice.carrier || !op.choice.service || !op.choice.package ||
        op.choice.cost_minor < 0 || op.choice.cost_minor > 100000000 ||
        strlen(op.choice.carrier_id) > 32) {
        http_res_problem(res, 422, "invalid_quote",
                         "carrier, service, package ([a-z0-9_-]) and carrier_cost_minor >= 0",
                         NULL);
        return;
    }
    db_t *db = service_session(app->svc, res, SERVICE_SESSION_WAIT_MS);
    if (!db)
        return;
    db_status_t status = service_tx(app->svc, db, override_tx, &op, NULL);
    if (status != DB_OK)
        service_answer_db_failure(res, db, status, "override a quote");
    else if (!op.found)
        http_res_problem(res, 409, "not_quotable", "no shipment, or its label is under way already",
                         NULL);
    else
        http_res_json_take(res, 200, json_pack("{s:b}", "ok", 1));
    service_session_release(app->svc, &db);
}

/* --- the courier ------------------------------------------------------------------------ */

typedef struct {
    const char *order_id;
    int64_t amount_minor;
    bool found;
} cash_op_t;

static db_status_t cash_tx(tx_t *tx, void *arg)
{
    cash_op_t *op = arg;
    emitter_t em = emitter_root(tx->db, SHIPPING_STREAM);
    return shipments_cash_collected(&em, op->order_id, op->amount_minor, &op->found);
}

static void post_courier(const http_request_t *req, http_response_t *res, void *arg)
{
    shipping_app_t *app = arg;
    auth_claims_t claims;
    if (!auth_require(service_auth(app->svc), req, res, ROLES_COURIER, &claims))
        return;
    const char *id = path_uuid(req, res, "id");
    json_t *body = id ? http_req_json(req, res) : NULL;
    if (!body)
        return;
    const char *event = name_of(body, "event");
    const char *note = json_string_value(json_object_get(body, "note"));
    if (note && strlen(note) > 500) {
        http_res_problem(res, 422, "invalid_note", "a note of 500 bytes at most", NULL);
        return;
    }
    static const struct {
        const char *event, *code, *words;
    } reports[] = {
        {"picked_up", "AC", "picked up by the courier"},
        {"delivered", "DE", "delivered by the courier"},
        {"failed", "AT", "the courier could not deliver"},
    };
    if (event && strcmp(event, "cash_collected") == 0) {
        const json_t *amount = json_object_get(body, "amount_minor");
        cash_op_t op = {.order_id = id,
                        .amount_minor =
                            json_is_integer(amount) ? (int64_t)json_integer_value(amount) : -1};
        if (op.amount_minor <= 0) {
            http_res_problem(res, 422, "invalid_amount", "amount_minor > 0", NULL);
            return;
        }
        db_t *db = service_session(app->svc, res, SERVICE_SESSION_WAIT_MS);
        if (!db)
            return;
        db_status_t status = service_tx(app->svc, db, cash_tx, &op, NULL);
        if (status != DB_OK)
            service_answer_db_failure(res, db, status, "record cash collected");
        else if (!op.found)
            http_res_problem(res, 404, "not_found", "no courier parcel out for that order", NULL);
        else
            http_res_json_take(res, 200, json_pack("{s:b}", "ok", 1));
        service_session_release(app->svc, &db);
        return;
    }
    const char *code = NULL, *words = NULL;
    for (size_t i = 0; event && i < sizeof reports / sizeof reports[0]; i++)
        if (strcmp(event, reports[i].event) == 0) {
            code = reports[i].code;
            words = reports[i].words;
        }
    if (!code) {
        http_res_problem(res, 422, "invalid_event",
                         "event: picked_up, delivered, cash_collected or failed", NULL);
        return;
    }
    char event_id[128], description[600];
    snprintf(event_id, sizeof event_id, "courier:%s:%s:%lld", id, event,
             (long long)(json_integer_value(json_object_get(body, "attempt"))));
    snprintf(description, sizeof description, "%s%s%s", words, note ? ": " : "", note ? note : "");
    track_news_t news = {.order_id = id,
                         .event_id = event_id,
                         .code = code,
                         .description = description,
                         .at_ms = clock_now_ms(),
                         .source = "courier"};
    apply_news(app, res, &news, 404);
}

/* --- the pickup counter ------------------------------------------------------------------ */

typedef struct {
    const char *order_id;
    int64_t amount_minor;
    const char *note;
    counter_outcome_t outcome;
    char state[24];
} counter_op_t;

static db_status_t counter_tx(tx_t *tx, void *arg)
{
    counter_op_t *op = arg;
    emitter_t em = emitter_root(tx->db, SHIPPING_STREAM);
    db_status_t status = shipments_counter_handover(&em, op->order_id, op->amount_minor, op->note,
                                                    &op->outcome, op->state, sizeof op->state);
    if (status == DB_OK && op->outcome != COUNTER_OK)
        tx_abandon(tx);
    return status;
}

/* POST /v1/shipments/{id}/handover {amount_minor?, note?}: the warehouse
 * hands a self-pickup order to its customer at the counter (delivered;
 * amount_minor: the cash taken, for an order paid on delivery). */
static void post_handover(const http_request_t *req, http_response_t *res, void *arg)
{
    shipping_app_t *app = arg;
    auth_claims_t claims;
    if (!auth_require(service_auth(app->svc), req, res, ROLES_WAREHOUSE, &claims))
        return;
    const char *id = path_uuid(req, res, "id");
    json_t *body = id ? http_req_json(req, res) : NULL;
    if (!body)
        return;
    const json_t *amount = json_object_get(body, "amount_minor");
    const json_t *note = json_object_get(body, "note");
    counter_op_t op = {.order_id = id,
                       .amount_minor = json_is_integer(amount) ? json_integer_value(amount) : 0,
                       .note = json_string_value(note)};
    if ((amount && !json_is_null(amount) && (!json_is_integer(amount) || op.amount_minor <= 0)) ||
        op.amount_minor > 1000000000000LL) {
        http_res_problem(res, 422, "invalid_amount",
                         "amount_minor: the cash taken, in kopecks, > 0 (none: nothing taken)",
                         NULL);
        return;
    }
    if ((note && !json_is_null(note) && !op.note) || (op.note && strlen(op.note) > 500)) {
        http_res_problem(res, 422, "invalid_note", "a note of 500 bytes at most", NULL);
        return;
    }
    db_t *db = service_session(app->svc, res, SERVICE_SESSION_WAIT_MS);
    if (!db)
        return;
    db_status_t status = service_tx(app->svc, db, counter_tx, &op, NULL);
    char detail[200];
    if (status != DB_OK) {
        service_answer_db_failure(res, db, status, "hand over at the counter");
    } else if (op.outcome == COUNTER_NOT_FOUND) {
        http_res_problem(res, 404, "not_found", "no parcel for that order", NULL);
    } else if (op.outcome == COUNTER_NOT_SELF_PICKUP) {
        snprintf(detail, sizeof detail,
                 "a %s order is delivered by its carrier or courier, not handed over at the "
                 "counter",
                 op.state);
        http_res_problem(res, 409, "not_self_pickup", "only a self-pickup order is handed over",
                         detail);
    } else if (op.outcome == COUNTER_NOT_READY) {
        snprintf(detail, sizeof detail,
                 "the parcel is %s; it is handed over once the warehouse has assembled it",
                 op.state);
        http_res_problem(res, 409, "not_ready_for_pickup", "the order is not ready for pickup",
                         detail);
    } else {
        http_res_json_take(res, 200, json_pack("{s:b}", "ok", 1));
    }
    service_session_release(app->svc, &db);
}

/* --- returns ------------------------------------------------------------------------------ */

typedef struct {
    const char *order_id;
    const char *reason;
    bool found;
} returned_op_t;

static db_status_t returned_tx(tx_t *tx, void *arg)
{
    returned_op_t *op = arg;
    emitter_t em = emitter_root(tx->db, SHIPPING_STREAM);
    return shipments_returned(&em, op->order_id, op->reason, &op->found);
}

static void post_returned(const http_request_t *req, http_response_t *res, void *arg)
{
    shipping_app_t *app = arg;
    auth_claims_t claims;
    if (!auth_require(service_auth(app->svc), req, res, ROLES_WAREHOUSE, &claims))
        return;
    const char *id = path_uuid(req, res, "id");
    json_t *body = id ? http_req_json(req, res) : NULL;
    if (!body)
        return;
    const char *reason = json_string_value(json_object_get(body, "reason"));
    if (!reason || !reason[0] || strlen(reason) > 500) {
        http_res_problem(res, 422, "invalid_reason", "a reason of 1 to 500 bytes", NULL);
        return;
    }
    db_t *db = service_session(app->svc, res, SERVICE_SESSION_WAIT_MS);
    if (!db)
        return;
    returned_op_t op = {.order_id = id, .reason = reason};
    db_status_t status = service_tx(app->svc, db, returned_tx, &op, NULL);
    if (status != DB_OK)
        service_answer_db_failure(res, db, status, "record a return");
    else if (!op.found)
        http_res_problem(res, 409, "not_out", "the order's parcel is not with the carrier", NULL);
    else
        http_res_json_take(res, 200, json_pack("{s:b}", "ok", 1));
    service_session_release(app->svc, &db);
}

/* --- batches ------------------------------------------------------------------------------- */

typedef struct {
    shipping_app_t *app;
    const char *number;
    const char *order_id;
    const char *actor;
    char created[24];
    char status[16];
    int outcome; /* add: 0 added, 1 elsewhere, 2 unknown; 3 batch not open; 4 no batch */
} batch_op_t;

static db_status_t batch_create_tx(tx_t *tx, void *arg)
{
    batch_op_t *op = arg;
    return store_batch_create(tx->db, op->app->timezone, op->actor, op->created);
}

static void post_batch(const http_request_t *req, http_response_t *res, void *arg)
{
    shipping_app_t *app = arg;
    auth_claims_t claims;
    if (!auth_require(service_auth(app->svc), req, res, ROLES_WAREHOUSE, &claims))
        return;
    db_t *db = service_session(app->svc, res, SERVICE_SESSION_WAIT_MS);
    if (!db)
        return;
    batch_op_t op = {.app = app, .actor = claims.subject};
    db_status_t status = service_tx(app->svc, db, batch_create_tx, &op, NULL);
    if (status != DB_OK)
        service_answer_db_failure(res, db, status, "create a batch");
    else
        http_res_json_take(res, 201,
                           json_pack("{s:s, s:s}", "number", op.created, "status", "open"));
    service_session_release(app->svc, &db);
}

static void get_batch(const http_request_t *req, http_response_t *res, void *arg)
{
    shipping_app_t *app = arg;
    auth_claims_t claims;
    if (!auth_require(service_auth(app->svc), req, res, ROLES_READ, &claims))
        return;
    const char *number = path_batch(req, res);
    db_t *db = number ? service_session(app->svc, res, SERVICE_SESSION_WAIT_MS) : NULL;
    if (!db)
        return;
    json_t *body = NULL;
    db_status_t status = store_batch_json(db, number, &body);
    answer_json(res, db, status, body, "no such batch");
    service_session_release(app->svc, &db);
}

static db_status_t batch_change_tx(tx_t *tx, void *arg)
{
    batch_op_t *op = arg;
    db_status_t status = store_batch_lock(tx->db, op->number, op->status);
    if (status != DB_OK)
        return status;
    if (!op->status[0]) {
        op->outcome = 4;
        return DB_OK;
    }
    if (strcmp(op->status, "open") != 0) {
        op->outcome = 3;
        return DB_OK;
    }
    emitter_t em = emitter_root(tx->db, SHIPPING_STREAM);
    if (op->actor) { /* adding: a returned parcel ships again */
        status = shipments_reship(&em, op->order_id);
        if (status == DB_OK)
            status = store_batch_add(tx->db, op->number, op->order_id, &op->outcome);
        return status;
    }
    bool removed = false;
    status = store_batch_remove(tx->db, op->number, op->order_id, &removed);
    op->outcome = removed ? 0 : 2;
    if (status == DB_OK && removed) /* its label was left to the batch */
        status = shipments_unbatched(tx->db, op->order_id);
    return status;
}

static void batch_change(const http_request_t *req, http_response_t *res, shipping_app_t *app,
                         bool adding)
{
    auth_claims_t claims;
    if (!auth_require(service_auth(app->svc), req, res, ROLES_WAREHOUSE, &claims))
        return;
    const char *number = path_batch(req, res);
    if (!number)
        return;
    const char *order_id = NULL;
    if (adding) {
        json_t *body = http_req_json(req, res);
        if (!body)
            return;
        order_id = json_string_value(json_object_get(body, "order_id"));
        if (!uuid_valid(order_id)) {
            http_res_problem(res, 422, "invalid_order", "order_id: a UUID", NULL);
            return;
        }
    } else if (!(order_id = path_uuid(req, res, "id"))) {
        return;
    }
    db_t *db = service_session(app->svc, res, SERVICE_SESSION_WAIT_MS);
    if (!db)
        return;
    batch_op_t op = {.app = app,
                     .number = number,
                     .order_id = order_id,
                     .actor = adding ? claims.subject : NULL};
    db_status_t status = service_tx(app->svc, db, batch_change_tx, &op, NULL);
    static const struct {
        int status;
        const char *code, *title;
    } answers[] = {
        {200, "ok", "ok"},
        {409, "in_another_batch", "the parcel is in another open batch"},
        {404, "not_found", "no shipment for that order in the batch"},
        {409, "batch_closed", "the batch is no longer open"},
        {404, "not_found", "no such batch"},
    };
    if (status != DB_OK)
        service_answer_db_failure(res, db, status, "change a batch");
    else if (op.outcome == 0)
        http_res_json_take(res, 200, json_pack("{s:b}", "ok", 1));
    else
        http_res_problem(res, answers[op.outcome].status, answers[op.outcome].code,
                         answers[op.outcome].title, NULL);
    service_session_release(app->svc, &db);
}

static void post_batch_add(const http_request_t *req, http_response_t *res, void *arg)
{
    batch_change(req, res, arg, true);
}

static void delete_batch_member(const http_request_t *req, http_response_t *res, void *arg)
{
    batch_change(req, res, arg, false);
}

static db_status_t batch_process_tx(tx_t *tx, void *arg)
{
    batch_op_t *op = arg;
    db_status_t status = store_batch_lock(tx->db, op->number, op->status);
    if (status != DB_OK || !op->status[0] || strcmp(op->status, "open") != 0) {
        op->outcome = !op->status[0] ? 4 : 3;
        return status;
    }
    json_t *members = NULL;
    status = store_batch_members(tx->db, op->number, &members);
    emitter_t em = emitter_root(tx->db, SHIPPING_STREAM);
    size_t i;
    json_t *member;
    json_array_foreach(members, i, member)
    {
        if (status != DB_OK)
            break;
        const char *state = json_string_value(json_object_get(member, "state"));
        if (state && strcmp(state, "new") == 0)
            status =
                shipments_assembled(&em, json_string_value(json_object_get(member, "order_id")), 0);
    }
    json_decref(members);
    if (status == DB_OK)
        status = store_batch_status(tx->db, op->number, "processing", NULL, NULL);
    if (status == DB_OK) {
        char payload[64], dedup[64];
        snprintf(payload, sizeof payload, "{\"number\":\"%s\"}", op->number);
        shipments_batch_key(op->number, dedup, sizeof dedup);
        job_spec_t spec = {
            .kind = JOB_BATCH, .payload = payload, .dedup_key = dedup, .max_attempts = 200};
        status = jobs_enqueue(tx->db, &spec, NULL, NULL);
    }
    op->outcome = 0;
    return status;
}

static void post_batch_process(const http_request_t *req, http_response_t *res, void *arg)
{
    shipping_app_t *app = arg;
    auth_claims_t claims;
    if (!auth_require(service_auth(app->svc), req, res, ROLES_WAREHOUSE, &claims))
        return;
    const char *number = path_batch(req, res);
    db_t *db = number ? service_session(app->svc, res, SERVICE_SESSION_WAIT_MS) : NULL;
    if (!db)
        return;
    batch_op_t op = {.app = app, .number = number};
    db_status_t status = service_tx(app->svc, db, batch_process_tx, &op, NULL);
    if (status != DB_OK)
        service_answer_db_failure(res, db, status, "process a batch");
    else if (op.outcome == 4)
        http_res_problem(res, 404, "not_found", "no such batch", NULL);
    else if (op.outcome == 3)
        http_res_problem(res, 409, "batch_closed", "the batch was processed already", NULL);
    else
        http_res_json_take(res, 202,
                           json_pack("{s:s, s:s}", "number", number, "status", "processing"));
    service_session_release(app->svc, &db);
}

int api_register(http_server_t *http, shipping_app_t *app)
{
    static const struct {
        const char *method, *pattern;
        http_handler_fn fn;
    } routes[] = {
        {"POST", "/v1/webhooks/carrier", webhook_carrier},
        {"GET", "/v1/shipments/{id}", get_shipment},
        {"POST", "/v1/shipments/{id}/quote", post_quote},
        {"POST", "/v1/shipments/{id}/courier", post_courier},
        {"POST", "/v1/shipments/{id}/returned", post_returned},
        {"POST", "/v1/shipments/{id}/handover", post_handover},
        {"GET", "/v1/warehouse/orders", get_warehouse},
        {"POST", "/v1/batches", post_batch},
        {"GET", "/v1/batches/{number}", get_batch},
        {"POST", "/v1/batches/{number}/shipments", post_batch_add},
        {"DELETE", "/v1/batches/{number}/shipments/{id}", delete_batch_member},
        {"POST", "/v1/batches/{number}/process", post_batch_process},
        {"GET", "/v1/shipments/{id}/packing-slip.pdf", get_packing_slip},
        {"GET", "/v1/shipments/{id}/sticker.pdf", get_sticker},
        {"GET", "/v1/batches/{number}/manifest.pdf", get_manifest},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (http_route(http, routes[i].method, routes[i].pattern, routes[i].fn, app) != 0)
            return -1;
    return http_route_body_limit(http, "POST", "/v1/webhooks/carrier", CARRIER_WEBHOOK_MAX);
}
