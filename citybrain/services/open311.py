"""Open311 GeoReport v2 (一窗受理: citizens' apps and other outside systems): the county's
categories as services, its incidents as service requests, a new request taken in as a new
incident (``services.incidents.report``, source ``citizen_app``).

How citybrain maps onto the specification (http://wiki.open311.org/GeoReport_v2):

- a service is a category: ``service_code`` its slug, ``service_name`` its Chinese name,
  ``group`` the tier that first handles it; no attributes (``metadata`` false);
- a request's ``status`` is ``closed`` for a closed, rejected or merged case and ``open`` for
  every other (a resolved case is open until it is checked and closed); ``status_notes`` says
  where it is in the workflow (a merged one: where the case it was merged into is, and
  ``status`` is that case's); ``agency_responsible`` the grid team or department holding it,
  else the tier;
  ``expected_datetime`` its resolution due time (``citybrain.step_due``: working hours where its
  category counts them); ``description`` only for callers who may read its case file;
- a list is by ids, or over at most 90 days (the last 90 by default), at most 1000 requests.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from citybrain.domain import CATEGORIES, CATEGORIES_BY_NAME, UNCLOSED, Source, Status
from citybrain.errors import InvalidInput, NotFound
from citybrain.people.caller import Who, acting_as
from citybrain.services import incidents
from citybrain.sql import load

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
MAX_DAYS = 90
MAX_REQUESTS = 1000
BY_CODE = {c.slug: c for c in CATEGORIES}
# Open311's two statuses, from the workflow's: a case is open until it is closed, refused
# (rejected) or carried by another (merged, whose reporter is told that case's outcome).
OPEN311_STATUSES = {
    "open": [str(s) for s in UNCLOSED],
    "closed": [str(Status.closed), str(Status.rejected), str(Status.merged)],
}
STATUS_NOTES = {
    Status.reported: "已受理，等待立案",
    Status.registered: "已立案，等待派遣",
    Status.dispatched: "已派遣",
    Status.on_site: "处置中",
    Status.resolved: "已处置，等待核查",
    Status.checked: "已核查，等待结案",
    Status.closed: "已结案",
    Status.escalated: "已上报上级，等待派遣",
    Status.rejected: "不予立案",
    Status.merged: "已并案",
}
TIER_NAMES = {"village": "村（社区）", "town": "乡镇（街道）", "county": "县级部门"}


def services() -> list[dict[str, Any]]:
    """GET services: every category."""
    return [
        {
            "service_code": c.slug,
            "service_name": c.name,
            "description": f"{c.name} ({c.name_en})",
            "metadata": False,
            "type": "realtime",
            "keywords": c.name_en,
            "group": TIER_NAMES[str(c.base_tier)],
        }
        for c in CATEGORIES
    ]


def _category(code: str) -> str:
    try:
        return BY_CODE[code].name
    except KeyError:
        raise InvalidInput(f"unknown service_code {code!r}; one of: {', '.join(BY_CODE)}") from None


def definition(code: str) -> dict[str, Any]:
    """GET services/{code}: no attributes beyond the location and the description."""
    if code not in BY_CODE:
        raise NotFound(f"no service {code!r}; one of: {', '.join(BY_CODE)}")
    return {"service_code": code, "attributes": []}


def _codes(text: str | None, known: dict, what: str) -> list | None:
    if not text:
        return None
    values = [v.strip() for v in text.split(",") if v.strip()]
    unknown = [v for v in values if v not in known]
    if unknown:
        raise InvalidInput(f"unknown {what} {', '.join(unknown)}; one of: {', '.join(known)}")
    return values


def _ids(text: str) -> list[int]:
    try:
        ids = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise InvalidInput(
            f"service_request_id: whole numbers, comma separated: {text!r}"
        ) from None
    if not ids or len(ids) > MAX_REQUESTS or min(ids) < 1 or max(ids) >= 2**63:
        raise InvalidInput(f"service_request_id: 1 to {MAX_REQUESTS} ids of incidents")
    return ids


def window(
    start: datetime | None, end: datetime | None, now: datetime
) -> tuple[datetime, datetime]:
    """[start, end): the last 90 days by default; from one end, 90 days from it; never more."""
    for name, t in (("start_date", start), ("end_date", end)):
        if t is not None and t.tzinfo is None:
            raise InvalidInput(f"{name} needs a time zone (w3c: 2026-11-01T00:00:00+08:00)")
    span = timedelta(days=MAX_DAYS)
    if start is None and end is None:
        end = now
    try:
        end = end or start + span
        start = start or end - span
    except OverflowError:
        raise InvalidInput("start_date or end_date is out of range") from None
    if end <= start:
        raise InvalidInput("end_date must be after start_date")
    if end - start > span:
        raise InvalidInput(f"start_date to end_date may span at most {MAX_DAYS} days")
    return start, end


def _request(row: dict[str, Any]) -> dict[str, Any]:
    category = CATEGORIES_BY_NAME[row["category"]]
    status = Status(row["status"])
    notes = STATUS_NOTES[status]
    if status == Status.merged:  # its reporter follows the case it was merged into
        status = Status(row["merged_status"])
        notes = f"已并入{row['merged_into']}号案件办理：{STATUS_NOTES[status]}"
    return {
        "service_request_id": str(row["id"]),
        "status": "open" if status in UNCLOSED else "closed",
        "status_notes": notes,
        "service_name": category.name,
        "service_code": category.slug,
        "description": row["description"],
        "agency_responsible": row["team"] or row["department"] or TIER_NAMES[row["tier"]],
        "service_notice": None,
        "requested_datetime": row["reported_at"].isoformat(timespec="seconds"),
        "updated_datetime": row["updated_at"].isoformat(timespec="seconds"),
        "expected_datetime": (
            row["expected_at"].isoformat(timespec="seconds") if row["expected_at"] else None
        ),
        "address": None,
        "address_id": None,
        "zipcode": None,
        "lat": row["lat"],
        "long": row["lon"],
        "media_url": None,
    }


async def requests(
    conn: AsyncConnection,
    who: Who,
    ids: str | None = None,
    codes: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    status: str | None = None,
) -> list[dict[str, Any]]:
    """GET requests: by ids (the others ignored, as the specification says), else by window,
    service codes and status."""
    categories = _codes(codes, BY_CODE, "service_code")
    statuses = _codes(status, OPEN311_STATUSES, "status")
    params = {
        "ids": _ids(ids) if ids else None,
        "start": None,
        "end": None,
        "categories": [BY_CODE[c].name for c in categories] if categories else None,
        "statuses": [s for name in statuses for s in OPEN311_STATUSES[name]] if statuses else None,
        "limit": MAX_REQUESTS,
    }
    if params["ids"] is None:
        params["start"], params["end"] = window(start, end, who.actor.at)
    else:
        params["categories"] = params["statuses"] = None
    async with acting_as(conn, who.caller):
        cur = conn.cursor(row_factory=dict_row)
        rows = await (await cur.execute(load("open311/requests"), params)).fetchall()
    return [_request(r) for r in rows]


async def request(conn: AsyncConnection, who: Who, request_id: int) -> dict[str, Any]:
    """GET requests/{id}."""
    found = await requests(conn, who, ids=str(request_id))
    if not found:
        raise NotFound(f"no service request {request_id}")
    return found[0]


async def take_in(conn: AsyncConnection, who: Who, form: dict[str, str]) -> dict[str, Any]:
    """POST requests: a new incident from the form's service_code, lat and long (WGS84),
    description and reporter (first_name, last_name, phone); returns its id."""
    category = _category(form.get("service_code") or "")
    try:
        lat, lon = float(form["lat"]), float(form["long"])
    except (KeyError, ValueError):
        raise InvalidInput(
            "lat and long (WGS84 degrees) are required: citybrain locates a request by them, "
            "not by address_string or address_id"
        ) from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise InvalidInput(f"lat {lat}, long {lon}: not WGS84 degrees")
    name = " ".join(v for v in (form.get("last_name"), form.get("first_name")) if v) or None
    limits = {"description": 2000, "reporter_name": 100, "reporter_phone": 40}
    report = {
        "category": category,
        "severity": 1,
        "source": str(Source.citizen_app),
        "description": form.get("description") or None,
        "reporter_name": name,
        "reporter_phone": form.get("phone") or None,
        "lon": lon,
        "lat": lat,
        "reported_at": who.actor.at,
    }
    for field, most in limits.items():
        if report[field] is not None and len(report[field]) > most:
            raise InvalidInput(f"{field}: at most {most} characters")
    incident_id, _ = await incidents.report(conn, who, report)
    return {"service_request_id": str(incident_id), "service_notice": None, "account_id": None}
