"""``/``: the command centre's map for browsers, the OGC API landing page for programs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import HTMLResponse

from citybrain.api.responses import JSON
from citybrain.api.routers.features import landing

router = APIRouter(tags=["ogc-features"])

PLACEHOLDER = """<!doctype html><html lang="zh"><meta charset="utf-8"><title>citybrain</title>
<body style="background:#0b1a2b;color:#e1f5fe;font-family:sans-serif">
<h1>citybrain 城市大脑</h1><p>一图观全域、一屏管全局.
<a href="/docs" style="color:#4fc3f7">API</a> ·
<a href="/collections" style="color:#4fc3f7">collections</a> ·
<a href="/style.json" style="color:#4fc3f7">style</a></p></body></html>"""


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
        return HTMLResponse(PLACEHOLDER)
    return JSON(landing(request))
