/*
 * yookassa.c — the YooKassa v3 adapter (yookassa.h).
 *
 * HTTP statuses are read so (external-apis.md "YooKassa v3"):
 *   200            done
 *   202            accepted, not processed yet: transient — send the same
 *                  request with the same key again after retry_after
 *   429            too many requests: transient
 *   500 and above  the outcome is unknown: send the same request with the
 *                  same key again (it replays whatever happened)
 *   404            not found; other 4xx refused for good, with the bank's
 *                  code, description and parameter
 */
#include "services/payment/adapters/yookassa.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "services/payment/adapters/bankcall.h"

#define WEBHOOK_MAX (64 * 1024) /* bytes of a webhook we read */
#define KEY_MAX     64          /* an Idempotence-Key's length */

struct yookassa {
    char *base_url;
    char *shop_id;
    char *secret_key;
    bankcall_limits_t limits;
};

yookassa_t *yookassa_new(const acquirer_config_t *config)
{
    if (!config->base_url || !config->login || !config->password) {
        log_error("yookassa adapter not configured", LF_ERR("config_missing"),
                  LF_STR("need", "base_url, login (shopId) and password (secret key)"));
        return NULL;
    }
    yookassa_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->base_url = strdup(config->base_url);
    self->shop_id = strdup(config->login);
    self->secret_key = strdup(config->password);
    self->limits.connect_timeout_ms = config->connect_timeout_ms;
    self->limits.timeout_ms = config->timeout_ms;
    if (!self->base_url || !self->shop_id || !self->secret_key)
        yookassa_destroy(&self);
    return self;
}

void yookassa_destroy(yookassa_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    yookassa_t *self = *self_p;
    free(self->base_url);
    free(self->shop_id);
    free(self->secret_key);
    free(self);
    *self_p = NULL;
}

/* --- amounts --------------------------------------------------------------- */

int yookassa_amount_parse(const char *text, int64_t *minor_out)
{
    if (!text)
        return -1;
    int64_t whole = 0;
    size_t i = 0;
    for (; text[i] >= '0' && text[i] <= '9'; i++) {
        if (i >= 15)
            return -1; /* past a quadrillion roubles: not money */
        whole = whole * 10 + (text[i] - '0');
    }
    if (i == 0)
        return -1;
    int64_t fraction = 0;
    if (text[i] == '.') {
        size_t digits = 0;
        for (i++; text[i] >= '0' && text[i] <= '9'; i++, digits++) {
            if (digits == 2)
                return -1;
            fraction = fraction * 10 + (text[i] - '0');
        }
        if (digits == 0)
            return -1;
        if (digits == 1)
            fraction *= 10;
    }
    if (text[i] != '\0')
        return -1;
    *minor_out = whole * 100 + fraction;
    return 0;
}

void yookassa_amount_format(int64_t minor, char *out, size_t size)
{
    snprintf(out, size, "%" PRId64 ".%02" PRId64, minor / 100, minor % 100);
}

static json_t *amount_new(int64_t minor, const char *currency)
{
    char value[32];
    yookassa_amount_format(minor, value, sizeof value);
    return json_pack("{s:s, s:s}", "value", value, "currency", currency ? currency : "RUB");
}

/* --- receipts --------------------------------------------------------------- */

static const char *const subjects[] = {"commodity", "excise",  "job",
                                       "service",   "payment", "another"};
static const char *const modes[] = {"full_prepayment", "partial_prepayment", "advance",
                                    "full_payment",    "partial_payment",    "credit",
                                    "credit_payment"};

/* vat_code: 1 no VAT, 2 0 %, 3 10 %, 4 20 %, 5 10/110, 6 20/120 */
static int vat_code(acq_vat_t vat)
{
    return (int)vat + 1;
}

