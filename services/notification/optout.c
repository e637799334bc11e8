/*
 * optout.c — signed opt-out links (optout.h), HMAC-SHA256 from OpenSSL,
 * and the check of a link's parameters (tests/fuzz/fuzz_optout_link.c).
 */
#include "services/notification/optout.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>

#include "common/uuid.h"

void optout_token(const char *key, const char *customer_id, const char *channel,
                  char out[OPTOUT_TOKEN_SIZE])
{
    char message[400];
    int n = snprintf(message, sizeof message, "%s\n%s", customer_id, channel);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    out[0] = '\0';
    if (n < 0 || (size_t)n >= sizeof message ||
        !HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)message, (size_t)n, mac,
              &mac_len))
        return;
    for (unsigned int i = 0; i < mac_len && i * 2 + 2 < OPTOUT_TOKEN_SIZE; i++)
        snprintf(out + i * 2, 3, "%02x", mac[i]);
}

bool optout_token_ok(const char *key, const char *customer_id, const char *channel,
                     const char *token)
{
    char expected[OPTOUT_TOKEN_SIZE];
    optout_token(key, customer_id, channel, expected);
    return expected[0] && token && strlen(token) == strlen(expected) &&
           CRYPTO_memcmp(expected, token, strlen(expected)) == 0;
}

bool optout_link_valid(const char *key, const char *customer_id, const char *channel,
                       const char *token)
{
    static const char *const channels[] = {"email", "sms", "telegram"};
    bool known = false;
    for (size_t i = 0; channel && i < sizeof channels / sizeof channels[0]; i++)
        known = known || strcmp(channel, channels[i]) == 0;
    return known && customer_id && uuid_valid(customer_id) && token &&
           optout_token_ok(key, customer_id, channel, token);
}

void optout_url(const char *public_url, const char *key, const char *customer_id,
                const char *channel, char out[OPTOUT_URL_SIZE])
{
    out[0] = '\0';
    if (!customer_id || !customer_id[0] || strlen(customer_id) > 100)
        return;
    for (const char *p = customer_id; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              *p == '-'))
            return; /* an id is a UUID: nothing to escape */
    char token[OPTOUT_TOKEN_SIZE];
    optout_token(key, customer_id, channel, token);
    int n = snprintf(out, OPTOUT_URL_SIZE, "%s/v1/optout?customer=%s&channel=%s&token=%s",
                     public_url, customer_id, channel, token);
    if (n < 0 || n >= OPTOUT_URL_SIZE)
        out[0] = '\0';
}
