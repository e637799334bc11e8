/*
 * handlers.h — the bus topics the order service consumes (handlers.c).
 */
#ifndef ORDER_HANDLERS_H
#define ORDER_HANDLERS_H

#include "common/inbox.h"
#include "services/order/orders.h"

/* Registers every handler; 0 ok, -1 on failure. */
int handlers_register(inbox_t *inbox, order_app_t *app);

#endif
