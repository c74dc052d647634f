"""Where is a point: its micro-grid and every level above, and the grid's team."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from citybrain.errors import NotFound
from citybrain.sql import load


async def locate(conn: AsyncConnection, lon: float, lat: float) -> dict[str, Any]:
    """The chain ``town, village, grid, compound, micro_grid`` and ``team`` of a WGS84 point.

    Raises :class:`NotFound` for a point outside the county.
    """
    cur = conn.cursor(row_factory=dict_row)
    row = await (await cur.execute(load("dispatch/locate"), {"lon": lon, "lat": lat})).fetchone()
    if row is None:
        raise NotFound(
            f"({lon}, {lat}) is outside the county: no micro-grid contains it",
            lon=lon,
            lat=lat,
        )
    return row
