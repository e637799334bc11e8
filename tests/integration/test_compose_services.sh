#!/usr/bin/env bash
# test_compose_services.sh — docker-compose.yml agrees with deploy/services.tsv,
# the one table of services (issue 10, item 4).
#
# The images read the table themselves (provision, keys, the edge's routes,
# the demo), but compose cannot read a file for its own structure, so this
# test holds the two together. Needs no Docker engine: `docker-compose config`
# resolves the file as `up` would (with deploy/docker/gen-env.sh's secrets;
# a .env beside the file is ignored). For every running service of the table:
#   - a block of its own name whose command is the program, with DB_SCHEMA,
#     HTTP_ADDR (0.0.0.0:<http>), REPLAY_ADDR (tcp://0.0.0.0:<replay>),
#     BUS_CERT (/keys/secret/<name>.key_secret), its own roles in
#     DATABASE_URL and DATABASE_OWNER_URL and a health check on <http>/readyz;
#   - name=tcp://name:<replay> in every service's REPLAY_PEERS;
#   - both its passwords in provision's environment;
#   - the edge publishing <http> and waiting for it; the demo naming and
#     waiting for it;
# every long-running container (all but the one-shots) with a health check
# and `restart: unless-stopped`; no service of the table publishing a port of
# its own (edge is the way in), so `--scale NAME=N` works for each;
# and the other way round: nothing in compose that the table does not run
# (a service block, a REPLAY_PEERS entry, a password, an edge port, a demo
# URL; a planned service has no block), and no list the images now take from
# the table (PROVISION_SERVICES, KEYS_SERVICES, EDGE_ROUTES, DEMO_SERVICES)
# repeated in compose unless it agrees. The table is read through
# deploy/services.sh with both bash and sh (keys.sh runs under the image's
# /bin/sh), which must agree.
#
# So that it cannot pass by checking nothing, the same checks then run on
# copies of the configuration broken one way each (a wrong REPLAY_ADDR, a
# block gone, a service the table does not know, a peer, a password, an
# edge port dropped ...) and must name each break.
source "$(dirname "$0")/lib.sh"

compose_file="$IT_TOP/docker-compose.yml"
export SERVICES_TABLE="$IT_TOP/deploy/services.tsv"
source "$IT_TOP/deploy/services.sh"
# what compose runs besides the services of the table: the infrastructure,
# the one-shots, and the sandbox profile's fakes of the outside systems
ONESHOTS="provision keys demo"
FAKES="fakebank fakesmtp fakesms faketelegram fakecarrier"
INFRA="postgres redis busd edge $ONESHOTS $FAKES"

if command -v docker-compose >/dev/null 2>&1; then
    compose=(docker-compose)
elif docker compose version >/dev/null 2>&1; then
    compose=(docker compose)
else
    it_log "skipped: neither docker-compose nor 'docker compose' is installed (make deps installs docker-compose)"
    exit 0
fi

# --- the table, through bash and through sh ----------------------------------
rows=$(services_rows running) || it_fail "deploy/services.tsv is not a table of services"
[ -n "$rows" ] || it_fail "deploy/services.tsv names no running service"
sh_rows=$(SERVICES_TABLE="$SERVICES_TABLE" sh -c '. "$1"; services_rows running' sh "$IT_TOP/deploy/services.sh") ||
    it_fail "sh could not read deploy/services.tsv through deploy/services.sh"
it_assert_eq "$rows" "$sh_rows" "the running services as bash and sh read them"
it_log "table: $(services_rows | wc -l) services, running: $(cut -d' ' -f1 <<<"$rows" | tr '\n' ' ')"

