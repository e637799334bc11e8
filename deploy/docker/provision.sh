#!/bin/bash
# provision.sh — the compose stack's database provisioning: the one-shot
# `provision` service (image built from deploy/docker/provision.Dockerfile,
# on top of postgres:15 for psql) runs it as the superuser on every
# `docker compose up`. It runs the same SQL as the local stack
# (scripts/pg.sh: pg_database_sql, pg_provision_sql): per service an owner
# role that runs migrations, a runtime role with search_path and timeouts,
# the schema, default privileges; the database closed to PUBLIC. Idempotent:
# what exists stays, passwords are set to the environment's.
#
# Which services: every running row of the table of services
# (deploy/services.tsv, in the image at /opt/conveyor/deploy/): role <name>,
# schema <schema>.
#
# Environment:
#   PGHOST, PGPORT, PGUSER, PGPASSWORD   the superuser's connection
#   <NAME>_DB_OWNER_PASSWORD, <NAME>_DB_PASSWORD   per service, e.g. ORDER_DB_PASSWORD
set -euo pipefail
source /opt/conveyor/scripts/pg.sh
source /opt/conveyor/deploy/services.sh
rows=$(services_rows running) || { echo "provision: $SERVICES_TABLE is not a table of services" >&2; exit 1; }
[ -n "$rows" ] || { echo "provision: $SERVICES_TABLE names no running service" >&2; exit 1; }
export PGDATABASE=$PG_DB PGCONNECT_TIMEOUT=5

for _ in $(seq 1 60); do
    pg_isready -q && break
    sleep 1
done
sql() { psql -X -q -v ON_ERROR_STOP=1 >/dev/null; }

pg_database_sql | sql
while read -r role schema _; do
    owner_var=${role^^}_DB_OWNER_PASSWORD runtime_var=${role^^}_DB_PASSWORD
    if [ -z "${!owner_var:-}" ] || [ -z "${!runtime_var:-}" ]; then
        echo "provision: $owner_var and $runtime_var must be set" >&2
        exit 1
    fi
    pg_provision_sql "$role" "$schema" "${!owner_var}" "${!runtime_var}" | sql
    echo "provision: $role (schema $schema, owner ${role}_owner) ready in database $PG_DB"
done <<<"$rows"
