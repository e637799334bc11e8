/*
 * test_auth.c — staff tokens, roles and passwords (auth.h).
 *
 * Proves: an issued token verifies with its subject, name, roles and
 * expiry; a token expires with business time; a forged payload, a token
 * signed with another secret, an unknown or missing kid, alg "none",
 * HS512, a wrong audience or issuer, and a token without roles are each
 * refused with their own code; a rolled key still verifies tokens of the
 * old one while signing with the new; short secrets and bad key lists are
 * refused at start; the route gate answers 401 with WWW-Authenticate, 403
 * for a role not allowed, and passes the claims otherwise; Argon2id hashes
 * verify only the right password; an exp too large to count in
 * milliseconds is malformed rather than wrapped into a valid-looking time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jwt.h>

#include "common/auth.h"
#include "common/clock.h"
#include "common/http.h"
#include "common/log.h"

#define SECRET_A "an-example-secret-of-32-bytes-aaaa"
#define SECRET_B "an-example-secret-of-32-bytes-bbbb"

static auth_t *make_auth(const char *keys)
{
    auth_config_t config = {.keys = keys};
    return auth_new(&config);
}

/* A token built by hand with libjwt: any alg, any key, any claims. */
static char *forge(jwt_alg_t alg, const char *secret, const char *kid, const char *grants)
{
    jwt_t *jwt = NULL;
    assert_int_equal(jwt_new(&jwt), 0);
    assert_int_equal(
        jwt_set_alg(jwt, alg, (const unsigned char *)secret, secret ? (int)strlen(secret) : 0), 0);
    if (kid)
        assert_int_equal(jwt_add_header(jwt, "kid", kid), 0);
    assert_int_equal(jwt_add_grants_json(jwt, grants), 0);
    char *token = jwt_encode_str(jwt);
    jwt_free(jwt);
    assert_non_null(token);
    return token;
}

static char *good_grants(void)
{
    static char grants[256];
    snprintf(grants, sizeof grants,
             "{\"sub\":\"s-1\",\"aud\":\"conveyor\",\"iss\":\"conveyor\",\"exp\":%lld,"
             "\"roles\":[\"manager\"]}",
             (long long)(clock_now_ms() / 1000 + 600));
    return grants;
}

static void test_issue_and_verify(void **state)
{
    (void)state;
    auth_t *auth = make_auth("k1:" SECRET_A);
    assert_non_null(auth);
    char *token = auth_issue(auth, "staff-7", "Anna Smirnova", ROLE_MANAGER | ROLE_ADMIN);
    assert_non_null(token);
    auth_claims_t claims;
    assert_int_equal(auth_verify(auth, token, &claims), AUTH_OK);
    assert_string_equal(claims.subject, "staff-7");
    assert_string_equal(claims.name, "Anna Smirnova");
    assert_int_equal(claims.roles, ROLE_MANAGER | ROLE_ADMIN);
    assert_string_equal(claims.kid, "k1");
    int64_t left = claims.expires_at_ms - clock_now_ms();
    assert_true(left > 14 * 60 * 1000 && left <= 15 * 60 * 1000);
    free(token);
    auth_destroy(&auth);
    assert_null(auth);
}

/* exp is seconds; the check multiplies it by 1000. An exp past
 * INT64_MAX / 1000 once wrapped around (undefined behaviour) and could land
 * in the future: a token that never expired. Such a token is malformed. */
