/*
 * carrier.h — the shipping service's client of a ShipEngine-style carrier
 * API (../shared/notes/external-apis.md, "ShipEngine v1"; the fake is
 * tests/fakes/carrier).
 *
 * Every call says what became of it in one of five words, so the caller
 * knows whether to retry, settle or give up: done; refused (the carrier
 * said no: a wrong address, no rates, insufficient funds); transient
 * (nothing can have happened: retry, after retry_after_ms if the carrier
 * asked for a pause); unknown (a paid call went out and no answer came:
 * look the result up by our own reference before anything else); not
 * found (a lookup found nothing). Buying a label has no idempotency key
 * at the carrier, so "at most once" is the caller's: persist the shipment
 * first, and before any retry of a purchase call carrier_label_find.
 *
 * Every byte of the carrier's answers is bounded (CARRIER_REPLY_MAX) and
 * copied into fixed fields; a webhook's body is parsed by
 * carrier_webhook_parse, which a fuzz target exercises.
 */
#ifndef CONVEYOR_SHIPPING_CARRIER_H
#define CONVEYOR_SHIPPING_CARRIER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CARRIER_REPLY_MAX   (512 * 1024)
#define CARRIER_ID_SIZE     64
#define CARRIER_URL_SIZE    512
#define CARRIER_TEXT_SIZE   256
#define CARRIER_RATES_MAX   32
#define CARRIER_WEBHOOK_MAX (64 * 1024) /* bytes of a webhook body we read */

typedef enum {
    CARRIER_OK,
    CARRIER_REFUSED,
    CARRIER_TRANSIENT,
    CARRIER_UNKNOWN,
    CARRIER_NOT_FOUND,
} carrier_result_t;

const char *carrier_result_name(carrier_result_t result);

typedef struct {
    char code[48]; /* the carrier's error_code, or ours: timeout, connect, bad_reply */
    char message[CARRIER_TEXT_SIZE];
    int http_status;
    int64_t retry_after_ms; /* a 429's Retry-After */
} carrier_error_t;

typedef struct {
    const char *base_url; /* "https://api.shipengine.com" */
    const char *api_key;
    long connect_timeout_ms;
    long timeout_ms;
} carrier_config_t;

typedef struct {
    char name[128];
    char phone[32];
    char line1[256];
    char line2[128];
    char city[128];
    char region[128];
    char postal_code[16];
    char country[3]; /* ISO 3166-1 alpha-2 */
} carrier_address_t;

typedef enum {
    CARRIER_ADDRESS_VERIFIED,
    CARRIER_ADDRESS_CORRECTED, /* matched differs: a suggestion */
    CARRIER_ADDRESS_WRONG,
} carrier_verdict_t;

typedef struct {
    carrier_verdict_t verdict;
    carrier_address_t matched;       /* CORRECTED: the carrier's suggestion */
    char message[CARRIER_TEXT_SIZE]; /* the first message, if any */
    char detail_code[48];
} carrier_address_check_t;

typedef struct {
    char carrier_id[32];
    char service_code[48];
    int64_t amount_minor;
    int days;
} carrier_rate_t;

typedef struct {
    char shipment_id[CARRIER_ID_SIZE];
    char external_id[CARRIER_ID_SIZE];
    char status[24]; /* pending, label_purchased, cancelled */
} carrier_shipment_t;

typedef struct {
    char label_id[CARRIER_ID_SIZE];
    char shipment_id[CARRIER_ID_SIZE];
    char status[16]; /* completed, voided, ... */
    char tracking_number[40];
    char label_url[CARRIER_URL_SIZE];
    int64_t cost_minor;
} carrier_label_t;

typedef struct {
    char event_id[CARRIER_ID_SIZE]; /* the webhook's; "" when polled */
    char tracking_number[40];
    char status_code[4]; /* UN AC IT DE EX AT NY SP */
    char description[CARRIER_TEXT_SIZE];
    int64_t at_ms; /* when it happened at the carrier; 0 unknown */
} carrier_track_t;

typedef struct {
    char batch_id[CARRIER_ID_SIZE];
    char status[32]; /* open, queued, processing, completed, completed_with_errors, ... */
    int64_t errors;
} carrier_batch_t;

/* Addresses: the carrier's verdict on one address. */
carrier_result_t carrier_address_validate(const carrier_config_t *config,
                                          const carrier_address_t *address,
                                          carrier_address_check_t *out, carrier_error_t *err);

/* Rates for a parcel of weight_g to address from the given carriers.
 * None returned is CARRIER_REFUSED with code "no_rates_returned". */
carrier_result_t carrier_rates(const carrier_config_t *config, const char *const *carrier_ids,
                               size_t carrier_count, const carrier_address_t *to, int64_t weight_g,
                               carrier_rate_t *out, size_t max, size_t *count,
                               carrier_error_t *err);

/* Creates the shipment under our own reference (external_id, unique at
 * the carrier: a second create is refused with
 * "duplicate_external_shipment_id"). */
carrier_result_t carrier_shipment_create(const carrier_config_t *config, const char *external_id,
                                         const char *carrier_id, const char *service_code,
                                         const char *package_code, const carrier_address_t *to,
                                         int64_t weight_g, carrier_shipment_t *out,
                                         carrier_error_t *err);

