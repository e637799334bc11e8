/*
 * jobs.c — the shipping service's calls to the carrier (shipments.h names
 * the kinds). Each job reads its row, calls the carrier outside any
 * transaction, and writes what the carrier said through the domain
 * (shipments.h) in the job's completion transaction (jobs_begin_finish),
 * so the effect and "done" commit together. Every replica's workers take
 * these jobs (FOR UPDATE SKIP LOCKED: one worker a job).
 *
 * A label is bought at most once per shipment (F26, F35):
 *   - the carrier's shipment is made under our own reference (order id and
 *     round), unique at the carrier, and its id is committed before any
 *     label is bought;
 *   - a label is bought only after the address, weight and cost were
 *     verified by the quote;
 *   - before any purchase that is not the job's very first try (a retry,
 *     or a job resumed after its worker died mid-call), the carrier is
 *     asked for the shipment's label by our reference; one found is
 *     recorded, never bought again;
 *   - a parcel's label is bought by its own label job or by the carrier's
 *     batch of the batch it is in, whichever takes the row first
 *     (shipments.label_buyer, compare-and-set before any paid call); the
 *     batch job settles its parcels one transaction each, after looking
 *     every label up at the carrier;
 *   - a parcel whose order is cancelled while the carrier's batch holds it
 *     is settled with the others: the label the batch bought is recorded
 *     and voided (the void job, as on order.cancelled), never handed over.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/emit.h"
#include "common/log.h"
#include "common/strbuf.h"
#include "services/shipping/rules.h"
#include "services/shipping/shipments.h"
#include "services/shipping/shipping.h"
#include "services/shipping/store.h"

#define SHIPPING_STREAM "shipping"
#define POLL_ROUNDS_MAX 10000

/* The order id (and the poll round) a job works on. */
static int job_order(job_run_t *run, char id[UUID_TEXT_SIZE])
{
    json_t *payload = json_loads(job_run_job(run)->payload, 0, NULL);
    const char *text = payload ? json_string_value(json_object_get(payload, "id")) : NULL;
    int rc = text && uuid_valid(text) ? 0 : -1;
    if (rc == 0)
        memcpy(id, text, UUID_TEXT_SIZE);
    json_decref(payload);
    if (rc != 0)
        job_run_error(run, "bad_payload", "the job names no order");
    return rc;
}

static job_outcome_t carrier_failed(job_run_t *run, carrier_result_t result,
                                    const carrier_error_t *err, const char *what)
{
    job_run_error(run, err->code[0] ? err->code : carrier_result_name(result), "%s: %s (%s)", what,
                  err->message, carrier_result_name(result));
    if (err->retry_after_ms > 0)
        job_run_retry_after(run, err->retry_after_ms);
    return JOB_RETRY; /* transient, or unknown: the next attempt looks it up first */
}

/* Reads the order's shipment; JOB_DONE with *found. */
static job_outcome_t read_row(job_run_t *run, const char *id, shipment_row_t *row, bool *found)
{
    db_status_t status = store_shipment_lock(job_run_db(run), id, found, row);
    return status == DB_OK ? JOB_DONE : jobs_result(run, status, "read the shipment");
}

/* --- the completion transaction ------------------------------------------------------ */

typedef struct {
    shipping_app_t *app;
    const char *order_id;
    quote_result_t quote;
    carrier_label_t label;
    bool found_not_bought;
    const char *code;
    char message[CARRIER_TEXT_SIZE];
    bool approved;
    track_news_t news;
    const char *batch_number;
    char manifest_id[CARRIER_ID_SIZE];
    char manifest_url[CARRIER_URL_SIZE];
} effect_t;

typedef db_status_t (*effect_fn)(effect_t *effect, const emitter_t *em);

static job_outcome_t finish(job_run_t *run, effect_fn fn, effect_t *effect, const char *what)
{
    db_t *db = job_run_db(run);
    db_status_t status = jobs_begin_finish(run);
    if (status != DB_OK)
        return jobs_result(run, status, "open the completion transaction");
    emitter_t em = emitter_root(db, SHIPPING_STREAM);
    status = fn(effect, &em);
    if (status == DB_OK)
        return JOB_DONE;
    job_outcome_t outcome = jobs_result(run, status, what);
    /* the carrier has acted and we cannot record it: a person must look */
    return outcome == JOB_FAIL ? JOB_UNKNOWN : outcome;
}

/* The effect in a transaction of its own (a batch settles its parcels one
 * by one before its job completes; each is idempotent on the row's state). */
typedef struct {
    effect_fn fn;
    effect_t *effect;
} effect_tx_t;

static db_status_t effect_tx_body(tx_t *tx, void *arg)
{
    effect_tx_t *e = arg;
    emitter_t em = emitter_root(tx->db, SHIPPING_STREAM);
    return e->fn(e->effect, &em);
}

static db_status_t apply_now(job_run_t *run, effect_fn fn, effect_t *effect)
{
    effect_tx_t e = {.fn = fn, .effect = effect};
    return service_tx(effect->app->svc, job_run_db(run), effect_tx_body, &e, NULL);
}

static db_status_t quote_done(effect_t *e, const emitter_t *em)
{
    return shipments_quote_done(e->app, em, e->order_id, &e->quote);
}

static db_status_t labelled(effect_t *e, const emitter_t *em)
{
    return shipments_labelled(e->app, em, e->order_id, &e->label, e->found_not_bought);
}

