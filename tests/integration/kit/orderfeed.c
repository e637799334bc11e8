/*
 * orderfeed.c — a test producer of the order stream, built on the kit.
 *
 * The inventory service consumes the order service's facts (order.placed,
 * order.cancelled, order.delivered). Its tests and benchmarks must drive
 * it through the real thing — an "order" stream with an outbox, a relay,
 * busd and a replay endpoint — without the order service itself, which
 * grows separately. orderfeed is that stream's producer: a service named
 * "order" (its own schema, orderfeed by default) whose HTTP API commits
 * the facts to its outbox, one or many orders per transaction, at a rate.
 *
 *   POST /v1/place
 *     {"orders": [{"order_id": uuid?, "version": n?, "currency": "RUB"?,
 *                  "lines": [{"sku", "quantity", "line_no"?}]}]}
 *     or {"count": N, "lines": [...]}                    N orders, the same lines
 *     or {"count": N, "random": {"prefix": "B-", "skus": 1000, "lines": 5,
 *                                "quantity": 1, "seed": 7}}
 *                         N orders of `lines` distinct random SKUs <prefix><0000..skus-1>
 *     with "per_tx": orders per transaction (default 1) and "rate": orders
 *     per second (0: flat out). Answers {"count", "order_ids" (up to 5000),
 *     "first_number", "last_number"} once all are committed.
 *   POST /v1/cancel  {"order_ids": [...], "version": n?, "reason": "..."?}
 *   POST /v1/deliver {"order_ids": [...], "version": n?}
 *     the next version of each order (or the one given; an order the feed
 *     never placed is fine: that is the "cancel before placed" case).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/bulk.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/outbox.h"
#include "common/service.h"
#include "common/uuid.h"
#include "conveyor/order.pb-c.h"

extern const migration_set_t app_migrations;

#define STREAM          "order"
#define LINES_MAX       200
#define COUNT_MAX       200000
#define IDS_ANSWERED    5000
#define RANDOM_SKUS_MAX 1000000

static const bulk_spec_t orders_spec = {
    .stmt = "orderfeed_orders_bulk",
    .sql = "INSERT INTO orderfeed_orders (order_id, number, version, lines) "
           "SELECT * FROM unnest($1::uuid[], $2::int8[], $3::int8[], $4::int4[]) "
           "ON CONFLICT (order_id) DO UPDATE SET "
           "version = GREATEST(orderfeed_orders.version, EXCLUDED.version)",
    .column_oids = {PG_OID_UUID, PG_OID_INT8, PG_OID_INT8, PG_OID_INT4},
    .column_count = 4,
};

static int prepare(db_t *db, void *arg)
{
    (void)arg;
    return db_prepare(db, "orderfeed_numbers",
                      "UPDATE orderfeed_state SET last_number = last_number + $1 WHERE id = 1 "
                      "RETURNING last_number") |
           db_prepare(db, "orderfeed_bump",
                      "INSERT INTO orderfeed_orders (order_id, number, version, lines) "
                      "VALUES ($1, 0, COALESCE($2::bigint, 2), 0) ON CONFLICT (order_id) DO "
                      "UPDATE SET version = COALESCE($2::bigint, orderfeed_orders.version + 1) "
                      "RETURNING version, number");
}

/* ------------------------------------------------------------------ */
/* what to place                                                        */

typedef struct {
    uint32_t line_no;
    char sku[201];
    uint32_t quantity;
} feed_line_t;

typedef struct {
    const json_t *orders; /* explicit orders, or NULL */
    const json_t *lines;  /* the same lines for every order, or NULL */
    const char *prefix;   /* random SKUs */
    int64_t skus, lines_per_order, quantity;
    uint64_t rng;
    int64_t count;
} feed_spec_t;

static uint64_t next_random(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    return x;
}

static int read_lines(const json_t *list, feed_line_t *lines, size_t *count_out)
{
    size_t n = json_array_size(list);
    if (n == 0 || n > LINES_MAX)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const json_t *item = json_array_get(list, i);
        const char *sku = json_string_value(json_object_get(item, "sku"));
        json_int_t quantity = json_integer_value(json_object_get(item, "quantity"));
        json_int_t line_no = json_integer_value(json_object_get(item, "line_no"));
        if (!sku || strlen(sku) >= sizeof lines[i].sku || quantity < 0 || quantity > 1000000)
            return -1;
        snprintf(lines[i].sku, sizeof lines[i].sku, "%s", sku);
        lines[i].quantity = (uint32_t)quantity;
        lines[i].line_no = line_no > 0 ? (uint32_t)line_no : (uint32_t)i + 1;
    }
    *count_out = n;
    return 0;
}

