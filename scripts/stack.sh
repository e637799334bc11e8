#!/usr/bin/env bash
# stack.sh — the local stack: `make up`, `make down`, `make run`.
#
# Starts a private PostgreSQL and Redis under .run/stack (no system service
# touched), provisions one schema with an owner and a runtime role per
# service, then busd and every service of the table of services
# (deploy/services.tsv) that is built, each logging to
# .run/stack/logs/<name>.log. `up` returns once every process answers
# /readyz; `run` stays in the foreground, following the logs, and stops it
# all on Ctrl-C; `down` stops everything `up` started.
#
# A supervisor keeps the processes running, as compose's `restart:
# unless-stopped` does: one background process (`stack.sh supervise`, in a
# session of its own, its pid in .run/stack/supervisor.pid) starts busd and
# the services and restarts any that exits without being asked to, after
# 0.5 s, doubling up to 30 s while it keeps dying, back to 0.5 s once it
# has run 10 s. Each exit and restart is a JSON line in the process's own
# log (so on the terminal of `make run`) and in logs/stack.log. It works
# the same under `make up` (it outlives the command) and `make run`; `down`
# (and Ctrl-C in `run`) stops the supervisor, which stops the services,
# then busd, then Redis and PostgreSQL. A process that already answers its
# port's /readyz when the supervisor starts (one a developer runs by hand,
# under a debugger) is left alone and not supervised.
#
# PostgreSQL and Redis ask for passwords (scripts/pg.sh): generated on the
# first `up`, kept in mode-600 files under .run/stack. The connection
# strings used are written to .run/stack/env (mode 600: the Redis and role
# URLs carry their passwords) so that psql, the CLI and a curious engineer
# can reach the same databases (`. .run/stack/env; psql "$PG_SUPER_URL"`).
# What `up` prints carries no secret: the superuser's URL names its password
# file, the Redis URL is shown without its password. Secrets reach the
# services through their environment (from the mode-700 .run/stack/procs/,
# where `up` writes how the supervisor starts each process), never a
# command line.
#
# Environment (defaults in parentheses):
#   STACK              the stack's directory (.run/stack)
#   STACK_PORT_OFFSET  added to every port the stack listens on (0): busd's
#                      5550, 5551 and 8080, each service's HTTP and replay
#                      port, PostgreSQL's 15432 and Redis's 16379; a second
#                      stack (the tests' own) runs beside a developer's
#   STACK_PG_PORT, STACK_REDIS_PORT   PostgreSQL's and Redis's port alone
#   STACK_BIN          the programs ($BUILD/bin); STACK_ENV extra VAR=value
#                      words for every service
#   SHIPPING_REPLICAS  how many shipping processes (1; 1 to 8), as compose's
#                      `--scale shipping=N`: one database and bus key, one
#                      applies the bus, every one's job workers take label and
#                      tracking jobs. The first is "shipping" on the table's
#                      ports (8085, replay 5565); replica K (2..8) is
#                      "shipping-K" on HTTP 8100+K and replay 5600+K
#                      (8102-8108, 5602-5608), each plus STACK_PORT_OFFSET.
#                      Each is supervised on its own (logs/shipping-K.log);
#                      REPLAY_PEERS and the carrier's webhooks name the first.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
BUILD=${BUILD:-build}
BIN=${STACK_BIN:-$top/$BUILD/bin}
STACK=$(mkdir -p "${STACK:-$top/.run/stack}" && cd "${STACK:-$top/.run/stack}" && pwd) || exit 1
LOGS="$STACK/logs"
PROCS="$STACK/procs"
OFFSET=${STACK_PORT_OFFSET:-0}
[[ $OFFSET =~ ^[0-9]{1,5}$ ]] || { echo "stack: STACK_PORT_OFFSET must be a number" >&2; exit 2; }
BUS_IN=$((5550 + OFFSET)) BUS_OUT=$((5551 + OFFSET)) BUSD_HTTP=$((8080 + OFFSET))
# the sandbox's outside systems (tests/fakes/): the fake bank, the fake carrier
FAKEBANK_HTTP=$((8090 + OFFSET))
# and the notification channels' fakes: SMTP (its control API on 8091),
# the SMS gateway, the Telegram Bot API
FAKESMTP_PORT=$((2525 + OFFSET))
FAKESMTP_HTTP=$((8091 + OFFSET))
FAKESMS_HTTP=$((8092 + OFFSET))
FAKETELEGRAM_HTTP=$((8093 + OFFSET))
FAKECARRIER_HTTP=$((8095 + OFFSET))
SHIPPING_REPLICAS=${SHIPPING_REPLICAS:-1}
[[ $SHIPPING_REPLICAS =~ ^[1-8]$ ]] || { echo "stack: SHIPPING_REPLICAS must be a number from 1 to 8" >&2; exit 2; }
# shipping replica K >= 2: HTTP 8100+K, replay 5600+K (plus the offset)
SHIPPING_REPLICA_HTTP=$((8100 + OFFSET)) SHIPPING_REPLICA_REPLAY=$((5600 + OFFSET))
[ $((SHIPPING_REPLICA_HTTP + 8)) -le 65535 ] ||
    { echo "stack: STACK_PORT_OFFSET $OFFSET puts the shipping replicas past port 65535" >&2; exit 2; }
