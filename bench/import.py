"""Import benchmark: a year of 12345 work orders (1,000,000 by default) brought in by
``citybrain import`` and by ``ogr2ogr -f PostgreSQL`` (``PG_USE_COPY=YES``), side by side in
one run, from the same files, both as the command a county's GIS technician would type.

    .venv/bin/python -m bench.import                   # 1,000,000 work orders
    .venv/bin/python -m bench.import --orders 100000

Two sources: a GCJ-02 CSV with the hotline's Chinese headers (as exported from the 12345
system; UTF-8) and a GeoPackage (WGS84) of the same orders. citybrain reads the file, maps the
hotline's classification and statuses, inverts GCJ-02, parses local times, checks every row
(keys unique, inside the county, timeline in order), computes each order's micro-grid and H3
cells at resolutions 15 and 5-11 and writes ``citybrain.incidents`` with its keys, indexes,
constraints and triggers, committed. ogr2ogr copies the same file into a new plain table
(its geometry and a spatial index; no conversion, no validation, no keys, no cells). A second
citybrain run of the same file shows what a re-import (nothing changed) costs.

It runs in a database of its own (``<name>_bench_import``): the synthetic county without
incidents, seeded once; every timed citybrain run starts from an empty incidents table.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg
from sqlalchemy.engine import make_url

from bench.common import END, SEED, bench_database, need
from citybrain.crs import wgs84_to_gcj02
from citybrain.db.connection import libpq_conninfo
from citybrain.ingest import bulk_mode
from citybrain.synth import generate, with_lonlat

HOTLINE = {  # citybrain's categories as the hotline classifies them
    "矛盾纠纷": "邻里纠纷",
    "治安": "治安管理",
    "消防": "消防安全",
    "安全生产": "安全生产",
    "环境": "环境保护",
    "食品安全": "食品安全",
    "交通": "交通管理",
    "出租房屋": "出租房屋",
    "城市管理": "城乡建设",
    "民生诉求": "劳动社保",
}
STEPS = {
    "reported": "已受理",
    "dispatched": "已派单",
    "on_site": "办理中",
    "resolved": "已办结",
    "closed": "已回访",
    "escalated": "已上报",
}
MAPPING = "values:\n  category:\n" + "".join(f"    {v}: {k}\n" for k, v in HOTLINE.items())


def work_orders(n: int) -> pd.DataFrame:
    """``n`` work orders as the hotline exports them, from the synthetic county's incidents."""
    inc = with_lonlat(generate(n, SEED, END).incidents)
    local = inc["reported_at"].dt.tz_convert("Asia/Shanghai")
    done = inc["resolved_at"].dt.tz_convert("Asia/Shanghai")
    return pd.DataFrame(
        {
            "工单编号": [f"GD{i:09d}" for i in range(n)],
            "来电时间": local.dt.strftime("%Y-%m-%d %H:%M:%S"),
            "诉求类型": inc["category"].map(HOTLINE),
            "诉求内容": inc["description"],
            "工单状态": inc["status"].map(STEPS),
            "办结时间": done.dt.strftime("%Y-%m-%d %H:%M:%S").where(done.notna(), ""),
            "来电人": inc["reporter_name"].fillna(""),
            "来电号码": inc["reporter_phone"].fillna(""),
            "lon": inc["lon"],
            "lat": inc["lat"],
        }
    )


def write_sources(orders: pd.DataFrame, folder: Path) -> tuple[Path, Path]:
    lon, lat = wgs84_to_gcj02(orders["lon"].to_numpy(), orders["lat"].to_numpy())
    csv = folder / "12345工单.csv"
    orders.drop(columns=["lon", "lat"]).assign(经度=np.round(lon, 7), 纬度=np.round(lat, 7)).to_csv(
        csv, index=False
    )
    gpkg = folder / "12345工单.gpkg"
    gdf = gpd.GeoDataFrame(
        orders.drop(columns=["lon", "lat"]),
        geometry=gpd.points_from_xy(orders["lon"], orders["lat"]),
        crs=4326,
    )
    gdf.to_file(gpkg, engine="pyogrio", layer="orders")
    return csv, gpkg


def pg_dsn(url: str) -> str:
    u = make_url(url)
    return (
        f"PG:host={u.host or '127.0.0.1'} port={u.port or 5432} dbname={u.database} "
        f"user={u.username or 'postgres'}" + (f" password={u.password}" if u.password else "")
    )


def timed(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:3])} failed:\n{done.stdout[-2000:]}{done.stderr[-3000:]}")
    return seconds


