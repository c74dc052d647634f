"""Dispatch recommendation: where the incident is, who should go (网格连心: the grid's own team
first when it can), which cameras see the spot (雪亮工程), and which tier handles it (分级诊疗).

One database round trip (a pipeline of three statements), then ETAs from the in-memory router
(which follows changes of the road network within seconds, see ``RouterHolder``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from psycopg import AsyncConnection
from psycopg.rows import dict_row

from citybrain.crs import min_metres_per_degree
from citybrain.domain import CATEGORIES_BY_NAME, initial_tier
from citybrain.errors import InvalidInput, NotFound
from citybrain.services.routing import Router, straight_line_eta
from citybrain.sql import load

MAX_CAMERA_RANGE_M = 500.0  # enforced by a check constraint on cameras.range_m


def tier_rule(category: str, severity: int) -> tuple[str, str]:
    tier = str(initial_tier(category, severity))
    base = str(CATEGORIES_BY_NAME[category].base_tier)
    if tier == base:
        why = f"{category} starts at the {base} tier"
    else:
        why = f"severity {severity} raises {category} from the {base} to the {tier} tier"
    return tier, why


def why_not(team: dict[str, Any], category: str) -> str | None:
    """Why a team cannot take a case now, or None when it can."""
    if team["status"] != "available":
        return f"team is {team['status']}"
    if category not in team["skills"]:
        return f"team does not handle {category}"
    if team["active"] >= team["capacity"]:
        return f"team is at capacity ({team['active']} of {team['capacity']})"
    return None


async def recommend(
    conn: AsyncConnection,
    router: Router | None,
    lon: float,
    lat: float,
    category: str,
    severity: int = 1,
    limit: int = 5,
) -> dict[str, Any]:
    if category not in CATEGORIES_BY_NAME:
        known = ", ".join(CATEGORIES_BY_NAME)
        raise InvalidInput(f"unknown category {category!r}; one of: {known}")
    point = {"lon": lon, "lat": lat}
    nearest = {**point, "skill": category}
    per_degree = min_metres_per_degree(lat)
    cameras = {**point, "box": MAX_CAMERA_RANGE_M / per_degree, "per_degree": per_degree}
    async with conn.pipeline():
        c1 = await conn.cursor(row_factory=dict_row).execute(load("dispatch/locate"), point)
        c2 = await conn.cursor(row_factory=dict_row).execute(
            load("dispatch/candidate_teams"), nearest
        )
        c3 = await conn.cursor(row_factory=dict_row).execute(
            load("dispatch/covering_cameras"), cameras
        )
    location = await c1.fetchone()
    if location is None:
        raise NotFound(f"({lon}, {lat}) is outside the county: no micro-grid contains it")
    teams = await c2.fetchall()
    covering = await c3.fetchall()

    own = location.pop("team")
    if own is not None and all(t["id"] != own["id"] for t in teams):
        # Not among the nearest eligible: fetch it to say why (or to add it after all).
        cur = conn.cursor(row_factory=dict_row)
        row = await (
            await cur.execute(load("dispatch/team"), {**point, "id": own["id"]})
        ).fetchone()
        teams.append(row)
    candidates = [t for t in teams if not why_not(t, category)]
    own_problem = why_not(next(t for t in teams if t["id"] == own["id"]), category) if own else None
    routed = router is not None
    if candidates and routed:
        etas = router.etas(
            np.array([t["lon"] for t in candidates]),
            np.array([t["lat"] for t in candidates]),
            lon,
            lat,
        )
        method = "road_network"
    else:
        etas = [straight_line_eta(t["distance_m"]).seconds for t in candidates]
        method = "straight_line"
    ranked = []
    for team, eta in zip(candidates, etas, strict=True):
        is_own = own is not None and team["id"] == own["id"]
        reason = (
            "网格连心: the responsible grid's own team"
            if is_own
            else (f"{eta / 60:.1f} min away by {'road' if routed else 'straight line'}")
        )
        ranked.append(
            {
                "id": team["id"],
                "name": team["name"],
                "grid_id": team["grid_id"],
                "status": team["status"],
                "active": team["active"],
                "capacity": team["capacity"],
                "distance_m": round(team["distance_m"], 1),
                "eta_s": round(float(eta), 1) if np.isfinite(eta) else None,
                "responsible": is_own,
                "reason": reason,
            }
        )
    ranked.sort(key=lambda t: (not t["responsible"], t["eta_s"] is None, t["eta_s"] or 0, t["id"]))
    tier, why = tier_rule(category, severity)
    return {
        "location": location,
        "responsible_team": own,
        "responsible_team_problem": own_problem,
        "teams": ranked[:limit],
        "eta_method": method,
        "cameras": [
            {**c, "distance_m": round(c["distance_m"], 1), "bearing": round(c["bearing"], 1)}
            for c in covering
        ],
        "tier": tier,
        "tier_reason": why,
    }
