/*
 * dispatch.c — triggers run, messages rendered, recorded and queued
 * (dispatch.h).
 *
 * A recipient is resolved by its kind and the trigger's channel:
 *   customer   the order's email, or its phone for SMS (none: no message)
 *   manager    the task's assignee or the order's manager, as staff: email
 *              or phone; Telegram goes to the staff chat (NOTIFY_STAFF_CHAT)
 *   purchaser  stock.low's buyer, by email
 *   staff      the staff chat
 * A message to the customer of an order the service has not heard placed
 * yet (stock.shortage, invoice.created or a shipment heard first, from
 * another stream: no email or phone known) waits (store_waiting_add) and
 * runs when order.placed is kept (dispatch_waiting), instead of being lost;
 * both read under the order's lock (store_order_lock), so an event and its
 * order.placed applied at once by two transactions never leave it waiting;
 * a job ends the wait after NOTIFY_WAITING_KEEP (jobs.c: sent if the order
 * is known by then, else dropped and its row purged).
 * An order's messages to one recipient by one channel go out in the order
 * they were recorded (the order of their events): a message recorded while
 * an earlier one of the order is pending (its PDF not to be had yet, its
 * provider retried) gets no send job; the earlier one's end queues it
 * (jobs.c), under the order's lock on both sides so neither misses the
 * other. A customer who opted out of the channel gets a `suppressed` row
 * and no job. An SMS heard in quiet hours waits in its job until they end. A
 * template that cannot be rendered makes a `failed` row, reported on the
 * bus like any failure.
 */
#include "services/notification/dispatch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/emit.h"
#include "common/jobs.h"
#include "common/log.h"
#include "common/uuid.h"
#include "services/notification/events.h"
#include "services/notification/optout.h"
#include "services/notification/placeholders.h"
#include "services/notification/render.h"
#include "services/notification/rules.h"
#include "services/notification/store.h"

#define JOB_SEND     "notify_send"
#define LABEL_SIZE   128
#define ADDRESS_SIZE 256

typedef struct {
    const char *kind;
    char address[ADDRESS_SIZE];
    char name[ADDRESS_SIZE];
    const char *customer_id; /* for customers: opt-out and the per-customer log */
} recipient_t;

static const char *text_of(const json_t *object, const char *key)
{
    const char *text = json_string_value(json_object_get(object, key));
    return text ? text : "";
}

static db_status_t resolve(notification_app_t *app, db_t *db, const notice_t *notice,
                           const json_t *order, const char *kind, const char *channel,
                           recipient_t *out)
{
    memset(out, 0, sizeof *out);
    out->kind = kind;
    out->customer_id = "";
    bool email = strcmp(channel, "email") == 0, sms = strcmp(channel, "sms") == 0;
    if (strcmp(kind, "customer") == 0) {
        out->customer_id = text_of(order, "customer_id");
        snprintf(out->name, sizeof out->name, "%s", text_of(order, "customer_name"));
        if (email || sms)
            snprintf(out->address, sizeof out->address, "%s",
                     text_of(order, email ? "customer_email" : "customer_phone"));
        return DB_OK;
    }
    if (strcmp(kind, "purchaser") == 0) {
        if (email && notice->purchaser_email)
            snprintf(out->address, sizeof out->address, "%s", notice->purchaser_email);
        snprintf(out->name, sizeof out->name, "%s",
                 notice->purchaser_name ? notice->purchaser_name : "");
        return DB_OK;
    }
    if (strcmp(kind, "staff") == 0 || (strcmp(kind, "manager") == 0 && !email && !sms)) {
        snprintf(out->address, sizeof out->address, "%s", app->staff_chat);
        return DB_OK;
    }
    if (strcmp(kind, "manager") == 0) {
        const char *staff_id = notice->assignee_id && notice->assignee_id[0]
                                   ? notice->assignee_id
                                   : text_of(order, "manager_id");
        if (!staff_id[0])
            return DB_OK;
        json_t *staff = NULL;
        db_status_t status = store_staff_json(db, staff_id, &staff);
        if (status == DB_OK && staff) {
            snprintf(out->address, sizeof out->address, "%s",
                     text_of(staff, email ? "email" : "phone"));
            snprintf(out->name, sizeof out->name, "%s", text_of(staff, "name"));
        }
        json_decref(staff);
        return status;
    }
    return DB_OK;
}

/* The event's facts with the order's beneath them, for conditions. */
static json_t *facts_with_order(const notice_t *notice, const json_t *order)
{
    json_t *facts = json_object();
    if (!facts)
        return NULL;
    static const char *const order_keys[] = {"status",          "channel",       "region",
                                             "delivery_method", "payment_terms", "manager_id"};
    for (size_t i = 0; order && i < sizeof order_keys / sizeof order_keys[0]; i++)
        json_object_set(facts, order_keys[i], json_object_get(order, order_keys[i]));
    json_object_update(facts, (json_t *)(uintptr_t)notice->facts);
    json_object_set_new(facts, "event_type", json_string(notice->event_type));
    return facts;
}

