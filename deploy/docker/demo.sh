#!/bin/bash
# conveyor-demo — the demo data of `make run` for the compose stack
# (docker-compose.yml, service "demo"): runs scripts/demo/<service>.sh for
# each service in DEMO_SERVICES, as scripts/stack.sh does. The scripts talk
# to http://127.0.0.1:<port>, so the demo container shares the edge's
# network namespace (network_mode: service:edge), where those ports lead to
# the services. Idempotent, like the scripts.
#
# Environment: DEMO_SERVICES ("order:8081 inventory:8082"), AUTH_JWT_KEYS.
set -uo pipefail
STACK=$(mktemp -d)
export STACK BIN=/usr/local/bin
for entry in ${DEMO_SERVICES:-order:8081 inventory:8082}; do
    name=${entry%%:*} port=${entry##*:}
    script=/opt/conveyor/scripts/demo/$name.sh
    [ -f "$script" ] || continue
    for _ in $(seq 1 60); do
        curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$port/readyz" && break
        sleep 1
    done
    HTTP_PORT=$port bash "$script" || { echo "demo: loading the $name demo data failed" >&2; exit 1; }
done
