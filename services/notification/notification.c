/*
 * notification.c — the notification service's application
 * (notification.h): its own settings, read once at start, and the
 * counters its domain adds to.
 */
#include "services/notification/notification.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/log.h"

static const char *setting(const config_t *config, const char *name)
{
    const char *value = config_get(config, name);
    return value ? value : "";
}

/* STORE_TZ (the process's TZ, set by service.c) must name a zone of
 * tzdata: the quiet hours of SMS are read on its wall clock, summer time
 * included. A name the C library does not find means UTC without a word,
 * and a fixed offset ("UTC+3") knows no summer time: both are refused. */
static int check_store_zone(const config_t *config)
{
    const char *zone = config_get(config, "STORE_TZ");
    if (!zone || !zone[0] || strcmp(zone, "UTC") == 0)
        return 0;
    if (zone[0] == ':')
        zone++;
    bool ok = zone[0] && zone[0] != '/' && strlen(zone) < 128 && !strstr(zone, "..");
    for (const char *p = zone; ok && *p; p++)
        ok = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
             *p == '/' || *p == '_' || *p == '-' || *p == '+';
    const char *dir = getenv("TZDIR");
    if (!dir || !dir[0])
        dir = "/usr/share/zoneinfo";
    char path[512];
    int n = ok ? snprintf(path, sizeof path, "%s/%s", dir, zone) : -1;
    struct stat st;
    if (n > 0 && (size_t)n < sizeof path && stat(path, &st) == 0 && S_ISREG(st.st_mode))
        return 0;
    log_error("STORE_TZ must name a time zone of tzdata (Europe/Moscow, Asia/Yekaterinburg): "
              "the quiet hours of SMS are the store's wall clock, summer time included",
              LF_ERR("bad_config"), LF_STR("value", zone), LF_STR("zoneinfo", dir));
    return -1;
}

static int read_settings(notification_app_t *app)
{
    const config_t *config = service_config(app->svc);
    const char *language = setting(config, "NOTIFY_LANGUAGE");
    if (strlen(language) != 2 || language[0] < 'a' || language[0] > 'z' || language[1] < 'a' ||
        language[1] > 'z') {
        log_error("NOTIFY_LANGUAGE must be two lower-case letters (ru, en)", LF_ERR("bad_config"),
                  LF_STR("value", language));
        return -1;
    }
    snprintf(app->language, sizeof app->language, "%s", language);
    if (check_store_zone(config) != 0)
        return -1;
    const char *quiet = setting(config, "NOTIFY_SMS_QUIET_HOURS");
    if (rules_quiet_parse(quiet, &app->sms_quiet) != 0) {
        log_error("NOTIFY_SMS_QUIET_HOURS must be HH:MM-HH:MM or off", LF_ERR("bad_config"),
                  LF_STR("value", quiet));
        return -1;
    }
    int64_t attempts = 0, batch = 0, ahead = 0;
    if (config_get_int(config, "NOTIFY_MAX_ATTEMPTS", 1, 100, &attempts) != 0 ||
        config_get_int(config, "NOTIFY_SEND_BATCH", 1, JOBS_BATCH_MAX, &batch) != 0 ||
        config_get_int(config, "NOTIFY_HANDED_AHEAD", 1, JOBS_BATCH_MAX, &ahead) != 0 ||
        config_get_duration_ms(config, "NOTIFY_SEND_TIMEOUT", &app->send_timeout_ms) != 0 ||
        config_get_duration_ms(config, "NOTIFY_WAITING_KEEP", &app->waiting_keep_ms) != 0)
        return -1;
    if (app->waiting_keep_ms < 1000) {
        log_error("NOTIFY_WAITING_KEEP must be at least 1s", LF_ERR("bad_config"));
        return -1;
    }
    if (app->send_timeout_ms < 100 || app->send_timeout_ms > 120000) {
        log_error("NOTIFY_SEND_TIMEOUT must be 100ms..2m", LF_ERR("bad_config"));
        return -1;
    }
    app->max_attempts = (int)attempts;
    app->send_batch = (int)batch;
    app->handed_ahead = (int)ahead;
    app->shop_name = setting(config, "NOTIFY_SHOP_NAME");
    app->public_url = setting(config, "NOTIFY_PUBLIC_URL");
    app->optout_key = setting(config, "NOTIFY_OPTOUT_KEY");
    app->staff_chat = setting(config, "NOTIFY_STAFF_CHAT");
    app->smtp_url = setting(config, "NOTIFY_SMTP_URL");
    app->smtp_user = setting(config, "NOTIFY_SMTP_USER");
    app->smtp_password = setting(config, "NOTIFY_SMTP_PASSWORD");
    app->smtp_ca = setting(config, "NOTIFY_SMTP_CA");
    app->mail_from = setting(config, "NOTIFY_MAIL_FROM");
    app->sms_url = setting(config, "NOTIFY_SMS_URL");
    app->sms_api_id = setting(config, "NOTIFY_SMS_API_ID");
    app->sms_from = setting(config, "NOTIFY_SMS_FROM");
    app->telegram_url = setting(config, "NOTIFY_TELEGRAM_URL");
    app->telegram_token = setting(config, "NOTIFY_TELEGRAM_TOKEN");
    app->order_url = setting(config, "NOTIFY_ORDER_URL");
    app->payment_url = setting(config, "NOTIFY_PAYMENT_URL");
    if (strlen(app->optout_key) < 32) {
        log_error("NOTIFY_OPTOUT_KEY must be at least 32 bytes: it signs the opt-out links",
                  LF_ERR("bad_config"));
        return -1;
    }
    if (!app->mail_from[0] || !strchr(app->mail_from, '@')) {
        log_error("NOTIFY_MAIL_FROM must be the address mail is sent from", LF_ERR("bad_config"));
        return -1;
    }
    return 0;
}

static void make_metrics(notification_app_t *app)
{
    app->recorded_total = metrics_counter("notification_recorded_total", NULL,
                                          "Messages rendered and recorded in the delivery log.");
    app->sent_total = metrics_counter("notification_sent_total", NULL, "Messages sent.");
    app->failed_total =
        metrics_counter("notification_failed_total", NULL, "Messages that failed for good.");
    app->unknown_total = metrics_counter("notification_outcome_unknown_total", NULL,
                                         "Messages whose outcome is unknown (reported).");
    app->suppressed_total = metrics_counter("notification_suppressed_total", NULL,
                                            "Messages not sent: the customer opted out.");
    app->dropped_total = metrics_counter(
        "notification_waiting_dropped_total", NULL,
        "Messages heard before their order that waited NOTIFY_WAITING_KEEP in vain: dropped.");
}

notification_app_t *notification_app_new(service_t *svc)
{
    notification_app_t *app = calloc(1, sizeof *app);
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

void notification_app_destroy(notification_app_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free(*self_p);
    *self_p = NULL;
}
