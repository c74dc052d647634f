"""Tile benchmark: the incident layer where the big screen hurts - county and town zooms -
cold and again after a write into each tile, at 1M and 5M incidents, citybrain and tipg side by
side on the same tiles.

    .venv/bin/python -m bench.tiles                       # 1M and 5M incidents
    .venv/bin/python -m bench.tiles --sizes 1000000       # 1M only

tipg (developmentseed's OGC Features and Tiles server) is installed into ``.venv-tipg`` on the
first run and pointed at the same database (schema ``citybrain``). The tiles: z9-z16 around each
of the nine town seats (the seat's tile and three neighbours), layer ``incidents``, showing a
year (the window ``start``/``end`` for citybrain, ``datetime`` for tipg; citybrain also shows
the incidents open now). Both servers run one process; one request at a time. Passes:

1. tipg once over every tile (warms PostgreSQL's buffers for both; not reported),
2. citybrain cold (a fresh process: its tile cache empty),
3. tipg again,
4. citybrain after a write: for each tile, one incident inserted at its centre (plain SQL, as
   any writer), then the tile asked again (the write has made it stale).

Reported per zoom band (z9-12 county and towns, z13-14 villages, z15+ streets): median, p95 and
max in ms, and at the end the 5M/1M ratio of each citybrain figure. citybrain clusters
incidents below z15 per H3 cell from its heat index; tipg sends raw points, at most 10,000 per
tile. The 5M county is seeded the first time (``<name>_bench5m``, about two minutes).
"""

from __future__ import annotations

import argparse
import http.client
import os
import platform
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import mercantile
import numpy as np
import psycopg

from bench.common import END, bench_database, free_port, serve
from citybrain.db.connection import libpq_conninfo
from citybrain.domain import TOWNS
from citybrain.layers import load_layers
from citybrain.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
TIPG_VENV = ROOT / ".venv-tipg"
ZOOMS = range(9, 17)
BANDS = (("z9-12", range(9, 13)), ("z13-14", range(13, 15)), ("z15+", range(15, 23)))
WINDOW_DAYS = 365


def tiles() -> list[mercantile.Tile]:
    out = []
    for town in TOWNS:
        for z in ZOOMS:
            t = mercantile.tile(*town.seat, z)
            for dx, dy in ((0, 0), (1, 0), (0, 1), (1, 1)):
                out.append(mercantile.Tile(t.x + dx, t.y + dy, z))
    return list(dict.fromkeys(out))  # towns close together share tiles at low zooms


def ensure_tipg() -> Path:
    python = TIPG_VENV / "bin" / "python"
    if not python.exists():
        print("installing tipg into .venv-tipg ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(TIPG_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "tipg", "uvicorn"], check=True)
    return python


@contextmanager
def serve_tipg(url: str):
    from sqlalchemy.engine import make_url

    u = make_url(url)
    dsn = f"postgresql://{u.username}@{u.host}:{u.port}/{u.database}"
    env = dict(
        os.environ,
        DATABASE_URL=dsn,
        PGPASSWORD=u.password or "",  # (asyncpg reads it; the cluster asks for a password)
        TIPG_DB_SCHEMAS='["citybrain"]',
        TIPG_MAX_FEATURES_PER_TILE="10000",
    )
    port = free_port()
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
            if proc.poll() is not None:
                raise RuntimeError(f"tipg exited with {proc.returncode} before serving")
            try:
                if httpx.get(f"{base}/collections", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.5)
        else:
            raise RuntimeError(f"tipg did not answer {base}/collections within 60 s")
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


class Client:
    """One keep-alive connection from the standard library: ~0.2 ms of client time per request
    on loopback, where httpx spends ~1 ms, more than a cached tile costs."""

    def __init__(self, base: str):
        host, port = base.removeprefix("http://").split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=300)

    def get(self, url: str) -> float:
        t0 = time.perf_counter()
        self.conn.request("GET", url)
        r = self.conn.getresponse()
        body = r.read()
        ms = (time.perf_counter() - t0) * 1000
        if r.status not in (200, 204):
            raise RuntimeError(f"{url}: {r.status} {body[:200]!r}")
        return ms


def run_pass(base: str, urls: list[str]) -> list[float]:
    client = Client(base)
    return [client.get(u) for u in urls]