static int render_one(const char *tmpl, const json_t *data, render_mode_t mode, json_t *out,
                      const char *key, char *why, size_t why_size)
{
    char *text = NULL;
    char reason[RENDER_WHY_SIZE] = "";
    if (tmpl && tmpl[0] && render_template(tmpl, data, mode, &text, reason) != 0) {
        snprintf(why, why_size, "%s: %s", key, reason);
        return -1;
    }
    json_object_set_new(out, key, json_string(text ? text : ""));
    free(text);
    return 0;
}

json_t *dispatch_render(notification_app_t *app, db_t *db, const json_t *tmpl, const json_t *order,
                        const json_t *extras, const char *language, const char *unsubscribe_url,
                        char *why, size_t why_size, db_status_t *status_out)
{
    *status_out = DB_OK;
    char label[LABEL_SIZE] = "";
    const char *status = text_of(extras, "status");
    if (!status[0])
        status = text_of(order, "status");
    if (status[0]) {
        *status_out = store_status_label(db, status, text_of(extras, "from_status"), language,
                                         label, sizeof label);
        if (*status_out != DB_OK)
            return NULL;
    }
    placeholders_in_t in = {
        .order = order,
        .event = extras,
        .language = language,
        .status_label = label,
        .shop_name = app->shop_name,
        .unsubscribe_url = unsubscribe_url ? unsubscribe_url : "",
    };
    /* carriers, tracking statuses, delivery methods: named for people */
    json_t *codes = placeholders_codes(&in), *names = NULL;
    *status_out = codes ? store_labels(db, codes, language, &names)
                        : db_fail(db, DB_STATE_OUT_OF_MEMORY, "could not list the codes to name");
    json_decref(codes);
    if (*status_out != DB_OK)
        return NULL;
    in.names = names;
    json_t *data = placeholders_data(&in);
    json_decref(names);
    json_t *out = json_object();
    if (!data || !out) {
        json_decref(data);
        json_decref(out);
        snprintf(why, why_size, "out of memory");
        *status_out = db_fail(db, DB_STATE_OUT_OF_MEMORY, "could not build a template's data");
        return NULL;
    }
    int rc = render_one(text_of(tmpl, "subject"), data, RENDER_TEXT, out, "subject", why, why_size);
    if (rc == 0)
        rc = render_one(text_of(tmpl, "body"), data, RENDER_TEXT, out, "body", why, why_size);
    if (rc == 0)
        rc = render_one(text_of(tmpl, "html"), data, RENDER_HTML, out, "html", why, why_size);
    json_decref(data);
    if (rc != 0) {
        json_decref(out);
        return NULL;
    }
    return out;
}

db_status_t dispatch_send_enqueue(notification_app_t *app, db_t *db, const char *delivery_id,
                                  const char *dedup_key, int64_t not_before_ms)
{
    char payload[UUID_TEXT_SIZE + 16];
    snprintf(payload, sizeof payload, "{\"id\":\"%s\"}", delivery_id);
    job_spec_t job = {
        .kind = JOB_SEND,
        .payload = payload,
        .run_at_ms = not_before_ms,
        .max_attempts = app->max_attempts,
        .dedup_key = dedup_key,
    };
    return jobs_enqueue_deferred(db, &job);
}

typedef struct {
    notification_app_t *app;
    db_t *db;
    const notice_t *notice;
    const json_t *order;
    const json_t *trigger;
    int *recorded;
} one_t;

