"""What the health routes ask of the database: the schema's revision, and whether this code
can serve on it."""

from __future__ import annotations

from functools import cache

import psycopg.errors
from psycopg import AsyncConnection

from citybrain.db.migrate import head_revision, known_revisions
from citybrain.sql import load


async def health(conn: AsyncConnection) -> tuple[str, str | None, int]:
    """PostGIS's version, the schema's revision and the incidents (estimated)."""
    return await (await conn.execute(load("health/health"))).fetchone()


async def schema_problem(conn: AsyncConnection) -> str | None:
    """Why this server cannot serve on the schema (None: it can). Behind this code's head it
    cannot; ahead of it (a newer release migrated first, during a rolling deploy) it can, as
    migrations only add what older code does not read."""
    try:
        row = await (await conn.execute(load("health/revision"))).fetchone()
    except psycopg.errors.UndefinedTable:
        return "the schema is not migrated: run citybrain db migrate"
    at, head = (row[0] if row else None), _head()
    if at is None or (at != head and at in _known()):
        return f"the schema is at revision {at}, this server needs {head}: run citybrain db migrate"
    # (at this code's head, or newer: migrations only add what older code does not read)
    # Time limits in working hours count on the calendar `db migrate` writes: an empty one
    # would leave every such limit without a due time.
    if not (await (await conn.execute(load("health/work_calendar"))).fetchone())[0]:
        return "the working calendar is empty: run citybrain db migrate"
    return None


@cache
def _head() -> str | None:
    return head_revision()


@cache
def _known() -> frozenset[str]:
    return known_revisions()
