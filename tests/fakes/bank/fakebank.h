/*
 * fakebank.h — the fake bank's shared state (tests/fakes/bank/).
 *
 * The fake is one real HTTP server that speaks Sberbank acquiring
 * (sberbank.c) and YooKassa v3 (yookassa.c) over loopback, shows a payment
 * page a person or a test can pay on (page.c), sends callbacks and
 * webhooks like the banks do (notify.c) and takes orders from tests under
 * /_fake/ (control.c): failures to inject, what it received. It exists so
 * that the payment service's adapters are tested against a server that
 * behaves like the banks, failures included, and so that `make run` has a
 * bank to pay at.
 *
 * Everything lives in memory under one mutex; every collection is capped
 * (a fake is still a server: no input grows it without bound).
 */
#ifndef CONVEYOR_FAKEBANK_H
#define CONVEYOR_FAKEBANK_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/http.h"

#define FAKE_OBJECTS_MAX  10000 /* orders, payments, refunds, keys each */
#define FAKE_REQUESTS_MAX 2000  /* the request log keeps the latest */
#define FAKE_NOTICES_MAX  4096  /* notifications kept */
#define FAKE_FAULTS_MAX   64
#define FAKE_RECORD_BODY  16384 /* bytes of a request body kept in the log */
#define FAKE_ID_SIZE      64
#define FAKE_TEXT_SIZE    1024

typedef struct {
    char *public_url; /* where customers and the banks' URLs point */
    char *sber_user;  /* register.do's userName and password */
    char *sber_password;
    char *sber_key;          /* the callback checksum key */
    char *sber_callback_url; /* when an order has no dynamicCallbackUrl */
    char *yoo_shop;          /* Basic shopId:secret */
    char *yoo_secret;
    char *yoo_webhook_url;   /* where webhooks go (the shop's setting) */
    int64_t notify_retry_ms; /* between deliveries of an unanswered notification */
    int64_t notify_attempts; /* deliveries before giving up */
    int64_t idempotence_ttl_ms;
    int64_t lose_reply_ms; /* how long a "lost" reply is held (past the client's timeout) */
    int64_t latency_ms;    /* how long every bank call takes (the bench's 50 ms bank) */
    int64_t threads;       /* HTTP threads: calls answered at once, each held latency_ms */
    bool receipt_required; /* 54-FZ on: a payment without a receipt is refused */
} fake_config_t;

/* A failure armed by a test: the next count calls of op answer so. */
typedef struct {
    char provider[16]; /* "sberbank", "yookassa" */
    char op[32];       /* "register", "status", "payments.create", ... or "*" */
    char kind[24];     /* "lose_reply", "http", "error_code", "processing", "pending" */
    int http_status;   /* kind http */
    bool apply;        /* lose_reply, http: do the operation before failing */
    char error_code[8];
    char error_message[128];
    int64_t delay_ms; /* lose_reply: hold the reply; processing: retry_after */
    int count;
} fake_fault_t;

/* A failure of the next notifications. */
typedef struct {
    char provider[16];
    char kind[24]; /* "duplicate", "delay", "bad_checksum", "no_checksum", "drop" */
    int64_t delay_ms;
    int count;
} fake_notice_fault_t;

typedef struct {
    int64_t seq;
    char provider[16];
    char method[8];
    char *url;  /* GET: with the query */
    char *body; /* POST: the JSON */
    int attempts;
    int last_status; /* 0: never answered */
    bool done;       /* answered 200, given up, or sent once (spoof) */
    bool once;       /* not redelivered */
    char fault[24];
    int64_t next_ms;
} fake_notice_t;

typedef struct {
    int64_t amount;
    json_t *items; /* refundItems as received */
    int64_t at_ms;
} fake_sber_refund_t;

typedef struct {
    char md_order[FAKE_ID_SIZE];
    char order_number[40];
    int64_t amount;
    char description[FAKE_TEXT_SIZE];
    char return_url[FAKE_TEXT_SIZE];
    char fail_url[FAKE_TEXT_SIZE];
    char callback_url[FAKE_TEXT_SIZE];
    json_t *bundle; /* orderBundle as received, or NULL */
    bool preauth;
    int status; /* 0..6 */
    int64_t approved, deposited, refunded;
    int64_t created_ms, expires_ms;
    int action_code;
    fake_sber_refund_t *refunds;
    size_t refund_count;
} fake_sber_order_t;

typedef struct {
    char id[FAKE_ID_SIZE];
    char status[24];
    int64_t amount;
    int64_t refunded;
    bool capture;
    json_t *request; /* the create body as received: receipt, metadata, ... */
    char cancel_party[24];
    char cancel_reason[48];
    int64_t created_ms, captured_ms;
} fake_yoo_payment_t;

typedef struct {
    char id[FAKE_ID_SIZE];
    char payment_id[FAKE_ID_SIZE];
    char status[24];
    int64_t amount;
    json_t *request; /* with its receipt */
    int64_t created_ms;
    char cancel_reason[48]; /* canceled: cancellation_details.reason */
} fake_yoo_refund_t;

typedef struct {
    char key[72];
    char fingerprint[65]; /* sha256 of method, path and body */
    int status;
    char *body;
    int64_t at_ms;
} fake_key_t;

typedef struct {
    int64_t seq;
    char provider[16];
    char op[32];
    char method[8];
    char *path;
    char *body;
    char key[72];
    int status;
    int64_t at_ms;
} fake_request_t;

