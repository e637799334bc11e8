/*
 * notices.c — the bank's callbacks, verified on the HTTP thread and
 * applied in batches by committer threads (notices.h).
 *
 * A notice's way: notices_webhook verifies it and defers the request's
 * answer; groupcommit hands a batch of notices to commit_batch, which
 * sorts them by event id (the same event delivered twice lands side by
 * side; the rows are locked in one order by every committer, so two
 * batches do not deadlock over them), keeps them, applies each event not
 * applied before, commits once, and finishes every request with its
 * event's outcome.
 *
 * Applying costs statements, and statements are most of a callback's CPU
 * (the service's and PostgreSQL's): the batch's payments go first, all
 * together (money_paid_many: a few statements for the batch, where each
 * alone takes several), then whatever they left, one by one. A new event
 * is kept already marked applied, in the same transaction that applies
 * it or forgets it.
 */
#include "services/payment/notices.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/emit.h"
#include "common/groupcommit.h"
#include "common/log.h"
#include "common/tx.h"
#include "common/uuid.h"
#include "services/payment/bank.h"
#include "services/payment/money.h"
#include "services/payment/refunds.h"
#include "services/payment/store.h"

struct notices {
    payment_app_t *app;
    groupcommit_t *queue;
};

/* One delivery waiting for its batch. */
typedef struct {
    acq_notice_t notice;
    const char *provider;    /* static: "sberbank" or "yookassa" */
    char *body;              /* as received, kept with it */
    http_deferred_t *answer; /* finished once its batch committed */
    /* the outcome, on the first delivery of its event in the batch: */
    bool done;        /* applied with the batch's other payments (money_paid_many) */
    bool known;       /* applied now or before: it named something of ours */
    db_status_t fail; /* DB_OK, or why its transaction failed */
    int fail_http;    /* the answer then: 503, 409, 422, 500 */
    const char *fail_code;
} pending_t;

static void pending_destroy(pending_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->body);
    free(*self_p);
    *self_p = NULL;
}

/* ------------------------------------------------------------------ */
/* applying one notice, in the batch's transaction                      */

#define MOVEMENT_SIZE (ACQ_ID_SIZE + 8)

/* Whether the notice says the payment was made; *report then says it
 * (movement: its storage, MOVEMENT_SIZE bytes). */
static bool paid_news(const pending_t *p, paid_report_t *report, char *movement)
{
    const acq_notice_t *n = &p->notice;
    const acq_payment_t *fetched = n->payment_fetched ? &n->payment : NULL;
    bool is_paid = fetched ? (fetched->state == ACQ_STATE_PAID)
                           : (n->success && strcmp(n->operation, "deposited") == 0);
    if (!is_paid || n->kind == ACQ_NOTICE_REFUND)
        return false;
    snprintf(movement, MOVEMENT_SIZE, "%s:paid", n->bank_id);
    int64_t amount = fetched && fetched->paid_minor > 0 ? fetched->paid_minor : n->amount_minor;
    *report = (paid_report_t){
        .provider = p->provider,
        .bank_id = n->bank_id,
        .reference = n->reference,
        .movement_ref = movement,
        .amount_minor = amount > 0 ? amount : -1, /* unsaid: the invoice's amount */
        .at_ms = clock_now_ms(),
    };
    return true;
}

/* The payment news a notice brings; *known: it named an invoice of ours. */
static db_status_t apply_payment_news(payment_app_t *app, const emitter_t *em, const pending_t *p,
                                      bool *known)
{
    const acq_notice_t *n = &p->notice;
    const acq_payment_t *fetched = n->payment_fetched ? &n->payment : NULL;
    bool is_declined =
        fetched ? (fetched->state == ACQ_STATE_DECLINED || fetched->state == ACQ_STATE_VOIDED)
                : (!n->success || strcmp(n->operation, "declinedByTimeout") == 0);
    paid_report_t report;
    char movement[MOVEMENT_SIZE];
    if (paid_news(p, &report, movement))
        return money_paid(app, em, &report, known);
    if (is_declined) {
        const char *reason = fetched && fetched->reason[0] ? fetched->reason : n->operation;
        return money_declined(app, em, p->provider, n->bank_id, n->reference, "declined", reason,
                              known);
    }
    *known = true; /* news with nothing to do (held, a reversal we asked for) */
    return DB_OK;
}

/* The refund news a notice brings. */
static db_status_t apply_refund_news(payment_app_t *app, const emitter_t *em, const pending_t *p,
                                     bool *known)
{
    if (!p->notice.refund_id[0]) {
        /* Sberbank names no refund of ours (two refunds of one amount look
         * alike): the refund job settles it by the payment's refunded sum */
        *known = true;
        return DB_OK;
    }
    char refund_id[UUID_TEXT_SIZE];
    db_status_t status =
        store_refund_find_by_bank(emitter_db(em), p->notice.refund_id, refund_id, known);
    if (status != DB_OK || !*known)
        return status;
    return refunds_landed(app, em, refund_id, p->notice.refund_id, clock_now_ms());
}

