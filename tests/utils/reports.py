"""Reporting an incident through the API, as a dispatcher would, for the tests that need one."""

from __future__ import annotations

import httpx
import psycopg


def point_in(conn: psycopg.Connection, micro_grid: int) -> tuple[float, float]:
    """A point inside the micro-grid (PostGIS's point on its surface)."""
    return conn.execute(
        "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p "
        "FROM citybrain.micro_grids WHERE id = %s) s",
        [micro_grid],
    ).fetchone()


def report(
    api: httpx.Client, conn: psycopg.Connection, micro_grid: int, category: str = "环境"
) -> dict:
    """POST /incidents at a point of the micro-grid with a dispatcher's key; the new incident."""
    from tests.conftest import auth

    lon, lat = point_in(conn, micro_grid)
    body = {"lon": lon, "lat": lat, "category": category}
    r = api.post("/incidents", json=body, headers=auth("dispatcher"))
    assert r.status_code == 201, r.text
    return r.json()
