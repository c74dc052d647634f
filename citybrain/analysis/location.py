"""Where new sites would serve most: the maximal covering location problem (MCLP, Church &
ReVelle 1974) — the N new sites that bring the most residents not yet within T minutes of a
site — and the p-median problem (Hakimi 1964) — the N that most lower the residents' total
travel time — built by ``spopt.locate`` and solved exactly by CBC, with the greedy choice beside
them and its gap.

Today's sites stay open: they enter the models in a form that gives the same optimum as forcing
every one of them in, but with one column instead of one per site. MCLP leaves out residents
already reached (a new site cannot gain them) and those no candidate reaches; p-median forces in
one column holding each resident's time to the nearest existing site, since the nearest of
"existing or new" is what a resident travels, and leaves out residents for whom no candidate is
nearer than today's site (their time is fixed). Both are exact reductions, not approximations.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from citybrain.analysis.solve import cbc, quiet_pulp


def demand_cells(people: pd.DataFrame, resolution: int = 8) -> pd.DataFrame:
    """Residents gathered into H3 cells (``population``; ``lon``/``lat`` the residents'
    population-weighted mean point), indexed by cell. p-median holds one variable per resident
    point and candidate, so a county's 10,000 micro-grids are gathered first (resolution 8:
    cells of about 0.74 km²); the answer is then exact for the gathered demand, and a trip is
    measured from its cell's centre of population (aggregation error: Hillsman & Rhoda 1978)."""
    import h3

    cell = [
        h3.latlng_to_cell(lat, lon, resolution)
        for lon, lat in zip(people["lon"], people["lat"], strict=True)
    ]
    w = people["population"].to_numpy(float)
    frame = pd.DataFrame(
        {"cell": cell, "population": w, "wlon": w * people["lon"], "wlat": w * people["lat"]}
    )
    out = frame.groupby("cell").sum()
    out = out[out["population"] > 0]
    out["lon"], out["lat"] = (
        out.pop("wlon") / out["population"],
        out.pop("wlat") / out["population"],
    )
    return out


@dataclass(frozen=True)
class Demand:
    """What the location models see: residents' ``weights``, their minutes to the nearest
    existing site (``today``; inf where none) and to each candidate (``minutes``, demand x
    candidates), and the time within which a resident counts as reached."""

    weights: np.ndarray
    today: np.ndarray
    minutes: np.ndarray
    max_minutes: float

    def __post_init__(self) -> None:
        n = self.minutes.shape[0]
        if self.weights.shape != (n,) or self.today.shape != (n,):
            raise ValueError("weights, today and the rows of minutes must be the same residents")
        if self.max_minutes <= 0:
            raise ValueError(f"the time limit must be positive, not {self.max_minutes} minutes")

    @property
    def total(self) -> float:
        return float(self.weights.sum())

    def times(self, chosen: list[int]) -> np.ndarray:
        """Each resident's minutes to the nearest of today's sites and the ``chosen``."""
        if not chosen:
            return self.today
        return np.minimum(self.today, self.minutes[:, chosen].min(axis=1))

    def reached(self, chosen: list[int]) -> float:
        return float(self.weights[self.times(chosen) <= self.max_minutes].sum())

    def resident_minutes(self, chosen: list[int]) -> float:
        """Total resident-weighted minutes, an unreachable trip counted as ``unreachable``."""
        return float((self.weights * self._capped(self.times(chosen))).sum())

    def _capped(self, t: np.ndarray) -> np.ndarray:
        return np.where(np.isfinite(t), t, self.unreachable)

    @cached_property
    def unreachable(self) -> float:
        """The minutes a trip the network cannot make counts for in p-median: the longest
        finite trip in the data, plus one (so reaching such residents is always worth it)."""
        finite = np.r_[self.today[np.isfinite(self.today)], self.minutes[np.isfinite(self.minutes)]]
        return float(finite.max()) + 1.0 if len(finite) else 1.0


@dataclass(frozen=True)
class Siting:
    """Chosen candidates (column positions; greedy ones in the order chosen), the residents
    reached within the time limit and the total resident-minutes with today's sites kept, whether
    that is proven optimal, and the solve's wall time in seconds."""

    method: str
    chosen: list[int]
    reached: float
    resident_minutes: float
    optimal: bool
    seconds: float


def mclp(demand: Demand, n: int, time_limit: float | None = None) -> Siting:
    """The at most ``n`` candidates that bring the most residents newly within the time limit
    (exact: spopt ``MCLP.from_cost_matrix``, CBC)."""
    from spopt.locate import MCLP

    t0 = time.perf_counter()
    reachable = (demand.minutes <= demand.max_minutes).any(axis=1)
    rows = np.flatnonzero(reachable & ~(demand.today <= demand.max_minutes))
    useful = np.flatnonzero((demand.minutes[rows] <= demand.max_minutes).any(axis=0))
    n = min(n, len(useful))
    if n <= 0:
        return _siting("MCLP (exact)", demand, [], True, t0)
    # Residents already reached or out of every candidate's reach do not change the choice.
    within = demand.minutes[np.ix_(rows, useful)] <= demand.max_minutes
    with quiet_pulp():
        model = MCLP.from_cost_matrix(np.where(within, 0.0, 1.0), demand.weights[rows], 0.5, n)
    optimal = cbc(model.problem, "MCLP", time_limit)
    picked = [int(useful[j]) for j, y in enumerate(model.fac_vars) if (y.value() or 0) > 0.5]
    return _siting("MCLP (exact)", demand, _by_gain(demand, picked, "mclp"), optimal, t0)


