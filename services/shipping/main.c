/*
 * main.c — the shipping service: wiring only (docs/adding-a-service.md).
 * What the service does is described in shipping.h; this defines it to
 * the kit, makes its application, registers its handlers, job kinds and
 * routes, and runs until SIGTERM. Run N of them (`--scale shipping=N`):
 * one applies the bus, every one's job workers call the carrier.
 */
#include "common/log.h"
#include "common/service.h"
#include "services/shipping/shipping.h"
#include "services/shipping/store.h"

extern const migration_set_t app_migrations;

static const config_spec_t shipping_specs[] = {
    {"SHIPPING_CARRIER_URL", "http://127.0.0.1:18095", false,
     "the carrier's ShipEngine-style API, e.g. https://api.shipengine.com"},
    {"SHIPPING_CARRIER_API_KEY", NULL, true, "the carrier's API-Key"},
    {"SHIPPING_CARRIER_TIMEOUT", "15s", false, "one call to the carrier, connection included"},
    {"SHIPPING_WEBHOOK_URL", NULL, false,
     "the public URL of /v1/webhooks/carrier the carrier sends tracking to; empty: polling only"},
    {"SHIPPING_WEBHOOK_HEADER", "X-Conveyor-Secret", false,
     "the header the carrier's webhooks carry the secret in"},
    {"SHIPPING_WEBHOOK_SECRET", NULL, true, "the webhooks' shared secret (16 characters or more)"},
    {"SHIPPING_TRACKING_URL", "https://www.pochta.ru/tracking#{number}", false,
     "the customer's tracking link; {number} is the tracking number"},
    {"SHIPPING_RUSSIAN_POST_URL", NULL, false,
     "Russian Post's tracking (SOAP getOperationHistory), e.g. "
     "https://tracking.russianpost.ru/rtm34; empty: russian_post parcels tracked by the carrier"},
    {"SHIPPING_RUSSIAN_POST_LOGIN", NULL, false, "the login of Russian Post's tracking"},
    {"SHIPPING_RUSSIAN_POST_PASSWORD", NULL, true, "the password of Russian Post's tracking"},
    {"SHIPPING_STORE_TIMEZONE", "Europe/Moscow", false, "the store's date in batch numbers"},
    {"SHIPPING_TRACK_POLL", "30m", false, "how often a parcel's tracking is polled"},
    {"SHIPPING_BATCH_POLL", "500ms", false,
     "the carrier's batch is polled this much later each time (up to 30s; its webhook sooner)"},
    {"SHIPPING_TRACK_GIVE_UP", "60d", false, "stop polling a parcel after this long"},
    PDF_CONFIG_SPECS,
    CONFIG_SPEC_END,
};

int main(int argc, char **argv)
{
    service_def_t def = {
        .name = "shipping",
        .config = shipping_specs,
        .migrations = &app_migrations,
        .db_setup = store_setup,
        .requires_auth = true,
    };
    service_t *svc = service_new(&def, argc, argv);
    shipping_app_t *app = svc ? shipping_app_new(svc) : NULL;
    if (!app || handlers_register(service_inbox(svc), app) != 0 ||
        api_register(service_http(svc), app) != 0 ||
        shipping_jobs_register(service_jobs(svc), app) != 0) {
        if (svc)
            log_error("shipping could not be wired", LF_ERR("start_failed"));
        service_destroy(&svc);
        shipping_app_destroy(&app);
        return 1;
    }
    int status = service_run(svc);
    service_destroy(&svc);
    shipping_app_destroy(&app);
    return status;
}
