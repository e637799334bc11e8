/*
 * http.c — the HTTP face of a conveyor process, over libmicrohttpd (http.h).
 *
 * libmicrohttpd calls one access handler several times per request: once
 * when the headers are in, once per chunk of body, once more when the body
 * is complete. This file turns that into "one call of a route handler with
 * the whole body", with the checks every service would otherwise repeat:
 *
 *   - routing happens as soon as the headers are in, so an unknown path
 *     (404), a wrong method (405 + Allow) or a declared Content-Length over
 *     the limit (413) is answered before a byte of body is read;
 *   - the body goes into a capped strbuf; a chunked body that outgrows the
 *     cap is drained and answered 413 (MHD cannot answer mid-upload);
 *   - path parameters are cut from the raw request target, before any
 *     percent-decoding, so "/v1/orders/a%2Fb" gives id "a/b" instead of
 *     failing to route. MHD hands the raw target to the URI-log callback,
 *     which is also where the per-request state is allocated; MHD's notify
 *     callback frees it, whatever happened to the connection.
 *
 * A handler may answer later, from another thread (http_defer): the
 * connection is suspended (MHD_suspend_connection) when the handler
 * returns without its answer, and resumed when the answer is finished;
 * MHD then calls the access handler once more, which sends it. The
 * deferred answer is shared by two sides — the one that finishes it and
 * the connection that sends it — and freed by whichever lets go last
 * (refs, under deferred_lock). A server being destroyed waits for the
 * answers it was promised (MHD must never be stopped with a connection
 * suspended), then answers what is still missing 503.
 *
 * Every answer goes through respond(), which also counts it
 * (http_requests_total, http_request_duration_seconds) and writes the debug
 * access log line. Route labels are bounded (pattern or "unmatched", a
 * fixed list of methods) so that clients cannot grow the metric registry.
 */
#include "common/hex.h"
#include "common/http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/numparse.h"
#include "common/strbuf.h"

#define HTTP_DEFAULT_BODY_LIMIT (1024u * 1024)
#define HTTP_DEFAULT_THREADS    4u
#define HTTP_DEFAULT_TIMEOUT_S  30u
#define HTTP_MAX_SEGMENTS       32
#define HTTP_PATTERN_MAX        256
#define HTTP_LABELS_MAX         1024

typedef struct {
    char *method;
    char *pattern;
    char *segment_text;                      /* pattern copy cut at '/' */
    const char *segments[HTTP_MAX_SEGMENTS]; /* "{name}" captures */
    size_t n_segments;
    http_handler_fn handler;
    void *arg;
    size_t body_limit; /* 0: the server's */
    bool probe;        /* served while the server is held (http_route_probe) */
    char *labels;      /* svc="..",route=".." */
    metrics_histogram_t *duration;
} route_t;

struct http_server {
    char *addr;
    char *svc;
    union {
        struct sockaddr any;
        struct sockaddr_in v4;
        struct sockaddr_in6 v6;
    } sockaddr;
    unsigned port;
    size_t body_limit;
    unsigned threads;
    unsigned timeout_s;
    route_t *routes;
    size_t n_routes;
    size_t cap_routes;
    char *unmatched_labels;
    metrics_histogram_t *unmatched_duration;
    struct MHD_Daemon *daemon;
    atomic_bool held; /* http_server_hold: only probes are served */
    /* under deferred_lock: */
    http_deferred_t *waiting; /* deferred answers its connections wait for */
    bool stopping;            /* destroy began: nothing more is deferred */
};

struct http_request {
    http_server_t *server;
    struct MHD_Connection *conn;
    const char *method; /* MHD's, valid for the request */
    const char *path;   /* MHD's, percent-decoded */
    char *raw_target;   /* as sent: "/v1/orders/a%2Fb?x=1" */
    char *segment_text; /* the raw path cut at '/', each piece decoded */
    const char *segments[HTTP_MAX_SEGMENTS];
    size_t n_segments;
    const route_t *route;      /* NULL until matched */
    http_deferred_t *deferred; /* the answer the suspended connection waits for */
    strbuf_t body;
    int64_t start_us;
    bool started;
    bool answered;
    bool too_large;
    bool out_of_memory;
};

typedef struct {
    char *name;
    char *value;
} header_t;

struct http_response {
    int status; /* 0 until a handler sets something */
    char *content_type;
    char *body;
    size_t body_len;
    bool no_store;
    bool failed; /* could not be built: answered 500 */
    header_t *headers;
    size_t n_headers;
    json_t *request_json;      /* http_req_json's parse, freed with the response */
    http_deferred_t *deferred; /* http_defer: the answer comes later */
};

struct http_deferred {
    http_response_t res;          /* the answer; written by its owner until finished */
    http_request_t *req;          /* the waiting connection's request, once it waits */
    http_deferred_t *prev, *next; /* the server's waiting list */
    int refs;                     /* 2: the side that finishes it, the connection that sends it */
    bool ready;                   /* finished: res holds the answer */
    bool suspended;               /* the connection was suspended for it */
    bool abandoned;               /* the connection no longer waits for it (stopping, closed) */
};

/* Guards every deferred answer's flags and refs and the servers' waiting
 * lists; one for the process: held only for a few assignments. */
static pthread_mutex_t deferred_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t deferred_gone = PTHREAD_COND_INITIALIZER; /* a waiting list shrank */

static char empty_body[1];

/* --- small helpers ------------------------------------------------------ */

static char *copy_text(const char *text)
{
    size_t len = strlen(text);
    char *copy = malloc(len + 1);
    if (copy)
        memcpy(copy, text, len + 1);
    return copy;
}

