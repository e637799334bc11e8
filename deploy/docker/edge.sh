#!/bin/bash
# conveyor-edge — the compose stack's only public HTTP listener
# (deploy/docker/Dockerfile, stage "edge"): nginx terminating TLS on each
# service's HTTP port and forwarding to the service's name on the compose
# network, which Docker's DNS answers with the addresses of all its replicas.
# nginx asks again every 5 s (resolver valid=5s; proxy_pass with a variable)
# and spreads requests over the answers, so `--scale` works for any service
# and no replica publishes a port of its own.
#
#   conveyor-edge           write the configuration, make the certificate if
#                           there is none, run nginx in the foreground
#   conveyor-edge check     the healthcheck: every route answers /healthz over TLS
#
# What it enforces (DESIGN.md "Security": a TLS edge proxy is the only public
# listener; /metrics stays internal):
#   - TLS 1.2 and 1.3 only, ECDHE key exchange with AEAD ciphers (Mozilla's
#     "intermediate" list), no session tickets; no plain-HTTP listener at all
#     (an API client that would follow a redirect has already sent its token
#     in the clear, so there is nothing to redirect);
#   - /metrics and /readyz answer 404: they stay inside the network, where the
#     containers' health checks and Prometheus use them;
#   - request bodies up to EDGE_BODY_LIMIT (the services' own default, 1 MiB),
#     headers up to 16 KiB, slow clients cut off (10 s for the headers, 15 s
#     between body reads), at most EDGE_CONN_PER_CLIENT connections per client;
#   - POST /v1/auth/token limited per client address to EDGE_LOGIN_RATE with
#     EDGE_LOGIN_BURST on top (a first line; the order service has its own);
#   - X-Forwarded-For and X-Real-IP set to the client's address, replacing
#     whatever the client sent.
# The edge's own refusals are application/problem+json like the services'.
#
# Environment:
#   EDGE_ROUTES      space-separated LISTEN_PORT=HOST:PORT, e.g.
#                    "8081=order:8081"; by default every running service of
#                    the table of services (deploy/services.tsv, in the image
#                    under /opt/conveyor/deploy/) on its HTTP port:
#                    "8081=order:8081 8082=inventory:8082"
#   EDGE_TLS_DIR     cert.pem and key.pem (default /var/lib/conveyor-edge/tls, a
#                    volume); when both are missing a self-signed pair is made
#                    there for EDGE_TLS_NAMES (default localhost,127.0.0.1,::1)
#                    valid EDGE_TLS_DAYS (825); mount your own pair instead
#   EDGE_BODY_LIMIT (1m), EDGE_LOGIN_RATE (10r/m), EDGE_LOGIN_BURST (20),
#   EDGE_CONN_PER_CLIENT (100), EDGE_RESOLVER (127.0.0.11, Docker's DNS)
set -euo pipefail
source /opt/conveyor/deploy/services.sh
tls_dir=${EDGE_TLS_DIR:-/var/lib/conveyor-edge/tls}
run_dir=${EDGE_RUN_DIR:-/run/conveyor-edge}
cert=$tls_dir/cert.pem key=$tls_dir/key.pem

