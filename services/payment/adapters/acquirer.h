/*
 * acquirer.h — what the payment service's jobs ask of an acquiring bank,
 * whichever bank a store uses (DOMAIN.md F16–F18, F38; issue 11).
 *
 * Two adapters speak it: sberbank.c (Sberbank acquiring, register.do and
 * friends) and yookassa.c (YooKassa v3). A job builds plain structs (an
 * invoice with its 54-FZ receipt lines, a refund, a reference), calls one
 * function here and acts on the result class:
 *
 *   ACQ_DONE         the bank did it; the out-parameter holds what it said.
 *   ACQ_REJECTED     the bank refused for good (bad credentials, a bad
 *                    parameter, an unknown order): do not retry; the error
 *                    holds the bank's code and words.
 *   ACQ_TRANSIENT    nothing happened (the bank was not reached, or said
 *                    429 or "try later" before acting): retry with backoff.
 *   ACQ_UNKNOWN      the request may have taken effect (a timeout after
 *                    sending, a 5xx, a reply we cannot read, Sberbank's
 *                    "system error"): settle it by asking before anything
 *                    else — never by doing it again blindly.
 *
 * Settling an unknown outcome ("never twice", issue 11 item 5):
 *   - a registration: acquirer_status by our reference. Sberbank finds the
 *     order by orderNumber (found: it was registered; "not found": register
 *     again with the same reference, safely — a repeated orderNumber is
 *     refused, never a second payment). YooKassa cannot be asked by our
 *     reference: registering again with the same reference and the same
 *     invoice replays the first answer for 24 hours (acquirer_register_replays).
 *   - a refund: Sberbank's refund.do has no id of ours; acquirer_status
 *     says how much is refunded so far. YooKassa's refund is repeated with
 *     the same reference (its idempotence key) and replays.
 *   - a capture, a cancel or a decline: acquirer_status.
 *
 * A cancelled order's invoice leaves no payable link: an unpaid payment is
 * declined (acquirer_decline: Sberbank's decline.do), a held one cancelled
 * (acquirer_cancel); a registration whose answer was lost is first found
 * by our reference (acquirer_status, Sberbank's orderNumber).
 *
 * Notifications (callbacks, webhooks) are verified here too:
 * acquirer_notice_verify says whether to believe one and what it means,
 * as a plain struct. Sberbank's are checked by their HMAC-SHA256 checksum
 * (constant time); YooKassa's are unsigned, so the object they name is
 * fetched from the bank and only what the bank says is believed.
 *
 * No protobuf, no database: plain structs in, plain structs out. Every
 * call blocks (libcurl, with the configured timeouts): call it from a job
 * worker, never from the thread that reads the bus. An acquirer_t is used
 * by one thread at a time; make one per worker.
 */
#ifndef CONVEYOR_PAYMENT_ACQUIRER_H
#define CONVEYOR_PAYMENT_ACQUIRER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/httpcall.h"

#define ACQ_ID_SIZE      80   /* bank ids, our references, event ids */
#define ACQ_CODE_SIZE    64   /* a bank's error code, or ours */
#define ACQ_MESSAGE_SIZE 256  /* a bank's words, cut */
#define ACQ_URL_SIZE     1024 /* a payment page */
#define ACQ_LINES_MAX    100  /* receipt lines one invoice or refund may carry */

typedef enum { ACQ_DONE = 0, ACQ_REJECTED, ACQ_TRANSIENT, ACQ_UNKNOWN } acq_result_t;

/* What went wrong, for the log, the job's error and a dead letter. code is
 * the bank's (Sberbank's errorCode "1", "5", "7"; YooKassa's
 * "invalid_request", "too_many_requests") or ours when the bank said
 * nothing usable: "timeout", "connect", "http_<status>", "bad_reply",
 * "bad_checksum", "no_checksum", "mismatch", "bad_request". */
typedef struct {
    char code[ACQ_CODE_SIZE];
    char message[ACQ_MESSAGE_SIZE];
    char parameter[ACQ_CODE_SIZE]; /* YooKassa's "parameter" when it names one */
    int http_status;               /* 0 when no answer came */
    int64_t retry_after_ms;        /* the bank's hint (429, 202), 0 if none */
} acq_error_t;

