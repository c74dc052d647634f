#!/bin/sh
# The scale-out primary's start: refuses to start without the replication password (before
# the image's entrypoint creates the data directory, whose first start alone runs
# deploy/primary-init.sh: a start without it would leave a primary no replica can copy), then
# hands over to the image's own entrypoint.
set -eu
: "${CITYBRAIN_REPLICATION_PASSWORD:?set CITYBRAIN_REPLICATION_PASSWORD in .env (see .env.example)}"
exec docker-entrypoint.sh "$@"
