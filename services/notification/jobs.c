/*
 * jobs.c — the send job (notify_send): a delivery log row through its
 * channel, and its end recorded and said on the bus in the job's
 * completion transaction, so "sent" and "done" commit together.
 *
 * A batch kind (common/jobs.h): a worker takes up to NOTIFY_SEND_BATCH due
 * sends at once, reads their rows in one statement, sends them one after
 * another over its clients' open connections, and records all their ends
 * in one completion transaction (jobs_begin_finish_many: one UPDATE of the
 * rows, their events, one COMMIT) instead of a claim, a start and a commit
 * per message: the database's work per message is what limited the rate.
 * A batch starts no call after NOTIFY_SEND_TIMEOUT has gone by: what is
 * left goes back to the queue unstarted (jobs_release) for other workers,
 * so a provider that hangs holds up one message, not a batch. The leases
 * are kept alive between calls.
 *
 * Each message once (issue 12 item 4):
 *   - the row and the job share the dedup key (event, trigger, recipient):
 *     an event heard twice queues nothing more;
 *   - a refusal (SMTP 5xx, an invalid number, a blocked chat) fails the
 *     row at once; a transient failure backs off (the kit's jobs, Telegram's
 *     retry_after honoured) until NOTIFY_MAX_ATTEMPTS, then fails it;
 *   - a call that may have reached the provider (channels.h's
 *     NOTIFY_UNKNOWN) ends `outcome_unknown`: reported, never sent again
 *     by us. So does a job found claimed but never finished (its worker
 *     died: job->resumed) whose message was marked handed: the mark is
 *     committed just before the call can hand the message over (an email's
 *     last bytes and final dot, an SMS's or a Telegram request) and
 *     cleared when an attempt fails for a retry. A resumed job whose
 *     message was never marked (its batch died before reaching it, or in
 *     its SMTP session before the message was whole) certainly was not
 *     sent: it is sent now. The marks are committed in groups of
 *     NOTIFY_HANDED_AHEAD (on_handing: the message about to be handed
 *     over and the next ones its batch sends), one commit for several
 *     messages: a dead batch has at most NOTIFY_HANDED_AHEAD - 1 messages
 *     beyond the one in flight reported though never sent.
 *
 * An order's messages in order (dispatch.c): a message's end queues the
 * next pending message of its order to the same recipient by the same
 * channel, in the completion transaction, under the order's lock. A send
 * job that dies without that end (the kit gives it up: its attempts ran
 * out with their workers lost; or its end could not be recorded) ends its
 * message as it dies (on_send_dead: failed, or outcome_unknown when
 * handed), so no message waits for ever behind a job that will never run.
 *
 * Clients are one per worker thread (channels.h: a client is used by one
 * thread at a time); more workers (JOB_WORKERS) send more at once.
 */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/emit.h"
#include "common/log.h"
#include "common/uuid.h"
#include "services/notification/adapters/channels.h"
#include "services/notification/dispatch.h"
#include "services/notification/documents.h"
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

/* One message of a batch. */
typedef struct {
    job_run_t *run;
    char id[UUID_TEXT_SIZE];
    const json_t *delivery; /* borrowed from the batch's rows; NULL: gone */
    bool completed;         /* its run's outcome is recorded */
    bool marked;            /* its handed mark is committed */
    send_verdict_t verdict;
    char provider_id[NOTIFY_ID_SIZE];
    notify_error_t err;
} send_t;

/* Whether the batch will still try to hand this message over: it is in
 * hand, pending, and not an interrupted send found handed (reported). */
static bool still_to_send(const send_t *send)
{
    return !send->completed && !send->marked && send->delivery &&
           strcmp(text_of(send->delivery, "status"), "pending") == 0 &&
           !job_run_lease_lost(send->run) &&
           !(job_run_job(send->run)->resumed &&
             json_is_true(json_object_get(send->delivery, "handed")));
}

/* What a send records as it goes: the message may be at the provider,
 * before the call can hand it over. The marks go ahead in groups: a
 * message about to be handed over and not yet marked is marked together
 * with the next ones its batch will send (NOTIFY_HANDED_AHEAD in all, in
 * the order of sending), in one statement and one commit; those find
 * theirs done when their turn comes. A batch that dies leaves at most
 * NOTIFY_HANDED_AHEAD - 1 messages marked beyond the one it was handing
 * over: reported outcome_unknown, though never sent. A message is never
 * handed over unmarked, so none is ever sent twice. */
