/*
 * shipengine.c — the fake carrier's ShipEngine-style v1 API
 * (../shared/notes/external-apis.md, "ShipEngine v1"). Every call but the
 * downloads carries the API-Key header (401 otherwise), takes
 * FAKE_CARRIER_LATENCY, is logged, and may meet a failure a test armed
 * (control.c): 429 with Retry-After, any status (done first or not), a
 * reply held past the client's timeout after the work was done.
 *
 *   POST /v1/addresses/validate        [address...] -> [{status, original_address,
 *                                       matched_address, messages}]
 *   POST /v1/rates                     {shipment, rate_options{carrier_ids}} -> rate_response
 *   POST /v1/shipments                 {shipments:[...]} (external_shipment_id unique)
 *   GET  /v1/shipments/{id}, /v1/shipments/external_shipment_id/{ext}
 *   PUT  /v1/shipments/{id}/cancel
 *   POST /v1/labels/shipment/{id}      buys a label: every call buys one (a carrier sells
 *                                       what it is asked for; never buying twice is ours)
 *   GET  /v1/labels?shipment_id=|external_shipment_id=, GET /v1/labels/{id}
 *   PUT  /v1/labels/{id}/void          {approved, message}: refused once the parcel
 *                                       is with the carrier (manifested or tracked past AC)
 *   POST /v1/batches {external_batch_id, shipment_ids}; GET /v1/batches/{id};
 *        GET /v1/batches/external_batch_id/{ext};
 *        /{id}/add, /{id}/remove {shipment_ids} (open batches only); /{id}/process/labels
 *        (204, done in the background, FAKE_CARRIER_BATCH_TIME); GET /{id}/errors
 *   POST /v1/manifests {label_ids}     the carrier takes the parcels: an AC event each
 *   GET  /v1/manifests?label_ids=a,b  the manifests holding any of those labels
 *   GET  /v1/tracking?carrier_code=&tracking_number=; POST /v1/tracking/start (204)
 *   POST/GET /v1/environment/webhooks, PUT /v1/environment/webhooks/{id}
 *   GET  /v1/downloads/labels/{file}, /v1/downloads/manifests/{file}  a small PDF
 *
 * The fake's own choices where ShipEngine's documents were not at hand:
 * an address without a postal code is a "warning" whose matched address
 * adds 101000; one with "nowhere" in its first line or no city is an
 * "error" (address_not_found). Rates come from a fixed table: carrier
 * se-russian-post (letter_first up to 500 g 120.00; parcel_online 250.00 +
 * 30.00 a kg) and se-cdek (cdek_pickup 280.00 + 35.00 a kg; cdek_courier
 * 350.00 + 40.00 a kg); a label costs what parcel_online or cdek_courier
 * would.
 */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/clock.h"
#include "tests/fakes/carrier/fakecarrier.h"

typedef struct {
    bool armed;
    fc_fault_t fault;
} armed_t;

static void answer_error(http_response_t *res, int status, const char *code, const char *message)
{
    char id[FC_ID_SIZE];
    fc_new_id("req", id);
    http_res_json_take(res, status,
                       json_pack("{s:s, s:[{s:s, s:s, s:s, s:s}]}", "request_id", id, "errors",
                                 "error_source", "shipengine", "error_type",
                                 status == 429 ? "system" : "validation", "error_code", code,
                                 "message", message));
}

/* Checks the key, waits the latency, logs the call and takes an armed
 * fault. false when the call is answered already (refused or failed
 * before any work). */
static bool prologue(fc_t *fake, const http_request_t *req, http_response_t *res, const char *op,
                     armed_t *armed)
{
    memset(armed, 0, sizeof *armed);
    const char *key = http_req_header(req, "API-Key");
    if (!key || strcmp(key, fake->config.api_key) != 0) {
        answer_error(res, 401, "unauthorized", "the API-Key header is missing or wrong");
        return false;
    }
    pthread_mutex_lock(&fake->lock);
    int64_t latency_ms = fake->config.latency_ms;
    pthread_mutex_unlock(&fake->lock);
    fc_pause_ms(latency_ms);
    pthread_mutex_lock(&fake->lock);
    fc_record(fake, op, req);
    armed->armed = fc_fault_take(fake, op, &armed->fault);
    pthread_mutex_unlock(&fake->lock);
    if (!armed->armed)
        return true;
    const fc_fault_t *fault = &armed->fault;
    if (strcmp(fault->kind, "http") == 0 && !fault->apply) {
        if (fault->http_status == 429) {
            char seconds[24];
            snprintf(seconds, sizeof seconds, "%" PRId64, fault->retry_after_s);
            http_res_header(res, "Retry-After", seconds);
            answer_error(res, 429, "rate_limit_exceeded", "too many requests");
        } else {
            answer_error(res, fault->http_status, "unspecified", "the carrier failed");
        }
        return false;
    }
    if (strcmp(fault->kind, "lose_reply") == 0 && !fault->apply) {
        fc_pause_ms(fault->delay_ms);
        answer_error(res, 504, "timeout", "the carrier did not answer in time");
        return false;
    }
    return true;
}

