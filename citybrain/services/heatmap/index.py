"""The incidents as heatmaps read them, in memory: per server process, every incident's report
time, category, status and H3 cell at resolutions 5-11 (``incidents.h3_<res>``, exact
``latlng_to_cell``) in numpy arrays sorted by time. A heatmap for any window, filter and
resolution is two binary searches and one count over the slice (``np.bincount`` on each
cell's position in the sorted list of cells), so a year at resolution 11 costs milliseconds
and a day microseconds; no request scans or groups rows in the database.

Never stale. Before every answer the index asks the database what changed since it last
looked; when nothing did, that is one statement reading two index ends (``snapshot.sql``).
Each incident carries the transaction that last changed what heatmaps read
(``incidents.changed``, xid8, set by the column default and a trigger: migration 0007),
deleted ids are logged in ``incident_deletions``, and a truncate bumps
``meta.incidents_generation``. The index keeps the snapshot of its last look (its xmax and the
transactions then in progress) and next reads the rows stamped by those or by later
transactions (``changes.sql``). That misses nothing, whatever the order in which transactions
commit: one that commits after a snapshot was in progress in it or began after it. Rows are
applied by id, in their current state, so reading one twice is harmless.

Changed rows go to a small overlay beside the sorted base (their base rows masked out); past
``REBUILD_AT`` overlay rows the base is rebuilt in memory; a look that finds more than
``RELOAD_AT`` rows (a bulk load) or a new generation reloads everything (about two seconds
per million incidents).
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import h3.api.basic_int as h3i
import numpy as np
from psycopg import AsyncConnection

from citybrain.domain import CATEGORIES, HEAT_RESOLUTIONS, Status
from citybrain.metrics import (
    HEAT_CATCH_UP,
    HEAT_FRESH,
    HEAT_INCIDENTS,
    HEAT_OVERLAY,
    HEAT_REBUILDS,
)
from citybrain.sql import load

RESOLUTIONS = tuple(HEAT_RESOLUTIONS)
CATEGORY_NAMES = [c.name for c in CATEGORIES]
STATUS_NAMES = [str(s) for s in Status]
PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)  # PostgreSQL timestamps: microseconds since
RELOAD_AT = 50_000
REBUILD_AT = 20_000

# One incident in load.sql's value.
_RECORD = np.dtype(
    [
        ("id", ">i8"),
        ("t", ">i8"),
        ("cat", ">i2"),
        ("status", ">i2"),
        *((f"c{r}", ">i8") for r in RESOLUTIONS),
    ]
)


def micros(t: datetime) -> int:
    """A time as PostgreSQL stores it: microseconds since 2000-01-01 UTC."""
    return (t - PG_EPOCH) // timedelta(microseconds=1)


def codes(names: list[str] | None, known: list[str]) -> np.ndarray | None:
    """A lookup table: code -> wanted (None: no filter)."""
    if names is None:
        return None
    wanted = np.zeros(len(known) + 1, dtype=bool)
    for name in names:
        wanted[known.index(name)] = True
    return wanted


@dataclass
class Rows:
    """Incidents as columns: id, report time (``micros``), category and status codes, and the
    cells (one column per resolution of ``RESOLUTIONS``)."""

    id: np.ndarray
    t: np.ndarray
    cat: np.ndarray
    status: np.ndarray
    cells: np.ndarray  # (n, len(RESOLUTIONS)) int64

    @classmethod
    def empty(cls) -> Rows:
        z = np.zeros(0, dtype=np.int64)
        return cls(z, z, z.astype(np.int16), z.astype(np.int16), z.reshape(0, len(RESOLUTIONS)))

    @classmethod
    def from_records(cls, data: bytes | None) -> Rows:
        """From load.sql's value (None: no incidents)."""
        if not data:
            return cls.empty()
        if len(data) % _RECORD.itemsize:
            raise ValueError("load.sql's records are not whole")
        a = np.frombuffer(data, dtype=_RECORD)
        return cls(
            a["id"].astype(np.int64),
            a["t"].astype(np.int64),
            a["cat"].astype(np.int16),
            a["status"].astype(np.int16),
            np.stack([a[f"c{r}"].astype(np.int64) for r in RESOLUTIONS], axis=1),
        )

    @classmethod
    def from_tuples(cls, rows: list[tuple[int, int, int, int, tuple[int, ...]]]) -> Rows:
        if not rows:
            return cls.empty()
        ids, ts, cats, statuses, cells = zip(*rows, strict=True)
        return cls(
            np.array(ids, dtype=np.int64),
            np.array(ts, dtype=np.int64),
            np.array(cats, dtype=np.int16),
            np.array(statuses, dtype=np.int16),
            np.array(cells, dtype=np.int64).reshape(-1, len(RESOLUTIONS)),
        )

    def __len__(self) -> int:
        return len(self.id)

    def select(self, keep: np.ndarray) -> Rows:
        return Rows(
            self.id[keep], self.t[keep], self.cat[keep], self.status[keep], self.cells[keep]
        )

    @staticmethod
    def concat(a: Rows, b: Rows) -> Rows:
        return Rows(
            np.concatenate([a.id, b.id]),
            np.concatenate([a.t, b.t]),
            np.concatenate([a.cat, b.cat]),
            np.concatenate([a.status, b.status]),
            np.concatenate([a.cells, b.cells]),
        )