typedef struct {
    db_t *db;
    send_t *sends; /* the batch, in the order of sending */
    size_t count;
    size_t at; /* the message being sent */
    int ahead; /* NOTIFY_HANDED_AHEAD */
} handing_t;

static int on_handing(void *arg)
{
    handing_t *handing = arg;
    send_t *self = &handing->sends[handing->at];
    if (self->marked)
        return 0; /* marked with an earlier message of the batch */
    send_t *group[JOBS_BATCH_MAX];
    const char *ids[JOBS_BATCH_MAX];
    size_t n = 0;
    group[n] = self;
    ids[n++] = self->id;
    for (size_t j = handing->at + 1; j < handing->count && n < (size_t)handing->ahead; j++) {
        if (still_to_send(&handing->sends[j])) {
            group[n] = &handing->sends[j];
            ids[n++] = handing->sends[j].id;
        }
    }
    db_status_t status = store_deliveries_handed(handing->db, ids, n);
    if (status != DB_OK) {
        log_warn("could not record that a message is being handed over; not sending it",
                 LF_STR("delivery_id", self->id), LF_STR("pg", db_errmsg(handing->db)),
                 LF_ERR("handing_unrecorded"));
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        group[i]->marked = true;
    return 0;
}

static notify_result_t not_handed(notify_error_t *err)
{
    snprintf(err->code, sizeof err->code, "handing_unrecorded");
    snprintf(err->message, sizeof err->message,
             "the send was not begun: its handing over could not be recorded");
    return NOTIFY_TRANSIENT;
}

static notify_result_t unconfigured(notify_error_t *err, const char *channel)
{
    snprintf(err->code, sizeof err->code, "unconfigured");
    snprintf(err->message, sizeof err->message, "no %s provider is configured", channel);
    return NOTIFY_TRANSIENT;
}

static notify_result_t send_email(notification_app_t *app, clients_t *clients, handing_t *handing,
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
    documents_t docs;
    notify_result_t fetched = documents_fetch(app, delivery, &docs, err);
    if (fetched != NOTIFY_SENT)
        return fetched; /* never without the documents its trigger asks for */
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
        .attachments = docs.items,
        .attachment_count = docs.count,
        .on_handing = on_handing,
        .handing_arg = handing,
    };
    notify_result_t result = smtp_send(clients->smtp, &email, provider_id, err);
    documents_release(&docs);
    return result;
}

static notify_result_t send_sms(notification_app_t *app, clients_t *clients, handing_t *handing,
                                const json_t *delivery, char *provider_id, notify_error_t *err)
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
    if (on_handing(handing) != 0)
        return not_handed(err);
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
                                     handing_t *handing, const json_t *delivery, char *provider_id,
                                     notify_error_t *err)
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
    if (on_handing(handing) != 0)
        return not_handed(err);
    return telegram_send(clients->telegram, &message, provider_id, err);
}

static notify_result_t send_by_channel(notification_app_t *app, handing_t *handing,
                                       const json_t *delivery, char *provider_id,
                                       notify_error_t *err)
{
    clients_t *clients = clients_of_thread();
    if (!clients) {
        snprintf(err->code, sizeof err->code, "out_of_memory");
        snprintf(err->message, sizeof err->message, "no room for the channel clients");
        return NOTIFY_TRANSIENT;
    }
    const char *channel = text_of(delivery, "channel");
    if (strcmp(channel, "email") == 0)
        return send_email(app, clients, handing, delivery, provider_id, err);
    if (strcmp(channel, "sms") == 0)
        return send_sms(app, clients, handing, delivery, provider_id, err);
    return send_telegram(app, clients, handing, delivery, provider_id, err);
}

static const char *status_of(send_verdict_t verdict)
{
    return verdict == SEND_SENT ? "sent" : verdict == SEND_FAILED ? "failed" : "outcome_unknown";
}

