"""12345 work orders pushed by the hotline's system as they are taken (一窗受理): each becomes
an incident of source ``hotline_12345`` whose ``external_id`` is the order's number, exactly
once however often the order is pushed (the batch import of the hotline's exports matches the
same number, and updates the case instead of doubling it)."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from psycopg.errors import UniqueViolation

from citybrain.domain import Source
from citybrain.errors import Conflict
from citybrain.people.caller import Who
from citybrain.services import incidents
from citybrain.sql import load


async def _known(conn: AsyncConnection, order_no: str) -> int | None:
    """The case of work order ``order_no`` (409 when the number is another source's)."""
    async with conn.transaction():
        row = await (
            await conn.execute(load("incidents/by_external_id"), {"external_id": order_no})
        ).fetchone()
    if row is None:
        return None
    if row[1] != Source.hotline_12345:
        raise Conflict(f"{order_no!r} is the number of a case from {row[1]}, not a 12345 order")
    return row[0]


async def take(
    conn: AsyncConnection, who: Who, order_no: str, order: dict[str, Any]
) -> tuple[int, bool]:
    """The incident of work order ``order_no``: ``(id, True)`` when this push made it,
    ``(id, False)`` when an earlier push (or import) did. The same caller pushing the order
    again with other content is a conflict (``incidents.report``'s idempotency)."""
    report = {**order, "source": str(Source.hotline_12345), "external_id": order_no}
    try:
        # The idempotency key serialises two pushes of one order by the same caller; the
        # number's uniqueness, pushes by different callers.
        return await incidents.report(conn, who, report, idempotency_key=f"12345:{order_no}")
    except UniqueViolation:
        known = await _known(conn, order_no)
        if known is None:
            raise
        return known, False
