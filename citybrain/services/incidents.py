"""Incidents: intake (exactly once per ``Idempotency-Key``), the workflow's state machine, and
atomic assignment that never puts a team over its capacity.

Every read and write runs in one transaction in which the database knows the caller
(``people.caller.acting_as``): an incident's case file and audit trail are read, and its steps
taken, only within the caller's scope, as row-level security decides (a case outside it is "not
found"). A write locks the incident row, then the team rows it touches in id order (both teams
of a reassignment: concurrent writers cannot deadlock), validates the transition against
``domain.TRANSITIONS``, stamps the step's time the first time it is reached, and appends to the
audit trail ``incident_events``. Reporters' names and phones are masked unless the caller's role
needs them, and every unmasked read is logged (``people.personal``).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import orjson
from psycopg import AsyncConnection, sql
from psycopg.rows import dict_row

from citybrain.domain import (
    CATEGORIES_BY_NAME,
    STATUS_TIMESTAMPS,
    STATUS_UPDATES,
    TRANSITIONS,
    Actor,
    Status,
    Tier,
    initial_tier,
    why_team_cannot_take,
)
from citybrain.errors import Conflict, InvalidInput, NotFound
from citybrain.people import personal
from citybrain.people.caller import Who, acting_as
from citybrain.sql import load


def h3_hex(cell: int) -> str:
    return format(cell, "x")


REPORTER = ("reporter_name", "reporter_phone")


def _not_found(incident_id: int) -> NotFound:
    return NotFound(f"no incident {incident_id} in your area")


async def get(conn: AsyncConnection, who: Who, incident_id: int) -> dict[str, Any]:
    """An incident with its case file, as ``who`` may see it."""
    async with acting_as(conn, who.caller):
        cur = conn.cursor(row_factory=dict_row)
        row = await (
            await cur.execute(load("incidents/get"), {"id": incident_id, "now": who.actor.at})
        ).fetchone()
        if row is None:
            raise _not_found(incident_id)
        row["h3"] = h3_hex(row["h3"])
        if not who.sees_personal:
            return personal.masked(row, REPORTER)
        await personal.record(
            conn,
            who.actor,
            who.caller.user_id,
            who.route,
            f"incident:{incident_id}",
            personal.shown(row, REPORTER),
        )
        return row


async def history(conn: AsyncConnection, who: Who, incident_id: int) -> list[dict[str, Any]]:
    """An incident's audit trail, for a caller who may see its case."""
    async with acting_as(conn, who.caller):
        await _visible(conn, incident_id)
        cur = conn.cursor(row_factory=dict_row)
        return await (await cur.execute(load("incidents/history"), {"id": incident_id})).fetchall()


async def _visible(conn: AsyncConnection, incident_id: int) -> None:
    """404 unless the caller (named on this transaction) may see the case."""
    seen = await (await conn.execute(load("incidents/visible"), {"id": incident_id})).fetchone()
    if not seen[0]:
        raise _not_found(incident_id)


async def _event(conn: AsyncConnection, actor: Actor, **fields: Any) -> None:
    row = {
        "from_status": None,
        "to_status": None,
        "from_tier": None,
        "to_tier": None,
        "team_id": None,
        "note": None,
        **fields,
    }
    await conn.execute(
        load("incidents/event"), {"actor": actor.name, "role": actor.role, "at": actor.at, **row}
    )


def _request_hash(report: dict[str, Any]) -> str:
    return hashlib.sha256(
        orjson.dumps(report, option=orjson.OPT_SORT_KEYS, default=str)
    ).hexdigest()


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
    digest = _request_hash(report)
    actor = who.actor
    key = {"actor": actor.name, "key": idempotency_key}
    async with acting_as(conn, who.caller):
        if idempotency_key is not None:
            # The primary key serialises concurrent retries: the second waits for the first.
            claimed = await (
                await conn.execute(load("incidents/claim_key"), {**key, "hash": digest})
            ).fetchone()
            if claimed is None:
                first = await (await conn.execute(load("incidents/claimed_key"), key)).fetchone()
                if first[0] != digest:
                    raise Conflict(
                        f"Idempotency-Key {idempotency_key!r} was used for a different report"
                    )
                return first[1], False
        params = {
            **report,
            "tier": str(initial_tier(report["category"], report["severity"])),
            "now": actor.at,
        }
        row = await (await conn.execute(load("incidents/insert"), params)).fetchone()
        incident_id, micro_grid_id = row
        if micro_grid_id is None:
            raise InvalidInput(
                f"({report['lon']}, {report['lat']}) is outside the county: incidents must lie "
                "in a micro-grid"
            )
        if idempotency_key is not None:
            await conn.execute(load("incidents/keep_key"), {**key, "id": incident_id})
        await conn.execute(
            load("incidents/insert_case"),
            {**report, "id": incident_id, "reported_by": who.caller.user_id},
        )
        await _event(
            conn,
            actor,
            incident_id=incident_id,
            action="report",
            to_status=str(Status.reported),
            to_tier=params["tier"],
        )
    return incident_id, True


async def _lock(conn: AsyncConnection, incident_id: int) -> dict[str, Any]:
    """The incident, locked, if the caller may see its case (404 otherwise)."""
    cur = conn.cursor(row_factory=dict_row)
    row = await (await cur.execute(load("incidents/lock_incident"), {"id": incident_id})).fetchone()
    if row is None:
        raise _not_found(incident_id)
    await _visible(conn, incident_id)
    return row


