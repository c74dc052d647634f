"""The incidents as heatmaps read them, in memory: every incident's report time, category,
status and H3 cell at resolutions 5-11 (``incidents.h3_<res>``, exact ``latlng_to_cell``) in
numpy arrays sorted by time. A heatmap for any window, filter and resolution is two binary
searches and one count over the slice (``np.bincount`` on each cell's position in the sorted
list of cells), so a year at resolution 11 costs milliseconds and a day microseconds; no
request scans or groups rows in the database.

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

One base per machine (``CITYBRAIN_HEAT_SHARED``, on by default): the sorted base is a file
that every server process maps read-only (``heatmap.shared``), built by one process and
mapped by the others; the overlay, the mask of changed rows and the cells' centres stay each
process's own. A base file says which snapshot it reflects, so a process that maps one catches
up from there exactly as from a load of its own. Whoever passes ``REBUILD_AT`` first folds
and publishes a new base; the others switch to it at their next look (which, like a reload,
breaks their chain of deltas: readers count once again). Without sharing, or when it fails
(no room in /dev/shm), each process holds its own base, as before.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import sys
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

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
    HEAT_SHARED_BYTES,
    HEAT_SHARED_MAPS,
)
from citybrain.services.heatmap.shared import Mapped, Store, directory
from citybrain.sql import load

log = logging.getLogger(__name__)

RESOLUTIONS = tuple(HEAT_RESOLUTIONS)
CATEGORY_NAMES = [c.name for c in CATEGORIES]
STATUS_NAMES = [str(s) for s in Status]
PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)  # PostgreSQL timestamps: microseconds since
# What a shared base file holds, as this code reads it (heatmap.shared.directory).
LAYOUT = repr((CATEGORY_NAMES, STATUS_NAMES, RESOLUTIONS))
RELOAD_AT = 50_000
REBUILD_AT = 20_000
CHUNK = 65_536  # incidents a load reads per statement (5 MB: see load.sql)

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
    row's position in them (``index``), which ``np.bincount`` counts. Its arrays never change
    once made: they are this process's own, or views of a shared file (``mapped``). What a
    process changes is its own: which rows are masked out (``alive``, made at the first) and
    the cells' centres it has looked up."""

    def __init__(self, rows: Rows) -> None:
        order = np.argsort(rows.t, kind="stable")
        arrays = {
            "id": rows.id[order],
            "t": rows.t[order],
            "cat": rows.cat[order],
            "status": rows.status[order],
        }
        for k, r in enumerate(RESOLUTIONS):
            universe, index = np.unique(rows.cells[order, k], return_inverse=True)
            arrays[f"universe{r}"], arrays[f"index{r}"] = universe, index.astype(np.int32)
        by_id = np.argsort(arrays["id"])
        arrays["by_id"] = by_id.astype(np.int32 if len(by_id) < 2**31 else np.int64)
        arrays["sorted_ids"] = arrays["id"][by_id]
        self._take(arrays, None)

    @classmethod
    def of(cls, mapped: Mapped) -> Base:
        """The base a shared file holds (``heatmap.shared``), read where it lies."""
        base = cls.__new__(cls)
        base._take(mapped.arrays, mapped)
        return base

    def _take(self, arrays: dict[str, np.ndarray], mapped: Mapped | None) -> None:
        self.id, self.t = arrays["id"], arrays["t"]
        self.cat, self.status = arrays["cat"], arrays["status"]
        self.universe = {r: arrays[f"universe{r}"] for r in RESOLUTIONS}
        self.index = {r: arrays[f"index{r}"] for r in RESOLUTIONS}
        self.by_id, self._sorted_ids = arrays["by_id"], arrays["sorted_ids"]
        self.mapped = mapped
        self.alive: np.ndarray | None = None  # None: every row (no page touched until one dies)
        self.dead = 0
        self.centres: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def arrays(self) -> dict[str, np.ndarray]:
        """What a shared file holds of it (``heatmap.shared``)."""
        out = {"id": self.id, "t": self.t, "cat": self.cat, "status": self.status}
        for r in RESOLUTIONS:
            out[f"universe{r}"], out[f"index{r}"] = self.universe[r], self.index[r]
        return out | {"by_id": self.by_id, "sorted_ids": self._sorted_ids}

    def rows(self) -> Rows:
        """Its live rows."""
        cells = np.stack([self.universe[r][self.index[r]] for r in RESOLUTIONS], axis=1)
        rows = Rows(self.id, self.t, self.cat, self.status, cells.reshape(-1, len(RESOLUTIONS)))
        return rows if self.alive is None else rows.select(self.alive)

    def row(self, incident_id: int) -> Row | None:
        """The live row of an incident, or None."""
        if not len(self.id):
            return None
        at = int(np.searchsorted(self._sorted_ids, incident_id))
        if at >= len(self._sorted_ids) or self._sorted_ids[at] != incident_id:
            return None
        pos = int(self.by_id[at])
        if self.alive is not None and not self.alive[pos]:
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
        if self.alive is None:
            self.alive = np.ones(len(self.id), dtype=bool)
        self.dead += int(self.alive[positions].sum())
        self.alive[positions] = False


