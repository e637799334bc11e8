/*
 * optout.h — the opt-out link in every email (issue 12 item 5): a URL
 * naming the customer and the channel, signed with NOTIFY_OPTOUT_KEY
 * (HMAC-SHA256) so that nobody can opt someone else out by guessing.
 */
#ifndef NOTIFICATION_OPTOUT_H
#define NOTIFICATION_OPTOUT_H

#include <stdbool.h>
#include <stddef.h>

#define OPTOUT_TOKEN_SIZE 65 /* 64 hex digits and NUL */
#define OPTOUT_URL_SIZE   600

/* The token of (customer_id, channel) under key. */
void optout_token(const char *key, const char *customer_id, const char *channel,
                  char out[OPTOUT_TOKEN_SIZE]);

/* Whether token is the one of (customer_id, channel), in constant time. */
bool optout_token_ok(const char *key, const char *customer_id, const char *channel,
                     const char *token);

/* The opt-out link's parameters as a stranger sent them (NULL: missing):
 * whether they name a customer (a UUID) and a channel (email, sms,
 * telegram) and carry the token of that pair under key. What GET and POST
 * /v1/optout check before anything is written. */
bool optout_link_valid(const char *key, const char *customer_id, const char *channel,
                       const char *token);

/* "<public_url>/v1/optout?customer=<id>&channel=<ch>&token=<t>"; "" when
 * there is no customer id or it does not fit. */
void optout_url(const char *public_url, const char *key, const char *customer_id,
                const char *channel, char out[OPTOUT_URL_SIZE]);

#endif
