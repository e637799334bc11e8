#!/usr/bin/env bash
# Two replicas of the consumer: exactly one applies. When it is killed -9
# the other takes over within seconds, and nothing is applied twice.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/kit/kit.sh"

TOTAL=${IT_FAILOVER_EVENTS:-20000}
kit_dbs
kit_start_busd
kit_start_cons consA 2
it_wait_until 20 "replica A ready" kit_http_ok 28092 /readyz
kit_start_cons consB 3
it_wait_until 20 "replica B ready" kit_http_ok 28093 /readyz
kit_start_prod prod KITPROD_COUNT=$TOTAL KITPROD_BATCH=100 KITPROD_RATE=2000

it_wait_until 60 "a quarter applied" kit_applied_at_least $((TOTAL / 4))
appliers=$(it_psql "SELECT count(DISTINCT applied_by) FROM kitcons.kit_applied")
it_assert_eq 1 "$appliers" "replicas that applied events while both ran"
leader_pid=$(it_psql "SELECT applied_by FROM kitcons.kit_applied LIMIT 1")
if [ "$leader_pid" = "$(it_pid consA)" ]; then
    leader=consA follower=consB follower_port=28093
elif [ "$leader_pid" = "$(it_pid consB)" ]; then
    leader=consB follower=consA follower_port=28092
else
    it_fail "events were applied by pid $leader_pid, which is neither replica"
fi
curl -fsS "http://127.0.0.1:$follower_port/readyz" | grep -Eq '"leader": ?false' ||
    it_fail "the replica that applies nothing should say it does not lead"

at_kill=$(kit_applied)
it_log "killing the leader $leader (-9) at $at_kill applied"
killed_at=$(date +%s%N)
it_kill "$leader" KILL
follower_pid=$(it_pid "$follower")
it_wait_until 15 "the follower applies within seconds" bash -c \
    "[ \$(psql -X -Atq '$TEST_DATABASE_URL' -c \"SELECT count(*) FROM kitcons.kit_applied WHERE applied_by = $follower_pid\") -gt 0 ]"
took_ms=$(( ($(date +%s%N) - killed_at) / 1000000 ))
it_log "the follower took over in $took_ms ms"

it_wait_until 120 "every event applied" kit_applied_at_least "$TOTAL"
kit_assert_exactly_once_in_order "$TOTAL"
it_assert_eq 0 "$(it_psql "SELECT count(*) FROM kitcons.kit_applied WHERE applied_by NOT IN ($leader_pid, $follower_pid)")" \
    "rows applied by anyone else"