static delivery_end_t end_of(const send_t *send)
{
    return (delivery_end_t){
        .delivery_id = send->id,
        .status = status_of(send->verdict),
        .provider_id = send->provider_id,
        .error_code = send->err.code,
        .error_message = send->err.message,
        .attempts = job_run_job(send->run)->attempt,
    };
}

/* The moved rows' messages on the bus, in the open transaction. */
static db_status_t say_ends(db_t *db, const json_t *moved)
{
    db_status_t status = DB_OK;
    size_t i;
    const json_t *delivery;
    json_array_foreach(moved, i, delivery)
    {
        if (status != DB_OK)
            break;
        char type[64];
        snprintf(type, sizeof type, "notification.%s", text_of(delivery, "status"));
        emitter_t em = emitter_root(db, "notification");
        status = events_result(&em, type, delivery);
    }
    return status;
}

/* The moved rows' successors queued (dispatch.c: an order's later message
 * to the same recipient by the same channel waits for the earlier to
 * end), in the open transaction. */
static db_status_t queue_next(notification_app_t *app, db_t *db, const json_t *moved)
{
    const char *ids[JOBS_BATCH_MAX];
    size_t count = 0, i;
    const json_t *delivery;
    json_array_foreach(moved, i, delivery)
    {
        if (count < JOBS_BATCH_MAX && json_string_value(json_object_get(delivery, "order_id")))
            ids[count++] = text_of(delivery, "delivery_id");
    }
    if (count == 0)
        return DB_OK;
    json_t *next = NULL;
    db_status_t status = store_deliveries_next(db, ids, count, &next);
    json_array_foreach(next, i, delivery)
    {
        if (status != DB_OK)
            break;
        status = dispatch_send_enqueue(
            app, db, text_of(delivery, "delivery_id"), text_of(delivery, "dedup_key"),
            (int64_t)json_integer_value(json_object_get(delivery, "not_before_ms")));
    }
    json_decref(next);
    return status;
}

static void count_ends(notification_app_t *app, const json_t *moved)
{
    size_t i;
    const json_t *delivery;
    json_array_foreach(moved, i, delivery)
    {
        const char *state = text_of(delivery, "status");
        metrics_counter_add(strcmp(state, "sent") == 0     ? app->sent_total
                            : strcmp(state, "failed") == 0 ? app->failed_total
                                                           : app->unknown_total,
                            1);
    }
}

/* A failure to record an end: a message the provider may have must never
 * be sent again, so it is left to an operator (the job outcome_unknown)
 * rather than retried. */
static job_outcome_t unrecorded(job_run_t *run, send_verdict_t verdict, db_status_t status)
{
    job_outcome_t outcome = jobs_result(run, status, "record a message's end");
    if (verdict != SEND_FAILED && outcome != JOB_DONE)
        return JOB_UNKNOWN;
    return outcome == JOB_FAIL ? JOB_UNKNOWN : outcome;
}

/* One message's end in its own completion transaction (when the batch's
 * could not be had). */
static job_outcome_t finish_one(notification_app_t *app, send_t *send)
{
    job_run_t *run = send->run;
    db_t *db = job_run_db(run);
    db_status_t status = jobs_begin_finish(run);
    if (status != DB_OK)
        return unrecorded(run, send->verdict, status);
    delivery_end_t end = end_of(send);
    json_t *moved = NULL;
    status = store_deliveries_finish(db, &end, 1, &moved);
    if (status == DB_OK)
        status = say_ends(db, moved);
    if (status == DB_OK)
        status = queue_next(app, db, moved);
    if (status == DB_OK)
        count_ends(app, moved);
    json_decref(moved);
    return status == DB_OK ? JOB_DONE : unrecorded(run, send->verdict, status);
}

/* The ends of count sends in one completion transaction; each alone when
 * that fails. Every run is completed. */
