"""``/locate``: the governance chain of a point, and ``/nearest``: the k nearest resources."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from citybrain.api.auth import PrincipalDep, team_as_seen_by
from citybrain.api.deps import ReadConnDep
from citybrain.api.params import PointDep
from citybrain.api.responses import JSON, error
from citybrain.domain import CATEGORIES_BY_NAME, FacilityKind
from citybrain.errors import InvalidInput
from citybrain.services.locate import locate as locate_point
from citybrain.services.nearest import Kind
from citybrain.services.nearest import nearest as nearest_rows

router = APIRouter(tags=["locate"])


class Ref(BaseModel):
    id: int
    code: str
    name: str


class KindRef(Ref):
    kind: str = Field(description="village or community; compound or villager_group")


class MicroGridRef(Ref):
    population: int
    households: int


class TeamRef(BaseModel):
    id: int
    name: str
    status: str
    skills: list[str]
    members: list[dict[str, str]]


class Location(BaseModel):
    lon: float
    lat: float
    depth: Literal["town", "village", "grid", "compound", "micro_grid"] = Field(
        description="the finest level that holds the point (the levels below it are null: "
        "a county whose lower levels are not drawn yet)"
    )
    town: Ref
    village: KindRef | None
    grid: Ref | None
    compound: KindRef | None
    micro_grid: MicroGridRef | None
    team: TeamRef | None


@router.get(
    "/locate",
    response_model=Location,
    summary="Where is this point?",
    responses={404: error("the point is outside the county: no town holds it")},
)
async def locate(point: PointDep, conn: ReadConnDep, who: PrincipalDep) -> JSON:
    """The chain town → village → grid → compound → micro-grid of a point, and the grid's team
    (its members' names for viewers and above, their roles only for anonymous callers).
    A point on a shared edge or vertex belongs to the micro-grid with the lowest id. Where the
    county is not divided down to micro-grids yet, the chain goes as deep as the data does
    (``depth``)."""
    chain = await locate_point(conn, point.lon, point.lat)
    chain["team"] = team_as_seen_by(who, chain["team"])
    return JSON({"lon": point.lon, "lat": point.lat, **chain})


class NearestItem(BaseModel):
    id: int
    name: str
    distance_m: float
    lon: float
    lat: float
    # teams
    grid_id: int | None = None
    status: str | None = None
    skills: list[str] | None = None
    capacity: int | None = None
    active: int | None = None
    # cameras
    code: str | None = None
    kind: str | None = None
    heading: float | None = None
    fov: float | None = None
    range_m: float | None = None
    online: bool | None = None
    owner: str | None = None
    # facilities
    level: str | None = None


class NearestAnswer(BaseModel):
    kind: Kind
    lon: float
    lat: float
    items: list[NearestItem]


@router.get(
    "/nearest",
    response_model=NearestAnswer,
    response_model_exclude_none=True,
    summary="The k nearest teams, cameras or facilities",
)
async def nearest(
    point: PointDep,
    conn: ReadConnDep,
    kind: Annotated[Kind, Query(description="what to look for")],
    k: Annotated[int, Query(ge=1, le=100, description="how many")] = 5,
    within_m: Annotated[
        float | None, Query(gt=0, le=50_000, description="at most this far")
    ] = None,
    available: Annotated[bool, Query(description="teams: only available ones")] = False,
    skill: Annotated[
        str | None, Query(description="teams: only those handling this category")
    ] = None,
    online: Annotated[bool, Query(description="cameras: only online ones")] = False,
    facility_kind: Annotated[
        FacilityKind | None, Query(description="facilities: only this kind")
    ] = None,
) -> dict[str, Any]:
    """Ordered by true geodesic distance in metres, found with the KNN index and exact."""
    if skill is not None and skill not in CATEGORIES_BY_NAME:
        raise InvalidInput(f"unknown skill {skill!r}; one of: {', '.join(CATEGORIES_BY_NAME)}")
    items = await nearest_rows(
        conn,
        kind,
        point.lon,
        point.lat,
        k,
        within_m,
        available=available,
        skill=skill,
        online=online,
        facility_kind=facility_kind and str(facility_kind),
    )
    for item in items:
        item["distance_m"] = round(item["distance_m"], 2)
    return JSON({"kind": kind, "lon": point.lon, "lat": point.lat, "items": items})