static db_status_t label_failed(effect_t *e, const emitter_t *em)
{
    return shipments_label_failed(em, e->order_id, e->code, e->message);
}

static db_status_t cancel_unlabelled(effect_t *e, const emitter_t *em)
{
    return shipments_cancel_unlabelled(em, e->order_id);
}

static db_status_t voided(effect_t *e, const emitter_t *em)
{
    return shipments_voided(em, e->order_id, e->approved, e->message);
}

/* --- addresses ------------------------------------------------------------------------- */

static void field(char *out, size_t size, const json_t *object, const char *name)
{
    str_copy_to(out, size, json_string_value(json_object_get(object, name)));
}

/* The address to ship to: the carrier's correction when there is one. */
static void address_of(const shipment_row_t *row, carrier_address_t *out)
{
    memset(out, 0, sizeof *out);
    const json_t *where = row->matched ? row->matched : row->address;
    field(out->line1, sizeof out->line1, where, "line1");
    field(out->line2, sizeof out->line2, where, "line2");
    field(out->city, sizeof out->city, where, "city");
    field(out->region, sizeof out->region, where, "region");
    field(out->postal_code, sizeof out->postal_code, where, "postal_code");
    field(out->country, sizeof out->country, where, "country_code");
    if (!out->country[0])
        str_copy_to(out->country, sizeof out->country, "RU");
    if (!out->line1[0])
        field(out->line1, sizeof out->line1, where, "text");
    field(out->name, sizeof out->name, row->recipient, "name");
    field(out->phone, sizeof out->phone, row->recipient, "phone");
}

/* --- quote ------------------------------------------------------------------------------ */

static job_outcome_t run_quote(job_run_t *run)
{
    shipping_app_t *app = job_run_arg(run);
    char id[UUID_TEXT_SIZE];
    if (job_order(run, id) != 0)
        return JOB_FAIL;
    shipment_row_t row;
    bool found = false;
    job_outcome_t outcome = read_row(run, id, &row, &found);
    if (outcome != JOB_DONE || !found)
        return outcome;
    effect_t effect = {.app = app, .order_id = id};
    effect.quote = (quote_result_t){.verdict = "unknown", .cost_minor = -1};
    weight_rule_t rules[RULES_MAX];
    size_t count = 0;
    carrier_address_t to, matched;
    carrier_address_check_t check;
    carrier_error_t err;
    if (strcmp(row.quote_state, "quoting") != 0)
        goto done; /* overridden or quoted already */
    db_status_t status = store_rules_load(job_run_db(run), rules, RULES_MAX, &count);
    if (status != DB_OK) {
        outcome = jobs_result(run, status, "read the weight rules");
        goto done;
    }
    const weight_rule_t *rule = rules_pick(rules, count, row.method, row.region, row.weight_g);
    effect.quote.rule = rule;
    if (row.weight_g <= 0) {
        effect.quote.rule = NULL;
        effect.quote.error = "the parcel weighs nothing: the items' weights are missing";
        outcome = finish(run, quote_done, &effect, "record a failed quote");
        goto done;
    }
    if (!rule) {
        effect.quote.error = "no weight rule for the parcel's method, region and weight";
        outcome = finish(run, quote_done, &effect, "record a failed quote");
        goto done;
    }
    effect.quote.days_min = rule->days_min;
    effect.quote.days_max = rule->days_max;
    if (!rule->carrier_id[0]) { /* a courier without an API: its fixed price, no check */
        effect.quote.cost_minor = rule->fixed_cost_minor;
        outcome = finish(run, quote_done, &effect, "record the quote");
        goto done;
    }
    address_of(&row, &to);
    if (strcmp(row.method, "pickup_point") != 0) {
        carrier_result_t result = carrier_address_validate(&app->carrier, &to, &check, &err);
        if (result != CARRIER_OK) {
            outcome = carrier_failed(run, result, &err, "validate the address");
            goto done;
        }
        if (check.verdict == CARRIER_ADDRESS_WRONG) {
            effect.quote.verdict = "wrong";
            effect.quote.rule = NULL;
            effect.quote.error = check.message[0] ? check.message : "the carrier cannot find it";
            outcome = finish(run, quote_done, &effect, "record a wrong address");
            goto done;
        }
        if (check.verdict == CARRIER_ADDRESS_CORRECTED) {
            matched = check.matched;
            effect.quote.matched = &matched;
            effect.quote.verdict = "corrected";
            to = matched;
        } else {
            effect.quote.verdict = "valid";
        }
    }
    const char *carriers[] = {rule->carrier_id};
    carrier_rate_t rates[CARRIER_RATES_MAX];
    size_t rate_count = 0;
    carrier_result_t result = carrier_rates(&app->carrier, carriers, 1, &to, row.weight_g, rates,
                                            CARRIER_RATES_MAX, &rate_count, &err);
    if (result == CARRIER_REFUSED) {
        effect.quote.error = "the carrier returned no rates for the parcel";
        outcome = finish(run, quote_done, &effect, "record a failed quote");
        goto done;
    }
    if (result != CARRIER_OK) {
        outcome = carrier_failed(run, result, &err, "ask the carrier's rates");
        goto done;
    }
    for (size_t i = 0; i < rate_count; i++)
        if (strcmp(rates[i].service_code, rule->service) == 0) {
            effect.quote.cost_minor = rates[i].amount_minor;
            if (rates[i].days > 0)
                effect.quote.days_min = effect.quote.days_max = rates[i].days;
        }
    if (effect.quote.cost_minor < 0)
        effect.quote.error = "the carrier has no rate for the rule's service";
    outcome = finish(run, quote_done, &effect, "record the quote");
done:
    shipment_row_release(&row);
    return outcome;
}

