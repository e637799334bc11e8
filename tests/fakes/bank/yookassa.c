/*
 * yookassa.c — the fake bank's YooKassa v3 side (fakebank.h).
 *
 * JSON with Basic shopId:secretKey. POST /v3/payments, /v3/payments/{id}/
 * capture, /v3/payments/{id}/cancel and /v3/refunds take an
 * Idempotence-Key (required, at most 64 characters): the same key with the
 * same method, path and body within FAKE_BANK_IDEMPOTENCE_TTL answers the
 * first 200 again; the same key with anything else is 400 invalid_request,
 * parameter "Idempotence-Key". Amounts are strings ("100.00"). The receipt
 * (54-FZ) must sum to the amount when FAKE_BANK_RECEIPT_REQUIRED; it is
 * kept with the payment or refund and shown under /_fake/. Errors are
 * {"type":"error","id","code","description","parameter"}.
 * Statuses: pending -> waiting_for_capture (capture=false, paid) ->
 * succeeded | canceled. A pending payment is not cancelled by the shop (it
 * expires at the bank); a waiting one is. Injected faults: 202 (not
 * processed yet: nothing done, retry_after), 500 (done or not, as armed;
 * a repeat with the key replays what was done), 429, a reply held back,
 * a refund left "pending" (no webhook, what it gives back reserved) until
 * /_fake/yookassa/refunds/{id}/settle makes it succeeded or canceled.
 * Unverified (no source at hand): the 202 body's shape ({"type":
 * "processing", "retry_after": ms}) and the error descriptions' words.
 */
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/digest.h"
#include "common/log.h"
#include "tests/fakes/bank/fakebank.h"

#define KEY_MAX       64
#define ITEMS_MAX     100
#define TEXT_MAX      128
#define HOLD_PERIOD_S (7 * 86400) /* how long a held payment waits for capture */

/* --- small helpers --------------------------------------------------------------- */

static json_t *error_body(const char *code, const char *description, const char *parameter)
{
    char id[FAKE_ID_SIZE];
    fake_new_id(id);
    json_t *body = json_pack("{s:s, s:s, s:s, s:s}", "type", "error", "id", id, "code", code,
                             "description", description);
    if (body && parameter)
        json_object_set_new(body, "parameter", json_string(parameter));
    return body;
}

/* "100.00" (or "100", "100.5") -> kopecks; -1 when not such text. */
static int64_t parse_amount(const char *text)
{
    if (!text)
        return -1;
    int64_t whole = 0, fraction = 0;
    size_t i = 0, digits = 0;
    for (; text[i] >= '0' && text[i] <= '9'; i++)
        if (i < 15)
            whole = whole * 10 + (text[i] - '0');
        else
            return -1;
    if (i == 0)
        return -1;
    if (text[i] == '.') {
        for (i++; text[i] >= '0' && text[i] <= '9'; i++, digits++)
            if (digits < 2)
                fraction = fraction * 10 + (text[i] - '0');
            else
                return -1;
        if (digits == 0)
            return -1;
        if (digits == 1)
            fraction *= 10;
    }
    return text[i] ? -1 : whole * 100 + fraction;
}

static int64_t amount_of(const json_t *amount, bool *rub_out)
{
    const char *currency = json_string_value(json_object_get(amount, "currency"));
    *rub_out = currency && strcmp(currency, "RUB") == 0;
    return parse_amount(json_string_value(json_object_get(amount, "value")));
}

static json_t *amount_json(int64_t minor)
{
    char value[32];
    snprintf(value, sizeof value, "%" PRId64 ".%02" PRId64, minor / 100, minor % 100);
    return json_pack("{s:s, s:s}", "value", value, "currency", "RUB");
}