static db_status_t record(one_t *one, const recipient_t *to, const char *language,
                          const json_t *rendered, const char *state, const char *error_code,
                          const char *error_message)
{
    const char *channel = text_of(one->trigger, "channel");
    char dedup[RULES_DEDUP_SIZE], id[UUID_TEXT_SIZE];
    rules_dedup_key(one->notice->event_id, text_of(one->trigger, "trigger_id"), channel,
                    to->address, dedup);
    if (uuid_v4(id) != 0)
        return db_fail(one->db, DB_STATE_OUT_OF_MEMORY, "could not make a delivery id");
    int64_t now = clock_now_ms();
    int64_t not_before = 0;
    if (strcmp(channel, "sms") == 0 && strcmp(state, "pending") == 0) {
        int64_t release = rules_quiet_release(&one->app->sms_quiet, now);
        not_before = release > now ? release : 0;
    }
    delivery_new_t row = {
        .delivery_id = id,
        .dedup_key = dedup,
        .event_id = one->notice->event_id,
        .event_type = one->notice->event_type,
        .trigger_id = text_of(one->trigger, "trigger_id"),
        .template_name = text_of(one->trigger, "template"),
        .language = language,
        .channel = channel,
        .recipient_kind = to->kind,
        .recipient = to->address,
        .recipient_name = to->name,
        .order_id = one->notice->order_id,
        .customer_id = to->customer_id,
        .subject = text_of(rendered, "subject"),
        .body = text_of(rendered, "body"),
        .html = text_of(rendered, "html"),
        .status = state,
        .error_code = error_code,
        .error_message = error_message,
        .not_before_ms = not_before,
        .event_at_ms = one->notice->occurred_at_ms > 0 ? one->notice->occurred_at_ms : now,
    };
    /* an earlier message of the order to them by the channel still pending:
     * this one gets its job when that one ends (jobs.c), not before */
    bool pending = strcmp(state, "pending") == 0, behind = false;
    db_status_t status = DB_OK;
    if (pending && row.order_id && row.order_id[0]) {
        status = store_order_lock(one->db, row.order_id);
        if (status == DB_OK)
            status = store_delivery_ahead(one->db, row.order_id, channel, to->address, &behind);
        if (status != DB_OK)
            return status;
    }
    bool created = false;
    status = store_delivery_insert(one->db, &row, &created);
    if (status != DB_OK || !created)
        return status;
    if (one->recorded)
        (*one->recorded)++;
    metrics_counter_add(one->app->recorded_total, 1);
    if (pending)
        return behind ? DB_OK : dispatch_send_enqueue(one->app, one->db, id, dedup, not_before);
    if (strcmp(state, "suppressed") == 0) {
        metrics_counter_add(one->app->suppressed_total, 1);
        return DB_OK;
    }
    /* failed before sending (the template): said like any failure */
    metrics_counter_add(one->app->failed_total, 1);
    json_t *delivery = NULL;
    status = store_delivery_json(one->db, id, &delivery);
    if (status == DB_OK && delivery) {
        emitter_t em = emitter_root(one->db, "notification");
        status = events_result(&em, "notification.failed", delivery);
    }
    json_decref(delivery);
    return status;
}

/* Whether the trigger is for the customer of an order not heard placed
 * yet: the order stream, which says who the customer is, comes later. */
static bool waits_for_order(const one_t *one)
{
    return one->notice->order_id && one->notice->order_id[0] &&
           strcmp(one->notice->event_type, "order.placed") != 0 &&
           strcmp(text_of(one->trigger, "recipient"), "customer") == 0 &&
           json_integer_value(json_object_get(one->order, "version")) <= 0;
}

/* The end of a wait (jobs.c, JOB_WAITING_END), NOTIFY_WAITING_KEEP from
 * now: the message goes if its order has been heard by then (one that
 * slipped past order.placed), else it is dropped, so no row waits for ever
 * for an order this service will never hear (one placed before it was
 * deployed). */
static db_status_t waiting_end_enqueue(one_t *one, const char *trigger_id)
{
    json_t *payload = json_pack("{s:s, s:s, s:s}", "event_id", one->notice->event_id, "trigger_id",
                                trigger_id, "order_id", one->notice->order_id);
    char *text = payload ? json_dumps(payload, JSON_COMPACT) : NULL;
    json_decref(payload);
    char dedup[RULES_DEDUP_SIZE + 16];
    snprintf(dedup, sizeof dedup, "waiting:%s:%s", one->notice->event_id, trigger_id);
    job_spec_t job = {
        .kind = JOB_WAITING_END,
        .payload = text,
        .run_at_ms = clock_now_ms() + one->app->waiting_keep_ms,
        .dedup_key = dedup,
    };
    db_status_t status =
        text ? jobs_enqueue_deferred(one->db, &job)
             : db_fail(one->db, DB_STATE_OUT_OF_MEMORY, "could not write a wait's end job");
    free(text);
    return status;
}

