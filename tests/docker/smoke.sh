#!/usr/bin/env bash
# tests/docker/smoke.sh — the container stack end to end (`make docker-smoke`).
#
# Not part of `make test`: CI has no Docker engine. It needs one (DOCKER_HOST),
# docker-compose 1.29 or `docker compose`, curl and jq. On a machine without
# a registry, start the local engine first:
#
#   eval "$(../shared/tools/docker-engine.sh | tail -1)"   # export DOCKER_HOST=...
#   tests/docker/smoke.sh                                  # or: make docker-smoke
#
# What it proves, in its own compose project (conveyor-smoke) and on its own
# host ports (18080-18082, 15550-15551), so a running dev stack is not disturbed:
#   1. the images build and every container becomes healthy (/readyz);
#   2. an order submitted over HTTP to the order container is accepted, given
#      to a manager, and its stock is reserved by the inventory container
#      (a product imported through inventory's API; the bus carries the facts);
#   3. `--scale inventory=2`: both replicas healthy, exactly one leading
#      (/readyz "leader"), and the edge reaches both;
#   4. `down -v` leaves nothing behind (KEEP=1 leaves the stack running).
#
# Environment: COMPOSE (the command; found when unset), SMOKE_PROJECT,
# SMOKE_BUILD=0 (use the images as built), KEEP=1, and the compose file's
# port variables (BUSD_HTTP_PORT, ORDER_HTTP_PORT, INVENTORY_HTTP_PORT, ...).
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"

if [ -z "${COMPOSE:-}" ]; then
    if command -v docker-compose >/dev/null 2>&1; then
        COMPOSE=docker-compose
    elif docker compose version >/dev/null 2>&1; then
        COMPOSE="docker compose"
    else
        echo "smoke: neither docker-compose nor 'docker compose' is installed" >&2
        exit 2
    fi
fi
docker info >/dev/null 2>&1 || {
    echo "smoke: no Docker engine answers (DOCKER_HOST=${DOCKER_HOST:-unset});" \
        "start one: eval \"\$(../shared/tools/docker-engine.sh | tail -1)\"" >&2
    exit 2
}
for tool in curl jq; do
    command -v "$tool" >/dev/null 2>&1 || { echo "smoke: $tool is missing" >&2; exit 2; }
done

export COMPOSE_PROJECT_NAME=${SMOKE_PROJECT:-conveyor-smoke}
export BUSD_HTTP_PORT=${BUSD_HTTP_PORT:-18080} ORDER_HTTP_PORT=${ORDER_HTTP_PORT:-18081}
export INVENTORY_HTTP_PORT=${INVENTORY_HTTP_PORT:-18082}
export BUS_PUB_PORT=${BUS_PUB_PORT:-15550} BUS_SUB_PORT=${BUS_SUB_PORT:-15551}
# the secrets: fresh ones, in a file of this run's own (never a .env beside the compose file)
secrets=$(mktemp)
(umask 077 && deploy/docker/gen-env.sh >"$secrets") || { echo "smoke: gen-env.sh failed" >&2; exit 1; }
dc() { $COMPOSE --env-file "$secrets" -f "$top/docker-compose.yml" "$@"; }

step() { printf '\n== %s\n' "$*"; }
ok() { printf '   ok  %s\n' "$*"; }
fail() {
    printf '   FAIL  %s\n' "$*" >&2
    echo "-- last log lines --" >&2
    dc logs --no-color --tail=15 >&2 2>/dev/null
    exit 1
}
cleanup() {
    if [ "${KEEP:-}" = 1 ]; then
        echo "smoke: KEEP=1: the stack stays up (project $COMPOSE_PROJECT_NAME);" \
            "stop it with: COMPOSE_PROJECT_NAME=$COMPOSE_PROJECT_NAME $COMPOSE down -v"
        return
    fi
    step "down -v"
    dc down -v --remove-orphans >/dev/null 2>&1
    rm -f "$secrets"
    local label="label=com.docker.compose.project=$COMPOSE_PROJECT_NAME"
    if [ -n "$(docker ps -aq --filter "$label")$(docker network ls -q --filter "$label")$(docker volume ls -q --filter "$label")" ]; then
        echo "   FAIL  containers, networks or volumes of $COMPOSE_PROJECT_NAME remain" >&2
        exit 1
    fi
    ok "no container, network or volume of $COMPOSE_PROJECT_NAME remains"
}
trap cleanup EXIT