/* --- label ------------------------------------------------------------------------------ */

/* The carrier's shipment for row, made or found by our reference;
 * JOB_DONE with row->carrier_shipment_id set (committed), *looked_up when
 * it existed before this call; JOB_DONE with no id and refused->code set
 * when the carrier refused to make it. */
static job_outcome_t ensure_shipment(job_run_t *run, shipping_app_t *app, shipment_row_t *row,
                                     bool *looked_up, carrier_error_t *refused)
{
    const job_t *job = job_run_job(run);
    carrier_shipment_t shipment;
    carrier_error_t err;
    carrier_result_t result = CARRIER_NOT_FOUND;
    *looked_up = false;
    memset(refused, 0, sizeof *refused);
    if (job->resumed || job->attempt > 1) {
        result = carrier_shipment_find(&app->carrier, row->external_ref, &shipment, &err);
        if (result != CARRIER_OK && result != CARRIER_NOT_FOUND)
            return carrier_failed(run, result, &err, "look the shipment up by our reference");
        *looked_up = result == CARRIER_OK;
    }
    if (result == CARRIER_NOT_FOUND) {
        carrier_address_t to;
        address_of(row, &to);
        result =
            carrier_shipment_create(&app->carrier, row->external_ref, row->carrier_id, row->service,
                                    row->package, &to, row->weight_g, &shipment, &err);
        if (result == CARRIER_REFUSED && strcmp(err.code, "duplicate_external_shipment_id") == 0) {
            result = carrier_shipment_find(&app->carrier, row->external_ref, &shipment, &err);
            *looked_up = result == CARRIER_OK;
        }
        if (result == CARRIER_REFUSED) {
            *refused = err;
            if (!refused->code[0])
                str_copy_to(refused->code, sizeof refused->code, "refused");
            return JOB_DONE;
        }
        if (result != CARRIER_OK)
            return carrier_failed(run, result, &err, "create the carrier's shipment");
    }
    db_status_t status =
        store_shipment_carrier_id(job_run_db(run), row->order_id, shipment.shipment_id);
    if (status != DB_OK)
        return jobs_result(run, status, "keep the carrier's shipment id");
    str_copy_to(row->carrier_shipment_id, sizeof row->carrier_shipment_id, shipment.shipment_id);
    return JOB_DONE;
}

/* Whether the quote verified what a label needs: the address, the weight
 * and the cost. A pickup point is the carrier's own address: the quote
 * checks none (its verdict stays unknown) and the label needs none. */
static bool label_ready(const shipment_row_t *row)
{
    return (strcmp(row->address_verdict, "valid") == 0 ||
            strcmp(row->address_verdict, "corrected") == 0 ||
            strcmp(row->method, "pickup_point") == 0 ||
            strcmp(row->quote_state, "overridden") == 0) &&
           row->weight_g > 0 && row->carrier_cost_minor >= 0 && row->carrier_id[0];
}

static job_outcome_t run_label(job_run_t *run)
{
    shipping_app_t *app = job_run_arg(run);
    char id[UUID_TEXT_SIZE];
    if (job_order(run, id) != 0)
        return JOB_FAIL;
    shipment_row_t row;
    bool found = false;
    job_outcome_t outcome = read_row(run, id, &row, &found);
    if (outcome != JOB_DONE || !found)
        return outcome;
    effect_t effect = {.app = app, .order_id = id};
    const job_t *job = job_run_job(run);
    carrier_error_t err;
    if (strcmp(row.state, "to_label") != 0)
        goto done;
    if (row.cancel_requested) {
        if (row.carrier_shipment_id[0]) /* best effort: a shipment without a label costs nothing */
            carrier_shipment_cancel(&app->carrier, row.carrier_shipment_id, &err);
        outcome = finish(run, cancel_unlabelled, &effect, "record a cancel before the label");
        goto done;
    }
    if (!label_ready(&row)) {
        effect.code = "not_verified";
        snprintf(effect.message, sizeof effect.message,
                 "address %s, weight %lld g, cost %lld: a label needs all three verified",
                 row.address_verdict, (long long)row.weight_g, (long long)row.carrier_cost_minor);
        outcome = finish(run, label_failed, &effect, "record an unverified parcel");
        goto done;
    }
    /* the parcel's batch buys the label when the parcel went into one
     * before this job took it (run_batch) */
    bool claimed = false;
    db_status_t taken = store_label_claim(job_run_db(run), id, "job", true, &claimed);
    if (taken != DB_OK) {
        outcome = jobs_result(run, taken, "take the label's purchase");
        goto done;
    }
    if (!claimed) {
        log_info("the parcel's batch buys its label", LF_STR("order_id", id),
                 LF_STR("batch", row.batch_number));
        goto done;
    }
    bool looked_up = false;
    if (!row.carrier_shipment_id[0]) {
        carrier_error_t refused;
        outcome = ensure_shipment(run, app, &row, &looked_up, &refused);
        if (outcome == JOB_DONE && refused.code[0]) {
            effect.code = refused.code;
            str_copy_to(effect.message, sizeof effect.message, refused.message);
            outcome = finish(run, label_failed, &effect, "record a refused shipment");
        }
        if (outcome != JOB_DONE || !row.carrier_shipment_id[0])
            goto done;
    } else {
        looked_up = true; /* made by an earlier attempt */
    }
    carrier_result_t result = CARRIER_NOT_FOUND;
    if (looked_up || job->resumed || job->attempt > 1) {
        result = carrier_label_find(&app->carrier, row.carrier_shipment_id, &effect.label, &err);
        if (result == CARRIER_OK) {
            effect.found_not_bought = true;
            log_info("a label bought before was found, not bought again", LF_STR("order_id", id),
                     LF_STR("label_id", effect.label.label_id));
            outcome = finish(run, labelled, &effect, "record the label found");
            goto done;
        }
        if (result != CARRIER_NOT_FOUND) {
            outcome = carrier_failed(run, result, &err, "look the label up");
            goto done;
        }
    }
    /* the lease must outlast the purchase: another worker taking the job
     * meanwhile would find no label yet and buy one too */
    db_status_t kept = jobs_keepalive(run);
    if (kept != DB_OK) {
        outcome = jobs_result(run, kept, "keep the label job's lease");
        goto done;
    }
    result = carrier_label_buy(&app->carrier, row.carrier_shipment_id, &effect.label, &err);
    if (result == CARRIER_OK) {
        outcome = finish(run, labelled, &effect, "record the label");
    } else if (result == CARRIER_REFUSED) {
        effect.code = err.code[0] ? err.code : "refused";
        str_copy_to(effect.message, sizeof effect.message, err.message);
        outcome = finish(run, label_failed, &effect, "record a refused label");
    } else {
        outcome = carrier_failed(run, result, &err, "buy the label");
    }
done:
    shipment_row_release(&row);
    return outcome;
}

