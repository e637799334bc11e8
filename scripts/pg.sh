# pg.sh — sourced: a private PostgreSQL cluster and Redis for conveyor.
#
# The local stack (scripts/stack.sh) and the test harness (tests/run.sh)
# both run their own PostgreSQL 15 cluster and Redis under a directory of
# .run/, on their own ports, never touching a system service. As root the
# cluster runs as the `postgres` user (initdb refuses root). The cluster
# keeps fsync and synchronous_commit on: durability is never traded for
# speed here either.
#
# Both ask for a password, whoever connects and however (DESIGN.md
# "Security"): the cluster uses scram-sha-256 on its unix socket and on TCP,
# and Redis has `requirepass`. The secrets are generated on first start and
# kept in mode-600 files of the instance directory:
#   DIR/pg/superuser.password   the superuser's password
#   DIR/pg/pgpass               the same as a libpq password file: the
#                               superuser URL names it (passfile=), so the URL
#                               itself holds no secret and may be printed
#   DIR/pg/passwords            each service role's password (pg_provision)
#   DIR/redis/password          Redis's; redis_url puts it into the URL
# A cluster made before passwords (trust on the socket) gets a password and
# scram-sha-256 on its next start.
#
# Per service, provisioning creates (DESIGN.md "Storage"):
#   schema <schema>           owned by <role>_owner, which runs migrations;
#   role <role>               the runtime role: reads and writes the
#                             schema's tables only, with search_path and
#                             timeouts set on the role;
#   and the database is closed to PUBLIC.
#
# Functions (all take the instance directory, e.g. .run/test):
#   pg_start DIR PORT        initdb if needed, start, create database conveyor
#   pg_stop DIR
#   pg_super_url DIR PORT    the superuser's URL (unix socket, password from
#                            DIR/pg/pgpass)
#   pg_provision DIR PORT ROLE SCHEMA [fresh]
#                            prints `export DATABASE_URL=... DATABASE_OWNER_URL=...
#                            DB_SCHEMA=...`; with "fresh" drops what existed
#   redis_start DIR PORT / redis_stop DIR
#   redis_url DIR PORT [DB]  redis://:PASSWORD@127.0.0.1:PORT/DB (a secret: export
#                            it, write it to mode-600 files, never print it)
#   redis_cli DIR PORT ARGS...  redis-cli against that Redis, authenticated
#
# The SQL itself comes from two printers, shared with the containers
# (deploy/docker/provision.sh runs the same statements against the
# compose stack's PostgreSQL):
#   pg_database_sql          closes the database and its public schema to PUBLIC
#                            (run connected to the database)
#   pg_provision_sql ROLE SCHEMA OWNER_PW RUNTIME_PW [fresh]
#                            the roles, schema, grants and role settings of one
#                            service; idempotent (passwords are (re)set each time)

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PG_DB=conveyor

_pg_as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# _secret: a fresh random secret of URL-, pgpass- and config-safe characters
_secret() {
    head -c 48 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 32
}

# _secret_file FILE: prints the secret kept in FILE, first writing a fresh
# one (mode 600) when FILE is missing or empty
_secret_file() {
    local file=$1
    if [ ! -s "$file" ]; then
        (umask 077 && _secret >"$file.tmp" && mv -f "$file.tmp" "$file") || return 1
    fi
    cat "$file"
}

