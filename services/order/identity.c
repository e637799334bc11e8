/*
 * identity.c — staff sign-in (identity.h).
 */
#include "services/order/identity.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/auth.h"
#include "common/clock.h"
#include "common/digest.h"
#include "common/log.h"
#include "common/metrics.h"
#include "services/order/login.h"

void identity_login_clear(login_attempt_t *attempt)
{
    json_decref(attempt->answer);
    attempt->answer = NULL;
}

/* An access token and a fresh refresh token (stored by its hash) for the
 * staff member; NULL with *status set when it could not be made. */
static json_t *token_pair(const order_app_t *app, db_t *db, const staff_login_t *staff,
                          db_status_t *status)
{
    const auth_t *auth = service_auth(app->svc);
    char *access = auth_issue(auth, staff->id, staff->name, auth_role_parse(staff->role));
    char refresh[65], refresh_hash[DIGEST_HEX_SIZE];
    json_t *body = NULL;
    if (!access || digest_random_hex(32, refresh) != 0 ||
        digest_sha256_hex(refresh, strlen(refresh), refresh_hash) != 0) {
        *status =
            db_fail(db, DB_STATE_OUT_OF_MEMORY, "could not issue the tokens of %s", staff->id);
        goto done;
    }
    *status =
        store_refresh_insert(db, refresh_hash, staff->id, clock_now_ms() + app->refresh_ttl_ms);
    if (*status != DB_OK)
        goto done;
    body =
        json_pack("{s:s,s:s,s:I,s:s,s:{s:s,s:s,s:s}}", "access_token", access, "token_type",
                  "Bearer", "expires_in", (json_int_t)(auth_ttl_ms(auth) / 1000), "refresh_token",
                  refresh, "staff", "id", staff->id, "name", staff->name, "role", staff->role);
    if (!body)
        *status =
            db_fail(db, DB_STATE_OUT_OF_MEMORY, "could not answer the tokens of %s", staff->id);
done:
    free(access);
    return body;
}

db_status_t identity_login_admit(const order_app_t *app, db_t *db, login_attempt_t *attempt)
{
    const login_policy_t *policy = &app->login;
    int64_t tat = 0, next = 0;
    attempt->limited = false;
    attempt->found = false;
    attempt->locked = false;
    db_status_t status = store_login_throttle_take(db, attempt->client, attempt->now_ms, &tat);
    if (status != DB_OK)
        return status;
    if (!login_rate_admit(tat, attempt->now_ms, policy->rate_max, policy->rate_window_ms, &next,
                          &attempt->retry_after_ms)) {
        attempt->limited = true; /* nothing more is read, nothing hashed */
        return DB_OK;
    }
    status = store_login_throttle_set(db, attempt->client, next);
    if (status == DB_OK)
        status = store_login_purge(db, attempt->now_ms);
    if (status == DB_OK)
        status = store_staff_by_login(db, attempt->login, &attempt->found, &attempt->staff);
    login_guard_t pair, all;
    if (status == DB_OK)
        status = store_login_guards(db, attempt->login, attempt->client, false, attempt->now_ms,
                                    &pair, &all);
    if (status == DB_OK)
        attempt->locked =
            login_guard_locked(&pair, attempt->now_ms) || login_guard_locked(&all, attempt->now_ms);
    return status;
}

void identity_login_check(const order_app_t *app, login_attempt_t *attempt, const char *password)
{
    bool usable = attempt->found && !attempt->locked && attempt->staff.password_hash[0];
    /* the same Argon2id work whether the login exists, is locked or not */
    metrics_counter_add(metrics_counter("login_password_checks_total", "",
                                        "Argon2id verifications made by POST /v1/auth/token."),
                        1);
    bool match =
        auth_password_verify(usable ? attempt->staff.password_hash : app->dummy_hash, password);
    attempt->granted = usable && match && attempt->staff.active;
}

/* Counts a failure under the login from this client and from all. */
static db_status_t record_failure(const order_app_t *app, db_t *db, login_attempt_t *attempt)
{
    const login_policy_t *policy = &app->login;
    login_guard_t pair, all;
    db_status_t status =
        store_login_guards(db, attempt->login, attempt->client, true, attempt->now_ms, &pair, &all);
    if (status != DB_OK)
        return status;
    bool was_locked = login_guard_locked(&all, attempt->now_ms);
    login_guard_fail(&pair, attempt->now_ms, policy->max_failures, policy->lock_ms);
    login_guard_fail(&all, attempt->now_ms, policy->max_failures_all, policy->lock_ms);
    if (!was_locked && login_guard_locked(&all, attempt->now_ms))
        log_warn("a login is locked for every client: failed logins from many addresses",
                 LF_STR("client", attempt->client), LF_ERR("login_locked_all"));
    status = store_login_guard_set(db, attempt->login, attempt->client, &pair,
                                   login_guard_expires_ms(&pair, policy->lock_ms));
    if (status == DB_OK)
        status = store_login_guard_set(db, attempt->login, "", &all,
                                       login_guard_expires_ms(&all, policy->lock_ms));
    return status;
}

db_status_t identity_login_settle(const order_app_t *app, db_t *db, login_attempt_t *attempt)
{
    identity_login_clear(attempt);
    if (!attempt->granted) /* a refusal by a lock is counted nowhere */
        return attempt->locked ? DB_OK : record_failure(app, db, attempt);
    db_status_t status = store_login_guard_clear(db, attempt->login, attempt->client);
    if (status == DB_OK)
        attempt->answer = token_pair(app, db, &attempt->staff, &status);
    return status;
}

db_status_t identity_refresh(const order_app_t *app, db_t *db, const char *refresh_token,
                             json_t **answer_out)
{
    *answer_out = NULL;
    char hash[DIGEST_HEX_SIZE], staff_id[37];
    if (digest_sha256_hex(refresh_token, strlen(refresh_token), hash) != 0)
        return db_fail(db, DB_STATE_OUT_OF_MEMORY, "could not hash a refresh token");
    db_status_t status = store_refresh_use(db, hash, clock_now_ms(), staff_id);
    if (status != DB_OK || !staff_id[0])
        return status;
    staff_login_t staff;
    bool found = false;
    status = store_staff_by_id(db, staff_id, &found, &staff);
    if (status != DB_OK || !found || !staff.active)
        return status;
    *answer_out = token_pair(app, db, &staff, &status);
    return status;
}
