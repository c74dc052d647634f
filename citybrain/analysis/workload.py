"""Grid workload: incidents per team member per grid, on-time rates, the busiest and idlest
grids, and a proposal to rebalance them (split the overloaded, merge idle neighbours)."""

from __future__ import annotations

import pandas as pd


def workload(grids: pd.DataFrame, teams: pd.DataFrame, incidents: pd.DataFrame) -> pd.DataFrame:
    """Per grid (``grids``: index id, name, village_id): incidents handled by its team,
    members, incidents per member, and the shares dispatched and resolved on time.

    ``teams``: grid_id, members (list); ``incidents``: team_id, dispatched_at, resolved_at,
    dispatched_on_time, resolved_on_time (whether each done step met its category's time limit,
    on the clock or in working hours, as ``analysis/incidents.sql`` reads them)."""
    members = teams.set_index("grid_id")["members"].map(len)
    team_grid = teams.set_index("id")["grid_id"] if "id" in teams else teams["grid_id"]
    inc = incidents[incidents["team_id"].notna()].copy()
    inc["grid_id"] = inc["team_id"].map(team_grid)
    dispatched = inc["dispatched_at"].notna()
    resolved = inc["resolved_at"].notna()
    inc["dispatch_ok"] = dispatched & inc["dispatched_on_time"].eq(True)
    inc["resolve_ok"] = resolved & inc["resolved_on_time"].eq(True)
    inc["dispatched"], inc["resolved"] = dispatched, resolved
    per = inc.groupby("grid_id").agg(
        incidents=("team_id", "size"),
        dispatched=("dispatched", "sum"),
        dispatch_ok=("dispatch_ok", "sum"),
        resolved=("resolved", "sum"),
        resolve_ok=("resolve_ok", "sum"),
    )
    out = grids[["name", "village_id"]].join(per, how="left").fillna(0)
    out["members"] = members.reindex(out.index).fillna(0).astype(int)
    out["per_member"] = out["incidents"] / out["members"].where(out["members"] > 0)
    out["dispatched_on_time"] = out["dispatch_ok"] / out["dispatched"].where(out["dispatched"] > 0)
    out["resolved_on_time"] = out["resolve_ok"] / out["resolved"].where(out["resolved"] > 0)
    return out.drop(columns=["dispatched", "dispatch_ok", "resolved", "resolve_ok"])


def rebalance(
    load: pd.DataFrame, neighbours: pd.DataFrame, split_over: float = 2.0, merge_under: float = 0.5
) -> pd.DataFrame:
    """Proposals: ``split`` a grid whose incidents per member exceed ``split_over`` times the
    county median; ``merge`` two neighbouring grids of one village that both stay under
    ``merge_under`` times the median (each grid at most once, the idlest pairs first).
    ``neighbours``: pairs of grid ids (a, b) that share a boundary."""
    median = load["per_member"].median()
    proposals = [
        {
            "action": "split",
            "grids": [gid],
            "per_member": row.per_member,
            "reason": f"{row.per_member:.1f} incidents per member, {row.per_member / median:.1f}x "
            "the county median",
        }
        for gid, row in load[load["per_member"] > split_over * median]
        .sort_values("per_member", ascending=False)
        .iterrows()
    ]
    idle = load["per_member"] < merge_under * median
    pairs = neighbours[neighbours["a"].map(idle) & neighbours["b"].map(idle)].copy()
    same_village = (
        load.loc[pairs["a"], "village_id"].to_numpy()
        == load.loc[pairs["b"], "village_id"].to_numpy()
    )
    pairs = pairs[same_village]
    pairs["combined"] = (
        load.loc[pairs["a"], "incidents"].to_numpy() + load.loc[pairs["b"], "incidents"].to_numpy()
    ) / (load.loc[pairs["a"], "members"].to_numpy() + load.loc[pairs["b"], "members"].to_numpy())
    used: set[int] = set()
    for a, b, combined in pairs.sort_values("combined")[["a", "b", "combined"]].itertuples(
        index=False
    ):
        if a in used or b in used:
            continue
        used |= {a, b}
        proposals.append(
            {
                "action": "merge",
                "grids": [a, b],
                "per_member": combined,
                "reason": f"together {combined:.1f} incidents per member "
                f"(county median {median:.1f})",
            }
        )
    return pd.DataFrame(proposals, columns=["action", "grids", "per_member", "reason"])