PG_PORT=${STACK_PG_PORT:-$((15432 + OFFSET))}
REDIS_PORT=${STACK_REDIS_PORT:-$((16379 + OFFSET))}
# every process of this stack carries it: down (and the tests) know them by it
export CONVEYOR_STACK="$STACK"
source scripts/pg.sh
export SERVICES_TABLE="$top/deploy/services.tsv"
source deploy/services.sh

# name:schema:http port:replay port of every service in the table of services
# (deploy/services.tsv), running or planned: a planned one starts here once
# its binary is built, so work in progress runs locally
rows=$(services_rows) || { echo "stack: $SERVICES_TABLE is not a table of services" >&2; exit 1; }
SERVICES=()
while read -r name schema http replay _; do
    http=$((http + OFFSET)) replay=$((replay + OFFSET))
    [ "$http" -le 65535 ] && [ "$replay" -le 65535 ] ||
        { echo "stack: STACK_PORT_OFFSET $OFFSET puts $name past port 65535" >&2; exit 2; }
    SERVICES+=("$name:$schema:$http:$replay")
done <<<"$rows"

# restarts: the first after RESTART_MIN_MS, doubling up to RESTART_MAX_MS
# while the process keeps dying; one that ran STABLE_MS starts over
RESTART_MIN_MS=500 RESTART_MAX_MS=30000 STABLE_MS=10000

# ours PID: PID is a live process of this stack (not a reused pid)
ours() {
    [ -n "$1" ] && [ -r "/proc/$1/environ" ] &&
        { tr '\0' '\n' <"/proc/$1/environ"; } 2>/dev/null | grep -qxF "CONVEYOR_STACK=$STACK"
}

