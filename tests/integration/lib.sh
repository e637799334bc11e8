# lib.sh — sourced by every integration test: real processes, real
# PostgreSQL and Redis (started by tests/run.sh), and waits with deadlines.
#
# A test starts processes with it_start; each writes its output to
# $IT_RUN/<name>.log and is stopped when the test exits, however it exits.
# Conditions are awaited with it_wait_until (polling, with a deadline),
# never with a bare sleep. it_fail stops the test with a reason.
#
# Environment from tests/run.sh: IT_BIN, IT_RUN, TEST_DATABASE_URL (the
# superuser; its password comes from the file the URL names),
# TEST_REDIS_URL (with the password), TEST_ROOT, TEST_PG_PORT, TEST_REDIS_PORT.
set -uo pipefail

: "${IT_BIN:?run the integration tests through tests/run.sh (make test)}"
: "${IT_RUN:?}"
IT_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$IT_TOP/scripts/pg.sh"
IT_NAMES=()

# Staff tokens: every service a test starts verifies with this key, and
# it_token mints tokens with it (the conveyor CLI).
export AUTH_JWT_KEYS="it:$(head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')conveyor-integration-tests"

# Bus keys: every test runs with CURVE on, as production does. busd's pair
# and every key a test issues live under $IT_RUN/keys; the trusted public
# halves in keys/trusted (BUS_KEYS_DIR, read by busd and the replay
# servers), the secret ones in keys/secret.
IT_KEYS="$IT_RUN/keys"
export BUS_KEYS_DIR="$IT_KEYS/trusted" BUS_SERVER_KEY="$IT_KEYS/secret/busd.key"
IT_BUSD_CERT="$IT_KEYS/secret/busd.key_secret"
# _it_issue_keys DIR: busd's pair and every service's key under DIR, so
# that each trusts its peers' from the first moment (a test may still
# issue more)
_it_issue_keys() {
    mkdir -p "$1/trusted"
    "$IT_BIN/conveyor" key server busd --secret-dir "$1/secret" >/dev/null ||
        { echo "it: could not make busd's key" >&2; return 1; }
    local service
    for service in order inventory payment notification shipping kitprod kitcons kitjobs; do
        "$IT_BIN/conveyor" key new --service "$service" --dir "$1/trusted" \
            --secret-dir "$1/secret" >/dev/null ||
            { echo "it: could not issue $service's key" >&2; return 1; }
    done
}
if [ ! -f "$IT_BUSD_CERT" ]; then
    # issued once a run (IT_KEYS_ONCE, a directory tests/run.sh empties as it
    # starts) and copied: ten runs of the CLI per test added up over the
    # suite. Each test still holds its own copy to issue into and revoke from.
    if [ -n "${IT_KEYS_ONCE:-}" ]; then
        if [ ! -f "$IT_KEYS_ONCE/secret/busd.key_secret" ]; then
            rm -rf "$IT_KEYS_ONCE.new"
            _it_issue_keys "$IT_KEYS_ONCE.new" && mv "$IT_KEYS_ONCE.new" "$IT_KEYS_ONCE" || exit 1
        fi
        mkdir -p "$IT_KEYS"
        cp -a "$IT_KEYS_ONCE/." "$IT_KEYS/" || { echo "it: could not copy the run's keys" >&2; exit 1; }
    else
        _it_issue_keys "$IT_KEYS" || exit 1
    fi
fi

# it_key ROLE NAME [FILE]: prints the path of the secret certificate of a
# key (service, source or operator) named NAME, issuing it on first use;
# FILE (default NAME) lets a test hold two keys of one name (a rotation).
it_key() {
    local role=$1 name=$2 file=${3:-$2}
    if [ ! -f "$IT_KEYS/secret/$file.key_secret" ]; then
        "$IT_BIN/conveyor" key new "--$role" "$name" --file "$file" --dir "$BUS_KEYS_DIR" \
            --secret-dir "$IT_KEYS/secret" >/dev/null || { echo "it: could not issue $file" >&2; return 1; }
    fi
    echo "$IT_KEYS/secret/$file.key_secret"
}

# it_busd NAME XSUB XPUB HTTP_PORT [VAR=VALUE ...]: busd with CURVE on,
# letting the kit's own test event (kit.external) in from sources too.
it_busd() {
    local name=$1 xsub=$2 xpub=$3 http=$4
    shift 4
    it_start "$name" env BUS_XSUB_ADDR="$xsub" BUS_XPUB_ADDR="$xpub" HTTP_ADDR="127.0.0.1:$http" \
        LOG_LEVEL=info BUS_CERT="$IT_BUSD_CERT" BUS_SOURCE_TYPES=intake.order,kit.external \
        "$@" "$IT_BIN/busd"
}

# it_token ROLES [SUBJECT]: prints a staff token ("admin", "manager,warehouse")
it_token() {
    "$IT_BIN/conveyor" token --sub "${2:-it-$1}" --name "${2:-it $1}" --roles "$1"
}

it_log() {
    echo "it: $*"
}

it_fail() {
    echo "it: FAILED: $*" >&2
    # in the test's own shell (not a journey's subshell): what the
    # processes warned of, where a CI report that keeps only the failure's
    # last lines still shows it
    [ "$BASHPID" = "$$" ] && _it_log_warnings >&2
    exit 1
}

