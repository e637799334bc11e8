/*
 * fakesms.c — a fake SMS.ru gateway over loopback, for the notification
 * service's smsru.c (tests/integration/test_notify_channels.sh) and the
 * `make run` sandbox. One real HTTP server (common/http.h) that answers
 * as SMS.ru does (notes, "SMS.ru"), keeps every SMS it "sent" and fails
 * the ways it is told to.
 *
 *   POST /sms/send     api_id, to (1..100 numbers, comma-separated), msg (UTF-8),
 *                      from, json=1, test=1 -> {"status","status_code","sms":{number:
 *                      {"status","status_code","sms_id"|"status_text"}},"balance"}
 *   POST /sms/status   api_id, sms_id, json=1 -> {"status","status_code","sms":{id:{...}}}
 *
 * Like SMS.ru it answers HTTP 200 with the outcome in the JSON: 200 bad
 * api_id, 201 no funds (1.50 a part), 202 a number it cannot route (not
 * 10..15 digits), 204 a sender name not approved, 205 over 8 parts,
 * 207 more than 100 numbers, 212 text not UTF-8. test=1 checks everything
 * and keeps the SMS marked as a test. A kept SMS is delivered at once
 * (status 103).
 *
 * Control (tests): POST /_fake/faults {op: send|status, kind, status_code, number,
 * http_status, apply, count}:
 *   kind "error"    the request fails with status_code (201, 204, 220, 231, 500 ...), nothing sent
 *   kind "number"   one number (number) fails with status_code in an OK request
 *   kind "timeout"  sent, then the answer is held FAKE_SMS_HOLD (past the client's timeout)
 *   kind "http"     an HTTP http_status instead of JSON; apply: sent first
 * GET /_fake/messages (what was sent, oldest first), GET /_fake/requests (count),
 * POST /_fake/reset. Settings: FAKE_SMS_ADDR, FAKE_SMS_API_ID, FAKE_SMS_SENDERS,
 * FAKE_SMS_BALANCE, FAKE_SMS_HOLD (`fakesms --help`).
 */
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/hex.h"
#include "common/http.h"
#include "common/log.h"

#define FAULTS_MAX  32
#define KEPT_MAX    5000 /* SMS kept; later ones are counted, not kept */
#define NUMBERS_MAX 100
#define FORM_PAIRS  16
#define BODY_MAX    (64 * 1024)
#define PART_COST   150 /* kopecks */

typedef struct {
    char op[16];
    char kind[16];
    char number[24];
    int status_code;
    int http_status;
    bool apply;
    int count;
} fault_t;

typedef struct {
    char sms_id[32];
    char number[24];
    char from[32];
    char *text;
    int parts;
    bool test;
    int64_t at_ms;
} sms_t;

typedef struct {
    pthread_mutex_t lock;
    char *api_id;
    char *senders; /* ",name1,name2," */
    int64_t balance_kopecks;
    int64_t hold_ms;
    fault_t faults[FAULTS_MAX];
    sms_t kept[KEPT_MAX];
    size_t kept_count;
    uint64_t sms_seq;
    uint64_t requests;
    uint64_t dropped;
} fake_t;

static const config_spec_t specs[] = {
    {"FAKE_SMS_ADDR", "127.0.0.1:18091", false, "address the fake gateway listens on"},
    {"FAKE_SMS_API_ID", "conveyor-sms-api-id", true, "the api_id it accepts"},
    {"FAKE_SMS_SENDERS", "conveyor", false, "approved sender names (from), comma-separated"},
    {"FAKE_SMS_BALANCE", "100000", false, "the account's balance in kopecks (1.50 a part)"},
    {"FAKE_SMS_HOLD", "3s", false, "how long a timeout fault holds the answer"},
    {"LOG_LEVEL", "info", false, "debug, info, warn, error"},
    CONFIG_SPEC_END,
};

/* --- forms -------------------------------------------------------------- */

typedef struct {
    char *names[FORM_PAIRS];
    char *values[FORM_PAIRS];
    size_t count;
} form_t;

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

static void form_release(form_t *form)
{
    for (size_t i = 0; i < form->count; i++) {
        free(form->names[i]);
        free(form->values[i]);
    }
    form->count = 0;
}

