"""Outbreaks with ground truth (``citybrain seed --outbreaks N``): clusters of one category
put into single compounds over a day or a few, on top of the normal year, and recorded
(``outbreaks`` table) so that early warning can be measured: which were found, how soon.
The normal seed has none."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
import shapely

from citybrain.domain import CATEGORIES, Status, initial_tier
from citybrain.synth.geometry import sample_in_each
from citybrain.synth.hierarchy import Hierarchy

SIZES = (6, 10, 16, 24)  # incidents in an outbreak, in turn
AFTER_STATUS = ["dispatched_at", "on_site_at", "resolved_at", "closed_at", "escalated_at"]


@dataclass(frozen=True)
class Outbreaks:
    incidents: pd.DataFrame  # the whole year with the outbreaks' incidents, ids renumbered
    truth: pd.DataFrame  # compound_code, category, started_at, ended_at, size, x, y, incident_ids


def inject(
    h: Hierarchy,
    incidents: pd.DataFrame,
    n: int,
    rng: np.random.Generator,
    end: datetime,
    within_days: int = 60,
    sizes: tuple[int, ...] = SIZES,
    max_days: float = 3.0,
) -> Outbreaks:
    """``n`` outbreaks starting in the last ``within_days`` days before ``end``: each in one
    compound (uniform points inside it), of one category, ``sizes[i % len(sizes)]``
    incidents spread uniformly over 0.5 to ``max_days`` days. Each incident copies the
    workflow of a closed incident of its category, moved to its time; one whose copied
    workflow would end after ``end`` is still waiting (reported)."""
    if n == 0:
        return Outbreaks(incidents, _truth_frame([]))
    compounds = h.compounds
    which = rng.choice(len(compounds.frame), n, replace=False)
    shares = np.array([c.share for c in CATEGORIES])
    categories = rng.choice([c.name for c in CATEGORIES], n, p=shares / shares.sum())
    end_ts = pd.Timestamp(end).tz_convert("UTC")
    rows, truth = [], []
    for i, (c, category) in enumerate(zip(which, categories, strict=True)):
        size = sizes[i % len(sizes)]
        days = rng.uniform(0.5, max_days)
        start = end_ts - pd.Timedelta(days=rng.uniform(days, within_days))
        start = start.floor("s")
        times = start + pd.to_timedelta(np.sort(rng.uniform(0, days * 86_400, size)), "s")
        times = times.floor("s")
        xy = sample_in_each(np.repeat(compounds.geoms[c], size), rng)
        pool = incidents.index[
            (incidents["category"] == category) & (incidents["status"] == str(Status.closed))
        ]
        copied = incidents.loc[rng.choice(pool, size)].reset_index(drop=True)
        shift = pd.Series(times) - copied["reported_at"]
        for col in ["reported_at", "updated_at", *AFTER_STATUS]:
            copied[col] = copied[col] + shift
        late = (copied["closed_at"] > end_ts).to_numpy()
        if late.any():
            copied.loc[late, AFTER_STATUS] = pd.NaT
            copied.loc[late, "status"] = str(Status.reported)
            copied.loc[late, "team_id"] = pd.NA
            copied.loc[late, "updated_at"] = copied.loc[late, "reported_at"]
            copied.loc[late, "tier"] = [
                str(initial_tier(category, int(s))) for s in copied.loc[late, "severity"]
            ]
        copied["x"], copied["y"] = xy[:, 0], xy[:, 1]
        copied["outbreak"] = i
        rows.append(copied)
        centre = shapely.point_on_surface(compounds.geoms[c])
        truth.append(
            {
                "compound_code": compounds.frame["code"].iloc[c],
                "category": category,
                "started_at": times.min(),
                "ended_at": times.max(),
                "size": size,
                "x": centre.x,
                "y": centre.y,
            }
        )
    merged = pd.concat([incidents.assign(outbreak=-1), *rows], ignore_index=True)
    merged = merged.sort_values("reported_at", kind="stable").reset_index(drop=True)
    merged["id"] = np.arange(1, len(merged) + 1)
    ids = merged.groupby("outbreak")["id"].apply(list)
    frame = _truth_frame(truth)
    frame["incident_ids"] = [sorted(ids.loc[i]) for i in range(n)]
    return Outbreaks(merged.drop(columns="outbreak"), frame)


def _truth_frame(rows: list[dict]) -> pd.DataFrame:
    columns = ["compound_code", "category", "started_at", "ended_at", "size", "x", "y"]
    frame = pd.DataFrame(rows, columns=columns)
    if frame.empty:
        frame["incident_ids"] = []
    return frame
