"""Vector tiles of the declarative layers: built in PostGIS (``ST_AsMVT``) from each layer's
table through its GiST index, generalised for the zoom, dense point layers clustered at low
zooms (the incident layer's clusters, per H3 cell, from the incident index); and a per-process
tile cache that is never stale.

Cache correctness: triggers count every write into ``tile_versions`` for the tiles its geometry
touches (up to zoom 14; deeper tiles read their zoom-14 ancestor's), in the writer's
transaction. A request reads the tile's version (the sum of its rows)
and only then renders, so the rendering sees at least every write that version counts; a tile
is cached under its version and served while the version stands. A completed write has moved
the version of every tile it touches, so no cached tile older than it can match again.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass

from psycopg import AsyncConnection, sql

from citybrain.domain import OPEN_STATUSES
from citybrain.errors import InvalidInput
from citybrain.layers import Layer
from citybrain.metrics import TILE_BYTES, TILE_HITS, TILE_MISSES
from citybrain.services.cql import Filter
from citybrain.services.features import translate
from citybrain.services.heatmap.encode import hexes
from citybrain.services.heatmap.query import check_filters
from citybrain.services.incident_index import IncidentIndex
from citybrain.services.window import Window
from citybrain.sql import load
from citybrain.tiles.heatmap import zoom_resolution
from citybrain.tiles.xyz import BUFFER, EXTENT, WORLD_M, Tile, mercator

# A windowed layer's rows: reported in [t0, t1), or open now; of these categories and statuses
# (NULL: all). The open statuses are domain.OPEN_STATUSES, bound as a parameter.
WINDOW = (
    " AND ((s.{time} >= %(t0)s AND s.{time} < %(t1)s) OR s.status = ANY(%(open)s))"
    " AND (%(categories)s::text[] IS NULL OR s.category = ANY(%(categories)s))"
    " AND (%(statuses)s::text[] IS NULL OR s.status = ANY(%(statuses)s))"
)
OPEN = [str(s) for s in OPEN_STATUSES]


def tile_statement(
    layer: Layer, clustered: bool, labels: bool = False, extra: sql.Composable | None = None
) -> sql.Composed:
    """The ``ST_AsMVT`` statement of a layer (parameters: z, x, y, tolerance, cell; and for a
    windowed layer t0, t1, open, categories, statuses), or of its label points; ``extra``: a
    condition on its rows (``s``), a request's CQL2 filter."""
    table = sql.Identifier("citybrain", layer.source.table)
    props = sql.SQL("").join(sql.SQL(", s.{}").format(sql.Identifier(p)) for p in layer.properties)
    where = (
        sql.SQL(" AND ({})").format(sql.SQL(layer.source.where))
        if layer.source.where
        else sql.SQL("")
    )
    if layer.window:
        where = sql.SQL(WINDOW).format(time=sql.Identifier(layer.datetime or "reported_at"))
    if extra is not None:
        where = sql.SQL("{} AND ({})").format(where, extra)
    if clustered:
        # Squares of the tile's own pixel grid, tiles half-open in Web Mercator ([min, max)):
        # a point falls in exactly one tile and one square, so clusters neither overlap nor
        # repeat across tiles. (The index test && only narrows: its boxes are single floats.)
        body = sql.SQL("""
            SELECT ((gx - floor(ST_XMin(b.t) / %(cell)s)) * 4096
                    + (gy - floor(ST_YMin(b.t) / %(cell)s)))::bigint AS id,
                   count(*) AS count,
                   ST_AsMVTGeom(ST_Centroid(ST_Collect(p)), b.t, {extent}, {buffer}, true) AS geom
            FROM (
                SELECT p, floor(ST_X(p) / %(cell)s) AS gx, floor(ST_Y(p) / %(cell)s) AS gy
                FROM (SELECT ST_Transform(s.geom, 3857) AS p
                      FROM {table} s, b WHERE s.geom && b.outer4326{where}) pts, b
                WHERE ST_X(p) >= ST_XMin(b.t) AND ST_X(p) < ST_XMax(b.t)
                  AND ST_Y(p) >= ST_YMin(b.t) AND ST_Y(p) < ST_YMax(b.t)
            ) q, b
            GROUP BY gx, gy, b.t""")
    else:
        if labels:
            shape = sql.SQL("ST_Transform(ST_PointOnSurface(s.geom), 3857)")
        elif layer.geometry == "point":
            shape = sql.SQL("ST_Transform(s.geom, 3857)")
        else:
            shape = sql.SQL(
                "ST_SimplifyPreserveTopology(ST_Transform(s.geom, 3857), %(tolerance)s)"
            )
        body = sql.SQL("""
            SELECT s.id{props},
                   ST_AsMVTGeom({shape}, b.t, {extent}, {buffer}, true) AS geom
            FROM {table} s, b
            WHERE s.geom && b.outer4326{where}""")
    statement = sql.SQL(
        """
        WITH b AS (
            SELECT ST_TileEnvelope(%(z)s, %(x)s, %(y)s) AS t,
                   ST_Transform(ST_TileEnvelope(%(z)s, %(x)s, %(y)s,
                                                margin => {margin}), 4326) AS outer4326
        )
        SELECT ST_AsMVT(f, {name}, {extent}, 'geom', 'id')
        FROM ("""
        + body.as_string()
        + """) f
        WHERE f.geom IS NOT NULL"""
    )
    return statement.format(
        table=table,
        props=props,
        where=where,
        extent=sql.Literal(EXTENT),
        buffer=sql.Literal(BUFFER),
        margin=sql.Literal(BUFFER / EXTENT),
        name=sql.Literal(layer.labels_id if labels else layer.id),
        shape=shape if not clustered else sql.SQL(""),
    )


