/*
 * faketelegram.c — a fake Telegram Bot API over loopback, for the
 * notification service's telegram.c (tests/integration/
 * test_notify_channels.sh) and the `make run` sandbox: one real HTTP
 * server (common/http.h) that takes sendMessage as api.telegram.org does
 * (notes, "Telegram"), keeps every message and fails as it is told.
 *
 *   POST /bot<token>/sendMessage  JSON {chat_id, text, parse_mode, disable_notification}
 *     -> 200 {"ok":true,"result":{message_id, from, chat, date, text}}
 *     -> {"ok":false,"error_code":N,"description":"...","parameters":{"retry_after":S}}
 *
 * What it checks as Telegram does: the token (401 Unauthorized), chat_id
 * (400 chat not found unless in FAKE_TELEGRAM_CHATS; 403 bot was blocked
 * for FAKE_TELEGRAM_BLOCKED), text 1..4096 UTF-16 units (400 message text
 * is empty / message is too long), parse_mode HTML|MarkdownV2|Markdown,
 * and for HTML that tags are the Bot API's and closed, and '&' starts an
 * entity (400 can't parse entities). It counts the text before entity
 * parsing (Telegram counts after): a little stricter, never looser.
 *
 * Control: POST /_fake/faults {kind, error_code, description, retry_after,
 * http_status, apply, count}:
 *   kind "error"    {ok:false} with error_code (429 with retry_after, 403, 400, 500)
 *   kind "timeout"  sent, the answer held FAKE_TELEGRAM_HOLD (past the client's timeout)
 *   kind "http"     HTTP http_status with an HTML body; apply: sent first
 * GET /_fake/messages, POST /_fake/reset. `faketelegram --help` lists the settings.
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
#include "common/http.h"
#include "common/log.h"

#define FAULTS_MAX 32
#define KEPT_MAX   5000
#define BODY_MAX   (64 * 1024)
#define TEXT_MAX   4096

typedef struct {
    char kind[16];
    int error_code;
    char description[128];
    int retry_after;
    int http_status;
    bool apply;
    int count;
} fault_t;

typedef struct {
    long long message_id;
    char chat_id[40];
    char parse_mode[16];
    bool silent;
    char *text;
    int64_t at_ms;
} kept_t;

typedef struct {
    pthread_mutex_t lock;
    char *bot_segment; /* "bot<token>" */
    char *chats;       /* ",id,id," or NULL: every chat exists */
    char *blocked;     /* ",id," */
    int64_t hold_ms;
    fault_t faults[FAULTS_MAX];
    kept_t kept[KEPT_MAX];
    size_t kept_count;
    long long message_seq;
    uint64_t requests;
} fake_t;

static const config_spec_t specs[] = {
    {"FAKE_TELEGRAM_ADDR", "127.0.0.1:18092", false, "address the fake Bot API listens on"},
    {"FAKE_TELEGRAM_TOKEN", "123456:conveyor-fake-token", true, "the bot token it accepts"},
    {"FAKE_TELEGRAM_CHATS", "", false, "chat ids that exist, comma-separated (empty: every one)"},
    {"FAKE_TELEGRAM_BLOCKED", "", false, "chat ids whose user blocked the bot"},
    {"FAKE_TELEGRAM_HOLD", "3s", false, "how long a timeout fault holds the answer"},
    {"LOG_LEVEL", "info", false, "debug, info, warn, error"},
    CONFIG_SPEC_END,
};

static json_t *failure(int code, const char *description, int retry_after)
{
    json_t *out =
        json_pack("{s:b, s:i, s:s}", "ok", false, "error_code", code, "description", description);
    if (out && retry_after > 0)
        json_object_set_new(out, "parameters", json_pack("{s:i}", "retry_after", retry_after));
    return out;
}

static size_t utf16_units(const char *text)
{
    size_t units = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        if ((*p & 0xC0) != 0x80)
            units += *p >= 0xF0 ? 2 : 1;
    return units;
}

/* Telegram's HTML: known tags, closed in order; '&' starts a known entity.
 * NULL if it parses, else why not. */
static const char *html_problem(const char *text)
{
    static const char *const tags[] = {"b",    "strong", "i",      "em",         "u",
                                       "ins",  "s",      "strike", "del",        "a",
                                       "code", "pre",    "span",   "tg-spoiler", "blockquote"};
    char stack[16][16];
    size_t depth = 0;
    for (const char *p = text; *p; p++) {
        if (*p == '&') {
            if (strncmp(p, "&lt;", 4) && strncmp(p, "&gt;", 4) && strncmp(p, "&amp;", 5) &&
                strncmp(p, "&quot;", 6) && strncmp(p, "&#", 2))
                return "Bad Request: can't parse entities: unsupported entity";
            continue;
        }
        if (*p == '>')
            return "Bad Request: can't parse entities: unexpected '>'";
        if (*p != '<')
            continue;
        bool closing = p[1] == '/';
        const char *name = p + 1 + closing;
        size_t len = strcspn(name, " >");
        const char *end = strchr(name, '>');
        if (!end || len == 0 || len >= sizeof stack[0])
            return "Bad Request: can't parse entities: unclosed start tag";
        bool known = false;
        for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++)
            known = known || (strlen(tags[i]) == len && strncmp(tags[i], name, len) == 0);
        if (!known)
            return "Bad Request: can't parse entities: unsupported start tag";
        if (closing) {
            if (depth == 0 || strlen(stack[depth - 1]) != len ||
                strncmp(stack[depth - 1], name, len) != 0)
                return "Bad Request: can't parse entities: unmatched end tag";
            depth--;
        } else {
            if (depth == sizeof stack / sizeof stack[0])
                return "Bad Request: can't parse entities: too deep";
            memcpy(stack[depth], name, len);
            stack[depth++][len] = '\0';
        }
        p = end;
    }
    return depth ? "Bad Request: can't parse entities: can't find end tag" : NULL;
}

