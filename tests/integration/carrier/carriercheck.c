/*
 * carriercheck.c — the carrier adapter (services/shipping/adapters/)
 * against the fake carrier (tests/fakes/carrier/), for
 * tests/integration/test_carrier_adapter.sh.
 *
 * Environment: FAKE_CARRIER_URL (http://127.0.0.1:18095),
 * FAKE_CARRIER_API_KEY (the key the fake was started with),
 * CARRIERCHECK_ADDR (where its own receiver of webhooks listens).
 *
 * Every scenario prints "ok: <scenario>"; the first broken promise prints
 * "FAILED: <what>" and exits 1. The scenarios arm the fake's failures
 * through /_fake/ and receive tracking webhooks on a real HTTP server
 * (common/http), verified and parsed by the adapter exactly as the
 * shipping service's route does.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/http.h"
#include "common/log.h"
#include "common/strbuf.h"
#include "services/shipping/adapters/carrier.h"

#define SECRET     "carriercheck-webhook-secret"
#define HEADER     "X-Conveyor-Secret"
#define EVENTS_MAX 256
#define WAIT_MS    10000

static const char *fake_url;
static char run_tag[32];
static carrier_config_t config;

static void fail(int line, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "FAILED (carriercheck.c:%d): ", line);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fail(__LINE__, __VA_ARGS__);                                                           \
    } while (0)

#define CHECK_RESULT(got, want, err)                                                               \
    CHECK((got) == (want), "expected %s, got %s (code %s: %s)", carrier_result_name(want),         \
          carrier_result_name(got), (err).code, (err).message)

static void ok(const char *scenario)
{
    printf("ok: %s\n", scenario);
    fflush(stdout);
}

/* --- the receiver ------------------------------------------------------------------ */

static pthread_mutex_t events_lock = PTHREAD_MUTEX_INITIALIZER;
static carrier_track_t events[EVENTS_MAX];
static size_t event_count;
static int refused_count;

static void on_webhook(const http_request_t *req, http_response_t *res, void *arg)
{
    (void)arg;
    if (!carrier_webhook_verify(SECRET, http_req_header(req, HEADER))) {
        pthread_mutex_lock(&events_lock);
        refused_count++;
        pthread_mutex_unlock(&events_lock);
        http_res_problem(res, 401, "bad_secret", "the webhook's secret is wrong", NULL);
        return;
    }
    size_t len = 0;
    const char *body = http_req_body(req, &len);
    carrier_track_t event;
    if (carrier_webhook_parse(body, len, &event) != 0) {
        http_res_problem(res, 400, "bad_webhook", "not a tracking webhook", NULL);
        return;
    }
    pthread_mutex_lock(&events_lock);
    if (event_count < EVENTS_MAX)
        events[event_count++] = event;
    pthread_mutex_unlock(&events_lock);
    http_res_json_take(res, 200, json_pack("{s:b}", "ok", true));
}

/* How many webhooks for tracking_number arrived, the codes in arrival order. */
static size_t received(const char *tracking_number, char *codes, size_t size)
{
    size_t n = 0, len = 0;
    codes[0] = '\0';
    pthread_mutex_lock(&events_lock);
    for (size_t i = 0; i < event_count; i++)
        if (strcmp(events[i].tracking_number, tracking_number) == 0) {
            n++;
            len += (size_t)snprintf(codes + len, size > len ? size - len : 0, "%s%s",
                                    len ? "," : "", events[i].status_code);
        }
    pthread_mutex_unlock(&events_lock);
    return n;
}

/* --- the fake's control ---------------------------------------------------------------- */

static size_t sink(char *bytes, size_t size, size_t count, void *userdata)
{
    return strbuf_append(userdata, bytes, size * count) == 0 ? size * count : 0;
}

static json_t *control(const char *method, const char *path, const char *body)
{
    char url[512];
    snprintf(url, sizeof url, "%s%s", fake_url, path);
    strbuf_t out;
    strbuf_init(&out, 4 * 1024 * 1024);
    CURL *curl = curl_easy_init();
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &out);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
    if (body)
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    CURLcode code = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    CHECK(code == CURLE_OK && status < 300, "control %s %s answered %ld", method, path, status);
    json_t *parsed = json_loads(out.ptr ? out.ptr : "{}", 0, NULL);
    strbuf_release(&out);
    CHECK(parsed, "control %s %s: not JSON", method, path);
    return parsed;
}