/* {"customer":{...},"items":[...]}; caller owns the result. */
static json_t *receipt_new(const acq_receipt_t *receipt, const char *currency)
{
    json_t *customer = json_object();
    json_t *items = json_array();
    json_t *out = NULL;
    if (!customer || !items)
        goto done;
    if (receipt->email && receipt->email[0])
        json_object_set_new(customer, "email", json_string(receipt->email));
    if (receipt->phone && receipt->phone[0]) /* digits only: 79991234567 */
        json_object_set_new(customer, "phone",
                            json_string(receipt->phone + (receipt->phone[0] == '+')));
    for (size_t i = 0; i < receipt->line_count; i++) {
        const acq_line_t *line = &receipt->lines[i];
        char quantity[32];
        snprintf(quantity, sizeof quantity, "%" PRId64 ".00", line->quantity);
        json_t *item = json_pack(
            "{s:s, s:s, s:o, s:i, s:s, s:s}", "description", line->name, "quantity", quantity,
            "amount", amount_new(line->price_minor, currency), "vat_code", vat_code(line->vat),
            "payment_subject", subjects[line->subject], "payment_mode", modes[line->method]);
        if (!item || json_array_append_new(items, item) != 0)
            goto done;
    }
    out = json_pack("{s:O, s:O}", "customer", customer, "items", items);
done:
    json_decref(customer);
    json_decref(items);
    return out;
}

/* --- calls ------------------------------------------------------------------ */

/* Fills err from an error body {type:"error", code, description, parameter}. */
static void error_from_body(const char *body, int status, acq_result_t result, acq_error_t *err)
{
    json_t *parsed = body ? json_loads(body, 0, NULL) : NULL;
    const char *code = json_string_value(json_object_get(parsed, "code"));
    const char *description = json_string_value(json_object_get(parsed, "description"));
    const char *parameter = json_string_value(json_object_get(parsed, "parameter"));
    char fallback[32];
    snprintf(fallback, sizeof fallback, "http_%d", status);
    bankcall_fail(err, result, status,
                  status == 404 ? "not_found"
                  : code        ? code
                                : fallback,
                  description ? description : "");
    bankcall_copy(err->parameter, sizeof err->parameter, parameter);
    const json_t *retry_after = json_object_get(parsed, "retry_after");
    if (json_is_integer(retry_after) && json_integer_value(retry_after) > 0)
        err->retry_after_ms = json_integer_value(retry_after);
    json_decref(parsed);
}

/* Builds method path (under /v3) with an optional JSON body and key into
 * *call. ACQ_DONE or ACQ_REJECTED. */
static acq_result_t call_prepare(yookassa_t *self, const char *method, const char *path,
                                 const char *key, const json_t *body, bool effectful,
                                 bankcall_prepared_t *call, acq_error_t *err)
{
    memset(call, 0, sizeof *call);
    int n = snprintf(call->url, sizeof call->url, "%s/v3%s", self->base_url, path);
    if (n < 0 || (size_t)n >= sizeof call->url)
        return bankcall_fail(err, ACQ_REJECTED, 0, "bad_request", "the bank's URL is too long");
    if (key) {
        if (!key[0] || strlen(key) > KEY_MAX)
            return bankcall_fail(err, ACQ_REJECTED, 0, "bad_request",
                                 "an idempotence key of 1 to 64 characters is required");
        snprintf(call->header, sizeof call->header, "Idempotence-Key: %s", key);
    }
    call->body = body ? json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    if (body && !call->body)
        return bankcall_fail(err, ACQ_REJECTED, 0, "bad_request", "the request does not encode");
    call->effectful = effectful;
    bankcall_prepared_seal(call, &self->limits, method, "application/json", self->shop_id,
                           self->secret_key);
    return ACQ_DONE;
}

/* Classifies the answer to a prepared call. ACQ_DONE leaves the parsed
 * answer in *reply_out (caller owns it). */
