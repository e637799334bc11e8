/*
 * shipments.c — the shipping service's domain (shipments.h): every change
 * of a parcel is a row update, a line of its history and the facts it
 * tells, in one transaction.
 */
#include "services/shipping/shipments.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/jobs.h"
#include "common/log.h"
#include "common/strbuf.h"
#include "services/shipping/events.h"
#include "services/shipping/rules.h"

db_status_t shipments_schedule(db_t *db, const char *kind, const char *order_id, int round,
                               const char *tag, int64_t run_at_ms)
{
    char payload[128], dedup[192];
    snprintf(payload, sizeof payload, "{\"id\":\"%s\",\"round\":%d}", order_id, round);
    snprintf(dedup, sizeof dedup, "%s:%s:%d%s%s", kind, order_id, round, tag ? ":" : "",
             tag ? tag : "");
    job_spec_t spec = {.kind = kind,
                       .payload = payload,
                       .run_at_ms = run_at_ms,
                       .max_attempts = 25,
                       .dedup_key = dedup};
    return jobs_enqueue(db, &spec, NULL, NULL);
}

/* One line of history, detail built by the caller (may be NULL). */
static db_status_t log_line(db_t *db, const shipment_row_t *row, const char *kind, json_t *detail)
{
    char *text = detail ? json_dumps(detail, JSON_COMPACT) : NULL;
    json_decref(detail);
    db_status_t status = store_log(db, row->order_id, row->round, kind, text);
    free(text);
    return status;
}

/* Reads the locked row; DB_OK with *found false when there is none. */
static db_status_t lock(db_t *db, const char *order_id, bool *found, shipment_row_t *row)
{
    return store_shipment_lock(db, order_id, found, row);
}

static bool has_api(const shipment_row_t *row)
{
    return row->carrier_id[0] != '\0';
}

/* --- the order's facts ------------------------------------------------------------ */

db_status_t shipments_reserved(shipping_app_t *app, const emitter_t *em,
                               const reserved_order_t *order)
{
    db_t *db = emitter_db(em);
    bool self = strcmp(order->method, "self_pickup") == 0;
    if (app->webhook_url[0]) { /* once per URL: the carrier's tracking webhooks */
        char dedup[200];
        snprintf(dedup, sizeof dedup, "%s:%.150s", JOB_SUBSCRIBE, app->webhook_url);
        job_spec_t spec = {.kind = JOB_SUBSCRIBE, .dedup_key = dedup, .max_attempts = 100};
        db_status_t status = jobs_enqueue(db, &spec, NULL, NULL);
        if (status != DB_OK)
            return status;
    }
    char *address = json_dumps(order->address, JSON_COMPACT);
    char *recipient = json_dumps(order->recipient, JSON_COMPACT);
    char *lines = order->lines ? json_dumps(order->lines, JSON_COMPACT) : NULL;
    if (!address || !recipient || (order->lines && !lines)) {
        free(address);
        free(recipient);
        free(lines);
        return db_fail(db, DB_STATE_OUT_OF_MEMORY, "could not write order %s's address",
                       order->order_id);
    }
    shipment_reserved_t in = {.order_id = order->order_id,
                              .version = order->version,
                              .number = order->number,
                              .method = order->method,
                              .region = order->region,
                              .address_json = address,
                              .recipient_json = recipient,
                              .lines_json = lines,
                              .weight_g = order->weight_g,
                              .quote_state = self ? "not_needed" : "quoting"};
    bool applied = false;
    db_status_t status = store_shipment_reserved(db, &in, &applied);
    free(address);
    free(recipient);
    free(lines);
    if (status != DB_OK || !applied)
        return status;
    shipment_row_t row;
    bool found = false;
    status = lock(db, order->order_id, &found, &row);
    if (status != DB_OK || !found)
        return status;
    status = log_line(db, &row, "reserved",
                      json_pack("{s:I, s:s, s:I}", "order_version", (json_int_t)order->version,
                                "method", order->method, "weight_g", (json_int_t)order->weight_g));
    if (status == DB_OK && self) {
        shipment_quote_t quote = {.quote_state = "not_needed",
                                  .verdict = "valid",
                                  .carrier = "self_pickup",
                                  .carrier_id = "",
                                  .service = "self_pickup",
                                  .package = "none",
                                  .cost_minor = 0};
        status = store_shipment_quote(db, row.order_id, &quote);
        snprintf(row.carrier, sizeof row.carrier, "self_pickup");
        snprintf(row.service, sizeof row.service, "self_pickup");
        snprintf(row.package, sizeof row.package, "none");
        snprintf(row.address_verdict, sizeof row.address_verdict, "valid");
        row.carrier_cost_minor = 0;
        if (status == DB_OK)
            status = events_quoted(em, &row, NULL, 0);
    } else if (status == DB_OK) {
        char tag[24];
        snprintf(tag, sizeof tag, "v%llu", (unsigned long long)order->version);
        status = shipments_schedule(db, JOB_QUOTE, row.order_id, row.round, tag, 0);
    }
    shipment_row_release(&row);
    return status;
}

