"""Service accessibility for one kind of site: how long residents travel to a cultural hall
(文化礼堂) or a party-and-people service centre (党群服务中心) along the roads, how much of a
site's capacity each micro-grid can count on, and where new sites would serve most.

``service_sites``, ``accessibility`` and ``new_sites`` take one kind of site (a
``domain.FacilityKind`` and the column holding its capacity) through every step, so halls and
service centres are analysed by the same code:

* travel times along the roads, by car or on foot (``travel``);
* accessibility, 2SFCA and E2SFCA, per micro-grid and per area (``catchment``);
* new sites by MCLP and p-median, exact and greedy, today's sites kept (``location``).

The straight-line and road-length helpers for radius questions ("within 1 km") are in
``radius``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from citybrain.analysis.catchment import by_area, catchment_scores, with_capacity
from citybrain.analysis.location import (
    Demand,
    Siting,
    demand_cells,
    greedy_mclp,
    greedy_pmedian,
    mclp,
    pmedian,
)
from citybrain.analysis.travel import nearest_minutes, travel_minutes
from citybrain.services.routing import ACCESS_KMH, Router


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
