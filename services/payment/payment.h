/*
 * payment.h — the payment service's application: its settings, its
 * counters, and the register functions main.c wires up
 * (docs/adding-a-service.md).
 *
 * The service (DOMAIN.md F14-F18, F38) bills confirmed prepaid orders
 * through the store's acquiring bank, hears the bank's callbacks and asks
 * the bank about invoices whose callback never came, keeps the ledger of
 * every payment, cash collection and refund with each order's paid, due
 * and F15 payment status, refunds cancellations, overpayments and
 * returns, and says so on its own stream (invoice.*, payment.*,
 * refund.*). The files:
 *
 *   main.c        wiring only
 *   payment.c     the application: settings and counters
 *   handlers.c    the one table of consumed topics: wire messages -> plain structs
 *   api.c         the routes: the order's money, manual records, refund requests
 *   notices.c     the bank's callbacks: verified, then applied in batches
 *   jobs.c        the bank calls: register, reconcile, expire, void, refund
 *   events.c      plain structs -> the payment stream's messages
 *   store.c       every SQL statement
 * the domain, in the caller's transaction:
 *   billing.c     an order confirmed or cancelled: invoices to open or void
 *   money.c       money moving: a payment reported, declined or collected,
 *                 an invoice registered, refused or expired
 *   refunds.c     refunds opened, landed or failed
 * pure rules over plain structs, unit-tested in tests/:
 *   ledger.c      paid, due, excess and the F15 status
 *   receipt.c     54-FZ receipt lines, exact to the kopeck
 * adapters/       the banks (acquirer.h) and their fake in tests/fakes/bank
 */
#ifndef PAYMENT_PAYMENT_H
#define PAYMENT_PAYMENT_H

#include <stdint.h>

#include "common/http.h"
#include "common/inbox.h"
#include "common/jobs.h"
#include "common/metrics.h"
#include "common/pdf.h"
#include "common/service.h"

#define PAYMENT_PROVIDER_SIZE 16

typedef struct {
    service_t *svc;
    char provider[PAYMENT_PROVIDER_SIZE]; /* PAYMENT_PROVIDER: sberbank | yookassa */
    int64_t invoice_ttl_ms;               /* INVOICE_TTL: how long a payment link lives */
    int64_t reconcile_after_ms; /* PAYMENT_RECONCILE_AFTER: ask the bank when no callback came */
    uint32_t delivery_vat_bp;   /* PAYMENT_DELIVERY_VAT_BP: the delivery line's VAT */
    /* the bank (borrowed from the service's configuration) */
    const char *bank_url;      /* PAYMENT_BANK_URL */
    const char *bank_login;    /* PAYMENT_BANK_LOGIN: Sberbank's userName, YooKassa's shopId */
    const char *bank_password; /* PAYMENT_BANK_PASSWORD: its password or secret key */
    const char *callback_key;  /* PAYMENT_CALLBACK_KEY: Sberbank's checksum key */
    const char *return_url;    /* PAYMENT_RETURN_URL: where the bank's page sends the customer */
    const char *callback_url;  /* PAYMENT_CALLBACK_URL: our public webhook (Sberbank) */
    int64_t bank_timeout_ms;   /* PAYMENT_BANK_TIMEOUT: one call to the bank */
    int64_t register_batch;    /* PAYMENT_REGISTER_BATCH: registrations sent at once per worker */
    int64_t decline_rebills;   /* PAYMENT_DECLINE_REBILLS: new links after declines, per order */
    /* the callbacks' group commit (notices.h) */
    unsigned notice_committers; /* PAYMENT_NOTICE_COMMITTERS: threads applying batches */
    size_t notice_batch_max;    /* PAYMENT_NOTICE_BATCH_MAX: callbacks in one transaction */
    size_t notices_waiting_max; /* PAYMENT_NOTICES_WAITING_MAX: beyond, 429 */
    struct notices *notices;    /* made by api_register, owned by the app */
    pdf_fonts_t fonts;          /* PDF_FONT, PDF_FONT_BOLD: the invoice's PDF (checked at start) */

    metrics_counter_t *invoices_total;    /* invoices opened */
    metrics_counter_t *payments_total;    /* payments recorded (bank, cash, manual) */
    metrics_counter_t *refunds_total;     /* refunds asked of the bank */
    metrics_counter_t *callbacks_total;   /* callbacks believed */
    metrics_counter_t *callbacks_refused; /* callbacks refused (bad signature, spoof) */
} payment_app_t;

/* payment.c: reads the service's settings and makes its counters. NULL
 * (logged) on a bad setting or out of memory. Caller owns the result. */
payment_app_t *payment_app_new(service_t *svc);
void payment_app_destroy(payment_app_t **self_p);

/* service_on_stopping: the callbacks' committers commit what waits and
 * stop while the relay and the pool they use exist (arg: the app). */
void payment_app_stopping(void *app);

/* handlers.c: a handler for every consumed topic. 0 ok, -1 OOM. */
int handlers_register(inbox_t *inbox, payment_app_t *app);

/* api.c: the HTTP routes. 0 ok, -1 OOM. */
int api_register(http_server_t *http, payment_app_t *app);

/* jobs.c: the job kinds. 0 ok, -1 OOM or a bank not configured. */
int payment_jobs_register(jobs_t *jobs, payment_app_t *app);

#endif
