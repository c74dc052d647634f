"""``/incidents``: intake (idempotent), reading, and the workflow's steps
(``POST /incidents/{id}/steps/{step}``, declared in ``citybrain.workflow``; ``/assign``,
``/status`` and ``/escalate`` are the same steps under their earlier names)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Path, Response, status
from pydantic import BaseModel, Field, field_validator, model_validator

from citybrain import clock
from citybrain.api.auth import DispatchDep, Principal, PrincipalDep, ReadCasesDep, ReportDep
from citybrain.api.deps import ConnDep, NowDep, ReadConnDep
from citybrain.api.params import PointIn
from citybrain.api.responses import AuditEvent, error, errors
from citybrain.domain import Satisfaction, Source, Status
from citybrain.errors import InvalidInput, NotFound
from citybrain.services import incidents as svc
from citybrain.services import workflow
from citybrain.workflow import STEPS

router = APIRouter(prefix="/incidents", tags=["incidents"], responses=errors(401, 403, 409))
IncidentId = Annotated[int, Path(ge=1, le=2**63 - 1)]
PhotoId = Annotated[str, Field(pattern="^[0-9a-f]{64}$", description="its SHA-256, in hex")]
IdempotencyKey = Annotated[
    str | None,
    Header(max_length=200, description="sent again with the same key, it is applied once"),
]


class IncidentIn(PointIn):
    category: str = Field(description="e.g. 矛盾纠纷, 治安, 消防 (see /categories)")
    severity: int = Field(1, ge=1, le=4, description="1 low … 4 critical")
    source: Source = Source.citizen_app
    description: str | None = Field(None, max_length=2000)
    reporter_name: str | None = Field(None, max_length=100)
    reporter_phone: str | None = Field(None, max_length=40)
    reported_at: datetime | None = Field(None, description="when it was reported; default now")
    photos: list[PhotoId] | None = Field(
        None, max_length=20, description="photos the reporter sent (POST /photos), by their id"
    )

    def report(self) -> dict[str, Any]:
        """The incident as the service takes it: its point in WGS84, its other fields."""
        point = self.wgs84()
        data = self.model_dump(exclude={"lon", "lat", "crs"})
        data.update(lon=point.lon, lat=point.lat, source=str(self.source))
        return data

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
    team_id: int | None = Field(description="the grid team holding it")
    department_id: int | None = Field(None, description="the department holding it")
    reported_at: datetime
    registered_at: datetime | None = None
    dispatched_at: datetime | None
    on_site_at: datetime | None
    resolved_at: datetime | None
    checked_at: datetime | None = None
    closed_at: datetime | None
    escalated_at: datetime | None
    updated_at: datetime
    merged_into: int | None = Field(None, description="merged (并案) into this case")
    repeat_of: int | None = Field(
        None, description="重复件: the case closed within 30 days at the same place and category"
    )
    extension_minutes: int = Field(0, description="approved extensions of the resolution limit")
    extension_asked: int | None = Field(None, description="an extension asked, not yet decided")
    accepted_at: datetime | None = Field(None, description="签收: when its holder took it")
    escalation_asked: str | None = Field(
        None, description="申请上报: the holder's reason for asking to escalate, until escalated"
    )
    supervised_at: datetime | None = Field(None, description="last flagged (督办)")
    satisfaction: Satisfaction | None = Field(None, description="the return visit's verdict")
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
    department_id: int | None = None
    detail: dict[str, Any] | None = Field(
        None, description="what the step needed besides its note: reason, photos, minutes, ..."
    )


class StepIn(BaseModel):
    """What a step may need (``GET /workflow`` says which each step needs)."""

    note: str | None = Field(None, max_length=2000)
    reason: str | None = Field(None, max_length=2000)
    photos: list[PhotoId] | None = Field(
        None, max_length=20, description="photos the caller sent (POST /photos), by their id"
    )
    lon: float | None = Field(None, ge=-180, le=180, description="where the step was taken")
    lat: float | None = Field(None, ge=-90, le=90, description="(到场: the member's position)")
    team_id: int | None = Field(None, ge=1, le=2**31 - 1)
    department_id: int | None = Field(None, ge=1, le=2**31 - 1)
    duplicate_of: int | None = Field(None, ge=1, le=2**63 - 1)
    minutes: int | None = Field(None, ge=1, le=60 * 24 * 90)
    satisfaction: Satisfaction | None = None

    @model_validator(mode="after")
    def _both_or_neither(self) -> StepIn:
        if (self.lon is None) != (self.lat is None):
            raise ValueError("a position is lon and lat, both")
        return self

    def body(self) -> dict[str, Any]:
        """The step's body as the workflow takes it: the position as ``[lon, lat]``."""
        data = self.model_dump(exclude={"lon", "lat"})
        data["position"] = None if self.lon is None else [self.lon, self.lat]
        return data


class AssignIn(BaseModel):
    team_id: int = Field(ge=1)
    note: str | None = Field(None, max_length=2000)
    reassign: bool = Field(False, description="move a dispatched incident to another team")


