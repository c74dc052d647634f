"""The grid member's phone: ``/field/``, the field app (an installable web app that works
offline: ``static/field``), and ``/tasks``, the caller's tasks (我的任务) that it keeps."""

from __future__ import annotations

import functools
import gzip
import hashlib
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
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

STATIC = Path(__file__).resolve().parents[2] / "static"
APP, MAPLIBRE = STATIC / "field", STATIC / "vendor" / "maplibre-gl"
# The app's files (and the MapLibre it draws with, vendored): nothing else under /field/ is
# served. Their types, and where each is read from.
FILES = {
    "index.html": ("text/html; charset=utf-8", APP),
    "app.js": ("text/javascript; charset=utf-8", APP),
    "queue.js": ("text/javascript; charset=utf-8", APP),
    "app.css": ("text/css; charset=utf-8", APP),
    "sw.js": ("text/javascript; charset=utf-8", APP),
    "manifest.webmanifest": ("application/manifest+json", APP),
    "icon.svg": ("image/svg+xml", APP),
    "maplibre-gl.js": ("text/javascript; charset=utf-8", MAPLIBRE),
    "maplibre-gl.css": ("text/css; charset=utf-8", MAPLIBRE),
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
async def field_app(request: Request) -> Response:
    return _file("index.html", request)


@router.get("/field/{name}", include_in_schema=False)
async def field_file(name: str, request: Request) -> Response:
    return _file(name, request)


@functools.cache
def _content(name: str) -> tuple[bytes, bytes, str]:
    """A file's bytes, gzipped once (a phone on a slow link gets a quarter of MapLibre), and
    its ETag (the file is part of the installed package: it changes with a new version). The
    service worker is given the hash of every other file as its version (``sw.js``)."""
    _, folder = FILES[name]
    data = (folder / name).read_bytes()
    if name == "sw.js":
        shell = hashlib.sha256()
        for other in sorted(set(FILES) - {"sw.js"}):
            shell.update(_content(other)[0])
        data = data.replace(b"__SHELL_VERSION__", shell.hexdigest()[:16].encode())
    return data, gzip.compress(data, 9, mtime=0), f'"{hashlib.sha256(data).hexdigest()[:32]}"'


def _file(name: str, request: Request) -> Response:
    """One of the app's files, revalidated on every load (the service worker keeps them for
    offline use; a new version reaches phones at their next load online): 304 when the phone
    has it, gzipped when the phone takes it so."""
    if name not in FILES:
        raise NotFound(f"no file {name!r} in the field app")
    media_type = FILES[name][0]
    data, packed, etag = _content(name)
    headers = {"Cache-Control": "no-cache", "ETag": etag, "Vary": "Accept-Encoding"}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", ""):
        return Response(
            packed, media_type=media_type, headers={**headers, "Content-Encoding": "gzip"}
        )
    return Response(data, media_type=media_type, headers=headers)
