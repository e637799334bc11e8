/*
 * fakecarrier.c — the fake carrier's main: configuration from the
 * environment and the shared state (fakecarrier.h says what it holds and
 * why), the objects as JSON, and the worker thread that sends tracking
 * webhooks and finishes batches in the background as the carrier does.
 *
 *   fakecarrier [--help]
 *
 * Settings (environment): FAKE_CARRIER_ADDR (127.0.0.1:18095),
 * FAKE_CARRIER_PUBLIC_URL (http://<addr>), FAKE_CARRIER_API_KEY,
 * FAKE_CARRIER_LATENCY (0: how long every API call takes),
 * FAKE_CARRIER_THREADS (16), FAKE_CARRIER_BATCH_TIME (300ms),
 * FAKE_CARRIER_WEBHOOK_RETRY (1s), FAKE_CARRIER_WEBHOOK_ATTEMPTS (20).
 */
#include "tests/fakes/carrier/fakecarrier.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/log.h"
#include "common/uuid.h"

#define SEND_TIMEOUT_MS 5000L

static const config_spec_t fc_specs[] = {
    {"FAKE_CARRIER_ADDR", "127.0.0.1:18095", false, "address the fake carrier listens on"},
    {"FAKE_CARRIER_PUBLIC_URL", NULL, false, "base of download URLs (default http://<addr>)"},
    {"FAKE_CARRIER_API_KEY", "TEST_conveyor_carrier_key", true, "the API-Key every call carries"},
    {"FAKE_CARRIER_LATENCY", "0", false, "how long every API call takes (e.g. 200ms)"},
    {"FAKE_CARRIER_THREADS", "16", false, "HTTP threads: calls answered at once"},
    {"FAKE_CARRIER_BATCH_TIME", "300ms", false, "how long processing a batch takes"},
    {"FAKE_CARRIER_WEBHOOK_RETRY", "1s", false, "pause before redelivering an unanswered webhook"},
    {"FAKE_CARRIER_WEBHOOK_ATTEMPTS", "20", false, "deliveries of a webhook before giving up"},
    {"LOG_LEVEL", "info", false, "debug, info, warn, error"},
    CONFIG_SPEC_END,
};

/* --- state ------------------------------------------------------------------ */

void fc_new_id(const char *prefix, char out[FC_ID_SIZE])
{
    char uuid[UUID_TEXT_SIZE];
    if (uuid_v4(uuid) != 0)
        snprintf(uuid, sizeof uuid, "%016llx", (unsigned long long)clock_mono_us());
    snprintf(out, FC_ID_SIZE, "%s-%s", prefix, uuid);
}

/* Set once the fake is stopping: a pause under way (a held answer, the
 * latency) ends within 50 ms (clock_pause_ms), so that a reply held for a
 * minute does not keep the process a minute past its SIGTERM. */
static atomic_bool pauses_ended;

void fc_pause_ms(int64_t ms)
{
    clock_pause_ms(ms, &pauses_ended);
}

void fc_pause_end(void)
{
    atomic_store(&pauses_ended, true);
}

void fc_time_text(int64_t unix_ms, char *out, size_t size)
{
    time_t seconds = (time_t)(unix_ms / 1000);
    struct tm tm;
    gmtime_r(&seconds, &tm);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, size, "%s.%03dZ", stamp, (int)(unix_ms % 1000));
}

fc_request_t *fc_record(fc_t *fake, const char *op, const http_request_t *req)
{
    fc_request_t *slot = &fake->requests[fake->request_seq % FC_REQUESTS_MAX];
    free(slot->path);
    free(slot->body);
    memset(slot, 0, sizeof *slot);
    slot->seq = ++fake->request_seq;
    snprintf(slot->op, sizeof slot->op, "%s", op);
    snprintf(slot->method, sizeof slot->method, "%s", http_req_method(req));
    slot->path = strdup(http_req_target(req));
    size_t len = 0;
    const char *body = http_req_body(req, &len);
    slot->body = strndup(body ? body : "", len < 8192 ? len : 8192);
    slot->at_ms = clock_now_ms();
    return slot;
}

