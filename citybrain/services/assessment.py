"""考核: how towns, villages, grids, teams and departments handled their cases over a period
(a month, or any days), as ``GET /reports/assessment`` answers and ``citybrain report
assessment`` writes (XLSX: one sheet per level; PDF: tables, a chart and a map;
``citybrain.reports``).

The figures are over the cases *reported* in the period (a cohort: each case counts once,
whenever its steps came), in the caller's area (``sql/reports/assessment.sql`` defines each);
the shares are of the cases that reached the step:

- ``received``: reported; ``registered``: registered and not rejected or merged;
  ``not_registered``: rejected (不予立案) or merged (并案);
- ``dispatched`` / ``dispatched_on_time``, ``resolved`` / ``resolved_on_time``: the steps done,
  and those done within the category's limit (``citybrain.within_limit``: working hours where
  the limit counts them; the resolution limit with approved extensions);
- ``overdue``: resolved after its due time, or unresolved past it when the period ended (or
  now, if earlier);
- ``closed``, ``returned`` (退回), ``failed_checks`` (核查不通过), ``repeats`` (重复件),
  ``supervised`` (督办);
- ``evaluated`` and ``satisfied`` (满意 or 基本满意), and ``satisfaction_pct`` of them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from citybrain.domain import ASSESSMENT_LEVELS
from citybrain.errors import InvalidInput
from citybrain.people.caller import Area, Caller, acting_as
from citybrain.sql import load

FIGURES = (
    "received",
    "registered",
    "not_registered",
    "dispatched",
    "dispatched_on_time",
    "resolved",
    "resolved_on_time",
    "overdue",
    "closed",
    "returned",
    "failed_checks",
    "repeats",
    "supervised",
    "evaluated",
    "satisfied",
)
# Shares (percent, one decimal) and what they divide.
SHARES = {
    "dispatched_on_time_pct": ("dispatched_on_time", "dispatched"),
    "resolved_on_time_pct": ("resolved_on_time", "resolved"),
    "satisfaction_pct": ("satisfied", "evaluated"),
}
# The headers of the XLSX and PDF, in Chinese (the county's words).
HEADERS = {
    "code": "编码",
    "name": "名称",
    "received": "受理",
    "registered": "立案",
    "not_registered": "不予立案/并案",
    "dispatched": "已派遣",
    "dispatched_on_time": "按时派遣",
    "dispatched_on_time_pct": "按时派遣率%",
    "resolved": "已处置",
    "resolved_on_time": "按时处置",
    "resolved_on_time_pct": "按时处置率%",
    "overdue": "超期",
    "closed": "结案",
    "returned": "退回",
    "failed_checks": "核查不通过",
    "repeats": "重复件",
    "supervised": "督办",
    "evaluated": "已评价",
    "satisfied": "满意",
    "satisfaction_pct": "满意率%",
}
LEVEL_NAMES = {
    "town": "乡镇（街道）",
    "village": "村（社区）",
    "grid": "网格",
    "team": "网格团队",
    "department": "部门",
}
# The steps whose events the assessment counts (step names are citybrain.workflow's).
_TRAIL = {"returned": "return", "failed_check": "fail_check"}


def check_level(level: str) -> str:
    if level not in ASSESSMENT_LEVELS:
        raise InvalidInput(f"level {level!r}: one of {', '.join(ASSESSMENT_LEVELS)}")
    return level


def _params(level: str, area: Area, start: datetime, end: datetime, now: datetime) -> dict:
    return {
        "level": level,
        "start": start,
        "end": end,
        "as_of": min(end, now),
        "town": area.town_id,
        "village": area.village_id,
        "grid": area.grid_id,
        **_TRAIL,
    }


def _in_area(unit: dict, area: Area) -> bool:
    """A unit is listed when it lies in the caller's area, or above it (the caller's own town
    for a village's caller; a county department for everyone)."""
    return all(
        mine is None or unit[key] is None or unit[key] == mine
        for key, mine in (
            ("town_id", area.town_id),
            ("village_id", area.village_id),
            ("grid_id", area.grid_id),
        )
    )


def _rows(units: list[dict], figures: list[dict], area: Area) -> list[dict[str, Any]]:
    by_unit = {f["unit"]: f for f in figures}
    out = []
    for unit in units:
        if not _in_area(unit, area):
            continue
        got = by_unit.get(unit["id"], {})
        row = {"id": unit["id"], "code": unit["code"], "name": unit["name"]}
        row.update({k: int(got.get(k, 0)) for k in FIGURES})
        out.append(row)
    return out


def with_shares(row: dict[str, Any]) -> dict[str, Any]:
    for name, (part, whole) in SHARES.items():
        row[name] = round(100.0 * row[part] / row[whole], 1) if row[whole] else None
    return row


def summary(
    level: str, start: datetime, end: datetime, rows: list[dict[str, Any]]
) -> dict[str, Any]:
    total = {k: sum(r[k] for r in rows) for k in FIGURES}
    return {
        "level": level,
        "start": start,
        "end": end,
        "units": [with_shares(r) for r in rows],
        "total": with_shares(total),
    }


async def assess(
    conn: AsyncConnection,
    caller: Caller,
    level: str,
    start: datetime,
    end: datetime,
    now: datetime,
) -> dict[str, Any]:
    """The assessment of ``level`` over ``[start, end)`` in the caller's area."""
    check_level(level)
    params = _params(level, caller.area, start, end, now)
    async with acting_as(conn, caller):
        cur = conn.cursor(row_factory=dict_row)
        units = await (await cur.execute(load(f"reports/units/{level}"))).fetchall()
        figures = await (await cur.execute(load("reports/assessment"), params)).fetchall()
    return summary(level, start, end, _rows(units, figures, caller.area))