/* A Prometheus label value: backslash, quote and newline escaped. */
static int append_label_value(strbuf_t *out, const char *value)
{
    for (const char *p = value; *p; p++) {
        int rc = *p == '\\'   ? strbuf_append(out, "\\\\", 2)
                 : *p == '"'  ? strbuf_append(out, "\\\"", 2)
                 : *p == '\n' ? strbuf_append(out, "\\n", 2)
                              : strbuf_append(out, p, 1);
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* svc="<svc>",route="<route>"; caller owns the result; NULL if too long. */
static char *route_labels_new(const char *svc, const char *route)
{
    strbuf_t out;
    strbuf_init(&out, HTTP_LABELS_MAX / 2);
    if (strbuf_append_str(&out, "svc=\"") != 0 || append_label_value(&out, svc) != 0 ||
        strbuf_append_str(&out, "\",route=\"") != 0 || append_label_value(&out, route) != 0 ||
        strbuf_append_str(&out, "\"") != 0) {
        strbuf_release(&out);
        return NULL;
    }
    return strbuf_take(&out);
}

/* Methods outside this list are counted as "other": the label set must
 * not grow with whatever a client puts in its request line. */
static const char *method_label(const char *method)
{
    static const char *const known[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(method, known[i]) == 0)
            return known[i];
    return "other";
}

/* Decodes %XX in place; -1 on a malformed escape or %00. */
static int percent_decode(char *text)
{
    char *out = text;
    for (const char *in = text; *in; in++) {
        if (*in != '%') {
            *out++ = *in;
            continue;
        }
        int high = hex_value(in[1]);
        int low = high < 0 ? -1 : hex_value(in[2]);
        if (low < 0 || (high == 0 && low == 0))
            return -1;
        *out++ = (char)(high * 16 + low);
        in += 2;
    }
    *out = '\0';
    return 0;
}

/* --- server and routes -------------------------------------------------- */

/* "host:port", ":port" or "[v6]:port"; 0 ok, -1 if it does not parse. */
static int parse_addr(http_server_t *server, const char *addr)
{
    const char *colon = strrchr(addr, ':');
    int64_t port = 0;
    if (!colon || numparse_int_range(colon + 1, 0, 65535, &port) != 0)
        return -1;
    char host[64];
    size_t host_len = (size_t)(colon - addr);
    if (host_len >= sizeof host)
        return -1;
    memcpy(host, addr, host_len);
    host[host_len] = '\0';
    server->port = (unsigned)port;
    memset(&server->sockaddr, 0, sizeof server->sockaddr);
    if (host_len > 2 && host[0] == '[' && host[host_len - 1] == ']') {
        host[host_len - 1] = '\0';
        server->sockaddr.v6.sin6_family = AF_INET6;
        server->sockaddr.v6.sin6_port = htons((uint16_t)port);
        return inet_pton(AF_INET6, host + 1, &server->sockaddr.v6.sin6_addr) == 1 ? 0 : -1;
    }
    server->sockaddr.v4.sin_family = AF_INET;
    server->sockaddr.v4.sin_port = htons((uint16_t)port);
    if (host_len == 0) {
        server->sockaddr.v4.sin_addr.s_addr = htonl(INADDR_ANY);
        return 0;
    }
    return inet_pton(AF_INET, host, &server->sockaddr.v4.sin_addr) == 1 ? 0 : -1;
}

http_server_t *http_server_new(const http_config_t *config)
{
    http_server_t *server = calloc(1, sizeof *server);
    if (!server) {
        log_error("could not allocate the http server", LF_ERR("out_of_memory"));
        return NULL;
    }
    const char *addr = config && config->addr ? config->addr : "";
    if (parse_addr(server, addr) != 0) {
        log_error("invalid http address", LF_STR("addr", addr),
                  LF_STR("hint", "use host:port, :port or [v6]:port with a numeric host"),
                  LF_ERR("bad_addr"));
        goto fail;
    }
    server->body_limit = config->body_limit ? config->body_limit : HTTP_DEFAULT_BODY_LIMIT;
    server->threads = config->threads ? config->threads : HTTP_DEFAULT_THREADS;
    server->timeout_s = config->timeout_s ? config->timeout_s : HTTP_DEFAULT_TIMEOUT_S;
    server->addr = copy_text(addr);
    server->svc = copy_text(config->svc ? config->svc : "");
    server->unmatched_labels = server->svc ? route_labels_new(server->svc, "unmatched") : NULL;
    if (!server->addr || !server->svc || !server->unmatched_labels) {
        log_error("could not set up the http server", LF_STR("addr", addr),
                  LF_ERR("out_of_memory"));
        goto fail;
    }
    server->unmatched_duration =
        metrics_histogram("http_request_duration_seconds", server->unmatched_labels,
                          "Time from request line to response queued.");
    return server;
fail:
    http_server_destroy(&server);
    return NULL;
}

static void route_release(route_t *route)
{
    free(route->method);
    free(route->pattern);
    free(route->segment_text);
    free(route->labels);
}

/* Before the daemon stops: nothing more is deferred, the answers promised
 * are waited for up to the idle timeout, and the connections of those
 * still missing are resumed to be answered 503 (a suspended connection
 * must not outlive the daemon). */
static void deferred_stop(http_server_t *server)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += (time_t)server->timeout_s;
    pthread_mutex_lock(&deferred_lock);
    server->stopping = true;
    while (server->waiting &&
           pthread_cond_timedwait(&deferred_gone, &deferred_lock, &deadline) == 0)
        ;
    size_t abandoned = 0;
    for (http_deferred_t *deferred = server->waiting; deferred; deferred = deferred->next) {
        if (deferred->abandoned || deferred->ready)
            continue; /* resumed already: answered, or closed by the stop */
        deferred->abandoned = true;
        MHD_resume_connection(deferred->req->conn);
        abandoned++;
    }
    pthread_mutex_unlock(&deferred_lock);
    if (abandoned)
        log_warn("http server stopped before answers it was promised were given",
                 LF_STR("addr", server->addr), LF_INT("abandoned", (int64_t)abandoned),
                 LF_ERR("answer_abandoned"));
}

void http_server_destroy(http_server_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    http_server_t *server = *self_p;
    if (server->daemon) {
        deferred_stop(server);
        MHD_stop_daemon(server->daemon); /* joins the workers: no handler runs after */
    }
    for (size_t i = 0; i < server->n_routes; i++)
        route_release(&server->routes[i]);
    free(server->routes);
    free(server->unmatched_labels);
    free(server->svc);
    free(server->addr);
    free(server);
    *self_p = NULL;
}

/* A pattern is "/" or "/seg/seg..." where each segment is a non-empty
 * literal of printable ASCII (no quote, backslash, %, ?, # or braces) or
 * "{name}" with name in [A-Za-z0-9_]. */
static bool segment_is_valid(const char *segment)
{
    size_t len = strlen(segment);
    if (len == 0)
        return false;
    if (segment[0] == '{') {
        if (len < 3 || segment[len - 1] != '}')
            return false;
        for (size_t i = 1; i + 1 < len; i++) {
            char c = segment[i];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_'))
                return false;
        }
        return true;
    }
    for (const char *p = segment; *p; p++)
        if (*p <= ' ' || *p > '~' || strchr("\"\\%?#{}", *p))
            return false;
    return true;
}

static int route_parse_pattern(route_t *route, const char *pattern)
{
    size_t len = strlen(pattern);
    if (pattern[0] != '/' || len > HTTP_PATTERN_MAX)
        return -1;
    route->segment_text = copy_text(pattern + 1);
    if (!route->segment_text)
        return -1;
    if (len == 1)
        return 0; /* "/" has no segments */
    char *cursor = route->segment_text;
    for (;;) {
        char *slash = strchr(cursor, '/');
        if (slash)
            *slash = '\0';
        if (route->n_segments == HTTP_MAX_SEGMENTS || !segment_is_valid(cursor))
            return -1;
        route->segments[route->n_segments++] = cursor;
        if (!slash)
            return 0;
        cursor = slash + 1;
    }
}

static bool method_is_valid(const char *method)
{
    if (!*method)
        return false;
    for (const char *p = method; *p; p++)
        if (*p < 'A' || *p > 'Z')
            return false;
    return true;
}

int http_route_probe(http_server_t *server, const char *method, const char *pattern,
                     http_handler_fn handler, void *arg)
{
    if (http_route(server, method, pattern, handler, arg) != 0)
        return -1;
    server->routes[server->n_routes - 1].probe = true;
    return 0;
}

void http_server_hold(http_server_t *server, bool held)
{
    atomic_store(&server->held, held);
}

int http_route(http_server_t *server, const char *method, const char *pattern,
               http_handler_fn handler, void *arg)
{
    if (!server || !method || !pattern || !handler)
        return -1;
    if (server->daemon) {
        log_error("route added after the http server started", LF_STR("pattern", pattern),
                  LF_ERR("route_after_start"));
        return -1;
    }
    route_t route = {.handler = handler, .arg = arg};
    if (!method_is_valid(method) || route_parse_pattern(&route, pattern) != 0) {
        log_error("invalid route", LF_STR("method", method), LF_STR("pattern", pattern),
                  LF_ERR("bad_route"));
        goto fail;
    }
    route.method = copy_text(method);
    route.pattern = copy_text(pattern);
    route.labels = route_labels_new(server->svc, pattern);
    if (!route.method || !route.pattern || !route.labels)
        goto oom;
    if (server->n_routes == server->cap_routes) {
        size_t cap = server->cap_routes ? server->cap_routes * 2 : 8;
        route_t *grown = realloc(server->routes, cap * sizeof *grown);
        if (!grown)
            goto oom;
        server->routes = grown;
        server->cap_routes = cap;
    }
    route.duration = metrics_histogram("http_request_duration_seconds", route.labels,
                                       "Time from request line to response queued.");
    server->routes[server->n_routes++] = route;
    return 0;
oom:
    log_error("could not add route", LF_STR("pattern", pattern), LF_ERR("out_of_memory"));
fail:
    route_release(&route);
    return -1;
}

int http_route_body_limit(http_server_t *server, const char *method, const char *pattern,
                          size_t body_limit)
{
    if (!server || !method || !pattern || server->daemon)
        return -1;
    for (size_t i = 0; i < server->n_routes; i++) {
        route_t *route = &server->routes[i];
        if (strcmp(route->method, method) == 0 && strcmp(route->pattern, pattern) == 0) {
            route->body_limit = body_limit;
            return 0;
        }
    }
    log_error("no such route to limit", LF_STR("method", method), LF_STR("pattern", pattern),
              LF_ERR("bad_route"));
    return -1;
}

/* --- responses ---------------------------------------------------------- */

static void response_release(http_response_t *res)
{
    free(res->content_type);
    free(res->body);
    for (size_t i = 0; i < res->n_headers; i++) {
        free(res->headers[i].name);
        free(res->headers[i].value);
    }
    free(res->headers);
    json_decref(res->request_json);
    memset(res, 0, sizeof *res);
}

/* Replaces the body; takes body_take (malloc'd, may be NULL on OOM). */
static void response_set_body_take(http_response_t *res, int status, const char *content_type,
                                   char *body_take, size_t len, bool no_store)
{
    free(res->body);
    free(res->content_type);
    res->status = status;
    res->body = body_take;
    res->body_len = len;
    res->no_store = no_store;
    res->content_type = copy_text(content_type);
    if (!res->body || !res->content_type)
        res->failed = true;
}

static void response_set_json_take(http_response_t *res, int status, const char *content_type,
                                   json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(body);
    response_set_body_take(res, status, content_type, text, text ? strlen(text) : 0, true);
}

void http_res_json_take(http_response_t *res, int status, json_t *body)
{
    response_set_json_take(res, status, "application/json", body);
}

void http_res_text(http_response_t *res, int status, const char *content_type, const char *text)
{
    const char *body = text ? text : "";
    response_set_body_take(res, status, content_type ? content_type : "text/plain; charset=utf-8",
                           copy_text(body), strlen(body), false);
}

void http_res_bytes_take(http_response_t *res, int status, const char *content_type,
                         unsigned char *body_take, size_t len)
{
    response_set_body_take(res, status, content_type ? content_type : "application/octet-stream",
                           (char *)body_take, body_take ? len : 0, true);
}

/* Sets key to text as a JSON string; bytes that are not valid UTF-8 (a
 * detail quoting client input, say) become '?' rather than losing the
 * whole problem. */
static int problem_set_text(json_t *problem, const char *key, const char *text)
{
    json_t *value = json_string(text ? text : "");
    if (!value && text) {
        char *ascii = copy_text(text);
        if (!ascii)
            return -1;
        for (char *p = ascii; *p; p++)
            if ((unsigned char)*p >= 0x80)
                *p = '?';
        value = json_string(ascii);
        free(ascii);
    }
    return json_object_set_new(problem, key, value);
}

/* {"type":"about:blank","title":..,"status":..,"code":..,"detail":..};
 * caller owns the result; NULL on OOM. */
static json_t *problem_new(int status, const char *code, const char *title, const char *detail)
{
    json_t *problem = json_object();
    if (!problem)
        return NULL;
    if (json_object_set_new(problem, "type", json_string("about:blank")) != 0 ||
        problem_set_text(problem, "title", title) != 0 ||
        json_object_set_new(problem, "status", json_integer(status)) != 0 ||
        problem_set_text(problem, "code", code) != 0 ||
        (detail && problem_set_text(problem, "detail", detail) != 0)) {
        json_decref(problem);
        return NULL;
    }
    return problem;
}

void http_res_problem(http_response_t *res, int status, const char *code, const char *title,
                      const char *detail)
{
    response_set_json_take(res, status, "application/problem+json",
                           problem_new(status, code, title, detail));
}

void http_res_problem_errors_take(http_response_t *res, int status, const char *code,
                                  const char *title, json_t *errors)
{
    json_t *problem = problem_new(status, code, title, NULL);
    json_t *list = errors ? errors : json_array();
    if (problem && json_object_set_new(problem, "errors", list) != 0) {
        json_decref(problem);
        problem = NULL;
    } else if (!problem) {
        json_decref(list);
    }
    response_set_json_take(res, status, "application/problem+json", problem);
}

void http_res_problem_extra_take(http_response_t *res, int status, const char *code,
                                 const char *title, const char *detail, json_t *extra)
{
    json_t *problem = problem_new(status, code, title, detail);
    if (problem && extra) {
        const char *key;
        json_t *value;
        json_object_foreach(extra, key, value)
        {
            /* the standard members stay as problem_new made them */
            if (!json_object_get(problem, key))
                json_object_set(problem, key, value);
        }
    }
    json_decref(extra);
    response_set_json_take(res, status, "application/problem+json", problem);
}

void http_res_header(http_response_t *res, const char *name, const char *value)
{
    if (!name || !value)
        return;
    header_t *grown = realloc(res->headers, (res->n_headers + 1) * sizeof *grown);
    if (!grown) {
        res->failed = true;
        return;
    }
    res->headers = grown;
    header_t *header = &res->headers[res->n_headers];
    header->name = copy_text(name);
    header->value = copy_text(value);
    if (!header->name || !header->value) {
        free(header->name);
        free(header->value);
        res->failed = true;
        return;
    }
    res->n_headers++;
}

http_deferred_t *http_defer(http_response_t *res)
{
    http_deferred_t *deferred = calloc(1, sizeof *deferred);
    if (!deferred) {
        log_error("could not defer an http answer", LF_ERR("out_of_memory"));
        http_res_problem(res, 500, "out_of_memory", "out of memory", NULL);
        return NULL;
    }
    deferred->refs = 2;
    res->deferred = deferred;
    return deferred;
}

http_response_t *http_deferred_response(http_deferred_t *deferred)
{
    return &deferred->res;
}

/* One side lets go; the last frees it. */
static void deferred_drop(http_deferred_t *deferred)
{
    pthread_mutex_lock(&deferred_lock);
    bool last = --deferred->refs == 0;
    pthread_mutex_unlock(&deferred_lock);
    if (last) {
        response_release(&deferred->res);
        free(deferred);
    }
}

void http_deferred_finish(http_deferred_t **deferred_p)
{
    if (!deferred_p || !*deferred_p)
        return;
    http_deferred_t *deferred = *deferred_p;
    *deferred_p = NULL;
    pthread_mutex_lock(&deferred_lock);
    deferred->ready = true;
    if (deferred->suspended && !deferred->abandoned)
        MHD_resume_connection(deferred->req->conn); /* MHD calls on_request again */
    pthread_mutex_unlock(&deferred_lock);
    deferred_drop(deferred);
}

int http_res_status(const http_response_t *res)
{
    return res->status;
}

/* --- reading the request ------------------------------------------------ */

const char *http_req_method(const http_request_t *req)
{
    return req->method;
}

const char *http_req_path(const http_request_t *req)
{
    return req->path;
}

const char *http_req_param(const http_request_t *req, const char *name)
{
    if (!req->route || !name)
        return NULL;
    size_t name_len = strlen(name);
    for (size_t i = 0; i < req->route->n_segments; i++) {
        const char *segment = req->route->segments[i];
        if (segment[0] == '{' && strlen(segment) == name_len + 2 &&
            strncmp(segment + 1, name, name_len) == 0)
            return req->segments[i];
    }
    return NULL;
}

const char *http_req_query(const http_request_t *req, const char *name)
{
    return name ? MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name) : NULL;
}

