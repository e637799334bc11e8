/*
 * order.c — the order service's application: its settings, read once at
 * start from the variables main.c declares (order.h).
 */
#include "services/order/order.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/auth.h"
#include "common/log.h"

/* The settings, or -1 (logged) when one is malformed. */
static int read_settings(const config_t *config, order_app_t *app)
{
    int64_t timeout = 0, task_due = 0, ttl = 0, wait = 0, days = 0, failures = 0, lock = 0,
            refresh = 0, vip = 0, grace = 0, form_bytes = 0, rate_max = 0, rate_window = 0,
            failures_all = 0, claim_bytes = 0, claim_total = 0, claim_count = 0;
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
        config_get_int(config, "INTAKE_FORM_MAX_BYTES", 1024, 1024 * 1024, &form_bytes) != 0 ||
        config_get_int(config, "CLAIM_ATTACHMENT_MAX_BYTES", 1, 64 * 1024 * 1024, &claim_bytes) !=
            0 ||
        config_get_int(config, "CLAIM_ATTACHMENTS_MAX_TOTAL", 1, 1024 * 1024 * 1024,
                       &claim_total) != 0 ||
        config_get_int(config, "CLAIM_ATTACHMENTS_MAX_COUNT", 1, 100, &claim_count) != 0)
        return -1;
    const char *claim_types = config_get(config, "CLAIM_ATTACHMENT_TYPES");
    if (!claim_types || !claim_types[0] || strlen(claim_types) >= sizeof app->claim_types) {
        log_error("CLAIM_ATTACHMENT_TYPES is a list of media types (type/subtype or type/*)",
                  LF_ERR("bad_config"));
        return -1;
    }
    snprintf(app->claim_types, sizeof app->claim_types, "%s", claim_types);
    app->claim_limits = (claims_limits_t){.max_count = (size_t)claim_count,
                                          .max_bytes = (size_t)claim_bytes,
                                          .max_total = (size_t)claim_total};
    if (rate_window <= 0 || lock <= 0) {
        log_error("LOGIN_RATE_WINDOW and LOGIN_LOCK must be longer than nothing",
                  LF_ERR("bad_config"));
        return -1;
    }
    if (form_map_parse(config_get(config, "INTAKE_FORM_FIELDS"), &app->form_map) != 0) {
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
    app->login = (login_policy_t){.rate_max = (int)rate_max,
                                  .rate_window_ms = rate_window,
                                  .max_failures = (int)failures,
                                  .max_failures_all = (int)failures_all,
                                  .lock_ms = lock};
    app->refresh_ttl_ms = refresh;
    app->form_max_bytes = (size_t)form_bytes;
    if (pdf_fonts_from_config(config, &app->fonts) != 0)
        return -1;
    if (auth_password_hash("no such login", app->dummy_hash) != 0) {
        log_error("could not make the dummy password hash", LF_ERR("out_of_memory"));
        return -1;
    }
    return 0;
}

order_app_t *order_app_new(service_t *svc)
{
    order_app_t *app = calloc(1, sizeof *app);
    if (!app) {
        log_error("could not allocate the order service", LF_ERR("out_of_memory"));
        return NULL;
    }
    app->svc = svc;
    if (read_settings(service_config(svc), app) != 0)
        order_app_destroy(&app);
    return app;
}

void order_app_destroy(order_app_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free(*self_p);
    *self_p = NULL;
}

const char *order_stream(const order_app_t *app)
{
    return service_name(app->svc);
}
