/*
 * payment.c — the payment service's application (payment.h): its own
 * settings, read once at start, and the counters its domain adds to.
 */
#include "services/payment/payment.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "services/payment/notices.h"

static int read_settings(payment_app_t *app)
{
    const config_t *config = service_config(app->svc);
    const char *provider = config_get(config, "PAYMENT_PROVIDER");
    if (!provider || (strcmp(provider, "sberbank") != 0 && strcmp(provider, "yookassa") != 0)) {
        log_error("PAYMENT_PROVIDER must be sberbank or yookassa", LF_ERR("bad_config"),
                  LF_STR("value", provider ? provider : ""));
        return -1;
    }
    snprintf(app->provider, sizeof app->provider, "%s", provider);
    int64_t vat = 0, committers = 0, batch_max = 0, waiting_max = 0;
    if (config_get_int(config, "PAYMENT_NOTICE_COMMITTERS", 1, 32, &committers) != 0 ||
        config_get_int(config, "PAYMENT_NOTICE_BATCH_MAX", 1, 1000, &batch_max) != 0 ||
        config_get_int(config, "PAYMENT_NOTICES_WAITING_MAX", 1, 100000, &waiting_max) != 0)
        return -1;
    app->notice_committers = (unsigned)committers;
    app->notice_batch_max = (size_t)batch_max;
    app->notices_waiting_max = (size_t)waiting_max;
    if (config_get_duration_ms(config, "INVOICE_TTL", &app->invoice_ttl_ms) != 0 ||
        config_get_duration_ms(config, "PAYMENT_RECONCILE_AFTER", &app->reconcile_after_ms) != 0 ||
        config_get_duration_ms(config, "PAYMENT_BANK_TIMEOUT", &app->bank_timeout_ms) != 0 ||
        config_get_int(config, "PAYMENT_DELIVERY_VAT_BP", 0, 2000, &vat) != 0 ||
        config_get_int(config, "PAYMENT_REGISTER_BATCH", 1, JOBS_BATCH_MAX, &app->register_batch) !=
            0 ||
        config_get_int(config, "PAYMENT_DECLINE_REBILLS", 0, 20, &app->decline_rebills) != 0)
        return -1;
    if (app->invoice_ttl_ms < 60000 || app->invoice_ttl_ms > 30LL * 24 * 3600 * 1000 ||
        app->reconcile_after_ms < 1000 || app->bank_timeout_ms < 100 ||
        app->bank_timeout_ms > 120000 || (vat != 0 && vat != 1000 && vat != 2000)) {
        log_error("INVOICE_TTL must be 1m..30d, PAYMENT_RECONCILE_AFTER at least 1s, "
                  "PAYMENT_BANK_TIMEOUT 100ms..2m and PAYMENT_DELIVERY_VAT_BP 0, 1000 or 2000",
                  LF_ERR("bad_config"));
        return -1;
    }
    app->delivery_vat_bp = (uint32_t)vat;
    app->bank_url = config_get(config, "PAYMENT_BANK_URL");
    app->bank_login = config_get(config, "PAYMENT_BANK_LOGIN");
    app->bank_password = config_get(config, "PAYMENT_BANK_PASSWORD");
    app->callback_key = config_get(config, "PAYMENT_CALLBACK_KEY");
    app->return_url = config_get(config, "PAYMENT_RETURN_URL");
    app->callback_url = config_get(config, "PAYMENT_CALLBACK_URL");
    if (!app->bank_url || !app->bank_url[0] || !app->bank_login || !app->bank_login[0] ||
        !app->bank_password || !app->bank_password[0] || !app->return_url || !app->return_url[0]) {
        log_error("the bank is not configured: PAYMENT_BANK_URL, PAYMENT_BANK_LOGIN, "
                  "PAYMENT_BANK_PASSWORD and PAYMENT_RETURN_URL are required",
                  LF_ERR("bad_config"));
        return -1;
    }
    if (pdf_fonts_from_config(config, &app->fonts) != 0)
        return -1;
    if (strcmp(app->provider, "sberbank") == 0 && (!app->callback_key || !app->callback_key[0])) {
        log_error("Sberbank's callbacks cannot be verified without PAYMENT_CALLBACK_KEY",
                  LF_ERR("bad_config"));
        return -1;
    }
    return 0;
}

static void make_metrics(payment_app_t *app)
{
    app->invoices_total = metrics_counter("payment_invoices_total", NULL, "Invoices opened.");
    app->payments_total = metrics_counter("payment_payments_total", NULL,
                                          "Payments recorded (bank, cash collected, manual).");
    app->refunds_total =
        metrics_counter("payment_refunds_total", NULL, "Refunds asked of the bank.");
    app->callbacks_total =
        metrics_counter("payment_callbacks_total", NULL, "Bank callbacks believed and applied.");
    app->callbacks_refused = metrics_counter(
        "payment_callbacks_refused_total", NULL,
        "Bank callbacks refused: a bad or missing signature, a spoof, a body that does not parse.");
}

payment_app_t *payment_app_new(service_t *svc)
{
    payment_app_t *app = calloc(1, sizeof *app);
    if (!app) {
        log_error("no memory for the application", LF_ERR("out_of_memory"));
        return NULL;
    }
    app->svc = svc;
    if (read_settings(app) != 0) {
        free(app);
        return NULL;
    }
    make_metrics(app);
    return app;
}

void payment_app_stopping(void *app)
{
    notices_stop(((payment_app_t *)app)->notices);
}

void payment_app_destroy(payment_app_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    notices_destroy(&(*self_p)->notices);
    free(*self_p);
    *self_p = NULL;
}