const char *http_req_header(const http_request_t *req, const char *name)
{
    return name ? MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name) : NULL;
}

const char *http_req_target(const http_request_t *req)
{
    return req->raw_target;
}

const char *http_req_body(const http_request_t *req, size_t *len_out)
{
    if (len_out)
        *len_out = req->body.len;
    return req->body.ptr ? req->body.ptr : "";
}

/* --- the client behind trusted proxies ------------------------------------ */

/* An address in binary: family and 16 bytes (IPv4 in the first four). An
 * IPv4-mapped IPv6 address is taken as IPv4. -1 if it does not parse. */
static int addr_parse(const char *text, int *family_out, unsigned char bytes[16])
{
    memset(bytes, 0, 16);
    if (inet_pton(AF_INET, text, bytes) == 1) {
        *family_out = AF_INET;
        return 0;
    }
    unsigned char v6[16];
    if (inet_pton(AF_INET6, text, v6) != 1)
        return -1;
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(v6, mapped, sizeof mapped) == 0) {
        memcpy(bytes, v6 + 12, 4);
        *family_out = AF_INET;
        return 0;
    }
    memcpy(bytes, v6, 16);
    *family_out = AF_INET6;
    return 0;
}

/* The canonical text of a parsed address; -1 if out is too small. */
static int addr_format(int family, const unsigned char bytes[16], char *out, size_t size)
{
    return inet_ntop(family, bytes, out, (socklen_t)size) ? 0 : -1;
}

