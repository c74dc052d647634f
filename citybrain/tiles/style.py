"""The MapLibre style of the map: dark, drawn only from citybrain's own tiles and glyphs (every
layer's style items from its layer file, and the incident heatmap), and, given a PMTiles
archive, with the static layers drawn from it (``archive.on_archive``)."""

from __future__ import annotations

from typing import Any

from citybrain.layers import Layer
from citybrain.services.tilejson import COUNTY_CENTRE
from citybrain.tiles.archive import on_archive
from citybrain.tiles.xyz import MAX_ZOOM

# The heatmap's hexagons (tiles.heatmap), hidden until the page shows them.
HEATMAP = {
    "id": "heatmap",
    "type": "fill",
    "source": "heatmap",
    "source-layer": "heatmap",
    "maxzoom": 18,
    "layout": {"visibility": "none"},
    "paint": {
        "fill-color": [
            "interpolate",
            ["linear"],
            ["get", "value"],
            1,
            "#1a237e",
            20,
            "#f57f17",
            200,
            "#d50000",
        ],
        "fill-opacity": 0.55,
    },
}


def map_style(
    layers: dict[str, Layer], base: str, archive_url: str | None = None
) -> dict[str, Any]:
    """The style, its URLs under ``base`` (the API as its caller reaches it); with
    ``archive_url``, the static layers from that archive."""
    drawn: list[dict[str, Any]] = [
        {"id": "background", "type": "background", "paint": {"background-color": "#0b1a2b"}},
        HEATMAP,
    ]
    for layer in layers.values():
        parts = [(layer.id, layer.id, layer.style)]
        if layer.labels:
            parts.append((f"{layer.id}-label", layer.labels_id, layer.labels.style))
        for prefix, source_layer, style_items in parts:
            for i, item in enumerate(style_items):
                entry = {
                    "id": item.get("id", f"{prefix}-{i}"),
                    "source": "citybrain",
                    "source-layer": source_layer,
                    **{k: v for k, v in item.items() if k != "id"},
                }
                entry.setdefault("minzoom", layer.minzoom)
                entry.setdefault("maxzoom", layer.maxzoom + 1 if layer.maxzoom < MAX_ZOOM else 24)
                drawn.append(entry)
    body = {
        "version": 8,
        "name": "citybrain 一图观全域",
        "center": list(COUNTY_CENTRE),
        "zoom": 10.5,
        "sources": {
            "citybrain": {"type": "vector", "url": f"{base}/tiles.json"},
            "heatmap": {
                "type": "vector",
                "tiles": [f"{base}/tiles/heatmap/{{z}}/{{x}}/{{y}}.mvt?last=30d"],
                "minzoom": 6,
                "maxzoom": 16,
            },
        },
        "glyphs": f"{base}/fonts/{{fontstack}}/{{range}}.pbf",
        "layers": drawn,
    }
    return on_archive(body, layers, archive_url, base) if archive_url else body
