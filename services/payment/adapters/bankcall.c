/*
 * bankcall.c — one HTTP call to a bank, forms and receipt checks
 * (bankcall.h).
 */
#include "services/payment/adapters/bankcall.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hex.h"

#define DEFAULT_CONNECT_TIMEOUT_MS 3000L
#define DEFAULT_TIMEOUT_MS         15000L
#define RECEIPT_NAME_MAX           128

void bankcall_reply_init(bankcall_reply_t *reply)
{
    httpcall_response_init(reply);
}

void bankcall_reply_release(bankcall_reply_t *reply)
{
    httpcall_response_release(reply);
}

void bankcall_copy(char *out, size_t size, const char *text)
{
    if (size == 0)
        return;
    size_t len = text ? strlen(text) : 0;
    if (len >= size) {
        len = size - 1;
        /* do not end inside a UTF-8 character */
        while (len > 0 && ((unsigned char)text[len] & 0xC0) == 0x80)
            len--;
    }
    if (len)
        memcpy(out, text, len);
    out[len] = '\0';
}

acq_result_t bankcall_fail(acq_error_t *err, acq_result_t result, int http_status, const char *code,
                           const char *message)
{
    bankcall_copy(err->code, sizeof err->code, code);
    bankcall_copy(err->message, sizeof err->message, message);
    err->http_status = http_status;
    return result;
}

void bankcall_request_of(const bankcall_limits_t *limits, const char *method, const char *url,
                         const char *content_type, const char *body, const char *const *headers,
                         const char *user, const char *password, httpcall_request_t *out)
{
    *out = (httpcall_request_t){
        .method = method,
        .url = url,
        .headers = headers,
        .content_type = content_type,
        .body = body,
        .body_len = body ? strlen(body) : 0,
        .user = user,
        .password = password,
        .connect_timeout_ms = limits->connect_timeout_ms > 0 ? limits->connect_timeout_ms
                                                             : DEFAULT_CONNECT_TIMEOUT_MS,
        .timeout_ms = limits->timeout_ms > 0 ? limits->timeout_ms : DEFAULT_TIMEOUT_MS,
        .max_response = BANKCALL_REPLY_MAX,
    };
}

int bankcall_request(const bankcall_limits_t *limits, const char *method, const char *url,
                     const char *content_type, const char *body, const char *const *headers,
                     const char *user, const char *password, bankcall_reply_t *reply)
{
    httpcall_request_t request;
    bankcall_request_of(limits, method, url, content_type, body, headers, user, password, &request);
    return httpcall_perform(&request, reply);
}

void bankcall_prepared_seal(bankcall_prepared_t *call, const bankcall_limits_t *limits,
                            const char *method, const char *content_type, const char *user,
                            const char *password)
{
    call->headers[0] = call->header[0] ? call->header : NULL;
    call->headers[1] = NULL;
    bankcall_request_of(limits, method, call->url, call->body ? content_type : NULL, call->body,
                        call->headers, user, password, &call->request);
}

void bankcall_prepared_release(bankcall_prepared_t *call)
{
    free(call->body);
    call->body = NULL;
}

acq_result_t bankcall_no_answer(const bankcall_reply_t *reply, bool effectful, acq_error_t *err)
{
    const char *code = "connect";
    if (reply->failure == HTTPCALL_TIMEOUT)
        code = "timeout";
    else if (reply->failure == HTTPCALL_TOO_LARGE)
        code = "bad_reply"; /* longer than BANKCALL_REPLY_MAX */
    else if (reply->failure == HTTPCALL_NO_ANSWER)
        code = "no_answer";
    else if (reply->failure == HTTPCALL_BAD_REQUEST)
        code = "bad_request";
    acq_result_t result = reply->sent && effectful ? ACQ_UNKNOWN : ACQ_TRANSIENT;
    return bankcall_fail(err, result, 0, code, reply->error);
}

/* --- forms ---------------------------------------------------------------- */

static bool unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~';
}

static int append_encoded(strbuf_t *form, const char *text)
{
    static const char digits[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (unreserved(*p)) {
            if (strbuf_append(form, p, 1) != 0)
                return -1;
        } else {
            char escape[3] = {'%', digits[*p >> 4], digits[*p & 15]};
            if (strbuf_append(form, escape, 3) != 0)
                return -1;
        }
    }
    return 0;
}

int bankcall_form_add(strbuf_t *form, const char *name, const char *value)
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

/* Decodes len bytes of one name or value; caller owns the result. NULL on
 * a malformed escape, an escaped NUL or out of memory. */