/* --- void --------------------------------------------------------------------------------- */

static job_outcome_t run_void(job_run_t *run)
{
    shipping_app_t *app = job_run_arg(run);
    char id[UUID_TEXT_SIZE];
    if (job_order(run, id) != 0)
        return JOB_FAIL;
    shipment_row_t row;
    bool found = false;
    job_outcome_t outcome = read_row(run, id, &row, &found);
    if (outcome != JOB_DONE || !found)
        return outcome;
    effect_t effect = {.app = app, .order_id = id};
    carrier_error_t err;
    if (strcmp(row.state, "cancelled") == 0) {
        /* done */
    } else if (strcmp(row.state, "labelled") != 0) {
        effect.approved = false;
        snprintf(effect.message, sizeof effect.message, "the parcel is %s", row.state);
        outcome = finish(run, voided, &effect, "record a refused cancel");
    } else if (!row.label_id[0]) {
        effect.approved = true;
        snprintf(effect.message, sizeof effect.message, "no label to void");
        outcome = finish(run, voided, &effect, "record a cancel");
    } else {
        carrier_result_t result =
            carrier_label_void(&app->carrier, row.label_id, &effect.approved, effect.message, &err);
        if (result == CARRIER_OK)
            outcome = finish(run, voided, &effect, "record the void");
        else
            outcome = carrier_failed(run, result, &err, "void the label");
    }
    shipment_row_release(&row);
    return outcome;
}

/* --- tracking --------------------------------------------------------------------------- */

/* The poll round of a track job (its dedup key's last part). */
static int poll_round(job_run_t *run)
{
    const char *key = job_run_job(run)->dedup_key;
    const char *colon = key ? strrchr(key, ':') : NULL;
    char *end = NULL;
    long round = colon ? strtol(colon + 1, &end, 10) : 1;
    return colon && end && !*end && round > 0 && round < POLL_ROUNDS_MAX ? (int)round : 1;
}

typedef struct {
    effect_t effect;
    int shipment_round;
    int next_poll;
    int64_t next_at_ms;
    char event_id[128];
    carrier_track_t track;
} poll_t;

static db_status_t polled(effect_t *e, const emitter_t *em)
{
    poll_t *poll = (poll_t *)e; /* effect is the first member */
    track_outcome_t outcome;
    db_status_t status = shipments_track(e->app, em, &e->news, &outcome);
    if (status == DB_OK && poll->next_poll > 0) {
        char tag[16];
        snprintf(tag, sizeof tag, "%d", poll->next_poll);
        status = shipments_schedule(emitter_db(em), JOB_TRACK, e->order_id, poll->shipment_round,
                                    tag, poll->next_at_ms);
    }
    return status;
}

