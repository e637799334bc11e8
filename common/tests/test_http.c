/*
 * test_http.c — the HTTP kit against a real libmicrohttpd server on
 * 127.0.0.1 (port 0), spoken to with libcurl and with raw sockets:
 * routing with {params} (percent-decoded, first match wins), 404, 405 with
 * Allow, 413 by Content-Length and by chunked body (a route's own lower
 * limit too), 415, 400 with jansson's
 * position, the exact problem+json shape, query and header access, JSON
 * responses with Cache-Control, binary bodies sent whole (a NUL inside)
 * and not cached, the client's address behind trusted
 * proxies (X-Forwarded-For read from its end, never a client's own
 * entries), a silent handler answered 500, metrics
 * and the access log per request, concurrent clients, and garbage on the
 * socket that must not bring the server down. Answers deferred to another
 * thread (http_defer): many more waiting at once than the server has
 * threads, one finished before its handler returned, and a server
 * destroyed while an answer is still missing (503, and the late answer
 * dropped safely).
 *
 * One server serves the whole group (started in the group setup); the log
 * goes to a temporary file at debug level so the access log can be read.
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
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "common/http.h"
#include "common/log.h"
#include "common/metrics.h"

#define BODY_LIMIT  1024
#define SMALL_LIMIT 100 /* /v1/small's own */

static http_server_t *server;
static unsigned port;
static FILE *log_file;

/* --- handlers ------------------------------------------------------------ */

static void get_order(const http_request_t *req, http_response_t *res, void *arg)
{
    (void)arg;
    const char *expand = http_req_query(req, "expand");
    const char *trace = http_req_header(req, "x-TRACE-id");
    json_t *body =
        json_pack("{s:s, s:s?, s:s?, s:s, s:s}", "id", http_req_param(req, "id"), "expand", expand,
                  "trace", trace, "method", http_req_method(req), "path", http_req_path(req));
    http_res_json_take(res, 200, body);
}

static void delete_order(const http_request_t *req, http_response_t *res, void *arg)
{
    (void)req;
    (void)arg;
    http_res_text(res, 204, NULL, "");
}

static void get_order_line(const http_request_t *req, http_response_t *res, void *arg)
{
    (void)arg;
    http_res_json_take(res, 200,
                       json_pack("{s:s, s:s}", "id", http_req_param(req, "id"), "line",
                                 http_req_param(req, "line")));
}

static void create_order(const http_request_t *req, http_response_t *res, void *arg)
{
    (void)arg;
    json_t *body = http_req_json(req, res);
    if (!body)
        return;
    json_t *again = http_req_json(req, res); /* cached: the same object */
    http_res_header(res, "Location", "/v1/orders/1");
    http_res_json_take(res, 201, json_pack("{s:O, s:b}", "got", body, "cached", again == body));
}

static void echo_body(const http_request_t *req, http_response_t *res, void *arg)
{
    (void)arg;
    size_t len = 0;
    const char *body = http_req_body(req, &len);
    char text[64];
    snprintf(text, sizeof text, "%zu:%zu", len, strlen(body));
    http_res_text(res, 200, "text/plain", text);
}

static void says_nothing(const http_request_t *req, http_response_t *res, void *arg)
{
    (void)req;
    (void)res;
    (void)arg;
}

static void invalid_fields(const http_request_t *req, http_response_t *res, void *arg)
{
    (void)req;
    (void)arg;
    json_t *errors = json_pack("[{s:s, s:s, s:s}]", "field", "qty", "code", "too_small", "message",
                               "qty must be at least 1");
    http_res_problem_errors_take(res, 422, "invalid", "the order is not valid", errors);
}

static void thing_by_name(const http_request_t *req, http_response_t *res, void *arg)
{
    (void)req;
    (void)arg;
    http_res_text(res, 200, NULL, "by-name");
}

static void thing_fixed(const http_request_t *req, http_response_t *res, void *arg)
{
    (void)req;
    (void)arg;
    http_res_text(res, 200, NULL, "fixed");
}

/* Answers the client's address as http_req_client sees it behind the
 * proxies in arg (NULL: none trusted). */
static void client_of(const http_request_t *req, http_response_t *res, void *arg)
{
    char client[HTTP_ADDR_SIZE];
    if (http_req_client(req, arg, client, sizeof client) != 0)
        http_res_text(res, 500, NULL, "no client");
    else
        http_res_text(res, 200, NULL, client);
}

/* Answers the request target as sent. */
static void target_of(const http_request_t *req, http_response_t *res, void *arg)
{
    (void)arg;
    http_res_text(res, 200, NULL, http_req_target(req));
}

static http_proxies_t local_proxy; /* 127.0.0.1 */

/* --- deferred answers: handlers hand their answers to an answerer thread --- */

#define LATER_MAX 64
static pthread_mutex_t later_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t later_more = PTHREAD_COND_INITIALIZER;
static http_deferred_t *later[LATER_MAX];
static char later_ids[LATER_MAX][32];
static size_t later_count;

/* Defers its answer: the test's answerer thread gives it. */
static void answer_later(const http_request_t *req, http_response_t *res, void *arg)
{
    (void)arg;
    http_deferred_t *deferred = http_defer(res);
    if (!deferred)
        return;
    pthread_mutex_lock(&later_lock);
    if (later_count == LATER_MAX) {
        pthread_mutex_unlock(&later_lock);
        http_res_text(http_deferred_response(deferred), 507, NULL, "full");
        http_deferred_finish(&deferred);
        return;
    }
    snprintf(later_ids[later_count], sizeof later_ids[0], "%s", http_req_param(req, "id"));
    later[later_count++] = deferred;
    pthread_cond_broadcast(&later_more);
    pthread_mutex_unlock(&later_lock);
}

/* Defers, then answers at once, before returning. */
static void answer_now(const http_request_t *req, http_response_t *res, void *arg)
{
    (void)req;
    (void)arg;
    http_deferred_t *deferred = http_defer(res);
    if (!deferred)
        return;
    http_res_text(http_deferred_response(deferred), 201, NULL, "at once");
    http_deferred_finish(&deferred);
}

