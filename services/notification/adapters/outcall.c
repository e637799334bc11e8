/*
 * outcall.c — one HTTP call to a notification provider, errors and forms
 * (outcall.h).
 */
#include "services/notification/adapters/outcall.h"

#include <stdio.h>
#include <string.h>

#define DEFAULT_CONNECT_TIMEOUT_MS 5000L
#define DEFAULT_TIMEOUT_MS         30000L

const char *notify_result_name(notify_result_t result)
{
    switch (result) {
    case NOTIFY_SENT:
        return "sent";
    case NOTIFY_REJECTED:
        return "rejected";
    case NOTIFY_TRANSIENT:
        return "transient";
    case NOTIFY_UNKNOWN:
        return "unknown";
    }
    return "unknown";
}

long outcall_connect_ms(const notify_limits_t *limits)
{
    return limits->connect_timeout_ms > 0 ? limits->connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS;
}

long outcall_total_ms(const notify_limits_t *limits)
{
    return limits->timeout_ms > 0 ? limits->timeout_ms : DEFAULT_TIMEOUT_MS;
}

void outcall_reply_init(outcall_reply_t *reply)
{
    httpcall_response_init(reply);
}

void outcall_reply_release(outcall_reply_t *reply)
{
    httpcall_response_release(reply);
}

void outcall_copy(char *out, size_t size, const char *text)
{
    if (size == 0)
        return;
    size_t len = text ? strlen(text) : 0;
    if (len >= size) {
        len = size - 1;
        while (len > 0 && ((unsigned char)text[len] & 0xC0) == 0x80)
            len--; /* do not end inside a UTF-8 character */
    }
    if (len)
        memcpy(out, text, len);
    out[len] = '\0';
}

notify_result_t outcall_fail(notify_error_t *err, notify_result_t result, int status,
                             const char *code, const char *message)
{
    outcall_copy(err->code, sizeof err->code, code);
    outcall_copy(err->message, sizeof err->message, message);
    err->status = status;
    return result;
}

bool outcall_text_ok(const char *text, size_t len)
{
    const unsigned char *p = (const unsigned char *)text;
    size_t i = 0;
    while (i < len) {
        unsigned char c = p[i];
        if (c < 0x80) {
            if (c < 0x20 && c != '\t' && c != '\r' && c != '\n')
                return false;
            i++;
            continue;
        }
        size_t need;
        uint32_t cp;
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (len - i <= need)
            return false;
        for (size_t k = 1; k <= need; k++) {
            if ((p[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        if ((need == 2 && cp < 0x800) || (need == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += need + 1;
    }
    return true;
}

int outcall_post(const notify_limits_t *limits, const char *url, const char *content_type,
                 const char *body, size_t body_len, outcall_reply_t *reply)
{
    httpcall_request_t request = {
        .method = "POST",
        .url = url,
        .content_type = content_type,
        .body = body,
        .body_len = body_len,
        .connect_timeout_ms = outcall_connect_ms(limits),
        .timeout_ms = outcall_total_ms(limits),
        .max_response = OUTCALL_REPLY_MAX,
    };
    return httpcall_perform(&request, reply);
}

notify_result_t outcall_no_answer(const outcall_reply_t *reply, notify_error_t *err)
{
    const char *code = "connect"; /* a timeout while connecting too: nothing left */
    if (reply->failure == HTTPCALL_TIMEOUT)
        code = "timeout";
    else if (reply->failure == HTTPCALL_TOO_LARGE)
        code = "bad_reply"; /* longer than OUTCALL_REPLY_MAX */
    else if (reply->failure == HTTPCALL_NO_ANSWER)
        code = "no_answer";
    else if (reply->failure == HTTPCALL_BAD_REQUEST)
        code = "bad_request";
    return outcall_fail(err, reply->sent ? NOTIFY_UNKNOWN : NOTIFY_TRANSIENT, 0, code,
                        reply->error);
}

static bool unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~';
}

static int append_encoded(strbuf_t *form, const char *text)
{
    static const char digits[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        char escape[3] = {'%', digits[*p >> 4], digits[*p & 15]};
        int rc = unreserved(*p) ? strbuf_append(form, p, 1) : strbuf_append(form, escape, 3);
        if (rc != 0)
            return -1;
    }
    return 0;
}

int outcall_form_add(strbuf_t *form, const char *name, const char *value)
{
    size_t before = form->len;
    if ((form->len > 0 && strbuf_append(form, "&", 1) != 0) || append_encoded(form, name) != 0 ||
        strbuf_append(form, "=", 1) != 0 || append_encoded(form, value ? value : "") != 0) {
        form->len = before;
        if (form->ptr)
            form->ptr[before] = '\0';
        return -1;
    }
    return 0;
}
