/*
 * auth.c — staff tokens (HS256 JWT via libjwt), roles and password hashes
 * (auth.h).
 *
 * libjwt 1.10 verifies a signature with the one key it is given and
 * checks no claims, so the header is read first (to refuse any alg but
 * HS256 and to pick the key by kid) and exp, aud and iss are checked here
 * after the signature.
 */
#include "common/auth.h"

#include <errno.h>
#include <jansson.h>
#include <jwt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/base64url.h"
#include "common/clock.h"
#include "common/log.h"

#define AUTH_KEYS_MAX   8
#define AUTH_SECRET_MIN 32
#define AUTH_TOKEN_MAX  4096

typedef struct {
    char kid[32];
    unsigned char *secret;
    size_t secret_len;
} auth_key_t;

struct auth {
    auth_key_t keys[AUTH_KEYS_MAX];
    size_t key_count;
    char audience[64];
    char issuer[64];
    int64_t ttl_ms;
};

static const struct {
    unsigned bit;
    const char *name;
} role_names[] = {
    {ROLE_ADMIN, "admin"},     {ROLE_MANAGER, "manager"}, {ROLE_WAREHOUSE, "warehouse"},
    {ROLE_COURIER, "courier"}, {ROLE_SYSTEM, "system"},
};

unsigned auth_role_parse(const char *name)
{
    for (size_t i = 0; name && i < sizeof role_names / sizeof role_names[0]; i++)
        if (strcmp(role_names[i].name, name) == 0)
            return role_names[i].bit;
    return 0;
}

const char *auth_role_name(unsigned role)
{
    for (size_t i = 0; i < sizeof role_names / sizeof role_names[0]; i++)
        if (role_names[i].bit == role)
            return role_names[i].name;
    return "";
}

const char *auth_status_code(auth_status_t status)
{
    switch (status) {
    case AUTH_OK:
        return "ok";
    case AUTH_MALFORMED:
        return "token_malformed";
    case AUTH_BAD_ALG:
        return "token_bad_alg";
    case AUTH_UNKNOWN_KEY:
        return "token_unknown_key";
    case AUTH_BAD_SIGNATURE:
        return "token_bad_signature";
    case AUTH_EXPIRED:
        return "token_expired";
    case AUTH_WRONG_AUDIENCE:
        return "token_wrong_audience";
    case AUTH_NO_ROLES:
        return "token_no_roles";
    }
    return "token_invalid";
}

/* ------------------------------------------------------------------ */
/* setup                                                                */

void auth_destroy(auth_t **self_p)
{
    auth_t *auth = *self_p;
    if (!auth)
        return;
    for (size_t i = 0; i < auth->key_count; i++) {
        sodium_memzero(auth->keys[i].secret, auth->keys[i].secret_len);
        free(auth->keys[i].secret);
    }
    free(auth);
    *self_p = NULL;
}

/* Parses "kid:secret,kid:secret"; -1 (logged without secrets) if bad. */
static int parse_keys(auth_t *auth, const char *keys)
{
    const char *p = keys;
    while (p && *p) {
        const char *comma = strchr(p, ',');
        size_t item_len = comma ? (size_t)(comma - p) : strlen(p);
        const char *colon = memchr(p, ':', item_len);
        if (!colon || colon == p || (size_t)(colon - p) >= sizeof auth->keys[0].kid ||
            auth->key_count == AUTH_KEYS_MAX) {
            log_error("AUTH_JWT_KEYS must be kid:secret[,kid:secret...] with short kids",
                      LF_ERR("bad_config"));
            return -1;
        }
        auth_key_t *key = &auth->keys[auth->key_count];
        size_t kid_len = (size_t)(colon - p);
        memcpy(key->kid, p, kid_len);
        key->kid[kid_len] = '\0';
        key->secret_len = item_len - kid_len - 1;
        if (key->secret_len < AUTH_SECRET_MIN) {
            log_error("a JWT secret is shorter than 32 bytes", LF_STR("kid", key->kid),
                      LF_ERR("bad_config"));
            return -1;
        }
        key->secret = malloc(key->secret_len);
        if (!key->secret)
            return -1;
        memcpy(key->secret, colon + 1, key->secret_len);
        auth->key_count++;
        p = comma ? comma + 1 : NULL;
    }
    if (auth->key_count == 0) {
        log_error("no JWT signing key configured (AUTH_JWT_KEYS)", LF_ERR("bad_config"));
        return -1;
    }
    return 0;
}

