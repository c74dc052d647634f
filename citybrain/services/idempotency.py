"""Exactly once per ``Idempotency-Key``: a report or a step sent again with the key it was
first sent with (a phone whose answer was lost, a retrying 12345 bridge) is answered with what
the first made, and not applied twice; the same key with another request is a conflict. Keys
are the sender's own (per actor), kept in ``idempotency_keys`` with the request's hash."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from psycopg import AsyncConnection

from citybrain.errors import Conflict
from citybrain.sql import load


def request_hash(request: dict[str, Any]) -> str:
    return hashlib.sha256(
        orjson.dumps(request, option=orjson.OPT_SORT_KEYS, default=str)
    ).hexdigest()


async def claim(
    conn: AsyncConnection, actor: str, key: str, request: dict[str, Any]
) -> tuple[bool, int | None]:
    """Claim ``key`` for ``request`` in the caller's transaction: ``(True, None)`` when it is
    new; ``(False, incident)`` when this request was made with it before (its incident). The
    key's primary key serialises concurrent retries: the second waits for the first."""
    params = {"actor": actor, "key": key, "hash": request_hash(request)}
    claimed = await (await conn.execute(load("incidents/claim_key"), params)).fetchone()
    if claimed is not None:
        return True, None
    first = await (await conn.execute(load("incidents/claimed_key"), params)).fetchone()
    if first[0] != params["hash"]:
        raise Conflict(f"Idempotency-Key {key!r} was used for a different request")
    return False, first[1]


async def keep(conn: AsyncConnection, actor: str, key: str, incident_id: int) -> None:
    """The incident the claimed ``key`` made or changed, for a retry to be answered with."""
    await conn.execute(load("incidents/keep_key"), {"actor": actor, "key": key, "id": incident_id})