# _it_log_warnings: the last 25 warnings and errors of the test's
# processes ($IT_RUN/*.log, JSON lines), oldest first, each named by its log
_it_log_warnings() {
    local lines
    lines=$(grep -H -E '"level":"(warn|error|fatal)"' "$IT_RUN"/*.log 2>/dev/null |
        sed -E 's|^.*/([^/]+)\.log:(\{"ts":"([^"]*)".*)$|\3 \1: \2|' | LC_ALL=C sort | tail -25 |
        cut -d' ' -f2- | cut -c1-400)
    [ -z "$lines" ] && return
    echo "it: the processes' last warnings and errors:"
    sed 's/^/  /' <<<"$lines"
}

# it_assert_eq EXPECTED ACTUAL WHAT
it_assert_eq() {
    [ "$1" = "$2" ] || it_fail "$3: expected '$1', got '$2'"
}

# it_start NAME COMMAND...: runs COMMAND in the background, output to NAME.log
it_start() {
    local name=$1
    shift
    "$@" >"$IT_RUN/$name.log" 2>&1 &
    echo $! >"$IT_RUN/$name.pid"
    IT_NAMES+=("$name")
}

it_pid() {
    cat "$IT_RUN/$1.pid" 2>/dev/null
}

it_running() {
    local pid
    pid=$(it_pid "$1") && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

# it_kill NAME SIGNAL: sends the signal and waits until the process is gone
it_kill() {
    local pid
    pid=$(it_pid "$1") || return 0
    kill -s "${2:-KILL}" "$pid" 2>/dev/null || true
    local i
    for i in $(seq 1 200); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.05
    done
    kill -KILL "$pid" 2>/dev/null || true
}

# it_stop NAME: SIGTERM, then SIGKILL after 15 s
it_stop() {
    local pid
    pid=$(it_pid "$1") || return 0
    kill -TERM "$pid" 2>/dev/null || true
    local i
    for i in $(seq 1 300); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
        sleep 0.05
    done
    echo "it: $1 ignored SIGTERM for 15 s; killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
}

# it_wait_until SECONDS DESCRIPTION COMMAND...: polls COMMAND until it succeeds
it_wait_until() {
    local seconds=$1 what=$2
    shift 2
    local deadline=$((SECONDS + seconds)) err="$IT_RUN/.wait-err.$BASHPID"
    while ! "$@" >/dev/null 2>"$err"; do
        [ "$SECONDS" -lt "$deadline" ] ||
            it_fail "timed out after ${seconds}s waiting for: $what$(_it_last_err "$err")"
        sleep 0.1
    done
    rm -f "$err"
}

# _it_last_err FILE: what the last attempt of a wait said on stderr, if
# anything, as a suffix for its failure (a refused connection is not a
# wrong value)
_it_last_err() {
    [ -s "$1" ] && printf '; its last attempt said: %s' "$(tail -3 "$1" | tr '\n' ' ' | cut -c1-300)"
}

# it_wait_value SECONDS WHAT OP EXPECTED CMD [ARGS...]: runs CMD every 0.1 s
# until `test "$(CMD ARGS)" OP EXPECTED` holds. Unlike
# `it_wait_until ... test "$(cmd)" = x`, whose $(cmd) the shell expands once
# before the wait begins, CMD is run afresh each time.
it_wait_value() {
    local seconds=$1 what=$2 op=$3 expected=$4 got
    shift 4
    local deadline=$((SECONDS + seconds)) err="$IT_RUN/.wait-err.$BASHPID"
    while :; do
        got=$("$@" 2>"$err")
        test "$got" "$op" "$expected" 2>/dev/null && { rm -f "$err"; return 0; }
        [ "$SECONDS" -lt "$deadline" ] ||
            it_fail "timed out after ${seconds}s waiting for: $what (last '$got', wanted $op $expected)$(_it_last_err "$err")"
        sleep 0.1
    done
}

it_psql() {
    psql -X -Atq -v ON_ERROR_STOP=1 "$TEST_DATABASE_URL" -c "$1"
}

# it_redis ARGS...: redis-cli against the test Redis, authenticated (the
# password through the environment, as scripts/pg.sh's redis_cli does)
it_redis() {
    redis_cli "$TEST_ROOT" "$TEST_REDIS_PORT" "$@"
}

# it_service_db NAME [SCHEMA]: a fresh schema with its owner and runtime
# roles; prints the export line with DATABASE_URL, DATABASE_OWNER_URL, DB_SCHEMA
it_service_db() {
    pg_provision "$TEST_ROOT" "$TEST_PG_PORT" "$1" "${2:-$1}" fresh
}

# it_http METHOD URL [BODY [HEADER...]]: prints "<status> <body>"
it_http() {
    local method=$1 url=$2 body=${3:-}
    shift 3 2>/dev/null || shift $#
    local args=(-sS -X "$method" -w '\n%{http_code}' --max-time 10)
    [ -n "$body" ] && args+=(-H 'Content-Type: application/json' --data-binary "$body")
    local h
    for h in "$@"; do args+=(-H "$h"); done
    local out
    out=$(curl "${args[@]}" "$url") || return 1
    echo "$(tail -n1 <<<"$out") $(sed '$d' <<<"$out")"
}

_it_cleanup() {
    local name
    for name in "${IT_NAMES[@]}"; do
        local pid
        pid=$(it_pid "$name") || continue
        kill -TERM "$pid" 2>/dev/null || true
    done
    local i
    for i in $(seq 1 100); do
        local alive=0
        for name in "${IT_NAMES[@]}"; do
            it_running "$name" && alive=1
        done
        [ "$alive" -eq 0 ] && return
        sleep 0.1
    done
    for name in "${IT_NAMES[@]}"; do
        kill -KILL "$(it_pid "$name")" 2>/dev/null || true
    done
}
trap _it_cleanup EXIT
