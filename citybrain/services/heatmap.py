"""H3 heatmaps and hotspots of incidents.

Counts are exact: a cell's value is the number of incidents whose ``h3.latlng_to_cell(lat, lon,
res)`` is that cell (stored per incident as ``h3_<res>``: H3 cells do not nest, so rolling a
fine cell up to its parent would misplace points near cell edges). They come from the
process's in-memory index of the incidents (``services.heatindex``), brought up to date with
the database before every answer.

An area (a town, village or grid code, or a bbox) selects the cells whose centre lies in it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import h3
import h3.api.basic_int as h3i
import numpy as np
import orjson
import shapely
from psycopg import AsyncConnection, sql
from scipy.stats import norm

from citybrain.domain import CATEGORIES_BY_NAME, COVERAGE_RES, HEAT_RESOLUTIONS, Status
from citybrain.errors import InvalidInput
from citybrain.services import bbox as boxes
from citybrain.services.heatindex import HeatIndex, cells_json, hexes
from citybrain.sql import load
from citybrain.tiles import BUFFER, EXTENT, Tile

MIN_RES, MAX_RES = HEAT_RESOLUTIONS[0], HEAT_RESOLUTIONS[-1]
HOTSPOT_MAX_RES = 9  # Gi* weighs every county cell: 6,000 at resolution 9, 42,000 at 10
AREA_LEVELS = ("towns", "villages", "grids")
EARTH_RADIUS_M = 6378137.0  # Web Mercator's sphere


def zoom_resolution(z: int) -> int:
    """The H3 resolution whose hexagons are 10-40 px wide at zoom ``z`` (heatmap tiles, and
    the clusters of windowed point layers)."""
    return int(np.clip(round(0.75 * z - 1.2), 4, 11))


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


async def counts(conn: AsyncConnection, heat: HeatIndex, q: Query) -> tuple[np.ndarray, np.ndarray]:
    """Incidents per cell at ``q.res`` for the query's window, categories and statuses
    (before any area filter): (cells ascending, counts)."""
    await heat.fresh(conn)
    return heat.counts(q.res, q.start, q.end, q.categories, q.statuses)


async def area_cells(conn: AsyncConnection, code: str, res: int) -> np.ndarray:
    """The cells at ``res`` whose centre lies in the town, village or grid ``code`` (sorted)."""
    for level in AREA_LEVELS:
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


def hexagons_wkb(cells: np.ndarray) -> list[bytes]:
    """The cells' polygons in Web Mercator (EPSG:3857) as WKB, built all at once."""
    if not len(cells):
        return []
    rings = [h3i.cell_to_boundary(c) for c in cells.tolist()]
    latlng = np.radians(np.array([p for ring in rings for p in ring]))
    x = latlng[:, 1] * EARTH_RADIUS_M
    y = np.log(np.tan(np.pi / 4 + latlng[:, 0] / 2)) * EARTH_RADIUS_M
    ring_of = np.repeat(np.arange(len(rings)), [len(ring) for ring in rings])
    polygons = shapely.polygons(shapely.linearrings(np.column_stack([x, y]), indices=ring_of))
    return shapely.to_wkb(polygons).tolist()


def _in_bbox(
    heat: HeatIndex, res: int, cells: np.ndarray, bbox: tuple[float, float, float, float]
) -> np.ndarray:
    """Which of ``cells`` have their centre in ``bbox`` (a mask)."""
    minx, miny, maxx, maxy = bbox
    lat, lon = heat.centres(res, cells)
    return (minx <= lon) & (lon <= maxx) & (miny <= lat) & (lat <= maxy)


async def filtered_counts(
    conn: AsyncConnection, heat: HeatIndex, q: Query
) -> tuple[np.ndarray, np.ndarray]:
    """``counts`` of the cells in the query's area or bbox."""
    cells, n = await counts(conn, heat, q)
    if q.area is not None:
        if q._area_cells is None:
            q._area_cells = await area_cells(conn, q.area, q.res)
        keep = np.isin(cells, q._area_cells, assume_unique=True)
    elif q.bbox is not None:
        keep = _in_bbox(heat, q.res, cells, q.bbox)
    else:
        return cells, n
    return cells[keep], n[keep]


