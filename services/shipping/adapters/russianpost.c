/*
 * russianpost.c — Russian Post's tracking over SOAP 1.2 (russianpost.h):
 * the request built with every outside value escaped, the reply read by a
 * bounded scanner that looks elements up by their local name (any
 * namespace prefix), never past the bytes it was given.
 */
#include "services/shipping/adapters/russianpost.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/httpcall.h"
#include "common/strbuf.h"

#define RP_NS_OPER "http://russianpost.org/operationhistory"
#define RP_NS_DATA "http://russianpost.org/operationhistory/data"
#define RP_NS_SOAP "http://www.w3.org/2003/05/soap-envelope"

/* --- the reply: a bounded scanner ------------------------------------------------- */

typedef struct {
    const char *p;
    const char *end;
} span_t;

/* Whether [p, end) starts with name followed by a character that ends a
 * tag's name. */
static bool name_at(const char *p, const char *end, const char *name)
{
    size_t n = strlen(name);
    if ((size_t)(end - p) <= n || memcmp(p, name, n) != 0)
        return false;
    char c = p[n];
    return c == '>' || c == '/' || c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* After '<' (or "</"): skips "prefix:" when there is one. */
static const char *past_prefix(const char *p, const char *end)
{
    for (const char *q = p; q < end && q - p < 64; q++) {
        if (*q == ':')
            return q + 1;
        if (!(isalnum((unsigned char)*q) || *q == '_' || *q == '-' || *q == '.'))
            break;
    }
    return p;
}

/* The first element named local within in: its content in *inner (empty
 * for <x/>); *rest the bytes after it. false when there is none whole. */
static bool element(span_t in, const char *local, span_t *inner, span_t *rest)
{
    for (const char *p = in.p; p < in.end; p++) {
        p = memchr(p, '<', (size_t)(in.end - p));
        if (!p)
            return false;
        if (p + 1 < in.end && (p[1] == '/' || p[1] == '?' || p[1] == '!'))
            continue;
        const char *name = past_prefix(p + 1, in.end);
        if (!name_at(name, in.end, local))
            continue;
        const char *close = memchr(name, '>', (size_t)(in.end - name));
        if (!close)
            return false;
        if (close[-1] == '/') { /* <x/> */
            *inner = (span_t){close + 1, close + 1};
            *rest = (span_t){close + 1, in.end};
            return true;
        }
        for (const char *q = close + 1; q + 1 < in.end; q++) {
            q = memchr(q, '<', (size_t)(in.end - q));
            if (!q || q + 1 >= in.end)
                return false;
            if (q[1] != '/')
                continue;
            const char *qname = past_prefix(q + 2, in.end);
            if (name_at(qname, in.end, local)) {
                const char *gt = memchr(qname, '>', (size_t)(in.end - qname));
                if (!gt)
                    return false;
                *inner = (span_t){close + 1, q};
                *rest = (span_t){gt + 1, in.end};
                return true;
            }
        }
        return false;
    }
    return false;
}

/* The text of an element's content, trimmed, tags dropped, the five XML
 * entities decoded, anything else not printable ASCII or UTF-8 kept
 * as '?'; at most size - 1 bytes. */
static void text_of(span_t s, char *out, size_t size)
{
    size_t n = 0;
    bool in_tag = false;
    for (const char *p = s.p; p < s.end && n + 1 < size; p++) {
        char c = *p;
        if (in_tag) {
            in_tag = c != '>';
            continue;
        }
        if (c == '<') {
            in_tag = true;
            continue;
        }
        if (c == '&') {
            static const struct {
                const char *entity;
                char c;
            } entities[] = {
                {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
            for (size_t i = 0; i < sizeof entities / sizeof entities[0]; i++) {
                size_t len = strlen(entities[i].entity);
                if ((size_t)(s.end - p) >= len && memcmp(p, entities[i].entity, len) == 0) {
                    c = entities[i].c;
                    p += len - 1;
                    break;
                }
            }
        }
        if ((unsigned char)c < 0x20)
            c = ' ';
        out[n++] = c;
    }
    out[n] = '\0';
    /* trim, and never end inside a UTF-8 sequence */
    size_t tail = 0; /* continuation bytes at the end */
    while (tail < n && tail < 3 && ((unsigned char)out[n - 1 - tail] & 0xC0) == 0x80)
        tail++;
    if (tail < n) {
        unsigned char lead = (unsigned char)out[n - 1 - tail];
        size_t want = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
        if (lead >= 0xC0 && tail + 1 < want)
            n -= tail + 1; /* a sequence cut short */
    }
    while (n > 0 && out[n - 1] == ' ')
        n--;
    out[n] = '\0';
    size_t start = 0;
    while (out[start] == ' ')
        start++;
    memmove(out, out + start, n - start + 1);
}

/* "2015-01-08T14:20:00.000+03:00" -> unix ms; 0 when it does not parse. */
static int64_t time_of(const char *text)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *rest = strptime(text, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!rest)
        return 0;
    int64_t ms = (int64_t)timegm(&tm) * 1000;
    if (*rest == '.')
        for (rest++; *rest >= '0' && *rest <= '9'; rest++) {
        }
    if ((rest[0] == '+' || rest[0] == '-') && isdigit((unsigned char)rest[1]) &&
        isdigit((unsigned char)rest[2]) && rest[3] == ':' && isdigit((unsigned char)rest[4]) &&
        isdigit((unsigned char)rest[5])) {
        int64_t offset =
            ((rest[1] - '0') * 10 + (rest[2] - '0')) * 60 + (rest[4] - '0') * 10 + (rest[5] - '0');
        ms -= (rest[0] == '+' ? 1 : -1) * offset * 60000;
    }
    return ms > 0 ? ms : 0;
}

const char *russianpost_code_of(long oper_type)
{
    switch (oper_type) {
    case 1:
        return "AC";
    case 2:
        return "DE";
    case 3:
    case 5:
        return "EX";
    case 8:
        return "IT";
    case 12:
        return "AT";
    default:
        return NULL;
    }
}

static long oper_type_of(span_t record, char *name, size_t name_size)
{
    span_t oper, rest, id, label;
    name[0] = '\0';
    if (!element(record, "OperType", &oper, &rest))
        return -1;
    if (element(oper, "Name", &label, &rest))
        text_of(label, name, name_size);
    if (!element(oper, "Id", &id, &rest))
        return -1;
    char digits[8];
    text_of(id, digits, sizeof digits);
    if (!digits[0] || strlen(digits) > 5)
        return -1;
    long value = 0;
    for (const char *c = digits; *c; c++) {
        if (!isdigit((unsigned char)*c))
            return -1;
        value = value * 10 + (*c - '0');
    }
    return value;
}

int russianpost_reply_parse(const char *body, size_t len, carrier_track_t *out,
                            carrier_error_t *err)
{
    if (!body || len > RUSSIANPOST_REPLY_MAX)
        return -1;
    span_t all = {body, body + len}, inner, rest;
    if (element(all, "Fault", &inner, &rest)) {
        span_t detail, text;
        memset(err, 0, sizeof *err);
        str_copy_to(err->code, sizeof err->code,
                    element(inner, "AuthorizationFault", &detail, &rest) ? "authorization_fault"
                    : element(inner, "OperationHistoryFault", &detail, &rest)
                        ? "operation_history_fault"
                        : "soap_fault");
        if (element(inner, "Text", &text, &rest) || element(inner, "Reason", &text, &rest))
            text_of(text, err->message, sizeof err->message);
        return 1;
    }
    span_t data;
    if (!element(all, "getOperationHistoryResponse", &inner, &rest) ||
        !element(inner, "OperationHistoryData", &data, &rest))
        return -1;
    str_copy_to(out->status_code, sizeof out->status_code, "NY");
    out->description[0] = '\0';
    out->event_id[0] = '\0';
    out->at_ms = 0;
    bool any = false, known = false;
    span_t record;
    while (element(data, "historyRecord", &record, &rest)) {
        data = rest;
        any = true;
        char name[CARRIER_TEXT_SIZE];
        const char *code = russianpost_code_of(oper_type_of(record, name, sizeof name));
        if (!code)
            continue;
        span_t when;
        char date[48] = "";
        if (element(record, "OperDate", &when, &rest))
            text_of(when, date, sizeof date);
        int64_t at_ms = time_of(date);
        if (known && at_ms < out->at_ms)
            continue; /* an earlier operation listed late */
        known = true;
        str_copy_to(out->status_code, sizeof out->status_code, code);
        str_copy_to(out->description, sizeof out->description, name);
        out->at_ms = at_ms;
    }
    if (any && !known)
        str_copy_to(out->status_code, sizeof out->status_code, "UN");
    return 0;
}

/* --- the call ----------------------------------------------------------------------- */

static void append_escaped(strbuf_t *buf, const char *text)
{
    for (const char *p = text ? text : ""; *p; p++) {
        switch (*p) {
        case '&':
            strbuf_append_str(buf, "&amp;");
            break;
        case '<':
            strbuf_append_str(buf, "&lt;");
            break;
        case '>':
            strbuf_append_str(buf, "&gt;");
            break;
        case '"':
            strbuf_append_str(buf, "&quot;");
            break;
        case '\'':
            strbuf_append_str(buf, "&apos;");
            break;
        default:
            strbuf_append(buf, p, 1);
        }
    }
}

static carrier_result_t failed(carrier_error_t *err, carrier_result_t result, int status,
                               const char *code, const char *message)
{
    err->http_status = status;
    str_copy_to(err->code, sizeof err->code, code);
    str_copy_to(err->message, sizeof err->message, message);
    return result;
}

static bool barcode_valid(const char *barcode)
{
    size_t n = barcode ? strlen(barcode) : 0;
    if (n == 0 || n > 39)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)barcode[i]) && !isupper((unsigned char)barcode[i]))
            return false;
    return true;
}

