/*
 * fakecarrier.h — the fake carrier's shared state (tests/fakes/carrier/).
 *
 * The fake is one real HTTP server that speaks a ShipEngine-style v1 API
 * (shipengine.c: addresses, rates, shipments, labels, batches, manifests,
 * tracking, webhook subscriptions), sends tracking webhooks with the
 * subscriber's secret header (webhooks.c) and takes orders from tests
 * under /_fake/ (control.c): latency, failures, tracking events, what it
 * received and how many labels it sold per shipment. It exists so that
 * the shipping service's adapter is tested against a server that behaves
 * like a carrier, failures included, and so that `make run` has a carrier.
 *
 * Everything lives in memory under one mutex; every collection is capped.
 */
#ifndef CONVEYOR_FAKECARRIER_H
#define CONVEYOR_FAKECARRIER_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/http.h"

#define FC_OBJECTS_MAX  20000 /* shipments, labels, batches each */
#define FC_REQUESTS_MAX 2000  /* the request log keeps the latest */
#define FC_WEBHOOKS_MAX 4096  /* webhook deliveries kept */
#define FC_FAULTS_MAX   64
#define FC_EVENTS_MAX   16 /* tracking events of one label */
#define FC_BATCH_MAX    500
#define FC_ID_SIZE      48
#define FC_TEXT_SIZE    256

typedef struct {
    char *api_key;      /* the API-Key header every call must carry */
    char *public_url;   /* where label and manifest downloads point */
    int64_t latency_ms; /* how long every API call takes (the bench's 200 ms) */
    int64_t threads;    /* calls answered at once */
    int64_t batch_ms;   /* how long a batch takes to process */
    int64_t webhook_retry_ms;
    int64_t webhook_attempts;
} fc_config_t;

/* A failure armed by a test: the next count calls of op answer so. */
typedef struct {
    char op[32];   /* "labels.create", "rates", ... or "*" */
    char kind[24]; /* "http", "lose_reply", "no_rates", "completed_with_errors",
                      "insufficient_funds" */
    int http_status;
    int64_t retry_after_s; /* http 429: the Retry-After header */
    bool apply;            /* http, lose_reply: do the operation first */
    int64_t delay_ms;      /* lose_reply: how long the reply is held */
    int skip;              /* calls of op let through before the fault applies */
    int count;
} fc_fault_t;

typedef struct {
    char event_id[FC_ID_SIZE];
    char status_code[4]; /* UN AC IT DE EX AT NY SP */
    char description[FC_TEXT_SIZE];
    int64_t at_ms;
} fc_event_t;

typedef struct {
    char id[FC_ID_SIZE];
    char external_id[FC_ID_SIZE];
    char carrier_id[32];
    char service_code[48];
    char package_code[32];
    json_t *ship_to;
    int64_t weight_g;
    char status[24];   /* pending, label_purchased, cancelled */
    int labels_bought; /* every purchase, voided ones included */
    int64_t created_ms;
} fc_shipment_t;

typedef struct {
    char id[FC_ID_SIZE];
    char shipment_id[FC_ID_SIZE];
    char external_id[FC_ID_SIZE];
    char carrier_id[32];
    char service_code[48];
    char tracking_number[32];
    char status[16]; /* completed, voided */
    int64_t cost_minor;
    bool manifested;
    fc_event_t events[FC_EVENTS_MAX];
    size_t event_count;
    int64_t created_ms;
} fc_label_t;

typedef struct {
    char id[FC_ID_SIZE];
    char external_id[FC_ID_SIZE];
    char status[24]; /* open, processing, completed, completed_with_errors */
    char (*shipment_ids)[FC_ID_SIZE];
    size_t count;
    json_t *errors; /* [{shipment_id, error_code, message}] */
    bool fail_one;  /* completed_with_errors armed at process time */
    int64_t due_ms; /* processing ends (monotonic) */
} fc_batch_t;

