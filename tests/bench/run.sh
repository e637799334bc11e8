#!/usr/bin/env bash
# run.sh — `make bench`: the figures, printed, never asserted.
#
# Runs against a private PostgreSQL and Redis under .run/bench with fsync
# and synchronous_commit on (batching is the lever, never durability), on
# loopback, on whatever else the machine is doing: quote the medians and
# the ratios, which are measured in one run.
#
# Each tests/bench/section_<name>.sh measures one thing and prints its
# figures with `figure NAME VALUE`; BENCH_ONLY=<name> runs one section.
# BENCH_SECTIONS (files) and BENCH_RESULTS (the figures' file) run other
# sections the same way: `make bench-peers` runs tests/bench/peers/.
# The sections share busd (kit ports) and the cluster; each provisions its
# own schemas.
#
# A run can be trusted or it fails (issue 10, item 7):
#   - one bench per checkout at a time (.run/bench/bench.pid); processes an
#     earlier run left behind (found by their pid files and the run's mark,
#     TEST_ROOT=.run/bench, in their environment) are stopped first;
#   - before and after each section, and after each run inside a section
#     (bench_settle), every port a section uses (BENCH_PORTS) must be free:
#     what it left running is named, stopped and waited for, and a port
#     still held after 30 s fails the run, naming who holds it; a section
#     runs in the bench's own shell, never in a subshell, so that what it
#     starts is the run's and its failures fail the run;
#   - a figure is a number: an empty or missing one (a run that measured
#     nothing) fails the run, naming the section and the figure;
#   - whatever fails, everything started is stopped, the run says which
#     section failed, shows the processes' last error lines and exits
#     non-zero; at the end no process of the run is left and no port of
#     it is held, or that fails the run too.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
BUILD=${BUILD:-build}
export IT_BIN="$top/$BUILD/bin"
export TEST_ROOT="$top/.run/bench" TEST_PG_PORT=${BENCH_PG_PORT:-24432} TEST_REDIS_PORT=${BENCH_REDIS_PORT:-24379}
export IT_RUN="$TEST_ROOT/run"
RESULTS=${BENCH_RESULTS:-$TEST_ROOT/results.txt}
[[ $RESULTS == /* ]] || RESULTS="$top/$RESULTS"
BENCH_SECTION=setup

# the ports the sections' processes listen on (tests/integration/kit/kit.sh:
# kitprod, kitcons 2 and 3; kit/inventory.sh: orderfeed, inventory 1 and 2;
# order/order.sh: order 1; payment/payment.sh: payment, the fake bank,
# factfeed as the order stream; notify/notify.sh: notification, the fake SMTP
# server), and busd's, which lives across sections
BENCH_PORTS="28091 25591 28092 25592 28093 25593 28121 25621 28130 25630 28131 25631 28132 25632 28181 25561 28140 25640 28141 28142"
BUSD_PORTS="25550 25551 28080"

bench_log() {
    echo "bench: $*" >&2
}

# bench_ours PID: a live process of a bench run of this checkout (it carries
# the run's TEST_ROOT), not this script itself
bench_ours() {
    [ -n "$1" ] && [ "$1" != $$ ] && [ -r "/proc/$1/environ" ] &&
        { tr '\0' '\n' <"/proc/$1/environ"; } 2>/dev/null | grep -qxF "TEST_ROOT=$TEST_ROOT"
}

# bench_stop_pids PID...: SIGTERM, SIGKILL after 15 s; returns once all are gone
bench_stop_pids() {
    [ $# -gt 0 ] || return 0
    kill -TERM "$@" 2>/dev/null
    local i pid alive=()
    for i in $(seq 1 400); do
        alive=()
        for pid in "$@"; do
            kill -0 "$pid" 2>/dev/null && alive+=("$pid")
        done
        [ ${#alive[@]} -eq 0 ] && return 0
        [ "$i" = 300 ] && kill -KILL "${alive[@]}" 2>/dev/null
        sleep 0.05
    done
    bench_log "pid ${alive[*]} outlived SIGKILL"
    return 1
}

# bench_leftovers [EXCEPT...]: prints "name pid" for every process started
# in this run (a pid file in $IT_RUN) that still runs, but the names given
bench_leftovers() {
    local pidfile name pid
    for pidfile in "$IT_RUN"/*.pid; do
        [ -f "$pidfile" ] || continue
        name=$(basename "$pidfile" .pid)
        [[ " $* " == *" $name "* ]] && continue
        pid=$(cat "$pidfile" 2>/dev/null)
        bench_ours "$pid" && echo "$name $pid"
    done
}

# bench_held PORT...: prints "port (who)" for each port somebody listens
# on; one `ss` for all, and the slow `ss -p` (who) only when one is held
bench_held() {
    local held
    held=$(ss -Hltn 2>/dev/null | awk -v want=" $* " '{ n = split($4, a, ":"); p = a[n] }
        index(want, " " p " ") && !seen[p]++ { print p }')
    [ -n "$held" ] || return 0
    ss -Hltnp 2>/dev/null | awk -v want=" $(tr '\n' ' ' <<<"$held") " '{ n = split($4, a, ":"); p = a[n]
        who = $NF; sub(/^users:\(\(/, "", who); sub(/\)\)$/, "", who) }
        index(want, " " p " ") && !seen[p]++ { print p " (" who ")" }'
}

# bench_ports_free WHEN PORT...: waits up to 30 s until no one listens on
# the ports; fails the run naming who still does
bench_ports_free() {
    local when=$1 held i
    shift
    for i in $(seq 1 150); do
        held=$(bench_held "$@")
        [ -z "$held" ] && return 0
        sleep 0.2
    done
    bench_log "$when: ports still held after 30 s: $(tr '\n' ' ' <<<"$held")"
    exit 1
}

# bench_settle WHAT: stops whatever of the run still runs but busd (naming
# it: a section or a run that leaves a process behind is a bug to fix), then
# waits until the sections' ports are free. After every section, and by a
# section after each of its runs, so that the next run binds its ports.
# A section's servers that live across its runs are named in BENCH_KEEP.
bench_settle() {
    local left
    # shellcheck disable=SC2086 # one name a word
    left=$(bench_leftovers busd ${BENCH_KEEP:-})
    if [ -n "$left" ]; then
        bench_log "$1 left running: $(cut -d' ' -f1 <<<"$left" | tr '\n' ' ')- stopping them"
        # shellcheck disable=SC2046 # one pid a word
        bench_stop_pids $(cut -d' ' -f2 <<<"$left") || exit 1
    fi
    # shellcheck disable=SC2086 # one port a word
    bench_ports_free "after $1" $BENCH_PORTS
}

# --- one run at a time; what an earlier run left is stopped ----------------------
mkdir -p "$TEST_ROOT"
other=$(cat "$TEST_ROOT/bench.pid" 2>/dev/null)
if [ -n "$other" ] && [ "$other" != $$ ] && kill -0 "$other" 2>/dev/null &&
    { tr '\0' ' ' <"/proc/$other/cmdline"; } 2>/dev/null | grep -q 'tests/bench/run.sh'; then
    bench_log "another bench of this checkout runs (pid $other); wait for it or stop it"
    exit 1
fi
echo $$ >"$TEST_ROOT/bench.pid"
if [ -d "$IT_RUN" ]; then
    left=$(bench_leftovers)
    if [ -n "$left" ]; then
        bench_log "stopping what an earlier run left running: $(tr '\n' ' ' <<<"$left")"
        # shellcheck disable=SC2046 # one pid a word
        bench_stop_pids $(cut -d' ' -f2 <<<"$left") || exit 1
    fi
fi
rm -rf "$IT_RUN"
mkdir -p "$IT_RUN"
: >"$RESULTS"

source scripts/pg.sh
mkdir -p "$TEST_ROOT/pg"
export TEST_DATABASE_URL TEST_REDIS_URL
TEST_DATABASE_URL=$(pg_super_url "$TEST_ROOT" "$TEST_PG_PORT")
TEST_REDIS_URL=$(redis_url "$TEST_ROOT" "$TEST_REDIS_PORT") # Redis asks for a password (scripts/pg.sh)
source tests/integration/lib.sh
source tests/integration/kit/kit.sh

# bench_errors: the last error lines the run's processes logged (two a
# process, at most 20), printed when the run fails so that it says why
bench_errors() {
    local log
    for log in "$IT_RUN"/*.log; do
        [ -f "$log" ] || continue
        grep -h '"level":"error"' "$log" | tail -2 | sed "s|^|  $(basename "$log" .log): |"
    done | tail -20
}

# stop_all: on every exit. Stops everything the run started (by its pid
# files, also what a subshell started), Redis and PostgreSQL; fails the
# run when something is left or a port stays held; says how the run ended.
stop_all() {
    local status=$? left held errors
    trap - EXIT
    _it_cleanup
    # what a section set up beyond processes (a mount), once they are stopped
    declare -F bench_section_cleanup >/dev/null && bench_section_cleanup
    left=$(bench_leftovers)
    if [ -n "$left" ]; then
        [ "$status" -eq 0 ] && bench_log "left running at the end: $(tr '\n' ' ' <<<"$left")"
        # shellcheck disable=SC2046 # one pid a word
        bench_stop_pids $(cut -d' ' -f2 <<<"$left") || status=1
        [ "$status" -eq 0 ] && status=1
    fi
    redis_stop "$TEST_ROOT"
    pg_stop "$TEST_ROOT"
    # shellcheck disable=SC2086 # one port a word
    held=$(bench_held $BENCH_PORTS $BUSD_PORTS ${BENCH_EXTRA_PORTS:-})
    if [ -n "$held" ]; then
        bench_log "ports still held after the run: $(tr '\n' ' ' <<<"$held")"
        [ "$status" -eq 0 ] && status=1
    fi
    rm -f "$TEST_ROOT/bench.pid"
    if [ "$status" -ne 0 ]; then
        echo
        errors=$(bench_errors)
        [ -z "$errors" ] || bench_log "the processes' last errors:"$'\n'"$errors"
        bench_log "FAILED in section $BENCH_SECTION (exit $status); the figures so far are in ${RESULTS#"$top"/}," \
            "the processes' logs in ${IT_RUN#"$top"/}"
    fi
    exit "$status"
}
# set before anything starts: whatever fails, nothing is left running
trap stop_all EXIT
pg_start "$TEST_ROOT" "$TEST_PG_PORT" || exit 1
redis_start "$TEST_ROOT" "$TEST_REDIS_PORT" || exit 1

# bench_number VALUE WHAT: VALUE is a number, or the run fails naming WHAT
bench_number() {
    [[ $1 =~ ^-?[0-9]+(\.[0-9]+)?$ ]] ||
        it_fail "section $BENCH_SECTION: $2 is '${1}', not a number (see the logs in ${IT_RUN#"$top"/})"
}

# figure NAME VALUE: one line of the results; VALUE starts with the number
figure() {
    bench_number "${2%% *}" "the figure $1"
    printf '%-34s %s\n' "$1" "$2" | tee -a "$RESULTS"
}

# median: of the numbers on stdin, one a line; prints nothing (and fails)
# when one is not a number or there is none, so an empty figure shows
median() {
    sort -g | awk '
        $0 !~ /^-?[0-9]+(\.[0-9]+)?$/ { bad = 1 }
        { v[NR] = $1 }
        END {
            if (bad || NR == 0) exit 1
            print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        }'
}

# bench_cpu_ticks NAME...: CPU ticks so far of PostgreSQL (the postmaster,
# the children it reaped, the live ones), then of each process NAME (as
# it_pid knows it; 0 when it is not running), on one line. Two readings
# around a run give the stack's CPU time for it: the figure that holds
# still when other work shares the machine and a rate does not.
bench_cpu_ticks() {
    local pg pid name
    pg=$(head -1 "$TEST_ROOT/pg/data/postmaster.pid" 2>/dev/null)
    {
        awk '{ sub(/^.*\) /, ""); print $12 + $13 + $14 + $15 }' "/proc/$pg/stat"
        for pid in $(pgrep -P "$pg"); do cat "/proc/$pid/stat" 2>/dev/null; done |
            awk '{ sub(/^.*\) /, ""); t += $12 + $13 } END { print t + 0 }'
    } | awk '{ t += $1 } END { printf "%d", t }'
    for name in "$@"; do
        pid=$(it_pid "$name")
        # not started yet: 0 (and never "/proc//stat", which is /proc/stat)
        if [ -n "$pid" ] && [ -r "/proc/$pid/stat" ]; then
            awk '{ sub(/^.*\) /, ""); printf " %d", $12 + $13 }' "/proc/$pid/stat"
        else
            printf ' 0'
        fi
    done
    echo
}

# bench_cpu_us_per BEFORE AFTER COUNT: microseconds of CPU per item (one
# decimal) for each field of two bench_cpu_ticks lines, their sum first:
# "total pg name1 name2 ..."
bench_cpu_us_per() {
    awk -v before="$1" -v after="$2" -v count="$3" -v tick_us=$((1000000 / $(getconf CLK_TCK))) '
        BEGIN {
            n = split(before, b, " "); split(after, a, " ")
            for (i = 1; i <= n; i++) { per[i] = (a[i] - b[i]) * tick_us / count; total += per[i] }
            printf "%.1f", total
            for (i = 1; i <= n; i++) printf " %.1f", per[i]
            print ""
        }'
}

# bench_busd curve|off: busd again, with CURVE (as deployed) or without it;
# the sections compare the two in one run
bench_busd() {
    it_stop busd
    # shellcheck disable=SC2086 # one port a word
    bench_ports_free "busd stopped" $BUSD_PORTS
    kit_start_busd BUS_SECURITY="$1"
}

# shellcheck disable=SC2086 # one port a word
bench_ports_free "before the bench" $BENCH_PORTS $BUSD_PORTS
kit_start_busd
# shellcheck disable=SC2086 # one file a word, globs expanded
for section in ${BENCH_SECTIONS:-tests/bench/section_*.sh}; do
    name=$(basename "$section" .sh)
    name=${name#section_}
    [ -n "${BENCH_ONLY:-}" ] && [ "$BENCH_ONLY" != "$name" ] && continue
    BENCH_SECTION=$name
    echo "==== $name"
    # shellcheck disable=SC2086 # one port a word
    bench_ports_free "before section $name" $BENCH_PORTS
    # each section starts on a quiet cluster: the previous section's dirty
    # pages written out, its dead rows vacuumed, rather than under its writes
    it_psql "CHECKPOINT" >/dev/null
    it_psql "VACUUM (ANALYZE)" >/dev/null 2>&1 || true
    source "$section"
    bench_settle "section $name"
done
BENCH_SECTION=end
[ -s "$RESULTS" ] || it_fail "no section ran${BENCH_ONLY:+ (BENCH_ONLY=$BENCH_ONLY names none)}"

echo
echo "== figures (also in ${RESULTS#"$top"/})"
cat "$RESULTS"
