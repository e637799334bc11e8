/*
 * smsru.c — SMS through an SMS.ru-style gateway (channels.h; notes,
 * "SMS.ru"): POST /sms/send with api_id, to (up to 100 numbers), msg,
 * json=1, and /sms/status for a sent message's delivery.
 *
 * The gateway answers HTTP 200 for almost everything; what happened is in
 * the JSON: a top-level status/status_code for the request and, when the
 * request was taken, one entry per number under "sms" — one number can
 * fail in an OK request. Codes 220 (unavailable) and 500 are worth a
 * retry; every other refusal (200 bad api_id, 201 no funds, 202 bad
 * number, 204 sender not approved, 231 the same text within a minute ...)
 * is permanent. The gateway keeps no idempotency key: a request that may
 * have arrived (a timeout after sending, a 5xx, a reply we cannot read)
 * is NOTIFY_UNKNOWN, and the sms_id of an accepted number is what the
 * service stores.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "services/notification/adapters/channels.h"
#include "services/notification/adapters/outcall.h"

#define FORM_MAX (16 * 1024) /* a request: 100 numbers and 1600 bytes of text, percent-encoded */

struct smsru_client {
    char *send_url;
    char *status_url;
    char *api_id;
    char *from;
    bool test;
    notify_limits_t limits;
};

static char *join_url(const char *base, const char *path)
{
    size_t size = strlen(base) + strlen(path) + 1;
    char *url = malloc(size);
    if (url)
        snprintf(url, size, "%s%s", base, path);
    return url;
}

smsru_client_t *smsru_client_new(const smsru_config_t *config)
{
    if (!config->base_url || strncmp(config->base_url, "http", 4) != 0 ||
        strlen(config->base_url) > 512 || !config->api_id || !config->api_id[0] ||
        strlen(config->api_id) > 128) {
        log_error("sms client not configured", LF_ERR("config_invalid"),
                  LF_STR("need", "an http(s) base URL and an api_id"));
        return NULL;
    }
    smsru_client_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->send_url = join_url(config->base_url, "/sms/send");
    self->status_url = join_url(config->base_url, "/sms/status");
    self->api_id = strdup(config->api_id);
    self->from = config->from && config->from[0] ? strdup(config->from) : NULL;
    self->test = config->test;
    self->limits = config->limits;
    if (!self->send_url || !self->status_url || !self->api_id ||
        (config->from && config->from[0] && !self->from))
        smsru_client_destroy(&self);
    return self;
}

void smsru_client_destroy(smsru_client_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    smsru_client_t *self = *self_p;
    free(self->send_url);
    free(self->status_url);
    if (self->api_id) {
        explicit_bzero(self->api_id, strlen(self->api_id));
        free(self->api_id);
    }
    free(self->from);
    free(self);
    *self_p = NULL;
}

/* The class of an SMS.ru code: 100..103 taken, 220 and 500 later, the rest never. */
static notify_result_t code_class(int code)
{
    if (code >= 100 && code <= 103)
        return NOTIFY_SENT;
    if (code == 220 || code == 500)
        return NOTIFY_TRANSIENT;
    return NOTIFY_REJECTED;
}

static int json_code(const json_t *object)
{
    const json_t *code = json_object_get(object, "status_code");
    if (json_is_integer(code) && json_integer_value(code) > -100000 &&
        json_integer_value(code) < 100000)
        return (int)json_integer_value(code);
    if (json_is_string(code) && strlen(json_string_value(code)) < 8)
        return (int)strtol(json_string_value(code), NULL, 10);
    return 0;
}

static void fill_all(smsru_number_result_t *per_number, const char *const *numbers, size_t count,
                     notify_result_t result, int code, const char *message)
{
    for (size_t i = 0; i < count; i++) {
        memset(&per_number[i], 0, sizeof per_number[i]);
        outcall_copy(per_number[i].number, sizeof per_number[i].number, numbers[i]);
        per_number[i].result = result;
        per_number[i].status_code = code;
        outcall_copy(per_number[i].message, sizeof per_number[i].message, message);
    }
}

static const char *json_text(const json_t *object, const char *key)
{
    const json_t *value = json_object_get(object, key);
    return json_is_string(value) ? json_string_value(value) : NULL;
}