static void finish_all(notification_app_t *app, send_t **sends, size_t count)
{
    if (count == 0)
        return;
    job_run_t *runs[JOBS_BATCH_MAX];
    delivery_end_t ends[JOBS_BATCH_MAX];
    for (size_t i = 0; i < count; i++)
        runs[i] = sends[i]->run;
    db_t *db = job_run_db(runs[0]);
    db_status_t status = jobs_begin_finish_many(runs, count);
    json_t *moved = NULL;
    if (status == DB_OK) {
        size_t held = 0;
        for (size_t i = 0; i < count; i++)
            if (!job_run_lease_lost(runs[i]))
                ends[held++] = end_of(sends[i]);
        status = store_deliveries_finish(db, ends, held, &moved);
        if (status == DB_OK)
            status = say_ends(db, moved);
        if (status == DB_OK)
            status = queue_next(app, db, moved);
        if (status == DB_OK)
            status = jobs_finish_many(runs, count);
        if (status == DB_OK)
            count_ends(app, moved);
    }
    json_decref(moved);
    if (status == DB_OK)
        return;
    if (db_in_tx(db))
        db_rollback(db);
    log_warn("a batch's ends could not be recorded together; recording each alone",
             LF_INT("messages", (long long)count), LF_STR("pg", db_errmsg(db)),
             LF_ERR("batch_finish_failed"));
    for (size_t i = 0; i < count; i++) {
        if (job_run_lease_lost(runs[i]))
            jobs_complete(runs[i], JOB_RETRY); /* another worker has it: the kit says so */
        else
            jobs_complete(runs[i], finish_one(app, sends[i]));
    }
}

/* Reads the batch's job payloads and rows; a run that cannot be read is
 * completed here. *rows_out holds the rows the sends borrow. */
static void read_batch(job_run_t *const *runs, size_t count, send_t *sends, json_t **rows_out)
{
    const char *ids[JOBS_BATCH_MAX];
    size_t wanted = 0;
    for (size_t i = 0; i < count; i++) {
        send_t *send = &sends[i];
        send->run = runs[i];
        json_t *payload = json_loads(job_run_job(runs[i])->payload, 0, NULL);
        const char *text = json_string_value(json_object_get(payload, "id"));
        bool ok = text && uuid_valid(text);
        if (ok)
            memcpy(send->id, text, UUID_TEXT_SIZE);
        json_decref(payload);
        if (!ok) {
            job_run_error(runs[i], "bad_payload", "the send job names no delivery");
            jobs_complete(runs[i], JOB_FAIL);
            send->completed = true;
            continue;
        }
        ids[wanted++] = send->id;
    }
    *rows_out = NULL;
    if (wanted == 0)
        return;
    db_status_t status = store_deliveries_json(job_run_db(runs[0]), ids, wanted, rows_out);
    for (size_t i = 0; status != DB_OK && i < count; i++) {
        if (!sends[i].completed)
            jobs_complete(runs[i], jobs_result(runs[i], status, "read the deliveries"));
        sends[i].completed = true;
    }
    if (status != DB_OK)
        return;
    size_t r;
    const json_t *row;
    json_array_foreach(*rows_out, r, row)
    {
        const char *id = text_of(row, "delivery_id");
        for (size_t i = 0; i < count; i++)
            if (!sends[i].delivery && strcmp(sends[i].id, id) == 0)
                sends[i].delivery = row;
    }
}

/* Sends one message (or finds it interrupted): its verdict. A transient
 * failure is completed here, retried with backoff. false when the run is
 * completed. */
static bool send_one(notification_app_t *app, send_t *sends, size_t count, size_t at)
{
    send_t *send = &sends[at];
    job_run_t *run = send->run;
    const job_t *job = job_run_job(run);
    if (job->resumed && json_is_true(json_object_get(send->delivery, "handed"))) {
        send->verdict = SEND_OUTCOME_UNKNOWN;
        snprintf(send->err.code, sizeof send->err.code, "interrupted");
        snprintf(send->err.message, sizeof send->err.message,
                 "the sender stopped during the call: the provider may have the message");
    } else {
        if (job->resumed)
            log_info("an interrupted send had not handed its message over: sending it",
                     LF_STR("delivery_id", send->id), LF_INT("attempt", job->attempt));
        handing_t handing = {job_run_db(run), sends, count, at, app->handed_ahead};
        notify_result_t result =
            send_by_channel(app, &handing, send->delivery, send->provider_id, &send->err);
        send->verdict = rules_send_verdict(result, false, job->attempt, job->max_attempts);
    }
    if (send->verdict != SEND_SENT)
        log_warn("a message was not sent", LF_STR("delivery_id", send->id),
                 LF_STR("channel", text_of(send->delivery, "channel")),
                 LF_STR("verdict", rules_verdict_name(send->verdict)),
                 LF_STR("code", send->err.code), LF_STR("message", send->err.message),
                 LF_INT("attempt", job->attempt));
    if (send->verdict != SEND_RETRY)
        return true;
    db_status_t status = store_delivery_attempt(job_run_db(run), send->id, send->err.code,
                                                send->err.message, job->attempt);
    (void)status; /* the note is a courtesy; the retry is the kit's */
    send->marked = false;
    if (send->err.retry_after_ms > 0)
        job_run_retry_after(run, send->err.retry_after_ms);
    job_run_error(run, send->err.code[0] ? send->err.code : "transient", "%s", send->err.message);
    jobs_complete(run, JOB_RETRY);
    return false;
}

