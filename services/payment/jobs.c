/*
 * jobs.c — the payment service's calls to the bank (schedule.h names the
 * kinds). Each job reads its row, calls the bank outside any transaction,
 * and writes what the bank said through the domain (money.h, refunds.h)
 * in the job's completion transaction (jobs_begin_finish), so the effect
 * and "done" commit together.
 *
 * Never twice (issue 11 item 5): a call whose answer may have been lost (a
 * job resumed after its worker died, an earlier attempt that ended with
 * ACQ_UNKNOWN) is settled by asking the bank by our reference before it
 * is made again:
 *   - a registration: YooKassa replays the same Idempotence-Key, so it is
 *     simply asked again; Sberbank is asked for the orderNumber — unknown:
 *     register again under it; known: that registration's link was lost,
 *     so that order is declined at the bank (decline.do: never payable)
 *     and the invoice registered again under a new reference;
 *   - a registration whose answer was lost, for an invoice cancelled or
 *     expired meanwhile: the void looks it up by the orderNumber and
 *     declines what the bank has (Sberbank); the register job replays it
 *     under its key and the answer leads to the void (YooKassa);
 *   - a refund: YooKassa replays the key; Sberbank's refund.do has no key,
 *     so the payment's refunded sum at the bank is compared with what we
 *     had refunded before this one: already there means it landed;
 *   - a payment is never made by us: reconciliation only asks.
 *
 * A refund the bank answered "pending" (YooKassa) is asked about by its
 * id (refund_poll: GET /v3/refunds/{id}) until it succeeded or was
 * canceled, PAYMENT_RECONCILE_AFTER after the answer, then twice as late
 * each time, at most hourly; its webhook, when it comes first, lands it
 * and the next question finds nothing left to do.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/emit.h"
#include "common/log.h"
#include "services/payment/bank.h"
#include "services/payment/money.h"
#include "services/payment/payment.h"
#include "services/payment/receipt.h"
#include "services/payment/refunds.h"
#include "services/payment/schedule.h"
#include "services/payment/store.h"

#define PAYMENT_STREAM   "payment"
#define RECONCILE_MAX_MS (3600LL * 1000) /* the longest wait between two questions */

/* The row id a job works on: {"id": "<uuid>"}. */
static int job_row_id(job_run_t *run, char id[UUID_TEXT_SIZE])
{
    json_t *payload = json_loads(job_run_job(run)->payload, 0, NULL);
    const char *text = payload ? json_string_value(json_object_get(payload, "id")) : NULL;
    int rc = text && uuid_valid(text) ? 0 : -1;
    if (rc == 0)
        memcpy(id, text, UUID_TEXT_SIZE);
    json_decref(payload);
    if (rc != 0)
        job_run_error(run, "bad_payload", "the job names no row");
    return rc;
}

/* The round of a job asked again and again (the last ":N" of its dedup
 * key, schedule.h); 1 for the first. */
static int job_round(job_run_t *run)
{
    const char *key = job_run_job(run)->dedup_key;
    const char *colon = key ? strrchr(key, ':') : NULL;
    char *end = NULL;
    long round = colon ? strtol(colon + 1, &end, 10) : 1;
    return colon && end && !*end && round > 0 && round < 1000000 ? (int)round : 1;
}

/* What a bank call's failure means for the job. */
static job_outcome_t bank_failed(job_run_t *run, acq_result_t result, const acq_error_t *err,
                                 const char *what)
{
    job_run_error(run, err->code[0] ? err->code : acq_result_name(result), "%s: %s (%s)", what,
                  err->message, acq_result_name(result));
    if (err->retry_after_ms > 0)
        job_run_retry_after(run, err->retry_after_ms);
    return JOB_RETRY; /* transient, or unknown: the next attempt settles it first */
}

/* ------------------------------------------------------------------ */
/* receipts for the bank                                                */

typedef struct {
    receipt_t receipt;
    acq_line_t lines[ACQ_LINES_MAX];
    acq_receipt_t bank;
} bank_receipt_t;

static acq_vat_t vat_of(const receipt_line_t *line)
{
    bool advance = line->method != RECEIPT_METHOD_FULL_PAYMENT;
    switch (line->vat_rate_bp) {
    case 2000:
        return advance ? ACQ_VAT_20_120 : ACQ_VAT_20;
    case 1000:
        return advance ? ACQ_VAT_10_110 : ACQ_VAT_10;
    default:
        return ACQ_VAT_NONE;
    }
}

static acq_subject_t subject_of(receipt_subject_t subject)
{
    switch (subject) {
    case RECEIPT_SUBJECT_SERVICE:
        return ACQ_SUBJECT_SERVICE;
    case RECEIPT_SUBJECT_PAYMENT:
        return ACQ_SUBJECT_PAYMENT;
    default:
        return ACQ_SUBJECT_COMMODITY;
    }
}

