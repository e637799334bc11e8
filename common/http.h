/*
 * http.h — the HTTP face of every conveyor process (libmicrohttpd + jansson).
 *
 * People and outside systems talk to conveyor over HTTP: REST APIs,
 * webhooks from banks and carriers, /healthz, /readyz and /metrics. This
 * module owns the libmicrohttpd daemon, reads each request body into a
 * capped buffer (413 beyond the limit), routes by method and path pattern
 * ("/v1/orders/{id}") and turns what a handler returns into a response.
 * Errors go out as RFC 9457 problem+json with a stable "code" beside the
 * human "title"/"detail":
 *
 *   {"type":"about:blank","title":"order not found","status":404,
 *    "code":"not_found","detail":"no order with id 42"}
 *
 * Unknown paths answer 404, known paths with another method 405 with an
 * Allow header, a body over the limit 413, a handler that set nothing 500.
 * Handlers run on the daemon's worker threads (a fixed pool), may block on
 * the database, and must be thread-safe.
 *
 * A handler that waits for something slow elsewhere (a batch committed by
 * another thread) need not hold its worker while it waits: http_defer
 * hands the answer to whoever will give it, and the connection is
 * suspended meanwhile, so a pool of four threads can keep hundreds of
 * requests waiting at once (http_defer below).
 */
#ifndef CONVEYOR_HTTP_H
#define CONVEYOR_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct http_server http_server_t;
typedef struct http_request http_request_t;
typedef struct http_response http_response_t;

typedef void (*http_handler_fn)(const http_request_t *req, http_response_t *res, void *arg);

typedef struct {
    const char *addr;   /* "0.0.0.0:8081", "127.0.0.1:8081" or ":8081" */
    size_t body_limit;  /* bytes; 0 means 1 MiB */
    unsigned threads;   /* worker threads; 0 means 4 */
    unsigned timeout_s; /* idle connection timeout; 0 means 30 */
    const char *svc;    /* for the access log and metrics labels */
} http_config_t;

/* Caller owns the result. NULL if addr does not parse (logged). */
http_server_t *http_server_new(const http_config_t *config);

/* Stops accepting, waits for handlers in flight, frees; NULL-safe. */
void http_server_destroy(http_server_t **self_p);

/* Adds a route before start. pattern segments in braces capture one path
 * segment ("/v1/orders/{id}/status"). The first matching route wins.
 * 0 ok, -1 bad pattern or OOM. */
int http_route(http_server_t *server, const char *method, const char *pattern,
               http_handler_fn handler, void *arg);

/* The same for a route served even while the server is held: the probes
 * (/healthz, /readyz, /metrics). */
int http_route_probe(http_server_t *server, const char *method, const char *pattern,
                     http_handler_fn handler, void *arg);

/* Held (true), every route but the probes answers 503 "starting" with
 * Retry-After: a service still waiting for its database or migrating.
 * Thread-safe; a server starts unheld. */
void http_server_hold(http_server_t *server, bool held);

/* Lowers the body limit of the route added with exactly this method and
 * pattern (below the server's; 0 restores the server's), before start:
 * a longer body is answered 413 before it is read (by Content-Length) or
 * drained (chunked), and the handler never sees it. 0 ok, -1 no such
 * route or already started. */
int http_route_body_limit(http_server_t *server, const char *method, const char *pattern,
                          size_t body_limit);

/* Binds and starts serving; 0 ok, -1 (logged) if the address is taken. */
int http_server_start(http_server_t *server);

/* The port actually bound (useful with port 0 in tests). */
unsigned http_server_port(const http_server_t *server);

/* --- reading the request (all borrowed, valid during the handler) --- */
const char *http_req_method(const http_request_t *req);
const char *http_req_path(const http_request_t *req);
const char *http_req_param(const http_request_t *req, const char *name);  /* {name} */
const char *http_req_query(const http_request_t *req, const char *name);  /* ?name= */
const char *http_req_header(const http_request_t *req, const char *name); /* any case */
const char *http_req_body(const http_request_t *req, size_t *len_out);    /* NUL-terminated */
/* The request target as sent, not decoded ("/cb?mdOrder=a%2Fb&status=1"):
 * for a signature computed over every query parameter, custom ones
 * included, as a bank's callback carries it. */
const char *http_req_target(const http_request_t *req);

/* --- who is asking: the client's address behind trusted proxies --- */

/* Reverse proxies whose X-Forwarded-For is believed: addresses and CIDR
 * blocks ("10.0.0.0/8, 127.0.0.1, ::1, fd00::/8"), HTTP_TRUSTED_PROXIES. */
#define HTTP_PROXIES_MAX 32
#define HTTP_ADDR_SIZE   46 /* INET6_ADDRSTRLEN */
typedef struct {
    struct {
        int family; /* AF_INET or AF_INET6 */
        unsigned char addr[16];
        unsigned bits; /* the prefix length */
    } nets[HTTP_PROXIES_MAX];
    size_t count;
} http_proxies_t;

