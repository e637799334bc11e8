/*
 * control.c — the fake bank's control API under /_fake/, for tests and the
 * `make run` sandbox: arm failures, pay without a browser, send a spoofed
 * webhook, and see what the fake received and sent.
 *
 *   POST /_fake/faults          {provider, op, kind, http_status, apply, error_code,
 *                                error_message, delay_ms, count}: the next count calls of op
 *                                (register, getOrderStatusExtended, refund, reverse, deposit,
 *                                decline;
 *                                payments.create, payments.get, payments.capture,
 *                                payments.cancel, refunds.create, refunds.get; "*": any) fail:
 *                                lose_reply (done, the answer held delay_ms, past the
 *                                client's timeout), http (status http_status; apply: done
 *                                first), error_code (Sberbank: that errorCode, nothing done),
 *                                processing (YooKassa 202, nothing done), pending
 *                                (refunds.create: the refund stays pending, no webhook)
 *   POST /_fake/notices/faults  {provider, kind, delay_ms, count}: the next count
 *                                notifications are sent twice (duplicate), late (delay: a
 *                                later one overtakes it), with a wrong checksum
 *                                (bad_checksum), none (no_checksum), or never (drop)
 *   POST /_fake/pay             {provider, id, action: pay|decline, amount}: the payment page's
 * POST POST /_fake/sberbank/orders/{id}/expire   the order's session runs out now POST
 * /_fake/yookassa/webhook {url}: where webhooks go from now on POST /_fake/yookassa/spoof  {url,
 * payment_id, event, status, amount}: one webhook that YooKassa did not send (the payment as the
 * fake has it, with status and amount as given) GET  /_fake/requests?provider=&op=        what the
 * fake received, oldest first GET  /_fake/notices?provider=             what it sent or holds, with
 * attempts GET  /_fake/sberbank/orders/{id}          an order (mdOrder or orderNumber), its
 *                                             orderBundle and refunds' refundItems
 *   GET  /_fake/yookassa/payments/{id}        a payment, with the request it came in
 *   GET  /_fake/yookassa/refunds/{id}         a refund, with its request (receipt)
 *   POST /_fake/yookassa/refunds/{id}/settle  {status: succeeded|canceled, reason}: a pending
 *                                             refund settled (succeeded: its webhook is sent)
 *   GET  /_fake/stats                         how many orders, payments, refunds it holds
 *   POST /_fake/reset                         forget everything
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "tests/fakes/bank/fakebank.h"

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
    fake_t *fake = arg;
    json_t *body = body_of(req, res);
    if (!body)
        return;
    fake_fault_t fault;
    memset(&fault, 0, sizeof fault);
    copy_member(fault.provider, sizeof fault.provider, body, "provider", "");
    copy_member(fault.op, sizeof fault.op, body, "op", "*");
    copy_member(fault.kind, sizeof fault.kind, body, "kind", "");
    copy_member(fault.error_code, sizeof fault.error_code, body, "error_code", "7");
    copy_member(fault.error_message, sizeof fault.error_message, body, "error_message", "");
    fault.http_status = (int)int_member(body, "http_status", 500);
    fault.apply = json_is_true(json_object_get(body, "apply"));
    fault.delay_ms = int_member(body, "delay_ms", 0);
    fault.count = (int)int_member(body, "count", 1);
    json_decref(body);
    bool known = strcmp(fault.kind, "lose_reply") == 0 || strcmp(fault.kind, "http") == 0 ||
                 strcmp(fault.kind, "error_code") == 0 || strcmp(fault.kind, "processing") == 0 ||
                 strcmp(fault.kind, "pending") == 0;
    if (!known ||
        (strcmp(fault.provider, "sberbank") != 0 && strcmp(fault.provider, "yookassa") != 0) ||
        fault.count < 1 || fault.count > 1000 || fault.http_status < 100 ||
        fault.http_status > 599 || fault.delay_ms < 0 || fault.delay_ms > 600000) {
        http_res_problem(res, 422, "bad_fault", "unknown provider or kind, or a bad number", NULL);
        return;
    }
    pthread_mutex_lock(&fake->lock);
    bool armed = false;
    for (size_t i = 0; i < FAKE_FAULTS_MAX && !armed; i++)
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

static void on_notice_faults(const http_request_t *req, http_response_t *res, void *arg)
{
    fake_t *fake = arg;
    json_t *body = body_of(req, res);
    if (!body)
        return;
    fake_notice_fault_t fault;
    memset(&fault, 0, sizeof fault);
    copy_member(fault.provider, sizeof fault.provider, body, "provider", "");
    copy_member(fault.kind, sizeof fault.kind, body, "kind", "");
    fault.delay_ms = int_member(body, "delay_ms", 1000);
    fault.count = (int)int_member(body, "count", 1);
    json_decref(body);
    static const char *const kinds[] = {"duplicate", "delay", "bad_checksum", "no_checksum",
                                        "drop"};
    bool known = false;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        known = known || strcmp(fault.kind, kinds[i]) == 0;
    if (!known ||
        (strcmp(fault.provider, "sberbank") != 0 && strcmp(fault.provider, "yookassa") != 0) ||
        fault.count < 1 || fault.count > 1000 || fault.delay_ms < 0 || fault.delay_ms > 600000) {
        http_res_problem(res, 422, "bad_fault", "unknown provider or kind, or a bad number", NULL);
        return;
    }
    pthread_mutex_lock(&fake->lock);
    bool armed = false;
    for (size_t i = 0; i < FAKE_FAULTS_MAX && !armed; i++)
        if (fake->notice_faults[i].count <= 0) {
            fake->notice_faults[i] = fault;
            armed = true;
        }
    pthread_mutex_unlock(&fake->lock);
    if (armed)
        http_res_json_take(res, 201, json_pack("{s:b}", "armed", true));
    else
        http_res_problem(res, 409, "too_many_faults", "every fault slot is armed", NULL);
}

static void on_pay(const http_request_t *req, http_response_t *res, void *arg)
{
    fake_t *fake = arg;
    json_t *body = body_of(req, res);
    if (!body)
        return;
    const char *provider = json_string_value(json_object_get(body, "provider"));
    const char *id = json_string_value(json_object_get(body, "id"));
    const char *action = json_string_value(json_object_get(body, "action"));
    int64_t amount = int_member(body, "amount", 0);
    bool pay = action && strcmp(action, "pay") == 0;
    int rc = -2;
    pthread_mutex_lock(&fake->lock);
    if (provider && strcmp(provider, "sberbank") == 0) {
        fake_sber_order_t *order = fake_sber_find(fake, id, NULL);
        rc = order ? fake_sber_pay(fake, order, pay, amount) : -2;
    } else if (provider && strcmp(provider, "yookassa") == 0) {
        fake_yoo_payment_t *payment = fake_yoo_find(fake, id);
        rc = payment ? fake_yoo_pay(fake, payment, pay, amount) : -2;
    }
    pthread_mutex_unlock(&fake->lock);
    json_decref(body);
    if (rc == -2)
        http_res_problem(res, 404, "not_found", "no such payment", NULL);
    else if (rc != 0)
        http_res_problem(res, 409, "not_waiting", "the payment is not waiting for the customer",
                         NULL);
    else
        http_res_json_take(res, 200, json_pack("{s:b}", "done", true));
}

static void on_expire(const http_request_t *req, http_response_t *res, void *arg)
{
    fake_t *fake = arg;
    pthread_mutex_lock(&fake->lock);
    fake_sber_order_t *order = fake_sber_find(fake, http_req_param(req, "id"), NULL);
    if (order) {
        order->expires_ms = clock_now_ms() - 1;
        fake_sber_touch(fake, order);
        http_res_json_take(res, 200, fake_sber_order_json(order));
    } else {
        http_res_problem(res, 404, "not_found", "no such order", NULL);
    }
    pthread_mutex_unlock(&fake->lock);
}

static void on_webhook_url(const http_request_t *req, http_response_t *res, void *arg)
{
    fake_t *fake = arg;
    json_t *body = body_of(req, res);
    if (!body)
        return;
    const char *url = json_string_value(json_object_get(body, "url"));
    char *copy = url ? strdup(url) : NULL;
    pthread_mutex_lock(&fake->lock);
    free(fake->config.yoo_webhook_url);
    fake->config.yoo_webhook_url = copy;
    pthread_mutex_unlock(&fake->lock);
    http_res_json_take(res, 200, json_pack("{s:s?}", "url", url));
    json_decref(body); /* url lives in it */
}