static acq_method_t method_of(receipt_method_t method)
{
    switch (method) {
    case RECEIPT_METHOD_PARTIAL_PREPAYMENT:
        return ACQ_METHOD_PREPAYMENT;
    case RECEIPT_METHOD_FULL_PAYMENT:
        return ACQ_METHOD_FULL_PAYMENT;
    default:
        return ACQ_METHOD_FULL_PREPAYMENT;
    }
}

/* The stored receipt lines as the bank takes them. 0 ok; -1 with a code
 * in why (the receipt cannot go to a bank: a permanent failure). */
static int bank_receipt(const json_t *stored, const char *email, const char *phone,
                        bank_receipt_t *out, const char **why)
{
    memset(out, 0, sizeof *out);
    receipt_refusal_t refusal = receipt_from_json(stored, &out->receipt);
    if (refusal != RECEIPT_OK) {
        *why = receipt_refusal_code(refusal);
        return -1;
    }
    if (out->receipt.count > ACQ_LINES_MAX) {
        *why = "receipt_too_many_lines";
        receipt_clear(&out->receipt);
        return -1;
    }
    for (size_t i = 0; i < out->receipt.count; i++) {
        const receipt_line_t *line = &out->receipt.lines[i];
        out->lines[i] = (acq_line_t){
            .name = line->name,
            .quantity = line->quantity,
            .price_minor = line->price_minor,
            .vat = vat_of(line),
            .subject = subject_of(line->subject),
            .method = method_of(line->method),
        };
    }
    out->bank = (acq_receipt_t){
        .lines = out->lines,
        .line_count = out->receipt.count,
        .email = email && email[0] ? email : NULL,
        .phone = phone && phone[0] ? phone : NULL,
    };
    return 0;
}

/* ------------------------------------------------------------------ */
/* what the completion transactions do                                  */

typedef struct {
    payment_app_t *app;
    const char *id; /* the invoice or refund */
    acq_registration_t registration;
    acq_payment_t payment;
    acq_error_t err;
    acq_refund_result_t refund;
    paid_report_t paid;
    char movement[ACQ_ID_SIZE + 8];
    int64_t next_at_ms; /* a reconciliation asked again then */
    int next_round;     /* its round (the dedup key's) */
} effect_t;

typedef db_status_t (*effect_fn)(effect_t *effect, const emitter_t *em);

/* Runs fn in the job's completion transaction. */
static job_outcome_t finish(job_run_t *run, effect_fn fn, effect_t *effect, const char *what)
{
    db_t *db = job_run_db(run);
    db_status_t status = jobs_begin_finish(run);
    if (status != DB_OK)
        return jobs_result(run, status, "open the completion transaction");
    emitter_t em = emitter_root(db, PAYMENT_STREAM);
    status = fn(effect, &em);
    if (status == DB_OK)
        return JOB_DONE;
    job_outcome_t outcome = jobs_result(run, status, what);
    /* the bank has acted and we cannot record it: never "failed", which
     * reads as "nothing happened"; a person must look */
    return outcome == JOB_FAIL ? JOB_UNKNOWN : outcome;
}

static db_status_t registered(effect_t *e, const emitter_t *em)
{
    return money_registered(e->app, em, e->id, e->registration.bank_id,
                            e->registration.payment_url);
}

static db_status_t register_refused(effect_t *e, const emitter_t *em)
{
    return money_register_refused(e->app, em, e->id, e->err.code, e->err.message);
}

static db_status_t paid(effect_t *e, const emitter_t *em)
{
    bool known = false;
    return money_paid(e->app, em, &e->paid, &known);
}

static db_status_t declined(effect_t *e, const emitter_t *em)
{
    bool known = false;
    return money_declined(e->app, em, e->paid.provider, e->paid.bank_id, e->paid.reference,
                          "declined", e->payment.reason, &known);
}

static db_status_t expired(effect_t *e, const emitter_t *em)
{
    return money_expire(e->app, em, e->id, clock_now_ms());
}

static db_status_t ask_again_later(effect_t *e, const emitter_t *em)
{
    return schedule_job(emitter_db(em), JOB_INVOICE_RECONCILE, e->id, e->next_at_ms, e->next_round);
}

/* A registration whose answer may have been lost, for an invoice no longer
 * registering: a void of its own (round 2) looks it up at the bank. */
static db_status_t void_again(effect_t *e, const emitter_t *em)
{
    return schedule_job(emitter_db(em), JOB_INVOICE_VOID, e->id, 0, 2);
}

static db_status_t refund_landed(effect_t *e, const emitter_t *em)
{
    return refunds_landed(e->app, em, e->id, e->refund.refund_id, clock_now_ms());
}

