"""``IncidentIndex``: the incident index of one server process, kept current with the database
(load, catch up, fold, share) and read (counts, centres, a windowed layer's cells). The
package's docstring says what it holds and why it is never stale."""

from __future__ import annotations

import asyncio
import ctypes
import logging
import sys
from collections import OrderedDict, deque
from datetime import datetime
from pathlib import Path

import numpy as np
from psycopg import AsyncConnection

from citybrain.metrics import (
    HEAT_CATCH_UP,
    HEAT_FRESH,
    HEAT_INCIDENTS,
    HEAT_OVERLAY,
    HEAT_REBUILDS,
    HEAT_SHARED_BYTES,
    HEAT_SHARED_MAPS,
)
from citybrain.services.incident_index.rows import (
    CATEGORY_NAMES,
    LAYOUT,
    OPEN_CODES,
    RESOLUTIONS,
    STATUS_NAMES,
    Base,
    Row,
    Rows,
    code,
    codes,
    merged,
    micros,
)
from citybrain.services.incident_index.shared import Mapped, Store, directory
from citybrain.services.incident_index.windows import MEMO_SIZE, Cells, Kept, follow
from citybrain.services.window import Window
from citybrain.sql import load

log = logging.getLogger(__name__)

RELOAD_AT = 50_000  # changed rows in one look past which the index loads anew (a bulk load)
REBUILD_AT = 20_000  # overlay rows past which the overlay is folded into a new base
CHUNK = 65_536  # incidents a load reads per statement (5 MB: see load.sql)
CHANGELOG = 256  # catch-ups whose changes are kept, for the windows followed by delta