static void on_spoof(const http_request_t *req, http_response_t *res, void *arg)
{
    fake_t *fake = arg;
    json_t *body = body_of(req, res);
    if (!body)
        return;
    const char *payment_id = json_string_value(json_object_get(body, "payment_id"));
    const char *event = json_string_value(json_object_get(body, "event"));
    const char *status = json_string_value(json_object_get(body, "status"));
    const json_t *amount = json_object_get(body, "amount");
    pthread_mutex_lock(&fake->lock);
    const char *url = json_string_value(json_object_get(body, "url"));
    if (!url)
        url = fake->config.yoo_webhook_url;
    fake_yoo_payment_t *payment = fake_yoo_find(fake, payment_id);
    json_t *object = payment ? fake_yoo_payment_json(fake, payment)
                             : json_pack("{s:s?, s:s, s:b}", "id", payment_id, "status",
                                         "succeeded", "paid", true);
    if (object && status)
        json_object_set_new(object, "status", json_string(status));
    if (object && status && strcmp(status, "succeeded") == 0)
        json_object_set_new(object, "paid", json_true());
    if (object && json_is_string(amount))
        json_object_set_new(object, "amount",
                            json_pack("{s:O, s:s}", "value", amount, "currency", "RUB"));
    bool sent = object && url && event;
    if (sent)
        fake_notify_spoof_take(
            fake, url,
            json_pack("{s:s, s:s, s:o}", "type", "notification", "event", event, "object", object));
    else
        json_decref(object);
    pthread_mutex_unlock(&fake->lock);
    json_decref(body);
    if (sent)
        http_res_json_take(res, 202, json_pack("{s:b}", "queued", true));
    else
        http_res_problem(res, 422, "bad_spoof", "event and a webhook URL are required", NULL);
}

