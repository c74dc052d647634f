"""Cards for the big screen's drill-down: an area of any level (town, village, grid, compound,
micro-grid) with its people, teams, open incidents and this month's on-time rates."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from psycopg import AsyncConnection, sql
from psycopg.rows import dict_row

from citybrain.domain import OPEN_STATUSES
from citybrain.errors import NotFound
from citybrain.sql import literal

# Each level: its table, and its column in the micro-grid chain (the view micro_grid_chain,
# migration 0015) that selects the micro-grids (m) below an area. Fixed text, never input.
LEVELS = {
    "town": ("towns", "town_id"),
    "village": ("villages", "village_id"),
    "grid": ("grids", "grid_id"),
    "compound": ("compounds", "compound_id"),
    "micro_grid": ("micro_grids", "micro_grid_id"),
}
CHAIN = """FROM citybrain.micro_grid_chain ch
JOIN citybrain.micro_grids m ON m.id = ch.micro_grid_id
WHERE ch.{member} = %(id)s"""


def boundary(derived: bool, import_id: int | None) -> str:
    """Where an area's polygon came from: ``derived`` (drawn by citybrain from its committee's
    location), ``imported`` (the county's own file) or ``synthetic`` (the generated county)."""
    if derived:
        return "derived"
    return "imported" if import_id is not None else "synthetic"


async def _one(conn: AsyncConnection, query: sql.Composable | str, params: dict) -> dict:
    cur = conn.cursor(row_factory=dict_row)
    return await (await cur.execute(query, params)).fetchone()


async def card(conn: AsyncConnection, code: str, now: datetime) -> dict[str, Any]:
    found = None
    for level, (table, _) in LEVELS.items():
        row = await _one(
            conn,
            sql.SQL(
                "SELECT id, code, name, derived, import_id, ST_XMin(e) AS w, ST_YMin(e) AS s, "
                "ST_XMax(e) AS e, ST_YMax(e) AS n FROM (SELECT id, code, name, derived, "
                "import_id, ST_Envelope(geom) e FROM {} WHERE code = %(code)s) x"
            ).format(sql.Identifier("citybrain", table)),
            {"code": code},
        )
        if row:
            found = (level, row)
            break
    if found is None:
        raise NotFound(f"no area with code {code!r}")
    level, area = found
    member = sql.SQL(CHAIN).format(member=sql.Identifier(LEVELS[level][1]))
    ids = {"id": area["id"]}
    people = await _one(
        conn,
        sql.SQL(
            "SELECT coalesce(sum(m.population), 0) AS population, "
            "coalesce(sum(m.households), 0) AS households, count(*) AS micro_grids "
        )
        + member,
        ids,
    )
    grid_ids = sql.SQL("SELECT DISTINCT ch.grid_id ") + member
    cur = conn.cursor(row_factory=dict_row)
    teams = await (
        await cur.execute(
            sql.SQL(
                "SELECT t.id, t.name, t.status, t.capacity, "
                "(SELECT array_agg(DISTINCT x->>'role') "
                " FROM jsonb_array_elements(t.members) x) AS roles, "
                "citybrain.team_active(t.id) AS active "
                "FROM citybrain.teams t WHERE t.grid_id IN ({}) ORDER BY t.id"
            ).format(grid_ids),
            ids,
        )
    ).fetchall()
    incidents = (
        sql.SQL(
            "FROM citybrain.incidents i JOIN citybrain.categories c "
            "ON c.name = i.category WHERE i.micro_grid_id IN (SELECT m.id "
        )
        + member
        + sql.SQL(")")
    )
    month_start = now - timedelta(days=30)
    month = await _one(
        conn,
        sql.SQL(
            "SELECT count(*) AS incidents, "
            "round(100.0 * count(*) FILTER (WHERE i.dispatched_at <= i.reported_at "
            "  + make_interval(mins => c.dispatch_minutes)) "
            "  / nullif(count(i.dispatched_at), 0), 1) "
            "  AS dispatched_on_time_pct, "
            "round(100.0 * count(*) FILTER (WHERE i.resolved_at <= i.reported_at "
            "  + make_interval(hours => c.resolve_hours)) / nullif(count(i.resolved_at), 0), 1) "
            "  AS resolved_on_time_pct "
        )
        + incidents
        + sql.SQL(" AND i.reported_at >= %(since)s"),
        {**ids, "since": month_start},
    )
    by_category = await (
        await cur.execute(
            sql.SQL("SELECT i.category, count(*) AS n ")
            + incidents
            + sql.SQL(" AND i.reported_at >= %(since)s GROUP BY 1 ORDER BY 2 DESC, 1"),
            {**ids, "since": month_start},
        )
    ).fetchall()
    open_rows = await (
        await cur.execute(
            sql.SQL("SELECT i.id, i.category, i.status, i.tier, i.severity, i.reported_at ")
            + incidents
            + sql.SQL(" AND i.status IN {} ORDER BY i.reported_at DESC").format(
                sql.SQL(literal(OPEN_STATUSES))
            ),
            ids,
        )
    ).fetchall()
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
        "team_summary": {
            s: sum(t["status"] == s for t in teams) for s in ("available", "busy", "off_duty")
        }
        | {"teams": len(teams)},
        "open_incidents": len(open_rows),
        "latest_open": open_rows[:8],
        "last_30_days": {**month, "by_category": {r["category"]: r["n"] for r in by_category}},
    }
