#!/usr/bin/env bash
# Create .venv with citybrain and its test tools; on Debian, install what Python lacks.
# Idempotent: reinstalls only when pyproject.toml changed.
set -euo pipefail
cd "$(dirname "$0")/.."
# As root, the venv is made from Debian's own Python when it is 3.11 or newer: `citybrain serve`
# started as root serves as an unprivileged user (CITYBRAIN_SERVE_USER), who must be able to
# run the interpreter (a pyenv or conda Python under /root is root's alone).
if [ -z "${PYTHON:-}" ] && [ "$(id -u)" = 0 ] && [ -x /usr/bin/python3 ] \
    && /usr/bin/python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  PYTHON=/usr/bin/python3
  # (a venv made from another interpreter before, a pyenv Python under /root, is made again)
  if [ -f .venv/pyvenv.cfg ] && ! grep -qx "home = /usr/bin" .venv/pyvenv.cfg; then
    rm -rf .venv
  fi
fi
PYTHON=${PYTHON:-python3}

if ! "$PYTHON" -c 'import venv, ensurepip' 2>/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv python3-pip >/dev/null
  else
    echo "Python's venv module is missing: install python3-venv" >&2
    exit 1
  fi
fi

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
stamp=.venv/.citybrain-$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -f "$stamp" ]; then
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e '.[dev,planning]'
  rm -f .venv/.citybrain-* && touch "$stamp"
fi
