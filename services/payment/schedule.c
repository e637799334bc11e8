/*
 * schedule.c — enqueueing the payment service's bank calls (schedule.h).
 */
#include "services/payment/schedule.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/jobs.h"

db_status_t schedule_job(db_t *db, const char *kind, const char *id, int64_t run_at_ms, int attempt)
{
    json_t *payload = json_pack("{s:s}", "id", id);
    char *text = payload ? json_dumps(payload, JSON_COMPACT) : NULL;
    json_decref(payload);
    if (!text)
        return db_fail(db, DB_STATE_OUT_OF_MEMORY, "no room to schedule %s for %s", kind, id);
    char key[128];
    snprintf(key, sizeof key, "%s:%s:%d", kind, id, attempt);
    job_spec_t spec = {
        .kind = kind,
        .payload = text,
        .run_at_ms = run_at_ms,
        .dedup_key = key,
    };
    db_status_t status = jobs_enqueue(db, &spec, NULL, NULL);
    free(text);
    return status;
}