static job_outcome_t run_track(job_run_t *run)
{
    shipping_app_t *app = job_run_arg(run);
    char id[UUID_TEXT_SIZE];
    if (job_order(run, id) != 0)
        return JOB_FAIL;
    shipment_row_t row;
    bool found = false;
    job_outcome_t outcome = read_row(run, id, &row, &found);
    if (outcome != JOB_DONE || !found)
        return outcome;
    bool live = strcmp(row.state, "labelled") == 0 || strcmp(row.state, "handed_over") == 0;
    if (!live || !row.tracking_number[0]) {
        shipment_row_release(&row);
        return JOB_DONE; /* delivered, returned, cancelled: nothing more to follow */
    }
    poll_t poll;
    memset(&poll, 0, sizeof poll);
    poll.effect.app = app;
    poll.effect.order_id = id;
    poll.shipment_round = row.round;
    carrier_error_t err;
    /* russian_post parcels through the post's own tracking when it is set */
    bool post = strcmp(row.carrier, "russian_post") == 0 && app->russianpost.url[0];
    carrier_result_t result =
        post ? russianpost_track(&app->russianpost, row.tracking_number, &poll.track, &err)
             : carrier_tracking_get(&app->carrier, row.carrier_id, row.tracking_number, &poll.track,
                                    &err);
    if (result != CARRIER_OK) {
        shipment_row_release(&row);
        return carrier_failed(run, result, &err, "poll the parcel's tracking");
    }
    int round = poll_round(run);
    bool give_up = (int64_t)round * app->track_poll_ms > app->track_give_up_ms;
    poll.next_poll = give_up || strcmp(poll.track.status_code, "DE") == 0 ? 0 : round + 1;
    poll.next_at_ms = clock_now_ms() + app->track_poll_ms;
    snprintf(poll.event_id, sizeof poll.event_id, "poll:%.39s:%.3s:%.63s", row.tracking_number,
             poll.track.status_code, poll.track.event_id);
    poll.effect.news = (track_news_t){.tracking_number = row.tracking_number,
                                      .event_id = poll.event_id,
                                      .code = poll.track.status_code,
                                      .description = poll.track.description,
                                      .at_ms = poll.track.at_ms,
                                      .source = "poll"};
    outcome = finish(run, polled, &poll.effect, "record the tracking");
    shipment_row_release(&row);
    return outcome;
}

/* --- batches ------------------------------------------------------------------------------ */

#define BATCH_PARCELS_MAX 512
#define BATCH_POLL_MAX_MS 30000

/* How long the batch job waits before looking again: SHIPPING_BATCH_POLL
 * (0.5 s) more every attempt up to 30 s (or the step, when larger), so that
 * a carrier taking many minutes over a large batch is followed within the
 * job's attempts (api.c: 200). The carrier's batch webhook, when it comes,
 * makes the next look now, or right after an attempt that is running
 * (shipments_batch_wake). */
static int64_t batch_poll_ms(job_run_t *run)
{
    const shipping_app_t *app = job_run_arg(run);
    int64_t step = app->batch_poll_ms;
    int64_t most = step > BATCH_POLL_MAX_MS ? step : BATCH_POLL_MAX_MS;
    int64_t wait = (int64_t)job_run_job(run)->attempt * step;
    return wait < step ? step : wait > most ? most : wait;
}

/* A parcel whose label the batch buys at the carrier. */
typedef struct {
    char order_id[UUID_TEXT_SIZE];
    char shipment_id[CARRIER_ID_SIZE];
    bool cancelled; /* its order was cancelled: kept out of a batch made now */
    bool settled;   /* cancelled before the label, never in the carrier's batch */
} batch_parcel_t;

/* The batch job makes one carrier call after another (a shipment per
 * parcel, the batch, each label looked up, the manifest): its lease is
 * extended before each, so that no other worker takes the job while it
 * still runs. JOB_DONE while the lease is ours. */
static job_outcome_t batch_keep(job_run_t *run)
{
    db_status_t kept = jobs_keepalive(run);
    return kept == DB_OK ? JOB_DONE : jobs_result(run, kept, "keep the batch job's lease");
}

static db_status_t batch_closed(effect_t *e, const emitter_t *em)
{
    db_t *db = emitter_db(em);
    db_status_t status =
        store_batch_status(db, e->batch_number, "closed", e->manifest_id[0] ? e->manifest_id : NULL,
                           e->manifest_url[0] ? e->manifest_url : NULL);
    /* a parcel assembled while the batch was processing was left to it */
    json_t *members = NULL;
    if (status == DB_OK)
        status = store_batch_members(db, e->batch_number, &members);
    size_t i;
    json_t *member;
    json_array_foreach(members, i, member)
    {
        const char *order_id = json_string_value(json_object_get(member, "order_id"));
        if (status == DB_OK && order_id)
            status = shipments_unbatched(db, order_id);
    }
    json_decref(members);
    return status;
}

/* One parcel of a processed carrier batch settled by what the carrier
 * has: its label found (recorded), or none (label_failed with the batch's
 * error for it). Its own transaction. */
static job_outcome_t batch_settle(job_run_t *run, shipping_app_t *app, const batch_parcel_t *parcel,
                                  const carrier_batch_error_t *errors, size_t error_count,
                                  const char *carrier_status)
{
    effect_t effect = {.app = app, .order_id = parcel->order_id};
    carrier_error_t err;
    job_outcome_t kept = batch_keep(run);
    if (kept != JOB_DONE)
        return kept;
    carrier_result_t result =
        carrier_label_find(&app->carrier, parcel->shipment_id, &effect.label, &err);
    if (result != CARRIER_OK && result != CARRIER_NOT_FOUND)
        return carrier_failed(run, result, &err, "look a batch parcel's label up");
    db_status_t status;
    if (result == CARRIER_OK) {
        status = apply_now(run, labelled, &effect);
    } else {
        effect.code = "batch_no_label";
        snprintf(effect.message, sizeof effect.message,
                 "the carrier's batch ended %s without a label for shipment %s", carrier_status,
                 parcel->shipment_id);
        for (size_t i = 0; i < error_count; i++)
            if (strcmp(errors[i].shipment_id, parcel->shipment_id) == 0) {
                effect.code = errors[i].code[0] ? errors[i].code : "batch_error";
                str_copy_to(effect.message, sizeof effect.message, errors[i].message);
                break;
            }
        log_warn("the carrier's batch bought no label for a parcel",
                 LF_STR("order_id", parcel->order_id), LF_ERR(effect.code),
                 LF_STR("message", effect.message));
        status = apply_now(run, label_failed, &effect);
    }
    return status == DB_OK ? JOB_DONE : jobs_result(run, status, "record a batch parcel's label");
}

