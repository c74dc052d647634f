#!/usr/bin/env bash
# The test suite against a real PostGIS (brought up by `citybrain db up` when needed), GDAL's
# OAPIF client, Debian's Chromium and the tools from npm. Extra arguments go to pytest
# (e.g. -k dispatch, or -m "not slow" for the inner loop). A screenshot of the big screen is
# left in test-output/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
# What the tests drive from outside Python: GDAL (ogrinfo), Node.js (the style validator),
# Chromium (the big screen's browser test) and a Chinese font for its screenshot.
missing=()
command -v ogrinfo >/dev/null || missing+=(gdal-bin)
command -v npm >/dev/null || missing+=(nodejs npm)
command -v chromium >/dev/null || missing+=(chromium)
fc-list 2>/dev/null | grep -qi "wenquanyi\|wqy" || missing+=(fonts-wqy-microhei)
# Debian's PgBouncer and nginx, which the scale-out tests start in front of the server.
command -v pgbouncer >/dev/null || [ -x /usr/sbin/pgbouncer ] || missing+=(pgbouncer)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null \
      || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; }
  else
    echo "the tests need: ${missing[*]}" >&2
    exit 1
  fi
fi
stamp=node_modules/.citybrain-$(sha256sum package-lock.json | cut -c1-16)
if [ ! -f "$stamp" ]; then
  npm ci --no-audit --no-fund --loglevel=error
  touch "$stamp"
fi
.venv/bin/citybrain db up
# Two workers (pytest-xdist), each with databases of its own copied from templates built once
# (tests/utils/databases.py); a test file stays on one worker (its servers and browser are
# module fixtures). CITYBRAIN_TEST_WORKERS=0 runs in one process; extra arguments win.
exec .venv/bin/pytest -n "${CITYBRAIN_TEST_WORKERS:-2}" --dist loadfile "$@"