/* The shipment made under external_id, or CARRIER_NOT_FOUND. */
carrier_result_t carrier_shipment_find(const carrier_config_t *config, const char *external_id,
                                       carrier_shipment_t *out, carrier_error_t *err);

/* Cancels a shipment without a label. */
carrier_result_t carrier_shipment_cancel(const carrier_config_t *config, const char *shipment_id,
                                         carrier_error_t *err);

/* Buys a label (paid): a lost answer is CARRIER_UNKNOWN, settle it with
 * carrier_label_find, never by calling again. */
carrier_result_t carrier_label_buy(const carrier_config_t *config, const char *shipment_id,
                                   carrier_label_t *out, carrier_error_t *err);

/* The shipment's label that is not voided, or CARRIER_NOT_FOUND. */
carrier_result_t carrier_label_find(const carrier_config_t *config, const char *shipment_id,
                                    carrier_label_t *out, carrier_error_t *err);

/* Voids a label: *approved false when it is too late (the carrier has the
 * parcel); message says why. */
carrier_result_t carrier_label_void(const carrier_config_t *config, const char *label_id,
                                    bool *approved, char message[CARRIER_TEXT_SIZE],
                                    carrier_error_t *err);

/* The latest tracking status of a parcel (NY when the carrier does not
 * know it yet). */
carrier_result_t carrier_tracking_get(const carrier_config_t *config, const char *carrier_code,
                                      const char *tracking_number, carrier_track_t *out,
                                      carrier_error_t *err);

/* Subscribes url to tracking webhooks that carry header_name: secret (an
 * existing subscription is updated). */
carrier_result_t carrier_webhook_subscribe(const carrier_config_t *config, const char *url,
                                           const char *header_name, const char *secret,
                                           carrier_error_t *err);

/* Subscribes url to batch webhooks (a carrier batch finished processing),
 * with the same header. */
carrier_result_t carrier_batch_webhook_subscribe(const carrier_config_t *config, const char *url,
                                                 const char *header_name, const char *secret,
                                                 carrier_error_t *err);

/* Parses a batch webhook body ({resource_type API_BATCH, resource_url
 * .../v1/batches/{id}}): 0 with the carrier's batch id; -1 otherwise. It
 * says only "look at this batch": what the batch holds is read from the
 * carrier's API, never from the webhook. */
int carrier_batch_webhook_parse(const char *body, size_t len, char batch_id[CARRIER_ID_SIZE]);

/* Whether a webhook's secret header equals the secret, compared in
 * constant time (NULL header: false). */
bool carrier_webhook_verify(const char *secret, const char *header_value);

/* Parses a tracking webhook body (at most CARRIER_WEBHOOK_MAX bytes):
 * 0 with *out filled; -1 when it is not one (not JSON, not API_TRACK, no
 * tracking number, an unknown status code, a field too long). */
int carrier_webhook_parse(const char *body, size_t len, carrier_track_t *out);

/* Batches: created under our number, changed while open, processed (the
 * carrier buys their labels in the background), read back. */
carrier_result_t carrier_batch_create(const carrier_config_t *config, const char *external_id,
                                      const char *const *shipment_ids, size_t count,
                                      carrier_batch_t *out, carrier_error_t *err);
carrier_result_t carrier_batch_change(const carrier_config_t *config, const char *batch_id,
                                      bool add, const char *const *shipment_ids, size_t count,
                                      carrier_error_t *err);
carrier_result_t carrier_batch_process(const carrier_config_t *config, const char *batch_id,
                                       carrier_error_t *err);
carrier_result_t carrier_batch_get(const carrier_config_t *config, const char *batch_id,
                                   carrier_batch_t *out, carrier_error_t *err);

/* The batch made under our number (external_id), or CARRIER_NOT_FOUND:
 * how a create whose answer was lost is settled. */
carrier_result_t carrier_batch_find(const carrier_config_t *config, const char *external_id,
                                    carrier_batch_t *out, carrier_error_t *err);

/* One shipment a processed batch bought no label for. */
typedef struct {
    char shipment_id[CARRIER_ID_SIZE];
    char code[48];
    char message[CARRIER_TEXT_SIZE];
} carrier_batch_error_t;

/* A processed batch's errors (GET /{id}/errors): at most max kept, *count
 * how many. */
carrier_result_t carrier_batch_errors(const carrier_config_t *config, const char *batch_id,
                                      carrier_batch_error_t *out, size_t max, size_t *count,
                                      carrier_error_t *err);

/* A manifest for labels: the carrier takes the parcels. */
carrier_result_t carrier_manifest_create(const carrier_config_t *config,
                                         const char *const *label_ids, size_t count,
                                         char manifest_id[CARRIER_ID_SIZE],
                                         char href[CARRIER_URL_SIZE], carrier_error_t *err);

/* The manifest that holds any of count labels (GET
 * /v1/manifests?label_ids=a,b,..., a few at a time): a manifest whose
 * answer was lost is found by any label of the batch, not made twice.
 * CARRIER_NOT_FOUND when none of them is in one. */
carrier_result_t carrier_manifest_find(const carrier_config_t *config, const char *const *label_ids,
                                       size_t count, char manifest_id[CARRIER_ID_SIZE],
                                       char href[CARRIER_URL_SIZE], carrier_error_t *err);

#endif