static db_status_t refund_failed(effect_t *e, const emitter_t *em)
{
    return refunds_failed(e->app, em, e->id, e->err.code, e->err.message, clock_now_ms());
}

/* A refund the bank took but has not finished (YooKassa "pending"): its
 * id is kept, and its webhook lands it; refund_poll asks meanwhile. */
static db_status_t refund_pending(effect_t *e, const emitter_t *em)
{
    db_status_t status =
        store_refund_move(emitter_db(em), e->id, REFUND_PENDING, e->refund.refund_id, NULL, NULL);
    if (status == DB_OK)
        status = schedule_job(emitter_db(em), JOB_REFUND_POLL, e->id, e->next_at_ms, e->next_round);
    return status;
}

/* Still pending at the bank: ask again later. */
static db_status_t refund_ask_again(effect_t *e, const emitter_t *em)
{
    return schedule_job(emitter_db(em), JOB_REFUND_POLL, e->id, e->next_at_ms, e->next_round);
}

static db_status_t refund_unknown(effect_t *e, const emitter_t *em)
{
    return refunds_unknown(e->app, emitter_db(em), e->id, e->err.code, e->err.message);
}

/* Fills e->paid from what the bank says of the invoice's payment. */
static void report_payment(effect_t *e, const invoice_row_t *invoice)
{
    snprintf(e->movement, sizeof e->movement, "%s:paid", e->payment.bank_id);
    e->paid = (paid_report_t){
        .provider = invoice->provider,
        .bank_id = e->payment.bank_id,
        .reference = invoice->our_ref,
        .movement_ref = e->movement,
        .amount_minor = e->payment.paid_minor > 0 ? e->payment.paid_minor : e->payment.amount_minor,
        .at_ms = clock_now_ms(),
    };
}

/* ------------------------------------------------------------------ */
/* the kinds                                                            */

/* Reads the invoice a job works on; *done set when the job has nothing
 * left to do (no such invoice). */
static job_outcome_t read_invoice(job_run_t *run, const char *id, invoice_row_t *invoice,
                                  bool *found)
{
    db_status_t status = store_invoice_lock(job_run_db(run), id, invoice, found);
    if (status != DB_OK)
        return jobs_result(run, status, "read the invoice");
    return JOB_DONE;
}

/* Settles a Sberbank registration that may have happened: asks the bank
 * by our reference; a registration it has is abandoned for a new
 * reference. *again set when it is safe to register (again). */
static job_outcome_t settle_registration(job_run_t *run, acquirer_t *bank, invoice_row_t *invoice)
{
    acq_ref_t ref = {.reference = invoice->our_ref};
    acq_payment_t payment;
    acq_error_t err = {0};
    acq_result_t result = acquirer_status(bank, &ref, &payment, &err);
    if (result == ACQ_REJECTED && strcmp(err.code, "not_found") == 0)
        return JOB_DONE; /* never registered: register under the same reference */
    if (result != ACQ_DONE)
        return bank_failed(run, result, &err, "ask the bank about a registration");
    /* registered, and its link lost with the answer: that order is declined
     * at the bank (nobody has its link, and it must never be payable) and
     * the invoice is registered again under a new reference */
    if (payment.state == ACQ_STATE_PENDING) {
        acq_ref_t lost = {.reference = invoice->our_ref,
                          .bank_id = payment.bank_id[0] ? payment.bank_id : NULL};
        result = acquirer_decline(bank, &lost, &err);
        if (result != ACQ_DONE && result != ACQ_REJECTED)
            return bank_failed(run, result, &err, "decline a registration whose answer was lost");
    }
    char reference[STORE_REF_MAX + 1];
    int n = snprintf(reference, sizeof reference, "%.29s-%d", invoice->our_ref,
                     job_run_job(run)->attempt);
    if (n < 0 || (size_t)n >= sizeof reference)
        return JOB_FAIL;
    db_status_t status = store_invoice_rereference(job_run_db(run), invoice->invoice_id, reference);
    if (status != DB_OK)
        return jobs_result(run, status, "give the invoice a new reference");
    log_info("a registration whose answer was lost is replaced by a new one",
             LF_STR("invoice_id", invoice->invoice_id), LF_STR("abandoned", invoice->our_ref),
             LF_STR("reference", reference));
    snprintf(invoice->our_ref, sizeof invoice->our_ref, "%s", reference);
    return JOB_DONE;
}

/* One invoice of a registration batch. */
typedef struct {
    char id[UUID_TEXT_SIZE];
    effect_t effect;
    acq_call_t *call; /* its request, prepared and waiting for its answer */
} register_slot_t;

