#!/usr/bin/env bash
# The test suite against a real PostGIS (brought up by `citybrain db up` when needed), GDAL's
# OAPIF client and the browser tools from npm. Extra arguments go to pytest (e.g. -k dispatch).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
# What the tests drive from outside Python: GDAL (ogrinfo) and Node.js (the style validator).
missing=()
command -v ogrinfo >/dev/null || missing+=(gdal-bin)
command -v npm >/dev/null || missing+=(nodejs npm)
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
exec .venv/bin/pytest "$@"
