"""`citybrain serve` started as root (scripts/run.sh on a fresh machine) serves as an
unprivileged user that holds its own logins' passwords and no other secret: not the cluster
superuser's, not the cluster's data, not its log. Imports through the API still work, as the
import login (migration 0017)."""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import psycopg
import pytest

from citybrain.db import cluster
from citybrain.photos.store import FileStore
from tests.utils.cluster import own_cluster
from tests.utils.county import TOWNS_FILE
from tests.utils.keys import API_KEYS_SETTING, auth
from tests.utils.photos import jpeg
from tests.utils.server import free_port

pytestmark = pytest.mark.slow  # minutes of servers, clusters, browsers or round trips


def _serve(settings, port: int, log: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYBRAIN_")}
    env.update(
        CITYBRAIN_DATA_DIR=str(settings.data_dir),
        CITYBRAIN_PG_PORT=str(settings.pg_port),
        CITYBRAIN_API_KEYS=API_KEYS_SETTING,
        CITYBRAIN_DISPATCH_PORT="0",
        CITYBRAIN_ALERTS_RUN="false",
        CITYBRAIN_INSTALL_PACKAGES="false",
    )
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "citybrain.cli", "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def test_root_serves_as_its_own_user(tmp_path) -> None:
    assert os.geteuid() == 0, "the test suite runs as root here (scripts/test.sh installs)"
    with own_cluster("citybrain-serveuser-") as settings:
        port, log = free_port(), tmp_path / "serve.log"
        proc = _serve(settings, port, log)
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 180
            while True:
                assert proc.poll() is None, log.read_text()[-3000:]
                try:
                    if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.3)
            web = pwd.getpwnam(settings.serve_user)
            served = [proc.pid] + [c.pid for c in psutil.Process(proc.pid).children(True)]
            for pid in served:
                p = psutil.Process(pid)
                assert p.uids().effective == web.pw_uid != 0, p.cmdline()
            # What it holds: its logins' passwords, its own; the superuser's stays root's.
            secret = settings.superuser_password_file
            assert secret.stat().st_uid == 0 and secret.stat().st_mode & 0o077 == 0
            for own in (settings.server_password_file, settings.import_password_file):
                assert own.stat().st_uid == web.pw_uid and own.stat().st_mode & 0o077 == 0
            superuser = secret.read_text().strip()
            for pid in served:
                environ = Path(f"/proc/{pid}/environ").read_bytes()
                assert superuser.encode() not in environ
            with psycopg.connect(
                cluster.conninfo(settings), autocommit=True
            ) as conn:  # who the server's sessions are, seen from the database
                logins = {
                    r[0]
                    for r in conn.execute(
                        "SELECT usename FROM pg_stat_activity WHERE application_name LIKE "
                        "'citybrain%%' AND datname = 'citybrain'"
                    )
                }
            assert logins and "postgres" not in logins, logins
            # An admin's import through the API writes, as the import login.
            with TOWNS_FILE.open("rb") as f:
                r = httpx.post(
                    f"{url}/imports/towns",
                    headers=auth("admin"),
                    files={"file": ("towns.geojson", f, "application/geo+json")},
                    data={"dry_run": "false"},
                    timeout=120,
                )
            assert r.status_code == 200, r.text
            assert r.json()["inserted"] == 9
            with psycopg.connect(cluster.conninfo(settings)) as conn:
                who = conn.execute(
                    "SELECT layer, actor FROM citybrain.imports ORDER BY id DESC LIMIT 1"
                ).fetchone()
                assert who == ("towns", "env-admin-1")
                assert conn.execute("SELECT count(*) FROM citybrain.towns").fetchone()[0] == 9
            # Photos from the field go to a store of its own, which others cannot read.
            store = settings.photos_path
            assert store.stat().st_uid == web.pw_uid and store.stat().st_mode & 0o007 == 0
            picture = jpeg("served as its own user")
            r = httpx.post(
                f"{url}/photos",
                content=picture,
                headers={**auth("admin"), "Content-Type": "image/jpeg"},
                timeout=30,
            )
            assert r.status_code == 201, r.text
            kept = FileStore(store).path(r.json()["id"])
            assert kept.read_bytes() == picture and kept.stat().st_uid == web.pw_uid
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
