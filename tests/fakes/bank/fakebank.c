/*
 * fakebank.c — the fake bank's main: configuration from the environment,
 * the shared state (fakebank.h says what it holds and why), and the
 * url-encoded forms both banks' sides read.
 *
 *   fakebank [--help]
 *
 * Settings (environment): FAKE_BANK_ADDR (127.0.0.1:18090), FAKE_BANK_PUBLIC_URL
 * (http://<addr>), FAKE_BANK_SBER_USER / _PASSWORD / _CALLBACK_KEY /
 * _CALLBACK_URL, FAKE_BANK_YOOKASSA_SHOP_ID / _SECRET / _WEBHOOK_URL,
 * FAKE_BANK_NOTIFY_RETRY (1s), FAKE_BANK_NOTIFY_ATTEMPTS (20),
 * FAKE_BANK_IDEMPOTENCE_TTL (24h), FAKE_BANK_LOSE_REPLY (3s),
 * FAKE_BANK_RECEIPT_REQUIRED (true), FAKE_BANK_LATENCY (0: how long every
 * call of either bank's API takes), FAKE_BANK_THREADS (8: calls answered at
 * once). Runs until SIGTERM or SIGINT.
 */
#include "tests/fakes/bank/fakebank.h"

#include <curl/curl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/hex.h"
#include "common/log.h"
#include "common/uuid.h"

static const config_spec_t fake_specs[] = {
    {"FAKE_BANK_ADDR", "127.0.0.1:18090", false, "address the fake bank listens on"},
    {"FAKE_BANK_PUBLIC_URL", NULL, false, "base of payment page URLs (default http://<addr>)"},
    {"FAKE_BANK_SBER_USER", "conveyor-api", false, "Sberbank userName"},
    {"FAKE_BANK_SBER_PASSWORD", "conveyor-password", true, "Sberbank password"},
    {"FAKE_BANK_SBER_CALLBACK_KEY", "conveyor-callback-key", true,
     "Sberbank callback checksum key"},
    {"FAKE_BANK_SBER_CALLBACK_URL", NULL, false,
     "Sberbank callback URL for orders without dynamicCallbackUrl"},
    {"FAKE_BANK_YOOKASSA_SHOP_ID", "100500", false, "YooKassa shopId"},
    {"FAKE_BANK_YOOKASSA_SECRET", "test_conveyor_secret", true, "YooKassa secret key"},
    {"FAKE_BANK_YOOKASSA_WEBHOOK_URL", NULL, false, "where YooKassa webhooks are POSTed"},
    {"FAKE_BANK_NOTIFY_RETRY", "1s", false, "pause before redelivering an unanswered notification"},
    {"FAKE_BANK_NOTIFY_ATTEMPTS", "20", false, "deliveries of a notification before giving up"},
    {"FAKE_BANK_IDEMPOTENCE_TTL", "24h", false, "how long YooKassa replays an Idempotence-Key"},
    {"FAKE_BANK_LOSE_REPLY", "3s", false, "how long a lost reply is held back"},
    {"FAKE_BANK_RECEIPT_REQUIRED", "true", false, "refuse payments without a 54-FZ receipt"},
    {"FAKE_BANK_LATENCY", "0", false, "how long every call of the banks' APIs takes (e.g. 50ms)"},
    {"FAKE_BANK_THREADS", "8", false, "HTTP threads: calls answered at once"},
    {"LOG_LEVEL", "info", false, "debug, info, warn, error"},
    CONFIG_SPEC_END,
};

/* --- state ------------------------------------------------------------------ */

void fake_new_id(char out[FAKE_ID_SIZE])
{
    char uuid[UUID_TEXT_SIZE];
    if (uuid_v4(uuid) != 0) /* the kernel's random source failed: still unique enough */
        snprintf(uuid, sizeof uuid, "%016llx", (unsigned long long)clock_mono_us());
    snprintf(out, FAKE_ID_SIZE, "%s", uuid);
}

/* Set once the fake is stopping: a pause under way (a held answer, the
 * latency) ends within 50 ms (clock_pause_ms), so that a reply held for a
 * minute does not keep the process a minute past its SIGTERM. */
static atomic_bool pauses_ended;

void fake_pause_ms(int64_t ms)
{
    clock_pause_ms(ms, &pauses_ended);
}

void fake_pause_end(void)
{
    atomic_store(&pauses_ended, true);
}

void fake_time_text(int64_t unix_ms, char *out, size_t size)
{
    time_t seconds = (time_t)(unix_ms / 1000);
    struct tm tm;
    gmtime_r(&seconds, &tm);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, size, "%s.%03dZ", stamp, (int)(unix_ms % 1000));
}

