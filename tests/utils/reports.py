"""Reporting an incident through the API, as a dispatcher would, for the tests that need one."""

from __future__ import annotations

import httpx
import psycopg

from tests.utils.county import point_in
from tests.utils.keys import auth


def report(
    api: httpx.Client, conn: psycopg.Connection, micro_grid: int, category: str = "环境"
) -> dict:
    """POST /incidents at a point of the micro-grid with a dispatcher's key; the new incident."""
    lon, lat = point_in(conn, micro_grid)
    body = {"lon": lon, "lat": lat, "category": category}
    r = api.post("/incidents", json=body, headers=auth("dispatcher"))
    assert r.status_code == 201, r.text
    return r.json()
