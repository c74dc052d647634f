"""Shared FastAPI dependencies: what a route needs from the process's state (``api.state``),
by type (``LayersDep``, ``RoadsDep``, ``EventsDep`` ...), and a database connection.

Dependencies are `async def` even when they do not await: FastAPI runs a plain `def`
dependency in a thread pool, a hand-off that costs more than the work on a hot path.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from citybrain.api.reads import WRITES, note_write_position, read_connection
from citybrain.api.state import AppState, state_of
from citybrain.clock import clock_of
from citybrain.layers import Layer
from citybrain.photos.store import FileStore, PhotoStore
from citybrain.services.events import EventHub
from citybrain.services.features import Extents
from citybrain.services.heatmap.population import CountyCellsHolder
from citybrain.services.incident_index import IncidentIndex
from citybrain.services.routing import RouterHolder
from citybrain.services.stats import Kpis
from citybrain.settings import Settings
from citybrain.tiles.service import TileService


async def get_state(request: Request) -> AppState:
    return state_of(request)


StateDep = Annotated[AppState, Depends(get_state)]


def _part(name: str):
    """A dependency giving one part of the process's state (``AppState.<name>``)."""

    async def part(request: Request):
        return getattr(state_of(request), name)

    part.__name__ = f"get_{name}"
    return Depends(part)


SettingsDep = Annotated[Settings, _part("settings")]
PoolDep = Annotated[AsyncConnectionPool, _part("pool")]  # (renewed after an outage)


async def get_conn(request: Request, pool: PoolDep) -> AsyncIterator[AsyncConnection]:
    """A connection to the primary: for writes, and reads that must see the newest state.
    After a write's handler returns (its transaction committed), the WAL position is read on
    the same connection for ``Citybrain-LSN`` (``api.reads``)."""
    async with pool.connection() as conn:
        yield conn
        if request.method in WRITES:
            await note_write_position(request, conn)


async def get_read_conn(request: Request) -> AsyncIterator[AsyncConnection]:
    """A connection for reads: a replica that has the caller's writes, or the primary
    (``api.reads``)."""
    async with read_connection(request) as conn:
        yield conn


async def heavy_turn(request: Request) -> AsyncIterator[None]:
    """A turn to build a heavy answer (``api.admission``), taken before a connection is."""
    async with state_of(request).heavy.turn():
        yield


# A route's ``dependencies=[HeavyTurn]``: FastAPI solves them before the route's parameters,
# so a request waiting its turn holds no database connection.
HeavyTurn = Depends(heavy_turn)
# scope="function": the connection goes back to the pool when the handler returns, before the
# answer is sent (and a write's position is known before its headers are).
ConnDep = Annotated[AsyncConnection, Depends(get_conn, scope="function")]
ReadConnDep = Annotated[AsyncConnection, Depends(get_read_conn, scope="function")]
LayersDep = Annotated[dict[str, Layer], _part("layers")]
RoadsDep = Annotated[RouterHolder, _part("roads")]
CountyDep = Annotated[CountyCellsHolder, _part("county")]
IncidentIndexDep = Annotated[IncidentIndex, _part("incident_index")]
TilesDep = Annotated[TileService, _part("tiles")]
ExtentsDep = Annotated[Extents, _part("extents")]
KpisDep = Annotated[Kpis, _part("kpis")]
EventsDep = Annotated[EventHub, _part("events")]


async def current_time(request: Request) -> datetime:
    """Business time now, by the service's clock (``citybrain.clock``)."""
    return clock_of(state_of(request).settings).now()


NowDep = Annotated[datetime, Depends(current_time)]


async def get_photo_store(settings: SettingsDep) -> PhotoStore:
    """Where photos are kept: the file system under ``CITYBRAIN_PHOTO_DIR`` (``photos.store``)."""
    return FileStore(settings.photos_path)


PhotoStoreDep = Annotated[PhotoStore, Depends(get_photo_store)]
