"""Tile archives: the static layers (those not ``live`` in their layer file) written as one
PMTiles v3 file that any static host or CDN serves, and a MapLibre style that draws them from
it while the live layers stay on the API.

A tile in the archive is the API's tile: rendered by the same ``TileService`` (same
statements, same concatenation of layers), gzip-compressed (``mtime=0``: the same data gives
the same archive) as PMTiles readers expect of MVT. Empty tiles are left out (a reader treats
a missing tile as empty). Every tile is rendered in one read-only, repeatable-read transaction:
the archive is one snapshot of the database, whatever is written meanwhile. Tiles are rendered
and handed to the writer one at a time in tile-id order (which the writer requires for a
clustered archive), so memory holds one tile, one zoom's tile ids and the writer's directory.
"""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mercantile
from pmtiles.tile import Compression, TileType, zxy_to_tileid
from pmtiles.writer import Writer
from psycopg import AsyncConnection, IsolationLevel

from citybrain.db.connection import libpq_conninfo
from citybrain.errors import InvalidInput
from citybrain.layers import Layer
from citybrain.services.bbox import BBox
from citybrain.services.bbox import check as check_bbox
from citybrain.services.features import WEB_MERCATOR_WORLD, Extents
from citybrain.services.tilejson import COUNTY_CENTRE, tilejson
from citybrain.tiles.service import TileCache, TileService
from citybrain.tiles.xyz import Tile

ALWAYS_LIVE = {"heatmap": "the incident heatmap, a tile path of the API with no layer file"}
ATTRIBUTION = "citybrain · the county's governance data"
ARCHIVE_SOURCE = "archive"
# The repository's tiles/ next to the package (git ignores the archives in it).
DEFAULT_ARCHIVE = Path(__file__).resolve().parents[2] / "tiles" / "citybrain.pmtiles"
MERCATOR_LAT = 85.051129


class _NoCache(TileCache):
    """Each tile is rendered once: nothing to keep."""

    def __init__(self) -> None:
        super().__init__(0)

    def get(self, key: tuple) -> bytes | None:
        return None

    def put(self, key: tuple, data: bytes) -> None:
        return None


def static_layers(layers: dict[str, Layer], names: list[str]) -> list[Layer]:
    """The layers to archive, in drawing order: ``names``, or every static layer; a live or
    unknown name is refused, saying why."""
    for name in names:
        if name in ALWAYS_LIVE:
            raise InvalidInput(f"{name} is live ({ALWAYS_LIVE[name]}): it stays on the API")
        if name not in layers:
            raise InvalidInput(f"no layer {name!r}; layers: {', '.join(layers)}")
        if layers[name].live:
            static = [lid for lid, layer in layers.items() if not layer.live]
            raise InvalidInput(
                f"{name} is live (live: true in {name}.yaml): it changes while the screen "
                f"watches and stays on the API; archive the static layers: {', '.join(static)}"
            )
    chosen = [
        layer for lid, layer in layers.items() if not layer.live and (not names or lid in names)
    ]
    if not chosen:
        raise InvalidInput("no static layer to archive: every layer file says live: true")
    return chosen


def tiles_in(bbox: BBox, z: int) -> Iterator[tuple[int, Tile]]:
    """The tiles of zoom ``z`` that intersect ``bbox``, in tile-id (Hilbert) order."""
    for tile_id, t in sorted((zxy_to_tileid(t.z, t.x, t.y), t) for t in _mercantile(bbox, z)):
        yield tile_id, Tile(t.z, t.x, t.y)


def _mercantile(bbox: BBox, z: int) -> Iterator[mercantile.Tile]:
    w, s, e, n = bbox
    return mercantile.tiles(w, max(s, -MERCATOR_LAT), e, min(n, MERCATOR_LAT), [z])


@dataclass
class Exported:
    path: Path
    tilejson: Path
    visited: int
    written: int
    bounds: list[float]
    minzoom: int
    maxzoom: int


def export(
    url: str,
    layers: dict[str, Layer],
    names: list[str],
    out: Path,
    minzoom: int,
    maxzoom: int,
    bbox: BBox | None = None,
    served_at: str | None = None,
    attribution: str = ATTRIBUTION,
    progress: Callable[[int], Callable[[int], None]] | None = None,
) -> Exported:
    """Write the archive ``out`` (and its TileJSON beside it, ``out`` with ``.json``) of the
    static layers ``names`` (empty: all) at ``minzoom``-``maxzoom`` over ``bbox`` (default:
    the county's bounds). ``served_at``: the archive's URL for the TileJSON (default: its
    file name, relative). ``progress(total)`` returns a function called with tiles done."""
    chosen = static_layers(layers, names)
    if not 0 <= minzoom <= maxzoom:
        raise InvalidInput(f"zooms {minzoom}-{maxzoom}: 0 <= --minzoom <= --maxzoom")
    low = min(layer.minzoom for layer in chosen)
    top = max(layer.maxzoom for layer in chosen)
    if minzoom > top or maxzoom < low:
        raise InvalidInput(
            f"zooms {minzoom}-{maxzoom}: the layers are drawn at zooms {low}-{top} only"
        )
    zooms = range(max(minzoom, low), min(maxzoom, top) + 1)
    if bbox is not None:
        bbox = check_bbox(bbox, "--bbox")
    partial = out.with_name(out.name + ".partial")
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        bbox, visited, written = asyncio.run(
            _write(url, chosen, partial, zooms, bbox, attribution, progress)
        )
    except BaseException:
        partial.unlink(missing_ok=True)  # never a half-written archive
        raise
    partial.replace(out)
    side = out.with_suffix(".json")
    document = tilejson(
        out.stem, f"pmtiles://{served_at or out.name}/{{z}}/{{x}}/{{y}}", chosen, _rounded(bbox)
    )
    document.update(minzoom=zooms[0], maxzoom=zooms[-1], attribution=attribution)
    side.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return Exported(out, side, visited, written, list(bbox), zooms[0], zooms[-1])


