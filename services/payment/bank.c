/*
 * bank.c — one client of the store's bank per thread (bank.h).
 */
#include "services/payment/bank.h"

#include <pthread.h>
#include <string.h>

#include "common/log.h"

static pthread_key_t client_key;
static pthread_once_t client_once = PTHREAD_ONCE_INIT;
static int client_key_failed;

static void client_free(void *client)
{
    acquirer_t *acquirer = client;
    acquirer_destroy(&acquirer);
}

static void make_key(void)
{
    client_key_failed = pthread_key_create(&client_key, client_free) != 0;
}

int bank_init(payment_app_t *app)
{
    (void)app;
    pthread_once(&client_once, make_key);
    return client_key_failed ? -1 : 0;
}

acquirer_t *bank_client(payment_app_t *app)
{
    if (client_key_failed)
        return NULL;
    acquirer_t *client = pthread_getspecific(client_key);
    if (client)
        return client;
    acquirer_config_t config = {
        .provider = strcmp(app->provider, "yookassa") == 0 ? ACQ_YOOKASSA : ACQ_SBERBANK,
        .base_url = app->bank_url,
        .login = app->bank_login,
        .password = app->bank_password,
        .callback_key = app->callback_key,
        .timeout_ms = (long)app->bank_timeout_ms,
    };
    client = acquirer_new(&config);
    if (!client) {
        log_error("no client of the bank could be made", LF_STR("provider", app->provider),
                  LF_ERR("bank_unconfigured"));
        return NULL;
    }
    if (pthread_setspecific(client_key, client) != 0)
        acquirer_destroy(&client);
    return client;
}