/* ------------------------------------------------------------------ */
/* a batch                                                              */

typedef struct {
    payment_app_t *app;
    pending_t **events; /* the first delivery of each distinct event, by event id */
    callback_keep_t *keeps;
    const char **applied_ids, **forget_ids;
    size_t count;
    /* the payments among them, for money_paid_many (capacity count): */
    paid_report_t *paid;
    char (*movements)[MOVEMENT_SIZE];
    size_t *paid_event; /* the event of each */
    bool *taken, *known;
} batch_t;

/* Applies the batch's payments money_paid_many takes: the events done
 * here get p->done. */
static db_status_t batch_payments(batch_t *batch, const emitter_t *em)
{
    size_t n = 0;
    for (size_t i = 0; i < batch->count; i++) {
        pending_t *p = batch->events[i];
        p->done = false;
        if (!batch->keeps[i].applied && paid_news(p, &batch->paid[n], batch->movements[n]))
            batch->paid_event[n++] = i;
    }
    db_status_t status =
        money_paid_many(batch->app, em, batch->paid, n, batch->taken, batch->known);
    for (size_t k = 0; k < n && status == DB_OK; k++) {
        pending_t *p = batch->events[batch->paid_event[k]];
        p->done = batch->taken[k];
        p->known = batch->known[k];
    }
    return status;
}

/* Keeps every event of the batch, applies those not applied before,
 * marks them applied, and forgets the kept rows of notices about nothing
 * of ours. Runs again from the start when tx.h retries it. */
static db_status_t batch_tx(tx_t *tx, void *arg)
{
    batch_t *batch = arg;
    const char *provider = batch->events[0]->provider;
    db_status_t status = store_callbacks_keep(tx->db, provider, batch->keeps, batch->count);
    if (status != DB_OK)
        return status;
    emitter_t em = emitter_root(tx->db, "payment");
    for (size_t i = 0; i < batch->count; i++)
        batch->events[i]->known = false;
    status = batch_payments(batch, &em);
    size_t applied = 0, forgotten = 0;
    for (size_t i = 0; i < batch->count && status == DB_OK; i++) {
        pending_t *p = batch->events[i];
        if (batch->keeps[i].applied) { /* a delivery heard and applied before */
            p->known = true;
            continue;
        }
        if (p->done) { /* applied by batch_payments */
            if (!batch->keeps[i].fresh)
                batch->applied_ids[applied++] = p->notice.event_id;
            continue;
        }
        status = p->notice.kind == ACQ_NOTICE_REFUND
                     ? apply_refund_news(batch->app, &em, p, &p->known)
                     : apply_payment_news(batch->app, &em, p, &p->known);
        if (status == DB_OK && p->known) {
            if (!batch->keeps[i].fresh) /* (a fresh one was kept marked) */
                batch->applied_ids[applied++] = p->notice.event_id;
        } else if (status == DB_OK)
            batch->forget_ids[forgotten++] = p->notice.event_id; /* nothing of ours: keep nothing */
    }
    if (status == DB_OK && applied)
        status = store_callbacks_applied(tx->db, provider, batch->applied_ids, applied);
    if (status == DB_OK && forgotten)
        status = store_callbacks_forget(tx->db, provider, batch->forget_ids, forgotten);
    return status;
}

/* Runs events[0..count) in one transaction; on failure records on each
 * event how to answer (logged once for them all). */