/* Everything before the call: reads the invoice, its order and receipt,
 * settles an earlier attempt whose answer was lost, builds the request.
 * slot->call set: the call is to be made. Otherwise the job is over
 * without one (refused, gone, a retry), and the outcome says how. */
static job_outcome_t register_prepare(job_run_t *run, payment_app_t *app, acquirer_t *bank,
                                      register_slot_t *slot)
{
    slot->effect = (effect_t){.app = app, .id = slot->id};
    if (job_row_id(run, slot->id) != 0)
        return JOB_FAIL;
    invoice_row_t invoice;
    pay_order_t order;
    bool found = false, order_found = false;
    job_outcome_t outcome = read_invoice(run, slot->id, &invoice, &found);
    if (outcome != JOB_DONE || !found)
        return outcome;
    const job_t *job = job_run_job(run);
    if (invoice.status != INVOICE_REGISTERING) {
        /* cancelled or expired while an earlier attempt's answer was lost:
         * what that attempt registered must not stay payable. Sberbank: a
         * void looks it up by the orderNumber. YooKassa: the same request
         * under the same key replays it (the lookup by our key), and its
         * answer leads to the void (money_registered). */
        bool maybe_sent =
            (invoice.status == INVOICE_CANCELLED || invoice.status == INVOICE_EXPIRED) &&
            (job->resumed || job->attempt > 1);
        if (!maybe_sent)
            return JOB_DONE;
        if (!bank || !acquirer_register_replays(bank))
            return finish(run, void_again, &slot->effect, "ask for a void of a lost registration");
    }
    db_t *db = job_run_db(run);
    json_t *stored = NULL;
    db_status_t status = store_order_lock(db, invoice.order_id, &order, &order_found);
    if (status == DB_OK)
        status = store_invoice_receipt(db, slot->id, &stored);
    if (status != DB_OK) {
        json_decref(stored);
        return jobs_result(run, status, "read the invoice's order");
    }
    if (!bank) {
        json_decref(stored);
        job_run_error(run, "no_bank_client", "the bank's client could not be made");
        return JOB_RETRY;
    }
    bank_receipt_t receipt;
    const char *why = NULL;
    if (!order_found ||
        bank_receipt(stored, order.customer_email, order.customer_phone, &receipt, &why) != 0) {
        json_decref(stored);
        snprintf(slot->effect.err.code, sizeof slot->effect.err.code, "%s", why ? why : "no_order");
        snprintf(slot->effect.err.message, sizeof slot->effect.err.message,
                 "the invoice's receipt cannot go to the bank");
        return finish(run, register_refused, &slot->effect, "refuse the invoice");
    }
    json_decref(stored);

    if ((job->resumed || job->attempt > 1) && !acquirer_register_replays(bank))
        outcome = settle_registration(run, bank, &invoice);
    if (outcome == JOB_DONE) {
        char description[128];
        snprintf(description, sizeof description, "Заказ %lld", (long long)order.number);
        int64_t ttl_s = (invoice.expires_at_ms - clock_now_ms()) / 1000;
        acq_invoice_t request = {
            .reference = invoice.our_ref,
            .amount_minor = invoice.amount_minor,
            .currency = invoice.currency,
            .description = description,
            .return_url = app->return_url,
            .callback_url = app->callback_url && app->callback_url[0] ? app->callback_url : NULL,
            .expires_in_s = ttl_s > 60 ? ttl_s : 60,
            .receipt = receipt.bank,
        };
        /* the request is whole once prepared: the receipt can go */
        acq_result_t result =
            acquirer_register_prepare(bank, &request, &slot->call, &slot->effect.err);
        if (result == ACQ_REJECTED)
            outcome = finish(run, register_refused, &slot->effect, "record the bank's refusal");
        else if (result != ACQ_DONE)
            outcome = bank_failed(run, result, &slot->effect.err, "register the invoice");
    }
    receipt_clear(&receipt.receipt);
    return outcome;
}

/* What the bank answered a prepared registration, recorded. */
static job_outcome_t register_read(job_run_t *run, acquirer_t *bank, register_slot_t *slot,
                                   const httpcall_response_t *response)
{
    effect_t *effect = &slot->effect;
    acq_result_t result =
        acquirer_register_read(bank, response, &effect->registration, &effect->err);
    if (result == ACQ_DONE)
        return finish(run, registered, effect, "record the registration");
    if (result == ACQ_REJECTED)
        return finish(run, register_refused, effect, "record the bank's refusal");
    return bank_failed(run, result, &effect->err, "register the invoice");
}