# Writes are counted into tiles up to this zoom (migration 0009); a deeper tile reads the
# version of its ancestor at this zoom, which every write reaching into it moves.
VERSIONED_MAX_ZOOM = 14

VERSION = sql.SQL(
    "SELECT coalesce(sum(v), 0) FROM citybrain.tile_versions WHERE tbl = ANY(%(tables)s) "
    "AND (z = -1 OR (z = %(z)s AND ((x BETWEEN %(x0)s AND %(x1)s AND y BETWEEN %(y0)s "
    "AND %(y1)s) OR x = -1)))"
)


@dataclass
class Rendered:
    data: bytes
    etag: str
    not_modified: bool = False


class TileCache:
    """Least-recently-used tiles of this process, within a byte budget that counts each
    entry's keeping (ENTRY_BYTES) as well as its tile: empty tiles are not free, so no run of
    distinct requests (filters, windows) can grow the cache past its budget."""

    ENTRY_BYTES = 256  # an entry's key tuple and dictionary slot, about

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.bytes = 0
        self._tiles: OrderedDict[tuple, bytes] = OrderedDict()
        self.hits = self.misses = 0

    def get(self, key: tuple) -> bytes | None:
        data = self._tiles.get(key)
        if data is None:
            self.misses += 1
            TILE_MISSES.inc()
            return None
        self._tiles.move_to_end(key)
        self.hits += 1
        TILE_HITS.inc()
        return data

    def put(self, key: tuple, data: bytes) -> None:
        if key in self._tiles or len(data) + self.ENTRY_BYTES > self.max_bytes:
            return
        before = self.bytes
        self._tiles[key] = data
        self.bytes += len(data) + self.ENTRY_BYTES
        while self.bytes > self.max_bytes:
            _, old = self._tiles.popitem(last=False)
            self.bytes -= len(old) + self.ENTRY_BYTES
        # (the process's tiles, whichever cache holds them: a change, not this cache's total)
        TILE_BYTES.inc(self.bytes - before)


