/*
 * test_httpcall.c — the kit's HTTP client against a small real server on
 * 127.0.0.1 (a raw socket per connection, one thread each): the request as
 * it arrives (method, headers, body, Basic credentials), an answer of any
 * status with its Retry-After (seconds and HTTP-date), an answer over the
 * cap refused (too_large), a timeout after sending (timeout, sent), a
 * connection closed without an answer (no_answer, sent), nobody listening
 * (connect, nothing sent), many requests at once really concurrent at the
 * server, and the Retry-After parser on its own.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <pthread.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "common/httpcall.h"

static int listen_fd = -1;
static unsigned port;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int in_flight, most_in_flight;
static char last_request[8192];

static void sleep_ms(long ms)
{
    struct timespec pause = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&pause, NULL);
}

static void send_all(int fd, const char *text, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, text, len, MSG_NOSIGNAL);
        if (n <= 0)
            return;
        text += n;
        len -= (size_t)n;
    }
}

static void answer(int fd, int status, const char *extra, const char *body)
{
    char head[512];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d X\r\nContent-Length: %zu\r\nConnection: close\r\n%s\r\n", status,
                     strlen(body), extra);
    send_all(fd, head, (size_t)n);
    send_all(fd, body, strlen(body));
}

/* Reads one request (head and Content-Length body) into buf. */
static size_t read_request(int fd, char *buf, size_t size)
{
    size_t len = 0;
    char *end = NULL;
    while (len + 1 < size) {
        ssize_t n = recv(fd, buf + len, size - 1 - len, 0);
        if (n <= 0)
            break;
        len += (size_t)n;
        buf[len] = '\0';
        end = strstr(buf, "\r\n\r\n");
        if (!end)
            continue;
        const char *cl = strcasestr(buf, "content-length:");
        size_t want = cl && cl < end ? (size_t)strtoul(cl + 15, NULL, 10) : 0;
        if (len >= (size_t)(end + 4 - buf) + want)
            break;
    }
    buf[len] = '\0';
    return len;
}

static void *serve(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char req[8192];
    read_request(fd, req, sizeof req);
    pthread_mutex_lock(&lock);
    snprintf(last_request, sizeof last_request, "%s", req);
    pthread_mutex_unlock(&lock);
    char path[128] = "";
    sscanf(req, "%*s %127s", path);
    path[strcspn(path, "?")] = '\0';
    if (strcmp(path, "/echo") == 0) {
        const char *body = strstr(req, "\r\n\r\n");
        answer(fd, 201, "", body ? body + 4 : "");
    } else if (strcmp(path, "/retry") == 0) {
        answer(fd, 429, "Retry-After: 7\r\n", "{\"slow\":\"down\"}");
    } else if (strcmp(path, "/retry-date") == 0) {
        char date[64], extra[96];
        time_t at = time(NULL) + 120;
        struct tm tm;
        gmtime_r(&at, &tm);
        strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        snprintf(extra, sizeof extra, "Retry-After: %s\r\n", date);
        answer(fd, 503, extra, "");
    } else if (strcmp(path, "/big") == 0) {
        char *big = malloc(100001);
        memset(big, 'x', 100000);
        big[100000] = '\0';
        answer(fd, 200, "", big);
        free(big);
    } else if (strcmp(path, "/slow") == 0) {
        sleep_ms(1500);
        answer(fd, 200, "", "late");
    } else if (strcmp(path, "/together") == 0) {
        pthread_mutex_lock(&lock);
        if (++in_flight > most_in_flight)
            most_in_flight = in_flight;
        pthread_mutex_unlock(&lock);
        sleep_ms(200);
        pthread_mutex_lock(&lock);
        in_flight--;
        pthread_mutex_unlock(&lock);
        char body[160];
        snprintf(body, sizeof body, "%s", path);
        const char *query = strchr(req, '?');
        if (query)
            snprintf(body, sizeof body, "%.*s", (int)strcspn(query + 1, " "), query + 1);
        answer(fd, 200, "", body);
    } else if (strcmp(path, "/close") != 0) {
        answer(fd, 404, "", "nothing here");
    }
    close(fd);
    return NULL;
}

static void *accept_loop(void *arg)
{
    (void)arg;
    for (;;) {
        int fd = accept(listen_fd, NULL, NULL);
        if (fd < 0)
            return NULL;
        pthread_t thread;
        if (pthread_create(&thread, NULL, serve, (void *)(intptr_t)fd) == 0)
            pthread_detach(thread);
        else
            close(fd);
    }
}

static int setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof addr;
    if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        listen(listen_fd, 512) != 0 || getsockname(listen_fd, (struct sockaddr *)&addr, &len) != 0)
        return -1;
    port = ntohs(addr.sin_port);
    pthread_t thread;
    if (pthread_create(&thread, NULL, accept_loop, NULL) != 0)
        return -1;
    pthread_detach(thread);
    return 0;
}

