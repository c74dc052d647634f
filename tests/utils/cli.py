"""The ``citybrain`` command as a user runs it: a subprocess on a database of the tests."""

from __future__ import annotations

import os
import subprocess
import sys


def citybrain(
    url: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    env = {**os.environ, "CITYBRAIN_DATABASE_URL": url, "COLUMNS": "200", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "citybrain.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