/* 0 ok; -1 malformed or more than FORM_PAIRS pairs. */
static int form_parse(const char *text, size_t len, form_t *form)
{
    memset(form, 0, sizeof *form);
    size_t i = 0;
    while (i < len) {
        size_t end = i;
        while (end < len && text[end] != '&')
            end++;
        if (end > i) {
            size_t eq = i;
            while (eq < end && text[eq] != '=')
                eq++;
            char *name = form->count < FORM_PAIRS ? decode_part(text + i, eq - i) : NULL;
            char *value = name ? decode_part(text + eq + (eq < end), end - eq - (eq < end)) : NULL;
            if (!name || !value) {
                free(name);
                form_release(form);
                return -1;
            }
            form->names[form->count] = name;
            form->values[form->count++] = value;
        }
        i = end + 1;
    }
    return 0;
}

static const char *form_get(const form_t *form, const char *name)
{
    for (size_t i = 0; i < form->count; i++)
        if (strcmp(form->names[i], name) == 0)
            return form->values[i];
    return NULL;
}

/* --- the gateway -------------------------------------------------------------- */

static bool utf8_ok(const char *text)
{
    const unsigned char *p = (const unsigned char *)text;
    while (*p) {
        size_t need = *p < 0x80             ? 0
                      : (*p & 0xE0) == 0xC0 ? 1
                      : (*p & 0xF0) == 0xE0 ? 2
                      : (*p & 0xF8) == 0xF0 ? 3
                                            : 9;
        if (need == 9 || (need == 1 && *p < 0xC2))
            return false;
        for (size_t k = 1; k <= need; k++)
            if ((p[k] & 0xC0) != 0x80)
                return false;
        p += need + 1;
    }
    return true;
}

/* SMS parts: GSM-7 (ASCII here) 160 / 153, UCS-2 70 / 67. */
static int parts_of(const char *text)
{
    size_t chars = 0;
    bool ucs2 = false;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if ((*p & 0xC0) != 0x80)
            chars++;
        if (*p >= 0x80)
            ucs2 = true;
    }
    size_t single = ucs2 ? 70 : 160, part = ucs2 ? 67 : 153;
    return chars <= single ? 1 : (int)((chars + part - 1) / part);
}

static bool number_ok(const char *number)
{
    size_t n = strlen(number);
    return n >= 10 && n <= 15 && strspn(number, "0123456789") == n;
}

static bool take_fault(fake_t *fake, const char *op, const char *kind, const char *number,
                       fault_t *out)
{
    for (size_t i = 0; i < FAULTS_MAX; i++) {
        fault_t *f = &fake->faults[i];
        if (f->count <= 0 || strcmp(f->op, op) != 0 || (kind && strcmp(f->kind, kind) != 0) ||
            (!kind && strcmp(f->kind, "number") == 0) || (number && strcmp(f->number, number) != 0))
            continue;
        *out = *f;
        f->count--;
        return true;
    }
    return false;
}

static json_t *error_reply(int code, const char *text)
{
    return json_pack("{s:s, s:i, s:s}", "status", "ERROR", "status_code", code, "status_text",
                     text);
}

/* Set once the fake is stopping: a pause under way (a held answer, the
 * latency) ends within 50 ms (clock_pause_ms), so that a reply held for a
 * minute does not keep the process a minute past its SIGTERM. */
static atomic_bool pauses_ended;

static void hold(int64_t ms)
{
    clock_pause_ms(ms, &pauses_ended);
}

