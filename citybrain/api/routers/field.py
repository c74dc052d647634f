"""The grid member's phone: ``/field/``, the field app (an installable web app that works
offline: ``static/field``), and ``/tasks``, the caller's tasks (我的任务) that it keeps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response
from pydantic import Field

from citybrain.api.auth import ReadCasesDep
from citybrain.api.deps import ConnDep, NowDep
from citybrain.api.responses import errors
from citybrain.api.routers.incidents import Event, Incident
from citybrain.api.routers.photos import CasePhoto
from citybrain.errors import NotFound
from citybrain.services import incidents as svc

router = APIRouter(tags=["field"])

APP = Path(__file__).resolve().parents[2] / "static" / "field"
# The app's files and their types: nothing else under /field/ is served.
FILES = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "queue.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
    "sw.js": "text/javascript; charset=utf-8",
    "manifest.webmanifest": "application/manifest+json",
    "icon.svg": "image/svg+xml",
}


class Task(Incident):
    events: list[Event] = Field(description="its audit trail")
    photos: list[CasePhoto] = Field(description="the photos its report and steps carried")


@router.get(
    "/tasks", response_model=list[Task], responses=errors(401, 403), summary="My tasks (我的任务)"
)
async def tasks(
    conn: ConnDep, who: ReadCasesDep, now: NowDep, response: Response
) -> list[dict[str, Any]]:
    """The cases in the caller's hands (their team's, or their department's), most urgent
    first (severity, then the resolution due time), each with its audit trail and photos:
    what the field app shows and keeps for offline use. Empty for callers who hold none.
    ``Citybrain-Now`` says the service's time: a phone sets its stamps by it, whatever its
    own clock says."""
    response.headers["Citybrain-Now"] = now.isoformat()
    return await svc.tasks(conn, who.who(now, "GET /tasks"))


@router.get("/field", include_in_schema=False)
async def field_root() -> RedirectResponse:
    return RedirectResponse("/field/", status_code=308)


@router.get("/field/", include_in_schema=False)
async def field_app() -> Response:
    return _file("index.html")


@router.get("/field/{name}", include_in_schema=False)
async def field_file(name: str) -> Response:
    return _file(name)


def _file(name: str) -> Response:
    """One of the app's files; revalidated on every load (the service worker keeps them for
    offline use, and a new version reaches phones at their next load online)."""
    media_type = FILES.get(name)
    if media_type is None:
        raise NotFound(f"no file {name!r} in the field app")
    return Response(
        (APP / name).read_bytes(), media_type=media_type, headers={"Cache-Control": "no-cache"}
    )
