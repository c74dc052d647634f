"""What is worked out from a whole table — a layer's extent (OGC collections), the county's
bounds (TileJSON) — kept per table version (every write moves it: 0004_tile_versions), so it is
never stale and is asked of the database once per change, not per request."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from psycopg import AsyncConnection, sql

from citybrain.layers import Layer
from citybrain.sql import load

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
GREGORIAN = "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"
WEB_MERCATOR_WORLD = [-180, -85.0511, 180, 85.0511]


class Extents:
    """The extents of the layers and the county's bounds, each as of its table's version."""

    def __init__(self) -> None:
        self._kept: dict[str, tuple[int, Any]] = {}

    async def of(self, conn: AsyncConnection, layer: Layer) -> dict[str, Any]:
        """The layer's extent, OGC API – Features' ``extent`` of its collection."""
        return await self._fresh(conn, layer.id, layer.source.table, lambda: _extent(conn, layer))

    async def county(self, conn: AsyncConnection) -> list[float]:
        """The bounds of the towns (the world's, in Web Mercator, before any is loaded)."""
        return await self._fresh(conn, "(county)", "towns", lambda: _county(conn))

    async def _fresh(
        self, conn: AsyncConnection, key: str, table: str, make: Callable[[], Awaitable[Any]]
    ) -> Any:
        cur = await conn.execute(load("features/table_version"), {"table": table})
        version = int((await cur.fetchone())[0])
        kept = self._kept.get(key)
        if kept is None or kept[0] != version:
            kept = self._kept[key] = (version, await make())
        return kept[1]


async def _county(conn: AsyncConnection) -> list[float]:
    row = await (await conn.execute(load("features/county_bounds"))).fetchone()
    return [round(v, 6) for v in row] if row[0] is not None else WEB_MERCATOR_WORLD


async def _extent(conn: AsyncConnection, layer: Layer) -> dict[str, Any]:
    statement = sql.SQL(load("features/extent")).format(
        table=sql.Identifier("citybrain", layer.source.table),
        where=sql.SQL(layer.source.where or "TRUE"),  # the layer file's own (trusted) SQL
        time=sql.SQL("s.") + sql.Identifier(layer.datetime) if layer.datetime else sql.NULL,
    )
    minx, miny, maxx, maxy, t0, t1 = await (await conn.execute(statement)).fetchone()
    extent: dict[str, Any] = {
        "spatial": {
            "bbox": [[minx, miny, maxx, maxy] if minx is not None else [-180, -90, 180, 90]],
            "crs": CRS84,
        }
    }
    if layer.datetime:
        extent["temporal"] = {
            "interval": [[v.isoformat() if v else None for v in (t0, t1)]],
            "trs": GREGORIAN,
        }
    return extent
