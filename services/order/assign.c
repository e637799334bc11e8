/*
 * assign.c — the manager-choosing rule (assign.h).
 */
#include "services/order/assign.h"

#include <stdbool.h>
#include <string.h>

static bool usable(const assign_candidate_t *candidate, const char *exclude_id)
{
    return candidate->open_orders < candidate->capacity &&
           !(exclude_id && exclude_id[0] && strcmp(candidate->id, exclude_id) == 0);
}

/* Whether a should be chosen before b. */
static bool before(const assign_candidate_t *a, const assign_candidate_t *b)
{
    if (a->names_region != b->names_region)
        return a->names_region;
    if (a->open_orders != b->open_orders)
        return a->open_orders < b->open_orders;
    if (a->last_assigned_ms != b->last_assigned_ms)
        return a->last_assigned_ms < b->last_assigned_ms; /* 0 (never) first */
    return strcmp(a->id, b->id) < 0;
}

int assign_pick(const assign_candidate_t *candidates, size_t count, const char *customer_manager_id,
                const char *exclude_id)
{
    int best = -1;
    for (size_t i = 0; i < count; i++) {
        const assign_candidate_t *candidate = &candidates[i];
        if (!usable(candidate, exclude_id))
            continue;
        if (customer_manager_id && customer_manager_id[0] &&
            strcmp(candidate->id, customer_manager_id) == 0)
            return (int)i;
        if (best < 0 || before(candidate, &candidates[best]))
            best = (int)i;
    }
    return best;
}