/* Sends the answer, unless an applied fault replaces or holds it. */
static void finish(http_response_t *res, const armed_t *armed, int status, json_t *body)
{
    if (armed->armed && strcmp(armed->fault.kind, "http") == 0) {
        json_decref(body);
        answer_error(res, armed->fault.http_status, "unspecified", "the carrier failed");
        return;
    }
    if (armed->armed && strcmp(armed->fault.kind, "lose_reply") == 0)
        fc_pause_ms(armed->fault.delay_ms); /* done, the answer comes too late */
    if (body)
        http_res_json_take(res, status, body);
    else
        http_res_text(res, status, "text/plain", "");
}

static bool armed_kind(const armed_t *armed, const char *kind)
{
    return armed->armed && strcmp(armed->fault.kind, kind) == 0;
}

static json_t *body_of(const http_request_t *req)
{
    size_t len = 0;
    const char *body = http_req_body(req, &len);
    return json_loadb(body ? body : "", len, 0, NULL);
}

static const char *str_of(const json_t *object, const char *name)
{
    const char *value = json_string_value(json_object_get(object, name));
    return value ? value : "";
}

/* The weight of a package in grams; -1 when absent or unknown. */
static int64_t grams_of(const json_t *weight)
{
    const json_t *value = json_object_get(weight, "value");
    if (!json_is_number(value))
        return -1;
    double number = json_number_value(value);
    const char *unit = str_of(weight, "unit");
    double grams = strcmp(unit, "gram") == 0       ? number
                   : strcmp(unit, "kilogram") == 0 ? number * 1000.0
                   : strcmp(unit, "ounce") == 0    ? number * 28.349523125
                   : strcmp(unit, "pound") == 0    ? number * 453.59237
                                                   : -1.0;
    if (grams < 0 || grams > 1e9)
        return -1;
    return (int64_t)llround(grams);
}

/* --- addresses ---------------------------------------------------------------- */

static json_t *validate_one(const json_t *address)
{
    const char *line1 = str_of(address, "address_line1");
    const char *city = str_of(address, "city_locality");
    const char *postal = str_of(address, "postal_code");
    if (!line1[0] || !city[0] || strcasestr(line1, "nowhere")) {
        return json_pack("{s:s, s:O, s:n, s:[{s:s, s:s, s:s, s:s}]}", "status", "error",
                         "original_address", address, "matched_address", "messages", "code",
                         "a1004", "message", "Address not found", "type", "error", "detail_code",
                         "address_not_found");
    }
    if (!postal[0]) {
        json_t *matched = json_deep_copy(address);
        json_object_set_new(matched, "postal_code", json_string("101000"));
        return json_pack("{s:s, s:O, s:o, s:[{s:s, s:s, s:s, s:s}]}", "status", "warning",
                         "original_address", address, "matched_address", matched, "messages",
                         "code", "a1002", "message", "The postal code was added", "type", "warning",
                         "detail_code", "invalid_postal_code");
    }
    return json_pack("{s:s, s:O, s:O, s:[]}", "status", "verified", "original_address", address,
                     "matched_address", address, "messages");
}

static void on_validate(const http_request_t *req, http_response_t *res, void *arg)
{
    fc_t *fake = arg;
    armed_t armed;
    if (!prologue(fake, req, res, "validate", &armed))
        return;
    json_t *body = body_of(req);
    if (!json_is_array(body) || json_array_size(body) == 0 || json_array_size(body) > 250) {
        json_decref(body);
        answer_error(res, 400, "invalid_field_value", "an array of 1 to 250 addresses expected");
        return;
    }
    json_t *out = json_array();
    size_t i;
    json_t *address;
    json_array_foreach(body, i, address)
    {
        json_array_append_new(out, json_is_object(address) ? validate_one(address)
                                                           : json_pack("{s:s}", "status", "error"));
    }
    json_decref(body);
    finish(res, &armed, 200, out);
}

/* --- rates -------------------------------------------------------------------- */

typedef struct {
    const char *carrier_id;
    const char *service_code;
    int64_t max_g; /* 0: any */
    int64_t base;
    int64_t per_kg;
    int days;
} rate_row_t;

static const rate_row_t rate_table[] = {
    {"se-russian-post", "letter_first", 500, 12000, 0, 7},
    {"se-russian-post", "parcel_online", 0, 25000, 3000, 6},
    {"se-cdek", "cdek_pickup", 0, 28000, 3500, 4},
    {"se-cdek", "cdek_courier", 0, 35000, 4000, 3},
};

static json_t *amount_json(int64_t minor)
{
    json_t *amount = json_pack("{s:s}", "currency", "rub");
    json_object_set_new(amount, "amount", json_real((double)minor / 100.0));
    return amount;
}

