/*
 * identity.h — staff sign-in (identity.c): POST /v1/auth/token's rate
 * limit, lockouts and tokens, and refresh tokens used once.
 *
 * A login runs in three steps (login.h says why each limit is what it
 * is): identity_login_admit in a short transaction admits the client
 * under its rate limit and reads the login's staff row and failure
 * counts; identity_login_check runs Argon2id outside any transaction,
 * against the staff member's hash or, for an unknown or locked login,
 * against a dummy one (the same work: the answer and its time tell
 * nothing); identity_login_settle in a short transaction records a
 * failure or issues the tokens. The pure rules are in login.c.
 */
#ifndef ORDER_IDENTITY_H
#define ORDER_IDENTITY_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "services/order/order.h"
#include "services/order/store.h"

typedef struct {
    const char *login; /* borrowed */
    char client[64];   /* the key the client is counted by (login_client_key) */
    int64_t now_ms;
    bool limited;           /* refused by the rate limit ... */
    int64_t retry_after_ms; /* ... for this long */
    bool found;             /* the login exists */
    staff_login_t staff;
    bool locked;    /* for this client, or for everyone */
    bool granted;   /* the password matched an active, unlocked login */
    json_t *answer; /* granted: the token pair; owned, free with identity_login_clear */
} login_attempt_t;

void identity_login_clear(login_attempt_t *attempt);

/* Step 1, in the caller's transaction. Safe to run again. */
db_status_t identity_login_admit(const order_app_t *app, db_t *db, login_attempt_t *attempt);

/* Step 2, outside any transaction: sets attempt->granted. */
void identity_login_check(const order_app_t *app, login_attempt_t *attempt, const char *password);

/* Step 3, in the caller's transaction: a failure counted (unless a lock
 * refused it), or the lock cleared and the token pair in attempt->answer.
 * Safe to run again. */
db_status_t identity_login_settle(const order_app_t *app, db_t *db, login_attempt_t *attempt);

/* Uses a refresh token once: *answer_out gets a new token pair, or NULL
 * when the token is unknown, used or expired, or its owner inactive.
 * Caller owns the result. */
db_status_t identity_refresh(const order_app_t *app, db_t *db, const char *refresh_token,
                             json_t **answer_out);

#endif