static void url_of(char *out, size_t size, const char *path)
{
    snprintf(out, size, "http://127.0.0.1:%u%s", port, path);
}

static void test_a_post_arrives_whole_and_its_answer_is_read(void **state)
{
    (void)state;
    char url[128];
    url_of(url, sizeof url, "/echo");
    const char *headers[] = {"Idempotence-Key: k-1", NULL};
    httpcall_request_t request = {.url = url,
                                  .headers = headers,
                                  .content_type = "application/json",
                                  .body = "{\"a\":1}",
                                  .body_len = 7,
                                  .user = "shop",
                                  .password = "secret"};
    httpcall_response_t response;
    httpcall_response_init(&response);
    assert_int_equal(httpcall_perform(&request, &response), 0);
    assert_int_equal(response.failure, HTTPCALL_OK);
    assert_int_equal(response.status, 201);
    assert_true(response.sent);
    assert_string_equal(response.body.ptr, "{\"a\":1}");
    assert_int_equal(response.retry_after_ms, 0);
    assert_non_null(strstr(last_request, "POST /echo HTTP/1.1"));
    assert_non_null(strstr(last_request, "Idempotence-Key: k-1"));
    assert_non_null(strstr(last_request, "Content-Type: application/json"));
    /* shop:secret */
    assert_non_null(strstr(last_request, "Authorization: Basic c2hvcDpzZWNyZXQ="));
    httpcall_response_release(&response);
}

static void test_any_status_is_an_answer_and_retry_after_is_read(void **state)
{
    (void)state;
    char url[128];
    url_of(url, sizeof url, "/retry");
    httpcall_request_t request = {.method = "GET", .url = url};
    httpcall_response_t response;
    httpcall_response_init(&response);
    assert_int_equal(httpcall_perform(&request, &response), 0);
    assert_int_equal(response.status, 429);
    assert_int_equal(response.retry_after_ms, 7000);
    assert_string_equal(response.body.ptr, "{\"slow\":\"down\"}");
    /* an HTTP-date two minutes ahead: about 120 s */
    url_of(url, sizeof url, "/retry-date");
    assert_int_equal(httpcall_perform(&request, &response), 0);
    assert_int_equal(response.status, 503);
    assert_in_range(response.retry_after_ms, 118000, 120000);
    url_of(url, sizeof url, "/nowhere");
    assert_int_equal(httpcall_perform(&request, &response), 0);
    assert_int_equal(response.status, 404);
    assert_int_equal(response.retry_after_ms, 0);
    httpcall_response_release(&response);
}

static void test_an_answer_over_the_cap_is_refused(void **state)
{
    (void)state;
    char url[128];
    url_of(url, sizeof url, "/big");
    httpcall_request_t request = {.url = url, .max_response = 1024};
    httpcall_response_t response;
    httpcall_response_init(&response);
    assert_int_equal(httpcall_perform(&request, &response), -1);
    assert_int_equal(response.failure, HTTPCALL_TOO_LARGE);
    assert_int_equal(response.status, 0);
    assert_true(response.body.len <= 1024);
    assert_string_equal(httpcall_failure_name(response.failure), "too_large");
    httpcall_response_release(&response);
}

static void test_a_timeout_after_sending_is_not_a_connect_failure(void **state)
{
    (void)state;
    char url[128];
    url_of(url, sizeof url, "/slow");
    httpcall_request_t request = {.url = url, .body = "x", .body_len = 1, .timeout_ms = 200};
    httpcall_response_t response;
    httpcall_response_init(&response);
    assert_int_equal(httpcall_perform(&request, &response), -1);
    assert_int_equal(response.failure, HTTPCALL_TIMEOUT);
    assert_true(response.sent);
    assert_true(response.error[0] != '\0');
    httpcall_response_release(&response);
}

static void test_a_connection_closed_unanswered_is_no_answer(void **state)
{
    (void)state;
    char url[128];
    url_of(url, sizeof url, "/close");
    httpcall_request_t request = {.url = url, .body = "x", .body_len = 1};
    httpcall_response_t response;
    httpcall_response_init(&response);
    assert_int_equal(httpcall_perform(&request, &response), -1);
    assert_int_equal(response.failure, HTTPCALL_NO_ANSWER);
    assert_true(response.sent);
    httpcall_response_release(&response);
}

static void test_nobody_listening_is_connect_and_nothing_sent(void **state)
{
    (void)state;
    /* a port just freed: nobody listens there */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof addr;
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
    close(fd);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/echo", ntohs(addr.sin_port));
    httpcall_request_t request = {.url = url, .body = "x", .body_len = 1};
    httpcall_response_t response;
    httpcall_response_init(&response);
    assert_int_equal(httpcall_perform(&request, &response), -1);
    assert_int_equal(response.failure, HTTPCALL_CONNECT);
    assert_false(response.sent);
    /* a scheme we never speak is refused before anything leaves */
    request.url = "file:///etc/passwd";
    assert_int_equal(httpcall_perform(&request, &response), -1);
    assert_false(response.sent);
    assert_int_not_equal(response.failure, HTTPCALL_OK);
    httpcall_response_release(&response);
}

