"""Tile benchmark: citybrain and tipg side by side on the same tiles of the 1M-incident county.

    .venv/bin/python -m bench.tiles

tipg (developmentseed's OGC Features and Tiles server) is installed into ``.venv-tipg`` on the
first run and pointed at the same database (schema ``citybrain``). The tiles: z10-z16 around
each of the nine town seats (the seat's tile and three neighbours), layers ``micro_grids`` and
``incidents``. Both servers run one process. Passes, one request at a time:

1. tipg, once over every tile (this also warms PostgreSQL's buffers for both),
2. citybrain cold (its tile cache empty),
3. tipg again, 4. citybrain warm (cached).

tipg is asked for the same properties as citybrain's layers expose. citybrain clusters
incidents below z15 (with counts); tipg sends raw points, at most 10,000 per tile.
"""

from __future__ import annotations

import http.client
import os
import platform
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import httpx
import mercantile
import numpy as np

from bench.common import bench_database, serve
from citybrain.domain import TOWNS
from citybrain.layers import load_layers
from citybrain.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
TIPG_VENV = ROOT / ".venv-tipg"
LAYERS = ("micro_grids", "incidents")
ZOOMS = range(10, 17)


def tiles() -> list[tuple[str, mercantile.Tile]]:
    out = []
    for layer in LAYERS:
        for town in TOWNS:
            for z in ZOOMS:
                t = mercantile.tile(*town.seat, z)
                for dx, dy in ((0, 0), (1, 0), (0, 1), (1, 1)):
                    out.append((layer, mercantile.Tile(t.x + dx, t.y + dy, z)))
    return out


def ensure_tipg() -> Path:
    python = TIPG_VENV / "bin" / "python"
    if not python.exists():
        print("installing tipg into .venv-tipg ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(TIPG_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "tipg", "uvicorn"], check=True)
    return python


@contextmanager
def serve_tipg(url: str, port: int = 8765):
    from sqlalchemy.engine import make_url

    u = make_url(url)
    dsn = f"postgresql://{u.username}@{u.host}:{u.port}/{u.database}"
    env = dict(
        os.environ,
        DATABASE_URL=dsn,
        TIPG_DB_SCHEMAS='["citybrain"]',
        TIPG_MAX_FEATURES_PER_TILE="10000",
    )
    proc = subprocess.Popen(
        [
            str(ensure_tipg()),
            "-m",
            "uvicorn",
            "tipg.main:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                if httpx.get(f"{base}/collections", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.5)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def run_pass(base: str, urls: list[str]) -> list[float]:
    """One keep-alive connection per pass, from the standard library: ~0.2 ms of client time
    per request on loopback, where httpx spends ~1 ms, more than a cached tile costs."""
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=120)
    times = []
    for url in urls:
        t0 = time.perf_counter()
        conn.request("GET", url)
        r = conn.getresponse()
        body = r.read()
        times.append((time.perf_counter() - t0) * 1000)
        if r.status not in (200, 204):
            raise RuntimeError(f"{url}: {r.status} {body[:200]!r}")
    conn.close()
    return times


def summary(times: list[float]) -> tuple[float, float, float]:
    return statistics.median(times), float(np.percentile(times, 95)), 1000 * len(times) / sum(times)


def main() -> None:
    url = bench_database(1_000_000)
    layers = load_layers(Settings().layers_dir)
    todo = tiles()
    ours = [f"/tiles/{layer}/{t.z}/{t.x}/{t.y}.mvt" for layer, t in todo]
    theirs = [
        f"/collections/citybrain.{layer}/tiles/WebMercatorQuad/{t.z}/{t.x}/{t.y}"
        f"?properties={','.join(layers[layer].properties)}"
        for layer, t in todo
    ]
    with (
        serve_tipg(url) as tipg_base,
        serve(url, workers=1) as cb_base,
    ):
        print(f"{len(todo)} tiles per pass", flush=True)
        tipg_first = run_pass(tipg_base, theirs)
        cb_cold = run_pass(cb_base, ours)
        tipg_second = run_pass(tipg_base, theirs)
        cb_warm = run_pass(cb_base, ours)

    rows = [
        ("tipg, first pass", tipg_first),
        ("citybrain, cold cache", cb_cold),
        ("tipg, second pass", tipg_second),
        ("citybrain, warm cache", cb_warm),
    ]
    print(
        f"\n{len(todo)} tiles ({', '.join(LAYERS)}; z{ZOOMS[0]}-z{ZOOMS[-1]} around the nine "
        f"town seats), 1,000,000 incidents, {platform.node()}, {datetime.now():%Y-%m-%d}\n"
    )
    print("| server | median ms | p95 ms | tiles/s |")
    print("|---|---:|---:|---:|")
    for name, t in rows:
        med, p95, rate = summary(t)
        print(f"| {name} | {med:.2f} | {p95:.2f} | {rate:,.0f} |")
    cold = summary(cb_cold)[0] / summary(tipg_second)[0]
    warm = summary(tipg_second)[0] / summary(cb_warm)[0]
    print(
        f"\ncitybrain cold median / tipg median: {cold:.2f}; "
        f"tipg median / citybrain warm median: {warm:.1f}x"
    )
    for layer in LAYERS:
        idx = [i for i, (name, _) in enumerate(todo) if name == layer]
        print(
            f"{layer}: citybrain cold {statistics.median([cb_cold[i] for i in idx]):.2f} ms, "
            f"warm {statistics.median([cb_warm[i] for i in idx]):.2f} ms, "
            f"tipg {statistics.median([tipg_second[i] for i in idx]):.2f} ms (medians)"
        )


if __name__ == "__main__":
    main()