typedef struct {
    int64_t seq;
    char op[32];
    char method[8];
    char *path;
    char *body;
    int status;
    int64_t at_ms;
} fc_request_t;

typedef struct {
    int64_t seq;
    char *url;
    char *body;
    char header_name[64];
    char header_value[FC_TEXT_SIZE];
    int attempts;
    int last_status;
    bool done;
    int64_t next_ms;
} fc_webhook_t;

typedef struct {
    fc_config_t config;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t worker; /* webhooks and batches */
    bool worker_running;
    bool stopping;

    fc_fault_t faults[FC_FAULTS_MAX];
    char webhook_fault[24]; /* "duplicate", "reorder", "drop": the next webhook */
    int webhook_fault_count;

    /* the track subscription (POST /v1/environment/webhooks, event "track") */
    char track_url[1024];
    char track_header_name[64];
    char track_header_value[FC_TEXT_SIZE];
    char batch_url[1024];

    fc_shipment_t **shipments;
    size_t shipment_count;
    fc_label_t **labels;
    size_t label_count;
    fc_batch_t **batches;
    size_t batch_count;
    int64_t tracking_seq;
    int64_t event_seq;
    int64_t manifest_seq;
    json_t *manifests; /* every manifest made, as answered: GET /v1/manifests lists them */

    fc_request_t requests[FC_REQUESTS_MAX];
    int64_t request_seq;
    fc_webhook_t webhooks[FC_WEBHOOKS_MAX];
    size_t webhook_count;
    int64_t webhook_seq;
    fc_webhook_t held; /* "reorder": a webhook held until the next one is sent */
    bool holding;
} fc_t;

/* --- state (fakecarrier.c); "locked": the caller holds fake->lock ------------- */
fc_request_t *fc_record(fc_t *fake, const char *op, const http_request_t *req);
bool fc_fault_take(fc_t *fake, const char *op, fc_fault_t *out);
void fc_reset(fc_t *fake);
/* sleeps ms (a held answer, the latency), less once fc_pause_end was called */
void fc_pause_ms(int64_t ms);
void fc_pause_end(void); /* ends every pause, now and later: the fake is stopping */
void fc_new_id(const char *prefix, char out[FC_ID_SIZE]);
void fc_time_text(int64_t unix_ms, char *out, size_t size);

fc_shipment_t *fc_shipment_find(fc_t *fake, const char *id);
fc_shipment_t *fc_shipment_by_external(fc_t *fake, const char *external_id);
fc_label_t *fc_label_find(fc_t *fake, const char *id);
fc_label_t *fc_label_by_tracking(fc_t *fake, const char *tracking_number);
fc_batch_t *fc_batch_find(fc_t *fake, const char *id);

/* Buys a label for shipment (locked): a new label, the shipment's count up.
 * NULL when out of room. */
fc_label_t *fc_label_buy(fc_t *fake, fc_shipment_t *shipment);

/* Appends a tracking event to label and queues the track webhook (locked). */
void fc_track_event(fc_t *fake, fc_label_t *label, const char *status_code,
                    const char *description);

/* JSON of the objects (locked); caller owns them. */
json_t *fc_shipment_json(const fc_shipment_t *shipment);
json_t *fc_label_json(const fc_t *fake, const fc_label_t *label);
json_t *fc_batch_json(const fc_batch_t *batch);
json_t *fc_tracking_json(const fc_label_t *label);

/* --- the API, the control, the worker --------------------------------------- */
int fc_api_routes(http_server_t *server, fc_t *fake);
int fc_control_routes(http_server_t *server, fc_t *fake);
/* POST /rtm34: Russian Post's tracking (russianpost.c). */
int fc_russianpost_routes(http_server_t *server, fc_t *fake);
int fc_worker_start(fc_t *fake);
void fc_worker_stop(fc_t *fake);

/* Queues body (copied) to the track subscriber, with its secret header
 * (locked); applies an armed webhook fault. */
void fc_webhook_queue(fc_t *fake, const char *url, const char *body);

#endif
