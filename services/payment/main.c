/*
 * main.c — the payment service: wiring only (docs/adding-a-service.md).
 * What the service does is described in payment.h; this defines it to the
 * kit, makes its application, registers its handlers, job kinds and
 * routes, and runs until SIGTERM.
 */
#include "common/log.h"
#include "common/service.h"
#include "services/payment/payment.h"
#include "services/payment/store.h"

extern const migration_set_t app_migrations;

static const config_spec_t payment_specs[] = {
    {"PAYMENT_PROVIDER", "sberbank", false, "the store's acquiring bank: sberbank or yookassa"},
    {"PAYMENT_BANK_URL", NULL, false,
     "the bank's API, e.g. https://securepayments.sberbank.ru or https://api.yookassa.ru"},
    {"PAYMENT_BANK_LOGIN", NULL, false, "Sberbank's userName, or YooKassa's shopId"},
    {"PAYMENT_BANK_PASSWORD", NULL, true, "Sberbank's password, or YooKassa's secret key"},
    {"PAYMENT_CALLBACK_KEY", NULL, true, "Sberbank's key for the callbacks' HMAC-SHA256 checksum"},
    {"PAYMENT_RETURN_URL", NULL, false, "where the bank's payment page sends the customer back"},
    {"PAYMENT_CALLBACK_URL", NULL, false,
     "the public URL of /v1/webhooks/sberbank (Sberbank's dynamicCallbackUrl); empty: the "
     "shop's setting at the bank"},
    {"PAYMENT_BANK_TIMEOUT", "15s", false, "one call to the bank, connection included"},
    {"INVOICE_TTL", "24h", false, "how long a payment link lives"},
    {"PAYMENT_REGISTER_BATCH", "16", false,
     "invoices a job worker registers at the bank at once (1..256), their calls made together"},
    {"PAYMENT_DECLINE_REBILLS", "3", false,
     "new payment links opened by themselves for an order whose card the bank declined (0..20); "
     "past them its manager asks for one (POST /v1/orders/{id}/invoices)"},
    {"PAYMENT_RECONCILE_AFTER", "15m", false,
     "ask the bank about an open invoice when its callback has not come by then (then twice as "
     "late each time, at most hourly)"},
    {"PAYMENT_DELIVERY_VAT_BP", "2000", false,
     "VAT of the receipt's delivery line: 0, 1000 or 2000"},
    {"PAYMENT_NOTICE_COMMITTERS", "2", false,
     "threads applying the bank's callbacks in batches, one transaction a batch (1..32)"},
    {"PAYMENT_NOTICE_BATCH_MAX", "128", false,
     "most callbacks applied in one transaction (1..1000)"},
    {"PAYMENT_NOTICES_WAITING_MAX", "2048", false,
     "callbacks waiting for a batch beyond which one is answered 429 with Retry-After"},
    PDF_CONFIG_SPECS,
    CONFIG_SPEC_END,
};

int main(int argc, char **argv)
{
    service_def_t def = {
        .name = "payment",
        .config = payment_specs,
        .migrations = &app_migrations,
        .db_setup = store_setup,
        .requires_auth = true,
    };
    service_t *svc = service_new(&def, argc, argv);
    payment_app_t *app = svc ? payment_app_new(svc) : NULL;
    if (!app || handlers_register(service_inbox(svc), app) != 0 ||
        api_register(service_http(svc), app) != 0 ||
        payment_jobs_register(service_jobs(svc), app) != 0) {
        if (svc)
            log_error("payment could not be wired", LF_ERR("start_failed"));
        payment_app_destroy(&app);
        service_destroy(&svc);
        return 1;
    }
    /* the callbacks' committers stop first, while the relay they wake and
     * the pool they use exist; service_run then stops the HTTP server, the
     * inbox and the jobs */
    service_on_stopping(svc, payment_app_stopping, app);
    int status = service_run(svc);
    payment_app_destroy(&app);
    service_destroy(&svc);
    return status;
}