/* A quantity ("2", "2.00", 2, 1.5) in thousandths; -1 when not positive. */
static int64_t quantity_milli(const json_t *quantity)
{
    if (json_is_integer(quantity))
        return json_integer_value(quantity) > 0 && json_integer_value(quantity) < 1000000
                   ? json_integer_value(quantity) * 1000
                   : -1;
    const char *text = json_string_value(quantity);
    if (!text)
        return -1;
    int64_t whole = 0, fraction = 0;
    size_t i = 0, digits = 0;
    for (; text[i] >= '0' && text[i] <= '9' && i < 7; i++)
        whole = whole * 10 + (text[i] - '0');
    if (i == 0)
        return -1;
    if (text[i] == '.')
        for (i++; text[i] >= '0' && text[i] <= '9' && digits < 3; i++, digits++)
            fraction = fraction * 10 + (text[i] - '0');
    for (; digits < 3; digits++)
        fraction *= 10;
    int64_t milli = whole * 1000 + fraction;
    return text[i] || milli <= 0 ? -1 : milli;
}

static size_t chars(const char *text)
{
    size_t n = 0;
    for (; *text; text++)
        n += ((unsigned char)*text & 0xC0) != 0x80;
    return n;
}

/* NULL when receipt is a good receipt for amount; else the problem. */
static const char *receipt_problem(const json_t *receipt, int64_t amount)
{
    const json_t *customer = json_object_get(receipt, "customer");
    if (!json_is_string(json_object_get(customer, "email")) &&
        !json_is_string(json_object_get(customer, "phone")))
        return "Receipt customer email or phone is required";
    const json_t *items = json_object_get(receipt, "items");
    if (!json_is_array(items) || json_array_size(items) == 0 || json_array_size(items) > ITEMS_MAX)
        return "Receipt items are required (1 to 100)";
    int64_t total_milli = 0;
    size_t i;
    const json_t *item;
    json_array_foreach(items, i, item)
    {
        const char *description = json_string_value(json_object_get(item, "description"));
        int64_t milli = quantity_milli(json_object_get(item, "quantity"));
        bool rub = false;
        int64_t price = amount_of(json_object_get(item, "amount"), &rub);
        const json_t *vat = json_object_get(item, "vat_code");
        if (!description || !description[0] || chars(description) > TEXT_MAX || milli <= 0 ||
            price <= 0 || !rub || !json_is_integer(vat) || json_integer_value(vat) < 1 ||
            json_integer_value(vat) > 6)
            return "Receipt item is invalid (description, quantity, amount, vat_code)";
        total_milli += price * milli;
    }
    if (total_milli != amount * 1000)
        return "Receipt items sum differs from the payment amount";
    return NULL;
}

/* --- objects ------------------------------------------------------------------- */

fake_yoo_payment_t *fake_yoo_find(fake_t *fake, const char *id)
{
    for (size_t i = 0; id && i < fake->payment_count; i++)
        if (strcmp(fake->payments[i]->id, id) == 0)
            return fake->payments[i];
    return NULL;
}

fake_yoo_refund_t *fake_yoo_refund_find(fake_t *fake, const char *id)
{
    for (size_t i = 0; id && i < fake->refund_count; i++)
        if (strcmp(fake->refunds[i]->id, id) == 0)
            return fake->refunds[i];
    return NULL;
}