bool fc_fault_take(fc_t *fake, const char *op, fc_fault_t *out)
{
    for (size_t i = 0; i < FC_FAULTS_MAX; i++) {
        fc_fault_t *fault = &fake->faults[i];
        if (fault->count <= 0 || (strcmp(fault->op, "*") != 0 && strcmp(fault->op, op) != 0))
            continue;
        if (fault->skip > 0) {
            fault->skip--;
            continue;
        }
        *out = *fault;
        fault->count--;
        return true;
    }
    return false;
}

void fc_reset(fc_t *fake)
{
    for (size_t i = 0; i < fake->shipment_count; i++) {
        json_decref(fake->shipments[i]->ship_to);
        free(fake->shipments[i]);
    }
    for (size_t i = 0; i < fake->label_count; i++)
        free(fake->labels[i]);
    for (size_t i = 0; i < fake->batch_count; i++) {
        free(fake->batches[i]->shipment_ids);
        json_decref(fake->batches[i]->errors);
        free(fake->batches[i]);
    }
    for (size_t i = 0; i < FC_REQUESTS_MAX; i++) {
        free(fake->requests[i].path);
        free(fake->requests[i].body);
    }
    for (size_t i = 0; i < fake->webhook_count; i++) {
        free(fake->webhooks[i].url);
        free(fake->webhooks[i].body);
    }
    if (fake->holding) {
        free(fake->held.url);
        free(fake->held.body);
    }
    free(fake->shipments);
    free(fake->labels);
    free(fake->batches);
    json_decref(fake->manifests);
    fake->manifests = NULL;
    fake->shipments = NULL;
    fake->labels = NULL;
    fake->batches = NULL;
    fake->shipment_count = fake->label_count = fake->batch_count = 0;
    fake->webhook_count = 0;
    fake->holding = false;
    fake->webhook_fault_count = 0;
    memset(fake->requests, 0, sizeof fake->requests);
    memset(fake->faults, 0, sizeof fake->faults);
}

fc_shipment_t *fc_shipment_find(fc_t *fake, const char *id)
{
    for (size_t i = 0; id && i < fake->shipment_count; i++)
        if (strcmp(fake->shipments[i]->id, id) == 0)
            return fake->shipments[i];
    return NULL;
}

fc_shipment_t *fc_shipment_by_external(fc_t *fake, const char *external_id)
{
    for (size_t i = 0; external_id && external_id[0] && i < fake->shipment_count; i++)
        if (strcmp(fake->shipments[i]->external_id, external_id) == 0)
            return fake->shipments[i];
    return NULL;
}

fc_label_t *fc_label_find(fc_t *fake, const char *id)
{
    for (size_t i = 0; id && i < fake->label_count; i++)
        if (strcmp(fake->labels[i]->id, id) == 0)
            return fake->labels[i];
    return NULL;
}

fc_label_t *fc_label_by_tracking(fc_t *fake, const char *tracking_number)
{
    for (size_t i = 0; tracking_number && i < fake->label_count; i++)
        if (strcmp(fake->labels[i]->tracking_number, tracking_number) == 0)
            return fake->labels[i];
    return NULL;
}

fc_batch_t *fc_batch_find(fc_t *fake, const char *id)
{
    for (size_t i = 0; id && i < fake->batch_count; i++)
        if (strcmp(fake->batches[i]->id, id) == 0)
            return fake->batches[i];
    return NULL;
}

/* The carrier's price of a label: the same table the rates answer from. */
static int64_t label_cost(const fc_shipment_t *shipment)
{
    int64_t kg = (shipment->weight_g + 999) / 1000;
    if (strstr(shipment->service_code, "letter"))
        return 12000;
    if (strstr(shipment->carrier_id, "cdek"))
        return 35000 + 4000 * kg;
    return 25000 + 3000 * kg;
}