/* invoice_register, a batch (PAYMENT_REGISTER_BATCH): ask the bank for the
 * payment links of up to that many invoices at once. Each is prepared
 * (read, settled, its request built) one after another, the requests go
 * to the bank together (httpcall_perform_many), and each answer is read
 * and recorded in its own job's completion transaction. Never twice holds
 * per job as for a single call: the request of a job whose earlier attempt
 * may have reached the bank is made only after settle_registration. */
static void run_register_batch(job_run_t *const *runs, size_t count, void *arg)
{
    payment_app_t *app = arg;
    acquirer_t *bank = bank_client(app);
    register_slot_t *slots = calloc(count, sizeof *slots);
    httpcall_request_t *requests = calloc(count, sizeof *requests);
    httpcall_response_t *responses = calloc(count, sizeof *responses);
    size_t *which = calloc(count, sizeof *which);
    if (!slots || !requests || !responses || !which) {
        for (size_t i = 0; i < count; i++) {
            job_run_error(runs[i], "out_of_memory", "a registration batch of %zu", count);
            jobs_complete(runs[i], JOB_RETRY);
        }
        goto done;
    }
    for (size_t i = 0; i < count; i++) {
        job_outcome_t outcome = register_prepare(runs[i], app, bank, &slots[i]);
        if (!slots[i].call)
            jobs_complete(runs[i], outcome);
    }
    /* the leases again after the reads (and any settling): a job another
     * worker has taken meanwhile is not sent by us */
    jobs_keepalive_many(runs, count);
    size_t calls = 0;
    for (size_t i = 0; i < count; i++) {
        if (!slots[i].call)
            continue;
        if (job_run_lease_lost(runs[i])) {
            acq_call_destroy(&slots[i].call);
            jobs_complete(runs[i], JOB_RETRY);
            continue;
        }
        requests[calls] = *acq_call_request(slots[i].call);
        httpcall_response_init(&responses[calls]);
        which[calls++] = i;
    }
    httpcall_perform_many(requests, responses, calls);
    for (size_t k = 0; k < calls; k++) {
        size_t i = which[k];
        jobs_complete(runs[i], register_read(runs[i], bank, &slots[i], &responses[k]));
        httpcall_response_release(&responses[k]);
        acq_call_destroy(&slots[i].call);
    }
    log_debug("a registration batch went to the bank", LF_INT("jobs", (long long)count),
              LF_INT("calls", (long long)calls));
done:
    free(which);
    free(responses);
    free(requests);
    free(slots);
}

/* Asks the bank how the invoice's payment stands; fills effect and says
 * which effect applies (NULL: nothing yet). */
static job_outcome_t ask_bank(job_run_t *run, acquirer_t *bank, const invoice_row_t *invoice,
                              effect_t *effect, effect_fn *fn)
{
    *fn = NULL;
    acq_ref_t ref = {.reference = invoice->our_ref,
                     .bank_id = invoice->bank_id[0] ? invoice->bank_id : NULL};
    acq_result_t result = acquirer_status(bank, &ref, &effect->payment, &effect->err);
    if (result == ACQ_REJECTED && strcmp(effect->err.code, "not_found") == 0)
        return JOB_DONE; /* the bank never had it: nothing to learn */
    if (result != ACQ_DONE)
        return bank_failed(run, result, &effect->err, "ask the bank about an invoice");
    report_payment(effect, invoice);
    if (effect->payment.state == ACQ_STATE_PAID || effect->payment.state == ACQ_STATE_REFUNDED)
        *fn = paid;
    else if (effect->payment.state == ACQ_STATE_DECLINED)
        *fn = declined;
    return JOB_DONE;
}

/* invoice_reconcile: the callback may never come; ask. */
static job_outcome_t run_reconcile(job_run_t *run)
{
    payment_app_t *app = job_run_arg(run);
    char id[UUID_TEXT_SIZE];
    if (job_row_id(run, id) != 0)
        return JOB_FAIL;
    invoice_row_t invoice;
    bool found = false;
    job_outcome_t outcome = read_invoice(run, id, &invoice, &found);
    if (outcome != JOB_DONE || !found || invoice.status != INVOICE_OPEN)
        return outcome;
    acquirer_t *bank = bank_client(app);
    if (!bank)
        return JOB_RETRY;
    effect_t effect = {.app = app, .id = id};
    effect_fn fn = NULL;
    outcome = ask_bank(run, bank, &invoice, &effect, &fn);
    if (outcome != JOB_DONE)
        return outcome;
    if (fn)
        return finish(run, fn, &effect, "record what the bank said");
    /* still unpaid: ask again later, each time twice as late, until it
     * expires (the expiry job asks one last time) */
    int round = job_round(run);
    int64_t wait_ms = app->reconcile_after_ms;
    for (int i = 1; i < round && wait_ms < RECONCILE_MAX_MS; i++)
        wait_ms *= 2;
    if (wait_ms > RECONCILE_MAX_MS)
        wait_ms = RECONCILE_MAX_MS;
    effect.next_at_ms = clock_now_ms() + wait_ms;
    effect.next_round = round + 1;
    if (effect.next_at_ms >= invoice.expires_at_ms)
        return JOB_DONE;
    return finish(run, ask_again_later, &effect, "schedule the next question");
}

