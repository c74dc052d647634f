"""A real PgBouncer (Debian's ``/usr/sbin/pgbouncer``) in transaction mode in front of the test
cluster, for a test: its pgbouncer.ini and userlist in a temporary directory of its own, on a
free port, run as an unprivileged user (PgBouncer refuses to run as root), stopped afterwards;
and its admin console (``SHOW POOLS``, ``SHOW STATS``)."""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from citybrain.db.cluster import RUN_AS_ROOT_USERS
from tests.utils.server import free_port

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
ADMIN = "bouncer_admin"  # a user of the admin console only (no such role in PostgreSQL)


@dataclass
class Bouncer:
    port: int
    directory: Path
    admin_password: str

    def url(self, database_url: str, user: str, password: str, database: str | None = None) -> str:
        """``database_url`` through this PgBouncer, logging in as ``user``."""
        u = make_url(database_url)
        return u.set(
            host="127.0.0.1",
            port=self.port,
            username=user,
            password=password,
            database=database or u.database,
        ).render_as_string(hide_password=False)

    def show(self, what: str) -> list[dict]:
        """``SHOW <what>`` on the admin console (simple query protocol, no transaction)."""
        with psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            dbname="pgbouncer",
            user=ADMIN,
            password=self.admin_password,
            autocommit=True,
            cursor_factory=psycopg.ClientCursor,
        ) as conn:
            cur = conn.execute(f"SHOW {what}")  # (a keyword of ours, never input)
            names = [c.name for c in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def log(self) -> str:
        return (self.directory / "pgbouncer.log").read_text(errors="replace")


def _runs_as() -> pwd.struct_passwd | None:
    if os.geteuid() != 0:
        return None
    for name in RUN_AS_ROOT_USERS:  # the users the embedded cluster runs as
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError(f"PgBouncer will not run as root, and none of {RUN_AS_ROOT_USERS} exists")


@contextmanager
def pgbouncer(
    target_url: str,
    users: dict[str, str],
    databases: dict[str, str] | None = None,
    pool_size: int = 2,
) -> Iterator[Bouncer]:
    """PgBouncer in transaction mode in front of ``target_url``'s server: ``users`` (login →
    password) may log in (PgBouncer logs in to PostgreSQL as the same user, with the same
    password); ``databases``: alias → extra connection settings (``connect_query=...``), each
    alias a name for ``target_url``'s database (which is served under its own name as well).
    ``pool_size`` server connections per database and user (``default_pool_size``)."""
    target = make_url(target_url)
    directory = Path(tempfile.mkdtemp(prefix="citybrain-pgbouncer-", dir="/tmp"))
    port = free_port()
    admin_password = secrets.token_hex(16)
    aliases = {target.database: "", **(databases or {})}
    server = (
        f"host={target.host or '127.0.0.1'} port={target.port or 5432} dbname={target.database}"
    )
    (directory / "pgbouncer.ini").write_text(
        "[databases]\n"
        + "".join(f"{alias} = {server} {extra}\n" for alias, extra in aliases.items())
        + f"""
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = scram-sha-256
auth_file = {directory}/userlist.txt
admin_users = {ADMIN}
pool_mode = transaction
default_pool_size = {pool_size}
min_pool_size = 0
reserve_pool_size = 0
max_client_conn = 500
pidfile = {directory}/pgbouncer.pid
syslog = 0
"""
    )
    userlist = {**users, ADMIN: admin_password}
    (directory / "userlist.txt").write_text(
        "".join(f'"{user}" "{password}"\n' for user, password in userlist.items())
    )
    os.chmod(directory / "userlist.txt", 0o600)
    owner = _runs_as()
    kwargs: dict = {}
    if owner is not None:
        for path in (directory, *directory.iterdir()):
            os.chown(path, owner.pw_uid, owner.pw_gid)
        kwargs.update(user=owner.pw_uid, group=owner.pw_gid, extra_groups=[])
    os.chmod(directory, 0o700)
    with open(directory / "pgbouncer.log", "wb") as log:
        proc = subprocess.Popen(
            [PGBOUNCER, str(directory / "pgbouncer.ini")],
            cwd=directory,
            stdout=log,
            stderr=subprocess.STDOUT,
            **kwargs,
        )
    bouncer = Bouncer(port, directory, admin_password)
    try:
        deadline = time.monotonic() + 10
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"pgbouncer exited ({proc.returncode}):\n{bouncer.log()}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"pgbouncer did not listen within 10 s:\n{bouncer.log()}")
            time.sleep(0.05)
        yield bouncer
    finally:
        proc.terminate()  # SIGTERM: PgBouncer's immediate shutdown
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(directory, ignore_errors=True)
