/*
 * httpcall.c — the kit's HTTP client over libcurl (httpcall.h): one easy
 * handle per request, blocking alone or many on one curl multi.
 */
#include "common/httpcall.h"

#include <curl/curl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/numparse.h"

typedef struct {
    const httpcall_request_t *request;
    httpcall_response_t *response;
    CURL *curl;
    struct curl_slist *headers;
    char curl_error[CURL_ERROR_SIZE];
} call_t;

const char *httpcall_failure_name(httpcall_failure_t failure)
{
    static const char *const names[] = {"ok",        "connect",   "timeout",
                                        "too_large", "no_answer", "bad_request"};
    return failure >= HTTPCALL_OK && failure <= HTTPCALL_BAD_REQUEST ? names[failure] : "?";
}

void httpcall_response_init(httpcall_response_t *response)
{
    memset(response, 0, sizeof *response);
    strbuf_init(&response->body, HTTPCALL_DEFAULT_RESPONSE_MAX);
}

void httpcall_response_release(httpcall_response_t *response)
{
    strbuf_release(&response->body);
}

/* Copies text into out, cut at a UTF-8 character boundary. */
static void copy_text(char *out, size_t size, const char *text)
{
    size_t len = strlen(text);
    if (len >= size) {
        len = size - 1;
        while (len > 0 && ((unsigned char)text[len] & 0xC0) == 0x80)
            len--;
    }
    memcpy(out, text, len);
    out[len] = '\0';
}

/* --- Retry-After -------------------------------------------------------------- */

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; Howard Hinnant's). */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int digits_of(const char *text, size_t count, int64_t *out)
{
    int64_t value = 0;
    for (size_t i = 0; i < count; i++) {
        if (text[i] < '0' || text[i] > '9')
            return -1;
        value = value * 10 + (text[i] - '0');
    }
    *out = value;
    return 0;
}

/* "Sun, 06 Nov 1994 08:49:37 GMT" (IMF-fixdate, exactly 29 bytes) in unix
 * seconds; -1 otherwise. */