fc_label_t *fc_label_buy(fc_t *fake, fc_shipment_t *shipment)
{
    if (fake->label_count == FC_OBJECTS_MAX)
        return NULL;
    if (fake->label_count % 256 == 0) {
        fc_label_t **grown = realloc(fake->labels, (fake->label_count + 256) * sizeof *grown);
        if (!grown)
            return NULL;
        fake->labels = grown;
    }
    fc_label_t *label = calloc(1, sizeof *label);
    if (!label)
        return NULL;
    fc_new_id("se-label", label->id);
    snprintf(label->shipment_id, sizeof label->shipment_id, "%s", shipment->id);
    snprintf(label->external_id, sizeof label->external_id, "%s", shipment->external_id);
    snprintf(label->carrier_id, sizeof label->carrier_id, "%s", shipment->carrier_id);
    snprintf(label->service_code, sizeof label->service_code, "%s", shipment->service_code);
    snprintf(label->status, sizeof label->status, "completed");
    int64_t seq = ++fake->tracking_seq;
    if (strstr(shipment->carrier_id, "cdek"))
        snprintf(label->tracking_number, sizeof label->tracking_number, "CD%010" PRId64, seq);
    else
        snprintf(label->tracking_number, sizeof label->tracking_number, "8010%010" PRId64, seq);
    label->cost_minor = label_cost(shipment);
    label->created_ms = clock_now_ms();
    snprintf(shipment->status, sizeof shipment->status, "label_purchased");
    shipment->labels_bought++;
    fake->labels[fake->label_count++] = label;
    return label;
}

static const char *status_words(const char *code)
{
    static const char *const table[][2] = {
        {"UN", "Unknown"},           {"AC", "Accepted"},
        {"IT", "In Transit"},        {"DE", "Delivered"},
        {"EX", "Exception"},         {"AT", "Delivery Attempt"},
        {"NY", "Not Yet In System"}, {"SP", "Delivered To Collection Location"},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcmp(table[i][0], code) == 0)
            return table[i][1];
    return "Unknown";
}

static const char *label_status_code(const fc_label_t *label)
{
    return label->event_count ? label->events[label->event_count - 1].status_code : "NY";
}

json_t *fc_tracking_json(const fc_label_t *label)
{
    json_t *events = json_array();
    char when[40];
    for (size_t i = label->event_count; i-- > 0;) { /* newest first, as ShipEngine lists */
        const fc_event_t *event = &label->events[i];
        fc_time_text(event->at_ms, when, sizeof when);
        json_array_append_new(events,
                              json_pack("{s:s, s:s, s:s, s:s}", "event_id", event->event_id,
                                        "occurred_at", when, "status_code", event->status_code,
                                        "description", event->description));
    }
    const char *code = label_status_code(label);
    return json_pack("{s:s, s:s, s:s, s:s, s:o}", "tracking_number", label->tracking_number,
                     "carrier_code", label->carrier_id, "status_code", code, "status_description",
                     status_words(code), "events", events);
}

void fc_track_event(fc_t *fake, fc_label_t *label, const char *status_code, const char *description)
{
    if (label->event_count == FC_EVENTS_MAX) { /* keep the newest */
        memmove(label->events, label->events + 1, (FC_EVENTS_MAX - 1) * sizeof label->events[0]);
        label->event_count--;
    }
    fc_event_t *event = &label->events[label->event_count++];
    snprintf(event->event_id, sizeof event->event_id, "ev-%" PRId64 "-%.20s", ++fake->event_seq,
             label->tracking_number);
    snprintf(event->status_code, sizeof event->status_code, "%s", status_code);
    snprintf(event->description, sizeof event->description, "%s",
             description && description[0] ? description : status_words(status_code));
    event->at_ms = clock_now_ms();
    if (!fake->track_url[0])
        return;
    /* a webhook carries this one event (the fake's choice: event_id at the
     * top level, so a receiver can store it by id) */
    char when[40];
    fc_time_text(event->at_ms, when, sizeof when);
    char resource[512];
    snprintf(resource, sizeof resource, "%s/v1/tracking?carrier_code=%s&tracking_number=%s",
             fake->config.public_url, label->carrier_id, label->tracking_number);
    json_t *body = json_pack(
        "{s:s, s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s, s:[{s:s, s:s, s:s, s:s}]}}", "resource_url",
        resource, "resource_type", "API_TRACK", "event_id", event->event_id, "data",
        "tracking_number", label->tracking_number, "carrier_code", label->carrier_id, "status_code",
        event->status_code, "status_description", status_words(event->status_code), "occurred_at",
        when, "events", "event_id", event->event_id, "occurred_at", when, "status_code",
        event->status_code, "description", event->description);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (text)
        fc_webhook_queue(fake, fake->track_url, text);
    free(text);
}

