"""Patrols (巡查): a member walks their grid with the field app, which records a point every
30 s or 20 m and sends them in batches (queued on the phone while offline). A patrol is the
member's, known by the key their phone gave it, so that its start, each batch and its end can
be sent again after a lost answer and count once. Its points become a track (a line with times)
when it ends, with its length and the share of the grid's roads it passed; each batch's latest
point is the team's position for dispatch (``teams.position_at`` says its age).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from citybrain.errors import Conflict, InvalidInput, NotFound
from citybrain.people.caller import Who, acting_as
from citybrain.sql import load

NEAR_ROAD_M = 20  # a road is walked where the track passed within this of it
MAX_POINTS = 500  # points in one batch
CLOCK_SKEW = timedelta(minutes=5)  # how far ahead of the server a phone's clock may run


def _mine(who: Who) -> dict[str, Any]:
    return {"user_id": who.caller.user_id}


async def start(
    conn: AsyncConnection, who: Who, key: str, started_at: datetime | None
) -> tuple[dict[str, Any], bool]:
    """Start the member's patrol ``key`` (again: the first start stands); it and whether new."""
    at = started_at or who.actor.at
    if at > who.actor.at + CLOCK_SKEW:
        raise InvalidInput(f"started_at {at.isoformat()} is in the future")
    params = {
        **_mine(who),
        "key": key,
        "team_id": who.caller.team_id,
        "grid_id": who.caller.area.grid_id,
        "started_at": at,
    }
    async with acting_as(conn, who.caller):
        row = await (await conn.execute(load("patrols/start"), params)).fetchone()
    return await read(conn, who, key), row[1]


async def _locked(conn: AsyncConnection, who: Who, key: str) -> dict[str, Any]:
    cur = conn.cursor(row_factory=dict_row)
    row = await (await cur.execute(load("patrols/lock"), {**_mine(who), "key": key})).fetchone()
    if row is None:
        raise NotFound(f"no patrol {key!r} of yours: start it with PUT /patrols/{key}")
    return row


async def add_points(
    conn: AsyncConnection, who: Who, key: str, points: list[dict[str, Any]]
) -> dict[str, Any]:
    """Add a batch of points (each once, by its time); how many were new."""
    if not 1 <= len(points) <= MAX_POINTS:
        raise InvalidInput(f"a batch holds 1 to {MAX_POINTS} points; this one {len(points)}")
    latest_allowed = who.actor.at + CLOCK_SKEW
    async with acting_as(conn, who.caller):
        patrol = await _locked(conn, who, key)
        if patrol["ended_at"] is not None:
            raise Conflict(f"patrol {key!r} ended at {patrol['ended_at'].isoformat()}")
        for p in points:
            if not patrol["started_at"] - CLOCK_SKEW <= p["at"] <= latest_allowed:
                raise InvalidInput(
                    f"a point at {p['at'].isoformat()} is outside the patrol (started "
                    f"{patrol['started_at'].isoformat()}) or in the future"
                )
        columns = {c: [p.get(c) for p in points] for c in ("at", "lon", "lat", "accuracy_m")}
        cur = conn.cursor(row_factory=dict_row)
        added = await (
            await cur.execute(load("patrols/add_points"), {"id": patrol["id"], **columns})
        ).fetchone()
        if added["added"] and patrol["team_id"] is not None:
            seen = {"id": patrol["team_id"], "lon": added["lon"], "lat": added["lat"]}
            await conn.execute(load("teams/seen"), {**seen, "at": added["at"], "now": who.actor.at})
    return {"added": added["added"], "sent": len(points)}


async def finish(
    conn: AsyncConnection, who: Who, key: str, ended_at: datetime | None
) -> dict[str, Any]:
    """End the patrol (ended already: as it is): its track, length and roads walked."""
    async with acting_as(conn, who.caller):
        patrol = await _locked(conn, who, key)
        if patrol["ended_at"] is None:
            at = ended_at or who.actor.at
            if not patrol["started_at"] <= at <= who.actor.at + CLOCK_SKEW:
                raise InvalidInput(f"ended_at {at.isoformat()} is before its start or ahead")
            params = {"id": patrol["id"], "ended_at": at, "near_m": NEAR_ROAD_M}
            await conn.execute(load("patrols/finish"), params)
    return await read(conn, who, key)


async def read(conn: AsyncConnection, who: Who, key: str) -> dict[str, Any]:
    async with acting_as(conn, who.caller):
        cur = conn.cursor(row_factory=dict_row)
        row = await (await cur.execute(load("patrols/read"), {**_mine(who), "key": key})).fetchone()
    if row is None:
        raise NotFound(f"no patrol {key!r} of yours")
    return row
