/*
 * jobs.c — retrying the orders that wait for stock (F11).
 *
 * Whatever makes stock available — a supply received, an import or a
 * correction that adds stock, a product switched back on, a cancelled
 * order's reservation released — enqueues, in its own transaction, a
 * "retry_waiting" job naming the SKUs (inventory_retry_enqueue, with a
 * dedup key naming the cause). Any replica's job worker then takes the
 * orders waiting for those SKUs, oldest first (orders.waiting_no, the
 * order in which they started waiting), and tries each again exactly as
 * the applier would (orderstock_reserve): Redis locks, row locks, the
 * all-or-nothing statement, stock.reserved for each order now covered. An
 * order still short keeps its place and is skipped, so a big old order
 * does not block small younger ones behind it (first fit, oldest first).
 *
 * Effects and "done" commit together (jobs_begin_finish): a worker that
 * dies mid-way leaves nothing half done, and the job runs again. One
 * transaction handles at most INVENTORY_RETRY_BATCH orders, so row locks
 * are held briefly; when the batch is full the job enqueues its own
 * continuation from where it stopped.
 *
 * Waiting orders are locked with a plain FOR UPDATE (not SKIP LOCKED): two
 * retries that overlap queue on the same order instead of one skipping an
 * order the other then leaves short — no stock is left unused while an
 * order it covers waits.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jobs.h"
#include "common/log.h"
#include "services/inventory/inventory.h"
#include "services/inventory/orderstock.h"
#include "services/inventory/stockcache.h"

#define RETRY_SKUS_MAX 10000

db_status_t inventory_retry_enqueue(db_t *db, const char *const *skus, size_t sku_count,
                                    const char *dedup_key)
{
    json_t *list = json_array();
    json_t *payload = NULL;
    char *text = NULL;
    db_status_t status = DB_ERROR;
    if (!list)
        goto done;
    for (size_t i = 0; i < sku_count; i++) {
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = strcmp(skus[i], skus[j]) == 0;
        if (!seen && json_array_append_new(list, json_string(skus[i])) != 0)
            goto done;
    }
    payload = json_pack("{s:O,s:I}", "skus", list, "after", (json_int_t)0);
    text = payload ? json_dumps(payload, JSON_COMPACT) : NULL;
    if (!text)
        goto done;
    char key[160];
    snprintf(key, sizeof key, "retry_waiting:%s", dedup_key);
    job_spec_t spec = {
        .kind = INVENTORY_JOB_RETRY_WAITING,
        .payload = text,
        .dedup_key = key,
    };
    status = jobs_enqueue(db, &spec, NULL, NULL);
done:
    free(text);
    json_decref(payload);
    json_decref(list);
    return status;
}

/* The continuation of a full batch: the same SKUs, after the last order
 * handled. */
static db_status_t enqueue_continuation(db_t *db, const job_t *job, const json_t *skus,
                                        int64_t after)
{
    json_t *payload = json_pack("{s:O,s:I}", "skus", skus, "after", (json_int_t)after);
    char *text = payload ? json_dumps(payload, JSON_COMPACT) : NULL;
    db_status_t status = DB_ERROR;
    if (text) {
        char key[96];
        snprintf(key, sizeof key, "retry_waiting:job:%lld:after:%lld", (long long)job->id,
                 (long long)after);
        job_spec_t spec = {.kind = INVENTORY_JOB_RETRY_WAITING, .payload = text, .dedup_key = key};
        status = jobs_enqueue(db, &spec, NULL, NULL);
    }
    free(text);
    json_decref(payload);
    return status;
}

static job_outcome_t failed(job_run_t *run, db_status_t status, const char *what)
{
    job_run_error(run, status == DB_TRANSIENT ? "pg_unavailable" : "pg_error", "%s: %s", what,
                  db_errmsg(job_run_db(run)));
    return JOB_RETRY;
}