json_t *fake_yoo_payment_json(const fake_t *fake, const fake_yoo_payment_t *payment)
{
    char created[40];
    fake_time_text(payment->created_ms, created, sizeof created);
    bool paid = strcmp(payment->status, "succeeded") == 0 ||
                strcmp(payment->status, "waiting_for_capture") == 0;
    const json_t *request = payment->request;
    json_t *object =
        json_pack("{s:s, s:s, s:b, s:o, s:{s:s, s:s}, s:s, s:b, s:b, s:O*}", "id", payment->id,
                  "status", payment->status, "paid", paid, "amount", amount_json(payment->amount),
                  "recipient", "account_id", fake->config.yoo_shop, "gateway_id", "100700",
                  "created_at", created, "test", true, "refundable",
                  strcmp(payment->status, "succeeded") == 0 && payment->refunded < payment->amount,
                  "metadata", json_object_get(request, "metadata"));
    if (!object)
        return NULL;
    const char *description = json_string_value(json_object_get(request, "description"));
    if (description)
        json_object_set_new(object, "description", json_string(description));
    if (strcmp(payment->status, "pending") == 0) {
        char url[FAKE_TEXT_SIZE + 128];
        snprintf(url, sizeof url, "%s/checkout/payments/v2/contract?orderId=%s",
                 fake->config.public_url, payment->id);
        const char *return_url = json_string_value(
            json_object_get(json_object_get(request, "confirmation"), "return_url"));
        json_object_set_new(object, "confirmation",
                            json_pack("{s:s, s:s, s:s}", "type", "redirect", "return_url",
                                      return_url ? return_url : "", "confirmation_url", url));
    }
    if (strcmp(payment->status, "succeeded") == 0) {
        char captured[40];
        fake_time_text(payment->captured_ms, captured, sizeof captured);
        json_object_set_new(object, "captured_at", json_string(captured));
        json_object_set_new(object, "income_amount", amount_json(payment->amount));
    }
    if (strcmp(payment->status, "waiting_for_capture") == 0) {
        char expires[40];
        fake_time_text(payment->created_ms + HOLD_PERIOD_S * 1000LL, expires, sizeof expires);
        json_object_set_new(object, "expires_at", json_string(expires));
    }
    if (payment->refunded > 0)
        json_object_set_new(object, "refunded_amount", amount_json(payment->refunded));
    if (strcmp(payment->status, "canceled") == 0)
        json_object_set_new(object, "cancellation_details",
                            json_pack("{s:s, s:s}", "party", payment->cancel_party, "reason",
                                      payment->cancel_reason));
    if (json_object_get(request, "receipt") && paid)
        json_object_set_new(object, "receipt_registration", json_string("succeeded"));
    return object;
}

json_t *fake_yoo_refund_json(const fake_yoo_refund_t *refund)
{
    char created[40];
    fake_time_text(refund->created_ms, created, sizeof created);
    json_t *object = json_pack("{s:s, s:s, s:s, s:o, s:s}", "id", refund->id, "payment_id",
                               refund->payment_id, "status", refund->status, "amount",
                               amount_json(refund->amount), "created_at", created);
    if (object && strcmp(refund->status, "canceled") == 0)
        json_object_set_new(
            object, "cancellation_details",
            json_pack("{s:s, s:s}", "party", "yoo_money", "reason", refund->cancel_reason));
    return object;
}

int fake_yoo_pay(fake_t *fake, fake_yoo_payment_t *payment, bool pay, int64_t amount)
{
    if (strcmp(payment->status, "pending") != 0)
        return -1;
    if (!pay) {
        snprintf(payment->status, sizeof payment->status, "canceled");
        snprintf(payment->cancel_party, sizeof payment->cancel_party, "payment_network");
        snprintf(payment->cancel_reason, sizeof payment->cancel_reason, "insufficient_funds");
        fake_notify_yoo_take(fake, "payment.canceled", fake_yoo_payment_json(fake, payment));
        return 0;
    }
    if (amount > 0 && amount < payment->amount)
        payment->amount = amount; /* what a partial capture leaves */
    if (payment->capture) {
        snprintf(payment->status, sizeof payment->status, "succeeded");
        payment->captured_ms = clock_now_ms();
        fake_notify_yoo_take(fake, "payment.succeeded", fake_yoo_payment_json(fake, payment));
    } else {
        snprintf(payment->status, sizeof payment->status, "waiting_for_capture");
        fake_notify_yoo_take(fake, "payment.waiting_for_capture",
                             fake_yoo_payment_json(fake, payment));
    }
    return 0;
}

/* --- operations: each answers a status and a body ---------------------------- */

typedef struct {
    int status;
    json_t *body;
} answer_t;

static answer_t refuse(int status, const char *code, const char *description, const char *parameter)
{
    return (answer_t){status, error_body(code, description, parameter)};
}