static void on_rates(const http_request_t *req, http_response_t *res, void *arg)
{
    fc_t *fake = arg;
    armed_t armed;
    if (!prologue(fake, req, res, "rates", &armed))
        return;
    json_t *body = body_of(req);
    json_t *shipment = json_object_get(body, "shipment");
    json_t *carriers = json_object_get(json_object_get(body, "rate_options"), "carrier_ids");
    json_t *packages = json_object_get(shipment, "packages");
    if (!json_is_object(shipment) || !json_is_array(carriers) || json_array_size(carriers) == 0 ||
        !json_is_array(packages) || json_array_size(packages) == 0) {
        json_decref(body);
        answer_error(res, 400, "field_value_required",
                     "shipment.packages and rate_options.carrier_ids are required");
        return;
    }
    int64_t grams = 0;
    size_t i;
    json_t *item;
    json_array_foreach(packages, i, item)
    {
        int64_t one = grams_of(json_object_get(item, "weight"));
        if (one <= 0) {
            json_decref(body);
            answer_error(res, 400, "invalid_field_value", "a package weight is missing or bad");
            return;
        }
        grams += one;
    }
    json_t *rates = json_array();
    char rate_id[FC_ID_SIZE];
    if (!armed_kind(&armed, "no_rates")) {
        json_array_foreach(carriers, i, item)
        {
            const char *carrier = json_string_value(item);
            for (size_t r = 0; carrier && r < sizeof rate_table / sizeof rate_table[0]; r++) {
                const rate_row_t *row = &rate_table[r];
                if (strcmp(row->carrier_id, carrier) != 0 || (row->max_g && grams > row->max_g))
                    continue;
                int64_t cost = row->base + row->per_kg * ((grams + 999) / 1000);
                fc_new_id("se-rate", rate_id);
                json_array_append_new(
                    rates, json_pack("{s:s, s:s, s:s, s:o, s:i, s:s}", "rate_id", rate_id,
                                     "carrier_id", row->carrier_id, "service_code",
                                     row->service_code, "shipping_amount", amount_json(cost),
                                     "delivery_days", row->days, "validation_status", "valid"));
            }
        }
    }
    json_decref(body);
    bool none = json_array_size(rates) == 0;
    json_t *errors = none ? json_pack("[{s:s, s:s}]", "error_code", "no_rates_returned", "message",
                                      "no rates were returned for the shipment")
                          : json_array();
    fc_new_id("se-rate-request", rate_id);
    finish(res, &armed, 200,
           json_pack("{s:{s:s, s:s, s:o, s:o, s:[]}}", "rate_response", "rate_request_id", rate_id,
                     "status", none ? "error" : "completed", "rates", rates, "errors", errors,
                     "invalid_rates"));
}

/* --- shipments ---------------------------------------------------------------- */

static fc_shipment_t *shipment_add(fc_t *fake, const json_t *spec, json_t **error_out)
{
    const char *external = str_of(spec, "external_shipment_id");
    const char *carrier = str_of(spec, "carrier_id");
    const char *service = str_of(spec, "service_code");
    json_t *packages = json_object_get(spec, "packages");
    json_t *ship_to = json_object_get(spec, "ship_to");
    int64_t grams = json_is_array(packages) && json_array_size(packages) == 1
                        ? grams_of(json_object_get(json_array_get(packages, 0), "weight"))
                        : -1;
    if (!carrier[0] || !service[0] || !json_is_object(ship_to) || grams <= 0 ||
        strlen(external) >= FC_ID_SIZE) {
        *error_out = json_pack("{s:s, s:s}", "error_code", "invalid_field_value", "message",
                               "carrier_id, service_code, ship_to and one package with a "
                               "weight are required");
        return NULL;
    }
    if (fc_shipment_by_external(fake, external)) {
        *error_out = json_pack("{s:s, s:s}", "error_code", "duplicate_external_shipment_id",
                               "message", "a shipment with this external_shipment_id exists");
        return NULL;
    }
    if (fake->shipment_count == FC_OBJECTS_MAX) {
        *error_out = json_pack("{s:s}", "error_code", "too_many_shipments");
        return NULL;
    }
    if (fake->shipment_count % 256 == 0) {
        fc_shipment_t **grown =
            realloc(fake->shipments, (fake->shipment_count + 256) * sizeof *grown);
        if (!grown)
            return NULL;
        fake->shipments = grown;
    }
    fc_shipment_t *shipment = calloc(1, sizeof *shipment);
    if (!shipment)
        return NULL;
    fc_new_id("se", shipment->id);
    snprintf(shipment->external_id, sizeof shipment->external_id, "%s", external);
    snprintf(shipment->carrier_id, sizeof shipment->carrier_id, "%s", carrier);
    snprintf(shipment->service_code, sizeof shipment->service_code, "%s", service);
    snprintf(shipment->package_code, sizeof shipment->package_code, "%s",
             str_of(json_array_get(packages, 0), "package_code"));
    snprintf(shipment->status, sizeof shipment->status, "pending");
    shipment->ship_to = json_deep_copy(ship_to);
    shipment->weight_g = grams;
    shipment->created_ms = clock_now_ms();
    fake->shipments[fake->shipment_count++] = shipment;
    return shipment;
}

static void on_shipments_create(const http_request_t *req, http_response_t *res, void *arg)
{
    fc_t *fake = arg;
    armed_t armed;
    if (!prologue(fake, req, res, "shipments.create", &armed))
        return;
    json_t *body = body_of(req);
    json_t *specs = json_object_get(body, "shipments");
    if (!json_is_array(specs) || json_array_size(specs) == 0 || json_array_size(specs) > 100) {
        json_decref(body);
        answer_error(res, 400, "invalid_field_value", "shipments: 1 to 100 expected");
        return;
    }
    json_t *out = json_array();
    bool errors = false;
    size_t i;
    json_t *spec;
    pthread_mutex_lock(&fake->lock);
    json_array_foreach(specs, i, spec)
    {
        json_t *error = NULL;
        fc_shipment_t *shipment = shipment_add(fake, spec, &error);
        json_t *item = shipment
                           ? fc_shipment_json(shipment)
                           : json_pack("{s:s, s:s}", "external_shipment_id",
                                       str_of(spec, "external_shipment_id"), "status", "error");
        json_object_set_new(item, "errors", error ? json_pack("[o]", error) : json_array());
        errors = errors || !shipment;
        json_array_append_new(out, item);
    }
    pthread_mutex_unlock(&fake->lock);
    json_decref(body);
    finish(res, &armed, 200, json_pack("{s:b, s:o}", "has_errors", errors, "shipments", out));
}

