"""What the detectors read: the areas of a level (with a position for circles, in the county's
local metres: an equirectangular map exact to 0.3 %) and the
incidents as plain arrays (area, time, id). The detectors themselves are pure functions of these
arrays, so the server, ``citybrain alerts run`` and the benchmark's replays of a whole year run
the same code."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import h3
import numpy as np
import psycopg
from psycopg import sql

from citybrain.alerts.queries import compose
from citybrain.crs import LOCAL


@dataclass(frozen=True)
class Areas:
    """The areas a detector watches, sorted by id (an H3 cell's id is its 64-bit index)."""

    level: str
    ids: np.ndarray  # int64
    codes: list[str]
    x: np.ndarray  # metres east of an arbitrary origin
    y: np.ndarray  # metres north

    def __len__(self) -> int:
        return len(self.ids)

    def index(self, area_ids: np.ndarray) -> np.ndarray:
        """Positions of ``area_ids`` in this set (every one must be in it)."""
        at = np.searchsorted(self.ids, area_ids)
        if len(at) and (at.max() >= len(self.ids) or not np.array_equal(self.ids[at], area_ids)):
            raise ValueError(f"areas not of this {self.level} set")
        return at

    @property
    def is_h3(self) -> bool:
        return self.level.startswith("h3_")


@dataclass(frozen=True)
class Cases:
    """Incidents as arrays: the position of each one's area in ``Areas``, its report time
    (seconds since the epoch) and its id."""

    area: np.ndarray
    t: np.ndarray
    id: np.ndarray

    def since(self, start: float) -> Cases:
        keep = self.t >= start
        return Cases(self.area[keep], self.t[keep], self.id[keep])


def area_column(level: str) -> str:
    """The column holding an incident's area at ``level`` (cases.sql, totals.sql)."""
    if level.startswith("h3_"):
        return f"i.{level}"
    return f"ch.{level[:-1]}_id"  # compounds -> compound_id


def level_areas(conn: psycopg.Connection, level: str) -> Areas:
    """Every area of a level of the hierarchy."""
    rows = conn.execute(compose("areas", table=f"citybrain.{level}")).fetchall()
    x, y = LOCAL.forward(
        np.array([r[3] for r in rows], dtype=float), np.array([r[4] for r in rows], dtype=float)
    )
    return Areas(level, np.array([r[0] for r in rows], dtype=np.int64), [r[1] for r in rows], x, y)


def h3_areas(level: str, cells: np.ndarray) -> Areas:
    """The H3 cells seen in the data, positioned at their centres."""
    cells = np.unique(cells.astype(np.int64))
    centres = np.array([h3.cell_to_latlng(h3.int_to_str(int(c))) for c in cells]).reshape(-1, 2)
    x, y = LOCAL.forward(centres[:, 1], centres[:, 0])
    return Areas(level, cells, [h3.int_to_str(int(c)) for c in cells], x, y)


def _params(categories: list[str] | None, start: datetime, end: datetime) -> dict:
    return {"categories": categories, "start": start, "end": end}


def load_totals(
    conn: psycopg.Connection,
    level: str,
    categories: list[str] | None,
    start: datetime,
    end: datetime,
) -> tuple[np.ndarray, np.ndarray]:
    """(area ids, incidents per area) in [start, end)."""
    query = compose("totals", area=area_column(level))
    rows = conn.execute(query, _params(categories, start, end)).fetchall()
    return (
        np.array([r[0] for r in rows], dtype=np.int64),
        np.array([r[1] for r in rows], dtype=np.int64),
    )


def load_cases(
    conn: psycopg.Connection,
    level: str,
    categories: list[str] | None,
    start: datetime,
    end: datetime,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(area ids, times, incident ids) of the incidents in [start, end)."""
    query: sql.Composed = compose("cases", area=area_column(level))
    rows = conn.execute(query, _params(categories, start, end)).fetchall()
    return (
        np.array([r[0] for r in rows], dtype=np.int64),
        np.array([r[1] for r in rows], dtype=float),
        np.array([r[2] for r in rows], dtype=np.int64),
    )
