/*
 * handlers.c — the one table of every topic notification consumes, and
 * the reading of each off the wire.
 *
 * Every topic is read the same way: unpacked by the catalogue's message
 * for it and written as JSON (pbjson.h, the .proto's field names; enums
 * lower-cased without their prefix, "courier"), so triggers test the
 * message's own fields (to_status, group, channel, delivery_method ...).
 * What a topic adds to the order's kept facts is said per topic below;
 * then dispatch.c runs the triggers of its type in the applier's
 * transaction. A payload that cannot be read, or an order id that is not
 * a UUID, is parked (bad_payload).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/pbjson.h"
#include "common/uuid.h"
#include "proto/conveyor/catalogue.h"
#include "services/notification/dispatch.h"
#include "services/notification/notification.h"
#include "services/notification/store.h"

static const char *text_of(const json_t *object, const char *key)
{
    const char *text = json_string_value(json_object_get(object, key));
    return text ? text : "";
}

static uint64_t u64_of(const json_t *object, const char *key)
{
    json_int_t value = json_integer_value(json_object_get(object, key));
    return value > 0 ? (uint64_t)value : 0;
}

/* "DELIVERY_METHOD_COURIER" -> "courier" under key, in place. */
static void short_enum(json_t *object, const char *key, const char *prefix)
{
    const char *text = json_string_value(json_object_get(object, key));
    if (!text)
        return;
    size_t n = strlen(prefix);
    if (strncmp(text, prefix, n) == 0)
        text += n;
    char out[64];
    size_t i = 0;
    for (; text[i] && i + 1 < sizeof out; i++)
        out[i] = (char)tolower((unsigned char)text[i]);
    out[i] = '\0';
    json_object_set_new(object, key, json_string(strcmp(out, "unspecified") == 0 ? "" : out));
}

/* A delivery's address as one line (the pickup point's id for one). */
static void address_line(const json_t *delivery, char *pickup, size_t size)
{
    const json_t *address = json_object_get(delivery, "address");
    if (text_of(address, "text")[0])
        snprintf(pickup, size, "%s", text_of(address, "text"));
    else
        snprintf(pickup, size, "%s%s%s%s%s", text_of(address, "postal_code"),
                 text_of(address, "city")[0] ? " " : "", text_of(address, "city"),
                 text_of(address, "line1")[0] ? ", " : "", text_of(address, "line1"));
    if (text_of(delivery, "pickup_point_id")[0])
        snprintf(pickup, size, "%s", text_of(delivery, "pickup_point_id"));
}

/* order.placed: who, where, how delivered, the lines as asked. */
static db_status_t keep_placed(db_t *db, const char *order_id, const json_t *msg)
{
    const json_t *customer = json_object_get(msg, "customer");
    const json_t *delivery = json_object_get(msg, "delivery");
    char pickup[600];
    address_line(delivery, pickup, sizeof pickup);
    json_t *fields = json_pack(
        "{s:I,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:O}", "number",
        (json_int_t)u64_of(msg, "number"), "title", text_of(msg, "title"), "customer_id",
        text_of(customer, "customer_id"), "customer_name", text_of(customer, "name"),
        "customer_email", text_of(customer, "email"), "customer_phone", text_of(customer, "phone"),
        "channel", text_of(msg, "channel"), "region", text_of(msg, "region"), "delivery_method",
        text_of(delivery, "method"), "pickup_address", pickup, "lines",
        json_object_get(msg, "lines") ? json_object_get(msg, "lines") : json_array());
    if (!fields)
        return db_fail(db, DB_STATE_OUT_OF_MEMORY, "could not keep order %s", order_id);
    db_status_t status = store_order_placed(db, order_id, u64_of(msg, "version"), fields);
    json_decref(fields);
    return status;
}

static db_status_t keep_extra(db_t *db, const char *order_id, const json_t *msg,
                              const char *const *keys, const char *const *as)
{
    json_t *extra = json_object();
    if (!extra)
        return db_fail(db, DB_STATE_OUT_OF_MEMORY, "could not keep order %s's facts", order_id);
    for (size_t i = 0; keys[i]; i++)
        if (json_object_get(msg, keys[i]))
            json_object_set(extra, as[i], json_object_get(msg, keys[i]));
    db_status_t status = store_order_extra(db, order_id, extra);
    json_decref(extra);
    return status;
}

