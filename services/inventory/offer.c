/*
 * offer.c — enqueueing the waiting-order retry (offer.h). The payload is
 * {"skus": [...], "after": N}; jobs.c reads it back.
 */
#include "services/inventory/offer.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/jobs.h"
#include "common/uuid.h"

db_status_t offer_enqueue(db_t *db, const char *const *skus, size_t sku_count, int64_t after,
                          const char *dedup_key)
{
    json_t *list = json_array();
    json_t *payload = NULL;
    char *text = NULL;
    db_status_t status = DB_OK;
    bool full = !list;
    for (size_t i = 0; !full && i < sku_count; i++) {
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = strcmp(skus[i], skus[j]) == 0;
        full = !seen && json_array_append_new(list, json_string(skus[i])) != 0;
    }
    payload = full ? NULL : json_pack("{s:O,s:I}", "skus", list, "after", (json_int_t)after);
    text = payload ? json_dumps(payload, JSON_COMPACT) : NULL;
    if (!text) {
        status = db_fail(db, DB_STATE_OUT_OF_MEMORY, "no room to offer stock to waiting orders");
        goto done;
    }
    char key[160];
    snprintf(key, sizeof key, "retry_waiting:%s", dedup_key);
    job_spec_t spec = {
        .kind = OFFER_JOB_KIND,
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

void offer_action_key(const char *what, char out[OFFER_KEY_SIZE])
{
    char id[UUID_TEXT_SIZE];
    if (uuid_v4(id) != 0)
        snprintf(id, sizeof id, "%lld", (long long)clock_mono_us());
    snprintf(out, OFFER_KEY_SIZE, "%s:%s", what, id);
}
