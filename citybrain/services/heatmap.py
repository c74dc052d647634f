"""H3 heatmaps and hotspots of incidents.

Counts are exact: a cell's value is the number of incidents whose ``h3.latlng_to_cell(lat, lon,
res)`` is that cell (stored per incident as ``h3_<res>``: H3 cells do not nest, so rolling a
fine cell up to its parent would misplace points near cell edges). At resolutions 5-9 they come
from the pre-aggregates (``incident_heat_month``/``_day``, kept by triggers); only the partial
days at the ends of a window touch raw incidents. Resolutions 10 and 11 read the incidents (the
answer then has about as many cells as the window has incidents).

A status filter uses the fact that few incidents are open: incidents that are not closed are
read raw (partial index); a filter that includes ``closed`` is the total minus the open ones
it excludes.

An area (a town, village or grid code, or a bbox) selects the cells whose centre lies in it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any

import h3
import h3.api.basic_int as h3i
import numpy as np
import shapely
from psycopg import AsyncConnection, sql
from scipy.stats import norm

from citybrain.domain import (
    CATEGORIES_BY_NAME,
    COVERAGE_RES,
    HEAT_AGGREGATE_MAX_RES,
    HEAT_RESOLUTIONS,
    Status,
)
from citybrain.errors import InvalidInput
from citybrain.sql import compose

MIN_RES, MAX_RES = HEAT_RESOLUTIONS[0], HEAT_RESOLUTIONS[-1]
HOTSPOT_MAX_RES = HEAT_AGGREGATE_MAX_RES
AREA_LEVELS = ("towns", "villages", "grids")
LIVE = tuple(str(s) for s in Status if s != Status.closed)


@dataclass
class Query:
    res: int
    start: datetime
    end: datetime
    categories: list[str] | None = None
    statuses: list[str] | None = None
    bbox: tuple[float, float, float, float] | None = None
    area: str | None = None  # a town, village or grid code
    _area_cells: set[int] | None = field(default=None, repr=False)

    def validate(self) -> None:
        if not MIN_RES <= self.res <= MAX_RES:
            raise InvalidInput(f"res must be between {MIN_RES} and {MAX_RES}, not {self.res}")
        if self.end <= self.start:
            raise InvalidInput(
                f"end ({self.end.isoformat()}) is not after start ({self.start.isoformat()})"
            )
        for c in self.categories or ():
            if c not in CATEGORIES_BY_NAME:
                raise InvalidInput(
                    f"unknown category {c!r}; one of: {', '.join(CATEGORIES_BY_NAME)}"
                )
        for s in self.statuses or ():
            if s not in {str(x) for x in Status}:
                raise InvalidInput(f"unknown status {s!r}; one of: {', '.join(map(str, Status))}")
        if self.bbox is not None:
            minx, miny, maxx, maxy = self.bbox
            if not (-180 <= minx < maxx <= 180 and -90 <= miny < maxy <= 90):
                raise InvalidInput("bbox must be minlon,minlat,maxlon,maxlat with min < max")
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


def _day_floor(t: datetime) -> datetime:
    return datetime.combine(t.astimezone(UTC).date(), time(), UTC)


def _day_ceil(t: datetime) -> datetime:
    f = _day_floor(t)
    return f if f == t else f + timedelta(days=1)


def _month_floor(d: date) -> date:
    return date(d.year, d.month, 1)


def _next_month(d: date) -> date:
    return date(d.year + d.month // 12, d.month % 12 + 1, 1)


def _month_ceil(d: date) -> date:
    return d if d.day == 1 else _next_month(d)


def split_window(start: datetime, end: datetime) -> dict[str, Any]:
    """How the pre-aggregates answer [start, end): the raw incidents of the partial days at
    either end ([start, d0_at) and [d1_at, end)), the whole months [ma, mb), and at each end a
    run of days that is added (sign +1) or, when the rest of its month is shorter, a whole
    month added and the days outside the window subtracted (sign -1). UTC days and months."""
    d0_at, d1_at = _day_ceil(start), _day_floor(end)
    no_days = {
        "l0": date.min,
        "l1": date.min,
        "left_sign": 1,
        "r0": date.min,
        "r1": date.min,
        "right_sign": 1,
    }
    if d0_at >= d1_at:  # not one whole day: all raw
        return {
            "start": start,
            "end": end,
            "d0_at": end,
            "d1_at": end,
            "ma": date.min,
            "mb": date.min,
            **no_days,
        }
    d0, d1 = d0_at.date(), d1_at.date()
    out = {"start": start, "end": end, "d0_at": d0_at, "d1_at": d1_at, **no_days}
    first, last = _month_floor(d0), _month_floor(d1 - timedelta(days=1))
    if first == last:  # the days lie in one month: add them, or take the month minus the rest
        inside = (d1 - d0).days
        outside = (_next_month(first) - first).days - inside
        if outside < inside:
            out.update(
                ma=first,
                mb=_next_month(first),
                l0=first,
                l1=d0,
                left_sign=-1,
                r0=d1,
                r1=_next_month(first),
                right_sign=-1,
            )
        else:
            out.update(ma=date.min, mb=date.min, l0=d0, l1=d1)
        return out
    ma, mb = _month_ceil(d0), _month_floor(d1)
    if (d0 - first).days < (ma - d0).days:  # cheaper: the whole first month, minus its head
        out.update(l0=first, l1=d0, left_sign=-1)
        ma = first
    else:
        out.update(l0=d0, l1=_month_ceil(d0))
    if (_next_month(last) - d1).days < (d1 - mb).days:  # cheaper: the last month, minus its tail
        out.update(r0=d1, r1=_next_month(last), right_sign=-1)
        mb = _next_month(last)
    else:
        out.update(r0=mb, r1=d1)
    out.update(ma=ma, mb=mb)
    return out


async def _rows(conn: AsyncConnection, name: str, params: dict[str, Any]) -> dict[int, int]:
    stmt = compose(name, cell=f"h3_{int(params['res'])}")
    # Unprepared: the best plan depends on the window's length (a cached generic plan does not).
    rows = await (await conn.execute(stmt, params, prepare=False)).fetchall()
    return {int(c): int(n) for c, n in rows}


def _subtract(a: dict[int, int], b: dict[int, int]) -> dict[int, int]:
    out = dict(a)
    for cell, n in b.items():
        left = out.get(cell, 0) - n
        if left:
            out[cell] = left
        else:
            out.pop(cell, None)
    return out


async def counts(conn: AsyncConnection, q: Query) -> dict[int, int]:
    """Incidents per cell at ``q.res`` for the query's window, categories and statuses
    (before any area filter)."""
    base = {"res": q.res, "categories": q.categories}
    window = {"start": q.start, "end": q.end}
    statuses = set(q.statuses) if q.statuses else None
    if statuses is not None and "closed" not in statuses:
        return await _rows(conn, "heatmap/live", {**base, **window, "statuses": sorted(statuses)})
    if q.res > HEAT_AGGREGATE_MAX_RES:
        return await _rows(
            conn,
            "heatmap/raw",
            {**base, **window, "statuses": sorted(statuses) if statuses else None},
        )
    keys = q.categories or ["*"]  # '*': the rows of all categories together
    total = await _rows(
        conn, "heatmap/aggregate", {**base, "keys": keys, **split_window(q.start, q.end)}
    )
    excluded = sorted(set(LIVE) - statuses) if statuses is not None else []
    if excluded:
        total = _subtract(
            total, await _rows(conn, "heatmap/live", {**base, **window, "statuses": excluded})
        )
    return total


async def area_cells(conn: AsyncConnection, code: str, res: int) -> set[int]:
    """The cells at ``res`` whose centre lies in the town, village or grid ``code``."""
    for level in AREA_LEVELS:
        stmt = sql.SQL("SELECT ST_AsBinary(geom) FROM {} WHERE code = %s").format(
            sql.Identifier("citybrain", level)
        )
        row = await (await conn.execute(stmt, [code])).fetchone()
        if row is not None:
            return _polyfill(bytes(row[0]), res)
    raise InvalidInput(f"no town, village or grid has the code {code!r}")


@lru_cache(maxsize=256)
def _polyfill(wkb: bytes, res: int) -> set[int]:
    geom = shapely.from_wkb(wkb)
    return {h3.str_to_int(c) for c in h3.geo_to_cells(geom, res)}


def _in_bbox(cells: Iterable[int], bbox: tuple[float, float, float, float]) -> set[int]:
    minx, miny, maxx, maxy = bbox
    keep = set()
    for c in cells:
        lat, lon = h3.cell_to_latlng(h3.int_to_str(c))
        if minx <= lon <= maxx and miny <= lat <= maxy:
            keep.add(c)
    return keep


async def filtered_counts(conn: AsyncConnection, q: Query) -> dict[int, int]:
    found = await counts(conn, q)
    if q.area is not None:
        if q._area_cells is None:
            q._area_cells = await area_cells(conn, q.area, q.res)
        found = {c: n for c, n in found.items() if c in q._area_cells}
    elif q.bbox is not None:
        keep = _in_bbox(found, q.bbox)
        found = {c: n for c, n in found.items() if c in keep}
    return found


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


def hexes(cells: Iterable[int]) -> list[str]:
    return [format(c, "x") for c in cells]


async def heatmap(
    conn: AsyncConnection, q: Query, metric: str, county: CountyCellsHolder
) -> dict[str, Any]:
    q.validate()
    now = await filtered_counts(conn, q)
    out: list[dict[str, Any]] = []
    totals: dict[str, Any] = {"incidents": sum(now.values())}
    if metric == "count":
        out = [{"h3": format(c, "x"), "value": n} for c, n in sorted(now.items())]
    elif metric == "per_1k":
        cells, people = (await county.current(conn)).at(q.res)
        pop = dict(zip(cells.tolist(), people.tolist(), strict=True))
        for c, n in sorted(now.items()):
            p = pop.get(c, 0.0)
            out.append(
                {
                    "h3": format(c, "x"),
                    "value": round(n / p * 1000, 4) if p else None,
                    "count": n,
                    "population": round(p, 1),
                }
            )
        totals["population"] = round(sum(pop.get(c, 0.0) for c in now), 1)
    elif metric == "change":
        before = await filtered_counts(conn, q.shifted(q.end - q.start))
        for c in sorted(set(now) | set(before)):
            a, b = now.get(c, 0), before.get(c, 0)
            out.append({"h3": format(c, "x"), "value": a - b, "count": a, "previous": b})
        totals["previous"] = sum(before.values())
    else:
        raise InvalidInput(f"unknown metric {metric!r}: use count, per_1k or change")
    totals["cells"] = len(out)
    return {
        "resolution": q.res,
        "metric": metric,
        "window": {"start": q.start, "end": q.end},
        "cells": out,
        "totals": totals,
    }


async def hotspots(
    conn: AsyncConnection, q: Query, county: CountyCellsHolder, alpha: float = 0.05, ring: int = 1
) -> dict[str, Any]:
    """Getis-Ord Gi* over every county cell at ``q.res`` (zeros included), neighbours by
    ``grid_disk(cell, ring)`` (the cell itself included, binary weights); cells whose
    two-sided p-value is below ``alpha``."""
    q.validate()
    if q.res > HOTSPOT_MAX_RES:
        raise InvalidInput(f"hotspots are computed up to resolution {HOTSPOT_MAX_RES}")
    if not 0 < alpha < 1:
        raise InvalidInput("alpha must be between 0 and 1")
    found = await counts(conn, q)
    cells, _ = (await county.current(conn)).at(q.res)
    if q.area is not None:
        keep = await area_cells(conn, q.area, q.res)
        cells = np.array(sorted(set(cells.tolist()) & keep), dtype=np.int64)
    elif q.bbox is not None:
        cells = np.array(sorted(_in_bbox(cells.tolist(), q.bbox)), dtype=np.int64)
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
                "h3": format(int(cells[i]), "x"),
                "count": int(x[i]),
                "z": round(float(z[i]), 4),
                "p": float(p[i]),
                "kind": "hot" if z[i] > 0 else "cold",
            }
            for i in hot
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
    z = (local - mean * w) / (s * np.sqrt((n * w - w**2) / (n - 1)))
    return z, x