/* Binary bytes, a NUL among them: the whole body is sent, not up to the NUL. */
static void bytes_of(const http_request_t *req, http_response_t *res, void *arg)
{
    (void)req;
    (void)arg;
    static const unsigned char pdf[] = {'%', 'P', 'D', 'F', '-', 0, 0xff, 0x01, '\n'};
    unsigned char *body = malloc(sizeof pdf);
    if (body)
        memcpy(body, pdf, sizeof pdf);
    http_res_bytes_take(res, 200, "application/pdf", body, sizeof pdf);
}

static void root(const http_request_t *req, http_response_t *res, void *arg)
{
    (void)req;
    (void)arg;
    http_res_text(res, 200, NULL, "root");
}

static int group_setup(void **state)
{
    (void)state;
    log_file = tmpfile();
    if (!log_file || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return -1;
    log_init("test", LOG_DEBUG);
    log_set_output(log_file);
    http_config_t config = {.addr = "127.0.0.1:0",
                            .body_limit = BODY_LIMIT,
                            .threads = 4,
                            .timeout_s = 2,
                            .svc = "test"};
    server = http_server_new(&config);
    if (!server || http_route(server, "GET", "/v1/orders/{id}", get_order, NULL) != 0 ||
        http_route(server, "DELETE", "/v1/orders/{id}", delete_order, NULL) != 0 ||
        http_route(server, "GET", "/v1/orders/{id}/lines/{line}", get_order_line, NULL) != 0 ||
        http_route(server, "POST", "/v1/orders", create_order, NULL) != 0 ||
        http_route(server, "POST", "/v1/echo", echo_body, NULL) != 0 ||
        http_route(server, "POST", "/v1/small", echo_body, NULL) != 0 ||
        http_route_body_limit(server, "POST", "/v1/small", SMALL_LIMIT) != 0 ||
        http_route(server, "GET", "/v1/silent", says_nothing, NULL) != 0 ||
        http_route(server, "POST", "/v1/invalid", invalid_fields, NULL) != 0 ||
        http_route(server, "GET", "/v1/things/{name}", thing_by_name, NULL) != 0 ||
        http_route(server, "GET", "/v1/things/fixed", thing_fixed, NULL) != 0 ||
        http_proxies_parse("127.0.0.1", &local_proxy) != 0 ||
        http_route(server, "GET", "/v1/client/behind", client_of, &local_proxy) != 0 ||
        http_route(server, "GET", "/v1/client/direct", client_of, NULL) != 0 ||
        http_route(server, "GET", "/v1/target", target_of, NULL) != 0 ||
        http_route(server, "GET", "/v1/later/{id}", answer_later, NULL) != 0 ||
        http_route(server, "GET", "/v1/now", answer_now, NULL) != 0 ||
        http_route(server, "GET", "/v1/bytes", bytes_of, NULL) != 0 ||
        http_route(server, "GET", "/", root, NULL) != 0 || http_server_start(server) != 0)
        return -1;
    port = http_server_port(server);
    return port > 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    http_server_destroy(&server);
    http_server_destroy(&server); /* NULL-safe, idempotent */
    log_set_output(NULL);
    if (log_file)
        fclose(log_file);
    metrics_shutdown();
    curl_global_cleanup();
    return 0;
}

/* --- a libcurl client -------------------------------------------------- */

typedef struct {
    long status;
    char body[4096];
    size_t body_len;
    char content_type[128];
    char cache_control[64];
    char allow[128];
    char location[128];
} reply_t;

static size_t on_body(char *bytes, size_t size, size_t count, void *userdata)
{
    reply_t *reply = userdata;
    size_t n = size * count;
    size_t room = sizeof reply->body - 1 - reply->body_len;
    size_t keep = n < room ? n : room;
    memcpy(reply->body + reply->body_len, bytes, keep);
    reply->body_len += keep;
    reply->body[reply->body_len] = '\0';
    return n;
}

/* Copies the value of header `name` from a raw "Name: value\r\n" line. */
static void take_header(const char *line, size_t len, const char *name, char *out, size_t cap)
{
    size_t name_len = strlen(name);
    if (len <= name_len + 1 || strncasecmp(line, name, name_len) != 0 || line[name_len] != ':')
        return;
    const char *value = line + name_len + 1;
    size_t value_len = len - name_len - 1;
    while (value_len && (*value == ' '))
        value++, value_len--;
    while (value_len && (value[value_len - 1] == '\r' || value[value_len - 1] == '\n'))
        value_len--;
    snprintf(out, cap, "%.*s", (int)value_len, value);
}

static size_t on_header(char *line, size_t size, size_t count, void *userdata)
{
    reply_t *reply = userdata;
    size_t len = size * count;
    take_header(line, len, "Content-Type", reply->content_type, sizeof reply->content_type);
    take_header(line, len, "Cache-Control", reply->cache_control, sizeof reply->cache_control);
    take_header(line, len, "Allow", reply->allow, sizeof reply->allow);
    take_header(line, len, "Location", reply->location, sizeof reply->location);
    return len;
}

/* One request on a fresh handle to the server at port_to; 0 ok (any
 * status), -1 transport error. */
static int request_at(unsigned port_to, const char *method, const char *path,
                      const char *content_type, const char *body, size_t body_len,
                      const char *extra_header, reply_t *reply)
{
    memset(reply, 0, sizeof *reply);
    CURL *curl = curl_easy_init();
    if (!curl)
        return -1;
    char url[2048];
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", port_to, path);
    struct curl_slist *headers = curl_slist_append(NULL, "Expect:");
    char line[256];
    if (content_type) {
        snprintf(line, sizeof line, "Content-Type: %s", content_type);
        headers = curl_slist_append(headers, line);
    }
    if (extra_header)
        headers = curl_slist_append(headers, extra_header);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, reply);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, reply);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    else
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)body_len);
    }
    CURLcode rc = curl_easy_perform(curl);
    if (rc == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply->status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    return rc == CURLE_OK ? 0 : -1;
}

/* The same to the group's server. */
static int request(const char *method, const char *path, const char *content_type, const char *body,
                   size_t body_len, const char *extra_header, reply_t *reply)
{
    return request_at(port, method, path, content_type, body, body_len, extra_header, reply);
}

static void get(const char *path, reply_t *reply)
{
    assert_int_equal(request("GET", path, NULL, NULL, 0, NULL, reply), 0);
}

static void post_json(const char *path, const char *content_type, const char *body, reply_t *reply)
{
    assert_int_equal(request("POST", path, content_type, body, strlen(body), NULL, reply), 0);
}