carrier_result_t russianpost_track(const russianpost_config_t *config, const char *barcode,
                                   carrier_track_t *out, carrier_error_t *err)
{
    memset(err, 0, sizeof *err);
    memset(out, 0, sizeof *out);
    if (!barcode_valid(barcode))
        return failed(err, CARRIER_REFUSED, 0, "bad_barcode",
                      "a barcode is 1 to 39 digits and capital letters");
    str_copy_to(out->tracking_number, sizeof out->tracking_number, barcode);
    strbuf_t request;
    strbuf_init(&request, 8192);
    strbuf_append_str(&request,
                      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
                      "<soap:Envelope xmlns:soap=\"" RP_NS_SOAP "\" xmlns:oper=\"" RP_NS_OPER
                      "\" xmlns:data=\"" RP_NS_DATA "\"><soap:Header/><soap:Body>"
                      "<oper:getOperationHistory><data:OperationHistoryRequest>"
                      "<data:Barcode>");
    strbuf_append_str(&request, barcode);
    strbuf_append_str(&request, "</data:Barcode><data:MessageType>0</data:MessageType>"
                                "<data:Language>RUS</data:Language>"
                                "</data:OperationHistoryRequest>"
                                "<data:AuthorizationHeader soap:mustUnderstand=\"1\"><data:login>");
    append_escaped(&request, config->login);
    strbuf_append_str(&request, "</data:login><data:password>");
    append_escaped(&request, config->password);
    strbuf_append_str(&request, "</data:password></data:AuthorizationHeader>"
                                "</oper:getOperationHistory></soap:Body></soap:Envelope>");
    httpcall_request_t call = {.method = "POST",
                               .url = config->url,
                               .content_type = "application/soap+xml; charset=utf-8",
                               .body = request.ptr,
                               .body_len = request.len,
                               .connect_timeout_ms = config->connect_timeout_ms,
                               .timeout_ms = config->timeout_ms,
                               .max_response = RUSSIANPOST_REPLY_MAX};
    httpcall_response_t reply;
    httpcall_response_init(&reply);
    int rc = httpcall_perform(&call, &reply);
    strbuf_release(&request);
    carrier_result_t result = CARRIER_OK;
    if (rc != 0) {
        result = failed(err, CARRIER_TRANSIENT, 0,
                        reply.failure == HTTPCALL_TIMEOUT ? "timeout" : "no_answer", reply.error);
    } else {
        /* a SOAP fault comes with 500: read the body whatever the status */
        int parsed = russianpost_reply_parse(reply.body.ptr, reply.body.len, out, err);
        if (parsed == 1) {
            result = CARRIER_REFUSED;
            err->http_status = (int)reply.status;
        } else if (parsed != 0 || reply.status != 200) {
            char code[32];
            snprintf(code, sizeof code, "http_%ld", reply.status);
            result =
                failed(err, CARRIER_TRANSIENT, (int)reply.status, parsed != 0 ? "bad_reply" : code,
                       "Russian Post's answer is not an operation history");
        }
        if (reply.retry_after_ms > 0)
            err->retry_after_ms = reply.retry_after_ms;
    }
    httpcall_response_release(&reply);
    return result;
}