static int imf_fixdate(const char *text, size_t len, int64_t *seconds_out)
{
    static const char *const days[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    if (len != 29 || text[3] != ',' || text[4] != ' ' || text[7] != ' ' || text[11] != ' ' ||
        text[16] != ' ' || text[19] != ':' || text[22] != ':' || memcmp(text + 25, " GMT", 4) != 0)
        return -1;
    bool day_ok = false;
    for (size_t i = 0; i < 7; i++)
        day_ok = day_ok || memcmp(text, days[i], 3) == 0;
    int64_t month = 0;
    for (size_t i = 0; i < 12; i++)
        if (memcmp(text + 8, months[i], 3) == 0)
            month = (int64_t)i + 1;
    int64_t day, year, hour, minute, second;
    if (!day_ok || month == 0 || digits_of(text + 5, 2, &day) != 0 ||
        digits_of(text + 12, 4, &year) != 0 || digits_of(text + 17, 2, &hour) != 0 ||
        digits_of(text + 20, 2, &minute) != 0 || digits_of(text + 23, 2, &second) != 0 || day < 1 ||
        day > 31 || hour > 23 || minute > 59 || second > 60)
        return -1;
    *seconds_out = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second;
    return 0;
}

int httpcall_retry_after_parse(const char *value, size_t len, int64_t now_s, int64_t *ms_out)
{
    char text[40];
    if (len == 0 || len >= sizeof text)
        return -1;
    memcpy(text, value, len);
    text[len] = '\0';
    if (memchr(text, '\0', len))
        return -1;
    int64_t seconds = 0;
    if (text[0] >= '0' && text[0] <= '9') {
        /* delta-seconds: digits only; a huge number is capped, not refused */
        for (size_t i = 0; i < len; i++)
            if (text[i] < '0' || text[i] > '9')
                return -1;
        if (len > 6 || numparse_int_range(text, 0, HTTPCALL_RETRY_AFTER_MAX_S, &seconds) != 0)
            seconds = HTTPCALL_RETRY_AFTER_MAX_S;
    } else {
        int64_t at = 0;
        if (imf_fixdate(text, len, &at) != 0)
            return -1;
        seconds = at - now_s;
        if (seconds < 0)
            seconds = 0;
        if (seconds > HTTPCALL_RETRY_AFTER_MAX_S)
            seconds = HTTPCALL_RETRY_AFTER_MAX_S;
    }
    *ms_out = seconds * 1000;
    return 0;
}

void httpcall_header_line(httpcall_response_t *response, const char *line, size_t len,
                          int64_t now_s)
{
    static const char name[] = "retry-after:";
    const size_t name_len = sizeof name - 1;
    if (len <= name_len || strncasecmp(line, name, name_len) != 0)
        return;
    size_t start = name_len, end = len;
    while (start < end && (line[start] == ' ' || line[start] == '\t'))
        start++;
    while (end > start && (line[end - 1] == '\r' || line[end - 1] == '\n' || line[end - 1] == ' ' ||
                           line[end - 1] == '\t'))
        end--;
    int64_t ms = 0;
    if (httpcall_retry_after_parse(line + start, end - start, now_s, &ms) == 0)
        response->retry_after_ms = ms;
}

/* --- one easy handle ------------------------------------------------------------- */

static size_t on_body(char *bytes, size_t size, size_t count, void *userdata)
{
    httpcall_response_t *response = userdata;
    size_t n = size * count;
    if (strbuf_append(&response->body, bytes, n) != 0)
        return 0; /* over the cap: libcurl stops with CURLE_WRITE_ERROR */
    return n;
}

static size_t on_header(char *line, size_t size, size_t count, void *userdata)
{
    httpcall_response_t *response = userdata;
    size_t len = size * count;
    /* a new response (after a 1xx) starts over */
    if (len > 5 && memcmp(line, "HTTP/", 5) == 0)
        response->retry_after_ms = 0;
    httpcall_header_line(response, line, len, (int64_t)time(NULL));
    return len;
}

static void fail_early(httpcall_response_t *response, const char *why)
{
    response->failure = HTTPCALL_BAD_REQUEST;
    copy_text(response->error, sizeof response->error, why);
}

/* Makes call->curl for call->request; -1 (response filled) on failure. */
static int call_setup(call_t *call)
{
    const httpcall_request_t *request = call->request;
    httpcall_response_t *response = call->response;
    strbuf_release(&response->body);
    memset(response, 0, sizeof *response);
    strbuf_init(&response->body,
                request->max_response > 0 ? request->max_response : HTTPCALL_DEFAULT_RESPONSE_MAX);
    call->curl_error[0] = '\0';
    if (!request->url) {
        fail_early(response, "no URL");
        return -1;
    }
    call->curl = curl_easy_init();
    if (!call->curl) {
        fail_early(response, "out of memory");
        return -1;
    }
    const char *fixed[] = {"Expect:", "Accept: application/json"};
    struct curl_slist *list = NULL;
    for (size_t i = 0; i < 2; i++) {
        struct curl_slist *next = curl_slist_append(list, fixed[i]);
        if (!next)
            goto oom;
        list = next;
    }
    if (request->content_type) {
        char line[256];
        int n = snprintf(line, sizeof line, "Content-Type: %s", request->content_type);
        struct curl_slist *next =
            n > 0 && (size_t)n < sizeof line ? curl_slist_append(list, line) : NULL;
        if (!next)
            goto oom;
        list = next;
    }
    for (size_t i = 0; request->headers && request->headers[i]; i++) {
        struct curl_slist *next = curl_slist_append(list, request->headers[i]);
        if (!next)
            goto oom;
        list = next;
    }
    call->headers = list;
    CURL *curl = call->curl;
    const char *method = request->method ? request->method : request->body ? "POST" : "GET";
    curl_easy_setopt(curl, CURLOPT_URL, request->url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                     request->connect_timeout_ms > 0 ? request->connect_timeout_ms
                                                     : HTTPCALL_DEFAULT_CONNECT_MS);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS,
                     request->timeout_ms > 0 ? request->timeout_ms : HTTPCALL_DEFAULT_TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L); /* an API call is never redirected */
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, response);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, response);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, call->curl_error);
    curl_easy_setopt(curl, CURLOPT_PRIVATE, call);
    if (request->body) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request->body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)request->body_len);
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
    }
    if (request->user) {
        curl_easy_setopt(curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(curl, CURLOPT_USERNAME, request->user);
        curl_easy_setopt(curl, CURLOPT_PASSWORD, request->password ? request->password : "");
    }
    return 0;
oom:
    curl_slist_free_all(list);
    curl_easy_cleanup(call->curl);
    call->curl = NULL;
    fail_early(response, "out of memory");
    return -1;
}

