/*
 * jobs.h — the order service's timers (jobs.c).
 */
#ifndef ORDER_JOBS_H
#define ORDER_JOBS_H

#include "common/jobs.h"
#include "services/order/orders.h"

/* Registers every job kind; 0 ok, -1 on failure. */
int order_jobs_register(jobs_t *jobs, order_app_t *app);

/* Asks for waiting orders to be assigned soon (someone came on shift or
 * capacity freed), once however often it is asked before it runs. */
db_status_t order_jobs_assign_waiting_soon(db_t *db);

#endif
