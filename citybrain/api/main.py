"""The FastAPI application: ``create_app()`` reads as the table of contents of the service: its
settings, its lifespan (``api.lifespan``: what the process holds, ``api.state``), its
middlewares, its error answers (``api.errors``) and its routers. Run it with ``citybrain
serve``; a request's way through it is in docs/architecture.md."""

from __future__ import annotations

from pathlib import Path

import orjson
import psycopg.types.json
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from citybrain import __version__
from citybrain.alerts import load_detectors
from citybrain.api.auth import KeysRequired
from citybrain.api.bodylimit import BodyLimit
from citybrain.api.errors import add_exception_handlers
from citybrain.api.headers import SecurityHeaders
from citybrain.api.hosts import TrustedHosts
from citybrain.api.lifespan import lifespan
from citybrain.api.observe import RequestId, RequestMetrics
from citybrain.api.ratelimit import RateLimit
from citybrain.api.reads import Reads
from citybrain.api.responses import errors
from citybrain.api.routers import (
    alerts,
    auth,
    departments,
    dispatch,
    docs,
    features,
    field,
    health,
    heatmap,
    hotline,
    imports,
    incidents,
    locate,
    open311,
    pages,
    patrols,
    photos,
    reports,
    screen,
    teams,
    tiles,
)
from citybrain.layers import load_layers
from citybrain.settings import Settings, get_settings

STATIC = Path(__file__).resolve().parent.parent / "static"


def create_dispatch_app(settings: Settings | None = None) -> FastAPI:
    """The app of the dispatch process (``CITYBRAIN_DISPATCH_PORT``): every route, for
    callers with a key only."""
    return create_app(settings, lane="dispatch")


def create_app(settings: Settings | None = None, lane: str = "public") -> FastAPI:
    settings = _for_lane(settings or get_settings(), lane)
    layers = load_layers(settings.layers_dir)  # a bad layer file stops the start, with its name
    detectors = load_detectors(  # and so does a bad detector file
        settings.alerts_dir, settings.detector_modules
    )
    psycopg.types.json.set_json_loads(orjson.loads)

    app = FastAPI(
        title="citybrain",
        version=__version__,
        summary="一图观全域、一屏管全局: county governance map service (PostGIS + H3)",
        lifespan=lifespan(settings, layers, detectors, lane),
        responses=errors(400, 404, 413, 422, 429, 503),
        docs_url=None,  # served from this server's own copies: api.routers.docs
        redoc_url=None,
    )

    # add_middleware puts each in front of the ones before: a request meets RequestId,
    # RequestMetrics (and Server-Timing), SecurityHeaders, then RateLimit, TrustedHosts,
    # BodyLimit, Reads and KeysRequired, then the routes.
    if lane == "dispatch":
        app.add_middleware(
            KeysRequired,
            detail="the dispatch port serves callers with an API key; public reads are on "
            f"port {settings.port}",
        )
    elif not settings.anonymous_reads:
        app.add_middleware(KeysRequired)
    app.add_middleware(Reads, max_body=settings.max_body_kb * 1024)
    # (photos and imports bound their bodies themselves: CITYBRAIN_PHOTO_MAX_MB, _IMPORT_MAX_MB)
    app.add_middleware(
        BodyLimit, max_bytes=settings.max_body_kb * 1024, exempt=("/imports/", "/photos")
    )
    app.add_middleware(TrustedHosts, settings=settings)  # (refusals count towards limits)
    app.add_middleware(RateLimit, anonymous=settings.rate_limit, keyed=settings.rate_limit_keyed)
    app.add_middleware(SecurityHeaders, settings=settings)  # on every answer, errors included
    app.add_middleware(RequestMetrics)  # outside the limits: their 413s, 429s are counted too
    app.add_middleware(RequestId)  # outermost: every answer and log line has the request's id

    add_exception_handlers(app, settings)

    # heatmap before tiles: /tiles/heatmap/... is not a layer's tile
    for module in (
        pages,
        docs,
        features,
        heatmap,
        tiles,
        health,
        locate,
        dispatch,
        incidents,
        hotline,
        departments,
        teams,
        screen,
        imports,
        alerts,
        auth,
        open311,
        reports,
        photos,
        patrols,
        field,
    ):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def _for_lane(settings: Settings, lane: str) -> Settings:
    if lane == "dispatch" and settings.pooler == "none":
        # Dispatch's statements are short, and so is their deadline: every connection of this
        # process (its pool, its replicas' pools) carries it, and its 503s say it. Through a
        # pooler the login's own deadline applies (docs/pgbouncer.md).
        return settings.model_copy(
            update={"statement_timeout_ms": settings.dispatch_statement_timeout_ms}
        )
    return settings