/* What keeping an event decided beyond the kept facts. */
typedef struct {
    bool quiet;     /* its triggers do not run (an edit told later, or never) */
    json_t *change; /* an edit whose prices came with this event: told now (owned) */
} kept_t;

static bool names(const json_t *array, const char *word)
{
    size_t i;
    const json_t *item;
    json_array_foreach(array, i, item)
    {
        if (json_is_string(item) && strcmp(json_string_value(item), word) == 0)
            return true;
    }
    return false;
}

/* order.changed (issue 14 item 1): a manager's edit at a new version. Its
 * delivery is kept at once. The customer is told with the edit's own
 * totals when they are final (the lines stay and the order was priced);
 * an edit of the lines is told once inventory priced them, with the
 * order.reserved of its version or a later one (keep's order.reserved),
 * so the total told is the one billed; an edit made while an earlier one
 * waits for its prices joins it and is told with it, once. An edit of a
 * version already kept or passed, or of an order never heard placed,
 * tells nothing. */
static db_status_t keep_changed(db_t *db, const char *order_id, json_t *msg, const notice_t *notice,
                                kept_t *kept)
{
    kept->quiet = true;
    uint64_t version = u64_of(msg, "version");
    json_t *order = NULL;
    db_status_t status = store_order_json(db, order_id, &order);
    if (status != DB_OK || !order || u64_of(order, "version") == 0 ||
        version <= u64_of(order, "version")) {
        json_decref(order);
        return status;
    }
    const json_t *earlier = json_object_get(json_object_get(order, "pending_change"), "facts");
    json_t *changed = json_object_get(msg, "changed");
    if (json_is_array(changed)) { /* what an earlier edit still untold changed too */
        size_t i;
        const json_t *item;
        json_array_foreach(json_object_get(earlier, "changed"), i, item)
        {
            if (json_is_string(item) && !names(changed, json_string_value(item)))
                json_array_append(changed, (json_t *)(uintptr_t)item);
        }
    }
    bool priced = json_is_integer(json_object_get(json_object_get(order, "totals"), "total_minor"));
    bool now = priced && !earlier && !names(changed, "lines");
    json_decref(order);
    const json_t *delivery = json_object_get(msg, "delivery");
    char pickup[600];
    address_line(delivery, pickup, sizeof pickup);
    json_t *fields = json_pack("{s:s,s:s,s:s}", "delivery_method", text_of(delivery, "method"),
                               "region", text_of(msg, "region"), "pickup_address", pickup);
    if (fields && !json_is_object(delivery))
        json_object_del(fields, "pickup_address"); /* no delivery said: the one known stays */
    json_t *pending = now ? NULL
                          : json_pack("{s:s,s:I,s:I,s:O}", "event_id", notice->event_id, "version",
                                      (json_int_t)version, "occurred_at_ms",
                                      (json_int_t)notice->occurred_at_ms, "facts", msg);
    bool applied = false;
    if (!fields || (!now && !pending))
        status = db_fail(db, DB_STATE_OUT_OF_MEMORY, "could not keep order %s's edit", order_id);
    else
        status =
            store_order_changed(db, order_id, version, fields,
                                now ? json_object_get(msg, "totals") : NULL, pending, &applied);
    kept->quiet = !(now && applied);
    json_decref(fields);
    json_decref(pending);
    return status;
}

