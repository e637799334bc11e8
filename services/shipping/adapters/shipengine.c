/*
 * shipengine.c — the carrier client over libcurl and jansson (carrier.h):
 * one request per call, the answer classified (done, refused, transient,
 * unknown, not found) and copied into fixed fields.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/numparse.h"
#include "common/strbuf.h"
#include "services/shipping/adapters/carrier.h"

#define DEFAULT_CONNECT_TIMEOUT_MS 3000L
#define DEFAULT_TIMEOUT_MS         15000L

const char *carrier_result_name(carrier_result_t result)
{
    switch (result) {
    case CARRIER_OK:
        return "ok";
    case CARRIER_REFUSED:
        return "refused";
    case CARRIER_TRANSIENT:
        return "transient";
    case CARRIER_UNKNOWN:
        return "unknown";
    case CARRIER_NOT_FOUND:
        return "not_found";
    }
    return "?";
}

/* --- one call ------------------------------------------------------------------ */

typedef struct {
    long status;
    strbuf_t body;
    int64_t retry_after_ms;
    int curl_code;
    bool sent;
    char curl_error[CARRIER_TEXT_SIZE];
} reply_t;

static size_t on_body(char *bytes, size_t size, size_t count, void *userdata)
{
    reply_t *reply = userdata;
    size_t n = size * count;
    return strbuf_append(&reply->body, bytes, n) == 0 ? n : 0;
}

static size_t on_header(char *line, size_t size, size_t count, void *userdata)
{
    reply_t *reply = userdata;
    size_t len = size * count;
    static const char name[] = "retry-after:";
    if (len > sizeof name - 1 && len < 64 && strncasecmp(line, name, sizeof name - 1) == 0) {
        char value[64];
        size_t start = sizeof name - 1;
        while (start < len && line[start] == ' ')
            start++;
        size_t end = len;
        while (end > start &&
               (line[end - 1] == '\r' || line[end - 1] == '\n' || line[end - 1] == ' '))
            end--;
        memcpy(value, line + start, end - start);
        value[end - start] = '\0';
        int64_t seconds = 0;
        if (numparse_int_range(value, 0, 86400, &seconds) == 0)
            reply->retry_after_ms = seconds * 1000;
    }
    return len;
}

/* 0 when an answer came (any status), -1 when none did. body may be NULL. */
static int call(const carrier_config_t *config, const char *method, const char *path,
                const char *body, reply_t *reply)
{
    memset(reply, 0, sizeof *reply);
    strbuf_init(&reply->body, CARRIER_REPLY_MAX);
    char url[1024], key[320];
    if (snprintf(url, sizeof url, "%s%s", config->base_url, path) >= (int)sizeof url ||
        snprintf(key, sizeof key, "API-Key: %s", config->api_key ? config->api_key : "") >=
            (int)sizeof key) {
        snprintf(reply->curl_error, sizeof reply->curl_error, "URL or key too long");
        reply->curl_code = CURLE_URL_MALFORMAT;
        return -1;
    }
    CURL *curl = curl_easy_init();
    if (!curl) {
        reply->curl_code = CURLE_OUT_OF_MEMORY;
        return -1;
    }
    struct curl_slist *list = NULL;
    list = curl_slist_append(list, "Expect:");
    list = curl_slist_append(list, "Accept: application/json");
    list = curl_slist_append(list, "Content-Type: application/json");
    list = curl_slist_append(list, key);
    char curl_error[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                     config->connect_timeout_ms > 0 ? config->connect_timeout_ms
                                                    : DEFAULT_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS,
                     config->timeout_ms > 0 ? config->timeout_ms : DEFAULT_TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, reply);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, reply);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_error);
    if (body) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    }
    CURLcode code = curl_easy_perform(curl);
    long request_size = 0;
    curl_easy_getinfo(curl, CURLINFO_REQUEST_SIZE, &request_size);
    reply->sent = request_size > 0;
    reply->curl_code = (int)code;
    int rc = -1;
    if (code == CURLE_OK) {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply->status);
        rc = 0;
    } else {
        str_copy_to(reply->curl_error, sizeof reply->curl_error,
                    curl_error[0] ? curl_error : curl_easy_strerror(code));
    }
    curl_slist_free_all(list);
    curl_easy_cleanup(curl);
    return rc;
}

static carrier_result_t fail(carrier_error_t *err, carrier_result_t result, int status,
                             const char *code, const char *message)
{
    str_copy_to(err->code, sizeof err->code, code);
    str_copy_to(err->message, sizeof err->message, message);
    err->http_status = status;
    return result;
}

/* Performs the call and classifies everything but a 2xx; a 2xx leaves
 * *parsed (the JSON answer, or NULL for an empty body) and returns
 * CARRIER_OK. effectful: a call that can have done something (a
 * purchase): a lost answer is unknown, not transient. */