log() { # level msg [key value]...
    local line
    line=$(printf '{"ts":"%s","level":"%s","svc":"edge","msg":"%s"' "$(date -u +%FT%T.%3NZ)" "$1" "$2")
    shift 2
    while [ $# -ge 2 ]; do
        line+=$(printf ',"%s":"%s"' "$1" "$2")
        shift 2
    done
    echo "$line}"
}

fail() {
    log error "$1"
    exit 1
}

# the routes: EDGE_ROUTES, or the table's running services
if [ -n "${EDGE_ROUTES:-}" ]; then
    routes=$EDGE_ROUTES
else
    rows=$(services_rows running) || fail "$SERVICES_TABLE is not a table of services"
    routes=$(while read -r name _ http _; do printf '%s=%s:%s ' "$http" "$name" "$http"; done <<<"$rows")
    [ -n "$routes" ] || fail "$SERVICES_TABLE names no running service to route to"
fi

if [ "${1:-}" = check ]; then
    # -k: the certificate may be an operator's, made for a public name, not 127.0.0.1
    for route in $routes; do
        curl -fsS -k -o /dev/null --max-time 3 "https://127.0.0.1:${route%%=*}/healthz" || exit 1
    done
    exit 0
fi

# --- the settings, checked before they reach nginx's configuration ---------------
body_limit=${EDGE_BODY_LIMIT:-1m}
login_rate=${EDGE_LOGIN_RATE:-10r/m}
login_burst=${EDGE_LOGIN_BURST:-20}
conn_per_client=${EDGE_CONN_PER_CLIENT:-100}
resolver=${EDGE_RESOLVER:-127.0.0.11}
[[ $body_limit =~ ^[0-9]+[kKmM]?$ ]] || fail "EDGE_BODY_LIMIT must be a size like 1m or 512k"
[[ $login_rate =~ ^[0-9]+r/[sm]$ ]] || fail "EDGE_LOGIN_RATE must be a rate like 10r/m or 1r/s"
[[ $login_burst =~ ^[0-9]+$ ]] || fail "EDGE_LOGIN_BURST must be a number"
[[ $conn_per_client =~ ^[1-9][0-9]*$ ]] || fail "EDGE_CONN_PER_CLIENT must be a positive number"
[[ $resolver =~ ^[]0-9A-Za-z.:[-]+$ ]] || fail "EDGE_RESOLVER must be an address"
for route in $routes; do
    [[ $route =~ ^[0-9]+=[A-Za-z0-9._-]+:[0-9]+$ ]] ||
        fail "EDGE_ROUTES: '$route' is not LISTEN_PORT=HOST:PORT"
done

# --- the certificate: the operator's, or one made here on first start ----------
if [ ! -s "$cert" ] && [ ! -s "$key" ]; then
    names=${EDGE_TLS_NAMES:-localhost,127.0.0.1,::1}
    san="" cn=""
    IFS=, read -ra list <<<"$names"
    for name in "${list[@]}"; do
        [ -n "$name" ] || continue
        [[ $name =~ ^[A-Za-z0-9.:*-]+$ ]] || fail "EDGE_TLS_NAMES: '$name' is not a DNS name or an IP address"
        [ -n "$cn" ] || cn=$name
        if [[ $name =~ ^[0-9.]+$ || $name == *:* ]]; then
            san+="${san:+,}IP:$name"
        else
            san+="${san:+,}DNS:$name"
        fi
    done
    [ -n "$san" ] || fail "EDGE_TLS_NAMES names nothing"
    [ -w "$tls_dir" ] || fail "$tls_dir holds no cert.pem and key.pem and is not writable: mount a pair there"
    (
        umask 077
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -sha256 -nodes \
            -days "${EDGE_TLS_DAYS:-825}" -subj "/CN=$cn" -addext "subjectAltName=$san" \
            -addext "extendedKeyUsage=serverAuth" \
            -keyout "$tls_dir/key.pem.tmp" -out "$tls_dir/cert.pem.tmp" 2>/dev/null
    ) || fail "openssl could not make a certificate"
    chmod 644 "$tls_dir/cert.pem.tmp"
    mv -f "$tls_dir/key.pem.tmp" "$key"
    mv -f "$tls_dir/cert.pem.tmp" "$cert"
    log info "made a self-signed certificate" names "$san" path "$cert"
elif [ ! -s "$cert" ] || [ ! -s "$key" ]; then
    fail "$tls_dir must hold both cert.pem and key.pem (or neither, to have a self-signed pair made)"
fi
[ -r "$key" ] || fail "$key is not readable by uid $(id -u)"
fingerprint=$(openssl x509 -in "$cert" -noout -fingerprint -sha256 2>/dev/null | sed 's/^.*=//') ||
    fail "$cert is not a PEM certificate"
log info "certificate" subject "$(openssl x509 -in "$cert" -noout -subject 2>/dev/null | sed 's/^subject=//')" \
    not_after "$(openssl x509 -in "$cert" -noout -enddate | sed 's/^notAfter=//')" sha256 "$fingerprint"

# --- nginx's configuration ---------------------------------------------------------
mkdir -p "$run_dir"
conf=$run_dir/nginx.conf
{
    cat <<EOF
# written by conveyor-edge (deploy/docker/edge.sh) at start; edit that, not this
worker_processes auto;
pid $run_dir/nginx.pid;
error_log stderr warn;

events {
    worker_connections 4096;
}

http {
    server_tokens off;
    default_type application/octet-stream;
    # one JSON object per line, like every conveyor program; the path without
    # its query, and never a header (tokens, API keys)
    log_format edge escape=json '{"ts":"\$time_iso8601","level":"info","svc":"edge","msg":"request",'
        '"client":"\$remote_addr","port":\$server_port,"method":"\$request_method","path":"\$uri",'
        '"status":\$status,"bytes":\$body_bytes_sent,"secs":\$request_time,'
        '"upstream":"\$upstream_addr","upstream_status":"\$upstream_status","tls":"\$ssl_protocol"}';
    access_log /dev/stdout edge;

    # Docker's DNS: a service's name answers every replica; asked again every 5 s
    resolver $resolver valid=5s ipv6=off;
    resolver_timeout 3s;

    # what one client may send and hold
    client_max_body_size $body_limit;
    client_body_buffer_size 64k;
    client_header_buffer_size 4k;
    large_client_header_buffers 4 16k;
    client_header_timeout 10s;
    client_body_timeout 15s;
    send_timeout 30s;
    keepalive_timeout 30s;
    keepalive_requests 1000;
    reset_timedout_connection on;
    limit_conn_zone \$binary_remote_addr zone=edge_conn:10m;
    limit_conn edge_conn $conn_per_client;
    limit_conn_status 429;
    limit_req_zone \$binary_remote_addr zone=edge_login:10m rate=$login_rate;
    limit_req_status 429;
    limit_req_log_level warn;

    # TLS: 1.2 and 1.3, forward secrecy and AEAD only (Mozilla "intermediate")
    ssl_certificate $cert;
    ssl_certificate_key $key;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305;
    ssl_prefer_server_ciphers off;
    ssl_ecdh_curve X25519:prime256v1:secp384r1;
    ssl_session_cache shared:edge_tls:10m;
    ssl_session_timeout 1d;
    ssl_session_tickets off;

    # to the services: whole requests (a slow client never ties up a service
    # thread), the client's address replacing what it claimed
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host \$host;
    proxy_set_header X-Forwarded-For \$remote_addr;
    proxy_set_header X-Real-IP \$remote_addr;
    proxy_set_header X-Forwarded-Proto https;
    proxy_request_buffering on;
    proxy_connect_timeout 5s;
    proxy_send_timeout 30s;
    proxy_read_timeout 60s;
    # another replica when one cannot be reached; a sent POST is never repeated
    proxy_next_upstream error timeout;
    proxy_next_upstream_tries 3;
EOF
    for route in $routes; do
        port=${route%%=*} target=${route#*=}
        cat <<EOF

    server {
        listen $port ssl http2;
        set \$service $target;
        error_page 413 = @too_large;
        error_page 429 = @rate_limited;

        # inside the network only
        location ^~ /metrics {
            default_type application/problem+json;
            return 404 '{"type":"about:blank","title":"not found","status":404,"code":"not_found"}\n';
        }
        location ^~ /readyz {
            default_type application/problem+json;
            return 404 '{"type":"about:blank","title":"not found","status":404,"code":"not_found"}\n';
        }
        location = /v1/auth/token {
            limit_req zone=edge_login burst=$login_burst nodelay;
            proxy_pass http://\$service;
        }
        location / {
            proxy_pass http://\$service;
        }
        location @too_large {
            default_type application/problem+json;
            return 413 '{"type":"about:blank","title":"request body too large","status":413,"code":"body_too_large","detail":"the edge accepts bodies up to $body_limit"}\n';
        }
        location @rate_limited {
            default_type application/problem+json;
            add_header Retry-After 60 always;
            return 429 '{"type":"about:blank","title":"too many requests","status":429,"code":"edge_rate_limited","detail":"too many requests from this address; try again later"}\n';
        }
    }
EOF
    done
    echo "}"
} >"$conf"
for route in $routes; do
    log info "route" listen "${route%%=*}" to "${route#*=}"
done

nginx -t -q -e stderr -c "$conf" || fail "nginx refused the configuration $conf"
exec nginx -e stderr -c "$conf" -g 'daemon off;'