notify_result_t smsru_parse_send_reply(const char *body, size_t len, const char *const *numbers,
                                       size_t count, smsru_number_result_t *per_number,
                                       notify_error_t *err)
{
    notify_result_t result;
    char code_text[16];
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    const char *status = json_text(root, "status");
    if (!json_is_object(root) || !status) {
        fill_all(per_number, numbers, count, NOTIFY_UNKNOWN, 0,
                 "the gateway's reply is unreadable");
        result =
            outcall_fail(err, NOTIFY_UNKNOWN, 200, "bad_reply",
                         "the gateway's reply is not its JSON: the request may have been taken");
        goto done;
    }
    int code = json_code(root);
    const char *words = json_text(root, "status_text");
    snprintf(code_text, sizeof code_text, "%d", code);
    if (strcmp(status, "OK") != 0 || code != 100) {
        notify_result_t cls = strcmp(status, "OK") == 0 ? NOTIFY_UNKNOWN : code_class(code);
        if (cls == NOTIFY_SENT)
            cls = NOTIFY_UNKNOWN; /* "ERROR" with an accepting code: not a reply we know */
        fill_all(per_number, numbers, count, cls, code, words ? words : status);
        result = outcall_fail(err, cls, 200, code_text, words ? words : status);
        goto done;
    }
    const json_t *sms = json_object_get(root, "sms");
    for (size_t i = 0; i < count; i++) {
        smsru_number_result_t *one = &per_number[i];
        memset(one, 0, sizeof *one);
        outcall_copy(one->number, sizeof one->number, numbers[i]);
        const json_t *entry = json_object_get(sms, numbers[i]);
        if (!json_is_object(entry)) {
            one->result = NOTIFY_UNKNOWN;
            outcall_copy(one->message, sizeof one->message, "the gateway said nothing of it");
            continue;
        }
        const char *one_status = json_text(entry, "status");
        one->status_code = json_code(entry);
        outcall_copy(one->message, sizeof one->message, json_text(entry, "status_text"));
        const char *sms_id = json_text(entry, "sms_id");
        if (one_status && strcmp(one_status, "OK") == 0 &&
            code_class(one->status_code) == NOTIFY_SENT) {
            one->result = sms_id && sms_id[0] ? NOTIFY_SENT : NOTIFY_UNKNOWN;
            outcall_copy(one->sms_id, sizeof one->sms_id, sms_id);
        } else if (one_status && strcmp(one_status, "ERROR") == 0) {
            one->result = code_class(one->status_code);
            if (one->result == NOTIFY_SENT)
                one->result = NOTIFY_UNKNOWN;
        } else {
            one->result = NOTIFY_UNKNOWN;
        }
    }
    result = NOTIFY_SENT;
    err->status = 200;
done:
    json_decref(root);
    return result;
}

static bool number_ok(const char *number)
{
    size_t digits = 0;
    const char *p = number;
    if (*p == '+')
        p++;
    for (; *p; p++, digits++)
        if (*p < '0' || *p > '9')
            return false;
    return digits >= 10 && digits <= 15;
}

/* The class of an HTTP status other than 200. */
static notify_result_t http_class(const outcall_reply_t *reply, notify_error_t *err)
{
    char code[16];
    snprintf(code, sizeof code, "http_%ld", reply->status);
    notify_result_t cls = reply->status == 429 || reply->status == 503 ? NOTIFY_TRANSIENT
                          : reply->status >= 500                       ? NOTIFY_UNKNOWN
                                                                       : NOTIFY_REJECTED;
    err->retry_after_ms = reply->retry_after_ms;
    return outcall_fail(err, cls, (int)reply->status, code,
                        "the gateway answered HTTP, not SMS.ru");
}