# _url_escape TEXT: percent-encodes all but unreserved characters and /
_url_escape() {
    local text=$1 out="" c i
    for ((i = 0; i < ${#text}; i++)); do
        c=${text:i:1}
        case $c in
        [A-Za-z0-9._~/-]) out+=$c ;;
        *)
            printf -v c '%%%02X' "'$c"
            out+=$c
            ;;
        esac
    done
    echo "$out"
}

pg_super_url() {
    local dir=$1 port=$2
    local pgdir
    pgdir=$(cd "$dir/pg" && pwd)
    echo "postgresql:///$PG_DB?host=$(_url_escape "$pgdir")&port=$port&user=postgres&passfile=$(_url_escape "$pgdir/pgpass")"
}

_pg_psql() {
    local dir=$1 port=$2
    shift 2
    psql -X -q -v ON_ERROR_STOP=1 "$(pg_super_url "$dir" "$port")" "$@"
}

# _pg_hba_trusts DIR: whether the cluster still trusts anyone (made before passwords)
_pg_hba_trusts() {
    grep -qE '^[[:space:]]*(local|host)[^#]*[[:space:]]trust([[:space:]]|$)' "$1/pg/data/pg_hba.conf" 2>/dev/null
}

# _pg_require_password DIR PORT PASSWORD: gives a running cluster made before
# passwords the superuser's password, then scram-sha-256 wherever its
# pg_hba.conf said trust, and reloads it
_pg_require_password() {
    local dir=$1 port=$2 password=$3
    local socket_url
    socket_url="postgresql:///postgres?host=$(_url_escape "$(cd "$dir/pg" && pwd)")&port=$port&user=postgres"
    # still trusted on the socket: the last connection without a password
    psql -X -q -v ON_ERROR_STOP=1 -v pw="$password" "$socket_url" >/dev/null <<'SQL' || return 1
SET password_encryption = 'scram-sha-256';
ALTER ROLE postgres PASSWORD :'pw';
SQL
    _pg_as_owner sed -i -E 's/^([[:space:]]*(local|host)[^#]*[[:space:]])trust([[:space:]]|$)/\1scram-sha-256\3/' \
        "$dir/pg/data/pg_hba.conf" &&
        _pg_as_owner "$PG_BIN/pg_ctl" -D "$dir/pg/data" reload >/dev/null || return 1
    local i
    for i in $(seq 1 100); do
        # reloaded once a connection without the password is refused
        psql -X -Atq -w "$socket_url" -c 'SELECT 1' >/dev/null 2>&1 || return 0
        sleep 0.05
    done
    echo "pg: $dir/pg/data/pg_hba.conf still lets anyone in after a reload" >&2
    return 1
}

pg_start() {
    local dir=$1 port=$2
    mkdir -p "$dir/pg"
    if [ "$(id -u)" -eq 0 ]; then
        chown postgres: "$dir/pg"
        # the postgres user must be able to reach its directory
        local up
        up=$(cd "$dir/pg" && pwd)
        while [ "$up" != / ]; do
            up=$(dirname "$up")
            chmod o+x "$up" 2>/dev/null || true
        done
    fi
    local pwfile="$dir/pg/superuser.password" password upgrade=""
    if [ ! -f "$dir/pg/data/PG_VERSION" ]; then
        rm -f "$pwfile"
        password=$(_secret_file "$pwfile") || return 1
        # initdb reads the password from a file its own user can read, removed right after
        local initdb_pw="$dir/pg/initdb.pw"
        (umask 077 && printf '%s\n' "$password" >"$initdb_pw") || return 1
        if [ "$(id -u)" -eq 0 ]; then chown postgres: "$initdb_pw"; fi
        _pg_as_owner "$PG_BIN/initdb" -D "$dir/pg/data" -U postgres -E UTF8 --locale=C.UTF-8 \
            --pwfile="$initdb_pw" --auth-local=scram-sha-256 --auth-host=scram-sha-256 \
            >"$dir/pg/initdb.log" 2>&1 || {
            rm -f "$initdb_pw"
            cat "$dir/pg/initdb.log" >&2
            return 1
        }
        rm -f "$initdb_pw"
        cat >>"$dir/pg/data/postgresql.conf" <<EOF
# conveyor: a private cluster on loopback; durability stays on
listen_addresses = '127.0.0.1'
unix_socket_directories = '$(cd "$dir/pg" && pwd)'
password_encryption = 'scram-sha-256'
max_connections = 300
shared_buffers = 256MB
fsync = on
synchronous_commit = on
wal_level = replica
# commit times let the benchmarks measure delivery commit to commit
track_commit_timestamp = on
max_wal_size = 2GB
log_min_messages = warning
log_min_error_statement = panic
EOF
    elif _pg_hba_trusts "$dir"; then
        password=$(_secret_file "$pwfile") || return 1
        upgrade=1
    elif [ ! -s "$pwfile" ]; then
        echo "pg: $pwfile is missing and the cluster in $dir/pg/data asks for it;" \
            "stop that cluster and remove $dir/pg to start afresh" >&2
        return 1
    else
        password=$(cat "$pwfile")
    fi
    (umask 077 && printf '*:*:*:postgres:%s\n' "$password" >"$dir/pg/pgpass") || return 1
    # pg_stat_activity shows a statement's first 4 kB, not 1 kB: the order
    # service's locking statements name what they lock past their first
    # kilobyte (tests wait for them by their text)
    if ! _pg_as_owner "$PG_BIN/pg_ctl" -D "$dir/pg/data" status >/dev/null 2>&1; then
        _pg_as_owner "$PG_BIN/pg_ctl" -D "$dir/pg/data" \
            -o "-p $port -c track_activity_query_size=4096" -l "$dir/pg/server.log" \
            -w -t 60 start >/dev/null || {
            tail -20 "$dir/pg/server.log" >&2
            return 1
        }
    fi
    if [ -n "$upgrade" ]; then
        _pg_require_password "$dir" "$port" "$password" || return 1
    fi
    if ! psql -X -Atq "$(pg_super_url "$dir" "$port" | sed "s|/$PG_DB?|/postgres?|")" \
        -c "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'" | grep -q 1; then
        psql -X -q -v ON_ERROR_STOP=1 "$(pg_super_url "$dir" "$port" | sed "s|/$PG_DB?|/postgres?|")" \
            -c "CREATE DATABASE $PG_DB" >/dev/null &&
            pg_database_sql | _pg_psql "$dir" "$port" >/dev/null
    fi
}

pg_stop() {
    local dir=$1
    [ -f "$dir/pg/data/postmaster.pid" ] || return 0
    _pg_as_owner "$PG_BIN/pg_ctl" -D "$dir/pg/data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
}

# pg_database_sql: what every conveyor database gets once, connected to it.
pg_database_sql() {
    cat <<SQL
REVOKE ALL ON DATABASE $PG_DB FROM PUBLIC;
REVOKE ALL ON SCHEMA public FROM PUBLIC;
SQL
}

# pg_provision_sql ROLE SCHEMA OWNER_PW RUNTIME_PW [fresh]: prints the SQL
# (for psql) that provisions one service in database $PG_DB: the owner
# role <ROLE>_owner, the runtime role <ROLE>, the schema and the grants
# (DESIGN.md "Storage"). With "fresh" it first drops what existed.
pg_provision_sql() {
    local role=$1 schema=$2 owner_pw=$3 runtime_pw=$4 fresh=${5:-}
    local owner_q=${owner_pw//\'/\'\'} runtime_q=${runtime_pw//\'/\'\'}
    cat <<SQL
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
$(if [ -n "$fresh" ]; then cat <<DROP
DROP SCHEMA IF EXISTS "$schema" CASCADE;
DO \$\$ BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$role') THEN
    EXECUTE 'DROP OWNED BY "$role"'; EXECUTE 'DROP ROLE "$role"';
  END IF;
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${role}_owner') THEN
    EXECUTE 'DROP OWNED BY "${role}_owner"'; EXECUTE 'DROP ROLE "${role}_owner"';
  END IF;
END \$\$;
DROP
fi)
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${role}_owner') THEN
    CREATE ROLE "${role}_owner" LOGIN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$role') THEN
    CREATE ROLE "$role" LOGIN;
  END IF;
END \$\$;
ALTER ROLE "${role}_owner" PASSWORD '$owner_q';
ALTER ROLE "$role" PASSWORD '$runtime_q';
GRANT CONNECT ON DATABASE $PG_DB TO "${role}_owner", "$role";
CREATE SCHEMA IF NOT EXISTS "$schema" AUTHORIZATION "${role}_owner";
GRANT USAGE ON SCHEMA "$schema" TO "$role";
ALTER DEFAULT PRIVILEGES FOR ROLE "${role}_owner" IN SCHEMA "$schema"
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO "$role";
ALTER DEFAULT PRIVILEGES FOR ROLE "${role}_owner" IN SCHEMA "$schema"
    GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO "$role";
ALTER ROLE "${role}_owner" SET search_path = "$schema";
ALTER ROLE "$role" SET search_path = "$schema";
ALTER ROLE "$role" SET statement_timeout = '10s';
ALTER ROLE "$role" SET lock_timeout = '3s';
ALTER ROLE "$role" SET idle_in_transaction_session_timeout = '60s';
-- the relay ties its epoch to the database's identity
GRANT EXECUTE ON FUNCTION pg_control_system() TO "$role";
GRANT EXECUTE ON FUNCTION pg_control_checkpoint() TO "$role";
SQL
}

# pg_provision DIR PORT ROLE SCHEMA [fresh]
pg_provision() {
    local dir=$1 port=$2 role=$3 schema=$4 fresh=${5:-}
    local pwfile="$dir/pg/passwords"
    touch "$pwfile"
    chmod 600 "$pwfile"
    local owner_pw runtime_pw
    owner_pw=$(sed -n "s/^${role}_owner //p" "$pwfile")
    runtime_pw=$(sed -n "s/^${role} //p" "$pwfile")
    if [ -z "$owner_pw" ] || [ -n "$fresh" ]; then
        owner_pw=$(head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
        runtime_pw=$(head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
        sed -i "/^${role}_owner /d;/^${role} /d" "$pwfile"
        printf '%s_owner %s\n%s %s\n' "$role" "$owner_pw" "$role" "$runtime_pw" >>"$pwfile"
    fi
    pg_provision_sql "$role" "$schema" "$owner_pw" "$runtime_pw" "$fresh" | _pg_psql "$dir" "$port" >/dev/null || return 1
    echo "export DATABASE_URL='postgresql://$role:$runtime_pw@127.0.0.1:$port/$PG_DB'" \
        "DATABASE_OWNER_URL='postgresql://${role}_owner:$owner_pw@127.0.0.1:$port/$PG_DB'" \
        "DB_SCHEMA='$schema'"
}

# _redis_password DIR: Redis's password, made on first use (DIR/redis/password)
_redis_password() {
    mkdir -p "$1/redis" && _secret_file "$1/redis/password"
}

redis_url() {
    local dir=$1 port=$2 db=${3:-0} password
    password=$(_redis_password "$dir") || return 1
    echo "redis://:$password@127.0.0.1:$port/$db"
}

# redis_cli DIR PORT ARGS...: the password goes through the environment,
# never the command line
redis_cli() {
    local dir=$1 port=$2 password
    shift 2
    password=$(_redis_password "$dir") || return 1
    REDISCLI_AUTH=$password redis-cli -h 127.0.0.1 -p "$port" "$@"
}

# _redis_answers DIR PORT: ours (or one that knows no password) answers PONG
_redis_answers() {
    [ "$(redis_cli "$1" "$2" ping 2>/dev/null)" = PONG ]
}

redis_start() {
    local dir=$1 port=$2 password rdir
    password=$(_redis_password "$dir") || return 1
    rdir=$(cd "$dir/redis" && pwd)
    if _redis_answers "$dir" "$port"; then
        # started before passwords: require ours from now on
        if [ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = PONG ]; then
            redis_cli "$dir" "$port" CONFIG SET requirepass "$password" >/dev/null || return 1
        fi
        return 0
    fi
    # the password goes into a mode-600 file, never onto a command line
    (
        umask 077
        cat >"$rdir/redis.conf" <<EOF
# written by scripts/pg.sh redis_start
port $port
bind 127.0.0.1
protected-mode yes
requirepass $password
dir "$rdir"
save ""
appendonly no
daemonize yes
pidfile "$rdir/redis.pid"
logfile "$rdir/redis.log"
EOF
    ) || return 1
    redis-server "$rdir/redis.conf" >/dev/null
    local i
    for i in $(seq 1 100); do
        _redis_answers "$dir" "$port" && return 0
        sleep 0.05
    done
    echo "redis did not start on port $port (see $rdir/redis.log)" >&2
    return 1
}

redis_stop() {
    local dir=$1
    [ -f "$dir/redis/redis.pid" ] || return 0
    local pid
    pid=$(cat "$dir/redis/redis.pid")
    kill "$pid" 2>/dev/null || true
    local i
    for i in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    rm -f "$dir/redis/redis.pid"
}
