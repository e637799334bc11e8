#!/usr/bin/env bash
# stack.sh — the local stack: `make up`, `make down`, `make run`.
#
# Starts a private PostgreSQL and Redis under .run/stack (no system service
# touched), provisions one schema with an owner and a runtime role per
# service, then busd, every service that is built, and the sandbox fakes,
# each logging to .run/stack/logs/<name>.log. `up` returns once every
# process answers /readyz; `run` stays in the foreground and stops it all
# on Ctrl-C; `down` stops everything `up` started.
#
# PostgreSQL and Redis ask for passwords (scripts/pg.sh): generated on the
# first `up`, kept in mode-600 files under .run/stack. The connection
# strings used are written to .run/stack/env (mode 600: the Redis and role
# URLs carry their passwords) so that psql, the CLI and a curious engineer
# can reach the same databases (`. .run/stack/env; psql "$PG_SUPER_URL"`).
# What `up` prints carries no secret: the superuser's URL names its password
# file, the Redis URL is shown without its password. Secrets reach the
# services through their environment, never a command line.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
BUILD=${BUILD:-build}
BIN="$top/$BUILD/bin"
STACK="$top/.run/stack"
LOGS="$STACK/logs"
PG_PORT=${STACK_PG_PORT:-15432}
REDIS_PORT=${STACK_REDIS_PORT:-16379}
source scripts/pg.sh
export SERVICES_TABLE="$top/deploy/services.tsv"
source deploy/services.sh

# name:schema:http port:replay port of every service in the table of services
# (deploy/services.tsv), running or planned: a planned one starts here once
# its binary is built, so work in progress runs locally
rows=$(services_rows) || { echo "stack: $SERVICES_TABLE is not a table of services" >&2; exit 1; }
SERVICES=()
while read -r name schema http replay _; do
    SERVICES+=("$name:$schema:$http:$replay")
done <<<"$rows"

start_process() {
    local name=$1
    shift
    "$@" >>"$LOGS/$name.log" 2>&1 &
    echo $! >"$STACK/$name.pid"
}

stop_process() {
    local name=$1 pidfile="$STACK/$1.pid"
    [ -f "$pidfile" ] || return 0
    local pid
    pid=$(cat "$pidfile")
    if kill -TERM "$pid" 2>/dev/null; then
        local i
        for i in $(seq 1 200); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.05
        done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
}

ready() {
    curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$1/readyz" 2>/dev/null
}

wait_ready() {
    local name=$1 port=$2 i
    for i in $(seq 1 300); do
        ready "$port" && return 0
        if ! kill -0 "$(cat "$STACK/$name.pid")" 2>/dev/null; then
            echo "stack: $name exited; last lines of $LOGS/$name.log:" >&2
            tail -15 "$LOGS/$name.log" >&2
            return 1
        fi
        sleep 0.1
    done
    echo "stack: $name did not become ready on :$port in 30 s (see $LOGS/$name.log)" >&2
    return 1
}

replay_peers() {
    local peers="" entry name schema http replay
    for entry in "${SERVICES[@]}"; do
        IFS=: read -r name schema http replay <<<"$entry"
        [ -x "$BIN/$name" ] || continue
        peers="$peers${peers:+,}$name=tcp://127.0.0.1:$replay"
    done
    echo "$peers"
}

# stack_keys: the bus keys, made on first start and kept (DESIGN.md "Bus
# keys"): busd's pair, one per service, an operator's for the CLI (resync)
# and one per demo outside source, under $STACK/keys: trusted/ the public
# halves busd and the replay servers trust, secret/ the pairs (mode 700).
stack_keys() {
    KEYS=$STACK/keys
    mkdir -p "$KEYS/trusted" "$KEYS/secret" && chmod 700 "$KEYS/secret" || return 1
    if [ ! -f "$KEYS/secret/busd.key_secret" ]; then
        "$BIN/conveyor" key server busd --secret-dir "$KEYS/secret" >/dev/null || return 1
    fi
    local entry role name
    for entry in "${SERVICES[@]%%:*}" operator:ops source:erp source:site-main; do
        case $entry in
        *:*) role=${entry%%:*} name=${entry#*:} ;;
        *) role=service name=$entry ;;
        esac
        [ -f "$KEYS/secret/$name.key_secret" ] && continue
        "$BIN/conveyor" key new "--$role" "$name" --dir "$KEYS/trusted" \
            --secret-dir "$KEYS/secret" >/dev/null || return 1
    done
}