static void test_exp_past_milliseconds_is_refused(void **state)
{
    (void)state;
    auth_t *auth = make_auth("k1:" SECRET_A);
    auth_claims_t claims;
    __extension__ typedef unsigned __int128 u128;
    /* exp * 1000 wraps to about now + 30 years */
    u128 wrap = ((u128)1 << 64) + (u128)(clock_now_ms() + 1000LL * 3600 * 24 * 365 * 30);
    long long exps[] = {(long long)(wrap / 1000), INT64_MAX / 1000 + 1, INT64_MAX};
    for (size_t i = 0; i < sizeof exps / sizeof exps[0]; i++) {
        char grants[256];
        snprintf(grants, sizeof grants,
                 "{\"sub\":\"s-1\",\"aud\":\"conveyor\",\"iss\":\"conveyor\",\"exp\":%lld,"
                 "\"roles\":[\"admin\"]}",
                 exps[i]);
        char *token = forge(JWT_ALG_HS256, SECRET_A, "k1", grants);
        assert_int_equal(auth_verify(auth, token, &claims), AUTH_MALFORMED);
        assert_string_equal(claims.subject, "");
        free(token);
    }
    /* the largest exp that still counts in milliseconds is a real (far) expiry */
    char grants[256];
    snprintf(grants, sizeof grants,
             "{\"sub\":\"s-1\",\"aud\":\"conveyor\",\"iss\":\"conveyor\",\"exp\":%lld,"
             "\"roles\":[\"admin\"]}",
             (long long)(INT64_MAX / 1000));
    char *token = forge(JWT_ALG_HS256, SECRET_A, "k1", grants);
    assert_int_equal(auth_verify(auth, token, &claims), AUTH_OK);
    assert_true(claims.expires_at_ms == INT64_MAX / 1000 * 1000);
    free(token);
    auth_destroy(&auth);
}

static void test_token_expires_with_business_time(void **state)
{
    (void)state;
    auth_t *auth = make_auth("k1:" SECRET_A);
    char *token = auth_issue(auth, "staff-7", "", ROLE_MANAGER);
    auth_claims_t claims;
    assert_int_equal(auth_verify(auth, token, &claims), AUTH_OK);
    clock_enable_test_offset(true);
    assert_int_equal(clock_advance_ms(16 * 60 * 1000), 0);
    assert_int_equal(auth_verify(auth, token, &claims), AUTH_EXPIRED);
    assert_string_equal(claims.subject, "");
    free(token);
    auth_destroy(&auth);
}

static void test_forgeries_are_refused(void **state)
{
    (void)state;
    auth_t *auth = make_auth("k1:" SECRET_A);
    auth_claims_t claims;
    /* payload swapped after signing: the signature no longer matches */
    char *token = auth_issue(auth, "staff-7", "", ROLE_COURIER);
    char *admin = auth_issue(auth, "staff-1", "", ROLE_ADMIN);
    char *dot1 = strchr(token, '.'), *dot2 = strchr(dot1 + 1, '.');
    char *adot1 = strchr(admin, '.'), *adot2 = strchr(adot1 + 1, '.');
    char spliced[4096];
    snprintf(spliced, sizeof spliced, "%.*s%.*s%s", (int)(dot1 - token), token,
             (int)(adot2 - adot1), adot1, dot2);
    assert_int_equal(auth_verify(auth, spliced, &claims), AUTH_BAD_SIGNATURE);

    char *other = forge(JWT_ALG_HS256, SECRET_B, "k1", good_grants());
    assert_int_equal(auth_verify(auth, other, &claims), AUTH_BAD_SIGNATURE);
    char *unknown = forge(JWT_ALG_HS256, SECRET_A, "k9", good_grants());
    assert_int_equal(auth_verify(auth, unknown, &claims), AUTH_UNKNOWN_KEY);
    char *no_kid = forge(JWT_ALG_HS256, SECRET_A, NULL, good_grants());
    assert_int_equal(auth_verify(auth, no_kid, &claims), AUTH_UNKNOWN_KEY);
    char *none = forge(JWT_ALG_NONE, NULL, "k1", good_grants());
    assert_int_equal(auth_verify(auth, none, &claims), AUTH_BAD_ALG);
    char *hs512 = forge(JWT_ALG_HS512, SECRET_A, "k1", good_grants());
    assert_int_equal(auth_verify(auth, hs512, &claims), AUTH_BAD_ALG);
    char *good = forge(JWT_ALG_HS256, SECRET_A, "k1", good_grants());
    assert_int_equal(auth_verify(auth, good, &claims), AUTH_OK);

    char grants[256];
    snprintf(grants, sizeof grants,
             "{\"sub\":\"s\",\"aud\":\"elsewhere\",\"iss\":\"conveyor\",\"exp\":%lld,"
             "\"roles\":[\"admin\"]}",
             (long long)(clock_now_ms() / 1000 + 600));
    char *aud = forge(JWT_ALG_HS256, SECRET_A, "k1", grants);
    assert_int_equal(auth_verify(auth, aud, &claims), AUTH_WRONG_AUDIENCE);
    snprintf(grants, sizeof grants,
             "{\"sub\":\"s\",\"aud\":\"conveyor\",\"iss\":\"conveyor\",\"exp\":%lld,"
             "\"roles\":[\"janitor\"]}",
             (long long)(clock_now_ms() / 1000 + 600));
    char *roleless = forge(JWT_ALG_HS256, SECRET_A, "k1", grants);
    assert_int_equal(auth_verify(auth, roleless, &claims), AUTH_NO_ROLES);
    char *no_exp = forge(JWT_ALG_HS256, SECRET_A, "k1",
                         "{\"sub\":\"s\",\"aud\":\"conveyor\",\"iss\":\"conveyor\","
                         "\"roles\":[\"admin\"]}");
    assert_int_equal(auth_verify(auth, no_exp, &claims), AUTH_EXPIRED);
    assert_int_equal(auth_verify(auth, "not a token", &claims), AUTH_MALFORMED);
    assert_int_equal(auth_verify(auth, "a.b.c", &claims), AUTH_MALFORMED);
    assert_string_equal(auth_status_code(AUTH_BAD_ALG), "token_bad_alg");

    char *all[] = {token, admin, other, unknown, no_kid, none, hs512, good, aud, roleless, no_exp};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        free(all[i]);
    auth_destroy(&auth);
}

