"""What one server process holds for its lifetime, built once in the app's lifespan
(``api.lifespan``) and reached by routes only through the dependencies of ``api.deps``."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from starlette.requests import HTTPConnection

if TYPE_CHECKING:
    from psycopg_pool import AsyncConnectionPool

    from citybrain.alerts import Detector
    from citybrain.api.admission import Gate
    from citybrain.db.replicas import ReadNodes
    from citybrain.layers import Layer
    from citybrain.services.events import EventHub
    from citybrain.services.features import Extents
    from citybrain.services.heatmap.population import CountyCellsHolder
    from citybrain.services.incident_index import IncidentIndex
    from citybrain.services.keys import KeyRing
    from citybrain.services.routing import RouterHolder
    from citybrain.services.stats import Kpis
    from citybrain.settings import Settings
    from citybrain.tiles.service import TileService


@dataclass(eq=False)
class AppState:
    settings: Settings
    layers: dict[str, Layer]
    detectors: dict[str, Detector]
    pool: AsyncConnectionPool  # replaced by a fresh one when the database is back (events)
    keys: KeyRing
    roads: RouterHolder  # the road graph, reloaded when the roads change
    county: CountyCellsHolder
    incident_index: IncidentIndex  # counts per H3 cell, never stale (heatmaps, clusters)
    tiles: TileService
    extents: Extents
    kpis: Kpis
    heavy: Gate  # turns for heavy answers (api.admission)
    events: EventHub
    reads: ReadNodes  # where a request reads: a replica that has its writes, or the primary
    import_lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one import at a time
    lane: str = "public"  # public workers or the dispatch process (api.server); metrics' pool


def state_of(connection: HTTPConnection) -> AppState:
    """The process's state, for a request (dependencies, middlewares and the tile route, which
    takes no dependencies)."""
    return connection.app.state.citybrain
