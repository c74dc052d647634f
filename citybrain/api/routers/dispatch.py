"""``/dispatch/recommend``: who should go, which cameras see it, which tier handles it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from citybrain.api.auth import AdviseDep
from citybrain.api.deps import ReadConnDep, RoadsDep
from citybrain.api.params import PointIn
from citybrain.api.responses import JSON, errors
from citybrain.api.routers.locate import KindRef, MicroGridRef, Ref, TeamRef
from citybrain.services.dispatch import recommend as recommend_teams

router = APIRouter(tags=["dispatch"], responses=errors(401, 403))


class RecommendIn(PointIn):
    category: str = Field(description="incident category, e.g. 治安")
    severity: int = Field(1, ge=1, le=4)
    limit: int = Field(5, ge=1, le=24, description="how many candidate teams")


class Candidate(BaseModel):
    id: int
    name: str
    grid_id: int
    status: str
    active: int
    capacity: int
    distance_m: float
    eta_s: float | None
    position_at: datetime | None = Field(
        None,
        description="when the team was last seen where its ETA is timed from (a member's "
        "patrol point, an arrival on site, a position posted): an old one makes the ETA a guess",
    )
    responsible: bool
    reason: str


class CoveringCamera(BaseModel):
    id: int
    code: str
    name: str
    kind: str
    heading: float
    fov: float
    range_m: float
    online: bool
    lon: float
    lat: float
    distance_m: float
    bearing: float = Field(description="degrees clockwise from north, camera to point")


class ChainOut(BaseModel):
    town: Ref
    village: KindRef
    grid: Ref
    compound: KindRef
    micro_grid: MicroGridRef


class AlertHere(BaseModel):
    id: int
    detector: str
    kind: str
    category: str | None
    area_name: str
    summary: str
    recurrence_days: float | None
    status: str


class Recommendation(BaseModel):
    lon: float
    lat: float
    location: ChainOut
    responsible_team: TeamRef | None
    responsible_team_problem: str | None = Field(
        description="why the grid's own team is not first, if it is not"
    )
    teams: list[Candidate]
    eta_method: str = Field(description="road_network, or straight_line when no network is loaded")
    cameras: list[CoveringCamera]
    tier: str
    tier_reason: str
    alerts: list[AlertHere] = Field(
        description="open early-warning alerts whose area holds the point (/alerts/{id}): the "
        "case may be part of something larger"
    )


@router.post(
    "/dispatch/recommend",
    response_model=Recommendation,
    summary="Recommend teams, cameras and a tier for an incident location",
)
async def recommend(
    body: RecommendIn, conn: ReadConnDep, roads: RoadsDep, who: AdviseDep
) -> dict[str, Any]:
    """Dispatch advice (a viewer's key or above). The responsible grid's own team comes
    first when it is available, handles the category and has capacity (网格连心); then other
    eligible teams by ETA. Cameras are those whose view sector (heading ± fov/2, within range)
    covers the point, nearest first. The tier follows the rule in ``domain.initial_tier``.
    ``alerts``: open alerts whose area holds the point."""
    point = body.wgs84()
    answer = await recommend_teams(
        conn,
        await roads.current(conn),
        point.lon,
        point.lat,
        body.category,
        body.severity,
        body.limit,
    )
    return JSON({"lon": point.lon, "lat": point.lat, **answer})