static db_status_t batch_run(payment_app_t *app, db_t *db, pending_t **events, size_t count,
                             callback_keep_t *keeps, const char **ids)
{
    batch_t batch = {.app = app,
                     .events = events,
                     .keeps = keeps,
                     .applied_ids = ids,
                     .forget_ids = ids + count,
                     .count = count,
                     .paid = malloc(sizeof *batch.paid * count),
                     .movements = malloc(sizeof *batch.movements * count),
                     .paid_event = malloc(sizeof *batch.paid_event * count),
                     .taken = malloc(sizeof *batch.taken * count),
                     .known = malloc(sizeof *batch.known * count)};
    db_status_t status = DB_OK;
    if (!batch.paid || !batch.movements || !batch.paid_event || !batch.taken || !batch.known)
        status = db_fail(db, DB_STATE_OUT_OF_MEMORY, "no room for a batch of %zu", count);
    for (size_t i = 0; i < count; i++) {
        keeps[i].event_id = events[i]->notice.event_id;
        keeps[i].body = events[i]->body;
        events[i]->fail = DB_OK;
    }
    if (status == DB_OK)
        status = service_tx(app->svc, db, batch_tx, &batch, NULL);
    free(batch.known);
    free(batch.taken);
    free(batch.paid_event);
    free(batch.movements);
    free(batch.paid);
    if (status == DB_OK)
        return DB_OK;
    db_failure_t failure = db_failure_of(db, status);
    int http_status =
        status == DB_UNKNOWN || failure.transient                                        ? 503
        : strcmp(failure.code, "constraint") == 0                                        ? 409
        : strcmp(failure.code, "overflow") == 0 || strcmp(failure.code, "bad_data") == 0 ? 422
                                                                                         : 500;
    log_error("bank notifications could not be applied", LF_STR("provider", events[0]->provider),
              LF_INT("events", (int64_t)count), LF_STR("event_id", events[0]->notice.event_id),
              LF_STR("pg", db_errmsg(db)), LF_STR("sqlstate", db_sqlstate(db)),
              LF_ERR(failure.code));
    for (size_t i = 0; i < count; i++) {
        events[i]->fail = status;
        events[i]->fail_http = http_status;
        events[i]->fail_code = failure.code;
    }
    return status;
}

/* The answer of one delivery, by its event's outcome. */
static void answer(payment_app_t *app, pending_t *p, const pending_t *event)
{
    http_response_t *res = http_deferred_response(p->answer);
    if (event->fail != DB_OK) {
        if (event->fail_http == 503)
            http_res_header(res, "Retry-After", "5");
        http_res_problem(
            res, event->fail_http, event->fail_code, "the notification could not be stored",
            event->fail_http == 503 ? "nothing is acknowledged: deliver it again in a moment"
                                    : "the error is in the service's log");
    } else if (!event->known) {
        /* a notification the bank signed about nothing of ours: 200, so it
         * stops, and a line for a person */
        if (p == event)
            log_warn("a verified bank notification names nothing of ours",
                     LF_STR("provider", p->provider), LF_STR("bank_id", p->notice.bank_id),
                     LF_STR("reference", p->notice.reference), LF_ERR("unknown_payment"));
        http_res_json_take(res, 200, json_pack("{s:b,s:s}", "ok", 1, "applied", "unknown"));
    } else {
        metrics_counter_add(app->callbacks_total, 1);
        http_res_json_take(res, 200, json_pack("{s:b}", "ok", 1));
    }
    http_deferred_finish(&p->answer);
}

static int by_event_id(const void *a, const void *b)
{
    const pending_t *const *x = a, *const *y = b;
    return strcmp((*x)->notice.event_id, (*y)->notice.event_id);
}

/* groupcommit's commit function: items are pending_t, owned from here. */
static void commit_batch(void **items, size_t count, void *arg)
{
    notices_t *notices = arg;
    payment_app_t *app = notices->app;
    pending_t **all = (pending_t **)items;
    qsort(all, count, sizeof *all, by_event_id);
    /* the first delivery of each event stands for the others */
    pending_t **events = malloc(sizeof *events * count);
    pending_t **event_of = malloc(sizeof *event_of * count);
    callback_keep_t *keeps = calloc(count, sizeof *keeps);
    const char **ids = malloc(sizeof *ids * count * 2);
    size_t n_events = 0;
    for (size_t i = 0; events && event_of && i < count; i++) {
        if (n_events == 0 ||
            strcmp(events[n_events - 1]->notice.event_id, all[i]->notice.event_id) != 0)
            events[n_events++] = all[i];
        event_of[i] = events[n_events - 1];
        if (keeps)
            keeps[n_events - 1].times++;
    }
    db_t *db = events && event_of && keeps && ids
                   ? db_pool_acquire(service_db_pool(app->svc), SERVICE_SESSION_WAIT_MS)
                   : NULL;
    if (!db) {
        log_error("bank notifications wait for a database session",
                  LF_INT("events", (int64_t)count),
                  LF_ERR(events && event_of && keeps && ids ? "pg_unavailable" : "out_of_memory"));
        for (size_t i = 0; i < count; i++) {
            http_response_t *res = http_deferred_response(all[i]->answer);
            http_res_header(res, "Retry-After", "1");
            http_res_problem(res, 503, "pg_unavailable", "no database session is free",
                             "nothing is acknowledged: deliver it again in a moment");
            http_deferred_finish(&all[i]->answer);
            pending_destroy(&all[i]);
        }
        goto done;
    }
    db_status_t status = batch_run(app, db, events, n_events, keeps, ids);
    db_failure_t failure = db_failure_of(db, status);
    if (status != DB_OK && !failure.transient && status != DB_UNKNOWN && n_events > 1) {
        /* one event's own failure must not fail the others: each alone */
        for (size_t i = 0; i < n_events; i++) {
            callback_keep_t one = {.times = keeps[i].times};
            batch_run(app, db, &events[i], 1, &one, ids);
        }
    }
    db_pool_release(service_db_pool(app->svc), &db);
    for (size_t i = 0; i < count; i++)
        answer(app, all[i], event_of[i]);
    for (size_t i = 0; i < count; i++)
        pending_destroy(&all[i]);
done:
    free(ids);
    free(keeps);
    free(event_of);
    free(events);
}

