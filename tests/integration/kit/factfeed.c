/*
 * factfeed.c — a test producer of any stream of the catalogue (the payment
 * or the shipping stream, above all), built on the kit.
 *
 * The order service reacts to the payment and shipping services' facts
 * (invoice.*, payment.*, shipment.*), and must be tested through the real
 * thing — a stream with an outbox, a relay, busd and a replay endpoint —
 * before those services exist. factfeed is that stream's producer: a
 * service named by FEED_STREAM ("payment", "shipping" — any stream of
 * common/catalogue; its own schema by DB_SCHEMA) whose HTTP API commits
 * the facts, written as JSON (field names as in the .proto, enums by
 * name), to its outbox.
 *
 *   POST /v1/publish
 *     {"events": [{"type": "payment.succeeded",
 *                  "payload": {"order_id": "...", "paid_minor": 100, ...}},
 *                 {"type": "...", "payload_base64url": "..."}]}   raw bytes
 *     all in one transaction, in order. 201 {"published": n}; 422 naming
 *     the event and the field when one does not convert (nothing published).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64url.h"
#include "proto/conveyor/catalogue.h"
#include "common/log.h"
#include "common/outbox.h"
#include "common/pbjson.h"
#include "common/service.h"

extern const migration_set_t app_migrations;

#define EVENTS_MAX 10000

typedef struct {
    service_t *svc;
    const char *stream;
} feed_t;

/* The packed payload of one event into *out (malloc'd); why set if bad. */
static int payload_of(const feed_t *feed, const json_t *event, uint8_t **out, size_t *len,
                      char *why, size_t why_size)
{
    const char *type = json_string_value(json_object_get(event, "type"));
    const char *raw = json_string_value(json_object_get(event, "payload_base64url"));
    if (raw) { /* bytes as given: malformed payloads for the consumer's tests */
        size_t text_len = strlen(raw);
        *out = malloc(text_len + 1);
        if (!*out || base64url_decode(raw, text_len, *out, text_len + 1, len) != 0) {
            snprintf(why, why_size, "payload_base64url is not base64url");
            return -1;
        }
        return 0;
    }
    const catalogue_topic_t *known = catalogue_find(feed->stream, type);
    if (!known) {
        snprintf(why, why_size, "type %s is not in the catalogue of the %s stream",
                 type ? type : "(none)", feed->stream);
        return -1;
    }
    ProtobufCMessage *msg =
        pbjson_to_message(known->message, json_object_get(event, "payload"), why, why_size);
    if (!msg)
        return -1;
    *len = protobuf_c_message_get_packed_size(msg);
    *out = malloc(*len ? *len : 1);
    if (*out)
        protobuf_c_message_pack(msg, *out);
    protobuf_c_message_free_unpacked(msg, NULL);
    return *out ? 0 : -1;
}

static void route_publish(const http_request_t *req, http_response_t *res, void *arg)
{
    feed_t *feed = arg;
    json_t *body = http_req_json(req, res);
    if (!body)
        return;
    const json_t *events = json_object_get(body, "events");
    if (!json_is_array(events) || json_array_size(events) == 0 ||
        json_array_size(events) > EVENTS_MAX) {
        http_res_problem(res, 422, "invalid", "events must be a non-empty array", NULL);
        return;
    }
    db_t *db = db_pool_acquire(service_db_pool(feed->svc), 5000);
    if (!db) {
        http_res_problem(res, 503, "pg_unavailable", "no database session", NULL);
        return;
    }
    char why[400] = "";
    db_status_t status = db_begin(db);
    size_t i = 0;
    for (; i < json_array_size(events) && status == DB_OK; i++) {
        const json_t *event = json_array_get(events, i);
        uint8_t *payload = NULL;
        size_t len = 0;
        char what[300] = "";
        if (payload_of(feed, event, &payload, &len, what, sizeof what) != 0) {
            snprintf(why, sizeof why, "events[%zu]: %s", i, what);
            free(payload);
            status = DB_ERROR;
            break;
        }
        const char *order_id =
            json_string_value(json_object_get(json_object_get(event, "payload"), "order_id"));
        outbox_meta_t meta = {.stream = feed->stream,
                              .type = json_string_value(json_object_get(event, "type")),
                              .correlation_id = order_id ? order_id : ""};
        status = outbox_append(db, &meta, payload, len, NULL);
        free(payload);
    }
    if (status == DB_OK)
        status = db_commit(db);
    if (status != DB_OK)
        db_rollback(db);
    else
        service_committed(feed->svc, db);
    db_pool_release(service_db_pool(feed->svc), &db);
    if (status != DB_OK) {
        http_res_problem(res, 422, "not_published", "nothing was published",
                         why[0] ? why : "the outbox refused the events");
        return;
    }
    http_res_json_take(res, 201, json_pack("{s:i}", "published", (int)i));
}

int main(int argc, char **argv)
{
    const char *stream = getenv("FEED_STREAM");
    if (!stream || !*stream || strcmp(stream, "ext") == 0) {
        fprintf(stderr, "factfeed: set FEED_STREAM to the stream it stands in for (payment, "
                        "shipping ...)\n");
        return 2;
    }
    service_def_t def = {
        .name = stream,
        .schema = "factfeed",
        .http_addr = "127.0.0.1:28125",
        .replay_addr = "tcp://127.0.0.1:25625",
        .migrations = &app_migrations,
    };
    feed_t feed = {.stream = stream};
    feed.svc = service_new(&def, argc, argv);
    if (!feed.svc)
        return 1;
    if (http_route(service_http(feed.svc), "POST", "/v1/publish", route_publish, &feed) != 0) {
        service_destroy(&feed.svc);
        return 1;
    }
    int status = service_run(feed.svc);
    service_destroy(&feed.svc);
    return status;
}