/* 54-FZ (F38): what a receipt line says besides its name, quantity and
 * price. Each adapter maps these to its bank's numbers or words. */
typedef enum {
    ACQ_VAT_NONE = 0, /* без НДС */
    ACQ_VAT_0,
    ACQ_VAT_10,
    ACQ_VAT_20,
    ACQ_VAT_10_110, /* the calculated rates, for prepayments */
    ACQ_VAT_20_120,
} acq_vat_t;

typedef enum { /* предмет расчёта */
               ACQ_SUBJECT_COMMODITY = 0,
               ACQ_SUBJECT_EXCISE,
               ACQ_SUBJECT_JOB,
               ACQ_SUBJECT_SERVICE,
               ACQ_SUBJECT_PAYMENT,
               ACQ_SUBJECT_ANOTHER,
} acq_subject_t;

typedef enum { /* способ расчёта */
               ACQ_METHOD_FULL_PREPAYMENT = 0,
               ACQ_METHOD_PREPAYMENT,
               ACQ_METHOD_ADVANCE,
               ACQ_METHOD_FULL_PAYMENT,
               ACQ_METHOD_PARTIAL_PAYMENT,
               ACQ_METHOD_CREDIT,
               ACQ_METHOD_CREDIT_PAYMENT,
} acq_method_t;

typedef struct {
    const char *name;    /* up to 128 characters (the banks' limit) */
    const char *sku;     /* optional: Sberbank's itemCode (the position id otherwise) */
    int64_t quantity;    /* whole units */
    int64_t price_minor; /* per unit, kopecks */
    acq_vat_t vat;
    acq_subject_t subject;
    acq_method_t method;
} acq_line_t;

/* The receipt: its lines sum to the amount they go with (quantity ×
 * price), and the customer gets it by email or phone (one at least). */
typedef struct {
    const acq_line_t *lines;
    size_t line_count;
    const char *email;
    const char *phone; /* +79991234567 or 79991234567 */
} acq_receipt_t;

typedef struct {
    const char *reference;    /* ours, unique per attempt: Sberbank's orderNumber, YooKassa's key */
    int64_t amount_minor;     /* > 0 */
    const char *currency;     /* "RUB" (the only one both take here) */
    const char *description;  /* shown to the customer; up to 128 characters */
    const char *return_url;   /* where the payment page sends the customer back */
    const char *fail_url;     /* Sberbank only; NULL: return_url */
    const char *callback_url; /* Sberbank's dynamicCallbackUrl; NULL: the shop's setting */
    int64_t expires_in_s;     /* Sberbank's sessionTimeoutSecs; 0: the bank's default */
    bool hold;                /* two stages: authorise now, capture (or cancel) later */
    acq_receipt_t receipt;
} acq_invoice_t;

typedef struct {
    char bank_id[ACQ_ID_SIZE];      /* Sberbank's orderId (mdOrder), YooKassa's payment id */
    char payment_url[ACQ_URL_SIZE]; /* formUrl / confirmation_url: for the customer */
} acq_registration_t;

/* The payment's state, the same words for both banks. */
typedef enum {
    ACQ_STATE_PENDING = 0, /* registered, not paid yet (Sberbank 0 and 5, YooKassa pending) */
    ACQ_STATE_HELD,        /* authorised, waiting for capture (Sberbank 1) */
    ACQ_STATE_PAID,        /* money taken (Sberbank 2, YooKassa succeeded) */
    ACQ_STATE_DECLINED,    /* the customer's payment failed or expired (Sberbank 6) */
    ACQ_STATE_VOIDED,      /* cancelled or reversed by the shop (Sberbank 3) */
    ACQ_STATE_REFUNDED,    /* paid, then refunded in full (Sberbank 4) */
} acq_state_t;

/* Which payment: our reference, the bank's id, or both. */
typedef struct {
    const char *reference; /* Sberbank: orderNumber (used when bank_id is NULL) */
    const char *bank_id;   /* required by YooKassa */
} acq_ref_t;

