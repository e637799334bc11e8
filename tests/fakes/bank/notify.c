/*
 * notify.c — the fake bank's callbacks and webhooks, sent as the banks
 * send them, from a thread of their own so that a slow receiver never
 * holds up an API call.
 *
 * Sberbank: a GET to the order's dynamicCallbackUrl (or the shop's URL)
 * carrying mdOrder, orderNumber, operation, status, amount and checksum:
 * HMAC-SHA256 with the shop's key over the other parameters sorted by
 * name, "name;value;" each, in upper-case hex. YooKassa: a POST of
 * {"type":"notification","event":...,"object":{...}} to the shop's
 * webhook URL. Both are delivered again after FAKE_BANK_NOTIFY_RETRY while
 * the receiver does not answer 200, up to FAKE_BANK_NOTIFY_ATTEMPTS times.
 * Tests arm failures of the next notifications (/_fake/notices/faults):
 * sent twice, late (so a later one overtakes it: reordered), with a wrong
 * or no checksum, or never.
 */
#include <curl/curl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "tests/fakes/bank/fakebank.h"

#define SEND_TIMEOUT_MS 5000L

/* --- Sberbank's checksum ---------------------------------------------------- */

static int by_name(const void *a, const void *b)
{
    const char *const *left = a;
    const char *const *right = b;
    return strcmp(left[0], right[0]);
}

int fake_sber_checksum(const char *key, const char *query, char out[65])
{
    fake_form_t form;
    if (fake_form_parse(query, strlen(query), &form) != 0)
        return -1;
    const char *pairs[FAKE_FORM_PAIRS][2];
    size_t n = 0;
    for (size_t i = 0; i < form.count; i++) {
        if (strcmp(form.names[i], "checksum") == 0)
            continue;
        pairs[n][0] = form.names[i];
        pairs[n][1] = form.values[i];
        n++;
    }
    qsort(pairs, n, sizeof pairs[0], by_name);
    char text[8192];
    size_t len = 0;
    int rc = -1;
    for (size_t i = 0; i < n; i++) {
        int wrote = snprintf(text + len, sizeof text - len, "%s;%s;", pairs[i][0], pairs[i][1]);
        if (wrote < 0 || (size_t)wrote >= sizeof text - len)
            goto done;
        len += (size_t)wrote;
    }
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    if (!HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)text, len, mac, &mac_len))
        goto done;
    for (unsigned i = 0; i < mac_len && i < 32; i++)
        snprintf(out + 2 * i, 3, "%02X", mac[i]);
    rc = 0;
done:
    fake_form_release(&form);
    return rc;
}

/* --- the queue ---------------------------------------------------------------- */

/* Takes the next armed notification fault for provider (locked). */
static bool notice_fault_take(fake_t *fake, const char *provider, fake_notice_fault_t *out)
{
    for (size_t i = 0; i < FAKE_FAULTS_MAX; i++) {
        fake_notice_fault_t *fault = &fake->notice_faults[i];
        if (fault->count > 0 && strcmp(fault->provider, provider) == 0) {
            *out = *fault;
            fault->count--;
            return true;
        }
    }
    return false;
}

/* Room for one more notification (locked): forgets finished ones when full. */
static fake_notice_t *notice_slot(fake_t *fake)
{
    if (fake->notice_count == FAKE_NOTICES_MAX) {
        size_t kept = 0;
        for (size_t i = 0; i < fake->notice_count; i++) {
            if (fake->notices[i].done) {
                free(fake->notices[i].url);
                free(fake->notices[i].body);
            } else {
                fake->notices[kept++] = fake->notices[i];
            }
        }
        fake->notice_count = kept;
    }
    if (fake->notice_count == FAKE_NOTICES_MAX) {
        log_warn("notification dropped: the queue is full", LF_ERR("queue_full"));
        return NULL;
    }
    fake_notice_t *notice = &fake->notices[fake->notice_count++];
    memset(notice, 0, sizeof *notice);
    return notice;
}