def pmedian(demand: Demand, n: int, time_limit: float | None = None) -> Siting:
    """The ``n`` candidates that most lower the residents' total travel time to their nearest
    site, today's kept (exact: spopt ``PMedian.from_cost_matrix``, CBC)."""
    from spopt.locate import PMedian

    t0 = time.perf_counter()
    today = demand._capped(demand.today)
    minutes = demand._capped(demand.minutes)
    rows = np.flatnonzero((minutes < today[:, None]).any(axis=1))
    useful = np.flatnonzero((minutes[rows] < today[rows, None]).any(axis=0))
    n = min(n, len(useful))
    if n <= 0:
        return _siting("p-median (exact)", demand, [], True, t0)
    # Column 0: today's nearest site for each resident, forced open; then the candidates.
    has_sites = bool(np.isfinite(demand.today).any())
    cost = minutes[np.ix_(rows, useful)]
    forced = None
    if has_sites:
        cost = np.column_stack([today[rows], cost])
        forced = np.r_[1, np.zeros(len(useful), dtype=int)]
    with quiet_pulp():
        model = PMedian.from_cost_matrix(
            cost, demand.weights[rows], n + has_sites, predefined_facilities_arr=forced
        )
    optimal = cbc(model.problem, "p-median", time_limit)
    open_ = [j for j, y in enumerate(model.fac_vars) if (y.value() or 0) > 0.5]
    picked = [int(useful[j - has_sites]) for j in open_ if j >= has_sites]
    return _siting("p-median (exact)", demand, _by_gain(demand, picked, "pmedian"), optimal, t0)


def greedy_mclp(demand: Demand, n: int) -> Siting:
    """Candidates one by one, each the one that brings the most residents newly reached."""
    t0 = time.perf_counter()
    within = demand.minutes <= demand.max_minutes
    left = np.where(demand.today <= demand.max_minutes, 0.0, demand.weights)
    picked: list[int] = []
    for _ in range(min(n, within.shape[1])):
        gains = left @ within
        gains[picked] = -1.0
        best = int(gains.argmax())  # ties: the first candidate
        if gains[best] <= 0:
            break
        picked.append(best)
        left[within[:, best]] = 0.0
    return _siting("MCLP (greedy)", demand, picked, False, t0)


def greedy_pmedian(demand: Demand, n: int) -> Siting:
    """Candidates one by one, each the one that most lowers the total resident-minutes."""
    t0 = time.perf_counter()
    current = demand._capped(demand.today)
    minutes = demand._capped(demand.minutes)
    picked: list[int] = []
    for _ in range(min(n, minutes.shape[1])):
        saving = demand.weights @ np.maximum(current[:, None] - minutes, 0.0)
        saving[picked] = -1.0
        best = int(saving.argmax())
        if saving[best] <= 0:
            break
        picked.append(best)
        current = np.minimum(current, minutes[:, best])
    return _siting("p-median (greedy)", demand, picked, False, t0)


def gap(demand: Demand, exact: Siting, greedy: Siting) -> float:
    """What the greedy answer gives up against the exact one: for MCLP the share of the exact
    answer's newly reached residents it misses, for p-median the share of resident-minutes it
    adds to the exact total."""
    if exact.method.startswith("MCLP"):
        gained = exact.reached - demand.reached([])
        return (exact.reached - greedy.reached) / gained if gained > 0 else 0.0
    if exact.resident_minutes <= 0:
        return 0.0
    return (greedy.resident_minutes - exact.resident_minutes) / exact.resident_minutes


def summary(demand: Demand, *choices: Siting) -> pd.DataFrame:
    """Today and each answer side by side: sites added, residents reached and their share, the
    gain over today, mean minutes to the nearest site, optimality, solve seconds and, for a
    greedy answer, its gap to the exact one of the same model."""
    today = Siting("today", [], demand.reached([]), demand.resident_minutes([]), True, 0.0)
    exact = {c.method.split(" ")[0]: c for c in choices if not c.method.endswith("(greedy)")}
    rows = []
    for c in (today, *choices):
        model = c.method.split(" ")[0]
        greedy = c.method.endswith("(greedy)") and model in exact
        rows.append(
            {
                "method": c.method,
                "new sites": len(c.chosen),
                "reached": c.reached,
                "share": c.reached / demand.total if demand.total else np.nan,
                "gain": c.reached - today.reached,
                "mean minutes": c.resident_minutes / demand.total if demand.total else np.nan,
                "optimal": c.optimal,
                "seconds": c.seconds,
                "gap": gap(demand, exact[model], c) if greedy else np.nan,
            }
        )
    return pd.DataFrame(rows).set_index("method")


def _siting(method: str, demand: Demand, chosen: list[int], optimal: bool, t0: float) -> Siting:
    return Siting(
        method,
        chosen,
        demand.reached(chosen),
        demand.resident_minutes(chosen),
        optimal,
        time.perf_counter() - t0,
    )


def _by_gain(demand: Demand, picked: list[int], model: str) -> list[int]:
    """An exact answer listed as a planner reads it: the site that adds most first."""
    score = demand.reached if model == "mclp" else (lambda c: -demand.resident_minutes(c))
    order: list[int] = []
    left = list(picked)
    while left:
        best = max(left, key=lambda j: score([*order, j]))
        order.append(best)
        left.remove(best)
    return order
