/*
 * tasks.c — tasks for people and the timers that open them (tasks.h).
 */
#include "services/order/tasks.h"

#include <jansson.h>
#include <stdlib.h>

#include "common/clock.h"
#include "common/jobs.h"
#include "common/uuid.h"
#include "services/order/calendar.h"
#include "services/order/events.h"

db_status_t tasks_open(const emitter_t *em, const char *kind, const order_t *order,
                       const char *assignee_id, const char *title, int64_t due_at_ms,
                       const char *dedup_key, bool fresh)
{
    db_t *db = emitter_db(em);
    char task_id[UUID_TEXT_SIZE];
    if (uuid_v4(task_id) != 0)
        return db_fail(db, DB_STATE_OUT_OF_MEMORY, "could not make a task id");
    task_insert_t task = {
        .id = task_id,
        .kind = kind,
        .order_id = order ? order->id : NULL,
        .assignee_id = assignee_id,
        .title = title,
        .due_at_ms = due_at_ms,
        .dedup_key = dedup_key,
        .now_ms = clock_now_ms(),
    };
    bool created = true;
    db_status_t status =
        fresh ? store_task_insert_deferred(db, &task) : store_task_insert(db, &task, &created);
    if (status != DB_OK || !created)
        return status;
    return events_task_created(em, task_id, kind, order, assignee_id, due_at_ms, title);
}

db_status_t tasks_business_deadline(db_t *db, int64_t from_ms, int days, int64_t *due_ms_out)
{
    calendar_row_t *rows = NULL;
    size_t count = 0;
    db_status_t status = store_calendar(db, &rows, &count);
    if (status != DB_OK)
        return status;
    calendar_exception_t *exceptions = calloc(count ? count : 1, sizeof *exceptions);
    if (!exceptions) {
        free(rows);
        return db_fail(db, DB_STATE_OUT_OF_MEMORY, "could not read the business calendar");
    }
    for (size_t i = 0; i < count; i++) {
        exceptions[i].day = rows[i].day;
        exceptions[i].workday = rows[i].workday;
    }
    calendar_t calendar = {.exceptions = exceptions, .count = count};
    *due_ms_out = calendar_add_business_days(&calendar, from_ms, days);
    free(exceptions);
    free(rows);
    return DB_OK;
}

db_status_t tasks_timer(db_t *db, const char *kind, const char *order_id, const char *extra_key,
                        const char *extra_value, int64_t run_at_ms, const char *dedup_key)
{
    json_t *payload = json_pack("{s:s}", "order_id", order_id);
    if (payload && extra_key &&
        json_object_set_new(payload, extra_key, json_string(extra_value)) != 0) {
        json_decref(payload);
        payload = NULL;
    }
    char *text = payload ? json_dumps(payload, JSON_COMPACT) : NULL;
    json_decref(payload);
    if (!text)
        return db_fail(db, DB_STATE_OUT_OF_MEMORY, "could not write the %s timer of order %s", kind,
                       order_id);
    job_spec_t spec = {
        .kind = kind, .payload = text, .run_at_ms = run_at_ms, .dedup_key = dedup_key};
    db_status_t status = jobs_enqueue_deferred(db, &spec);
    free(text);
    return status;
}
