/*
 * sberbank.h — the Sberbank acquiring adapter (acquirer.h says what it
 * promises; ../shared/notes/external-apis.md "Sberbank acquiring" what the
 * bank speaks).
 *
 * Requests are url-encoded POSTs to <base>/payment/rest/<call>.do carrying
 * userName and password; the bank answers HTTP 200 with a JSON body whose
 * string errorCode (absent or "0" on success) says how it went. Amounts
 * are kopecks; the 54-FZ receipt travels as orderBundle (registration) and
 * refundItems (refund). Callbacks are GETs (or url-encoded POSTs) signed
 * with HMAC-SHA256 over the sorted "name;value;" string.
 */
#ifndef CONVEYOR_PAYMENT_SBERBANK_H
#define CONVEYOR_PAYMENT_SBERBANK_H

#include "services/payment/adapters/acquirer.h"
#include "services/payment/adapters/bankcall.h"

typedef struct sberbank sberbank_t;

/* Caller owns the result. base_url, login and password are required;
 * callback_key is needed to verify callbacks. NULL if missing (logged). */
sberbank_t *sberbank_new(const acquirer_config_t *config);
void sberbank_destroy(sberbank_t **self_p);

acq_result_t sberbank_register(sberbank_t *self, const acq_invoice_t *invoice,
                               acq_registration_t *out, acq_error_t *err);

/* sberbank_register in two halves (acquirer_register_prepare): the
 * checked request, and the reading of its answer. */
acq_result_t sberbank_register_prepare(sberbank_t *self, const acq_invoice_t *invoice,
                                       bankcall_prepared_t *call, acq_error_t *err);
acq_result_t sberbank_register_read(const bankcall_reply_t *reply, acq_registration_t *out,
                                    acq_error_t *err);
acq_result_t sberbank_status(sberbank_t *self, const acq_ref_t *ref, acq_payment_t *out,
                             acq_error_t *err);
acq_result_t sberbank_deposit(sberbank_t *self, const acq_ref_t *ref, int64_t amount_minor,
                              acq_error_t *err);
acq_result_t sberbank_reverse(sberbank_t *self, const acq_ref_t *ref, acq_error_t *err);
acq_result_t sberbank_decline(sberbank_t *self, const acq_ref_t *ref, acq_error_t *err);
acq_result_t sberbank_refund(sberbank_t *self, const acq_refund_t *refund, acq_refund_result_t *out,
                             acq_error_t *err);

/* The configured checksum key (borrowed), or NULL. */
const char *sberbank_callback_key(const sberbank_t *self);

/* Verifies and reads a callback: text is its query string or form body
 * (len bytes), key the shop's checksum key. Pure (no network): ACQ_DONE
 * with *out filled, or ACQ_REJECTED with err's code "no_checksum",
 * "bad_checksum" (a wrong one, compared in constant time) or "bad_request"
 * (does not parse, a parameter repeated, mdOrder, orderNumber, operation
 * or status missing or malformed). */
acq_result_t sberbank_callback_parse(const char *key, const char *text, size_t len,
                                     acq_notice_t *out, acq_error_t *err);

/* The checksum of a callback's parameters but "checksum" (text is its
 * query string), as upper-case hex into out (65 bytes). 0 ok, -1 if text
 * does not parse. For the fuzz target and the tests. */
int sberbank_callback_checksum(const char *key, const char *text, size_t len, char out[65]);

#endif