static bool in_list(const char *list, const char *id)
{
    char key[48];
    snprintf(key, sizeof key, ",%s,", id);
    return list && strstr(list, key);
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
    int status = 200;
    json_t *reply = NULL;
    fault_t fault = {0};
    bool faulted = false;
    int64_t hold_ms = 0;
    size_t len = 0;
    const char *body = http_req_body(req, &len);
    json_t *in = json_loadb(body ? body : "", len, 0, NULL);
    const json_t *chat = json_object_get(in, "chat_id");
    const char *text = json_string_value(json_object_get(in, "text"));
    const char *mode = json_string_value(json_object_get(in, "parse_mode"));
    char chat_id[40] = "";
    if (json_is_integer(chat))
        snprintf(chat_id, sizeof chat_id, "%lld", (long long)json_integer_value(chat));
    else if (json_is_string(chat) && strlen(json_string_value(chat)) < sizeof chat_id)
        snprintf(chat_id, sizeof chat_id, "%s", json_string_value(chat));
    pthread_mutex_lock(&fake->lock);
    fake->requests++;
    if (strcmp(http_req_param(req, "bot"), fake->bot_segment) != 0) {
        status = 401;
        reply = failure(401, "Unauthorized", 0);
        goto answer;
    }
    for (size_t i = 0; i < FAULTS_MAX && !faulted; i++)
        if (fake->faults[i].count > 0) {
            fault = fake->faults[i];
            fake->faults[i].count--;
            faulted = true;
        }
    if (faulted && strcmp(fault.kind, "http") == 0 && !fault.apply)
        goto answer;
    if (faulted && strcmp(fault.kind, "error") == 0) {
        status = fault.error_code;
        reply = failure(fault.error_code, fault.description, fault.retry_after);
        goto answer;
    }
    const char *problem = NULL;
    if (!json_is_object(in))
        problem = "Bad Request: the body is not a JSON object";
    else if (!chat_id[0])
        problem = "Bad Request: chat_id is empty";
    else if (!text || !text[0])
        problem = "Bad Request: message text is empty";
    else if (utf16_units(text) > TEXT_MAX)
        problem = "Bad Request: message is too long";
    else if (mode && strcmp(mode, "HTML") && strcmp(mode, "MarkdownV2") && strcmp(mode, "Markdown"))
        problem = "Bad Request: unsupported parse_mode";
    else if (mode && strcmp(mode, "HTML") == 0)
        problem = html_problem(text);
    if (!problem && fake->chats && !in_list(fake->chats, chat_id))
        problem = "Bad Request: chat not found";
    if (problem) {
        status = 400;
        reply = failure(400, problem, 0);
        goto answer;
    }
    if (in_list(fake->blocked, chat_id)) {
        status = 403;
        reply = failure(403, "Forbidden: bot was blocked by the user", 0);
        goto answer;
    }
    long long message_id = ++fake->message_seq;
    int64_t now = clock_now_ms();
    if (fake->kept_count < KEPT_MAX) {
        kept_t *k = &fake->kept[fake->kept_count];
        memset(k, 0, sizeof *k);
        k->message_id = message_id;
        snprintf(k->chat_id, sizeof k->chat_id, "%s", chat_id);
        snprintf(k->parse_mode, sizeof k->parse_mode, "%s", mode ? mode : "");
        k->silent = json_is_true(json_object_get(in, "disable_notification"));
        k->text = strdup(text);
        k->at_ms = now;
        if (k->text)
            fake->kept_count++;
    }
    reply =
        json_pack("{s:b, s:{s:I, s:{s:I, s:b, s:s, s:s}, s:{s:s, s:s}, s:I, s:s}}", "ok", true,
                  "result", "message_id", (json_int_t)message_id, "from", "id", (json_int_t)123456,
                  "is_bot", true, "first_name", "Conveyor", "username", "conveyor_fake_bot", "chat",
                  "id", chat_id, "type", "private", "date", (json_int_t)(now / 1000), "text", text);
    if (faulted && strcmp(fault.kind, "timeout") == 0)
        hold_ms = fake->hold_ms;
answer:
    pthread_mutex_unlock(&fake->lock);
    json_decref(in);
    if (hold_ms > 0)
        hold(hold_ms);
    if (faulted && strcmp(fault.kind, "http") == 0) {
        json_decref(reply);
        http_res_text(res, fault.http_status, "text/html", "<html>502 Bad Gateway</html>\n");
        return;
    }
    http_res_json_take(res, status, reply ? reply : failure(500, "Internal Server Error", 0));
}

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
    fault_t f = {.count = 1, .http_status = 502, .error_code = 429};
    const char *kind = json_string_value(json_object_get(in, "kind"));
    const char *description = json_string_value(json_object_get(in, "description"));
    snprintf(f.kind, sizeof f.kind, "%s", kind ? kind : "");
    json_t *v;
    if (json_is_integer(v = json_object_get(in, "error_code")))
        f.error_code = (int)json_integer_value(v);
    if (json_is_integer(v = json_object_get(in, "retry_after")))
        f.retry_after = (int)json_integer_value(v);
    if (json_is_integer(v = json_object_get(in, "http_status")))
        f.http_status = (int)json_integer_value(v);
    if (json_is_integer(v = json_object_get(in, "count")))
        f.count = (int)json_integer_value(v);
    f.apply = json_is_true(json_object_get(in, "apply"));
    if (!description)
        description = f.error_code == 429   ? "Too Many Requests: retry after"
                      : f.error_code == 403 ? "Forbidden: bot was blocked by the user"
                      : f.error_code == 400 ? "Bad Request: chat not found"
                                            : "Internal Server Error";
    snprintf(f.description, sizeof f.description, "%s", description);
    json_decref(in);
    bool kind_ok = strcmp(f.kind, "error") == 0 || strcmp(f.kind, "timeout") == 0 ||
                   strcmp(f.kind, "http") == 0;
    if (!kind_ok || f.count < 1 || f.count > 1000 || f.error_code < 400 || f.error_code > 599 ||
        f.http_status < 100 || f.http_status > 599 || f.retry_after < 0 || f.retry_after > 86400) {
        http_res_problem(res, 422, "bad_fault", "unknown kind, or a bad number", NULL);
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
        const kept_t *k = &fake->kept[i];
        json_array_append_new(list, json_pack("{s:I, s:s, s:s, s:b, s:s, s:I}", "message_id",
                                              (json_int_t)k->message_id, "chat_id", k->chat_id,
                                              "parse_mode", k->parse_mode, "silent", k->silent,
                                              "text", k->text, "at_ms", (json_int_t)k->at_ms));
    }
    json_t *out = json_pack("{s:o, s:I}", "messages", list, "requests", (json_int_t)fake->requests);
    pthread_mutex_unlock(&fake->lock);
    http_res_json_take(res, 200, out);
}