/* Order i of the spec: its id (given or fresh), version and lines. */
static int make_order(feed_spec_t *spec, int64_t i, char id[UUID_TEXT_SIZE], uint64_t *version,
                      char *currency, size_t currency_size, feed_line_t *lines, size_t *count)
{
    *version = 1;
    snprintf(currency, currency_size, "RUB");
    if (spec->orders) {
        const json_t *order = json_array_get(spec->orders, (size_t)i);
        const char *given = json_string_value(json_object_get(order, "order_id"));
        uint8_t bytes[16];
        if (given && uuid_parse(given, bytes) != 0)
            return -1;
        if (given)
            uuid_format(bytes, id);
        else if (uuid_v4(id) != 0)
            return -1;
        json_int_t v = json_integer_value(json_object_get(order, "version"));
        if (v > 0)
            *version = (uint64_t)v;
        const char *cur = json_string_value(json_object_get(order, "currency"));
        if (cur)
            snprintf(currency, currency_size, "%s", cur);
        return read_lines(json_object_get(order, "lines"), lines, count);
    }
    if (uuid_v4(id) != 0)
        return -1;
    if (spec->lines)
        return read_lines(spec->lines, lines, count);
    /* distinct random SKUs */
    size_t n = (size_t)spec->lines_per_order;
    for (size_t l = 0; l < n; l++) {
        int64_t pick;
        bool again;
        do {
            pick = (int64_t)(next_random(&spec->rng) % (uint64_t)spec->skus);
            again = false;
            for (size_t k = 0; k < l && !again; k++) {
                char other[201];
                snprintf(other, sizeof other, "%s%04lld", spec->prefix, (long long)pick);
                again = strcmp(other, lines[k].sku) == 0;
            }
        } while (again);
        snprintf(lines[l].sku, sizeof lines[l].sku, "%s%04lld", spec->prefix, (long long)pick);
        lines[l].quantity = (uint32_t)spec->quantity;
        lines[l].line_no = (uint32_t)l + 1;
    }
    *count = n;
    return 0;
}

/* Appends one order.placed to the outbox and its row to the bulk. */
static db_status_t append_placed(db_t *db, const char *id, uint64_t version, uint64_t number,
                                 const char *currency, const feed_line_t *lines, size_t count)
{
    Conveyor__OrderLine items[LINES_MAX];
    Conveyor__OrderLine *pointers[LINES_MAX];
    for (size_t i = 0; i < count; i++) {
        conveyor__order_line__init(&items[i]);
        items[i].line_no = lines[i].line_no;
        items[i].sku = (char *)(uintptr_t)lines[i].sku;
        items[i].quantity = lines[i].quantity;
        pointers[i] = &items[i];
    }
    char title[64], external_id[32];
    snprintf(title, sizeof title, "No. %llu – Test Customer", (unsigned long long)number);
    snprintf(external_id, sizeof external_id, "of-%llu", (unsigned long long)number);
    Conveyor__OrderPlaced placed = CONVEYOR__ORDER_PLACED__INIT;
    placed.order_id = (char *)(uintptr_t)id;
    placed.version = version;
    placed.number = number;
    placed.title = title;
    placed.n_lines = count;
    placed.lines = pointers;
    placed.channel = (char *)(uintptr_t) "website";
    placed.source = (char *)(uintptr_t) "orderfeed";
    placed.external_id = external_id;
    placed.currency = (char *)(uintptr_t)currency;
    placed.placed_at_ms = clock_now_ms();
    outbox_meta_t meta = {.stream = STREAM, .type = "order.placed", .correlation_id = id};
    db_status_t status = outbox_append_msg(db, &meta, &placed.base, NULL);
    if (status != DB_OK)
        return status;
    bulk_t *rows = bulk_of(db, &orders_spec);
    if (!rows)
        return DB_ERROR;
    if (pg_array_add_uuid(bulk_column(rows, 0), id) != 0 ||
        pg_array_add_i64(bulk_column(rows, 1), (int64_t)number) != 0 ||
        pg_array_add_i64(bulk_column(rows, 2), (int64_t)version) != 0 ||
        pg_array_add_i32(bulk_column(rows, 3), (int32_t)count) != 0) {
        bulk_row_abandon(rows);
        return DB_ERROR;
    }
    return bulk_row_done(db, rows);
}

