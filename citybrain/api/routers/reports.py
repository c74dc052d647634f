"""``/reports/assessment``: 考核, the figures of a level's units over a period, for the screen
(the same as ``citybrain report assessment`` writes to XLSX and PDF)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from citybrain.api.auth import AssessDep
from citybrain.api.deps import NowDep, ReadConnDep, SettingsDep
from citybrain.api.responses import errors
from citybrain.domain import ASSESSMENT_LEVELS
from citybrain.services import assessment
from citybrain.services.window import period as period_of

router = APIRouter(prefix="/reports", tags=["reports"], responses=errors(400, 401, 403))


class Figures(BaseModel):
    received: int
    registered: int
    not_registered: int = Field(description="rejected (不予立案) or merged (并案)")
    dispatched: int
    dispatched_on_time: int
    dispatched_on_time_pct: float | None
    resolved: int
    resolved_on_time: int
    resolved_on_time_pct: float | None
    overdue: int
    closed: int
    returned: int = Field(description="退回 steps")
    failed_checks: int = Field(description="核查不通过 steps")
    repeats: int = Field(description="重复件")
    supervised: int = Field(description="督办")
    evaluated: int
    satisfied: int = Field(description="满意 or 基本满意")
    satisfaction_pct: float | None


class Unit(Figures):
    id: int
    code: str
    name: str


class Assessment(BaseModel):
    level: str
    start: datetime
    end: datetime
    units: list[Unit]
    total: Figures


@router.get("/assessment", response_model=Assessment, summary="考核: a level over a period")
async def assessment_report(
    conn: ReadConnDep,
    who: AssessDep,
    now: NowDep,
    settings: SettingsDep,
    period: Annotated[
        str, Query(max_length=30, description="a month (2026-11) or days (2026-11-01..2026-11-15)")
    ],
    level: Annotated[str, Query(description=", ".join(ASSESSMENT_LEVELS))] = "town",
) -> dict[str, Any]:
    """The cases reported in the period, per unit of the level in the caller's area: received,
    registered, on time at each step, overdue, returned, failed checks, repeats, satisfaction
    (definitions: docs/workflow.md)."""
    start, end = period_of(period, ZoneInfo(settings.timezone))
    return await assessment.assess(conn, who.caller, level, start, end, now)
