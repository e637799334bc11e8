/*
 * yookassa.h — the YooKassa v3 adapter (acquirer.h says what it promises;
 * ../shared/notes/external-apis.md "YooKassa v3" what the bank speaks).
 *
 * JSON over HTTPS with Basic shopId:secretKey. Every POST carries an
 * Idempotence-Key (our reference): the same key with the same body within
 * 24 h answers the first result, so a lost answer is settled by sending
 * the same request again. Amounts are strings ("100.00"); the 54-FZ
 * receipt travels as "receipt" with the payment and the refund. Webhooks
 * are unsigned: the object they name is fetched and only the bank's word
 * is believed.
 */
#ifndef CONVEYOR_PAYMENT_YOOKASSA_H
#define CONVEYOR_PAYMENT_YOOKASSA_H

#include "services/payment/adapters/acquirer.h"
#include "services/payment/adapters/bankcall.h"

typedef struct yookassa yookassa_t;

/* Caller owns the result. base_url, login (shopId) and password (secret
 * key) are required; NULL if missing (logged). */
yookassa_t *yookassa_new(const acquirer_config_t *config);
void yookassa_destroy(yookassa_t **self_p);

acq_result_t yookassa_create(yookassa_t *self, const acq_invoice_t *invoice,
                             acq_registration_t *out, acq_error_t *err);

/* yookassa_create in two halves (acquirer_register_prepare): the checked
 * request with its Idempotence-Key, and the reading of its answer. */
acq_result_t yookassa_create_prepare(yookassa_t *self, const acq_invoice_t *invoice,
                                     bankcall_prepared_t *call, acq_error_t *err);
acq_result_t yookassa_create_read(const bankcall_reply_t *reply, acq_registration_t *out,
                                  acq_error_t *err);
acq_result_t yookassa_get(yookassa_t *self, const acq_ref_t *ref, acq_payment_t *out,
                          acq_error_t *err);
acq_result_t yookassa_capture(yookassa_t *self, const acq_ref_t *ref, const char *key,
                              int64_t amount_minor, acq_error_t *err);
acq_result_t yookassa_cancel(yookassa_t *self, const acq_ref_t *ref, const char *key,
                             acq_error_t *err);
acq_result_t yookassa_refund(yookassa_t *self, const acq_refund_t *refund, acq_refund_result_t *out,
                             acq_error_t *err);
/* GET /v3/refunds/{id}: pending, succeeded or canceled (with the reason). */
acq_result_t yookassa_refund_get(yookassa_t *self, const char *refund_id, acq_refund_status_t *out,
                                 acq_error_t *err);

/* What a webhook claims, before anyone believes it. */
typedef struct {
    char status[32];      /* the object's status as claimed */
    int64_t amount_minor; /* the object's amount as claimed; -1 if absent */
} yookassa_claim_t;

/* Reads a webhook body (len bytes): {"type":"notification","event":...,
 * "object":{...}}. Pure (no network): ACQ_DONE with *out's kind,
 * operation (the event), bank_id, refund_id, reference (metadata) and
 * event_id filled and *claim what it says of the object; ACQ_REJECTED
 * ("bad_request") when it is not such a notification of a known event. */
acq_result_t yookassa_webhook_parse(const char *body, size_t len, acq_notice_t *out,
                                    yookassa_claim_t *claim, acq_error_t *err);

/* yookassa_webhook_parse, then the object fetched from the bank: ACQ_DONE
 * when the bank's object agrees (its status is the claimed one, or has
 * moved on from a waiting_for_capture claim; its amount is the claimed
 * one), with out->payment the bank's state; ACQ_REJECTED "mismatch" when it
 * contradicts the claim (a spoof), "not_found" when the bank does not
 * know the object. */
acq_result_t yookassa_webhook_verify(yookassa_t *self, const char *body, size_t len,
                                     acq_notice_t *out, acq_error_t *err);

/* "123.45" -> 12345. At most two decimals, digits only, no sign. 0 ok, -1
 * otherwise. */
int yookassa_amount_parse(const char *text, int64_t *minor_out);

/* 12345 -> "123.45" into out (size >= 24). */
void yookassa_amount_format(int64_t minor, char *out, size_t size);

#endif
