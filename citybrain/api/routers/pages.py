"""``/``: the command centre's big-screen map for browsers (``static/app``), the OGC API
landing page for programs (``?f=json`` or ``Accept: application/json``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import HTMLResponse

from citybrain.api.responses import JSON
from citybrain.api.routers.features import landing

router = APIRouter(tags=["ogc-features"])

PAGE = Path(__file__).resolve().parents[2] / "static" / "app" / "index.html"


def wants_html(accept: str | None, f: str | None) -> bool:
    if f is not None:
        return f == "html"
    accept = accept or ""
    return "text/html" in accept and "application/json" not in accept.split(",")[0]


@router.get(
    "/",
    summary="Landing page (OGC API); the map for browsers",
    responses={200: {"content": {"application/json": {}, "text/html": {}}}},
)
async def root(
    request: Request,
    accept: Annotated[str | None, Header()] = None,
    f: Annotated[str | None, Query(pattern="^(json|html)$")] = None,
):
    if wants_html(accept, f):
        return HTMLResponse(PAGE.read_text(encoding="utf-8"))
    return JSON(landing(request))