up() {
    mkdir -p "$LOGS"
    [ -x "$BIN/busd" ] || { echo "stack: $BIN/busd is not built (make)" >&2; return 1; }
    pg_start "$STACK" "$PG_PORT" || return 1
    redis_start "$STACK" "$REDIS_PORT" || return 1
    # staff token keys, made once and kept: tokens stay valid across restarts
    if [ ! -s "$STACK/jwt_keys" ]; then
        (umask 077 && echo "k1:$(head -c 48 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')" >"$STACK/jwt_keys")
    fi
    export AUTH_JWT_KEYS
    AUTH_JWT_KEYS=$(cat "$STACK/jwt_keys")
    local redis_url
    redis_url=$(redis_url "$STACK" "$REDIS_PORT") || return 1
    stack_keys || { echo "stack: could not make the bus keys" >&2; return 1; }
    export BUS_KEYS_DIR="$KEYS/trusted" BUS_SERVER_KEY="$KEYS/secret/busd.key"
    local env_file="$STACK/env"
    (umask 077 && : >"$env_file")
    chmod 600 "$env_file"
    {
        echo "# written by scripts/stack.sh up; superuser over the unix socket (password: pg/pgpass):"
        echo "export PG_SUPER_URL='$(pg_super_url "$STACK" "$PG_PORT")'"
        echo "export REDIS_URL='$redis_url'"
        echo "export REDISCLI_AUTH='$(cat "$STACK/redis/password")'  # redis-cli -p $REDIS_PORT reads it"
        echo "export BUS_PUB_ENDPOINT='tcp://127.0.0.1:5550' BUS_SUB_ENDPOINT='tcp://127.0.0.1:5551'"
        echo "export AUTH_JWT_KEYS='$AUTH_JWT_KEYS'"
        echo "# the bus: CURVE keys; BUS_CERT is the operator's (conveyor resync); for"
        echo "# conveyor intake use a source's: BUS_CERT=$KEYS/secret/erp.key_secret"
        echo "export BUS_KEYS_DIR='$BUS_KEYS_DIR' BUS_SERVER_KEY='$BUS_SERVER_KEY'"
        echo "export BUS_CERT='$KEYS/secret/ops.key_secret'"
    } >>"$env_file"

    if ! ready 8080; then
        start_process busd env BUS_XSUB_ADDR=tcp://127.0.0.1:5550 BUS_XPUB_ADDR=tcp://127.0.0.1:5551 \
            HTTP_ADDR=127.0.0.1:8080 BUS_CERT="$KEYS/secret/busd.key_secret" "$BIN/busd"
    fi
    wait_ready busd 8080 || return 1

    local peers entry name schema http replay started=(busd:8080)
    peers=$(replay_peers)
    for entry in "${SERVICES[@]}"; do
        IFS=: read -r name schema http replay <<<"$entry"
        [ -x "$BIN/$name" ] || continue
        local db_env
        db_env=$(pg_provision "$STACK" "$PG_PORT" "$name" "$schema") || return 1
        echo "# $name" >>"$env_file"
        echo "$db_env" | sed "s/export DATABASE_URL=/export ${name^^}_DATABASE_URL=/;s/ DATABASE_OWNER_URL=/ ${name^^}_DATABASE_OWNER_URL=/;s/ DB_SCHEMA=/ ${name^^}_DB_SCHEMA=/" >>"$env_file"
        if ! ready "$http"; then
            # the secrets (the database and Redis URLs) go through the
            # environment: a command line is world-readable in ps
            (
                eval "$db_env"
                export REDIS_URL=$redis_url HTTP_ADDR="127.0.0.1:$http" \
                    BUS_PUB_ENDPOINT=tcp://127.0.0.1:5550 BUS_SUB_ENDPOINT=tcp://127.0.0.1:5551 \
                    REPLAY_ADDR="tcp://127.0.0.1:$replay" REPLAY_PEERS="$peers" \
                    BUS_CERT="$KEYS/secret/$name.key_secret"
                # shellcheck disable=SC2086 # STACK_ENV: extra VAR=value words
                exec env ${STACK_ENV:-} "$BIN/$name"
            ) >>"$LOGS/$name.log" 2>&1 &
            echo $! >"$STACK/$name.pid"
        fi
        started+=("$name:$http")
    done
    local item
    for item in "${started[@]}"; do
        wait_ready "${item%%:*}" "${item##*:}" || return 1
    done
    # demo data, once per fresh stack: scripts/demo/<service>.sh for each built service
    : >"$STACK/demo.txt"
    for entry in "${SERVICES[@]}"; do
        IFS=: read -r name schema http replay <<<"$entry"
        [ -x "$BIN/$name" ] && [ -f "scripts/demo/$name.sh" ] || continue
        STACK="$STACK" BIN="$BIN" HTTP_PORT="$http" bash "scripts/demo/$name.sh" >>"$STACK/demo.txt" ||
            { echo "stack: loading the $name demo data failed" >&2; return 1; }
    done
    echo
    echo "conveyor is up:"
    for item in "${started[@]}"; do
        printf '  %-14s http://127.0.0.1:%s  (/healthz /readyz /metrics)\n' "${item%%:*}" "${item##*:}"
    done
    echo "  bus            publish tcp://127.0.0.1:5550, subscribe tcp://127.0.0.1:5551 (CURVE;"
    echo "                 keys in $KEYS, busd's public key $BUS_SERVER_KEY)"
    echo "  postgres       $(pg_super_url "$STACK" "$PG_PORT")"
    echo "  redis          redis://:<password>@127.0.0.1:$REDIS_PORT/0  (password: $STACK/redis/password)"
    echo "  logs           $LOGS/<name>.log   connection strings: $env_file"
    [ -f "$STACK/demo.txt" ] && cat "$STACK/demo.txt"
    return 0
}

down() {
    local entry name rest
    for entry in "${SERVICES[@]}"; do
        name=${entry%%:*}
        stop_process "$name"
    done
    for pidfile in "$STACK"/*.pid; do
        [ -f "$pidfile" ] || continue
        stop_process "$(basename "$pidfile" .pid)"
    done
    redis_stop "$STACK"
    pg_stop "$STACK"
    echo "conveyor is down"
}

case ${1:-} in
up)
    up || { down >/dev/null; exit 1; }
    ;;
down)
    down
    ;;
run)
    trap 'echo; down; exit 0' INT TERM
    up || { down >/dev/null; exit 1; }
    echo "(Ctrl-C stops everything; following the logs)"
    tail -n 0 -F "$LOGS"/*.log &
    tail_pid=$!
    # stay in the foreground until Ctrl-C or until a process dies
    while :; do
        for pidfile in "$STACK"/*.pid; do
            [ -f "$pidfile" ] || continue
            if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
                echo "stack: $(basename "$pidfile" .pid) exited; stopping everything" >&2
                kill "$tail_pid" 2>/dev/null
                down
                exit 1
            fi
        done
        sleep 1
    done
    ;;
*)
    echo "usage: $0 up|down|run" >&2
    exit 2
    ;;
esac