static acq_result_t call_read(const bankcall_reply_t *reply, bool effectful, json_t **reply_out,
                              acq_error_t *err)
{
    *reply_out = NULL;
    memset(err, 0, sizeof *err);
    if (reply->failure != HTTPCALL_OK)
        return bankcall_no_answer(reply, effectful, err);
    int status = (int)reply->status;
    acq_result_t result;
    if (status == 202) {
        result = ACQ_TRANSIENT;
        error_from_body(reply->body.ptr, status, result, err);
        bankcall_copy(err->code, sizeof err->code, "processing");
        return result;
    }
    if (status == 429) {
        result = ACQ_TRANSIENT;
        error_from_body(reply->body.ptr, status, result, err);
        if (!err->retry_after_ms)
            err->retry_after_ms = reply->retry_after_ms;
        return result;
    }
    if (status >= 500) {
        result = effectful ? ACQ_UNKNOWN : ACQ_TRANSIENT;
        error_from_body(reply->body.ptr, status, result, err);
        return result;
    }
    if (status < 200 || status > 299) {
        result = ACQ_REJECTED;
        error_from_body(reply->body.ptr, status, result, err);
        return result;
    }
    json_t *parsed = reply->body.ptr ? json_loads(reply->body.ptr, 0, NULL) : NULL;
    if (!json_is_object(parsed)) {
        json_decref(parsed);
        return bankcall_fail(err, effectful ? ACQ_UNKNOWN : ACQ_TRANSIENT, status, "bad_reply",
                             "the bank's answer is not a JSON object");
    }
    *reply_out = parsed;
    return ACQ_DONE;
}

/* method path (under /v3) with an optional JSON body and key. ACQ_DONE
 * leaves the parsed answer in *reply_out (caller owns it). */
static acq_result_t call(yookassa_t *self, const char *method, const char *path, const char *key,
                         const json_t *body, bool effectful, json_t **reply_out, acq_error_t *err)
{
    *reply_out = NULL;
    memset(err, 0, sizeof *err);
    bankcall_prepared_t prepared;
    acq_result_t result = call_prepare(self, method, path, key, body, effectful, &prepared, err);
    if (result == ACQ_DONE) {
        bankcall_reply_t reply;
        bankcall_reply_init(&reply);
        httpcall_perform(&prepared.request, &reply);
        result = call_read(&reply, effectful, reply_out, err);
        bankcall_reply_release(&reply);
    }
    bankcall_prepared_release(&prepared);
    return result;
}

static int64_t amount_member(const json_t *object, const char *name)
{
    int64_t minor = 0;
    const json_t *amount = json_object_get(object, name);
    if (yookassa_amount_parse(json_string_value(json_object_get(amount, "value")), &minor) != 0)
        return -1;
    return minor;
}

/* A payment object as acq_payment_t; -1 when it lacks an id or a status. */
static int payment_of(const json_t *object, acq_payment_t *out)
{
    memset(out, 0, sizeof *out);
    const char *id = json_string_value(json_object_get(object, "id"));
    const char *status = json_string_value(json_object_get(object, "status"));
    if (!id || !status || strlen(id) >= sizeof out->bank_id)
        return -1;
    bankcall_copy(out->bank_id, sizeof out->bank_id, id);
    bankcall_copy(out->bank_status, sizeof out->bank_status, status);
    bankcall_copy(
        out->reference, sizeof out->reference,
        json_string_value(json_object_get(json_object_get(object, "metadata"), "reference")));
    out->amount_minor = amount_member(object, "amount");
    int64_t refunded = amount_member(object, "refunded_amount");
    out->refunded_minor = refunded > 0 ? refunded : 0;
    const json_t *cancellation = json_object_get(object, "cancellation_details");
    const char *party = json_string_value(json_object_get(cancellation, "party"));
    if (strcmp(status, "pending") == 0) {
        out->state = ACQ_STATE_PENDING;
    } else if (strcmp(status, "waiting_for_capture") == 0) {
        out->state = ACQ_STATE_HELD;
    } else if (strcmp(status, "succeeded") == 0) {
        out->paid_minor = out->amount_minor;
        out->state = out->refunded_minor > 0 && out->refunded_minor >= out->amount_minor
                         ? ACQ_STATE_REFUNDED
                         : ACQ_STATE_PAID;
    } else if (strcmp(status, "canceled") == 0) {
        out->state =
            party && strcmp(party, "merchant") == 0 ? ACQ_STATE_VOIDED : ACQ_STATE_DECLINED;
        bankcall_copy(out->reason, sizeof out->reason,
                      json_string_value(json_object_get(cancellation, "reason")));
    } else {
        return -1;
    }
    return 0;
}

