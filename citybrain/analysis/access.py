"""Service accessibility: how long residents travel to a cultural hall (文化礼堂) or a
party-and-people service centre (党群服务中心) along the roads, how much of a site's capacity
each micro-grid can count on, and where new sites would serve most.

* **Travel times** (minutes) go along the road network through citybrain's router
  (``services.routing.Router``, the graph dispatch uses): by car at each road's own speed, or on
  foot at one stated speed on every road in both directions; straight legs join a point to its
  nearest road vertex at the access speed. Residents travel *to* a site, so the router's reversed
  graph gives, from one Dijkstra per site, every resident's time to it.
* **Accessibility**: the two-step floating catchment area (2SFCA, Luo & Wang 2003) and its
  enhanced form with distance-decay weights (E2SFCA, Luo & Qi 2009), computed by PySAL's
  ``access`` on those travel times: per micro-grid, the site capacity its residents can count
  on, per resident. A site without a recorded capacity takes ``DEFAULT_CAPACITY`` for its kind.
* **New sites**: the maximal covering location problem (MCLP, Church & ReVelle 1974) — the N
  new sites that bring the most residents not yet within T minutes of a site — and the p-median
  problem (Hakimi 1964) — the N that most lower the residents' total travel time — built by
  ``spopt.locate`` and solved exactly by CBC, with the greedy choice beside them and its gap.

Today's sites stay open: they enter the models in a form that gives the same optimum as forcing
every one of them in, but with one column instead of one per site. MCLP leaves out residents
already reached (a new site cannot gain them) and those no candidate reaches; p-median forces in
one column holding each resident's time to the nearest existing site, since the nearest of
"existing or new" is what a resident travels, and leaves out residents for whom no candidate is
nearer than today's site (their time is fixed). Both are exact reductions, not approximations.

``service_sites``, ``accessibility`` and ``new_sites`` take one kind of site (a
``domain.FacilityKind`` and the column holding its capacity) through all of the above, so halls
and service centres are analysed by the same code.

The straight-line and road-length helpers (``straight_distance``, ``road_distance``,
``greedy_sites``) stay for radius questions ("within 1 km").
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from citybrain.analysis.solve import cbc, quiet_pulp
from citybrain.crs import LOCAL
from citybrain.services.routing import ACCESS_KMH, Router

WALK_KMH = 4.5  # an older resident's walking pace
# Seats or people served at once, where the facilities table holds no capacity: the provincial
# guidance's usual sizes (a cultural hall's auditorium; the service centre's hall by level).
DEFAULT_CAPACITY: Mapping[tuple[str, str | None], int] = {
    ("cultural_hall", None): 300,
    ("party_service_centre", "county"): 1000,
    ("party_service_centre", "town"): 300,
    ("party_service_centre", "village"): 100,
    ("party_service_centre", "station"): 30,
}
# Luo & Qi (2009): three travel-time zones of a catchment weighted 1, 0.68 and 0.22 (a Gaussian
# decay sampled at each zone), here as thirds of the catchment.
E2SFCA_WEIGHTS = (1.0, 0.68, 0.22)


# --- travel times ---------------------------------------------------------------------------


def road_router(vertices: pd.DataFrame, roads: pd.DataFrame, kmh: float | None = None) -> Router:
    """citybrain's router over a road network (``vertices``: id, lon, lat; ``roads``: source,
    target, length_m, cost, reverse_cost as ``load.road_network`` reads them). ``kmh`` None:
    driving, each road at its own travel seconds and one-way where it is; a speed: every road
    at that speed both ways (walking ignores one-way signs)."""
    if kmh is None:
        cost, reverse = roads["cost"].to_numpy(float), roads["reverse_cost"].to_numpy(float)
    else:
        if kmh <= 0:
            raise ValueError(f"a speed must be positive, not {kmh} km/h")
        cost = roads["length_m"].to_numpy(float) / (kmh / 3.6)
        reverse = cost
    return Router(
        "walk" if kmh else "drive",
        vertices["id"].to_numpy(np.int64),
        vertices["lon"].to_numpy(float),
        vertices["lat"].to_numpy(float),
        roads["source"].to_numpy(np.int64),
        roads["target"].to_numpy(np.int64),
        cost,
        reverse,
    )


def travel_minutes(
    router: Router, origins: pd.DataFrame, sites: pd.DataFrame, access_kmh: float = ACCESS_KMH
) -> np.ndarray:
    """Minutes from each origin (rows) to each site (columns), both with ``lon``/``lat``: the
    straight leg to the origin's nearest vertex, the network time to the site's nearest vertex
    and the straight leg on to the site, legs at ``access_kmh`` (the router's for driving; pass
    the walking speed on foot). inf where the network does not connect them."""
    if access_kmh <= 0:
        raise ValueError(f"the access speed must be positive, not {access_kmh} km/h")
    out = np.full((len(origins), len(sites)), np.inf)
    if not len(origins) or not len(sites):
        return out
    o_vertex, o_leg = router.snap(origins["lon"].to_numpy(float), origins["lat"].to_numpy(float))
    s_vertex, s_leg = router.snap(sites["lon"].to_numpy(float), sites["lat"].to_numpy(float))
    unique, back = np.unique(s_vertex, return_inverse=True)
    # Dijkstra on the reversed graph from a site's vertex: every vertex's time *to* that site.
    to_site = dijkstra(router.graph_to, indices=unique)
    network = to_site[back][:, o_vertex].T
    legs = (o_leg[:, None] + s_leg[None, :]) / (access_kmh / 3.6)
    return (network + legs) / 60.0


def nearest_minutes(minutes: np.ndarray) -> np.ndarray:
    """Each row's time to its nearest site (inf with no site)."""
    return minutes.min(axis=1) if minutes.shape[1] else np.full(minutes.shape[0], np.inf)