/* --- a raw socket client ------------------------------------------------- */

static int raw_connect(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct timeval timeout = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Sends bytes (the server may hang up midway: errors are ignored), then,
 * if half_close, shuts down writing; reads until EOF or timeout into
 * reply (NUL-terminated). Returns bytes read. */
static size_t raw_exchange(const void *bytes, size_t len, bool half_close, char *reply, size_t cap)
{
    int fd = raw_connect();
    assert_true(fd >= 0);
    const char *cursor = bytes;
    while (len > 0) {
        ssize_t sent = send(fd, cursor, len, MSG_NOSIGNAL);
        if (sent <= 0)
            break;
        cursor += sent;
        len -= (size_t)sent;
    }
    if (half_close)
        shutdown(fd, SHUT_WR);
    size_t got = 0;
    while (got + 1 < cap) {
        ssize_t n = recv(fd, reply + got, cap - 1 - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    reply[got] = '\0';
    close(fd);
    return got;
}

/* --- tests ---------------------------------------------------------------- */

static void test_route_with_params_query_and_headers(void **state)
{
    (void)state;
    reply_t reply;
    assert_int_equal(request("GET", "/v1/orders/42?expand=lines&note=a%20b", NULL, NULL, 0,
                             "X-Trace-Id: abc-123", &reply),
                     0);
    assert_int_equal(reply.status, 200);
    assert_string_equal(reply.content_type, "application/json");
    assert_string_equal(reply.cache_control, "no-store");
    assert_string_equal(reply.body, "{\"id\":\"42\",\"expand\":\"lines\",\"trace\":\"abc-123\","
                                    "\"method\":\"GET\",\"path\":\"/v1/orders/42\"}");
    /* absent query and header are NULL (null by s:s?) */
    get("/v1/orders/7", &reply);
    assert_string_equal(reply.body, "{\"id\":\"7\",\"expand\":null,\"trace\":null,"
                                    "\"method\":\"GET\",\"path\":\"/v1/orders/7\"}");
    get("/v1/orders/9/lines/3", &reply);
    assert_int_equal(reply.status, 200);
    assert_string_equal(reply.body, "{\"id\":\"9\",\"line\":\"3\"}");
    get("/", &reply);
    assert_int_equal(reply.status, 200);
    assert_string_equal(reply.body, "root");
}

static void test_params_are_percent_decoded_per_segment(void **state)
{
    (void)state;
    reply_t reply;
    /* an encoded slash stays inside the segment instead of splitting it */
    get("/v1/orders/a%2Fb", &reply);
    assert_int_equal(reply.status, 200);
    assert_non_null(strstr(reply.body, "\"id\":\"a/b\""));
    get("/v1/orders/caf%C3%A9%20au%20lait", &reply);
    assert_int_equal(reply.status, 200);
    assert_non_null(strstr(reply.body, "\"id\":\"caf\xc3\xa9 au lait\""));
    get("/v1/orders/a%2Fb/lines/x%3Fy", &reply);
    assert_string_equal(reply.body, "{\"id\":\"a/b\",\"line\":\"x?y\"}");
    /* literal segments compare decoded */
    get("/v1/%6Frders/5", &reply);
    assert_int_equal(reply.status, 200);
    /* a malformed escape or an encoded NUL is a bad request, not a crash */
    get("/v1/orders/%zz", &reply);
    assert_int_equal(reply.status, 400);
    assert_non_null(strstr(reply.body, "\"code\":\"invalid_path\""));
    get("/v1/orders/%00", &reply);
    assert_int_equal(reply.status, 400);
    get("/v1/orders/%4", &reply);
    assert_int_equal(reply.status, 400);
}

static void test_target_is_kept_as_sent(void **state)
{
    (void)state;
    reply_t reply;
    /* a signature over every query parameter needs them undecoded and in order */
    get("/v1/target?mdOrder=a%2Fb&status=1&x=%D0%B0+b", &reply);
    assert_int_equal(reply.status, 200);
    assert_string_equal(reply.body, "/v1/target?mdOrder=a%2Fb&status=1&x=%D0%B0+b");
}

static void test_binary_body_is_sent_whole_and_not_cached(void **state)
{
    (void)state;
    reply_t reply;
    get("/v1/bytes", &reply);
    assert_int_equal(reply.status, 200);
    assert_string_equal(reply.content_type, "application/pdf");
    assert_string_equal(reply.cache_control, "no-store");
    assert_int_equal(reply.body_len, 9);
    static const unsigned char expected[] = {'%', 'P', 'D', 'F', '-', 0, 0xff, 0x01, '\n'};
    assert_memory_equal(reply.body, expected, sizeof expected);
}

static void test_first_match_wins(void **state)
{
    (void)state;
    reply_t reply;
    get("/v1/things/fixed", &reply);
    assert_int_equal(reply.status, 200);
    assert_string_equal(reply.body, "by-name");
}

static void test_unknown_path_is_404_problem(void **state)
{
    (void)state;
    reply_t reply;
    get("/nope", &reply);
    assert_int_equal(reply.status, 404);
    assert_string_equal(reply.content_type, "application/problem+json");
    assert_string_equal(reply.cache_control, "no-store");
    assert_string_equal(reply.body,
                        "{\"type\":\"about:blank\",\"title\":\"not found\",\"status\":404,"
                        "\"code\":\"not_found\",\"detail\":\"no route matches this path\"}");
    /* strict segments: no trailing slash, no empty param, no extra depth */
    get("/v1/orders/42/", &reply);
    assert_int_equal(reply.status, 404);
    get("/v1/orders//lines/1", &reply);
    assert_int_equal(reply.status, 404);
    get("/v1/orders", &reply);
    assert_int_equal(reply.status, 405); /* POST /v1/orders exists */
    get("/v1/orders/1/lines/2/3", &reply);
    assert_int_equal(reply.status, 404);

    /* answered before the body was read: the connection closes, and the
     * unread body is never taken for a second request */
    const char *smuggle = "POST /nope HTTP/1.1\r\nHost: x\r\nContent-Length: 45\r\n\r\n"
                          "GET /v1/orders/smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
    char answer[4096];
    raw_exchange(smuggle, strlen(smuggle), false, answer, sizeof answer);
    assert_true(strncmp(answer, "HTTP/1.1 404", 12) == 0);
    assert_null(strstr(answer, "smuggled"));
    assert_null(strstr(answer + 12, "HTTP/1.1"));
}

static void test_pipelined_requests_are_answered_in_order(void **state)
{
    (void)state;
    const char *pipelined = "GET /v1/orders/p1 HTTP/1.1\r\nHost: x\r\n\r\n"
                            "GET /v1/orders/p2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    char answer[4096];
    raw_exchange(pipelined, strlen(pipelined), false, answer, sizeof answer);
    const char *first = strstr(answer, "\"id\":\"p1\"");
    const char *second = strstr(answer, "\"id\":\"p2\"");
    assert_non_null(first);
    assert_non_null(second);
    assert_true(first < second);
}

static void test_wrong_method_is_405_with_allow(void **state)
{
    (void)state;
    reply_t reply;
    assert_int_equal(request("PUT", "/v1/orders/42", NULL, NULL, 0, NULL, &reply), 0);
    assert_int_equal(reply.status, 405);
    assert_string_equal(reply.allow, "GET, DELETE, HEAD");
    assert_string_equal(reply.content_type, "application/problem+json");
    assert_non_null(strstr(reply.body, "\"status\":405,\"code\":\"method_not_allowed\""));
    assert_int_equal(request("GET", "/v1/echo", NULL, NULL, 0, NULL, &reply), 0);
    assert_int_equal(reply.status, 405);
    assert_string_equal(reply.allow, "POST");
    /* the other methods of the path work; HEAD follows GET without a body */
    assert_int_equal(request("DELETE", "/v1/orders/42", NULL, NULL, 0, NULL, &reply), 0);
    assert_int_equal(reply.status, 204);
    assert_int_equal(request("HEAD", "/v1/orders/42", NULL, NULL, 0, NULL, &reply), 0);
    assert_int_equal(reply.status, 200);
    assert_int_equal(reply.body_len, 0);
    assert_string_equal(reply.content_type, "application/json");
}

static void test_body_within_limit_is_read_whole(void **state)
{
    (void)state;
    reply_t reply;
    char body[BODY_LIMIT];
    memset(body, 'x', sizeof body);
    assert_int_equal(request("POST", "/v1/echo", "text/plain", body, sizeof body, NULL, &reply), 0);
    assert_int_equal(reply.status, 200);
    assert_string_equal(reply.body, "1024:1024");
    assert_int_equal(request("POST", "/v1/echo", NULL, NULL, 0, NULL, &reply), 0);
    assert_string_equal(reply.body, "0:0");
}

static void test_oversized_body_is_413(void **state)
{
    (void)state;
    /* declared up front: answered before the body is read */
    char body[BODY_LIMIT + 1];
    memset(body, 'x', sizeof body);
    reply_t reply;
    assert_int_equal(request("POST", "/v1/echo", "text/plain", body, sizeof body,
                             "Expect: 100-continue", &reply),
                     0);
    assert_int_equal(reply.status, 413);
    assert_string_equal(reply.content_type, "application/problem+json");
    assert_string_equal(reply.body,
                        "{\"type\":\"about:blank\",\"title\":\"request body too large\","
                        "\"status\":413,\"code\":\"body_too_large\","
                        "\"detail\":\"the body exceeds the limit of 1024 bytes\"}");

    /* a declared length alone is enough: no body is ever sent here */
    const char *declared = "POST /v1/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n";
    char early[4096];
    raw_exchange(declared, strlen(declared), false, early, sizeof early);
    assert_true(strncmp(early, "HTTP/1.1 413", 12) == 0);

    /* chunked, no Content-Length: drained, then answered 413 */
    char chunk[600];
    memset(chunk, 'y', sizeof chunk);
    char raw[4096];
    int n = snprintf(raw, sizeof raw,
                     "POST /v1/echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n"
                     "258\r\n%.*s\r\n258\r\n%.*s\r\n0\r\n\r\n",
                     (int)sizeof chunk, chunk, (int)sizeof chunk, chunk);
    assert_true(n > 0 && (size_t)n < sizeof raw);
    char answer[4096];
    raw_exchange(raw, (size_t)n, false, answer, sizeof answer);
    assert_true(strncmp(answer, "HTTP/1.1 413", 12) == 0);
    assert_non_null(strstr(answer, "\"code\":\"body_too_large\""));

    /* the same chunked request within the limit goes through */
    n = snprintf(raw, sizeof raw,
                 "POST /v1/echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n258\r\n%.*s\r\n0\r\n\r\n",
                 (int)sizeof chunk, chunk);
    raw_exchange(raw, (size_t)n, false, answer, sizeof answer);
    assert_true(strncmp(answer, "HTTP/1.1 200", 12) == 0);
    assert_non_null(strstr(answer, "600:600"));
}

/* A route's own, lower limit holds like the server's: by Content-Length
 * before the body is read, and on a chunked body; other routes keep the
 * server's limit. */
static void test_route_body_limit(void **state)
{
    (void)state;
    char body[SMALL_LIMIT + 1];
    memset(body, 'z', sizeof body);
    reply_t reply;
    assert_int_equal(request("POST", "/v1/small", "text/plain", body, SMALL_LIMIT, NULL, &reply),
                     0);
    assert_int_equal(reply.status, 200);
    assert_string_equal(reply.body, "100:100");
    assert_int_equal(request("POST", "/v1/small", "text/plain", body, sizeof body, NULL, &reply),
                     0);
    assert_int_equal(reply.status, 413);
    assert_string_equal(reply.body,
                        "{\"type\":\"about:blank\",\"title\":\"request body too large\","
                        "\"status\":413,\"code\":\"body_too_large\","
                        "\"detail\":\"the body exceeds the limit of 100 bytes\"}");
    const char *declared = "POST /v1/small HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\n";
    char early[4096];
    raw_exchange(declared, strlen(declared), false, early, sizeof early);
    assert_true(strncmp(early, "HTTP/1.1 413", 12) == 0);
    char raw[512];
    int n = snprintf(raw, sizeof raw,
                     "POST /v1/small HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n65\r\n%.*s\r\n0\r\n\r\n",
                     (int)sizeof body, body);
    assert_true(n > 0 && (size_t)n < sizeof raw);
    char answer[4096];
    raw_exchange(raw, (size_t)n, false, answer, sizeof answer);
    assert_true(strncmp(answer, "HTTP/1.1 413", 12) == 0);
    /* the same length elsewhere is well within the server's limit */
    assert_int_equal(request("POST", "/v1/echo", "text/plain", body, sizeof body, NULL, &reply), 0);
    assert_int_equal(reply.status, 200);
    /* only a route that exists, and only before start */
    assert_int_equal(http_route_body_limit(server, "POST", "/v1/nothing", 10), -1);
    assert_int_equal(http_route_body_limit(server, "GET", "/v1/small", 10), -1);
    assert_int_equal(http_route_body_limit(server, "POST", "/v1/small", 10), -1);
}

static void test_trusted_proxies_parse(void **state)
{
    (void)state;
    http_proxies_t proxies;
    assert_int_equal(http_proxies_parse(NULL, &proxies), 0);
    assert_int_equal(proxies.count, 0);
    assert_int_equal(http_proxies_parse(" ", &proxies), 0);
    assert_int_equal(proxies.count, 0);
    assert_int_equal(
        http_proxies_parse("10.0.0.0/8, 127.0.0.1 ,::1,fd00::/8,,192.0.2.0/24", &proxies), 0);
    assert_int_equal(proxies.count, 5);
    const char *inside[] = {"10.1.2.3",     "127.0.0.1",   "::1",
                            "fd12:3456::1", "192.0.2.255", "::ffff:10.9.9.9"};
    for (size_t i = 0; i < sizeof inside / sizeof inside[0]; i++)
        if (!http_proxies_contain(&proxies, inside[i]))
            fail_msg("%s is in the list", inside[i]);
    const char *outside[] = {"11.0.0.1", "127.0.0.2", "::2", "fe00::1", "192.0.3.0", "garbage", ""};
    for (size_t i = 0; i < sizeof outside / sizeof outside[0]; i++)
        if (http_proxies_contain(&proxies, outside[i]))
            fail_msg("%s is not in the list", outside[i]);
    assert_int_equal(http_proxies_parse("0.0.0.0/0", &proxies), 0);
    assert_true(http_proxies_contain(&proxies, "203.0.113.1"));
    assert_false(http_proxies_contain(&proxies, "2001:db8::1"));
    assert_int_equal(http_proxies_parse("2001:db8:1:2::/63", &proxies), 0);
    assert_true(http_proxies_contain(&proxies, "2001:db8:1:3:ffff::1"));
    assert_false(http_proxies_contain(&proxies, "2001:db8:1:4::1"));
    const char *bad[] = {"10.0.0.0/33", "::1/129",    "10.0.0/8",  "localhost",
                         "10.0.0.1/",   "10.0.0.1/x", "1.2.3.4/-1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (http_proxies_parse(bad[i], &proxies) != -1)
            fail_msg("\"%s\" parsed", bad[i]);
        assert_int_equal(proxies.count, 0);
    }
    char many[1024] = "";
    for (int i = 0; i <= HTTP_PROXIES_MAX; i++) {
        size_t used = strlen(many);
        snprintf(many + used, sizeof many - used, "%s10.0.0.%d", i ? "," : "", i);
    }
    assert_int_equal(http_proxies_parse(many, &proxies), -1);
}

/* The client is the first hop, read from the end, that is not a trusted
 * proxy: a client's own X-Forwarded-For entries are never reached. */
static void test_client_address_behind_proxies(void **state)
{
    (void)state;
    http_proxies_t local, chain;
    assert_int_equal(http_proxies_parse("127.0.0.1", &local), 0);
    assert_int_equal(http_proxies_parse("127.0.0.1, 10.0.0.0/8", &chain), 0);
    const struct {
        const char *peer;
        const char *lines[3];
        size_t count;
        const http_proxies_t *trusted;
        const char *client;
    } cases[] = {
        /* no proxy trusted: the peer, whatever the header says */
        {"203.0.113.9", {"198.51.100.7"}, 1, NULL, "203.0.113.9"},
        {"203.0.113.9", {"198.51.100.7"}, 1, &local, "203.0.113.9"},
        /* behind the trusted proxy: the hop it appended */
        {"127.0.0.1", {"198.51.100.7"}, 1, &local, "198.51.100.7"},
        {"127.0.0.1", {"6.6.6.6, 198.51.100.7"}, 1, &local, "198.51.100.7"},
        {"127.0.0.1", {"6.6.6.6", "198.51.100.7"}, 2, &local, "198.51.100.7"},
        {"127.0.0.1", {"6.6.6.6,1.1.1.1", "198.51.100.7"}, 2, &local, "198.51.100.7"},
        /* a chain of trusted proxies is walked through */
        {"127.0.0.1", {"6.6.6.6, 198.51.100.7, 10.1.2.3"}, 1, &chain, "198.51.100.7"},
        {"127.0.0.1", {"6.6.6.6, 198.51.100.7", "10.1.2.3"}, 2, &chain, "198.51.100.7"},
        {"10.0.0.2", {"10.0.0.1"}, 1, &chain, "10.0.0.1"},
        /* but not past the first hop that is no proxy of ours */
        {"127.0.0.1", {"10.1.2.3, 198.51.100.7"}, 1, &chain, "198.51.100.7"},
        /* ports and brackets; an IPv4-mapped peer */
        {"127.0.0.1", {"198.51.100.7:4711"}, 1, &local, "198.51.100.7"},
        {"127.0.0.1", {"[2001:db8::1]:443"}, 1, &local, "2001:db8::1"},
        {"127.0.0.1", {" 2001:db8::1 "}, 1, &local, "2001:db8::1"},
        {"::ffff:127.0.0.1", {"198.51.100.7"}, 1, &local, "198.51.100.7"},
        /* garbage the proxy passed on: the proxy it is */
        {"127.0.0.1", {"198.51.100.7, unknown"}, 1, &local, "127.0.0.1"},
        {"127.0.0.1", {""}, 1, &local, "127.0.0.1"},
        {"127.0.0.1", {NULL}, 0, &local, "127.0.0.1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char client[HTTP_ADDR_SIZE] = "";
        assert_int_equal(http_client_address(cases[i].peer, cases[i].lines, cases[i].count,
                                             cases[i].trusted, client, sizeof client),
                         0);
        if (strcmp(client, cases[i].client) != 0)
            fail_msg("case %zu: expected %s, got %s", i, cases[i].client, client);
    }
    char small[8];
    assert_int_equal(http_client_address("2001:db8::1", NULL, 0, NULL, small, sizeof small), -1);
    assert_int_equal(http_client_address("nobody", NULL, 0, NULL, small, sizeof small), -1);
}

/* Over a real connection: the peer, or behind a trusted proxy the last
 * X-Forwarded-For hop, whichever line it is on. */
static void test_client_of_a_request(void **state)
{
    (void)state;
    char answer[4096];
    const char *direct = "GET /v1/client/direct HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                         "X-Forwarded-For: 198.51.100.7\r\n\r\n";
    raw_exchange(direct, strlen(direct), false, answer, sizeof answer);
    assert_non_null(strstr(answer, "\r\n\r\n127.0.0.1"));
    const char *behind = "GET /v1/client/behind HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                         "X-Forwarded-For: 6.6.6.6\r\nX-Trace: 1\r\n"
                         "x-forwarded-for: 198.51.100.7\r\n\r\n";
    raw_exchange(behind, strlen(behind), false, answer, sizeof answer);
    assert_non_null(strstr(answer, "\r\n\r\n198.51.100.7"));
    const char *none = "GET /v1/client/behind HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    raw_exchange(none, strlen(none), false, answer, sizeof answer);
    assert_non_null(strstr(answer, "\r\n\r\n127.0.0.1"));
}

static void test_json_body(void **state)
{
    (void)state;
    reply_t reply;
    post_json("/v1/orders", "application/json", "{\"sku\":\"A-1\",\"qty\":2}", &reply);
    assert_int_equal(reply.status, 201);
    assert_string_equal(reply.location, "/v1/orders/1");
    assert_string_equal(reply.body, "{\"got\":{\"sku\":\"A-1\",\"qty\":2},\"cached\":true}");
    post_json("/v1/orders", "Application/JSON; charset=utf-8", "{}", &reply);
    assert_int_equal(reply.status, 201);
    post_json("/v1/orders", "application/problem+json", "{}", &reply);
    assert_int_equal(reply.status, 201);
}

static void test_wrong_content_type_is_415(void **state)
{
    (void)state;
    reply_t reply;
    post_json("/v1/orders", "text/plain", "{}", &reply);
    assert_int_equal(reply.status, 415);
    assert_string_equal(reply.content_type, "application/problem+json");
    assert_non_null(strstr(reply.body, "\"status\":415,\"code\":\"unsupported_media_type\""));
    post_json("/v1/orders", "application/jsonx", "{}", &reply);
    assert_int_equal(reply.status, 415);
    assert_int_equal(request("POST", "/v1/orders", NULL, "{}", 2, "Content-Type:", &reply), 0);
    assert_int_equal(reply.status, 415);
}

static void test_broken_json_is_400_with_position(void **state)
{
    (void)state;
    reply_t reply;
    post_json("/v1/orders", "application/json", "{\"sku\":\n  \"A-1\",", &reply);
    assert_int_equal(reply.status, 400);
    assert_string_equal(reply.content_type, "application/problem+json");
    assert_string_equal(reply.body,
                        "{\"type\":\"about:blank\",\"title\":\"the body is not valid JSON\","
                        "\"status\":400,\"code\":\"invalid_json\",\"detail\":\"invalid JSON at "
                        "line 2, column 8: string or '}' expected near end of file\"}");
    post_json("/v1/orders", "application/json", "{\"a\":1,\"a\":2}", &reply);
    assert_int_equal(reply.status, 400);
    assert_non_null(strstr(reply.body, "duplicate object key"));
    post_json("/v1/orders", "application/json", "[1,2]", &reply);
    assert_int_equal(reply.status, 400);
    assert_non_null(strstr(reply.body, "\"detail\":\"the body must be a JSON object ({...})\""));
    post_json("/v1/orders", "application/json", "", &reply);
    assert_int_equal(reply.status, 400);
    /* invalid UTF-8 in jansson's message still yields a valid problem */
    post_json("/v1/orders", "application/json", "{\"a\":\xff\xfe}", &reply);
    assert_int_equal(reply.status, 400);
    json_error_t error;
    json_t *parsed = json_loads(reply.body, 0, &error);
    assert_non_null(parsed);
    json_decref(parsed);
}

static void test_problem_with_errors(void **state)
{
    (void)state;
    reply_t reply;
    post_json("/v1/invalid", NULL, "", &reply);
    assert_int_equal(reply.status, 422);
    assert_string_equal(reply.content_type, "application/problem+json");
    assert_string_equal(reply.body,
                        "{\"type\":\"about:blank\",\"title\":\"the order is not valid\","
                        "\"status\":422,\"code\":\"invalid\",\"errors\":[{\"field\":\"qty\","
                        "\"code\":\"too_small\",\"message\":\"qty must be at least 1\"}]}");
}

static void test_handler_that_sets_nothing_is_500(void **state)
{
    (void)state;
    reply_t reply;
    get("/v1/silent", &reply);
    assert_int_equal(reply.status, 500);
    assert_string_equal(reply.content_type, "application/problem+json");
    assert_non_null(strstr(reply.body, "\"status\":500,\"code\":\"internal\""));
}

static void test_requests_are_counted_and_logged(void **state)
{
    (void)state;
    metrics_counter_t *ok = metrics_counter(
        "http_requests_total", "svc=\"test\",route=\"/v1/orders/{id}\",method=\"GET\",code=\"200\"",
        "HTTP requests answered.");
    metrics_counter_t *missing = metrics_counter(
        "http_requests_total", "svc=\"test\",route=\"unmatched\",method=\"other\",code=\"404\"",
        "HTTP requests answered.");
    assert_non_null(ok);
    assert_non_null(missing);
    uint64_t ok_before = metrics_counter_value(ok);
    uint64_t missing_before = metrics_counter_value(missing);
    reply_t reply;
    get("/v1/orders/counted?secret=token", &reply);
    get("/v1/orders/counted", &reply);
    assert_int_equal(request("BREW", "/coffee", NULL, NULL, 0, NULL, &reply), 0);
    assert_int_equal(reply.status, 404);
    assert_int_equal(metrics_counter_value(ok), ok_before + 2);
    assert_int_equal(metrics_counter_value(missing), missing_before + 1);

    char *text = metrics_render();
    assert_non_null(text);
    assert_non_null(strstr(text, "# TYPE http_request_duration_seconds histogram\n"));
    assert_non_null(strstr(text, "http_request_duration_seconds_count{svc=\"test\","
                                 "route=\"/v1/orders/{id}\"} "));
    assert_non_null(strstr(text,
                           "http_request_duration_seconds_bucket{svc=\"test\",route=\"unmatched\","
                           "le=\"+Inf\"} "));
    free(text);

    /* the access log line, without the query string */
    fflush(log_file);
    rewind(log_file);
    char line[2048];
    bool found = false;
    while (fgets(line, sizeof line, log_file)) {
        if (strstr(line, "\"msg\":\"http request\"") &&
            strstr(line, "\"path\":\"/v1/orders/counted\"")) {
            assert_non_null(strstr(line, "\"route\":\"/v1/orders/{id}\""));
            assert_non_null(strstr(line, "\"status\":200"));
            assert_null(strstr(line, "secret"));
            found = true;
        }
    }
    assert_true(found);
    fseek(log_file, 0, SEEK_END);
}

#define CLIENTS             8
#define REQUESTS_PER_CLIENT 40

static void *client_thread(void *arg)
{
    int client = (int)(intptr_t)arg;
    for (int i = 0; i < REQUESTS_PER_CLIENT; i++) {
        char path[64], expected[64], body[64];
        reply_t reply;
        snprintf(path, sizeof path, "/v1/orders/c%d-%d", client, i);
        snprintf(expected, sizeof expected, "\"id\":\"c%d-%d\"", client, i);
        if (request("GET", path, NULL, NULL, 0, NULL, &reply) != 0 || reply.status != 200 ||
            !strstr(reply.body, expected))
            return (void *)1;
        snprintf(body, sizeof body, "{\"n\":%d}", i);
        snprintf(expected, sizeof expected, "{\"got\":{\"n\":%d},\"cached\":true}", i);
        if (request("POST", "/v1/orders", "application/json", body, strlen(body), NULL, &reply) !=
                0 ||
            reply.status != 201 || strcmp(reply.body, expected) != 0)
            return (void *)1;
    }
    return NULL;
}

static void test_concurrent_clients(void **state)
{
    (void)state;
    pthread_t threads[CLIENTS];
    for (int i = 0; i < CLIENTS; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, client_thread, (void *)(intptr_t)i), 0);
    for (int i = 0; i < CLIENTS; i++) {
        void *result = (void *)1;
        assert_int_equal(pthread_join(threads[i], &result), 0);
        assert_null(result);
    }
}

#define LATER_CLIENTS 40 /* ten times the server's threads */

typedef struct {
    unsigned port;
    int index;
    reply_t reply;
    int rc;
} later_client_t;

static void *later_client(void *arg)
{
    later_client_t *client = arg;
    char path[64];
    snprintf(path, sizeof path, "/v1/later/c%d", client->index);
    client->rc = request_at(client->port, "GET", path, NULL, NULL, 0, NULL, &client->reply);
    return NULL;
}

/* Waits up to timeout_ms until count answers are deferred; the count. */
static size_t later_wait(size_t count, int timeout_ms)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&later_lock);
    while (later_count < count && pthread_cond_timedwait(&later_more, &later_lock, &deadline) == 0)
        ;
    size_t got = later_count;
    pthread_mutex_unlock(&later_lock);
    return got;
}

/* Every answer waits until all of them are deferred: with four threads,
 * forty requests can only all be waiting if none holds its thread. */
static void test_deferred_answers_wait_without_threads(void **state)
{
    (void)state;
    later_count = 0;
    later_client_t clients[LATER_CLIENTS];
    pthread_t threads[LATER_CLIENTS];
    for (int i = 0; i < LATER_CLIENTS; i++) {
        clients[i] = (later_client_t){.port = port, .index = i};
        assert_int_equal(pthread_create(&threads[i], NULL, later_client, &clients[i]), 0);
    }
    assert_int_equal(later_wait(LATER_CLIENTS, 8000), LATER_CLIENTS);
    /* a request that defers and answers at once, while forty wait */
    reply_t now;
    get("/v1/now", &now);
    assert_int_equal(now.status, 201);
    assert_string_equal(now.body, "at once");
    pthread_mutex_lock(&later_lock);
    for (size_t i = 0; i < later_count; i++) {
        json_t *body = json_pack("{s:s}", "id", later_ids[i]);
        http_res_json_take(http_deferred_response(later[i]), 200, body);
        http_deferred_finish(&later[i]);
        assert_null(later[i]);
    }
    later_count = 0;
    pthread_mutex_unlock(&later_lock);
    for (int i = 0; i < LATER_CLIENTS; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        assert_int_equal(clients[i].rc, 0);
        assert_int_equal(clients[i].reply.status, 200);
        char expected[64];
        snprintf(expected, sizeof expected, "{\"id\":\"c%d\"}", i);
        assert_string_equal(clients[i].reply.body, expected);
    }
    /* an answer finished with nothing set is a 500, not a hang */
    later_client_t silent = {.port = port, .index = 99};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, later_client, &silent), 0);
    assert_int_equal(later_wait(1, 5000), 1);
    pthread_mutex_lock(&later_lock);
    http_deferred_finish(&later[0]);
    later_count = 0;
    pthread_mutex_unlock(&later_lock);
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_int_equal(silent.reply.status, 500);
    http_deferred_finish(NULL);
}