static void on_send(const http_request_t *req, http_response_t *res, void *arg)
{
    fake_t *fake = arg;
    size_t len = 0;
    const char *body = http_req_body(req, &len);
    form_t form;
    if (form_parse(body ? body : "", len, &form) != 0) {
        http_res_text(res, 400, "text/plain", "malformed form\n");
        return;
    }
    const char *api_id = form_get(&form, "api_id");
    const char *to = form_get(&form, "to");
    const char *msg = form_get(&form, "msg");
    const char *from = form_get(&form, "from");
    const char *json = form_get(&form, "json");
    bool test = form_get(&form, "test") && strcmp(form_get(&form, "test"), "1") == 0;
    json_t *reply = NULL;
    int64_t hold_ms = 0;
    pthread_mutex_lock(&fake->lock);
    fake->requests++;
    fault_t fault;
    bool faulted = take_fault(fake, "send", NULL, NULL, &fault);
    char *numbers[NUMBERS_MAX + 1];
    size_t count = 0;
    char *to_copy = to ? strdup(to) : NULL;
    char senders_key[40];
    snprintf(senders_key, sizeof senders_key, ",%s,", from ? from : "");
    if (!json || strcmp(json, "1") != 0) {
        pthread_mutex_unlock(&fake->lock);
        http_res_text(res, 400, "text/plain", "this fake answers json=1 only\n");
        goto done;
    }
    if (faulted && strcmp(fault.kind, "http") == 0 && !fault.apply) {
        pthread_mutex_unlock(&fake->lock);
        http_res_text(res, fault.http_status, "text/html", "<html>Bad Gateway</html>\n");
        goto done;
    }
    if (faulted && strcmp(fault.kind, "error") == 0) {
        reply = error_reply(fault.status_code, "injected by the fake");
        goto answer;
    }
    if (!api_id || strcmp(api_id, fake->api_id) != 0) {
        reply = error_reply(200, "Неправильный api_id");
        goto answer;
    }
    if (!msg || !msg[0]) {
        reply = error_reply(210, "Текст сообщения не указан");
        goto answer;
    }
    if (!utf8_ok(msg)) {
        reply = error_reply(212, "Текст сообщения необходимо передать в кодировке UTF-8");
        goto answer;
    }
    if (from && from[0] && !strstr(fake->senders, senders_key)) {
        reply = error_reply(204, "Имя отправителя не согласовано с администрацией");
        goto answer;
    }
    int parts = parts_of(msg);
    if (parts > 8) {
        reply = error_reply(205, "Сообщение слишком длинное (превышает 8 СМС)");
        goto answer;
    }
    for (char *save = NULL, *one = to_copy ? strtok_r(to_copy, ",", &save) : NULL; one;
         one = strtok_r(NULL, ",", &save)) {
        if (count == NUMBERS_MAX) {
            count++;
            break;
        }
        numbers[count++] = one;
    }
    if (count == 0 || count > NUMBERS_MAX) {
        reply = error_reply(count ? 207 : 202, count ? "Более 100 номеров в одном запросе"
                                                     : "Неправильно указан номер получателя");
        goto answer;
    }
    if (!test && fake->balance_kopecks < (int64_t)count * parts * PART_COST) {
        reply = error_reply(201, "Не хватает средств на лицевом счету");
        goto answer;
    }
    json_t *sms = json_object();
    for (size_t i = 0; i < count; i++) {
        fault_t number_fault;
        if (take_fault(fake, "send", "number", numbers[i], &number_fault)) {
            json_object_set_new(sms, numbers[i],
                                error_reply(number_fault.status_code, "injected by the fake"));
            continue;
        }
        if (!number_ok(numbers[i])) {
            json_object_set_new(sms, numbers[i],
                                error_reply(202, "Неправильно указан номер получателя"));
            continue;
        }
        char sms_id[32];
        snprintf(sms_id, sizeof sms_id, "%06llu-%llu", (unsigned long long)(fake->sms_seq / 1000),
                 (unsigned long long)(1000000 + fake->sms_seq));
        fake->sms_seq++;
        if (!test)
            fake->balance_kopecks -= parts * PART_COST;
        if (fake->kept_count < KEPT_MAX) {
            sms_t *kept = &fake->kept[fake->kept_count];
            memset(kept, 0, sizeof *kept);
            snprintf(kept->sms_id, sizeof kept->sms_id, "%s", sms_id);
            snprintf(kept->number, sizeof kept->number, "%s", numbers[i]);
            snprintf(kept->from, sizeof kept->from, "%s", from ? from : "");
            kept->text = strdup(msg);
            kept->parts = parts;
            kept->test = test;
            kept->at_ms = clock_now_ms();
            if (kept->text)
                fake->kept_count++;
        } else {
            fake->dropped++;
        }
        json_object_set_new(
            sms, numbers[i],
            json_pack("{s:s, s:i, s:s}", "status", "OK", "status_code", 100, "sms_id", sms_id));
    }
    reply = json_pack("{s:s, s:i, s:o, s:f}", "status", "OK", "status_code", 100, "sms", sms,
                      "balance", (double)fake->balance_kopecks / 100.0);
answer:
    if (faulted && strcmp(fault.kind, "timeout") == 0)
        hold_ms = fake->hold_ms;
    pthread_mutex_unlock(&fake->lock);
    if (hold_ms > 0)
        hold(hold_ms);
    if (faulted && strcmp(fault.kind, "http") == 0) { /* applied: done, then a 5xx */
        json_decref(reply);
        http_res_text(res, fault.http_status, "text/html", "<html>Bad Gateway</html>\n");
        goto done;
    }
    http_res_json_take(res, 200, reply ? reply : error_reply(500, "out of memory"));
done:
    free(to_copy);
    form_release(&form);
}