auth_t *auth_new(const auth_config_t *config)
{
    if (sodium_init() < 0)
        return NULL;
    auth_t *auth = calloc(1, sizeof *auth);
    if (!auth)
        return NULL;
    snprintf(auth->audience, sizeof auth->audience, "%s",
             config->audience ? config->audience : "conveyor");
    snprintf(auth->issuer, sizeof auth->issuer, "%s", config->issuer ? config->issuer : "conveyor");
    auth->ttl_ms = config->ttl_ms > 0 ? config->ttl_ms : 15 * 60 * 1000;
    if (parse_keys(auth, config->keys) != 0)
        auth_destroy(&auth);
    return auth;
}

int64_t auth_ttl_ms(const auth_t *auth)
{
    return auth->ttl_ms;
}

/* ------------------------------------------------------------------ */
/* issuing                                                              */

char *auth_issue(const auth_t *auth, const char *subject, const char *name, unsigned roles)
{
    char *token = NULL;
    jwt_t *jwt = NULL;
    json_t *role_list = json_array();
    char *roles_json = NULL;
    const auth_key_t *key = &auth->keys[0];
    for (size_t i = 0; i < sizeof role_names / sizeof role_names[0]; i++)
        if (roles & role_names[i].bit)
            json_array_append_new(role_list, json_string(role_names[i].name));
    json_t *wrapper = json_pack("{s:O}", "roles", role_list);
    roles_json = wrapper ? json_dumps(wrapper, JSON_COMPACT) : NULL;
    json_decref(wrapper);
    int64_t now_s = clock_now_ms() / 1000;
    if (!roles_json || jwt_new(&jwt) != 0 ||
        jwt_set_alg(jwt, JWT_ALG_HS256, key->secret, (int)key->secret_len) != 0 ||
        jwt_add_header(jwt, "kid", key->kid) != 0 || jwt_add_grant(jwt, "sub", subject) != 0 ||
        jwt_add_grant(jwt, "name", name ? name : "") != 0 ||
        jwt_add_grant(jwt, "aud", auth->audience) != 0 ||
        jwt_add_grant(jwt, "iss", auth->issuer) != 0 ||
        jwt_add_grant_int(jwt, "iat", (long)now_s) != 0 ||
        jwt_add_grant_int(jwt, "exp", (long)(now_s + auth->ttl_ms / 1000)) != 0 ||
        jwt_add_grants_json(jwt, roles_json) != 0)
        goto done;
    token = jwt_encode_str(jwt);
done:
    jwt_free(jwt);
    free(roles_json);
    json_decref(role_list);
    return token;
}

/* ------------------------------------------------------------------ */
/* verifying                                                            */

/* Reads alg and kid from the token's header and finds the key. */
static auth_status_t pick_key(const auth_t *auth, const char *token, const auth_key_t **key_out)
{
    const char *dot = strchr(token, '.');
    if (!dot || !strchr(dot + 1, '.'))
        return AUTH_MALFORMED;
    char header_text[512];
    if (base64url_decode(token, (size_t)(dot - token), (unsigned char *)header_text,
                         sizeof header_text, NULL) != 0)
        return AUTH_MALFORMED;
    json_t *header = json_loads(header_text, 0, NULL);
    if (!json_is_object(header)) {
        json_decref(header);
        return AUTH_MALFORMED;
    }
    const char *alg = json_string_value(json_object_get(header, "alg"));
    const char *kid = json_string_value(json_object_get(header, "kid"));
    auth_status_t status = AUTH_UNKNOWN_KEY;
    if (!alg || strcmp(alg, "HS256") != 0) {
        status = AUTH_BAD_ALG;
    } else if (kid) {
        for (size_t i = 0; i < auth->key_count; i++) {
            if (strcmp(auth->keys[i].kid, kid) == 0) {
                *key_out = &auth->keys[i];
                status = AUTH_OK;
                break;
            }
        }
    }
    json_decref(header);
    return status;
}

/* Copies a string grant; false if missing. */
static bool copy_grant(jwt_t *jwt, const char *grant, char *out, size_t size)
{
    const char *value = jwt_get_grant(jwt, grant);
    if (!value)
        return false;
    snprintf(out, size, "%s", value);
    return true;
}

static unsigned read_roles(jwt_t *jwt)
{
    char *text = jwt_get_grants_json(jwt, "roles");
    json_t *list = text ? json_loads(text, 0, NULL) : NULL;
    unsigned roles = 0;
    size_t i;
    json_t *item;
    json_array_foreach(list, i, item) roles |= auth_role_parse(json_string_value(item));
    json_decref(list);
    free(text);
    return roles;
}

