"""The incident index's arrays: incidents as columns (``Rows``), and the sorted base every count
reads (``Base``), with the codes that stand for categories and statuses in them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import h3.api.basic_int as h3i
import numpy as np

from citybrain.domain import CATEGORIES, HEAT_RESOLUTIONS, OPEN_STATUSES, Status
from citybrain.services.incident_index.shared import Mapped

RESOLUTIONS = tuple(HEAT_RESOLUTIONS)
CATEGORY_NAMES = [c.name for c in CATEGORIES]
STATUS_NAMES = [str(s) for s in Status]
PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)  # PostgreSQL timestamps: microseconds since
# What a shared base file holds, as this code reads it (``shared.directory``).
LAYOUT = repr((CATEGORY_NAMES, STATUS_NAMES, RESOLUTIONS))

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

Row = tuple[int, int, int, tuple[int, ...]]  # micros, category code, status code, cells


def micros(t: datetime) -> int:
    """A time as PostgreSQL stores it: microseconds since 2000-01-01 UTC."""
    return (t - PG_EPOCH) // timedelta(microseconds=1)


def lookup(names: list[str] | tuple[str, ...], known: list[str]) -> np.ndarray:
    """A lookup table: code -> wanted (codes past ``known``: unknown names, never wanted)."""
    wanted = np.zeros(len(known) + 1, dtype=bool)
    for name in names:
        wanted[known.index(name)] = True
    return wanted


def codes(names: list[str] | tuple[str, ...] | None, known: list[str]) -> np.ndarray | None:
    """``lookup`` of ``names``; None (no filter) when they are None."""
    return None if names is None else lookup(names, known)


def code(name: str, known: list[str]) -> int:
    """A name's position in ``known``; past the end when unknown (as load.sql codes it)."""
    try:
        return known.index(name)
    except ValueError:
        return len(known)


OPEN_CODES = lookup([str(s) for s in OPEN_STATUSES], STATUS_NAMES)


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
    process changes is its own: which rows are masked out (``alive``, made at the first), the
    cells' centres it has looked up and where its open incidents lie (``open_rows``)."""

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
        """The base a shared file holds (``shared``), read where it lies."""
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
        self._open: np.ndarray | None = None

    def arrays(self) -> dict[str, np.ndarray]:
        """What a shared file holds of it (``shared``)."""
        out = {"id": self.id, "t": self.t, "cat": self.cat, "status": self.status}
        for r in RESOLUTIONS:
            out[f"universe{r}"], out[f"index{r}"] = self.universe[r], self.index[r]
        return out | {"by_id": self.by_id, "sorted_ids": self._sorted_ids}

    @property
    def nbytes(self) -> int:
        """Bytes of its arrays, the mask of dead rows included."""
        held = [*self.arrays().values(), self.alive, self._open]
        return sum(a.nbytes for a in held if a is not None)

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

    def counts(
        self,
        res: int,
        t0: int,
        t1: int,
        cat_ok: np.ndarray | None,
        status_ok: np.ndarray | None,
        open_too: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Its live rows reported in [t0, t1) (``micros``), and with ``open_too`` the open ones
        reported outside it, of these category and status codes (``codes``; None: all), per
        cell at ``res``: (cells ascending, counts), cells with none left out. Two binary
        searches and one count over the window's slice."""
        lo, hi = np.searchsorted(self.t, [t0, t1])
        index = self.index[res][lo:hi]
        keep = self._wanted(slice(lo, hi), cat_ok, status_ok)
        if keep is not None:
            index = index[keep]
        universe = self.universe[res]
        if len(index) * 8 < len(universe):  # few rows: sorting them beats a full-length count
            at, n = np.unique(index, return_counts=True)
        else:
            full = np.bincount(index, minlength=len(universe))
            at = np.flatnonzero(full)
            n = full[at]
        if open_too:
            outside = self.open_rows()
            a, b = np.searchsorted(outside, [lo, hi])
            outside = np.concatenate([outside[:a], outside[b:]])
            keep = self._wanted(outside, cat_ok, status_ok)
            more = self.index[res][outside if keep is None else outside[keep]]
            at, n = merged(at, n, *np.unique(more, return_counts=True))
        return universe[at], n.astype(np.int64)

    def _wanted(
        self, rows: slice | np.ndarray, cat_ok: np.ndarray | None, status_ok: np.ndarray | None
    ) -> np.ndarray | None:
        """Which of ``rows`` (a slice or positions) are live and of these codes (None: all)."""
        keep = None
        if cat_ok is not None:
            keep = cat_ok[self.cat[rows]]
        if status_ok is not None:
            wanted = status_ok[self.status[rows]]
            keep = wanted if keep is None else keep & wanted
        if self.dead and self.alive is not None:
            keep = self.alive[rows] if keep is None else keep & self.alive[rows]
        return keep

    def open_rows(self) -> np.ndarray:
        """Positions (ascending) of the rows whose status is open (``domain.OPEN_STATUSES``),
        dead ones included: found once per base (a pass over the statuses), a few thousand
        where the base holds millions."""
        if self._open is None:
            self._open = np.flatnonzero(OPEN_CODES[self.status])
        return self._open

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

    def centres_of(self, res: int, cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Latitudes and longitudes of the centres of ``cells`` (at ``res``): looked up in a
        table of the base's cells, made at the first ask; h3 for cells not in it."""
        if res not in self.centres:
            ll = [h3i.cell_to_latlng(int(c)) for c in self.universe[res]]
            table = np.array(ll, dtype=np.float64)
            self.centres[res] = (table[:, 0], table[:, 1]) if len(ll) else (_NONE, _NONE)
        universe = self.universe[res]
        lat, lon = np.full(len(cells), np.nan), np.full(len(cells), np.nan)
        if len(universe):
            at = np.searchsorted(universe, cells).clip(max=len(universe) - 1)
            hit = universe[at] == cells
            lat[hit], lon[hit] = self.centres[res][0][at[hit]], self.centres[res][1][at[hit]]
        for i in np.flatnonzero(np.isnan(lat)):
            lat[i], lon[i] = h3i.cell_to_latlng(int(cells[i]))
        return lat, lon


_NONE = np.zeros(0)


def merged(
    keys: np.ndarray, n: np.ndarray, more: np.ndarray, m: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Two tallies (sorted distinct keys, counts) as one."""
    if not len(more):
        return keys, n
    keys, inverse = np.unique(np.concatenate([keys, more]), return_inverse=True)
    return keys, np.bincount(inverse, weights=np.concatenate([n, m])).astype(np.int64)