# --- accessibility: 2SFCA and E2SFCA ----------------------------------------------------------


def with_capacity(sites: pd.DataFrame) -> pd.DataFrame:
    """``sites`` (facilities rows: kind, level, capacity) with ``capacity`` filled from
    ``DEFAULT_CAPACITY`` where it is empty, and ``capacity_source`` saying which."""
    out = sites.copy()
    level = out["level"] if "level" in out else pd.Series(None, index=out.index, dtype=object)
    default = np.array(
        [
            DEFAULT_CAPACITY.get((k, lv if isinstance(lv, str) else None), np.nan)
            for k, lv in zip(out["kind"], level, strict=True)
        ],
        dtype=float,
    )
    recorded = out["capacity"] if "capacity" in out else pd.Series(np.nan, index=out.index)
    missing = recorded.isna().to_numpy()
    unknown = missing & np.isnan(default)
    if unknown.any():
        kinds = sorted(set(out["kind"][unknown]))
        raise ValueError(f"no capacity recorded and no default for {kinds}: give a capacity")
    values = recorded.astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    out["capacity"] = np.where(missing, default, values)
    out["capacity_source"] = np.where(missing, "default", "recorded")
    return out


def catchment_scores(
    people: pd.DataFrame,
    sites: pd.DataFrame,
    minutes: np.ndarray,
    max_minutes: float,
    weights: tuple[float, ...] = E2SFCA_WEIGHTS,
) -> pd.DataFrame:
    """2SFCA and E2SFCA per row of ``people`` (``population``), for ``sites`` (``capacity``)
    at travel ``minutes`` (people x sites): the capacity per resident within ``max_minutes``
    (0 where no site is that close). E2SFCA weighs both steps by the zone of the catchment the
    trip falls in: ``weights`` for equal slices of ``max_minutes``. Computed with PySAL
    ``access`` (``Access.two_stage_fca``, ``enhanced_two_stage_fca``)."""
    from access import Access
    from access import weights as decay

    if max_minutes <= 0:
        raise ValueError(f"the catchment must be positive, not {max_minutes} minutes")
    out = pd.DataFrame(index=people.index, data={"2sfca": 0.0, "e2sfca": 0.0})
    rows, cols = np.nonzero(minutes <= max_minutes)
    if not len(rows):
        return out
    # Only the pairs inside the catchment: the others weigh nothing, and access would apply
    # its weight function to every pair of a dense matrix in Python.
    cost = pd.DataFrame(
        {"origin": people.index[rows], "dest": sites.index[cols], "cost": minutes[rows, cols]}
    )
    # access joins on the index names: give them one whatever the caller's frames hold.
    demand = pd.DataFrame(
        {"population": people["population"].to_numpy(float)},
        pd.Index(people.index, name="demand_id"),
    )
    supply = pd.DataFrame(
        {"capacity": sites["capacity"].to_numpy(float)}, pd.Index(sites.index, name="site_id")
    )
    model = Access(
        demand_df=demand,
        demand_value="population",
        supply_df=supply,
        supply_value="capacity",
        cost_df=cost,
        cost_origin="origin",
        cost_dest="dest",
        cost_name="cost",
    )
    two = model.two_stage_fca(name="2sfca", max_cost=max_minutes)
    zones = {max_minutes * (k + 1) / len(weights): w for k, w in enumerate(weights)}
    enhanced = model.enhanced_two_stage_fca(
        name="e2sfca", max_cost=max_minutes, weight_fn=decay.step_fn(zones)
    )
    out["2sfca"] = two.iloc[:, 0].reindex(people.index).fillna(0.0).to_numpy()
    out["e2sfca"] = enhanced.iloc[:, 0].reindex(people.index).fillna(0.0).to_numpy()
    return out