# --- population and the county's cells --------------------------------------------------------


@dataclass
class CountyCells:
    """The county's resolution-11 cells (``h3_coverage``) and residents per cell: a
    micro-grid's people spread evenly over the cells whose centre it holds; a micro-grid too
    small to hold a centre gives its people to the cell of its point on surface."""

    version: str
    cells: np.ndarray
    population: np.ndarray
    _by_res: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False)

    @classmethod
    async def load(cls, conn: AsyncConnection, version: str) -> CountyCells:
        cov = await (
            await conn.execute("SELECT h3, micro_grid_id FROM citybrain.h3_coverage")
        ).fetchall()
        mgs = await (
            await conn.execute(
                "SELECT id, population, ST_X(p), ST_Y(p) FROM (SELECT id, population, "
                "ST_PointOnSurface(geom) p FROM citybrain.micro_grids) s"
            )
        ).fetchall()
        cov_a = np.array(cov, dtype=np.int64).reshape(-1, 2)
        pop = {m[0]: m[1] for m in mgs}
        n_cells = np.bincount(cov_a[:, 1], minlength=max(pop, default=0) + 1)
        share = np.array([pop[m] / n_cells[m] for m in cov_a[:, 1]], dtype=float)
        extra_cells, extra_pop = [], []
        for mid, people, x, y in mgs:
            if n_cells[mid] == 0 and people:
                extra_cells.append(h3.str_to_int(h3.latlng_to_cell(y, x, COVERAGE_RES)))
                extra_pop.append(float(people))
        cells = np.concatenate([cov_a[:, 0], np.array(extra_cells, dtype=np.int64)])
        population = np.concatenate([share, np.array(extra_pop, dtype=float)])
        return cls(version, cells, population)

    def at(self, res: int) -> tuple[np.ndarray, np.ndarray]:
        """Unique cells at ``res`` covering the county (those holding the centre of a county
        cell of resolution 11), and their residents."""
        if res not in self._by_res:
            at_res = np.fromiter(
                (h3i.latlng_to_cell(*h3i.cell_to_latlng(int(c)), res) for c in self.cells),
                dtype=np.uint64,
                count=len(self.cells),
            ).view(np.int64)
            cells, inverse = np.unique(at_res, return_inverse=True)
            people = np.bincount(inverse, weights=self.population, minlength=len(cells))
            self._by_res[res] = (cells, people)
        return self._by_res[res]


class CountyCellsHolder:
    """Per process: the county's cells, reloaded when ``meta.county_version`` changes."""

    def __init__(self) -> None:
        self.value: CountyCells | None = None

    async def current(self, conn: AsyncConnection) -> CountyCells:
        row = await (
            await conn.execute("SELECT value FROM citybrain.meta WHERE key = 'county_version'")
        ).fetchone()
        version = row[0] if row else ""
        if self.value is None or self.value.version != version:
            self.value = await CountyCells.load(conn, version)
        return self.value


# --- answers ----------------------------------------------------------------------------------


@dataclass
class CellTable:
    """An answer's cells: H3 ids and a column per field (``value`` first), kept as arrays so
    that JSON of 150,000 cells is one byte table (``cells_json``), not 150,000 objects."""

    cells: np.ndarray
    columns: dict[str, np.ndarray | list]

    def records(self) -> list[dict[str, Any]]:
        names = list(self.columns)
        values = [c.tolist() if isinstance(c, np.ndarray) else c for c in self.columns.values()]
        return [
            {"h3": h, **dict(zip(names, row, strict=True))}
            for h, *row in zip(hexes(self.cells), *values, strict=True)
        ]

    def json(self) -> orjson.Fragment:
        ints = {
            k: c
            for k, c in self.columns.items()
            if isinstance(c, np.ndarray) and c.dtype.kind == "i"
        }
        if len(ints) == len(self.columns):
            return orjson.Fragment(cells_json(self.cells, **ints))
        return orjson.Fragment(orjson.dumps(self.records()))

    def __len__(self) -> int:
        return len(self.cells)