db_status_t shipments_ready(const emitter_t *em, const char *order_id)
{
    db_t *db = emitter_db(em);
    shipment_row_t row;
    bool found = false;
    db_status_t status = lock(db, order_id, &found, &row);
    if (status != DB_OK || !found)
        return status;
    if (strcmp(row.state, "new") == 0)
        status = store_shipment_warehouse(db, order_id, "prepare_for_delivery");
    shipment_row_release(&row);
    return status;
}

db_status_t shipments_awaiting_payment(const emitter_t *em, const char *order_id)
{
    db_t *db = emitter_db(em);
    shipment_row_t row;
    bool found = false;
    db_status_t status = lock(db, order_id, &found, &row);
    if (status != DB_OK || !found)
        return status;
    if (strcmp(row.state, "new") == 0 && row.warehouse_status[0]) {
        status = store_shipment_warehouse(db, order_id, NULL);
        if (status == DB_OK)
            status = log_line(db, &row, "awaiting_payment", NULL);
    }
    shipment_row_release(&row);
    return status;
}

db_status_t shipments_assembled(const emitter_t *em, const char *order_id, int64_t weight_g)
{
    db_t *db = emitter_db(em);
    shipment_row_t row;
    bool found = false;
    db_status_t status = lock(db, order_id, &found, &row);
    if (status != DB_OK || !found)
        return status;
    if (strcmp(row.state, "new") == 0 && strcmp(row.method, "self_pickup") == 0 &&
        !row.cancel_requested) {
        /* nothing to ship: ready for pickup at the counter */
        status = store_shipment_warehouse(db, order_id, "assembled");
        if (status == DB_OK && strcmp(row.warehouse_status, "assembled") != 0)
            status = log_line(db, &row, "assembled", json_pack("{s:I}", "weight_g", weight_g));
        shipment_row_release(&row);
        return status;
    }
    if (strcmp(row.state, "new") != 0 || strcmp(row.method, "self_pickup") == 0 ||
        row.cancel_requested) {
        shipment_row_release(&row);
        return DB_OK; /* a repeat, or nothing to ship */
    }
    status = store_shipment_to_label(db, order_id, weight_g);
    if (status == DB_OK)
        status = log_line(db, &row, "assembled", json_pack("{s:I}", "weight_g", weight_g));
    if (status == DB_OK && has_api(&row))
        status = shipments_schedule(db, JOB_LABEL, order_id, row.round, NULL, 0);
    else if (status == DB_OK) {
        /* a courier without an API: no label; our reference is the parcel's */
        status = store_shipment_label(db, order_id, "", NULL, "", 0);
    }
    shipment_row_release(&row);
    return status;
}