static void answer_shipment(fc_t *fake, http_response_t *res, const armed_t *armed,
                            fc_shipment_t *shipment)
{
    json_t *body = shipment ? fc_shipment_json(shipment) : NULL;
    pthread_mutex_unlock(&fake->lock);
    if (!body)
        answer_error(res, 404, "not_found", "no such shipment");
    else
        finish(res, armed, 200, body);
}

static void on_shipment_get(const http_request_t *req, http_response_t *res, void *arg)
{
    fc_t *fake = arg;
    armed_t armed;
    if (!prologue(fake, req, res, "shipments.get", &armed))
        return;
    pthread_mutex_lock(&fake->lock);
    answer_shipment(fake, res, &armed, fc_shipment_find(fake, http_req_param(req, "id")));
}

static void on_shipment_by_external(const http_request_t *req, http_response_t *res, void *arg)
{
    fc_t *fake = arg;
    armed_t armed;
    if (!prologue(fake, req, res, "shipments.get", &armed))
        return;
    pthread_mutex_lock(&fake->lock);
    answer_shipment(fake, res, &armed, fc_shipment_by_external(fake, http_req_param(req, "ext")));
}

static void on_shipment_cancel(const http_request_t *req, http_response_t *res, void *arg)
{
    fc_t *fake = arg;
    armed_t armed;
    if (!prologue(fake, req, res, "shipments.cancel", &armed))
        return;
    pthread_mutex_lock(&fake->lock);
    fc_shipment_t *shipment = fc_shipment_find(fake, http_req_param(req, "id"));
    if (shipment && strcmp(shipment->status, "pending") == 0)
        snprintf(shipment->status, sizeof shipment->status, "cancelled");
    bool ok = shipment && strcmp(shipment->status, "cancelled") == 0;
    bool known = shipment != NULL;
    pthread_mutex_unlock(&fake->lock);
    if (!known)
        answer_error(res, 404, "not_found", "no such shipment");
    else if (!ok)
        answer_error(res, 400, "invalid_status",
                     "a shipment with a label is voided, not cancelled");
    else
        finish(res, &armed, 204, NULL);
}

/* --- labels ------------------------------------------------------------------- */

static void on_label_buy(const http_request_t *req, http_response_t *res, void *arg)
{
    fc_t *fake = arg;
    armed_t armed;
    if (!prologue(fake, req, res, "labels.create", &armed))
        return;
    if (armed_kind(&armed, "insufficient_funds")) {
        answer_error(res, 400, "insufficient_funds", "the account's balance is too low");
        return;
    }
    pthread_mutex_lock(&fake->lock);
    fc_shipment_t *shipment = fc_shipment_find(fake, http_req_param(req, "id"));
    fc_label_t *label = NULL;
    const char *refusal = NULL;
    if (!shipment)
        refusal = "no such shipment";
    else if (strcmp(shipment->status, "cancelled") == 0)
        refusal = "the shipment is cancelled";
    else if (!(label = fc_label_buy(fake, shipment)))
        refusal = "no room for another label";
    json_t *body = label ? fc_label_json(fake, label) : NULL;
    pthread_mutex_unlock(&fake->lock);
    if (refusal)
        answer_error(res, shipment ? 400 : 404, shipment ? "invalid_status" : "not_found", refusal);
    else
        finish(res, &armed, 200, body);
}

static void on_labels_list(const http_request_t *req, http_response_t *res, void *arg)
{
    fc_t *fake = arg;
    armed_t armed;
    if (!prologue(fake, req, res, "labels.list", &armed))
        return;
    const char *shipment_id = http_req_query(req, "shipment_id");
    const char *external = http_req_query(req, "external_shipment_id");
    const char *tracking = http_req_query(req, "tracking_number");
    json_t *labels = json_array();
    pthread_mutex_lock(&fake->lock);
    for (size_t i = 0; i < fake->label_count; i++) {
        const fc_label_t *label = fake->labels[i];
        if ((shipment_id && strcmp(label->shipment_id, shipment_id) != 0) ||
            (external && strcmp(label->external_id, external) != 0) ||
            (tracking && strcmp(label->tracking_number, tracking) != 0))
            continue;
        json_array_append_new(labels, fc_label_json(fake, label));
    }
    pthread_mutex_unlock(&fake->lock);
    size_t total = json_array_size(labels);
    finish(res, &armed, 200,
           json_pack("{s:o, s:I, s:i, s:i}", "labels", labels, "total", (json_int_t)total, "page",
                     1, "pages", 1));
}

static void on_label_get(const http_request_t *req, http_response_t *res, void *arg)
{
    fc_t *fake = arg;
    armed_t armed;
    if (!prologue(fake, req, res, "labels.get", &armed))
        return;
    pthread_mutex_lock(&fake->lock);
    fc_label_t *label = fc_label_find(fake, http_req_param(req, "id"));
    json_t *body = label ? fc_label_json(fake, label) : NULL;
    pthread_mutex_unlock(&fake->lock);
    if (!body)
        answer_error(res, 404, "not_found", "no such label");
    else
        finish(res, &armed, 200, body);
}