static void test_key_rollover(void **state)
{
    (void)state;
    auth_t *old_auth = make_auth("k1:" SECRET_A);
    char *old_token = auth_issue(old_auth, "staff-7", "", ROLE_MANAGER);
    auth_t *rolled = make_auth("k2:" SECRET_B ",k1:" SECRET_A);
    assert_non_null(rolled);
    auth_claims_t claims;
    assert_int_equal(auth_verify(rolled, old_token, &claims), AUTH_OK);
    assert_string_equal(claims.kid, "k1");
    char *new_token = auth_issue(rolled, "staff-7", "", ROLE_MANAGER);
    assert_int_equal(auth_verify(rolled, new_token, &claims), AUTH_OK);
    assert_string_equal(claims.kid, "k2");
    assert_int_equal(auth_verify(old_auth, new_token, &claims), AUTH_UNKNOWN_KEY);
    free(old_token);
    free(new_token);
    auth_destroy(&old_auth);
    auth_destroy(&rolled);
}

static void test_bad_configuration_is_refused(void **state)
{
    (void)state;
    FILE *out = tmpfile();
    log_set_output(out);
    assert_null(make_auth("k1:short"));
    assert_null(make_auth(""));
    assert_null(make_auth("no-colon-here-but-long-enough-to-be-a-secret"));
    assert_null(make_auth(NULL));
    log_set_output(NULL);
    /* the secret never reaches the log */
    char text[4096] = "";
    rewind(out);
    size_t n = fread(text, 1, sizeof text - 1, out);
    text[n] = '\0';
    fclose(out);
    assert_null(strstr(text, "short\""));
    assert_non_null(strstr(text, "\"err\":\"bad_config\""));
}

/* --- the route gate, over a real server ---------------------------------- */

static auth_t *gate_auth;

static void route_manager_only(const http_request_t *req, http_response_t *res, void *arg)
{
    (void)arg;
    auth_claims_t claims;
    if (!auth_require(gate_auth, req, res, ROLE_MANAGER | ROLE_ADMIN, &claims))
        return;
    http_res_json_take(res, 200, json_pack("{s:s}", "you", claims.subject));
}

typedef struct {
    char body[1024];
    size_t len;
    char www[256];
} reply_t;

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    reply_t *reply = arg;
    size_t bytes = size * n;
    if (reply->len + bytes < sizeof reply->body) {
        memcpy(reply->body + reply->len, data, bytes);
        reply->len += bytes;
        reply->body[reply->len] = '\0';
    }
    return bytes;
}

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
    reply_t *reply = arg;
    size_t bytes = size * n;
    if (bytes > 18 && strncasecmp(data, "WWW-Authenticate:", 17) == 0)
        snprintf(reply->www, sizeof reply->www, "%.*s", (int)(bytes - 18), data + 18);
    return bytes;
}