static void on_requests(const http_request_t *req, http_response_t *res, void *arg)
{
    fake_t *fake = arg;
    const char *provider = http_req_query(req, "provider");
    const char *op = http_req_query(req, "op");
    json_t *list = json_array();
    pthread_mutex_lock(&fake->lock);
    int64_t first =
        fake->request_seq > FAKE_REQUESTS_MAX ? fake->request_seq - FAKE_REQUESTS_MAX : 0;
    for (int64_t seq = first + 1; seq <= fake->request_seq; seq++) {
        const fake_request_t *r = &fake->requests[(seq - 1) % FAKE_REQUESTS_MAX];
        if ((provider && strcmp(provider, r->provider) != 0) || (op && strcmp(op, r->op) != 0))
            continue;
        json_array_append_new(list,
                              json_pack("{s:I, s:s, s:s, s:s, s:s?, s:s?, s:s, s:i}", "seq",
                                        (json_int_t)r->seq, "provider", r->provider, "op", r->op,
                                        "method", r->method, "path", r->path, "body", r->body,
                                        "idempotence_key", r->key, "status", r->status));
    }
    pthread_mutex_unlock(&fake->lock);
    http_res_json_take(res, 200, json_pack("{s:o}", "requests", list));
}

static void on_notices(const http_request_t *req, http_response_t *res, void *arg)
{
    fake_t *fake = arg;
    const char *provider = http_req_query(req, "provider");
    json_t *list = json_array();
    pthread_mutex_lock(&fake->lock);
    for (size_t i = 0; i < fake->notice_count; i++) {
        const fake_notice_t *n = &fake->notices[i];
        if (provider && strcmp(provider, n->provider) != 0)
            continue;
        json_array_append_new(
            list, json_pack("{s:I, s:s, s:s, s:s, s:s?, s:i, s:i, s:b, s:s}", "seq",
                            (json_int_t)n->seq, "provider", n->provider, "method", n->method, "url",
                            n->url ? n->url : "", "body", n->body, "attempts", n->attempts,
                            "last_status", n->last_status, "done", n->done, "fault", n->fault));
    }
    pthread_mutex_unlock(&fake->lock);
    http_res_json_take(res, 200, json_pack("{s:o}", "notices", list));
}

static void on_sber_order(const http_request_t *req, http_response_t *res, void *arg)
{
    fake_t *fake = arg;
    const char *id = http_req_param(req, "id");
    pthread_mutex_lock(&fake->lock);
    fake_sber_order_t *order = fake_sber_find(fake, id, NULL);
    if (!order)
        order = fake_sber_find(fake, NULL, id);
    json_t *body = order ? fake_sber_order_json(order) : NULL;
    pthread_mutex_unlock(&fake->lock);
    if (body)
        http_res_json_take(res, 200, body);
    else
        http_res_problem(res, 404, "not_found", "no such order", NULL);
}

