# The compose stack's one-shot database provisioning (deploy/docker/provision.sh):
# psql from the postgres:15 image plus the provisioning SQL of scripts/pg.sh
# and the table of services it provisions (deploy/services.tsv).
FROM postgres:15
COPY scripts/pg.sh /opt/conveyor/scripts/pg.sh
COPY deploy/services.sh deploy/services.tsv /opt/conveyor/deploy/
COPY deploy/docker/provision.sh /usr/local/bin/conveyor-provision
USER postgres
# (setting ENTRYPOINT also clears the base image's CMD; `ENTRYPOINT []` would
# defeat the legacy builder's cache)
ENTRYPOINT ["conveyor-provision"]
