/*
 * notification.h — the notification service's application: its
 * settings, its counters, and the register functions main.c wires up
 * (docs/adding-a-service.md).
 *
 * The service (DOMAIN.md F19-F21) hears the order, inventory, payment and
 * shipping streams, keeps what a message needs of each order, and for
 * every event runs the triggers (data: event + condition -> template,
 * channel, recipient), renders each message with Mustache, records it in
 * the delivery log once per (event, trigger, recipient) and sends it as a
 * job: email over SMTP, SMS through an SMS.ru-style gateway, Telegram for
 * staff. Each result goes back on its own stream (notification.sent /
 * .failed / .outcome_unknown) for the order's history. The files:
 *
 *   main.c          wiring only
 *   notification.c  the application: settings and counters
 *   handlers.c      the one table of consumed topics: wire messages -> notices
 *   api.c           triggers, templates, the delivery log, opt-out (docs/notification-api.md)
 *   jobs.c          the send jobs: messages through their channels, a batch at a time
 *   events.c        plain structs -> the notification stream's messages
 *   store.c         every SQL statement
 * the domain, in the caller's transaction:
 *   dispatch.c      an event heard: triggers run, messages rendered and recorded, jobs queued
 *   optout.c        the opt-out link's token
 * pure rules, unit-tested in tests/:
 *   rules.c         trigger conditions, dedup keys, quiet hours, send verdicts
 *   placeholders.c  the data a template is rendered with, money for people
 *   render.cc       Mustache (kainjow's mustache.hpp) behind a C interface
 * adapters/         SMTP, SMS.ru, Telegram (channels.h) and their fakes in tests/fakes/
 */
#ifndef NOTIFICATION_NOTIFICATION_H
#define NOTIFICATION_NOTIFICATION_H

#include <stdint.h>

#include "common/http.h"
#include "common/inbox.h"
#include "common/jobs.h"
#include "common/metrics.h"
#include "common/service.h"
#include "services/notification/rules.h"

#define NOTIFY_LANGUAGE_SIZE 8

typedef struct {
    service_t *svc;
    char language[NOTIFY_LANGUAGE_SIZE]; /* NOTIFY_LANGUAGE: the customers' language */
    quiet_hours_t sms_quiet;             /* NOTIFY_SMS_QUIET_HOURS, in STORE_TZ */
    int max_attempts;                    /* NOTIFY_MAX_ATTEMPTS: a send's tries */
    int64_t send_timeout_ms;             /* NOTIFY_SEND_TIMEOUT: one call to a provider */
    int send_batch;                      /* NOTIFY_SEND_BATCH: messages a worker takes at once */
    int handed_ahead;                    /* NOTIFY_HANDED_AHEAD: messages marked handed at once */
    int64_t waiting_keep_ms; /* NOTIFY_WAITING_KEEP: how long a message waits for its order */
    /* borrowed from the service's configuration */
    const char *shop_name;      /* NOTIFY_SHOP_NAME */
    const char *public_url;     /* NOTIFY_PUBLIC_URL: where the opt-out link points */
    const char *optout_key;     /* NOTIFY_OPTOUT_KEY: signs the opt-out links */
    const char *staff_chat;     /* NOTIFY_STAFF_CHAT: Telegram chat of the staff */
    const char *smtp_url;       /* NOTIFY_SMTP_URL */
    const char *smtp_user;      /* NOTIFY_SMTP_USER */
    const char *smtp_password;  /* NOTIFY_SMTP_PASSWORD */
    const char *smtp_ca;        /* NOTIFY_SMTP_CA: a CA file to trust (the fake's) */
    const char *mail_from;      /* NOTIFY_MAIL_FROM */
    const char *sms_url;        /* NOTIFY_SMS_URL */
    const char *sms_api_id;     /* NOTIFY_SMS_API_ID */
    const char *sms_from;       /* NOTIFY_SMS_FROM */
    const char *telegram_url;   /* NOTIFY_TELEGRAM_URL */
    const char *telegram_token; /* NOTIFY_TELEGRAM_TOKEN */
    const char *order_url;      /* NOTIFY_ORDER_URL: the order service (the order's PDF) */
    const char *payment_url;    /* NOTIFY_PAYMENT_URL: the payment service (the invoice's PDF) */

    metrics_counter_t *recorded_total;   /* messages recorded in the delivery log */
    metrics_counter_t *sent_total;       /* sent */
    metrics_counter_t *failed_total;     /* failed for good */
    metrics_counter_t *unknown_total;    /* outcome unknown */
    metrics_counter_t *suppressed_total; /* opted out */
    metrics_counter_t *dropped_total;    /* waited NOTIFY_WAITING_KEEP for an order never heard */
} notification_app_t;

/* notification.c: reads the service's settings and makes its counters.
 * NULL (logged) on a bad setting or out of memory. Caller owns it. */
notification_app_t *notification_app_new(service_t *svc);
void notification_app_destroy(notification_app_t **self_p);

/* handlers.c: a handler for every consumed topic. 0 ok, -1 OOM. */
int handlers_register(inbox_t *inbox, notification_app_t *app);

/* api.c: the HTTP routes. 0 ok, -1 OOM. */
int api_register(http_server_t *http, notification_app_t *app);

/* jobs.c: the send job (a batch kind). 0 ok, -1 OOM. */
int notification_jobs_register(jobs_t *jobs, notification_app_t *app);

#endif