static void test_many_run_together_each_with_its_own_answer(void **state)
{
    (void)state;
    enum { COUNT = 40 };
    static char urls[COUNT][128];
    httpcall_request_t requests[COUNT];
    httpcall_response_t responses[COUNT];
    for (int i = 0; i < COUNT; i++) {
        char path[64];
        snprintf(path, sizeof path, "/together?n=%d", i);
        url_of(urls[i], sizeof urls[i], path);
        requests[i] = (httpcall_request_t){.url = urls[i], .timeout_ms = 10000};
        httpcall_response_init(&responses[i]);
    }
    /* one of them goes nowhere: the others are unharmed */
    requests[3].url = "http://127.0.0.1:1/";
    pthread_mutex_lock(&lock);
    most_in_flight = 0;
    pthread_mutex_unlock(&lock);
    assert_int_equal(httpcall_perform_many(requests, responses, COUNT), COUNT - 1);
    for (int i = 0; i < COUNT; i++) {
        if (i == 3) {
            assert_int_equal(responses[i].failure, HTTPCALL_CONNECT);
            continue;
        }
        char want[32];
        snprintf(want, sizeof want, "n=%d", i);
        assert_int_equal(responses[i].status, 200);
        assert_string_equal(responses[i].body.ptr, want);
    }
    pthread_mutex_lock(&lock);
    int most = most_in_flight;
    pthread_mutex_unlock(&lock);
    /* they were at the server at once, not one after another */
    assert_true(most >= COUNT / 2);
    for (int i = 0; i < COUNT; i++)
        httpcall_response_release(&responses[i]);
    /* more than the cap: refused, nothing sent */
    assert_int_equal(httpcall_perform_many(requests, responses, HTTPCALL_MANY_MAX + 1), -1);
    assert_int_equal(httpcall_perform_many(NULL, NULL, 0), 0);
}

static void test_retry_after_values(void **state)
{
    (void)state;
    int64_t ms = -1;
    const int64_t now = 784111777; /* Sun, 06 Nov 1994 08:49:37 GMT */
    assert_int_equal(httpcall_retry_after_parse("120", 3, now, &ms), 0);
    assert_int_equal(ms, 120000);
    assert_int_equal(httpcall_retry_after_parse("0", 1, now, &ms), 0);
    assert_int_equal(ms, 0);
    assert_int_equal(httpcall_retry_after_parse("99999999999999999999", 20, now, &ms), 0);
    assert_int_equal(ms, HTTPCALL_RETRY_AFTER_MAX_S * 1000LL);
    assert_int_equal(httpcall_retry_after_parse("Sun, 06 Nov 1994 08:50:07 GMT", 29, now, &ms), 0);
    assert_int_equal(ms, 30000);
    /* a date in the past: now */
    assert_int_equal(httpcall_retry_after_parse("Sun, 06 Nov 1994 08:00:00 GMT", 29, now, &ms), 0);
    assert_int_equal(ms, 0);
    assert_int_equal(httpcall_retry_after_parse("-5", 2, now, &ms), -1);
    assert_int_equal(httpcall_retry_after_parse("12s", 3, now, &ms), -1);
    assert_int_equal(httpcall_retry_after_parse("", 0, now, &ms), -1);
    assert_int_equal(httpcall_retry_after_parse("Sun, 06 Nov 1994 25:50:07 GMT", 29, now, &ms), -1);
    assert_int_equal(httpcall_retry_after_parse("Sunday, 06-Nov-94 08:49:37 GMT", 30, now, &ms),
                     -1);
    httpcall_response_t response;
    httpcall_response_init(&response);
    const char line[] = "rEtRy-AfTeR: \t 15 \r\n";
    httpcall_header_line(&response, line, sizeof line - 1, now);
    assert_int_equal(response.retry_after_ms, 15000);
    const char other[] = "Retry-After-Not: 3\r\n";
    httpcall_header_line(&response, other, sizeof other - 1, now);
    assert_int_equal(response.retry_after_ms, 15000);
    httpcall_response_release(&response);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_post_arrives_whole_and_its_answer_is_read),
        cmocka_unit_test(test_any_status_is_an_answer_and_retry_after_is_read),
        cmocka_unit_test(test_an_answer_over_the_cap_is_refused),
        cmocka_unit_test(test_a_timeout_after_sending_is_not_a_connect_failure),
        cmocka_unit_test(test_a_connection_closed_unanswered_is_no_answer),
        cmocka_unit_test(test_nobody_listening_is_connect_and_nothing_sent),
        cmocka_unit_test(test_many_run_together_each_with_its_own_answer),
        cmocka_unit_test(test_retry_after_values),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
