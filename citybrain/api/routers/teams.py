"""``/teams``: a team, its position and status (writes), and its route to a point."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from psycopg.rows import dict_row
from pydantic import BaseModel

from citybrain.api.auth import Principal, PrincipalDep, require
from citybrain.api.deps import ConnDep
from citybrain.api.params import PointDep, PointIn
from citybrain.api.responses import errors
from citybrain.domain import TeamStatus
from citybrain.errors import InvalidInput, NotFound
from citybrain.services.routing import ACCESS_KMH, straight_line_eta
from citybrain.sql import load

router = APIRouter(prefix="/teams", tags=["teams"], responses=errors(401, 403))
TeamId = Annotated[int, Path(ge=1, le=2**31 - 1)]
DispatcherDep = Annotated[Principal, require("dispatcher")]


class Team(BaseModel):
    id: int
    name: str
    grid_id: int
    status: str
    skills: list[str]
    members: list[dict[str, str]]
    capacity: int
    active: int
    lon: float
    lat: float
    micro_grid_id: int | None
    position_at: datetime


class StatusIn(BaseModel):
    status: TeamStatus


async def _team(conn: ConnDep, team_id: int) -> dict[str, Any]:
    cur = conn.cursor(row_factory=dict_row)
    row = await (
        await cur.execute(
            "SELECT t.id, t.name, t.grid_id, t.status, t.skills, t.members, t.capacity, "
            "citybrain.team_active(t.id) AS active, "
            "ST_X(t.geom) AS lon, ST_Y(t.geom) AS lat, t.micro_grid_id, t.position_at "
            "FROM citybrain.teams t WHERE t.id = %s",
            [team_id],
        )
    ).fetchone()
    if row is None:
        raise NotFound(f"no team {team_id}")
    return row


@router.get("/{team_id}", response_model=Team)
async def read(team_id: TeamId, conn: ConnDep, who: PrincipalDep) -> dict[str, Any]:
    """A team; its members' names for viewers and above (anonymous callers: roles only)."""
    team = await _team(conn, team_id)
    if not who.reads_case_files:
        team["members"] = [{"role": m["role"]} for m in team["members"]]
    return team


@router.post("/{team_id}/position", response_model=Team, summary="A team moved")
async def move(team_id: TeamId, body: PointIn, conn: ConnDep, who: DispatcherDep) -> dict[str, Any]:
    point = body.wgs84()
    async with conn.transaction():
        row = await (
            await conn.execute(
                "UPDATE citybrain.teams SET geom = ST_SetSRID(ST_MakePoint(%s, %s), 4326), "
                "position_at = now() WHERE id = %s RETURNING micro_grid_id",
                [point.lon, point.lat, team_id],
            )
        ).fetchone()
        if row is None:
            raise NotFound(f"no team {team_id}")
        if row[0] is None:
            raise InvalidInput(f"({point.lon}, {point.lat}) is outside the county")
    return await _team(conn, team_id)


@router.post("/{team_id}/status", response_model=Team, summary="Set a team's status")
async def set_status(
    team_id: TeamId, body: StatusIn, conn: ConnDep, who: DispatcherDep
) -> dict[str, Any]:
    row = await (
        await conn.execute(
            "UPDATE citybrain.teams SET status = %s WHERE id = %s RETURNING id",
            [str(body.status), team_id],
        )
    ).fetchone()
    if row is None:
        raise NotFound(f"no team {team_id}")
    return await _team(conn, team_id)


class RouteProperties(BaseModel):
    team_id: int
    eta_s: float
    eta_method: str
    network_s: float | None = None
    access_m: float | None = None
    road_length_m: float | None = None


class RouteFeature(BaseModel):
    type: str = "Feature"
    geometry: dict[str, Any]
    properties: RouteProperties


@router.get(
    "/{team_id}/route",
    response_model=RouteFeature,
    summary="The team's road route and travel time to a point",
)
async def route(
    team_id: TeamId, point: PointDep, conn: ConnDep, request: Request
) -> dict[str, Any]:
    """The shortest path by pgRouting from the road vertex nearest the team to the one
    nearest the point, plus straight access legs at the documented access speed. Without a
    road network: a straight line and the straight-line estimate."""
    team = await _team(conn, team_id)
    router_ = await request.app.state.routing.current(conn)
    start = [team["lon"], team["lat"]]
    end = [point.lon, point.lat]
    if router_ is None:
        metres = await (
            await conn.execute(
                "SELECT ST_Distance(ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography, "
                "ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography)",
                [*start, *end],
            )
        ).fetchone()
        eta = straight_line_eta(metres[0])
        return {
            "geometry": {"type": "LineString", "coordinates": [start, end]},
            "properties": {
                "team_id": team_id,
                "eta_s": round(eta.seconds, 1),
                "eta_method": eta.method,
            },
        }
    (a, b), access = router_.snap([start[0], end[0]], [start[1], end[1]])
    cur = conn.cursor(row_factory=dict_row)
    path = await (
        await cur.execute(
            load("dispatch/route"),
            {"source": int(router_.vertex_ids[a]), "target": int(router_.vertex_ids[b])},
        )
    ).fetchone()
    access_m = float(access.sum())
    eta = path["cost_s"] + access_m / (ACCESS_KMH / 3.6)
    geometry = path["geometry"] or {"type": "LineString", "coordinates": [start, end]}
    return {
        "geometry": geometry,
        "properties": {
            "team_id": team_id,
            "eta_s": round(eta, 1),
            "eta_method": "road_network",
            "network_s": round(path["cost_s"], 1),
            "access_m": round(access_m, 1),
            "road_length_m": round(path["length_m"], 1),
        },
    }