/* Queues url/body (copies) as one notification, or two for "duplicate" (locked). */
static void enqueue(fake_t *fake, const char *provider, const char *method, const char *url,
                    const char *body, const fake_notice_fault_t *fault, bool once)
{
    int copies = fault && strcmp(fault->kind, "duplicate") == 0 ? 2 : 1;
    for (int i = 0; i < copies; i++) {
        fake_notice_t *notice = notice_slot(fake);
        if (!notice)
            return;
        notice->seq = ++fake->notice_seq;
        snprintf(notice->provider, sizeof notice->provider, "%s", provider);
        snprintf(notice->method, sizeof notice->method, "%s", method);
        notice->url = strdup(url);
        notice->body = body ? strdup(body) : NULL;
        notice->once = once;
        notice->next_ms = clock_mono_ms();
        if (fault) {
            snprintf(notice->fault, sizeof notice->fault, "%s", fault->kind);
            if (strcmp(fault->kind, "delay") == 0)
                notice->next_ms += fault->delay_ms;
            if (strcmp(fault->kind, "drop") == 0)
                notice->done = true; /* kept in the list, never sent */
        }
        if (!notice->url || (body && !notice->body))
            notice->done = true;
    }
    pthread_cond_signal(&fake->wake);
}

void fake_notify_sber(fake_t *fake, const fake_sber_order_t *order, const char *operation,
                      int status, int64_t amount)
{
    const char *base =
        order->callback_url[0] ? order->callback_url : fake->config.sber_callback_url;
    if (!base || !base[0]) {
        log_info("no callback URL for the order", LF_STR("mdOrder", order->md_order));
        return;
    }
    fake_notice_fault_t fault;
    bool faulty = notice_fault_take(fake, "sberbank", &fault);
    char query[2048];
    size_t len = 0;
    char amount_text[24], status_text[4];
    snprintf(amount_text, sizeof amount_text, "%" PRId64, amount);
    snprintf(status_text, sizeof status_text, "%d", status);
    const char *pairs[][2] = {{"mdOrder", order->md_order},
                              {"orderNumber", order->order_number},
                              {"operation", operation},
                              {"status", status_text},
                              {"amount", amount_text}};
    query[0] = '\0';
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        if (len + 2 >= sizeof query)
            return;
        if (i > 0)
            query[len++] = '&';
        if (fake_url_encode(query, sizeof query, &len, pairs[i][0]) != 0)
            return;
        query[len++] = '=';
        query[len] = '\0';
        if (fake_url_encode(query, sizeof query, &len, pairs[i][1]) != 0)
            return;
    }
    char checksum[65] = "";
    if (fake_sber_checksum(fake->config.sber_key, query, checksum) != 0)
        return;
    if (faulty && strcmp(fault.kind, "bad_checksum") == 0)
        checksum[0] = checksum[0] == 'A' ? 'B' : 'A';
    char url[4096];
    const char *joiner = strchr(base, '?') ? "&" : "?";
    int n = faulty && strcmp(fault.kind, "no_checksum") == 0
                ? snprintf(url, sizeof url, "%s%s%s", base, joiner, query)
                : snprintf(url, sizeof url, "%s%s%s&checksum=%s", base, joiner, query, checksum);
    if (n < 0 || (size_t)n >= sizeof url)
        return;
    enqueue(fake, "sberbank", "GET", url, NULL, faulty ? &fault : NULL, false);
}

void fake_notify_yoo_take(fake_t *fake, const char *event, json_t *object)
{
    json_t *body =
        json_pack("{s:s, s:s, s:o}", "type", "notification", "event", event, "object", object);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text)
        return;
    if (fake->config.yoo_webhook_url && fake->config.yoo_webhook_url[0]) {
        fake_notice_fault_t fault;
        bool faulty = notice_fault_take(fake, "yookassa", &fault);
        enqueue(fake, "yookassa", "POST", fake->config.yoo_webhook_url, text,
                faulty ? &fault : NULL, false);
    }
    free(text);
}

