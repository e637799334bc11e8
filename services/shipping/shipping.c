/*
 * shipping.c — the shipping service's application: settings read once
 * at start, counters made once (shipping.h).
 */
#include "services/shipping/shipping.h"

#include <stdlib.h>
#include <string.h>

#include "common/log.h"

static const char *setting(const config_t *cfg, const char *name)
{
    const char *value = config_get(cfg, name);
    return value ? value : "";
}

static int read_settings(shipping_app_t *app)
{
    const config_t *cfg = service_config(app->svc);
    int64_t timeout_ms = 0;
    if (config_get_duration_ms(cfg, "SHIPPING_CARRIER_TIMEOUT", &timeout_ms) != 0 ||
        config_get_duration_ms(cfg, "SHIPPING_TRACK_POLL", &app->track_poll_ms) != 0 ||
        config_get_duration_ms(cfg, "SHIPPING_BATCH_POLL", &app->batch_poll_ms) != 0 ||
        config_get_duration_ms(cfg, "SHIPPING_TRACK_GIVE_UP", &app->track_give_up_ms) != 0)
        return -1;
    app->carrier = (carrier_config_t){
        .base_url = setting(cfg, "SHIPPING_CARRIER_URL"),
        .api_key = setting(cfg, "SHIPPING_CARRIER_API_KEY"),
        .connect_timeout_ms = 3000,
        .timeout_ms = (long)timeout_ms,
    };
    app->russianpost = (russianpost_config_t){
        .url = setting(cfg, "SHIPPING_RUSSIAN_POST_URL"),
        .login = setting(cfg, "SHIPPING_RUSSIAN_POST_LOGIN"),
        .password = setting(cfg, "SHIPPING_RUSSIAN_POST_PASSWORD"),
        .connect_timeout_ms = 3000,
        .timeout_ms = (long)timeout_ms,
    };
    app->webhook_url = setting(cfg, "SHIPPING_WEBHOOK_URL");
    app->webhook_header = setting(cfg, "SHIPPING_WEBHOOK_HEADER");
    app->webhook_secret = setting(cfg, "SHIPPING_WEBHOOK_SECRET");
    app->tracking_url = setting(cfg, "SHIPPING_TRACKING_URL");
    app->timezone = setting(cfg, "SHIPPING_STORE_TIMEZONE");
    if (!app->carrier.base_url[0] || app->track_poll_ms < 1000 || timeout_ms < 100 ||
        app->batch_poll_ms < 100) {
        log_error("shipping is not configured", LF_ERR("config_invalid"),
                  LF_STR("need", "SHIPPING_CARRIER_URL, a poll of 1s or more, a batch poll of "
                                 "100ms or more, a timeout"));
        return -1;
    }
    if (pdf_fonts_from_config(cfg, &app->fonts) != 0)
        return -1;
    if (app->webhook_url[0] && strlen(app->webhook_secret) < 16) {
        log_error("a webhook needs a secret of 16 characters or more", LF_ERR("config_invalid"),
                  LF_STR("setting", "SHIPPING_WEBHOOK_SECRET"));
        return -1;
    }
    return 0;
}

shipping_app_t *shipping_app_new(service_t *svc)
{
    shipping_app_t *app = calloc(1, sizeof *app);
    if (!app) {
        log_error("no memory for the application", LF_ERR("out_of_memory"));
        return NULL;
    }
    app->svc = svc;
    if (read_settings(app) != 0) {
        free(app);
        return NULL;
    }
    app->quotes_total = metrics_counter("shipping_quotes_total", NULL, "parcels quoted");
    app->labels_total = metrics_counter("shipping_labels_total", NULL, "labels recorded");
    app->labels_found =
        metrics_counter("shipping_labels_found_total", NULL,
                        "labels found at the carrier after a lost answer, not bought again");
    app->webhooks_total = metrics_counter("shipping_webhooks_total", NULL, "webhooks believed");
    app->webhooks_refused =
        metrics_counter("shipping_webhooks_refused_total", NULL, "webhooks refused");
    app->documents_total = metrics_counter("shipping_documents_total", NULL,
                                           "packing slips, stickers and manifests rendered");
    return app;
}

void shipping_app_destroy(shipping_app_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free(*self_p);
    *self_p = NULL;
}