static void on_yoo_payment(const http_request_t *req, http_response_t *res, void *arg)
{
    fake_t *fake = arg;
    pthread_mutex_lock(&fake->lock);
    fake_yoo_payment_t *payment = fake_yoo_find(fake, http_req_param(req, "id"));
    json_t *body = payment ? fake_yoo_payment_json(fake, payment) : NULL;
    if (body)
        json_object_set(body, "request", payment->request);
    pthread_mutex_unlock(&fake->lock);
    if (body)
        http_res_json_take(res, 200, body);
    else
        http_res_problem(res, 404, "not_found", "no such payment", NULL);
}

static void on_yoo_refund(const http_request_t *req, http_response_t *res, void *arg)
{
    fake_t *fake = arg;
    pthread_mutex_lock(&fake->lock);
    fake_yoo_refund_t *refund = fake_yoo_refund_find(fake, http_req_param(req, "id"));
    json_t *body = refund ? fake_yoo_refund_json(refund) : NULL;
    if (body)
        json_object_set(body, "request", refund->request);
    pthread_mutex_unlock(&fake->lock);
    if (body)
        http_res_json_take(res, 200, body);
    else
        http_res_problem(res, 404, "not_found", "no such refund", NULL);
}

static void on_yoo_refund_settle(const http_request_t *req, http_response_t *res, void *arg)
{
    fake_t *fake = arg;
    json_t *body = body_of(req, res);
    if (!body)
        return;
    const char *status = json_string_value(json_object_get(body, "status"));
    const char *reason = json_string_value(json_object_get(body, "reason"));
    pthread_mutex_lock(&fake->lock);
    fake_yoo_refund_t *refund = fake_yoo_refund_find(fake, http_req_param(req, "id"));
    int rc = refund ? fake_yoo_refund_settle(fake, refund, status, reason) : -1;
    json_t *settled = rc == 0 ? fake_yoo_refund_json(refund) : NULL;
    pthread_mutex_unlock(&fake->lock);
    json_decref(body);
    if (!refund)
        http_res_problem(res, 404, "not_found", "no such refund", NULL);
    else if (rc != 0)
        http_res_problem(res, 409, "not_pending",
                         "only a pending refund is settled, as succeeded or canceled", NULL);
    else
        http_res_json_take(res, 200, settled);
}

static void on_reset(const http_request_t *req, http_response_t *res, void *arg)
{
    (void)req;
    fake_t *fake = arg;
    pthread_mutex_lock(&fake->lock);
    fake_reset(fake);
    pthread_mutex_unlock(&fake->lock);
    http_res_json_take(res, 200, json_pack("{s:b}", "reset", true));
}

static void on_stats(const http_request_t *req, http_response_t *res, void *arg)
{
    (void)req;
    fake_t *fake = arg;
    pthread_mutex_lock(&fake->lock);
    json_t *body = json_pack("{s:I, s:I, s:I}", "sberbank_orders", (json_int_t)fake->order_count,
                             "yookassa_payments", (json_int_t)fake->payment_count,
                             "yookassa_refunds", (json_int_t)fake->refund_count);
    pthread_mutex_unlock(&fake->lock);
    http_res_json_take(res, 200, body);
}

static void on_health(const http_request_t *req, http_response_t *res, void *arg)
{
    (void)req;
    (void)arg;
    http_res_json_take(res, 200, json_pack("{s:s}", "status", "ok"));
}

int fake_control_routes(http_server_t *server, fake_t *fake)
{
    static const struct {
        const char *method;
        const char *pattern;
        http_handler_fn handler;
    } routes[] = {
        {"POST", "/_fake/faults", on_faults},
        {"POST", "/_fake/notices/faults", on_notice_faults},
        {"POST", "/_fake/pay", on_pay},
        {"POST", "/_fake/sberbank/orders/{id}/expire", on_expire},
        {"POST", "/_fake/yookassa/webhook", on_webhook_url},
        {"POST", "/_fake/yookassa/spoof", on_spoof},
        {"GET", "/_fake/requests", on_requests},
        {"GET", "/_fake/notices", on_notices},
        {"GET", "/_fake/sberbank/orders/{id}", on_sber_order},
        {"GET", "/_fake/yookassa/payments/{id}", on_yoo_payment},
        {"GET", "/_fake/yookassa/refunds/{id}", on_yoo_refund},
        {"POST", "/_fake/yookassa/refunds/{id}/settle", on_yoo_refund_settle},
        {"GET", "/_fake/stats", on_stats},
        {"POST", "/_fake/reset", on_reset},
        {"GET", "/healthz", on_health},
        {"GET", "/readyz", on_health}, /* what scripts/stack.sh waits for */
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (http_route(server, routes[i].method, routes[i].pattern, routes[i].handler, fake) != 0)
            return -1;
    return 0;
}
