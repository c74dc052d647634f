#!/bin/sh
# The scale-out replica's start: a hot standby streaming from the primary. On the first start
# (an empty data directory) it copies the primary with pg_basebackup -R, which also writes
# standby.signal and primary_conninfo; then the image's own entrypoint starts PostgreSQL on
# the copy, as a standby (it finds PG_VERSION, so it runs no initdb). A standby that has
# fallen further behind than the primary's wal_keep_size cannot catch up: remove its volume
# and start it again to copy afresh (docs/deploy.md).
set -eu
PGDATA="${PGDATA:-/var/lib/postgresql/data}"
: "${PRIMARY_HOST:?}"
: "${REPLICATION_PASSWORD:?set CITYBRAIN_REPLICATION_PASSWORD in .env (see .env.example)}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    mkdir -p "$PGDATA"
    chown postgres:postgres "$PGDATA"
    chmod 0700 "$PGDATA"
    until pg_isready -q -h "$PRIMARY_HOST" -p 5432; do
        echo "waiting for the primary ($PRIMARY_HOST)"
        sleep 2
    done
    # The password in the environment only (not on a command line others can read).
    PGPASSWORD="$REPLICATION_PASSWORD" gosu postgres pg_basebackup \
        --host="$PRIMARY_HOST" --port=5432 --username=replicator \
        --pgdata="$PGDATA" --write-recovery-conf --wal-method=stream --checkpoint=fast
fi
exec docker-entrypoint.sh "$@"