int http_proxies_parse(const char *spec, http_proxies_t *out)
{
    memset(out, 0, sizeof *out);
    const char *p = spec ? spec : "";
    while (*p) {
        size_t len = strcspn(p, ",");
        const char *item = p;
        p += len + (p[len] == ',');
        while (len > 0 && (*item == ' ' || *item == '\t')) {
            item++;
            len--;
        }
        while (len > 0 && (item[len - 1] == ' ' || item[len - 1] == '\t'))
            len--;
        if (len == 0)
            continue;
        char text[64];
        if (len >= sizeof text || out->count == HTTP_PROXIES_MAX)
            goto bad;
        memcpy(text, item, len);
        text[len] = '\0';
        char *slash = strchr(text, '/');
        if (slash)
            *slash = '\0';
        int family = 0;
        unsigned char bytes[16];
        if (addr_parse(text, &family, bytes) != 0)
            goto bad;
        int64_t bits = family == AF_INET ? 32 : 128;
        if (slash && numparse_int_range(slash + 1, 0, bits, &bits) != 0)
            goto bad;
        out->nets[out->count].family = family;
        memcpy(out->nets[out->count].addr, bytes, 16);
        out->nets[out->count].bits = (unsigned)bits;
        out->count++;
    }
    return 0;
bad:
    memset(out, 0, sizeof *out);
    return -1;
}

