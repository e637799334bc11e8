/*
 * jobs.c — the send job (notify_send): one delivery log row through its
 * channel, and its end recorded and said on the bus in the job's
 * completion transaction (jobs_begin_finish), so "sent" and "done" commit
 * together.
 *
 * Each message once (issue 12 item 4):
 *   - the row and the job share the dedup key (event, trigger, recipient):
 *     an event heard twice queues nothing more;
 *   - a refusal (SMTP 5xx, an invalid number, a blocked chat) fails the
 *     row at once; a transient failure backs off (the kit's jobs, Telegram's
 *     retry_after honoured) until NOTIFY_MAX_ATTEMPTS, then fails it;
 *   - a call that may have reached the provider (channels.h's
 *     NOTIFY_UNKNOWN), and a job found claimed but never finished (its
 *     worker died mid-call: job->resumed), end `outcome_unknown`: reported,
 *     never sent again by us.
 *
 * Clients are one per worker thread (channels.h: a client is used by one
 * thread at a time); more workers (JOB_WORKERS) send more at once.
 */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/emit.h"
#include "common/log.h"
#include "common/uuid.h"
#include "services/notification/adapters/channels.h"
#include "services/notification/events.h"
#include "services/notification/notification.h"
#include "services/notification/optout.h"
#include "services/notification/rules.h"
#include "services/notification/store.h"

#define JOB_SEND        "notify_send"
#define CONNECT_TIMEOUT 5000

typedef struct {
    smtp_client_t *smtp;
    smsru_client_t *sms;
    telegram_client_t *telegram;
} clients_t;

static pthread_key_t clients_key;
static pthread_once_t clients_once = PTHREAD_ONCE_INIT;
static int clients_key_failed;

static void clients_free(void *arg)
{
    clients_t *clients = arg;
    smtp_client_destroy(&clients->smtp);
    smsru_client_destroy(&clients->sms);
    telegram_client_destroy(&clients->telegram);
    free(clients);
}

static void make_key(void)
{
    clients_key_failed = pthread_key_create(&clients_key, clients_free) != 0;
}

static clients_t *clients_of_thread(void)
{
    if (clients_key_failed)
        return NULL;
    clients_t *clients = pthread_getspecific(clients_key);
    if (!clients) {
        clients = calloc(1, sizeof *clients);
        if (clients && pthread_setspecific(clients_key, clients) != 0) {
            free(clients);
            clients = NULL;
        }
    }
    return clients;
}

static const char *text_of(const json_t *object, const char *key)
{
    const char *text = json_string_value(json_object_get(object, key));
    return text ? text : "";
}

static const char *or_null(const char *text)
{
    return text && text[0] ? text : NULL;
}

static notify_result_t unconfigured(notify_error_t *err, const char *channel)
{
    snprintf(err->code, sizeof err->code, "unconfigured");
    snprintf(err->message, sizeof err->message, "no %s provider is configured", channel);
    return NOTIFY_TRANSIENT;
}

static notify_result_t send_email(notification_app_t *app, clients_t *clients,
                                  const json_t *delivery, char *provider_id, notify_error_t *err)
{
    notify_limits_t limits = {CONNECT_TIMEOUT, (long)app->send_timeout_ms};
    if (!clients->smtp && app->smtp_url[0]) {
        const char *at = strchr(app->mail_from, '@');
        smtp_config_t config = {
            .url = app->smtp_url,
            .user = or_null(app->smtp_user),
            .password = or_null(app->smtp_password),
            .ca_file = or_null(app->smtp_ca),
            .helo_domain = at ? at + 1 : NULL,
            .limits = limits,
        };
        clients->smtp = smtp_client_new(&config);
    }
    if (!clients->smtp)
        return unconfigured(err, "SMTP");
    char message_id[NOTIFY_ID_SIZE], unsubscribe[OPTOUT_URL_SIZE] = "";
    const char *at = strchr(app->mail_from, '@');
    snprintf(message_id, sizeof message_id, "<%s@%s>", text_of(delivery, "delivery_id"),
             at ? at + 1 : "localhost");
    optout_url(app->public_url, app->optout_key, text_of(delivery, "customer_id"), "email",
               unsubscribe);
    notify_mailbox_t to = {or_null(text_of(delivery, "recipient_name")),
                           text_of(delivery, "recipient")};
    notify_email_t email = {
        .from = {or_null(app->shop_name), app->mail_from},
        .to = &to,
        .to_count = 1,
        .subject = text_of(delivery, "subject"),
        .text = text_of(delivery, "body"),
        .html = or_null(text_of(delivery, "html")),
        .message_id = message_id,
        .unsubscribe_url = or_null(unsubscribe),
    };
    return smtp_send(clients->smtp, &email, provider_id, err);
}

