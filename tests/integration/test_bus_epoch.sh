#!/usr/bin/env bash
# The producer's database is replaced under it: its relay starts a new
# epoch. The consumer must stop that stream and say so on /readyz and in
# its log, instead of silently dropping the new events as already seen —
# and resume once an operator resyncs it. Both ways a database can be
# replaced are exercised: a restore (same tables, another database
# identity) and a new empty database.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/kit/kit.sh"

kit_dbs
kit_start_busd
kit_start_cons cons 2
kit_start_prod prod
it_wait_until 20 "kitcons ready" kit_http_ok 28092 /readyz
it_wait_until 20 "kitprod ready" kit_http_ok 28091 /readyz
kit_produce 100 >/dev/null
it_wait_until 30 "100 applied" kit_applied_at_least 100
old_epoch=$(it_psql "SELECT epoch FROM kitprod.outbox_streams")

halted() {
    [ "$(kit_http_status 28092 /readyz)" = 503 ]
}

# 1. a restore: the same outbox, but the database's identity differs
it_stop prod
it_psql "UPDATE kitprod.outbox_streams SET system_identifier = 'restored-from-backup'"
kit_start_prod prod2
it_wait_until 20 "kitprod ready again" kit_http_ok 28091 /readyz
new_epoch=$(it_psql "SELECT epoch FROM kitprod.outbox_streams")
[ "$new_epoch" -gt "$old_epoch" ] || it_fail "no new epoch after the identity changed ($old_epoch -> $new_epoch)"
kit_produce 30 >/dev/null
it_wait_until 20 "the consumer reports the stream stopped" halted
body=$(curl -sS http://127.0.0.1:28092/readyz)
echo "$body" | grep -q '"degraded"' || it_fail "readyz does not say degraded: $body"
echo "$body" | grep -q 'new epoch' || it_fail "readyz does not give the reason: $body"
grep -q '"msg":"stream stopped: an operator must resync it"' "$IT_RUN/cons.log" ||
    it_fail "the consumer did not log the stop"
it_assert_eq 100 "$(kit_applied)" "events applied after the epoch changed"
it_assert_eq 100 "$(it_psql "SELECT last_seq FROM kitcons.inbox_offsets WHERE stream = 'kitprod'")" \
    "the offset did not move"

# the operator resyncs with the CLI: follow the new epoch from its start
# (it asks the producer's replay endpoint for its epoch, as an operator)
out=$(bash -c "$KIT_CONS_ENV
    exec env BUS_CERT=$(it_key operator ops) REPLAY_PEERS=kitprod=tcp://127.0.0.1:25591 \
    \"$IT_BIN/conveyor\" resync --stream kitprod") || it_fail "conveyor resync failed: $out"
it_log "$out"
it_wait_until 30 "the new epoch's events applied after the resync" kit_applied_at_least 130
it_wait_until 10 "ready again" kit_http_ok 28092 /readyz
it_assert_eq 130 "$(kit_applied)" "events applied after the resync"

# 2. a brand-new database: schema and roles recreated, counter row gone
it_stop prod2
KIT_PROD_ENV=$(it_service_db kitprod)
kit_start_prod prod3
it_wait_until 20 "kitprod ready on the new database" kit_http_ok 28091 /readyz
kit_produce 5 >/dev/null
it_wait_until 20 "the consumer reports the stream stopped again" halted
it_assert_eq 130 "$(kit_applied)" "events applied from the new database before a resync"
