#!/usr/bin/env bash
# Redis locks between real processes (common/lock.h through kitlock): two
# contenders on one key are never inside at the same time and both finish
# every iteration; a holder killed -9 keeps everyone out until its ttl runs
# out, and not much longer.
source "$(dirname "$0")/lib.sh"

KEY="it-lock-$$"
HOLD_KEY="$KEY-held"
ITERATIONS=${IT_LOCK_ITERATIONS:-2000}
HOLD_TTL_MS=2000
export REDIS_URL=$TEST_REDIS_URL

# lock_field TEXT NAME: the number after NAME= in TEXT
lock_field() {
    sed -n "s/.*\b$2=\([0-9][0-9]*\).*/\1/p" <<<"$1"
}

# lock_finished NAME...: succeeds once every contender printed its summary
lock_finished() {
    local name
    for name in "$@"; do
        grep -q '^summary ' "$IT_RUN/$name.log" 2>/dev/null || return 1
    done
}

it_redis DEL "kitlock:inside:$KEY" "kitlock:violations:$KEY" "lock:$KEY" "lock:$HOLD_KEY" >/dev/null

# --- two contenders, one key -------------------------------------------------
it_start contendA "$IT_BIN/kitlock" contend "$KEY" "$ITERATIONS"
it_start contendB "$IT_BIN/kitlock" contend "$KEY" "$ITERATIONS"
it_wait_until 180 "both contenders finish $ITERATIONS iterations" lock_finished contendA contendB
for name in contendA contendB; do
    summary=$(grep -m1 '^summary ' "$IT_RUN/$name.log")
    echo "$name: $summary"
    it_assert_eq "$ITERATIONS" "$(lock_field "$summary" done)" "iterations $name ran under the lock"
    it_assert_eq 0 "$(lock_field "$summary" overlaps)" "overlaps $name saw"
done
violations=$(it_redis GET "kitlock:violations:$KEY")
it_assert_eq 0 "${violations:-0}" "times both contenders were inside at once"
inside=$(it_redis GET "kitlock:inside:$KEY")
it_assert_eq 0 "${inside:-0}" "contenders inside after both finished"
it_assert_eq 0 "$(it_redis EXISTS "lock:$KEY")" "lock keys left behind by the contenders"

# --- a holder killed -9 ------------------------------------------------------
it_start holder "$IT_BIN/kitlock" hold "$HOLD_KEY" "$HOLD_TTL_MS"
it_wait_until 10 "the holder holds the lock" grep -q '^held ' "$IT_RUN/holder.log"
it_kill holder KILL
held_at=$(sed -n 's/^held at_ms=\([0-9][0-9]*\)$/\1/p' "$IT_RUN/holder.log")
[ -n "$held_at" ] || it_fail "the holder's line has no time: $(cat "$IT_RUN/holder.log")"

asked_at=$(date +%s%3N)
rc=0
answer=$("$IT_BIN/kitlock" try "$HOLD_KEY" 1000 0) || rc=$?
took=$(($(date +%s%3N) - asked_at))
it_assert_eq 1 "$rc" "exit status of an acquirer with wait 0 under the dead holder's lock ($answer)"
[ "$took" -lt 500 ] || it_fail "a busy answer with wait 0 took $took ms"
busy_after=$(($(lock_field "$answer" at_ms) - held_at))
[ "$busy_after" -lt $((HOLD_TTL_MS - 200)) ] ||
    it_fail "the busy check ran only $busy_after ms after the lock was taken: too late to mean anything"

rc=0
answer=$("$IT_BIN/kitlock" try "$HOLD_KEY" 1000 $((HOLD_TTL_MS + 3000))) || rc=$?
it_assert_eq 0 "$rc" "exit status of an acquirer waiting out the dead holder's ttl ($answer)"
freed_after=$(($(lock_field "$answer" at_ms) - held_at))
echo "the dead holder's lock (ttl $HOLD_TTL_MS ms) was taken again after $freed_after ms"
[ "$freed_after" -ge $((HOLD_TTL_MS - 200)) ] ||
    it_fail "the lock was taken again after $freed_after ms, before the ttl of $HOLD_TTL_MS ms"
[ "$freed_after" -le $((HOLD_TTL_MS + 1000)) ] ||
    it_fail "the lock was taken again only after $freed_after ms (ttl $HOLD_TTL_MS ms)"

it_redis DEL "kitlock:inside:$KEY" "kitlock:violations:$KEY" >/dev/null
exit 0