# stop_pids PID...: SIGTERM, SIGKILL after 15 s; returns once all are gone
stop_pids() {
    [ $# -gt 0 ] || return 0
    kill -TERM "$@" 2>/dev/null
    local i pid alive
    for i in $(seq 1 300); do
        alive=()
        for pid in "$@"; do
            kill -0 "$pid" 2>/dev/null && alive+=("$pid")
        done
        [ ${#alive[@]} -eq 0 ] && return 0
        sleep 0.05
    done
    echo "stack: pid ${alive[*]} ignored SIGTERM for 15 s; killing" >&2
    kill -KILL "${alive[@]}" 2>/dev/null
    for i in $(seq 1 100); do
        alive=()
        for pid in "$@"; do
            kill -0 "$pid" 2>/dev/null && alive+=("$pid")
        done
        [ ${#alive[@]} -eq 0 ] && return 0
        sleep 0.05
    done
}

# stop_process NAME: stops the process in $STACK/NAME.pid if it is ours
stop_process() {
    local pidfile="$STACK/$1.pid" pid
    [ -f "$pidfile" ] || return 0
    pid=$(cat "$pidfile")
    if ours "$pid"; then
        stop_pids "$pid"
    fi
    rm -f "$pidfile"
}

# supervisor_pid: prints the running supervisor's pid, or fails
supervisor_pid() {
    local pid
    pid=$(cat "$STACK/supervisor.pid" 2>/dev/null) && ours "$pid" &&
        { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -q ' supervise' && echo "$pid"
}

ready() {
    curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$1/readyz" 2>/dev/null
}

# slog FILE LEVEL MSG [KEY VALUE]...: one JSON line, like the services' own
# (svc "stack"); numbers stay numbers
slog() {
    local file=$1 line kv
    printf -v line '{"ts":"%s","level":"%s","svc":"stack","msg":"%s"' "$(date -u +%FT%T.%3NZ)" "$2" "$3"
    shift 3
    while [ $# -ge 2 ]; do
        if [[ $2 =~ ^-?[0-9]+$ ]]; then
            printf -v kv ',"%s":%s' "$1" "$2"
        else
            printf -v kv ',"%s":"%s"' "$1" "$2"
        fi
        line+=$kv
        shift 2
    done
    echo "$line}" >>"$file"
}

# now: NOW, milliseconds since the epoch
now() {
    NOW=${EPOCHREALTIME//[!0-9]/}
    NOW=$((NOW / 1000))
}

# supervise: the supervisor (started by up, in its own session). Starts
# every process of $PROCS/list (name and HTTP port, busd first) from its
# $PROCS/<name>.sh, restarts one that exits with backoff, and on SIGTERM
# stops the services, then busd, and exits.
supervise() {
    local names=() ports=() pids=() delays=() due=() since=() restarts=()
    local name port i n pid status ran why stopping=""
    while read -r name port; do
        names+=("$name")
        ports+=("$port")
    done <"$PROCS/list"
    n=${#names[@]}
    cp "$PROCS/list" "$PROCS/supervised"
    echo "$BASHPID" >"$STACK/supervisor.pid"
    trap 'stopping=1' TERM INT HUP
    slog "$LOGS/stack.log" info "supervisor started" pid "$BASHPID" processes "${names[*]}"

    spawn() { # index
        local i=$1 name=${names[$1]}
        bash "$PROCS/$name.sh" >>"$LOGS/$name.log" 2>&1 </dev/null &
        pids[i]=$!
        echo "$!" >"$STACK/$name.pid"
        now
        since[i]=$NOW
        if [ "${restarts[i]}" -gt 0 ]; then
            slog "$LOGS/$name.log" info "restarted" name "$name" pid "$!" restarts "${restarts[i]}"
            slog "$LOGS/stack.log" info "restarted" name "$name" pid "$!" restarts "${restarts[i]}"
        fi
    }

    for ((i = 0; i < n; i++)); do
        delays[i]=0 due[i]=0 restarts[i]=0 pids[i]=""
        : >"$PROCS/${names[i]}.restarts"
        if ready "${ports[i]}"; then
            # someone else's (a developer's own, under a debugger): not ours to restart
            slog "$LOGS/stack.log" warn "already answering; not started, not supervised" \
                name "${names[i]}" port "${ports[i]}"
            pids[i]=-
            continue
        fi
        spawn "$i"
    done

    # (stderr aside in the loop: bash would write its own "Killed" notice of a
    # dead child, not JSON, into stack.log; the JSON lines say it all)
    while [ -z "$stopping" ]; do
        now
        for ((i = 0; i < n; i++)); do
            pid=${pids[i]} name=${names[i]}
            [ "$pid" = - ] && continue
            if [ -n "$pid" ]; then
                kill -0 "$pid" 2>/dev/null && continue
                wait "$pid"
                status=$?
                [ -n "$stopping" ] && break
                ran=$((NOW - since[i]))
                if [ "${delays[i]}" -eq 0 ] || [ "$ran" -ge "$STABLE_MS" ]; then
                    delays[i]=$RESTART_MIN_MS
                else
                    delays[i]=$((delays[i] * 2 > RESTART_MAX_MS ? RESTART_MAX_MS : delays[i] * 2))
                fi
                restarts[i]=$((restarts[i] + 1))
                due[i]=$((NOW + delays[i]))
                pids[i]=""
                rm -f "$STACK/$name.pid"
                echo "${restarts[i]}" >"$PROCS/$name.restarts"
                why=status
                [ "$status" -gt 128 ] && why="signal $(kill -l $((status - 128)) 2>/dev/null || echo $((status - 128)))"
                slog "$LOGS/$name.log" warn "exited; restarting" name "$name" pid "$pid" status "$status" \
                    cause "$why" ran_ms "$ran" restart_in_ms "${delays[i]}"
                slog "$LOGS/stack.log" warn "exited; restarting" name "$name" pid "$pid" status "$status" \
                    cause "$why" ran_ms "$ran" restart_in_ms "${delays[i]}"
            elif [ "$NOW" -ge "${due[i]}" ]; then
                spawn "$i"
            fi
        done
        sleep 0.2
    done 2>/dev/null

    # the services first (they finish the event in hand), busd last
    slog "$LOGS/stack.log" info "stopping"
    local wave=() last=()
    for ((i = 0; i < n; i++)); do
        pid=${pids[i]}
        [ -n "$pid" ] && [ "$pid" != - ] || continue
        if [ "${names[i]}" = busd ]; then last+=("$pid"); else wave+=("$pid"); fi
    done
    stop_pids "${wave[@]}"
    stop_pids "${last[@]}"
    for ((i = 0; i < n; i++)); do
        [ "${pids[i]}" = - ] || rm -f "$STACK/${names[i]}.pid"
    done
    slog "$LOGS/stack.log" info "supervisor stopped"
    rm -f "$STACK/supervisor.pid"
}

# wait_ready NAME PORT: until the process answers /readyz; fails when it
# keeps dying (3 restarts), the supervisor is gone, or after 60 s
wait_ready() {
    local name=$1 port=$2 i restarts
    for i in $(seq 1 600); do
        ready "$port" && return 0
        if ! supervisor_pid >/dev/null; then
            echo "stack: the supervisor exited; last lines of $LOGS/stack.log:" >&2
            tail -15 "$LOGS/stack.log" >&2
            return 1
        fi
        restarts=$(cat "$PROCS/$name.restarts" 2>/dev/null)
        if [ "${restarts:-0}" -ge 3 ]; then
            echo "stack: $name exited $restarts times while starting; last lines of $LOGS/$name.log:" >&2
            tail -15 "$LOGS/$name.log" >&2
            return 1
        fi
        sleep 0.1
    done
    echo "stack: $name did not become ready on :$port in 60 s (see $LOGS/$name.log)" >&2
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

# write_proc NAME PORT VAR=VALUE... -- COMMAND...: how the supervisor starts
# NAME ($PROCS/NAME.sh: its environment, secrets included, then exec), and
# NAME's line in $PROCS/list
write_proc() {
    local name=$1 port=$2 word
    shift 2
    (
        umask 077
        {
            echo "# $name: written by scripts/stack.sh up; the supervisor runs it. Secrets: keep it private."
            while [ $# -gt 0 ] && [ "$1" != -- ]; do
                printf 'export %q\n' "$1"
                shift
            done
            shift
            printf 'exec'
            for word in "$@"; do printf ' %q' "$word"; done
            echo
        } >"$PROCS/$name.sh"
    ) || return 1
    echo "$name $port" >>"$PROCS/list"
}

# sandbox_bank (in up): when the payment service is built, the fake bank
# (tests/fakes/bank) as the store's acquirer, Sberbank's API, with its own
# credentials and callback key made once and kept like the database's
# passwords; sets up's bank_env (the payment service's settings) and adds
# it to what is started. Customers pay at the links it gives, on
# http://127.0.0.1:$FAKEBANK_HTTP.
sandbox_bank() {
    [ -x "$BIN/payment" ] && [ -x "$BIN/fakebank" ] || return 0
    local http password key
    http=$(services_rows | awk '$1 == "payment" {print $3}')
    http=$((http + OFFSET))
    mkdir -p "$STACK/bank" && chmod 700 "$STACK/bank" || return 1
    password=$(_secret_file "$STACK/bank/password") && key=$(_secret_file "$STACK/bank/callback_key") ||
        return 1
    write_proc fakebank "$FAKEBANK_HTTP" FAKE_BANK_ADDR="127.0.0.1:$FAKEBANK_HTTP" \
        FAKE_BANK_PUBLIC_URL="http://127.0.0.1:$FAKEBANK_HTTP" FAKE_BANK_SBER_USER=conveyor \
        FAKE_BANK_SBER_PASSWORD="$password" FAKE_BANK_SBER_CALLBACK_KEY="$key" \
        FAKE_BANK_SBER_CALLBACK_URL="http://127.0.0.1:$http/v1/webhooks/sberbank" \
        -- "$BIN/fakebank" || return 1
    started+=("fakebank:$FAKEBANK_HTTP")
    bank_env=(PAYMENT_PROVIDER=sberbank PAYMENT_BANK_URL="http://127.0.0.1:$FAKEBANK_HTTP"
        PAYMENT_BANK_LOGIN=conveyor PAYMENT_BANK_PASSWORD="$password" PAYMENT_CALLBACK_KEY="$key"
        PAYMENT_RETURN_URL="http://127.0.0.1:$FAKEBANK_HTTP/"
        PAYMENT_CALLBACK_URL="http://127.0.0.1:$http/v1/webhooks/sberbank")
}

# sandbox_notify (in up): when the notification service is built, the
# fakes of its channels (tests/fakes/smtp, sms, telegram) as the store's
# mail server, SMS gateway and Bot API, with credentials made once; sets
# up's notify_env. The mail lands in $STACK/mail/<id>.eml (and decoded at
# the SMTP fake's /_fake/messages), the SMS and Telegram messages at their
# fakes' /_fake/messages.
sandbox_notify() {
    [ -x "$BIN/notification" ] && [ -x "$BIN/fakesmtp" ] && [ -x "$BIN/fakesms" ] &&
        [ -x "$BIN/faketelegram" ] || return 0
    local http smtp_password api_id token optout_key
    http=$(services_rows | awk '$1 == "notification" {print $3}')
    http=$((http + OFFSET))
    mkdir -p "$STACK/notify" "$STACK/mail" && chmod 700 "$STACK/notify" || return 1
    smtp_password=$(_secret_file "$STACK/notify/smtp_password") &&
        api_id=$(_secret_file "$STACK/notify/sms_api_id") &&
        token="4242:$(_secret_file "$STACK/notify/telegram_token")" &&
        optout_key=$(_secret_file "$STACK/notify/optout_key") || return 1
    write_proc fakesmtp "$FAKESMTP_HTTP" FAKE_SMTP_ADDR="127.0.0.1:$FAKESMTP_PORT" \
        FAKE_SMTP_CONTROL_ADDR="127.0.0.1:$FAKESMTP_HTTP" FAKE_SMTP_USER=conveyor \
        FAKE_SMTP_PASSWORD="$smtp_password" FAKE_SMTP_DIR="$STACK/mail" \
        FAKE_SMTP_CERT_OUT="$STACK/notify/smtp-ca.pem" -- "$BIN/fakesmtp" || return 1
    write_proc fakesms "$FAKESMS_HTTP" FAKE_SMS_ADDR="127.0.0.1:$FAKESMS_HTTP" \
        FAKE_SMS_API_ID="$api_id" -- "$BIN/fakesms" || return 1
    write_proc faketelegram "$FAKETELEGRAM_HTTP" FAKE_TELEGRAM_ADDR="127.0.0.1:$FAKETELEGRAM_HTTP" \
        FAKE_TELEGRAM_TOKEN="$token" -- "$BIN/faketelegram" || return 1
    started+=("fakesmtp:$FAKESMTP_HTTP" "fakesms:$FAKESMS_HTTP" "faketelegram:$FAKETELEGRAM_HTTP")
    notify_env=(NOTIFY_SMTP_URL="smtp://127.0.0.1:$FAKESMTP_PORT" NOTIFY_SMTP_USER=conveyor
        NOTIFY_SMTP_PASSWORD="$smtp_password" NOTIFY_SMTP_CA="$STACK/notify/smtp-ca.pem"
        NOTIFY_MAIL_FROM=shop@conveyor.local NOTIFY_SMS_URL="http://127.0.0.1:$FAKESMS_HTTP"
        NOTIFY_SMS_API_ID="$api_id" NOTIFY_TELEGRAM_URL="http://127.0.0.1:$FAKETELEGRAM_HTTP"
        NOTIFY_TELEGRAM_TOKEN="$token" NOTIFY_STAFF_CHAT=1001 NOTIFY_OPTOUT_KEY="$optout_key"
        NOTIFY_PUBLIC_URL="http://127.0.0.1:$http"
        NOTIFY_ORDER_URL="http://127.0.0.1:$((8081 + OFFSET))"
        NOTIFY_PAYMENT_URL="http://127.0.0.1:$((8083 + OFFSET))")
    notify_note="  mail           lands in $STACK/mail/<id>.eml; decoded: http://127.0.0.1:$FAKESMTP_HTTP/_fake/messages
  sms, telegram  sent: http://127.0.0.1:$FAKESMS_HTTP/_fake/messages, http://127.0.0.1:$FAKETELEGRAM_HTTP/_fake/messages"
}

# sandbox_carrier (in up): when the shipping service is built, the fake
# carrier (tests/fakes/carrier) as the store's ShipEngine-style carrier,
# with its API key and the webhooks' secret made once and kept; sets up's
# carrier_env (the shipping service's settings) and adds it to what is
# started. Parcels move on http://127.0.0.1:$FAKECARRIER_HTTP/_fake/track.
sandbox_carrier() {
    [ -x "$BIN/shipping" ] && [ -x "$BIN/fakecarrier" ] || return 0
    local http key secret
    http=$(services_rows | awk '$1 == "shipping" {print $3}')
    http=$((http + OFFSET))
    mkdir -p "$STACK/carrier" && chmod 700 "$STACK/carrier" || return 1
    key=$(_secret_file "$STACK/carrier/api_key") && secret=$(_secret_file "$STACK/carrier/webhook_secret") ||
        return 1
    write_proc fakecarrier "$FAKECARRIER_HTTP" FAKE_CARRIER_ADDR="127.0.0.1:$FAKECARRIER_HTTP" \
        FAKE_CARRIER_API_KEY="$key" -- "$BIN/fakecarrier" || return 1
    started+=("fakecarrier:$FAKECARRIER_HTTP")
    carrier_env=(SHIPPING_CARRIER_URL="http://127.0.0.1:$FAKECARRIER_HTTP" SHIPPING_CARRIER_API_KEY="$key"
        SHIPPING_WEBHOOK_URL="http://127.0.0.1:$http/v1/webhooks/carrier"
        SHIPPING_WEBHOOK_SECRET="$secret")
}

up() {
    mkdir -p "$LOGS" "$PROCS" && chmod 700 "$PROCS" || return 1
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
    local bus_in=tcp://127.0.0.1:$BUS_IN bus_out=tcp://127.0.0.1:$BUS_OUT
    local env_file="$STACK/env"
    (umask 077 && : >"$env_file")
    chmod 600 "$env_file"
    {
        echo "# written by scripts/stack.sh up; superuser over the unix socket (password: pg/pgpass):"
        echo "export PG_SUPER_URL='$(pg_super_url "$STACK" "$PG_PORT")'"
        echo "export REDIS_URL='$redis_url'"
        echo "export REDISCLI_AUTH='$(cat "$STACK/redis/password")'  # redis-cli -p $REDIS_PORT reads it"
        echo "export BUS_PUB_ENDPOINT='$bus_in' BUS_SUB_ENDPOINT='$bus_out'"
        echo "export AUTH_JWT_KEYS='$AUTH_JWT_KEYS'"
        echo "# the bus: CURVE keys; BUS_CERT is the operator's (conveyor resync); for"
        echo "# conveyor intake use a source's: BUS_CERT=$KEYS/secret/erp.key_secret"
        echo "export BUS_KEYS_DIR='$BUS_KEYS_DIR' BUS_SERVER_KEY='$BUS_SERVER_KEY'"
        echo "export BUS_CERT='$KEYS/secret/ops.key_secret'"
    } >>"$env_file"

    # what the supervisor runs: busd, then every built service
    rm -f "$PROCS"/*.sh "$PROCS/list"
    write_proc busd "$BUSD_HTTP" BUS_XSUB_ADDR="$bus_in" BUS_XPUB_ADDR="$bus_out" \
        HTTP_ADDR="127.0.0.1:$BUSD_HTTP" BUS_CERT="$KEYS/secret/busd.key_secret" \
        BUS_KEYS_DIR="$BUS_KEYS_DIR" -- "$BIN/busd" || return 1
    local peers entry name schema http replay started=("busd:$BUSD_HTTP") extra=()
    # shellcheck disable=SC2206 # STACK_ENV: extra VAR=value words
    extra=(${STACK_ENV:-})
    peers=$(replay_peers)
    local bank_env=() notify_env=() notify_note="" carrier_env=()
    sandbox_bank || return 1
    sandbox_notify || return 1
    sandbox_carrier || return 1
    for entry in "${SERVICES[@]}"; do
        IFS=: read -r name schema http replay <<<"$entry"
        [ -x "$BIN/$name" ] || continue
        local own=()
        [ "$name" = payment ] && own=("${bank_env[@]}")
        [ "$name" = notification ] && own=("${notify_env[@]}")
        [ "$name" = shipping ] && own=("${carrier_env[@]}")
        local db_env
        db_env=$(pg_provision "$STACK" "$PG_PORT" "$name" "$schema") || return 1
        echo "# $name" >>"$env_file"
        echo "$db_env" | sed "s/export DATABASE_URL=/export ${name^^}_DATABASE_URL=/;s/ DATABASE_OWNER_URL=/ ${name^^}_DATABASE_OWNER_URL=/;s/ DB_SCHEMA=/ ${name^^}_DB_SCHEMA=/" >>"$env_file"
        # the secrets (the database and Redis URLs) go through the
        # environment: a command line is world-readable in ps
        local DATABASE_URL DATABASE_OWNER_URL DB_SCHEMA
        eval "${db_env#export }" || return 1
        # shipping runs SHIPPING_REPLICAS processes: the first on the
        # table's ports, replica K on HTTP 8100+K and replay 5600+K
        local replicas=1 k proc proc_http proc_replay
        [ "$name" = shipping ] && replicas=$SHIPPING_REPLICAS
        for ((k = 1; k <= replicas; k++)); do
            proc=$name proc_http=$http proc_replay=$replay
            if [ "$k" -gt 1 ]; then
                proc=$name-$k proc_http=$((SHIPPING_REPLICA_HTTP + k)) proc_replay=$((SHIPPING_REPLICA_REPLAY + k))
            fi
            write_proc "$proc" "$proc_http" DATABASE_URL="$DATABASE_URL" \
                DATABASE_OWNER_URL="$DATABASE_OWNER_URL" DB_SCHEMA="$DB_SCHEMA" REDIS_URL="$redis_url" \
                HTTP_ADDR="127.0.0.1:$proc_http" BUS_PUB_ENDPOINT="$bus_in" BUS_SUB_ENDPOINT="$bus_out" \
                REPLAY_ADDR="tcp://127.0.0.1:$proc_replay" REPLAY_PEERS="$peers" \
                BUS_CERT="$KEYS/secret/$name.key_secret" AUTH_JWT_KEYS="$AUTH_JWT_KEYS" \
                BUS_KEYS_DIR="$BUS_KEYS_DIR" BUS_SERVER_KEY="$BUS_SERVER_KEY" "${own[@]}" \
                -- env "${extra[@]}" "$BIN/$name" || return 1
            started+=("$proc:$proc_http")
        done
    done

    local sup item
    if sup=$(supervisor_pid); then
        # it runs what the list said when it started: wait for those only
        local supervised=()
        for item in "${started[@]}"; do
            if grep -q "^${item%%:*} " "$PROCS/supervised" 2>/dev/null; then
                supervised+=("$item")
            else
                echo "stack: ${item%%:*} is built but not running: make down, then make up" >&2
            fi
        done
        started=("${supervised[@]}")
        echo "stack: already running under its supervisor (pid $sup)"
    else
        # a supervisor that died (killed, the machine rebooted) may have left processes
        local pidfile
        for pidfile in "$STACK"/*.pid; do
            [ -f "$pidfile" ] && stop_process "$(basename "$pidfile" .pid)"
        done
        STACK="$STACK" setsid bash "$top/scripts/stack.sh" supervise >>"$LOGS/stack.log" 2>&1 </dev/null &
        local i
        for i in $(seq 1 100); do
            supervisor_pid >/dev/null && break
            sleep 0.05
        done
    fi
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
    [ "$SHIPPING_REPLICAS" -gt 1 ] && [ -x "$BIN/shipping" ] &&
        echo "  shipping       $SHIPPING_REPLICAS replicas (SHIPPING_REPLICAS): one applies the bus, all take label and tracking jobs"
    echo "  bus            publish $bus_in, subscribe $bus_out (CURVE;"
    echo "                 keys in $KEYS, busd's public key $BUS_SERVER_KEY)"
    echo "  postgres       $(pg_super_url "$STACK" "$PG_PORT")"
    echo "  redis          redis://:<password>@127.0.0.1:$REDIS_PORT/0  (password: $STACK/redis/password)"
    echo "  logs           $LOGS/<name>.log   connection strings: $env_file"
    echo "  supervisor     pid $(supervisor_pid): restarts a process that dies (logs/stack.log)"
    [ -n "$notify_note" ] && echo "$notify_note"
    [ -f "$STACK/demo.txt" ] && cat "$STACK/demo.txt"
    return 0
}

down() {
    local sup i
    if sup=$(supervisor_pid); then
        # it stops the services, then busd
        kill -TERM "$sup" 2>/dev/null
        for i in $(seq 1 800); do
            kill -0 "$sup" 2>/dev/null || break
            sleep 0.05
        done
        if kill -0 "$sup" 2>/dev/null; then
            echo "stack: the supervisor (pid $sup) did not stop in 40 s; killing it" >&2
            kill -KILL "$sup" 2>/dev/null
        fi
    fi
    # whatever is left (a supervisor killed with -9 leaves its processes)
    local pidfile
    for pidfile in "$STACK"/*.pid; do
        [ -f "$pidfile" ] || continue
        stop_process "$(basename "$pidfile" .pid)"
    done
    redis_stop "$STACK"
    pg_stop "$STACK"
    rm -rf "$PROCS"
    echo "conveyor is down"
}

case ${1:-} in
up)
    trap 'down >/dev/null; exit 130' INT TERM
    up || { down >/dev/null; exit 1; }
    ;;
down)
    down
    ;;
supervise)
    supervise
    ;;
run)
    tail_pid=""
    # the trap can fire inside a command whose output is redirected (the
    # loop's `supervisor_pid >/dev/null`), and runs with that redirection:
    # keep run's own stdout and stderr to put back
    exec 3>&1 4>&2
    # stop_run STATUS: the log follower, then everything
    stop_run() {
        exec 1>&3 2>&4
        [ -n "$tail_pid" ] && kill "$tail_pid" 2>/dev/null
        echo
        down
        exit "$1"
    }
    trap 'stop_run 0' INT TERM
    up || { down >/dev/null; exit 1; }
    echo "(Ctrl-C stops everything; a process that dies is restarted; following the logs)"
    logs=()
    for log in "$LOGS"/*.log; do
        [ "$log" = "$LOGS/stack.log" ] || logs+=("$log")
    done
    tail -n 0 -F "${logs[@]}" &
    tail_pid=$!
    # in the foreground until Ctrl-C; the supervisor restarts what dies
    while supervisor_pid >/dev/null; do
        sleep 1
    done
    echo "stack: the supervisor is gone (make down elsewhere, or killed); stopping everything" >&2
    stop_run 1
    ;;
*)
    echo "usage: $0 up|down|run" >&2
    exit 2
    ;;
esac