static void arm(const char *fault)
{
    json_decref(control("POST", "/_fake/faults", fault));
}

static json_int_t stat_of(const char *name)
{
    json_t *stats = control("GET", "/_fake/stats", NULL);
    json_int_t value = json_integer_value(json_object_get(stats, name));
    json_decref(stats);
    return value;
}

static void address(carrier_address_t *out, const char *line1, const char *postal)
{
    memset(out, 0, sizeof *out);
    str_copy_to(out->name, sizeof out->name, "Иван Петров");
    str_copy_to(out->phone, sizeof out->phone, "+79990001122");
    str_copy_to(out->line1, sizeof out->line1, line1);
    str_copy_to(out->city, sizeof out->city, "Москва");
    str_copy_to(out->postal_code, sizeof out->postal_code, postal);
    str_copy_to(out->country, sizeof out->country, "RU");
}

/* A new shipment under a fresh reference of ours. */
static void new_shipment(const char *name, carrier_shipment_t *out, char *ref, size_t size)
{
    snprintf(ref, size, "%s-%s", run_tag, name);
    carrier_address_t to;
    address(&to, "ул. Тверская, 1", "125009");
    carrier_error_t err;
    carrier_result_t result = carrier_shipment_create(&config, ref, "se-cdek", "cdek_courier",
                                                      "package", &to, 1200, out, &err);
    CHECK_RESULT(result, CARRIER_OK, err);
}

/* --- scenarios ------------------------------------------------------------------------ */

static void check_addresses(void)
{
    carrier_address_t to;
    carrier_address_check_t check;
    carrier_error_t err;
    address(&to, "ул. Тверская, 1", "125009");
    CHECK_RESULT(carrier_address_validate(&config, &to, &check, &err), CARRIER_OK, err);
    CHECK(check.verdict == CARRIER_ADDRESS_VERIFIED, "a full address is verified");
    address(&to, "ул. Тверская, 1", "");
    CHECK_RESULT(carrier_address_validate(&config, &to, &check, &err), CARRIER_OK, err);
    CHECK(check.verdict == CARRIER_ADDRESS_CORRECTED &&
              strcmp(check.matched.postal_code, "101000") == 0 &&
              strcmp(check.matched.line1, to.line1) == 0,
          "an address without a postal code is corrected with one (got %d, %s)", check.verdict,
          check.matched.postal_code);
    address(&to, "Nowhere street 0", "000000");
    CHECK_RESULT(carrier_address_validate(&config, &to, &check, &err), CARRIER_OK, err);
    CHECK(check.verdict == CARRIER_ADDRESS_WRONG &&
              strcmp(check.detail_code, "address_not_found") == 0,
          "an address the carrier cannot find is wrong");
    ok("addresses: verified, corrected with a suggestion, wrong");
}

static void check_rates(void)
{
    const char *carriers[] = {"se-russian-post", "se-cdek"};
    carrier_address_t to;
    address(&to, "ул. Тверская, 1", "125009");
    carrier_rate_t rates[CARRIER_RATES_MAX];
    size_t count = 0;
    carrier_error_t err;
    CHECK_RESULT(
        carrier_rates(&config, carriers, 2, &to, 400, rates, CARRIER_RATES_MAX, &count, &err),
        CARRIER_OK, err);
    CHECK(count == 4, "a 400 g parcel has 4 rates, not %zu", count);
    CHECK(strcmp(rates[0].service_code, "letter_first") == 0 && rates[0].amount_minor == 12000,
          "the letter costs 120.00 (got %s %lld)", rates[0].service_code,
          (long long)rates[0].amount_minor);
    CHECK_RESULT(
        carrier_rates(&config, carriers, 2, &to, 2500, rates, CARRIER_RATES_MAX, &count, &err),
        CARRIER_OK, err);
    CHECK(count == 3 && rates[0].amount_minor == 25000 + 3 * 3000,
          "a 2.5 kg parcel: no letter, the parcel 340.00 (got %zu, %lld)", count,
          (long long)rates[0].amount_minor);
    arm("{\"op\":\"rates\",\"kind\":\"no_rates\"}");
    CHECK_RESULT(
        carrier_rates(&config, carriers, 2, &to, 400, rates, CARRIER_RATES_MAX, &count, &err),
        CARRIER_REFUSED, err);
    CHECK(strcmp(err.code, "no_rates_returned") == 0, "no rates is no_rates_returned");
    arm("{\"op\":\"rates\",\"kind\":\"http\",\"http_status\":429,\"retry_after_s\":2}");
    CHECK_RESULT(
        carrier_rates(&config, carriers, 2, &to, 400, rates, CARRIER_RATES_MAX, &count, &err),
        CARRIER_TRANSIENT, err);
    CHECK(err.http_status == 429 && err.retry_after_ms == 2000,
          "429 carries its Retry-After (got %d, %lld ms)", err.http_status,
          (long long)err.retry_after_ms);
    ok("rates: by weight, none returned, 429 with Retry-After");
}