db_status_t shipments_cancelled(const emitter_t *em, const char *order_id, const char *reason)
{
    db_t *db = emitter_db(em);
    shipment_row_t row;
    bool found = false;
    db_status_t status = lock(db, order_id, &found, &row);
    if (status != DB_OK || !found)
        return status;
    const char *state = row.state;
    if (strcmp(state, "cancelled") == 0 || row.cancel_requested) {
        /* a repeat */
    } else if (strcmp(state, "new") == 0 || strcmp(state, "label_failed") == 0 ||
               (strcmp(state, "labelled") == 0 && !has_api(&row))) {
        status = store_shipment_state(db, order_id, "cancelled", NULL);
        if (status == DB_OK)
            status = log_line(db, &row, "cancelled", json_pack("{s:s}", "reason", reason));
        if (status == DB_OK)
            status = events_cancelled(em, &row, false, reason);
    } else if (strcmp(state, "to_label") == 0) {
        /* the label job sees it before it buys, or voids what it bought */
        status = store_shipment_cancel_requested(db, order_id);
        if (status == DB_OK)
            status = log_line(db, &row, "cancel_requested", json_pack("{s:s}", "reason", reason));
    } else if (strcmp(state, "labelled") == 0) {
        status = store_shipment_cancel_requested(db, order_id);
        if (status == DB_OK)
            status = log_line(db, &row, "cancel_requested", json_pack("{s:s}", "reason", reason));
        if (status == DB_OK)
            status = shipments_schedule(db, JOB_VOID, order_id, row.round, NULL, 0);
    } else {
        /* handed over, delivered, returned: too late */
        status = log_line(db, &row, "cancel_refused",
                          json_pack("{s:s, s:s}", "reason", reason, "state", state));
        if (status == DB_OK)
            status = events_cancelled(em, &row, true, "the parcel is with the carrier");
    }
    shipment_row_release(&row);
    return status;
}

/* --- the quote --------------------------------------------------------------------- */

static json_t *address_object(const carrier_address_t *address)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "line1", address->line1, "line2",
                     address->line2, "city", address->city, "region", address->region,
                     "postal_code", address->postal_code, "country_code", address->country);
}

db_status_t shipments_quote_done(shipping_app_t *app, const emitter_t *em, const char *order_id,
                                 const quote_result_t *result)
{
    db_t *db = emitter_db(em);
    shipment_row_t row;
    bool found = false;
    db_status_t status = lock(db, order_id, &found, &row);
    if (status != DB_OK || !found)
        return status;
    if (strcmp(row.quote_state, "quoting") != 0) {
        shipment_row_release(&row);
        return DB_OK; /* overridden meanwhile, or a repeat */
    }
    const weight_rule_t *rule = result->rule;
    bool ok = rule && result->cost_minor >= 0;
    json_t *matched = result->matched ? address_object(result->matched) : NULL;
    char *matched_text = matched ? json_dumps(matched, JSON_COMPACT) : NULL;
    shipment_quote_t quote = {.quote_state = ok ? "quoted" : "failed",
                              .verdict = result->verdict,
                              .matched_json = matched_text,
                              .carrier = rule ? rule->carrier : NULL,
                              .carrier_id = rule ? rule->carrier_id : "",
                              .service = rule ? rule->service : NULL,
                              .package = rule ? rule->package : NULL,
                              .cost_minor = result->cost_minor,
                              .days_min = result->days_min,
                              .days_max = result->days_max,
                              .error = result->error};
    status = store_shipment_quote(db, order_id, &quote);
    free(matched_text);
    json_t *detail =
        json_pack("{s:s, s:s, s:I}", "state", quote.quote_state, "address_verdict", result->verdict,
                  "carrier_cost_minor", (json_int_t)result->cost_minor);
    if (rule)
        json_object_set_new(detail, "carrier", json_string(rule->carrier));
    if (result->error)
        json_object_set_new(detail, "error", json_string(result->error));
    if (matched)
        json_object_set(detail, "suggestion", matched);
    if (status == DB_OK)
        status = log_line(db, &row, "quoted", detail);
    else
        json_decref(detail);
    if (status == DB_OK && ok) {
        snprintf(row.quote_state, sizeof row.quote_state, "quoted");
        snprintf(row.address_verdict, sizeof row.address_verdict, "%s", result->verdict);
        snprintf(row.carrier, sizeof row.carrier, "%s", rule->carrier);
        snprintf(row.carrier_id, sizeof row.carrier_id, "%s", rule->carrier_id);
        snprintf(row.service, sizeof row.service, "%s", rule->service);
        snprintf(row.package, sizeof row.package, "%s", rule->package);
        row.carrier_cost_minor = result->cost_minor;
        row.days_min = result->days_min;
        row.days_max = result->days_max;
        char suggestion[600] = "";
        const char *suggestions[1] = {suggestion};
        if (result->matched)
            snprintf(suggestion, sizeof suggestion, "%s, %s, %s %s", result->matched->postal_code,
                     result->matched->city, result->matched->line1, result->matched->line2);
        status = events_quoted(em, &row, suggestions, result->matched ? 1 : 0);
        metrics_counter_add(app->quotes_total, 1);
    } else if (status == DB_OK && strcmp(result->verdict, "wrong") == 0) {
        /* the manager must fix the address: the order hears the verdict */
        row.carrier_cost_minor = 0;
        snprintf(row.address_verdict, sizeof row.address_verdict, "wrong");
        status = events_quoted(em, &row, NULL, 0);
    }
    json_decref(matched);
    shipment_row_release(&row);
    return status;
}