static carrier_result_t perform(const carrier_config_t *config, const char *method,
                                const char *path, json_t *request, bool effectful, json_t **parsed,
                                carrier_error_t *err)
{
    memset(err, 0, sizeof *err);
    *parsed = NULL;
    char *body = request ? json_dumps(request, JSON_COMPACT) : NULL;
    json_decref(request);
    reply_t reply;
    int rc = call(config, method, path, body, &reply);
    free(body);
    carrier_result_t result = CARRIER_OK;
    if (rc != 0) {
        const char *code = reply.curl_code == CURLE_OPERATION_TIMEDOUT ? "timeout"
                           : reply.curl_code == CURLE_WRITE_ERROR      ? "bad_reply"
                           : reply.sent                                ? "no_answer"
                                                                       : "connect";
        result = fail(err, reply.sent && effectful ? CARRIER_UNKNOWN : CARRIER_TRANSIENT, 0, code,
                      reply.curl_error);
        goto done;
    }
    json_t *answer = reply.body.len ? json_loadb(reply.body.ptr, reply.body.len, 0, NULL) : NULL;
    if (reply.status >= 200 && reply.status < 300) {
        if (reply.body.len && !answer) {
            result = fail(err, effectful ? CARRIER_UNKNOWN : CARRIER_TRANSIENT, (int)reply.status,
                          "bad_reply", "the carrier's answer is not JSON");
            goto done;
        }
        *parsed = answer;
        goto done;
    }
    const json_t *first = json_array_get(json_object_get(answer, "errors"), 0);
    const char *code = json_string_value(json_object_get(first, "error_code"));
    const char *message = json_string_value(json_object_get(first, "message"));
    char fallback[32];
    snprintf(fallback, sizeof fallback, "http_%ld", reply.status);
    if (reply.status == 429) {
        result = CARRIER_TRANSIENT;
        err->retry_after_ms = reply.retry_after_ms ? reply.retry_after_ms : 5000;
    } else if (reply.status == 404) {
        result = CARRIER_NOT_FOUND;
    } else if (reply.status >= 500) {
        result = effectful ? CARRIER_UNKNOWN : CARRIER_TRANSIENT;
    } else {
        result = CARRIER_REFUSED;
    }
    int64_t retry_after_ms = err->retry_after_ms;
    fail(err, result, (int)reply.status, code ? code : fallback,
         message ? message : "the carrier refused the call");
    err->retry_after_ms = retry_after_ms;
    json_decref(answer);
done:
    strbuf_release(&reply.body);
    return result;
}

/* --- reading answers ------------------------------------------------------------ */

static void copy_str(char *out, size_t size, const json_t *object, const char *name)
{
    str_copy_to(out, size, json_string_value(json_object_get(object, name)));
}

/* A ShipEngine amount {currency, amount} in minor units; -1 when absent. */
static int64_t minor_of(const json_t *amount)
{
    const json_t *value = json_object_get(amount, "amount");
    if (!json_is_number(value))
        return -1;
    double number = json_number_value(value);
    if (!(number >= 0 && number < 1e12))
        return -1;
    return (int64_t)llround(number * 100.0);
}

/* "2026-12-05T10:11:12.345Z" -> unix ms; 0 when it does not parse. */
static int64_t time_of(const char *text)
{
    if (!text)
        return 0;
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *rest = strptime(text, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!rest)
        return 0;
    int64_t ms = (int64_t)timegm(&tm) * 1000;
    if (rest[0] == '.' && rest[1] >= '0' && rest[1] <= '9') {
        int64_t frac = 0;
        int digits = 0;
        for (rest++; *rest >= '0' && *rest <= '9'; rest++)
            if (digits < 3) {
                frac = frac * 10 + (*rest - '0');
                digits++;
            }
        while (digits++ < 3)
            frac *= 10;
        ms += frac;
    }
    return ms;
}

static json_t *address_json(const carrier_address_t *address)
{
    json_t *out = json_pack("{s:s, s:s, s:s, s:s, s:s}", "name", address->name, "address_line1",
                            address->line1, "city_locality", address->city, "country_code",
                            address->country[0] ? address->country : "RU", "phone", address->phone);
    if (address->line2[0])
        json_object_set_new(out, "address_line2", json_string(address->line2));
    if (address->region[0])
        json_object_set_new(out, "state_province", json_string(address->region));
    if (address->postal_code[0])
        json_object_set_new(out, "postal_code", json_string(address->postal_code));
    return out;
}