notify_result_t smsru_send(smsru_client_t *self, const smsru_message_t *message,
                           smsru_number_result_t *per_number, notify_error_t *err)
{
    memset(err, 0, sizeof *err);
    notify_result_t result = NOTIFY_REJECTED;
    char why[NOTIFY_MESSAGE_SIZE] = "";
    const char *normal[SMSRU_NUMBERS_MAX];
    strbuf_t to, form;
    strbuf_init(&to, 24 * SMSRU_NUMBERS_MAX);
    strbuf_init(&form, FORM_MAX);
    outcall_reply_t reply;
    outcall_reply_init(&reply);
    size_t count = message->count;
    if (count == 0 || count > SMSRU_NUMBERS_MAX || !message->numbers) {
        snprintf(why, sizeof why, "an SMS needs 1 to %d numbers", SMSRU_NUMBERS_MAX);
        count = 0;
        goto refuse;
    }
    for (size_t i = 0; i < count; i++) {
        if (!message->numbers[i] || !number_ok(message->numbers[i])) {
            snprintf(why, sizeof why, "number %zu is not 10 to 15 digits", i + 1);
            goto refuse_all;
        }
        normal[i] = message->numbers[i] + (message->numbers[i][0] == '+');
        if ((i > 0 && strbuf_append(&to, ",", 1) != 0) || strbuf_append_str(&to, normal[i]) != 0)
            goto refuse_all;
    }
    size_t text_len = message->text ? strlen(message->text) : 0;
    if (text_len == 0 || text_len > SMSRU_TEXT_MAX || !outcall_text_ok(message->text, text_len)) {
        snprintf(why, sizeof why, "the text must be 1 to %d bytes of UTF-8", SMSRU_TEXT_MAX);
        goto refuse_all;
    }
    if (outcall_form_add(&form, "api_id", self->api_id) != 0 ||
        outcall_form_add(&form, "to", to.ptr) != 0 ||
        outcall_form_add(&form, "msg", message->text) != 0 ||
        outcall_form_add(&form, "json", "1") != 0 ||
        (self->from && outcall_form_add(&form, "from", self->from) != 0) ||
        (self->test && outcall_form_add(&form, "test", "1") != 0)) {
        snprintf(why, sizeof why, "the request is larger than %d bytes", FORM_MAX);
        goto refuse_all;
    }
    if (outcall_post(&self->limits, self->send_url, "application/x-www-form-urlencoded", form.ptr,
                     form.len, &reply) != 0) {
        result = outcall_no_answer(&reply, err);
        fill_all(per_number, normal, count, result, 0, err->message);
        goto done;
    }
    if (reply.status != 200) {
        result = http_class(&reply, err);
        fill_all(per_number, normal, count, result, 0, err->message);
        goto done;
    }
    result = smsru_parse_send_reply(reply.body.ptr ? reply.body.ptr : "", reply.body.len, normal,
                                    count, per_number, err);
    goto done;
refuse_all:
    if (why[0] == '\0')
        snprintf(why, sizeof why, "the request does not fit");
    for (size_t i = 0; i < count; i++) {
        memset(&per_number[i], 0, sizeof per_number[i]);
        outcall_copy(per_number[i].number, sizeof per_number[i].number, message->numbers[i]);
        per_number[i].result = NOTIFY_REJECTED;
        outcall_copy(per_number[i].message, sizeof per_number[i].message, why);
    }
refuse:
    result = outcall_fail(err, NOTIFY_REJECTED, 0, "bad_request", why);
done:
    outcall_reply_release(&reply);
    strbuf_release(&form);
    strbuf_release(&to);
    return result;
}

notify_result_t smsru_status(smsru_client_t *self, const char *sms_id, int *status_code,
                             notify_error_t *err)
{
    memset(err, 0, sizeof *err);
    *status_code = 0;
    notify_result_t result;
    strbuf_t form;
    strbuf_init(&form, 1024);
    outcall_reply_t reply;
    outcall_reply_init(&reply);
    json_t *root = NULL;
    if (!sms_id || !sms_id[0] || strlen(sms_id) >= NOTIFY_ID_SIZE ||
        outcall_form_add(&form, "api_id", self->api_id) != 0 ||
        outcall_form_add(&form, "sms_id", sms_id) != 0 ||
        outcall_form_add(&form, "json", "1") != 0) {
        result = outcall_fail(err, NOTIFY_REJECTED, 0, "bad_request", "an sms_id is required");
        goto done;
    }
    if (outcall_post(&self->limits, self->status_url, "application/x-www-form-urlencoded", form.ptr,
                     form.len, &reply) != 0) {
        result = outcall_no_answer(&reply, err);
        if (result == NOTIFY_UNKNOWN)
            result = NOTIFY_TRANSIENT; /* asking twice changes nothing */
        goto done;
    }
    if (reply.status != 200) {
        result = http_class(&reply, err);
        if (result == NOTIFY_UNKNOWN)
            result = NOTIFY_TRANSIENT;
        goto done;
    }
    json_error_t jerr;
    root = json_loadb(reply.body.ptr ? reply.body.ptr : "", reply.body.len, 0, &jerr);
    const char *status = json_text(root, "status");
    const json_t *entry = json_object_get(json_object_get(root, "sms"), sms_id);
    if (!status) {
        result = outcall_fail(err, NOTIFY_TRANSIENT, 200, "bad_reply", "unreadable status reply");
        goto done;
    }
    if (strcmp(status, "OK") != 0 || !json_is_object(entry)) {
        char code[16];
        int top = json_code(root);
        snprintf(code, sizeof code, "%d", top);
        result = outcall_fail(
            err, code_class(top) == NOTIFY_TRANSIENT ? NOTIFY_TRANSIENT : NOTIFY_REJECTED, 200,
            code, json_text(root, "status_text"));
        goto done;
    }
    const char *one = json_text(entry, "status");
    if (!one || strcmp(one, "OK") != 0) {
        char code[16];
        snprintf(code, sizeof code, "%d", json_code(entry));
        result = outcall_fail(err, NOTIFY_REJECTED, 200, code, json_text(entry, "status_text"));
        goto done;
    }
    *status_code = json_code(entry);
    result = NOTIFY_SENT;
done:
    json_decref(root);
    outcall_reply_release(&reply);
    strbuf_release(&form);
    return result;
}