static notify_result_t send_sms(notification_app_t *app, clients_t *clients, const json_t *delivery,
                                char *provider_id, notify_error_t *err)
{
    if (!clients->sms && app->sms_url[0]) {
        smsru_config_t config = {
            .base_url = app->sms_url,
            .api_id = app->sms_api_id,
            .from = or_null(app->sms_from),
            .limits = {CONNECT_TIMEOUT, (long)app->send_timeout_ms},
        };
        clients->sms = smsru_client_new(&config);
    }
    if (!clients->sms)
        return unconfigured(err, "SMS");
    const char *number = text_of(delivery, "recipient");
    smsru_message_t message = {.numbers = &number, .count = 1, .text = text_of(delivery, "body")};
    smsru_number_result_t per_number[1];
    memset(per_number, 0, sizeof per_number);
    notify_result_t result = smsru_send(clients->sms, &message, per_number, err);
    if (result != NOTIFY_SENT)
        return result;
    if (per_number[0].result != NOTIFY_SENT) {
        snprintf(err->code, sizeof err->code, "%d", per_number[0].status_code);
        snprintf(err->message, sizeof err->message, "%s", per_number[0].message);
        return per_number[0].result;
    }
    snprintf(provider_id, NOTIFY_ID_SIZE, "%s", per_number[0].sms_id);
    return NOTIFY_SENT;
}

static notify_result_t send_telegram(notification_app_t *app, clients_t *clients,
                                     const json_t *delivery, char *provider_id, notify_error_t *err)
{
    if (!clients->telegram && app->telegram_url[0] && app->telegram_token[0]) {
        telegram_config_t config = {
            .base_url = app->telegram_url,
            .token = app->telegram_token,
            .limits = {CONNECT_TIMEOUT, (long)app->send_timeout_ms},
        };
        clients->telegram = telegram_client_new(&config);
    }
    if (!clients->telegram)
        return unconfigured(err, "Telegram");
    telegram_message_t message = {
        .chat_id = text_of(delivery, "recipient"),
        .text = text_of(delivery, "body"),
        .parse_mode = TELEGRAM_PLAIN,
    };
    return telegram_send(clients->telegram, &message, provider_id, err);
}

static notify_result_t send_by_channel(notification_app_t *app, const json_t *delivery,
                                       char *provider_id, notify_error_t *err)
{
    clients_t *clients = clients_of_thread();
    if (!clients) {
        snprintf(err->code, sizeof err->code, "out_of_memory");
        snprintf(err->message, sizeof err->message, "no room for the channel clients");
        return NOTIFY_TRANSIENT;
    }
    const char *channel = text_of(delivery, "channel");
    if (strcmp(channel, "email") == 0)
        return send_email(app, clients, delivery, provider_id, err);
    if (strcmp(channel, "sms") == 0)
        return send_sms(app, clients, delivery, provider_id, err);
    return send_telegram(app, clients, delivery, provider_id, err);
}

static const char *status_of(send_verdict_t verdict)
{
    return verdict == SEND_SENT ? "sent" : verdict == SEND_FAILED ? "failed" : "outcome_unknown";
}

