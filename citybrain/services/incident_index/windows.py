"""What a windowed layer shows, per cell: the incidents reported in a window or open now, of
its categories and statuses, counted at one resolution with the cells' centres, kept per
window and followed by delta as incidents change (a write costs what it changed, not what the
window holds)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from citybrain.services.incident_index.rows import (
    CATEGORY_NAMES,
    OPEN_CODES,
    RESOLUTIONS,
    STATUS_NAMES,
    Row,
    codes,
    micros,
)
from citybrain.services.window import Window

MEMO_SIZE = 64  # windows kept per process (a screen asks for a few windows at a time)

Centres = Callable[[int, np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True, eq=False)  # (arrays: compared by identity)
class Cells:
    """Incidents per H3 cell (ascending, none empty) and the latitudes and longitudes of the
    cells' centres."""

    cells: np.ndarray
    counts: np.ndarray
    lat: np.ndarray
    lon: np.ndarray

    def __len__(self) -> int:
        return len(self.cells)

    def inside(self, box: tuple[float, float, float, float]) -> Cells:
        """The cells whose centre lies in ``box`` (west, south, east, north), half-open
        (``[west, east)``, ``[south, north)``): boxes that tile the plane share each cell out
        to exactly one of them."""
        w, s, e, n = box
        keep = (self.lon >= w) & (self.lon < e) & (self.lat >= s) & (self.lat < n)
        return Cells(self.cells[keep], self.counts[keep], self.lat[keep], self.lon[keep])


@dataclass(frozen=True, eq=False)  # (arrays: compared by identity)
class Kept:
    """A window's cells as counted or followed up to ``revision`` of the index."""

    cells: Cells
    revision: int
    generation: str


def shown_rule(window: Window) -> Callable[[Row], bool]:
    """Whether an index row is shown by ``window``: reported in it or open now, of its
    categories and statuses."""
    t0, t1 = micros(window.start), micros(window.end)
    cat_ok = codes(window.categories, CATEGORY_NAMES) if window.categories else None
    status_ok = codes(window.statuses, STATUS_NAMES) if window.statuses else None

    def shown(row: Row) -> bool:
        t, cat, status, _ = row
        return (
            (t0 <= t < t1 or bool(OPEN_CODES[status]))
            and (cat_ok is None or bool(cat_ok[cat]))
            and (status_ok is None or bool(status_ok[status]))
        )

    return shown


def follow(
    kept: Cells,
    changes: list[tuple[Row | None, Row | None]],
    res: int,
    window: Window,
    centres: Centres,
) -> Cells:
    """``kept`` brought up to date with row changes: each changed incident leaves its old
    cell if its old row was shown, and enters its new cell if its new row is."""
    k = RESOLUTIONS.index(res)
    shown = shown_rule(window)
    delta: dict[int, int] = {}
    for old, new in changes:
        for row, sign in ((old, -1), (new, 1)):
            if row is not None and shown(row):
                cell = row[3][k]
                delta[cell] = delta.get(cell, 0) + sign
    moved = {c: d for c, d in delta.items() if d}
    if not moved:
        return kept
    cells, counts, lat, lon = kept.cells, kept.counts.copy(), kept.lat, kept.lon
    touched = np.array(sorted(moved), dtype=np.int64)
    d = np.array([moved[c] for c in touched], dtype=np.int64)
    at = np.searchsorted(cells, touched)
    there = np.zeros(len(touched), dtype=bool)  # (a window that showed nothing yet: none)
    if len(cells):
        there = (at < len(cells)) & (cells[at.clip(max=len(cells) - 1)] == touched)
    counts[at[there]] += d[there]
    if (~there).any():
        new_lat, new_lon = centres(res, touched[~there])
        cells = np.concatenate([cells, touched[~there]])
        counts = np.concatenate([counts, d[~there]])
        lat, lon = np.concatenate([lat, new_lat]), np.concatenate([lon, new_lon])
        order = np.argsort(cells, kind="stable")
        cells, counts, lat, lon = cells[order], counts[order], lat[order], lon[order]
    keep = counts > 0
    return Cells(cells[keep], counts[keep], lat[keep], lon[keep])
