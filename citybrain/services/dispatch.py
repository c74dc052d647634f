"""Dispatch recommendation: where the incident is, who should go (网格连心: the grid's own team
first when it can), which cameras see the spot (雪亮工程), and which tier handles it (分级诊疗).

One database round trip (a pipeline of three statements), then ETAs from the in-memory router
(which follows changes of the road network within seconds, see ``RouterHolder``). The ranking
by ETA is exact over all eligible teams: the nearest twelve are timed first, then the farther
teams that the router cannot rule out (``Router.reach_m``), from their positions alone; the
few that make the ranking are read in full.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from psycopg import AsyncConnection
from psycopg.rows import dict_row

from citybrain.alerts import store as alert_store
from citybrain.crs import min_metres_per_degree
from citybrain.domain import (
    CATEGORIES_BY_NAME,
    initial_tier,
    why_team_cannot_take,
)
from citybrain.errors import InvalidInput, NotFound
from citybrain.services.routing import Router, straight_line_eta
from citybrain.sql import load

MAX_CAMERA_RANGE_M = 500.0  # enforced by a check constraint on cameras.range_m
NEAREST = 12  # the LIMIT of dispatch/candidate_teams.sql


def tier_rule(category: str, severity: int) -> tuple[str, str]:
    tier = str(initial_tier(category, severity))
    base = str(CATEGORIES_BY_NAME[category].base_tier)
    if tier == base:
        why = f"{category} starts at the {base} tier"
    else:
        why = f"severity {severity} raises {category} from the {base} to the {tier} tier"
    return tier, why


def why_not(team: dict[str, Any], category: str) -> str | None:
    """Why a team cannot take a case now, or None when it can (``domain``'s rule)."""
    why = why_team_cannot_take(
        team["status"], team["skills"], team["active"], team["capacity"], category
    )
    return None if why is None else f"team {why}"


def _etas(router: Router, teams: list[dict[str, Any]], lon: float, lat: float) -> np.ndarray:
    if not teams:
        return np.empty(0)
    return router.etas(
        np.array([t["lon"] for t in teams]), np.array([t["lat"] for t in teams]), lon, lat
    )


async def _teams(conn: AsyncConnection, ids: list[int], point: dict[str, float]) -> list[dict]:
    cur = conn.cursor(row_factory=dict_row)
    return await (await cur.execute(load("dispatch/team"), {**point, "ids": ids})).fetchall()


async def _sooner_beyond(
    conn: AsyncConnection,
    router: Router,
    other_etas: list[float],
    slots: int,
    nearest_m: float,
    seen: list[int],
    point: dict[str, float],
    category: str,
) -> list[dict[str, Any]]:
    """The eligible teams beyond the nearest (all of them at least ``nearest_m`` away) that
    could still take one of ``slots`` places ranked by ETA, so that the ranking is exact, not
    just the best of the nearest. Teams that the router cannot rule out (``reach_m``) are
    timed from their positions alone; only those at least as quick as the slowest ETA holding
    a place now are read in full."""
    if slots <= 0:
        return []
    ranked = sorted(other_etas)
    bound = ranked[slots - 1] if len(ranked) >= slots else float("inf")
    radius = router.reach_m(point["lon"], point["lat"], bound)
    if radius <= nearest_m:
        return []  # every team not seen is farther, so too far to be sooner
    box = min(radius / min_metres_per_degree(point["lat"]), 360.0)
    cur = conn.cursor(row_factory=dict_row)
    ring = await (
        await cur.execute(
            load("dispatch/team_positions"),
            {**point, "box": box, "skill": category, "seen": seen},
        )
    ).fetchall()
    etas = _etas(router, ring, point["lon"], point["lat"])
    quick = [t["id"] for t, eta in zip(ring, etas, strict=True) if not eta > bound]
    if not quick:
        return []
    return [t for t in await _teams(conn, quick, point) if not why_not(t, category)]


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
    location, teams_near, covering, alerts = await _read(conn, point, category)
    teams = list(teams_near)
    own = location.pop("team")
    if own is not None and all(t["id"] != own["id"] for t in teams):
        # Not among the nearest eligible: fetch it to say why (or to add it after all).
        teams += await _teams(conn, [own["id"]], point)
    candidates = [t for t in teams if not why_not(t, category)]
    own_problem = why_not(next(t for t in teams if t["id"] == own["id"]), category) if own else None
    routed = router is not None
    if router is not None:
        etas = list(_etas(router, candidates, lon, lat))
        if len(teams_near) == NEAREST:  # there may be more eligible teams farther away
            is_own = [own is not None and t["id"] == own["id"] for t in candidates]
            more = await _sooner_beyond(
                conn,
                router,
                [e for e, mine in zip(etas, is_own, strict=True) if not mine],
                limit - any(is_own),
                max(t["distance_m"] for t in teams_near),
                [t["id"] for t in teams],
                point,
                category,
            )
            candidates += more
            etas += list(_etas(router, more, lon, lat))
        method = "road_network"
    else:
        etas = [straight_line_eta(t["distance_m"]).seconds for t in candidates]
        method = "straight_line"
    tier, why = tier_rule(category, severity)
    return {
        "location": location,
        "responsible_team": own,
        "responsible_team_problem": own_problem,
        "teams": _ranked(candidates, etas, own, routed)[:limit],
        "eta_method": method,
        "cameras": [
            {**c, "distance_m": round(c["distance_m"], 1), "bearing": round(c["bearing"], 1)}
            for c in covering
        ],
        "tier": tier,
        "tier_reason": why,
        "alerts": alerts,
    }


async def _read(
    conn: AsyncConnection, point: dict[str, float], category: str
) -> tuple[dict[str, Any], list[dict], list[dict], list[dict]]:
    """One round trip: where the point is (its chain and its grid's team), the nearest
    eligible teams, the cameras that see it, and the open alerts of the areas holding it; 404
    outside the county."""
    per_degree = min_metres_per_degree(point["lat"])
    cameras = {**point, "box": MAX_CAMERA_RANGE_M / per_degree, "per_degree": per_degree}
    async with conn.pipeline():
        c1 = await conn.cursor(row_factory=dict_row).execute(load("dispatch/locate"), point)
        c2 = await conn.cursor(row_factory=dict_row).execute(
            load("dispatch/candidate_teams"), {**point, "skill": category}
        )
        c3 = await conn.cursor(row_factory=dict_row).execute(
            load("dispatch/covering_cameras"), cameras
        )
        c4 = await alert_store.containing(conn, point["lon"], point["lat"])
    location = await c1.fetchone()
    if location is None:
        lon, lat = point["lon"], point["lat"]
        raise NotFound(f"({lon}, {lat}) is outside the county: no micro-grid contains it")
    return location, await c2.fetchall(), await c3.fetchall(), await c4.fetchall()


def _ranked(
    candidates: list[dict[str, Any]], etas: list, own: dict[str, Any] | None, routed: bool
) -> list[dict[str, Any]]:
    """The candidates as answered: the grid's own team first, then by ETA (unreachable last)."""
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
                "position_at": team["position_at"],
                "responsible": is_own,
                "reason": reason,
            }
        )
    ranked.sort(key=lambda t: (not t["responsible"], t["eta_s"] is None, t["eta_s"] or 0, t["id"]))
    return ranked
