#!/usr/bin/env bash
# Identity against the real order service: staff log in with a password
# and get an HS256 token and a refresh token; tokens signed with another
# key, with alg "none", or past their expiry are refused with their own
# codes; roles gate the routes; repeated wrong passwords lock the login
# for a while (answered as a wrong password: test_order_login has the
# rest); a refresh token works once; no password, secret or key reaches
# the logs.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/kit/kit.sh"
source "$(dirname "$0")/order/order.sh"

kit_dbs
order_dbs
kit_start_busd
order_start order1 1 LOGIN_MAX_FAILURES=3 LOGIN_LOCK=10m
order_sources
manager=$(order_staff olga "Olga Manager" manager '["moscow"]' 10)
order_staff kolya "Kolya Courier" courier '[]' 10 >/dev/null

login() {
    order_call POST /v1/auth/token "{\"login\":\"$1\",\"password\":\"$2\"}"
}

out=$(login olga pass-olga-123)
it_assert_eq 200 "$(http_code "$out")" "login with the right password"
access=$(http_body "$out" | jq -r .access_token)
refresh=$(http_body "$out" | jq -r .refresh_token)
it_assert_eq 900 "$(http_body "$out" | jq -r .expires_in)" "token lifetime in seconds"
out=$(order_call GET /v1/staff/me "" "Authorization: Bearer $access")
it_assert_eq "200 $manager" "$(http_code "$out") $(http_body "$out" | jq -r .id)" "the token names its holder"

# --- forged tokens ----------------------------------------------------------------
other=$(AUTH_JWT_KEYS="it:another-secret-that-is-long-enough-0123456789" \
    "$IT_BIN/conveyor" token --sub "$manager" --roles admin)
out=$(order_call GET /v1/orders "" "Authorization: Bearer $other")
it_assert_eq "401 token_bad_signature" "$(http_code "$out") $(http_body "$out" | jq -r .code)" \
    "a token signed with another secret"
header=$(printf '{"alg":"none","typ":"JWT","kid":"it"}' | base64 -w0 | tr '+/' '-_' | tr -d '=')
claims=$(printf '{"sub":"%s","aud":"conveyor","iss":"conveyor","exp":%d,"roles":["admin"]}' \
    "$manager" $(( $(date +%s) + 600 )) | base64 -w0 | tr '+/' '-_' | tr -d '=')
out=$(order_call GET /v1/orders "" "Authorization: Bearer $header.$claims.")
it_assert_eq "401 token_bad_alg" "$(http_code "$out") $(http_body "$out" | jq -r .code)" \
    "an unsigned token (alg none)"
out=$(order_call GET /v1/orders "" "Authorization: Bearer not.a.token")
it_assert_eq 401 "$(http_code "$out")" "garbage for a token"
out=$(order_call GET /v1/orders)
it_assert_eq "401 unauthenticated" "$(http_code "$out") $(http_body "$out" | jq -r .code)" "no token"

# --- roles ----------------------------------------------------------------------
courier=$(it_token courier)
out=$(order_call POST /v1/staff '{"login":"x1","name":"X","role":"manager"}' "Authorization: Bearer $courier")
it_assert_eq "403 forbidden" "$(http_code "$out") $(http_body "$out" | jq -r .code)" "a courier creating staff"
out=$(order_call POST /v1/sources '{"source":"evil"}' "Authorization: Bearer $access")
it_assert_eq 403 "$(http_code "$out")" "a manager creating an intake source"
warehouse=$(it_token warehouse)
out=$(order_call POST /v1/orders "$(order_body A B moscow S 1)" "Authorization: Bearer $warehouse" "Idempotency-Key: W-1")
it_assert_eq 403 "$(http_code "$out")" "the warehouse filing an order"
out=$(order_call POST /v1/orders "$(order_body "Call Centre" "+79005550000" moscow S 1)" "Authorization: Bearer $access" "Idempotency-Key: W-2")
it_assert_eq "201 callcenter" "$(http_code "$out") $(http_body "$out" | jq -r .source)" \
    "a manager filing a phone order"
out=$(order_call POST "/v1/staff/$manager/shift" '{"on_shift":true}' "Authorization: Bearer $courier")
it_assert_eq 403 "$(http_code "$out")" "someone else's shift"
out=$(order_call POST /v1/staff/me/shift '{"on_shift":true}' "Authorization: Bearer $access")
it_assert_eq "200 true" "$(http_code "$out") $(http_body "$out" | jq -r .on_shift)" "one's own shift"

# --- refresh ------------------------------------------------------------------------
out=$(order_call POST /v1/auth/refresh "{\"refresh_token\":\"$refresh\"}")
it_assert_eq 200 "$(http_code "$out")" "a refresh token gives a new pair"
new_access=$(http_body "$out" | jq -r .access_token)
it_assert_eq 200 "$(http_code "$(order_call GET /v1/staff/me "" "Authorization: Bearer $new_access")")" \
    "the refreshed token works"
out=$(order_call POST /v1/auth/refresh "{\"refresh_token\":\"$refresh\"}")
it_assert_eq "401 bad_refresh_token" "$(http_code "$out") $(http_body "$out" | jq -r .code)" \
    "a refresh token used twice"

# --- lockout --------------------------------------------------------------------------
for i in 1 2 3; do
    it_assert_eq 401 "$(http_code "$(login olga wrong-password-$i)")" "wrong password $i"
done
out=$(login olga pass-olga-123)
it_assert_eq "401 bad_credentials" "$(http_code "$out") $(http_body "$out" | jq -r .code)" \
    "the right password while locked: told nothing more than a wrong one"
it_assert_eq 401 "$(http_code "$(login nobody whatever)")" "an unknown login"

# --- expiry: business time moves on ---------------------------------------------------------
order_call POST /v1/test/clock '{"advance_ms": 960000}' >/dev/null
out=$(order_call GET /v1/orders "" "Authorization: Bearer $access")
it_assert_eq "401 token_expired" "$(http_code "$out") $(http_body "$out" | jq -r .code)" \
    "a token after 16 minutes"
it_assert_eq 200 "$(http_code "$(login olga pass-olga-123)")" "the login unlocks after the lock time"

# --- nothing secret in the logs --------------------------------------------------------------------
for secret in pass-olga-123 "$refresh" "$ORDER_SITE_KEY" "${AUTH_JWT_KEYS#*:}" "$access"; do
    if grep -qF -- "$secret" "$IT_RUN"/order1.log; then
        it_fail "a secret reached the log: ${secret:0:12}..."
    fi
done
it_log "identity: logins, forged and expired tokens, roles, lockout, refresh; no secret in logs"