static char *form_decode(const char *text, size_t len)
{
    char *out = malloc(len + 1);
    if (!out)
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (c == '+') {
            out[n++] = ' ';
        } else if (c == '%') {
            int high = i + 1 < len ? hex_value(text[i + 1]) : -1;
            int low = i + 2 < len ? hex_value(text[i + 2]) : -1;
            if (high < 0 || low < 0 || (high == 0 && low == 0)) {
                free(out);
                return NULL;
            }
            out[n++] = (char)(high * 16 + low);
            i += 2;
        } else if (c == '\0') {
            free(out);
            return NULL;
        } else {
            out[n++] = c;
        }
    }
    out[n] = '\0';
    return out;
}

void bankcall_form_release(bankcall_form_t *form)
{
    for (size_t i = 0; i < form->count; i++) {
        free(form->pairs[i].name);
        free(form->pairs[i].value);
    }
    form->count = 0;
}

int bankcall_form_parse(const char *text, size_t len, bankcall_form_t *form)
{
    form->count = 0;
    if (len > BANKCALL_FORM_MAX)
        return -1;
    size_t start = 0;
    while (start <= len) {
        const char *segment = text + start;
        const char *amp = memchr(segment, '&', len - start);
        size_t seg_len = amp ? (size_t)(amp - segment) : len - start;
        if (seg_len > 0) {
            if (form->count == BANKCALL_FORM_PAIRS)
                goto fail;
            const char *eq = memchr(segment, '=', seg_len);
            size_t name_len = eq ? (size_t)(eq - segment) : seg_len;
            if (name_len == 0)
                goto fail;
            char *name = form_decode(segment, name_len);
            char *value = eq ? form_decode(eq + 1, seg_len - name_len - 1) : form_decode("", 0);
            if (!name || !value) {
                free(name);
                free(value);
                goto fail;
            }
            form->pairs[form->count].name = name;
            form->pairs[form->count].value = value;
            form->count++;
        }
        if (!amp)
            break;
        start += seg_len + 1;
    }
    return 0;
fail:
    bankcall_form_release(form);
    return -1;
}

const char *bankcall_form_get(const bankcall_form_t *form, const char *name)
{
    for (size_t i = 0; i < form->count; i++)
        if (strcmp(form->pairs[i].name, name) == 0)
            return form->pairs[i].value;
    return NULL;
}

/* --- receipts ------------------------------------------------------------- */

static size_t utf8_chars(const char *text)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        n += (*p & 0xC0) != 0x80;
    return n;
}

int bankcall_receipt_check(const acq_receipt_t *receipt, int64_t amount_minor, acq_error_t *err)
{
    char why[ACQ_MESSAGE_SIZE];
    if (amount_minor <= 0) {
        snprintf(why, sizeof why, "amount %lld is not positive", (long long)amount_minor);
        goto refuse;
    }
    if (receipt->line_count == 0 || receipt->line_count > ACQ_LINES_MAX || !receipt->lines) {
        snprintf(why, sizeof why, "a receipt needs 1 to %d lines, not %zu", ACQ_LINES_MAX,
                 receipt->line_count);
        goto refuse;
    }
    if ((!receipt->email || !receipt->email[0]) && (!receipt->phone || !receipt->phone[0])) {
        snprintf(why, sizeof why, "a receipt needs the customer's email or phone");
        goto refuse;
    }
    int64_t sum = 0;
    for (size_t i = 0; i < receipt->line_count; i++) {
        const acq_line_t *line = &receipt->lines[i];
        if (!line->name || !line->name[0] || utf8_chars(line->name) > RECEIPT_NAME_MAX) {
            snprintf(why, sizeof why, "line %zu: a name of 1 to %d characters is required", i + 1,
                     RECEIPT_NAME_MAX);
            goto refuse;
        }
        if (line->quantity <= 0 || line->price_minor <= 0 || line->quantity > 1000000 ||
            line->price_minor > INT64_MAX / line->quantity) {
            snprintf(why, sizeof why, "line %zu: quantity and price must be positive", i + 1);
            goto refuse;
        }
        if (line->vat < ACQ_VAT_NONE || line->vat > ACQ_VAT_20_120 ||
            line->subject < ACQ_SUBJECT_COMMODITY || line->subject > ACQ_SUBJECT_ANOTHER ||
            line->method < ACQ_METHOD_FULL_PREPAYMENT || line->method > ACQ_METHOD_CREDIT_PAYMENT) {
            snprintf(why, sizeof why, "line %zu: unknown VAT rate, subject or method", i + 1);
            goto refuse;
        }
        int64_t line_total = line->quantity * line->price_minor;
        if (sum > INT64_MAX - line_total) {
            snprintf(why, sizeof why, "the lines' total overflows");
            goto refuse;
        }
        sum += line_total;
    }
    if (sum != amount_minor) {
        snprintf(why, sizeof why, "the lines sum to %lld, not to the amount %lld", (long long)sum,
                 (long long)amount_minor);
        goto refuse;
    }
    return 0;
refuse:
    bankcall_fail(err, ACQ_REJECTED, 0, "bad_request", why);
    return -1;
}