def by_area(people: pd.DataFrame, scores: pd.DataFrame, area: str = "village") -> pd.DataFrame:
    """Population-weighted mean of each score column per ``area``, with the residents."""
    weight = people["population"].to_numpy(float)
    frame = scores.mul(weight, axis=0).assign(residents=weight, _area=people[area].to_numpy())
    out = frame.groupby("_area").sum()
    out.index.name = area
    for c in scores.columns:
        out[c] = out[c] / out["residents"].where(out["residents"] > 0)
    return out[["residents", *scores.columns]]


# --- new sites: MCLP and p-median -----------------------------------------------------------


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


# --- one kind of site, from today's sites to new ones ----------------------------------------


@dataclass(frozen=True)
class ServiceSites:
    """One kind of site as residents reach it: today's ``sites`` (facilities rows, ``capacity``
    filled), the ``people`` and their travel ``minutes`` to each site (people x sites) along
    ``router``, with straight legs at ``access_kmh``."""

    kind: str
    sites: pd.DataFrame
    people: pd.DataFrame
    minutes: np.ndarray
    router: Router
    access_kmh: float


def service_sites(
    kind: str,
    facilities: pd.DataFrame,
    people: pd.DataFrame,
    router: Router,
    capacity: str = "capacity",
    access_kmh: float = ACCESS_KMH,
) -> ServiceSites:
    """The ``facilities`` (``kind``, ``level``, ``lon``, ``lat``) of one ``kind`` (a
    ``domain.FacilityKind``: ``cultural_hall``, ``party_service_centre``), their capacity read
    from the column ``capacity`` (empty: ``DEFAULT_CAPACITY``), and every resident's minutes to
    each (``people``: ``population``, ``lon``, ``lat``) along ``router``."""
    from citybrain.domain import FacilityKind

    if kind not in set(FacilityKind):
        raise ValueError(f"unknown facility kind {kind!r}: one of {', '.join(FacilityKind)}")
    if capacity not in facilities.columns:
        raise ValueError(f"no column {capacity!r} in the facilities to read capacities from")
    rows = facilities[facilities["kind"] == kind]
    sites = with_capacity(
        rows.drop(columns="capacity", errors="ignore").assign(capacity=rows[capacity])
    )
    minutes = travel_minutes(router, people, sites, access_kmh)
    return ServiceSites(kind, sites, people, minutes, router, access_kmh)