static void on_status(const http_request_t *req, http_response_t *res, void *arg)
{
    fake_t *fake = arg;
    size_t len = 0;
    const char *body = http_req_body(req, &len);
    form_t form;
    if (form_parse(body ? body : "", len, &form) != 0) {
        http_res_text(res, 400, "text/plain", "malformed form\n");
        return;
    }
    const char *api_id = form_get(&form, "api_id");
    const char *sms_id = form_get(&form, "sms_id");
    json_t *reply;
    pthread_mutex_lock(&fake->lock);
    fake->requests++;
    fault_t fault;
    if (take_fault(fake, "status", "error", NULL, &fault)) {
        reply = error_reply(fault.status_code, "injected by the fake");
    } else if (!api_id || strcmp(api_id, fake->api_id) != 0) {
        reply = error_reply(200, "Неправильный api_id");
    } else {
        json_t *entry = error_reply(-1, "Сообщение не найдено");
        for (size_t i = 0; sms_id && i < fake->kept_count; i++)
            if (strcmp(fake->kept[i].sms_id, sms_id) == 0) {
                json_decref(entry);
                entry = json_pack("{s:s, s:i, s:s}", "status", "OK", "status_code", 103,
                                  "status_text", "Сообщение доставлено");
                break;
            }
        reply = json_pack("{s:s, s:i, s:{s:o}, s:f}", "status", "OK", "status_code", 100, "sms",
                          sms_id ? sms_id : "", entry, "balance",
                          (double)fake->balance_kopecks / 100.0);
    }
    pthread_mutex_unlock(&fake->lock);
    form_release(&form);
    http_res_json_take(res, 200, reply ? reply : error_reply(500, "out of memory"));
}

/* --- control -------------------------------------------------------------------- */

static void on_faults(const http_request_t *req, http_response_t *res, void *arg)
{
    fake_t *fake = arg;
    size_t len = 0;
    const char *body = http_req_body(req, &len);
    json_t *in = json_loadb(body ? body : "", len, 0, NULL);
    if (!json_is_object(in)) {
        json_decref(in);
        http_res_problem(res, 400, "bad_json", "the body is not a JSON object", NULL);
        return;
    }
    fault_t f = {.count = 1, .http_status = 502};
    const char *op = json_string_value(json_object_get(in, "op"));
    const char *kind = json_string_value(json_object_get(in, "kind"));
    const char *number = json_string_value(json_object_get(in, "number"));
    snprintf(f.op, sizeof f.op, "%s", op ? op : "send");
    snprintf(f.kind, sizeof f.kind, "%s", kind ? kind : "");
    snprintf(f.number, sizeof f.number, "%s", number ? number : "");
    json_t *v;
    if (json_is_integer(v = json_object_get(in, "status_code")))
        f.status_code = (int)json_integer_value(v);
    if (json_is_integer(v = json_object_get(in, "http_status")))
        f.http_status = (int)json_integer_value(v);
    if (json_is_integer(v = json_object_get(in, "count")))
        f.count = (int)json_integer_value(v);
    f.apply = json_is_true(json_object_get(in, "apply"));
    json_decref(in);
    bool kind_ok = strcmp(f.kind, "error") == 0 || strcmp(f.kind, "number") == 0 ||
                   strcmp(f.kind, "timeout") == 0 || strcmp(f.kind, "http") == 0;
    if (!kind_ok || (strcmp(f.op, "send") != 0 && strcmp(f.op, "status") != 0) || f.count < 1 ||
        f.count > 1000 || f.http_status < 100 || f.http_status > 599 ||
        (strcmp(f.kind, "number") == 0 && !f.number[0])) {
        http_res_problem(res, 422, "bad_fault", "unknown op or kind, or a bad number", NULL);
        return;
    }
    bool armed = false;
    pthread_mutex_lock(&fake->lock);
    for (size_t i = 0; i < FAULTS_MAX && !armed; i++)
        if (fake->faults[i].count <= 0) {
            fake->faults[i] = f;
            armed = true;
        }
    pthread_mutex_unlock(&fake->lock);
    if (armed)
        http_res_json_take(res, 201, json_pack("{s:b}", "armed", true));
    else
        http_res_problem(res, 409, "too_many_faults", "every fault slot is armed", NULL);
}

