"""``/patrols/{key}``: a member's patrols (巡查), recorded by the field app: started, sent
point by point in batches (queued on the phone while offline), ended; each part sent again
counts once. The key is the phone's name for the patrol."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Response, status
from pydantic import AwareDatetime, BaseModel, Field

from citybrain.api.auth import PatrolDep
from citybrain.api.deps import ConnDep, NowDep, ReadConnDep
from citybrain.api.responses import errors
from citybrain.services import patrols as svc

router = APIRouter(prefix="/patrols", tags=["field"], responses=errors(401, 403, 404))
Key = Annotated[
    str, Path(pattern="^[A-Za-z0-9_-]{8,64}$", description="the phone's name for the patrol")
]


class Start(BaseModel):
    started_at: AwareDatetime | None = Field(None, description="when it started; default now")


class Point(BaseModel):
    at: AwareDatetime = Field(description="when the phone was there (with a time zone)")
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    accuracy_m: float | None = Field(None, ge=0, le=100_000)


class Points(BaseModel):
    points: list[Point] = Field(min_length=1, max_length=svc.MAX_POINTS)


class End(BaseModel):
    ended_at: AwareDatetime | None = Field(None, description="when it ended; default now")


class Patrol(BaseModel):
    id: int
    key: str
    team_id: int | None
    grid_id: int | None
    started_at: datetime
    ended_at: datetime | None
    points: int
    track: dict[str, Any] | None = Field(
        description="the walked line (GeoJSON, WGS84), once ended; its times are the points'"
    )
    length_m: float | None = Field(description="its geodesic length, once ended")
    roads_share: float | None = Field(
        description="share of the grid's road length passed within 20 m, once ended"
    )


class Added(BaseModel):
    added: int = Field(description="points new to the patrol")
    sent: int = Field(description="points in the batch (one sent before counts once)")


@router.put(
    "/{key}",
    response_model=Patrol,
    status_code=201,
    responses={200: {"model": Patrol, "description": "started before under this key"}},
    summary="Start a patrol",
)
async def start(
    key: Key, body: Start, conn: ConnDep, who: PatrolDep, now: NowDep, response: Response
) -> dict[str, Any]:
    """Start the patrol (started before under this key: 200, as it is)."""
    patrol, created = await svc.start(
        conn, who.who(now, "PUT /patrols/{key}"), key, body.started_at
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return patrol


@router.post("/{key}/points", response_model=Added, summary="A batch of a patrol's points")
async def points(
    key: Key, body: Points, conn: ConnDep, who: PatrolDep, now: NowDep
) -> dict[str, Any]:
    """Points of the patrol (each kept once, by its time). Their latest is the team's
    position for dispatch, unless it has a later one. 409 once the patrol ended."""
    batch = [p.model_dump() for p in body.points]
    return await svc.add_points(conn, who.who(now, "POST /patrols/{key}/points"), key, batch)


@router.post("/{key}/end", response_model=Patrol, summary="End a patrol")
async def end(key: Key, body: End, conn: ConnDep, who: PatrolDep, now: NowDep) -> dict[str, Any]:
    """End the patrol: its track, length and the share of the grid's roads walked (ended
    before: as it is)."""
    return await svc.finish(conn, who.who(now, "POST /patrols/{key}/end"), key, body.ended_at)


@router.get("/{key}", response_model=Patrol, summary="A patrol")
async def read(key: Key, conn: ReadConnDep, who: PatrolDep, now: NowDep) -> dict[str, Any]:
    return await svc.read(conn, who.who(now), key)