static void address_of(const json_t *object, carrier_address_t *out)
{
    memset(out, 0, sizeof *out);
    copy_str(out->name, sizeof out->name, object, "name");
    copy_str(out->phone, sizeof out->phone, object, "phone");
    copy_str(out->line1, sizeof out->line1, object, "address_line1");
    copy_str(out->line2, sizeof out->line2, object, "address_line2");
    copy_str(out->city, sizeof out->city, object, "city_locality");
    copy_str(out->region, sizeof out->region, object, "state_province");
    copy_str(out->postal_code, sizeof out->postal_code, object, "postal_code");
    copy_str(out->country, sizeof out->country, object, "country_code");
}

static bool same_address(const carrier_address_t *a, const carrier_address_t *b)
{
    return strcmp(a->line1, b->line1) == 0 && strcmp(a->line2, b->line2) == 0 &&
           strcmp(a->city, b->city) == 0 && strcmp(a->postal_code, b->postal_code) == 0 &&
           strcmp(a->region, b->region) == 0;
}

static carrier_result_t malformed(carrier_error_t *err, const char *what)
{
    return fail(err, CARRIER_TRANSIENT, 200, "bad_reply", what);
}

/* --- addresses and rates ---------------------------------------------------------- */

carrier_result_t carrier_address_validate(const carrier_config_t *config,
                                          const carrier_address_t *address,
                                          carrier_address_check_t *out, carrier_error_t *err)
{
    memset(out, 0, sizeof *out);
    json_t *answer = NULL;
    carrier_result_t result = perform(config, "POST", "/v1/addresses/validate",
                                      json_pack("[o]", address_json(address)), false, &answer, err);
    if (result != CARRIER_OK)
        return result;
    const json_t *first = json_array_get(answer, 0);
    const char *status = json_string_value(json_object_get(first, "status"));
    const json_t *message = json_array_get(json_object_get(first, "messages"), 0);
    copy_str(out->message, sizeof out->message, message, "message");
    copy_str(out->detail_code, sizeof out->detail_code, message, "detail_code");
    const json_t *matched = json_object_get(first, "matched_address");
    if (!status) {
        result = malformed(err, "the validation answer has no status");
    } else if (strcmp(status, "error") == 0 || !json_is_object(matched)) {
        out->verdict = CARRIER_ADDRESS_WRONG;
    } else {
        address_of(matched, &out->matched);
        bool changed = !same_address(&out->matched, address);
        out->verdict = changed || strcmp(status, "warning") == 0 ? CARRIER_ADDRESS_CORRECTED
                                                                 : CARRIER_ADDRESS_VERIFIED;
        if (!changed && out->verdict == CARRIER_ADDRESS_CORRECTED)
            out->verdict = CARRIER_ADDRESS_VERIFIED; /* a warning without a change */
    }
    json_decref(answer);
    return result;
}

carrier_result_t carrier_rates(const carrier_config_t *config, const char *const *carrier_ids,
                               size_t carrier_count, const carrier_address_t *to, int64_t weight_g,
                               carrier_rate_t *out, size_t max, size_t *count, carrier_error_t *err)
{
    *count = 0;
    json_t *ids = json_array();
    for (size_t i = 0; i < carrier_count; i++)
        json_array_append_new(ids, json_string(carrier_ids[i]));
    json_t *request =
        json_pack("{s:{s:o, s:[{s:{s:I, s:s}}]}, s:{s:o}}", "shipment", "ship_to", address_json(to),
                  "packages", "weight", "value", (json_int_t)weight_g, "unit", "gram",
                  "rate_options", "carrier_ids", ids);
    json_t *answer = NULL;
    carrier_result_t result = perform(config, "POST", "/v1/rates", request, false, &answer, err);
    if (result != CARRIER_OK)
        return result;
    const json_t *rates = json_object_get(json_object_get(answer, "rate_response"), "rates");
    size_t i;
    const json_t *rate;
    json_array_foreach(rates, i, rate)
    {
        if (*count == max)
            break;
        carrier_rate_t *one = &out[*count];
        memset(one, 0, sizeof *one);
        copy_str(one->carrier_id, sizeof one->carrier_id, rate, "carrier_id");
        copy_str(one->service_code, sizeof one->service_code, rate, "service_code");
        one->amount_minor = minor_of(json_object_get(rate, "shipping_amount"));
        json_int_t days = json_integer_value(json_object_get(rate, "delivery_days"));
        one->days = days > 0 && days < 365 ? (int)days : 0;
        if (one->carrier_id[0] && one->service_code[0] && one->amount_minor >= 0)
            (*count)++;
    }
    json_decref(answer);
    if (*count == 0)
        return fail(err, CARRIER_REFUSED, 200, "no_rates_returned",
                    "the carrier returned no rates for the parcel");
    return CARRIER_OK;
}

/* --- shipments and labels ------------------------------------------------------------ */