void fake_notify_spoof_take(fake_t *fake, const char *url, json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (text && url)
        enqueue(fake, "spoof", "POST", url, text, NULL, true);
    free(text);
}

/* --- the sender ------------------------------------------------------------- */

static size_t discard(char *bytes, size_t size, size_t count, void *userdata)
{
    (void)bytes;
    (void)userdata;
    return size * count;
}

/* One delivery; the HTTP status, 0 when none came. */
static long deliver(const char *method, const char *url, const char *body)
{
    CURL *curl = curl_easy_init();
    if (!curl)
        return 0;
    struct curl_slist *headers = NULL;
    headers = curl_slist_append(headers, "Expect:");
    if (body)
        headers = curl_slist_append(headers, "Content-Type: application/json");
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, SEND_TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
    if (body)
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    long status = 0;
    if (curl_easy_perform(curl) == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    return status;
}

/* The due notification with the lowest seq (locked), or NULL; *wait_ms_out
 * is how long until the next one falls due. */
static fake_notice_t *next_due(fake_t *fake, int64_t now, int64_t *wait_ms_out)
{
    fake_notice_t *due = NULL;
    int64_t wait = 1000;
    for (size_t i = 0; i < fake->notice_count; i++) {
        fake_notice_t *notice = &fake->notices[i];
        if (notice->done)
            continue;
        if (notice->next_ms <= now) {
            if (!due || notice->seq < due->seq)
                due = notice;
        } else if (notice->next_ms - now < wait) {
            wait = notice->next_ms - now;
        }
    }
    *wait_ms_out = wait;
    return due;
}

static void *notifier_main(void *arg)
{
    fake_t *fake = arg;
    pthread_mutex_lock(&fake->lock);
    while (!fake->stopping) {
        int64_t wait_ms = 0;
        fake_notice_t *notice = next_due(fake, clock_mono_ms(), &wait_ms);
        if (!notice) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += wait_ms / 1000;
            until.tv_nsec += (wait_ms % 1000) * 1000000L;
            if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&fake->wake, &fake->lock, &until);
            continue;
        }
        int64_t seq = notice->seq;
        char method[8];
        snprintf(method, sizeof method, "%s", notice->method);
        char *url = strdup(notice->url);
        char *body = notice->body ? strdup(notice->body) : NULL;
        pthread_mutex_unlock(&fake->lock);
        long status = url ? deliver(method, url, body) : 0;
        log_info("notification sent", LF_INT("seq", seq), LF_STR("url", url),
                 LF_INT("status", status));
        free(url);
        free(body);
        pthread_mutex_lock(&fake->lock);
        for (size_t i = 0; i < fake->notice_count; i++) { /* the list may have moved */
            notice = &fake->notices[i];
            if (notice->seq != seq)
                continue;
            notice->attempts++;
            notice->last_status = (int)status;
            if (status == 200 || notice->once || notice->attempts >= fake->config.notify_attempts)
                notice->done = true;
            else
                notice->next_ms = clock_mono_ms() + fake->config.notify_retry_ms;
            break;
        }
    }
    pthread_mutex_unlock(&fake->lock);
    return NULL;
}

int fake_notifier_start(fake_t *fake)
{
    if (pthread_create(&fake->notifier, NULL, notifier_main, fake) != 0)
        return -1;
    fake->notifier_running = true;
    return 0;
}

void fake_notifier_stop(fake_t *fake)
{
    if (!fake->notifier_running)
        return;
    pthread_mutex_lock(&fake->lock);
    fake->stopping = true;
    pthread_cond_signal(&fake->wake);
    pthread_mutex_unlock(&fake->lock);
    pthread_join(fake->notifier, NULL);
    fake->notifier_running = false;
}