/* Destroyed while an answer is missing: the server waits its idle timeout,
 * answers 503, and the answer that comes after is dropped safely. */
static void test_destroy_with_an_answer_missing(void **state)
{
    (void)state;
    later_count = 0;
    http_config_t config = {.addr = "127.0.0.1:0", .threads = 2, .timeout_s = 1, .svc = "t2"};
    http_server_t *other = http_server_new(&config);
    assert_non_null(other);
    assert_int_equal(http_route(other, "GET", "/v1/later/{id}", answer_later, NULL), 0);
    assert_int_equal(http_server_start(other), 0);
    later_client_t client = {.port = http_server_port(other), .index = 7};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, later_client, &client), 0);
    assert_int_equal(later_wait(1, 5000), 1);
    http_server_destroy(&other);
    assert_int_equal(pthread_join(thread, NULL), 0);
    /* answered 503 when the server got to it, else the connection closed */
    assert_true(client.rc != 0 || client.reply.status == 503);
    pthread_mutex_lock(&later_lock);
    http_res_text(http_deferred_response(later[0]), 200, NULL, "too late");
    http_deferred_finish(&later[0]);
    later_count = 0;
    pthread_mutex_unlock(&later_lock);
}

static void test_garbage_does_not_crash(void **state)
{
    (void)state;
    static const char *const inputs[] = {
        "\x00\x01\x02\xff\xfe garbage \r\n\r\n",
        "GET\r\n\r\n",
        "GET / HTTP/9.9\r\n\r\n",
        "GET * HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET http://x/v1/orders/1 HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /v1/orders/1 HTTP/1.1\r\nno colon here\r\n\r\n",
        "GET /v1/orders/%ff%fe%00 HTTP/1.1\r\nHost: x\r\n\r\n",
        "POST /v1/orders HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        "POST /v1/orders HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n",
        "POST /v1/orders HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n{\"a\"",
        "POST /v1/orders HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "\xef\xbb\xbf\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
    };
    char answer[8192];
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
        size_t len = strlen(inputs[i]);
        if (i == 0)
            len = 18; /* starts with NUL bytes */
        raw_exchange(inputs[i], len, true, answer, sizeof answer);
    }
    /* a request line far over MHD's per-connection memory */
    size_t huge_len = 200000;
    char *huge = malloc(huge_len);
    assert_non_null(huge);
    memcpy(huge, "GET /", 5);
    memset(huge + 5, 'a', huge_len - 5);
    raw_exchange(huge, huge_len, true, answer, sizeof answer);
    /* random bytes */
    unsigned seed = 12345;
    for (size_t i = 0; i < huge_len; i++) {
        seed = seed * 1103515245u + 12345u;
        huge[i] = (char)(seed >> 16);
    }
    for (int round = 0; round < 5; round++)
        raw_exchange(huge + round * 1000, 4096, true, answer, sizeof answer);
    free(huge);
    /* a client that hangs up mid-body */
    const char *partial = "POST /v1/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\nabc";
    raw_exchange(partial, strlen(partial), true, answer, sizeof answer);

    reply_t reply;
    get("/v1/orders/still-alive", &reply);
    assert_int_equal(reply.status, 200);
    assert_non_null(strstr(reply.body, "still-alive"));
}

