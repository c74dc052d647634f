"""Incidents: intake (exactly once per ``Idempotency-Key``) and reading a case and its audit
trail. The steps a case takes afterwards are ``services.workflow``'s.

Every read and write runs in one transaction in which the database knows the caller
(``people.caller.acting_as``): an incident's case file and audit trail are read, and its steps
taken, only within the caller's scope, as row-level security decides (a case outside it is "not
found"). Reporters' names and phones are masked unless the caller's role
needs them, and every unmasked read is logged (``people.personal``).
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from citybrain.domain import (
    CATEGORIES_BY_NAME,
    DUPLICATE_RADIUS_M,
    DUPLICATE_WINDOW,
    REPEAT_WINDOW,
    Status,
    initial_tier,
)
from citybrain.errors import InvalidInput, NotFound
from citybrain.people import personal
from citybrain.people.caller import Who, acting_as
from citybrain.services import idempotency, photos
from citybrain.services.workflow import event_row
from citybrain.sql import load


def h3_hex(cell: int) -> str:
    return format(cell, "x")


REPORTER = ("reporter_name", "reporter_phone")


def _not_found(incident_id: int) -> NotFound:
    return NotFound(f"no incident {incident_id} in your area")


async def get(conn: AsyncConnection, who: Who, incident_id: int) -> dict[str, Any]:
    """An incident with its case file, as ``who`` may see it."""
    async with acting_as(conn, who.caller):
        rows = await _rows(conn, who, [incident_id])
        if not rows:
            raise _not_found(incident_id)
        return rows[0]


async def _rows(conn: AsyncConnection, who: Who, ids: list[int]) -> list[dict[str, Any]]:
    """The cases ``ids`` the caller sees, in that order (in the caller's transaction),
    reporters masked unless the caller's role needs them (each unmasked read logged)."""
    cur = conn.cursor(row_factory=dict_row)
    params = {"ids": ids, "now": who.actor.at}
    found = {
        r["id"]: r for r in await (await cur.execute(load("incidents/get"), params)).fetchall()
    }
    rows = [found[i] for i in ids if i in found]
    for row in rows:
        row["h3"] = h3_hex(row["h3"])
    if not who.sees_personal:
        return [personal.masked(row, REPORTER) for row in rows]
    for row in rows:
        await personal.record(
            conn,
            who.actor,
            who.caller.user_id,
            who.route,
            f"incident:{row['id']}",
            personal.shown(row, REPORTER),
        )
    return rows


async def tasks(conn: AsyncConnection, who: Who, limit: int = 200) -> list[dict[str, Any]]:
    """The caller's tasks (我的任务): the cases in their team's or department's hands, most
    urgent first, each with its audit trail and photos (what the field app keeps offline)."""
    caller = who.caller
    params = {"team_id": caller.team_id, "department_id": caller.department_id, "limit": limit}
    async with acting_as(conn, caller):
        ids = [r[0] for r in await (await conn.execute(load("incidents/tasks"), params)).fetchall()]
        rows = await _rows(conn, who, ids)
        cur = conn.cursor(row_factory=dict_row)
        seen = {"ids": [r["id"] for r in rows]}
        events = await (await cur.execute(load("incidents/history"), seen)).fetchall()
        shown = await (await cur.execute(load("photos/of_case"), seen)).fetchall()
    by_case: dict[int, dict[str, list]] = {r["id"]: {"events": [], "photos": []} for r in rows}
    for key, found in (("events", events), ("photos", shown)):
        for item in found:
            by_case[item["incident_id"]][key].append(item)
    return [{**row, **by_case[row["id"]]} for row in rows]


async def history(conn: AsyncConnection, who: Who, incident_id: int) -> list[dict[str, Any]]:
    """An incident's audit trail, for a caller who may see its case."""
    async with acting_as(conn, who.caller):
        await _visible(conn, incident_id)
        cur = conn.cursor(row_factory=dict_row)
        return await (
            await cur.execute(load("incidents/history"), {"ids": [incident_id]})
        ).fetchall()


async def _visible(conn: AsyncConnection, incident_id: int) -> None:
    """404 unless the caller (named on this transaction) may see the case."""
    seen = await (await conn.execute(load("incidents/visible"), {"id": incident_id})).fetchone()
    if not seen[0]:
        raise _not_found(incident_id)


async def report(
    conn: AsyncConnection,
    who: Who,
    report: dict[str, Any],
    idempotency_key: str | None = None,
) -> tuple[int, bool]:
    """Take in a new incident (WGS84 ``lon``/``lat``); return ``(id, created)``.

    With an ``idempotency_key``, a retry of the same report returns the first incident
    (``created`` False); the same key with a different report is a conflict.
    """
    if report["category"] not in CATEGORIES_BY_NAME:
        known = ", ".join(CATEGORIES_BY_NAME)
        raise InvalidInput(f"unknown category {report['category']!r}; one of: {known}")
    actor = who.actor
    async with acting_as(conn, who.caller):
        if idempotency_key is not None:
            new, first = await idempotency.claim(conn, actor.name, idempotency_key, report)
            if not new:
                return first, False
        await photos.check_own(conn, actor.name, report.get("photos") or [])
        params = {
            "external_id": None,
            **report,
            "tier": str(initial_tier(report["category"], report["severity"])),
            "now": actor.at,
            "radius_m": DUPLICATE_RADIUS_M,  # (重复件: the case it repeats)
            "window": REPEAT_WINDOW,
        }
        row = await (await conn.execute(load("incidents/insert"), params)).fetchone()
        incident_id, micro_grid_id = row
        if micro_grid_id is None:
            raise InvalidInput(
                f"({report['lon']}, {report['lat']}) is outside the county: incidents must lie "
                "in a micro-grid"
            )
        if idempotency_key is not None:
            await idempotency.keep(conn, actor.name, idempotency_key, incident_id)
        await photos.attach(conn, actor.name, incident_id, report.get("photos") or [], "report")
        await conn.execute(
            load("incidents/insert_case"),
            {**report, "id": incident_id, "reported_by": who.caller.user_id},
        )
        await event_row(
            conn,
            actor,
            incident_id=incident_id,
            action="report",
            to_status=str(Status.reported),
            to_tier=params["tier"],
        )
    return incident_id, True


async def duplicates(conn: AsyncConnection, who: Who, incident_id: int) -> list[dict[str, Any]]:
    """The unclosed cases of the same category near the report (``domain.DUPLICATE_*``) that
    it may be merged into (the step ``merge``), nearest first, of those the caller may see."""
    async with acting_as(conn, who.caller):
        await _visible(conn, incident_id)
        cur = conn.cursor(row_factory=dict_row)
        params = {"id": incident_id, "radius_m": DUPLICATE_RADIUS_M, "window": DUPLICATE_WINDOW}
        return await (await cur.execute(load("incidents/duplicates"), params)).fetchall()