/* What the topic adds to the order's kept facts, and to the notice. */
static db_status_t keep(db_t *db, const char *type, const char *order_id, json_t *msg,
                        notice_t *notice, kept_t *kept)
{
    if (strcmp(type, "stock.low") == 0) {
        notice->purchaser_email = text_of(msg, "buyer_email");
        notice->purchaser_name = text_of(msg, "buyer_name");
        json_object_set(msg, "product_name", json_object_get(msg, "name"));
        return DB_OK;
    }
    if (!order_id[0])
        return DB_OK; /* a fact about no order keeps nothing */
    if (strcmp(type, "order.placed") == 0)
        return keep_placed(db, order_id, msg);
    if (strcmp(type, "order.reserved") == 0 || strcmp(type, "order.confirmed") == 0) {
        db_status_t status =
            store_order_priced(db, order_id, u64_of(msg, "version"), json_object_get(msg, "lines"),
                               json_object_get(msg, "totals"), text_of(msg, "payment_terms"));
        if (status == DB_OK) /* an edit waiting for these prices */
            status = store_order_change_take(db, order_id, u64_of(msg, "version"), &kept->change);
        return status;
    }
    if (strcmp(type, "order.changed") == 0)
        return keep_changed(db, order_id, msg, notice, kept);
    if (strcmp(type, "order.status_changed") == 0) {
        json_object_set(msg, "status", json_object_get(msg, "to_status"));
        return store_order_status(db, order_id, u64_of(msg, "version"), u64_of(msg, "number"),
                                  text_of(msg, "to_status"), text_of(msg, "channel"),
                                  text_of(msg, "delivery_method"));
    }
    if (strcmp(type, "order.assigned") == 0)
        return store_order_manager(db, order_id, text_of(msg, "manager_id"),
                                   text_of(msg, "manager_name"), text_of(msg, "manager_email"),
                                   text_of(msg, "manager_phone"));
    if (strcmp(type, "task.created") == 0) {
        notice->assignee_id = text_of(msg, "assignee_id");
        json_object_set(msg, "task_title", json_object_get(msg, "title"));
        json_object_set(msg, "task_kind", json_object_get(msg, "kind"));
        return DB_OK;
    }
    if (strcmp(type, "stock.shortage") == 0) {
        json_object_set(msg, "short_items", json_object_get(msg, "lines"));
        return DB_OK;
    }
    if (strcmp(type, "invoice.created") == 0) {
        static const char *const keys[] = {"payment_url", "amount_minor", "invoice_id", NULL};
        static const char *const as[] = {"payment_url", "invoice_amount_minor", "invoice_id", NULL};
        json_object_set(msg, "invoice_amount_minor", json_object_get(msg, "amount_minor"));
        return keep_extra(db, order_id, msg, keys, as);
    }
    if (strcmp(type, "payment.succeeded") == 0 &&
        json_integer_value(json_object_get(msg, "due_minor")) <= 0) {
        /* paid in full: the link is spent; later messages offer no payment */
        static const char *const keys[] = {"payment_url", NULL};
        json_t *spent = json_pack("{s:s}", "payment_url", "");
        if (!spent)
            return db_fail(db, DB_STATE_OUT_OF_MEMORY, "could not keep order %s's facts", order_id);
        db_status_t status = keep_extra(db, order_id, spent, keys, keys);
        json_decref(spent);
        return status;
    }
    if (strncmp(type, "claim.", 6) == 0) {
        /* a claim (F30): its own words beside the order's, never kept */
        json_object_set(msg, "claim_name", json_object_get(msg, "name"));
        json_object_set(msg, "claim_type", json_object_get(msg, "type"));
        json_object_set(msg, "claim_comment", json_object_get(msg, "comment"));
        json_object_set(msg, "claim_amount_minor", json_object_get(msg, "amount_minor"));
        json_object_del(msg, "status"); /* the claim's, not the order's */
        return DB_OK;
    }
    if (strcmp(type, "shipment.label_created") == 0 || strcmp(type, "shipment.created") == 0 ||
        strcmp(type, "shipment.handed_over") == 0) {
        static const char *const keys[] = {"tracking_number", "tracking_url", "carrier", NULL};
        return keep_extra(db, order_id, msg, keys, keys);
    }
    return DB_OK;
}

