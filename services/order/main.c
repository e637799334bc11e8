/*
 * main.c — the order service: wiring only (DESIGN.md "One service, inside").
 *
 * The orchestrator of an order's life (issue 3): intake from the bus, HTTP
 * and form webhooks; managers and assignment; the status funnel; tasks and
 * timers; reading and reports. It owns schema `orders`, HTTP :8081 and
 * replay :5561, publishes the `order` stream and consumes `ext` (intake),
 * `inventory`, `payment` and `shipping`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/service.h"
#include "services/order/api.h"
#include "services/order/handlers.h"
#include "services/order/jobs.h"
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
    {"HTTP_TRUSTED_PROXIES", "", false,
     "reverse proxies whose X-Forwarded-For is believed (addresses and CIDR blocks, "
     "comma-separated); empty: the TCP peer is the client"},
    {"REFRESH_TOKEN_TTL", "30d", false, "lifetime of refresh tokens"},
    {"VIP_THRESHOLD_MINOR", "5000000", false,
     "a customer whose delivered orders reach this (kopecks) becomes a VIP"},
    CONFIG_SPEC_END,
};

static int read_config(const config_t *config, order_app_t *app, api_t *api)
{
    int64_t timeout = 0, task_due = 0, ttl = 0, wait = 0, days = 0, failures = 0, lock = 0,
            refresh = 0, vip = 0, grace = 0, form_bytes = 0, rate_max = 0, rate_window = 0,
            failures_all = 0;
    if (config_get_duration_ms(config, "ASSIGN_TIMEOUT", &timeout) != 0 ||
        config_get_duration_ms(config, "NEW_ORDER_TASK_DUE", &task_due) != 0 ||
        config_get_duration_ms(config, "ASSIGN_LOCK_TTL", &ttl) != 0 ||
        config_get_duration_ms(config, "ASSIGN_LOCK_WAIT", &wait) != 0 ||
        config_get_int(config, "REMINDER_BUSINESS_DAYS", 1, 60, &days) != 0 ||
        config_get_int(config, "LOGIN_MAX_FAILURES", 1, 1000, &failures) != 0 ||
        config_get_int(config, "LOGIN_MAX_FAILURES_ALL", 1, 100000, &failures_all) != 0 ||
        config_get_int(config, "LOGIN_RATE_MAX", 1, 100000, &rate_max) != 0 ||
        config_get_duration_ms(config, "LOGIN_RATE_WINDOW", &rate_window) != 0 ||
        config_get_duration_ms(config, "LOGIN_LOCK", &lock) != 0 ||
        config_get_duration_ms(config, "INVOICE_GRACE", &grace) != 0 ||
        config_get_duration_ms(config, "REFRESH_TOKEN_TTL", &refresh) != 0 ||
        config_get_int(config, "VIP_THRESHOLD_MINOR", 0, INT64_MAX, &vip) != 0 ||
        config_get_int(config, "INTAKE_FORM_MAX_BYTES", 1024, 1024 * 1024, &form_bytes) != 0)
        return -1;
    if (rate_window <= 0 || lock <= 0) {
        log_error("LOGIN_RATE_WINDOW and LOGIN_LOCK must be longer than nothing",
                  LF_ERR("bad_config"));
        return -1;
    }
    if (http_proxies_parse(config_get(config, "HTTP_TRUSTED_PROXIES"), &api->proxies) != 0) {
        log_error("HTTP_TRUSTED_PROXIES is not a list of addresses and CIDR blocks",
                  LF_STR("hint", "e.g. 10.0.0.0/8,127.0.0.1,::1"), LF_ERR("bad_config"));
        return -1;
    }
    if (form_map_parse(config_get(config, "INTAKE_FORM_FIELDS"), &api->form_map) != 0) {
        log_error("INTAKE_FORM_FIELDS is not ours=theirs[,ours=theirs...] with known fields",
                  LF_ERR("bad_config"));
        return -1;
    }
    const char *region = config_get(config, "STORE_REGION");
    size_t i = 0;
    for (; region && region[i] && i + 1 < sizeof app->local_region; i++)
        app->local_region[i] =
            (char)(region[i] >= 'A' && region[i] <= 'Z' ? region[i] + 32 : region[i]);
    app->local_region[i] = '\0';
    app->assign_timeout_ms = timeout;
    app->new_order_task_ms = task_due;
    app->assign_lock_ttl_ms = (int)ttl;
    app->assign_lock_wait_ms = (int)wait;
    app->reminder_business_days = (int)days;
    app->vip_threshold_minor = vip;
    app->invoice_grace_ms = grace;
    api->login = (login_policy_t){.rate_max = (int)rate_max,
                                  .rate_window_ms = rate_window,
                                  .max_failures = (int)failures,
                                  .max_failures_all = (int)failures_all,
                                  .lock_ms = lock};
    api->refresh_ttl_ms = refresh;
    api->form_max_bytes = (size_t)form_bytes;
    return auth_password_hash("no such login", api->dummy_hash);
}

int main(int argc, char **argv)
{
    service_def_t def = {
        .name = "order",
        .schema = "orders",
        .http_addr = "0.0.0.0:8081",
        .replay_addr = "tcp://0.0.0.0:5561",
        .config = order_specs,
        .migrations = &app_migrations,
        .db_setup = store_prepare,
        .requires_auth = true,
    };
    service_t *svc = service_new(&def, argc, argv);
    if (!svc)
        return 1;
    order_app_t app = {.svc = svc};
    api_t api = {.app = &app};
    if (read_config(service_config(svc), &app, &api) != 0 ||
        handlers_register(service_inbox(svc), &app) != 0 ||
        order_jobs_register(service_jobs(svc), &app) != 0 ||
        api_register(service_http(svc), &api) != 0) {
        log_error("the order service could not be wired", LF_ERR("start_failed"));
        service_destroy(&svc);
        return 1;
    }
    int status = service_run(svc);
    service_destroy(&svc);
    return status;
}
