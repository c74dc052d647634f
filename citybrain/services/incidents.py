"""Incidents: intake (exactly once per ``Idempotency-Key``), the workflow's state machine, and
atomic assignment that never puts a team over its capacity.

Every write runs in one transaction that locks the incident row, then the team rows it touches
in id order (both teams of a reassignment: concurrent writers cannot deadlock), validates the
transition against ``domain.TRANSITIONS``, stamps the step's time the first time it is
reached, and appends to the audit trail ``incident_events``.
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
    PERSONAL,
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
from citybrain.sql import load


def h3_hex(cell: int) -> str:
    return format(cell, "x")


def _shape(row: dict[str, Any], personal: bool) -> dict[str, Any]:
    row = dict(row)
    row["h3"] = h3_hex(row["h3"])
    if not personal:
        for key in PERSONAL:
            row.pop(key, None)
    return row


async def get(conn: AsyncConnection, incident_id: int, personal: bool = False) -> dict[str, Any]:
    cur = conn.cursor(row_factory=dict_row)
    row = await (await cur.execute(load("incidents/get"), {"id": incident_id})).fetchone()
    if row is None:
        raise NotFound(f"no incident {incident_id}")
    return _shape(row, personal)


async def history(conn: AsyncConnection, incident_id: int) -> list[dict[str, Any]]:
    await get(conn, incident_id)
    cur = conn.cursor(row_factory=dict_row)
    return await (
        await cur.execute(
            "SELECT id, at, actor, role, action, from_status, to_status, from_tier, to_tier, "
            "team_id, note FROM citybrain.incident_events WHERE incident_id = %s ORDER BY id",
            [incident_id],
        )
    ).fetchall()


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
    actor: Actor,
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
    async with conn.transaction():
        if idempotency_key is not None:
            # The primary key serialises concurrent retries: the second waits for the first.
            claimed = await (
                await conn.execute(
                    "INSERT INTO citybrain.idempotency_keys (actor, key, request_hash) "
                    "VALUES (%s, %s, %s) ON CONFLICT DO NOTHING RETURNING key",
                    [actor.name, idempotency_key, digest],
                )
            ).fetchone()
            if claimed is None:
                first = await (
                    await conn.execute(
                        "SELECT request_hash, incident_id FROM citybrain.idempotency_keys "
                        "WHERE actor = %s AND key = %s",
                        [actor.name, idempotency_key],
                    )
                ).fetchone()
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
            await conn.execute(
                "UPDATE citybrain.idempotency_keys SET incident_id = %s "
                "WHERE actor = %s AND key = %s",
                [incident_id, actor.name, idempotency_key],
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
    cur = conn.cursor(row_factory=dict_row)
    row = await (await cur.execute(load("incidents/lock_incident"), {"id": incident_id})).fetchone()
    if row is None:
        raise NotFound(f"no incident {incident_id}")
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
    await conn.execute(
        sql.SQL("UPDATE citybrain.incidents SET {} WHERE id = %(id)s").format(
            sql.SQL(", ").join(sets)
        ),
        {"status": str(target), "id": incident_id, "at": at, **columns},
    )


async def assign(
    conn: AsyncConnection,
    actor: Actor,
    incident_id: int,
    team_id: int,
    note: str | None = None,
    reassign: bool = False,
) -> None:
    """Dispatch an incident to a team, atomically: at most ``capacity`` active incidents per
    team however many dispatchers race; the losers get :class:`Conflict`."""
    async with conn.transaction():
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
    conn: AsyncConnection, actor: Actor, incident_id: int, status: str, note: str | None
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
    async with conn.transaction():
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


async def escalate(conn: AsyncConnection, actor: Actor, incident_id: int, note: str | None) -> None:
    """Hand the case one tier up (village → town → county); it leaves its team."""
    async with conn.transaction():
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