auth_status_t auth_verify(const auth_t *auth, const char *token, auth_claims_t *claims_out)
{
    memset(claims_out, 0, sizeof *claims_out);
    if (!token || !token[0] || strlen(token) > AUTH_TOKEN_MAX)
        return AUTH_MALFORMED;
    const auth_key_t *key = NULL;
    auth_status_t status = pick_key(auth, token, &key);
    if (status != AUTH_OK)
        return status;
    jwt_t *jwt = NULL;
    if (jwt_decode(&jwt, token, key->secret, (int)key->secret_len) != 0) {
        jwt_free(jwt);
        return AUTH_BAD_SIGNATURE;
    }
    if (jwt_get_alg(jwt) != JWT_ALG_HS256) {
        status = AUTH_BAD_ALG;
        goto done;
    }
    errno = 0;
    long exp = jwt_get_grant_int(jwt, "exp");
    /* an exp past what milliseconds can hold is refused, not multiplied */
    if (errno != 0 || exp <= 0 || exp > INT64_MAX / 1000 || (int64_t)exp * 1000 <= clock_now_ms()) {
        status = AUTH_EXPIRED;
        goto done;
    }
    char aud[64] = "", iss[64] = "";
    if (!copy_grant(jwt, "aud", aud, sizeof aud) || strcmp(aud, auth->audience) != 0 ||
        !copy_grant(jwt, "iss", iss, sizeof iss) || strcmp(iss, auth->issuer) != 0) {
        status = AUTH_WRONG_AUDIENCE;
        goto done;
    }
    claims_out->roles = read_roles(jwt);
    if (!copy_grant(jwt, "sub", claims_out->subject, sizeof claims_out->subject) ||
        !claims_out->subject[0] || claims_out->roles == 0) {
        status = AUTH_NO_ROLES;
        goto done;
    }
    copy_grant(jwt, "name", claims_out->name, sizeof claims_out->name);
    claims_out->expires_at_ms = (int64_t)exp * 1000;
    snprintf(claims_out->kid, sizeof claims_out->kid, "%s", key->kid);
    status = AUTH_OK;
done:
    jwt_free(jwt);
    if (status != AUTH_OK)
        memset(claims_out, 0, sizeof *claims_out);
    return status;
}

bool auth_require(const auth_t *auth, const http_request_t *req, http_response_t *res,
                  unsigned allowed_roles, auth_claims_t *claims_out)
{
    const char *header = http_req_header(req, "Authorization");
    if (!header || strncasecmp(header, "Bearer ", 7) != 0) {
        http_res_header(res, "WWW-Authenticate", "Bearer realm=\"conveyor\"");
        http_res_problem(res, 401, "unauthenticated", "a staff token is required",
                         "send Authorization: Bearer <token> from POST /v1/auth/token");
        return false;
    }
    const char *token = header + 7;
    while (*token == ' ')
        token++;
    auth_status_t status = auth_verify(auth, token, claims_out);
    if (status != AUTH_OK) {
        http_res_header(res, "WWW-Authenticate",
                        "Bearer realm=\"conveyor\", error=\"invalid_token\"");
        http_res_problem(res, 401, auth_status_code(status), "the token was refused",
                         status == AUTH_EXPIRED ? "the token has expired: obtain a new one"
                                                : "the token is not valid here");
        return false;
    }
    if (!(claims_out->roles & allowed_roles)) {
        char detail[160] = "allowed:";
        for (size_t i = 0; i < sizeof role_names / sizeof role_names[0]; i++) {
            if (allowed_roles & role_names[i].bit) {
                size_t used = strlen(detail);
                snprintf(detail + used, sizeof detail - used, " %s", role_names[i].name);
            }
        }
        http_res_problem(res, 403, "forbidden", "your role may not do this", detail);
        return false;
    }
    return true;
}

/* ------------------------------------------------------------------ */
/* passwords                                                            */

int auth_password_hash(const char *password, char out[AUTH_HASH_SIZE])
{
    _Static_assert(AUTH_HASH_SIZE >= crypto_pwhash_STRBYTES, "hash buffer too small");
    if (sodium_init() < 0)
        return -1;
    return crypto_pwhash_str(out, password, strlen(password), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                             crypto_pwhash_MEMLIMIT_INTERACTIVE) == 0
               ? 0
               : -1;
}

bool auth_password_verify(const char *hash, const char *password)
{
    if (!hash || !password || sodium_init() < 0)
        return false;
    return crypto_pwhash_str_verify(hash, password, strlen(password)) == 0;
}