/* Extends the leases of the batch's runs not yet completed. */
static void keep_leases(send_t *sends, size_t count)
{
    job_run_t *runs[JOBS_BATCH_MAX];
    size_t n = 0;
    for (size_t i = 0; i < count; i++)
        if (!sends[i].completed)
            runs[n++] = sends[i].run;
    if (n > 0)
        (void)jobs_keepalive_many(runs, n); /* a run found lost is marked so */
}

/* A message the batch will not begin back to the queue unstarted, its
 * mark (made ahead with an earlier message) taken back first: whoever
 * takes it next and dies before reaching it must not report it. */
static void give_back(job_run_t *run, send_t *send)
{
    if (send->marked && !job_run_lease_lost(run)) {
        db_t *db = job_run_db(run);
        if (store_delivery_unhanded(db, send->id) == DB_OK)
            send->marked = false;
        else
            log_warn("could not take back a mark of a message never handed over",
                     LF_STR("delivery_id", send->id), LF_STR("pg", db_errmsg(db)),
                     LF_ERR("handing_unrecorded"));
    }
    jobs_release(run);
}

static void run_send_batch(job_run_t *const *runs, size_t count, void *arg)
{
    notification_app_t *app = arg;
    send_t *sends = calloc(count, sizeof *sends);
    if (!sends || count > JOBS_BATCH_MAX) {
        free(sends);
        for (size_t i = 0; i < count; i++) {
            job_run_error(runs[i], "out_of_memory", "no room for a batch of %zu sends", count);
            jobs_complete(runs[i], JOB_RETRY);
        }
        return;
    }
    json_t *rows = NULL;
    read_batch(runs, count, sends, &rows);
    send_t *ending[JOBS_BATCH_MAX];
    size_t ends = 0;
    int64_t started_ms = clock_mono_ms(), kept_ms = started_ms;
    for (size_t i = 0; i < count; i++) {
        send_t *send = &sends[i];
        job_run_t *run = send->run;
        if (send->completed)
            continue;
        send->completed = true; /* unless it ends with the batch, below */
        if (!send->delivery || strcmp(text_of(send->delivery, "status"), "pending") != 0) {
            jobs_complete(run, JOB_DONE); /* gone, or already ended */
            continue;
        }
        int64_t now_ms = clock_mono_ms();
        if (!job_run_job(run)->resumed && now_ms - started_ms >= app->send_timeout_ms) {
            give_back(run, send); /* the batch is slow: the rest to other workers, unstarted */
            continue;
        }
        send->completed = false;
        if (now_ms - kept_ms >= app->send_timeout_ms / 2) {
            keep_leases(sends, count);
            kept_ms = now_ms;
        }
        if (job_run_lease_lost(run)) {
            jobs_complete(run, JOB_RETRY); /* another worker has it: the kit says so */
            send->completed = true;
            continue;
        }
        if (send_one(app, sends, count, i))
            ending[ends++] = send;
        else
            send->completed = true; /* retried */
    }
    finish_all(app, ending, ends);
    json_decref(rows);
    free(sends);
}

/* A send job dead without its message's end (common/jobs.h jobs_on_dead:
 * its attempts ran out with their workers lost, or its handler gave up
 * before recording the end): the message ends with it, in the transaction
 * that marks the job dead, reported like any end — outcome_unknown when it
 * was marked handed (it may be at the provider), else failed (it certainly
 * is not) — and the next message of its order to the same recipient by
 * the same channel is queued, so none waits for ever behind it. */