Row = tuple[int, int, int, tuple[int, ...]]  # micros, category code, status code, cells
CHANGELOG = 256  # catch-ups whose changes are kept, for readers that follow by delta


def _count(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.unique(cells, return_counts=True)


class HeatIndex:
    """One per server process (``AppState.heat``); ``await fresh(conn)`` before reading. With
    ``shared_dir`` its base is the machine's shared one (``heatmap.shared``), else its own."""

    def __init__(self, shared_dir: Path | None = None) -> None:
        self.base = Base(Rows.empty())
        self.loaded = False
        self.overlay: dict[int, tuple[int, int, int, tuple[int, ...]] | None] = {}
        self._overlay_rows: Rows | None = None
        self.xmax, self.generation = "", ""
        self.xip: list[str] = []
        self._lock = asyncio.Lock()
        self._shared_dir = shared_dir
        self._store: Store | None = None
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
                # Loaded, switched to a newer shared base, or caught up; else (a new
                # generation, a bulk load) loaded anew.
                done = self.loaded and (await self._switch(conn) or await self._catch_up(conn))
                if not done:
                    await self._load(conn)
            HEAT_FRESH.set_to_current_time()
            HEAT_INCIDENTS.set(len(self))
            HEAT_OVERLAY.set(len(self.overlay))
        return self

    async def _switch(self, conn: AsyncConnection) -> bool:
        """When another process has published a newer base: map it, drop this process's own
        (and its overlay) and catch up from the new one's snapshot; False when there is none
        (the common case: one ``stat``)."""
        if self._store is None:
            return False
        try:
            if self._store.is_current(self.base.mapped):
                return False
            mapped = self._store.current()
        except OSError as e:
            self._unshare(e)
            return False
        if mapped is None or not await self._adopt(conn, mapped):
            await self._load(conn)
        return True

    async def _load(self, conn: AsyncConnection) -> None:
        """Everything anew: from the shared base when there is one to use (or after building
        it), else read from the database into this process's own."""
        if self._shared_dir is None or not await self._load_shared(conn, self._shared_dir):
            base, xmax, xip, generation = await self._read(conn)
            self._install(base, xmax, xip, generation)
            HEAT_REBUILDS.labels("load").inc()
        await asyncio.to_thread(_give_back)

    async def _read(self, conn: AsyncConnection) -> tuple[Base, str, list[str], str]:
        """Every incident, sorted into a base, and the snapshot it reflects."""
        params = {"categories": CATEGORY_NAMES, "statuses": STATUS_NAMES}
        async with conn.transaction():  # one snapshot for both
            await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            # The server's own work, once per load, not a request's: the statement deadline
            # of request connections (5M incidents take longer to read) does not apply.
            await conn.execute("SET LOCAL statement_timeout = 0")
            xmax, xip, generation, *_ = await _one(conn, load("heatmap/snapshot"))
            chunks, after = [], None
            while True:
                chunk, after = await _one(
                    conn,
                    load("heatmap/load"),
                    params | {"after": after if after is not None else -(2**63), "rows": CHUNK},
                    binary=True,
                )
                if chunk is None:
                    break
                chunks.append(chunk)
        data = b"".join(chunks)
        del chunks
        # Sorting a million rows takes most of a second: off the event loop, so that other
        # requests (dispatch) go on meanwhile; numpy lets go of the GIL while it sorts.
        base = await asyncio.to_thread(Base, Rows.from_records(data))
        return base, xmax, list(xip), generation

    def _install(self, base: Base, xmax: str, xip: list[str], generation: str) -> None:
        """A base in place of everything held: what a load does."""
        self.base = base
        self.overlay, self._overlay_rows = {}, None
        self.xmax, self.xip, self.generation = xmax, list(xip), generation
        self.loaded = True
        self.revision += 1
        self.changelog.clear()  # a reload breaks the chain of deltas
        HEAT_SHARED_BYTES.set(base.mapped.nbytes if base.mapped else 0)

    async def _load_shared(self, conn: AsyncConnection, root: Path) -> bool:
        """Load from the machine's shared base: map the published one when it can be caught
        up with (same generation, fewer than ``RELOAD_AT`` changes since), else build one,
        once however many processes ask (the lock's holder builds, the others then map).
        False when sharing fails here (the directory cannot be made or written, /dev/shm is
        full): the process then holds its own base, as without sharing."""
        try:
            if self._store is None:
                database = await _one(conn, load("heatmap/identity"))
                root.mkdir(parents=True, exist_ok=True)
                self._store = Store(directory(root, database, LAYOUT))
            store = self._store
            tried: set[tuple[int, int]] = set()
            for turn in range(8):
                mapped = store.current()
                if mapped is not None and mapped.key not in tried:
                    tried.add(mapped.key)
                    if await self._adopt(conn, mapped):
                        return True
                async with store.locked(wait=True):
                    again = store.current()
                    if again is not None and again.key not in tried and turn < 7:
                        continue  # published while this process waited: map that one
                    base, xmax, xip, generation = await self._read(conn)
                    built = await asyncio.to_thread(
                        store.publish, base.arrays(), xmax, xip, generation
                    )
                del base  # (this process's copy: the mapped one stands in for it)
                self._install(Base.of(built), xmax, xip, generation)
                HEAT_REBUILDS.labels("load").inc()
                return True
        except OSError as e:
            self._unshare(e)
        return False

    async def _adopt(self, conn: AsyncConnection, mapped: Mapped) -> bool:
        """Take a shared base another process built and catch up from its snapshot; False
        when that is not possible (another generation, too much changed since)."""
        self._install(Base.of(mapped), mapped.xmax, mapped.xip, mapped.generation)
        if await self._catch_up(conn):
            HEAT_SHARED_MAPS.inc()
            return True
        self.loaded = False
        return False

    def _unshare(self, error: OSError) -> None:
        log.warning(
            "heat index: no shared base for this process (%s); it holds its own. "
            "Set CITYBRAIN_HEAT_SHARED_DIR elsewhere, or CITYBRAIN_HEAT_SHARED=false",
            error,
        )
        if self._store is not None:
            self._store.close()
        self._shared_dir, self._store = None, None

    async def _catch_up(self, conn: AsyncConnection) -> bool:
        """Apply what changed since the last look; False when a load is due instead (a new
        generation, a bulk load)."""
        xmax, xip, generation, newest, newest_deletion = await _one(conn, load("heatmap/snapshot"))
        if generation != self.generation:
            # A read replica that has not replayed the truncate the index has seen is behind it
            # in both counters (transaction ids never go back in a cluster, so a database
            # restored to an older generation is not): nothing there is news, and reloading
            # from it would go back.
            return _older(generation, self.generation) and int(xmax) < int(self.xmax)
        since = int(self.xmax)
        if not self.xip and all(x is None or int(x) < since for x in (newest, newest_deletion)):
            self._look(xmax, xip)  # nothing changed (the common case)
            return True
        params = {"xmax": self.xmax, "xip": self.xip, "limit": RELOAD_AT}
        rows = await (await conn.execute(load("heatmap/changes"), params)).fetchall()
        _, _, _, _, _, _, xmax, xip, generation = rows[0]
        changes = rows[1:]
        if generation != self.generation or len(changes) >= RELOAD_AT:
            return False
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
        self._look(xmax, xip)
        if len(self.overlay) > REBUILD_AT:
            await self._rebuild()
        return True

    def _look(self, xmax: str, xip: list[str]) -> None:
        """Keep the snapshot of this look, unless the node looked at is behind the last one (a
        read replica replaying the primary's WAL later): the index then keeps the newer
        snapshot, and what it read from the older node's rows (applied by id, in their current
        state) is read again, harmlessly, at a later look. Never going back means never
        re-reading the same changes back and forth between nodes."""
        if int(xmax) >= int(self.xmax or 0):
            self.xmax, self.xip = xmax, list(xip)

    async def _rebuild(self) -> None:
        """Fold the overlay into a new sorted base. Shared: this process builds and publishes
        it unless another process is doing so or has done so (it then maps theirs at its next
        look, and keeps its overlay meanwhile)."""
        store = self._store
        if store is not None:
            try:
                if not store.is_current(self.base.mapped):
                    return
                async with store.locked(wait=False) as held:
                    if not held or not store.is_current(self.base.mapped):
                        return
                    base = await asyncio.to_thread(Base, self._folded())
                    mapped = await asyncio.to_thread(
                        store.publish, base.arrays(), self.xmax, self.xip, self.generation
                    )
                    del base  # (the mapped one stands in for it)
                    self.base = Base.of(mapped)
                    self.overlay, self._overlay_rows = {}, None
                    HEAT_SHARED_BYTES.set(mapped.nbytes)
            except OSError as e:
                self._unshare(e)
        if self._store is None and self.overlay:  # (not folded above)
            self.base = await asyncio.to_thread(Base, self._folded())
            HEAT_SHARED_BYTES.set(0)
        self.overlay, self._overlay_rows = {}, None
        HEAT_REBUILDS.labels("fold").inc()
        await asyncio.to_thread(_give_back)

    def _folded(self) -> Rows:
        return Rows.concat(self.base.rows(), self._overlay())

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
        if b.dead and b.alive is not None:
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


_LIBC = ctypes.CDLL(None) if sys.platform.startswith("linux") else None


def _give_back() -> None:
    """Hand the memory a load or a fold freed back to the system: glibc keeps much of it
    otherwise (the raw rows and the sorting's temporaries, freed in the arena of the thread
    that sorted). Measured on 1M incidents, a process held 90 MB more after a load without it,
    63 MB with it, of which the index's arrays are 59 MB."""
    trim = getattr(_LIBC, "malloc_trim", None)  # (glibc's; not musl's)
    if trim is not None:
        trim(0)


async def _one(conn: AsyncConnection, statement: str, params=None, binary=False) -> tuple:
    row = await (await conn.execute(statement, params, binary=binary)).fetchone()
    if row is None:
        raise RuntimeError(f"no row from {statement[:60]!r}")
    return row


def _older(generation: str, than: str) -> bool:
    """Whether a node's ``meta.incidents_generation`` is before the index's (a counter)."""
    return generation.isdigit() and than.isdigit() and int(generation) < int(than)


def _code(name: str, known: list[str]) -> int:
    """A name's position in ``known``; past the end when unknown (as load.sql codes it)."""
    try:
        return known.index(name)
    except ValueError:
        return len(known)