@dataclass(frozen=True)
class Accessibility:
    """2SFCA and E2SFCA of one kind of site in capacity per ``per`` residents: ``scores`` per
    row of people, ``areas`` their population-weighted mean per area (with its residents),
    ``county`` the mean over everyone, and the ``threshold`` of E2SFCA below which an area is
    listed in ``short`` (lowest first)."""

    scores: pd.DataFrame
    areas: pd.DataFrame
    county: pd.Series
    threshold: float

    @property
    def short(self) -> pd.DataFrame:
        return self.areas[self.areas["e2sfca"] < self.threshold].sort_values("e2sfca")


def accessibility(
    service: ServiceSites,
    max_minutes: float,
    per: float = 1000.0,
    below: float = 0.5,
    area: str = "village",
) -> Accessibility:
    """``catchment_scores`` within ``max_minutes`` of travel, per ``per`` residents, gathered
    by ``area`` (``by_area``); the areas whose E2SFCA is under ``below`` times the county's
    mean fall short."""
    if below < 0:
        raise ValueError(f"the share of the county's mean must not be negative, not {below}")
    people = service.people
    scores = catchment_scores(people, service.sites, service.minutes, max_minutes) * per
    weight = people["population"].to_numpy(float)
    county = scores.mul(weight, axis=0).sum() / weight.sum() if weight.sum() else scores.sum()
    return Accessibility(
        scores, by_area(people, scores, area), county, below * float(county["e2sfca"])
    )


@dataclass(frozen=True)
class NewSites:
    """Where ``n`` new sites of one kind serve most, today's kept: MCLP on the residents
    (``reach``: reached within ``max_minutes``) and p-median on them gathered into H3 cells
    (``travel``), each exact and greedy; ``candidates`` the rows the answers index."""

    candidates: pd.DataFrame
    reach: Demand
    covering: Siting
    covering_greedy: Siting
    travel: Demand
    median: Siting
    median_greedy: Siting

    def proposed(self, model: str = "mclp") -> pd.DataFrame:
        """The exact answer's candidates of ``mclp`` or ``pmedian``, in the order they add most,
        each with the residents it brings within the time limit (``adds reached``) and the
        resident-minutes it saves (``saves resident-minutes``), on that model's demand."""
        if model not in ("mclp", "pmedian"):
            raise ValueError(f"unknown model {model!r}: mclp or pmedian")
        choice, demand = (
            (self.covering, self.reach) if model == "mclp" else (self.median, self.travel)
        )
        chosen = choice.chosen
        out = self.candidates.iloc[chosen].copy()
        out["adds reached"] = [
            demand.reached(chosen[: k + 1]) - demand.reached(chosen[:k]) for k in range(len(chosen))
        ]
        out["saves resident-minutes"] = [
            demand.resident_minutes(chosen[:k]) - demand.resident_minutes(chosen[: k + 1])
            for k in range(len(chosen))
        ]
        return out


def new_sites(
    service: ServiceSites,
    candidates: pd.DataFrame,
    n: int,
    max_minutes: float,
    resolution: int | None = 8,
    time_limit: float | None = None,
) -> NewSites:
    """MCLP and p-median (exact and greedy) for ``n`` new sites among ``candidates`` (``lon``,
    ``lat``), a resident reached within ``max_minutes``; p-median's residents gathered into H3
    cells of ``resolution`` (``demand_cells``; None: each row of people on its own)."""
    router, kmh, people = service.router, service.access_kmh, service.people

    def demand(points: pd.DataFrame, today: np.ndarray) -> Demand:
        return Demand(
            points["population"].to_numpy(float),
            nearest_minutes(today),
            travel_minutes(router, points, candidates, kmh),
            max_minutes,
        )

    reach = demand(people, service.minutes)
    if resolution is None:
        travel = reach
    else:
        cells = demand_cells(people, resolution)
        travel = demand(cells, travel_minutes(router, cells, service.sites, kmh))
    return NewSites(
        candidates,
        reach,
        mclp(reach, n, time_limit),
        greedy_mclp(reach, n),
        travel,
        pmedian(travel, n, time_limit),
        greedy_pmedian(travel, n),
    )


