/*
 * fuzz_token.c — staff tokens (common/auth.c: auth_verify), the bearer
 * of every staff request, with fixed test keys.
 *
 * Input: a first byte choosing how the rest becomes a token, so that the
 * fuzzer reaches past the signature into the claims:
 *   0  the rest is the token as sent;
 *   1  the rest is the claims JSON; the header is ours
 *      ({"alg":"HS256","typ":"JWT","kid":"fuzz-1"}) and the token is
 *      signed with fuzz-1's key, so only the claims are a stranger's;
 *   2  one length byte, the header JSON, then the claims JSON, signed
 *      with fuzz-1's key (or fuzz-2's when the length byte is odd).
 * Checks: a refused token leaves claims empty; an accepted one has a
 * subject, known roles, one of our kids and an expiry in the future; a
 * token issued for the same subject, name and roles is accepted with the
 * same claims. A mode 1 token whose claims are a JSON object is never
 * refused for its signature, algorithm or key.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "common/auth.h"
#include "common/base64url.h"
#include "common/clock.h"
#include "tests/fuzz/fuzz.h"

#define KEY_1     FUZZ_JWT_KEY_1
#define KEY_2     FUZZ_JWT_KEY_2
#define TOKEN_MAX 6000 /* above auth.c's cap, so that the cap is reached */

static auth_t *auth;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    json_object_seed(1); /* the same input takes the same path every run */
    auth_config_t config = {.keys = "fuzz-1:" KEY_1 ",fuzz-2:" KEY_2};
    auth = auth_new(&config);
    FUZZ_CHECK(auth != NULL);
    return 0;
}

/* base64url of len bytes appended at *n of out (size out_size). */
static bool put_base64url(char *out, size_t out_size, size_t *n, const void *bytes, size_t len)
{
    size_t written = base64url_encode(bytes, len, out + *n, out_size - *n);
    if (written == 0 && len > 0)
        return false;
    *n += written;
    return true;
}

/* header.claims.signature, signed with secret; false if it would not fit. */
static bool sign(char *token, size_t size, const uint8_t *header, size_t header_len,
                 const uint8_t *claims, size_t claims_len, const char *secret)
{
    size_t n = 0;
    if (!put_base64url(token, size, &n, header, header_len) || n + 2 >= size)
        return false;
    token[n++] = '.';
    if (!put_base64url(token, size, &n, claims, claims_len) || n + 2 >= size)
        return false;
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    FUZZ_CHECK(HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)token, n, mac,
                    &mac_len) != NULL);
    token[n++] = '.';
    return put_base64url(token, size, &n, mac, mac_len);
}

/* Whether claims are a JSON object (libjwt refuses anything else, and
 * reads them as a C string: up to a NUL). */
static bool claims_object(const uint8_t *claims, size_t len)
{
    if (memchr(claims, '\0', len))
        return false;
    json_t *json = json_loadb((const char *)claims, len, 0, NULL);
    bool object = json_is_object(json);
    json_decref(json);
    return object;
}

static void check_accepted(const auth_claims_t *claims)
{
    FUZZ_CHECK(claims->subject[0] != '\0');
    FUZZ_CHECK(claims->roles != 0);
    FUZZ_CHECK((claims->roles & ~(unsigned)(ROLE_ANY_STAFF | ROLE_SYSTEM)) == 0);
    FUZZ_CHECK(strcmp(claims->kid, "fuzz-1") == 0 || strcmp(claims->kid, "fuzz-2") == 0);
    FUZZ_CHECK(claims->expires_at_ms > clock_now_ms() - 60 * 1000);

    /* what we would issue to the same person is accepted as the same */
    char *token = auth_issue(auth, claims->subject, claims->name, claims->roles);
    if (!token)
        return; /* a subject or name cut inside a UTF-8 character cannot be signed */
    auth_claims_t again;
    FUZZ_CHECK(auth_verify(auth, token, &again) == AUTH_OK);
    FUZZ_CHECK(strcmp(again.subject, claims->subject) == 0);
    FUZZ_CHECK(strcmp(again.name, claims->name) == 0);
    FUZZ_CHECK(again.roles == claims->roles);
    FUZZ_CHECK(strcmp(again.kid, "fuzz-1") == 0);
    free(token);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char our_header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"fuzz-1\"}";
    static char token[TOKEN_MAX];
    if (size == 0)
        return 0;
    bool ours = false;
    switch (data[0] % 3) {
    case 0:
        if (size - 1 >= sizeof token)
            return 0;
        memcpy(token, data + 1, size - 1);
        token[size - 1] = '\0';
        break;
    case 1:
        if (!sign(token, sizeof token, (const uint8_t *)our_header, strlen(our_header), data + 1,
                  size - 1, KEY_1))
            return 0;
        ours = claims_object(data + 1, size - 1);
        break;
    default: {
        const uint8_t *header, *claims;
        size_t header_len, claims_len;
        fuzz_split(data + 1, size - 1, &header, &header_len, &claims, &claims_len);
        bool second = size > 1 && (data[1] & 1);
        if (!sign(token, sizeof token, header, header_len, claims, claims_len,
                  second ? KEY_2 : KEY_1))
            return 0;
        break;
    }
    }

    auth_claims_t claims;
    memset(&claims, 0x5a, sizeof claims);
    auth_status_t status = auth_verify(auth, token, &claims);
    FUZZ_CHECK(strcmp(auth_status_code(status), "token_invalid") != 0);
    if (ours && strlen(token) <= 4096)
        FUZZ_CHECK(status != AUTH_BAD_SIGNATURE && status != AUTH_UNKNOWN_KEY &&
                   status != AUTH_BAD_ALG);
    if (status != AUTH_OK) {
        static const auth_claims_t empty;
        FUZZ_CHECK(memcmp(&claims, &empty, sizeof claims) == 0);
        return 0;
    }
    check_accepted(&claims);
    return 0;
}