/* Records how call ended (code) and frees its handle. */
static void call_finish(call_t *call, CURLcode code)
{
    httpcall_response_t *response = call->response;
    long request_size = 0;
    curl_easy_getinfo(call->curl, CURLINFO_REQUEST_SIZE, &request_size);
    response->sent = request_size > 0;
    if (code == CURLE_OK) {
        curl_easy_getinfo(call->curl, CURLINFO_RESPONSE_CODE, &response->status);
        response->failure = HTTPCALL_OK;
    } else {
        response->status = 0;
        if (!response->sent)
            response->failure = HTTPCALL_CONNECT; /* a timeout while connecting too */
        else if (code == CURLE_OPERATION_TIMEDOUT)
            response->failure = HTTPCALL_TIMEOUT;
        else if (code == CURLE_WRITE_ERROR)
            response->failure = HTTPCALL_TOO_LARGE;
        else
            response->failure = HTTPCALL_NO_ANSWER;
        copy_text(response->error, sizeof response->error,
                  call->curl_error[0] ? call->curl_error : curl_easy_strerror(code));
    }
    curl_slist_free_all(call->headers);
    call->headers = NULL;
    curl_easy_cleanup(call->curl);
    call->curl = NULL;
}

int httpcall_perform(const httpcall_request_t *request, httpcall_response_t *response)
{
    call_t call = {.request = request, .response = response};
    if (call_setup(&call) != 0)
        return -1;
    call_finish(&call, curl_easy_perform(call.curl));
    return response->failure == HTTPCALL_OK ? 0 : -1;
}

/* --- many at once ------------------------------------------------------------------ */

int httpcall_perform_many(const httpcall_request_t *requests, httpcall_response_t *responses,
                          size_t count)
{
    if (count > HTTPCALL_MANY_MAX || (count > 0 && (!requests || !responses)))
        return -1;
    call_t calls[HTTPCALL_MANY_MAX];
    memset(calls, 0, count * sizeof calls[0]);
    CURLM *multi = count > 1 ? curl_multi_init() : NULL;
    if (count == 1 || !multi) {
        /* one, or no multi handle to be had: one after another */
        int answered = 0;
        for (size_t i = 0; i < count; i++)
            answered += httpcall_perform(&requests[i], &responses[i]) == 0;
        return answered;
    }
    size_t running_calls = 0;
    for (size_t i = 0; i < count; i++) {
        calls[i].request = &requests[i];
        calls[i].response = &responses[i];
        if (call_setup(&calls[i]) != 0)
            continue;
        if (curl_multi_add_handle(multi, calls[i].curl) != CURLM_OK) {
            curl_slist_free_all(calls[i].headers);
            curl_easy_cleanup(calls[i].curl);
            calls[i].curl = NULL;
            fail_early(&responses[i], "out of memory");
            continue;
        }
        running_calls++;
    }
    int still = 0;
    while (running_calls > 0) {
        CURLMcode mc = curl_multi_perform(multi, &still);
        CURLMsg *msg;
        int left = 0;
        while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            void *private = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &private);
            call_t *call = private;
            CURLcode code = msg->data.result;
            curl_multi_remove_handle(multi, msg->easy_handle);
            call_finish(call, code);
            running_calls--;
        }
        if (mc == CURLM_OK && running_calls > 0)
            mc = curl_multi_poll(multi, NULL, 0, 1000, NULL);
        if (mc != CURLM_OK)
            break;
    }
    /* a multi failure (out of memory): whatever did not end, ended with it */
    for (size_t i = 0; i < count; i++) {
        if (!calls[i].curl)
            continue;
        curl_multi_remove_handle(multi, calls[i].curl);
        call_finish(&calls[i], CURLE_OUT_OF_MEMORY);
    }
    curl_multi_cleanup(multi);
    int answered = 0;
    for (size_t i = 0; i < count; i++)
        answered += responses[i].failure == HTTPCALL_OK;
    return answered;
}
