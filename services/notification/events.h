/*
 * events.h — the notification stream's messages (events.c): each message's
 * end, from its delivery log row.
 */
#ifndef NOTIFICATION_EVENTS_H
#define NOTIFICATION_EVENTS_H

#include <jansson.h>

#include "common/emit.h"

/* type: "notification.sent", "notification.failed" or
 * "notification.outcome_unknown"; delivery: the row as JSON
 * (store_delivery_json) with status, provider_id, error_* and attempts as
 * they end. */
db_status_t events_result(const emitter_t *em, const char *type, const json_t *delivery);

#endif