db_status_t shipments_override(const emitter_t *em, const char *order_id,
                               const quote_override_t *choice, bool *found)
{
    db_t *db = emitter_db(em);
    shipment_row_t row;
    db_status_t status = lock(db, order_id, found, &row);
    if (status != DB_OK || !*found)
        return status;
    if (strcmp(row.state, "new") != 0) {
        *found = false; /* too late: a label is under way */
        shipment_row_release(&row);
        return DB_OK;
    }
    const char *verdict =
        strcmp(row.address_verdict, "wrong") == 0 ? "unknown" : row.address_verdict;
    shipment_quote_t quote = {.quote_state = "overridden",
                              .verdict = verdict,
                              .carrier = choice->carrier,
                              .carrier_id = choice->carrier_id,
                              .service = choice->service,
                              .package = choice->package,
                              .cost_minor = choice->cost_minor,
                              .days_min = row.days_min,
                              .days_max = row.days_max};
    status = store_shipment_quote(db, order_id, &quote);
    if (status == DB_OK)
        status = log_line(db, &row, "overridden",
                          json_pack("{s:s, s:s, s:s, s:I, s:s}", "carrier", choice->carrier,
                                    "service", choice->service, "package", choice->package,
                                    "carrier_cost_minor", (json_int_t)choice->cost_minor, "by",
                                    choice->actor ? choice->actor : ""));
    if (status == DB_OK) {
        snprintf(row.carrier, sizeof row.carrier, "%s", choice->carrier);
        snprintf(row.carrier_id, sizeof row.carrier_id, "%s", choice->carrier_id);
        snprintf(row.service, sizeof row.service, "%s", choice->service);
        snprintf(row.package, sizeof row.package, "%s", choice->package);
        snprintf(row.address_verdict, sizeof row.address_verdict, "%s", verdict);
        row.carrier_cost_minor = choice->cost_minor;
        status = events_quoted(em, &row, NULL, 0);
    }
    shipment_row_release(&row);
    return status;
}

/* --- labels ------------------------------------------------------------------------ */

static void tracking_link(const shipping_app_t *app, const char *number, char *out, size_t size)
{
    const char *pattern = app->tracking_url;
    const char *slot = strstr(pattern, "{number}");
    if (!slot) {
        snprintf(out, size, "%s", pattern);
        return;
    }
    snprintf(out, size, "%.*s%s%s", (int)(slot - pattern), pattern, number,
             slot + strlen("{number}"));
}

