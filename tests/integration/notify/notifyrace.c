/*
 * notifyrace.c — applies a message's event and the order.placed that
 * releases it at the same time, in two transactions on two sessions, the
 * way two appliers would (a replica taking over while the other finishes
 * its batch), for many orders: the race of issue 12 ("a message waiting
 * for its order's data left waiting when its event and order.placed are
 * applied concurrently"). The service's own code does the applying
 * (dispatch.c and store.c, linked in), as handlers.c calls it for
 * stock.shortage and for order.placed; tests/integration/
 * test_notify_waiting_race.sh reads what is left.
 *
 *   notifyrace ORDERS TAG   (DATABASE_URL, DB_SCHEMA: the service's runtime role)
 *
 * Order i of TAG is 0000TTTT-0000-4000-8000-<i>. For each, a barrier lets
 * both threads begin together; a transaction that fails (a deadlock, the
 * database away) is rolled back and run again, as the inbox would. Exit 0
 * when every pair committed.
 */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/db.h"
#include "common/log.h"
#include "common/numparse.h"
#include "services/notification/dispatch.h"
#include "services/notification/notification.h"
#include "services/notification/store.h"

#define TRIES 20

typedef struct {
    notification_app_t *app;
    pthread_barrier_t *barrier;
    const char *dsn;
    const char *schema;
    int orders;
    unsigned tag;
    int placed; /* this thread applies order.placed, else stock.shortage */
    int failed;
} side_t;

static void order_id_of(unsigned tag, int i, char *out, size_t size)
{
    snprintf(out, size, "%08x-0000-4000-8000-%012x", tag, i);
}

static db_status_t apply_shortage(side_t *side, db_t *db, const char *order_id, int i)
{
    char event_id[64];
    snprintf(event_id, sizeof event_id, "race-shortage-%08x-%d", side->tag, i);
    json_t *msg = json_pack("{s:s,s:i,s:[{s:i,s:s,s:i,s:i,s:s}]}", "order_id", order_id,
                            "order_version", 1, "lines", "line_no", 1, "sku", "LAMP", "requested",
                            3, "available", 1, "expected_date", "2026-12-20");
    if (!msg)
        return db_fail(db, DB_STATE_OUT_OF_MEMORY, "no room for a shortage");
    json_object_set(msg, "short_items", json_object_get(msg, "lines"));
    notice_t notice = {.event_id = event_id,
                       .event_type = "stock.shortage",
                       .order_id = order_id,
                       .facts = msg,
                       .extras = msg,
                       .occurred_at_ms = 0};
    db_status_t status = dispatch_event(side->app, db, &notice, NULL);
    json_decref(msg);
    return status;
}

static db_status_t apply_placed(side_t *side, db_t *db, const char *order_id, int i)
{
    char event_id[64], email[64];
    snprintf(event_id, sizeof event_id, "race-placed-%08x-%d", side->tag, i);
    snprintf(email, sizeof email, "race%d@example.ru", i);
    json_t *fields =
        json_pack("{s:i,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:[]}", "number", 90000 + i, "title",
                  "race", "customer_id", order_id, "customer_name", "Ольга Белова",
                  "customer_email", email, "customer_phone", "", "channel", "", "region", "",
                  "delivery_method", "courier", "pickup_address", "", "lines");
    if (!fields)
        return db_fail(db, DB_STATE_OUT_OF_MEMORY, "no room for an order");
    /* as handlers.c: the order kept, its own triggers, then what waited */
    db_status_t status = store_order_placed(db, order_id, 1, fields);
    notice_t notice = {.event_id = event_id,
                       .event_type = "order.placed",
                       .order_id = order_id,
                       .facts = fields,
                       .extras = fields};
    if (status == DB_OK)
        status = dispatch_event(side->app, db, &notice, NULL);
    if (status == DB_OK)
        status = dispatch_waiting(side->app, db, order_id, NULL);
    json_decref(fields);
    return status;
}

static void *run_side(void *arg)
{
    side_t *side = arg;
    db_t *db = db_new(side->dsn, side->placed ? "notifyrace-placed" : "notifyrace-shortage");
    char sql[200];
    snprintf(sql, sizeof sql, "SET search_path TO \"%s\"", side->schema);
    if (!db || db_run_sql(db, sql, NULL, NULL) != DB_OK || store_setup(db, NULL) != 0) {
        fprintf(stderr, "notifyrace: no session: %s\n", db ? db_errmsg(db) : "out of memory");
        side->failed = side->orders;
        for (int i = 1; i <= side->orders; i++)
            pthread_barrier_wait(side->barrier);
        db_destroy(&db);
        return NULL;
    }
    for (int i = 1; i <= side->orders; i++) {
        char order_id[40];
        order_id_of(side->tag, i, order_id, sizeof order_id);
        pthread_barrier_wait(side->barrier);
        db_status_t status = DB_ERROR;
        for (int t = 0; t < TRIES && status != DB_OK; t++) {
            status = db_begin(db);
            if (status == DB_OK)
                status = side->placed ? apply_placed(side, db, order_id, i)
                                      : apply_shortage(side, db, order_id, i);
            if (status == DB_OK)
                status = db_commit(db);
            if (status != DB_OK && db_in_tx(db))
                db_rollback(db);
        }
        if (status != DB_OK) {
            fprintf(stderr, "notifyrace: order %s (%s) did not commit: %s\n", order_id,
                    side->placed ? "order.placed" : "stock.shortage", db_errmsg(db));
            side->failed++;
        }
    }
    db_destroy(&db);
    return NULL;
}

int main(int argc, char **argv)
{
    const char *dsn = getenv("DATABASE_URL"), *schema = getenv("DB_SCHEMA");
    int64_t orders = 0;
    char *end = NULL;
    unsigned long tag = argc == 3 ? strtoul(argv[2], &end, 16) : 0;
    if (argc != 3 || numparse_int_range(argv[1], 1, 100000, &orders) != 0 || !end || *end ||
        tag > 0xffffffffUL || !dsn || !schema || strlen(schema) > 63 || strchr(schema, '"')) {
        fprintf(stderr, "usage: notifyrace ORDERS TAG (DATABASE_URL, DB_SCHEMA set)\n");
        return 2;
    }
    log_init("notifyrace", LOG_WARN);
    notification_app_t app;
    memset(&app, 0, sizeof app);
    snprintf(app.language, sizeof app.language, "ru");
    app.max_attempts = 4;
    app.waiting_keep_ms = 24LL * 3600 * 1000; /* a message left waiting stays so */
    app.shop_name = "Conveyor";
    app.public_url = "http://127.0.0.1:8084";
    app.optout_key = "notifyrace-optout-key-0123456789abcdef";
    app.staff_chat = "";
    if (rules_quiet_parse("off", &app.sms_quiet) != 0)
        return 2;
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, 2);
    side_t sides[2];
    pthread_t threads[2];
    for (int s = 0; s < 2; s++) {
        sides[s] = (side_t){&app, &barrier, dsn, schema, (int)orders, (unsigned)tag, s, 0};
        if (pthread_create(&threads[s], NULL, run_side, &sides[s]) != 0) {
            fprintf(stderr, "notifyrace: no thread\n");
            return 1;
        }
    }
    for (int s = 0; s < 2; s++)
        pthread_join(threads[s], NULL);
    pthread_barrier_destroy(&barrier);
    int failed = sides[0].failed + sides[1].failed;
    printf("notifyrace: %d orders, stock.shortage and order.placed applied together, %d failed\n",
           (int)orders, failed);
    return failed == 0 ? 0 : 1;
}