class Base:
    """Rows sorted by time; per resolution the sorted distinct cells (``universe``) and each
    row's position in them (``index``), which ``np.bincount`` counts."""

    def __init__(self, rows: Rows) -> None:
        order = np.argsort(rows.t, kind="stable")
        self.id = rows.id[order]
        self.t = rows.t[order]
        self.cat = rows.cat[order]
        self.status = rows.status[order]
        self.universe: dict[int, np.ndarray] = {}
        self.index: dict[int, np.ndarray] = {}
        for k, r in enumerate(RESOLUTIONS):
            universe, index = np.unique(rows.cells[order, k], return_inverse=True)
            self.universe[r], self.index[r] = universe, index.astype(np.int32)
        self.by_id = np.argsort(self.id)
        self._sorted_ids = self.id[self.by_id]
        self.alive = np.ones(len(self.id), dtype=bool)
        self.dead = 0
        self.centres: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def rows(self) -> Rows:
        cells = np.stack([self.universe[r][self.index[r]] for r in RESOLUTIONS], axis=1)
        return Rows(self.id, self.t, self.cat, self.status, cells.reshape(-1, len(RESOLUTIONS)))

    def row(self, incident_id: int) -> Row | None:
        """The live row of an incident, or None."""
        if not len(self.id):
            return None
        at = int(np.searchsorted(self._sorted_ids, incident_id))
        if at >= len(self._sorted_ids) or self._sorted_ids[at] != incident_id:
            return None
        pos = int(self.by_id[at])
        if not self.alive[pos]:
            return None
        cells = tuple(int(self.universe[r][self.index[r][pos]]) for r in RESOLUTIONS)
        return int(self.t[pos]), int(self.cat[pos]), int(self.status[pos]), cells

    def kill(self, ids: np.ndarray) -> None:
        """Mask out the rows of these ids (they changed or went)."""
        if not len(self.id) or not len(ids):
            return
        ids = np.unique(ids)
        sorted_ids = self._sorted_ids  # (kept: gathering them anew cost 10 ms at 5M rows)
        at = np.searchsorted(sorted_ids, ids).clip(max=len(sorted_ids) - 1)
        positions = self.by_id[at[sorted_ids[at] == ids]]
        self.dead += int(self.alive[positions].sum())
        self.alive[positions] = False


Row = tuple[int, int, int, tuple[int, ...]]  # micros, category code, status code, cells
CHANGELOG = 256  # catch-ups whose changes are kept, for readers that follow by delta


