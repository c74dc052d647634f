"""Where is a point: its micro-grid and every level above, and the grid's team."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from citybrain.errors import NotFound
from citybrain.sql import load


async def locate(conn: AsyncConnection, lon: float, lat: float) -> dict[str, Any]:
    """The chain ``town, village, grid, compound, micro_grid`` and ``team`` of a WGS84 point,
    as deep as the data goes (``depth``: the finest level that holds it; the levels below it
    None), for a county whose lower levels are not drawn yet.

    Raises :class:`NotFound` for a point outside the county (no town holds it).
    """
    cur = conn.cursor(row_factory=dict_row)
    params = {"lon": lon, "lat": lat}
    row = await (await cur.execute(load("dispatch/locate"), params)).fetchone()
    if row is None:  # (the hot path answers above: a county divided down to micro-grids)
        row = await (await cur.execute(load("dispatch/locate_partial"), params)).fetchone()
    if row is None:
        raise NotFound(
            f"({lon}, {lat}) is outside the county: no town contains it", lon=lon, lat=lat
        )
    row["depth"] = next(key for key in reversed(CHAIN) if row[key] is not None)
    return row


# The chain's keys, top down (the levels of domain.HIERARCHY, named in the singular).
CHAIN = ("town", "village", "grid", "compound", "micro_grid")