static answer_t create_payment(fake_t *fake, json_t *request)
{
    bool rub = false;
    int64_t amount = amount_of(json_object_get(request, "amount"), &rub);
    if (amount <= 0)
        return refuse(400, "invalid_request", "Invalid amount value", "amount.value");
    if (!rub)
        return refuse(400, "invalid_request", "Invalid currency", "amount.currency");
    const json_t *confirmation = json_object_get(request, "confirmation");
    const char *type = json_string_value(json_object_get(confirmation, "type"));
    if (!type || strcmp(type, "redirect") != 0 ||
        !json_is_string(json_object_get(confirmation, "return_url")))
        return refuse(400, "invalid_request", "Redirect confirmation with return_url is required",
                      "confirmation");
    const char *description = json_string_value(json_object_get(request, "description"));
    if (description && chars(description) > TEXT_MAX)
        return refuse(400, "invalid_request", "Description is too long", "description");
    const json_t *metadata = json_object_get(request, "metadata");
    if (metadata && !json_is_object(metadata))
        return refuse(400, "invalid_request", "Metadata must be an object", "metadata");
    const json_t *receipt = json_object_get(request, "receipt");
    const char *problem = receipt                         ? receipt_problem(receipt, amount)
                          : fake->config.receipt_required ? "Receipt is required"
                                                          : NULL;
    if (problem)
        return refuse(400, "invalid_request", problem, "receipt");
    if (fake->payment_count == FAKE_OBJECTS_MAX)
        return refuse(500, "internal_server_error", "Too many payments in the fake", NULL);
    fake_yoo_payment_t **grown = realloc(fake->payments, (fake->payment_count + 1) * sizeof *grown);
    fake_yoo_payment_t *payment = calloc(1, sizeof *payment);
    if (grown)
        fake->payments = grown;
    if (!grown || !payment) {
        free(payment);
        return refuse(500, "internal_server_error", "Out of memory", NULL);
    }
    fake_new_id(payment->id);
    snprintf(payment->status, sizeof payment->status, "pending");
    payment->amount = amount;
    payment->capture = json_is_true(json_object_get(request, "capture"));
    payment->request = json_incref(request);
    payment->created_ms = clock_now_ms();
    fake->payments[fake->payment_count++] = payment;
    return (answer_t){200, fake_yoo_payment_json(fake, payment)};
}

static answer_t capture_payment(fake_t *fake, const char *id, const json_t *request)
{
    fake_yoo_payment_t *payment = fake_yoo_find(fake, id);
    if (!payment)
        return refuse(404, "not_found", "Payment not found", NULL);
    if (strcmp(payment->status, "waiting_for_capture") != 0)
        return refuse(400, "invalid_request", "Payment is not waiting for capture", NULL);
    const json_t *amount_object = json_object_get(request, "amount");
    int64_t amount = payment->amount;
    if (amount_object) {
        bool rub = false;
        amount = amount_of(amount_object, &rub);
        if (amount <= 0 || amount > payment->amount || !rub)
            return refuse(400, "invalid_request", "Invalid capture amount", "amount.value");
    }
    payment->amount = amount;
    snprintf(payment->status, sizeof payment->status, "succeeded");
    payment->captured_ms = clock_now_ms();
    fake_notify_yoo_take(fake, "payment.succeeded", fake_yoo_payment_json(fake, payment));
    return (answer_t){200, fake_yoo_payment_json(fake, payment)};
}

static answer_t cancel_payment(fake_t *fake, const char *id)
{
    fake_yoo_payment_t *payment = fake_yoo_find(fake, id);
    if (!payment)
        return refuse(404, "not_found", "Payment not found", NULL);
    if (strcmp(payment->status, "waiting_for_capture") != 0)
        return refuse(400, "invalid_request", "Only a payment waiting for capture can be canceled",
                      NULL);
    snprintf(payment->status, sizeof payment->status, "canceled");
    snprintf(payment->cancel_party, sizeof payment->cancel_party, "merchant");
    snprintf(payment->cancel_reason, sizeof payment->cancel_reason, "canceled_by_merchant");
    fake_notify_yoo_take(fake, "payment.canceled", fake_yoo_payment_json(fake, payment));
    return (answer_t){200, fake_yoo_payment_json(fake, payment)};
}