def database_floor(url: str) -> tuple[float, float, float]:
    """What the database alone spends on a load of the rows now in ``citybrain.incidents``:
    COPY into a plain table of the same columns, COPY into ``citybrain.incidents`` itself (in
    bulk mode: keys kept, other indexes dropped), and rebuilding those indexes. All rolled back."""
    with psycopg.connect(libpq_conninfo(url)) as conn:
        buf = io.BytesIO()
        with conn.cursor().copy("COPY citybrain.incidents TO STDOUT (FORMAT csv)") as copy:
            for block in copy:
                buf.write(block)
        data = buf.getvalue()

        def load(target: str) -> float:
            t0 = time.perf_counter()
            with conn.cursor().copy(f"COPY {target} FROM STDIN (FORMAT csv)") as copy:
                for i in range(0, len(data), 1 << 22):
                    copy.write(data[i : i + (1 << 22)])
            return time.perf_counter() - t0

        conn.execute("CREATE TEMP TABLE plain (LIKE citybrain.incidents)")
        plain = load("pg_temp.plain")
        conn.execute("SELECT set_config('citybrain.cells_given', 'on', true)")
        conn.execute("TRUNCATE citybrain.incidents CASCADE")
        with bulk_mode(conn, "incidents"):
            into = load("citybrain.incidents")
            t0 = time.perf_counter()
        indexes = time.perf_counter() - t0  # bulk_mode rebuilt them on leaving
        conn.rollback()
    return plain, into, indexes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    args = parser.parse_args()
    ogr2ogr = need("ogr2ogr", "gdal-bin")
    url = bench_database(None, suffix="_bench_import")  # emptied before every run
    env = dict(os.environ, CITYBRAIN_DATABASE_URL=url, COLUMNS="120")
    cli = [sys.executable, "-m", "citybrain.cli", "import", "incidents"]
    print(f"writing {args.orders:,} work orders as CSV (GCJ-02) and GeoPackage ...", flush=True)
    with tempfile.TemporaryDirectory(prefix="citybrain-bench-") as tmp:
        folder = Path(tmp)
        csv, gpkg = write_sources(work_orders(args.orders), folder)
        mapping = folder / "12345.yaml"
        mapping.write_text(MAPPING, encoding="utf-8")
        results = []
        for label, source, ours_opts, ogr_opts in (
            (
                "GCJ-02 CSV",
                csv,
                ["--crs", "gcj02", "--mapping", str(mapping)],
                [
                    "-oo",
                    "X_POSSIBLE_NAMES=经度",
                    "-oo",
                    "Y_POSSIBLE_NAMES=纬度",
                    "-a_srs",
                    "EPSG:4326",
                ],
            ),
            ("GeoPackage", gpkg, ["--mapping", str(mapping)], []),
        ):
            with psycopg.connect(libpq_conninfo(url), autocommit=True) as conn:
                conn.execute("TRUNCATE citybrain.incidents CASCADE")
            ours = timed([*cli, str(source), *ours_opts], env)
            with psycopg.connect(libpq_conninfo(url)) as conn:
                loaded = conn.execute(
                    "SELECT count(*), count(DISTINCT external_id), count(micro_grid_id) "
                    "FROM citybrain.incidents"
                ).fetchone()
            assert loaded == (args.orders,) * 3, loaded
            again = timed([*cli, str(source), *ours_opts], env)
            table = "bench_ogr_" + ("csv" if source == csv else "gpkg")
            theirs = timed(
                [
                    ogr2ogr,
                    "-f",
                    "PostgreSQL",
                    pg_dsn(url),
                    str(source),
                    "-nln",
                    table,
                    "-overwrite",
                    "-lco",
                    "GEOMETRY_NAME=geom",
                    *ogr_opts,
                ],
                dict(env, PG_USE_COPY="YES"),
            )
            with psycopg.connect(libpq_conninfo(url), autocommit=True) as conn:
                copied = conn.execute(f"SELECT count(*) FROM public.{table}").fetchone()[0]
                conn.execute(f"DROP TABLE public.{table}")
            assert copied == args.orders, copied
            results.append((label, ours, again, theirs))
        floor = database_floor(url)

    n = args.orders
    print(f"\nimport of {n:,} 12345 work orders ({platform.node()}, {os.cpu_count()} cores)")
    print(
        f"{'source':<12} {'citybrain':>10} {'rows/s':>9} {'ogr2ogr':>9} {'rows/s':>9} "
        f"{'ratio':>6} {'re-import':>10}"
    )
    for label, ours, again, theirs in results:
        print(
            f"{label:<12} {ours:>9.1f}s {n / ours:>9,.0f} {theirs:>8.1f}s {n / theirs:>9,.0f} "
            f"{theirs / ours:>5.2f}x {again:>9.1f}s"
        )
    print("ratio = ogr2ogr time / citybrain time (above 1: citybrain faster)")
    plain, into, indexes = floor
    print(
        f"\nthe database alone, for the same {n:,} rows (COPY of finished rows, CSV):\n"
        f"  into a plain table of the same columns      {plain:6.1f}s\n"
        f"  into citybrain.incidents (bulk mode)        {into:6.1f}s\n"
        f"  + rebuilding its indexes afterwards         {indexes:6.1f}s"
    )


if __name__ == "__main__":
    main()
