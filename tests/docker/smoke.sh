#!/usr/bin/env bash
# tests/docker/smoke.sh — the container stack end to end (`make docker-smoke`).
#
# Not part of `make test`: CI has no Docker engine (`make test` proves the
# compose file's secrets without one: tests/integration/test_compose_secrets.sh).
# It needs an engine (DOCKER_HOST), docker-compose 1.29 or `docker compose`,
# curl, jq and openssl. On a machine without a registry, start the local
# engine first:
#
#   eval "$(../shared/tools/docker-engine.sh | tail -1)"   # export DOCKER_HOST=...
#   tests/docker/smoke.sh                                  # or: make docker-smoke
#
# Run it where the engine's published ports are reachable (the host's
# network namespace). What it proves, in its own compose project
# (conveyor-smoke) with the `sandbox` profile (the fakes of the outside
# systems) on its own host ports (18081-18085 for the edge, 15550-15551 for
# the bus, 18090-18095 for the fakes), so a running stack is not disturbed,
# with fresh secrets from deploy/docker/gen-env.sh:
#   1. compose refuses to start without its secrets, naming the missing one,
#      and creates nothing;
#   2. the images build and every container becomes healthy: the five
#      services, busd, PostgreSQL, Redis, edge and the five fakes; the demo
#      data is not loaded without its profile;
#   3. only the edge (HTTPS), the bus and the sandbox's fakes are published
#      (no service's own port); PostgreSQL and Redis
#      sit on an internal network that edge and busd cannot reach, and both
#      refuse a client without the password;
#   4. the edge: HTTPS verified against its generated certificate, TLS 1.2 and
#      1.3 only, no weak cipher, no plain HTTP; /metrics and /readyz refused
#      (however spelt) while they answer inside; a body over 1 MiB refused;
#      an operator's own (RSA) certificate mounted instead is used as it is;
#   5. an order submitted over HTTPS is accepted, given to a manager, and its
#      stock is reserved by the inventory container (the bus carries the facts);
#      an outside source issued a bus key (conveyor-keys source) files an order
#      on the bus with it, a client without a key is not let in;
#   5c. one order through its whole life over HTTPS: intake, assigned,
#      reserved, confirmed, invoiced, paid on the fake bank's page,
#      prepare_for_delivery, quoted by shipping, assembled, its label bought
#      once at the fake carrier, handed over and delivered by the carrier's
#      tracking webhooks, the stock written off; the customer's messages
#      (awaiting payment, the payment link, tracking) at the fake SMTP server;
#   6. the edge's per-client rate limit on POST /v1/auth/token;
#   7. `--scale inventory=2`: both replicas healthy, exactly one leading, and
#      the edge reaches both; `--scale shipping=3`: three healthy replicas,
#      exactly one leading (applying the bus), the edge reaches every one, and
#      six labels bought while the carrier is slow are taken by the job
#      workers of more than one replica, each label bought once;
#   8. `--profile demo`: the demo staff and API keys appear only then;
#   9. `down -v` leaves nothing behind (KEEP=1 leaves the stack running).
#
# Environment: COMPOSE (the command; found when unset), SMOKE_PROJECT,
# SMOKE_BUILD=0 (use the images as built), KEEP=1, and the compose file's
# port variables (ORDER_HTTP_PORT ... SHIPPING_HTTP_PORT, BUS_PUB_PORT,
# BUS_SUB_PORT, FAKEBANK_PORT ... FAKECARRIER_PORT) and OWN_EDGE_PORT (18191,
# the second edge with an operator's certificate).
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
for tool in curl jq openssl; do
    command -v "$tool" >/dev/null 2>&1 || { echo "smoke: $tool is missing" >&2; exit 2; }
done

export COMPOSE_PROJECT_NAME=${SMOKE_PROJECT:-conveyor-smoke}
export ORDER_HTTP_PORT=${ORDER_HTTP_PORT:-18081} INVENTORY_HTTP_PORT=${INVENTORY_HTTP_PORT:-18082}
export PAYMENT_HTTP_PORT=${PAYMENT_HTTP_PORT:-18083} NOTIFICATION_HTTP_PORT=${NOTIFICATION_HTTP_PORT:-18084}
export SHIPPING_HTTP_PORT=${SHIPPING_HTTP_PORT:-18085}
export BUS_PUB_PORT=${BUS_PUB_PORT:-15550} BUS_SUB_PORT=${BUS_SUB_PORT:-15551}
export FAKEBANK_PORT=${FAKEBANK_PORT:-18090} FAKESMTP_PORT=${FAKESMTP_PORT:-18091}
export FAKESMS_PORT=${FAKESMS_PORT:-18092} FAKETELEGRAM_PORT=${FAKETELEGRAM_PORT:-18093}
export FAKECARRIER_PORT=${FAKECARRIER_PORT:-18095}
work=$(mktemp -d)
# the secrets: fresh ones, in a file of this run's own (never a .env beside the compose file)
(umask 077 && deploy/docker/gen-env.sh >"$work/secrets.env") || { echo "smoke: gen-env.sh failed" >&2; exit 1; }
: >"$work/empty.env"
# every call with the sandbox profile: the fakes are part of this stack
dc() { $COMPOSE --env-file "$work/secrets.env" -f "$top/docker-compose.yml" --profile sandbox "$@"; }
SERVICES="order inventory payment notification shipping"
FAKES="fakebank fakesmtp fakesms faketelegram fakecarrier"
label="label=com.docker.compose.project=$COMPOSE_PROJECT_NAME"