/* ------------------------------------------------------------------ */
/* the route                                                            */

void notices_webhook(notices_t *notices, const http_request_t *req, http_response_t *res,
                     const char *provider)
{
    payment_app_t *app = notices->app;
    if (strcmp(provider, app->provider) != 0) {
        http_res_problem(res, 404, "not_found", "this store does not use that bank", NULL);
        return;
    }
    size_t body_len = 0;
    const char *body = http_req_body(req, &body_len);
    const char *target = http_req_target(req);
    const char *query = target ? strchr(target, '?') : NULL;
    acq_notice_in_t in = {.query = query ? query + 1 : NULL, .body = body, .body_len = body_len};
    acquirer_t *bank = bank_client(app);
    if (!bank) {
        http_res_header(res, "Retry-After", "5");
        http_res_problem(res, 503, "bank_unavailable", "the bank cannot be reached", NULL);
        return;
    }
    pending_t *p = calloc(1, sizeof *p);
    if (!p) {
        http_res_header(res, "Retry-After", "1");
        http_res_problem(res, 503, "out_of_memory", "out of memory", NULL);
        return;
    }
    acq_error_t err = {0};
    acq_result_t result = acquirer_notice_verify(bank, &in, &p->notice, &err);
    if (result == ACQ_REJECTED) {
        metrics_counter_add(app->callbacks_refused, 1);
        log_warn("a bank notification was refused", LF_STR("provider", provider),
                 LF_STR("reason", err.message), LF_ERR(err.code[0] ? err.code : "bad_signature"));
        http_res_problem(res, 400, err.code[0] ? err.code : "bad_signature",
                         "the notification is not believed", err.message);
        pending_destroy(&p);
        return;
    }
    if (result != ACQ_DONE) {
        http_res_header(res, "Retry-After", "10");
        http_res_problem(res, 503, "bank_unavailable",
                         "the notification cannot be checked with the bank now", err.message);
        pending_destroy(&p);
        return;
    }
    p->provider = strcmp(provider, "yookassa") == 0 ? "yookassa" : "sberbank";
    p->body = strdup(body ? body : "");
    p->answer = p->body ? http_defer(res) : NULL;
    if (!p->answer) {
        if (!p->body)
            http_res_problem(res, 503, "out_of_memory", "out of memory", NULL);
        pending_destroy(&p);
        return;
    }
    http_deferred_t *answer_p = p->answer;
    int taken = groupcommit_submit_take(notices->queue, p);
    if (taken != 0) {
        /* too many wait already, or the service is stopping: the bank
         * delivers again later */
        http_response_t *late = http_deferred_response(answer_p);
        if (taken == -2) {
            http_res_header(late, "Retry-After", "5");
            http_res_problem(late, 503, "stopping", "the service is stopping",
                             "nothing is acknowledged: deliver it again later");
        } else {
            http_res_header(late, "Retry-After", "1");
            http_res_problem(late, 429, "too_many_notifications",
                             "too many notifications are waiting to be stored",
                             "nothing is acknowledged: deliver it again in a moment");
        }
        http_deferred_finish(&answer_p);
        pending_destroy(&p);
    }
}

notices_t *notices_new(payment_app_t *app)
{
    notices_t *notices = calloc(1, sizeof *notices);
    if (!notices) {
        log_error("no memory for the notices' committers", LF_ERR("out_of_memory"));
        return NULL;
    }
    notices->app = app;
    notices->queue = groupcommit_new(&(groupcommit_config_t){
        .name = "payment_notices",
        .committers = app->notice_committers,
        .batch_max = app->notice_batch_max,
        .waiting_max = app->notices_waiting_max,
        .commit = commit_batch,
        .arg = notices,
    });
    if (!notices->queue) {
        free(notices);
        return NULL;
    }
    return notices;
}

void notices_stop(notices_t *notices)
{
    if (notices)
        groupcommit_stop(notices->queue);
}

void notices_destroy(notices_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    groupcommit_destroy(&(*self_p)->queue);
    free(*self_p);
    *self_p = NULL;
}
