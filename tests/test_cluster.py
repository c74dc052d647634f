"""``citybrain db up/status/down``: the embedded cluster comes up by itself, in a directory of
its own, whether or not another PostgreSQL runs on the machine."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg
import pytest

from citybrain.db.cluster import installed_versions
from citybrain.db.migrate import head_revision
from tests.utils.server import free_ports

pytestmark = pytest.mark.slow  # minutes of servers, clusters, browsers or round trips


def test_embedded_cluster_lifecycle() -> None:
    data = tempfile.mkdtemp(prefix="citybrain-cluster-", dir="/tmp")
    os.chmod(data, 0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYBRAIN_")}
    env.update(CITYBRAIN_DATA_DIR=data, CITYBRAIN_PG_PORT=str(free_ports(1)))

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "citybrain.cli", "db", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    try:
        assert cli("status").returncode == 1  # nothing there yet
        up = cli("up")
        assert up.returncode == 0, up.stderr
        assert os.path.exists(
            os.path.join(data, "pg" + str(installed_versions()[-1]), "PG_VERSION")
        )
        st = cli("status")
        assert st.returncode == 0 and "reachable: True" in st.stderr
        _asks_for_the_password(data, int(env["CITYBRAIN_PG_PORT"]))
        assert "database ready: postgresql+psycopg://postgres:***@" in up.stdout + up.stderr
        assert cli("up").returncode == 0  # idempotent
        migrated = cli("migrate")
        assert migrated.returncode == 0, migrated.stderr
        head = head_revision()
        assert f"schema revision: {head} (head: {head})" in cli("status").stderr
        _serves_as_a_login_that_owns_nothing(data, int(env["CITYBRAIN_PG_PORT"]))
        password = Path(data, "server.password").read_text()
        assert cli("migrate").returncode == 0  # again: the same login, the same password
        assert Path(data, "server.password").read_text() == password
        _serves_as_a_login_that_owns_nothing(data, int(env["CITYBRAIN_PG_PORT"]))
        _the_log_keeps_no_row_values(data, int(env["CITYBRAIN_PG_PORT"]))
    finally:
        down = cli("down")
    assert down.returncode == 0 and "stopped" in down.stderr
    assert cli("status").returncode == 1


def _serves_as_a_login_that_owns_nothing(data: str, port: int) -> None:
    """After ``db migrate`` the server's request connections log in as the embedded cluster's
    own server login: a member of the server role only, owning nothing, so that even
    ``SET ROLE NONE`` leaves it unable to rewrite the audit trail or create anything."""
    from citybrain.db.pools import request_conninfo
    from citybrain.settings import SERVER_LOGIN, Settings

    password_file = Path(data, "server.password")
    assert oct(password_file.stat().st_mode & 0o777) == "0o600"
    settings = Settings(data_dir=data, pg_port=port, database_url=None)
    assert settings.request_sqlalchemy_url.startswith(f"postgresql+psycopg://{SERVER_LOGIN}:")
    with psycopg.connect(request_conninfo(settings), autocommit=True) as conn:
        who = conn.execute("SELECT session_user, current_user").fetchone()
        assert who == (SERVER_LOGIN, "citybrain_server")
        conn.execute("SET ROLE NONE")  # (RESET ROLE: back to the login's own default role)
        assert conn.execute("SELECT current_user").fetchone()[0] == SERVER_LOGIN
        for statement in (
            "UPDATE citybrain.incident_events SET note = 'rewritten'",
            "DELETE FROM citybrain.incident_events",
            "CREATE TABLE citybrain.mine (x int)",
            "SET ROLE postgres",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
        roles = conn.execute(
            "SELECT r.rolname, r.rolsuper, r.rolcreaterole, r.rolcreatedb, "
            "array(SELECT b.rolname FROM pg_auth_members m JOIN pg_roles b ON b.oid = m.roleid "
            "WHERE m.member = r.oid) FROM pg_roles r WHERE r.rolname = %s",
            [SERVER_LOGIN],
        ).fetchone()
        assert roles == (SERVER_LOGIN, False, False, False, ["citybrain_server"])


def _the_log_keeps_no_row_values(data: str, port: int) -> None:
    """The cluster's log is its owner's alone (0600, in a directory others cannot list), and
    a refused row leaves its error there without its values: a reporter's phone in a row that
    breaks a check is in the client's error, not in the log."""
    import time

    from citybrain.settings import Settings

    assert oct(os.stat(data).st_mode & 0o777) == "0o711"
    (log,) = Path(data).glob("pg*.log")
    assert oct(log.stat().st_mode & 0o777) == "0o600"
    settings = Settings(data_dir=data, pg_port=port, database_url=None)
    phone = "13912345678"
    with psycopg.connect(settings.sqlalchemy_url.replace("+psycopg", ""), autocommit=True) as c:
        with pytest.raises(psycopg.errors.CheckViolation) as refused:
            c.execute(  # (a role no account may have: the row is refused, with its phone)
                "INSERT INTO citybrain.users (login, name, phone, role, area_code, area_level, "
                "password_hash, created_at) VALUES ('someone', '某某', %s, 'nobody', '330421', "
                "'county', 'x', now())",
                [phone],
            )
        assert phone in str(refused.value.diag.message_detail)  # the client is told
    deadline = time.monotonic() + 10
    while "violates check constraint" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    text = log.read_text()
    assert "violates check constraint" in text and phone not in text


def _asks_for_the_password(data: str, port: int) -> None:
    """SCRAM, never trust: without the password nobody connects; with the one in the data
    directory's 0600 file, the superuser does."""
    password_file = os.path.join(data, "superuser.password")
    assert oct(os.stat(password_file).st_mode & 0o777) == "0o600"
    password = Path(password_file).read_text().strip()
    assert len(bytes.fromhex(password)) == 24
    plain = f"host=127.0.0.1 port={port} user=postgres dbname=postgres connect_timeout=5"
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(plain).close()
    with psycopg.connect(f"{plain} password={password}") as conn:
        assert (
            conn.execute(
                "SELECT rolpassword LIKE 'SCRAM-SHA-256$%' FROM pg_authid "
                "WHERE rolname = 'postgres'"
            ).fetchone()[0]
            is True
        )


def test_a_trusting_cluster_gets_a_password() -> None:
    """A cluster made before passwords (pg_hba.conf: trust, no password file) is converted the
    next time it comes up."""
    from citybrain.db import cluster
    from citybrain.settings import Settings

    data = tempfile.mkdtemp(prefix="citybrain-trust-", dir="/tmp")
    os.chmod(data, 0o755)
    settings = Settings(data_dir=data, pg_port=free_ports(1), database_url=None)
    embedded = cluster.EmbeddedCluster(settings, installed_versions()[-1])
    try:
        cluster.up(settings)
        cluster.down(settings)
        hba = embedded.pgdata / "pg_hba.conf"  # as initdb -A trust wrote it
        text = hba.read_text().replace("scram-sha-256", "trust")
        hba.write_text(text)
        os.unlink(settings.superuser_password_file)
        cluster.up(settings)
        assert "trust" not in [cluster._hba_method(line) for line in hba.read_text().splitlines()]
        _asks_for_the_password(data, settings.pg_port)
    finally:
        cluster.down(settings)