json_t *fc_shipment_json(const fc_shipment_t *shipment)
{
    char when[40];
    fc_time_text(shipment->created_ms, when, sizeof when);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:O, s:[{s:s, s:{s:I, s:s}}], s:s}",
                     "shipment_id", shipment->id, "external_shipment_id", shipment->external_id,
                     "carrier_id", shipment->carrier_id, "service_code", shipment->service_code,
                     "shipment_status", shipment->status, "created_at", when, "ship_to",
                     shipment->ship_to ? shipment->ship_to : json_null(), "packages",
                     "package_code", shipment->package_code, "weight", "value",
                     (json_int_t)shipment->weight_g, "unit", "gram", "status", shipment->status);
}

json_t *fc_label_json(const fc_t *fake, const fc_label_t *label)
{
    char href[512], when[40];
    snprintf(href, sizeof href, "%s/v1/downloads/labels/%s.pdf", fake->config.public_url,
             label->id);
    fc_time_text(label->created_ms, when, sizeof when);
    json_t *cost = json_pack("{s:s}", "currency", "rub");
    json_object_set_new(cost, "amount", json_real((double)label->cost_minor / 100.0));
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:{s:s, s:s}, s:b}",
                     "label_id", label->id, "status", label->status, "shipment_id",
                     label->shipment_id, "external_shipment_id", label->external_id, "carrier_id",
                     label->carrier_id, "service_code", label->service_code, "tracking_number",
                     label->tracking_number, "created_at", when, "shipment_cost", cost,
                     "tracking_status", label_status_code(label), "label_download", "href", href,
                     "pdf", href, "voided", strcmp(label->status, "voided") == 0);
}

json_t *fc_batch_json(const fc_batch_t *batch)
{
    json_t *ids = json_array();
    for (size_t i = 0; i < batch->count; i++)
        json_array_append_new(ids, json_string(batch->shipment_ids[i]));
    size_t errors = batch->errors ? json_array_size(batch->errors) : 0;
    return json_pack("{s:s, s:s, s:s, s:o, s:I, s:I}", "batch_id", batch->id, "external_batch_id",
                     batch->external_id, "status", batch->status, "shipment_ids", ids, "count",
                     (json_int_t)batch->count, "errors", (json_int_t)errors);
}

/* --- webhooks and batches: the worker ----------------------------------------- */

static fc_webhook_t *webhook_slot(fc_t *fake)
{
    if (fake->webhook_count == FC_WEBHOOKS_MAX) {
        size_t kept = 0;
        for (size_t i = 0; i < fake->webhook_count; i++) {
            if (fake->webhooks[i].done) {
                free(fake->webhooks[i].url);
                free(fake->webhooks[i].body);
            } else {
                fake->webhooks[kept++] = fake->webhooks[i];
            }
        }
        fake->webhook_count = kept;
    }
    if (fake->webhook_count == FC_WEBHOOKS_MAX)
        return NULL;
    fc_webhook_t *hook = &fake->webhooks[fake->webhook_count++];
    memset(hook, 0, sizeof *hook);
    return hook;
}

static void webhook_push(fc_t *fake, const fc_webhook_t *model)
{
    fc_webhook_t *hook = webhook_slot(fake);
    if (!hook)
        return;
    *hook = *model;
    hook->url = strdup(model->url);
    hook->body = strdup(model->body);
    hook->seq = ++fake->webhook_seq;
    hook->next_ms = clock_mono_ms();
    if (!hook->url || !hook->body)
        hook->done = true;
}

void fc_webhook_queue(fc_t *fake, const char *url, const char *body)
{
    fc_webhook_t model;
    memset(&model, 0, sizeof model);
    model.url = (char *)(uintptr_t)url;
    model.body = (char *)(uintptr_t)body;
    snprintf(model.header_name, sizeof model.header_name, "%s", fake->track_header_name);
    snprintf(model.header_value, sizeof model.header_value, "%s", fake->track_header_value);
    const char *fault = fake->webhook_fault_count > 0 ? fake->webhook_fault : "";
    if (fault[0])
        fake->webhook_fault_count--;
    if (strcmp(fault, "drop") == 0)
        return;
    if (strcmp(fault, "reorder") == 0 && !fake->holding) {
        fake->held = model;
        fake->held.url = strdup(url);
        fake->held.body = strdup(body);
        fake->holding = fake->held.url && fake->held.body;
        return;
    }
    webhook_push(fake, &model);
    if (strcmp(fault, "duplicate") == 0)
        webhook_push(fake, &model);
    if (fake->holding) { /* the held one goes after this one: out of order */
        webhook_push(fake, &fake->held);
        free(fake->held.url);
        free(fake->held.body);
        fake->holding = false;
    }
    pthread_cond_signal(&fake->wake);
}

