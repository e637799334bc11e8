/*
 * main.c — the order service: wiring only (DESIGN.md "One service, inside").
 *
 * The orchestrator of an order's life (issue 3): intake from the bus, HTTP
 * and form webhooks; managers and assignment; the status funnel; tasks and
 * timers; reading and reports. It owns schema `orders`, HTTP :8081 and
 * replay :5561, publishes the `order` stream and consumes `ext` (intake),
 * `inventory`, `payment` and `shipping`. The parts are listed in order.h.
 */
#include "common/log.h"
#include "common/service.h"
#include "services/order/order.h"
#include "services/order/store.h"

extern const migration_set_t app_migrations;

static const config_spec_t order_specs[] = {
    {"STORE_REGION", "moscow", false,
     "the store's own region: local courier orders there may be paid on delivery"},
    {"ASSIGN_TIMEOUT", "15m", false, "an order its manager has not taken up is reassigned after"},
    {"NEW_ORDER_TASK_DUE", "30m", false, "the new-order task is due this long after assignment"},
    {"ASSIGN_LOCK_TTL", "10s", false, "the assignment lock's lifetime in Redis"},
    {"ASSIGN_LOCK_WAIT", "3s", false, "how long to wait for the assignment lock"},
    {"REMINDER_BUSINESS_DAYS", "3", false,
     "unpaid invoices and undelivered parcels are checked after this many business days"},
    {"INTAKE_FORM_FIELDS", "", false,
     "form field names: name=Name,phone=Phone,email=Email,address=Address,city=City,..."},
    {"INTAKE_FORM_MAX_BYTES", "262144", false,
     "the form webhook's body limit in bytes (413 beyond, before it is read)"},
    {"INVOICE_GRACE", "24h", false,
     "an unpaid order cancels itself this long after its invoice expired"},
    {"LOGIN_RATE_MAX", "20", false,
     "login attempts a client (an address; an IPv6 /64) may make within LOGIN_RATE_WINDOW, "
     "checked before any password is hashed (then 429 with Retry-After)"},
    {"LOGIN_RATE_WINDOW", "1m", false, "the window of LOGIN_RATE_MAX"},
    {"LOGIN_MAX_FAILURES", "5", false,
     "failed logins from one client before that client is locked out of that login"},
    {"LOGIN_MAX_FAILURES_ALL", "50", false,
     "failed logins from all clients together before the login is locked for everyone"},
    {"LOGIN_LOCK", "15m", false,
     "how long a lock lasts, and the window failed logins are counted in"},
    {"REFRESH_TOKEN_TTL", "30d", false, "lifetime of refresh tokens"},
    {"VIP_THRESHOLD_MINOR", "5000000", false,
     "a customer whose delivered orders reach this (kopecks) becomes a VIP"},
    {"CLAIM_ATTACHMENT_MAX_BYTES", "262144", false,
     "one claim attachment, in bytes: an upload past it is refused 413 before it is read "
     "(HTTP_BODY_LIMIT still bounds every body)"},
    {"CLAIM_ATTACHMENTS_MAX_TOTAL", "655360", false,
     "all the attachments of one claim together, in bytes (413 beyond)"},
    {"CLAIM_ATTACHMENTS_MAX_COUNT", "5", false, "attachments one claim may have"},
    {"CLAIM_ATTACHMENT_TYPES", "image/jpeg,image/png,image/webp,image/heic,application/pdf", false,
     "the media types a claim attachment may be uploaded as (type/subtype, or type/* for a "
     "whole type), 415 otherwise"},
    PDF_CONFIG_SPECS,
    CONFIG_SPEC_END,
};

int main(int argc, char **argv)
{
    service_def_t def = {
        .name = "order", /* schema and ports: its row in deploy/services.tsv */
        .config = order_specs,
        .migrations = &app_migrations,
        .db_setup = store_setup,
        .requires_auth = true,
    };
    service_t *svc = service_new(&def, argc, argv);
    order_app_t *app = svc ? order_app_new(svc) : NULL;
    if (!app || handlers_register(service_inbox(svc), app) != 0 ||
        api_register(service_http(svc), app) != 0 ||
        order_jobs_register(service_jobs(svc), app) != 0) {
        if (svc)
            log_error("the order service could not be wired", LF_ERR("start_failed"));
        order_app_destroy(&app);
        service_destroy(&svc);
        return 1;
    }
    int status = service_run(svc);
    order_app_destroy(&app);
    service_destroy(&svc);
    return status;
}