static job_outcome_t run_retry_waiting(job_run_t *run)
{
    inventory_app_t *app = job_run_arg(run);
    const job_t *job = job_run_job(run);
    json_error_t error;
    json_t *payload = json_loads(job->payload, 0, &error);
    json_t *skus = json_object_get(payload, "skus");
    json_t *after = json_object_get(payload, "after");
    const char **sku_list = NULL;
    waiting_order_t *orders = NULL;
    order_line_t *lines = NULL;
    job_outcome_t outcome = JOB_DONE;
    size_t sku_count = json_array_size(skus);
    if (!json_is_array(skus) || !json_is_integer(after) || sku_count > RETRY_SKUS_MAX) {
        job_run_error(run, "bad_payload", "job %lld has no skus list or after", (long long)job->id);
        outcome = JOB_FAIL;
        goto done;
    }
    sku_list = calloc(sku_count ? sku_count : 1, sizeof *sku_list);
    orders = calloc((size_t)app->retry_batch, sizeof *orders);
    lines = calloc(ORDER_LINES_MAX, sizeof *lines);
    if (!sku_list || !orders || !lines) {
        job_run_error(run, "out_of_memory", "no room to retry waiting orders");
        outcome = JOB_RETRY;
        goto done;
    }
    for (size_t i = 0; i < sku_count; i++) {
        sku_list[i] = json_string_value(json_array_get(skus, i));
        if (!sku_list[i]) {
            job_run_error(run, "bad_payload", "job %lld names a sku that is not text",
                          (long long)job->id);
            outcome = JOB_FAIL;
            goto done;
        }
    }
    db_status_t status = jobs_begin_finish(run);
    if (status != DB_OK) {
        outcome = status == DB_TRANSIENT ? failed(run, status, "could not begin") : JOB_RETRY;
        goto done;
    }
    db_t *db = job_run_db(run);
    size_t count = 0, held = 0;
    /* Lock the SKUs first: a transaction still deciding orders for them
     * (the applier's batch) commits before the waiting orders are read, so
     * an order it just made wait is seen here. */
    stockcache_t *cache = stockcache_of(db, app);
    product_row_t **rows = calloc(sku_count ? sku_count : 1, sizeof *rows);
    status = cache && rows ? stockcache_hold(cache, db, sku_list, sku_count, NULL, rows, NULL)
                           : DB_ERROR;
    free(rows);
    if (status != DB_OK) {
        outcome = failed(run, status, "could not lock the products");
        goto done;
    }
    status = store_waiting_batch(db, sku_list, sku_count, json_integer_value(after),
                                 app->retry_batch, orders, &count);
    if (status != DB_OK) {
        outcome = failed(run, status, "could not read the waiting orders");
        goto done;
    }
    emitter_t em = emitter_root(db, service_name(app->svc));
    for (size_t i = 0; i < count; i++) {
        size_t line_count = 0;
        status = store_waiting_lines(db, orders[i].order_id, lines, ORDER_LINES_MAX, &line_count);
        if (status != DB_OK) {
            outcome = failed(run, status, "could not read a waiting order's lines");
            goto done;
        }
        if (line_count == 0)
            continue;
        order_ref_t order = {orders[i].order_id, (uint64_t)orders[i].version, 0,
                             orders[i].currency};
        orderstock_result_t result;
        status = orderstock_reserve(app, db, &em, &order, lines, line_count, true, &result);
        if (status != DB_OK) {
            outcome = failed(run, status, "could not reserve a waiting order");
            goto done;
        }
        held += result == ORDERSTOCK_HELD;
    }
    if (count == (size_t)app->retry_batch) {
        status = enqueue_continuation(db, job, skus, orders[count - 1].waiting_no);
        if (status != DB_OK) {
            outcome = failed(run, status, "could not enqueue the rest");
            goto done;
        }
    }
    log_info("waiting orders retried", LF_INT("job_id", job->id), LF_INT("skus", sku_count),
             LF_INT("tried", count), LF_INT("held", held));
done:
    free(sku_list);
    free(orders);
    free(lines);
    json_decref(payload);
    return outcome;
}

int inventory_jobs_register(jobs_t *jobs, inventory_app_t *app)
{
    return jobs_register(jobs, INVENTORY_JOB_RETRY_WAITING, run_retry_waiting, app);
}
