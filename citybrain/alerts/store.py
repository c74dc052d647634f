"""Alerts: what the detectors found, kept as one row per unusual area while it lasts, and the
duty officer's lifecycle new → acknowledged → dispatched / closed (and snooze), every step in
the append-only ``alert_events``.

De-duplication: a finding that shares an area with an alert of the same detector and category
that the detector's previous run still saw (``active``) updates that alert — a growing cluster
is one alert — instead of raising another. An alert that a run no longer sees stops being
active; it stays open until someone closes it. A closed alert whose condition still holds
stays closed (a rule fires once when its condition becomes true, not on every run).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import h3
import psycopg
import shapely
from psycopg import AsyncConnection, AsyncCursor
from psycopg.rows import dict_row
from shapely.geometry import shape

from citybrain.alerts.data import area_column
from citybrain.alerts.detector import Finding
from citybrain.alerts.queries import compose, load
from citybrain.domain import ALERT_ACTIONS, OPEN_ALERT_STATUSES, Actor, AlertStatus
from citybrain.errors import Conflict, InvalidInput, NotFound

SYSTEM_ROLE = "system"
# What list.sql filters by besides status and limit (None: any).
LIST_FILTERS = (
    "kind",
    "detector",
    "area",
    "since",
    "active",
    "snoozed",
    "now",
    "xmin",
    "ymin",
    "xmax",
    "ymax",
)


# --- raising (the detectors' runner; synchronous) ---------------------------------------------


def area_shape(
    conn: psycopg.Connection, level: str, area_ids: Sequence[int], incident_ids: Sequence[int]
):
    """(WKB of the area as a MultiPolygon, area codes, display name: the area holding most of
    the incidents first)."""
    if level.startswith("h3_"):
        cells = [h3.int_to_str(int(c)) for c in area_ids]
        geom = shapely.geometry.MultiPolygon(_polygons(shape(h3.cells_to_h3shape(cells))))
        wkb = shapely.to_wkb(geom)
        town = conn.execute(load("town_at"), {"wkb": wkb}).fetchone()
        place = f"{town[0]} · " if town else ""
        res = level.removeprefix("h3_")
        return wkb, cells, f"{place}{len(cells)} 个 H3 {res} 级单元"
    geom, codes, names, town = conn.execute(
        compose("area_shape", table=f"citybrain.{level}", area=area_column(level)),
        {"ids": list(area_ids), "incidents": list(incident_ids)},
    ).fetchone()
    name = f"{town} · {names[0]}" if town and town != names[0] else names[0]
    if len(names) > 1:
        name += f" 等 {len(names)} 处"
    return bytes(geom), codes, name


def _polygons(geom) -> list:
    return list(geom.geoms) if hasattr(geom, "geoms") else [geom]


def record(
    conn: psycopg.Connection,
    findings: Sequence[Finding],
    detector: str,
    now: datetime,
    analyses: Sequence[str | None],
    grace: timedelta,
) -> int:
    """Store one run's findings (inside the caller's transaction); returns how many alerts were
    raised (new). ``analyses``: the category labels the run looked at (their active alerts
    that it did not see again subside); ``grace``: how long after its last sighting an alert
    not closed is still the one a new finding there continues."""
    raised = 0
    closed = [str(AlertStatus.closed)]
    for label in analyses:
        active = {
            row[0]: set(row[1])
            for row in conn.execute(
                load("active"),
                {"detector": detector, "category": label, "closed": closed, "since": now - grace},
            )
        }
        seen: set[int] = set()
        for f in (f for f in findings if f.category == label):
            wkb, codes, name = area_shape(conn, f.level, f.area_ids, f.incident_ids)
            values = {
                "detector": f.detector,
                "kind": f.kind,
                "category": f.category,
                "level": f.level,
                "area_codes": codes,
                "area_name": name,
                "wkb": wkb,
                "summary": f.summary,
                "summary_en": f.summary_en or f.summary,
                "observed": f.observed,
                "expected": f.expected,
                "statistic": f.statistic,
                "p_value": f.p_value,
                "recurrence_days": f.recurrence_days,
                "window_start": f.window_start,
                "window_end": f.window_end,
                "now": now,
                "incident_ids": f.incident_ids,
            }
            same = next(
                (i for i, c in active.items() if i not in seen and c.intersection(codes)), None
            )
            if same is None:
                alert_id = conn.execute(load("raise"), values).fetchone()[0]
                conn.execute(
                    load("event"),
                    {
                        "alert_id": alert_id,
                        "at": now,
                        "actor": f"detector:{detector}",
                        "role": SYSTEM_ROLE,
                        "action": "raise",
                        "from_status": None,
                        "to_status": "new",
                        "note": f.summary,
                        "snoozed_until": None,
                    },
                )
                raised += 1
            else:
                conn.execute(load("grow"), values | {"id": same})
                seen.add(same)
        gone = [i for i in active if i not in seen]
        if gone:
            conn.execute(load("subside"), {"ids": gone, "now": now})
    return raised


def newest(
    conn: psycopg.Connection, limit: int, closed: bool = False, lang: str = "zh"
) -> list[dict[str, Any]]:
    """The newest alerts as ``GET /alerts`` lists them, open ones only unless ``closed``
    (``citybrain alerts list``), their summaries in ``lang`` (``texts.LANGUAGES``)."""
    filters = dict.fromkeys(LIST_FILTERS) | {
        "status": None if closed else [str(s) for s in OPEN_ALERT_STATUSES],
        "limit": limit,
        "lang": lang,
    }
    return conn.cursor(row_factory=dict_row).execute(load("list"), filters).fetchall()


# --- reading and the lifecycle (the API; asynchronous) ----------------------------------------


async def listing(conn: AsyncConnection, lang: str = "zh", **filters: Any) -> list[dict[str, Any]]:
    cur = conn.cursor(row_factory=dict_row)
    return await (await cur.execute(load("list"), {**filters, "lang": lang})).fetchall()


async def containing(
    conn: AsyncConnection, lon: float, lat: float, lang: str = "zh"
) -> AsyncCursor[dict[str, Any]]:
    """The open alerts whose area holds a point, as a cursor to fetch from once the caller's
    pipeline has run (dispatch sends it with its own statements)."""
    open_ = [str(s) for s in OPEN_ALERT_STATUSES]
    return await conn.cursor(row_factory=dict_row).execute(
        load("containing"), {"lon": lon, "lat": lat, "open": open_, "lang": lang}
    )


async def get(conn: AsyncConnection, alert_id: int, lang: str = "zh") -> dict[str, Any]:
    cur = conn.cursor(row_factory=dict_row)
    row = await (await cur.execute(load("get"), {"id": alert_id, "lang": lang})).fetchone()
    if row is None:
        raise NotFound(f"no alert {alert_id}")
    ids = row.pop("incident_ids")
    row["incident_list"] = await (await cur.execute(load("incidents"), {"ids": ids})).fetchall()
    return row


async def events(conn: AsyncConnection, alert_id: int) -> list[dict[str, Any]]:
    await get(conn, alert_id)
    cur = conn.cursor(row_factory=dict_row)
    return await (await cur.execute(load("events"), {"id": alert_id})).fetchall()


async def _step(
    conn: AsyncConnection,
    alert_id: int,
    action: str,
    decide,
    actor: Actor,
    note: str | None,
) -> dict[str, Any]:
    """One step of an alert's lifecycle in one transaction: lock the alert, ``decide(status,
    snoozed_until)`` its new (status, snoozed_until) or refuse, write it, and append the step
    to the audit trail."""
    async with conn.transaction():
        row = await (await conn.execute(load("lock"), {"id": alert_id})).fetchone()
        if row is None:
            raise NotFound(f"no alert {alert_id}")
        status, snoozed = row
        to_status, snoozed_until = decide(status, snoozed)
        await conn.execute(
            load("act"),
            {
                "id": alert_id,
                "to_status": to_status,
                "snoozed_until": snoozed_until,
                "at": actor.at,
            },
        )
        await conn.execute(
            load("event"),
            {
                "alert_id": alert_id,
                "at": actor.at,
                "actor": actor.name,
                "role": actor.role,
                "action": action,
                "from_status": status,
                "to_status": to_status,
                "note": note,
                "snoozed_until": snoozed_until if action == "snooze" else None,
            },
        )
    return await get(conn, alert_id)


async def act(
    conn: AsyncConnection,
    alert_id: int,
    action: str,
    actor: Actor,
    note: str | None = None,
) -> dict[str, Any]:
    """``ack``, ``dispatch`` or ``close`` an alert (domain.ALERT_ACTIONS), in the audit trail."""
    to_status, allowed_from = ALERT_ACTIONS[action]

    def decide(status: str, snoozed: datetime | None) -> tuple[str, datetime | None]:
        if status not in allowed_from:
            raise Conflict(
                f"alert {alert_id} is {status}: {action} needs it to be "
                + " or ".join(sorted(allowed_from))
            )
        return str(to_status), snoozed

    return await _step(conn, alert_id, action, decide, actor, note)


async def snooze(
    conn: AsyncConnection,
    alert_id: int,
    until: datetime | None,
    actor: Actor,
    note: str | None = None,
) -> dict[str, Any]:
    """Hide an open alert from the screens until ``until`` (None: wake it now)."""

    def decide(status: str, _: datetime | None) -> tuple[str, datetime | None]:
        if status not in OPEN_ALERT_STATUSES:
            raise Conflict(f"alert {alert_id} is {status}: only open alerts can be snoozed")
        if until is not None and until <= actor.at:
            raise InvalidInput("until must be in the future")
        return status, until

    return await _step(conn, alert_id, "snooze", decide, actor, note)
