"""Travel times on the road network.

The network lives in PostGIS in pgRouting's layout (``roads``, ``road_vertices``); pgRouting
draws routes and is the reference. For the dispatch hot path the router keeps the same graph in
memory and caches, per origin vertex, the shortest travel time to every vertex (SciPy's
Dijkstra, ~3 ms per origin), so an ETA is two lookups.

ETA = access leg from the start to its nearest vertex + network time + access leg from the
target's nearest vertex to the target; access legs are straight lines at ``ACCESS_KMH``.
``reach_m`` bounds how far away a start can be and still arrive within a time, which lets
dispatch prove that no team farther away can arrive sooner.
Without a road network, ETA = straight-line distance x ``DETOUR_FACTOR`` at ``FALLBACK_KMH``.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from psycopg import AsyncConnection
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from citybrain.crs import LOCAL
from citybrain.sql import load

ACCESS_KMH = 15.0  # on foot or e-bike between a point and the road
FALLBACK_KMH = 25.0  # average door-to-door speed when there is no road network
DETOUR_FACTOR = 1.3  # road distance / straight-line distance, typical for a county
# Planar metres (LOCAL, scale error < 0.3 % in the county) against geodesic ones: a margin.
PLANAR_MARGIN = 0.98
REACH_SLACK_S = 1.0  # cached travel times are float32: a second more keeps reach_m a bound
MAX_CACHED_ORIGINS = 4096  # x ~20k vertices x 4 bytes = ~320 MB at most


@dataclass(frozen=True)
class Eta:
    seconds: float
    method: str  # "road_network" or "straight_line"


def access_seconds(metres):
    """Seconds of the straight legs between a point and the road (numbers or arrays)."""
    return metres / (ACCESS_KMH / 3.6)


def straight_line_eta(distance_m: float) -> Eta:
    return Eta(distance_m * DETOUR_FACTOR / (FALLBACK_KMH / 3.6), "straight_line")


class Router:
    """An in-memory copy of the road graph with cached one-to-all travel times."""

    def __init__(
        self,
        version: str,
        vertex_ids: np.ndarray,
        lon: np.ndarray,
        lat: np.ndarray,
        source: np.ndarray,
        target: np.ndarray,
        cost: np.ndarray,
        reverse_cost: np.ndarray,
    ):
        self.version = version
        self.vertex_ids = vertex_ids
        index = {int(v): i for i, v in enumerate(vertex_ids)}
        s = np.array([index[int(v)] for v in source])
        t = np.array([index[int(v)] for v in target])
        back = reverse_cost >= 0  # pgRouting: a negative reverse cost means one-way
        rows = np.concatenate([s, t[back]])
        cols = np.concatenate([t, s[back]])
        n = len(vertex_ids)
        self.graph = csr_matrix(
            (np.concatenate([cost, reverse_cost[back]]), (rows, cols)), shape=(n, n)
        )
        xy = np.column_stack(LOCAL.forward(lon, lat))
        self.tree = cKDTree(xy)
        self._rows: OrderedDict[int, np.ndarray] = OrderedDict()
        self.graph_to = self.graph.T.tocsr()  # Dijkstra on it: travel times *to* a vertex
        self.xy = xy

    @classmethod
    async def load(cls, conn: AsyncConnection) -> Router | None:
        """The network in the database, or None when none is loaded."""
        row = await (await conn.execute(load("meta/version"), {"key": "roads_version"})).fetchone()
        if row is None:
            return None
        verts = await (await conn.execute(load("routing/vertices"))).fetchall()
        edges = await (await conn.execute(load("routing/edges"))).fetchall()
        if not verts or not edges:
            return None
        v = np.array(verts, dtype=float)
        e = np.array(edges, dtype=float)
        return cls(
            row[0],
            v[:, 0].astype(np.int64),
            v[:, 1],
            v[:, 2],
            e[:, 0].astype(np.int64),
            e[:, 1].astype(np.int64),
            e[:, 2],
            e[:, 3],
        )

    def snap(self, lon, lat) -> tuple[np.ndarray, np.ndarray]:
        """Nearest vertex (row index) of each point, and the straight distance to it (m)."""
        dist, idx = self.tree.query(np.column_stack(LOCAL.forward(lon, lat)))
        return np.atleast_1d(idx), np.atleast_1d(dist)

    def _rows_for(self, origins: np.ndarray) -> list[np.ndarray]:
        """The cached one-to-all travel times of each origin vertex (computed when missing)."""
        keys = [int(o) for o in origins.tolist()]
        missing = [o for o in dict.fromkeys(keys) if o not in self._rows]
        if missing:
            for o, row in zip(missing, dijkstra(self.graph, indices=missing), strict=True):
                self._rows[o] = row.astype(np.float32)
        rows = [self._rows[o] for o in keys]
        for o in keys:
            self._rows.move_to_end(o)
        while len(self._rows) > MAX_CACHED_ORIGINS:
            self._rows.popitem(last=False)
        return rows

    def warm(self, lon, lat) -> None:
        """Precompute travel times from the vertices nearest these points (e.g. every team)."""
        if len(np.atleast_1d(lon)):
            self._rows_for(self.snap(lon, lat)[0])

    def etas(self, from_lon, from_lat, to_lon: float, to_lat: float) -> np.ndarray:
        """Seconds from each start point to one target (inf where the network does not reach)."""
        src, src_access = self.snap(from_lon, from_lat)
        dst, dst_access = self.snap([to_lon], [to_lat])
        network = np.array([row[dst[0]] for row in self._rows_for(src)], dtype=float)
        return network + access_seconds(src_access + dst_access[0])

    def reach_m(self, lon: float, lat: float, seconds: float) -> float:
        """A distance (geodesic metres) beyond which no start point reaches (lon, lat) within
        ``seconds``. Such a trip walks its last leg from the target's vertex, so what is left
        for the rest bounds, by the travel times *to* that vertex (Dijkstra on the reversed
        graph, only as far as that time), the vertices it can start from; and from each, the
        straight first leg it can walk: the reach is the farthest such start."""
        if not np.isfinite(seconds):
            return float("inf")
        (dst,), (a,) = self.snap([lon], [lat])
        walk = ACCESS_KMH / 3.6  # metres a second on the access legs
        left = seconds - access_seconds(a) + REACH_SLACK_S
        if left < 0:
            return 0.0
        to_dst = dijkstra(self.graph_to, indices=int(dst), limit=left)
        near = np.flatnonzero(to_dst <= left)
        x, y = LOCAL.forward(lon, lat)
        planar = np.hypot(self.xy[near, 0] - x, self.xy[near, 1] - y) + (left - to_dst[near]) * walk
        return float(planar.max()) / PLANAR_MARGIN

    def vertex_id(self, lon: float, lat: float) -> int:
        return int(self.vertex_ids[self.snap([lon], [lat])[0][0]])


class RouterHolder:
    """The process's router, reloaded when the road network in the database changes (checked
    at most every ``check_every`` seconds), and warmed with every team's position."""

    def __init__(self, check_every: float = 5.0):
        self.router: Router | None = None
        self.check_every = check_every
        self._checked = -float("inf")
        self._lock = asyncio.Lock()

    @property
    def loaded(self) -> bool:
        """Whether the network has been read at least once (a county without roads has none)."""
        return self._checked > -float("inf")

    async def current(self, conn: AsyncConnection) -> Router | None:
        if time.monotonic() - self._checked < self.check_every:
            return self.router
        async with self._lock:
            if time.monotonic() - self._checked >= self.check_every:
                await self._refresh(conn)
                self._checked = time.monotonic()
        return self.router

    async def _refresh(self, conn: AsyncConnection) -> None:
        row = await (await conn.execute(load("meta/version"), {"key": "roads_version"})).fetchone()
        if row is None:
            self.router = None
        elif self.router is None or self.router.version != row[0]:
            router = await Router.load(conn)
            if router is not None:
                teams = await (await conn.execute(load("routing/team_positions"))).fetchall()
                if teams:
                    xy = np.array(teams, dtype=float)
                    await asyncio.to_thread(router.warm, xy[:, 0], xy[:, 1])
            self.router = router