async def heatmap(
    conn: AsyncConnection, heat: HeatIndex, q: Query, metric: str, county: CountyCellsHolder
) -> dict[str, Any]:
    """The answer, with ``cells`` a ``CellTable``."""
    q.validate()
    cells, n = await filtered_counts(conn, heat, q)
    totals: dict[str, Any] = {"incidents": int(n.sum())}
    if metric == "count":
        table = CellTable(cells, {"value": n})
    elif metric == "per_1k":
        county_cells, people = (await county.current(conn)).at(q.res)
        pop = np.zeros(len(cells))
        if len(county_cells):
            at = np.searchsorted(county_cells, cells).clip(max=len(county_cells) - 1)
            pop = np.where(county_cells[at] == cells, people[at], 0.0)
        rate = [
            round(v / p * 1000, 4) if p else None
            for v, p in zip(n.tolist(), pop.tolist(), strict=True)
        ]
        table = CellTable(cells, {"value": rate, "count": n, "population": np.round(pop, 1)})
        totals["population"] = round(float(pop.sum()), 1)
    elif metric == "change":
        before_cells, before_n = await filtered_counts(conn, heat, q.shifted(q.end - q.start))
        union = np.union1d(cells, before_cells)
        now = np.zeros(len(union), dtype=np.int64)
        now[np.searchsorted(union, cells)] = n
        then = np.zeros(len(union), dtype=np.int64)
        then[np.searchsorted(union, before_cells)] = before_n
        table = CellTable(union, {"value": now - then, "count": now, "previous": then})
        totals["previous"] = int(before_n.sum())
    else:
        raise InvalidInput(f"unknown metric {metric!r}: use count, per_1k or change")
    totals["cells"] = len(table)
    return {
        "resolution": q.res,
        "metric": metric,
        "window": {"start": q.start, "end": q.end},
        "cells": table,
        "totals": totals,
    }


async def hotspots(
    conn: AsyncConnection,
    heat: HeatIndex,
    q: Query,
    county: CountyCellsHolder,
    alpha: float = 0.05,
    ring: int = 1,
) -> dict[str, Any]:
    """Getis-Ord Gi* over every county cell at ``q.res`` (zeros included), neighbours by
    ``grid_disk(cell, ring)`` (the cell itself included, binary weights); cells whose
    two-sided p-value is below ``alpha``."""
    q.validate()
    if q.res > HOTSPOT_MAX_RES:
        raise InvalidInput(f"hotspots are computed up to resolution {HOTSPOT_MAX_RES}")
    if not 0 < alpha < 1:
        raise InvalidInput("alpha must be between 0 and 1")
    found_cells, found_n = await counts(conn, heat, q)
    found = dict(zip(found_cells.tolist(), found_n.tolist(), strict=True))
    cells, _ = (await county.current(conn)).at(q.res)
    if q.area is not None:
        cells = cells[np.isin(cells, await area_cells(conn, q.area, q.res), assume_unique=True)]
    elif q.bbox is not None:
        cells = cells[_in_bbox(heat, q.res, cells, q.bbox)]
    z, x = gi_star(cells, found, ring)
    p = 2 * norm.sf(np.abs(z))
    hot = np.flatnonzero(p < alpha)
    return {
        "resolution": q.res,
        "alpha": alpha,
        "ring": ring,
        "window": {"start": q.start, "end": q.end},
        "cells": [
            {
                "h3": name,
                "count": int(x[i]),
                "z": round(float(z[i]), 4),
                "p": float(p[i]),
                "kind": "hot" if z[i] > 0 else "cold",
            }
            for i, name in zip(hot, hexes(cells[hot]), strict=True)
        ],
        "totals": {"cells_tested": len(cells), "incidents": int(x.sum()), "significant": len(hot)},
    }


