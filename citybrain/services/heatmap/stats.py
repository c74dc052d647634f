"""Hotspots: Getis-Ord Gi* over the county's cells, and the cells significantly hot or cold."""

from __future__ import annotations

import asyncio
from typing import Any

import h3
import numpy as np
from psycopg import AsyncConnection
from scipy.stats import norm

from citybrain.errors import InvalidInput
from citybrain.services.heatmap.encode import hexes
from citybrain.services.heatmap.population import CountyCellsHolder
from citybrain.services.heatmap.query import Query, area_cells, counts, in_bbox
from citybrain.services.incident_index import IncidentIndex

HOTSPOT_MAX_RES = 9  # Gi* weighs every county cell: 6,000 at resolution 9, 42,000 at 10


async def hotspots(
    conn: AsyncConnection,
    index: IncidentIndex,
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
    found_cells, found_n = await counts(conn, index, q)
    found = dict(zip(found_cells.tolist(), found_n.tolist(), strict=True))
    cells, _ = (await county.current(conn)).at(q.res)
    if q.area is not None:
        cells = cells[np.isin(cells, await area_cells(conn, q.area, q.res), assume_unique=True)]
    elif q.bbox is not None:
        cells = cells[in_bbox(index, q.res, cells, q.bbox)]
    # the neighbourhoods of up to ~6,000 cells (~37 each at ring 3): off the event loop
    z, x = await asyncio.to_thread(gi_star, cells, found, ring)
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