static handler_result_t on_event(inbox_event_t *event, void *arg)
{
    notification_app_t *app = arg;
    const catalogue_topic_t *topic = catalogue_find(event->topic_stream, event->type);
    if (!topic) /* registration checked every topic of the table */
        return inbox_reject(event, "unknown_topic", "no message for %s/%s", event->topic_stream,
                            event->type);
    ProtobufCMessage *wire =
        protobuf_c_message_unpack(topic->message, NULL, event->payload_len, event->payload);
    if (!wire)
        return inbox_reject(event, "bad_payload", "%s payload is not a %s", event->type,
                            topic->message->short_name);
    handler_result_t result;
    json_t *msg = pbjson_from_message(wire);
    protobuf_c_message_free_unpacked(wire, NULL);
    if (!msg)
        return inbox_retry(event, "out_of_memory", "could not read %s as JSON", event->type);
    short_enum(msg, "delivery_method", "DELIVERY_METHOD_");
    short_enum(msg, "payment_terms", "PAYMENT_TERMS_");
    short_enum(json_object_get(msg, "delivery"), "method", "DELIVERY_METHOD_");
    const char *order_id = text_of(msg, "order_id");
    if (order_id[0] && !uuid_valid(order_id)) {
        result = inbox_reject(event, "bad_payload", "%s names order \"%.40s\", not a UUID",
                              event->type, order_id);
        json_decref(msg);
        return result;
    }
    notice_t notice = {
        .event_id = event->event_id,
        .event_type = event->type,
        .order_id = order_id,
        .facts = msg,
        .extras = msg,
        .occurred_at_ms = event->occurred_at_ms,
    };
    kept_t kept = {0};
    db_status_t status = keep(event->db, event->type, order_id, msg, &notice, &kept);
    if (status == DB_OK && !kept.quiet)
        status = dispatch_event(app, event->db, &notice, NULL);
    if (status == DB_OK && kept.change) { /* the edit, told as heard, with its prices now */
        const json_t *facts = json_object_get(kept.change, "facts");
        notice_t told = {
            .event_id = text_of(kept.change, "event_id"),
            .event_type = "order.changed",
            .order_id = order_id,
            .facts = facts,
            .extras = facts,
            .occurred_at_ms = json_integer_value(json_object_get(kept.change, "occurred_at_ms")),
        };
        status = dispatch_event(app, event->db, &told, NULL);
    }
    json_decref(kept.change);
    if (status == DB_OK && order_id[0] && strcmp(event->type, "order.placed") == 0)
        status = dispatch_waiting(app, event->db, order_id, NULL);
    char what[160];
    snprintf(what, sizeof what, "could not notify of %s (order %s)", event->type,
             order_id[0] ? order_id : "none");
    result = inbox_result(event, status, what);
    json_decref(msg);
    return result;
}

static const struct {
    const char *stream, *type;
} consumed[] = {
    {"order", "order.placed"},
    {"order", "order.assigned"},
    {"order", "order.status_changed"},
    {"order", "order.reserved"},
    {"order", "order.confirmed"},
    {"order", "order.changed"},
    {"order", "order.cancelled"},
    {"order", "order.delivered"},
    {"order", "task.created"},
    {"order", "claim.decided"},
    {"order", "claim.completed"},
    {"inventory", "stock.shortage"},
    {"inventory", "stock.low"},
    {"payment", "invoice.created"},
    {"payment", "payment.succeeded"},
    {"payment", "payment.failed"},
    {"payment", "refund.succeeded"},
    {"shipping", "shipment.created"},
    {"shipping", "shipment.label_created"},
    {"shipping", "shipment.handed_over"},
    {"shipping", "shipment.status_changed"},
    {"shipping", "shipment.delivered"},
};

int handlers_register(inbox_t *inbox, notification_app_t *app)
{
    for (size_t i = 0; i < sizeof consumed / sizeof consumed[0]; i++) {
        if (!catalogue_find(consumed[i].stream, consumed[i].type)) {
            log_error("a consumed topic has no message in the catalogue",
                      LF_STR("stream", consumed[i].stream), LF_STR("type", consumed[i].type),
                      LF_ERR("unknown_topic"));
            return -1;
        }
        if (inbox_on(inbox, consumed[i].stream, consumed[i].type, on_event, app) != 0)
            return -1;
    }
    return 0;
}
