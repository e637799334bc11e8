/*
 * fuzz_optout_link.c — the opt-out link of every email
 * (services/notification/optout.c: optout_link_valid, then optout_url),
 * whose customer, channel and token anyone with a browser can send to
 * GET or POST /v1/optout.
 *
 * Input: one length byte and the customer id, one length byte and the
 * channel, then the token (fuzz_split twice), checked under a fixed key.
 * Checks: a link is accepted only for a UUID customer, a known channel
 * and the 64 lower-case hex digits that optout_token makes for that pair;
 * when the customer and channel would do, the link optout_url builds for
 * them reads back (split at ? & =) into parameters that are accepted,
 * and the same link with any one digit of its token changed is refused.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "common/uuid.h"
#include "services/notification/optout.h"
#include "tests/fuzz/fuzz.h"

#define KEY        "fuzz-optout-key-0123456789abcdef-0123456789"
#define PUBLIC_URL "https://shop.example/notify"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

static bool known_channel(const char *channel)
{
    return strcmp(channel, "email") == 0 || strcmp(channel, "sms") == 0 ||
           strcmp(channel, "telegram") == 0;
}

/* The value of name in url's query ("" when absent), into out. */
static void query_value(const char *url, const char *name, char *out, size_t out_size)
{
    out[0] = '\0';
    const char *query = strchr(url, '?');
    size_t name_len = strlen(name);
    for (const char *p = query; p && *p;) {
        p++; /* past ? or & */
        const char *end = strchr(p, '&');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > name_len && strncmp(p, name, name_len) == 0 && p[name_len] == '=') {
            size_t value_len = len - name_len - 1;
            FUZZ_CHECK(value_len < out_size);
            memcpy(out, p + name_len + 1, value_len);
            out[value_len] = '\0';
            return;
        }
        p = end;
    }
}

/* The link made for (customer, channel) reads back, and only its token opens it. */
static void round_trip(const char *customer, const char *channel)
{
    char url[OPTOUT_URL_SIZE];
    optout_url(PUBLIC_URL, KEY, customer, channel, url);
    FUZZ_CHECK(url[0] != '\0');
    FUZZ_CHECK(strncmp(url, PUBLIC_URL "/v1/optout?", strlen(PUBLIC_URL "/v1/optout?")) == 0);
    char got_customer[OPTOUT_URL_SIZE], got_channel[OPTOUT_URL_SIZE], got_token[OPTOUT_URL_SIZE];
    query_value(url, "customer", got_customer, sizeof got_customer);
    query_value(url, "channel", got_channel, sizeof got_channel);
    query_value(url, "token", got_token, sizeof got_token);
    FUZZ_CHECK(strcmp(got_customer, customer) == 0);
    FUZZ_CHECK(strcmp(got_channel, channel) == 0);
    FUZZ_CHECK(optout_link_valid(KEY, got_customer, got_channel, got_token));
    FUZZ_CHECK(!optout_link_valid("another-key-0123456789abcdef-0123456789", got_customer,
                                  got_channel, got_token));
    size_t len = strlen(got_token);
    FUZZ_CHECK(len == OPTOUT_TOKEN_SIZE - 1);
    for (size_t i = 0; i < len; i++) {
        char kept = got_token[i];
        got_token[i] = kept == '0' ? '1' : '0';
        FUZZ_CHECK(!optout_link_valid(KEY, got_customer, got_channel, got_token));
        got_token[i] = kept;
    }
    got_token[len - 1] = '\0';
    FUZZ_CHECK(!optout_link_valid(KEY, got_customer, got_channel, got_token));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *customer_bytes, *rest, *channel_bytes, *token_bytes;
    size_t customer_len, rest_len, channel_len, token_len;
    fuzz_split(data, size, &customer_bytes, &customer_len, &rest, &rest_len);
    fuzz_split(rest, rest_len, &channel_bytes, &channel_len, &token_bytes, &token_len);
    char *customer = fuzz_strndup(customer_bytes, customer_len);
    char *channel = fuzz_strndup(channel_bytes, channel_len);
    char *token = fuzz_strndup(token_bytes, token_len);

    bool valid = optout_link_valid(KEY, customer, channel, token);
    if (valid) {
        FUZZ_CHECK(uuid_valid(customer));
        FUZZ_CHECK(known_channel(channel));
        char expected[OPTOUT_TOKEN_SIZE];
        optout_token(KEY, customer, channel, expected);
        FUZZ_CHECK(strlen(token) == OPTOUT_TOKEN_SIZE - 1 && strcmp(token, expected) == 0);
        for (const char *p = token; *p; p++)
            FUZZ_CHECK((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'));
    }
    FUZZ_CHECK(!optout_link_valid(KEY, NULL, channel, token));
    FUZZ_CHECK(!optout_link_valid(KEY, customer, NULL, token));
    FUZZ_CHECK(!optout_link_valid(KEY, customer, channel, NULL));
    if (uuid_valid(customer) && known_channel(channel))
        round_trip(customer, channel);

    free(customer);
    free(channel);
    free(token);
    return 0;
}