/* The row's end and its message, in the completion transaction. */
static job_outcome_t finish(job_run_t *run, notification_app_t *app, const char *id,
                            send_verdict_t verdict, const char *provider_id,
                            const notify_error_t *err)
{
    db_t *db = job_run_db(run);
    db_status_t status = jobs_begin_finish(run);
    if (status != DB_OK)
        return jobs_result(run, status, "open the completion transaction");
    bool moved = false;
    const char *state = status_of(verdict);
    status = store_delivery_finish(db, id, state, provider_id, err->code, err->message,
                                   job_run_job(run)->attempt, &moved);
    json_t *delivery = NULL;
    if (status == DB_OK && moved)
        status = store_delivery_json(db, id, &delivery);
    if (status == DB_OK && delivery) {
        char type[64];
        snprintf(type, sizeof type, "notification.%s", state);
        emitter_t em = emitter_root(db, "notification");
        status = events_result(&em, type, delivery);
    }
    json_decref(delivery);
    if (status == DB_OK) {
        metrics_counter_add(verdict == SEND_SENT     ? app->sent_total
                            : verdict == SEND_FAILED ? app->failed_total
                                                     : app->unknown_total,
                            1);
        return JOB_DONE;
    }
    job_outcome_t outcome = jobs_result(run, status, "record a message's end");
    /* the provider may have it and we cannot record it: never "failed" */
    return outcome == JOB_FAIL ? JOB_UNKNOWN : outcome;
}

static job_outcome_t run_send(job_run_t *run)
{
    notification_app_t *app = job_run_arg(run);
    const job_t *job = job_run_job(run);
    json_t *payload = json_loads(job->payload, 0, NULL);
    char id[UUID_TEXT_SIZE];
    const char *text = json_string_value(json_object_get(payload, "id"));
    bool ok = text && uuid_valid(text);
    if (ok)
        memcpy(id, text, UUID_TEXT_SIZE);
    json_decref(payload);
    if (!ok) {
        job_run_error(run, "bad_payload", "the send job names no delivery");
        return JOB_FAIL;
    }
    json_t *delivery = NULL;
    db_status_t status = store_delivery_json(job_run_db(run), id, &delivery);
    if (status != DB_OK)
        return jobs_result(run, status, "read the delivery");
    if (!delivery || strcmp(text_of(delivery, "status"), "pending") != 0) {
        json_decref(delivery);
        return JOB_DONE; /* gone, or already ended */
    }
    char provider_id[NOTIFY_ID_SIZE] = "";
    notify_error_t err;
    memset(&err, 0, sizeof err);
    send_verdict_t verdict;
    if (job->resumed) {
        verdict = SEND_OUTCOME_UNKNOWN;
        snprintf(err.code, sizeof err.code, "interrupted");
        snprintf(err.message, sizeof err.message,
                 "the sender stopped during the call: the provider may have the message");
    } else {
        notify_result_t result = send_by_channel(app, delivery, provider_id, &err);
        verdict = rules_send_verdict(result, false, job->attempt, job->max_attempts);
    }
    if (verdict != SEND_SENT)
        log_warn("a message was not sent", LF_STR("delivery_id", id),
                 LF_STR("channel", text_of(delivery, "channel")),
                 LF_STR("verdict", rules_verdict_name(verdict)), LF_STR("code", err.code),
                 LF_STR("message", err.message), LF_INT("attempt", job->attempt));
    json_decref(delivery);
    if (verdict == SEND_RETRY) {
        status = store_delivery_attempt(job_run_db(run), id, err.code, err.message, job->attempt);
        if (err.retry_after_ms > 0)
            job_run_retry_after(run, err.retry_after_ms);
        job_run_error(run, err.code[0] ? err.code : "transient", "%s", err.message);
        (void)status; /* the note is a courtesy; the retry is the kit's */
        return JOB_RETRY;
    }
    return finish(run, app, id, verdict, provider_id, &err);
}

int notification_jobs_register(jobs_t *jobs, notification_app_t *app)
{
    pthread_once(&clients_once, make_key);
    if (clients_key_failed)
        return -1;
    return jobs_register(jobs, JOB_SEND, run_send, app);
}