step() { printf '\n== %s\n' "$*"; }
ok() { printf '   ok  %s\n' "$*"; }
fail() {
    printf '   FAIL  %s\n' "$*" >&2
    echo "-- last log lines --" >&2
    dc --profile demo logs --no-color --tail=15 >&2 2>/dev/null
    exit 1
}
cleanup() {
    if [ "${KEEP:-}" = 1 ]; then
        echo "smoke: KEEP=1: the stack stays up (project $COMPOSE_PROJECT_NAME, secrets in" \
            "$work/secrets.env); stop it with: COMPOSE_PROJECT_NAME=$COMPOSE_PROJECT_NAME" \
            "$COMPOSE --env-file $work/secrets.env --profile demo down -v"
        return
    fi
    step "down -v"
    docker ps -aq --filter "$label" --filter label=conveyor.smoke=own-edge | xargs -r docker rm -f >/dev/null
    dc --profile demo down -v --remove-orphans >/dev/null 2>&1
    rm -rf "$work"
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

# --- 1. no secrets, no stack ---------------------------------------------------------
step "compose refuses to start without its secrets"
out=$(env -u POSTGRES_PASSWORD -u REDIS_PASSWORD -u AUTH_JWT_KEYS \
    $COMPOSE --env-file "$work/empty.env" -f "$top/docker-compose.yml" up -d 2>&1) &&
    fail "up -d with no secret set succeeded"
grep -q "POSTGRES_PASSWORD is not set" <<<"$out" || fail "up -d without secrets: $out"
ok "no secret set: up -d refused: $(grep -oE 'POSTGRES_PASSWORD is not set[^;]*' <<<"$out" | tail -1)"
grep -v '^AUTH_JWT_KEYS=' "$work/secrets.env" >"$work/no-jwt.env"
out=$($COMPOSE --env-file "$work/no-jwt.env" -f "$top/docker-compose.yml" up -d 2>&1) &&
    fail "up -d without AUTH_JWT_KEYS succeeded"
grep -q "AUTH_JWT_KEYS is not set" <<<"$out" || fail "up -d without AUTH_JWT_KEYS: $out"
ok "every secret but AUTH_JWT_KEYS: refused: $(grep -oE 'AUTH_JWT_KEYS is not set[^;]*' <<<"$out" | tail -1)"
[ -z "$(docker ps -aq --filter "$label")" ] || fail "a refused up -d created containers"
ok "nothing was created"

# --- 2. build and start --------------------------------------------------------------
if [ "${SMOKE_BUILD:-1}" != 0 ]; then
    step "build"
    build_log=$work/build.log
    dc --profile demo build >"$build_log" 2>&1 || { tail -30 "$build_log" >&2; fail "$COMPOSE build"; }
    ok "images: $(docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' |
        grep -E '^conveyor(-edge|-demo|-provision|-sandbox)?:dev ' | tr '\n' ' ')"
fi
step "up -d (--profile sandbox)"
up_start=$SECONDS
dc up -d || fail "$COMPOSE up -d"
for service in postgres redis busd $SERVICES edge $FAKES; do
    wait_healthy "$service" 1
done
ok "healthy in $((SECONDS - up_start)) s: postgres, redis, busd, $SERVICES, edge, $FAKES"
for service in busd $SERVICES edge $FAKES; do
    policy=$(docker inspect -f '{{.HostConfig.RestartPolicy.Name}}' "$(dc ps -q "$service" | head -1)")
    [ "$policy" = unless-stopped ] || fail "$service restarts '$policy', not unless-stopped"
done
ok "every long-running container restarts unless-stopped"
[ "$(docker inspect -f '{{.State.ExitCode}}' "$(dc ps -q provision)")" = 0 ] ||
    fail "provision did not exit 0"
ok "provision exited 0"
[ -z "$(dc --profile demo ps -q demo 2>/dev/null)" ] || fail "demo ran without --profile demo"
ok "no demo container without the profile"

# --- 3. what is published, what is reachable -------------------------------------------
step "only the edge, the bus and the sandbox's fakes are published; the data network is internal"
published=$(docker ps --filter "$label" --format '{{.Label "com.docker.compose.service"}} {{.Ports}}' |
    grep -- '->' | sed -E 's/ .*//' | sort -u | tr '\n' ' ')
[ "$published" = "busd edge fakebank fakecarrier fakesms fakesmtp faketelegram " ] ||
    fail "published ports belong to: $published"
