-- POST /v1/auth/token's limits (services/order/login.h), kept here so
-- that every replica counts the same attempts; Redis could hold them too,
-- but then a Redis away would mean either no limit in front of Argon2id or
-- no logins, while the database is needed for a login anyway.
--
-- login_throttle: one row per client (an IPv4 address or an IPv6 /64),
-- the rate limit's theoretical arrival time; a row whose time has passed
-- is as good as none and is deleted a few at a time by later attempts.
CREATE TABLE login_throttle (
    client text PRIMARY KEY,
    tat    timestamptz NOT NULL
);
CREATE INDEX login_throttle_tat ON login_throttle (tat);

-- login_failures: failed attempts under a login name as typed (whether
-- or not such a login exists), per client, and under client '' from every
-- client together. expires_at: when the row means nothing any more.
-- staff.failed_logins and staff.locked_until are no longer used (a later
-- migration drops them, once no replica reads them).
CREATE TABLE login_failures (
    login        text    NOT NULL,
    client       text    NOT NULL,
    failures     integer NOT NULL DEFAULT 0,
    window_start timestamptz,
    locked_until timestamptz,
    expires_at   timestamptz NOT NULL,
    PRIMARY KEY (login, client)
);
CREATE INDEX login_failures_expires ON login_failures (expires_at);