int fake_yoo_refund_settle(fake_t *fake, fake_yoo_refund_t *refund, const char *status,
                           const char *reason)
{
    if (strcmp(refund->status, "pending") != 0 || !status ||
        (strcmp(status, "succeeded") != 0 && strcmp(status, "canceled") != 0))
        return -1;
    snprintf(refund->status, sizeof refund->status, "%s", status);
    if (strcmp(status, "canceled") == 0) {
        snprintf(refund->cancel_reason, sizeof refund->cancel_reason, "%s",
                 reason && reason[0] ? reason : "rejected_by_payee");
        fake_yoo_payment_t *payment = fake_yoo_find(fake, refund->payment_id);
        if (payment)
            payment->refunded -= refund->amount;
        return 0;
    }
    fake_notify_yoo_take(fake, "refund.succeeded", fake_yoo_refund_json(refund));
    return 0;
}

static answer_t create_refund(fake_t *fake, json_t *request, bool pending)
{
    const char *payment_id = json_string_value(json_object_get(request, "payment_id"));
    fake_yoo_payment_t *payment = fake_yoo_find(fake, payment_id);
    if (!payment)
        return refuse(400, "invalid_request", "Payment not found", "payment_id");
    if (strcmp(payment->status, "succeeded") != 0)
        return refuse(400, "invalid_request", "Payment is not succeeded", "payment_id");
    bool rub = false;
    int64_t amount = amount_of(json_object_get(request, "amount"), &rub);
    if (amount <= 0 || !rub || amount > payment->amount - payment->refunded)
        return refuse(400, "invalid_request", "Refund amount exceeds what is left", "amount.value");
    const json_t *receipt = json_object_get(request, "receipt");
    const char *problem = receipt                         ? receipt_problem(receipt, amount)
                          : fake->config.receipt_required ? "Receipt is required"
                                                          : NULL;
    if (problem)
        return refuse(400, "invalid_request", problem, "receipt");
    if (fake->refund_count == FAKE_OBJECTS_MAX)
        return refuse(500, "internal_server_error", "Too many refunds in the fake", NULL);
    fake_yoo_refund_t **grown = realloc(fake->refunds, (fake->refund_count + 1) * sizeof *grown);
    fake_yoo_refund_t *refund = calloc(1, sizeof *refund);
    if (grown)
        fake->refunds = grown;
    if (!grown || !refund) {
        free(refund);
        return refuse(500, "internal_server_error", "Out of memory", NULL);
    }
    fake_new_id(refund->id);
    snprintf(refund->payment_id, sizeof refund->payment_id, "%s", payment->id);
    snprintf(refund->status, sizeof refund->status, "%s", pending ? "pending" : "succeeded");
    refund->amount = amount;
    refund->request = json_incref(request);
    refund->created_ms = clock_now_ms();
    fake->refunds[fake->refund_count++] = refund;
    payment->refunded += amount; /* pending: reserved until it is settled */
    if (!pending)
        fake_notify_yoo_take(fake, "refund.succeeded", fake_yoo_refund_json(refund));
    return (answer_t){200, fake_yoo_refund_json(refund)};
}

/* --- idempotence ----------------------------------------------------------------- */

static fake_key_t *key_find(fake_t *fake, const char *key, int64_t now)
{
    for (size_t i = 0; i < fake->key_count; i++)
        if (strcmp(fake->keys[i].key, key) == 0 &&
            now - fake->keys[i].at_ms < fake->config.idempotence_ttl_ms)
            return &fake->keys[i];
    return NULL;
}

static void key_store(fake_t *fake, const char *key, const char *fingerprint, answer_t answer,
                      int64_t now)
{
    fake_key_t *slot = NULL;
    for (size_t i = 0; i < fake->key_count && !slot; i++)
        if (now - fake->keys[i].at_ms >= fake->config.idempotence_ttl_ms)
            slot = &fake->keys[i]; /* expired: reused */
    if (!slot) {
        if (fake->key_count == FAKE_OBJECTS_MAX)
            return;
        fake_key_t *grown = realloc(fake->keys, (fake->key_count + 1) * sizeof *grown);
        if (!grown)
            return;
        fake->keys = grown;
        slot = &fake->keys[fake->key_count++];
        memset(slot, 0, sizeof *slot);
    }
    free(slot->body);
    snprintf(slot->key, sizeof slot->key, "%s", key);
    snprintf(slot->fingerprint, sizeof slot->fingerprint, "%s", fingerprint);
    slot->status = answer.status;
    slot->body = json_dumps(answer.body, JSON_COMPACT);
    slot->at_ms = now;
}

