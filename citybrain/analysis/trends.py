"""Incident trends: months by category, and the grids that changed most against the quarter
before."""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd


def monthly(incidents: pd.DataFrame, tz: str = "Asia/Shanghai") -> pd.DataFrame:
    """Incidents per local month (rows) and category (columns)."""
    month = incidents["reported_at"].dt.tz_convert(tz).dt.tz_localize(None).dt.to_period("M")
    return incidents.groupby([month, "category"]).size().unstack(fill_value=0)


def quarter_change(incidents: pd.DataFrame, end: datetime, by: str = "grid") -> pd.DataFrame:
    """Incidents per ``by`` in the 90 days before ``end`` against the 90 days before those,
    with the change, sorted by the size of the change."""
    q = timedelta(days=90)
    at = incidents["reported_at"]
    now = incidents[(at >= end - q) & (at < end)].groupby(by).size()
    before = incidents[(at >= end - 2 * q) & (at < end - q)].groupby(by).size()
    out = pd.DataFrame({"this_quarter": now, "last_quarter": before}).fillna(0).astype(int)
    out["change"] = out["this_quarter"] - out["last_quarter"]
    out["ratio"] = out["this_quarter"] / out["last_quarter"].where(out["last_quarter"] > 0)
    return out.reindex(out["change"].abs().sort_values(ascending=False).index)
