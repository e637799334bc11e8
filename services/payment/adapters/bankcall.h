/*
 * bankcall.h — one HTTP call to a bank, and what both adapters share.
 *
 * sberbank.c and yookassa.c speak different dialects over the kit's one
 * HTTP client (common/httpcall.h): a call with timeouts and a capped reply (a bank that answers
 * megabytes is refused, not buffered), the classification of a call that
 * did not get an answer (was anything sent? then its outcome is unknown),
 * url-encoded forms both ways (Sberbank's requests and callbacks), and the
 * checks a receipt must pass before any bank sees it.
 */
#ifndef CONVEYOR_PAYMENT_BANKCALL_H
#define CONVEYOR_PAYMENT_BANKCALL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/httpcall.h"
#include "common/strbuf.h"
#include "services/payment/adapters/acquirer.h"

#define BANKCALL_REPLY_MAX  (256 * 1024) /* bytes of a bank's answer we read */
#define BANKCALL_FORM_PAIRS 64           /* parameters of a callback we read */
#define BANKCALL_FORM_MAX   8192         /* bytes of a callback we read */

typedef struct {
    long connect_timeout_ms;
    long timeout_ms;
} bankcall_limits_t;

/* A bank's answer (common/httpcall.h): status, body capped at
 * BANKCALL_REPLY_MAX, Retry-After, and what became of a call that got
 * none (failure, sent, error). */
typedef httpcall_response_t bankcall_reply_t;

void bankcall_reply_init(bankcall_reply_t *reply);
void bankcall_reply_release(bankcall_reply_t *reply);

/* One request: method, url, an optional body with its content type, extra
 * header lines ("Idempotence-Key: ..."; NULL-terminated array, may be
 * NULL), Basic credentials when user is not NULL. Fills *reply (initialise
 * it first, release it after). 0 when an HTTP answer came (any status),
 * -1 when none did (reply->failure, ->sent and ->error say why). */
int bankcall_request(const bankcall_limits_t *limits, const char *method, const char *url,
                     const char *content_type, const char *body, const char *const *headers,
                     const char *user, const char *password, bankcall_reply_t *reply);

/* The same request as an httpcall request, for httpcall_perform_many
 * (strings are borrowed: they must outlive the call). */
void bankcall_request_of(const bankcall_limits_t *limits, const char *method, const char *url,
                         const char *content_type, const char *body, const char *const *headers,
                         const char *user, const char *password, httpcall_request_t *out);

/* A request built and not yet made: what an adapter's *_prepare fills so
 * that many can be made at once (httpcall_perform_many) and each answer
 * read by its *_read. request points into the struct: do not move it. */
typedef struct {
    char url[1024];
    char *body; /* owned */
    char header[160];
    const char *headers[2];
    bool effectful; /* the call can have an effect at the bank */
    httpcall_request_t request;
} bankcall_prepared_t;

/* Fills call->request from the rest (url, body, headers). */
void bankcall_prepared_seal(bankcall_prepared_t *call, const bankcall_limits_t *limits,
                            const char *method, const char *content_type, const char *user,
                            const char *password);
void bankcall_prepared_release(bankcall_prepared_t *call);

/* The class of a call that got no answer: nothing sent is transient;
 * something sent is unknown when the call can have an effect (effectful)
 * and transient when it cannot (a status query). Fills err. */
acq_result_t bankcall_no_answer(const bankcall_reply_t *reply, bool effectful, acq_error_t *err);

/* Fills err (code, message cut to fit, status) and returns result. */
acq_result_t bankcall_fail(acq_error_t *err, acq_result_t result, int http_status, const char *code,
                           const char *message);

/* Appends name=value percent-encoded (application/x-www-form-urlencoded),
 * with '&' before all but the first pair. 0 ok, -1 over the buffer's cap. */
int bankcall_form_add(strbuf_t *form, const char *name, const char *value);

/* A parsed url-encoded text: pairs decoded ('+' is a space, %XX a byte),
 * in the order sent. */
typedef struct {
    struct {
        char *name;
        char *value;
    } pairs[BANKCALL_FORM_PAIRS];
    size_t count;
} bankcall_form_t;

/* Parses text (len bytes; a query string or a form body). -1 (and an empty
 * *form) when it is longer than BANKCALL_FORM_MAX, holds more than
 * BANKCALL_FORM_PAIRS pairs, a malformed %-escape, an escaped NUL, or a
 * pair without a name. Empty segments ("a=1&&b=2") are skipped. */
int bankcall_form_parse(const char *text, size_t len, bankcall_form_t *form);
void bankcall_form_release(bankcall_form_t *form);

/* The value of name, or NULL. */
const char *bankcall_form_get(const bankcall_form_t *form, const char *name);

/* Checks an amount and its receipt before a bank sees them: amount > 0,
 * 1..ACQ_LINES_MAX lines, each with a name of 1..128 characters, quantity
 * and price > 0, known VAT, subject and method, the lines summing exactly
 * to amount, and an email or a phone. 0 ok; -1 with err filled
 * (ACQ_REJECTED's "bad_request" and which rule failed). */
int bankcall_receipt_check(const acq_receipt_t *receipt, int64_t amount_minor, acq_error_t *err);

/* Copies text into out (size bytes), cut at a character boundary if
 * longer; NULL copies "". */
void bankcall_copy(char *out, size_t size, const char *text);

#endif