fake_request_t *fake_record(fake_t *fake, const char *provider, const char *op,
                            const http_request_t *req, const char *key)
{
    fake_request_t *slot = &fake->requests[fake->request_seq % FAKE_REQUESTS_MAX];
    free(slot->path);
    free(slot->body);
    memset(slot, 0, sizeof *slot);
    slot->seq = ++fake->request_seq;
    snprintf(slot->provider, sizeof slot->provider, "%s", provider);
    snprintf(slot->op, sizeof slot->op, "%s", op);
    snprintf(slot->method, sizeof slot->method, "%s", http_req_method(req));
    snprintf(slot->key, sizeof slot->key, "%s", key ? key : "");
    slot->path = strdup(http_req_target(req));
    size_t len = 0;
    const char *body = http_req_body(req, &len);
    slot->body = strndup(body ? body : "", len < FAKE_RECORD_BODY ? len : FAKE_RECORD_BODY);
    slot->at_ms = clock_now_ms();
    return slot;
}

bool fake_fault_take(fake_t *fake, const char *provider, const char *op, fake_fault_t *out)
{
    for (size_t i = 0; i < FAKE_FAULTS_MAX; i++) {
        fake_fault_t *fault = &fake->faults[i];
        if (fault->count <= 0 || strcmp(fault->provider, provider) != 0 ||
            (strcmp(fault->op, "*") != 0 && strcmp(fault->op, op) != 0))
            continue;
        *out = *fault;
        fault->count--;
        return true;
    }
    return false;
}

static void order_free(fake_sber_order_t *order)
{
    if (!order)
        return;
    json_decref(order->bundle);
    for (size_t i = 0; i < order->refund_count; i++)
        json_decref(order->refunds[i].items);
    free(order->refunds);
    free(order);
}

void fake_reset(fake_t *fake)
{
    for (size_t i = 0; i < fake->order_count; i++)
        order_free(fake->orders[i]);
    for (size_t i = 0; i < fake->payment_count; i++) {
        json_decref(fake->payments[i]->request);
        free(fake->payments[i]);
    }
    for (size_t i = 0; i < fake->refund_count; i++) {
        json_decref(fake->refunds[i]->request);
        free(fake->refunds[i]);
    }
    for (size_t i = 0; i < fake->key_count; i++)
        free(fake->keys[i].body);
    for (size_t i = 0; i < FAKE_REQUESTS_MAX; i++) {
        free(fake->requests[i].path);
        free(fake->requests[i].body);
    }
    for (size_t i = 0; i < fake->notice_count; i++) {
        free(fake->notices[i].url);
        free(fake->notices[i].body);
    }
    free(fake->orders);
    free(fake->payments);
    free(fake->refunds);
    free(fake->keys);
    fake->orders = NULL;
    fake->payments = NULL;
    fake->refunds = NULL;
    fake->keys = NULL;
    fake->order_count = fake->payment_count = fake->refund_count = fake->key_count = 0;
    fake->notice_count = 0;
    memset(fake->requests, 0, sizeof fake->requests);
    memset(fake->faults, 0, sizeof fake->faults);
    memset(fake->notice_faults, 0, sizeof fake->notice_faults);
}

/* --- forms -------------------------------------------------------------------- */

static char *decode_part(const char *text, size_t len)
{
    char *out = malloc(len + 1);
    if (!out)
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '+') {
            out[n++] = ' ';
        } else if (text[i] == '%') {
            int high = i + 1 < len ? hex_value(text[i + 1]) : -1;
            int low = i + 2 < len ? hex_value(text[i + 2]) : -1;
            if (high < 0 || low < 0 || high * 16 + low == 0) {
                free(out);
                return NULL;
            }
            out[n++] = (char)(high * 16 + low);
            i += 2;
        } else {
            out[n++] = text[i];
        }
    }
    out[n] = '\0';
    return out;
}

int fake_form_parse(const char *text, size_t len, fake_form_t *form)
{
    memset(form, 0, sizeof *form);
    size_t i = 0;
    while (i < len) {
        size_t end = i;
        while (end < len && text[end] != '&')
            end++;
        if (end > i) {
            if (form->count == FAKE_FORM_PAIRS)
                goto fail;
            size_t eq = i;
            while (eq < end && text[eq] != '=')
                eq++;
            char *name = decode_part(text + i, eq - i);
            char *value = decode_part(text + eq + (eq < end), end - eq - (eq < end));
            if (!name || !value) {
                free(name);
                free(value);
                goto fail;
            }
            form->names[form->count] = name;
            form->values[form->count] = value;
            form->count++;
        }
        i = end + 1;
    }
    return 0;
fail:
    fake_form_release(form);
    return -1;
}

void fake_form_release(fake_form_t *form)
{
    for (size_t i = 0; i < form->count; i++) {
        free(form->names[i]);
        free(form->values[i]);
    }
    form->count = 0;
}

const char *fake_form_get(const fake_form_t *form, const char *name)
{
    for (size_t i = 0; i < form->count; i++)
        if (strcmp(form->names[i], name) == 0)
            return form->values[i];
    return NULL;
}

