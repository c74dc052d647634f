"""The heatmap answer: per cell, the count of incidents (``count``), the rate per 1,000
residents (``per_1k``) or the change from the previous window of the same length (``change``)."""

from __future__ import annotations

from typing import Any

import numpy as np
from psycopg import AsyncConnection

from citybrain.errors import InvalidInput
from citybrain.services.heatmap.encode import CellTable
from citybrain.services.heatmap.population import CountyCellsHolder
from citybrain.services.heatmap.query import Query, filtered_counts
from citybrain.services.incident_index import IncidentIndex


async def heatmap(
    conn: AsyncConnection,
    index: IncidentIndex,
    q: Query,
    metric: str,
    county: CountyCellsHolder,
    max_cells: int,
) -> dict[str, Any]:
    """The answer, with ``cells`` a ``CellTable``; 400 past ``max_cells`` cells."""
    q.validate()
    cells, n = await filtered_counts(conn, index, q)
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
        before_cells, before_n = await filtered_counts(conn, index, q.shifted(q.end - q.start))
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
    if len(table) > max_cells:
        raise InvalidInput(
            f"{len(table):,} cells is more than one answer holds ({max_cells:,}): "
            "ask a coarser res, a smaller area (area, bbox) or a shorter window"
        )
    return {
        "resolution": q.res,
        "metric": metric,
        "window": {"start": q.start, "end": q.end},
        "cells": table,
        "totals": totals,
    }
