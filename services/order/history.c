/*
 * history.c — the order's history rows and conveyor's own actor (history.h).
 */
#include "services/order/history.h"

#include <stddef.h>

#include "common/auth.h"
#include "common/clock.h"
#include "services/order/store.h"

const actor_t history_system = {.id = "system", .name = "conveyor", .roles = ROLE_SYSTEM};

/* The role a history row names: the actor's first of these. */
static const char *role_of(const actor_t *actor)
{
    static const unsigned order_of_roles[] = {ROLE_ADMIN, ROLE_MANAGER, ROLE_WAREHOUSE,
                                              ROLE_COURIER, ROLE_SYSTEM};
    for (size_t i = 0; actor && i < sizeof order_of_roles / sizeof order_of_roles[0]; i++)
        if (actor->roles & order_of_roles[i])
            return auth_role_name(order_of_roles[i]);
    return "system";
}

const char *history_role_name(const actor_t *actor)
{
    return role_of(actor);
}

db_status_t history_add(db_t *db, const char *order_id, const char *kind, const char *from,
                        const char *to, const actor_t *actor, const char *reason,
                        const char *detail_json)
{
    return store_history_add(db, order_id, clock_now_ms(), kind, from, to,
                             actor ? actor->id : "system", role_of(actor), reason, detail_json);
}