static void on_label_void(const http_request_t *req, http_response_t *res, void *arg)
{
    fc_t *fake = arg;
    armed_t armed;
    if (!prologue(fake, req, res, "labels.void", &armed))
        return;
    pthread_mutex_lock(&fake->lock);
    fc_label_t *label = fc_label_find(fake, http_req_param(req, "id"));
    bool known = label != NULL;
    bool approved = false;
    const char *message = "";
    if (label && strcmp(label->status, "voided") == 0) {
        approved = true;
        message = "the label was voided already";
    } else if (label) {
        const char *code =
            label->event_count ? label->events[label->event_count - 1].status_code : "NY";
        if (label->manifested || (strcmp(code, "NY") != 0 && strcmp(code, "UN") != 0)) {
            message = "the parcel is with the carrier; it cannot be voided";
        } else {
            approved = true;
            message = "the label was voided";
            snprintf(label->status, sizeof label->status, "voided");
            fc_shipment_t *shipment = fc_shipment_find(fake, label->shipment_id);
            if (shipment)
                snprintf(shipment->status, sizeof shipment->status, "cancelled");
        }
    }
    pthread_mutex_unlock(&fake->lock);
    if (!known)
        answer_error(res, 404, "not_found", "no such label");
    else
        finish(res, &armed, 200, json_pack("{s:b, s:s}", "approved", approved, "message", message));
}

static void on_download(const http_request_t *req, http_response_t *res, void *arg)
{
    (void)arg;
    const char *file = http_req_param(req, "file");
    char pdf[512];
    snprintf(pdf, sizeof pdf,
             "%%PDF-1.4\n%% fake carrier document %s\n1 0 obj<<>>endobj\ntrailer<<>>\n%%%%EOF\n",
             file ? file : "");
    http_res_text(res, 200, "application/pdf", pdf);
}

/* --- batches ------------------------------------------------------------------ */

static int ids_add(fc_batch_t *batch, const char *id)
{
    for (size_t i = 0; i < batch->count; i++)
        if (strcmp(batch->shipment_ids[i], id) == 0)
            return 0;
    if (batch->count == FC_BATCH_MAX)
        return -1;
    if (batch->count % 32 == 0) {
        char(*grown)[FC_ID_SIZE] =
            realloc(batch->shipment_ids, (batch->count + 32) * sizeof *grown);
        if (!grown)
            return -1;
        batch->shipment_ids = grown;
    }
    snprintf(batch->shipment_ids[batch->count++], FC_ID_SIZE, "%s", id);
    return 0;
}

static void ids_remove(fc_batch_t *batch, const char *id)
{
    for (size_t i = 0; i < batch->count; i++)
        if (strcmp(batch->shipment_ids[i], id) == 0) {
            memmove(batch->shipment_ids[i], batch->shipment_ids[i + 1],
                    (batch->count - i - 1) * FC_ID_SIZE);
            batch->count--;
            return;
        }
}

/* Every id of ids names a known shipment (locked); the first unknown or NULL. */
static const char *unknown_id(fc_t *fake, const json_t *ids)
{
    size_t i;
    json_t *id;
    json_array_foreach(ids, i, id)
    {
        if (!json_is_string(id) || !fc_shipment_find(fake, json_string_value(id)))
            return json_is_string(id) ? json_string_value(id) : "(not a string)";
    }
    return NULL;
}

static void on_batch_create(const http_request_t *req, http_response_t *res, void *arg)
{
    fc_t *fake = arg;
    armed_t armed;
    if (!prologue(fake, req, res, "batches.create", &armed))
        return;
    json_t *body = body_of(req);
    const char *external = str_of(body, "external_batch_id");
    json_t *ids = json_object_get(body, "shipment_ids");
    if (ids && (!json_is_array(ids) || json_array_size(ids) > FC_BATCH_MAX)) {
        json_decref(body);
        answer_error(res, 400, "invalid_field_value", "shipment_ids: an array expected");
        return;
    }
    pthread_mutex_lock(&fake->lock);
    const char *unknown = ids ? unknown_id(fake, ids) : NULL;
    bool duplicate = false;
    for (size_t i = 0; external[0] && i < fake->batch_count; i++)
        duplicate = duplicate || strcmp(fake->batches[i]->external_id, external) == 0;
    fc_batch_t *batch = NULL;
    if (!unknown && !duplicate && fake->batch_count < FC_OBJECTS_MAX) {
        bool room = true;
        if (fake->batch_count % 64 == 0) {
            fc_batch_t **grown = realloc(fake->batches, (fake->batch_count + 64) * sizeof *grown);
            if (grown)
                fake->batches = grown;
            room = grown != NULL;
        }
        batch = room ? calloc(1, sizeof *batch) : NULL;
    }
    json_t *out = NULL;
    if (batch) {
        fc_new_id("se-batch", batch->id);
        snprintf(batch->external_id, sizeof batch->external_id, "%s", external);
        snprintf(batch->status, sizeof batch->status, "open");
        size_t i;
        json_t *id;
        json_array_foreach(ids, i, id)
        {
            if (ids_add(batch, json_string_value(id)) != 0)
                break;
        }
        fake->batches[fake->batch_count++] = batch;
        out = fc_batch_json(batch);
    }
    pthread_mutex_unlock(&fake->lock);
    json_decref(body);
    if (duplicate)
        answer_error(res, 400, "duplicate_external_batch_id", "a batch with this id exists");
    else if (unknown)
        answer_error(res, 400, "invalid_identifier", "a shipment_id is unknown");
    else if (!out)
        answer_error(res, 500, "unspecified", "no room for another batch");
    else
        finish(res, &armed, 200, out);
}