# --- compose's configuration as JSON ------------------------------------------
empty_env="$IT_RUN/empty.env"
: >"$empty_env"
mapfile -t secrets < <("$IT_TOP/deploy/docker/gen-env.sh" | grep -E '^[A-Z_][A-Z0-9_]*=.')
[ ${#secrets[@]} -gt 0 ] || it_fail "deploy/docker/gen-env.sh printed no settings"
dc_config() {
    env -i PATH="$PATH" HOME="$IT_RUN" "${secrets[@]}" \
        "${compose[@]}" --env-file "$empty_env" -f "$compose_file" config "$@"
}
# has_services FILE: FILE is one JSON object with a map of services
has_services() {
    [ -s "$1" ] && jq -se 'length == 1 and (.[0].services | type == "object")' "$1" >/dev/null 2>&1
}
# `docker compose` (v2) prints JSON itself; docker-compose 1.x only YAML
# (and, asked for JSON, its usage with status 0), which its own python3-yaml reads
dc_config --format json >"$IT_RUN/config.json" 2>/dev/null
if ! has_services "$IT_RUN/config.json"; then
    dc_config >"$IT_RUN/config.yml" 2>"$IT_RUN/config.err" ||
        it_fail "docker-compose config failed: $(cat "$IT_RUN/config.err")"
    python3 -c 'import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)' \
        <"$IT_RUN/config.yml" >"$IT_RUN/config.json" ||
        it_fail "could not read docker-compose config's YAML (python3-yaml comes with docker-compose)"
fi
has_services "$IT_RUN/config.json" || it_fail "docker-compose config printed no services"

# --- the checks ----------------------------------------------------------------
# facts CONFIG_JSON: the configuration flattened to tab-separated lines, one
# jq run: "svc S", "env S VAR VALUE", "cmd S COMMAND", "health S TEST",
# "port S TARGET" (what S publishes, short or long syntax), "dep S OTHER",
# "restart S POLICY", "name S CONTAINER_NAME"
facts() {
    jq -r '.services | to_entries[] | .key as $s | .value as $v |
        (["svc", $s],
         (($v.environment // {}) | if type == "array"
             then map(capture("^(?<key>[^=]*)=(?<value>.*)$")) else to_entries end |
             .[] | ["env", $s, .key, (.value | tostring)]),
         ["cmd", $s, ($v.command // "" | if type == "array" then join(" ") else tostring end)],
         ["health", $s, ($v.healthcheck.test // "" | if type == "array" then join(" ") else tostring end)],
         ["restart", $s, ($v.restart // "" | tostring)],
         ["name", $s, ($v.container_name // "" | tostring)],
         (($v.ports // [])[] | ["port", $s, (if type == "object" then .target
             else (tostring | sub("/.*$"; "") | split(":") | last) end | tostring)]),
         (($v.depends_on // {}) | if type == "array" then .[] else keys[] end | ["dep", $s, .]))
        | @tsv' "$1"
}

# check CONFIG_JSON ROWS: prints one line per disagreement, nothing when they agree
check() {
    local config=$1 rows=$2
    local -A env=() cmd=() health=() ports=() deps=() restart=() cname=()
    local services="" kind s k v
    while IFS=$'\t' read -r kind s k v; do
        case $kind in
        svc) services+="$s " ;;
        env) env["$s/$k"]=$v ;;
        cmd) cmd[$s]=$k ;;
        health) health[$s]=$k ;;
        restart) restart[$s]=$k ;;
        name) cname[$s]=$k ;;
        port) ports[$s]+="$k " ;;
        dep) deps[$s]+="$k " ;;
        esac
    done < <(facts "$config")
    [ -n "$services" ] || { echo "no services in the configuration"; return 0; }
    # has LIST WORD: WORD is one of the space-separated LIST
    has() { [[ " $1 " == *" $2 "* ]]; }

    local names="" expected_peers="" name schema http replay _
    while read -r name schema http replay _; do
        names+="$name "
        expected_peers+="$name=tcp://$name:$replay "
    done <<<"$rows"
    expected_peers=$(tr ' ' '\n' <<<"$expected_peers" | sed '/^$/d' | sort | tr '\n' ' ')

    # every running service: its block, as the table says
    local var want got
    while read -r name schema http replay _; do
        if ! has "$services" "$name"; then
            echo "$name: running in deploy/services.tsv but has no block in docker-compose.yml"
        else
            [ "${cmd[$name]:-}" = "$name" ] || echo "$name: command is '${cmd[$name]:-}', not '$name'"
            for var in DB_SCHEMA=$schema HTTP_ADDR=0.0.0.0:$http REPLAY_ADDR=tcp://0.0.0.0:$replay \
                BUS_CERT=/keys/secret/$name.key_secret; do
                want=${var#*=}
                got=${env[$name/${var%%=*}]:-}
                [ "$got" = "$want" ] || echo "$name: ${var%%=*} is '$got', the table says '$want'"
            done
            [[ ${env[$name/DATABASE_URL]:-} == "postgresql://$name:"*"@"* ]] ||
                echo "$name: DATABASE_URL is not the role $name's"
            [[ ${env[$name/DATABASE_OWNER_URL]:-} == "postgresql://${name}_owner:"*"@"* ]] ||
                echo "$name: DATABASE_OWNER_URL is not the role ${name}_owner's"
            [[ ${health[$name]:-} == *"://127.0.0.1:$http/readyz"* ]] ||
                echo "$name: its health check does not ask :$http/readyz"
        fi
        for var in "${name^^}_DB_OWNER_PASSWORD" "${name^^}_DB_PASSWORD"; do
            [ -n "${env[provision/$var]:-}" ] || echo "provision: $var (for $name) is not in its environment"
        done
        has "${deps[edge]:-}" "$name" || echo "edge: does not wait for $name (depends_on)"
        has "${ports[edge]:-}" "$http" || echo "edge: does not publish $name's port $http"
        has "$services" demo || continue
        has "${deps[demo]:-}" "$name" || echo "demo: does not wait for $name (depends_on)"
        [[ " ${env[demo/DEMO_PUBLIC_URLS]:-} " == *" $name="* ]] ||
            echo "demo: DEMO_PUBLIC_URLS does not name $name"
    done <<<"$rows"

    # every long-running container: a health check, restarted unless stopped
    local service status
    for service in $services; do
        has "$ONESHOTS" "$service" && continue
        [ -n "${health[$service]:-}" ] || echo "$service: no health check"
        [ "${restart[$service]:-}" = unless-stopped ] ||
            echo "$service: restart is '${restart[$service]:-}', not unless-stopped"
    done
    # the table's services scale: no port of their own, no fixed container name
    while read -r name _; do
        [ -z "${ports[$name]:-}" ] || echo "$name: publishes ${ports[$name]}(a fixed host port: --scale $name=N would collide)"
        [ -z "${cname[$name]:-}" ] || echo "$name: container_name '${cname[$name]}' (--scale $name=N needs none)"
    done <<<"$rows"

    # nothing the table does not run
    for service in $services; do
        has "$INFRA $names" "$service" && continue
        status=$(services_rows | awk -v s="$service" '$1 == s { print "status " $5; f = 1 } END { if (!f) print "not listed" }')
        echo "$service: a block in docker-compose.yml, but deploy/services.tsv does not run it ($status)"
    done
    local peers
    for service in $services; do
        peers=${env[$service/REPLAY_PEERS]:-}
        if [ -z "$peers" ]; then
            has "$names" "$service" && echo "$service: no REPLAY_PEERS"
            continue
        fi
        peers=$(tr ',' '\n' <<<"$peers" | sed '/^$/d' | sort | tr '\n' ' ')
        [ "$peers" = "$expected_peers" ] ||
            echo "$service: REPLAY_PEERS is '$peers', the table's running services make '$expected_peers'"
    done
    for k in "${!env[@]}"; do
        [[ $k == provision/*_DB_PASSWORD || $k == provision/*_DB_OWNER_PASSWORD ]] || continue
        var=${k#provision/}
        name=${var%_DB_OWNER_PASSWORD}
        name=${name%_DB_PASSWORD}
        has "$names" "${name,,}" || echo "provision: $var, but deploy/services.tsv does not run ${name,,}"
    done
    local port
    for port in ${ports[edge]:-}; do
        awk -v p="$port" '$3 == p { f = 1 } END { exit !f }' <<<"$rows" ||
            echo "edge: publishes $port, which is no running service's HTTP port in deploy/services.tsv"
    done
    for name in ${deps[edge]:-} ${deps[demo]:-}; do
        has "$names" "$name" || echo "edge or demo: waits for $name, which deploy/services.tsv does not run"
    done
    local entry
    for entry in ${env[demo/DEMO_PUBLIC_URLS]:-}; do
        has "$names" "${entry%%=*}" ||
            echo "demo: DEMO_PUBLIC_URLS names ${entry%%=*}, which deploy/services.tsv does not run"
    done

    # the lists the images take from the table, repeated here only if they agree
    local list derived
    list=${env[provision/PROVISION_SERVICES]:-}
    derived=$(while read -r name schema _; do printf '%s:%s ' "$name" "$schema"; done <<<"$rows")
    [ -z "$list" ] || [ "$list " = "$derived" ] || echo "provision: PROVISION_SERVICES '$list' is not the table's '$derived'"
    list=${env[keys/KEYS_SERVICES]:-}
    [ -z "$list" ] || [ "$list " = "$names" ] || echo "keys: KEYS_SERVICES '$list' is not the table's '$names'"
    list=${env[edge/EDGE_ROUTES]:-}
    derived=$(while read -r name _ http _; do printf '%s=%s:%s ' "$http" "$name" "$http"; done <<<"$rows")
    [ -z "$list" ] || [ "$list " = "$derived" ] || echo "edge: EDGE_ROUTES '$list' is not the table's '$derived'"
    list=${env[demo/DEMO_SERVICES]:-}
    derived=$(while read -r name _ http _; do printf '%s=http://%s:%s ' "$name" "$name" "$http"; done <<<"$rows")
    [ -z "$list" ] || [ "$list " = "$derived" ] || echo "demo: DEMO_SERVICES '$list' is not the table's '$derived'"
    return 0
}

problems=$(check "$IT_RUN/config.json" "$rows")
[ -z "$problems" ] || it_fail "docker-compose.yml disagrees with deploy/services.tsv:
$problems"
it_log "docker-compose.yml agrees with deploy/services.tsv ($(wc -l <<<"$rows") running services)"

# --- and the checks can fail: each break below must be named ---------------------
first=$(head -1 <<<"$rows" | cut -d' ' -f1)
last=$(tail -1 <<<"$rows" | cut -d' ' -f1)
last_http=$(tail -1 <<<"$rows" | cut -d' ' -f3)
# broken JQ-EXPRESSION EXPECTED-TEXT: the configuration changed by the
# expression must be reported with a line containing the text
broken() {
    local mutated="$IT_RUN/broken.json" found
    jq --arg first "$first" --arg last "$last" --arg port "$last_http" "$1" "$IT_RUN/config.json" >"$mutated" ||
        it_fail "jq could not apply $1"
    found=$(check "$mutated" "$rows")
    grep -qF -- "$2" <<<"$found" || it_fail "breaking the configuration with '$1' was not reported as '$2'; reported: '$found'"
    it_log "broken: $1  ->  $(grep -F -- "$2" <<<"$found" | head -1)"
}
broken '.services[$last].environment.REPLAY_ADDR = "tcp://0.0.0.0:1"' "$last: REPLAY_ADDR is 'tcp://0.0.0.0:1'"
broken '.services[$first].environment.DB_SCHEMA = "public"' "$first: DB_SCHEMA is 'public'"
broken '.services[$first].environment.HTTP_ADDR = "0.0.0.0:9999"' "$first: HTTP_ADDR"
broken '.services[$last].environment.BUS_CERT = "/keys/secret/busd.key_secret"' "$last: BUS_CERT"
broken '.services[$first].command = ["busd"]' "$first: command is 'busd'"
broken 'del(.services[$last])' "$last: running in deploy/services.tsv but has no block"
broken '.services.ghost = .services[$first]' "ghost: a block in docker-compose.yml, but deploy/services.tsv does not run it"
broken '.services[$first].environment.REPLAY_PEERS |= (split(",") | map(select(startswith($last + "=") | not)) | join(","))' \
    "$first: REPLAY_PEERS"
broken '.services.provision.environment |= del(.[($last | ascii_upcase) + "_DB_PASSWORD"])' \
    "provision: $(tr a-z A-Z <<<"$last")_DB_PASSWORD"
broken '.services.edge.ports |= map(select(tostring | test(":" + $port + "(/|$|\")") | not))' \
    "edge: does not publish $last's port $last_http"
broken '.services.edge.ports += ["127.0.0.1:8089:8089/tcp"]' "edge: publishes 8089"
broken '.services.edge.environment.EDGE_ROUTES = "8081=order:8081"' "edge: EDGE_ROUTES"
broken '.services[$last].ports = ["127.0.0.1:8085:8085/tcp"]' "$last: publishes 8085"
broken '.services[$last].container_name = "one"' "$last: container_name 'one'"
broken 'del(.services[$first].healthcheck)' "$first: no health check"
broken '.services.fakecarrier.restart = "no"' "fakecarrier: restart is 'no', not unless-stopped"
if [ "$(jq '.services.demo // {} | length' "$IT_RUN/config.json")" != 0 ]; then
    broken '.services.demo.depends_on |= del(.[$last])' "demo: does not wait for $last"
fi
# and the table's side: a port moved in the table alone
moved=$(awk -v s="$last" '$1 == s { $3 = 9999 } { print }' <<<"$rows")
found=$(check "$IT_RUN/config.json" "$moved")
grep -qF "$last: HTTP_ADDR is '0.0.0.0:$last_http', the table says '0.0.0.0:9999'" <<<"$found" ||
    it_fail "moving $last's port in the table alone was not reported; reported: '$found'"
it_log "broken table: $last on 9999  ->  $(head -1 <<<"$found")"