busd_ports=$(docker ps --filter "$label" --filter "label=com.docker.compose.service=busd" --format '{{.Ports}}')
grep -q -- '->8080' <<<"$busd_ports" && fail "busd's HTTP (8080) is published: $busd_ports"
mapped() { # SERVICE: its published ports only
    docker ps --filter "$label" --filter "label=com.docker.compose.service=$1" --format '{{.Ports}}' |
        tr ',' '\n' | grep -- '->' | tr -d ' ' | tr '\n' ' '
}
ok "published: edge $(mapped edge)and busd $(mapped busd)and the sandbox's fakes (no service's own port)"
data_net="${COMPOSE_PROJECT_NAME}_data"
[ "$(docker network inspect -f '{{.Internal}}' "$data_net")" = true ] || fail "$data_net is not internal"
on_data=$(docker network inspect -f '{{range .Containers}}{{.Name}} {{end}}' "$data_net" |
    tr ' ' '\n' | sed -E "s/^${COMPOSE_PROJECT_NAME}_//; s/_[0-9]+$//" | grep -v '^$' | sort | tr '\n' ' ')
[ "$on_data" = "inventory notification order payment postgres redis shipping " ] || fail "on $data_net: $on_data"
ok "$data_net: internal, holding $on_data"
for from in edge busd fakebank; do
    dc exec -T "$from" getent hosts postgres >/dev/null 2>&1 && fail "$from resolves postgres"
    dc exec -T "$from" getent hosts redis >/dev/null 2>&1 && fail "$from resolves redis"
done
ok "edge, busd and the fakes cannot even resolve postgres or redis"
noauth=$(dc exec -T redis redis-cli ping 2>&1 | tr -d '\r')
grep -q NOAUTH <<<"$noauth" || fail "redis answered a client without the password: $noauth"
ok "redis without the password: $noauth"
pg_no=$(dc run --rm --no-deps -T -e PGPASSWORD=not-the-password --entrypoint psql provision \
    -X -h postgres -U postgres -d conveyor -c 'SELECT 1' 2>&1 | tr -d '\r') &&
    fail "postgres let a wrong password in: $pg_no"
grep -q "password authentication failed" <<<"$pg_no" || fail "postgres with a wrong password: $pg_no"
ok "postgres with a wrong password: $(grep -o 'password authentication failed[^"]*"[a-z]*"' <<<"$pg_no" | head -1)"

# --- 4. the edge ----------------------------------------------------------------------
step "the TLS edge"
dc exec -T edge cat /var/lib/conveyor-edge/tls/cert.pem >"$work/edge.pem" || fail "reading the edge's certificate"
ok "certificate: $(openssl x509 -in "$work/edge.pem" -noout -subject -ext subjectAltName 2>/dev/null |
    tr '\n' ' ' | tr -s ' ')"
order_url="https://127.0.0.1:$ORDER_HTTP_PORT"
inventory_url="https://127.0.0.1:$INVENTORY_HTTP_PORT"
tls() { curl -sS --max-time 10 --cacert "$work/edge.pem" "$@"; }
code=$(tls -o /dev/null -w '%{http_code}' "$order_url/healthz") || fail "HTTPS to $order_url with the edge's certificate"
[ "$code" = 200 ] || fail "$order_url/healthz: HTTP $code"
code=$(tls -o /dev/null -w '%{http_code}' "https://localhost:$INVENTORY_HTTP_PORT/healthz") ||
    fail "HTTPS to localhost:$INVENTORY_HTTP_PORT"
[ "$code" = 200 ] || fail "inventory /healthz: HTTP $code"
ok "GET /healthz over HTTPS, verified against the generated certificate: order and inventory 200"
for version in 1.2 1.3; do
    tls -o /dev/null --tlsv"$version" --tls-max "$version" "$order_url/healthz" || fail "TLS $version refused"
done
ok "TLS 1.2 and TLS 1.3 accepted"
# s_client: the client side allows everything (SECLEVEL=0), so a refusal is the edge's
s_client() { echo | openssl s_client -connect "127.0.0.1:$ORDER_HTTP_PORT" "$@" >"$work/s_client.out" 2>&1; }
s_client -tls1_2 -cipher 'ECDHE-ECDSA-AES128-GCM-SHA256:@SECLEVEL=0' ||
    fail "s_client could not connect with TLS 1.2 and ECDHE-ECDSA-AES128-GCM-SHA256: $(tail -3 "$work/s_client.out")"
for version in tls1 tls1_1; do
    s_client -"$version" -cipher 'DEFAULT:@SECLEVEL=0' &&
        fail "the edge spoke ${version/_/.}: $(grep -m1 Protocol "$work/s_client.out")"
done
for cipher in ECDHE-ECDSA-AES128-SHA ECDHE-ECDSA-AES256-SHA384 AES128-GCM-SHA256 AES128-SHA DES-CBC3-SHA; do
    s_client -tls1_2 -cipher "$cipher:@SECLEVEL=0" && fail "the edge accepted the cipher $cipher"
done
ok "TLS 1.0 and 1.1 refused; CBC (ECDHE-ECDSA-AES128-SHA, -AES256-SHA384), no forward secrecy (AES128-GCM-SHA256, AES128-SHA) and 3DES refused; ECDHE-ECDSA-AES128-GCM-SHA256 accepted"
plain=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$ORDER_HTTP_PORT/healthz" 2>&1)
[ "$plain" != 200 ] || fail "plain HTTP answered 200"
ok "plain HTTP to the edge's port: $plain (nothing served in the clear)"
for path in /metrics /readyz /metrics/ //metrics /./metrics /%6Detrics '/readyz?x=1' /readyz/; do
    answer=$(tls --path-as-is -w '\n%{http_code}' "$order_url$path") || fail "GET $path"
    [ "$(tail -1 <<<"$answer")" = 404 ] || fail "GET $path through the edge: $(tail -1 <<<"$answer")"
    [ "$(head -1 <<<"$answer" | jq -r .code)" = not_found ] || fail "GET $path: $(head -1 <<<"$answer")"