/* Places orders [first, first + n) of the spec in one transaction. */
static db_status_t place_batch(db_t *db, feed_spec_t *spec, int64_t first, int64_t n, json_t *ids,
                               int64_t *last_number_out)
{
    PGresult *res = NULL;
    feed_line_t *lines = calloc(LINES_MAX, sizeof *lines);
    if (!lines)
        return DB_ERROR;
    db_status_t status = db_begin(db);
    if (status != DB_OK)
        goto done;
    db_params_t params;
    db_params_init(&params);
    db_param_i64(&params, n);
    status = db_run(db, "orderfeed_numbers", &params, &res);
    if (status != DB_OK)
        goto done;
    int64_t last = 0;
    db_get_i64(res, 0, 0, &last);
    size_t ids_before = json_array_size(ids);
    for (int64_t i = 0; i < n && status == DB_OK; i++) {
        char id[UUID_TEXT_SIZE], currency[8];
        uint64_t version = 1;
        size_t count = 0;
        if (make_order(spec, first + i, id, &version, currency, sizeof currency, lines, &count) !=
            0) {
            status = DB_ERROR;
            break;
        }
        status =
            append_placed(db, id, version, (uint64_t)(last - n + 1 + i), currency, lines, count);
        if (status == DB_OK && json_array_size(ids) < IDS_ANSWERED)
            json_array_append_new(ids, json_string(id));
    }
    if (status == DB_OK)
        status = db_commit(db);
    if (status == DB_OK)
        *last_number_out = last;
    else
        while (json_array_size(ids) > ids_before)
            json_array_remove(ids, json_array_size(ids) - 1);
done:
    if (status != DB_OK)
        db_rollback(db);
    PQclear(res);
    free(lines);
    return status;
}

static int parse_spec(const json_t *body, feed_spec_t *spec, const char **why)
{
    memset(spec, 0, sizeof *spec);
    spec->orders = json_object_get(body, "orders");
    spec->lines = json_object_get(body, "lines");
    const json_t *random = json_object_get(body, "random");
    if (spec->orders) {
        spec->count = (int64_t)json_array_size(spec->orders);
        if (!json_is_array(spec->orders) || spec->count < 1) {
            *why = "orders must be a non-empty array";
            return -1;
        }
        return 0;
    }
    spec->count = json_integer_value(json_object_get(body, "count"));
    if (spec->count < 1 || spec->count > COUNT_MAX) {
        *why = "count must be 1..200000 (or give orders)";
        return -1;
    }
    if (spec->lines)
        return json_is_array(spec->lines) ? 0 : (*why = "lines must be an array", -1);
    if (!json_is_object(random)) {
        *why = "give orders, lines or random";
        return -1;
    }
    spec->prefix = json_string_value(json_object_get(random, "prefix"));
    spec->skus = json_integer_value(json_object_get(random, "skus"));
    spec->lines_per_order = json_integer_value(json_object_get(random, "lines"));
    spec->quantity = json_integer_value(json_object_get(random, "quantity"));
    json_int_t seed = json_integer_value(json_object_get(random, "seed"));
    spec->rng = seed > 0 ? (uint64_t)seed * 0x9E3779B97F4A7C15ULL : 0x2545F4914F6CDD1DULL;
    if (!spec->prefix || strlen(spec->prefix) > 100 || spec->skus < 1 ||
        spec->skus > RANDOM_SKUS_MAX || spec->lines_per_order < 1 ||
        spec->lines_per_order > LINES_MAX || spec->lines_per_order > spec->skus) {
        *why = "random needs prefix, skus >= lines >= 1";
        return -1;
    }
    if (spec->quantity < 1)
        spec->quantity = 1;
    return 0;
}

static void route_place(const http_request_t *req, http_response_t *res, void *arg)
{
    service_t *svc = arg;
    json_t *body = http_req_json(req, res);
    if (!body)
        return;
    feed_spec_t spec;
    const char *why = NULL;
    if (parse_spec(body, &spec, &why) != 0) {
        http_res_problem(res, 422, "invalid", "nothing to place", why);
        return;
    }
    json_int_t per_tx = json_integer_value(json_object_get(body, "per_tx"));
    json_int_t rate = json_integer_value(json_object_get(body, "rate"));
    if (per_tx < 1)
        per_tx = 1;
    if (per_tx > 5000)
        per_tx = 5000;
    db_t *db = db_pool_acquire(service_db_pool(svc), 5000);
    if (!db) {
        http_res_problem(res, 503, "pg_unavailable", "no database session", NULL);
        return;
    }
    json_t *ids = json_array();
    int64_t started = clock_mono_us(), first_number = 0, last_number = 0;
    db_status_t status = DB_OK;
    for (int64_t done = 0; done < spec.count && status == DB_OK;) {
        int64_t n = spec.count - done < per_tx ? spec.count - done : per_tx;
        status = place_batch(db, &spec, done, n, ids, &last_number);
        if (status != DB_OK)
            break;
        if (first_number == 0)
            first_number = last_number - n + 1;
        service_committed(svc, db);
        done += n;
        if (rate > 0) {
            int64_t due = started + done * 1000000 / rate;
            int64_t now = clock_mono_us();
            if (due > now)
                usleep((useconds_t)(due - now));
        }
    }
    db_pool_release(service_db_pool(svc), &db);
    if (status != DB_OK) {
        json_decref(ids);
        http_res_problem(res, status == DB_TRANSIENT ? 503 : 422, "not_placed",
                         "could not place every order", "see orderfeed's log");
        return;
    }
    http_res_json_take(res, 201,
                       json_pack("{s:I,s:o,s:I,s:I}", "count", (json_int_t)spec.count, "order_ids",
                                 ids, "first_number", (json_int_t)first_number, "last_number",
                                 (json_int_t)last_number));
}

