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

const char *rules_edit_refusal(const char *status)
{
    static const struct {
        const char *status, *why;
    } closed[] = {
        {"assembled", "the order is assembled: it is packed and can no longer be changed"},
        {"handed_to_carrier", "the order is handed to the carrier: it can no longer be changed"},
        {"rescheduled", "the order is with the carrier (rescheduled): it can no longer be changed"},
        {"delivered", "the order is delivered: a change is a claim now"},
        {"completed", "the order is completed: a change is a claim now"},
        {"cancelled", "the order is cancelled"},
        {"returned", "the order came back: it is closed"},
    };
    for (size_t i = 0; i < sizeof closed / sizeof closed[0]; i++)
        if (strcmp(status, closed[i].status) == 0)
            return closed[i].why;
    return NULL;
}
