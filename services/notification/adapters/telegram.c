/*
 * telegram.c — a Telegram message to a member of staff through a bot
 * (channels.h; notes, "Telegram"): POST /bot<token>/sendMessage with
 * chat_id, text (1..4096 UTF-16 units) and parse_mode.
 *
 * The Bot API answers {"ok":true,"result":{message_id,...}} or
 * {"ok":false,"error_code":N,"description":"...","parameters":
 * {"retry_after":S}}: 429 asks to wait retry_after seconds (transient),
 * 400 (chat not found, bad entities, empty text), 401 and 403 (the bot
 * was blocked) are permanent. It keeps no idempotency key, so a request
 * that may have arrived (a timeout after sending, a 5xx) is
 * NOTIFY_UNKNOWN. The token is part of every URL: it is never logged.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "services/notification/adapters/channels.h"
#include "services/notification/adapters/outcall.h"

#define RETRY_AFTER_MAX_S 86400

struct telegram_client {
    char *send_url; /* holds the token */
    notify_limits_t limits;
};

telegram_client_t *telegram_client_new(const telegram_config_t *config)
{
    const char *token = config->token ? config->token : "";
    bool token_ok = strlen(token) >= 3 && strlen(token) <= 128 && !strpbrk(token, "/?#%@ \r\n");
    if (!config->base_url || strncmp(config->base_url, "http", 4) != 0 ||
        strlen(config->base_url) > 512 || !token_ok) {
        log_error("telegram client not configured", LF_ERR("config_invalid"),
                  LF_STR("need", "an http(s) base URL and a bot token"));
        return NULL;
    }
    telegram_client_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    size_t size = strlen(config->base_url) + strlen(token) + sizeof "/bot/sendMessage";
    self->send_url = malloc(size);
    if (!self->send_url) {
        free(self);
        return NULL;
    }
    snprintf(self->send_url, size, "%s/bot%s/sendMessage", config->base_url, token);
    self->limits = config->limits;
    return self;
}

void telegram_client_destroy(telegram_client_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    telegram_client_t *self = *self_p;
    if (self->send_url) {
        explicit_bzero(self->send_url, strlen(self->send_url));
        free(self->send_url);
    }
    free(self);
    *self_p = NULL;
}

/* UTF-16 code units of valid UTF-8 text: 2 for a 4-byte sequence. */
static size_t utf16_units(const char *text)
{
    size_t units = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if ((*p & 0xC0) != 0x80)
            units += *p >= 0xF0 ? 2 : 1;
    }
    return units;
}

notify_result_t telegram_parse_reply(long http_status, const char *body, size_t len,
                                     char *message_id_out, notify_error_t *err)
{
    notify_result_t result;
    char code[16];
    message_id_out[0] = '\0';
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    const json_t *ok = json_object_get(root, "ok");
    if (!json_is_object(root) || !json_is_boolean(ok)) {
        snprintf(code, sizeof code, "http_%ld", http_status);
        notify_result_t cls = http_status == 429                        ? NOTIFY_TRANSIENT
                              : http_status >= 400 && http_status < 500 ? NOTIFY_REJECTED
                                                                        : NOTIFY_UNKNOWN;
        result = outcall_fail(err, cls, (int)http_status, http_status == 200 ? "bad_reply" : code,
                              "the reply is not the Bot API's JSON");
        goto done;
    }
    if (json_is_true(ok)) {
        const json_t *id = json_object_get(json_object_get(root, "result"), "message_id");
        if (http_status != 200 || !json_is_integer(id)) {
            result = outcall_fail(err, NOTIFY_UNKNOWN, (int)http_status, "bad_reply",
                                  "ok without a message_id");
            goto done;
        }
        snprintf(message_id_out, NOTIFY_ID_SIZE, "%lld", (long long)json_integer_value(id));
        err->status = (int)http_status;
        result = NOTIFY_SENT;
        goto done;
    }
    const json_t *error_code = json_object_get(root, "error_code");
    const json_t *description = json_object_get(root, "description");
    long status = json_is_integer(error_code) && json_integer_value(error_code) > 0 &&
                          json_integer_value(error_code) < 1000
                      ? (long)json_integer_value(error_code)
                      : http_status;
    const json_t *retry = json_object_get(json_object_get(root, "parameters"), "retry_after");
    if (json_is_integer(retry) && json_integer_value(retry) > 0 &&
        json_integer_value(retry) <= RETRY_AFTER_MAX_S)
        err->retry_after_ms = json_integer_value(retry) * 1000;
    notify_result_t cls = status == 429                   ? NOTIFY_TRANSIENT
                          : status >= 500                 ? NOTIFY_UNKNOWN
                          : status >= 400 && status < 500 ? NOTIFY_REJECTED
                                                          : NOTIFY_UNKNOWN;
    snprintf(code, sizeof code, "%ld", status);
    result = outcall_fail(err, cls, (int)status, code,
                          json_is_string(description) ? json_string_value(description) : "");
done:
    json_decref(root);
    return result;
}