static void on_messages(const http_request_t *req, http_response_t *res, void *arg)
{
    (void)req;
    fake_t *fake = arg;
    json_t *list = json_array();
    pthread_mutex_lock(&fake->lock);
    for (size_t i = 0; i < fake->kept_count; i++) {
        const sms_t *s = &fake->kept[i];
        json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s, s:i, s:b, s:I}", "sms_id",
                                              s->sms_id, "number", s->number, "from", s->from,
                                              "text", s->text, "parts", s->parts, "test", s->test,
                                              "at_ms", (json_int_t)s->at_ms));
    }
    json_t *out = json_pack("{s:o, s:I, s:I, s:I}", "messages", list, "requests",
                            (json_int_t)fake->requests, "not_kept", (json_int_t)fake->dropped,
                            "balance_kopecks", (json_int_t)fake->balance_kopecks);
    pthread_mutex_unlock(&fake->lock);
    http_res_json_take(res, 200, out);
}

static void reset(fake_t *fake)
{
    for (size_t i = 0; i < fake->kept_count; i++)
        free(fake->kept[i].text);
    fake->kept_count = 0;
    fake->requests = fake->dropped = 0;
    memset(fake->faults, 0, sizeof fake->faults);
}

static void on_reset(const http_request_t *req, http_response_t *res, void *arg)
{
    (void)req;
    fake_t *fake = arg;
    pthread_mutex_lock(&fake->lock);
    reset(fake);
    pthread_mutex_unlock(&fake->lock);
    http_res_json_take(res, 200, json_pack("{s:b}", "reset", true));
}

static void on_health(const http_request_t *req, http_response_t *res, void *arg)
{
    (void)req;
    (void)arg;
    http_res_json_take(res, 200, json_pack("{s:s}", "status", "ok"));
}

int main(int argc, char **argv)
{
    int status = 1;
    http_server_t *server = NULL;
    fake_t *fake = calloc(1, sizeof *fake);
    config_t *cfg = config_new();
    if (!fake || !cfg || config_declare(cfg, specs) != 0)
        goto done;
    pthread_mutex_init(&fake->lock, NULL);
    if (argc > 1 && strcmp(argv[1], "--help") == 0) {
        config_print_help(cfg);
        status = 0;
        goto done;
    }
    log_level_t level = LOG_INFO;
    if (log_level_parse(config_get(cfg, "LOG_LEVEL"), &level) != 0)
        level = LOG_INFO;
    log_init("fakesms", level);
    config_log(cfg);
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    size_t senders_size = strlen(config_get(cfg, "FAKE_SMS_SENDERS")) + 3;
    fake->senders = malloc(senders_size);
    fake->api_id = strdup(config_get(cfg, "FAKE_SMS_API_ID"));
    if (!fake->senders || !fake->api_id ||
        config_get_int(cfg, "FAKE_SMS_BALANCE", 0, INT64_MAX / 2, &fake->balance_kopecks) != 0 ||
        config_get_duration_ms(cfg, "FAKE_SMS_HOLD", &fake->hold_ms) != 0)
        goto done;
    snprintf(fake->senders, senders_size, ",%s,", config_get(cfg, "FAKE_SMS_SENDERS"));
    http_config_t http = {.addr = config_get(cfg, "FAKE_SMS_ADDR"),
                          .body_limit = BODY_MAX,
                          .threads = 8,
                          .timeout_s = 30,
                          .svc = "fakesms"};
    server = http_server_new(&http);
    if (!server || http_route(server, "POST", "/sms/send", on_send, fake) != 0 ||
        http_route(server, "POST", "/sms/status", on_status, fake) != 0 ||
        http_route(server, "POST", "/_fake/faults", on_faults, fake) != 0 ||
        http_route(server, "GET", "/_fake/messages", on_messages, fake) != 0 ||
        http_route(server, "POST", "/_fake/reset", on_reset, fake) != 0 ||
        http_route_probe(server, "GET", "/healthz", on_health, fake) != 0 ||
        http_route_probe(server, "GET", "/readyz", on_health, fake) != 0 ||
        http_server_start(server) != 0)
        goto done;
    log_info("fake sms gateway listening", LF_STR("addr", http.addr));
    int signal_number = 0;
    sigwait(&stop, &signal_number);
    atomic_store(&pauses_ended, true);
    status = 0;
done:
    http_server_destroy(&server);
    if (fake) {
        reset(fake);
        free(fake->senders);
        free(fake->api_id);
        pthread_mutex_destroy(&fake->lock);
        free(fake);
    }
    config_destroy(&cfg);
    return status;
}