class TileService:
    """Tiles of the configured layers, one layer or all layers of a zoom at once."""

    def __init__(
        self, layers: dict[str, Layer], cache: TileCache, index: IncidentIndex | None = None
    ):
        self.layers = layers
        self.cache = cache
        # (without one, an empty index: the static layers of an archive need none)
        self.index = index if index is not None else IncidentIndex()
        self._plain = {lid: tile_statement(layer, False) for lid, layer in layers.items()}
        self._clustered = {
            lid: tile_statement(layer, True) for lid, layer in layers.items() if layer.cluster
        }
        self._labels = {
            lid: tile_statement(layer, False, labels=True)
            for lid, layer in layers.items()
            if layer.labels
        }

    def visible(self, z: int) -> list[Layer]:
        return [layer for layer in self.layers.values() if layer.minzoom <= z <= layer.maxzoom]

    async def version(self, conn: AsyncConnection, layers: list[Layer], tile: Tile) -> int:
        """The sum of the tile's versions; for a tile of H3 clusters, of the block of nine
        around it: a cluster is drawn in the tile holding its cell's centre, and an incident
        lies within a cell of it, so in that tile or a neighbour (cells are smaller than
        tiles at every clustering zoom)."""
        tables = sorted({layer.source.table for layer in layers})
        up = max(tile.z - VERSIONED_MAX_ZOOM, 0)
        z, x, y = tile.z - up, tile.x >> up, tile.y >> up
        reach = int(any(self._h3_clusters(layer, tile) for layer in layers))
        where = {"z": z, "x0": x - reach, "x1": x + reach, "y0": y - reach, "y1": y + reach}
        row = await (await conn.execute(VERSION, {"tables": tables, **where})).fetchone()
        return int(row[0])

    @staticmethod
    def _h3_clusters(layer: Layer, tile: Tile) -> bool:
        return layer.window and layer.cluster is not None and tile.z < layer.cluster.below_zoom

    async def _render(
        self,
        conn: AsyncConnection,
        layer: Layer,
        tile: Tile,
        window: Window | None = None,
        where: Filter | None = None,
    ) -> bytes:
        clustered = layer.cluster is not None and tile.z < layer.cluster.below_zoom
        if layer.window:
            if window is None:
                raise ValueError(f"layer {layer.id} shows a window: give one")
            if clustered:
                return await self._clusters(conn, layer, tile, window)
        pixel = WORLD_M / (1 << tile.z) / EXTENT
        params = {
            "z": tile.z,
            "x": tile.x,
            "y": tile.y,
            "tolerance": pixel * layer.simplify_px,
            "cell": pixel * (layer.cluster.size_px if layer.cluster else 1) * EXTENT / 256,
        }
        if layer.window and window is not None:
            params.update(_window_params(window))
        statements = [(self._clustered if clustered else self._plain)[layer.id]]
        if layer.labels:
            statements.append(self._labels[layer.id])
        if where is not None:  # statements of this filter, its values bound
            condition, more = await translate(conn, layer, where)
            params.update(more)
            statements = [tile_statement(layer, clustered, extra=condition)]
            if layer.labels:
                statements.append(tile_statement(layer, False, labels=True, extra=condition))
        out = b""
        for statement in statements:
            row = await (await conn.execute(statement, params)).fetchone()
            out += bytes(row[0]) if row and row[0] else b""
        return out

    async def _clusters(
        self, conn: AsyncConnection, layer: Layer, tile: Tile, window: Window
    ) -> bytes:
        """The window's incidents (reported in it, or open now) per H3 cell of the zoom's
        resolution, each cluster at its cell's centre, in the one tile that holds the centre:
        exact, drawn once, and as cheap for a year of history as for a day (the incident
        index's ``shown_cells``, one call)."""
        check_filters(window.categories, window.statuses)
        res = zoom_resolution(tile.z)
        shown = await self.index.shown_cells(conn, res, window, tile.lonlat_bounds)
        if not len(shown):
            return b""
        x, y = mercator(shown.lon, shown.lat)
        params = {
            "name": layer.id,
            "z": tile.z,
            "x": tile.x,
            "y": tile.y,
            "extent": EXTENT,
            "buffer": BUFFER,
            "cells": shown.cells.tolist(),
            "names": hexes(shown.cells),
            "counts": shown.counts.tolist(),
            "xs": x.tolist(),
            "ys": y.tolist(),
        }
        row = await (await conn.execute(load("tiles/clusters"), params)).fetchone()
        return bytes(row[0]) if row and row[0] else b""

    async def tile(
        self,
        conn: AsyncConnection,
        layers: list[Layer],
        tile: Tile,
        if_none_match: str | None = None,
        window: Window | None = None,
        cached_only: bool = False,
        where: Filter | None = None,
    ) -> Rendered | None:
        """The tile of ``layers`` (concatenated MVT layers), from the cache when current; only
        its ETag when that is what the client already has. A windowed layer's tile is cached
        under its window too, a filtered one under its filter. ``cached_only``: None instead
        of rendering a tile that is not cached. ``where`` (a CQL2 filter) applies where rows
        are drawn or clustered in SQL; the incidents' H3 clusters (below their clustering
        zoom) come from the incident index, which counts by category and status only: 400."""
        if where is not None:
            for layer in layers:
                if self._h3_clusters(layer, tile) and layer.cluster:
                    z = layer.cluster.below_zoom
                    raise InvalidInput(
                        f"filter: {layer.id} tiles below z{z} are H3 clusters of the "
                        f"incident index; a filter applies from z{z} on (below it, use "
                        "category and status)"
                    )
        version = await self.version(conn, layers, tile)
        names = ",".join(f"{layer.id}:{layer.fingerprint}" for layer in layers)
        shown = window if any(layer.window for layer in layers) else None
        # A filter's text is the caller's to lengthen: its digest keys the cache.
        filtered = hashlib.sha256(where.key.encode()).digest() if where is not None else None
        key = (names, tile.z, tile.x, tile.y, version, _window_key(shown), filtered)
        etag = '"' + hashlib.sha1(repr(key).encode()).hexdigest()[:20] + '"'  # same in every worker
        if if_none_match and etag in (t.strip() for t in if_none_match.split(",")):
            return Rendered(b"", etag, not_modified=True)
        data = self.cache.get(key)
        if data is None:
            if cached_only:
                return None
            data = b"".join(
                [await self._render(conn, layer, tile, shown, where) for layer in layers]
            )
            self.cache.put(key, data)
        return Rendered(data, etag)


def _window_params(window: Window) -> dict:
    check_filters(window.categories, window.statuses)
    return {
        "t0": window.start,
        "t1": window.end,
        "open": OPEN,
        "categories": list(window.categories) if window.categories else None,
        "statuses": list(window.statuses) if window.statuses else None,
    }


def _window_key(window: Window | None) -> tuple | None:
    if window is None:
        return None
    return (
        window.start.isoformat(),
        window.end.isoformat(),
        window.categories,
        window.statuses,
    )