static void shipment_of(const json_t *object, carrier_shipment_t *out)
{
    memset(out, 0, sizeof *out);
    copy_str(out->shipment_id, sizeof out->shipment_id, object, "shipment_id");
    copy_str(out->external_id, sizeof out->external_id, object, "external_shipment_id");
    copy_str(out->status, sizeof out->status, object, "shipment_status");
}

carrier_result_t carrier_shipment_create(const carrier_config_t *config, const char *external_id,
                                         const char *carrier_id, const char *service_code,
                                         const char *package_code, const carrier_address_t *to,
                                         int64_t weight_g, carrier_shipment_t *out,
                                         carrier_error_t *err)
{
    json_t *request =
        json_pack("{s:[{s:s, s:s, s:s, s:s, s:o, s:[{s:s, s:{s:I, s:s}}]}]}", "shipments",
                  "external_shipment_id", external_id, "carrier_id", carrier_id, "service_code",
                  service_code, "validate_address", "no_validation", "ship_to", address_json(to),
                  "packages", "package_code", package_code ? package_code : "", "weight", "value",
                  (json_int_t)weight_g, "unit", "gram");
    json_t *answer = NULL;
    carrier_result_t result = perform(config, "POST", "/v1/shipments", request, true, &answer, err);
    if (result != CARRIER_OK)
        return result;
    const json_t *first = json_array_get(json_object_get(answer, "shipments"), 0);
    const json_t *error = json_array_get(json_object_get(first, "errors"), 0);
    if (error) {
        result =
            fail(err, CARRIER_REFUSED, 200, json_string_value(json_object_get(error, "error_code")),
                 json_string_value(json_object_get(error, "message")));
    } else {
        shipment_of(first, out);
        if (!out->shipment_id[0])
            result = fail(err, CARRIER_UNKNOWN, 200, "bad_reply", "no shipment_id in the answer");
    }
    json_decref(answer);
    return result;
}

carrier_result_t carrier_shipment_find(const carrier_config_t *config, const char *external_id,
                                       carrier_shipment_t *out, carrier_error_t *err)
{
    char path[256];
    char *escaped = curl_easy_escape(NULL, external_id, 0);
    if (!escaped || snprintf(path, sizeof path, "/v1/shipments/external_shipment_id/%s", escaped) >=
                        (int)sizeof path) {
        curl_free(escaped);
        return fail(err, CARRIER_REFUSED, 0, "bad_request", "the reference is too long");
    }
    curl_free(escaped);
    json_t *answer = NULL;
    carrier_result_t result = perform(config, "GET", path, NULL, false, &answer, err);
    if (result == CARRIER_OK) {
        shipment_of(answer, out);
        if (!out->shipment_id[0])
            result = malformed(err, "no shipment_id in the answer");
    }
    json_decref(answer);
    return result;
}

carrier_result_t carrier_shipment_cancel(const carrier_config_t *config, const char *shipment_id,
                                         carrier_error_t *err)
{
    char path[256];
    snprintf(path, sizeof path, "/v1/shipments/%s/cancel", shipment_id);
    json_t *answer = NULL;
    carrier_result_t result = perform(config, "PUT", path, NULL, true, &answer, err);
    json_decref(answer);
    return result;
}

static void label_of(const json_t *object, carrier_label_t *out)
{
    memset(out, 0, sizeof *out);
    copy_str(out->label_id, sizeof out->label_id, object, "label_id");
    copy_str(out->shipment_id, sizeof out->shipment_id, object, "shipment_id");
    copy_str(out->status, sizeof out->status, object, "status");
    copy_str(out->tracking_number, sizeof out->tracking_number, object, "tracking_number");
    const json_t *download = json_object_get(object, "label_download");
    copy_str(out->label_url, sizeof out->label_url, download,
             json_object_get(download, "pdf") ? "pdf" : "href");
    out->cost_minor = minor_of(json_object_get(object, "shipment_cost"));
}

carrier_result_t carrier_label_buy(const carrier_config_t *config, const char *shipment_id,
                                   carrier_label_t *out, carrier_error_t *err)
{
    char path[256];
    snprintf(path, sizeof path, "/v1/labels/shipment/%s", shipment_id);
    json_t *answer = NULL;
    carrier_result_t result =
        perform(config, "POST", path,
                json_pack("{s:s, s:s}", "label_format", "pdf", "label_download_type", "url"), true,
                &answer, err);
    if (result == CARRIER_OK) {
        label_of(answer, out);
        if (!out->label_id[0] || !out->tracking_number[0])
            result = fail(err, CARRIER_UNKNOWN, 200, "bad_reply", "no label_id in the answer");
    }
    json_decref(answer);
    return result;
}

