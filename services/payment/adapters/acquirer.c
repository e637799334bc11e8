/*
 * acquirer.c — one face for the payment service's jobs over both bank
 * adapters (acquirer.h): a store's configuration picks the adapter, the
 * job calls the same functions whichever it is.
 */
#include "services/payment/adapters/acquirer.h"

#include <stdlib.h>
#include <string.h>

#include "services/payment/adapters/bankcall.h"
#include "services/payment/adapters/sberbank.h"
#include "services/payment/adapters/yookassa.h"

struct acquirer {
    acq_provider_t provider;
    sberbank_t *sberbank;
    yookassa_t *yookassa;
};

acquirer_t *acquirer_new(const acquirer_config_t *config)
{
    acquirer_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->provider = config->provider;
    if (config->provider == ACQ_SBERBANK)
        self->sberbank = sberbank_new(config);
    else if (config->provider == ACQ_YOOKASSA)
        self->yookassa = yookassa_new(config);
    if (!self->sberbank && !self->yookassa)
        acquirer_destroy(&self);
    return self;
}

void acquirer_destroy(acquirer_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    acquirer_t *self = *self_p;
    sberbank_destroy(&self->sberbank);
    yookassa_destroy(&self->yookassa);
    free(self);
    *self_p = NULL;
}

const char *acquirer_name(const acquirer_t *self)
{
    return self->provider == ACQ_SBERBANK ? "sberbank" : "yookassa";
}

bool acquirer_register_replays(const acquirer_t *self)
{
    return self->provider == ACQ_YOOKASSA;
}

acq_result_t acquirer_register(acquirer_t *self, const acq_invoice_t *invoice,
                               acq_registration_t *out, acq_error_t *err)
{
    return self->sberbank ? sberbank_register(self->sberbank, invoice, out, err)
                          : yookassa_create(self->yookassa, invoice, out, err);
}

struct acq_call {
    bankcall_prepared_t prepared; /* its request points into it: never moved */
};

acq_result_t acquirer_register_prepare(acquirer_t *self, const acq_invoice_t *invoice,
                                       acq_call_t **call_out, acq_error_t *err)
{
    *call_out = NULL;
    acq_call_t *call = calloc(1, sizeof *call);
    if (!call)
        return bankcall_fail(err, ACQ_TRANSIENT, 0, "out_of_memory", "a registration's request");
    acq_result_t result =
        self->sberbank ? sberbank_register_prepare(self->sberbank, invoice, &call->prepared, err)
                       : yookassa_create_prepare(self->yookassa, invoice, &call->prepared, err);
    if (result == ACQ_DONE)
        *call_out = call;
    else
        acq_call_destroy(&call);
    return result;
}

const httpcall_request_t *acq_call_request(const acq_call_t *call)
{
    return &call->prepared.request;
}

acq_result_t acquirer_register_read(const acquirer_t *self, const httpcall_response_t *response,
                                    acq_registration_t *out, acq_error_t *err)
{
    return self->sberbank ? sberbank_register_read(response, out, err)
                          : yookassa_create_read(response, out, err);
}

void acq_call_destroy(acq_call_t **call_p)
{
    if (!call_p || !*call_p)
        return;
    bankcall_prepared_release(&(*call_p)->prepared);
    free(*call_p);
    *call_p = NULL;
}

acq_result_t acquirer_status(acquirer_t *self, const acq_ref_t *ref, acq_payment_t *out,
                             acq_error_t *err)
{
    return self->sberbank ? sberbank_status(self->sberbank, ref, out, err)
                          : yookassa_get(self->yookassa, ref, out, err);
}

acq_result_t acquirer_capture(acquirer_t *self, const acq_ref_t *ref, const char *reference,
                              int64_t amount_minor, acq_error_t *err)
{
    return self->sberbank ? sberbank_deposit(self->sberbank, ref, amount_minor, err)
                          : yookassa_capture(self->yookassa, ref, reference, amount_minor, err);
}

acq_result_t acquirer_cancel(acquirer_t *self, const acq_ref_t *ref, const char *reference,
                             acq_error_t *err)
{
    return self->sberbank ? sberbank_reverse(self->sberbank, ref, err)
                          : yookassa_cancel(self->yookassa, ref, reference, err);
}

acq_result_t acquirer_decline(acquirer_t *self, const acq_ref_t *ref, acq_error_t *err)
{
    if (self->sberbank)
        return sberbank_decline(self->sberbank, ref, err);
    memset(err, 0, sizeof *err);
    return bankcall_fail(err, ACQ_REJECTED, 0, "unsupported",
                         "YooKassa lets no shop cancel a pending payment: it expires at the bank");
}

acq_result_t acquirer_refund(acquirer_t *self, const acq_refund_t *refund, acq_refund_result_t *out,
                             acq_error_t *err)
{
    return self->sberbank ? sberbank_refund(self->sberbank, refund, out, err)
                          : yookassa_refund(self->yookassa, refund, out, err);
}

acq_result_t acquirer_refund_status(acquirer_t *self, const char *refund_id,
                                    acq_refund_status_t *out, acq_error_t *err)
{
    if (self->yookassa)
        return yookassa_refund_get(self->yookassa, refund_id, out, err);
    memset(out, 0, sizeof *out);
    return bankcall_fail(err, ACQ_REJECTED, 0, "unsupported",
                         "Sberbank's refunds are never pending: there is nothing to ask");
}

acq_result_t acquirer_notice_verify(acquirer_t *self, const acq_notice_in_t *in, acq_notice_t *out,
                                    acq_error_t *err)
{
    if (self->yookassa)
        return yookassa_webhook_verify(self->yookassa, in->body, in->body_len, out, err);
    /* Sberbank: the query string of a GET, or the form body of a POST */
    const char *text = in->query && in->query[0] ? in->query : in->body;
    size_t len = in->query && in->query[0] ? strlen(in->query) : in->body_len;
    return sberbank_callback_parse(sberbank_callback_key(self->sberbank), text, len, out, err);
}

const char *acq_result_name(acq_result_t result)
{
    static const char *const names[] = {"done", "rejected", "transient", "unknown"};
    return result >= ACQ_DONE && result <= ACQ_UNKNOWN ? names[result] : "?";
}

const char *acq_state_name(acq_state_t state)
{
    static const char *const names[] = {"pending",  "held",   "paid",
                                        "declined", "voided", "refunded"};
    return state >= ACQ_STATE_PENDING && state <= ACQ_STATE_REFUNDED ? names[state] : "?";
}