/* --- the routes ------------------------------------------------------------------ */

static bool authorised(const fake_t *fake, const http_request_t *req)
{
    const char *given = http_req_header(req, "Authorization");
    char credentials[512], encoded[700], expected[720];
    int n = snprintf(credentials, sizeof credentials, "%s:%s", fake->config.yoo_shop,
                     fake->config.yoo_secret);
    if (!given || n < 0 || (size_t)n >= sizeof credentials)
        return false;
    EVP_EncodeBlock((unsigned char *)encoded, (const unsigned char *)credentials, n);
    snprintf(expected, sizeof expected, "Basic %s", encoded);
    return strcmp(given, expected) == 0;
}

typedef enum { OP_CREATE, OP_GET, OP_CAPTURE, OP_CANCEL, OP_REFUND, OP_REFUND_GET } op_t;

static const char *const op_names[] = {"payments.create", "payments.get",   "payments.capture",
                                       "payments.cancel", "refunds.create", "refunds.get"};

static void handle(fake_t *fake, op_t op, const http_request_t *req, http_response_t *res)
{
    bool keyed = op != OP_GET && op != OP_REFUND_GET;
    const char *key = keyed ? http_req_header(req, "Idempotence-Key") : NULL;
    const char *id = http_req_param(req, "id");
    size_t len = 0;
    const char *body = http_req_body(req, &len);
    answer_t answer = {0, NULL};
    int64_t hold_ms = 0;
    int64_t now = clock_now_ms();
    fake_fault_t fault;
    bool faulty = false;

    pthread_mutex_lock(&fake->lock);
    fake_request_t *record = fake_record(fake, "yookassa", op_names[op], req, key);
    if (!authorised(fake, req)) {
        answer =
            refuse(401, "invalid_credentials", "Authentication by given credentials failed", NULL);
        goto answer;
    }
    char fingerprint[DIGEST_HEX_SIZE] = "";
    if (keyed) {
        if (!key || !key[0] || strlen(key) > KEY_MAX) {
            answer = refuse(400, "invalid_request", "Idempotence-Key header is missing or too long",
                            "Idempotence-Key");
            goto answer;
        }
        char *text = NULL;
        if (asprintf(&text, "%s %s\n%.*s", http_req_method(req), http_req_path(req), (int)len,
                     body ? body : "") < 0 ||
            digest_sha256_hex(text, strlen(text), fingerprint) != 0) {
            free(text);
            answer = refuse(500, "internal_server_error", "Out of memory", NULL);
            goto answer;
        }
        free(text);
        fake_key_t *known = key_find(fake, key, now);
        if (known && strcmp(known->fingerprint, fingerprint) != 0) {
            answer = refuse(400, "invalid_request",
                            "Idempotence key duplicated with another request", "Idempotence-Key");
            goto answer;
        }
        if (known) { /* a replay: the first answer, whatever the faults */
            answer.status = known->status;
            answer.body = json_loads(known->body ? known->body : "{}", 0, NULL);
            goto answer;
        }
    }
    faulty = fake_fault_take(fake, "yookassa", op_names[op], &fault);
    if (faulty && strcmp(fault.kind, "processing") == 0) {
        answer.status = 202;
        answer.body = json_pack("{s:s, s:s, s:I}", "type", "processing", "description",
                                "Request accepted, but not processed yet", "retry_after",
                                (json_int_t)(fault.delay_ms > 0 ? fault.delay_ms : 100));
        goto answer;
    }
    if (faulty && strcmp(fault.kind, "http") == 0 && !fault.apply) {
        answer = fault.http_status == 429
                     ? refuse(429, "too_many_requests", "Too many requests", NULL)
                     : refuse(fault.http_status, "internal_server_error",
                              "Internal server error, the result is unknown", NULL);
        goto answer;
    }
    json_t *request = NULL;
    if (keyed) {
        request = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, NULL);
        if (!json_is_object(request)) {
            json_decref(request);
            answer = refuse(400, "invalid_request", "Request body is not a JSON object", NULL);
            goto answer;
        }
    }
    switch (op) {
    case OP_CREATE:
        answer = create_payment(fake, request);
        break;
    case OP_CAPTURE:
        answer = capture_payment(fake, id, request);
        break;
    case OP_CANCEL:
        answer = cancel_payment(fake, id);
        break;
    case OP_REFUND:
        answer = create_refund(fake, request, faulty && strcmp(fault.kind, "pending") == 0);
        break;
    case OP_GET: {
        fake_yoo_payment_t *payment = fake_yoo_find(fake, id);
        answer = payment ? (answer_t){200, fake_yoo_payment_json(fake, payment)}
                         : refuse(404, "not_found", "Payment not found", NULL);
        break;
    }
    case OP_REFUND_GET: {
        fake_yoo_refund_t *refund = fake_yoo_refund_find(fake, id);
        answer = refund ? (answer_t){200, fake_yoo_refund_json(refund)}
                        : refuse(404, "not_found", "Refund not found", NULL);
        break;
    }
    }
    json_decref(request);
    if (keyed && answer.status == 200)
        key_store(fake, key, fingerprint, answer, now);
    if (faulty && strcmp(fault.kind, "http") == 0 && answer.status == 200) {
        /* done, and answered as a failure: only a repeat with the key tells */
        json_decref(answer.body);
        answer = refuse(fault.http_status, "internal_server_error",
                        "Internal server error, the result is unknown", NULL);
    }
    if (faulty && strcmp(fault.kind, "lose_reply") == 0)
        hold_ms = fault.delay_ms > 0 ? fault.delay_ms : fake->config.lose_reply_ms;