typedef struct {
    fake_config_t config;
    pthread_mutex_t lock;
    pthread_cond_t wake; /* the notifier: something to send, or stop */
    pthread_t notifier;
    bool notifier_running;
    bool stopping;

    fake_fault_t faults[FAKE_FAULTS_MAX];
    fake_notice_fault_t notice_faults[FAKE_FAULTS_MAX];

    fake_sber_order_t **orders;
    size_t order_count;
    fake_yoo_payment_t **payments;
    size_t payment_count;
    fake_yoo_refund_t **refunds;
    size_t refund_count;
    fake_key_t *keys;
    size_t key_count;

    fake_request_t requests[FAKE_REQUESTS_MAX];
    int64_t request_seq;
    fake_notice_t notices[FAKE_NOTICES_MAX];
    size_t notice_count;
    int64_t notice_seq;
} fake_t;

/* --- state (fakebank.c); every function marked "locked" expects the lock held */

/* Records a request (locked); returns its slot so the status can be set. */
fake_request_t *fake_record(fake_t *fake, const char *provider, const char *op,
                            const http_request_t *req, const char *key);

/* Takes one armed fault for provider/op into *out (locked); false if none. */
bool fake_fault_take(fake_t *fake, const char *provider, const char *op, fake_fault_t *out);

/* Forgets every object, fault, request and notification (locked). */
void fake_reset(fake_t *fake);

/* Sleeps ms milliseconds (a reply held back, or the bank's latency), less
 * once fake_pause_end was called; call it without the lock. */
void fake_pause_ms(int64_t ms);

/* Ends every pause, now and later: the fake is stopping. */
void fake_pause_end(void);

/* A new random id (uuid text). */
void fake_new_id(char out[FAKE_ID_SIZE]);

/* "2026-01-02T03:04:05.678Z" */
void fake_time_text(int64_t unix_ms, char *out, size_t size);

/* --- notifications (notify.c) ---------------------------------------------- */
int fake_notifier_start(fake_t *fake);
void fake_notifier_stop(fake_t *fake);

/* Queues Sberbank's callback for order (locked): a GET to its callback URL
 * with mdOrder, orderNumber, operation, status, amount and the checksum. */
void fake_notify_sber(fake_t *fake, const fake_sber_order_t *order, const char *operation,
                      int status, int64_t amount);

/* Queues YooKassa's webhook (locked): {type, event, object}; takes object. */
void fake_notify_yoo_take(fake_t *fake, const char *event, json_t *object);

/* Queues one webhook to url that no bank sent (locked): sent once. */
void fake_notify_spoof_take(fake_t *fake, const char *url, json_t *body);

/* Sberbank's checksum of a query string (without checksum): upper-case hex. */
int fake_sber_checksum(const char *key, const char *query, char out[65]);

/* --- the banks ---------------------------------------------------------------- */
int fake_sber_routes(http_server_t *server, fake_t *fake);
int fake_yoo_routes(http_server_t *server, fake_t *fake);
int fake_page_routes(http_server_t *server, fake_t *fake);
int fake_control_routes(http_server_t *server, fake_t *fake);

/* Lookups (locked); NULL when unknown. */
fake_sber_order_t *fake_sber_find(fake_t *fake, const char *md_order, const char *order_number);
fake_yoo_payment_t *fake_yoo_find(fake_t *fake, const char *id);
fake_yoo_refund_t *fake_yoo_refund_find(fake_t *fake, const char *id);

/* The customer pays (amount: 0 for all, less for a part) or declines
 * (locked). 0 done, -1 when the order is not waiting for payment. */
int fake_sber_pay(fake_t *fake, fake_sber_order_t *order, bool pay, int64_t amount);
int fake_yoo_pay(fake_t *fake, fake_yoo_payment_t *payment, bool pay, int64_t amount);

/* Expires an order whose session ran out (locked). */
void fake_sber_touch(fake_t *fake, fake_sber_order_t *order);

/* The objects as JSON, receipts included (locked); caller owns them. */
json_t *fake_sber_order_json(const fake_sber_order_t *order);
json_t *fake_yoo_payment_json(const fake_t *fake, const fake_yoo_payment_t *payment);
json_t *fake_yoo_refund_json(const fake_yoo_refund_t *refund);
/* Settles a pending refund (under the lock): "succeeded" (the webhook is
 * sent) or "canceled" with reason (the money stays with the customer's
 * payment: what it reserved is released). 0, or -1 when it is not pending
 * or status is neither. */
int fake_yoo_refund_settle(fake_t *fake, fake_yoo_refund_t *refund, const char *status,
                           const char *reason);

/* --- url-encoded forms (fakebank.c): the fake reads them its own way, not
 * with the adapters' code, so that a bug there cannot hide in both ------- */
#define FAKE_FORM_PAIRS 128
typedef struct {
    char *names[FAKE_FORM_PAIRS];
    char *values[FAKE_FORM_PAIRS];
    size_t count;
} fake_form_t;

/* 0 ok; -1 on a malformed escape, too many pairs, or out of memory. */
int fake_form_parse(const char *text, size_t len, fake_form_t *form);
void fake_form_release(fake_form_t *form);
const char *fake_form_get(const fake_form_t *form, const char *name);

/* Appends text %-encoded to out (capped); -1 when it does not fit. */
int fake_url_encode(char *out, size_t size, size_t *len, const char *text);

#endif
