"""``/incidents``: intake (idempotent), reading, assignment, status and escalation."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Path, Response, status
from pydantic import BaseModel, Field, field_validator

from citybrain import clock
from citybrain.api.auth import DispatchDep, Principal, ReadCasesDep, ReportDep
from citybrain.api.deps import ConnDep, NowDep, ReadConnDep
from citybrain.api.params import PointIn
from citybrain.api.responses import AuditEvent, error, errors
from citybrain.domain import Source
from citybrain.services import incidents as svc

router = APIRouter(prefix="/incidents", tags=["incidents"], responses=errors(401, 403, 409))
IncidentId = Annotated[int, Path(ge=1, le=2**63 - 1)]


class IncidentIn(PointIn):
    category: str = Field(description="e.g. 矛盾纠纷, 治安, 消防 (see /categories)")
    severity: int = Field(1, ge=1, le=4, description="1 low … 4 critical")
    source: Source = Source.citizen_app
    description: str | None = Field(None, max_length=2000)
    reporter_name: str | None = Field(None, max_length=100)
    reporter_phone: str | None = Field(None, max_length=40)
    reported_at: datetime | None = Field(None, description="when it was reported; default now")

    @field_validator("reported_at")
    @classmethod
    def _not_in_future(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return value
        if value.tzinfo is None:
            raise ValueError("reported_at needs a time zone, e.g. 2026-11-26T09:30:00+08:00")
        if value > clock.now() + timedelta(minutes=5):
            raise ValueError("reported_at is in the future")
        return value


class Incident(BaseModel):
    id: int
    category: str
    source: str
    severity: int
    status: str
    tier: str
    description: str | None
    lon: float
    lat: float
    h3: str = Field(description="resolution-15 H3 cell, lowercase hex")
    micro_grid_id: int | None
    team_id: int | None
    reported_at: datetime
    dispatched_at: datetime | None
    on_site_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    escalated_at: datetime | None
    updated_at: datetime
    dispatch_due_at: datetime | None = Field(
        description="when dispatch is due: the category's limit from the report, on the clock"
    )
    resolve_due_at: datetime | None = Field(
        description="when resolution is due: the category's limit from the report, on the clock "
        "(治安, 消防, 交通) or in working hours on China's working calendar (the rest)"
    )
    dispatch_card: Literal["yellow", "red"] | None = Field(
        None,
        description="黄牌 (yellow): undone with over 80% of the limit used up; "
        "红牌 (red): done late or undone past the limit; none: on time",
    )
    resolve_card: Literal["yellow", "red"] | None = Field(
        None, description="the resolution limit's card, as dispatch_card"
    )
    reporter_name: str | None = Field(
        None,
        description="masked (张**) unless the caller's role needs it: dispatcher, handler, admin",
    )
    reporter_phone: str | None = Field(
        None, description="masked (138****5678) unless the caller's role needs it"
    )
    external_id: str | None = Field(None, description="the source system's number (工单编号)")
    location_quality: str = Field(
        "exact", description="exact, or the area level whose point stands in for an address"
    )


class Event(AuditEvent):
    from_tier: str | None
    to_tier: str | None
    team_id: int | None


class AssignIn(BaseModel):
    team_id: int = Field(ge=1)
    note: str | None = Field(None, max_length=2000)
    reassign: bool = Field(False, description="move a dispatched incident to another team")


class StatusIn(BaseModel):
    status: str = Field(description="on_site, resolved or closed")
    note: str | None = Field(None, max_length=2000)


class NoteIn(BaseModel):
    note: str | None = Field(None, max_length=2000)


async def _answer(
    conn: ConnDep, incident_id: int, who: Principal, now: datetime, route: str
) -> dict[str, Any]:
    return await svc.get(conn, who.who(now, route), incident_id)


@router.post(
    "",
    response_model=Incident,
    response_model_exclude_unset=True,
    status_code=status.HTTP_201_CREATED,
    summary="Report an incident",
)
async def report(
    body: IncidentIn,
    conn: ConnDep,
    who: ReportDep,
    now: NowDep,
    response: Response,
    idempotency_key: Annotated[
        str | None,
        Header(max_length=200, description="retries with the same key create one incident"),
    ] = None,
) -> dict[str, Any]:
    point = body.wgs84()
    data = body.model_dump(exclude={"lon", "lat", "crs"})
    data.update(lon=point.lon, lat=point.lat, source=str(body.source))
    incident_id, created = await svc.report(
        conn, who.who(now, "POST /incidents"), data, idempotency_key
    )
    response.headers["Location"] = f"/incidents/{incident_id}"
    if not created:
        response.status_code = status.HTTP_200_OK
        response.headers["Idempotent-Replayed"] = "true"
    return await _answer(conn, incident_id, who, now, "POST /incidents")


@router.get("/{incident_id}", response_model=Incident, response_model_exclude_unset=True)
async def read(
    incident_id: IncidentId, conn: ReadConnDep, who: ReadCasesDep, now: NowDep
) -> dict[str, Any]:
    """One incident's case file, if the caller's area and role hold it (404 otherwise: the
    database decides); the reporter's name and phone unmasked only for the roles that need
    them (each such read logged). Public screens read incidents' public fields from the layer
    (``/collections/incidents/items/{id}``)."""
    return await _answer(conn, incident_id, who, now, "GET /incidents/{id}")


@router.get("/{incident_id}/events", response_model=list[Event], summary="The audit trail")
async def events(
    incident_id: IncidentId, conn: ReadConnDep, who: ReadCasesDep, now: NowDep
) -> list[dict[str, Any]]:
    """Every step of the case, who took it (a login or a key's name) and their note, for
    callers whose area and role hold the case."""
    return await svc.history(conn, who.who(now), incident_id)


@router.post(
    "/{incident_id}/assign",
    response_model=Incident,
    response_model_exclude_unset=True,
    responses={409: error("wrong status, or the team cannot take it")},
)
async def assign(
    incident_id: IncidentId, body: AssignIn, conn: ConnDep, who: DispatchDep, now: NowDep
) -> dict[str, Any]:
    """Dispatch to a team. Atomic: a team never holds more than its capacity of active
    incidents; when dispatchers race for its last place, one wins and the others get 409."""
    await svc.assign(conn, who.who(now), incident_id, body.team_id, body.note, body.reassign)
    return await _answer(conn, incident_id, who, now, "POST /incidents/{id}/assign")


@router.post(
    "/{incident_id}/status",
    response_model=Incident,
    response_model_exclude_unset=True,
    responses={409: error("not a valid next step")},
)
async def set_status(
    incident_id: IncidentId, body: StatusIn, conn: ConnDep, who: DispatchDep, now: NowDep
) -> dict[str, Any]:
    """reported → dispatched → on_site → resolved → closed; each step is stamped once."""
    await svc.set_status(conn, who.who(now), incident_id, body.status, body.note)
    return await _answer(conn, incident_id, who, now, "POST /incidents/{id}/status")


@router.post(
    "/{incident_id}/escalate",
    response_model=Incident,
    response_model_exclude_unset=True,
    responses={409: error("closed, or already at the county")},
)
async def escalate(
    incident_id: IncidentId,
    conn: ConnDep,
    who: DispatchDep,
    now: NowDep,
    body: NoteIn | None = None,
) -> dict[str, Any]:
    """Hand the case one tier up (village → town → county), releasing its team."""
    await svc.escalate(conn, who.who(now), incident_id, body.note if body else None)
    return await _answer(conn, incident_id, who, now, "POST /incidents/{id}/escalate")