carrier_result_t carrier_label_find(const carrier_config_t *config, const char *shipment_id,
                                    carrier_label_t *out, carrier_error_t *err)
{
    char path[256];
    char *escaped = curl_easy_escape(NULL, shipment_id, 0);
    int n = escaped ? snprintf(path, sizeof path, "/v1/labels?shipment_id=%s", escaped) : -1;
    curl_free(escaped);
    if (n < 0 || n >= (int)sizeof path)
        return fail(err, CARRIER_REFUSED, 0, "bad_request", "the shipment id is too long");
    json_t *answer = NULL;
    carrier_result_t result = perform(config, "GET", path, NULL, false, &answer, err);
    if (result != CARRIER_OK)
        return result;
    result = CARRIER_NOT_FOUND;
    size_t i;
    const json_t *label;
    json_array_foreach(json_object_get(answer, "labels"), i, label)
    {
        const char *status = json_string_value(json_object_get(label, "status"));
        if (status && strcmp(status, "voided") != 0 && strcmp(status, "error") != 0) {
            label_of(label, out);
            result = CARRIER_OK;
            break;
        }
    }
    json_decref(answer);
    return result;
}

carrier_result_t carrier_label_void(const carrier_config_t *config, const char *label_id,
                                    bool *approved, char message[CARRIER_TEXT_SIZE],
                                    carrier_error_t *err)
{
    *approved = false;
    message[0] = '\0';
    char path[256];
    snprintf(path, sizeof path, "/v1/labels/%s/void", label_id);
    json_t *answer = NULL;
    carrier_result_t result = perform(config, "PUT", path, NULL, true, &answer, err);
    if (result == CARRIER_OK) {
        const json_t *flag = json_object_get(answer, "approved");
        if (!json_is_boolean(flag))
            result = malformed(err, "no approved in the void answer");
        *approved = json_is_true(flag);
        str_copy_to(message, CARRIER_TEXT_SIZE,
                    json_string_value(json_object_get(answer, "message")));
    }
    json_decref(answer);
    return result;
}

/* --- tracking --------------------------------------------------------------------- */

static bool known_status(const char *code)
{
    static const char *const codes[] = {"UN", "AC", "IT", "DE", "EX", "AT", "NY", "SP"};
    for (size_t i = 0; code && i < sizeof codes / sizeof codes[0]; i++)
        if (strcmp(code, codes[i]) == 0)
            return true;
    return false;
}

carrier_result_t carrier_tracking_get(const carrier_config_t *config, const char *carrier_code,
                                      const char *tracking_number, carrier_track_t *out,
                                      carrier_error_t *err)
{
    memset(out, 0, sizeof *out);
    char *carrier = curl_easy_escape(NULL, carrier_code, 0);
    char *number = curl_easy_escape(NULL, tracking_number, 0);
    char path[512];
    int n = carrier && number
                ? snprintf(path, sizeof path, "/v1/tracking?carrier_code=%s&tracking_number=%s",
                           carrier, number)
                : -1;
    curl_free(carrier);
    curl_free(number);
    if (n < 0 || n >= (int)sizeof path)
        return fail(err, CARRIER_REFUSED, 0, "bad_request", "the tracking number is too long");
    json_t *answer = NULL;
    carrier_result_t result = perform(config, "GET", path, NULL, false, &answer, err);
    if (result != CARRIER_OK)
        return result;
    const char *code = json_string_value(json_object_get(answer, "status_code"));
    if (!known_status(code)) {
        json_decref(answer);
        return malformed(err, "an unknown tracking status code");
    }
    str_copy_to(out->status_code, sizeof out->status_code, code);
    str_copy_to(out->tracking_number, sizeof out->tracking_number, tracking_number);
    const json_t *latest = json_array_get(json_object_get(answer, "events"), 0);
    copy_str(out->description, sizeof out->description, latest, "description");
    if (!out->description[0])
        copy_str(out->description, sizeof out->description, answer, "status_description");
    copy_str(out->event_id, sizeof out->event_id, latest, "event_id");
    out->at_ms = time_of(json_string_value(json_object_get(latest, "occurred_at")));
    json_decref(answer);
    return CARRIER_OK;
}

/* Subscribes url to the webhooks of event (track, batch); an existing
 * subscription of that event is updated. */