/* The carrier's batch for our number (made, or found by our number when a
 * create's answer was lost), processed, and once the carrier finished it
 * every parcel settled. JOB_DONE once all are settled; JOB_RETRY while the
 * carrier works (polled: GET /v1/batches/{id}). */
static job_outcome_t batch_buy(job_run_t *run, shipping_app_t *app, const char *number,
                               batch_parcel_t *parcels, size_t count)
{
    db_t *db = job_run_db(run);
    char batch_id[64];
    job_outcome_t kept = batch_keep(run);
    if (kept != JOB_DONE)
        return kept;
    db_status_t status = store_batch_carrier(db, number, batch_id);
    if (status != DB_OK)
        return jobs_result(run, status, "read the carrier's batch id");
    carrier_batch_t batch;
    carrier_error_t err;
    carrier_result_t result;
    if (!batch_id[0]) {
        result = carrier_batch_find(&app->carrier, number, &batch, &err);
        if (result == CARRIER_NOT_FOUND) {
            /* a cancelled parcel goes into no batch made now: nothing is
             * bought for it (in one found, its label is voided once bought) */
            const char *ids[BATCH_PARCELS_MAX];
            size_t live = 0;
            for (size_t i = 0; i < count; i++) {
                if (!parcels[i].cancelled) {
                    ids[live++] = parcels[i].shipment_id;
                    continue;
                }
                effect_t effect = {.app = app, .order_id = parcels[i].order_id};
                status = apply_now(run, cancel_unlabelled, &effect);
                if (status != DB_OK)
                    return jobs_result(run, status, "record a cancel before the label");
                parcels[i].settled = true;
            }
            if (live == 0)
                return JOB_DONE;
            result = carrier_batch_create(&app->carrier, number, ids, live, &batch, &err);
        }
        if (result != CARRIER_OK)
            return carrier_failed(run, result, &err, "make the carrier's batch");
        status = store_batch_set_carrier(db, number, batch.batch_id);
        if (status != DB_OK)
            return jobs_result(run, status, "keep the carrier's batch id");
        log_info("the carrier's batch made", LF_STR("batch", number),
                 LF_STR("carrier_batch_id", batch.batch_id), LF_INT("parcels", (int64_t)count));
    } else {
        result = carrier_batch_get(&app->carrier, batch_id, &batch, &err);
        if (result != CARRIER_OK)
            return carrier_failed(run, result, &err, "read the carrier's batch");
    }
    if (strcmp(batch.status, "open") == 0) {
        result = carrier_batch_process(&app->carrier, batch.batch_id, &err);
        if (result != CARRIER_OK &&
            !(result == CARRIER_REFUSED && strcmp(err.code, "batch_cannot_be_modified") == 0))
            return carrier_failed(run, result, &err, "process the carrier's batch");
        str_copy_to(batch.status, sizeof batch.status, "processing");
    }
    static const char *const working[] = {"queued", "processing", "notifying"};
    for (size_t i = 0; i < sizeof working / sizeof working[0]; i++)
        if (strcmp(batch.status, working[i]) == 0) {
            job_run_error(run, "batch_processing", "batch %s: the carrier's batch %s is %s", number,
                          batch.batch_id, batch.status);
            job_run_retry_after(run, batch_poll_ms(run));
            return JOB_RETRY;
        }
    /* completed, completed_with_errors, or anything else: what each
     * parcel got is looked up at the carrier, never bought again */
    carrier_batch_error_t *errors = calloc(BATCH_PARCELS_MAX, sizeof *errors);
    size_t error_count = 0;
    if (!errors)
        return JOB_RETRY;
    if (strcmp(batch.status, "completed") != 0) {
        result = carrier_batch_errors(&app->carrier, batch.batch_id, errors, BATCH_PARCELS_MAX,
                                      &error_count, &err);
        if (result != CARRIER_OK) {
            free(errors);
            return carrier_failed(run, result, &err, "read the carrier's batch errors");
        }
    }
    job_outcome_t outcome = JOB_DONE;
    for (size_t i = 0; i < count && outcome == JOB_DONE; i++)
        if (!parcels[i].settled)
            outcome = batch_settle(run, app, &parcels[i], errors, error_count, batch.status);
    free(errors);
    return outcome;
}

/* Collects the batch's parcels whose label it buys: a parcel waiting for a
 * label that its own job left to the batch is taken by the batch (only
 * until the carrier's batch is made: one that came later goes back to its
 * own job when the batch closes), its carrier shipment made by our
 * reference. *pending when a parcel is still with its label job. */
