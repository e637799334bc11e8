#!/bin/bash
# conveyor-edge — the compose stack's HTTP entry point (deploy/docker/Dockerfile,
# stage "edge"). It listens on each service's HTTP port and forwards every
# connection to the service's name on the compose network, which Docker's DNS
# answers with the addresses of all its replicas: the host reaches
# :8081, :8082 ... whatever `--scale` says, and no replica publishes a port of
# its own (a fixed host port cannot be published twice, and a range hands a
# port out round-robin, so :8082 would not stay inventory's).
#
#   conveyor-edge           forward EDGE_ROUTES until SIGTERM
#   conveyor-edge check     the healthcheck: every route answers /healthz
#
# EDGE_ROUTES: space-separated LISTEN_PORT=HOST:PORT, e.g.
#   "8081=order:8081 8082=inventory:8082"
# DESIGN.md "Security" wants a TLS edge proxy as the only public listener in
# containers; this is its plain-TCP first step.
set -euo pipefail
routes=${EDGE_ROUTES:?EDGE_ROUTES is empty: LISTEN_PORT=HOST:PORT ...}

log() { # level msg listen to
    printf '{"ts":"%s","level":"%s","svc":"edge","msg":"%s","listen":"%s","to":"%s"}\n' \
        "$(date -u +%FT%T.%3NZ)" "$1" "$2" "$3" "$4"
}

if [ "${1:-}" = check ]; then
    for route in $routes; do
        curl -fsS -o /dev/null --max-time 3 "http://127.0.0.1:${route%%=*}/healthz" || exit 1
    done
    exit 0
fi

pids=()
stop() {
    kill -TERM "${pids[@]}" 2>/dev/null || true
    wait
    exit 0
}
trap stop TERM INT
for route in $routes; do
    port=${route%%=*} target=${route#*=}
    # fork: one child per connection, which resolves the target anew, so new
    # replicas are reached as soon as Docker's DNS knows them
    socat TCP-LISTEN:"$port",fork,reuseaddr,backlog=256 TCP:"$target",connect-timeout=5 &
    pids+=($!)
    log info "forwarding" "$port" "$target"
done
# a listener that dies takes the edge down; compose restarts it
set +e
wait -n
log error "a listener exited; stopping" "" ""
kill -TERM "${pids[@]}" 2>/dev/null
exit 1
