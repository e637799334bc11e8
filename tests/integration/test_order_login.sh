#!/usr/bin/env bash
# POST /v1/auth/token's limits against two real order replicas sharing one
# database, behind a "proxy" (curl from 127.0.0.1, trusted by replica 1,
# naming the client in X-Forwarded-For):
#   - a per-client rate limit answers 429 with Retry-After before any
#     password is hashed (login_password_checks_total does not move), per
#     client, counted across replicas; a client's own X-Forwarded-For
#     entries are never believed, nor any from an untrusted peer;
#   - a lockout that does not tell whether a login exists: unknown and
#     real logins lock the same way after LOGIN_MAX_FAILURES, a locked
#     login answers exactly as a wrong password (and costs the same
#     Argon2id), an unknown login is hashed too;
#   - an attacker cannot lock a real user out from one address: the lock
#     holds that address only, and the login locks for everyone only
#     after LOGIN_MAX_FAILURES_ALL failures from many; locks end after
#     LOGIN_LOCK.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/kit/kit.sh"
source "$(dirname "$0")/order/order.sh"

kit_dbs
order_dbs
kit_start_busd
limits="LOGIN_RATE_MAX=5 LOGIN_RATE_WINDOW=1m LOGIN_MAX_FAILURES=3 LOGIN_MAX_FAILURES_ALL=6 LOGIN_LOCK=10m"
order_start order1 1 $limits HTTP_TRUSTED_PROXIES=127.0.0.1
order_start order2 2 $limits
olga=$(order_staff olga "Olga Manager" manager '["moscow"]' 10)

# login N CLIENT LOGIN PASSWORD [XFF]: replica N, as CLIENT behind the proxy
login() {
    local xff=${5:-$2}
    ORDER_N=$1 order_call POST /v1/auth/token "{\"login\":\"$3\",\"password\":\"$4\"}" \
        "X-Forwarded-For: $xff"
}
checks() { # Argon2id verifications replica N made
    curl -sS "$(order_url "$1")/metrics" | awk '$1 == "login_password_checks_total" {print $2}'
}
headers() { # the answer's headers to a login as CLIENT on replica 1
    curl -sS -D - -o /dev/null --max-time 10 -H 'Content-Type: application/json' \
        -H "X-Forwarded-For: $1" --data-binary '{"login":"olga","password":"wrong"}' \
        "$(order_url 1)/v1/auth/token"
}

# --- the rate limit: five at once per client, then one every 12 s ----------------------
for i in 1 2 3 4 5; do
    it_assert_eq 200 "$(http_code "$(login 1 198.51.100.1 olga pass-olga-123)")" "login $i of client A"
done
before=$(checks 1)
out=$(login 1 198.51.100.1 olga pass-olga-123)
it_assert_eq "429 login_rate_limited" "$(http_code "$out") $(http_body "$out" | jq -r .code)" \
    "client A's sixth attempt within the minute"
retry=$(headers 198.51.100.1 | tr -d '\r' | awk -F': ' 'tolower($1) == "retry-after" {print $2}')
[ -n "$retry" ] && [ "$retry" -ge 1 ] && [ "$retry" -le 12 ] || it_fail "Retry-After is '$retry'"
it_assert_eq "$before" "$(checks 1)" "no password was hashed for the refused attempts"
it_assert_eq 200 "$(http_code "$(login 1 198.51.100.2 olga pass-olga-123)")" \
    "client B is not held up by client A"
# a client's own X-Forwarded-For entry before the proxy's is never reached
it_assert_eq 429 "$(http_code "$(login 1 198.51.100.1 olga pass-olga-123 "203.0.113.99, 198.51.100.1")")" \
    "client A claiming another address through the proxy"
# replica 2 trusts no proxy: every request is 127.0.0.1's, whatever it claims,
# and the count is the database's, shared by both replicas
for i in 1 2 3 4 5; do
    login 2 "203.0.113.$i" olga pass-olga-123 >/dev/null
done
it_assert_eq 429 "$(http_code "$(login 2 203.0.113.6 olga pass-olga-123)")" \
    "an untrusted peer's X-Forwarded-For is not believed"
it_assert_eq 429 "$(http_code "$(login 1 127.0.0.1 olga pass-olga-123)")" \
    "replica 1 refuses the client replica 2 counted"

# --- the lockout tells nothing about the login -------------------------------------------
wrong=$(login 1 198.51.100.10 olga wrong-password)
it_assert_eq 401 "$(http_code "$wrong")" "a wrong password"
login 1 198.51.100.10 olga wrong-password >/dev/null
login 1 198.51.100.10 olga wrong-password >/dev/null # the third: locked for this client
locked=$(login 1 198.51.100.10 olga pass-olga-123)
it_assert_eq "$wrong" "$locked" "the right password while locked answers as a wrong one"
for i in 1 2 3; do
    login 1 198.51.100.11 ghost wrong-password >/dev/null
done
it_assert_eq "$wrong" "$(login 1 198.51.100.11 ghost whatever)" \
    "an unknown login locks and answers the same way"
before=$(checks 1)
login 1 198.51.100.12 nobody whatever >/dev/null
login 1 198.51.100.10 olga pass-olga-123 >/dev/null
it_assert_eq $((before + 2)) "$(checks 1)" "an unknown and a locked login cost an Argon2id check too"
it_assert_eq 1 "$(order_sql "SELECT count(*) FROM orders.login_failures WHERE login = 'ghost' AND client = '198.51.100.11' AND locked_until IS NOT NULL")" \
    "an unknown login's failures are counted like a real one's"

# --- one address cannot lock the real user out; many can, for LOGIN_LOCK -----------------
it_assert_eq 200 "$(http_code "$(login 1 198.51.100.20 olga pass-olga-123)")" \
    "olga from her own address while the attacker's is locked"
# olga's failures so far: 3 (the locked attempts counted nowhere); 3 more from another address
for i in 1 2 3; do
    login 1 198.51.100.30 olga wrong-password >/dev/null
done
it_assert_eq "$wrong" "$(login 1 198.51.100.21 olga pass-olga-123)" \
    "LOGIN_MAX_FAILURES_ALL failures from many addresses lock the login for everyone"
advance() { # MS: business time moves on in both replicas
    local n
    for n in 1 2; do ORDER_N=$n order_call POST /v1/test/clock "{\"advance_ms\": $1}" >/dev/null; done
}
advance 70000 # past the rate limit's minute, within the lock
it_assert_eq "$wrong" "$(ORDER_N=2 order_call POST /v1/auth/token '{"login":"olga","password":"pass-olga-123"}')" \
    "the other replica sees the lock too"
advance 600000
it_assert_eq 200 "$(http_code "$(login 1 198.51.100.22 olga pass-olga-123)")" "the lock ends after LOGIN_LOCK"
it_assert_eq 200 "$(http_code "$(login 1 198.51.100.10 olga pass-olga-123)")" \
    "and the attacker's address may try again"
head -c 5000 /dev/zero | tr '\0' x >"$IT_RUN/big-login"
it_assert_eq 413 "$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 -H 'Content-Type: application/json' \
    --data-binary @"$IT_RUN/big-login" "$(order_url 1)/v1/auth/token")" "a login body past 4 KiB, unread"
it_log "login: rate limit before hashing, per client, across replicas; lockout tells nothing; one address locks nobody out"
