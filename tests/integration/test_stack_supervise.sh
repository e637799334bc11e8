#!/usr/bin/env bash
# test_stack_supervise.sh — the local stack restarts a process that dies
# (issue 10, item 5: the stack half), and `down` leaves nothing behind.
#
# Runs scripts/stack.sh itself, as `make up` / `make run` do, in a stack
# directory of its own under $IT_RUN and on ports of its own
# (STACK_PORT_OFFSET: busd 16550/16551/19080, the services 1908N and
# 1656N, PostgreSQL 26432, Redis 27379), so a developer's running
# .run/stack is never touched. Proves that
#   1. `up` returns with busd and every built service of deploy/services.tsv
#      answering /readyz, under a supervisor of its own;
#   2. a service killed with -9 comes back by itself and answers /readyz,
#      the exit (signal KILL) and the restart logged in its log; killed again
#      at once, it comes back after a doubled delay (backoff); busd too;
#   3. `down` stops everything: no process carrying the stack's mark
#      (CONVEYOR_STACK) is left, no port of the stack is listened on;
#   2b. SHIPPING_REPLICAS=2 (issue 13, item 7): two shipping processes on
#      their own ports (8085 and 8102, plus the offset), both ready on the
#      same database, exactly one leading, both in up's summary; the second
#      killed with -9 comes back by itself, the first untouched;
#   4. `run` in the foreground no longer stops the stack when a service dies:
#      the service comes back and its restart shows on run's terminal; a
#      Ctrl-C (SIGINT to run's process group) stops everything, exit 0.
source "$(dirname "$0")/lib.sh"

STACK_DIR="$IT_RUN/stack"
OFFSET=11000
# stack ARGS...: scripts/stack.sh on this test's directory and ports, with the programs under test
stack() {
    STACK="$STACK_DIR" STACK_PORT_OFFSET=$OFFSET STACK_BIN="$IT_BIN" SHIPPING_REPLICAS=2 \
        bash "$IT_TOP/scripts/stack.sh" "$@"
}
cleanup() {
    stack down >/dev/null 2>&1
    _it_cleanup
}
trap cleanup EXIT

export SERVICES_TABLE="$IT_TOP/deploy/services.tsv"
source "$IT_TOP/deploy/services.sh"
procs=("busd:$((8080 + OFFSET))")
ports=($((5550 + OFFSET)) $((5551 + OFFSET)) $((8080 + OFFSET)) $((15432 + OFFSET)) $((16379 + OFFSET))
    $((8090 + OFFSET)) $((8095 + OFFSET))) # and the sandbox's fake bank and carrier
while read -r name _ http replay _; do
    [ -x "$IT_BIN/$name" ] || continue
    procs+=("$name:$((http + OFFSET))")
    ports+=($((http + OFFSET)) $((replay + OFFSET)))
done < <(services_rows)
# the second shipping replica: HTTP 8100+2, replay 5600+2 (scripts/stack.sh)
SHIP2_PORT=$((8102 + OFFSET))
if [ -x "$IT_BIN/shipping" ]; then
    procs+=("shipping-2:$SHIP2_PORT")
    ports+=("$SHIP2_PORT" $((5602 + OFFSET)))