acq_result_t yookassa_create_prepare(yookassa_t *self, const acq_invoice_t *invoice,
                                     bankcall_prepared_t *call, acq_error_t *err)
{
    memset(call, 0, sizeof *call);
    memset(err, 0, sizeof *err);
    if (!invoice->reference || !invoice->return_url)
        return bankcall_fail(err, ACQ_REJECTED, 0, "bad_request",
                             "a reference and a return URL are required");
    if (bankcall_receipt_check(&invoice->receipt, invoice->amount_minor, err) != 0)
        return ACQ_REJECTED;
    const char *currency = invoice->currency ? invoice->currency : "RUB";
    json_t *body = json_pack("{s:o, s:b, s:{s:s, s:s}, s:{s:s}, s:o*}", "amount",
                             amount_new(invoice->amount_minor, currency), "capture", !invoice->hold,
                             "confirmation", "type", "redirect", "return_url", invoice->return_url,
                             "metadata", "reference", invoice->reference, "receipt",
                             receipt_new(&invoice->receipt, currency));
    acq_result_t result;
    if (!body || (invoice->description &&
                  json_object_set_new(body, "description", json_string(invoice->description)) != 0))
        result = bankcall_fail(err, ACQ_REJECTED, 0, "bad_request",
                               "the payment does not encode (text not UTF-8?)");
    else
        result = call_prepare(self, "POST", "/payments", invoice->reference, body, true, call, err);
    json_decref(body);
    return result;
}

acq_result_t yookassa_create_read(const bankcall_reply_t *reply, acq_registration_t *out,
                                  acq_error_t *err)
{
    memset(out, 0, sizeof *out);
    json_t *parsed = NULL;
    acq_result_t result = call_read(reply, true, &parsed, err);
    if (result != ACQ_DONE)
        return result;
    const char *id = json_string_value(json_object_get(parsed, "id"));
    const char *url = json_string_value(
        json_object_get(json_object_get(parsed, "confirmation"), "confirmation_url"));
    if (!id || !url || strlen(id) >= sizeof out->bank_id ||
        strlen(url) >= sizeof out->payment_url) {
        result = bankcall_fail(err, ACQ_UNKNOWN, 200, "bad_reply",
                               "the payment came back without an id and a confirmation_url");
    } else {
        bankcall_copy(out->bank_id, sizeof out->bank_id, id);
        bankcall_copy(out->payment_url, sizeof out->payment_url, url);
    }
    json_decref(parsed);
    return result;
}

acq_result_t yookassa_create(yookassa_t *self, const acq_invoice_t *invoice,
                             acq_registration_t *out, acq_error_t *err)
{
    memset(out, 0, sizeof *out);
    bankcall_prepared_t prepared;
    acq_result_t result = yookassa_create_prepare(self, invoice, &prepared, err);
    if (result == ACQ_DONE) {
        bankcall_reply_t reply;
        bankcall_reply_init(&reply);
        httpcall_perform(&prepared.request, &reply);
        result = yookassa_create_read(&reply, out, err);
        bankcall_reply_release(&reply);
    }
    bankcall_prepared_release(&prepared);
    return result;
}

/* "/payments/<id><suffix>" into out; -1 when the id is unusable in a path. */
static int payment_path(const char *collection, const char *id, const char *suffix, char *out,
                        size_t size)
{
    if (!id || !id[0] || strlen(id) >= ACQ_ID_SIZE ||
        strspn(id, "0123456789abcdefABCDEF-_") != strlen(id))
        return -1;
    int n = snprintf(out, size, "/%s/%s%s", collection, id, suffix);
    return n > 0 && (size_t)n < size ? 0 : -1;
}