/* invoice_expire: one last question, then the link is given up. */
static job_outcome_t run_expire(job_run_t *run)
{
    payment_app_t *app = job_run_arg(run);
    char id[UUID_TEXT_SIZE];
    if (job_row_id(run, id) != 0)
        return JOB_FAIL;
    invoice_row_t invoice;
    bool found = false;
    job_outcome_t outcome = read_invoice(run, id, &invoice, &found);
    if (outcome != JOB_DONE || !found ||
        (invoice.status != INVOICE_OPEN && invoice.status != INVOICE_REGISTERING))
        return outcome;
    effect_t effect = {.app = app, .id = id};
    effect_fn fn = NULL;
    acquirer_t *bank = invoice.bank_id[0] ? bank_client(app) : NULL;
    if (invoice.bank_id[0] && !bank)
        return JOB_RETRY;
    if (bank) {
        outcome = ask_bank(run, bank, &invoice, &effect, &fn);
        if (outcome != JOB_DONE)
            return outcome;
    }
    if (fn == paid)
        return finish(run, paid, &effect, "record a payment found at expiry");
    return finish(run, expired, &effect, "expire the invoice");
}

/* An invoice cancelled or expired before the bank's answer to its
 * registration came (lost, or late): does the bank hold it? Sberbank is
 * asked by our reference (the orderNumber); what it has is kept on the
 * invoice (invoice->bank_id set). YooKassa cannot be asked by our key
 * without registering again: the register job replays it (jobs.c top) and
 * its answer brings the bank's id here. */
static job_outcome_t find_at_bank(job_run_t *run, acquirer_t *bank, invoice_row_t *invoice)
{
    if (acquirer_register_replays(bank))
        return JOB_DONE;
    acq_ref_t ref = {.reference = invoice->our_ref};
    acq_payment_t payment;
    acq_error_t err = {0};
    acq_result_t result = acquirer_status(bank, &ref, &payment, &err);
    if (result == ACQ_REJECTED && strcmp(err.code, "not_found") == 0)
        return JOB_DONE; /* never registered: nothing at the bank */
    if (result != ACQ_DONE)
        return bank_failed(run, result, &err, "look a registration up by our reference");
    if (!payment.bank_id[0]) {
        job_run_error(run, "bad_reply", "the bank holds %s but did not say its id",
                      invoice->our_ref);
        return JOB_RETRY;
    }
    db_status_t status =
        store_invoice_found_at_bank(job_run_db(run), invoice->invoice_id, payment.bank_id);
    if (status != DB_OK)
        return jobs_result(run, status, "keep the bank's id of a lost registration");
    log_info("a registration whose answer never came was found at the bank",
             LF_STR("invoice_id", invoice->invoice_id), LF_STR("reference", invoice->our_ref),
             LF_STR("bank_id", payment.bank_id));
    snprintf(invoice->bank_id, sizeof invoice->bank_id, "%s", payment.bank_id);
    return JOB_DONE;
}

/* invoice_void: the link must not be payable any more. An invoice whose
 * registration's answer never came is first looked up at the bank by our
 * reference (find_at_bank). Money that came anyway is recorded (and, the
 * invoice being dead, refunded by itself); an unpaid payment is declined
 * (Sberbank's decline.do: its page pays no more), a held one cancelled
 * (reverse.do / YooKassa's cancel). YooKassa lets no shop cancel a pending
 * payment: it expires there by itself. */