# wait_healthy SERVICE COUNT: COUNT containers of SERVICE report healthy (90 s)
wait_healthy() {
    local service=$1 want=$2 i healthy ids id
    for i in $(seq 1 90); do
        healthy=0
        ids=$(dc ps -q "$service" 2>/dev/null)
        for id in $ids; do
            [ "$(docker inspect -f '{{.State.Health.Status}}' "$id" 2>/dev/null)" = healthy ] &&
                healthy=$((healthy + 1))
        done
        [ "$healthy" -ge "$want" ] && return 0
        sleep 1
    done
    fail "$service: $healthy of $want containers healthy after 90 s"
}

# --- 1. build and start -----------------------------------------------------
if [ "${SMOKE_BUILD:-1}" != 0 ]; then
    step "build"
    build_log=$(mktemp)
    dc build >"$build_log" 2>&1 || { tail -30 "$build_log" >&2; fail "$COMPOSE build"; }
    rm -f "$build_log"
    ok "images: $(docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' conveyor:dev)"
fi
step "up -d"
dc up -d || fail "$COMPOSE up -d"
for service in postgres redis busd order inventory edge; do
    wait_healthy "$service" 1
done
ok "postgres, redis, busd, order, inventory and edge are healthy"
[ "$(docker inspect -f '{{.State.ExitCode}}' "$(dc ps -q provision)")" = 0 ] ||
    fail "provision did not exit 0"
ok "provision exited 0"

order_url="http://$(dc port edge 8081)"
inventory_url="http://$(dc port edge 8082)"
busd_url="http://$(dc port busd 8080)"
curl -fsS --max-time 5 "$busd_url/readyz" >/dev/null || fail "busd /readyz on $busd_url"
ok "busd $busd_url, order $order_url, inventory $inventory_url answer"

# --- 2. an order through both services ----------------------------------------
step "an order, accepted, assigned and reserved"
token=$(dc exec -T order conveyor token --sub smoke-admin --name "Smoke Admin" --roles admin \
    --ttl-seconds 900) || fail "minting a token in the order container"
token=${token//$'\r'/}
# api METHOD URL [BODY]: prints the body, fails on an unexpected status
api() {
    local method=$1 url=$2 body=${3:-} out code
    out=$(mktemp)
    code=$(curl -sS -o "$out" -w '%{http_code}' --max-time 10 -X "$method" \
        -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
        ${body:+--data-binary "$body"} "$url")
    cat "$out"
    rm -f "$out"
    case $code in 2?? | 409) return 0 ;; *) echo "HTTP $code from $method $url" >&2; return 1 ;; esac
}

api POST "$inventory_url/v1/imports" '{"products": [{"sku": "SMOKE-KETTLE",
  "name": "Чайник для проверки", "price_minor": 349000, "vat_rate_bp": 2000,
  "weight_g": 1450, "on_hand": 5}]}' >/dev/null || fail "importing a product"
ok "inventory: product SMOKE-KETTLE imported (5 on hand)"
api POST "$order_url/v1/staff" '{"login": "smoke-manager", "name": "Смоук Менеджер",
  "role": "manager", "regions": [], "capacity": 10, "password": "smoke-manager-pw"}' >/dev/null ||
    fail "creating a manager"
manager_id=$(api GET "$order_url/v1/staff" |
    jq -r '.items[] | select(.login == "smoke-manager") | .id') || fail "listing staff"
api POST "$order_url/v1/staff/$manager_id/shift" '{"on_shift": true}' >/dev/null ||
    fail "starting a shift"
