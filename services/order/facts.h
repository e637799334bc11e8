/*
 * facts.h — the payment and shipping streams' facts the order service hears
 * (facts.c).
 */
#ifndef ORDER_FACTS_H
#define ORDER_FACTS_H

#include "common/inbox.h"
#include "services/order/orders.h"

/* Registers a handler per payment and shipping fact; 0 ok, -1 on failure. */
int facts_register(inbox_t *inbox, order_app_t *app);

#endif
