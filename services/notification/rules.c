/*
 * rules.c — trigger conditions, dedup keys, quiet hours and send verdicts
 * (rules.h).
 */
#include "services/notification/rules.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define CONDITION_KEYS_MAX 32

static bool scalar(const json_t *value)
{
    return json_is_string(value) || json_is_integer(value) || json_is_boolean(value);
}

bool rules_condition_holds(const json_t *condition, const json_t *facts)
{
    const char *key;
    const json_t *wanted;
    json_object_foreach((json_t *)(uintptr_t)condition, key, wanted)
    {
        const json_t *fact = json_object_get(facts, key);
        if (!fact || !scalar(fact))
            return false;
        if (json_is_array(wanted)) {
            bool any = false;
            size_t i;
            const json_t *item;
            json_array_foreach(wanted, i, item) any = any || json_equal(item, fact);
            if (!any)
                return false;
        } else if (!json_equal(wanted, fact)) {
            return false;
        }
    }
    return true;
}

int rules_condition_valid(const json_t *condition, char why[RULES_WHY_SIZE])
{
    if (!json_is_object(condition)) {
        snprintf(why, RULES_WHY_SIZE, "the condition must be an object");
        return -1;
    }
    if (json_object_size(condition) > CONDITION_KEYS_MAX) {
        snprintf(why, RULES_WHY_SIZE, "the condition has more than %d keys", CONDITION_KEYS_MAX);
        return -1;
    }
    const char *key;
    const json_t *value;
    json_object_foreach((json_t *)(uintptr_t)condition, key, value)
    {
        bool ok = scalar(value);
        if (json_is_array(value)) {
            ok = json_array_size(value) > 0;
            size_t i;
            const json_t *item;
            json_array_foreach(value, i, item) ok = ok && scalar(item);
        }
        if (!ok || strlen(key) == 0 || strlen(key) > 64) {
            snprintf(why, RULES_WHY_SIZE,
                     "condition key \"%.64s\" must hold a string, number or boolean, or a "
                     "non-empty array of them",
                     key);
            return -1;
        }
    }
    return 0;
}

void rules_dedup_key(const char *event_id, const char *trigger_id, const char *channel,
                     const char *recipient, char out[RULES_DEDUP_SIZE])
{
    snprintf(out, RULES_DEDUP_SIZE, "%s/%s/%s:%s", event_id, trigger_id, channel, recipient);
}

static int read_clock(const char *text, int *minutes)
{
    if (strlen(text) < 5 || text[0] < '0' || text[0] > '2' || text[1] < '0' || text[1] > '9' ||
        text[2] != ':' || text[3] < '0' || text[3] > '5' || text[4] < '0' || text[4] > '9')
        return -1;
    int hours = (text[0] - '0') * 10 + (text[1] - '0');
    if (hours > 23)
        return -1;
    *minutes = hours * 60 + (text[3] - '0') * 10 + (text[4] - '0');
    return 0;
}

int rules_quiet_parse(const char *text, quiet_hours_t *out)
{
    *out = (quiet_hours_t){0, 0};
    if (!text || !text[0] || strcmp(text, "off") == 0)
        return 0;
    if (strlen(text) != 11 || text[5] != '-')
        return -1;
    return read_clock(text, &out->start_min) == 0 && read_clock(text + 6, &out->end_min) == 0 ? 0
                                                                                              : -1;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

int64_t rules_quiet_release(const quiet_hours_t *quiet, int64_t now_ms)
{
    if (quiet->start_min == quiet->end_min)
        return now_ms;
    time_t now = (time_t)floor_div(now_ms, 1000);
    struct tm local;
    if (!localtime_r(&now, &local))
        return now_ms;
    int minute = local.tm_hour * 60 + local.tm_min;
    bool wraps = quiet->start_min > quiet->end_min;
    bool quiet_now = wraps ? (minute >= quiet->start_min || minute < quiet->end_min)
                           : (minute >= quiet->start_min && minute < quiet->end_min);
    if (!quiet_now)
        return now_ms;
    /* the window ends today, or tomorrow when it started before midnight:
     * that wall-clock time on that day, in the offset the zone has then */
    struct tm end = {
        .tm_year = local.tm_year,
        .tm_mon = local.tm_mon,
        .tm_mday = local.tm_mday + (wraps && minute >= quiet->start_min ? 1 : 0),
        .tm_hour = quiet->end_min / 60,
        .tm_min = quiet->end_min % 60,
        .tm_isdst = -1, /* mktime finds whether summer time holds then */
    };
    time_t release = mktime(&end);
    if (release == (time_t)-1 || (int64_t)release * 1000 <= now_ms)
        return now_ms; /* no such time: never hold a message for ever */
    return (int64_t)release * 1000;
}

send_verdict_t rules_send_verdict(notify_result_t result, bool resumed, int attempt,
                                  int max_attempts)
{
    if (resumed)
        return SEND_OUTCOME_UNKNOWN; /* claimed, never finished: it may have gone */
    switch (result) {
    case NOTIFY_SENT:
        return SEND_SENT;
    case NOTIFY_REJECTED:
        return SEND_FAILED;
    case NOTIFY_UNKNOWN:
        return SEND_OUTCOME_UNKNOWN;
    case NOTIFY_TRANSIENT:
    default:
        return attempt >= max_attempts ? SEND_FAILED : SEND_RETRY;
    }
}

const char *rules_verdict_name(send_verdict_t verdict)
{
    static const char *const names[] = {"sent", "failed", "retry", "outcome_unknown"};
    return (unsigned)verdict < sizeof names / sizeof names[0] ? names[verdict] : "?";
}