static carrier_result_t webhook_subscribe(const carrier_config_t *config, const char *event_name,
                                          const char *url, const char *header_name,
                                          const char *secret, carrier_error_t *err)
{
    json_t *answer = NULL;
    carrier_result_t result =
        perform(config, "POST", "/v1/environment/webhooks",
                json_pack("{s:s, s:s, s:[{s:s, s:s}]}", "event", event_name, "url", url, "headers",
                          "key", header_name, "value", secret),
                false, &answer, err);
    json_decref(answer);
    if (result != CARRIER_REFUSED || err->http_status != 409)
        return result;
    /* one exists: find it and update it */
    result = perform(config, "GET", "/v1/environment/webhooks", NULL, false, &answer, err);
    if (result != CARRIER_OK)
        return result;
    char id[CARRIER_ID_SIZE] = "";
    size_t i;
    const json_t *hook;
    json_array_foreach(answer, i, hook)
    {
        const char *event = json_string_value(json_object_get(hook, "event"));
        if (event && strcmp(event, event_name) == 0)
            copy_str(id, sizeof id, hook, "webhook_id");
    }
    json_decref(answer);
    if (!id[0])
        return malformed(err, "the carrier refused a second subscription but lists none");
    char path[256];
    snprintf(path, sizeof path, "/v1/environment/webhooks/%s", id);
    result = perform(config, "PUT", path,
                     json_pack("{s:s, s:[{s:s, s:s}]}", "url", url, "headers", "key", header_name,
                               "value", secret),
                     false, &answer, err);
    json_decref(answer);
    return result;
}

carrier_result_t carrier_webhook_subscribe(const carrier_config_t *config, const char *url,
                                           const char *header_name, const char *secret,
                                           carrier_error_t *err)
{
    return webhook_subscribe(config, "track", url, header_name, secret, err);
}

carrier_result_t carrier_batch_webhook_subscribe(const carrier_config_t *config, const char *url,
                                                 const char *header_name, const char *secret,
                                                 carrier_error_t *err)
{
    return webhook_subscribe(config, "batch", url, header_name, secret, err);
}

int carrier_batch_webhook_parse(const char *body, size_t len, char batch_id[CARRIER_ID_SIZE])
{
    batch_id[0] = '\0';
    if (!body || len == 0 || len > CARRIER_WEBHOOK_MAX)
        return -1;
    json_t *root = json_loadb(body, len, 0, NULL);
    const char *type = json_string_value(json_object_get(root, "resource_type"));
    const char *url = json_string_value(json_object_get(root, "resource_url"));
    const char *mark = url ? strstr(url, "/v1/batches/") : NULL;
    const char *id = mark ? mark + strlen("/v1/batches/") : NULL;
    size_t id_len = id ? strcspn(id, "/?#") : 0;
    int rc = -1;
    if (type && (strcmp(type, "API_BATCH") == 0 || strcmp(type, "BATCH") == 0) && id &&
        id_len > 0 && id_len < CARRIER_ID_SIZE && id[id_len] == '\0') {
        memcpy(batch_id, id, id_len);
        batch_id[id_len] = '\0';
        rc = 0;
    }
    json_decref(root);
    return rc;
}

bool carrier_webhook_verify(const char *secret, const char *header_value)
{
    if (!secret || !secret[0] || !header_value)
        return false;
    size_t want = strlen(secret), got = strlen(header_value);
    unsigned char diff = (unsigned char)(want != got);
    /* every byte of the secret is compared whatever the header holds */
    for (size_t i = 0; i < want; i++) {
        unsigned char other = i < got ? (unsigned char)header_value[i] : 0;
        diff |= (unsigned char)((unsigned char)secret[i] ^ other);
    }
    return diff == 0;
}

/* Copies a string member into out; -1 when absent (required) or too long. */
static int take_field(char *out, size_t size, const json_t *object, const char *name, bool required)
{
    const char *value = json_string_value(json_object_get(object, name));
    if (!value)
        return required ? -1 : 0;
    if (strlen(value) >= size)
        return -1;
    str_copy_to(out, size, value);
    return 0;
}

int carrier_webhook_parse(const char *body, size_t len, carrier_track_t *out)
{
    memset(out, 0, sizeof *out);
    if (!body || len == 0 || len > CARRIER_WEBHOOK_MAX)
        return -1;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    int rc = -1;
    const char *type = json_string_value(json_object_get(root, "resource_type"));
    const json_t *data = json_object_get(root, "data");
    if (!type || strcmp(type, "API_TRACK") != 0 || !json_is_object(data))
        goto done;
    const json_t *latest = json_array_get(json_object_get(data, "events"), 0);
    if (take_field(out->tracking_number, sizeof out->tracking_number, data, "tracking_number",
                   true) != 0 ||
        !out->tracking_number[0] ||
        take_field(out->status_code, sizeof out->status_code, data, "status_code", true) != 0 ||
        !known_status(out->status_code) ||
        take_field(out->event_id, sizeof out->event_id, root, "event_id", false) != 0)
        goto done;
    if (!out->event_id[0] &&
        take_field(out->event_id, sizeof out->event_id, latest, "event_id", false) != 0)
        goto done;
    const char *description = json_string_value(json_object_get(latest, "description"));
    if (!description)
        description = json_string_value(json_object_get(data, "status_description"));
    str_copy_to(out->description, sizeof out->description, description);
    const char *when = json_string_value(json_object_get(data, "occurred_at"));
    out->at_ms = time_of(when ? when : json_string_value(json_object_get(latest, "occurred_at")));
    rc = 0;
done:
    json_decref(root);
    return rc;
}

