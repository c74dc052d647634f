"""The big screen's KPIs (``/stats``) and newest incidents, from the SQL in ``stats/``.

The KPIs are asked by every screen of a command centre at once: they are kept in memory and
answered from there while nothing they count has been written (the incidents', cameras' and
teams' version) and for at most ``TTL_S`` (the 30-day windows move with the clock)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from citybrain.sql import load

TTL_S = 5.0
BUSIEST_GRIDS = 10


async def _rows(conn: AsyncConnection, name: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    cur = conn.cursor(row_factory=dict_row)
    return await (await cur.execute(load(name), params)).fetchall()


class Kpis:
    def __init__(self) -> None:
        self._kept: tuple[int, float, dict[str, Any]] | None = None

    async def current(self, conn: AsyncConnection, now: datetime) -> dict[str, Any]:
        """Incidents today (``now``'s local day) and open now; per town over the last 30 days,
        the share dispatched and resolved within their category's limits; the top categories
        of the last 30 days; the grids with most open incidents; cameras online."""
        version = int((await (await conn.execute(load("stats/version"))).fetchone())[0])
        kept = self._kept
        if kept is not None and kept[0] == version and time.monotonic() - kept[1] < TTL_S:
            return kept[2]
        today = now.replace(hour=0, minute=0, second=0, microsecond=0)
        since = now - timedelta(days=30)
        summary = (await _rows(conn, "stats/summary", {"today": today}))[0]
        answer = {
            "generated_at": now.isoformat(timespec="seconds"),
            **summary,
            "towns": await _rows(conn, "stats/towns", {"since": since}),
            "categories": await _rows(conn, "stats/categories", {"since": since}),
            "busiest_grids": await _rows(conn, "stats/busiest_grids", {"limit": BUSIEST_GRIDS}),
        }
        self._kept = (version, time.monotonic(), answer)
        return answer


async def categories(conn: AsyncConnection) -> list[dict[str, Any]]:
    """The county's incident categories with their time limits (the list, not recent data)."""
    return await _rows(conn, "stats/category_list", {})


async def latest(conn: AsyncConnection, limit: int) -> list[dict[str, Any]]:
    """The newest incidents, public fields only."""
    return await _rows(conn, "stats/latest", {"limit": limit})
