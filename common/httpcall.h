/*
 * httpcall.h — the kit's one HTTP client (libcurl) for calls to outside
 * systems: a bank, an SMS gateway, a bot API.
 *
 * Why one module: every adapter needs the same care — timeouts on the
 * connection and on the whole call, an answer bounded in size (a peer that
 * answers megabytes is refused, not buffered), a Retry-After read from the
 * headers, and above all an honest account of a call that got no answer:
 * did any byte of the request leave? If not (HTTPCALL_CONNECT, which
 * includes a timeout while connecting) nothing can have happened at the
 * other end; if so, the effect is unknown and the caller must settle it
 * before trying again. Callers with many requests at once (a batch of
 * invoice registrations) run them concurrently on one thread with
 * httpcall_perform_many (curl multi) instead of one blocking call each.
 *
 * Nothing here knows a provider's dialect: adapters build the request and
 * read the response.
 */
#ifndef CONVEYOR_HTTPCALL_H
#define CONVEYOR_HTTPCALL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/strbuf.h"

#define HTTPCALL_MANY_MAX             256 /* requests httpcall_perform_many runs at once */
#define HTTPCALL_DEFAULT_CONNECT_MS   5000L
#define HTTPCALL_DEFAULT_TIMEOUT_MS   30000L
#define HTTPCALL_DEFAULT_RESPONSE_MAX (64 * 1024)
#define HTTPCALL_ERROR_SIZE           256
#define HTTPCALL_RETRY_AFTER_MAX_S    86400 /* a longer Retry-After is not believed */

/* Why no whole answer came. */
typedef enum {
    HTTPCALL_OK = 0,      /* an HTTP answer came whole, whatever its status */
    HTTPCALL_CONNECT,     /* no connection (refused, unresolved, TLS, or a timeout while
                             connecting): nothing of the request left */
    HTTPCALL_TIMEOUT,     /* the whole call's time ran out after the request left */
    HTTPCALL_TOO_LARGE,   /* the answer was longer than max_response */
    HTTPCALL_NO_ANSWER,   /* the connection broke after the request left */
    HTTPCALL_BAD_REQUEST, /* the request could not be made (a bad URL, out of memory) */
} httpcall_failure_t;

typedef struct {
    const char *method;         /* "GET", "POST", ...; NULL: POST with a body, GET without */
    const char *url;            /* http:// or https:// only */
    const char *const *headers; /* "Name: value" lines, NULL-terminated; may be NULL */
    const char *content_type;   /* of body; NULL: none sent */
    const char *body;           /* NULL: no body */
    size_t body_len;
    const char *user;        /* Basic credentials when not NULL */
    const char *password;    /* with user; NULL is "" */
    long connect_timeout_ms; /* 0: HTTPCALL_DEFAULT_CONNECT_MS */
    long timeout_ms;         /* the whole call; 0: HTTPCALL_DEFAULT_TIMEOUT_MS */
    size_t max_response;     /* bytes of the answer's body read; 0: HTTPCALL_DEFAULT_RESPONSE_MAX */
} httpcall_request_t;

typedef struct {
    httpcall_failure_t failure;
    long status;            /* HTTP status; 0 when no answer came */
    bool sent;              /* whether any byte of the request left (an effect is possible) */
    strbuf_t body;          /* the answer, NUL-terminated, at most max_response bytes */
    int64_t retry_after_ms; /* the Retry-After header, in ms from when it came; 0 if none */
    char error[HTTPCALL_ERROR_SIZE]; /* libcurl's words when failure is not HTTPCALL_OK */
} httpcall_response_t;

/* Initialise before a call, release after (the body). */
void httpcall_response_init(httpcall_response_t *response);
void httpcall_response_release(httpcall_response_t *response);

/* One request, blocking up to its timeout. Fills *response (initialised,
 * any earlier content replaced). 0 when an HTTP answer came (any status),
 * -1 when none did (response->failure, ->sent and ->error say why). */
int httpcall_perform(const httpcall_request_t *request, httpcall_response_t *response);

/* count requests (at most HTTPCALL_MANY_MAX) at once on the calling
 * thread; each gets its own response (responses[i], initialised) as if by
 * httpcall_perform. Returns when every one has ended; the answers that
 * came, or -1 when count is out of range (nothing sent). */
int httpcall_perform_many(const httpcall_request_t *requests, httpcall_response_t *responses,
                          size_t count);

/* "ok", "connect", "timeout", "too_large", "no_answer", "bad_request". */
const char *httpcall_failure_name(httpcall_failure_t failure);

/* Reads one raw header line (as received: "Name: value\r\n", len bytes,
 * not NUL-terminated, any bytes) into response: Retry-After as delta
 * seconds or an IMF-fixdate HTTP-date (RFC 9110 10.2.3; a date is taken
 * relative to now_s, unix seconds; one in the past is 0), bounded by
 * HTTPCALL_RETRY_AFTER_MAX_S. Anything else is ignored. Exposed for the
 * fuzz target. */
void httpcall_header_line(httpcall_response_t *response, const char *line, size_t len,
                          int64_t now_s);

/* A Retry-After value (len bytes, no CR/LF) in ms: 0 ok, -1 unreadable. */
int httpcall_retry_after_parse(const char *value, size_t len, int64_t now_s, int64_t *ms_out);

#endif