db_status_t shipments_labelled(shipping_app_t *app, const emitter_t *em, const char *order_id,
                               const carrier_label_t *label, bool found_not_bought)
{
    db_t *db = emitter_db(em);
    shipment_row_t row;
    bool found = false;
    db_status_t status = lock(db, order_id, &found, &row);
    if (status != DB_OK || !found)
        return status;
    if (strcmp(row.state, "to_label") != 0) {
        shipment_row_release(&row);
        return DB_OK;
    }
    status = store_shipment_label(db, order_id, label->label_id, label->tracking_number,
                                  label->label_url, label->cost_minor);
    snprintf(row.label_id, sizeof row.label_id, "%s", label->label_id);
    snprintf(row.tracking_number, sizeof row.tracking_number, "%s", label->tracking_number);
    snprintf(row.label_url, sizeof row.label_url, "%s", label->label_url);
    if (status == DB_OK)
        status = log_line(db, &row, found_not_bought ? "label_found" : "label_bought",
                          json_pack("{s:s, s:s, s:s, s:I}", "label_id", label->label_id,
                                    "tracking_number", label->tracking_number,
                                    "carrier_shipment_id", row.carrier_shipment_id, "cost_minor",
                                    (json_int_t)label->cost_minor));
    char link[700];
    tracking_link(app, label->tracking_number, link, sizeof link);
    if (status == DB_OK)
        status = events_created(em, &row);
    if (status == DB_OK)
        status = events_label_created(em, &row, link);
    if (status == DB_OK && row.cancel_requested)
        status = shipments_schedule(db, JOB_VOID, order_id, row.round, NULL, 0);
    else if (status == DB_OK)
        status = shipments_schedule(db, JOB_TRACK, order_id, row.round, "1",
                                    clock_now_ms() + app->track_poll_ms);
    metrics_counter_add(app->labels_total, 1);
    if (found_not_bought)
        metrics_counter_add(app->labels_found, 1);
    shipment_row_release(&row);
    return status;
}

db_status_t shipments_label_failed(const emitter_t *em, const char *order_id, const char *code,
                                   const char *message)
{
    db_t *db = emitter_db(em);
    shipment_row_t row;
    bool found = false;
    db_status_t status = lock(db, order_id, &found, &row);
    if (status != DB_OK || !found)
        return status;
    if (strcmp(row.state, "to_label") == 0 && row.cancel_requested) {
        /* its order was cancelled meanwhile: no label, nothing to void */
        status = store_shipment_state(db, order_id, "cancelled", NULL);
        if (status == DB_OK)
            status = log_line(
                db, &row, "cancelled",
                json_pack("{s:s, s:s, s:s}", "before", "label", "code", code, "message", message));
        if (status == DB_OK)
            status = events_cancelled(em, &row, false, "cancelled before a label was bought");
    } else if (strcmp(row.state, "to_label") == 0) {
        char error[400];
        snprintf(error, sizeof error, "%s: %s", code, message);
        status = store_shipment_state(db, order_id, "label_failed", error);
        if (status == DB_OK)
            status = log_line(db, &row, "label_failed",
                              json_pack("{s:s, s:s}", "code", code, "message", message));
        log_warn("no label for the parcel", LF_STR("order_id", order_id), LF_ERR(code),
                 LF_STR("message", message));
    }
    shipment_row_release(&row);
    return status;
}

db_status_t shipments_cancel_unlabelled(const emitter_t *em, const char *order_id)
{
    db_t *db = emitter_db(em);
    shipment_row_t row;
    bool found = false;
    db_status_t status = lock(db, order_id, &found, &row);
    if (status != DB_OK || !found)
        return status;
    if (strcmp(row.state, "to_label") == 0) {
        status = store_shipment_state(db, order_id, "cancelled", NULL);
        if (status == DB_OK)
            status = log_line(db, &row, "cancelled", json_pack("{s:s}", "before", "label"));
        if (status == DB_OK)
            status = events_cancelled(em, &row, false, "cancelled before a label was bought");
    }
    shipment_row_release(&row);
    return status;
}

db_status_t shipments_voided(const emitter_t *em, const char *order_id, bool approved,
                             const char *message)
{
    db_t *db = emitter_db(em);
    shipment_row_t row;
    bool found = false;
    db_status_t status = lock(db, order_id, &found, &row);
    if (status != DB_OK || !found)
        return status;
    if (strcmp(row.state, "cancelled") == 0) {
        shipment_row_release(&row);
        return DB_OK;
    }
    if (approved)
        status = store_shipment_state(db, order_id, "cancelled", NULL);
    if (status == DB_OK)
        status = log_line(db, &row, approved ? "label_voided" : "void_refused",
                          json_pack("{s:s, s:s}", "label_id", row.label_id, "message", message));
    if (status == DB_OK)
        status = events_cancelled(em, &row, !approved, message);
    shipment_row_release(&row);
    return status;
}