static void on_batch_get(const http_request_t *req, http_response_t *res, void *arg)
{
    fc_t *fake = arg;
    armed_t armed;
    if (!prologue(fake, req, res, "batches.get", &armed))
        return;
    pthread_mutex_lock(&fake->lock);
    fc_batch_t *batch = fc_batch_find(fake, http_req_param(req, "id"));
    json_t *out = batch ? fc_batch_json(batch) : NULL;
    pthread_mutex_unlock(&fake->lock);
    if (!out)
        answer_error(res, 404, "not_found", "no such batch");
    else
        finish(res, &armed, 200, out);
}

/* GET /v1/batches/external_batch_id/{ext}: the batch made under our number
 * (a caller whose create answer was lost finds it so). */
static void on_batch_by_external(const http_request_t *req, http_response_t *res, void *arg)
{
    fc_t *fake = arg;
    armed_t armed;
    if (!prologue(fake, req, res, "batches.get", &armed))
        return;
    const char *external = http_req_param(req, "ext");
    pthread_mutex_lock(&fake->lock);
    json_t *out = NULL;
    for (size_t i = 0; external && !out && i < fake->batch_count; i++)
        if (strcmp(fake->batches[i]->external_id, external) == 0)
            out = fc_batch_json(fake->batches[i]);
    pthread_mutex_unlock(&fake->lock);
    if (!out)
        answer_error(res, 404, "not_found", "no batch with this external_batch_id");
    else
        finish(res, &armed, 200, out);
}

static void on_batch_errors(const http_request_t *req, http_response_t *res, void *arg)
{
    fc_t *fake = arg;
    armed_t armed;
    if (!prologue(fake, req, res, "batches.errors", &armed))
        return;
    pthread_mutex_lock(&fake->lock);
    fc_batch_t *batch = fc_batch_find(fake, http_req_param(req, "id"));
    json_t *out =
        batch ? json_pack("{s:O}", "errors", batch->errors ? batch->errors : json_array()) : NULL;
    pthread_mutex_unlock(&fake->lock);
    if (!out)
        answer_error(res, 404, "not_found", "no such batch");
    else
        finish(res, &armed, 200, out);
}

static void batch_change(const http_request_t *req, http_response_t *res, fc_t *fake, bool adding)
{
    armed_t armed;
    if (!prologue(fake, req, res, adding ? "batches.add" : "batches.remove", &armed))
        return;
    json_t *body = body_of(req);
    json_t *ids = json_object_get(body, "shipment_ids");
    if (!json_is_array(ids) || json_array_size(ids) > FC_BATCH_MAX) {
        json_decref(body);
        answer_error(res, 400, "invalid_field_value", "shipment_ids: an array expected");
        return;
    }
    pthread_mutex_lock(&fake->lock);
    fc_batch_t *batch = fc_batch_find(fake, http_req_param(req, "id"));
    const char *unknown = unknown_id(fake, ids);
    bool open = batch && strcmp(batch->status, "open") == 0;
    if (batch && open && !unknown) {
        size_t i;
        json_t *id;
        json_array_foreach(ids, i, id)
        {
            if (adding)
                ids_add(batch, json_string_value(id));
            else
                ids_remove(batch, json_string_value(id));
        }
    }
    pthread_mutex_unlock(&fake->lock);
    json_decref(body);
    if (!batch)
        answer_error(res, 404, "not_found", "no such batch");
    else if (!open)
        answer_error(res, 400, "batch_cannot_be_modified", "the batch is no longer open");
    else if (unknown)
        answer_error(res, 400, "invalid_identifier", "a shipment_id is unknown");
    else
        finish(res, &armed, 204, NULL);
}

static void on_batch_add(const http_request_t *req, http_response_t *res, void *arg)
{
    batch_change(req, res, arg, true);
}

static void on_batch_remove(const http_request_t *req, http_response_t *res, void *arg)
{
    batch_change(req, res, arg, false);
}

static void on_batch_process(const http_request_t *req, http_response_t *res, void *arg)
{
    fc_t *fake = arg;
    armed_t armed;
    if (!prologue(fake, req, res, "batches.process", &armed))
        return;
    pthread_mutex_lock(&fake->lock);
    fc_batch_t *batch = fc_batch_find(fake, http_req_param(req, "id"));
    bool open = batch && strcmp(batch->status, "open") == 0;
    if (open) {
        snprintf(batch->status, sizeof batch->status, "processing");
        batch->fail_one = armed_kind(&armed, "completed_with_errors");
        batch->due_ms = clock_mono_ms() + fake->config.batch_ms;
        pthread_cond_signal(&fake->wake);
    }
    pthread_mutex_unlock(&fake->lock);
    if (!batch)
        answer_error(res, 404, "not_found", "no such batch");
    else if (!open)
        answer_error(res, 400, "batch_cannot_be_modified", "the batch was processed already");
    else
        finish(res, &armed, 204, NULL);
}

/* --- manifests ---------------------------------------------------------------- */

