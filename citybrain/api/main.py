"""The FastAPI application: ``create_app()`` wires settings, the database pool, error handling
and the routers. Run it with ``citybrain serve``."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import orjson
import psycopg
import psycopg.errors
import psycopg.types.json
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from citybrain import __version__
from citybrain.api.admission import Gate
from citybrain.api.auth import KeysRequired
from citybrain.api.headers import SecurityHeaders
from citybrain.api.hosts import TrustedHosts
from citybrain.api.observe import RequestId, RequestMetrics, sample_forever
from citybrain.api.ratelimit import RateLimit
from citybrain.api.reads import Reads, replay
from citybrain.api.responses import errors
from citybrain.api.routers import (
    alerts,
    dispatch,
    docs,
    features,
    health,
    heatmap,
    imports,
    incidents,
    locate,
    pages,
    screen,
    teams,
    tiles,
)
from citybrain.api.state import AppState
from citybrain.brain.config import load_detectors
from citybrain.clock import clock_of
from citybrain.db.pools import check_request_connections, direct_conninfo, request_pool
from citybrain.db.replicas import ReadNodes
from citybrain.errors import CitybrainError, status_code
from citybrain.layers import check_against_database, load_layers
from citybrain.services.alert_runner import AlertRunner
from citybrain.services.events import EventHub
from citybrain.services.features import Extents
from citybrain.services.heatmap.index import HeatIndex
from citybrain.services.heatmap.population import CountyCellsHolder
from citybrain.services.keys import KeyRing
from citybrain.services.routing import RouterHolder
from citybrain.services.stats import Kpis
from citybrain.services.tiles import TileCache, TileService
from citybrain.settings import Settings, get_settings


def _error(http_status: int, code: str, detail, /, **extra) -> JSONResponse:
    return JSONResponse({"code": code, "detail": detail, **extra}, status_code=http_status)


class BodyLimit:
    """Refuses a request body larger than ``max_bytes`` (413) before any route reads it: by
    its Content-Length, or while it streams in. Imports have their own, larger limit."""

    def __init__(self, app, max_bytes: int, exempt: tuple[str, ...] = ("/imports/",)):
        self.app, self.max_bytes, self.exempt = app, max_bytes, exempt

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"].startswith(self.exempt):
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            return await self._refuse(scope, receive, send)
        if length is not None or b"transfer-encoding" not in headers:
            return await self.app(scope, receive, send)
        # A body of unstated length: read it here, up to the limit, then hand it on.
        body, more, size = [], True, 0
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return await self.app(scope, replay([message], receive), send)
            body.append(message)
            more = message.get("more_body", False)
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                return await self._refuse(scope, receive, send)
        await self.app(scope, replay(body, receive), send)

    async def _refuse(self, scope, receive, send):
        response = _error(413, "too_large", f"the body is larger than {self.max_bytes // 1024} KB")
        await response(scope, receive, send)


log = logging.getLogger("citybrain")
STATIC = Path(__file__).resolve().parent.parent / "static"


def create_dispatch_app(settings: Settings | None = None) -> FastAPI:
    """The app of the dispatch process (``CITYBRAIN_DISPATCH_PORT``): every route, for
    callers with a key only."""
    return create_app(settings, lane="dispatch")


def create_app(settings: Settings | None = None, lane: str = "public") -> FastAPI:
    settings = settings or get_settings()
    if lane == "dispatch" and settings.pooler == "none":
        # Dispatch's statements are short, and so is their deadline: every connection of this
        # process (its pool, its replicas' pools) carries it, and its 503s say it. Through a
        # pooler the login's own deadline applies (docs/pgbouncer.md).
        settings = settings.model_copy(
            update={"statement_timeout_ms": settings.dispatch_statement_timeout_ms}
        )
    layers = load_layers(settings.layers_dir)  # a bad layer file stops the start, with its name
    detectors = load_detectors(settings.alerts_dir)  # and so does a bad detector file

    psycopg.types.json.set_json_loads(orjson.loads)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        with psycopg.connect(direct_conninfo(settings, "citybrain-start")) as sync_conn:
            check_against_database(layers, sync_conn)
        heat = HeatIndex(settings.heat_shared_dir if settings.heat_shared else None)

        async def renew_pool() -> None:
            """The database is back after an outage: a fresh pool connects at once (the old
            one's reconnection backs off exponentially, for minutes after a long outage)."""
            fresh = request_pool(settings)
            await fresh.open(wait=True, timeout=10)
            old, state.pool = state.pool, fresh
            await old.close(timeout=5)

        state = app.state.citybrain = AppState(
            settings=settings,
            layers=layers,
            detectors=detectors,
            pool=request_pool(settings),
            keys=KeyRing(settings.api_keys.get_secret_value()),
            roads=RouterHolder(),
            county=CountyCellsHolder(),
            heat=heat,
            tiles=TileService(layers, TileCache(settings.tile_cache_mb * 2**20), heat=heat),
            extents=Extents(),
            kpis=Kpis(),
            heavy=Gate(
                settings.heavy_slots,
                settings.heavy_wait_s,
                settings.heavy_slots_database,
                lambda: state.pool,  # (renewed after an outage)
            ),
            reads=ReadNodes.from_settings(settings, lambda: state.pool),
            events=EventHub(direct_conninfo(settings, "citybrain-events"), on_back=renew_pool),
            lane=lane,
        )
        await state.pool.open(wait=True, timeout=30)
        await check_request_connections(state.pool, settings)  # privileged or unbounded: stop
        await state.reads.start()
        if state.reads.replicas:
            state.events.stamp = True
        await state.events.start()
        runner = AlertRunner(
            direct_conninfo(settings, "citybrain-alerts", bounded=True),  # its session lock
            detectors if settings.alerts_run and lane == "public" else {},
            state.events,
            tick_s=settings.alerts_tick_s,
            clock=clock_of(settings),
        )
        await runner.start()
        async with state.pool.connection() as conn:
            await state.roads.current(conn)  # load and warm before serving
            await state.heat.fresh(conn)
        # Everything made so far lives as long as the process: keep it out of the garbage
        # collector's sight. A full collection over the ~180k start-up objects (the imported
        # libraries) took 80-100 ms, a pause that every request in flight waited out.
        gc.collect()
        gc.freeze()
        sampler = asyncio.create_task(sample_forever(lambda: state.pool, lane))
        try:
            yield
        finally:
            sampler.cancel()
            await runner.stop()
            await state.events.stop()
            await state.reads.stop()
            await state.pool.close()

    app = FastAPI(
        title="citybrain",
        version=__version__,
        summary="一图观全域、一屏管全局: county governance map service (PostGIS + H3)",
        lifespan=lifespan,
        responses=errors(400, 404, 413, 422, 429, 503),
        docs_url=None,  # served from this server's own copies: api.routers.docs
        redoc_url=None,
    )

    # add_middleware puts each in front of the ones before: a request meets RequestId,
    # RequestMetrics (and Server-Timing), SecurityHeaders, then RateLimit, TrustedHosts,
    # BodyLimit and KeysRequired, then the routes.
    if lane == "dispatch":
        app.add_middleware(
            KeysRequired,
            detail="the dispatch port serves callers with an API key; public reads are on "
            f"port {settings.port}",
        )
    elif not settings.anonymous_reads:
        app.add_middleware(KeysRequired)
    app.add_middleware(Reads, max_body=settings.max_body_kb * 1024)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_kb * 1024)
    app.add_middleware(TrustedHosts, settings=settings)  # (refusals count towards limits)
    app.add_middleware(RateLimit, anonymous=settings.rate_limit, keyed=settings.rate_limit_keyed)
    app.add_middleware(SecurityHeaders, settings=settings)  # on every answer, errors included
    app.add_middleware(RequestMetrics)  # outside the limits: their 413s, 429s are counted too
    app.add_middleware(RequestId)  # outermost: every answer and log line has the request's id

    @app.exception_handler(CitybrainError)
    async def _citybrain_error(_: Request, exc: CitybrainError) -> JSONResponse:
        extra = dict(exc.extra)
        headers = extra.pop("headers", None)
        response = _error(status_code(exc), exc.code, exc.detail, **extra)
        response.headers.update(headers or {})
        return response

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        return _error(422, "invalid_request", errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        response = _error(exc.status_code, code, exc.detail)
        response.headers.update(exc.headers or {})  # e.g. 405's Allow
        return response

    @app.exception_handler(Exception)
    async def _bug(_: Request, exc: Exception) -> JSONResponse:
        # Never expected: logged with its traceback, answered in the API's error shape.
        log.exception("unhandled error", exc_info=exc)
        return _error(500, "internal_error", "an unexpected error; it has been logged")

    @app.exception_handler(psycopg.DataError)
    async def _bad_data(_: Request, exc: psycopg.DataError) -> JSONResponse:
        # psycopg refuses to send text holding NUL (PostgreSQL cannot store it) before anything
        # reaches the database: the client's input, and the transaction is rolled back.
        if "NUL" in str(exc):
            return _error(422, "invalid_request", "text must not contain NUL (\\u0000) characters")
        log.exception("unhandled error", exc_info=exc)
        return _error(500, "internal_error", "an unexpected error; it has been logged")

    @app.exception_handler(psycopg.errors.QueryCanceled)
    async def _too_long(_: Request, exc: psycopg.errors.QueryCanceled) -> JSONResponse:
        seconds = settings.statement_timeout_ms / 1000
        return _error(
            503,
            "too_long",
            f"the answer took longer than {seconds:g} s: ask for less (a smaller area, window "
            "or resolution) or retry later",
        )

    @app.exception_handler(psycopg.errors.NumericValueOutOfRange)
    async def _out_of_range(_: Request, exc: psycopg.errors.NumericValueOutOfRange) -> JSONResponse:
        # A number the input carried that PostgreSQL cannot hold (its message names no data).
        return _error(400, "invalid_input", f"a number is out of range: {exc.diag.message_primary}")

    @app.exception_handler(psycopg.OperationalError)
    async def _db_down(_: Request, exc: psycopg.OperationalError) -> JSONResponse:
        return _error(503, "database_unavailable", "the database does not answer; retry later")

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
        teams,
        screen,
        imports,
        alerts,
    ):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