static void check_shipments(void)
{
    carrier_shipment_t shipment, again;
    char ref[64];
    new_shipment("dup", &shipment, ref, sizeof ref);
    carrier_address_t to;
    address(&to, "ул. Тверская, 1", "125009");
    carrier_error_t err;
    CHECK_RESULT(carrier_shipment_create(&config, ref, "se-cdek", "cdek_courier", "package", &to,
                                         1200, &again, &err),
                 CARRIER_REFUSED, err);
    CHECK(strcmp(err.code, "duplicate_external_shipment_id") == 0, "a second create is refused");
    CHECK_RESULT(carrier_shipment_find(&config, ref, &again, &err), CARRIER_OK, err);
    CHECK(strcmp(again.shipment_id, shipment.shipment_id) == 0, "found by our reference");
    char unknown[64];
    snprintf(unknown, sizeof unknown, "%s-never", run_tag);
    CHECK_RESULT(carrier_shipment_find(&config, unknown, &again, &err), CARRIER_NOT_FOUND, err);
    ok("shipments: one per reference, found by it");
}

/* A purchase whose answer is lost: unknown, then found, never bought again. */
static void check_lost_purchase(const char *name, const char *fault)
{
    carrier_shipment_t shipment;
    char ref[64];
    new_shipment(name, &shipment, ref, sizeof ref);
    arm(fault);
    carrier_label_t label, found;
    carrier_error_t err;
    CHECK_RESULT(carrier_label_buy(&config, shipment.shipment_id, &label, &err), CARRIER_UNKNOWN,
                 err);
    CHECK_RESULT(carrier_label_find(&config, shipment.shipment_id, &found, &err), CARRIER_OK, err);
    CHECK(found.tracking_number[0] && found.label_url[0] && found.cost_minor == 43000,
          "the label bought in the dark is found with its tracking number and cost");
    char path[160];
    snprintf(path, sizeof path, "/_fake/labels?external_shipment_id=%s", ref);
    json_t *sold = control("GET", path, NULL);
    CHECK(json_array_size(json_object_get(sold, "labels")) == 1, "one label sold for %s", ref);
    json_decref(sold);
}

