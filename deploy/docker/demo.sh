#!/bin/bash
# conveyor-demo — the demo data of `make run` for the compose stack
# (docker-compose.yml, service "demo", only with `--profile demo`): runs
# scripts/demo/<service>.sh for each service in DEMO_SERVICES, as
# scripts/stack.sh does. It loads staff with known passwords and intake
# sources with published API keys, which is why it is opt-in: a stack
# started without the profile has none of them. The scripts call each
# service directly on the compose network (the edge serves the outside and
# does not route /readyz); what they print points at the edge. Idempotent,
# like the scripts.
#
# Environment:
#   DEMO_SERVICES     name=URL ... where to load; by default every running
#                     service of the table of services (deploy/services.tsv,
#                     in the image under /opt/conveyor/deploy/) on its name
#                     and HTTP port: "order=http://order:8081 ..."
#   DEMO_PUBLIC_URLS  name=URL ... what to print ("order=https://localhost:8081 ...")
#   AUTH_JWT_KEYS     to mint the demo admin's token
set -uo pipefail
source /opt/conveyor/deploy/services.sh
services=${DEMO_SERVICES:-}
if [ -z "$services" ]; then
    rows=$(services_rows running) || { echo "demo: $SERVICES_TABLE is not a table of services" >&2; exit 1; }
    services=$(while read -r name _ http _; do printf '%s=http://%s:%s ' "$name" "$name" "$http"; done <<<"$rows")
fi
STACK=$(mktemp -d)
export STACK BIN=/usr/local/bin
export DEMO_CURL="curl -s --cacert edge.pem"
public_urls=${DEMO_PUBLIC_URLS:-}

echo "the edge's certificate, for --cacert (from the host):"
echo "  docker-compose exec -T edge cat /var/lib/conveyor-edge/tls/cert.pem > edge.pem"
for entry in ${services:?no service to load: DEMO_SERVICES is empty and the table names none}; do
    name=${entry%%=*} url=${entry#*=}
    script=/opt/conveyor/scripts/demo/$name.sh
    [ -f "$script" ] || continue
    public=$url
    for pub in $public_urls; do
        [ "${pub%%=*}" = "$name" ] && public=${pub#*=}
    done
    ready=""
    for _ in $(seq 1 60); do
        curl -fsS -o /dev/null --max-time 2 "$url/readyz" && ready=1 && break
        sleep 1
    done
    [ -n "$ready" ] || { echo "demo: $name does not answer $url/readyz" >&2; exit 1; }
    DEMO_URL=$url DEMO_PUBLIC_URL=$public bash "$script" ||
        { echo "demo: loading the $name demo data failed" >&2; exit 1; }
done
