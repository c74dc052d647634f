"""Vector tiles of the declarative layers: built in PostGIS (``ST_AsMVT``) from each layer's
table through its GiST index, generalised for the zoom, dense point layers clustered at low
zooms; and a per-process tile cache that is never stale.

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

from citybrain.layers import Layer
from citybrain.tiles import BUFFER, EXTENT, Tile

WORLD_M = 40075016.685578488  # Web Mercator world width, metres


def tile_statement(layer: Layer, clustered: bool, labels: bool = False) -> sql.Composed:
    """The ``ST_AsMVT`` statement of a layer (parameters: z, x, y, tolerance, cell), or of
    its label points."""
    table = sql.Identifier("citybrain", layer.source.table)
    props = sql.SQL("").join(sql.SQL(", s.{}").format(sql.Identifier(p)) for p in layer.properties)
    where = (
        sql.SQL(" AND ({})").format(sql.SQL(layer.source.where))
        if layer.source.where
        else sql.SQL("")
    )
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
    "AND (z = -1 OR (z = %(z)s AND ((x = %(x)s AND y = %(y)s) OR x = -1)))"
)


@dataclass
class Rendered:
    data: bytes
    etag: str
    not_modified: bool = False


class TileCache:
    """Least-recently-used tiles of this process, within a byte budget."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.bytes = 0
        self._tiles: OrderedDict[tuple, bytes] = OrderedDict()
        self.hits = self.misses = 0

    def get(self, key: tuple) -> bytes | None:
        data = self._tiles.get(key)
        if data is None:
            self.misses += 1
            return None
        self._tiles.move_to_end(key)
        self.hits += 1
        return data

    def put(self, key: tuple, data: bytes) -> None:
        if key in self._tiles or len(data) > self.max_bytes:
            return
        self._tiles[key] = data
        self.bytes += len(data)
        while self.bytes > self.max_bytes:
            _, old = self._tiles.popitem(last=False)
            self.bytes -= len(old)


class TileService:
    """Tiles of the configured layers, one layer or all layers of a zoom at once."""

    def __init__(self, layers: dict[str, Layer], cache: TileCache):
        self.layers = layers
        self.cache = cache
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
        tables = sorted({layer.source.table for layer in layers})
        up = max(tile.z - VERSIONED_MAX_ZOOM, 0)
        where = {"z": tile.z - up, "x": tile.x >> up, "y": tile.y >> up}
        row = await (await conn.execute(VERSION, {"tables": tables, **where})).fetchone()
        return int(row[0])

    async def _render(self, conn: AsyncConnection, layer: Layer, tile: Tile) -> bytes:
        clustered = layer.cluster is not None and tile.z < layer.cluster.below_zoom
        pixel = WORLD_M / (1 << tile.z) / EXTENT
        params = {
            "z": tile.z,
            "x": tile.x,
            "y": tile.y,
            "tolerance": pixel * layer.simplify_px,
            "cell": pixel * (layer.cluster.size_px if layer.cluster else 1) * EXTENT / 256,
        }
        statements = [(self._clustered if clustered else self._plain)[layer.id]]
        if layer.labels:
            statements.append(self._labels[layer.id])
        out = b""
        for statement in statements:
            row = await (await conn.execute(statement, params)).fetchone()
            out += bytes(row[0]) if row and row[0] else b""
        return out

    async def tile(
        self,
        conn: AsyncConnection,
        layers: list[Layer],
        tile: Tile,
        if_none_match: str | None = None,
    ) -> Rendered:
        """The tile of ``layers`` (concatenated MVT layers), from the cache when current; only
        its ETag when that is what the client already has."""
        version = await self.version(conn, layers, tile)
        names = ",".join(f"{layer.id}:{layer.fingerprint}" for layer in layers)
        key = (names, tile.z, tile.x, tile.y, version)
        etag = '"' + hashlib.sha1(repr(key).encode()).hexdigest()[:20] + '"'  # same in every worker
        if if_none_match and etag in (t.strip() for t in if_none_match.split(",")):
            return Rendered(b"", etag, not_modified=True)
        data = self.cache.get(key)
        if data is None:
            data = b"".join([await self._render(conn, layer, tile) for layer in layers])
            self.cache.put(key, data)
        return Rendered(data, etag)
