#!/bin/sh
# The scale-out profile's one-shot job, run straight on the primary as its owner before any API
# node starts (two nodes migrating at once would race): migrations, the synthetic county the
# first time, and the login PgBouncer uses (docs/pgbouncer.md): least-privileged, acting as
# citybrain_server with the statement deadline as settings of the login itself. Run on every
# start: each step does nothing when already done (the login's password is set again from
# .env, so changing it there takes effect on the next start).
set -eu
: "${CITYBRAIN_POOLER_PASSWORD:?set CITYBRAIN_POOLER_PASSWORD in .env (see .env.example)}"
citybrain db migrate
citybrain seed --if-empty --incidents "${CITYBRAIN_SEED_INCIDENTS:-100000}"
python - <<'PY'
import os

import psycopg

from citybrain.db.connection import libpq_conninfo
from citybrain.db.pools import make_server_login
from citybrain.settings import get_settings

LOGIN = "citybrain_pooled"
settings = get_settings()
password = os.environ["CITYBRAIN_POOLER_PASSWORD"]
with psycopg.connect(libpq_conninfo(settings.sqlalchemy_url), autocommit=True) as conn:
    make_server_login(conn, settings, LOGIN, password)  # made, or its password given again
print(f"pooler login {LOGIN} ready")
PY
