/*
 * events.c — a delivery's end -> the notification stream's message
 * (events.h). The message borrows the row's strings.
 */
#include "services/notification/events.h"

#include <stdint.h>

#include "common/clock.h"
#include "conveyor/notification.pb-c.h"
#include "services/notification/adapters/outcall.h"

#define SUMMARY_MAX 100 /* bytes of an SMS or Telegram text said on the bus */

/* protobuf-c wants char *, never writes through it */
static char *lend(const json_t *row, const char *key)
{
    const char *text = json_string_value(json_object_get(row, key));
    return (char *)(uintptr_t)(text ? text : "");
}

db_status_t events_result(const emitter_t *em, const char *type, const json_t *delivery)
{
    Conveyor__NotificationResult message = CONVEYOR__NOTIFICATION_RESULT__INIT;
    message.delivery_id = lend(delivery, "delivery_id");
    message.order_id = lend(delivery, "order_id");
    message.event_id = lend(delivery, "event_id");
    message.event_type = lend(delivery, "event_type");
    message.trigger_id = lend(delivery, "trigger_id");
    message.template_ = lend(delivery, "template");
    message.language = lend(delivery, "language");
    message.channel = lend(delivery, "channel");
    message.recipient_kind = lend(delivery, "recipient_kind");
    message.recipient = lend(delivery, "recipient");
    message.provider_id = lend(delivery, "provider_id");
    message.error_code = lend(delivery, "error_code");
    message.error_message = lend(delivery, "error_message");
    message.customer_id = lend(delivery, "customer_id");
    message.attempts = (int32_t)json_integer_value(json_object_get(delivery, "attempts"));
    message.at_ms = clock_now_ms();
    char summary[SUMMARY_MAX + 1];
    const char *subject = lend(delivery, "subject");
    if (!subject[0]) {
        outcall_copy(summary, sizeof summary, lend(delivery, "body"));
        subject = summary;
    }
    message.subject = (char *)(uintptr_t)subject;
    const char *order_id = message.order_id[0] ? message.order_id : NULL;
    return emit(em, type, order_id, &message.base);
}
