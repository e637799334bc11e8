/*
 * rules.h — the notification service's pure rules over plain values,
 * unit-tested without a database (tests/test_rules.c):
 *
 *   - whether a trigger's condition holds for an event's facts (F19);
 *   - the dedup key of a message: one per (event, trigger, recipient);
 *   - quiet hours for SMS in the store's time zone: when a message heard
 *     now may go out;
 *   - what a channel's result means for the delivery log and the job.
 */
#ifndef NOTIFICATION_RULES_H
#define NOTIFICATION_RULES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "services/notification/adapters/channels.h"

/* A condition is a JSON object: each key names a fact of the event
 * (to_status, group, channel, delivery_method, region, payment_terms ...)
 * and holds a string, a number or true/false that the fact must equal, or
 * an array of them the fact must be one of. Every key must hold; {} always
 * holds; a fact the event lacks never matches. */
bool rules_condition_holds(const json_t *condition, const json_t *facts);

/* Whether condition is well formed (an object of scalars or arrays of
 * scalars, at most 32 keys): 0, or -1 with why (RULES_WHY_SIZE). */
#define RULES_WHY_SIZE 160
int rules_condition_valid(const json_t *condition, char why[RULES_WHY_SIZE]);

/* "<event_id>/<trigger_id>/<channel>:<recipient>", cut to size. */
#define RULES_DEDUP_SIZE 400
void rules_dedup_key(const char *event_id, const char *trigger_id, const char *channel,
                     const char *recipient, char out[RULES_DEDUP_SIZE]);

/* Quiet hours: [start_min, end_min) minutes after local midnight, the
 * window wrapping midnight when start > end ("22:00-09:00"); start ==
 * end means none. */
typedef struct {
    int start_min;
    int end_min;
} quiet_hours_t;

/* Parses "HH:MM-HH:MM" or "" / "off" (none). 0 ok, -1 malformed. */
int rules_quiet_parse(const char *text, quiet_hours_t *out);

/* The earliest instant at or after now_ms outside the quiet window, the
 * window read on the wall clock of the process's time zone: STORE_TZ, an
 * IANA zone from tzdata (service.c sets TZ), so a window that ends on the
 * far side of a change of offset (DST) ends at its wall-clock time, in the
 * offset of that moment. now_ms itself when it is not quiet. */
int64_t rules_quiet_release(const quiet_hours_t *quiet, int64_t now_ms);

/* What a channel's answer does: the delivery's status and whether to try
 * again. */
typedef enum {
    SEND_SENT = 0,        /* sent: notification.sent */
    SEND_FAILED,          /* refused for good, or out of attempts: notification.failed */
    SEND_RETRY,           /* transient: the job backs off */
    SEND_OUTCOME_UNKNOWN, /* may have gone: notification.outcome_unknown, never resent */
} send_verdict_t;

/* resumed: the job was claimed before and its worker died mid-call. */
send_verdict_t rules_send_verdict(notify_result_t result, bool resumed, int attempt,
                                  int max_attempts);

/* "sent", "failed", "retry", "outcome_unknown". */
const char *rules_verdict_name(send_verdict_t verdict);

#endif
