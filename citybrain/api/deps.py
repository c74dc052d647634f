"""Shared FastAPI dependencies: the database pool and a connection from it.

Dependencies are `async def` even when they do not await: FastAPI runs a plain `def`
dependency in a thread pool, a hand-off that costs more than the work on a hot path.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from citybrain.services.heatindex import HeatIndex
from citybrain.services.heatmap import CountyCellsHolder
from citybrain.settings import Settings


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_pool(request: Request) -> AsyncConnectionPool:
    return request.app.state.pool


async def get_conn(
    pool: Annotated[AsyncConnectionPool, Depends(get_pool)],
) -> AsyncIterator[AsyncConnection]:
    async with pool.connection() as conn:
        yield conn


async def get_county(request: Request) -> CountyCellsHolder:
    return request.app.state.county


async def get_heat(request: Request) -> HeatIndex:
    return request.app.state.heat


async def heavy_turn(request: Request) -> AsyncIterator[None]:
    """A turn to build a heavy answer (``api.admission``), taken before a connection is."""
    async with request.app.state.heavy.turn():
        yield


# A route's ``dependencies=[HeavyTurn]``: FastAPI solves them before the route's parameters,
# so a request waiting its turn holds no database connection.
HeavyTurn = Depends(heavy_turn)
SettingsDep = Annotated[Settings, Depends(get_settings)]
CountyDep = Annotated[CountyCellsHolder, Depends(get_county)]
HeatDep = Annotated[HeatIndex, Depends(get_heat)]
PoolDep = Annotated[AsyncConnectionPool, Depends(get_pool)]
ConnDep = Annotated[AsyncConnection, Depends(get_conn)]