acq_result_t yookassa_get(yookassa_t *self, const acq_ref_t *ref, acq_payment_t *out,
                          acq_error_t *err)
{
    memset(out, 0, sizeof *out);
    memset(err, 0, sizeof *err);
    char path[256];
    if (payment_path("payments", ref->bank_id, "", path, sizeof path) != 0)
        return bankcall_fail(err, ACQ_REJECTED, 0, "bad_request",
                             "YooKassa is asked by the payment's id, which is missing or bad");
    json_t *reply = NULL;
    acq_result_t result = call(self, "GET", path, NULL, NULL, false, &reply, err);
    if (result == ACQ_DONE && payment_of(reply, out) != 0)
        result = bankcall_fail(err, ACQ_TRANSIENT, 200, "bad_reply",
                               "the payment came back without an id or a known status");
    json_decref(reply);
    return result;
}

acq_result_t yookassa_capture(yookassa_t *self, const acq_ref_t *ref, const char *key,
                              int64_t amount_minor, acq_error_t *err)
{
    memset(err, 0, sizeof *err);
    char path[256];
    if (payment_path("payments", ref->bank_id, "/capture", path, sizeof path) != 0)
        return bankcall_fail(err, ACQ_REJECTED, 0, "bad_request", "the payment's id is bad");
    json_t *body = json_pack("{s:o}", "amount", amount_new(amount_minor, "RUB"));
    json_t *reply = NULL;
    acq_result_t result = body ? call(self, "POST", path, key, body, true, &reply, err)
                               : bankcall_fail(err, ACQ_REJECTED, 0, "bad_request", "no memory");
    json_decref(body);
    json_decref(reply);
    return result;
}

acq_result_t yookassa_cancel(yookassa_t *self, const acq_ref_t *ref, const char *key,
                             acq_error_t *err)
{
    memset(err, 0, sizeof *err);
    char path[256];
    if (payment_path("payments", ref->bank_id, "/cancel", path, sizeof path) != 0)
        return bankcall_fail(err, ACQ_REJECTED, 0, "bad_request", "the payment's id is bad");
    json_t *body = json_object();
    json_t *reply = NULL;
    acq_result_t result = body ? call(self, "POST", path, key, body, true, &reply, err)
                               : bankcall_fail(err, ACQ_REJECTED, 0, "bad_request", "no memory");
    json_decref(body);
    json_decref(reply);
    return result;
}

acq_result_t yookassa_refund(yookassa_t *self, const acq_refund_t *refund, acq_refund_result_t *out,
                             acq_error_t *err)
{
    memset(out, 0, sizeof *out);
    memset(err, 0, sizeof *err);
    if (!refund->reference || !refund->bank_id)
        return bankcall_fail(err, ACQ_REJECTED, 0, "bad_request",
                             "a refund needs a reference and the payment's id");
    if (bankcall_receipt_check(&refund->receipt, refund->amount_minor, err) != 0)
        return ACQ_REJECTED;
    const char *currency = refund->currency ? refund->currency : "RUB";
    json_t *reply = NULL;
    json_t *body = json_pack("{s:s, s:o, s:o*}", "payment_id", refund->bank_id, "amount",
                             amount_new(refund->amount_minor, currency), "receipt",
                             receipt_new(&refund->receipt, currency));
    acq_result_t result;
    if (!body) {
        result = bankcall_fail(err, ACQ_REJECTED, 0, "bad_request", "the refund does not encode");
        goto done;
    }
    result = call(self, "POST", "/refunds", refund->reference, body, true, &reply, err);
    if (result != ACQ_DONE)
        goto done;
    const char *id = json_string_value(json_object_get(reply, "id"));
    const char *status = json_string_value(json_object_get(reply, "status"));
    if (!id || !status || strlen(id) >= sizeof out->refund_id) {
        result = bankcall_fail(err, ACQ_UNKNOWN, 200, "bad_reply",
                               "the refund came back without an id or a status");
        goto done;
    }
    bankcall_copy(out->refund_id, sizeof out->refund_id, id);
    if (strcmp(status, "canceled") == 0) {
        const char *reason = json_string_value(
            json_object_get(json_object_get(reply, "cancellation_details"), "reason"));
        result = bankcall_fail(err, ACQ_REJECTED, 200, "canceled",
                               reason ? reason : "the bank canceled the refund");
        goto done;
    }
    out->succeeded = strcmp(status, "succeeded") == 0;
done:
    json_decref(body);
    json_decref(reply);
    return result;
}

