"""What the command centre's big screen reads: KPIs (``/stats``), area cards (``/areas``), the
newest incidents and a live event stream (``/events``, Server-Sent Events)."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Query, Request
from sse_starlette.sse import EventSourceResponse

from citybrain.api.auth import CallerDep, client_of
from citybrain.api.deps import EventsDep, KpisDep, NowDep, ReadConnDep, SettingsDep
from citybrain.api.responses import JSON, errors
from citybrain.errors import Busy, TooMany
from citybrain.services.areas import card
from citybrain.services.stats import categories as category_list
from citybrain.services.stats import latest as newest

router = APIRouter(tags=["big screen"])


@router.get("/stats", summary="KPIs: today, open now, on-time rates per town, categories")
async def stats(conn: ReadConnDep, settings: SettingsDep, kpis: KpisDep, now: NowDep) -> JSON:
    """Incidents today (local day) and open now; per town over the last 30 days, the share of
    incidents dispatched and resolved within their category's time limits; the top categories
    of the last 30 days; the grids with most open incidents; cameras online."""
    return JSON(await kpis.current(conn, now.astimezone(ZoneInfo(settings.timezone))))


@router.get("/areas/{code}", summary="Card of a town, village, grid, compound or micro-grid")
async def area(
    code: Annotated[str, Path(max_length=40)],
    conn: ReadConnDep,
    settings: SettingsDep,
    now: NowDep,
) -> JSON:
    """People, teams (with members' roles), open incidents and the last 30 days' counts and
    on-time rates of an area, and its bounding box to zoom to."""
    return JSON(await card(conn, code, now.astimezone(ZoneInfo(settings.timezone))))


@router.get("/categories", summary="The county's incident categories and their time limits")
async def categories(conn: ReadConnDep) -> JSON:
    """Every category the county files incidents under (what filters offer), with its time
    limits: minutes from report to dispatch, hours from report to resolution."""
    return JSON({"categories": await category_list(conn)})


@router.get("/incidents-latest", summary="The newest incidents (public fields)")
async def latest(conn: ReadConnDep, limit: Annotated[int, Query(ge=1, le=100)] = 15) -> JSON:
    return JSON({"incidents": await newest(conn, limit)})


@router.get(
    "/events",
    summary="Live incidents (Server-Sent Events)",
    responses=errors(429, 503),
)
async def events(
    request: Request, hub: EventsDep, settings: SettingsDep, who: CallerDep
) -> EventSourceResponse:
    """``event: incident`` with the public fields of every incident reported or changed, as its
    writer commits; for a statement that wrote more than 50, one ``event: bulk`` instead
    (``{"op": "insert"|"update", "count", "bbox"}``: reload what you show). A comment every
    15 s keeps proxies from closing the stream, and clients reconnect after 2 s if the server
    restarts."""
    most = settings.max_event_streams
    if len(hub.subscribers) >= most:
        raise Busy(
            f"{most} live streams are open on this server process: try again shortly",
            headers={"Retry-After": "30"},
        )
    client = client_of(request, who)
    share = settings.max_event_streams_per_client
    if hub.streams_of(client) >= share:
        raise TooMany(
            f"this {client.split(':')[0]} holds {share} live streams already "
            "(CITYBRAIN_MAX_EVENT_STREAMS_PER_CLIENT): close one, or share one stream",
            headers={"Retry-After": "30"},
        )
    queue = hub.subscribe(client)

    async def stream():
        try:
            yield {"event": "hello", "data": "{}", "retry": 2000}
            while True:
                event, data = await queue.get()
                yield {"event": event, "data": data}
        finally:
            hub.unsubscribe(queue)

    return EventSourceResponse(stream(), ping=15)
