/*
 * schedule.h — the bank calls the domain asks for, as jobs (DESIGN.md
 * "Work that takes time"): a handler or route never calls a bank; it
 * enqueues one of these in its own transaction and the job runs once that
 * commits (jobs.c holds what each does). Each job's payload is the id of
 * the row it works on, and its dedup key makes asking twice one job.
 */
#ifndef PAYMENT_SCHEDULE_H
#define PAYMENT_SCHEDULE_H

#include <stdint.h>

#include "common/db.h"

#define JOB_INVOICE_REGISTER  "invoice_register"  /* ask the bank for a payment link */
#define JOB_INVOICE_RECONCILE "invoice_reconcile" /* ask the bank how an open invoice stands */
#define JOB_INVOICE_EXPIRE    "invoice_expire"    /* an unpaid invoice's link ran out */
#define JOB_INVOICE_VOID      "invoice_void"      /* cancel the invoice at the bank */
#define JOB_REFUND_SEND       "refund_send"       /* give money back through the bank */
#define JOB_REFUND_POLL       "refund_poll"       /* ask how a pending refund stands */

/* Enqueues kind for the row id at run_at_ms (0: now); attempt makes a
 * repeated job (a reconciliation asked again later) a new one. */
db_status_t schedule_job(db_t *db, const char *kind, const char *id, int64_t run_at_ms,
                         int attempt);

#endif
