"""Teams: one read, their writes (position, status) and a team's road route to a point."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from citybrain.errors import InvalidInput, NotFound
from citybrain.services.routing import Router, access_seconds, straight_line_eta
from citybrain.sql import load


async def team(conn: AsyncConnection, team_id: int) -> dict[str, Any]:
    cur = conn.cursor(row_factory=dict_row)
    row = await (await cur.execute(load("teams/read"), {"id": team_id})).fetchone()
    if row is None:
        raise NotFound(f"no team {team_id}")
    return row


async def move(
    conn: AsyncConnection, team_id: int, lon: float, lat: float, at: datetime
) -> dict[str, Any]:
    """The team is at (lon, lat) at ``at``; 400 outside the county (nothing is written)."""
    async with conn.transaction():
        cur = await conn.execute(
            load("teams/move"), {"id": team_id, "lon": lon, "lat": lat, "at": at}
        )
        row = await cur.fetchone()
        if row is None:
            raise NotFound(f"no team {team_id}")
        if row[0] is None:
            raise InvalidInput(f"({lon}, {lat}) is outside the county")
    return await team(conn, team_id)


async def set_status(conn: AsyncConnection, team_id: int, status: str) -> dict[str, Any]:
    cur = await conn.execute(load("teams/set_status"), {"id": team_id, "status": status})
    if await cur.fetchone() is None:
        raise NotFound(f"no team {team_id}")
    return await team(conn, team_id)


async def route(
    conn: AsyncConnection, roads: Router | None, team_id: int, lon: float, lat: float
) -> dict[str, Any]:
    """The team's route to (lon, lat) as a GeoJSON feature: the shortest path by pgRouting
    between the road vertices nearest each end, plus straight access legs; without a road
    network, a straight line and the straight-line estimate."""
    found = await team(conn, team_id)
    start, end = [found["lon"], found["lat"]], [lon, lat]
    if roads is None:
        points = {"lon0": start[0], "lat0": start[1], "lon1": lon, "lat1": lat}
        metres = (await (await conn.execute(load("teams/distance"), points)).fetchone())[0]
        eta = straight_line_eta(metres)
        return {
            "geometry": {"type": "LineString", "coordinates": [start, end]},
            "properties": {
                "team_id": team_id,
                "eta_s": round(eta.seconds, 1),
                "eta_method": eta.method,
            },
        }
    (a, b), access = roads.snap([start[0], end[0]], [start[1], end[1]])
    cur = conn.cursor(row_factory=dict_row)
    ends = {"source": int(roads.vertex_ids[a]), "target": int(roads.vertex_ids[b])}
    path = await (await cur.execute(load("dispatch/route"), ends)).fetchone()
    access_m = float(access.sum())
    return {
        "geometry": path["geometry"] or {"type": "LineString", "coordinates": [start, end]},
        "properties": {
            "team_id": team_id,
            "eta_s": round(path["cost_s"] + access_seconds(access_m), 1),
            "eta_method": "road_network",
            "network_s": round(path["cost_s"], 1),
            "access_m": round(access_m, 1),
            "road_length_m": round(path["length_m"], 1),
        },
    }
