#!/bin/sh
# The scale-out primary's first start (docker-entrypoint-initdb.d, run once, when its data
# directory is created): the role the replicas copy and stream with, its password from the
# environment (CITYBRAIN_REPLICATION_PASSWORD, .env), and the pg_hba line that lets it
# connect for replication ("all" in pg_hba.conf does not cover replication connections).
set -eu
: "${CITYBRAIN_REPLICATION_PASSWORD:?set CITYBRAIN_REPLICATION_PASSWORD in .env (see .env.example)}"
# The password is read by psql from the environment (\getenv, psql 15), never put on a command
# line (visible to other processes) or spliced into the SQL text (:'pw' quotes it).
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres <<'SQL'
\getenv pw CITYBRAIN_REPLICATION_PASSWORD
CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD :'pw';
SQL
echo "host replication replicator all scram-sha-256" >> "$PGDATA/pg_hba.conf"
