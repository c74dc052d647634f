"""Heatmap hexagons as vector tiles (layer ``heatmap``, encoded by PostGIS) counted by the
incident index, and the H3 resolution fitted to a zoom."""

from __future__ import annotations

from dataclasses import replace

import h3
import h3.api.basic_int as h3i
import numpy as np
import shapely
from psycopg import AsyncConnection

from citybrain.errors import InvalidInput
from citybrain.services.heatmap.encode import hexes
from citybrain.services.heatmap.query import Query, filtered_counts
from citybrain.services.incident_index import IncidentIndex
from citybrain.sql import load
from citybrain.tiles.xyz import BUFFER, EXTENT, Tile

EARTH_RADIUS_M = 6378137.0  # Web Mercator's sphere


def zoom_resolution(z: int) -> int:
    """The H3 resolution whose hexagons are 10-40 px wide at zoom ``z`` (heatmap tiles, and
    the clusters of windowed point layers)."""
    return int(np.clip(round(0.75 * z - 1.2), 4, 11))


def hexagons_wkb(cells: np.ndarray) -> list[bytes]:
    """The cells' polygons in Web Mercator (EPSG:3857) as WKB, built all at once."""
    if not len(cells):
        return []
    rings = [h3i.cell_to_boundary(c) for c in cells.tolist()]
    latlng = np.radians(np.array([p for ring in rings for p in ring]))
    x = latlng[:, 1] * EARTH_RADIUS_M
    y = np.log(np.tan(np.pi / 4 + latlng[:, 0] / 2)) * EARTH_RADIUS_M
    ring_of = np.repeat(np.arange(len(rings)), [len(ring) for ring in rings])
    polygons = shapely.polygons(shapely.linearrings(np.column_stack([x, y]), indices=ring_of))
    return shapely.to_wkb(polygons).tolist()


async def tile(
    conn: AsyncConnection, index: IncidentIndex, q: Query, xyz: Tile, max_hexagons: int
) -> bytes:
    """Layer ``heatmap`` of one vector tile: a polygon per cell of ``q`` (its resolution,
    window and filters) with ``h3``, ``value`` (count) and the feature id set to the cell's
    64-bit id; every hexagon that reaches into the tile (or its 64/4096 buffer), clipped
    there, so tiles join without gaps. Encoded by PostGIS (``ST_AsMVT``) like every layer.
    400 when the tile would draw more than ``max_hexagons``, or when ``q`` has a bbox or
    an area (a tile is its own area)."""
    if q.bbox is not None or q.area is not None:
        raise InvalidInput("a tile is its own area: do not give bbox or area")
    q.validate()
    margin = 2 * h3.average_hexagon_edge_length(q.res, unit="km") / 111.0
    w, s, e, n = xyz.lonlat_bounds
    around = (
        max(w - margin, -180),
        max(s - margin, -90),
        min(e + margin, 180),
        min(n + margin, 90),
    )
    cells, counts = await filtered_counts(conn, index, replace(q, bbox=around))
    if len(cells) > max_hexagons:
        raise InvalidInput(
            f"this tile would draw {len(cells):,} hexagons (at most {max_hexagons:,}): leave "
            f"res to the zoom ({zoom_resolution(xyz.z)} at zoom {xyz.z}) or zoom in"
        )
    params = {
        "z": xyz.z,
        "x": xyz.x,
        "y": xyz.y,
        "extent": EXTENT,
        "buffer": BUFFER,
        "cells": cells.tolist(),
        "names": hexes(cells),
        "values": counts.tolist(),
        "wkb": hexagons_wkb(cells),
    }
    row = await (await conn.execute(load("tiles/heatmap"), params)).fetchone()
    return bytes(row[0]) if row is not None and row[0] is not None else b""