typedef struct {
    char bank_id[ACQ_ID_SIZE];
    char reference[ACQ_ID_SIZE]; /* ours, as the bank keeps it */
    acq_state_t state;
    char bank_status[32];          /* the bank's own word: "2", "succeeded" */
    int64_t amount_minor;          /* invoiced */
    int64_t paid_minor;            /* taken (deposited / captured) */
    int64_t refunded_minor;        /* given back so far */
    char reason[ACQ_MESSAGE_SIZE]; /* why declined: actionCodeDescription, cancellation reason */
} acq_payment_t;

typedef struct {
    const char *reference; /* ours: YooKassa's key; Sberbank keeps none (acquirer.h top) */
    const char *bank_id;   /* the payment's */
    int64_t amount_minor;  /* > 0, at most what was paid and not refunded */
    const char *currency;  /* "RUB" */
    acq_receipt_t receipt; /* the lines given back (F38) */
} acq_refund_t;

typedef struct {
    char refund_id[ACQ_ID_SIZE]; /* YooKassa's refund id; Sberbank: empty */
    bool succeeded;              /* false: pending at the bank (YooKassa), a webhook follows */
} acq_refund_result_t;

/* A refund the bank answered "pending", as it stands now. */
typedef enum {
    ACQ_REFUND_PENDING = 0, /* still being done: ask again later */
    ACQ_REFUND_SUCCEEDED,   /* the money went back */
    ACQ_REFUND_CANCELED,    /* the bank gave up on it: nothing went back */
} acq_refund_state_t;

typedef struct {
    acq_refund_state_t state;
    char payment_id[ACQ_ID_SIZE];  /* the payment it gives back from */
    int64_t amount_minor;          /* as the bank has it */
    char reason[ACQ_MESSAGE_SIZE]; /* canceled: cancellation_details.reason */
} acq_refund_status_t;

/* A notification as the HTTP route received it. */
typedef struct {
    const char *query; /* the raw query string after '?' (Sberbank's GET), or NULL */
    const char *body;  /* the body (YooKassa's JSON, Sberbank's url-encoded POST), or NULL */
    size_t body_len;
} acq_notice_in_t;

typedef enum { ACQ_NOTICE_PAYMENT = 0, ACQ_NOTICE_REFUND } acq_notice_kind_t;

/* What a believed notification means. event_id is stable for the same
 * news however often it comes (store it before answering, apply once). */
typedef struct {
    acq_notice_kind_t kind;
    char event_id[2 * ACQ_ID_SIZE];
    char operation[48];          /* Sberbank's operation, YooKassa's event */
    bool success;                /* Sberbank's status=1; YooKassa: always true */
    char bank_id[ACQ_ID_SIZE];   /* the payment's */
    char reference[ACQ_ID_SIZE]; /* ours (orderNumber / metadata) */
    int64_t amount_minor;        /* the amount the notification is about; -1 if not said */
    char refund_id[ACQ_ID_SIZE]; /* YooKassa refund.succeeded */
    acq_payment_t payment;       /* YooKassa: the state fetched from the bank; Sberbank: unset */
    bool payment_fetched;
} acq_notice_t;

typedef enum { ACQ_SBERBANK = 0, ACQ_YOOKASSA } acq_provider_t;

typedef struct {
    acq_provider_t provider;
    const char *base_url;     /* "https://securepayments.sberbank.ru", "https://api.yookassa.ru" */
    const char *login;        /* Sberbank's userName, YooKassa's shopId */
    const char *password;     /* Sberbank's password, YooKassa's secret key */
    const char *callback_key; /* Sberbank's checksum key; unused by YooKassa */
    long connect_timeout_ms;  /* 0: 3000 */
    long timeout_ms;          /* the whole call; 0: 15000 */
} acquirer_config_t;

typedef struct acquirer acquirer_t;

/* Caller owns the result (acquirer_destroy). NULL if the configuration is
 * incomplete (logged) or out of memory. Strings are copied. */
acquirer_t *acquirer_new(const acquirer_config_t *config);
void acquirer_destroy(acquirer_t **self_p);

/* "sberbank" or "yookassa". */
const char *acquirer_name(const acquirer_t *self);

/* Whether registering the same invoice again under the same reference
 * answers the first registration (YooKassa, for 24 h) instead of refusing
 * it (Sberbank's errorCode "1"). */
