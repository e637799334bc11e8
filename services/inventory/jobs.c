/*
 * jobs.c — the inventory service's job kinds: the waiting-order retry
 * (waiting.h), enqueued by whatever makes stock available (offer.h).
 *
 * A job's payload is its wire: read here into plain structs, as handlers.c
 * reads events; the work is waiting.c's, in the job's completion
 * transaction (jobs_begin_finish: effects and "done" commit together, so a
 * worker that dies mid-way leaves nothing half done and the job runs
 * again); a failure is answered by the kit's one mapping (jobs_result).
 */
#include <jansson.h>
#include <stdlib.h>

#include "common/jobs.h"
#include "common/log.h"
#include "services/inventory/inventory.h"
#include "services/inventory/offer.h"
#include "services/inventory/waiting.h"

#define RETRY_SKUS_MAX 10000

/* retry_waiting {"skus": [...], "after": N}: the orders waiting for those
 * SKUs, after the N-th to start waiting. */
static job_outcome_t run_retry_waiting(job_run_t *run)
{
    inventory_app_t *app = job_run_arg(run);
    const job_t *job = job_run_job(run);
    json_error_t error;
    json_t *payload = json_loads(job->payload, 0, &error);
    json_t *skus = json_object_get(payload, "skus");
    json_t *after = json_object_get(payload, "after");
    const char **sku_list = NULL;
    job_outcome_t outcome = JOB_DONE;
    size_t sku_count = json_array_size(skus);
    if (!json_is_array(skus) || !json_is_integer(after) || sku_count > RETRY_SKUS_MAX) {
        job_run_error(run, "bad_payload", "job %lld has no skus list or after", (long long)job->id);
        outcome = JOB_FAIL;
        goto done;
    }
    sku_list = calloc(sku_count ? sku_count : 1, sizeof *sku_list);
    if (!sku_list) {
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
        /* DB_ERROR: the lease is lost; whoever holds it now runs it */
        outcome =
            status == DB_ERROR ? JOB_RETRY : jobs_result(run, status, "could not begin the retry");
        goto done;
    }
    waiting_offer_t offer = {sku_list, sku_count, json_integer_value(after), job->id};
    size_t tried = 0, held = 0;
    status = waiting_retry(app, job_run_db(run), &offer, &tried, &held);
    outcome = jobs_result(run, status, "could not retry the waiting orders");
    if (status == DB_OK)
        log_info("waiting orders retried", LF_INT("job_id", job->id), LF_INT("skus", sku_count),
                 LF_INT("tried", tried), LF_INT("held", held));
done:
    free(sku_list);
    json_decref(payload);
    return outcome;
}

int inventory_jobs_register(jobs_t *jobs, inventory_app_t *app)
{
    return jobs_register(jobs, OFFER_JOB_KIND, run_retry_waiting, app);
}