# The earlier /status route's statuses, by the step that leads to each.
_BY_STATUS = {Status.on_site: "handle", Status.resolved: "report_done", Status.closed: "close"}


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
    incident_id, created = await svc.report(
        conn, who.who(now, "POST /incidents"), body.report(), idempotency_key
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


StepName = Annotated[
    str, Path(max_length=40, description=f"one of: {', '.join(STEPS)} (GET /workflow)")
]


class Brief(BaseModel):
    """What became of the case: the answer to ``Prefer: return=minimal``, and to a step that
    took the case out of the caller's view (a department returning it)."""

    id: int
    status: str
    in_view: bool | None = Field(
        description="false: the caller no longer sees the case; null: not looked up "
        "(return=minimal)"
    )


MINIMAL = "return=minimal"  # RFC 7240: answer the outcome, not the representation


@router.post(
    "/{incident_id}/steps/{step}",
    response_model=Incident | Brief,
    response_model_exclude_unset=True,
    responses={
        **errors(400, 404),
        403: error("the role may not take the step, or the caller does not hold the case"),
        409: error("not a step from the case's status, or the responder cannot take it"),
    },
    summary="Take a step of the case's workflow",
)
async def take_step(
    incident_id: IncidentId,
    step: StepName,
    body: StepIn,
    conn: ConnDep,
    who: PrincipalDep,
    now: NowDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
    prefer: Annotated[
        str | None,
        Header(
            max_length=200,
            description="return=minimal: answer {id, status, in_view}, not the whole case",
        ),
    ] = None,
) -> dict[str, Any]:
    """One step of the closed loop (受理 → 立案 → 派遣 → 处置 → 反馈 → 核查 → 结案 → 评价, and
    退回, 转办, 上报, 督办, 延期), as ``GET /workflow`` declares it: who may take it, from which
    status, and what it needs. A refused step says why and changes nothing. The answer is the
    case as the caller now sees it, or with ``Prefer: return=minimal`` only its new status.
    With an ``Idempotency-Key``, the same step sent again (a phone's queue after a lost answer)
    is answered with the case as it is and ``Idempotent-Replayed: true``, not taken twice."""
    route = "POST /incidents/{id}/steps/{step}"
    status, replayed = await workflow.take(
        conn, who.who(now, route), incident_id, step, body.body(), idempotency_key
    )
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    if prefer is not None and MINIMAL in prefer.replace(" ", "").split(","):
        response.headers["Preference-Applied"] = MINIMAL
        return {"id": incident_id, "status": status, "in_view": None}
    try:
        return await _answer(conn, incident_id, who, now, route)
    except NotFound:
        return {"id": incident_id, "status": status, "in_view": False}


async def _step(
    conn, who: Principal, now: datetime, incident_id: int, step: str, route: str, **body: Any
) -> dict[str, Any]:
    await workflow.take(conn, who.who(now, route), incident_id, step, body)
    return await _answer(conn, incident_id, who, now, route)


class Duplicate(BaseModel):
    id: int
    status: str
    reported_at: datetime
    team_id: int | None
    department_id: int | None
    distance_m: float


@router.get(
    "/{incident_id}/duplicates",
    response_model=list[Duplicate],
    responses=errors(404),
    summary="The cases a report may duplicate",
)
async def duplicates(
    incident_id: IncidentId, conn: ReadConnDep, who: ReadCasesDep, now: NowDep
) -> list[dict[str, Any]]:
    """Unclosed cases of the report's category within 50 m, reported within 24 hours of it,
    nearest first: what a dispatcher may merge it into (``POST .../steps/merge``)."""
    return await svc.duplicates(conn, who.who(now), incident_id)


@router.post(
    "/{incident_id}/assign",
    response_model=Incident,
    response_model_exclude_unset=True,
    responses={409: error("wrong status, or the team cannot take it")},
)
async def assign(
    incident_id: IncidentId, body: AssignIn, conn: ConnDep, who: DispatchDep, now: NowDep
) -> dict[str, Any]:
    """Dispatch to a team (the step ``dispatch``; with ``reassign``, ``reassign``). Atomic: a
    team never holds more than its capacity of active incidents; when dispatchers race for its
    last place, one wins and the others get 409."""
    step = "reassign" if body.reassign else "dispatch"
    route = "POST /incidents/{id}/assign"
    return await _step(
        conn, who, now, incident_id, step, route, team_id=body.team_id, note=body.note
    )


@router.post(
    "/{incident_id}/status",
    response_model=Incident,
    response_model_exclude_unset=True,
    responses={409: error("not a valid next step")},
)
async def set_status(
    incident_id: IncidentId, body: StatusIn, conn: ConnDep, who: DispatchDep, now: NowDep
) -> dict[str, Any]:
    """The steps ``handle`` (on_site), ``report_done`` (resolved, with a note) and ``close``
    (closed, once checked) by the status they lead to; each status is stamped once."""
    step = _BY_STATUS.get(body.status)
    if step is None:
        raise InvalidInput(
            f"status must be one of {', '.join(_BY_STATUS)} (dispatch with /assign, escalate "
            "with /escalate, every step with /steps/{step})"
        )
    route = "POST /incidents/{id}/status"
    return await _step(conn, who, now, incident_id, step, route, note=body.note)


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
    """Hand the case one tier up (village → town → county), releasing its holder (the step
    ``escalate``)."""
    route = "POST /incidents/{id}/escalate"
    return await _step(
        conn, who, now, incident_id, "escalate", route, note=body.note if body else None
    )
