"""Ingest benchmark: load the same incidents with citybrain's loader and with geopandas'
``GeoDataFrame.to_postgis``, side by side in one run, and report rows/s and the ratio.

    .venv/bin/python -m bench.ingest                 # 1,000,000 incidents
    .venv/bin/python -m bench.ingest --incidents 100000

It runs in a database of its own (``<name>_bench`` on the configured server), seeded with the
synthetic county once. citybrain's loader is timed from a frame of points and attributes to a
committed ``citybrain.incidents`` (computing every H3 cell and micro-grid, checking every
constraint and foreign key, rebuilding the indexes). ``to_postgis`` is given the H3 cells (at
resolution 15 and at every heatmap resolution) and micro-grids already computed, and writes them
(a) into a new table with its spatial index (as it creates it): the comparison favours
geopandas; and (b) into ``citybrain.incidents``, the same end result, where it pays what any
writer but the bulk loader pays: the trigger computes every H3 cell again in PL/pgSQL (a writer
cannot vouch for them), and the tile-version and notification triggers run per statement.
"""

from __future__ import annotations

import argparse
import platform
import time
from datetime import datetime

import geopandas as gpd
import psycopg

from bench.common import END, SEED, bench_database
from citybrain.db.connection import get_engine, libpq_conninfo
from citybrain.ingest import MicroGridIndex, load_points, point_columns
from citybrain.synth import generate, with_lonlat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--incidents", type=int, default=1_000_000)
    args = parser.parse_args()

    url = bench_database(None)
    print(f"generating {args.incidents:,} incidents ...", flush=True)
    frame = with_lonlat(generate(args.incidents, SEED, END).incidents).drop(columns=["id"])

    with psycopg.connect(libpq_conninfo(url)) as conn:
        conn.execute("TRUNCATE citybrain.incidents CASCADE")
        conn.commit()
        t0 = time.perf_counter()
        load_points(conn, "incidents", frame)
        conn.commit()
        ours = time.perf_counter() - t0
        loaded = conn.execute("SELECT count(*) FROM citybrain.incidents").fetchone()[0]
        assert loaded == len(frame), loaded
        index = MicroGridIndex(conn)
        # What the cell trigger costs any other writer: an incident's eight cells in PL/pgSQL.
        t0 = time.perf_counter()
        conn.execute(
            "SELECT count(citybrain.h3_latlng_to_cells(ST_Y(geom), ST_X(geom), "
            "'{15,5,6,7,8,9,10,11}')) FROM (SELECT geom FROM citybrain.incidents LIMIT 20000) s"
        )
        cells_us = (time.perf_counter() - t0) / 20_000 * 1e6

    # geopandas gets the keys for free (computed outside the timer).
    lon, lat = frame["lon"].to_numpy(), frame["lat"].to_numpy()
    keys = point_columns(lon, lat, index, "incidents")
    attributes = frame.drop(columns=["lon", "lat"])
    gdf = gpd.GeoDataFrame(
        attributes.assign(**{k: v for k, v in keys.items() if k != "geom"}),
        geometry=gpd.points_from_xy(lon, lat),
        crs=4326,
    ).rename_geometry("geom")
    engine = get_engine(url)
    checksum = (
        "SELECT count(*), sum(h3 % 1000003), sum(micro_grid_id), "
        "sum(extract(epoch FROM reported_at)) FROM citybrain.{}"
    )
    with psycopg.connect(libpq_conninfo(url), autocommit=True) as conn:
        expected = conn.execute(checksum.format("incidents")).fetchone()

    # (a) into a new table of its own, as to_postgis does by default
    t0 = time.perf_counter()
    gdf.to_postgis("incidents_to_postgis", engine, schema="citybrain", if_exists="replace")
    own_table = time.perf_counter() - t0
    # (b) into citybrain.incidents, with its keys, checks and indexes: the same end result
    with psycopg.connect(libpq_conninfo(url), autocommit=True) as conn:
        conn.execute("TRUNCATE citybrain.incidents CASCADE")
    t0 = time.perf_counter()
    gdf.to_postgis("incidents", engine, schema="citybrain", if_exists="append")
    same_table = time.perf_counter() - t0
    with psycopg.connect(libpq_conninfo(url), autocommit=True) as conn:
        assert conn.execute(checksum.format("incidents_to_postgis")).fetchone() == expected
        assert conn.execute(checksum.format("incidents")).fetchone() == expected
        conn.execute("DROP TABLE citybrain.incidents_to_postgis")

    n = len(frame)
    print(f"\n{n:,} incidents, {platform.node()}, {datetime.now():%Y-%m-%d}\n")
    print("| loader | target | seconds | rows/s | citybrain faster by |")
    print("|---|---|---:|---:|---:|")
    print(
        f"| citybrain `load_points` (computes H3 + micro-grid) | `citybrain.incidents` "
        f"| {ours:.1f} | {n / ours:,.0f} | |"
    )
    print(
        f"| geopandas `to_postgis` (keys given) | new table, GiST only "
        f"| {own_table:.1f} | {n / own_table:,.0f} | {own_table / ours:.1f}x |"
    )
    print(
        f"| geopandas `to_postgis` (keys given, H3 recomputed by the trigger) "
        f"| `citybrain.incidents` "
        f"| {same_table:.1f} | {n / same_table:,.0f} | {same_table / ours:.1f}x |"
    )
    print(f"\nH3 cells computed by the database for other writers: {cells_us:.0f} us an incident")


if __name__ == "__main__":
    main()