static job_outcome_t run_void(job_run_t *run)
{
    payment_app_t *app = job_run_arg(run);
    char id[UUID_TEXT_SIZE];
    if (job_row_id(run, id) != 0)
        return JOB_FAIL;
    invoice_row_t invoice;
    bool found = false;
    job_outcome_t outcome = read_invoice(run, id, &invoice, &found);
    if (outcome != JOB_DONE || !found)
        return outcome;
    acquirer_t *bank = bank_client(app);
    if (!bank)
        return JOB_RETRY;
    if (!invoice.bank_id[0]) {
        outcome = find_at_bank(run, bank, &invoice);
        if (outcome != JOB_DONE || !invoice.bank_id[0])
            return outcome;
    }
    effect_t effect = {.app = app, .id = id};
    effect_fn fn = NULL;
    outcome = ask_bank(run, bank, &invoice, &effect, &fn);
    if (outcome != JOB_DONE)
        return outcome;
    if (fn == paid)
        return finish(run, paid, &effect, "record a payment on a voided invoice");
    acq_ref_t ref = {.reference = invoice.our_ref, .bank_id = invoice.bank_id};
    char key[STORE_REF_MAX + 8];
    snprintf(key, sizeof key, "%s-void", invoice.our_ref);
    acq_result_t result;
    if (effect.payment.state == ACQ_STATE_PENDING)
        result = acquirer_decline(bank, &ref, &effect.err);
    else if (effect.payment.state == ACQ_STATE_HELD)
        result = acquirer_cancel(bank, &ref, key, &effect.err);
    else
        return JOB_DONE; /* declined, voided or refunded already */
    if (result == ACQ_DONE) {
        log_info("invoice voided at the bank", LF_STR("invoice_id", id),
                 LF_STR("bank_id", invoice.bank_id), LF_STR("state", effect.payment.bank_status));
        return JOB_DONE;
    }
    if (result == ACQ_REJECTED) {
        log_warn("the bank would not void the invoice: its link lapses there",
                 LF_STR("invoice_id", id), LF_STR("bank_id", invoice.bank_id),
                 LF_STR("code", effect.err.code), LF_STR("reason", effect.err.message),
                 LF_ERR("void_refused"));
        return JOB_DONE;
    }
    return bank_failed(run, result, &effect.err, "void the invoice");
}

/* Settles a Sberbank refund that may have happened: what the bank has
 * refunded of the payment against what we had before this one. */
static job_outcome_t settle_refund(job_run_t *run, acquirer_t *bank, const refund_row_t *refund,
                                   const invoice_row_t *invoice, bool *landed)
{
    *landed = false;
    int64_t before = 0;
    db_status_t status =
        store_refunded_before(job_run_db(run), refund->invoice_id, refund->refund_id, &before);
    if (status != DB_OK)
        return jobs_result(run, status, "read the invoice's refunds");
    acq_ref_t ref = {.reference = invoice->our_ref, .bank_id = invoice->bank_id};
    acq_payment_t payment;
    acq_error_t err = {0};
    acq_result_t result = acquirer_status(bank, &ref, &payment, &err);
    if (result != ACQ_DONE)
        return bank_failed(run, result, &err, "ask the bank about a refund");
    *landed = payment.refunded_minor >= before + refund->amount_minor;
    return JOB_DONE;
}

/* refund_send: give the money back. */
static job_outcome_t run_refund(job_run_t *run)
{
    payment_app_t *app = job_run_arg(run);
    char id[UUID_TEXT_SIZE];
    if (job_row_id(run, id) != 0)
        return JOB_FAIL;
    db_t *db = job_run_db(run);
    refund_row_t refund;
    invoice_row_t invoice;
    pay_order_t order;
    bool found = false, invoice_found = false, order_found = false;
    json_t *stored = NULL;
    db_status_t status = store_refund_lock(db, id, &refund, &found);
    if (status != DB_OK)
        return jobs_result(run, status, "read the refund");
    if (!found || refund.status != REFUND_PENDING)
        return JOB_DONE;
    status = store_invoice_lock(db, refund.invoice_id, &invoice, &invoice_found);
    if (status == DB_OK)
        status = store_order_lock(db, refund.order_id, &order, &order_found);
    if (status == DB_OK)
        status = store_refund_receipt(db, id, &stored);
    if (status != DB_OK) {
        json_decref(stored);
        return jobs_result(run, status, "read the refund's invoice");
    }
    effect_t effect = {.app = app, .id = id};
    bank_receipt_t receipt;
    const char *why = NULL;
    int receipt_rc =
        bank_receipt(stored, order.customer_email, order.customer_phone, &receipt, &why);
    json_decref(stored);
    if (!invoice_found || !order_found || receipt_rc != 0) {
        snprintf(effect.err.code, sizeof effect.err.code, "%s", why ? why : "no_invoice");
        snprintf(effect.err.message, sizeof effect.err.message, "the refund cannot go to the bank");
        return finish(run, refund_failed, &effect, "record the refund's failure");
    }
    acquirer_t *bank = bank_client(app);
    job_outcome_t outcome = bank ? JOB_DONE : JOB_RETRY;
    const job_t *job = job_run_job(run);
    bool landed = false;
    if (bank && (job->resumed || job->attempt > 1) && !acquirer_register_replays(bank))
        outcome = settle_refund(run, bank, &refund, &invoice, &landed);
    if (outcome == JOB_DONE && landed) {
        outcome = finish(run, refund_landed, &effect, "record a refund found at the bank");
    } else if (outcome == JOB_DONE) {
        acq_refund_t request = {
            .reference = refund.our_ref,
            .bank_id = invoice.bank_id,
            .amount_minor = refund.amount_minor,
            .currency = order.currency,
            .receipt = receipt.bank,
        };
        acq_result_t result = acquirer_refund(bank, &request, &effect.refund, &effect.err);
        if (result == ACQ_DONE && effect.refund.succeeded)
            outcome = finish(run, refund_landed, &effect, "record the refund");
        else if (result == ACQ_DONE) {
            effect.next_at_ms = clock_now_ms() + app->reconcile_after_ms;
            effect.next_round = 1;
            outcome = finish(run, refund_pending, &effect, "keep the bank's refund id");
        } else if (result == ACQ_REJECTED)
            outcome = finish(run, refund_failed, &effect, "record the bank's refusal");
        else if (job->attempt >= job->max_attempts && result == ACQ_UNKNOWN)
            outcome = finish(run, refund_unknown, &effect, "report an unknown refund");
        else
            outcome = bank_failed(run, result, &effect.err, "refund");
    }
    receipt_clear(&receipt.receipt);
    return outcome;
}