# --- radius helpers (straight line, road length) --------------------------------------------


def _metres(lon, lat) -> np.ndarray:
    return np.column_stack(LOCAL.forward(np.asarray(lon, float), np.asarray(lat, float)))


def straight_distance(origins: pd.DataFrame, sites: pd.DataFrame) -> np.ndarray:
    """Metres from each origin (``lon``, ``lat``) to its nearest site."""
    if sites.empty:
        return np.full(len(origins), np.inf)
    dist, _ = cKDTree(_metres(sites["lon"], sites["lat"])).query(
        _metres(origins["lon"], origins["lat"])
    )
    return dist


def road_distance(
    origins: pd.DataFrame, sites: pd.DataFrame, vertices: pd.DataFrame, roads: pd.DataFrame
) -> np.ndarray:
    """Metres from each origin to its nearest site along the road network (``vertices``: id,
    lon, lat; ``roads``: source, target, length_m), plus straight legs to and from the nearest
    vertex; inf where the network does not connect them."""
    if sites.empty:
        return np.full(len(origins), np.inf)
    index = pd.Series(np.arange(len(vertices)), index=vertices["id"].to_numpy())
    s = index.loc[roads["source"]].to_numpy()
    t = index.loc[roads["target"]].to_numpy()
    w = roads["length_m"].to_numpy(float)
    tree = cKDTree(_metres(vertices["lon"], vertices["lat"]))
    site_leg, site_vertex = tree.query(_metres(sites["lon"], sites["lat"]))
    origin_leg, origin_vertex = tree.query(_metres(origins["lon"], origins["lat"]))
    # One Dijkstra from a virtual node joined to every site's vertex by the site's straight
    # leg: the distance to the nearest site, over all sites at once.
    n = len(vertices)
    rows = np.r_[s, t, np.full(len(site_vertex), n)]
    cols = np.r_[t, s, site_vertex]
    graph = csr_matrix((np.r_[w, w, site_leg + 1e-9], (rows, cols)), shape=(n + 1, n + 1))
    dist = dijkstra(graph, indices=n)
    return dist[origin_vertex] + origin_leg


def share_by_area(people: pd.DataFrame, reached: np.ndarray, area: str) -> pd.DataFrame:
    """Residents, residents reached and the share reached, per ``area`` (a column of people)."""
    frame = people.assign(reached=np.where(reached, people["population"], 0))
    out = frame.groupby(area).agg(residents=("population", "sum"), reached=("reached", "sum"))
    out["share"] = out["reached"] / out["residents"].where(out["residents"] > 0)
    return out.sort_values("share")


def greedy_sites(
    people: pd.DataFrame,
    candidates: pd.DataFrame,
    radius_m: float,
    k: int,
    already: np.ndarray | None = None,
) -> pd.DataFrame:
    """Choose ``k`` candidate sites one by one, each time the one that brings the most
    residents not yet within ``radius_m`` of a site (``already``: those reached today).
    Returns the chosen candidates in order with their gain and the running total."""
    reached = np.zeros(len(people), dtype=bool) if already is None else already.copy()
    pop = people["population"].to_numpy(float)
    tree = cKDTree(_metres(people["lon"], people["lat"]))
    near = tree.query_ball_point(_metres(candidates["lon"], candidates["lat"]), r=radius_m)
    chosen = []
    for _ in range(min(k, len(candidates))):
        gains = np.array([pop[idx][~reached[idx]].sum() if idx else 0.0 for idx in near])
        best = int(gains.argmax())
        if gains[best] <= 0:
            break
        reached[near[best]] = True
        chosen.append(
            {
                "candidate": candidates.index[best],
                "gain": gains[best],
                "reached": pop[reached].sum(),
            }
        )
    out = pd.DataFrame(chosen, columns=["candidate", "gain", "reached"])
    out["share"] = out["reached"] / pop.sum() if pop.sum() else np.nan
    return out