static job_outcome_t batch_collect(job_run_t *run, shipping_app_t *app, const char *number,
                                   bool carrier_made, const json_t *members,
                                   batch_parcel_t *parcels, size_t *count, bool *pending)
{
    const job_t *job = job_run_job(run);
    char buyer[48];
    snprintf(buyer, sizeof buyer, "batch:%s", number);
    *count = 0;
    *pending = false;
    size_t i;
    const json_t *member;
    json_array_foreach(members, i, member)
    {
        const char *state = json_string_value(json_object_get(member, "state"));
        const char *order_id = json_string_value(json_object_get(member, "order_id"));
        if (!state || strcmp(state, "to_label") != 0 || !order_id || !uuid_valid(order_id))
            continue;
        shipment_row_t row;
        bool found = false;
        job_outcome_t outcome = read_row(run, order_id, &row, &found);
        if (outcome != JOB_DONE)
            return outcome;
        if (!found)
            continue;
        effect_t effect = {.app = app, .order_id = order_id};
        bool claimed = false;
        db_status_t status = DB_OK;
        if (strcmp(row.state, "to_label") != 0) {
            /* settled meanwhile */
        } else if (!label_ready(&row)) {
            *pending = true; /* its label job records it unverified */
        } else if ((status = store_label_claim(job_run_db(run), order_id, buyer, !carrier_made,
                                               &claimed)) != DB_OK) {
            outcome = jobs_result(run, status, "take a batch parcel's label");
        } else if (!claimed) {
            /* its own label job buys it (waited for), or it came after the
             * carrier's batch was made (its job again once this closes) */
            const char *taken = json_string_value(json_object_get(member, "label_buyer"));
            *pending = *pending || !carrier_made || (taken && strcmp(taken, "job") == 0);
        } else if (row.cancel_requested && (!row.carrier_shipment_id[0] ||
                                            !(carrier_made || job->resumed || job->attempt > 1))) {
            /* not in the carrier's batch (nor in one whose create's answer
             * was lost): nothing bought for it */
            status = apply_now(run, cancel_unlabelled, &effect);
            if (status != DB_OK)
                outcome = jobs_result(run, status, "record a cancel before the label");
        } else if (row.cancel_requested && *count < BATCH_PARCELS_MAX) {
            /* cancelled while the carrier's batch holds it (or may: a
             * create whose answer was lost, found by batch_buy, else the
             * parcel is kept out of the one made): the batch buys its
             * label all the same; settled with the others, the label
             * found is recorded and voided (shipments_labelled), none
             * found is a cancel before the label (shipments_label_failed) */
            str_copy_to(parcels[*count].order_id, UUID_TEXT_SIZE, order_id);
            str_copy_to(parcels[*count].shipment_id, CARRIER_ID_SIZE, row.carrier_shipment_id);
            parcels[*count].cancelled = true;
            (*count)++;
        } else if (*count < BATCH_PARCELS_MAX) {
            bool looked_up = false;
            carrier_error_t refused = {.code = ""};
            if (!row.carrier_shipment_id[0])
                outcome = batch_keep(run);
            if (outcome == JOB_DONE && !row.carrier_shipment_id[0])
                outcome = ensure_shipment(run, app, &row, &looked_up, &refused);
            if (outcome == JOB_DONE && !row.carrier_shipment_id[0]) {
                effect.code = refused.code;
                str_copy_to(effect.message, sizeof effect.message, refused.message);
                status = apply_now(run, label_failed, &effect);
                if (status != DB_OK)
                    outcome = jobs_result(run, status, "record a refused shipment");
            } else if (outcome == JOB_DONE) {
                str_copy_to(parcels[*count].order_id, UUID_TEXT_SIZE, order_id);
                str_copy_to(parcels[*count].shipment_id, CARRIER_ID_SIZE, row.carrier_shipment_id);
                (*count)++;
            }
        }
        shipment_row_release(&row);
        if (outcome != JOB_DONE)
            return outcome;
    }
    return JOB_DONE;
}

/* shipping_batch (F25–F27): the parcels of the batch still without a
 * label get theirs through the carrier's batch (made under our number,
 * processed asynchronously, polled until it ends; a parcel it bought none
 * for is label_failed with the carrier's error, a person's to look at);
 * then the carrier's manifest for the labels closes the batch and the
 * carrier takes the parcels. A parcel whose own label job took it first is
 * waited for, never bought by both. */