static void check_labels(void)
{
    carrier_shipment_t shipment;
    char ref[64];
    new_shipment("plain", &shipment, ref, sizeof ref);
    carrier_label_t label, found;
    carrier_error_t err;
    CHECK_RESULT(carrier_label_find(&config, shipment.shipment_id, &found, &err), CARRIER_NOT_FOUND,
                 err);
    CHECK_RESULT(carrier_label_buy(&config, shipment.shipment_id, &label, &err), CARRIER_OK, err);
    CHECK(strncmp(label.tracking_number, "CD", 2) == 0 && label.cost_minor == 43000,
          "a CDEK label with its tracking number and cost");
    CHECK_RESULT(carrier_label_find(&config, shipment.shipment_id, &found, &err), CARRIER_OK, err);
    CHECK(strcmp(found.label_id, label.label_id) == 0, "the label is found by the shipment");

    check_lost_purchase("lost", "{\"op\":\"labels.create\",\"kind\":\"lose_reply\",\"apply\":true,"
                                "\"delay_ms\":2500}");
    check_lost_purchase("http500",
                        "{\"op\":\"labels.create\",\"kind\":\"http\",\"http_status\":500,"
                        "\"apply\":true}");

    new_shipment("funds", &shipment, ref, sizeof ref);
    arm("{\"op\":\"labels.create\",\"kind\":\"insufficient_funds\"}");
    CHECK_RESULT(carrier_label_buy(&config, shipment.shipment_id, &label, &err), CARRIER_REFUSED,
                 err);
    CHECK(strcmp(err.code, "insufficient_funds") == 0, "insufficient funds is a refusal");
    arm("{\"op\":\"labels.create\",\"kind\":\"http\",\"http_status\":429,\"retry_after_s\":1}");
    CHECK_RESULT(carrier_label_buy(&config, shipment.shipment_id, &label, &err), CARRIER_TRANSIENT,
                 err);
    CHECK(err.retry_after_ms == 1000, "429 on a purchase: nothing bought, retry after 1 s");
    CHECK_RESULT(carrier_label_find(&config, shipment.shipment_id, &found, &err), CARRIER_NOT_FOUND,
                 err);
    ok("labels: bought, found by shipment; lost answers and 500 settled by lookup; 429, "
       "insufficient funds");
}

static void check_void_and_tracking(void)
{
    carrier_shipment_t shipment;
    char ref[64];
    carrier_label_t label;
    carrier_error_t err;
    bool approved = false;
    char message[CARRIER_TEXT_SIZE];
    new_shipment("void", &shipment, ref, sizeof ref);
    CHECK_RESULT(carrier_label_buy(&config, shipment.shipment_id, &label, &err), CARRIER_OK, err);
    CHECK_RESULT(carrier_label_void(&config, label.label_id, &approved, message, &err), CARRIER_OK,
                 err);
    CHECK(approved, "a label not yet handed over is voided");

    new_shipment("handed", &shipment, ref, sizeof ref);
    CHECK_RESULT(carrier_label_buy(&config, shipment.shipment_id, &label, &err), CARRIER_OK, err);
    carrier_track_t track;
    CHECK_RESULT(carrier_tracking_get(&config, "se-cdek", label.tracking_number, &track, &err),
                 CARRIER_OK, err);
    CHECK(strcmp(track.status_code, "NY") == 0, "a new label is not yet in the system");
    const char *ids[] = {label.label_id};
    char manifest[CARRIER_ID_SIZE], href[CARRIER_URL_SIZE];
    CHECK_RESULT(carrier_manifest_create(&config, ids, 1, manifest, href, &err), CARRIER_OK, err);
    CHECK(manifest[0] && strstr(href, ".pdf"), "a manifest with its PDF");
    CHECK_RESULT(carrier_tracking_get(&config, "se-cdek", label.tracking_number, &track, &err),
                 CARRIER_OK, err);
    CHECK(strcmp(track.status_code, "AC") == 0 && track.event_id[0] && track.at_ms > 0,
          "manifested: accepted (got %s)", track.status_code);
    CHECK_RESULT(carrier_label_void(&config, label.label_id, &approved, message, &err), CARRIER_OK,
                 err);
    CHECK(!approved && message[0], "a handed-over label cannot be voided");
    ok("void before hand-over, refused after; manifest; tracking polled");
}

static void wait_for(const char *tracking_number, size_t want, char *codes, size_t size)
{
    int64_t until = clock_mono_ms() + WAIT_MS;
    while (received(tracking_number, codes, size) < want && clock_mono_ms() < until)
        usleep(20000);
    CHECK(received(tracking_number, codes, size) >= want, "%zu webhooks for %s, got [%s]", want,
          tracking_number, codes);
}

static void track(const char *number, const char *code)
{
    char body[160];
    snprintf(body, sizeof body, "{\"tracking_number\":\"%s\",\"status_code\":\"%s\"}", number,
             code);
    json_decref(control("POST", "/_fake/track", body));
}

