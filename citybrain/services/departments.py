"""Departments (部门): the town's four platforms and the county's departments, responders
beside grid teams; which of them may take a case (``domain.why_department_cannot_take``)."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from citybrain.domain import CATEGORIES_BY_NAME
from citybrain.errors import InvalidInput
from citybrain.people.caller import Who, acting_as
from citybrain.services.workflow import department_refusal, locked_case
from citybrain.sql import load


async def listed(
    conn: AsyncConnection, town_id: int | None = None, category: str | None = None
) -> list[dict[str, Any]]:
    """The departments serving a town (its platforms and the county's), of a category."""
    if category is not None and category not in CATEGORIES_BY_NAME:
        raise InvalidInput(
            f"unknown category {category!r}; one of: {', '.join(CATEGORIES_BY_NAME)}"
        )
    cur = conn.cursor(row_factory=dict_row)
    rows = await cur.execute(load("departments/list"), {"town_id": town_id, "category": category})
    return await rows.fetchall()


async def for_case(conn: AsyncConnection, who: Who, incident_id: int) -> list[dict[str, Any]]:
    """The departments that may take a case now (its town's platforms below the county tier,
    the county's departments), each with why not when it may not."""
    async with acting_as(conn, who.caller):
        inc = await locked_case(conn, incident_id, lock=False)
    out = []
    for dept in await listed(conn, inc["town_id"]):
        why = department_refusal(dept, inc)
        out.append({**dept, "can_take": why is None, "why_not": why})
    return out