static size_t discard(char *bytes, size_t size, size_t count, void *userdata)
{
    (void)bytes;
    (void)userdata;
    return size * count;
}

static long deliver(const char *url, const char *body, const char *header_name,
                    const char *header_value)
{
    CURL *curl = curl_easy_init();
    if (!curl)
        return 0;
    struct curl_slist *headers = NULL;
    headers = curl_slist_append(headers, "Expect:");
    headers = curl_slist_append(headers, "Content-Type: application/json");
    headers = curl_slist_append(headers, "User-Agent: ShipEngine/v1");
    char line[FC_TEXT_SIZE + 80];
    if (header_name[0]) {
        snprintf(line, sizeof line, "%s: %s", header_name, header_value);
        headers = curl_slist_append(headers, line);
    }
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, SEND_TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    long status = 0;
    if (curl_easy_perform(curl) == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    return status;
}

/* Finishes the batches whose time has come (locked): every shipment without
 * a label gets one, but one when completed_with_errors was armed. */
static void batches_finish(fc_t *fake, int64_t now)
{
    for (size_t i = 0; i < fake->batch_count; i++) {
        fc_batch_t *batch = fake->batches[i];
        if (strcmp(batch->status, "processing") != 0 || batch->due_ms > now)
            continue;
        json_decref(batch->errors);
        batch->errors = json_array();
        for (size_t j = 0; j < batch->count; j++) {
            fc_shipment_t *shipment = fc_shipment_find(fake, batch->shipment_ids[j]);
            if (!shipment || strcmp(shipment->status, "pending") != 0)
                continue;
            if (batch->fail_one) {
                batch->fail_one = false;
                json_array_append_new(batch->errors,
                                      json_pack("{s:s, s:s, s:s}", "shipment_id", shipment->id,
                                                "error_code", "invalid_address", "message",
                                                "the carrier refused the address"));
                continue;
            }
            fc_label_buy(fake, shipment);
        }
        snprintf(batch->status, sizeof batch->status, "%s",
                 json_array_size(batch->errors) ? "completed_with_errors" : "completed");
        if (fake->batch_url[0]) {
            char resource[512];
            snprintf(resource, sizeof resource, "%s/v1/batches/%s", fake->config.public_url,
                     batch->id);
            json_t *body =
                json_pack("{s:s, s:s}", "resource_url", resource, "resource_type", "BATCH");
            char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
            json_decref(body);
            if (text)
                fc_webhook_queue(fake, fake->batch_url, text);
            free(text);
        }
    }
}

static void *worker_main(void *arg)
{
    fc_t *fake = arg;
    pthread_mutex_lock(&fake->lock);
    while (!fake->stopping) {
        int64_t now = clock_mono_ms();
        batches_finish(fake, now);
        fc_webhook_t *due = NULL;
        for (size_t i = 0; i < fake->webhook_count; i++) {
            fc_webhook_t *hook = &fake->webhooks[i];
            if (!hook->done && hook->next_ms <= now && (!due || hook->seq < due->seq))
                due = hook;
        }
        if (!due) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += 50 * 1000000L;
            if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&fake->wake, &fake->lock, &until);
            continue;
        }
        char *url = strdup(due->url);
        char *body = strdup(due->body);
        char name[64], value[FC_TEXT_SIZE];
        snprintf(name, sizeof name, "%s", due->header_name);
        snprintf(value, sizeof value, "%s", due->header_value);
        int64_t seq = due->seq;
        pthread_mutex_unlock(&fake->lock);
        long status = url && body ? deliver(url, body, name, value) : 0;
        free(url);
        free(body);
        pthread_mutex_lock(&fake->lock);
        for (size_t i = 0; i < fake->webhook_count; i++) {
            fc_webhook_t *hook = &fake->webhooks[i];
            if (hook->seq != seq)
                continue;
            hook->attempts++;
            hook->last_status = (int)status;
            if ((status >= 200 && status < 300) || hook->attempts >= fake->config.webhook_attempts)
                hook->done = true;
            else
                hook->next_ms = clock_mono_ms() + fake->config.webhook_retry_ms;
        }
    }
    pthread_mutex_unlock(&fake->lock);
    return NULL;
}