acq_result_t yookassa_refund_get(yookassa_t *self, const char *refund_id, acq_refund_status_t *out,
                                 acq_error_t *err)
{
    memset(out, 0, sizeof *out);
    memset(err, 0, sizeof *err);
    char path[256];
    if (payment_path("refunds", refund_id, "", path, sizeof path) != 0)
        return bankcall_fail(err, ACQ_REJECTED, 0, "bad_request",
                             "YooKassa is asked by the refund's id, which is missing or bad");
    json_t *reply = NULL;
    acq_result_t result = call(self, "GET", path, NULL, NULL, false, &reply, err);
    if (result != ACQ_DONE)
        goto done;
    const char *id = json_string_value(json_object_get(reply, "id"));
    const char *status = json_string_value(json_object_get(reply, "status"));
    const char *payment_id = json_string_value(json_object_get(reply, "payment_id"));
    if (!id || strcmp(id, refund_id) != 0 || !status ||
        (strcmp(status, "pending") != 0 && strcmp(status, "succeeded") != 0 &&
         strcmp(status, "canceled") != 0)) {
        result = bankcall_fail(err, ACQ_TRANSIENT, 200, "bad_reply",
                               "the refund came back without its id or a known status");
        goto done;
    }
    out->state = strcmp(status, "succeeded") == 0  ? ACQ_REFUND_SUCCEEDED
                 : strcmp(status, "canceled") == 0 ? ACQ_REFUND_CANCELED
                                                   : ACQ_REFUND_PENDING;
    bankcall_copy(out->payment_id, sizeof out->payment_id, payment_id ? payment_id : "");
    out->amount_minor = amount_member(reply, "amount");
    const char *reason = json_string_value(
        json_object_get(json_object_get(reply, "cancellation_details"), "reason"));
    if (out->state == ACQ_REFUND_CANCELED)
        bankcall_copy(out->reason, sizeof out->reason,
                      reason ? reason : "the bank canceled the refund");
done:
    json_decref(reply);
    return result;
}

/* --- webhooks ---------------------------------------------------------------- */

acq_result_t yookassa_webhook_parse(const char *body, size_t len, acq_notice_t *out,
                                    yookassa_claim_t *claim, acq_error_t *err)
{
    memset(out, 0, sizeof *out);
    memset(claim, 0, sizeof *claim);
    memset(err, 0, sizeof *err);
    claim->amount_minor = -1;
    if (!body || len == 0 || len > WEBHOOK_MAX)
        return bankcall_fail(err, ACQ_REJECTED, 0, "bad_request",
                             "a webhook is a JSON body of at most 64 KiB");
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    acq_result_t result = ACQ_REJECTED;
    const char *type = json_string_value(json_object_get(root, "type"));
    const char *event = json_string_value(json_object_get(root, "event"));
    const json_t *object = json_object_get(root, "object");
    const char *id = json_string_value(json_object_get(object, "id"));
    const char *status = json_string_value(json_object_get(object, "status"));
    if (!type || strcmp(type, "notification") != 0 || !event || !json_is_object(object) || !id ||
        !id[0] || strlen(id) >= ACQ_ID_SIZE || !status || !status[0] ||
        strlen(status) >= sizeof claim->status) {
        bankcall_fail(err, result, 0, "bad_request",
                      "not a notification with an event and an object with an id and a status");
        goto done;
    }
    if (strcmp(event, "refund.succeeded") == 0) {
        const char *payment_id = json_string_value(json_object_get(object, "payment_id"));
        if (!payment_id || !payment_id[0] || strlen(payment_id) >= sizeof out->bank_id) {
            bankcall_fail(err, result, 0, "bad_request", "a refund without its payment_id");
            goto done;
        }
        out->kind = ACQ_NOTICE_REFUND;
        bankcall_copy(out->refund_id, sizeof out->refund_id, id);
        bankcall_copy(out->bank_id, sizeof out->bank_id, payment_id);
    } else if (strcmp(event, "payment.succeeded") == 0 ||
               strcmp(event, "payment.waiting_for_capture") == 0 ||
               strcmp(event, "payment.canceled") == 0) {
        out->kind = ACQ_NOTICE_PAYMENT;
        bankcall_copy(out->bank_id, sizeof out->bank_id, id);
        bankcall_copy(
            out->reference, sizeof out->reference,
            json_string_value(json_object_get(json_object_get(object, "metadata"), "reference")));
    } else {
        bankcall_fail(err, result, 0, "bad_request", "an event this adapter does not know");
        goto done;
    }
    bankcall_copy(out->operation, sizeof out->operation, event);
    bankcall_copy(claim->status, sizeof claim->status, status);
    claim->amount_minor = amount_member(object, "amount");
    out->amount_minor = claim->amount_minor;
    out->success = true;
    snprintf(out->event_id, sizeof out->event_id, "yookassa:%s:%s", event, id);
    result = ACQ_DONE;
done:
    json_decref(root);
    return result;
}