done
ok "through the edge /metrics and /readyz answer 404 (also as /metrics/, //metrics, /./metrics, /%6Detrics, /readyz?x=1)"
inside=$(dc exec -T order curl -fsS --max-time 3 localhost:8081/metrics) || fail "order's /metrics inside the network"
grep -q '^# TYPE' <<<"$inside" || fail "order's /metrics inside the network: $(head -3 <<<"$inside")"
dc exec -T busd curl -fsS --max-time 3 localhost:8080/readyz >/dev/null || fail "busd's /readyz inside"
ok "inside the network /metrics and /readyz answer (the health checks use them)"
head -c $((2 * 1024 * 1024)) /dev/zero | tr '\0' 'x' >"$work/big.json"
answer=$(tls -w '\n%{http_code}' -H 'Content-Type: application/json' --data-binary "@$work/big.json" \
    "$order_url/v1/orders") || fail "POST 2 MiB"
[ "$(tail -1 <<<"$answer")" = 413 ] && [ "$(head -1 <<<"$answer" | jq -r .code)" = body_too_large ] ||
    fail "a 2 MiB body: $answer"
ok "a 2 MiB body: 413 body_too_large at the edge"

step "an operator's own certificate"
# an RSA pair for another name, mounted read-only where the volume would be:
# used as it is (nothing generated), and RSA suites negotiated
own_port=${OWN_EDGE_PORT:-18191}
mkdir -p "$work/own-tls"
openssl req -x509 -newkey rsa:2048 -sha256 -nodes -days 30 -subj /CN=shop.example \
    -addext subjectAltName=DNS:shop.example -keyout "$work/own-tls/key.pem" \
    -out "$work/own-tls/cert.pem" 2>/dev/null || fail "making an RSA certificate"
chmod 644 "$work/own-tls/key.pem" # the edge runs as uid 10001; a real key: chown 10001 it
own_edge=$(docker run -d --network "${COMPOSE_PROJECT_NAME}_default" -e EDGE_ROUTES=8081=order:8081 \
    --label "com.docker.compose.project=$COMPOSE_PROJECT_NAME" --label conveyor.smoke=own-edge \
    -v "$work/own-tls:/var/lib/conveyor-edge/tls:ro" -p "127.0.0.1:$own_port:8081" conveyor-edge:dev) ||
    fail "starting an edge with an own certificate"
for _ in $(seq 1 30); do
    code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 3 --cacert "$work/own-tls/cert.pem" \
        --resolve "shop.example:$own_port:127.0.0.1" "https://shop.example:$own_port/healthz" 2>/dev/null)
    [ "$code" = 200 ] && break
    sleep 1
done
[ "$code" = 200 ] || fail "the edge with the operator's certificate: HTTP $code; $(docker logs "$own_edge" 2>&1 | tail -5)"
own_log=$(docker logs "$own_edge" 2>&1)
grep -q 'made a self-signed' <<<"$own_log" && fail "the edge made a certificate beside the operator's"
s_client_own() { echo | openssl s_client -connect "127.0.0.1:$own_port" -servername shop.example "$@" >"$work/s_client.out" 2>&1; }
s_client_own -tls1_2 -cipher 'ECDHE-RSA-AES256-GCM-SHA384' || fail "ECDHE-RSA-AES256-GCM-SHA384 with the RSA certificate"
s_client_own -tls1_2 -cipher 'AES256-SHA256:@SECLEVEL=0' && fail "RSA key exchange accepted"
docker rm -f "$own_edge" >/dev/null
ok "a mounted RSA pair for shop.example is used as it is (ECDHE-RSA-AES256-GCM-SHA384; no RSA key exchange)"

# --- 5. an order through both services ----------------------------------------------
step "an order over HTTPS, accepted, assigned and reserved"
token=$(dc exec -T order conveyor token --sub smoke-admin --name "Smoke Admin" --roles admin \
    --ttl-seconds 900) || fail "minting a token in the order container"
