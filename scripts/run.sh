#!/usr/bin/env bash
# The main job: bring up PostgreSQL + PostGIS, load the synthetic county (once), serve the map
# and the API on http://${CITYBRAIN_HOST:-127.0.0.1}:${CITYBRAIN_PORT:-8000}/.
# Extra arguments go to `citybrain serve` (e.g. --workers 2).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
.venv/bin/citybrain db up
.venv/bin/citybrain db migrate
.venv/bin/citybrain seed --if-empty --incidents "${CITYBRAIN_SEED_INCIDENTS:-100000}"
exec .venv/bin/citybrain serve "$@"