async def _write(
    url: str,
    chosen: list[Layer],
    path: Path,
    zooms: range,
    bbox: BBox | None,
    attribution: str,
    progress: Callable[[int], Callable[[int], None]] | None,
) -> tuple[BBox, int, int]:
    """Render the tiles into the archive ``path``, all in one read-only snapshot."""
    service = TileService({layer.id: layer for layer in chosen}, _NoCache())
    async with await AsyncConnection.connect(libpq_conninfo(url)) as conn:
        await conn.set_isolation_level(IsolationLevel.REPEATABLE_READ)
        await conn.set_read_only(True)
        async with conn.transaction():
            if bbox is None:
                county = await Extents().county(conn)
                if county == WEB_MERCATOR_WORLD:
                    raise InvalidInput("the county has no towns: load it first, or give --bbox")
                bbox = (county[0], county[1], county[2], county[3])
            total = sum(sum(1 for _ in _mercantile(bbox, z)) for z in zooms)
            advance = progress(total) if progress else (lambda n: None)
            visited = written = 0
            with path.open("wb") as f:
                writer = Writer(f)
                for z in zooms:
                    shown = [layer for layer in chosen if layer.minzoom <= z <= layer.maxzoom]
                    for tile_id, tile in tiles_in(bbox, z):
                        data = await _render(service, conn, shown, tile)
                        if data:
                            writer.write_tile(tile_id, gzip.compress(data, mtime=0))
                            written += 1
                        visited += 1
                        advance(1)
                if not written:
                    raise InvalidInput(
                        f"no features of {', '.join(la.id for la in chosen)} in {list(bbox)} at "
                        f"zooms {zooms[0]}-{zooms[-1]}: nothing to archive (is the county loaded?)"
                    )
                metadata = _metadata(chosen, bbox, zooms, attribution)
                writer.finalize(_header(bbox, zooms), metadata)
    return bbox, visited, written


async def _render(
    service: TileService, conn: AsyncConnection, layers: list[Layer], tile: Tile
) -> bytes:
    """The API's tile of ``layers`` (``TileService.tile``, as the tile routes ask for it)."""
    if not layers:
        return b""
    rendered = await service.tile(conn, layers, tile)
    assert rendered is not None  # (rendered when not cached: cached_only is off)
    return rendered.data


def _rounded(bbox: BBox) -> list[float]:
    return [round(v, 6) for v in bbox]


def _header(bbox: BBox, zooms: range) -> dict[str, Any]:
    w, s, e, n = (round(v * 1e7) for v in bbox)
    return {
        "tile_type": TileType.MVT,
        "tile_compression": Compression.GZIP,
        "min_zoom": zooms[0],  # (the writer sets both from the tiles it holds)
        "max_zoom": zooms[-1],
        "min_lon_e7": w,
        "min_lat_e7": s,
        "max_lon_e7": e,
        "max_lat_e7": n,
        "center_zoom": max(zooms[0], min(11, zooms[-1])),
        "center_lon_e7": round(COUNTY_CENTRE[0] * 1e7),
        "center_lat_e7": round(COUNTY_CENTRE[1] * 1e7),
    }


def _metadata(chosen: list[Layer], bbox: BBox, zooms: range, attribution: str) -> dict[str, Any]:
    """The archive's metadata: what a TileJSON says, for readers of the file alone."""
    document = tilejson("citybrain", "", chosen, _rounded(bbox))
    return {
        "name": "citybrain",
        "format": "pbf",
        "type": "overlay",
        "description": "citybrain static layers: " + ", ".join(la.id for la in chosen),
        "attribution": attribution,
        "bounds": document["bounds"],
        "minzoom": zooms[0],
        "maxzoom": zooms[-1],
        "vector_layers": document["vector_layers"],
    }


def on_archive(style: dict[str, Any], layers: dict[str, Layer], archive_url: str, base: str):
    """``style`` with the static layers drawn from the PMTiles archive at ``archive_url``
    (MapLibre needs the pmtiles protocol) and each live layer from its own API tiles (the
    composite tiles would carry the static layers a second time)."""
    by_tile_layer = {v: layer for layer in layers.values() for v in (layer.id, layer.labels_id)}
    sources = dict(style["sources"])
    sources[ARCHIVE_SOURCE] = {"type": "vector", "url": f"pmtiles://{archive_url}"}
    drawn = []
    for item in style["layers"]:
        layer = by_tile_layer.get(item.get("source-layer", ""))
        if item.get("source") == "citybrain" and layer is not None:
            if layer.live:
                source = f"citybrain-{layer.id}"
                sources[source] = {"type": "vector", "url": f"{base}/tiles/{layer.id}.json"}
            else:
                source = ARCHIVE_SOURCE
            item = {**item, "source": source}
        drawn.append(item)
    if not any(item.get("source") == "citybrain" for item in drawn):
        del sources["citybrain"]
    return {**style, "sources": sources, "layers": drawn}