def _count(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.unique(cells, return_counts=True)


class HeatIndex:
    """One per server process (``AppState.heat``); ``await fresh(conn)`` before reading."""

    def __init__(self) -> None:
        self.base = Base(Rows.empty())
        self.loaded = False
        self.overlay: dict[int, tuple[int, int, int, tuple[int, ...]] | None] = {}
        self._overlay_rows: Rows | None = None
        self.xmax, self.generation = "", ""
        self.xip: list[str] = []
        self._lock = asyncio.Lock()
        self.revision = 0  # moves whenever what the index holds moves (loads, changes)
        # Per revision reached by a catch-up, the rows it replaced and the rows it brought
        # (None: an incident that was not there, or is no longer): lets a reader that counted
        # at an earlier revision follow by delta instead of counting again.
        self.changelog: deque[tuple[int, list[tuple[Row | None, Row | None]]]] = deque(
            maxlen=CHANGELOG
        )

    # --- keeping up with the database ---------------------------------------------------------

    async def fresh(self, conn: AsyncConnection) -> HeatIndex:
        """Bring the index up to date with everything committed before this call."""
        async with self._lock:
            with HEAT_CATCH_UP.time():
                if not self.loaded:
                    await self._load(conn)
                else:
                    await self._catch_up(conn)
            HEAT_FRESH.set_to_current_time()
            HEAT_INCIDENTS.set(len(self))
            HEAT_OVERLAY.set(len(self.overlay))
        return self

    async def _load(self, conn: AsyncConnection) -> None:
        params = {"categories": CATEGORY_NAMES, "statuses": STATUS_NAMES}
        async with conn.transaction():  # one snapshot for both
            await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            # The server's own work, once per load, not a request's: the statement deadline
            # of request connections (5M incidents take longer to read) does not apply.
            await conn.execute("SET LOCAL statement_timeout = 0")
            xmax, xip, generation, *_ = await _one(conn, load("heatmap/snapshot"))
            (data,) = await _one(conn, load("heatmap/load"), params, binary=True)
        # Sorting a million rows takes most of a second: off the event loop, so that other
        # requests (dispatch) go on meanwhile; numpy lets go of the GIL while it sorts.
        self.base = await asyncio.to_thread(Base, Rows.from_records(data))
        self.overlay, self._overlay_rows = {}, None
        self.xmax, self.xip, self.generation = xmax, list(xip), generation
        self.loaded = True
        HEAT_REBUILDS.labels("load").inc()
        self.revision += 1
        self.changelog.clear()  # a reload breaks the chain of deltas

    async def _catch_up(self, conn: AsyncConnection) -> None:
        xmax, xip, generation, newest, newest_deletion = await _one(conn, load("heatmap/snapshot"))
        if generation != self.generation:
            await self._load(conn)
            return
        since = int(self.xmax)
        if not self.xip and all(x is None or int(x) < since for x in (newest, newest_deletion)):
            self.xmax, self.xip = xmax, list(xip)  # nothing changed (the common case)
            return
        params = {"xmax": self.xmax, "xip": self.xip, "limit": RELOAD_AT}
        rows = await (await conn.execute(load("heatmap/changes"), params)).fetchall()
        _, _, _, _, _, _, xmax, xip, generation = rows[0]
        changes = rows[1:]
        if generation != self.generation or len(changes) >= RELOAD_AT:
            await self._load(conn)
            return
        if changes:
            gone = []
            delta: list[tuple[Row | None, Row | None]] = []
            for kind, incident_id, at, category, status, cells, *_ in changes:
                old = (
                    self.overlay[incident_id]
                    if incident_id in self.overlay
                    else self.base.row(incident_id)
                )
                if kind == "i":
                    self.overlay[incident_id] = (
                        micros(at),
                        _code(category, CATEGORY_NAMES),
                        _code(status, STATUS_NAMES),
                        tuple(cells),
                    )
                else:
                    self.overlay[incident_id] = None
                delta.append((old, self.overlay[incident_id]))
                gone.append(incident_id)
            self.base.kill(np.array(gone, dtype=np.int64))
            self._overlay_rows = None
            self.revision += 1
            self.changelog.append((self.revision, delta))
            if len(self.overlay) > REBUILD_AT:
                await self._rebuild()
        self.xmax, self.xip = xmax, list(xip)

    async def _rebuild(self) -> None:
        """Fold the overlay into a new sorted base."""
        base = self.base.rows().select(self.base.alive)
        self.base = await asyncio.to_thread(Base, Rows.concat(base, self._overlay()))
        self.overlay, self._overlay_rows = {}, None
        HEAT_REBUILDS.labels("fold").inc()

    def _overlay(self) -> Rows:
        if self._overlay_rows is None:
            self._overlay_rows = Rows.from_tuples(
                [(i, *row[:3], row[3]) for i, row in self.overlay.items() if row is not None]
            )
        return self._overlay_rows

    # --- reading ------------------------------------------------------------------------------

    def changes_since(self, revision: int) -> list[tuple[Row | None, Row | None]] | None:
        """Every (old, new) row change after ``revision`` up to now, oldest first; None when
        they are not all kept (a reload came between, or too many catch-ups)."""
        if revision == self.revision:
            return []
        kept = [r for r, _ in self.changelog]
        if not kept or revision < kept[0] - 1 or revision > self.revision:
            return None
        return [c for r, changes in self.changelog if r > revision for c in changes]

    def __len__(self) -> int:
        return len(self.base.id) - self.base.dead + len(self._overlay())

    def counts(
        self,
        res: int,
        start: datetime,
        end: datetime,
        categories: list[str] | None = None,
        statuses: list[str] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Incidents reported in [start, end) per cell at ``res``, of these categories and
        statuses (None: all): (cells sorted ascending, counts), cells with none left out."""
        k = RESOLUTIONS.index(res)
        t0, t1 = micros(start), micros(end)
        cat_ok, status_ok = codes(categories, CATEGORY_NAMES), codes(statuses, STATUS_NAMES)
        b = self.base
        lo, hi = np.searchsorted(b.t, [t0, t1])
        keep = None
        if cat_ok is not None:
            keep = cat_ok[b.cat[lo:hi]]
        if status_ok is not None:
            wanted = status_ok[b.status[lo:hi]]
            keep = wanted if keep is None else keep & wanted
        if b.dead:
            keep = b.alive[lo:hi] if keep is None else keep & b.alive[lo:hi]
        index = b.index[res][lo:hi]
        if keep is not None:
            index = index[keep]
        universe = b.universe[res]
        if len(index) * 8 < len(universe):  # few rows: sorting them beats a full-length count
            at, n = _count(index)
        else:
            full = np.bincount(index, minlength=len(universe))
            at = np.flatnonzero(full)
            n = full[at]
        cells, n = universe[at], n.astype(np.int64)
        o = self._overlay()
        if len(o):
            sel = (o.t >= t0) & (o.t < t1)
            if cat_ok is not None:
                sel &= cat_ok[o.cat]
            if status_ok is not None:
                sel &= status_ok[o.status]
            if sel.any():
                extra, m = _count(o.cells[sel, k])
                cells, inverse = np.unique(np.concatenate([cells, extra]), return_inverse=True)
                n = np.bincount(inverse, weights=np.concatenate([n, m])).astype(np.int64)
        return cells, n

    def centres(self, res: int, cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Latitudes and longitudes of the centres of ``cells`` (at ``res``)."""
        b = self.base
        if res not in b.centres:
            ll = np.array([h3i.cell_to_latlng(int(c)) for c in b.universe[res]], dtype=np.float64)
            b.centres[res] = (ll[:, 0], ll[:, 1]) if len(ll) else (np.zeros(0), np.zeros(0))
        universe = b.universe[res]
        lat, lon = np.full(len(cells), np.nan), np.full(len(cells), np.nan)
        if len(universe):
            at = np.searchsorted(universe, cells).clip(max=len(universe) - 1)
            hit = universe[at] == cells
            lat[hit], lon[hit] = b.centres[res][0][at[hit]], b.centres[res][1][at[hit]]
        for i in np.flatnonzero(np.isnan(lat)):
            lat[i], lon[i] = h3i.cell_to_latlng(int(cells[i]))
        return lat, lon


async def _one(conn: AsyncConnection, statement: str, params=None, binary=False) -> tuple:
    row = await (await conn.execute(statement, params, binary=binary)).fetchone()
    if row is None:
        raise RuntimeError(f"no row from {statement[:60]!r}")
    return row


def _code(name: str, known: list[str]) -> int:
    """A name's position in ``known``; past the end when unknown (as load.sql codes it)."""
    try:
        return known.index(name)
    except ValueError:
        return len(known)
