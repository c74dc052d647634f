"""Heatmap benchmark: the same questions (windows x resolutions x category filters) answered three
ways in one run on the 1M-incident county:

* citybrain's ``GET /heatmap/incidents`` (in-memory index),
* a plain ``GROUP BY`` over the raw incidents on their H3 column, as an application would send
  it (the statement for its filters, prepared by psycopg after five runs),
* what a PostGIS user without H3 would write: ``ST_HexagonGrid`` over the county joined to the
  points through their spatial index (hexagons of the same edge length; a 60 s statement
  timeout).

Both sides are timed alike, at the client, until the answer is usable: citybrain's request
until its JSON is parsed, the SQL until its rows are fetched (citybrain's server-side time,
from Server-Timing, is printed beside it).

Then the big screen's ``/tiles/heatmap`` tiles around the county seat at several zooms.

    .venv/bin/python -m bench.heatmap
    .venv/bin/python -m bench.heatmap --repeat 3 --skip-hexgrid

Times are medians of ``--repeat`` runs after three warm-up runs, in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import time
from datetime import datetime, timedelta

import h3
import httpx
import mercantile
import psycopg

from bench.common import bench_database, serve
from citybrain.db.connection import libpq_conninfo
from citybrain.services.incident_index import IncidentIndex
from citybrain.tiles.heatmap import zoom_resolution

WINDOWS = {
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "365d": timedelta(days=365),
}
RESOLUTIONS = (7, 9, 11)
CATEGORIES = (None, "治安")

GROUP_BY = """
SELECT h3_{res}, count(*) FROM citybrain.incidents
WHERE reported_at >= %(start)s AND reported_at < %(end)s{category}
GROUP BY 1
"""
ONE_CATEGORY = " AND {alias}category = %(category)s"
HEXGRID = """
WITH grid AS (
    SELECT h.geom, h.i, h.j FROM ST_HexagonGrid(%(size)s,
        (SELECT ST_Transform(ST_SetSRID(ST_Extent(geom), 4326), 3857) FROM citybrain.towns)) h
)
SELECT g.i, g.j, count(*) FROM grid g
JOIN citybrain.incidents i ON ST_Intersects(ST_Transform(g.geom, 4326), i.geom)
WHERE i.reported_at >= %(start)s AND i.reported_at < %(end)s{category}
GROUP BY 1, 2
"""


WARMUP = 3  # runs before timing: the server's first answers (plans, caches) are not its speed


def median_ms(fn, repeat: int, warmup: int = WARMUP) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def citybrain_ms(client: httpx.Client, params: dict, repeat: int) -> tuple[float, float, int]:
    """Median at the client (request sent until its JSON is parsed), median server-side
    (Server-Timing), and the number of cells."""
    client_ms, server_ms = [], []
    for _ in range(WARMUP + repeat):
        t0 = time.perf_counter()
        r = client.get("/heatmap/incidents", params=params)
        r.raise_for_status()
        cells = r.json()["cells"]
        client_ms.append((time.perf_counter() - t0) * 1000)
        server_ms.append(float(r.headers["server-timing"].split("dur=")[1]))
    return (
        statistics.median(client_ms[WARMUP:]),
        statistics.median(server_ms[WARMUP:]),
        len(cells),
    )


def sql_ms(
    conn: psycopg.Connection, statement: str, params: dict, repeat: int, warmup: int = WARMUP
) -> float:
    try:
        return median_ms(lambda: conn.execute(statement, params).fetchall(), repeat, warmup)
    except psycopg.errors.QueryCanceled:
        return float("inf")


def index_costs(url: str, repeat: int = 200) -> dict[str, float]:
    """What the in-memory index costs a server process: loading it (seconds), the check
    before every answer when nothing changed (median ms), and its arrays (MiB)."""

    async def measure() -> dict[str, float]:
        async with await psycopg.AsyncConnection.connect(
            libpq_conninfo(url), autocommit=True
        ) as conn:
            index = IncidentIndex()
            t0 = time.perf_counter()
            await index.fresh(conn)
            load_s = time.perf_counter() - t0
            checks = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                await index.fresh(conn)
                checks.append((time.perf_counter() - t0) * 1000)
            return {
                "incidents": len(index),
                "load_s": load_s,
                "check_ms": statistics.median(checks),
                "mib": index.nbytes / 2**20,
            }

    costs = asyncio.run(measure())
    print(
        f"index: {costs['incidents']:,} incidents loaded in {costs['load_s']:.2f} s, "
        f"{costs['mib']:.0f} MiB; check before an answer {costs['check_ms']:.3f} ms",
        flush=True,
    )
    return costs


TILE_ZOOMS = (10, 12, 13, 14, 16)
SEAT = (120.9119, 30.8502)  # 魏塘, the county seat: the densest tiles


def heatmap_tiles(client: httpx.Client, end: datetime, repeat: int) -> list[tuple]:
    """``/tiles/heatmap``: the 3x3 tiles around the county seat at each zoom, over 7 and 365
    days; median and slowest of the per-tile medians (server-side, ms) and the mean size."""
    out = []
    for z in TILE_ZOOMS:
        centre = mercantile.tile(*SEAT, z)
        block = [(centre.x + dx, centre.y + dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1)]
        for last in ("7d", "365d"):
            medians, sizes = [], []
            for x, y in block:
                server = []
                for _ in range(WARMUP + repeat):
                    r = client.get(
                        f"/tiles/heatmap/{z}/{x}/{y}.mvt",
                        params={"last": last, "end": end.isoformat()},
                    )
                    r.raise_for_status()
                    server.append(float(r.headers["server-timing"].split("dur=")[1]))
                medians.append(statistics.median(server[WARMUP:]))
                sizes.append(len(r.content))
            out.append((z, last, statistics.median(medians), max(medians), statistics.mean(sizes)))
            print(out[-1], flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--skip-hexgrid", action="store_true")
    args = parser.parse_args()
    url = bench_database(1_000_000)
    index_costs(url)
    with psycopg.connect(libpq_conninfo(url)) as conn:
        end = conn.execute("SELECT max(reported_at) FROM citybrain.incidents").fetchone()[0]
    end = end + timedelta(seconds=1)
    rows = []
    with (
        serve(url, workers=1) as base,
        httpx.Client(base_url=base, timeout=300) as client,
        psycopg.connect(libpq_conninfo(url), autocommit=True) as conn,
    ):
        conn.execute("SET statement_timeout = '60s'")
        for _ in range(50):  # a new process's first answers are slower (allocator, caches)
            client.get(
                "/heatmap/incidents", params={"res": 9, "last": "7d", "end": end.isoformat()}
            )
        for wname, span in WINDOWS.items():
            start = end - span
            for res in RESOLUTIONS:
                for category in CATEGORIES:
                    params = {"res": res, "start": start.isoformat(), "end": end.isoformat()}
                    if category:
                        params["category"] = category
                    mine, server, n_cells = citybrain_ms(client, params, args.repeat)
                    sql = {"start": start, "end": end, "category": category}
                    only = ONE_CATEGORY.format(alias="") if category else ""
                    group_by = GROUP_BY.format(res=res, category=only)
                    plain = sql_ms(conn, group_by, sql, args.repeat)
                    hexgrid = None
                    if not args.skip_hexgrid:
                        size = h3.average_hexagon_edge_length(res, unit="m") / 0.8587  # mercator
                        on_i = ONE_CATEGORY.format(alias="i.") if category else ""
                        hexes = HEXGRID.format(category=on_i)
                        hexgrid = sql_ms(conn, hexes, {**sql, "size": size}, 1, warmup=1)
                    rows.append(
                        (wname, res, category or "all", n_cells, mine, server, plain, hexgrid)
                    )
                    print(rows[-1], flush=True)
        tiles = heatmap_tiles(client, end, args.repeat)

    print(
        f"\n1,000,000 incidents, {platform.node()}, {datetime.now():%Y-%m-%d}, median of "
        f"{args.repeat} runs, at the client (ms)\n"
    )
    print(
        "| window | res | category | cells | citybrain | (server) | GROUP BY | ratio "
        "| ST_HexagonGrid | ratio |"
    )
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for w, res, cat, cells, mine, server, plain, hexgrid in rows:
        hx = (
            "—"
            if hexgrid is None
            else (">60,000" if hexgrid == float("inf") else f"{hexgrid:,.0f}")
        )
        hr = (
            "—"
            if hexgrid is None
            else (
                f">{60000 / mine:,.0f}x" if hexgrid == float("inf") else f"{hexgrid / mine:,.0f}x"
            )
        )
        print(
            f"| {w} | {res} | {cat} | {cells:,} | {mine:.1f} | {server:.1f} | {plain:.1f} | "
            f"{plain / mine:.1f}x | {hx} | {hr} |"
        )

    print("\n`/tiles/heatmap` around the county seat, 3x3 tiles per zoom (ms, server-side)\n")
    print("| zoom | res | window | median | slowest | mean size |")
    print("|---:|---:|---|---:|---:|---:|")
    for z, last, median, slowest, size in tiles:
        print(
            f"| {z} | {zoom_resolution(z)} | {last} | {median:.1f} | {slowest:.1f} "
            f"| {size / 1024:.1f} KiB |"
        )


if __name__ == "__main__":
    main()