/* order.cancelled / order.delivered for each order, in one transaction. */
static void route_fact(const http_request_t *req, http_response_t *res, service_t *svc, bool cancel)
{
    json_t *body = http_req_json(req, res);
    if (!body)
        return;
    const json_t *ids = json_object_get(body, "order_ids");
    const json_t *version = json_object_get(body, "version");
    const char *reason = json_string_value(json_object_get(body, "reason"));
    if (!json_is_array(ids) || json_array_size(ids) == 0 || json_array_size(ids) > COUNT_MAX) {
        http_res_problem(res, 422, "invalid", "order_ids must be a non-empty array", NULL);
        return;
    }
    db_t *db = db_pool_acquire(service_db_pool(svc), 5000);
    if (!db) {
        http_res_problem(res, 503, "pg_unavailable", "no database session", NULL);
        return;
    }
    json_t *versions = json_array();
    db_status_t status = db_begin(db);
    for (size_t i = 0; i < json_array_size(ids) && status == DB_OK; i++) {
        const char *id = json_string_value(json_array_get(ids, i));
        uint8_t bytes[16];
        if (!id || uuid_parse(id, bytes) != 0) {
            status = DB_ERROR;
            break;
        }
        db_params_t params;
        db_params_init(&params);
        db_param_text(&params, id);
        if (json_is_integer(version))
            db_param_i64(&params, json_integer_value(version));
        else
            db_param_null(&params);
        PGresult *row = NULL;
        status = db_run(db, "orderfeed_bump", &params, &row);
        if (status != DB_OK)
            break;
        int64_t v = 0, number = 0;
        db_get_i64(row, 0, 0, &v);
        db_get_i64(row, 0, 1, &number);
        PQclear(row);
        outbox_meta_t meta = {.stream = STREAM, .correlation_id = id};
        if (cancel) {
            Conveyor__OrderCancelled fact = CONVEYOR__ORDER_CANCELLED__INIT;
            fact.order_id = (char *)(uintptr_t)id;
            fact.version = (uint64_t)v;
            fact.number = (uint64_t)number;
            fact.reason = (char *)(uintptr_t)(reason ? reason : "customer_changed_mind");
            fact.actor_id = (char *)(uintptr_t) "orderfeed";
            meta.type = "order.cancelled";
            status = outbox_append_msg(db, &meta, &fact.base, NULL);
        } else {
            Conveyor__OrderDelivered fact = CONVEYOR__ORDER_DELIVERED__INIT;
            fact.order_id = (char *)(uintptr_t)id;
            fact.version = (uint64_t)v;
            fact.number = (uint64_t)number;
            meta.type = "order.delivered";
            status = outbox_append_msg(db, &meta, &fact.base, NULL);
        }
        json_array_append_new(versions, json_integer(v));
    }
    if (status == DB_OK)
        status = db_commit(db);
    if (status != DB_OK)
        db_rollback(db);
    else
        service_committed(svc, db);
    db_pool_release(service_db_pool(svc), &db);
    if (status != DB_OK) {
        json_decref(versions);
        http_res_problem(res, 422, "not_published", "could not publish every fact",
                         "order ids must be UUIDs");
        return;
    }
    http_res_json_take(res, 201, json_pack("{s:o}", "versions", versions));
}

static void route_cancel(const http_request_t *req, http_response_t *res, void *arg)
{
    route_fact(req, res, arg, true);
}

static void route_deliver(const http_request_t *req, http_response_t *res, void *arg)
{
    route_fact(req, res, arg, false);
}

int main(int argc, char **argv)
{
    service_def_t def = {
        .name = STREAM,
        .schema = "orderfeed",
        .http_addr = "127.0.0.1:28121",
        .replay_addr = "tcp://127.0.0.1:25621",
        .migrations = &app_migrations,
        .db_setup = prepare,
    };
    service_t *svc = service_new(&def, argc, argv);
    if (!svc)
        return 1;
    http_server_t *http = service_http(svc);
    if (http_route(http, "POST", "/v1/place", route_place, svc) != 0 ||
        http_route(http, "POST", "/v1/cancel", route_cancel, svc) != 0 ||
        http_route(http, "POST", "/v1/deliver", route_deliver, svc) != 0) {
        service_destroy(&svc);
        return 1;
    }
    int status = service_run(svc);
    service_destroy(&svc);
    return status;
}