api POST "$order_url/v1/sources" '{"source": "smoke-site", "api_key":
  "smoke-site-key-0123456789abcdefgh", "default_channel": "website"}' >/dev/null ||
    fail "registering a source"
ok "order: a manager on shift and the source smoke-site"

order_body='{"customer": {"name": "Иван Петров", "phone": "+7 912 345-67-89"},
  "delivery": {"method": "courier", "address": {"region": "Moscow", "city": "Москва",
  "line1": "Тверская 1"}}, "items": [{"sku": "SMOKE-KETTLE", "quantity": 2}]}'
submit() {
    curl -sS -w '\n%{http_code}' --max-time 10 -H 'X-Api-Key: smoke-site-key-0123456789abcdefgh' \
        -H "Idempotency-Key: smoke-$COMPOSE_PROJECT_NAME-1" -H 'Content-Type: application/json' \
        --data-binary "$order_body" "$order_url/v1/orders"
}
answer=$(submit)
[ "$(tail -1 <<<"$answer")" = 201 ] || fail "POST /v1/orders: $answer"
order_id=$(head -1 <<<"$answer" | jq -r .order_id)
ok "POST /v1/orders: 201 $(head -1 <<<"$answer" | jq -c '{order_id, number, manager_id}')"
again=$(submit)
[ "$(tail -1 <<<"$again")" = 200 ] && [ "$(head -1 <<<"$again" | jq -r .order_id)" = "$order_id" ] ||
    fail "the same Idempotency-Key and body did not answer the first order: $again"
ok "the same request again: 200, the same order"

for _ in $(seq 1 30); do
    order=$(api GET "$order_url/v1/orders/$order_id") || fail "GET the order"
    [ "$(jq -r .stock_state <<<"$order")" = reserved ] && break
    sleep 1
done
[ "$(jq -r .stock_state <<<"$order")" = reserved ] ||
    fail "the order's stock is not reserved after 30 s: $(jq -c '{status, stock_state}' <<<"$order")"
[ -n "$(jq -r '.manager.id // empty' <<<"$order")" ] || fail "the order has no manager"
ok "order: $(jq -c '{number, status, stock_state, manager: .manager.name, version}' <<<"$order")"
product=$(api GET "$inventory_url/v1/products/SMOKE-KETTLE") || fail "GET the product"
[ "$(jq -r .reserved <<<"$product")" = 2 ] || fail "inventory holds $(jq -c . <<<"$product")"
ok "inventory: $(jq -c '{sku, on_hand, reserved, available}' <<<"$product")"

# --- 3. two inventory replicas -----------------------------------------------------
step "up -d --scale inventory=2"
dc up -d --scale inventory=2 || fail "scaling inventory to 2"
wait_healthy inventory 2
leaders=0
for index in 1 2; do
    ready=$(dc exec -T --index="$index" inventory curl -fsS --max-time 3 localhost:8082/readyz) ||
        fail "inventory #$index /readyz"
    [ "$(jq -r .status <<<"$ready")" = ready ] || fail "inventory #$index: $ready"
    [ "$(jq -r .leader <<<"$ready")" = true ] && leaders=$((leaders + 1))
    ok "inventory #$index: $(jq -c '{status, leader, epoch}' <<<"$ready")"
done
[ "$leaders" = 1 ] || fail "$leaders inventory replicas lead; exactly one must"
ok "exactly one replica leads"
# the edge resolves the service per connection: both replicas answer through :8082
seen=""
for i in $(seq 1 60); do
    seen=$(printf '%s\n%s\n' "$seen" "$(curl -fsS --max-time 3 "$inventory_url/readyz" | jq -r .leader)" |
        sort -u | grep -v '^$')
    [ "$(tr '\n' ' ' <<<"$seen")" = "false true " ] && break
done
[ "$(tr '\n' ' ' <<<"$seen")" = "false true " ] ||
    fail "through the edge only leader=$(tr '\n' ' ' <<<"$seen")answered in 60 requests"
ok "the edge reaches both replicas (the follower and the leader within $i requests)"

step "passed"
