"""A server process's life: what it builds and opens before its first request — the layers
checked against the database, the pool, the read replicas, the event stream, the alert runner,
the road graph and incident index loaded — held in ``api.state.AppState``, and closed after its
last."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import psycopg
from fastapi import FastAPI

from citybrain.alerts import Detector
from citybrain.alerts.runner import AlertRunner
from citybrain.api.admission import Gate
from citybrain.api.observe import sample_forever
from citybrain.api.state import AppState
from citybrain.clock import clock_of
from citybrain.db.pools import check_request_connections, direct_conninfo, request_pool
from citybrain.db.replicas import ReadNodes
from citybrain.layers import Layer, check_against_database
from citybrain.services.events import EventHub
from citybrain.services.features import Extents
from citybrain.services.heatmap.population import CountyCellsHolder
from citybrain.services.incident_index import IncidentIndex
from citybrain.services.keys import KeyRing
from citybrain.services.routing import RouterHolder
from citybrain.services.stats import Kpis
from citybrain.settings import Settings
from citybrain.tiles.service import TileCache, TileService


def lifespan(
    settings: Settings, layers: dict[str, Layer], detectors: dict[str, Detector], lane: str
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """The app's ``lifespan``: the process's state in ``app.state.citybrain`` while it serves."""

    @asynccontextmanager
    async def live(app: FastAPI) -> AsyncIterator[None]:
        with psycopg.connect(direct_conninfo(settings, "citybrain-start")) as sync_conn:
            check_against_database(layers, sync_conn)
        state = app.state.citybrain = build_state(settings, layers, detectors, lane)
        runner = await _open(state)
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

    return live


def build_state(
    settings: Settings, layers: dict[str, Layer], detectors: dict[str, Detector], lane: str
) -> AppState:
    """The process's state, its pools not yet open."""
    index = IncidentIndex(settings.heat_shared_dir if settings.heat_shared else None)
    state: AppState = AppState(
        settings=settings,
        layers=layers,
        detectors=detectors,
        pool=request_pool(settings),
        keys=KeyRing(settings.api_keys.get_secret_value()),
        roads=RouterHolder(),
        county=CountyCellsHolder(),
        incident_index=index,
        tiles=TileService(layers, TileCache(settings.tile_cache_mb * 2**20), index=index),
        extents=Extents(),
        kpis=Kpis(),
        heavy=Gate(
            settings.heavy_slots,
            settings.heavy_wait_s,
            settings.heavy_slots_database,
            lambda: state.pool,  # (renewed after an outage)
        ),
        reads=ReadNodes.from_settings(settings, lambda: state.pool),
        events=EventHub(
            direct_conninfo(settings, "citybrain-events"), on_back=lambda: _renew_pool(state)
        ),
        lane=lane,
    )
    return state


async def _renew_pool(state: AppState) -> None:
    """The database is back after an outage: a fresh pool connects at once (the old one's
    reconnection backs off exponentially, for minutes after a long outage)."""
    fresh = request_pool(state.settings)
    await fresh.open(wait=True, timeout=10)
    old, state.pool = state.pool, fresh
    await old.close(timeout=5)


async def _open(state: AppState) -> AlertRunner:
    """Opens the pools and the event stream, starts the alert runner (returned, to be stopped)
    and loads the road graph and the incident index before the first request."""
    settings = state.settings
    await state.pool.open(wait=True, timeout=30)
    await check_request_connections(state.pool, settings)  # privileged or unbounded: stop
    await state.reads.start()
    if state.reads.replicas:
        state.events.stamp = True
    await state.events.start()
    runner = AlertRunner(
        direct_conninfo(settings, "citybrain-alerts", bounded=True),  # its session lock
        state.detectors if settings.alerts_run and state.lane == "public" else {},
        state.events,
        tick_s=settings.alerts_tick_s,
        clock=clock_of(settings),
    )
    await runner.start()
    async with state.pool.connection() as conn:
        await state.roads.current(conn)  # load and warm before serving
        await state.incident_index.fresh(conn)
    return runner
