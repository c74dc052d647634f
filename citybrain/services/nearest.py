"""The k nearest teams, cameras or facilities to a point, ranked by true geodesic distance.

The KNN index (``<->``) orders by planar distance in degrees, which is not the order in metres
(a degree of longitude is shorter than a degree of latitude). We fetch more candidates than asked
and stop only when no unseen row can be nearer than the k-th: every unseen row lies at least
``last planar distance x min_metres_per_degree`` away. The answer is exact, not approximate.

KNN statements are never prepared (``prepare=False``): a prepared statement soon runs a generic
plan, which cannot see that the LIMIT is small and may scan and sort the whole table instead of
walking the index (measured 3x slower on teams). Unprepared, PostgreSQL plans for the values.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from citybrain.crs import min_metres_per_degree
from citybrain.sql import load

EXTRA_CANDIDATES = 16


class Kind(StrEnum):
    teams = "teams"
    cameras = "cameras"
    facilities = "facilities"


async def nearest(
    conn: AsyncConnection,
    kind: Kind,
    lon: float,
    lat: float,
    k: int = 5,
    within_m: float | None = None,
    **filters: Any,
) -> list[dict[str, Any]]:
    """Rows of ``kind`` nearest (lon, lat), nearest first, each with ``distance_m``.

    ``filters``: ``available`` and ``skill`` for teams, ``online`` for cameras,
    ``facility_kind`` for facilities.
    """
    per_degree = min_metres_per_degree(lat)
    params = {
        "lon": lon,
        "lat": lat,
        "box": within_m / per_degree if within_m is not None else None,
        "available": bool(filters.get("available")),
        "skill": filters.get("skill"),
        "online": bool(filters.get("online")),
        "facility_kind": filters.get("facility_kind"),
    }
    statement = load(f"dispatch/nearest_{kind}")
    n = k + EXTRA_CANDIDATES
    cur = conn.cursor(row_factory=dict_row)
    while True:
        rows = await (await cur.execute(statement, {**params, "n": n}, prepare=False)).fetchall()
        found = sorted(
            (r for r in rows if within_m is None or r["distance_m"] <= within_m),
            key=lambda r: (r["distance_m"], r["id"]),
        )
        if len(rows) < n:
            break  # every matching row was seen
        unseen_at_least = rows[-1]["distance_deg"] * per_degree
        if within_m is not None and unseen_at_least > within_m:
            break
        if len(found) >= k and found[k - 1]["distance_m"] < unseen_at_least:
            break
        n *= 4
    for r in found:
        del r["distance_deg"]
    return found[:k]
