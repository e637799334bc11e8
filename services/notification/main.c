/*
 * main.c — the notification service: wiring only (docs/adding-a-service.md).
 * What the service does is described in notification.h; this defines it to
 * the kit, makes its application, registers its handlers, job kind and
 * routes, and runs until SIGTERM.
 */
#include "common/log.h"
#include "common/service.h"
#include "services/notification/notification.h"
#include "services/notification/store.h"

extern const migration_set_t app_migrations;

static const config_spec_t notification_specs[] = {
    {"NOTIFY_LANGUAGE", "ru", false,
     "the customers' language: ru or en (templates fall back to ru)"},
    {"NOTIFY_SHOP_NAME", "Conveyor", false, "the shop's name: the From name and {{shop_name}}"},
    {"NOTIFY_PUBLIC_URL", "http://127.0.0.1:8084", false,
     "this service as customers reach it: the opt-out link in every email"},
    {"NOTIFY_OPTOUT_KEY", NULL, true, "signs the opt-out links (at least 32 bytes)"},
    {"NOTIFY_SMS_QUIET_HOURS", "21:00-09:00", false,
     "no SMS between these times in STORE_TZ (HH:MM-HH:MM, or off): they wait until the end"},
    {"NOTIFY_MAX_ATTEMPTS", "8", false, "tries of a send that fails for a while (backoff between)"},
    {"NOTIFY_SEND_TIMEOUT", "30s", false, "one call to a provider"},
    {"NOTIFY_WAITING_KEEP", "24h", false,
     "how long a message heard before its order (no address yet) waits for order.placed; "
     "then it is dropped, logged and counted"},
    {"NOTIFY_SEND_BATCH", "16", false,
     "most messages one job worker takes at once and sends one after another (1..256)"},
    {"NOTIFY_HANDED_AHEAD", "8", false,
     "messages of a batch marked handed in one commit, the one about to be handed over and the "
     "next its batch sends (1..256; 1: each alone): a crash reports at most this many minus one "
     "more outcome_unknown"},
    {"NOTIFY_STAFF_CHAT", "", false, "the staff's Telegram chat (managers' and tasks' messages)"},
    {"NOTIFY_MAIL_FROM", "shop@localhost", false, "the address mail is sent from"},
    {"NOTIFY_SMTP_URL", "", false, "smtp://host:587 (STARTTLS required) or smtps://host:465"},
    {"NOTIFY_SMTP_USER", "", false, "SMTP AUTH user; empty: no AUTH"},
    {"NOTIFY_SMTP_PASSWORD", "", true, "SMTP AUTH password"},
    {"NOTIFY_SMTP_CA", "", false, "a CA file to trust for the SMTP server (the fake's)"},
    {"NOTIFY_SMS_URL", "", false, "the SMS gateway, SMS.ru style: https://sms.ru"},
    {"NOTIFY_SMS_API_ID", "", true, "the gateway's api_id"},
    {"NOTIFY_SMS_FROM", "", false, "an approved sender name; empty: the account's"},
    {"NOTIFY_TELEGRAM_URL", "https://api.telegram.org", false, "the Bot API"},
    {"NOTIFY_TELEGRAM_TOKEN", "", true, "the bot's token"},
    {"NOTIFY_ORDER_URL", "", false,
     "the order service (http://host:8081): the order's PDF an email attaches"},
    {"NOTIFY_PAYMENT_URL", "", false,
     "the payment service (http://host:8083): the invoice's PDF an email attaches"},
    CONFIG_SPEC_END,
};

int main(int argc, char **argv)
{
    service_def_t def = {
        .name = "notification",
        .config = notification_specs,
        .migrations = &app_migrations,
        .db_setup = store_setup,
        .requires_auth = true,
    };
    service_t *svc = service_new(&def, argc, argv);
    notification_app_t *app = svc ? notification_app_new(svc) : NULL;
    if (!app || handlers_register(service_inbox(svc), app) != 0 ||
        api_register(service_http(svc), app) != 0 ||
        notification_jobs_register(service_jobs(svc), app) != 0) {
        if (svc)
            log_error("notification could not be wired", LF_ERR("start_failed"));
        service_destroy(&svc);
        notification_app_destroy(&app);
        return 1;
    }
    int status = service_run(svc);
    service_destroy(&svc);
    notification_app_destroy(&app);
    return status;
}
