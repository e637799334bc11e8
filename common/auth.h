/*
 * auth.h — who is calling: staff tokens, roles, passwords.
 *
 * Every service's HTTP API is for staff (DESIGN.md "Security"): a person
 * obtains a token from the order service (POST /v1/auth/token) and sends it
 * as `Authorization: Bearer <token>` to any service. Tokens are HS256 JWTs
 * (libjwt) signed with a key named by `kid`: several keys may be configured
 * so that a new one can be rolled out before the old one is retired
 * (AUTH_JWT_KEYS="k2:secret2,k1:secret1", the first signs). Verification
 * accepts HS256 only (never "none", never an asymmetric alg with a shared
 * secret), requires `exp`, checks `aud` and `iss`, and knows the key by
 * `kid`. Roles travel in a `roles` claim; a route names the roles allowed.
 *
 * Passwords are hashed with Argon2id (libsodium's crypto_pwhash_str).
 * Nothing here logs a token, a secret or a password.
 */
#ifndef CONVEYOR_AUTH_H
#define CONVEYOR_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/http.h"

/* Roles, as bits so a route can allow several. */
typedef enum {
    ROLE_ADMIN = 1u << 0,
    ROLE_MANAGER = 1u << 1,
    ROLE_WAREHOUSE = 1u << 2,
    ROLE_COURIER = 1u << 3,
    ROLE_SYSTEM = 1u << 4, /* conveyor itself: automatic moves, never a person */
} role_t;

#define ROLE_ANY_STAFF (ROLE_ADMIN | ROLE_MANAGER | ROLE_WAREHOUSE | ROLE_COURIER)

/* "admin" -> ROLE_ADMIN; 0 if unknown. */
unsigned auth_role_parse(const char *name);
/* ROLE_ADMIN -> "admin"; for one bit only, "" otherwise. */
const char *auth_role_name(unsigned role);

typedef struct {
    char subject[64]; /* the staff member's id */
    char name[128];   /* display name */
    unsigned roles;   /* role_t bits */
    int64_t expires_at_ms;
    char kid[32];
} auth_claims_t;

typedef struct {
    const char *keys;     /* "kid:secret[,kid:secret...]"; the first signs; secrets >= 32 bytes */
    const char *audience; /* NULL means "conveyor" */
    const char *issuer;   /* NULL means "conveyor" */
    int64_t ttl_ms;       /* lifetime of issued tokens; 0 means 15 minutes */
} auth_config_t;

typedef struct auth auth_t;

/* NULL (logged, without the secrets) if the keys do not parse or a secret
 * is shorter than 32 bytes. Caller owns the result. */
auth_t *auth_new(const auth_config_t *config);
void auth_destroy(auth_t **self_p);

/* A token for subject with these roles, expiring after the configured
 * lifetime (business clock). Caller owns the result (free()); NULL on
 * failure. */
char *auth_issue(const auth_t *auth, const char *subject, const char *name, unsigned roles);

/* The lifetime of issued tokens. */
int64_t auth_ttl_ms(const auth_t *auth);

/* Why a token was refused: a stable code. */
typedef enum {
    AUTH_OK = 0,
    AUTH_MALFORMED,      /* "token_malformed": not three base64url parts of JSON, or an exp
                            past what milliseconds can count */
    AUTH_BAD_ALG,        /* "token_bad_alg": not HS256 */
    AUTH_UNKNOWN_KEY,    /* "token_unknown_key": no kid, or a kid we do not have */
    AUTH_BAD_SIGNATURE,  /* "token_bad_signature" */
    AUTH_EXPIRED,        /* "token_expired": exp missing or in the past */
    AUTH_WRONG_AUDIENCE, /* "token_wrong_audience": aud or iss is not ours */
    AUTH_NO_ROLES,       /* "token_no_roles": sub or roles missing */
} auth_status_t;

const char *auth_status_code(auth_status_t status);

/* Verifies a token and fills claims_out. */
auth_status_t auth_verify(const auth_t *auth, const char *token, auth_claims_t *claims_out);

/* The gate of a route: reads `Authorization: Bearer`, verifies it and
 * checks that the caller has one of allowed_roles. On success fills
 * claims_out and returns true; otherwise answers 401 (no or bad token, with
 * WWW-Authenticate) or 403 (a role not allowed here) as problem+json on res
 * and returns false. */
bool auth_require(const auth_t *auth, const http_request_t *req, http_response_t *res,
                  unsigned allowed_roles, auth_claims_t *claims_out);

/* Argon2id hash of password in libsodium's string form into out (at least
 * AUTH_HASH_SIZE bytes). 0 ok, -1 out of memory. Takes tens of ms on
 * purpose. */
#define AUTH_HASH_SIZE 128
int auth_password_hash(const char *password, char out[AUTH_HASH_SIZE]);

/* Whether password matches hash; false for a malformed hash. Constant
 * time with respect to the password. */
bool auth_password_verify(const char *hash, const char *password);

#endif