static void check_webhooks(const char *receiver_url)
{
    carrier_error_t err;
    CHECK_RESULT(carrier_webhook_subscribe(&config, receiver_url, HEADER, SECRET, &err), CARRIER_OK,
                 err);
    CHECK_RESULT(carrier_webhook_subscribe(&config, receiver_url, HEADER, SECRET, &err), CARRIER_OK,
                 err); /* again: updated, not refused */
    carrier_shipment_t shipment;
    char ref[64], codes[256];
    carrier_label_t label;
    new_shipment("hooks", &shipment, ref, sizeof ref);
    CHECK_RESULT(carrier_label_buy(&config, shipment.shipment_id, &label, &err), CARRIER_OK, err);
    track(label.tracking_number, "AC");
    wait_for(label.tracking_number, 1, codes, sizeof codes);
    json_decref(control("POST", "/_fake/webhooks/faults", "{\"kind\":\"duplicate\"}"));
    track(label.tracking_number, "IT");
    wait_for(label.tracking_number, 3, codes, sizeof codes);
    CHECK(strcmp(codes, "AC,IT,IT") == 0, "a duplicate webhook arrives twice: %s", codes);
    json_decref(control("POST", "/_fake/webhooks/faults", "{\"kind\":\"reorder\"}"));
    track(label.tracking_number, "AT");
    track(label.tracking_number, "DE");
    wait_for(label.tracking_number, 5, codes, sizeof codes);
    CHECK(strcmp(codes, "AC,IT,IT,DE,AT") == 0, "a held webhook comes after the next: %s", codes);
    pthread_mutex_lock(&events_lock);
    const carrier_track_t *dup1 = NULL, *dup2 = NULL;
    for (size_t i = 0; i < event_count; i++)
        if (strcmp(events[i].tracking_number, label.tracking_number) == 0 &&
            strcmp(events[i].status_code, "IT") == 0)
            *(dup1 ? &dup2 : &dup1) = &events[i];
    CHECK(dup1 && dup2 && dup1->event_id[0] && strcmp(dup1->event_id, dup2->event_id) == 0,
          "both copies of a duplicate carry one event id");
    pthread_mutex_unlock(&events_lock);
    CHECK(!carrier_webhook_verify(SECRET, NULL) && !carrier_webhook_verify(SECRET, "") &&
              !carrier_webhook_verify(SECRET, SECRET "x") &&
              !carrier_webhook_verify(SECRET, "carriercheck-webhook-secreT") &&
              carrier_webhook_verify(SECRET, SECRET),
          "the secret header compares exactly");
    ok("webhooks: subscribed with a secret header, duplicates share an event id, "
       "out of order delivered as sent");
}