/* Whether the bank's status agrees with the claimed one: equal, or moved
 * on from waiting_for_capture (captured or cancelled since). */
static bool status_agrees(const char *claimed, const char *fetched)
{
    if (strcmp(claimed, fetched) == 0)
        return true;
    return strcmp(claimed, "waiting_for_capture") == 0 && strcmp(fetched, "pending") != 0;
}

static acq_result_t verify_refund(yookassa_t *self, acq_notice_t *out,
                                  const yookassa_claim_t *claim, acq_error_t *err)
{
    char path[256];
    if (payment_path("refunds", out->refund_id, "", path, sizeof path) != 0)
        return bankcall_fail(err, ACQ_REJECTED, 0, "bad_request", "the refund's id is bad");
    json_t *reply = NULL;
    acq_result_t result = call(self, "GET", path, NULL, NULL, false, &reply, err);
    if (result != ACQ_DONE)
        goto done;
    const char *status = json_string_value(json_object_get(reply, "status"));
    const char *payment_id = json_string_value(json_object_get(reply, "payment_id"));
    int64_t amount = amount_member(reply, "amount");
    if (!status || strcmp(status, claim->status) != 0 || strcmp(status, "succeeded") != 0 ||
        !payment_id || strcmp(payment_id, out->bank_id) != 0 ||
        (claim->amount_minor >= 0 && amount != claim->amount_minor)) {
        result = bankcall_fail(err, ACQ_REJECTED, 200, "mismatch",
                               "the bank's refund contradicts the webhook");
        goto done;
    }
    out->amount_minor = amount;
done:
    json_decref(reply);
    return result;
}

acq_result_t yookassa_webhook_verify(yookassa_t *self, const char *body, size_t len,
                                     acq_notice_t *out, acq_error_t *err)
{
    yookassa_claim_t claim;
    acq_result_t result = yookassa_webhook_parse(body, len, out, &claim, err);
    if (result != ACQ_DONE)
        return result;
    if (out->kind == ACQ_NOTICE_REFUND)
        result = verify_refund(self, out, &claim, err);
    else {
        acq_ref_t ref = {.reference = NULL, .bank_id = out->bank_id};
        result = yookassa_get(self, &ref, &out->payment, err);
        if (result == ACQ_DONE) {
            out->payment_fetched = true;
            bool same_status = strcmp(claim.status, out->payment.bank_status) == 0;
            if (!status_agrees(claim.status, out->payment.bank_status) ||
                (same_status && claim.amount_minor >= 0 &&
                 claim.amount_minor != out->payment.amount_minor))
                result = bankcall_fail(err, ACQ_REJECTED, 200, "mismatch",
                                       "the bank's payment contradicts the webhook");
            else {
                out->amount_minor = out->payment.amount_minor;
                bankcall_copy(out->reference, sizeof out->reference, out->payment.reference);
            }
        }
    }
    if (result == ACQ_REJECTED && strcmp(err->code, "not_found") == 0)
        bankcall_copy(err->code, sizeof err->code, "mismatch"); /* the bank never made it */
    return result;
}
