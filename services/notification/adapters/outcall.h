/*
 * outcall.h — one HTTP call to a notification provider, and what the
 * three adapters share (channels.h).
 *
 * smsru.c and telegram.c speak different dialects over the kit's one HTTP
 * client (common/httpcall.h):
 * a POST with timeouts and a capped reply (a provider that answers
 * megabytes is refused, not buffered), and the classification of a call
 * that got no answer: was any byte sent? Then its outcome is unknown,
 * since neither provider deduplicates. smtp.c shares the error helpers.
 * (services/payment/adapters/bankcall.c does the same for the banks.)
 */
#ifndef CONVEYOR_NOTIFICATION_OUTCALL_H
#define CONVEYOR_NOTIFICATION_OUTCALL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/httpcall.h"
#include "common/strbuf.h"
#include "services/notification/adapters/channels.h"

#define OUTCALL_REPLY_MAX (64 * 1024) /* bytes of a provider's answer we read */

/* A provider's answer (common/httpcall.h): status, body capped at
 * OUTCALL_REPLY_MAX, Retry-After, and what became of a call that got none
 * (failure, sent, error). */
typedef httpcall_response_t outcall_reply_t;

void outcall_reply_init(outcall_reply_t *reply);
void outcall_reply_release(outcall_reply_t *reply);

/* One POST of body (content_type) to url. Fills *reply (initialise it
 * first, release it after). 0 when an HTTP answer came (any status), -1
 * when none did (reply->failure, ->sent and ->error say why). */
int outcall_post(const notify_limits_t *limits, const char *url, const char *content_type,
                 const char *body, size_t body_len, outcall_reply_t *reply);

/* The class of a call that got no answer: nothing sent is transient,
 * something sent is unknown. Fills err. */
notify_result_t outcall_no_answer(const outcall_reply_t *reply, notify_error_t *err);

/* Fills err (code and message cut to fit, status) and returns result. */
notify_result_t outcall_fail(notify_error_t *err, notify_result_t result, int status,
                             const char *code, const char *message);

/* Copies text into out (size bytes), cut at a character boundary if
 * longer; NULL copies "". */
void outcall_copy(char *out, size_t size, const char *text);

/* Whether len bytes of text are well-formed UTF-8 without NUL or other C0
 * controls but tab, CR and LF. */
bool outcall_text_ok(const char *text, size_t len);

/* Appends name=value percent-encoded (application/x-www-form-urlencoded),
 * with '&' before all but the first pair. 0 ok, -1 over the cap. */
int outcall_form_add(strbuf_t *form, const char *name, const char *value);

/* Effective timeouts. */
long outcall_connect_ms(const notify_limits_t *limits);
long outcall_total_ms(const notify_limits_t *limits);

#endif
