/*
 * rules.c — the funnel's small decisions (rules.h).
 */
#include "services/order/rules.h"

#include <string.h>

const char *rules_payment_terms(const char *method, const char *region_key,
                                const char *local_region, int64_t total_minor)
{
    if (total_minor <= 0)
        return "none";
    if (strcmp(method, "self_pickup") == 0)
        return "on_delivery";
    bool local =
        local_region && local_region[0] && region_key && strcmp(region_key, local_region) == 0;
    if (strcmp(method, "courier") == 0 && local)
        return "on_delivery";
    return "prepay";
}

const char *rules_after_confirmed(const char *payment_terms)
{
    return strcmp(payment_terms, "prepay") == 0 ? "awaiting_payment" : "prepare_for_delivery";
}

bool rules_group_final(const char *group)
{
    return strcmp(group, "complete") == 0 || strcmp(group, "cancel") == 0;
}

bool rules_needs_reason(const char *to)
{
    return strcmp(to, "cancelled") == 0 || strcmp(to, "rescheduled") == 0 ||
           strcmp(to, "returned") == 0;
}
