/*
 * jobs.c — the order service's timers, run by the kit's job workers in any
 * replica (DESIGN.md "Work that takes time"; timers are jobs with run_at).
 *
 *   assign_timeout        an order its manager did not take up in time is
 *                         given to another (F5)
 *   assign_waiting        orders nobody could take are assigned, oldest
 *                         first, once someone can (a shift starts)
 *   unpaid_reminder       a task when an invoice is still unpaid after the
 *                         business days (F8)
 *   not_delivered_check   a task when a parcel is still not delivered
 *   invoice_expired       an order whose invoice expired cancels itself after
 *                         the grace period unless it was paid or invoiced
 *                         again meanwhile
 *
 * Each checks that the order is still where the timer expected it, and
 * writes its effects in the job's completion transaction, so an effect
 * happens once however often a worker dies.
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "common/clock.h"
#include "common/emit.h"
#include "common/log.h"
#include "common/uuid.h"
#include "services/order/assignment.h"
#include "services/order/funnel.h"
#include "services/order/order.h"
#include "services/order/rules.h"
#include "services/order/store.h"
#include "services/order/tasks.h"

/* Reads {"order_id": ..., <extra>: ...} from the job; -1 (recorded) if bad. */
static int read_payload(job_run_t *run, char order_id[37], const char *extra, char *extra_out,
                        size_t extra_size)
{
    json_error_t error;
    json_t *payload = json_loads(job_run_job(run)->payload, 0, &error);
    const char *id = json_string_value(json_object_get(payload, "order_id"));
    const char *value = extra ? json_string_value(json_object_get(payload, extra)) : "";
    int rc = -1;
    if (id && uuid_valid(id) && value) {
        snprintf(order_id, 37, "%s", id);
        if (extra_out)
            snprintf(extra_out, extra_size, "%s", value);
        rc = 0;
    } else {
        job_run_error(run, "bad_payload", "the job's payload lacks order_id or %s",
                      extra ? extra : "nothing");
    }
    json_decref(payload);
    return rc;
}

/* Opens the completion transaction and locks the order. */
static db_status_t begin_with_order(job_run_t *run, const char *order_id, bool *found,
                                    order_t *order)
{
    db_status_t status = jobs_begin_finish(run);
    if (status != DB_OK)
        return status;
    return store_order_lock(job_run_db(run), order_id, found, order);
}

static job_outcome_t job_assign_timeout(job_run_t *run)
{
    order_app_t *app = job_run_arg(run);
    char order_id[37], manager_id[37];
    if (read_payload(run, order_id, "manager_id", manager_id, sizeof manager_id) != 0)
        return JOB_FAIL;
    order_t order;
    bool found = false;
    db_status_t status = begin_with_order(run, order_id, &found, &order);
    if (status != DB_OK)
        return jobs_result(run, status, "assign_timeout");
    bool stale = !found || strcmp(order.manager_id, manager_id) != 0 || order.taken_up ||
                 rules_group_final(order.group) ||
                 (strcmp(order.status, "new") != 0 && strcmp(order.status, "no_answer") != 0 &&
                  strcmp(order.status, "awaiting_supply") != 0);
    if (stale)
        return JOB_DONE; /* taken up, moved on or reassigned already */
    emitter_t root = emitter_root(job_run_db(run), order_stream(app));
    bool assigned = false;
    status = assignment_assign(app, &root, &order, "not_taken_up", &assigned);
    if (status == DB_OK && !assigned)
        log_info("an order nobody took up stays with its manager: nobody else can take it",
                 LF_STR("order_id", order_id), LF_STR("manager_id", manager_id));
    return jobs_result(run, status, "assign_timeout");
}

static job_outcome_t job_assign_waiting(job_run_t *run)
{
    order_app_t *app = job_run_arg(run);
    db_status_t status = jobs_begin_finish(run);
    int assigned = 0;
    emitter_t root = emitter_root(job_run_db(run), order_stream(app));
    if (status == DB_OK)
        status = assignment_assign_waiting(app, &root, 500, &assigned);
    if (status == DB_OK && assigned > 0)
        log_info("waiting orders assigned", LF_INT("orders", assigned));
    return jobs_result(run, status, "assign_waiting");
}

/* A reminder task if the order still is in the status the timer expects. */
static job_outcome_t reminder(job_run_t *run, const char *kind, const char *what)
{
    order_app_t *app = job_run_arg(run);
    char order_id[37], expect[32];
    if (read_payload(run, order_id, "expect_status", expect, sizeof expect) != 0)
        return JOB_FAIL;
    order_t order;
    bool found = false;
    db_status_t status = begin_with_order(run, order_id, &found, &order);
    if (status != DB_OK)
        return jobs_result(run, status, kind);
    bool still =
        found && (strcmp(order.status, expect) == 0 || (strcmp(kind, "not_delivered_check") == 0 &&
                                                        strcmp(order.status, "rescheduled") == 0));
    if (!still)
        return JOB_DONE;
    char title[400], dedup[120];
    snprintf(title, sizeof title, "%s %s", order.title, what);
    snprintf(dedup, sizeof dedup, "%s:%s:%llu", kind, order.id, (unsigned long long)order.version);
    emitter_t root = emitter_root(job_run_db(run), order_stream(app));
    status = tasks_open(&root, kind, &order, order.manager_id, title, clock_now_ms(), dedup, false);
    return jobs_result(run, status, kind);
}

static job_outcome_t job_unpaid_reminder(job_run_t *run)
{
    return reminder(run, "unpaid_reminder", "is still unpaid: remind the customer");
}

static job_outcome_t job_not_delivered_check(job_run_t *run)
{
    return reminder(run, "not_delivered_check", "is not delivered yet: check with the carrier");
}

static job_outcome_t job_invoice_expired(job_run_t *run)
{
    order_app_t *app = job_run_arg(run);
    char order_id[37], invoice_id[128];
    if (read_payload(run, order_id, "invoice_id", invoice_id, sizeof invoice_id) != 0)
        return JOB_FAIL;
    db_status_t status = jobs_begin_finish(run);
    bool cancelled = false;
    emitter_t root = emitter_root(job_run_db(run), order_stream(app));
    if (status == DB_OK)
        status = funnel_expire_unpaid(app, &root, order_id, invoice_id, &cancelled);
    if (status == DB_OK && cancelled)
        log_info("an unpaid order cancelled itself: its invoice expired",
                 LF_STR("order_id", order_id), LF_STR("invoice_id", invoice_id));
    return jobs_result(run, status, "invoice_expired");
}

int order_jobs_register(jobs_t *jobs, order_app_t *app)
{
    return jobs_register(jobs, "assign_timeout", job_assign_timeout, app) ||
           jobs_register(jobs, "assign_waiting", job_assign_waiting, app) ||
           jobs_register(jobs, "unpaid_reminder", job_unpaid_reminder, app) ||
           jobs_register(jobs, "not_delivered_check", job_not_delivered_check, app) ||
           jobs_register(jobs, "invoice_expired", job_invoice_expired, app);
}
