"""``citybrain db up/status/down``: the embedded cluster comes up by itself, in a directory of
its own, whether or not another PostgreSQL runs on the machine."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile

import pytest

from citybrain.db.cluster import _installed_versions
from citybrain.db.migrate import head_revision


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(not _installed_versions(), reason="PostgreSQL server binaries not installed")
def test_embedded_cluster_lifecycle() -> None:
    data = tempfile.mkdtemp(prefix="citybrain-cluster-", dir="/tmp")
    os.chmod(data, 0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYBRAIN_")}
    env.update(CITYBRAIN_DATA_DIR=data, CITYBRAIN_PG_PORT=str(_free_port()))

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
            os.path.join(data, "pg" + str(_installed_versions()[-1]), "PG_VERSION")
        )
        st = cli("status")
        assert st.returncode == 0 and "reachable: True" in st.stderr
        assert cli("up").returncode == 0  # idempotent
        migrated = cli("migrate")
        assert migrated.returncode == 0, migrated.stderr
        head = head_revision()
        assert f"schema revision: {head} (head: {head})" in cli("status").stderr
    finally:
        down = cli("down")
    assert down.returncode == 0 and "stopped" in down.stderr
    assert cli("status").returncode == 1
