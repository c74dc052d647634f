"""Cards for the big screen's drill-down: an area of any level (town, village, grid, compound,
micro-grid) with its people, teams, open incidents and this month's on-time rates."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import cache
from typing import Any

from psycopg import AsyncConnection, sql
from psycopg.rows import dict_row

from citybrain.errors import NotFound
from citybrain.sql import compose

# Each level: its table, and its column in the micro-grid chain (the view micro_grid_chain,
# migration 0015) that selects the micro-grids (m) below an area. Fixed text, never input.
LEVELS = {
    "town": ("towns", "town_id"),
    "village": ("villages", "village_id"),
    "grid": ("grids", "grid_id"),
    "compound": ("compounds", "compound_id"),
    "micro_grid": ("micro_grids", "micro_grid_id"),
}


def boundary(derived: bool, import_id: int | None) -> str:
    """Where an area's polygon came from: ``derived`` (drawn by citybrain from its committee's
    location), ``imported`` (the county's own file) or ``synthetic`` (the generated county)."""
    if derived:
        return "derived"
    return "imported" if import_id is not None else "synthetic"


@cache
def _statement(name: str, level: str) -> sql.Composed:
    """``areas/<name>.sql`` for an area of ``level``: its table or its chain column filled in
    (identifiers of :data:`LEVELS`)."""
    table, member = LEVELS[level]
    return compose(f"areas/{name}", table=f"citybrain.{table}", member=member)


async def _one(conn: AsyncConnection, query: sql.Composed, params: dict) -> dict:
    cur = conn.cursor(row_factory=dict_row)
    return await (await cur.execute(query, params)).fetchone()


async def _all(conn: AsyncConnection, query: sql.Composed, params: dict) -> list[dict]:
    cur = conn.cursor(row_factory=dict_row)
    return await (await cur.execute(query, params)).fetchall()


async def _find(conn: AsyncConnection, code: str) -> tuple[str, dict[str, Any]]:
    """The level and row of the area with ``code``, the highest level first."""
    for level in LEVELS:
        row = await _one(conn, _statement("find", level), {"code": code})
        if row:
            return level, row
    raise NotFound(f"no area with code {code!r}")


async def card(conn: AsyncConnection, code: str, now: datetime) -> dict[str, Any]:
    level, area = await _find(conn, code)
    ids = {"id": area["id"]}
    month = {**ids, "since": now - timedelta(days=30)}
    people = await _one(conn, _statement("people", level), ids)
    teams = await _all(conn, _statement("teams", level), ids)
    last_30_days = await _one(conn, _statement("month", level), month)
    by_category = await _all(conn, _statement("by_category", level), month)
    open_rows = await _all(conn, _statement("open", level), ids)
    return {
        "level": level,
        "id": area["id"],
        "code": area["code"],
        "name": area["name"],
        "bbox": [area["w"], area["s"], area["e"], area["n"]],
        "boundary": boundary(area["derived"], area["import_id"]),
        "population": int(people["population"]),
        "households": int(people["households"]),
        "micro_grids": people["micro_grids"],
        "teams": teams if len(teams) <= 12 else [],
        "team_summary": _team_summary(teams),
        "open_incidents": len(open_rows),
        "latest_open": open_rows[:8],
        "last_30_days": {
            **last_30_days,
            "by_category": {r["category"]: r["n"] for r in by_category},
        },
    }


def _team_summary(teams: list[dict[str, Any]]) -> dict[str, int]:
    return {s: sum(t["status"] == s for t in teams) for s in ("available", "busy", "off_duty")} | {
        "teams": len(teams)
    }