int fc_worker_start(fc_t *fake)
{
    if (pthread_create(&fake->worker, NULL, worker_main, fake) != 0)
        return -1;
    fake->worker_running = true;
    return 0;
}

void fc_worker_stop(fc_t *fake)
{
    if (!fake->worker_running)
        return;
    pthread_mutex_lock(&fake->lock);
    fake->stopping = true;
    pthread_cond_broadcast(&fake->wake);
    pthread_mutex_unlock(&fake->lock);
    pthread_join(fake->worker, NULL);
    fake->worker_running = false;
}

/* --- main --------------------------------------------------------------------- */

static int read_config(const config_t *cfg, fc_config_t *out)
{
    if (config_get_duration_ms(cfg, "FAKE_CARRIER_LATENCY", &out->latency_ms) != 0 ||
        config_get_int(cfg, "FAKE_CARRIER_THREADS", 1, 512, &out->threads) != 0 ||
        config_get_duration_ms(cfg, "FAKE_CARRIER_BATCH_TIME", &out->batch_ms) != 0 ||
        config_get_duration_ms(cfg, "FAKE_CARRIER_WEBHOOK_RETRY", &out->webhook_retry_ms) != 0 ||
        config_get_int(cfg, "FAKE_CARRIER_WEBHOOK_ATTEMPTS", 1, 100000, &out->webhook_attempts) !=
            0)
        return -1;
    const char *key = config_get(cfg, "FAKE_CARRIER_API_KEY");
    out->api_key = strdup(key ? key : "");
    const char *public_url = config_get(cfg, "FAKE_CARRIER_PUBLIC_URL");
    if (public_url && public_url[0]) {
        out->public_url = strdup(public_url);
    } else {
        char url[256];
        snprintf(url, sizeof url, "http://%s", config_get(cfg, "FAKE_CARRIER_ADDR"));
        out->public_url = strdup(url);
    }
    return out->api_key && out->public_url ? 0 : -1;
}

int main(int argc, char **argv)
{
    int status = 1;
    fc_t *fake = NULL;
    http_server_t *server = NULL;
    config_t *cfg = config_new();
    if (!cfg || config_declare(cfg, fc_specs) != 0)
        goto done;
    if (argc > 1 && strcmp(argv[1], "--help") == 0) {
        config_print_help(cfg);
        status = 0;
        goto done;
    }
    log_level_t level = LOG_INFO;
    if (log_level_parse(config_get(cfg, "LOG_LEVEL"), &level) != 0)
        level = LOG_INFO;
    log_init("fakecarrier", level);
    config_log(cfg);
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        goto done;
    json_object_seed(0);
    fake = calloc(1, sizeof *fake);
    if (!fake)
        goto done;
    pthread_mutex_init(&fake->lock, NULL);
    pthread_cond_init(&fake->wake, NULL);
    if (read_config(cfg, &fake->config) != 0)
        goto done;
    http_config_t http = {.addr = config_get(cfg, "FAKE_CARRIER_ADDR"),
                          .body_limit = 256 * 1024,
                          .threads = (unsigned)fake->config.threads,
                          .timeout_s = 30,
                          .svc = "fakecarrier"};
    server = http_server_new(&http);
    if (!server || fc_api_routes(server, fake) != 0 || fc_control_routes(server, fake) != 0 ||
        fc_russianpost_routes(server, fake) != 0 || fc_worker_start(fake) != 0 ||
        http_server_start(server) != 0)
        goto done;
    log_info("fake carrier listening", LF_STR("addr", http.addr),
             LF_STR("public_url", fake->config.public_url));
    int signal_number = 0;
    sigwait(&stop_signals, &signal_number);
    log_info("fake carrier stopping", LF_INT("signal", signal_number));
    fc_pause_end();
    status = 0;
done:
    http_server_destroy(&server);
    if (fake) {
        fc_worker_stop(fake);
        fc_reset(fake);
        free(fake->config.api_key);
        free(fake->config.public_url);
        pthread_cond_destroy(&fake->wake);
        pthread_mutex_destroy(&fake->lock);
        free(fake);
    }
    config_destroy(&cfg);
    curl_global_cleanup();
    return status;
}