/* The wait before question `round` about something pending at the bank:
 * base, then twice as long each time, at most RECONCILE_MAX_MS. */
static int64_t ask_again_after_ms(int64_t base_ms, int round)
{
    int64_t wait_ms = base_ms;
    for (int i = 1; i < round && wait_ms < RECONCILE_MAX_MS; i++)
        wait_ms *= 2;
    return wait_ms < RECONCILE_MAX_MS ? wait_ms : RECONCILE_MAX_MS;
}

/* refund_poll: a refund the bank answered "pending" — succeeded, canceled,
 * or still pending (asked again later). */
static job_outcome_t run_refund_poll(job_run_t *run)
{
    payment_app_t *app = job_run_arg(run);
    char id[UUID_TEXT_SIZE];
    if (job_row_id(run, id) != 0)
        return JOB_FAIL;
    refund_row_t refund;
    bool found = false;
    db_status_t status = store_refund_lock(job_run_db(run), id, &refund, &found);
    if (status != DB_OK)
        return jobs_result(run, status, "read the refund");
    if (!found || refund.status != REFUND_PENDING || !refund.bank_refund_id[0])
        return JOB_DONE; /* landed by its webhook, failed, or never reached the bank */
    acquirer_t *bank = bank_client(app);
    if (!bank)
        return JOB_RETRY;
    effect_t effect = {.app = app, .id = id};
    acq_refund_status_t state;
    acq_result_t result = acquirer_refund_status(bank, refund.bank_refund_id, &state, &effect.err);
    if (result != ACQ_DONE)
        return bank_failed(run, result, &effect.err, "ask the bank about a pending refund");
    /* the bank's id came from an acq_refund_result_t: it fits */
    snprintf(effect.refund.refund_id, sizeof effect.refund.refund_id, "%.*s",
             (int)sizeof effect.refund.refund_id - 1, refund.bank_refund_id);
    if (state.state == ACQ_REFUND_SUCCEEDED) {
        log_info("a pending refund succeeded at the bank", LF_STR("refund_id", id),
                 LF_STR("bank_refund_id", refund.bank_refund_id));
        return finish(run, refund_landed, &effect, "record the refund");
    }
    if (state.state == ACQ_REFUND_CANCELED) {
        snprintf(effect.err.code, sizeof effect.err.code, "canceled");
        snprintf(effect.err.message, sizeof effect.err.message, "%s", state.reason);
        log_warn("the bank canceled a pending refund", LF_STR("refund_id", id),
                 LF_STR("bank_refund_id", refund.bank_refund_id), LF_STR("reason", state.reason),
                 LF_ERR("refund_canceled"));
        return finish(run, refund_failed, &effect, "record the bank's cancellation");
    }
    int round = job_round(run);
    effect.next_at_ms = clock_now_ms() + ask_again_after_ms(app->reconcile_after_ms, round + 1);
    effect.next_round = round + 1;
    return finish(run, refund_ask_again, &effect, "schedule the next question");
}

int payment_jobs_register(jobs_t *jobs, payment_app_t *app)
{
    static const struct {
        const char *kind;
        job_fn fn;
    } kinds[] = {
        {JOB_INVOICE_RECONCILE, run_reconcile}, {JOB_INVOICE_EXPIRE, run_expire},
        {JOB_INVOICE_VOID, run_void},           {JOB_REFUND_SEND, run_refund},
        {JOB_REFUND_POLL, run_refund_poll},
    };
    if (bank_init(app) != 0 ||
        jobs_register_batch(jobs, JOB_INVOICE_REGISTER, (int)app->register_batch,
                            run_register_batch, app) != 0)
        return -1;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (jobs_register(jobs, kinds[i].kind, kinds[i].fn, app) != 0)
            return -1;
    return 0;
}
