"""``/teams``: a team, its position and status (writes), and its route to a point."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel

from citybrain.api.auth import AdviseDep, DispatchDep, PrincipalDep, team_as_seen_by
from citybrain.api.deps import ConnDep, NowDep, ReadConnDep, RoadsDep
from citybrain.api.params import PointDep, PointIn
from citybrain.api.responses import errors
from citybrain.domain import TeamStatus
from citybrain.services import teams as svc

router = APIRouter(prefix="/teams", tags=["teams"], responses=errors(401, 403))
TeamId = Annotated[int, Path(ge=1, le=2**31 - 1)]


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


@router.get("/{team_id}", response_model=Team)
async def read(team_id: TeamId, conn: ReadConnDep, who: PrincipalDep) -> dict[str, Any]:
    """A team; its members' names for viewers and above (anonymous callers: roles only)."""
    return team_as_seen_by(who, await svc.team(conn, team_id))


@router.post("/{team_id}/position", response_model=Team, summary="A team moved")
async def move(
    team_id: TeamId, body: PointIn, conn: ConnDep, who: DispatchDep, now: NowDep
) -> dict[str, Any]:
    point = body.wgs84()
    return await svc.move(conn, team_id, point.lon, point.lat, now)


@router.post("/{team_id}/status", response_model=Team, summary="Set a team's status")
async def set_status(
    team_id: TeamId, body: StatusIn, conn: ConnDep, who: DispatchDep
) -> dict[str, Any]:
    return await svc.set_status(conn, team_id, str(body.status))


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
    team_id: TeamId, point: PointDep, conn: ReadConnDep, roads: RoadsDep, who: AdviseDep
) -> dict[str, Any]:
    """Dispatch advice (a viewer's key or above). The shortest path by pgRouting from the
    road vertex nearest the team to the one nearest the point, plus straight access legs at
    the documented access speed. Without a road network: a straight line and the
    straight-line estimate."""
    return await svc.route(conn, await roads.current(conn), team_id, point.lon, point.lat)
