"""What the benchmarks share: a database of their own with the 1M-incident county, a server
process to load, and random points inside the county."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import httpx
import numpy as np
import psycopg
from sqlalchemy.engine import make_url

from citybrain.db import cluster
from citybrain.db.connection import get_engine, libpq_conninfo
from citybrain.db.migrate import upgrade
from citybrain.settings import Settings

SEED = 1
END = datetime(2026, 11, 1, tzinfo=UTC)
BENCH_KEY = "dispatcher:bench-dispatcher-key"


def bench_database(
    n_incidents: int | None = 1_000_000, suffix: str = "_bench", outbreaks: int = 0
) -> str:
    """``<name><suffix>`` on the configured server, migrated, with the synthetic county; with
    ``n_incidents`` given, holding exactly that many incidents besides ``outbreaks`` injected
    clusters (seeded again if not)."""
    from citybrain.synth import build_county

    cluster.ensure_up(Settings())
    bench = bench_url(suffix)
    cluster.up(Settings(database_url=bench))
    upgrade(get_engine(bench))
    with psycopg.connect(libpq_conninfo(bench)) as conn:
        towns = conn.execute("SELECT count(*) FROM citybrain.towns").fetchone()[0]
        incidents = conn.execute("SELECT count(*) FROM citybrain.incidents").fetchone()[0]
        injected = conn.execute(
            "SELECT count(*), coalesce(sum(size), 0) FROM citybrain.outbreaks"
        ).fetchone()
    if (
        not towns
        or injected[0] != outbreaks
        or (n_incidents is not None and incidents - injected[1] != n_incidents)
    ):
        n = n_incidents or 0
        print(f"seeding the benchmark county: {n:,} incidents, {outbreaks} outbreaks", flush=True)
        build_county(get_engine(bench), n_incidents=n, seed=SEED, end=END, outbreaks=outbreaks)
    return bench


def bench_url(suffix: str = "_bench") -> str:
    """The URL of the benchmark database ``<name><suffix>`` (which may not exist yet)."""
    url = make_url(Settings().sqlalchemy_url)
    return url.set(database=f"{url.database}{suffix}").render_as_string(hide_password=False)


def random_points(url: str, n: int, seed: int = 0) -> np.ndarray:
    """``n`` points inside the county, placed like incidents (by population)."""
    with psycopg.connect(libpq_conninfo(url)) as conn:
        rows = conn.execute(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT (ST_Dump(ST_GeneratePoints(geom, 1, %s))).geom p "
            "FROM citybrain.micro_grids ORDER BY id) s",
            [seed + 1],
        ).fetchall()
    pts = np.array(rows)
    return pts[np.random.default_rng(seed).choice(len(pts), n, replace=len(pts) < n)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve(url: str, workers: int = 2, **env: str) -> Iterator[str]:
    """citybrain served in a subprocess; yields its base URL (of the public port; no dispatch
    process unless ``CITYBRAIN_DISPATCH_PORT`` is given). Without rate limits: a load
    generator is one caller asking far more than any one client should, and the benchmarks
    measure the service, not its limits."""
    with serving(url, workers, **env) as (base, _proc):
        yield base


@contextmanager
def serving(
    url: str, workers: int = 2, start_s: float = 120, **env: str
) -> Iterator[tuple[str, subprocess.Popen]]:
    """``serve``, also yielding the server's process (its children are the workers: what a
    benchmark measuring memory per process looks at); ``start_s``: the longest the start may
    take (loading ten million incidents on a busy machine takes minutes)."""
    port = free_port()
    environ = dict(
        os.environ,
        CITYBRAIN_DATABASE_URL=url,
        CITYBRAIN_API_KEYS=BENCH_KEY,
        CITYBRAIN_RATE_LIMIT="",
        CITYBRAIN_RATE_LIMIT_KEYED="",
    )
    environ.setdefault("CITYBRAIN_DISPATCH_PORT", "0")  # one port unless a benchmark asks
    environ.update(env)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "citybrain.cli",
            "serve",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_s
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"server did not start: {proc.stderr.read().decode()[-2000:]}")
            time.sleep(0.3)
        yield base, proc
    finally:
        proc.terminate()
        proc.wait(timeout=60)  # (the server kills a process still stuck 20 s after)


def need(tool: str, package: str | None = None) -> str:
    """The path of a command-line tool, installed with apt-get when missing (as root)."""
    path = shutil.which(tool)
    if path is None and os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(
            ["apt-get", "install", "-y", package or tool], check=True, stdout=subprocess.DEVNULL
        )
        path = shutil.which(tool)
    if path is None:
        raise SystemExit(f"this benchmark needs {tool}: apt-get install {package or tool}")
    return path