int fake_url_encode(char *out, size_t size, size_t *len, const char *text)
{
    static const char digits[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        bool plain = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                     (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.' || *p == '~';
        if (*len + (plain ? 1 : 3) >= size)
            return -1;
        if (plain) {
            out[(*len)++] = (char)*p;
        } else {
            out[(*len)++] = '%';
            out[(*len)++] = digits[*p >> 4];
            out[(*len)++] = digits[*p & 15];
        }
    }
    out[*len] = '\0';
    return 0;
}

/* --- main --------------------------------------------------------------------- */

static char *setting(const config_t *cfg, const char *name)
{
    const char *value = config_get(cfg, name);
    return value && value[0] ? strdup(value) : NULL;
}

static int read_config(const config_t *cfg, fake_config_t *out)
{
    bool receipt = true;
    if (config_get_duration_ms(cfg, "FAKE_BANK_NOTIFY_RETRY", &out->notify_retry_ms) != 0 ||
        config_get_int(cfg, "FAKE_BANK_NOTIFY_ATTEMPTS", 1, 100000, &out->notify_attempts) != 0 ||
        config_get_duration_ms(cfg, "FAKE_BANK_IDEMPOTENCE_TTL", &out->idempotence_ttl_ms) != 0 ||
        config_get_duration_ms(cfg, "FAKE_BANK_LOSE_REPLY", &out->lose_reply_ms) != 0 ||
        config_get_duration_ms(cfg, "FAKE_BANK_LATENCY", &out->latency_ms) != 0 ||
        config_get_int(cfg, "FAKE_BANK_THREADS", 1, 512, &out->threads) != 0 ||
        config_get_bool(cfg, "FAKE_BANK_RECEIPT_REQUIRED", &receipt) != 0)
        return -1;
    out->receipt_required = receipt;
    out->sber_user = setting(cfg, "FAKE_BANK_SBER_USER");
    out->sber_password = setting(cfg, "FAKE_BANK_SBER_PASSWORD");
    out->sber_key = setting(cfg, "FAKE_BANK_SBER_CALLBACK_KEY");
    out->sber_callback_url = setting(cfg, "FAKE_BANK_SBER_CALLBACK_URL");
    out->yoo_shop = setting(cfg, "FAKE_BANK_YOOKASSA_SHOP_ID");
    out->yoo_secret = setting(cfg, "FAKE_BANK_YOOKASSA_SECRET");
    out->yoo_webhook_url = setting(cfg, "FAKE_BANK_YOOKASSA_WEBHOOK_URL");
    out->public_url = setting(cfg, "FAKE_BANK_PUBLIC_URL");
    if (!out->public_url) {
        char url[256];
        snprintf(url, sizeof url, "http://%s", config_get(cfg, "FAKE_BANK_ADDR"));
        out->public_url = strdup(url);
    }
    if (!out->sber_user || !out->sber_password || !out->sber_key || !out->yoo_shop ||
        !out->yoo_secret || !out->public_url) {
        log_error("fake bank not configured", LF_ERR("config_missing"),
                  LF_STR("need", "credentials, keys and a public URL"));
        return -1;
    }
    return 0;
}

static void config_release(fake_config_t *config)
{
    free(config->public_url);
    free(config->sber_user);
    free(config->sber_password);
    free(config->sber_key);
    free(config->sber_callback_url);
    free(config->yoo_shop);
    free(config->yoo_secret);
    free(config->yoo_webhook_url);
}

int main(int argc, char **argv)
{
    int status = 1;
    fake_t *fake = NULL;
    http_server_t *server = NULL;
    config_t *cfg = config_new();
    if (!cfg || config_declare(cfg, fake_specs) != 0)
        goto done;
    if (argc > 1 && strcmp(argv[1], "--help") == 0) {
        config_print_help(cfg);
        status = 0;
        goto done;
    }
    log_level_t level = LOG_INFO;
    if (log_level_parse(config_get(cfg, "LOG_LEVEL"), &level) != 0)
        level = LOG_INFO;
    log_init("fakebank", level);
    config_log(cfg);
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL); /* every thread made after inherits it */
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
    http_config_t http = {.addr = config_get(cfg, "FAKE_BANK_ADDR"),
                          .body_limit = 256 * 1024,
                          .threads = (int)fake->config.threads,
                          .timeout_s = 30,
                          .svc = "fakebank"};
    server = http_server_new(&http);
    if (!server || fake_sber_routes(server, fake) != 0 || fake_yoo_routes(server, fake) != 0 ||
        fake_page_routes(server, fake) != 0 || fake_control_routes(server, fake) != 0 ||
        fake_notifier_start(fake) != 0 || http_server_start(server) != 0)
        goto done;
    log_info("fake bank listening", LF_STR("addr", http.addr),
             LF_STR("public_url", fake->config.public_url));
    int signal_number = 0;
    sigwait(&stop_signals, &signal_number);
    log_info("fake bank stopping", LF_INT("signal", signal_number));
    fake_pause_end();
    status = 0;
done:
    http_server_destroy(&server);
    if (fake) {
        fake_notifier_stop(fake);
        fake_reset(fake);
        config_release(&fake->config);
        pthread_cond_destroy(&fake->wake);
        pthread_mutex_destroy(&fake->lock);
        free(fake);
    }
    config_destroy(&cfg);
    curl_global_cleanup();
    return status;
}