fi
[ ${#procs[@]} -ge 2 ] || it_fail "no service of deploy/services.tsv is built in $IT_BIN"

http_ready() {
    curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$1/readyz"
}
# stack_pids: the pids of every process carrying this stack's mark
# (builtins only: no helper process of ours can match)
stack_pids() {
    local dir pid entry
    for dir in /proc/[0-9]*; do
        pid=${dir#/proc/}
        [ -r "$dir/environ" ] || continue
        {
            while IFS= read -r -d '' entry; do
                if [ "$entry" = "CONVEYOR_STACK=$STACK_DIR" ]; then
                    echo "$pid"
                    break
                fi
            done <"$dir/environ"
        } 2>/dev/null # kernel threads and processes gone meanwhile
    done
}
# listening: the stack's ports somebody listens on
listening() {
    local port
    for port in "${ports[@]}"; do
        ss -Hltn "sport = :$port" | grep -q . && echo "$port"
    done
}
nothing_left() {
    [ -z "$(stack_pids)" ] && [ -z "$(listening)" ]
}
assert_nothing_left() { # WHAT
    local pids
    it_wait_until 10 "$1: every process of the stack gone and its ports free" nothing_left
    pids=$(stack_pids)
    [ -z "$pids" ] || it_fail "$1 left $(for p in $pids; do tr '\0' ' ' <"/proc/$p/cmdline"; echo; done)"
    it_log "$1: no process left, no port of the stack listened on"
}
all_ready() {
    local item
    for item in "${procs[@]}"; do
        http_ready "${item##*:}" || return 1
    done
}
pid_of() {
    cat "$STACK_DIR/$1.pid" 2>/dev/null
}
# came_back NAME OLD_PID PORT: a new process runs and answers /readyz
came_back() {
    local pid
    pid=$(pid_of "$1") && [ -n "$pid" ] && [ "$pid" != "$2" ] && kill -0 "$pid" 2>/dev/null &&
        http_ready "$3"
}
# kill_and_wait NAME PORT: kill -9, then it comes back; sets DELAY_MS to the delay logged
kill_and_wait() {
    local name=$1 port=$2 old start
    old=$(pid_of "$name") || it_fail "$name has no pid file"
    start=$SECONDS
    kill -KILL "$old" || it_fail "could not kill $name ($old)"
    it_wait_until 30 "$name back after kill -9" came_back "$name" "$old" "$port"
    local line
    line=$(grep -F "\"msg\":\"exited; restarting\",\"name\":\"$name\",\"pid\":$old," "$STACK_DIR/logs/$name.log") ||
        it_fail "$name.log does not say that pid $old exited"
    grep -qF '"cause":"signal KILL"' <<<"$line" || it_fail "the exit of $name was not logged as signal KILL: $line"
    DELAY_MS=$(sed -n 's/.*"restart_in_ms":\([0-9]*\).*/\1/p' <<<"$line")
    it_log "$name killed (pid $old): back as pid $(pid_of "$name") after $((SECONDS - start)) s (restart_in_ms $DELAY_MS)"
}

# --- 1. up -------------------------------------------------------------------
start=$SECONDS
stack up >"$IT_RUN/up.out" 2>&1 || { tail -30 "$IT_RUN/up.out"; it_fail "stack up failed"; }
all_ready || it_fail "up returned before every process answered /readyz"
supervisor=$(cat "$STACK_DIR/supervisor.pid")
kill -0 "$supervisor" 2>/dev/null || it_fail "no supervisor runs after up"
it_log "up in $((SECONDS - start)) s: ${procs[*]} ready, supervisor pid $supervisor"

# --- 2. kill -9: back by itself, with backoff -------------------------------
service=${procs[1]%%:*} service_port=${procs[1]##*:}
kill_and_wait "$service" "$service_port"
first=$DELAY_MS
kill_and_wait "$service" "$service_port"
[ "$DELAY_MS" -gt "$first" ] || it_fail "killed again at once, $service came back after $DELAY_MS ms, not more than $first"
grep -qF "\"msg\":\"restarted\",\"name\":\"$service\"" "$STACK_DIR/logs/$service.log" ||
    it_fail "$service.log does not log the restart"
kill_and_wait busd $((8080 + OFFSET))

# --- 2b. two shipping replicas ---------------------------------------------------
if [ -x "$IT_BIN/shipping" ]; then
    ship1_port=$((8085 + OFFSET))
    grep -qE "^  shipping-2 +http://127.0.0.1:$SHIP2_PORT " "$IT_RUN/up.out" ||
        it_fail "up's summary does not show shipping-2 on :$SHIP2_PORT: $(cat "$IT_RUN/up.out")"
    ship_env() { tr '\0' '\n' <"/proc/$(pid_of "$1")/environ" | grep -E "^($2)="; }
    it_assert_eq "$(ship_env shipping DATABASE_URL)" "$(ship_env shipping-2 DATABASE_URL)" \
        "both replicas on the same database"
    it_assert_eq "HTTP_ADDR=127.0.0.1:$SHIP2_PORT" "$(ship_env shipping-2 HTTP_ADDR)" "replica 2's HTTP port"
    leaders() {
        local port n=0
        for port in "$ship1_port" "$SHIP2_PORT"; do
            [ "$(curl -fsS --max-time 2 "http://127.0.0.1:$port/readyz" | jq -r .leader)" = true ] && n=$((n + 1))
        done
        echo "$n"
    }
    one_leader() { [ "$(leaders)" = 1 ]; }
    it_wait_until 20 "exactly one shipping replica leading" one_leader
    ship1_pid=$(pid_of shipping)
    kill_and_wait shipping-2 "$SHIP2_PORT"
    it_assert_eq "$ship1_pid" "$(pid_of shipping)" "replica 1 untouched by replica 2's death"
    it_wait_until 20 "exactly one shipping replica leading after the restart" one_leader
    it_log "shipping: 2 replicas (:$ship1_port, :$SHIP2_PORT), one leading; replica 2 killed -9 and back"
fi
[ "$(cat "$STACK_DIR/supervisor.pid")" = "$supervisor" ] || it_fail "the supervisor changed"

# --- 3. down -----------------------------------------------------------------
stack down >"$IT_RUN/down.out" 2>&1 || it_fail "stack down failed: $(cat "$IT_RUN/down.out")"
assert_nothing_left "down after up"
[ ! -e "$STACK_DIR/supervisor.pid" ] || it_fail "down left supervisor.pid"

# --- 4. run: a death does not stop it; Ctrl-C does ----------------------------
# job control: run gets a process group of its own, and SIGINT reaches it as
# a terminal's Ctrl-C would (a plain background job would ignore SIGINT)
set -m
stack run >"$IT_RUN/run.out" 2>&1 &
run_pid=$!
set +m
it_wait_until 120 "run: every process ready" all_ready
it_wait_until 10 "run: following the logs" grep -q 'Ctrl-C stops everything' "$IT_RUN/run.out"
victim=${procs[-1]%%:*} victim_port=${procs[-1]##*:}
kill_and_wait "$victim" "$victim_port"
kill -0 "$run_pid" 2>/dev/null || it_fail "run stopped when $victim died"
it_wait_until 10 "the restart of $victim on run's terminal" \
    grep -qF "\"msg\":\"restarted\",\"name\":\"$victim\"" "$IT_RUN/run.out"
it_log "run: $victim's restart shows on its terminal, run goes on"
kill -INT -- "-$run_pid"
for _ in $(seq 1 600); do
    kill -0 "$run_pid" 2>/dev/null || break
    sleep 0.1
done
kill -0 "$run_pid" 2>/dev/null && it_fail "run did not stop within 60 s of Ctrl-C"
wait "$run_pid"
it_assert_eq 0 "$?" "run's exit status after Ctrl-C"
grep -q "conveyor is down" "$IT_RUN/run.out" || it_fail "run did not say the stack is down"
assert_nothing_left "Ctrl-C in run"