/* Parses a comma-separated list (spaces allowed; NULL or "" is the empty
 * list: no proxy is trusted). An IPv4-mapped IPv6 address counts as the
 * IPv4 one. -1 on an address or prefix that does not parse, or more than
 * HTTP_PROXIES_MAX; *out is empty then. */
int http_proxies_parse(const char *spec, http_proxies_t *out);

/* Whether address (IPv4 or IPv6 text) lies in one of the list's blocks. */
bool http_proxies_contain(const http_proxies_t *proxies, const char *address);

/* The client behind the proxies: peer is the TCP peer's address and
 * forwarded the request's X-Forwarded-For lines, in order (lines of
 * them; a line holds one address or several, comma-separated). Each proxy
 * appends the address it was reached from (nginx to the line, HAProxy as
 * a line of its own), so the hops are read from the end: while the hop
 * read so far is a trusted proxy, the one before it is believed; the
 * first that is not a trusted proxy is the client, so nothing a client
 * writes into the header itself is ever reached. An entry that is not an
 * address stops the walk at the proxy that passed it on. With no trusted
 * proxy the client is the peer. Writes the address (IPv4-mapped IPv6 as
 * IPv4) into out; -1 if peer does not parse or out is too small. */
int http_client_address(const char *peer, const char *const *forwarded, size_t lines,
                        const http_proxies_t *trusted, char *out, size_t size);

/* http_client_address for this request (its TCP peer and every
 * X-Forwarded-For header line); trusted may be NULL. 0 ok, -1 when the
 * peer is unknown. */
int http_req_client(const http_request_t *req, const http_proxies_t *trusted, char *out,
                    size_t size);

/* The body parsed as a JSON object. On failure (not JSON, not an object,
 * wrong Content-Type) sets a 400/415 problem on res and returns NULL.
 * Borrowed: the request owns the parsed value. */
json_t *http_req_json(const http_request_t *req, http_response_t *res);

/* --- writing the response --- */
/* JSON body; takes ownership of body (json_decref'd after sending). */
void http_res_json_take(http_response_t *res, int status, json_t *body);
/* Any body; the text is copied. */
void http_res_text(http_response_t *res, int status, const char *content_type, const char *text);
/* A binary body (a PDF, say): takes ownership of body_take (malloc'd, len
 * bytes; freed after sending, or at once when the response cannot be
 * built). Not cached (Cache-Control: no-store): documents carry people's
 * names and addresses. */
void http_res_bytes_take(http_response_t *res, int status, const char *content_type,
                         unsigned char *body_take, size_t len);
/* problem+json with code (stable, grep-able), title and an optional detail. */
void http_res_problem(http_response_t *res, int status, const char *code, const char *title,
                      const char *detail);
/* The same with an "errors" array ({field, code, message} items); takes
 * ownership of errors. */
void http_res_problem_errors_take(http_response_t *res, int status, const char *code,
                                  const char *title, json_t *errors);
/* problem+json with more members (e.g. "allowed": the moves that are);
 * takes ownership of extra (an object; its members are copied in, the
 * standard ones never overwritten). */
void http_res_problem_extra_take(http_response_t *res, int status, const char *code,
                                 const char *title, const char *detail, json_t *extra);
/* Adds a header; name and value are copied. */
void http_res_header(http_response_t *res, const char *name, const char *value);
int http_res_status(const http_response_t *res);

/* --- answering later, from another thread --- */

/* A request whose answer is given after its handler returned. */
typedef struct http_deferred http_deferred_t;

/* Turns this request's answer into one given later: the handler sets
 * nothing on res, hands the result to whoever will answer (a committer
 * thread, say) and returns. Its connection is suspended until
 * http_deferred_finish — the worker thread serves other connections
 * meanwhile, and the client waits (no idle timeout runs). The answer may
 * also come before the handler returns (from the handler itself: a
 * refusal after all). NULL on out of memory (res answered 500). Caller
 * owns the result until it gives it to http_deferred_finish, which it
 * must, exactly once, on every path. */
http_deferred_t *http_defer(http_response_t *res);

/* The response to fill (with http_res_*), borrowed until finish. Only the
 * owner of the deferred writes it. */
http_response_t *http_deferred_response(http_deferred_t *deferred);

/* Sends what the response holds (nothing set: 500) and gives the deferred
 * up; *deferred_p becomes NULL; NULL-safe. Any thread. A server being
 * destroyed waits up to its idle timeout (timeout_s) for the answers it
 * was promised; one that comes later is dropped (the client was answered
 * 503 "stopping"). */
void http_deferred_finish(http_deferred_t **deferred_p);

#endif