static void check_batches(void)
{
    carrier_shipment_t shipments[3];
    char ref[64];
    const char *ids[3];
    for (int i = 0; i < 3; i++) {
        char name[32];
        snprintf(name, sizeof name, "batch%d", i);
        new_shipment(name, &shipments[i], ref, sizeof ref);
        ids[i] = shipments[i].shipment_id;
    }
    char number[64];
    snprintf(number, sizeof number, "%s-20261205001", run_tag);
    carrier_batch_t batch;
    carrier_error_t err;
    CHECK_RESULT(carrier_batch_create(&config, number, ids, 2, &batch, &err), CARRIER_OK, err);
    CHECK(strcmp(batch.status, "open") == 0, "a new batch is open");
    CHECK_RESULT(carrier_batch_change(&config, batch.batch_id, true, ids + 2, 1, &err), CARRIER_OK,
                 err);
    CHECK_RESULT(carrier_batch_change(&config, batch.batch_id, false, ids, 1, &err), CARRIER_OK,
                 err);
    CHECK_RESULT(carrier_batch_change(&config, batch.batch_id, true, ids, 1, &err), CARRIER_OK,
                 err);
    arm("{\"op\":\"batches.process\",\"kind\":\"completed_with_errors\"}");
    CHECK_RESULT(carrier_batch_process(&config, batch.batch_id, &err), CARRIER_OK, err);
    CHECK_RESULT(carrier_batch_change(&config, batch.batch_id, false, ids, 1, &err),
                 CARRIER_REFUSED, err);
    CHECK(strcmp(err.code, "batch_cannot_be_modified") == 0, "a processing batch is closed");
    int64_t until = clock_mono_ms() + WAIT_MS;
    do {
        usleep(50000);
        CHECK_RESULT(carrier_batch_get(&config, batch.batch_id, &batch, &err), CARRIER_OK, err);
    } while (strcmp(batch.status, "processing") == 0 && clock_mono_ms() < until);
    CHECK(strcmp(batch.status, "completed_with_errors") == 0 && batch.errors == 1,
          "the batch completed with one error (got %s, %lld)", batch.status,
          (long long)batch.errors);
    int labelled = 0;
    carrier_label_t label;
    const char *unlabelled = "";
    for (int i = 0; i < 3; i++) {
        bool found = carrier_label_find(&config, ids[i], &label, &err) == CARRIER_OK;
        labelled += found;
        if (!found)
            unlabelled = ids[i];
    }
    CHECK(labelled == 2, "two of three shipments got labels, not %d", labelled);
    carrier_batch_error_t errors[4];
    size_t error_count = 0;
    CHECK_RESULT(carrier_batch_errors(&config, batch.batch_id, errors, 4, &error_count, &err),
                 CARRIER_OK, err);
    CHECK(error_count == 1 && strcmp(errors[0].shipment_id, unlabelled) == 0 &&
              strcmp(errors[0].code, "invalid_address") == 0 && errors[0].message[0],
          "the batch's one error names the shipment without a label (%zu errors)", error_count);
    carrier_batch_t again;
    CHECK_RESULT(carrier_batch_find(&config, number, &again, &err), CARRIER_OK, err);
    CHECK(strcmp(again.batch_id, batch.batch_id) == 0, "the batch found by our number");
    CHECK_RESULT(carrier_batch_create(&config, number, ids, 1, &again, &err), CARRIER_REFUSED, err);
    CHECK(strcmp(err.code, "duplicate_external_batch_id") == 0,
          "a second batch under our number refused (%s)", err.code);
    char unknown[80];
    snprintf(unknown, sizeof unknown, "%s-29991231999", run_tag);
    CHECK_RESULT(carrier_batch_find(&config, unknown, &again, &err), CARRIER_NOT_FOUND, err);
    ok("batches: create, add, remove, process; completed_with_errors, its errors; found by our "
       "number, never made twice");
}

int main(void)
{
    fake_url = getenv("FAKE_CARRIER_URL") ? getenv("FAKE_CARRIER_URL") : "http://127.0.0.1:18095";
    const char *key = getenv("FAKE_CARRIER_API_KEY");
    const char *addr =
        getenv("CARRIERCHECK_ADDR") ? getenv("CARRIERCHECK_ADDR") : "127.0.0.1:18096";
    log_init("carriercheck", LOG_WARN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    snprintf(run_tag, sizeof run_tag, "cc%lld", (long long)clock_now_ms());
    config = (carrier_config_t){.base_url = fake_url,
                                .api_key = key ? key : "TEST_conveyor_carrier_key",
                                .timeout_ms = 1500};
    http_config_t http = {.addr = addr, .threads = 4, .svc = "carriercheck"};
    http_server_t *server = http_server_new(&http);
    CHECK(server && http_route(server, "POST", "/hooks/track", on_webhook, NULL) == 0 &&
              http_server_start(server) == 0,
          "the receiver starts on %s", addr);
    char receiver_url[160];
    snprintf(receiver_url, sizeof receiver_url, "http://%s/hooks/track", addr);

    carrier_config_t wrong = config;
    wrong.api_key = "wrong";
    carrier_address_t to;
    address(&to, "ул. Тверская, 1", "125009");
    carrier_address_check_t check;
    carrier_error_t err;
    CHECK_RESULT(carrier_address_validate(&wrong, &to, &check, &err), CARRIER_REFUSED, err);
    CHECK(err.http_status == 401, "a wrong API key is 401");
    ok("a wrong API key is refused");

    check_addresses();
    check_rates();
    check_shipments();
    check_labels();
    check_void_and_tracking();
    check_webhooks(receiver_url);
    check_batches();
    CHECK(stat_of("shipments_sold_twice") == 0, "no shipment was sold two labels");
    ok("no shipment was sold two labels");
    http_server_destroy(&server);
    curl_global_cleanup();
    return 0;
}
