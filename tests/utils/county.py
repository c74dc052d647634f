"""The county the tests seed (seed 7, 20,000 incidents up to 2026-11-01 08:00 UTC), the clock
the tests run on (it reads SEED_END when the run starts: ``tests/conftest.py``), the shared data
files beside the checkout, and a point inside one of the county's micro-grids."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import psycopg

from citybrain import clock
from citybrain.settings import Settings

SEED = 7
N_INCIDENTS = 20_000
SEED_END = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
TOWNS_FILE = SHARED_DATA / "jiashan_towns_wgs84.geojson"


def now() -> datetime:
    """The tests' business time now (the clock every process of the run shares): what to write
    where a test would write the database's ``now()``."""
    return clock.now(Settings())


def point_in(conn: psycopg.Connection, micro_grid: int) -> tuple[float, float]:
    """A point inside the micro-grid (PostGIS's point on its surface)."""
    return conn.execute(
        "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p "
        "FROM citybrain.micro_grids WHERE id = %s) s",
        [micro_grid],
    ).fetchone()