class IncidentIndex:
    """One per server process (``AppState.incident_index``). ``await fresh(conn)`` brings it up
    to date with everything committed before the call; ``counts`` and ``centres`` then read
    it; ``shown_cells`` does both for a windowed layer's tile. With ``shared_dir`` its base is
    the machine's shared one (``shared``), else its own. ``rebuild_at``, ``reload_at``: where
    the overlay is folded, where a look loads anew (``REBUILD_AT``, ``RELOAD_AT``)."""

    def __init__(
        self,
        shared_dir: Path | None = None,
        *,
        rebuild_at: int = REBUILD_AT,
        reload_at: int = RELOAD_AT,
    ) -> None:
        self.loaded = False  # (readiness: /readyz answers 503 until the first load)
        self.counted = self.followed = 0  # windows' cells counted afresh / followed by delta
        self._base = Base(Rows.empty())
        self._overlay: dict[int, Row | None] = {}
        self._overlay_rows: Rows | None = None
        self._xmax, self._generation = "", ""
        self._xip: list[str] = []
        self._lock = asyncio.Lock()
        self._shared_dir = shared_dir
        self._store: Store | None = None
        self._rebuild_at, self._reload_at = rebuild_at, reload_at
        self._revision = 0  # moves whenever what the index holds moves (loads, changes)
        # Per revision reached by a catch-up, the rows it replaced and the rows it brought
        # (None: an incident that was not there, or is no longer): lets a window counted at an
        # earlier revision follow by delta instead of counting again.
        self._changelog: deque[tuple[int, list[tuple[Row | None, Row | None]]]] = deque(
            maxlen=CHANGELOG
        )
        self._windows: OrderedDict[tuple[int, Window], Kept] = OrderedDict()

    # --- what it holds ---------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._base.id) - self._base.dead + len(self._overlay_table())

    @property
    def generation(self) -> str:
        """The incidents' generation it holds (``meta.incidents_generation``: a truncate moves
        it)."""
        return self._generation

    @property
    def overlay_rows(self) -> int:
        """Changed incidents held beside the base, not yet folded into it."""
        return len(self._overlay)

    @property
    def shared_base(self) -> str | None:
        """The name of the machine's shared base file it maps; None: it holds its own."""
        return self._base.mapped.name if self._base.mapped is not None else None

    @property
    def nbytes(self) -> int:
        """Bytes of its base's arrays (the mapped file's, or its own)."""
        return self._base.nbytes

    # --- reading ---------------------------------------------------------------------------------

    def counts(
        self,
        res: int,
        start: datetime,
        end: datetime,
        categories: list[str] | None = None,
        statuses: list[str] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Incidents reported in [start, end) per cell at ``res``, of these categories and
        statuses (None: all): (cells sorted ascending, counts), cells with none left out. As of
        the last ``fresh``."""
        cat_ok, status_ok = codes(categories, CATEGORY_NAMES), codes(statuses, STATUS_NAMES)
        return self._count(res, micros(start), micros(end), cat_ok, status_ok, open_too=False)

    def centres(self, res: int, cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Latitudes and longitudes of the centres of ``cells`` (at ``res``; any cells)."""
        return self._base.centres_of(res, cells)

    async def shown_cells(
        self,
        conn: AsyncConnection,
        res: int,
        window: Window,
        box: tuple[float, float, float, float],
    ) -> Cells:
        """What a windowed layer shows in one tile: the incidents of ``window`` (reported in
        it, or open now; of its categories and statuses) per cell at ``res``, for the cells
        whose centre lies in ``box`` (west, south, east, north; half-open, so that tiles share
        each cell out to exactly one of them), with those centres. Brought up to date first.
        Each window's cells are kept (``MEMO_SIZE`` windows) and followed by delta as incidents
        change: a write costs what it changed, a tile what it shows, not what the window holds.
        Categories and statuses must be known ones (the caller checks what it was asked)."""
        await self.fresh(conn)
        return self._shown(res, window).inside(box)

    def _shown(self, res: int, window: Window) -> Cells:
        key = (res, window)
        kept = self._windows.get(key)
        if kept is not None and kept.generation == self._generation:
            changes = self._changes_since(kept.revision)
            if changes is not None:
                self._windows.move_to_end(key)
                if changes:
                    now = follow(kept.cells, changes, res, window, self.centres)
                    self._windows[key] = Kept(now, self._revision, self._generation)
                    self.followed += 1
                return self._windows[key].cells
        self.counted += 1
        cat_ok = codes(window.categories or None, CATEGORY_NAMES)
        status_ok = codes(window.statuses or None, STATUS_NAMES)
        t0, t1 = micros(window.start), micros(window.end)
        cells, n = self._count(res, t0, t1, cat_ok, status_ok, open_too=True)
        lat, lon = self.centres(res, cells)
        self._windows[key] = Kept(Cells(cells, n, lat, lon), self._revision, self._generation)
        self._windows.move_to_end(key)
        while len(self._windows) > MEMO_SIZE:
            self._windows.popitem(last=False)
        return self._windows[key].cells

    def _count(
        self,
        res: int,
        t0: int,
        t1: int,
        cat_ok: np.ndarray | None,
        status_ok: np.ndarray | None,
        open_too: bool,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The base's counts (``Base.counts``) with the overlay's rows added."""
        cells, n = self._base.counts(res, t0, t1, cat_ok, status_ok, open_too)
        o = self._overlay_table()
        if len(o):
            sel = (o.t >= t0) & (o.t < t1)
            if open_too:
                sel |= OPEN_CODES[o.status]
            if cat_ok is not None:
                sel &= cat_ok[o.cat]
            if status_ok is not None:
                sel &= status_ok[o.status]
            if sel.any():
                more = o.cells[sel, RESOLUTIONS.index(res)]
                cells, n = merged(cells, n, *np.unique(more, return_counts=True))
        return cells, n

    def _changes_since(self, revision: int) -> list[tuple[Row | None, Row | None]] | None:
        """Every (old, new) row change after ``revision`` up to now, oldest first; None when
        they are not all kept (a reload came between, or too many catch-ups)."""
        if revision == self._revision:
            return []
        kept = [r for r, _ in self._changelog]
        if not kept or revision < kept[0] - 1 or revision > self._revision:
            return None
        return [c for r, changes in self._changelog if r > revision for c in changes]

    def _overlay_table(self) -> Rows:
        if self._overlay_rows is None:
            self._overlay_rows = Rows.from_tuples(
                [(i, *row[:3], row[3]) for i, row in self._overlay.items() if row is not None]
            )
        return self._overlay_rows

    # --- keeping up with the database ------------------------------------------------------------

    async def fresh(self, conn: AsyncConnection) -> IncidentIndex:
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
            HEAT_OVERLAY.set(len(self._overlay))
        return self

    async def _switch(self, conn: AsyncConnection) -> bool:
        """When another process has published a newer base: map it, drop this process's own
        (and its overlay) and catch up from the new one's snapshot; False when there is none
        (the common case: one ``stat``)."""
        if self._store is None:
            return False
        try:
            if self._store.is_current(self._base.mapped):
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
            xmax, xip, generation, *_ = await _one(conn, load("incident_index/snapshot"))
            chunks, after = [], None
            while True:
                chunk, after = await _one(
                    conn,
                    load("incident_index/load"),
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
        self._base = base
        self._overlay, self._overlay_rows = {}, None
        self._xmax, self._xip, self._generation = xmax, list(xip), generation
        self.loaded = True
        self._revision += 1
        self._changelog.clear()  # a reload breaks the chain of deltas
        HEAT_SHARED_BYTES.set(base.mapped.nbytes if base.mapped else 0)

    async def _load_shared(self, conn: AsyncConnection, root: Path) -> bool:
        """Load from the machine's shared base: map the published one when it can be caught
        up with (same generation, fewer than ``reload_at`` changes since), else build one,
        once however many processes ask (the lock's holder builds, the others then map).
        False when sharing fails here (the directory cannot be made or written, /dev/shm is
        full): the process then holds its own base, as without sharing."""
        try:
            if self._store is None:
                database = await _one(conn, load("incident_index/identity"))
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
            "incident index: no shared base for this process (%s); it holds its own. "
            "Set CITYBRAIN_HEAT_SHARED_DIR elsewhere, or CITYBRAIN_HEAT_SHARED=false",
            error,
        )
        if self._store is not None:
            self._store.close()
        self._shared_dir, self._store = None, None

    async def _catch_up(self, conn: AsyncConnection) -> bool:
        """Apply what changed since the last look; False when a load is due instead (a new
        generation, a bulk load)."""
        xmax, xip, generation, newest, newest_deletion = await _one(
            conn, load("incident_index/snapshot")
        )
        if generation != self._generation:
            # A read replica that has not replayed the truncate the index has seen is behind it
            # in both counters (transaction ids never go back in a cluster, so a database
            # restored to an older generation is not): nothing there is news, and reloading
            # from it would go back.
            return _older(generation, self._generation) and int(xmax) < int(self._xmax)
        since = int(self._xmax)
        if not self._xip and all(x is None or int(x) < since for x in (newest, newest_deletion)):
            self._look(xmax, xip)  # nothing changed (the common case)
            return True
        params = {"xmax": self._xmax, "xip": self._xip, "limit": self._reload_at}
        rows = await (await conn.execute(load("incident_index/changes"), params)).fetchall()
        _, _, _, _, _, _, xmax, xip, generation = rows[0]
        changes = rows[1:]
        if generation != self._generation or len(changes) >= self._reload_at:
            return False
        if changes:
            self._apply(changes)
        self._look(xmax, xip)
        if len(self._overlay) > self._rebuild_at:
            await self._rebuild()
        return True

    def _apply(self, changes: list[tuple]) -> None:
        """Changes.sql's rows into the overlay (their base rows masked out), logged for the
        windows that follow by delta."""
        gone = []
        delta: list[tuple[Row | None, Row | None]] = []
        for kind, incident_id, at, category, status, cells, *_ in changes:
            old = (
                self._overlay[incident_id]
                if incident_id in self._overlay
                else self._base.row(incident_id)
            )
            if kind == "i":
                self._overlay[incident_id] = (
                    micros(at),
                    code(category, CATEGORY_NAMES),
                    code(status, STATUS_NAMES),
                    tuple(cells),
                )
            else:
                self._overlay[incident_id] = None
            delta.append((old, self._overlay[incident_id]))
            gone.append(incident_id)
        self._base.kill(np.array(gone, dtype=np.int64))
        self._overlay_rows = None
        self._revision += 1
        self._changelog.append((self._revision, delta))

    def _look(self, xmax: str, xip: list[str]) -> None:
        """Keep the snapshot of this look, unless the node looked at is behind the last one (a
        read replica replaying the primary's WAL later): the index then keeps the newer
        snapshot, and what it read from the older node's rows (applied by id, in their current
        state) is read again, harmlessly, at a later look. Never going back means never
        re-reading the same changes back and forth between nodes."""
        if int(xmax) >= int(self._xmax or 0):
            self._xmax, self._xip = xmax, list(xip)

    async def _rebuild(self) -> None:
        """Fold the overlay into a new sorted base. Shared: this process builds and publishes
        it unless another process is doing so or has done so (it then maps theirs at its next
        look, and keeps its overlay meanwhile)."""
        store = self._store
        if store is not None:
            try:
                if not store.is_current(self._base.mapped):
                    return
                async with store.locked(wait=False) as held:
                    if not held or not store.is_current(self._base.mapped):
                        return
                    base = await asyncio.to_thread(Base, self._folded())
                    mapped = await asyncio.to_thread(
                        store.publish, base.arrays(), self._xmax, self._xip, self._generation
                    )
                    del base  # (the mapped one stands in for it)
                    self._base = Base.of(mapped)
                    self._overlay, self._overlay_rows = {}, None
                    HEAT_SHARED_BYTES.set(mapped.nbytes)
            except OSError as e:
                self._unshare(e)
        if self._store is None and self._overlay:  # (not folded above)
            self._base = await asyncio.to_thread(Base, self._folded())
            HEAT_SHARED_BYTES.set(0)
        self._overlay, self._overlay_rows = {}, None
        HEAT_REBUILDS.labels("fold").inc()
        await asyncio.to_thread(_give_back)

    def _folded(self) -> Rows:
        return Rows.concat(self._base.rows(), self._overlay_table())


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
