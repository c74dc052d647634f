"""Accessibility of sites with a capacity: the two-step floating catchment area (2SFCA, Luo &
Wang 2003) and its enhanced form with distance-decay weights (E2SFCA, Luo & Qi 2009), computed
by PySAL's ``access`` on travel times (``travel``): per micro-grid, the site capacity its
residents can count on, per resident. A site without a recorded capacity takes
``DEFAULT_CAPACITY`` for its kind.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

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
