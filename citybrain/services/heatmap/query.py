"""What a heatmap is asked (resolution, window, categories, statuses, area), validated here
once, and the cells it selects.

Counts are exact: a cell's value is the number of incidents whose ``h3.latlng_to_cell(lat, lon,
res)`` is that cell (stored per incident as ``h3_<res>``: H3 cells do not nest, so rolling a
fine cell up to its parent would misplace points near cell edges). They come from the
process's in-memory index of the incidents (``services.incident_index``), brought up to date
with the database before every answer.

An area (a town, village or grid code, or a bbox) selects the cells whose centre lies in it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache

import h3
import numpy as np
import shapely
from psycopg import AsyncConnection, sql

from citybrain.domain import CATEGORIES_BY_NAME, HEAT_RESOLUTIONS, LEVELS, Status
from citybrain.errors import InvalidInput
from citybrain.services import bbox as boxes
from citybrain.services.incident_index import IncidentIndex

MIN_RES, MAX_RES = HEAT_RESOLUTIONS[0], HEAT_RESOLUTIONS[-1]
AREA_LEVELS = LEVELS[:3]  # towns, villages, grids


def check_filters(categories, statuses) -> None:
    """Categories and statuses asked for are ones citybrain knows."""
    for c in categories or ():
        if c not in CATEGORIES_BY_NAME:
            raise InvalidInput(f"unknown category {c!r}; one of: {', '.join(CATEGORIES_BY_NAME)}")
    for s in statuses or ():
        if s not in {str(x) for x in Status}:
            raise InvalidInput(f"unknown status {s!r}; one of: {', '.join(map(str, Status))}")


@dataclass
class Query:
    res: int
    start: datetime
    end: datetime
    categories: list[str] | None = None
    statuses: list[str] | None = None
    bbox: tuple[float, float, float, float] | None = None
    area: str | None = None  # a town, village or grid code
    _area_cells: np.ndarray | None = field(default=None, repr=False)

    def validate(self) -> None:
        if not MIN_RES <= self.res <= MAX_RES:
            raise InvalidInput(f"res must be between {MIN_RES} and {MAX_RES}, not {self.res}")
        if self.end <= self.start:
            raise InvalidInput(
                f"end ({self.end.isoformat()}) is not after start ({self.start.isoformat()})"
            )
        check_filters(self.categories, self.statuses)
        if self.bbox is not None:
            self.bbox = boxes.check(self.bbox)
        if self.bbox is not None and self.area is not None:
            raise InvalidInput("give either bbox or area, not both")

    def shifted(self, by: timedelta) -> Query:
        return Query(
            self.res,
            self.start - by,
            self.end - by,
            self.categories,
            self.statuses,
            self.bbox,
            self.area,
            self._area_cells,
        )


async def counts(
    conn: AsyncConnection, index: IncidentIndex, q: Query
) -> tuple[np.ndarray, np.ndarray]:
    """Incidents per cell at ``q.res`` for the query's window, categories and statuses
    (before any area filter): (cells ascending, counts)."""
    await index.fresh(conn)
    return index.counts(q.res, q.start, q.end, q.categories, q.statuses)


async def area_cells(conn: AsyncConnection, code: str, res: int) -> np.ndarray:
    """The cells at ``res`` whose centre lies in the town, village or grid ``code`` (sorted)."""
    for level in AREA_LEVELS:
        # assembled: the level's table, one of AREA_LEVELS, quoted; the code bound
        stmt = sql.SQL("SELECT ST_AsBinary(geom) FROM {} WHERE code = %s").format(
            sql.Identifier("citybrain", level)
        )
        row = await (await conn.execute(stmt, [code])).fetchone()
        if row is not None:
            return _polyfill(bytes(row[0]), res)
    raise InvalidInput(f"no town, village or grid has the code {code!r}")


@lru_cache(maxsize=256)
def _polyfill(wkb: bytes, res: int) -> np.ndarray:
    geom = shapely.from_wkb(wkb)
    cells = np.array(sorted(h3.str_to_int(c) for c in h3.geo_to_cells(geom, res)), dtype=np.int64)
    cells.flags.writeable = False  # shared by every caller of the cache
    return cells


def in_bbox(
    index: IncidentIndex, res: int, cells: np.ndarray, bbox: tuple[float, float, float, float]
) -> np.ndarray:
    """Which of ``cells`` have their centre in ``bbox`` (a mask)."""
    minx, miny, maxx, maxy = bbox
    lat, lon = index.centres(res, cells)
    return (minx <= lon) & (lon <= maxx) & (miny <= lat) & (lat <= maxy)


async def filtered_counts(
    conn: AsyncConnection, index: IncidentIndex, q: Query
) -> tuple[np.ndarray, np.ndarray]:
    """``counts`` of the cells in the query's area or bbox."""
    cells, n = await counts(conn, index, q)
    if q.area is not None:
        if q._area_cells is None:
            q._area_cells = await area_cells(conn, q.area, q.res)
        keep = np.isin(cells, q._area_cells, assume_unique=True)
    elif q.bbox is not None:
        keep = in_bbox(index, q.res, cells, q.bbox)
    else:
        return cells, n
    return cells[keep], n[keep]
