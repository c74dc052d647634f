#!/usr/bin/env bash
# The test suite against a real PostGIS (brought up by `citybrain db up` when needed).
# Extra arguments go to pytest (e.g. -k dispatch).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
.venv/bin/citybrain db up
exec .venv/bin/pytest "$@"