def gi_star(
    cells: np.ndarray, found: dict[int, int], ring: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Gi* z-scores of the counts on ``cells`` (the study area): returns (z, counts)."""
    n = len(cells)
    x = np.array([found.get(int(c), 0) for c in cells], dtype=float)
    if n < 3 or x.std() == 0:
        return np.zeros(n), x
    index = {int(c): i for i, c in enumerate(cells)}
    rows, cols = [], []
    for i, c in enumerate(cells.tolist()):
        for nb in h3.grid_disk(h3.int_to_str(c), ring):
            j = index.get(h3.str_to_int(nb))
            if j is not None:
                rows.append(i)
                cols.append(j)
    rows_a, cols_a = np.array(rows), np.array(cols)
    local = np.bincount(rows_a, weights=x[cols_a], minlength=n)
    w = np.bincount(rows_a, minlength=n).astype(float)  # binary weights: sum w = sum w^2
    mean = x.mean()
    s = np.sqrt((x**2).mean() - mean**2)
    spread = s * np.sqrt((n * w - w**2) / (n - 1))
    # A cell whose neighbourhood is the whole study area (a small area, a large ring) has no
    # spread (n w = w^2) and no deviation either: its z is 0, never significant.
    z = np.divide(local - mean * w, spread, out=np.zeros(n), where=spread > 0)
    return z, x


def geojson(answer: dict[str, Any]) -> dict[str, Any]:
    """A heatmap or hotspots answer as a GeoJSON FeatureCollection of its hexagons (seconds
    for a county at res 11: build it off the event loop)."""
    features = []
    for cell in answer["cells"]:
        ring = [[lon, lat] for lat, lon in h3.cell_to_boundary(cell["h3"])]
        ring.append(ring[0])
        features.append(
            {
                "type": "Feature",
                "id": cell["h3"],
                "geometry": {"type": "Polygon", "coordinates": [ring]},
                "properties": cell,
            }
        )
    return {
        "type": "FeatureCollection",
        "features": features,
        **{k: v for k, v in answer.items() if k != "cells"},
    }


async def tile(
    conn: AsyncConnection, heat: HeatIndex, q: Query, xyz: Tile, max_hexagons: int
) -> bytes:
    """Layer ``heatmap`` of one vector tile: a polygon per cell of ``q`` (its resolution,
    window and filters) with ``h3``, ``value`` (count) and the feature id set to the cell's
    64-bit id; every hexagon that reaches into the tile (or its 64/4096 buffer), clipped
    there, so tiles join without gaps. Encoded by PostGIS (``ST_AsMVT``) like every layer.
    400 when the tile would draw more than ``max_hexagons``."""
    margin = 2 * h3.average_hexagon_edge_length(q.res, unit="km") / 111.0
    w, s, e, n = xyz.lonlat_bounds
    around = (max(w - margin, -180), max(s - margin, -90))
    around += (min(e + margin, 180), min(n + margin, 90))
    cells, counts = await filtered_counts(conn, heat, replace(q, bbox=around))
    if len(cells) > max_hexagons:
        raise InvalidInput(
            f"this tile would draw {len(cells):,} hexagons (at most {max_hexagons:,}): leave "
            f"res to the zoom ({zoom_resolution(xyz.z)} at zoom {xyz.z}) or zoom in"
        )
    params = {
        "z": xyz.z,
        "x": xyz.x,
        "y": xyz.y,
        "extent": EXTENT,
        "buffer": BUFFER,
        "cells": cells.tolist(),
        "names": hexes(cells),
        "values": counts.tolist(),
        "wkb": hexagons_wkb(cells),
    }
    row = await (await conn.execute(load("heatmap/tile"), params)).fetchone()
    return bytes(row[0]) if row is not None and row[0] is not None else b""