static job_outcome_t run_batch(job_run_t *run)
{
    shipping_app_t *app = job_run_arg(run);
    json_t *payload = json_loads(job_run_job(run)->payload, 0, NULL);
    const char *number = json_string_value(json_object_get(payload, "number"));
    char status_text[16] = "";
    json_t *members = NULL;
    batch_parcel_t *parcels = NULL;
    job_outcome_t outcome = JOB_DONE;
    db_t *db = job_run_db(run);
    db_status_t status = number ? store_batch_lock(db, number, status_text) : DB_OK;
    if (status == DB_OK && number && strcmp(status_text, "processing") == 0)
        status = store_batch_members(db, number, &members);
    if (status != DB_OK) {
        outcome = jobs_result(run, status, "read the batch");
        goto done;
    }
    if (!members)
        goto done; /* no such batch, or closed already */
    parcels = calloc(BATCH_PARCELS_MAX, sizeof *parcels);
    if (!parcels) {
        outcome = JOB_RETRY;
        goto done;
    }
    size_t count = 0;
    bool pending = false;
    char carrier_batch[64];
    status = store_batch_carrier(db, number, carrier_batch);
    if (status != DB_OK) {
        outcome = jobs_result(run, status, "read the carrier's batch id");
        goto done;
    }
    outcome = batch_collect(run, app, number, carrier_batch[0] != '\0', members, parcels, &count,
                            &pending);
    if (outcome != JOB_DONE)
        goto done;
    if (pending) {
        job_run_error(run, "labels_pending", "batch %s: labels still being bought", number);
        job_run_retry_after(run, batch_poll_ms(run));
        outcome = JOB_RETRY;
        goto done;
    }
    if (count > 0) {
        outcome = batch_buy(run, app, number, parcels, count);
        if (outcome != JOB_DONE)
            goto done;
        json_decref(members); /* the labels just recorded */
        members = NULL;
        status = store_batch_members(db, number, &members);
        if (status != DB_OK) {
            outcome = jobs_result(run, status, "read the batch again");
            goto done;
        }
    }
    /* ids: the labels the manifest hands over (the parcels labelled);
     * known: those and the labels this batch bought, handed over already
     * or not, by which a manifest made before is looked up (a parcel
     * handed over by another batch's manifest is not looked up by) */
    const char *ids[BATCH_PARCELS_MAX], *known[BATCH_PARCELS_MAX];
    size_t labels = 0, known_count = 0;
    char buyer[48];
    snprintf(buyer, sizeof buyer, "batch:%s", number);
    size_t i;
    json_t *member;
    json_array_foreach(members, i, member)
    {
        const char *state = json_string_value(json_object_get(member, "state"));
        const char *label = json_string_value(json_object_get(member, "label_id"));
        const char *bought_by = json_string_value(json_object_get(member, "label_buyer"));
        /* a parcel whose order was cancelled is not handed over: its
         * label is being voided, which a manifest would forbid */
        bool labelled = state && strcmp(state, "labelled") == 0 &&
                        !json_is_true(json_object_get(member, "cancel_requested"));
        if (!label || !label[0] || known_count == BATCH_PARCELS_MAX ||
            !(labelled || (bought_by && strcmp(bought_by, buyer) == 0)))
            continue;
        known[known_count++] = label;
        if (labelled)
            ids[labels++] = label;
    }
    effect_t effect = {.app = app, .batch_number = number};
    const job_t *job = job_run_job(run);
    /* a manifest made by an attempt that never heard its answer (a
     * timeout, a replica killed -9) is found by any label of the batch,
     * even when its parcels moved on meanwhile (the manifest's AC scans
     * heard: handed over): one manifest per batch (F27) */
    bool look_up = known_count > 0 && (job->resumed || job->attempt > 1);
    if ((labels > 0 || look_up) && (outcome = batch_keep(run)) != JOB_DONE)
        goto done;
    carrier_error_t err;
    carrier_result_t result = CARRIER_NOT_FOUND;
    if (look_up) {
        result = carrier_manifest_find(&app->carrier, known, known_count, effect.manifest_id,
                                       effect.manifest_url, &err);
        if (result != CARRIER_OK && result != CARRIER_NOT_FOUND) {
            outcome = carrier_failed(run, result, &err, "look the batch's manifest up");
            goto done;
        }
        if (result == CARRIER_OK)
            log_info("the batch's manifest made before was found, not made again",
                     LF_STR("batch", number), LF_STR("manifest_id", effect.manifest_id));
    }
    if (result == CARRIER_NOT_FOUND && labels > 0) {
        result = carrier_manifest_create(&app->carrier, ids, labels, effect.manifest_id,
                                         effect.manifest_url, &err);
        if (result != CARRIER_OK) {
            outcome = carrier_failed(run, result, &err, "create the batch's manifest");
            goto done;
        }
    }
    outcome = finish(run, batch_closed, &effect, "close the batch");
done:
    free(parcels);
    json_decref(members);
    json_decref(payload);
    return outcome;
}

/* --- the webhook subscription -------------------------------------------------------------- */

static job_outcome_t run_subscribe(job_run_t *run)
{
    shipping_app_t *app = job_run_arg(run);
    if (!app->webhook_url[0])
        return JOB_DONE;
    carrier_error_t err;
    carrier_result_t result = carrier_webhook_subscribe(
        &app->carrier, app->webhook_url, app->webhook_header, app->webhook_secret, &err);
    /* a batch's end too: its job polls sooner (polling stays the fallback) */
    if (result == CARRIER_OK)
        result = carrier_batch_webhook_subscribe(&app->carrier, app->webhook_url,
                                                 app->webhook_header, app->webhook_secret, &err);
    if (result == CARRIER_OK) {
        log_info("tracking and batch webhooks subscribed", LF_STR("url", app->webhook_url));
        return JOB_DONE;
    }
    return carrier_failed(run, result, &err, "subscribe to tracking webhooks");
}

int shipping_jobs_register(jobs_t *jobs, shipping_app_t *app)
{
    static const struct {
        const char *kind;
        job_fn fn;
    } kinds[] = {
        {JOB_QUOTE, run_quote}, {JOB_LABEL, run_label},         {JOB_VOID, run_void},
        {JOB_TRACK, run_track}, {JOB_SUBSCRIBE, run_subscribe}, {JOB_BATCH, run_batch},
    };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (jobs_register(jobs, kinds[i].kind, kinds[i].fn, app) != 0)
            return -1;
    return 0;
}