/* --- tracking ------------------------------------------------------------------------ */

db_status_t shipments_track(shipping_app_t *app, const emitter_t *em, const track_news_t *news,
                            track_outcome_t *outcome)
{
    (void)app;
    db_t *db = emitter_db(em);
    shipment_row_t row;
    bool found = false;
    *outcome = TRACK_UNKNOWN;
    db_status_t status = news->tracking_number
                             ? store_shipment_by_tracking(db, news->tracking_number, &found, &row)
                             : lock(db, news->order_id, &found, &row);
    if (status != DB_OK)
        return status;
    const char *number = news->tracking_number ? news->tracking_number : news->order_id;
    bool live =
        found && (strcmp(row.state, "labelled") == 0 || strcmp(row.state, "handed_over") == 0);
    bool applies =
        live && rules_tracking_applies(row.tracking_rank, row.tracking_status, news->code);
    bool fresh = false;
    status = store_tracking_event(db, news->event_id, number, news->code, news->description,
                                  news->at_ms, news->source, applies, &fresh);
    if (status != DB_OK || !found) {
        if (found)
            shipment_row_release(&row);
        return status;
    }
    if (!fresh) {
        *outcome = TRACK_REPEATED;
    } else if (!applies) {
        *outcome = TRACK_STALE;
    } else {
        *outcome = TRACK_APPLIED;
        int64_t at = news->at_ms > 0 ? news->at_ms : clock_now_ms();
        int rank = rules_tracking_rank(news->code);
        bool delivered = strcmp(news->code, "DE") == 0;
        bool handing = strcmp(row.state, "labelled") == 0 && rank >= 1;
        const char *state = delivered ? "delivered" : handing ? "handed_over" : row.state;
        status = store_shipment_tracking(db, row.order_id, news->code, rank, state);
        if (status == DB_OK)
            status = log_line(db, &row, "tracking",
                              json_pack("{s:s, s:s, s:s, s:s}", "status_code", news->code,
                                        "description", news->description ? news->description : "",
                                        "source", news->source, "event_id", news->event_id));
        if (status == DB_OK && handing)
            status = events_handed_over(em, &row, at);
        if (status == DB_OK)
            status = events_status_changed(em, &row, news->code, news->description, at);
        if (status == DB_OK && delivered)
            status = events_delivered(em, &row, at);
    }
    shipment_row_release(&row);
    return status;
}

db_status_t shipments_returned(const emitter_t *em, const char *order_id, const char *reason,
                               bool *found)
{
    db_t *db = emitter_db(em);
    shipment_row_t row;
    db_status_t status = lock(db, order_id, found, &row);
    if (status != DB_OK || !*found)
        return status;
    if (strcmp(row.state, "handed_over") != 0 && strcmp(row.state, "delivered") != 0) {
        *found = false;
        shipment_row_release(&row);
        return DB_OK;
    }
    status =
        store_shipment_tracking(db, order_id, row.tracking_status, row.tracking_rank, "returned");
    if (status == DB_OK)
        status = log_line(db, &row, "returned", json_pack("{s:s}", "reason", reason));
    if (status == DB_OK)
        status = events_returned(em, &row, reason, clock_now_ms());
    shipment_row_release(&row);
    return status;
}

db_status_t shipments_cash_collected(const emitter_t *em, const char *order_id,
                                     int64_t amount_minor, bool *found)
{
    db_t *db = emitter_db(em);
    shipment_row_t row;
    db_status_t status = lock(db, order_id, found, &row);
    if (status != DB_OK || !*found)
        return status;
    bool out = !has_api(&row) &&
               (strcmp(row.state, "handed_over") == 0 || strcmp(row.state, "delivered") == 0 ||
                strcmp(row.state, "labelled") == 0);
    if (!out) {
        *found = false;
        shipment_row_release(&row);
        return DB_OK;
    }
    char words[96];
    snprintf(words, sizeof words, "cash collected: %lld.%02lld", (long long)(amount_minor / 100),
             (long long)(amount_minor % 100));
    status = log_line(db, &row, "cash_collected",
                      json_pack("{s:I}", "amount_minor", (json_int_t)amount_minor));
    if (status == DB_OK)
        status = events_cash_collected(em, &row, amount_minor, words, clock_now_ms());
    shipment_row_release(&row);
    return status;
}

