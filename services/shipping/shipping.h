/*
 * shipping.h — the shipping service's application: its settings, its
 * counters, and the register functions main.c wires up
 * (docs/adding-a-service.md).
 *
 * The service (DOMAIN.md F22-F29) quotes every reserved order (the
 * address checked at the carrier, the parcel's weight, carrier, service
 * and package by the weight rules, the carrier's cost), creates the
 * carrier's shipment and buys its label once the order is assembled
 * (at most once per shipment, looked up by our own reference before any
 * retry), voids it when the order is cancelled, follows the parcel by
 * webhooks and polling, takes a city courier's reports by hand, keeps
 * the warehouse's list and the batches, and says so on its own stream
 * (shipment.*). It runs as N replicas: one applies the bus, every
 * replica's job workers buy labels and poll. The files:
 *
 *   main.c        wiring only
 *   shipping.c    the application: settings and counters
 *   handlers.c    the one table of consumed topics: wire messages -> plain structs
 *   api.c         routes: the carrier's webhook, quotes overridden, the courier's
 *                 reports, the warehouse list, batches, a shipment
 *   jobs.c        the carrier calls: quote, label, void, track, batch, subscribe
 *   events.c      plain structs -> the shipping stream's messages
 *   store.c       every SQL statement
 *   shipments.c   the domain, in the caller's transaction
 *   rules.c       pure rules: weight rules, tracking ranks, batch numbers
 *   documents.c   the packing slip, the sticker and the manifest as PDF
 *   adapters/     the carrier's API (carrier.h) and its fake in tests/fakes/carrier
 */
#ifndef SHIPPING_SHIPPING_H
#define SHIPPING_SHIPPING_H

#include <stdint.h>

#include "common/http.h"
#include "common/inbox.h"
#include "common/jobs.h"
#include "common/metrics.h"
#include "common/pdf.h"
#include "common/service.h"
#include "services/shipping/adapters/carrier.h"
#include "services/shipping/adapters/russianpost.h"

typedef struct {
    service_t *svc;
    carrier_config_t carrier;         /* SHIPPING_CARRIER_URL, _API_KEY, _TIMEOUT */
    russianpost_config_t russianpost; /* SHIPPING_RUSSIAN_POST_URL ("" unused), _LOGIN, _PASSWORD */
    const char *webhook_url;          /* SHIPPING_WEBHOOK_URL: our public webhook; "" none */
    const char *webhook_header;       /* SHIPPING_WEBHOOK_HEADER */
    const char *webhook_secret;       /* SHIPPING_WEBHOOK_SECRET */
    const char *tracking_url;         /* SHIPPING_TRACKING_URL: "{number}" replaced */
    const char *timezone;             /* SHIPPING_STORE_TIMEZONE: the date of a batch number */
    int64_t track_poll_ms;            /* SHIPPING_TRACK_POLL */
    int64_t batch_poll_ms;            /* SHIPPING_BATCH_POLL */
    int64_t track_give_up_ms;         /* SHIPPING_TRACK_GIVE_UP: stop polling a parcel after */
    pdf_fonts_t fonts; /* PDF_FONT, PDF_FONT_BOLD: the documents' (checked at start) */

    metrics_counter_t *quotes_total;
    metrics_counter_t *labels_total;     /* labels bought (found after a lost answer included) */
    metrics_counter_t *labels_found;     /* labels found at the carrier instead of bought */
    metrics_counter_t *webhooks_total;   /* webhooks believed */
    metrics_counter_t *webhooks_refused; /* webhooks refused (secret, body) */
    metrics_counter_t *documents_total;  /* PDFs rendered (slips, stickers, manifests) */
} shipping_app_t;

shipping_app_t *shipping_app_new(service_t *svc);
void shipping_app_destroy(shipping_app_t **self_p);

int handlers_register(inbox_t *inbox, shipping_app_t *app);
int api_register(http_server_t *http, shipping_app_t *app);
int shipping_jobs_register(jobs_t *jobs, shipping_app_t *app);

#endif