token=${token//$'\r'/}
# api METHOD URL [BODY]: prints the body, fails on an unexpected status
api() {
    local method=$1 url=$2 body=${3:-} out code
    out=$(mktemp)
    code=$(tls -o "$out" -w '%{http_code}' -X "$method" \
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
submit() { # API_KEY IDEMPOTENCY_KEY [SKU]
    tls -w '\n%{http_code}' -H "X-Api-Key: $1" -H "Idempotency-Key: $2" -H 'Content-Type: application/json' \
        --data-binary "${order_body/SMOKE-KETTLE/${3:-SMOKE-KETTLE}}" "$order_url/v1/orders"
}
answer=$(submit smoke-site-key-0123456789abcdefgh "smoke-$COMPOSE_PROJECT_NAME-1")
[ "$(tail -1 <<<"$answer")" = 201 ] || fail "POST /v1/orders: $answer"
order_id=$(head -1 <<<"$answer" | jq -r .order_id)
ok "POST /v1/orders: 201 $(head -1 <<<"$answer" | jq -c '{order_id, number, manager_id}')"
again=$(submit smoke-site-key-0123456789abcdefgh "smoke-$COMPOSE_PROJECT_NAME-1")
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

# --- 5b. the bus: CURVE keys from the buskeys volume ----------------------------------
step "an outside source publishes an order on the bus with its own key, nobody else can"
dc run --rm -T keys conveyor-keys source smoke-bus >"$work/smoke-bus.key_secret" 2>"$work/keys.err" ||
    fail "could not issue a source key: $(cat "$work/keys.err")"
dc run --rm -T keys cat /keys/secret/busd.key >"$work/busd.key" || fail "could not read busd's key"
cat >"$work/bus-order.jsonl" <<'JSON'
{"external_id":"BUS-1","customer":{"name":"Bus Client","phone":"+79001234567"},"delivery":{"method":"self_pickup"},"items":[{"sku":"SMOKE-KETTLE","quantity":1}]}
JSON
bus_intake() { # extra environment...
    env BUS_PUB_ENDPOINT="tcp://127.0.0.1:$BUS_PUB_PORT" BUS_SUB_ENDPOINT="tcp://127.0.0.1:$BUS_SUB_PORT" \
        BUS_SERVER_KEY="$work/busd.key" "$@" timeout 60 "$top/build/bin/conveyor" intake --source smoke-bus \
        <"$work/bus-order.jsonl"
}
answer=$(bus_intake BUS_CERT="$work/smoke-bus.key_secret") || fail "no answer on the bus: $answer"
[ "$(jq -r .status <<<"$answer")" = accepted ] || fail "the bus intake was not accepted: $answer"
ok "a source key: $(jq -c '{external_id, status, number}' <<<"$answer")"
if bus_intake BUS_SECURITY=off BUS_CERT= >/dev/null 2>&1; then
    fail "a client without a key got an answer on the bus"
fi
ok "without a key: busd lets nobody in (no answer)"

# --- 5c. one order through its whole life ---------------------------------------------
step "one order through its life: intake -> paid at the bank -> labelled -> delivered, mail sent"
payment_url_base="https://127.0.0.1:$PAYMENT_HTTP_PORT"
shipping_url="https://127.0.0.1:$SHIPPING_HTTP_PORT"
notification_url="https://127.0.0.1:$NOTIFICATION_HTTP_PORT"
for url in "$payment_url_base" "$shipping_url" "$notification_url"; do
    code=$(tls -o /dev/null -w '%{http_code}' "$url/healthz") || fail "HTTPS to $url"
    [ "$code" = 200 ] || fail "$url/healthz through the edge: HTTP $code"
done
ok "payment, notification and shipping answer through the edge (:$PAYMENT_HTTP_PORT :$NOTIFICATION_HTTP_PORT :$SHIPPING_HTTP_PORT)"
# as_token ROLE SUB: a staff token minted in the order container
as_token() {
    local t
    t=$(dc exec -T order conveyor token --sub "$2" --name "Smoke $1" --roles "$1" --ttl-seconds 900) ||
        fail "minting a $1 token"
    echo "${t//$'\r'/}"
}
# api_as TOKEN METHOD URL [BODY]: api with another staff member's token
api_as() {
    local saved=$token rc
    token=$1
    shift
    api "$@"
    rc=$?
    token=$saved
    return $rc
}
# until SECONDS WHAT COMMAND...: polls COMMAND once a second
until_ok() {
    local secs=$1 what=$2 i
    shift 2
    for ((i = 0; i < secs; i++)); do
        "$@" && return 0
        sleep 1
    done
    fail "$what: not within $secs s"
}
as_manager=$(as_token manager "$manager_id")
api POST "$order_url/v1/staff" '{"login": "smoke-sklad", "name": "Склад Смоук",
  "role": "warehouse", "regions": [], "capacity": 0, "password": "smoke-sklad-pw"}' >/dev/null ||
    fail "creating a warehouse keeper"
sklad_id=$(api GET "$order_url/v1/staff" | jq -r '.items[] | select(.login == "smoke-sklad") | .id')
as_sklad=$(as_token warehouse "$sklad_id")
mail_before=$(curl -fsS --max-time 5 "http://127.0.0.1:$FAKESMTP_PORT/_fake/messages" | jq '.messages | length') ||
    fail "the fake SMTP server's /_fake/messages"

journey_body='{"customer": {"name": "Мария Иванова", "email": "maria@example.ru", "phone": "+7 999 123-45-67"},
  "delivery": {"method": "post", "address": {"region": "Kamchatka", "city": "Петропавловск-Камчатский",
  "line1": "Ленина 1", "postal_code": "683000"}}, "items": [{"sku": "SMOKE-KETTLE", "quantity": 1}]}'
answer=$(tls -w '\n%{http_code}' -H "X-Api-Key: smoke-site-key-0123456789abcdefgh" \
    -H "Idempotency-Key: smoke-$COMPOSE_PROJECT_NAME-journey" -H 'Content-Type: application/json' \
    --data-binary "$journey_body" "$order_url/v1/orders")
[ "$(tail -1 <<<"$answer")" = 201 ] || fail "POST /v1/orders (journey): $answer"
jid=$(head -1 <<<"$answer" | jq -r .order_id)
journey_start=$SECONDS
order_of() { api GET "$order_url/v1/orders/$jid"; }
order_is() { # jq condition on the order
    local o
    o=$(order_of 2>/dev/null) && jq -e "$1" <<<"$o" >/dev/null
}
until_ok 30 "the journey order assigned and reserved" order_is '.stock_state == "reserved" and (.manager.id // "") != ""'
ok "intake: $(order_of | jq -c '{number, status, stock_state, manager: .manager.name}')"
shipment_of() { api GET "$shipping_url/v1/shipments/$jid"; }
shipment_is() {
    local sh
    sh=$(shipment_of 2>/dev/null) && jq -e "$1" <<<"$sh" >/dev/null
}
until_ok 30 "the shipping service quoting the order" shipment_is '.quote.state == "quoted"'
ok "shipping quoted: $(shipment_of | jq -c '{method, weight_g, quote: (.quote | {address_verdict, carrier, service, carrier_cost_minor})}')"

out=$(api_as "$as_manager" POST "$order_url/v1/orders/$jid/status" '{"to": "confirmed"}') ||
    fail "the manager confirming the order: $out"
until_ok 30 "the order waiting for the money with the bank's link" \
    order_is '.status == "awaiting_payment" and (.payment.payment_url // "") != ""'
pay_link=$(order_of | jq -r .payment.payment_url)
ok "confirmed: awaiting_payment, invoice at the fake bank: $pay_link"
code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 -X POST "$pay_link" -d action=pay) ||
    fail "paying on the fake bank's page"