bool acquirer_register_replays(const acquirer_t *self);

/* Registers the invoice and its receipt: the bank's id and the page the
 * customer pays on. A receipt that does not sum to the amount, or a line
 * without a name, is refused here (ACQ_REJECTED, "bad_request") before
 * anything is sent. */
acq_result_t acquirer_register(acquirer_t *self, const acq_invoice_t *invoice,
                               acq_registration_t *out, acq_error_t *err);

/* A registration in two halves, so that a batch of them goes to the bank
 * at once (common/httpcall.h httpcall_perform_many) on one thread:
 * acquirer_register_prepare checks the invoice and builds the request (a
 * refusal here is ACQ_REJECTED, as acquirer_register's; *call_out is NULL
 * unless ACQ_DONE), acq_call_request gives it to perform, and
 * acquirer_register_read reads the response exactly as acquirer_register
 * would have. The call owns everything its request points at. */
typedef struct acq_call acq_call_t;
acq_result_t acquirer_register_prepare(acquirer_t *self, const acq_invoice_t *invoice,
                                       acq_call_t **call_out, acq_error_t *err);
const httpcall_request_t *acq_call_request(const acq_call_t *call);
acq_result_t acquirer_register_read(const acquirer_t *self, const httpcall_response_t *response,
                                    acq_registration_t *out, acq_error_t *err);
void acq_call_destroy(acq_call_t **call_p);

/* The payment as the bank sees it now. A payment the bank does not know
 * is ACQ_REJECTED with code "not_found". */
acq_result_t acquirer_status(acquirer_t *self, const acq_ref_t *ref, acq_payment_t *out,
                             acq_error_t *err);

/* Takes amount_minor (at most the held amount) of a held payment
 * (Sberbank deposit.do, YooKassa capture). reference is YooKassa's key. */
acq_result_t acquirer_capture(acquirer_t *self, const acq_ref_t *ref, const char *reference,
                              int64_t amount_minor, acq_error_t *err);

/* Voids a payment: Sberbank's reverse.do (a held or paid order, the money
 * goes back whole), YooKassa's cancel (a held payment only; a paid one is
 * refunded instead). reference is YooKassa's key. */
acq_result_t acquirer_cancel(acquirer_t *self, const acq_ref_t *ref, const char *reference,
                             acq_error_t *err);

/* Makes a registered, unpaid payment unpayable: its link dead (Sberbank's
 * decline.do, by the bank's id or else our reference). YooKassa has no
 * such call (a pending payment expires there by itself): ACQ_REJECTED
 * "unsupported". */
acq_result_t acquirer_decline(acquirer_t *self, const acq_ref_t *ref, acq_error_t *err);

/* Gives amount_minor of a paid payment back, with the refund's receipt. */
acq_result_t acquirer_refund(acquirer_t *self, const acq_refund_t *refund, acq_refund_result_t *out,
                             acq_error_t *err);

/* How a refund stands at the bank, by the bank's refund id (YooKassa's
 * GET /v3/refunds/{id}), for a refund it answered "pending". Sberbank's
 * refund.do is never pending: ACQ_REJECTED "unsupported". A refund the
 * bank does not know is ACQ_REJECTED "not_found". */
acq_result_t acquirer_refund_status(acquirer_t *self, const char *refund_id,
                                    acq_refund_status_t *out, acq_error_t *err);

/* Verifies a notification and says what it means. ACQ_DONE: believe it
 * (*out filled). ACQ_REJECTED: refuse it (answer 4xx and change nothing):
 * a bad or missing checksum, a body that does not parse, or a YooKassa
 * webhook the bank's own object contradicts (a spoof). ACQ_TRANSIENT or
 * ACQ_UNKNOWN: the bank could not be asked; answer 5xx so it comes again. */
acq_result_t acquirer_notice_verify(acquirer_t *self, const acq_notice_in_t *in, acq_notice_t *out,
                                    acq_error_t *err);

/* "done", "rejected", "transient", "unknown". */
const char *acq_result_name(acq_result_t result);

/* "pending", "held", "paid", "declined", "voided", "refunded". */
const char *acq_state_name(acq_state_t state);

#endif