static void on_manifest(const http_request_t *req, http_response_t *res, void *arg)
{
    fc_t *fake = arg;
    armed_t armed;
    if (!prologue(fake, req, res, "manifests.create", &armed))
        return;
    json_t *body = body_of(req);
    json_t *ids = json_object_get(body, "label_ids");
    if (!json_is_array(ids) || json_array_size(ids) == 0 || json_array_size(ids) > FC_BATCH_MAX) {
        json_decref(body);
        answer_error(res, 400, "invalid_field_value", "label_ids: 1 or more expected");
        return;
    }
    pthread_mutex_lock(&fake->lock);
    const char *unknown = NULL;
    size_t i;
    json_t *id;
    json_array_foreach(ids, i, id)
    {
        fc_label_t *label = fc_label_find(fake, json_string_value(id));
        if (!label || strcmp(label->status, "voided") == 0)
            unknown = "unknown";
    }
    json_t *out = NULL;
    if (!unknown) {
        json_array_foreach(ids, i, id)
        {
            fc_label_t *label = fc_label_find(fake, json_string_value(id));
            if (!label->manifested) {
                label->manifested = true;
                fc_track_event(fake, label, "AC", "Accepted by the carrier");
            }
        }
        char manifest_id[FC_ID_SIZE], href[512];
        snprintf(manifest_id, sizeof manifest_id, "se-manifest-%" PRId64, ++fake->manifest_seq);
        snprintf(href, sizeof href, "%s/v1/downloads/manifests/%s.pdf", fake->config.public_url,
                 manifest_id);
        out = json_pack("{s:s, s:O, s:{s:s}}", "manifest_id", manifest_id, "label_ids", ids,
                        "manifest_download", "href", href);
        if (!fake->manifests)
            fake->manifests = json_array();
        if (out && fake->manifests)
            json_array_append(fake->manifests, out);
    }
    pthread_mutex_unlock(&fake->lock);
    json_decref(body);
    if (!out)
        answer_error(res, 400, "invalid_identifier", "a label is unknown or voided");
    else
        finish(res, &armed, 200, out);
}

/* Whether label id is one of list, a comma-separated "a,b,c". */
static bool listed(const char *list, const char *id)
{
    size_t n = strlen(id);
    for (const char *at = list; at && *at; at = strchr(at, ',') ? strchr(at, ',') + 1 : NULL)
        if (strncmp(at, id, n) == 0 && (at[n] == ',' || at[n] == '\0'))
            return true;
    return false;
}

/* GET /v1/manifests?label_ids=X,Y: the manifests holding label X or Y
 * (every one without the filter). */
static void on_manifests_list(const http_request_t *req, http_response_t *res, void *arg)
{
    fc_t *fake = arg;
    armed_t armed;
    if (!prologue(fake, req, res, "manifests.list", &armed))
        return;
    const char *label_id = http_req_query(req, "label_ids");
    json_t *list = json_array();
    pthread_mutex_lock(&fake->lock);
    size_t i, j;
    json_t *manifest, *id;
    json_array_foreach(fake->manifests, i, manifest)
    {
        bool holds = !label_id || !label_id[0];
        json_array_foreach(json_object_get(manifest, "label_ids"), j, id) holds =
            holds || listed(label_id, json_string_value(id));
        if (holds)
            json_array_append(list, manifest);
    }
    pthread_mutex_unlock(&fake->lock);
    finish(res, &armed, 200, json_pack("{s:o}", "manifests", list));
}

/* --- tracking and webhooks ------------------------------------------------------ */

static void on_tracking(const http_request_t *req, http_response_t *res, void *arg)
{
    fc_t *fake = arg;
    armed_t armed;
    if (!prologue(fake, req, res, "tracking.get", &armed))
        return;
    const char *number = http_req_query(req, "tracking_number");
    if (!number || !number[0]) {
        answer_error(res, 400, "field_value_required", "tracking_number is required");
        return;
    }
    pthread_mutex_lock(&fake->lock);
    fc_label_t *label = fc_label_by_tracking(fake, number);
    json_t *out = label
                      ? fc_tracking_json(label)
                      : json_pack("{s:s, s:s, s:s, s:[]}", "tracking_number", number, "status_code",
                                  "NY", "status_description", "Not Yet In System", "events");
    pthread_mutex_unlock(&fake->lock);
    finish(res, &armed, 200, out);
}

static void on_tracking_start(const http_request_t *req, http_response_t *res, void *arg)
{
    fc_t *fake = arg;
    armed_t armed;
    if (!prologue(fake, req, res, "tracking.start", &armed))
        return;
    finish(res, &armed, 204, NULL);
}

static void on_webhooks_list(const http_request_t *req, http_response_t *res, void *arg)
{
    fc_t *fake = arg;
    armed_t armed;
    if (!prologue(fake, req, res, "webhooks.list", &armed))
        return;
    json_t *list = json_array();
    pthread_mutex_lock(&fake->lock);
    if (fake->track_url[0])
        json_array_append_new(list, json_pack("{s:s, s:s, s:s}", "webhook_id", "wh-track", "event",
                                              "track", "url", fake->track_url));
    if (fake->batch_url[0])
        json_array_append_new(list, json_pack("{s:s, s:s, s:s}", "webhook_id", "wh-batch", "event",
                                              "batch", "url", fake->batch_url));
    pthread_mutex_unlock(&fake->lock);
    finish(res, &armed, 200, list);
}