[ "${code:0:1}" = 2 ] || [ "${code:0:1}" = 3 ] || fail "the fake bank's page answered $code to Pay"
until_ok 30 "paid: the order prepared for delivery" order_is '.status == "prepare_for_delivery"'
ok "paid at the bank: $(order_of | jq -c '{status, payment: (.payment | {invoice_state, paid_minor, due_minor})}')"

out=$(api_as "$as_sklad" POST "$order_url/v1/orders/$jid/status" '{"to": "assembled"}') ||
    fail "the warehouse assembling the order: $out"
until_ok 40 "the label bought" shipment_is '.state == "labelled" and (.tracking_number // "") != ""'
tracking=$(shipment_of | jq -r .tracking_number)
labels=$(curl -fsS --max-time 5 "http://127.0.0.1:$FAKECARRIER_PORT/_fake/labels?external_shipment_id=$jid:1" |
    jq '.labels | length') || fail "the fake carrier's labels"
[ "$labels" = 1 ] || fail "$labels labels at the carrier for the order"
ok "assembled: label bought once at the fake carrier, tracking $tracking"

track() { # STATUS_CODE: the parcel moves at the carrier, its webhook follows
    curl -fsS -o /dev/null --max-time 5 -X POST "http://127.0.0.1:$FAKECARRIER_PORT/_fake/track" \
        -H 'Content-Type: application/json' \
        --data-binary "{\"tracking_number\":\"$tracking\",\"status_code\":\"$1\"}" || fail "tracking $1 at the carrier"
}
track AC
until_ok 30 "handed over to the carrier" order_is '.status == "handed_to_carrier"'
ok "handed over (AC webhook): order handed_to_carrier"
track DE
until_ok 30 "delivered" order_is '.status == "delivered" and .stock_state == "committed"'
shipment_is '.state == "delivered"' || fail "the shipment is $(shipment_of | jq -r .state), not delivered"
ok "delivered (DE webhook), $((SECONDS - journey_start)) s after intake: $(order_of | jq -c '{status, stock_state}'), shipment delivered"

mail_for_order() {
    curl -fsS --max-time 5 "http://127.0.0.1:$FAKESMTP_PORT/_fake/messages" |
        jq --arg to maria@example.ru '[.messages[] | select([.. | strings] | any(contains($to)))]'
}
mail_has() { # SUBJECT_FRAGMENT...: each appears in a subject to the customer
    local mail s
    mail=$(mail_for_order) || return 1
    for s in "$@"; do
        jq -e --arg s "$s" 'map(tostring) | any(contains($s))' <<<"$mail" >/dev/null || return 1
    done
}
until_ok 30 "the customer's mail at the fake SMTP server" mail_has "$tracking" "$(order_of | jq -r .number)"
mail=$(mail_for_order)
ok "fake SMTP: $(jq length <<<"$mail") messages to maria@example.ru (of $(( $(curl -fsS "http://127.0.0.1:$FAKESMTP_PORT/_fake/messages" | jq '.messages | length') - mail_before )) new), the tracking number and the order number among them"
deliveries=$(api GET "$notification_url/v1/orders/$jid/deliveries") || fail "the order's delivery log"
sent=$(jq -r '[.[] | select(.status == "sent") | "\(.template)/\(.channel)"] | sort | join(" ")' <<<"$deliveries")
[ -n "$sent" ] || fail "the notification service sent nothing for the order: $deliveries"
ok "notification's log for the order, sent: $sent"