/* --- batches and manifests ----------------------------------------------------------- */

static json_t *ids_json(const char *const *ids, size_t count)
{
    json_t *array = json_array();
    for (size_t i = 0; i < count; i++)
        json_array_append_new(array, json_string(ids[i]));
    return array;
}

static void batch_of(const json_t *object, carrier_batch_t *out)
{
    memset(out, 0, sizeof *out);
    copy_str(out->batch_id, sizeof out->batch_id, object, "batch_id");
    copy_str(out->status, sizeof out->status, object, "status");
    const json_t *errors = json_object_get(object, "errors");
    out->errors = json_is_integer(errors) ? (int64_t)json_integer_value(errors) : 0;
}

carrier_result_t carrier_batch_create(const carrier_config_t *config, const char *external_id,
                                      const char *const *shipment_ids, size_t count,
                                      carrier_batch_t *out, carrier_error_t *err)
{
    json_t *answer = NULL;
    carrier_result_t result = perform(config, "POST", "/v1/batches",
                                      json_pack("{s:s, s:o}", "external_batch_id", external_id,
                                                "shipment_ids", ids_json(shipment_ids, count)),
                                      true, &answer, err);
    if (result == CARRIER_OK) {
        batch_of(answer, out);
        if (!out->batch_id[0])
            result = fail(err, CARRIER_UNKNOWN, 200, "bad_reply", "no batch_id in the answer");
    }
    json_decref(answer);
    return result;
}

carrier_result_t carrier_batch_change(const carrier_config_t *config, const char *batch_id,
                                      bool add, const char *const *shipment_ids, size_t count,
                                      carrier_error_t *err)
{
    char path[256];
    snprintf(path, sizeof path, "/v1/batches/%s/%s", batch_id, add ? "add" : "remove");
    json_t *answer = NULL;
    carrier_result_t result = perform(
        config, "POST", path, json_pack("{s:o}", "shipment_ids", ids_json(shipment_ids, count)),
        false, &answer, err);
    json_decref(answer);
    return result;
}

carrier_result_t carrier_batch_process(const carrier_config_t *config, const char *batch_id,
                                       carrier_error_t *err)
{
    char path[256];
    snprintf(path, sizeof path, "/v1/batches/%s/process/labels", batch_id);
    json_t *answer = NULL;
    carrier_result_t result = perform(
        config, "POST", path, json_pack("{s:s}", "label_format", "pdf"), true, &answer, err);
    json_decref(answer);
    return result;
}

carrier_result_t carrier_batch_get(const carrier_config_t *config, const char *batch_id,
                                   carrier_batch_t *out, carrier_error_t *err)
{
    char path[256];
    snprintf(path, sizeof path, "/v1/batches/%s", batch_id);
    json_t *answer = NULL;
    carrier_result_t result = perform(config, "GET", path, NULL, false, &answer, err);
    if (result == CARRIER_OK)
        batch_of(answer, out);
    json_decref(answer);
    return result;
}

carrier_result_t carrier_batch_find(const carrier_config_t *config, const char *external_id,
                                    carrier_batch_t *out, carrier_error_t *err)
{
    char path[256];
    snprintf(path, sizeof path, "/v1/batches/external_batch_id/%s", external_id);
    json_t *answer = NULL;
    carrier_result_t result = perform(config, "GET", path, NULL, false, &answer, err);
    if (result == CARRIER_OK) {
        batch_of(answer, out);
        if (!out->batch_id[0])
            result = fail(err, CARRIER_TRANSIENT, 200, "bad_reply", "no batch_id in the answer");
    }
    json_decref(answer);
    return result;
}

carrier_result_t carrier_batch_errors(const carrier_config_t *config, const char *batch_id,
                                      carrier_batch_error_t *out, size_t max, size_t *count,
                                      carrier_error_t *err)
{
    *count = 0;
    char path[256];
    snprintf(path, sizeof path, "/v1/batches/%s/errors", batch_id);
    json_t *answer = NULL;
    carrier_result_t result = perform(config, "GET", path, NULL, false, &answer, err);
    const json_t *errors = result == CARRIER_OK ? json_object_get(answer, "errors") : NULL;
    if (result == CARRIER_OK && !json_is_array(errors))
        result = fail(err, CARRIER_TRANSIENT, 200, "bad_reply", "no errors array in the answer");
    size_t i;
    const json_t *item;
    json_array_foreach(errors, i, item)
    {
        if (*count == max || !json_is_object(item))
            break;
        carrier_batch_error_t *e = &out[(*count)++];
        memset(e, 0, sizeof *e);
        copy_str(e->shipment_id, sizeof e->shipment_id, item, "shipment_id");
        copy_str(e->code, sizeof e->code, item, "error_code");
        copy_str(e->message, sizeof e->message, item, "message");
    }
    json_decref(answer);
    return result;
}