db_status_t shipments_counter_handover(const emitter_t *em, const char *order_id,
                                       int64_t amount_minor, const char *note,
                                       counter_outcome_t *outcome, char *state_out,
                                       size_t state_size)
{
    db_t *db = emitter_db(em);
    shipment_row_t row;
    bool found = false;
    *outcome = COUNTER_NOT_FOUND;
    if (state_size)
        state_out[0] = '\0';
    db_status_t status = lock(db, order_id, &found, &row);
    if (status != DB_OK || !found)
        return status;
    if (strcmp(row.method, "self_pickup") != 0) {
        *outcome = COUNTER_NOT_SELF_PICKUP;
        snprintf(state_out, state_size, "%s", row.method);
    } else if (strcmp(row.state, "new") != 0 || row.cancel_requested ||
               strcmp(row.warehouse_status, "assembled") != 0) {
        *outcome = COUNTER_NOT_READY;
        snprintf(state_out, state_size, "%s",
                 strcmp(row.state, "new") != 0 ? row.state
                 : row.cancel_requested        ? "cancel_requested"
                 : row.warehouse_status[0]     ? row.warehouse_status
                                               : "not_prepared");
    } else {
        *outcome = COUNTER_OK;
        int64_t at = clock_now_ms();
        char words[600];
        snprintf(words, sizeof words, "handed to the customer at the counter%s%s",
                 note && note[0] ? ": " : "", note ? note : "");
        status =
            store_shipment_tracking(db, order_id, "DE", rules_tracking_rank("DE"), "delivered");
        if (status == DB_OK)
            status = log_line(db, &row, "counter_handover",
                              json_pack("{s:I, s:s}", "amount_minor", (json_int_t)amount_minor,
                                        "note", note ? note : ""));
        if (status == DB_OK && amount_minor > 0) {
            char cash[96];
            snprintf(cash, sizeof cash, "cash collected at the counter: %lld.%02lld",
                     (long long)(amount_minor / 100), (long long)(amount_minor % 100));
            status = events_cash_collected(em, &row, amount_minor, cash, at);
        }
        if (status == DB_OK)
            status = events_status_changed(em, &row, "DE", words, at);
        if (status == DB_OK)
            status = events_delivered(em, &row, at);
    }
    shipment_row_release(&row);
    return status;
}

db_status_t shipments_reship(const emitter_t *em, const char *order_id)
{
    db_t *db = emitter_db(em);
    shipment_row_t row;
    bool found = false;
    db_status_t status = lock(db, order_id, &found, &row);
    if (status != DB_OK || !found)
        return status;
    if (strcmp(row.state, "returned") == 0) {
        status = log_line(db, &row, "shipped_again",
                          json_pack("{s:s, s:s}", "previous_tracking_number", row.tracking_number,
                                    "previous_label_id", row.label_id));
        if (status == DB_OK)
            status = store_shipment_new_round(db, order_id);
    }
    shipment_row_release(&row);
    return status;
}

db_status_t shipments_unbatched(db_t *db, const char *order_id)
{
    int round = -1;
    db_status_t status = store_label_unclaimed(db, order_id, &round);
    if (status != DB_OK || round < 0)
        return status;
    char tag[40];
    snprintf(tag, sizeof tag, "unbatched-%lld", (long long)clock_now_ms());
    return shipments_schedule(db, JOB_LABEL, order_id, round, tag, 0);
}

void shipments_batch_key(const char *number, char *out, size_t size)
{
    snprintf(out, size, "%s:%s", JOB_BATCH, number);
}

db_status_t shipments_batch_wake(db_t *db, const char *carrier_batch_id, bool *woken)
{
    *woken = false;
    char number[24], key[64];
    db_status_t status = store_batch_by_carrier(db, carrier_batch_id, number);
    if (status != DB_OK || !number[0])
        return status;
    shipments_batch_key(number, key, sizeof key);
    return jobs_run_now(db, JOB_BATCH, key, woken);
}