# --- 6. the login rate limit ------------------------------------------------------------
step "POST /v1/auth/token, limited per client at the edge"
codes=""
for i in $(seq 1 40); do
    answer=$(tls -w '\n%{http_code}' -H 'Content-Type: application/json' \
        --data-binary "{\"login\": \"smoke-nobody-$i\", \"password\": \"wrong-password-$i\"}" \
        "$order_url/v1/auth/token") || fail "POST /v1/auth/token"
    code=$(tail -1 <<<"$answer")
    [ "$code" = 429 ] && [ "$(head -1 <<<"$answer" | jq -r .code)" = edge_rate_limited ] && code=edge429
    codes+="$code "
done
summary=$(tr ' ' '\n' <<<"$codes" | grep -v '^$' | sort | uniq -c | awk '{printf "%s x%s, ", $2, $1}')
grep -q edge429 <<<"$codes" || fail "40 logins in a row were never limited by the edge: $codes"
[ "$(awk '{print $1}' <<<"$codes")" = 401 ] || fail "the first login was not the service's own 401: $codes"
ok "40 wrong logins at once: ${summary%, } (429 edge_rate_limited after the burst)"

# --- 7. two inventory replicas -----------------------------------------------------
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
# the edge asks Docker's DNS again every 5 s: both replicas' addresses show up
# in its access log as the upstream of requests to :8082
replica_ips=$(for id in $(dc ps -q inventory); do
    docker inspect -f "{{(index .NetworkSettings.Networks \"${COMPOSE_PROJECT_NAME}_default\").IPAddress}}" "$id"
done | sort | tr '\n' ' ')
seen=""
for i in $(seq 1 30); do
    for _ in 1 2 3 4 5 6; do
        tls -o /dev/null "$inventory_url/healthz" || fail "GET /healthz through the edge"
    done
    seen=$(dc logs --no-color edge 2>/dev/null | sed -n 's/^[^{]*\({.*"msg":"request".*}\)[[:space:]]*$/\1/p' |
        jq -r 'select(.port == 8082 and .path == "/healthz") | .upstream' 2>/dev/null |
        tr ', ' '\n\n' | sed -E 's/:8082$//' | grep -v '^$' | sort -u | tr '\n' ' ')
    [ "$seen" = "$replica_ips" ] && break
    sleep 1
done
[ "$seen" = "$replica_ips" ] || fail "the edge reached $seen; the replicas are $replica_ips"
ok "the edge reaches both replicas ($seen) within $i s"

step "up -d --scale shipping=3"
dc up -d --scale shipping=3 || fail "scaling shipping to 3"
wait_healthy shipping 3
leaders=0
for index in 1 2 3; do
    ready=$(dc exec -T --index="$index" shipping curl -fsS --max-time 3 localhost:8085/readyz) ||
        fail "shipping #$index /readyz"
    [ "$(jq -r .status <<<"$ready")" = ready ] || fail "shipping #$index: $ready"
    [ "$(jq -r .leader <<<"$ready")" = true ] && leaders=$((leaders + 1))
    ok "shipping #$index: $(jq -c '{status, leader, epoch}' <<<"$ready")"
done
[ "$leaders" = 1 ] || fail "$leaders shipping replicas lead (apply the bus); exactly one must"
ok "three shipping replicas healthy, exactly one applies the bus"
ship_ips=$(for id in $(dc ps -q shipping); do
    docker inspect -f "{{(index .NetworkSettings.Networks \"${COMPOSE_PROJECT_NAME}_default\").IPAddress}}" "$id"
done | sort | tr '\n' ' ')
seen=""
for i in $(seq 1 30); do
    for _ in 1 2 3 4 5 6 7 8 9; do
        tls -o /dev/null "$shipping_url/healthz" || fail "GET /healthz through the edge (shipping)"
    done
    seen=$(dc logs --no-color edge 2>/dev/null | sed -n 's/^[^{]*\({.*"msg":"request".*}\)[[:space:]]*$/\1/p' |
        jq -r 'select(.port == 8085 and .path == "/healthz") | .upstream' 2>/dev/null |
        tr ', ' '\n\n' | sed -E 's/:8085$//' | grep -v '^$' | sort -u | tr '\n' ' ')
    [ "$seen" = "$ship_ips" ] && break
    sleep 1
done
[ "$seen" = "$ship_ips" ] || fail "the edge reached $seen; the shipping replicas are $ship_ips"
ok "the edge reaches all three shipping replicas ($seen) within $i s"

# every replica's job workers take label jobs: six heavy courier orders (over
# the city courier's 20 kg, so CDEK labels them) assembled at once while the
# carrier answers in 1.5 s, so that no one replica's two workers can take them all
api PATCH "$order_url/v1/staff/$manager_id" '{"capacity": 50}' >/dev/null || fail "raising the manager's capacity"
api POST "$inventory_url/v1/imports" '{"products": [{"sku": "SMOKE-SAFE", "name": "Сейф для проверки",
  "price_minor": 1500000, "vat_rate_bp": 2000, "weight_g": 25000, "on_hand": 50}]}' >/dev/null ||
    fail "importing a heavy product"
