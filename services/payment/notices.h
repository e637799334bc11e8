/*
 * notices.h — the bank's callbacks at POST /v1/webhooks/<provider>,
 * verified on the HTTP thread and applied in batches (group commit).
 *
 * A callback must be stored before it is answered, and durability stays
 * on (fsync, synchronous_commit): one COMMIT per callback capped the
 * service at a few hundred a second. So the HTTP thread only verifies the
 * notification (the checksum in constant time; YooKassa's object fetched
 * at the bank) and hands it, parsed, to a committer (common/groupcommit.h),
 * with the request's answer deferred (http_defer): the worker thread
 * serves other requests meanwhile. A committer takes every notice
 * waiting, keeps them all by the bank's event id in one statement
 * (deliveries of one event in a batch counted and applied once), applies
 * those not applied before, and commits once; only then is each request
 * answered — 200, or 5xx to every request of a batch that failed, so the
 * bank delivers again. A notice whose own application fails for good
 * fails alone: the batch is retried one notice to a transaction.
 *
 * Admission: beyond PAYMENT_NOTICES_WAITING_MAX notices waiting, a
 * callback is answered 429 with Retry-After before anything is stored.
 */
#ifndef PAYMENT_NOTICES_H
#define PAYMENT_NOTICES_H

#include "common/http.h"
#include "services/payment/payment.h"

typedef struct notices notices_t;

/* Starts the committers (app->notice_committers of them). NULL (logged)
 * on out of memory. Caller owns the result. */
notices_t *notices_new(payment_app_t *app);

/* Commits what waits and stops the committers while the service's relay
 * and pool still exist (service_on_stopping); a notification heard after
 * is answered 503 with Retry-After, nothing stored. NULL-safe. */
void notices_stop(notices_t *notices);

/* notices_stop, then frees; NULL-safe. */
void notices_destroy(notices_t **self_p);

/* The webhook route of provider ("sberbank", "yookassa"). */
void notices_webhook(notices_t *notices, const http_request_t *req, http_response_t *res,
                     const char *provider);

#endif