static long call(unsigned port, const char *token, reply_t *reply)
{
    memset(reply, 0, sizeof *reply);
    CURL *curl = curl_easy_init();
    char url[128], header[4200];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/v1/secret", port);
    struct curl_slist *headers = NULL;
    if (token) {
        snprintf(header, sizeof header, "Authorization: Bearer %s", token);
        headers = curl_slist_append(headers, header);
    }
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, reply);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, reply);
    long status = 0;
    assert_int_equal(curl_easy_perform(curl), CURLE_OK);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    return status;
}

static void test_route_gate(void **state)
{
    (void)state;
    gate_auth = make_auth("k1:" SECRET_A);
    http_config_t config = {.addr = "127.0.0.1:0", .svc = "test_auth"};
    http_server_t *server = http_server_new(&config);
    assert_int_equal(http_route(server, "GET", "/v1/secret", route_manager_only, NULL), 0);
    assert_int_equal(http_server_start(server), 0);
    unsigned port = http_server_port(server);
    reply_t reply;

    assert_int_equal(call(port, NULL, &reply), 401);
    assert_non_null(strstr(reply.body, "\"code\":\"unauthenticated\""));
    assert_non_null(strstr(reply.www, "Bearer realm=\"conveyor\""));

    assert_int_equal(call(port, "garbage", &reply), 401);
    assert_non_null(strstr(reply.body, "\"code\":\"token_malformed\""));
    assert_non_null(strstr(reply.www, "invalid_token"));

    char *courier = auth_issue(gate_auth, "c-1", "", ROLE_COURIER);
    assert_int_equal(call(port, courier, &reply), 403);
    assert_non_null(strstr(reply.body, "\"code\":\"forbidden\""));
    assert_non_null(strstr(reply.body, "allowed: admin manager"));

    char *manager = auth_issue(gate_auth, "m-1", "", ROLE_MANAGER);
    assert_int_equal(call(port, manager, &reply), 200);
    assert_string_equal(reply.body, "{\"you\":\"m-1\"}");

    free(courier);
    free(manager);
    http_server_destroy(&server);
    auth_destroy(&gate_auth);
}

static void test_password_hashes(void **state)
{
    (void)state;
    char hash[AUTH_HASH_SIZE];
    assert_int_equal(auth_password_hash("correct horse battery staple", hash), 0);
    assert_non_null(strstr(hash, "$argon2id$"));
    assert_true(auth_password_verify(hash, "correct horse battery staple"));
    assert_false(auth_password_verify(hash, "correct horse battery stapl"));
    assert_false(auth_password_verify("not a hash", "anything"));
    char again[AUTH_HASH_SIZE];
    assert_int_equal(auth_password_hash("correct horse battery staple", again), 0);
    assert_string_not_equal(hash, again); /* salted */
}

static void test_role_names(void **state)
{
    (void)state;
    assert_int_equal(auth_role_parse("warehouse"), ROLE_WAREHOUSE);
    assert_int_equal(auth_role_parse("Warehouse"), 0);
    assert_int_equal(auth_role_parse(NULL), 0);
    assert_string_equal(auth_role_name(ROLE_COURIER), "courier");
    assert_string_equal(auth_role_name(ROLE_COURIER | ROLE_ADMIN), "");
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_issue_and_verify),
        cmocka_unit_test(test_forgeries_are_refused),
        cmocka_unit_test(test_key_rollover),
        cmocka_unit_test(test_bad_configuration_is_refused),
        cmocka_unit_test(test_route_gate),
        cmocka_unit_test(test_password_hashes),
        cmocka_unit_test(test_role_names),
        cmocka_unit_test(test_exp_past_milliseconds_is_refused),
        cmocka_unit_test(test_token_expires_with_business_time), /* last: moves the clock */
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return failed;
}
