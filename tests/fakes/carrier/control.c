/*
 * control.c — the fake carrier's control API under /_fake/, for tests,
 * the bench and the `make run` sandbox: arm failures, move parcels along,
 * change the latency, and see what the fake received and sold.
 *
 *   POST /_fake/faults   {op, kind, http_status, retry_after_s, apply, delay_ms, skip,
 *                        count}: past skip calls of op let through (0), the next count
 *                        calls of op (validate, rates, shipments.create, shipments.get,
 *                        shipments.cancel, labels.create, labels.list, labels.get,
 *                        labels.void, batches.create, batches.add, batches.remove,
 *                        batches.process, manifests.create, manifests.list, tracking.get,
 *                        "*") fail: http (http_status; 429 with Retry-After: retry_after_s;
 *                        apply: done first), lose_reply (apply: done, the answer held
 *                        delay_ms past the client's timeout; else 504 after delay_ms),
 *                        no_rates (rates: none returned), insufficient_funds
 *                        (labels.create: refused), completed_with_errors (batches.process:
 *                        one shipment of the batch gets no label)
 *   POST /_fake/webhooks/faults {kind: duplicate|reorder|drop, count}: the next count
 *                        tracking webhooks are sent twice, held until the next one is sent
 *                        (out of order), or never
 *   POST /_fake/track    {tracking_number, status_code (AC IT DE EX AT SP UN), description}:
 *                        a tracking event; the subscriber gets its webhook
 *   POST /_fake/latency  {latency_ms}: how long every API call takes from now on
 *   GET  /_fake/requests?op=   what the fake received, oldest first
 *   GET  /_fake/webhooks       what it sent, with attempts and the last status
 *   GET  /_fake/labels?external_shipment_id=   labels sold, voided ones included
 *   GET  /_fake/stats    {shipments, labels, labels_voided, shipments_with_labels,
 *                        shipments_sold_twice}: the last must stay 0
 *   POST /_fake/reset    forget every object, fault and request
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fakes/carrier/fakecarrier.h"

static json_t *body_of(const http_request_t *req, http_response_t *res)
{
    size_t len = 0;
    const char *body = http_req_body(req, &len);
    json_t *parsed = json_loadb(body ? body : "", len, 0, NULL);
    if (!json_is_object(parsed)) {
        json_decref(parsed);
        http_res_problem(res, 400, "bad_json", "the body is not a JSON object", NULL);
        return NULL;
    }
    return parsed;
}

static void copy_member(char *out, size_t size, const json_t *object, const char *name,
                        const char *fallback)
{
    const char *value = json_string_value(json_object_get(object, name));
    snprintf(out, size, "%s", value ? value : fallback);
}

static int64_t int_member(const json_t *object, const char *name, int64_t fallback)
{
    const json_t *value = json_object_get(object, name);
    return json_is_integer(value) ? (int64_t)json_integer_value(value) : fallback;
}

static void on_faults(const http_request_t *req, http_response_t *res, void *arg)
{
    fc_t *fake = arg;
    json_t *body = body_of(req, res);
    if (!body)
        return;
    fc_fault_t fault;
    memset(&fault, 0, sizeof fault);
    copy_member(fault.op, sizeof fault.op, body, "op", "*");
    copy_member(fault.kind, sizeof fault.kind, body, "kind", "");
    fault.http_status = (int)int_member(body, "http_status", 500);
    fault.retry_after_s = int_member(body, "retry_after_s", 1);
    fault.apply = json_is_true(json_object_get(body, "apply"));
    fault.delay_ms = int_member(body, "delay_ms", 3000);
    fault.count = (int)int_member(body, "count", 1);
    int64_t skip = int_member(body, "skip", 0);
    json_decref(body);
    static const char *const kinds[] = {
        "http",       "lose_reply",   "no_rates", "insufficient_funds", "completed_with_errors",
        "auth_fault", "history_fault"};
    bool known = false;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        known = known || strcmp(fault.kind, kinds[i]) == 0;
    if (!known || fault.count < 1 || fault.count > 100000 || skip < 0 || skip > 100000 ||
        fault.http_status < 100 || fault.http_status > 599 || fault.delay_ms < 0 ||
        fault.delay_ms > 600000 || fault.retry_after_s < 0 || fault.retry_after_s > 3600) {
        http_res_problem(res, 422, "bad_fault", "unknown kind, or a bad number", NULL);
        return;
    }
    fault.skip = (int)skip;
    pthread_mutex_lock(&fake->lock);
    bool armed = false;
    for (size_t i = 0; i < FC_FAULTS_MAX && !armed; i++)
        if (fake->faults[i].count <= 0) {
            fake->faults[i] = fault;
            armed = true;
        }
    pthread_mutex_unlock(&fake->lock);
    if (armed)
        http_res_json_take(res, 201, json_pack("{s:b}", "armed", true));
    else
        http_res_problem(res, 409, "too_many_faults", "every fault slot is armed", NULL);
}

static void on_webhook_faults(const http_request_t *req, http_response_t *res, void *arg)
{
    fc_t *fake = arg;
    json_t *body = body_of(req, res);
    if (!body)
        return;
    char kind[24];
    copy_member(kind, sizeof kind, body, "kind", "");
    int64_t count = int_member(body, "count", 1);
    json_decref(body);
    if ((strcmp(kind, "duplicate") != 0 && strcmp(kind, "reorder") != 0 &&
         strcmp(kind, "drop") != 0) ||
        count < 1 || count > 1000) {
        http_res_problem(res, 422, "bad_fault", "kind duplicate|reorder|drop, count 1..1000", NULL);
        return;
    }
    pthread_mutex_lock(&fake->lock);
    snprintf(fake->webhook_fault, sizeof fake->webhook_fault, "%s", kind);
    fake->webhook_fault_count = (int)count;
    pthread_mutex_unlock(&fake->lock);
    http_res_json_take(res, 201, json_pack("{s:b}", "armed", true));
}

static void on_track(const http_request_t *req, http_response_t *res, void *arg)
{
    fc_t *fake = arg;
    json_t *body = body_of(req, res);
    if (!body)
        return;
    char number[40], code[4], description[FC_TEXT_SIZE];
    copy_member(number, sizeof number, body, "tracking_number", "");
    copy_member(code, sizeof code, body, "status_code", "");
    copy_member(description, sizeof description, body, "description", "");
    json_decref(body);
    static const char *const codes[] = {"UN", "AC", "IT", "DE", "EX", "AT", "NY", "SP"};
    bool known = false;
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        known = known || strcmp(code, codes[i]) == 0;
    if (!known) {
        http_res_problem(res, 422, "bad_status", "status_code: UN AC IT DE EX AT NY SP", NULL);
        return;
    }
    pthread_mutex_lock(&fake->lock);
    fc_label_t *label = fc_label_by_tracking(fake, number);
    json_t *out = NULL;
    if (label) {
        fc_track_event(fake, label, code, description);
        out = fc_tracking_json(label);
    }
    pthread_mutex_unlock(&fake->lock);
    if (out)
        http_res_json_take(res, 201, out);
    else
        http_res_problem(res, 404, "not_found", "no label with this tracking number", number);
}

static void on_latency(const http_request_t *req, http_response_t *res, void *arg)
{
    fc_t *fake = arg;
    json_t *body = body_of(req, res);
    if (!body)
        return;
    int64_t ms = int_member(body, "latency_ms", -1);
    json_decref(body);
    if (ms < 0 || ms > 60000) {
        http_res_problem(res, 422, "bad_latency", "latency_ms: 0..60000", NULL);
        return;
    }
    pthread_mutex_lock(&fake->lock);
    fake->config.latency_ms = ms;
    pthread_mutex_unlock(&fake->lock);
    http_res_json_take(res, 200, json_pack("{s:I}", "latency_ms", (json_int_t)ms));
}

static void on_requests(const http_request_t *req, http_response_t *res, void *arg)
{
    fc_t *fake = arg;
    const char *op = http_req_query(req, "op");
    json_t *list = json_array();
    pthread_mutex_lock(&fake->lock);
    int64_t first = fake->request_seq > FC_REQUESTS_MAX ? fake->request_seq - FC_REQUESTS_MAX : 0;
    for (int64_t seq = first + 1; seq <= fake->request_seq; seq++) {
        const fc_request_t *request = &fake->requests[(seq - 1) % FC_REQUESTS_MAX];
        if (op && strcmp(op, request->op) != 0)
            continue;
        json_array_append_new(list,
                              json_pack("{s:I, s:s, s:s, s:s, s:s}", "seq",
                                        (json_int_t)request->seq, "op", request->op, "method",
                                        request->method, "path", request->path ? request->path : "",
                                        "body", request->body ? request->body : ""));
    }
    pthread_mutex_unlock(&fake->lock);
    http_res_json_take(res, 200, json_pack("{s:o}", "requests", list));
}

static void on_webhooks(const http_request_t *req, http_response_t *res, void *arg)
{
    (void)req;
    fc_t *fake = arg;
    json_t *list = json_array();
    pthread_mutex_lock(&fake->lock);
    for (size_t i = 0; i < fake->webhook_count; i++) {
        const fc_webhook_t *hook = &fake->webhooks[i];
        json_array_append_new(list, json_pack("{s:I, s:s, s:s, s:i, s:i, s:b}", "seq",
                                              (json_int_t)hook->seq, "url", hook->url, "body",
                                              hook->body, "attempts", hook->attempts, "last_status",
                                              hook->last_status, "done", hook->done));
    }
    pthread_mutex_unlock(&fake->lock);
    http_res_json_take(res, 200, json_pack("{s:o}", "webhooks", list));
}

static void on_labels(const http_request_t *req, http_response_t *res, void *arg)
{
    fc_t *fake = arg;
    const char *external = http_req_query(req, "external_shipment_id");
    json_t *list = json_array();
    pthread_mutex_lock(&fake->lock);
    for (size_t i = 0; i < fake->label_count; i++)
        if (!external || strcmp(fake->labels[i]->external_id, external) == 0)
            json_array_append_new(list, fc_label_json(fake, fake->labels[i]));
    pthread_mutex_unlock(&fake->lock);
    http_res_json_take(res, 200, json_pack("{s:o}", "labels", list));
}

static void on_stats(const http_request_t *req, http_response_t *res, void *arg)
{
    (void)req;
    fc_t *fake = arg;
    pthread_mutex_lock(&fake->lock);
    size_t voided = 0, with_labels = 0, twice = 0;
    for (size_t i = 0; i < fake->label_count; i++)
        voided += strcmp(fake->labels[i]->status, "voided") == 0;
    for (size_t i = 0; i < fake->shipment_count; i++) {
        with_labels += fake->shipments[i]->labels_bought > 0;
        twice += fake->shipments[i]->labels_bought > 1;
    }
    json_t *out =
        json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "shipments", (json_int_t)fake->shipment_count,
                  "labels", (json_int_t)fake->label_count, "labels_voided", (json_int_t)voided,
                  "shipments_with_labels", (json_int_t)with_labels, "shipments_sold_twice",
                  (json_int_t)twice, "batches", (json_int_t)fake->batch_count);
    pthread_mutex_unlock(&fake->lock);
    http_res_json_take(res, 200, out);
}

static void on_reset(const http_request_t *req, http_response_t *res, void *arg)
{
    (void)req;
    fc_t *fake = arg;
    pthread_mutex_lock(&fake->lock);
    fc_reset(fake);
    pthread_mutex_unlock(&fake->lock);
    http_res_json_take(res, 200, json_pack("{s:b}", "reset", true));
}

static void on_probe(const http_request_t *req, http_response_t *res, void *arg)
{
    (void)req;
    (void)arg;
    http_res_json_take(res, 200, json_pack("{s:s}", "status", "ok"));
}

int fc_control_routes(http_server_t *server, fc_t *fake)
{
    struct {
        const char *method, *pattern;
        http_handler_fn fn;
    } routes[] = {
        {"POST", "/_fake/faults", on_faults},
        {"POST", "/_fake/webhooks/faults", on_webhook_faults},
        {"POST", "/_fake/track", on_track},
        {"POST", "/_fake/latency", on_latency},
        {"GET", "/_fake/requests", on_requests},
        {"GET", "/_fake/webhooks", on_webhooks},
        {"GET", "/_fake/labels", on_labels},
        {"GET", "/_fake/stats", on_stats},
        {"POST", "/_fake/reset", on_reset},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (http_route(server, routes[i].method, routes[i].pattern, routes[i].fn, fake) != 0)
            return -1;
    if (http_route_probe(server, "GET", "/healthz", on_probe, fake) != 0 ||
        http_route_probe(server, "GET", "/readyz", on_probe, fake) != 0)
        return -1;
    return 0;
}