def after_writes(base: str, url: str, todo: list[mercantile.Tile], ours: list[str]) -> list[float]:
    """For each tile: an incident inserted at its centre (plain SQL), then the tile again."""
    client = Client(base)
    times, made = [], []
    with psycopg.connect(libpq_conninfo(url), autocommit=True) as conn:
        for t, u in zip(todo, ours, strict=True):
            b = mercantile.bounds(t)
            lon, lat = (b.west + b.east) / 2, (b.south + b.north) / 2
            made.append(
                conn.execute(
                    "INSERT INTO citybrain.incidents (category, source, severity, status, tier, "
                    "reported_at, updated_at, geom) VALUES ('治安', 'grid_patrol', 1, 'reported', "
                    "'village', %s, now(), ST_SetSRID(ST_MakePoint(%s, %s), 4326)) RETURNING id",
                    [END - timedelta(hours=1), lon, lat],
                ).fetchone()[0]
            )
            times.append(client.get(u))
        conn.execute("DELETE FROM citybrain.incidents WHERE id = ANY(%s)", [made])
    return times


def bands(todo: list[mercantile.Tile], times: list[float]) -> dict[str, tuple[float, ...]]:
    out = {}
    for name, zooms in BANDS:
        sel = [ms for t, ms in zip(todo, times, strict=True) if t.z in zooms]
        out[name] = (statistics.median(sel), float(np.percentile(sel, 95)), max(sel))
    return out


def incident_urls(todo: list[mercantile.Tile]) -> list[str]:
    """citybrain's incident tiles ``todo``, showing the year before ``END``."""
    start = END - timedelta(days=WINDOW_DAYS)
    window = f"start={start.isoformat()}&end={END.isoformat()}".replace("+", "%2B")
    return [f"/tiles/incidents/{t.z}/{t.x}/{t.y}.mvt?{window}" for t in todo]


def measure(size: int) -> dict[str, dict[str, tuple[float, ...]]]:
    suffix = "_bench" if size == 1_000_000 else f"_bench{size // 1_000_000}m"
    url = bench_database(size, suffix=suffix)
    layers = load_layers(Settings().layers_dir)
    todo = tiles()
    start, end = END - timedelta(days=WINDOW_DAYS), END
    ours = incident_urls(todo)
    period = f"{start.isoformat()}/{end.isoformat()}".replace("+", "%2B")
    theirs = [
        f"/collections/citybrain.incidents/tiles/WebMercatorQuad/{t.z}/{t.x}/{t.y}"
        f"?properties={','.join(layers['incidents'].properties)}&datetime={period}"
        for t in todo
    ]
    with serve_tipg(url) as tipg_base:
        run_pass(tipg_base, theirs)  # warms PostgreSQL's buffers for both
        with serve(url, workers=1) as cb_base:
            cold = run_pass(cb_base, ours)
            tipg = run_pass(tipg_base, theirs)
            written = after_writes(cb_base, url, todo, ours)
    print(f"{size:,} incidents: {len(todo)} tiles", flush=True)
    return {
        "citybrain cold": bands(todo, cold),
        "citybrain after a write": bands(todo, written),
        "tipg (second pass)": bands(todo, tipg),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000000,5000000")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    results = {size: measure(size) for size in sizes}
    print(
        f"\nincident tiles around the nine town seats, a year's window, "
        f"{platform.node()}, {datetime.now():%Y-%m-%d}\n"
    )
    print("| incidents | server | band | median ms | p95 ms | max ms |")
    print("|---:|---|---|---:|---:|---:|")
    for size, rows in results.items():
        for server, per_band in rows.items():
            for band, (med, p95, top) in per_band.items():
                print(f"| {size:,} | {server} | {band} | {med:.1f} | {p95:.1f} | {top:.1f} |")
    if len(sizes) == 2:
        small, big = (results[s] for s in sorted(sizes))
        print(f"\n{max(sizes):,} / {min(sizes):,}: citybrain, per band (median, p95, max)")
        for server in ("citybrain cold", "citybrain after a write"):
            for band in small[server]:
                ratio = [b / a for a, b in zip(small[server][band], big[server][band], strict=True)]
                print(f"  {server}, {band}: " + ", ".join(f"{r:.2f}" for r in ratio))


if __name__ == "__main__":
    main()