static void reset(fake_t *fake)
{
    for (size_t i = 0; i < fake->kept_count; i++)
        free(fake->kept[i].text);
    fake->kept_count = 0;
    fake->requests = 0;
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

static char *list_setting(const char *value)
{
    if (!value || !value[0])
        return NULL;
    size_t size = strlen(value) + 3;
    char *out = malloc(size);
    if (out)
        snprintf(out, size, ",%s,", value);
    return out;
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
    log_init("faketelegram", level);
    config_log(cfg);
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    const char *token = config_get(cfg, "FAKE_TELEGRAM_TOKEN");
    size_t segment_size = strlen(token) + 4;
    fake->bot_segment = malloc(segment_size);
    if (!fake->bot_segment ||
        config_get_duration_ms(cfg, "FAKE_TELEGRAM_HOLD", &fake->hold_ms) != 0)
        goto done;
    snprintf(fake->bot_segment, segment_size, "bot%s", token);
    fake->chats = list_setting(config_get(cfg, "FAKE_TELEGRAM_CHATS"));
    fake->blocked = list_setting(config_get(cfg, "FAKE_TELEGRAM_BLOCKED"));
    http_config_t http = {.addr = config_get(cfg, "FAKE_TELEGRAM_ADDR"),
                          .body_limit = BODY_MAX,
                          .threads = 8,
                          .timeout_s = 30,
                          .svc = "faketelegram"};
    server = http_server_new(&http);
    if (!server || http_route(server, "POST", "/{bot}/sendMessage", on_send, fake) != 0 ||
        http_route(server, "POST", "/_fake/faults", on_faults, fake) != 0 ||
        http_route(server, "GET", "/_fake/messages", on_messages, fake) != 0 ||
        http_route(server, "POST", "/_fake/reset", on_reset, fake) != 0 ||
        http_route_probe(server, "GET", "/healthz", on_health, fake) != 0 ||
        http_route_probe(server, "GET", "/readyz", on_health, fake) != 0 ||
        http_server_start(server) != 0)
        goto done;
    log_info("fake telegram listening", LF_STR("addr", http.addr));
    int signal_number = 0;
    sigwait(&stop, &signal_number);
    atomic_store(&pauses_ended, true);
    status = 0;
done:
    http_server_destroy(&server);
    if (fake) {
        reset(fake);
        free(fake->bot_segment);
        free(fake->chats);
        free(fake->blocked);
        pthread_mutex_destroy(&fake->lock);
        free(fake);
    }
    config_destroy(&cfg);
    return status;
}
