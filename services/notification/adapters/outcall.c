/*
 * outcall.c — one HTTP call to a notification provider, errors and forms
 * (outcall.h).
 */
#include "services/notification/adapters/outcall.h"

#include <curl/curl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/numparse.h"

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
    memset(reply, 0, sizeof *reply);
    strbuf_init(&reply->body, OUTCALL_REPLY_MAX);
}

void outcall_reply_release(outcall_reply_t *reply)
{
    strbuf_release(&reply->body);
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

static size_t on_body(char *bytes, size_t size, size_t count, void *userdata)
{
    outcall_reply_t *reply = userdata;
    size_t n = size * count;
    if (strbuf_append(&reply->body, bytes, n) != 0)
        return 0; /* over the cap: libcurl stops with CURLE_WRITE_ERROR */
    return n;
}

static size_t on_header(char *line, size_t size, size_t count, void *userdata)
{
    outcall_reply_t *reply = userdata;
    size_t len = size * count;
    static const char name[] = "retry-after:";
    if (len > sizeof name - 1 && len < 64 && strncasecmp(line, name, sizeof name - 1) == 0) {
        char value[64];
        size_t start = sizeof name - 1;
        while (start < len && line[start] == ' ')
            start++;
        size_t end = len;
        while (end > start &&
               (line[end - 1] == '\r' || line[end - 1] == '\n' || line[end - 1] == ' '))
            end--;
        memcpy(value, line + start, end - start);
        value[end - start] = '\0';
        int64_t seconds = 0;
        if (numparse_int_range(value, 0, 86400, &seconds) == 0)
            reply->retry_after_ms = seconds * 1000;
    }
    return len;
}

int outcall_post(const notify_limits_t *limits, const char *url, const char *content_type,
                 const char *body, size_t body_len, outcall_reply_t *reply)
{
    int rc = -1;
    struct curl_slist *list = NULL;
    char line[128];
    CURL *curl = curl_easy_init();
    if (!curl) {
        reply->curl_code = CURLE_OUT_OF_MEMORY;
        outcall_copy(reply->curl_error, sizeof reply->curl_error, "out of memory");
        return -1;
    }
    snprintf(line, sizeof line, "Content-Type: %s", content_type);
    struct curl_slist *next = curl_slist_append(list, "Expect:");
    if (next)
        list = next;
    next = curl_slist_append(list, "Accept: application/json");
    if (next)
        list = next;
    next = curl_slist_append(list, line);
    if (next)
        list = next;
    char curl_error[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, outcall_connect_ms(limits));
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, outcall_total_ms(limits));
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L); /* a send is never redirected */
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, reply);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, reply);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_error);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    CURLcode code = curl_easy_perform(curl);
    long request_size = 0;
    curl_easy_getinfo(curl, CURLINFO_REQUEST_SIZE, &request_size);
    reply->sent = request_size > 0;
    reply->curl_code = (int)code;
    if (code == CURLE_OK) {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply->status);
        rc = 0;
    } else {
        reply->status = 0;
        outcall_copy(reply->curl_error, sizeof reply->curl_error,
                     curl_error[0] ? curl_error : curl_easy_strerror(code));
    }
    curl_slist_free_all(list);
    curl_easy_cleanup(curl);
    return rc;
}

notify_result_t outcall_no_answer(const outcall_reply_t *reply, notify_error_t *err)
{
    const char *code = "connect";
    if (reply->curl_code == CURLE_OPERATION_TIMEDOUT)
        code = "timeout";
    else if (reply->curl_code == CURLE_WRITE_ERROR)
        code = "bad_reply"; /* longer than OUTCALL_REPLY_MAX */
    else if (reply->sent)
        code = "no_answer";
    if (reply->curl_code == CURLE_OPERATION_TIMEDOUT && !reply->sent)
        code = "connect"; /* timed out connecting: nothing left */
    return outcall_fail(err, reply->sent ? NOTIFY_UNKNOWN : NOTIFY_TRANSIENT, 0, code,
                        reply->curl_error);
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