static db_status_t on_send_dead(job_run_t *run, const char *outcome, const char *code,
                                const char *detail)
{
    notification_app_t *app = job_run_arg(run);
    db_t *db = job_run_db(run);
    json_t *payload = json_loads(job_run_job(run)->payload, 0, NULL);
    const char *id = json_string_value(json_object_get(payload, "id"));
    if (!id || !uuid_valid(id)) {
        json_decref(payload);
        return DB_OK; /* names no message: nothing waits for it */
    }
    char why[600];
    snprintf(why, sizeof why, "the send job died (%s): %s", outcome,
             detail && detail[0] ? detail : "no reason given");
    json_t *moved = NULL;
    db_status_t status = store_delivery_given_up(db, id, code && code[0] ? code : "send_job_dead",
                                                 why, job_run_job(run)->attempt, &moved);
    if (status == DB_OK)
        status = say_ends(db, moved);
    if (status == DB_OK)
        status = queue_next(app, db, moved);
    if (status == DB_OK && json_array_size(moved) > 0) {
        count_ends(app, moved);
        log_warn("a message's send job died: the message ends with it", LF_STR("delivery_id", id),
                 LF_STR("status", text_of(json_array_get(moved, 0), "status")),
                 LF_STR("job_outcome", outcome), LF_ERR("send_job_dead"));
    }
    json_decref(moved);
    json_decref(payload);
    return status;
}

/* A message's wait for its order ends (dispatch.c): under the order's lock,
 * sent if the order is known by now (dispatch_waiting takes every message
 * waiting for it), else dropped, logged and counted. Nothing left waiting:
 * it went with order.placed. */
static job_outcome_t run_waiting_end(job_run_t *run)
{
    notification_app_t *app = job_run_arg(run);
    json_t *payload = json_loads(job_run_job(run)->payload, 0, NULL);
    const char *event_id = json_string_value(json_object_get(payload, "event_id"));
    const char *trigger_id = json_string_value(json_object_get(payload, "trigger_id"));
    const char *order_id = json_string_value(json_object_get(payload, "order_id"));
    if (!event_id || !trigger_id || !order_id || !uuid_valid(order_id)) {
        json_decref(payload);
        job_run_error(run, "bad_payload", "the job names no waiting message");
        return JOB_FAIL;
    }
    db_t *db = job_run_db(run);
    db_status_t status = jobs_begin_finish(run);
    if (status != DB_OK) {
        json_decref(payload);
        /* DB_ERROR: the lease is lost; whoever holds it now runs it */
        return status == DB_ERROR ? JOB_RETRY : jobs_result(run, status, "begin a wait's end");
    }
    bool known = false, found = false;
    int recorded = 0;
    status = store_order_lock(db, order_id);
    if (status == DB_OK)
        status = store_order_known(db, order_id, &known);
    if (status == DB_OK && known)
        status = dispatch_waiting(app, db, order_id, &recorded);
    else if (status == DB_OK)
        status = store_waiting_drop(db, event_id, trigger_id, &found);
    if (status == DB_OK && known && recorded > 0)
        log_warn("messages that waited for their order went at the end of the wait",
                 LF_STR("order_id", order_id), LF_INT("messages", recorded),
                 LF_ERR("waiting_late"));
    if (status == DB_OK && found) {
        log_warn("a message waited NOTIFY_WAITING_KEEP for its order, never heard placed: dropped",
                 LF_STR("order_id", order_id), LF_STR("event_id", event_id),
                 LF_STR("trigger_id", trigger_id), LF_ERR("waiting_dropped"));
        metrics_counter_add(app->dropped_total, 1);
    }
    json_decref(payload);
    return status == DB_OK ? JOB_DONE : jobs_result(run, status, "end a message's wait");
}

int notification_jobs_register(jobs_t *jobs, notification_app_t *app)
{
    pthread_once(&clients_once, make_key);
    if (clients_key_failed)
        return -1;
    if (jobs_register(jobs, JOB_WAITING_END, run_waiting_end, app) != 0)
        return -1;
    if (jobs_register_batch(jobs, JOB_SEND, app->send_batch, run_send_batch, app) != 0)
        return -1;
    return jobs_on_dead(jobs, JOB_SEND, on_send_dead);
}
