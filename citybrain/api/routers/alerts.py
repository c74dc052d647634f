"""``/alerts``: early warnings (``citybrain.alerts``) and the duty officer's lifecycle.

Reading an alert is public (an aggregate: an area, what is unusual there, how unusual); its
incidents are listed with the public fields of the incidents layer. Its audit trail (who, and
their notes) needs a viewer, as an incident's does. Acknowledging, dispatching, closing and
snoozing need a dispatcher, and land in the audit trail.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field, field_validator

from citybrain.alerts import store as svc
from citybrain.api.auth import AlertsDep, ReadCasesDep
from citybrain.api.deps import ConnDep, NowDep, ReadConnDep, SettingsDep
from citybrain.api.params import BBoxQ
from citybrain.api.responses import AuditEvent, errors
from citybrain.domain import AlertKind, AlertStatus
from citybrain.services import bbox as bboxes
from citybrain.services.window import instant

router = APIRouter(prefix="/alerts", tags=["alerts"], responses=errors(401, 403, 409))
AlertId = Annotated[int, Path(ge=1, le=2**63 - 1)]


class Alert(BaseModel):
    id: int
    detector: str = Field(description="the file in alerts/ that found it")
    kind: AlertKind
    category: str | None
    level: str = Field(description="compounds, grids, villages, towns or h3_<res>")
    area_codes: list[str]
    area_name: str
    summary: str = Field(description="what is unusual, in one line")
    observed: int
    expected: float | None
    statistic: float = Field(description="scan: log likelihood ratio; ears: C2/C3; rule: count")
    p_value: float | None
    recurrence_days: float | None = Field(
        description="scan: a cluster this unusual arises by chance about once in this many days"
    )
    window_start: datetime
    window_end: datetime
    first_seen: datetime
    last_seen: datetime
    active: bool = Field(description="the detector's last run still saw it")
    status: AlertStatus
    snoozed_until: datetime | None
    updated_at: datetime
    incidents: int
    geometry: dict[str, Any] = Field(description="GeoJSON MultiPolygon (WGS84)")


class AlertIncident(BaseModel):
    id: int
    category: str
    status: str
    severity: int
    reported_at: datetime
    lon: float
    lat: float


class AlertDetail(Alert):
    incident_list: list[AlertIncident]


class AlertEvent(AuditEvent):
    snoozed_until: datetime | None


class NoteIn(BaseModel):
    note: str | None = Field(None, max_length=2000)


class SnoozeIn(NoteIn):
    until: datetime | None = Field(description="hide it until then (with a time zone); null: wake")

    @field_validator("until")
    @classmethod
    def _zoned(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("until needs a time zone, e.g. 2026-11-30T08:00:00+08:00")
        return value


LangQ = Annotated[
    Literal["zh", "en"],
    Query(description="the language of summaries: zh (the screen's, by default) or en"),
]


@router.get("", response_model=list[Alert], summary="Alerts, newest first")
async def listing(
    conn: ReadConnDep,
    settings: SettingsDep,
    now: NowDep,
    status: Annotated[list[AlertStatus] | None, Query(description="repeatable")] = None,
    kind: AlertKind | None = None,
    detector: Annotated[str | None, Query(max_length=64)] = None,
    area: Annotated[str | None, Query(max_length=64, description="an area code")] = None,
    bbox: BBoxQ = None,
    since: Annotated[
        str | None, Query(description="seen at or after (ISO 8601; without a zone: local)")
    ] = None,
    active: bool | None = None,
    snoozed: Annotated[bool | None, Query(description="false: hide snoozed alerts")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    lang: LangQ = "zh",
) -> list[dict[str, Any]]:
    box = bboxes.parse(bbox) if bbox else (None, None, None, None)
    return await svc.listing(
        conn,
        lang=lang,
        status=[str(s) for s in status] if status else None,
        kind=str(kind) if kind else None,
        detector=detector,
        area=area,
        since=instant(since, ZoneInfo(settings.timezone), "since") if since else None,
        active=active,
        snoozed=snoozed,
        now=now,
        xmin=box[0],
        ymin=box[1],
        xmax=box[2],
        ymax=box[3],
        limit=limit,
    )


@router.get("/{alert_id}", response_model=AlertDetail, responses=errors(404))
async def read(alert_id: AlertId, conn: ReadConnDep, lang: LangQ = "zh") -> dict[str, Any]:
    """One alert with its incidents (the public fields: category, status, time, point)."""
    return await svc.get(conn, alert_id, lang)


@router.get("/{alert_id}/events", response_model=list[AlertEvent], responses=errors(404))
async def history(alert_id: AlertId, conn: ReadConnDep, _: ReadCasesDep) -> list[dict[str, Any]]:
    """The alert's audit trail (viewer and above, as an incident's): raised by its detector,
    then who acknowledged, dispatched, closed or snoozed it, when, with their note."""
    return await svc.events(conn, alert_id)


def _action(action: str, summary: str):
    @router.post(
        f"/{{alert_id}}/{action}",
        response_model=AlertDetail,
        summary=summary,
        responses=errors(404),
    )
    async def act(
        alert_id: AlertId,
        conn: ConnDep,
        who: AlertsDep,
        now: NowDep,
        body: NoteIn | None = None,
    ) -> dict[str, Any]:
        note = body.note if body else None
        return await svc.act(conn, alert_id, action, who.acting(now), note)

    return act


ack = _action("ack", "Acknowledge an alert (new → acknowledged)")
dispatch = _action("dispatch", "Mark an alert dispatched (someone is on it)")
close = _action("close", "Close an alert")


@router.post("/{alert_id}/snooze", response_model=AlertDetail, responses=errors(404))
async def snooze(alert_id: AlertId, body: SnoozeIn, conn: ConnDep, who: AlertsDep, now: NowDep):
    """Hide an open alert from the screens until a time (it still updates meanwhile)."""
    return await svc.snooze(conn, alert_id, body.until, who.acting(now), body.note)