label_jobs() { # the shipping_label jobs each replica's workers completed, as "n n n"
    local index
    for index in 1 2 3; do
        dc exec -T --index="$index" shipping curl -fsS --max-time 3 localhost:8085/metrics |
            awk '/^jobs_completed_total\{/ && /kind="shipping_label"/ && /outcome="done"/ {n += $NF} END {printf "%d ", n}'
    done
}
before=($(label_jobs))
heavy=()
for i in 1 2 3 4 5 6; do
    answer=$(tls -w '\n%{http_code}' -H "X-Api-Key: smoke-site-key-0123456789abcdefgh" \
        -H "Idempotency-Key: smoke-$COMPOSE_PROJECT_NAME-heavy-$i" -H 'Content-Type: application/json' \
        --data-binary "{\"customer\": {\"name\": \"Пётр Сидоров\", \"phone\": \"+7 912 000-00-0$i\"},
          \"delivery\": {\"method\": \"courier\", \"address\": {\"region\": \"Moscow\", \"city\": \"Москва\",
          \"line1\": \"Тверская $i\", \"postal_code\": \"125009\"}}, \"items\": [{\"sku\": \"SMOKE-SAFE\", \"quantity\": 1}]}" \
        "$order_url/v1/orders")
    [ "$(tail -1 <<<"$answer")" = 201 ] || fail "POST /v1/orders (heavy $i): $answer"
    heavy+=("$(head -1 <<<"$answer" | jq -r .order_id)")
done
for id in "${heavy[@]}"; do
    jid=$id
    until_ok 30 "heavy order $id reserved and assigned" order_is '.stock_state == "reserved" and (.manager.id // "") != ""'
    until_ok 30 "heavy order $id quoted" shipment_is '.quote.state == "quoted"'
    out=$(api_as "$as_manager" POST "$order_url/v1/orders/$id/status" '{"to": "confirmed"}') ||
        fail "confirming heavy order $id: $out"
    until_ok 30 "heavy order $id ready to pack" order_is '.status == "prepare_for_delivery"'
done
ok "six heavy courier orders quoted ($(shipment_of | jq -r '.quote | "\(.carrier) \(.service)"')) and ready to pack"
curl -fsS -o /dev/null --max-time 5 -X POST "http://127.0.0.1:$FAKECARRIER_PORT/_fake/latency" \
    -H 'Content-Type: application/json' --data-binary '{"latency_ms": 1500}' || fail "slowing the fake carrier"
for id in "${heavy[@]}"; do
    out=$(api_as "$as_sklad" POST "$order_url/v1/orders/$id/status" '{"to": "assembled"}') ||
        fail "assembling heavy order $id: $out"
done
for id in "${heavy[@]}"; do
    jid=$id
    until_ok 90 "heavy order $id labelled" shipment_is '.state == "labelled"'
done
curl -fsS -o /dev/null --max-time 5 -X POST "http://127.0.0.1:$FAKECARRIER_PORT/_fake/latency" \
    -H 'Content-Type: application/json' --data-binary '{"latency_ms": 0}' || fail "the fake carrier's latency back"
after=($(label_jobs))
took=0 per=""
for index in 0 1 2; do
    n=$((after[index] - before[index]))
    per+="#$((index + 1)):$n "
    [ "$n" -gt 0 ] && took=$((took + 1))
done
stats=$(curl -fsS --max-time 5 "http://127.0.0.1:$FAKECARRIER_PORT/_fake/stats") || fail "the fake carrier's stats"
[ "$(jq .shipments_sold_twice <<<"$stats")" = 0 ] || fail "a shipment was sold two labels: $stats"
[ "$took" -ge 2 ] || fail "label jobs done per replica: $per(only one replica's workers took them)"
ok "six labels, each bought once ($(jq -c '{labels, shipments_sold_twice}' <<<"$stats")); label jobs done per replica: $per"

# --- 8. the demo data, only when asked ----------------------------------------------
step "the demo profile"
staff_logins() { api GET "$order_url/v1/staff" | jq -r '.items[].login' | sort | tr '\n' ' '; }
demo_key_answer() { submit demo-site-main-key-2026-conveyor "smoke-demo-$1" KT-1001 | tail -1; }
before=$(staff_logins) || fail "listing staff"
grep -qw admin <<<"$before" && fail "the demo admin exists without the profile: $before"
[ "$(demo_key_answer 1)" = 401 ] || fail "the demo source's API key works without the profile"
ok "without it: staff $before; the demo API key: 401"
dc --profile demo up -d --no-deps demo || fail "$COMPOSE --profile demo up -d demo"
for _ in $(seq 1 120); do
    demo_id=$(dc --profile demo ps -q demo)
    [ -n "$demo_id" ] && [ "$(docker inspect -f '{{.State.Status}}' "$demo_id")" = exited ] && break
    sleep 1
done
[ "$(docker inspect -f '{{.State.ExitCode}}' "$demo_id")" = 0 ] || {
    dc --profile demo logs --no-color demo | tail -20 >&2
    fail "demo did not exit 0"
}
after=$(staff_logins) || fail "listing staff"
grep -qw admin <<<"$after" || fail "no demo admin after the demo profile: $after"
code=$(demo_key_answer 2)
[ "$code" = 201 ] || fail "the demo source's API key after the profile: HTTP $code"
ok "with --profile demo: staff $after; the demo API key files an order: $code"

step "passed"