def _check(current: str, target: Status) -> None:
    if target not in TRANSITIONS[Status(current)]:
        allowed = ", ".join(sorted(TRANSITIONS[Status(current)])) or "none (final)"
        raise Conflict(
            f"cannot go from {current} to {target}; from {current} the next steps are: {allowed}",
            status=current,
        )


async def _move(
    conn: AsyncConnection, incident_id: int, target: Status, at: datetime, **columns: Any
) -> None:
    """Set the status, stamp its time (``at``) if this is the first time, and set
    ``columns``."""
    stamp = sql.Identifier(STATUS_TIMESTAMPS[target])
    sets = [
        sql.SQL("status = %(status)s"),
        sql.SQL("{} = coalesce({}, %(at)s)").format(stamp, stamp),
        sql.SQL("updated_at = %(at)s"),
    ]
    sets += [sql.SQL("{} = {}").format(sql.Identifier(c), sql.Placeholder(c)) for c in columns]
    # assembled: the status's timestamp column (domain.STATUS_TIMESTAMPS) and the caller's
    # fixed column names, quoted as identifiers; every value bound
    await conn.execute(
        sql.SQL("UPDATE citybrain.incidents SET {} WHERE id = %(id)s").format(
            sql.SQL(", ").join(sets)
        ),
        {"status": str(target), "id": incident_id, "at": at, **columns},
    )


async def assign(
    conn: AsyncConnection,
    who: Who,
    incident_id: int,
    team_id: int,
    note: str | None = None,
    reassign: bool = False,
) -> None:
    """Dispatch an incident to a team, atomically: at most ``capacity`` active incidents per
    team however many dispatchers race; the losers get :class:`Conflict`."""
    actor = who.actor
    async with acting_as(conn, who.caller):
        inc = await _lock(conn, incident_id)
        if not (reassign and inc["status"] == Status.dispatched):
            _check(inc["status"], Status.dispatched)
        cur = conn.cursor(row_factory=dict_row)
        ids = sorted({team_id, inc["team_id"]} - {None})
        locked = await (await cur.execute(load("incidents/lock_team"), {"ids": ids})).fetchall()
        team = next((t for t in locked if t["id"] == team_id), None)
        if team is None:
            raise NotFound(f"no team {team_id}")
        active = await (await conn.execute(load("incidents/active"), {"id": team_id})).fetchone()
        team["active"] = active[0]
        if inc["team_id"] == team_id:
            raise Conflict(f"incident {incident_id} is already with team {team_id}")
        why = why_team_cannot_take(
            team["status"], team["skills"], team["active"], team["capacity"], inc["category"]
        )
        if why is not None:
            raise Conflict(f"team {team_id} {why}", team_id=team_id)
        await _move(conn, incident_id, Status.dispatched, actor.at, team_id=team_id)
        await _event(
            conn,
            actor,
            incident_id=incident_id,
            action="assign",
            from_status=inc["status"],
            to_status=str(Status.dispatched),
            team_id=team_id,
            note=note,
        )
        await conn.execute(load("incidents/team_load"), {"id": team_id})
        if inc["team_id"] is not None:
            await conn.execute(load("incidents/team_load"), {"id": inc["team_id"]})


async def set_status(
    conn: AsyncConnection, who: Who, incident_id: int, status: str, note: str | None
) -> None:
    """Move an incident along its workflow: on_site, resolved, closed."""
    try:
        target = Status(status)
    except ValueError:
        target = None
    if target not in STATUS_UPDATES:
        raise InvalidInput(
            f"status must be one of {', '.join(STATUS_UPDATES)} (dispatch with /assign, "
            "escalate with /escalate)"
        )
    actor = who.actor
    async with acting_as(conn, who.caller):
        inc = await _lock(conn, incident_id)
        _check(inc["status"], target)
        await _move(conn, incident_id, target, actor.at)
        await _event(
            conn,
            actor,
            incident_id=incident_id,
            action="status",
            from_status=inc["status"],
            to_status=str(target),
            team_id=inc["team_id"],
            note=note,
        )
        if inc["team_id"] is not None and target == Status.resolved:
            await conn.execute(load("incidents/team_load"), {"id": inc["team_id"]})


async def escalate(conn: AsyncConnection, who: Who, incident_id: int, note: str | None) -> None:
    """Hand the case one tier up (village → town → county); it leaves its team."""
    actor = who.actor
    async with acting_as(conn, who.caller):
        inc = await _lock(conn, incident_id)
        _check(inc["status"], Status.escalated)
        if inc["tier"] == Tier.county:
            raise Conflict(f"incident {incident_id} is already at the county tier", status="county")
        tier = str(Tier(inc["tier"]).up())
        await _move(conn, incident_id, Status.escalated, actor.at, tier=tier, team_id=None)
        await _event(
            conn,
            actor,
            incident_id=incident_id,
            action="escalate",
            from_status=inc["status"],
            to_status=str(Status.escalated),
            from_tier=inc["tier"],
            to_tier=tier,
            note=note,
        )
        if inc["team_id"] is not None:
            await conn.execute(load("incidents/team_load"), {"id": inc["team_id"]})
