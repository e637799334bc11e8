/*
 * assign.h — choosing the manager for an order (F5), as a pure rule.
 *
 * Among the managers who are active, on shift, under capacity and serve
 * the order's region (the store reads those), the customer's own manager
 * wins; otherwise those who serve the region by name come before those
 * who serve every region (a store's Moscow desk takes Moscow orders while
 * it can); within that, the least loaded, and among equally loaded the one
 * who waited longest since their last assignment (never assigned first),
 * then the smaller id — round-robin in effect, and the same answer on
 * every replica for the same data.
 */
#ifndef ORDER_ASSIGN_H
#define ORDER_ASSIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    char id[37];
    int32_t open_orders;
    int32_t capacity;
    int64_t last_assigned_ms; /* 0: never assigned */
    bool names_region;        /* serves the order's region by name, not as "every region" */
} assign_candidate_t;

/* The index of the chosen candidate, or -1 when none can take it.
 * customer_manager_id and exclude_id (the manager an order is taken from)
 * may be NULL or "". */
int assign_pick(const assign_candidate_t *candidates, size_t count, const char *customer_manager_id,
                const char *exclude_id);

#endif