static db_status_t run_trigger(one_t *one)
{
    notification_app_t *app = one->app;
    const json_t *trigger = one->trigger;
    const char *channel = text_of(trigger, "channel");
    recipient_t to;
    db_status_t status =
        resolve(app, one->db, one->notice, one->order, text_of(trigger, "recipient"), channel, &to);
    if (status == DB_OK && !to.address[0] && waits_for_order(one)) {
        status = store_waiting_add(one->db, one->notice->event_id, text_of(trigger, "trigger_id"),
                                   one->notice->event_type, one->notice->order_id,
                                   one->notice->facts, one->notice->occurred_at_ms);
        return status == DB_OK ? waiting_end_enqueue(one, text_of(trigger, "trigger_id")) : status;
    }
    if (status != DB_OK || !to.address[0])
        return status; /* nobody to tell by that channel */
    bool opted_out = false;
    if (to.customer_id[0]) {
        status = store_optout_has(one->db, to.customer_id, channel, &opted_out);
        if (status != DB_OK)
            return status;
    }
    json_t *tmpl = NULL;
    status = store_template_pick(one->db, text_of(trigger, "template"), channel, app->language,
                                 "ru", &tmpl);
    if (status != DB_OK)
        return status;
    const char *language = tmpl ? text_of(tmpl, "language") : app->language;
    char unsubscribe[OPTOUT_URL_SIZE] = "";
    if (strcmp(channel, "email") == 0)
        optout_url(app->public_url, app->optout_key, to.customer_id, channel, unsubscribe);
    char why[RENDER_WHY_SIZE + 16] = "";
    json_t *rendered = NULL;
    if (!tmpl)
        snprintf(why, sizeof why, "no template %s for %s", text_of(trigger, "template"), channel);
    else
        rendered = dispatch_render(app, one->db, tmpl, one->order, one->notice->extras, language,
                                   unsubscribe, why, sizeof why, &status);
    if (status == DB_OK) {
        if (!rendered)
            status = record(one, &to, language, NULL, "failed", "template", why);
        else
            status = record(one, &to, language, rendered, opted_out ? "suppressed" : "pending",
                            opted_out ? "opted_out" : "", "");
    }
    json_decref(rendered);
    json_decref(tmpl);
    return status;
}

db_status_t dispatch_event(notification_app_t *app, db_t *db, const notice_t *notice,
                           int *recorded_out)
{
    if (recorded_out)
        *recorded_out = 0;
    json_t *triggers = NULL;
    db_status_t status = store_triggers_for(db, notice->event_type, &triggers);
    if (status != DB_OK || json_array_size(triggers) == 0) {
        json_decref(triggers);
        return status;
    }
    json_t *order = NULL;
    /* the order read under its lock: a message that finds it unknown and
     * waits (store_waiting_add) commits before order.placed's
     * dispatch_waiting looks, or reads it known after that commits, so
     * none is left waiting by the two applied at once */
    if (notice->order_id && notice->order_id[0])
        status = store_order_lock(db, notice->order_id);
    if (status == DB_OK && notice->order_id && notice->order_id[0])
        status = store_order_json(db, notice->order_id, &order);
    json_t *facts = status == DB_OK ? facts_with_order(notice, order) : NULL;
    if (status == DB_OK && !facts)
        status =
            db_fail(db, DB_STATE_OUT_OF_MEMORY, "could not gather %s's facts", notice->event_type);
    size_t i;
    json_t *trigger;
    json_array_foreach(triggers, i, trigger)
    {
        if (status != DB_OK)
            break;
        if (!rules_condition_holds(json_object_get(trigger, "condition"), facts))
            continue;
        one_t one = {app, db, notice, order, trigger, recorded_out};
        status = run_trigger(&one);
    }
    json_decref(facts);
    json_decref(order);
    json_decref(triggers);
    return status;
}

db_status_t dispatch_waiting(notification_app_t *app, db_t *db, const char *order_id,
                             int *recorded_out)
{
    if (recorded_out)
        *recorded_out = 0;
    json_t *waiting = NULL, *order = NULL;
    db_status_t status = store_order_lock(db, order_id); /* against a wait's end (jobs.c) */
    if (status == DB_OK)
        status = store_waiting_take(db, order_id, &waiting);
    if (status == DB_OK && json_array_size(waiting) > 0)
        status = store_order_json(db, order_id, &order);
    size_t i;
    const json_t *row;
    json_array_foreach(waiting, i, row)
    {
        if (status != DB_OK)
            break;
        json_t *trigger = NULL;
        status = store_trigger_json(db, text_of(row, "trigger_id"), &trigger);
        const json_t *facts = json_object_get(row, "facts");
        notice_t notice = {
            .event_id = text_of(row, "event_id"),
            .event_type = text_of(row, "event_type"),
            .order_id = order_id,
            .facts = facts,
            .extras = facts,
            .occurred_at_ms = json_integer_value(json_object_get(row, "occurred_at_ms")),
        };
        json_t *all = status == DB_OK && trigger ? facts_with_order(&notice, order) : NULL;
        /* a trigger switched off or changed since: as if heard now */
        if (all && json_is_true(json_object_get(trigger, "enabled")) &&
            strcmp(text_of(trigger, "event_type"), notice.event_type) == 0 &&
            rules_condition_holds(json_object_get(trigger, "condition"), all)) {
            one_t one = {app, db, &notice, order, trigger, recorded_out};
            status = run_trigger(&one);
        }
        json_decref(all);
        json_decref(trigger);
    }
    json_decref(order);
    json_decref(waiting);
    return status;
}