/* chat_id as Telegram takes it: an integer, or "@channelusername". */
static json_t *chat_id_value(const char *chat_id)
{
    const char *p = chat_id;
    if (*p == '-')
        p++;
    size_t digits = strspn(p, "0123456789");
    if (digits > 0 && digits <= 18 && p[digits] == '\0')
        return json_integer(strtoll(chat_id, NULL, 10));
    if (chat_id[0] == '@' && strlen(chat_id) >= 2 && strlen(chat_id) <= 64 &&
        strspn(chat_id + 1, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") ==
            strlen(chat_id) - 1)
        return json_string(chat_id);
    return NULL;
}

notify_result_t telegram_send(telegram_client_t *self, const telegram_message_t *message,
                              char *message_id_out, notify_error_t *err)
{
    memset(err, 0, sizeof *err);
    message_id_out[0] = '\0';
    notify_result_t result;
    char *body = NULL;
    outcall_reply_t reply;
    outcall_reply_init(&reply);
    json_t *request = json_object();
    json_t *chat = message->chat_id ? chat_id_value(message->chat_id) : NULL;
    const char *text = message->text ? message->text : "";
    size_t units = outcall_text_ok(text, strlen(text)) ? utf16_units(text) : 0;
    if (!chat || units == 0 || units > TELEGRAM_TEXT_MAX) {
        json_decref(chat);
        result = outcall_fail(err, NOTIFY_REJECTED, 0, "bad_request",
                              !chat ? "chat_id is not a chat id or @channel"
                                    : "the text must be 1 to 4096 characters of UTF-8");
        goto done;
    }
    static const char *const modes[] = {NULL, "HTML", "MarkdownV2"};
    if (!request || json_object_set_new(request, "chat_id", chat) != 0 ||
        json_object_set_new(request, "text", json_string(text)) != 0 ||
        (message->parse_mode > TELEGRAM_PLAIN && message->parse_mode <= TELEGRAM_MARKDOWN_V2 &&
         json_object_set_new(request, "parse_mode", json_string(modes[message->parse_mode])) !=
             0) ||
        (message->silent &&
         json_object_set_new(request, "disable_notification", json_true()) != 0) ||
        !(body = json_dumps(request, JSON_COMPACT))) {
        result = outcall_fail(err, NOTIFY_TRANSIENT, 0, "out_of_memory", "out of memory");
        goto done;
    }
    if (outcall_post(&self->limits, self->send_url, "application/json", body, strlen(body),
                     &reply) != 0) {
        result = outcall_no_answer(&reply, err);
        goto done;
    }
    result = telegram_parse_reply(reply.status, reply.body.ptr ? reply.body.ptr : "",
                                  reply.body.len, message_id_out, err);
    if (result == NOTIFY_TRANSIENT && err->retry_after_ms == 0)
        err->retry_after_ms = reply.retry_after_ms;
done:
    free(body);
    json_decref(request);
    outcall_reply_release(&reply);
    return result;
}
