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
from psycopg import sql

from citybrain.db.connection import libpq_conninfo
from citybrain.db.pools import create_pooler_login
from citybrain.settings import get_settings

LOGIN = "citybrain_pooled"
settings = get_settings()
password = os.environ["CITYBRAIN_POOLER_PASSWORD"]
with psycopg.connect(libpq_conninfo(settings.sqlalchemy_url), autocommit=True) as conn:
    if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [LOGIN]).fetchone():
        # (DDL takes no bound parameters: the password goes in as a quoted literal)
        conn.execute(
            sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(LOGIN), sql.Literal(password))
        )
    else:
        create_pooler_login(conn, settings, LOGIN, password)
print(f"pooler login {LOGIN} ready")
PY