/* Sets the subscription of event from body (locked); -1 on a bad body. */
static int subscribe(fc_t *fake, const char *event, const json_t *body)
{
    const char *url = str_of(body, "url");
    if (!url[0] || strlen(url) >= sizeof fake->track_url)
        return -1;
    if (strcmp(event, "batch") == 0) {
        snprintf(fake->batch_url, sizeof fake->batch_url, "%s", url);
        return 0;
    }
    json_t *headers = json_object_get(body, "headers");
    const json_t *first = json_array_get(headers, 0);
    const char *name = str_of(first, "key");
    const char *value = str_of(first, "value");
    if (strlen(name) >= sizeof fake->track_header_name ||
        strlen(value) >= sizeof fake->track_header_value)
        return -1;
    snprintf(fake->track_url, sizeof fake->track_url, "%s", url);
    snprintf(fake->track_header_name, sizeof fake->track_header_name, "%s", name);
    snprintf(fake->track_header_value, sizeof fake->track_header_value, "%s", value);
    return 0;
}

static void on_webhooks_create(const http_request_t *req, http_response_t *res, void *arg)
{
    fc_t *fake = arg;
    armed_t armed;
    if (!prologue(fake, req, res, "webhooks.create", &armed))
        return;
    json_t *body = body_of(req);
    const char *event = str_of(body, "event");
    bool known = strcmp(event, "track") == 0 || strcmp(event, "batch") == 0;
    pthread_mutex_lock(&fake->lock);
    bool exists = strcmp(event, "track") == 0 ? fake->track_url[0] != 0 : fake->batch_url[0] != 0;
    int rc = known && !exists ? subscribe(fake, event, body) : -1;
    pthread_mutex_unlock(&fake->lock);
    json_t *out = rc == 0 ? json_pack("{s:s, s:s, s:O}", "webhook_id",
                                      strcmp(event, "track") == 0 ? "wh-track" : "wh-batch",
                                      "event", event, "url", json_object_get(body, "url"))
                          : NULL;
    json_decref(body);
    if (known && exists)
        answer_error(res, 409, "duplicate_webhook", "a webhook for this event exists");
    else if (!out)
        answer_error(res, 400, "invalid_field_value", "event track|batch and a url expected");
    else
        finish(res, &armed, 201, out);
}

static void on_webhooks_update(const http_request_t *req, http_response_t *res, void *arg)
{
    fc_t *fake = arg;
    armed_t armed;
    if (!prologue(fake, req, res, "webhooks.update", &armed))
        return;
    const char *id = http_req_param(req, "id");
    const char *event = strcmp(id, "wh-track") == 0   ? "track"
                        : strcmp(id, "wh-batch") == 0 ? "batch"
                                                      : NULL;
    json_t *body = body_of(req);
    pthread_mutex_lock(&fake->lock);
    int rc = event ? subscribe(fake, event, body) : -1;
    pthread_mutex_unlock(&fake->lock);
    json_decref(body);
    if (!event)
        answer_error(res, 404, "not_found", "no such webhook");
    else if (rc != 0)
        answer_error(res, 400, "invalid_field_value", "a url and headers expected");
    else
        finish(res, &armed, 204, NULL);
}

int fc_api_routes(http_server_t *server, fc_t *fake)
{
    struct {
        const char *method, *pattern;
        http_handler_fn fn;
    } routes[] = {
        {"POST", "/v1/addresses/validate", on_validate},
        {"POST", "/v1/rates", on_rates},
        {"POST", "/v1/shipments", on_shipments_create},
        {"GET", "/v1/shipments/{id}", on_shipment_get},
        {"GET", "/v1/shipments/external_shipment_id/{ext}", on_shipment_by_external},
        {"PUT", "/v1/shipments/{id}/cancel", on_shipment_cancel},
        {"POST", "/v1/labels/shipment/{id}", on_label_buy},
        {"GET", "/v1/labels", on_labels_list},
        {"GET", "/v1/labels/{id}", on_label_get},
        {"PUT", "/v1/labels/{id}/void", on_label_void},
        {"GET", "/v1/downloads/labels/{file}", on_download},
        {"GET", "/v1/downloads/manifests/{file}", on_download},
        {"POST", "/v1/batches", on_batch_create},
        {"GET", "/v1/batches/external_batch_id/{ext}", on_batch_by_external},
        {"GET", "/v1/batches/{id}", on_batch_get},
        {"GET", "/v1/batches/{id}/errors", on_batch_errors},
        {"POST", "/v1/batches/{id}/add", on_batch_add},
        {"POST", "/v1/batches/{id}/remove", on_batch_remove},
        {"POST", "/v1/batches/{id}/process/labels", on_batch_process},
        {"POST", "/v1/manifests", on_manifest},
        {"GET", "/v1/manifests", on_manifests_list},
        {"GET", "/v1/tracking", on_tracking},
        {"POST", "/v1/tracking/start", on_tracking_start},
        {"GET", "/v1/environment/webhooks", on_webhooks_list},
        {"POST", "/v1/environment/webhooks", on_webhooks_create},
        {"PUT", "/v1/environment/webhooks/{id}", on_webhooks_update},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (http_route(server, routes[i].method, routes[i].pattern, routes[i].fn, fake) != 0)
            return -1;
    return 0;
}
