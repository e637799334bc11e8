/*
 * handlers.h — the bus topics the order service consumes (handlers.c).
 */
#ifndef ORDER_HANDLERS_H
#define ORDER_HANDLERS_H

#include "common/inbox.h"
#include "services/order/orders.h"

/* A handler's answer to a store call: DB_OK done, a database that is away
 * a retry, any other failure the event parked with the database's words. */
handler_result_t handlers_from_db(inbox_event_t *event, db_status_t status, const char *what);

/* Registers every handler (and facts_register's); 0 ok, -1 on failure. */
int handlers_register(inbox_t *inbox, order_app_t *app);

#endif