bool http_proxies_contain(const http_proxies_t *proxies, const char *address)
{
    int family = 0;
    unsigned char bytes[16];
    if (!proxies || !address || addr_parse(address, &family, bytes) != 0)
        return false;
    for (size_t i = 0; i < proxies->count; i++) {
        if (proxies->nets[i].family != family)
            continue;
        unsigned bits = proxies->nets[i].bits, whole = bits / 8, rest = bits % 8;
        if (memcmp(proxies->nets[i].addr, bytes, whole) != 0)
            continue;
        unsigned char mask = (unsigned char)(0xff << (8 - rest));
        if (rest == 0 || (proxies->nets[i].addr[whole] & mask) == (bytes[whole] & mask))
            return true;
    }
    return false;
}

/* One X-Forwarded-For entry as an address: "203.0.113.7", "2001:db8::1",
 * "[2001:db8::1]" or with a port ("203.0.113.7:4711", "[2001:db8::1]:4711").
 * -1 if it is none of those. */
static int forwarded_entry(const char *entry, size_t len, char *out, size_t size)
{
    while (len > 0 && (*entry == ' ' || *entry == '\t')) {
        entry++;
        len--;
    }
    while (len > 0 && (entry[len - 1] == ' ' || entry[len - 1] == '\t'))
        len--;
    char text[64];
    if (len == 0 || len >= sizeof text)
        return -1;
    memcpy(text, entry, len);
    text[len] = '\0';
    char *host = text;
    if (host[0] == '[') {
        char *close = strchr(host, ']');
        if (!close || (close[1] && close[1] != ':'))
            return -1;
        *close = '\0';
        host++;
    } else {
        char *colon = strchr(host, ':');
        if (colon && !strchr(colon + 1, ':'))
            *colon = '\0'; /* IPv4 with a port; a bare IPv6 has several colons */
    }
    int family = 0;
    unsigned char bytes[16];
    if (addr_parse(host, &family, bytes) != 0)
        return -1;
    return addr_format(family, bytes, out, size);
}

int http_client_address(const char *peer, const char *const *forwarded, size_t lines,
                        const http_proxies_t *trusted, char *out, size_t size)
{
    int family = 0;
    unsigned char bytes[16];
    char client[HTTP_ADDR_SIZE];
    if (!peer || addr_parse(peer, &family, bytes) != 0 ||
        addr_format(family, bytes, client, sizeof client) != 0)
        return -1;
    bool walking = true;
    for (size_t line = lines; walking && line > 0; line--) {
        const char *text = forwarded[line - 1] ? forwarded[line - 1] : "";
        size_t end = strlen(text);
        while (walking && end > 0) {
            if (!trusted || !http_proxies_contain(trusted, client)) {
                walking = false; /* the client is the first hop no trusted proxy is */
                break;
            }
            size_t start = end;
            while (start > 0 && text[start - 1] != ',')
                start--;
            char hop[HTTP_ADDR_SIZE];
            if (forwarded_entry(text + start, end - start, hop, sizeof hop) != 0) {
                walking = false; /* garbage where an address belongs: keep the proxy */
                break;
            }
            memcpy(client, hop, sizeof client);
            end = start > 0 ? start - 1 : 0;
        }
    }
    size_t len = strlen(client);
    if (len >= size)
        return -1;
    memcpy(out, client, len + 1);
    return 0;
}

/* The X-Forwarded-For lines of a request, borrowed from MHD; past
 * HTTP_FORWARDED_LINES only the last ones are kept (the walk starts at
 * the end, and a client may send as many lines as it likes before the
 * proxies'). */
#define HTTP_FORWARDED_LINES 16
typedef struct {
    const char *lines[HTTP_FORWARDED_LINES];
    size_t count;
} forwarded_lines_t;

static enum MHD_Result collect_forwarded(void *cls, enum MHD_ValueKind kind, const char *key,
                                         const char *value)
{
    (void)kind;
    forwarded_lines_t *forwarded = cls;
    if (!key || !value || strcasecmp(key, "X-Forwarded-For") != 0)
        return MHD_YES;
    if (forwarded->count == HTTP_FORWARDED_LINES) {
        memmove(forwarded->lines, forwarded->lines + 1,
                (HTTP_FORWARDED_LINES - 1) * sizeof forwarded->lines[0]);
        forwarded->count--;
    }
    forwarded->lines[forwarded->count++] = value;
    return MHD_YES;
}

int http_req_client(const http_request_t *req, const http_proxies_t *trusted, char *out,
                    size_t size)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!info || !info->client_addr)
        return -1;
    char peer[HTTP_ADDR_SIZE];
    const struct sockaddr *addr = info->client_addr;
    const void *raw = NULL;
    if (addr->sa_family == AF_INET)
        raw = &((const struct sockaddr_in *)(const void *)addr)->sin_addr;
    else if (addr->sa_family == AF_INET6)
        raw = &((const struct sockaddr_in6 *)(const void *)addr)->sin6_addr;
    if (!raw || !inet_ntop(addr->sa_family, raw, peer, sizeof peer))
        return -1;
    forwarded_lines_t forwarded = {.count = 0};
    if (trusted && trusted->count && http_proxies_contain(trusted, peer))
        MHD_get_connection_values(req->conn, MHD_HEADER_KIND, collect_forwarded, &forwarded);
    return http_client_address(peer, forwarded.lines, forwarded.count, trusted, out, size);
}

