"""The county's cells and their residents: the denominators of ``per_1k`` and the study area
of Gi*, per process, reloaded when the county changes."""

from __future__ import annotations

from dataclasses import dataclass, field

import h3
import h3.api.basic_int as h3i
import numpy as np
from psycopg import AsyncConnection

from citybrain.domain import COVERAGE_RES
from citybrain.sql import load


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
        cov = await (await conn.execute(load("population/coverage"))).fetchall()
        mgs = await (await conn.execute(load("population/micro_grids"))).fetchall()
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
        row = await (await conn.execute(load("meta/version"), {"key": "county_version"})).fetchone()
        version = row[0] if row else ""
        if self.value is None or self.value.version != version:
            self.value = await CountyCells.load(conn, version)
        return self.value