static void test_config_and_route_validation(void **state)
{
    (void)state;
    const char *bad_addrs[] = {"nonsense",
                               "127.0.0.1",
                               "127.0.0.1:",
                               "127.0.0.1:99999",
                               "localhost:80",
                               "1.2.3:80",
                               ":80x",
                               "[::1:80",
                               ""};
    for (size_t i = 0; i < sizeof bad_addrs / sizeof bad_addrs[0]; i++) {
        http_config_t config = {.addr = bad_addrs[i]};
        assert_null(http_server_new(&config));
    }
    const char *good_addrs[] = {":0", "0.0.0.0:0", "127.0.0.1:8081", "[::1]:0"};
    for (size_t i = 0; i < sizeof good_addrs / sizeof good_addrs[0]; i++) {
        http_config_t config = {.addr = good_addrs[i], .svc = "t"};
        http_server_t *other = http_server_new(&config);
        assert_non_null(other);
        http_server_destroy(&other);
        assert_null(other);
    }

    http_config_t config = {.addr = "127.0.0.1:0", .svc = "t"};
    http_server_t *other = http_server_new(&config);
    assert_non_null(other);
    const char *bad_patterns[] = {"",        "v1/x",      "/v1//x",    "/v1/x/",
                                  "/v1/{}",  "/v1/{id",   "/v1/a{id}", "/v1/{i-d}",
                                  "/v1/x?y", "/v1/\"q\"", "/v1/a%20"};
    for (size_t i = 0; i < sizeof bad_patterns / sizeof bad_patterns[0]; i++)
        assert_int_equal(http_route(other, "GET", bad_patterns[i], root, NULL), -1);
    assert_int_equal(http_route(other, "get", "/x", root, NULL), -1);
    assert_int_equal(http_route(other, "GET", "/x", NULL, NULL), -1);
    assert_int_equal(http_route(other, "GET", "/x/{id}/y", root, NULL), 0);
    assert_int_equal(http_server_start(other), 0);
    assert_true(http_server_port(other) > 0);
    assert_int_not_equal(http_server_port(other), port);
    assert_int_equal(http_route(other, "GET", "/late", root, NULL), -1);
    http_server_destroy(&other);

    /* the address is taken by the group's server */
    char taken[32];
    snprintf(taken, sizeof taken, "127.0.0.1:%u", port);
    config.addr = taken;
    other = http_server_new(&config);
    assert_non_null(other);
    assert_int_equal(http_server_port(other), port);
    assert_int_equal(http_server_start(other), -1);
    http_server_destroy(&other);
    http_server_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_route_with_params_query_and_headers),
        cmocka_unit_test(test_params_are_percent_decoded_per_segment),
        cmocka_unit_test(test_target_is_kept_as_sent),
        cmocka_unit_test(test_binary_body_is_sent_whole_and_not_cached),
        cmocka_unit_test(test_first_match_wins),
        cmocka_unit_test(test_unknown_path_is_404_problem),
        cmocka_unit_test(test_pipelined_requests_are_answered_in_order),
        cmocka_unit_test(test_wrong_method_is_405_with_allow),
        cmocka_unit_test(test_body_within_limit_is_read_whole),
        cmocka_unit_test(test_oversized_body_is_413),
        cmocka_unit_test(test_route_body_limit),
        cmocka_unit_test(test_trusted_proxies_parse),
        cmocka_unit_test(test_client_address_behind_proxies),
        cmocka_unit_test(test_client_of_a_request),
        cmocka_unit_test(test_json_body),
        cmocka_unit_test(test_wrong_content_type_is_415),
        cmocka_unit_test(test_broken_json_is_400_with_position),
        cmocka_unit_test(test_problem_with_errors),
        cmocka_unit_test(test_handler_that_sets_nothing_is_500),
        cmocka_unit_test(test_requests_are_counted_and_logged),
        cmocka_unit_test(test_concurrent_clients),
        cmocka_unit_test(test_deferred_answers_wait_without_threads),
        cmocka_unit_test(test_destroy_with_an_answer_missing),
        cmocka_unit_test(test_garbage_does_not_crash),
        cmocka_unit_test(test_config_and_route_validation),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