/* application/json or application/problem+json, any parameters. */
static bool content_type_is_json(const char *value)
{
    static const char *const accepted[] = {"application/json", "application/problem+json"};
    if (!value)
        return false;
    value += strspn(value, " \t");
    size_t len = strcspn(value, ";");
    while (len > 0 && (value[len - 1] == ' ' || value[len - 1] == '\t'))
        len--;
    for (size_t i = 0; i < sizeof accepted / sizeof accepted[0]; i++)
        if (strlen(accepted[i]) == len && strncasecmp(value, accepted[i], len) == 0)
            return true;
    return false;
}

json_t *http_req_json(const http_request_t *req, http_response_t *res)
{
    if (res->request_json)
        return res->request_json;
    if (!content_type_is_json(http_req_header(req, MHD_HTTP_HEADER_CONTENT_TYPE))) {
        http_res_problem(res, 415, "unsupported_media_type", "unsupported media type",
                         "the body must be sent as Content-Type: application/json");
        return NULL;
    }
    size_t len = 0;
    const char *body = http_req_body(req, &len);
    json_error_t error;
    json_t *parsed = json_loadb(body, len, JSON_REJECT_DUPLICATES, &error);
    if (!parsed) {
        char detail[64 + JSON_ERROR_TEXT_LENGTH];
        int n = snprintf(detail, sizeof detail, "invalid JSON at line %d, column %d: %s",
                         error.line, error.column, error.text);
        http_res_problem(res, 400, "invalid_json", "the body is not valid JSON",
                         n > 0 && (size_t)n < sizeof detail ? detail : "invalid JSON");
        return NULL;
    }
    if (!json_is_object(parsed)) {
        json_decref(parsed);
        http_res_problem(res, 400, "invalid_json", "the body is not a JSON object",
                         "the body must be a JSON object ({...})");
        return NULL;
    }
    res->request_json = parsed;
    return parsed;
}

/* --- answering ---------------------------------------------------------- */

static void request_record(const http_request_t *req, int status)
{
    const http_server_t *server = req->server;
    const route_t *route = req->route;
    int64_t elapsed_us = clock_mono_us() - req->start_us;
    if (elapsed_us < 0)
        elapsed_us = 0;
    metrics_histogram_observe_us(route ? route->duration : server->unmatched_duration,
                                 (uint64_t)elapsed_us);
    char labels[HTTP_LABELS_MAX];
    int n = snprintf(labels, sizeof labels, "%s,method=\"%s\",code=\"%d\"",
                     route ? route->labels : server->unmatched_labels, method_label(req->method),
                     status);
    if (n > 0 && (size_t)n < sizeof labels)
        metrics_counter_add(
            metrics_counter("http_requests_total", labels, "HTTP requests answered."), 1);
    if (log_enabled(LOG_DEBUG)) {
        size_t path_len = strcspn(req->raw_target, "?#"); /* no query: it may hold tokens */
        char path[512];
        snprintf(path, sizeof path, "%.*s", (int)(path_len < 511 ? path_len : 511),
                 req->raw_target);
        log_debug("http request", LF_STR("method", req->method), LF_STR("path", path),
                  LF_STR("route", route ? route->pattern : "unmatched"), LF_INT("status", status),
                  LF_INT("duration_us", elapsed_us));
    }
}

static bool response_has_header(const http_response_t *res, const char *name)
{
    for (size_t i = 0; i < res->n_headers; i++)
        if (strcasecmp(res->headers[i].name, name) == 0)
            return true;
    return false;
}