carrier_result_t carrier_manifest_create(const carrier_config_t *config,
                                         const char *const *label_ids, size_t count,
                                         char manifest_id[CARRIER_ID_SIZE],
                                         char href[CARRIER_URL_SIZE], carrier_error_t *err)
{
    manifest_id[0] = href[0] = '\0';
    json_t *answer = NULL;
    carrier_result_t result =
        perform(config, "POST", "/v1/manifests",
                json_pack("{s:o}", "label_ids", ids_json(label_ids, count)), true, &answer, err);
    if (result == CARRIER_OK) {
        copy_str(manifest_id, CARRIER_ID_SIZE, answer, "manifest_id");
        copy_str(href, CARRIER_URL_SIZE, json_object_get(answer, "manifest_download"), "href");
        if (!manifest_id[0])
            result = fail(err, CARRIER_UNKNOWN, 200, "bad_reply", "no manifest_id in the answer");
    }
    json_decref(answer);
    return result;
}

/* Label ids asked in one manifest look-up (GET .../manifests?label_ids=a,b):
 * a batch of hundreds is asked in several, its URL kept short. */
#define MANIFEST_FIND_CHUNK    25
#define MANIFEST_FIND_PATH_MAX 4096

/* The manifests holding any of count labels: the first found. */
static carrier_result_t manifest_find_some(const carrier_config_t *config,
                                           const char *const *label_ids, size_t count,
                                           char manifest_id[CARRIER_ID_SIZE],
                                           char href[CARRIER_URL_SIZE], carrier_error_t *err)
{
    strbuf_t path;
    strbuf_init(&path, MANIFEST_FIND_PATH_MAX);
    int rc = strbuf_append_str(&path, "/v1/manifests?label_ids=");
    for (size_t i = 0; rc == 0 && i < count; i++) {
        char *escaped = curl_easy_escape(NULL, label_ids[i], 0);
        rc = escaped ? strbuf_appendf(&path, "%s%s", i ? "," : "", escaped) : -1;
        curl_free(escaped);
    }
    if (rc != 0) {
        strbuf_release(&path);
        return fail(err, CARRIER_REFUSED, 0, "bad_request", "the label ids are too long");
    }
    json_t *answer = NULL;
    carrier_result_t result = perform(config, "GET", path.ptr, NULL, false, &answer, err);
    strbuf_release(&path);
    if (result != CARRIER_OK)
        return result;
    const json_t *manifests = json_object_get(answer, "manifests");
    if (!json_is_array(manifests)) {
        json_decref(answer);
        return fail(err, CARRIER_TRANSIENT, 200, "bad_reply", "no manifests array in the answer");
    }
    /* the filter is the carrier's: one of our labels must be in the manifest found */
    result = CARRIER_NOT_FOUND;
    size_t i, j;
    const json_t *manifest, *id;
    json_array_foreach(manifests, i, manifest)
    {
        json_array_foreach(json_object_get(manifest, "label_ids"), j, id)
        {
            for (size_t k = 0; result == CARRIER_NOT_FOUND && json_is_string(id) && k < count;
                 k++) {
                if (strcmp(json_string_value(id), label_ids[k]) != 0)
                    continue;
                copy_str(manifest_id, CARRIER_ID_SIZE, manifest, "manifest_id");
                copy_str(href, CARRIER_URL_SIZE, json_object_get(manifest, "manifest_download"),
                         "href");
                if (manifest_id[0])
                    result = CARRIER_OK;
            }
        }
    }
    json_decref(answer);
    return result;
}

carrier_result_t carrier_manifest_find(const carrier_config_t *config, const char *const *label_ids,
                                       size_t count, char manifest_id[CARRIER_ID_SIZE],
                                       char href[CARRIER_URL_SIZE], carrier_error_t *err)
{
    manifest_id[0] = href[0] = '\0';
    carrier_result_t result = CARRIER_NOT_FOUND;
    for (size_t at = 0; result == CARRIER_NOT_FOUND && at < count; at += MANIFEST_FIND_CHUNK) {
        size_t some = count - at < MANIFEST_FIND_CHUNK ? count - at : MANIFEST_FIND_CHUNK;
        result = manifest_find_some(config, label_ids + at, some, manifest_id, href, err);
    }
    return result;
}