answer:
    record->status = answer.status;
    pthread_mutex_unlock(&fake->lock);
    /* the bank's own latency, then a "lost" reply held past the client's timeout */
    fake_pause_ms(fake->config.latency_ms + hold_ms);
    if (answer.status == 429)
        http_res_header(res, "Retry-After", "1");
    if (answer.body)
        http_res_json_take(res, answer.status, answer.body);
    else
        http_res_text(res, 500, "application/json", "{}");
}

static void on_create(const http_request_t *req, http_response_t *res, void *arg)
{
    handle(arg, OP_CREATE, req, res);
}

static void on_get(const http_request_t *req, http_response_t *res, void *arg)
{
    handle(arg, OP_GET, req, res);
}

static void on_capture(const http_request_t *req, http_response_t *res, void *arg)
{
    handle(arg, OP_CAPTURE, req, res);
}

static void on_cancel(const http_request_t *req, http_response_t *res, void *arg)
{
    handle(arg, OP_CANCEL, req, res);
}

static void on_refund(const http_request_t *req, http_response_t *res, void *arg)
{
    handle(arg, OP_REFUND, req, res);
}

static void on_refund_get(const http_request_t *req, http_response_t *res, void *arg)
{
    handle(arg, OP_REFUND_GET, req, res);
}

int fake_yoo_routes(http_server_t *server, fake_t *fake)
{
    return http_route(server, "POST", "/v3/payments", on_create, fake) != 0 ||
                   http_route(server, "GET", "/v3/payments/{id}", on_get, fake) != 0 ||
                   http_route(server, "POST", "/v3/payments/{id}/capture", on_capture, fake) != 0 ||
                   http_route(server, "POST", "/v3/payments/{id}/cancel", on_cancel, fake) != 0 ||
                   http_route(server, "POST", "/v3/refunds", on_refund, fake) != 0 ||
                   http_route(server, "GET", "/v3/refunds/{id}", on_refund_get, fake) != 0
               ? -1
               : 0;
}