static struct MHD_Response *mhd_response_new(const http_response_t *res)
{
    struct MHD_Response *response = MHD_create_response_from_buffer(
        res->body_len, res->body ? res->body : empty_body, MHD_RESPMEM_MUST_COPY);
    if (!response)
        return NULL;
    if (res->content_type && MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE,
                                                     res->content_type) != MHD_YES)
        goto fail;
    if (res->no_store && !response_has_header(res, MHD_HTTP_HEADER_CACHE_CONTROL) &&
        MHD_add_response_header(response, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") != MHD_YES)
        goto fail;
    for (size_t i = 0; i < res->n_headers; i++) {
        if (MHD_add_response_header(response, res->headers[i].name, res->headers[i].value) !=
            MHD_YES)
            log_error("response header refused", LF_STR("header", res->headers[i].name),
                      LF_ERR("bad_header"));
    }
    return response;
fail:
    MHD_destroy_response(response);
    return NULL;
}

/* Queues res (borrowed; released by the caller), counts and logs it. */
static enum MHD_Result respond(http_request_t *req, const http_response_t *res)
{
    req->answered = true;
    struct MHD_Response *response = mhd_response_new(res);
    enum MHD_Result queued = MHD_NO;
    if (response) {
        queued = MHD_queue_response(req->conn, (unsigned)res->status, response);
        MHD_destroy_response(response);
    }
    if (queued != MHD_YES)
        log_error("could not queue http response", LF_STR("method", req->method),
                  LF_STR("path", req->path), LF_INT("status", res->status),
                  LF_ERR("respond_failed"));
    request_record(req, res->status);
    return queued;
}

static enum MHD_Result answer_problem(http_request_t *req, int status, const char *code,
                                      const char *title, const char *detail, const char *allow)
{
    http_response_t res = {0};
    http_res_problem(&res, status, code, title, detail);
    if (allow)
        http_res_header(&res, MHD_HTTP_HEADER_ALLOW, allow);
    enum MHD_Result queued = MHD_NO;
    if (!res.failed)
        queued = respond(req, &res);
    else
        log_error("could not build problem response", LF_INT("status", status),
                  LF_ERR("out_of_memory"));
    response_release(&res);
    return queued;
}

static enum MHD_Result answer_too_large(http_request_t *req)
{
    char detail[96];
    int n =
        snprintf(detail, sizeof detail, "the body exceeds the limit of %zu bytes", req->body.max);
    return answer_problem(req, 413, "body_too_large", "request body too large",
                          n > 0 && (size_t)n < sizeof detail ? detail : NULL, NULL);
}

/* --- routing ------------------------------------------------------------ */

/* Cuts the raw path into percent-decoded segments. 1 ok, 0 if no route
 * can match (not a path, too deep), -1 on a malformed escape. */
static int request_split_path(http_request_t *req)
{
    const char *target = req->raw_target;
    if (target[0] != '/')
        return 0;
    size_t len = strcspn(target, "?#");
    req->segment_text = malloc(len);
    if (!req->segment_text) {
        req->out_of_memory = true;
        return 0;
    }
    memcpy(req->segment_text, target + 1, len - 1);
    req->segment_text[len - 1] = '\0';
    if (len == 1)
        return 1; /* "/" */
    char *cursor = req->segment_text;
    for (;;) {
        char *slash = strchr(cursor, '/');
        if (slash)
            *slash = '\0';
        if (req->n_segments == HTTP_MAX_SEGMENTS)
            return 0;
        if (percent_decode(cursor) != 0)
            return -1;
        req->segments[req->n_segments++] = cursor;
        if (!slash)
            return 1;
        cursor = slash + 1;
    }
}

static bool route_path_matches(const route_t *route, const http_request_t *req)
{
    if (route->n_segments != req->n_segments)
        return false;
    for (size_t i = 0; i < route->n_segments; i++) {
        const char *pattern = route->segments[i];
        if (pattern[0] == '{' ? req->segments[i][0] == '\0'
                              : strcmp(pattern, req->segments[i]) != 0)
            return false;
    }
    return true;
}

static bool route_method_matches(const route_t *route, const char *method)
{
    return strcmp(route->method, method) == 0 ||
           (strcmp(method, "HEAD") == 0 && strcmp(route->method, "GET") == 0);
}

/* The Allow header for a path that matched only with other methods. */
static int allow_list(const http_server_t *server, const http_request_t *req, strbuf_t *allow)
{
    bool get = false, head = false;
    for (size_t i = 0; i < server->n_routes; i++) {
        const route_t *route = &server->routes[i];
        if (!route_path_matches(route, req))
            continue;
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = route_path_matches(&server->routes[j], req) &&
                   strcmp(server->routes[j].method, route->method) == 0;
        if (seen)
            continue;
        get = get || strcmp(route->method, "GET") == 0;
        head = head || strcmp(route->method, "HEAD") == 0;
        if (strbuf_appendf(allow, "%s%s", allow->len ? ", " : "", route->method) != 0)
            return -1;
    }
    if (get && !head && strbuf_append_str(allow, ", HEAD") != 0)
        return -1;
    return 0;
}

/* The first call, headers in: route, and answer at once what can be
 * answered without the body. */
static enum MHD_Result request_begin(http_server_t *server, http_request_t *req,
                                     struct MHD_Connection *conn, const char *url,
                                     const char *method)
{
    req->started = true;
    req->conn = conn;
    req->method = method;
    req->path = url;
    int split = request_split_path(req);
    if (req->out_of_memory)
        return answer_problem(req, 500, "out_of_memory", "out of memory", NULL, NULL);
    if (split < 0)
        return answer_problem(req, 400, "invalid_path", "invalid path",
                              "the path has a malformed percent-escape", NULL);
    bool path_known = false;
    for (size_t i = 0; split > 0 && i < server->n_routes && !req->route; i++) {
        if (!route_path_matches(&server->routes[i], req))
            continue;
        path_known = true;
        if (route_method_matches(&server->routes[i], method))
            req->route = &server->routes[i];
    }
    if (!req->route && !path_known)
        return answer_problem(req, 404, "not_found", "not found", "no route matches this path",
                              NULL);
    if (!req->route) {
        strbuf_t allow;
        strbuf_init(&allow, 256);
        int rc = allow_list(server, req, &allow);
        enum MHD_Result queued =
            answer_problem(req, 405, "method_not_allowed", "method not allowed",
                           "see the Allow header for the methods of this path",
                           rc == 0 && allow.ptr ? allow.ptr : "");
        strbuf_release(&allow);
        return queued;
    }
    /* a route's own limit (a webhook that never needs a megabyte) holds
     * before a byte of the body is read, like the server's */
    if (req->route->body_limit && req->route->body_limit < req->body.max)
        req->body.max = req->route->body_limit;
    uint64_t declared = 0;
    const char *content_length =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (content_length && numparse_u64(content_length, &declared) == 0 && declared > req->body.max)
        return answer_too_large(req);
    return MHD_YES;
}

static void request_read_body(http_request_t *req, const char *data, size_t len)
{
    if (req->too_large || req->out_of_memory)
        return; /* draining what is left */
    if (len > req->body.max - req->body.len) {
        req->too_large = true;
        strbuf_release(&req->body);
        return;
    }
    if (strbuf_append(&req->body, data, len) != 0) {
        req->out_of_memory = true;
        strbuf_release(&req->body);
    }
}

/* Sends what a handler set; a handler that set nothing (or whose answer
 * could not be built) is answered 500. */
static enum MHD_Result respond_checked(http_request_t *req, const http_response_t *res)
{
    if (res->status < 100 || res->status > 599 || res->failed) {
        log_error("handler produced no response", LF_STR("route", req->route->pattern),
                  LF_STR("method", req->method), LF_INT("status", res->status),
                  LF_ERR(res->failed ? "response_failed" : "no_response"));
        return answer_problem(req, 500, "internal", "internal error",
                              "the handler produced no response", NULL);
    }
    return respond(req, res);
}

static enum MHD_Result answer_stopping(http_request_t *req)
{
    http_response_t res = {0};
    http_res_header(&res, "Retry-After", "5");
    http_res_problem(&res, 503, "stopping", "the service is stopping",
                     "the request may or may not have been carried out: try again");
    enum MHD_Result queued = res.failed ? MHD_NO : respond(req, &res);
    response_release(&res);
    return queued;
}

static void waiting_unlink(http_server_t *server, http_deferred_t *deferred)
{
    if (deferred->prev)
        deferred->prev->next = deferred->next;
    else if (server->waiting == deferred)
        server->waiting = deferred->next;
    if (deferred->next)
        deferred->next->prev = deferred->prev;
    deferred->prev = deferred->next = NULL;
    pthread_cond_broadcast(&deferred_gone);
}

/* The handler returned having deferred its answer: send it if it is
 * already finished, else suspend the connection until it is. */
static enum MHD_Result deferred_begin(http_request_t *req, http_deferred_t *deferred)
{
    http_server_t *server = req->server;
    bool ready, stopping;
    pthread_mutex_lock(&deferred_lock);
    ready = deferred->ready;
    stopping = !ready && server->stopping;
    if (stopping) {
        deferred->abandoned = true;
    } else if (!ready) {
        deferred->req = req;
        deferred->next = server->waiting;
        if (server->waiting)
            server->waiting->prev = deferred;
        server->waiting = deferred;
        req->deferred = deferred;
        deferred->suspended = true;
        MHD_suspend_connection(req->conn);
    }
    pthread_mutex_unlock(&deferred_lock);
    if (!ready && !stopping)
        return MHD_YES;
    enum MHD_Result queued = ready ? respond_checked(req, &deferred->res) : answer_stopping(req);
    deferred_drop(deferred);
    return queued;
}

/* MHD calls again once a suspended connection is resumed: its answer is
 * finished (or the server is stopping: 503). */
static enum MHD_Result deferred_resumed(http_request_t *req)
{
    http_deferred_t *deferred = req->deferred;
    pthread_mutex_lock(&deferred_lock);
    bool ready = deferred->ready && !deferred->abandoned;
    bool over = deferred->ready || deferred->abandoned;
    if (over) {
        waiting_unlink(req->server, deferred);
        req->deferred = NULL;
    }
    pthread_mutex_unlock(&deferred_lock);
    if (!over)
        return MHD_YES;
    enum MHD_Result queued = ready ? respond_checked(req, &deferred->res) : answer_stopping(req);
    deferred_drop(deferred);
    return queued;
}

static enum MHD_Result request_dispatch(http_request_t *req)
{
    if (req->too_large)
        return answer_too_large(req);
    if (req->out_of_memory) {
        log_error("could not read request body", LF_STR("path", req->path),
                  LF_ERR("out_of_memory"));
        return answer_problem(req, 500, "out_of_memory", "out of memory", NULL, NULL);
    }
    if (atomic_load(&req->server->held) && !req->route->probe) {
        http_response_t held = {0};
        http_res_header(&held, "Retry-After", "1");
        http_res_problem(&held, 503, "starting", "the service is starting",
                         "it is waiting for its database or applying migrations; try again in "
                         "a moment");
        enum MHD_Result queued = held.failed ? MHD_NO : respond(req, &held);
        response_release(&held);
        return queued;
    }
    http_response_t res = {0};
    req->route->handler(req, &res, req->route->arg);
    http_deferred_t *deferred = res.deferred;
    enum MHD_Result queued = deferred ? deferred_begin(req, deferred) : respond_checked(req, &res);
    response_release(&res);
    return queued;
}

/* --- libmicrohttpd callbacks -------------------------------------------- */

/* Called with the raw request target before MHD decodes it; what it
 * returns becomes *con_cls (see the top of the file). */
static void *on_request_line(void *cls, const char *uri, struct MHD_Connection *conn)
{
    (void)conn;
    http_server_t *server = cls;
    http_request_t *req = calloc(1, sizeof *req);
    if (!req)
        return NULL;
    req->raw_target = copy_text(uri ? uri : "");
    if (!req->raw_target) {
        free(req);
        return NULL;
    }
    req->server = server;
    req->start_us = clock_mono_us();
    strbuf_init(&req->body, server->body_limit);
    return req;
}

static void on_request_done(void *cls, struct MHD_Connection *conn, void **con_cls,
                            enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    http_request_t *req = *con_cls;
    if (!req)
        return;
    if (req->deferred) { /* closed while waiting (the daemon stopping) */
        http_deferred_t *deferred = req->deferred;
        pthread_mutex_lock(&deferred_lock);
        deferred->abandoned = true;
        waiting_unlink(req->server, deferred);
        req->deferred = NULL;
        pthread_mutex_unlock(&deferred_lock);
        deferred_drop(deferred);
    }
    strbuf_release(&req->body);
    free(req->segment_text);
    free(req->raw_target);
    free(req);
    *con_cls = NULL;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    http_request_t *req = *con_cls;
    if (!req)
        return MHD_NO; /* out of memory at the request line: drop the connection */
    if (!req->started)
        return request_begin(cls, req, conn, url, method);
    if (*upload_data_size) {
        if (!req->answered)
            request_read_body(req, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (req->deferred)
        return deferred_resumed(req);
    return req->answered ? MHD_YES : request_dispatch(req);
}

/* libmicrohttpd's own messages (bind failures, protocol errors). */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char message[512];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    int n = vsnprintf(message, sizeof message, fmt, ap);
#pragma GCC diagnostic pop
    if (n < 0)
        return;
    message[strcspn(message, "\r\n")] = '\0';
    log_warn("libmicrohttpd", LF_STR("detail", message));
}

int http_server_start(http_server_t *server)
{
    if (!server || server->daemon) {
        log_error("http server already started or missing", LF_ERR("bad_state"));
        return -1;
    }
    unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;
    if (server->sockaddr.any.sa_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    /* the logger first, or MHD prints what it logs before it to stderr */
    server->daemon = MHD_start_daemon(
        flags, (uint16_t)server->port, NULL, NULL, on_request, server, MHD_OPTION_EXTERNAL_LOGGER,
        on_mhd_log, server, MHD_OPTION_SOCK_ADDR, &server->sockaddr.any,
        MHD_OPTION_THREAD_POOL_SIZE, server->threads, MHD_OPTION_CONNECTION_TIMEOUT,
        server->timeout_s, MHD_OPTION_URI_LOG_CALLBACK, on_request_line, server,
        MHD_OPTION_NOTIFY_COMPLETED, on_request_done, server, MHD_OPTION_END);
    if (!server->daemon) {
        log_error("could not start http server", LF_STR("addr", server->addr),
                  LF_STR("hint", "is the address taken or not local?"), LF_ERR("bind_failed"));
        return -1;
    }
    return 0;
}

unsigned http_server_port(const http_server_t *server)
{
    if (!server)
        return 0;
    if (!server->daemon)
        return server->port;
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(server->daemon, MHD_DAEMON_INFO_BIND_PORT);
    return info ? info->port : 0;
}
