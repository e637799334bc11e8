/*
 * api.h — the order service's HTTP API (api.c).
 */
#ifndef ORDER_API_H
#define ORDER_API_H

#include <stdint.h>

#include "common/http.h"
#include "services/order/form.h"
#include "services/order/login.h"
#include "services/order/orders.h"

typedef struct {
    order_app_t *app;
    form_map_t form_map;    /* INTAKE_FORM_FIELDS */
    size_t form_max_bytes;  /* INTAKE_FORM_MAX_BYTES: the form webhook's body limit */
    login_policy_t login;   /* LOGIN_*: the rate limit and the lockout */
    http_proxies_t proxies; /* HTTP_TRUSTED_PROXIES: whose X-Forwarded-For is believed */
    int64_t refresh_ttl_ms;
    char dummy_hash[160]; /* an unknown or locked login is checked against this: same cost */
} api_t;

/* Registers every route on the service's server; 0 ok, -1 on failure. */
int api_register(http_server_t *http, api_t *api);

#endif
