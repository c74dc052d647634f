"""Photos from the field: kept (``photos.image``: type from the bytes, no metadata, the
longest side bounded) in the photo store by their SHA-256, recorded with who sent them, when
and where; carried by reports and steps (only by their sender), and served to whoever sees
one of the cases they show, or sent them."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from citybrain.errors import Conflict, InvalidInput, NotFound
from citybrain.people.caller import Who, acting_as
from citybrain.photos.image import Kept, keep
from citybrain.photos.store import PhotoStore
from citybrain.sql import load

# Photos decoded at once in one process: each may take a few hundred MB while it is turned,
# scaled and encoded again; more wait their turn.
_DECODING = asyncio.Semaphore(2)


async def accept(store: PhotoStore, data: bytes, *, max_side: int, max_pixels: int) -> Kept:
    """What is kept of a sent photo (``photos.image.keep``: 413, 415 or 400 otherwise), in the
    store. Needs no database: a route takes a connection only to record it."""
    async with _DECODING:
        kept: Kept = await asyncio.to_thread(keep, data, max_side, max_pixels)
    await asyncio.to_thread(store.put, kept.sha256, kept.data)
    return kept


async def record(
    conn: AsyncConnection,
    who: Who,
    kept: Kept,
    *,
    taken_at: datetime | None = None,
    lon: float | None = None,
    lat: float | None = None,
) -> dict[str, Any]:
    """The kept photo recorded as its sender's; its record (``created`` False when its sender
    sent it before)."""
    params = {
        "id": kept.sha256,
        "actor": who.actor.name,
        "media_type": kept.media_type,
        "bytes": len(kept.data),
        "width": kept.width,
        "height": kept.height,
        "at": who.actor.at,
        "taken_at": taken_at,
        "lon": lon,
        "lat": lat,
    }
    async with acting_as(conn, who.caller):
        cur = conn.cursor(row_factory=dict_row)
        row = await (await cur.execute(load("photos/insert"), params)).fetchone()
    if row is None:  # the same photo from the same sender, in a transaction beside this one
        raise Conflict("this photo is being sent by you right now: send it again in a moment")
    return {**row, "as_sent": kept.as_sent}


async def check_own(conn: AsyncConnection, actor: str, ids: list[str]) -> None:
    """400 unless every photo named was sent by ``actor`` (in the caller's transaction)."""
    if not ids:
        return
    rows = await (await conn.execute(load("photos/own"), {"actor": actor, "ids": ids})).fetchall()
    missing = sorted(set(ids) - {r[0] for r in rows})
    if missing:
        raise InvalidInput(
            f"unknown photos {', '.join(missing)}: send each with POST /photos first (a report "
            "or step carries only photos its sender sent)"
        )


async def attach(
    conn: AsyncConnection, actor: str, incident_id: int, ids: list[str], step: str
) -> None:
    """``actor``'s photos now show the case (in the caller's transaction)."""
    if ids:
        params = {"incident_id": incident_id, "ids": ids, "step": step, "actor": actor}
        await conn.execute(load("photos/attach"), params)


async def read(
    conn: AsyncConnection, who: Who, store: PhotoStore, photo_id: str
) -> tuple[bytes, str]:
    """A photo's bytes and type, for a caller who sent it or sees one of its cases (404
    otherwise: whether it exists is not told)."""
    async with acting_as(conn, who.caller):
        cur = await conn.execute(load("photos/readable"), {"id": photo_id, "actor": who.actor.name})
        row = await cur.fetchone()
    data = None if row is None else await asyncio.to_thread(store.get, photo_id)
    if data is None:
        raise NotFound(f"no photo {photo_id} for you")
    return data, row[1]


async def of_case(conn: AsyncConnection, who: Who, incident_id: int) -> list[dict[str, Any]]:
    """The photos of a case the caller sees (404 otherwise)."""
    async with acting_as(conn, who.caller):
        seen = await (await conn.execute(load("incidents/visible"), {"id": incident_id})).fetchone()
        if not seen[0]:
            raise NotFound(f"no incident {incident_id} in your area")
        cur = conn.cursor(row_factory=dict_row)
        return await (await cur.execute(load("photos/of_case"), {"ids": [incident_id]})).fetchall()
